//! What every layer's settings report when a value is out of bounds.

use std::fmt;

/// One setting with a value its owner refuses. `setting` is the key within its section
/// (`ceiling_m`); the composition root prefixes the section (`flight_plans.ceiling_m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    pub setting: String,
    pub problem: String,
}

impl InvalidSetting {
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }

    /// The same error with its section in front (`ceiling_m` → `flight_plans.ceiling_m`).
    pub fn in_section(mut self, section: &str) -> Self {
        self.setting = format!("{section}.{}", self.setting);
        self
    }
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.setting, self.problem)
    }
}

impl std::error::Error for InvalidSetting {}

/// Durations kept in settings as whole seconds (`…_s` keys):
/// `#[serde(rename = "timeout_s", with = "domain::settings::seconds")]`.
pub mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// Durations kept in settings as whole milliseconds (`…_ms` keys).
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// What `nimbusfleet config` prints in place of a secret that is set.
pub const REDACTED: &str = "[redacted]";

/// Serialises a secret that may be unset as [`REDACTED`] (or nothing), never its value.
pub fn redacted<T, S: serde::Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some(REDACTED),
        None => serializer.serialize_none(),
    }
}
