//! Geographic values. Altitudes (`alt_m`) are metres above the take-off point (AGL at
//! home), the datum small-UAS rules use for their ceilings.

use crate::error::{FieldCode, FieldError};

fn finite_in(field: &str, value: f64, min: f64, max: f64) -> Result<f64, FieldError> {
    if !value.is_finite() {
        return Err(FieldError::new(
            field,
            FieldCode::NotFinite,
            "must be a finite number",
        ));
    }
    if !(min..=max).contains(&value) {
        return Err(FieldError::new(
            field,
            FieldCode::OutOfRange,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(value)
}

macro_rules! bounded_f64 {
    ($(#[$meta:meta])* $name:ident, $field:literal, $min:expr, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(f64);

        impl $name {
            pub const MIN: f64 = $min;
            pub const MAX: f64 = $max;

            /// Parses a value; the error names the field `
            #[doc = $field]
            /// `.
            pub fn parse(value: f64) -> Result<Self, FieldError> {
                finite_in($field, value, Self::MIN, Self::MAX).map(Self)
            }

            pub const fn get(self) -> f64 {
                self.0
            }
        }
    };
}

bounded_f64!(
    /// Degrees north, WGS 84.
    Latitude, "lat", -90.0, 90.0
);
bounded_f64!(
    /// Degrees east, WGS 84.
    Longitude, "lon", -180.0, 180.0
);
bounded_f64!(
    /// Metres relative to the take-off point; slightly negative values allow for valleys.
    AltitudeM, "alt_m", -500.0, 10_000.0
);

/// A point in space.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Position {
    pub lat: Latitude,
    pub lon: Longitude,
    pub alt_m: AltitudeM,
}

impl Position {
    /// Parses all three coordinates, reporting every bad one.
    pub fn parse(lat: f64, lon: f64, alt_m: f64) -> Result<Self, crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        let lat = errors.collect(Latitude::parse(lat));
        let lon = errors.collect(Longitude::parse(lon));
        let alt_m = errors.collect(AltitudeM::parse(alt_m));
        match (lat, lon, alt_m) {
            (Some(lat), Some(lon), Some(alt_m)) => Ok(Self { lat, lon, alt_m }),
            _ => Err(errors),
        }
    }

    pub fn point(&self) -> geo::Point<f64> {
        geo::Point::new(self.lon.get(), self.lat.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_outside_their_range_are_refused_with_the_field_named() {
        assert_eq!(Latitude::parse(90.5).unwrap_err().field, "lat");
        assert_eq!(Longitude::parse(-180.1).unwrap_err().field, "lon");
        assert_eq!(AltitudeM::parse(f64::NAN).unwrap_err().code, "not_finite");
        assert!(Latitude::parse(-90.0).is_ok());
        let errors = Position::parse(91.0, 181.0, 0.0).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["lat", "lon"]);
    }
}
