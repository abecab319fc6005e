use chrono::{DateTime, Utc};

use crate::error::{FieldCode, FieldError, ValidationErrors};
use crate::flight_plan::FlightPlan;
use crate::ids::{DroneId, OrgId};
use crate::position::Position;

/// A manufacturer's serial number: 1–64 characters of `A–Z a–z 0–9 - _ . /`. Unique within an
/// organisation (compared exactly).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Serial(String);

impl Serial {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(FieldError::new(
                "serial",
                FieldCode::Length,
                format!("must be 1 to {} characters", Self::MAX_LEN),
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Err(FieldError::new(
                "serial",
                FieldCode::InvalidCharacters,
                "may contain only letters, digits and - _ . /",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trimmed, non-empty free text of bounded length; `field` names it in errors.
pub fn parse_text(field: &'static str, raw: &str, max_len: usize) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max_len {
        return Err(FieldError::new(
            field,
            FieldCode::Length,
            format!("must be 1 to {max_len} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            FieldCode::InvalidCharacters,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

pub const NAME_MAX_LEN: usize = 100;
pub const TEXT_MAX_LEN: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DroneStatus {
    Active,
    Maintenance,
    Grounded,
    Retired,
}

impl DroneStatus {
    pub const ALL: [DroneStatus; 4] = [
        Self::Active,
        Self::Maintenance,
        Self::Grounded,
        Self::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Maintenance => "maintenance",
            Self::Grounded => "grounded",
            Self::Retired => "retired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether a flight of this drone may be approved or started: only an `active` drone
    /// is airworthy (one in maintenance is being worked on).
    pub fn may_fly(self) -> bool {
        self == Self::Active
    }
}

/// Performance limits of an airframe, each checked on parse.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Limits {
    pub max_altitude_m: f64,
    pub max_speed_mps: f64,
    pub endurance_min: u32,
}

impl Limits {
    pub const MAX_ALTITUDE_M: f64 = 10_000.0;
    pub const MAX_SPEED_MPS: f64 = 150.0;
    pub const MAX_ENDURANCE_MIN: u32 = 24 * 60;

    pub fn parse_altitude(value: f64) -> Result<f64, FieldError> {
        positive_at_most("max_altitude_m", value, Self::MAX_ALTITUDE_M)
    }

    pub fn parse_speed(value: f64) -> Result<f64, FieldError> {
        positive_at_most("max_speed_mps", value, Self::MAX_SPEED_MPS)
    }

    pub fn parse_endurance(value: u32) -> Result<u32, FieldError> {
        if value == 0 || value > Self::MAX_ENDURANCE_MIN {
            return Err(FieldError::new(
                "endurance_min",
                FieldCode::OutOfRange,
                format!("must be between 1 and {}", Self::MAX_ENDURANCE_MIN),
            ));
        }
        Ok(value)
    }
}

/// A drone's own link timeout: from 1 s to an hour.
pub fn parse_link_timeout(value: f64) -> Result<f64, FieldError> {
    const MAX_S: f64 = 3600.0;
    if !value.is_finite() || !(1.0..=MAX_S).contains(&value) {
        return Err(FieldError::new(
            "link_timeout_s",
            FieldCode::OutOfRange,
            format!("must be between 1 and {MAX_S} seconds"),
        ));
    }
    Ok(value)
}

fn positive_at_most(field: &str, value: f64, max: f64) -> Result<f64, FieldError> {
    if !value.is_finite() || value <= 0.0 || value > max {
        return Err(FieldError::new(
            field,
            FieldCode::OutOfRange,
            format!("must be greater than 0 and at most {max}"),
        ));
    }
    Ok(value)
}

/// Why a drone may not be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the drone has an approved or active flight plan; complete or cancel it first")]
pub struct DroneHasOpenPlans;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Drone {
    pub id: DroneId,
    pub org_id: OrgId,
    pub serial: Serial,
    pub name: String,
    pub model: String,
    pub manufacturer: Option<String>,
    pub status: DroneStatus,
    pub limits: Limits,
    pub firmware_version: Option<String>,
    pub home: Option<Position>,
    /// How long the drone may stay silent in flight before its link counts as lost, when
    /// it differs from the installation's `monitoring.link_timeout_s` (a satellite link).
    pub link_timeout_s: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; the ETag of the drone.
    pub version: i64,
}

impl Drone {
    /// A drone that is cleared to fly or flying (one of `plans`, its plans, is approved or
    /// active) stays registered: deleting it would orphan a flight in progress.
    pub fn delete_check(&self, plans: &[FlightPlan]) -> Result<(), DroneHasOpenPlans> {
        if plans
            .iter()
            .any(|plan| plan.drone_id == self.id && plan.is_open())
        {
            return Err(DroneHasOpenPlans);
        }
        Ok(())
    }
}

/// A drone to register, already valid.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDrone {
    pub org_id: OrgId,
    pub serial: Serial,
    pub name: String,
    pub model: String,
    pub manufacturer: Option<String>,
    pub status: DroneStatus,
    pub limits: Limits,
    pub firmware_version: Option<String>,
    pub home: Option<Position>,
    pub link_timeout_s: Option<f64>,
}

impl NewDrone {
    /// The drone this describes, as first stored.
    pub fn into_drone(self, id: DroneId, now: DateTime<Utc>) -> Drone {
        Drone {
            id,
            org_id: self.org_id,
            serial: self.serial,
            name: self.name,
            model: self.model,
            manufacturer: self.manufacturer,
            status: self.status,
            limits: self.limits,
            firmware_version: self.firmware_version,
            home: self.home,
            link_timeout_s: self.link_timeout_s,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// A partial update. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DronePatch {
    pub serial: Option<Serial>,
    pub name: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<Option<String>>,
    pub status: Option<DroneStatus>,
    pub max_altitude_m: Option<f64>,
    pub max_speed_mps: Option<f64>,
    pub endurance_min: Option<u32>,
    pub firmware_version: Option<Option<String>>,
    pub home: Option<Option<Position>>,
    pub link_timeout_s: Option<Option<f64>>,
}

impl DronePatch {
    /// Applies the patch to a copy of `drone` (version and timestamps untouched).
    pub fn apply(&self, drone: &Drone) -> Drone {
        let mut next = drone.clone();
        if let Some(serial) = &self.serial {
            next.serial = serial.clone();
        }
        if let Some(name) = &self.name {
            next.name = name.clone();
        }
        if let Some(model) = &self.model {
            next.model = model.clone();
        }
        if let Some(manufacturer) = &self.manufacturer {
            next.manufacturer = manufacturer.clone();
        }
        if let Some(status) = self.status {
            next.status = status;
        }
        if let Some(v) = self.max_altitude_m {
            next.limits.max_altitude_m = v;
        }
        if let Some(v) = self.max_speed_mps {
            next.limits.max_speed_mps = v;
        }
        if let Some(v) = self.endurance_min {
            next.limits.endurance_min = v;
        }
        if let Some(firmware) = &self.firmware_version {
            next.firmware_version = firmware.clone();
        }
        if let Some(home) = self.home {
            next.home = home;
        }
        if let Some(timeout) = self.link_timeout_s {
            next.link_timeout_s = timeout;
        }
        next
    }
}

/// Filters of the drone list; all optional and combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DroneFilter {
    pub status: Option<DroneStatus>,
    pub model: Option<String>,
    /// Case-insensitive substring of the name or the serial.
    pub q: Option<String>,
}

/// Collects the errors of building a value from several parsed fields.
pub fn all_ok<T>(errors: ValidationErrors, value: Option<T>) -> Result<T, ValidationErrors> {
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_short_and_plain() {
        assert!(Serial::parse("DJI-M300/0042_a.b").is_ok());
        assert_eq!(Serial::parse("").unwrap_err().code, "length");
        assert_eq!(Serial::parse(&"x".repeat(65)).unwrap_err().code, "length");
        assert_eq!(
            Serial::parse("has space").unwrap_err().code,
            "invalid_characters"
        );
    }

    #[test]
    fn limits_must_be_positive_and_bounded() {
        assert!(Limits::parse_altitude(0.0).is_err());
        assert!(Limits::parse_speed(f64::INFINITY).is_err());
        assert!(Limits::parse_endurance(0).is_err());
        assert!(Limits::parse_endurance(1441).is_err());
        assert_eq!(Limits::parse_altitude(120.0), Ok(120.0));
    }

    #[test]
    fn link_timeouts_are_a_second_to_an_hour() {
        assert_eq!(parse_link_timeout(120.0), Ok(120.0));
        assert_eq!(parse_link_timeout(0.5).unwrap_err().field, "link_timeout_s");
        assert!(parse_link_timeout(3600.5).is_err());
        assert!(parse_link_timeout(f64::NAN).is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(parse_text("name", "  Hawk ", 10).unwrap(), "Hawk");
        assert!(parse_text("name", "   ", 10).is_err());
        assert!(parse_text("name", "a\u{0007}b", 10).is_err());
    }

    #[test]
    fn only_active_drones_may_fly() {
        assert!(DroneStatus::Active.may_fly());
        assert!(!DroneStatus::Maintenance.may_fly());
        assert!(!DroneStatus::Grounded.may_fly());
        assert!(!DroneStatus::Retired.may_fly());
    }
}
