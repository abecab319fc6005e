//! Conformance monitoring (issue 18, first part: the rules, not yet wired to the writers):
//! a per-drone state machine ([`Monitor`]) that judges every accepted point against the
//! fences ([`crate::airspace::AirspaceIndex::fences_at`]), the active plan's corridor and
//! band, battery thresholds and a link deadline, and says which alerts open, repeat or
//! close. It keeps no clock of its own: points bring their `ts`, and the caller asks for
//! expired link deadlines with [`Monitor::expire`] at the time it chooses, so tests drive it
//! with a controllable clock.
//!
//! Rules shared by every check:
//! - A point older than the drone's newest known one (a backlog uploaded after landing) is
//!   judged "as of then" for the record ([`Judged::late`]) but opens and closes nothing
//!   and does not move the drone's state.
//! - An excursion (off the corridor, off the band, unplanned flight) must last
//!   `excursion_grace_s` before it opens an alert; a shorter one is forgotten.
//! - A drone inside a fence leaves it only once `geofence_hysteresis_m` outside, so one on
//!   the boundary does not flap.

mod alert;
mod state;
#[cfg(test)]
mod tests;
mod timers;

pub use alert::{
    parse_note, Alert, AlertAction, AlertFilter, AlertNotice, AlertPoint, AlertState, NoticeChange,
    Observation, Resolver, StateFilter, NOTE_MAX_LEN,
};
pub use state::{Judged, Monitor, PlanCorridor};
pub use timers::Deadlines;

use std::collections::HashMap;

use crate::error::{FieldCode, FieldError, ValidationErrors};
use crate::ids::{DroneId, GeofenceId};
use crate::settings::InvalidSetting;

/// Thresholds of the monitor (configuration `monitoring.*` once wired).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorRules {
    /// Whether points are judged at all (off: no alerts; for comparisons).
    pub enabled: bool,
    pub geofence_hysteresis_m: f64,
    pub excursion_grace_s: f64,
    pub battery_warn_pct: f64,
    pub battery_critical_pct: f64,
    pub link_timeout_s: f64,
    pub frozen_after_s: f64,
    /// A point that arrives this long after its timestamp is flagged `late` live.
    pub stale_after_s: f64,
    /// A drone is flying above this ground speed…
    pub flying_speed_mps: f64,
    /// …or above this height over its take-off point.
    pub flying_alt_m: f64,
}

impl Default for MonitorRules {
    fn default() -> Self {
        Self {
            enabled: true,
            geofence_hysteresis_m: 10.0,
            excursion_grace_s: 3.0,
            battery_warn_pct: 30.0,
            battery_critical_pct: 15.0,
            link_timeout_s: 5.0,
            frozen_after_s: 30.0,
            stale_after_s: 10.0,
            flying_speed_mps: 1.0,
            flying_alt_m: 2.0,
        }
    }
}

impl MonitorRules {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        for (name, value) in [
            ("geofence_hysteresis_m", self.geofence_hysteresis_m),
            ("excursion_grace_s", self.excursion_grace_s),
            ("frozen_after_s", self.frozen_after_s),
            ("stale_after_s", self.stale_after_s),
            ("flying_speed_mps", self.flying_speed_mps),
            ("flying_alt_m", self.flying_alt_m),
        ] {
            if !non_negative(value) {
                return Err(InvalidSetting::new(name, "must be zero or more"));
            }
        }
        if !(self.link_timeout_s.is_finite() && self.link_timeout_s > 0.0) {
            return Err(InvalidSetting::new(
                "link_timeout_s",
                "must be more than 0 s",
            ));
        }
        if !(0.0..=100.0).contains(&self.battery_critical_pct)
            || !(self.battery_critical_pct..=100.0).contains(&self.battery_warn_pct)
        {
            return Err(InvalidSetting::new(
                "battery_warn_pct",
                "must be between battery_critical_pct and 100",
            ));
        }
        Ok(())
    }
}

/// An organisation's own battery thresholds; `None` keeps the installation's.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatteryThresholds {
    pub warn_pct: Option<f64>,
    pub critical_pct: Option<f64>,
}

impl BatteryThresholds {
    /// The thresholds that apply: (warning, critical).
    pub fn effective(&self, rules: &MonitorRules) -> (f64, f64) {
        (
            self.warn_pct.unwrap_or(rules.battery_warn_pct),
            self.critical_pct.unwrap_or(rules.battery_critical_pct),
        )
    }

    /// Each within 0–100 %, and the warning at or above the critical level once combined
    /// with the installation's values for what is not set.
    pub fn check(&self, rules: &MonitorRules) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        for (field, value) in [
            ("battery_warn_pct", self.warn_pct),
            ("battery_critical_pct", self.critical_pct),
        ] {
            if value.is_some_and(|v| !(0.0..=100.0).contains(&v)) {
                errors.push(FieldError::new(
                    field,
                    FieldCode::OutOfRange,
                    "must be between 0 and 100",
                ));
            }
        }
        let (warn, critical) = self.effective(rules);
        if errors.is_empty() && critical > warn {
            errors.push(FieldError::new(
                "battery_critical_pct",
                FieldCode::OutOfRange,
                format!("must not be above the warning threshold ({warn} %)"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// What an organisation changed of the installation's rules: its battery thresholds and its
/// drones' own link timeouts. It travels with the organisation's airspace index, so that
/// one load and one change feed keep both current on every process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub battery: BatteryThresholds,
    pub link_timeouts: HashMap<DroneId, f64>,
}

/// Names for the enums of alerts, as stored and as clients send them.
macro_rules! named {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

named!(AlertKind {
    GeofenceBreach => "geofence_breach",
    OffCorridor => "off_corridor",
    AltitudeDeviation => "altitude_deviation",
    UnplannedFlight => "unplanned_flight",
    BatteryLow => "battery_low",
    LinkLost => "link_lost",
    TelemetryFrozen => "telemetry_frozen",
});

named!(Severity {
    Info => "info",
    Warning => "warning",
    Critical => "critical",
});

/// What the monitor found out about one alert.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertEvent {
    pub drone_id: DroneId,
    pub kind: AlertKind,
    pub change: Change,
    pub severity: Severity,
    /// When the condition was first seen (the first offending point), or when it cleared.
    pub at: chrono::DateTime<chrono::Utc>,
    pub detail: Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Raised,
    /// The condition persists with another severity or detail (a battery going critical).
    Updated,
    Resolved,
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Detail {
    Geofence {
        geofence_id: GeofenceId,
        name: String,
    },
    Corridor {
        distance_m: f64,
    },
    Altitude {
        alt_m: f64,
        band: (f64, f64),
    },
    Battery {
        battery_pct: f64,
    },
    Link {
        silent_s: f64,
    },
    None,
}
