//! Geofences: what they are, how one is validated and edited.

use chrono::{DateTime, Utc};

use super::geometry::{Circle, FenceShape, RawGeometry};
use super::schedule::{RawSchedule, Schedule};
use crate::drone::{parse_text, NAME_MAX_LEN};
use crate::error::{FieldCode, FieldError, ValidationErrors};
use crate::ids::{GeofenceId, OrgId, UserId};
use crate::telemetry::BBox;

/// Most vertices in one geofence, over all its rings.
pub const MAX_VERTICES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceKind {
    /// No flight may enter.
    Prohibited,
    /// A flight may enter with an authorisation reference on its plan.
    Restricted,
    /// Entering is allowed; the plan is told.
    Advisory,
}

impl FenceKind {
    pub const ALL: [FenceKind; 3] = [Self::Prohibited, Self::Restricted, Self::Advisory];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prohibited => "prohibited",
            Self::Restricted => "restricted",
            Self::Advisory => "advisory",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// What a band's heights are measured from (see the module docs for how each is compared
/// with a plan's altitudes above take-off).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Datum {
    /// Above ground level.
    #[default]
    Agl,
    /// Above mean sea level.
    Amsl,
}

impl Datum {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agl => "agl",
            Self::Amsl => "amsl",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Agl, Self::Amsl]
            .into_iter()
            .find(|d| d.as_str() == raw)
    }
}

/// `lower_m < upper_m`, both finite, in `datum`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AltitudeBand {
    pub lower_m: f64,
    pub upper_m: f64,
    pub datum: Datum,
}

impl AltitudeBand {
    pub const MIN_M: f64 = -1_000.0;
    pub const MAX_M: f64 = 100_000.0;

    pub fn parse(lower_m: f64, upper_m: f64, datum: Datum) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        for (field, value) in [("lower_m", lower_m), ("upper_m", upper_m)] {
            if !value.is_finite() {
                errors.push(FieldError::new(
                    field,
                    FieldCode::NotFinite,
                    "must be a finite number",
                ));
            } else if !(Self::MIN_M..=Self::MAX_M).contains(&value) {
                errors.push(FieldError::new(
                    field,
                    FieldCode::OutOfRange,
                    format!("must be between {} and {} m", Self::MIN_M, Self::MAX_M),
                ));
            }
        }
        if errors.is_empty() && lower_m >= upper_m {
            errors.push(FieldError::new(
                "upper_m",
                FieldCode::InvertedBand,
                format!("must be above lower_m ({lower_m} m)"),
            ));
        }
        errors.into_result().map(|()| Self {
            lower_m,
            upper_m,
            datum,
        })
    }

    /// The band in a plan's altitudes (metres above take-off): an `agl` band as it is, an
    /// `amsl` one as every altitude until take-off elevations are known.
    pub fn above_takeoff(&self) -> (f64, f64) {
        match self.datum {
            Datum::Agl => (self.lower_m, self.upper_m),
            Datum::Amsl => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }

    pub fn contains(&self, alt_m: f64) -> bool {
        let (lower, upper) = self.above_takeoff();
        (lower..=upper).contains(&alt_m)
    }
}

/// A fence as a user writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct GeofenceInput {
    pub name: String,
    pub kind: FenceKind,
    pub geometry: Option<RawGeometry>,
    pub circle: Option<Circle>,
    pub lower_m: f64,
    pub upper_m: f64,
    pub datum: Datum,
    pub schedule: Option<RawSchedule>,
    pub active: bool,
}

/// Changes to a fence; absent fields stay. Giving `geometry` drops the circle and the other
/// way round; `schedule: Some(None)` removes the schedule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeofencePatch {
    pub name: Option<String>,
    pub kind: Option<FenceKind>,
    pub geometry: Option<RawGeometry>,
    pub circle: Option<Circle>,
    pub lower_m: Option<f64>,
    pub upper_m: Option<f64>,
    pub datum: Option<Datum>,
    pub schedule: Option<Option<RawSchedule>>,
    pub active: Option<bool>,
}

/// A fence that passed [`GeofenceInput::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFence {
    pub name: String,
    pub kind: FenceKind,
    pub shape: FenceShape,
    pub band: AltitudeBand,
    pub schedule: Option<Schedule>,
    pub active: bool,
}

impl GeofenceInput {
    /// Every rule, every problem reported at once.
    pub fn validate(&self) -> Result<ValidFence, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = errors.collect(parse_text("name", &self.name, NAME_MAX_LEN));
        let shape = match (&self.geometry, &self.circle) {
            (Some(geometry), None) => errors.collect_all(FenceShape::parse_geometry(geometry)),
            (None, Some(circle)) => errors.collect_all(FenceShape::parse_circle(circle)),
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "circle",
                    FieldCode::Invalid,
                    "give either geometry or circle, not both",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "geometry",
                    FieldCode::Required,
                    "give a GeoJSON Polygon or MultiPolygon as geometry, or a circle",
                ));
                None
            }
        };
        let band = errors.collect_all(AltitudeBand::parse(self.lower_m, self.upper_m, self.datum));
        let schedule = match &self.schedule {
            None => Some(None),
            Some(raw) => errors.collect_all(Schedule::parse(raw)).map(Some),
        };
        match (name, shape, band, schedule) {
            (Some(name), Some(shape), Some(band), Some(schedule)) if errors.is_empty() => {
                Ok(ValidFence {
                    name,
                    kind: self.kind,
                    shape,
                    band,
                    schedule,
                    active: self.active,
                })
            }
            _ => Err(errors),
        }
    }

    pub fn apply(mut self, patch: GeofencePatch) -> Self {
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(kind) = patch.kind {
            self.kind = kind;
        }
        if let Some(geometry) = patch.geometry {
            self.geometry = Some(geometry);
            self.circle = None;
        }
        if let Some(circle) = patch.circle {
            self.circle = Some(circle);
            self.geometry = None;
        }
        self.lower_m = patch.lower_m.unwrap_or(self.lower_m);
        self.upper_m = patch.upper_m.unwrap_or(self.upper_m);
        self.datum = patch.datum.unwrap_or(self.datum);
        if let Some(schedule) = patch.schedule {
            self.schedule = schedule;
        }
        self.active = patch.active.unwrap_or(self.active);
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Geofence {
    pub id: GeofenceId,
    pub org_id: OrgId,
    pub name: String,
    pub kind: FenceKind,
    pub shape: FenceShape,
    pub band: AltitudeBand,
    pub schedule: Option<Schedule>,
    pub active: bool,
    pub version: i64,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Geofence {
    pub fn new(valid: ValidFence, org_id: OrgId, created_by: UserId, now: DateTime<Utc>) -> Self {
        let ValidFence {
            name,
            kind,
            shape,
            band,
            schedule,
            active,
        } = valid;
        Self {
            id: GeofenceId::new(),
            org_id,
            name,
            kind,
            shape,
            band,
            schedule,
            active,
            version: 1,
            created_by,
            created_at: now,
            updated_at: now,
        }
    }

    /// The fence as a user would write it, for editing.
    pub fn input(&self) -> GeofenceInput {
        let (geometry, circle) = self.shape.to_raw();
        GeofenceInput {
            name: self.name.clone(),
            kind: self.kind,
            geometry,
            circle,
            lower_m: self.band.lower_m,
            upper_m: self.band.upper_m,
            datum: self.band.datum,
            schedule: self.schedule.as_ref().map(Schedule::to_raw),
            active: self.active,
        }
    }

    /// This fence with `patch` applied; every rule is checked again.
    pub fn edit(&self, patch: GeofencePatch, now: DateTime<Utc>) -> Result<Self, ValidationErrors> {
        let edited = Self::new(
            self.input().apply(patch).validate()?,
            self.org_id,
            self.created_by,
            now,
        );
        Ok(Self {
            id: self.id,
            version: self.version,
            created_at: self.created_at,
            ..edited
        })
    }

    /// Whether the fence applies at some instant of `[from, to]`.
    pub fn applies_during(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.active
            && self
                .schedule
                .as_ref()
                .is_none_or(|s| s.active_during(from, to))
    }

    pub fn applies_at(&self, t: DateTime<Utc>) -> bool {
        self.active && self.schedule.as_ref().is_none_or(|s| s.active_at(t))
    }

    /// Whether the point is inside the fence's shape and band (not its schedule).
    pub fn contains(&self, lon: f64, lat: f64, alt_m: f64) -> bool {
        self.band.contains(alt_m) && self.shape.contains(lon, lat)
    }
}

/// Filters of the fence list, combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeofenceFilter {
    pub kind: Option<FenceKind>,
    /// Fences whose bounding box meets this one.
    pub bbox: Option<BBox>,
}
