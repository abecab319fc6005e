//! Airspace: geofences ([`Geofence`]), the checks of a flight plan against them
//! ([`check`]), the 4-D volumes of plans and their strategic deconfliction ([`deconflict`]),
//! and the per-organisation R-tree ([`AirspaceIndex`]) that makes both fast at fleet scale.
//!
//! Conventions every rule here shares:
//! - Coordinates are WGS 84 degrees; edges are straight lines in longitude/latitude, as
//!   GeoJSON draws them. No fence or plan may cross the antimeridian (±180°): the whole
//!   module assumes longitudes do not wrap.
//! - Plan altitudes are metres above the take-off point. A fence band with datum `agl` is
//!   compared with them directly (above ground is taken as above take-off). A band with
//!   datum `amsl` needs the take-off point's elevation, which NimbusFleet does not know yet;
//!   until it does, an `amsl` band is judged conservatively: as covering every altitude.
//! - Distances in metres use a local equirectangular projection around the geometry at
//!   hand; over the few kilometres of a leg or a fence its error is far below the buffers.

mod check;
mod deconflict;
mod fence;
mod geometry;
mod index;
mod schedule;
#[cfg(test)]
mod tests;

pub use check::{check_plan, check_plan_with, Leg, PlanCheck, Violation};
pub use deconflict::{PlanConflict, PlanVolume};
pub use fence::{
    AltitudeBand, Datum, FenceKind, Geofence, GeofenceFilter, GeofenceInput, GeofencePatch,
    ValidFence, MAX_VERTICES,
};
pub use geometry::{Circle, FenceShape, RawGeometry};
pub use index::AirspaceIndex;
pub use schedule::{RawSchedule, RawWindow, Schedule, Weekday, WeeklyWindow};

use crate::settings::InvalidSetting;

/// Buffers of the 4-D volume around a plan (configuration `airspace.*`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AirspaceRules {
    /// Horizontal margin on each side of a plan's path (default 50 m).
    pub lateral_buffer_m: f64,
    /// Vertical margin above and below a plan's path (default 15 m).
    pub vertical_buffer_m: f64,
    /// Time added before a plan's start and after its end (default 120 s).
    pub time_buffer_s: u32,
}

impl Default for AirspaceRules {
    fn default() -> Self {
        Self {
            lateral_buffer_m: 50.0,
            vertical_buffer_m: 15.0,
            time_buffer_s: 120,
        }
    }
}

impl AirspaceRules {
    /// Checks what the types alone cannot; the error names the one setting at fault.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if !(self.lateral_buffer_m.is_finite() && (0.0..=10_000.0).contains(&self.lateral_buffer_m))
        {
            return Err(InvalidSetting::new(
                "lateral_buffer_m",
                "must be 0 to 10000 metres",
            ));
        }
        if !(self.vertical_buffer_m.is_finite()
            && (0.0..=1_000.0).contains(&self.vertical_buffer_m))
        {
            return Err(InvalidSetting::new(
                "vertical_buffer_m",
                "must be 0 to 1000 metres",
            ));
        }
        if self.time_buffer_s > 86_400 {
            return Err(InvalidSetting::new(
                "time_buffer_s",
                "must be at most 86400 seconds",
            ));
        }
        Ok(())
    }
}

/// Metres per degree of latitude (mean Earth radius 6,371,008.8 m).
const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

/// Metres on the ground from `(lon, lat)` to the polyline `path` (`(lon, lat)` vertices), and
/// the parameter of the nearest point as (segment index, t along it).
pub fn distance_to_path_m(lon: f64, lat: f64, path: &[(f64, f64)]) -> (f64, usize, f64) {
    let local = Local::at(lat);
    let mut best = (f64::INFINITY, 0, 0.0);
    for (i, w) in path.windows(2).enumerate() {
        let a = local.xy(w[0].0 - lon, w[0].1 - lat);
        let b = local.xy(w[1].0 - lon, w[1].1 - lat);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            ((-a.0 * dx - a.1 * dy) / len2).clamp(0.0, 1.0)
        };
        let d = (a.0 + t * dx).hypot(a.1 + t * dy);
        if d < best.0 {
            best = (d, i, t);
        }
    }
    if path.len() == 1 {
        let (x, y) = local.xy(path[0].0 - lon, path[0].1 - lat);
        best = (x.hypot(y), 0, 0.0);
    }
    best
}

/// A local projection to metres around `lat0`: `x = lon · m_per_deg_lon`, `y = lat ·
/// M_PER_DEG`. It is affine, so a straight edge in degrees stays straight in metres.
#[derive(Debug, Clone, Copy)]
struct Local {
    m_per_deg_lon: f64,
}

impl Local {
    fn at(lat0: f64) -> Self {
        Self {
            m_per_deg_lon: M_PER_DEG * lat0.to_radians().cos().max(1e-6),
        }
    }

    fn xy(self, lon: f64, lat: f64) -> (f64, f64) {
        (lon * self.m_per_deg_lon, lat * M_PER_DEG)
    }

    /// Degrees of longitude and latitude that `m` metres span here.
    fn degrees(self, m: f64) -> (f64, f64) {
        (m / self.m_per_deg_lon, m / M_PER_DEG)
    }
}
