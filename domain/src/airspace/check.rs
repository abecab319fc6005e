//! A plan's path against the fences: every leg, not only its waypoints, in 3-D.

use chrono::{DateTime, Utc};

use super::fence::{FenceKind, Geofence};
use super::index::AirspaceIndex;
use crate::flight_plan::Waypoint;
use crate::ids::GeofenceId;
use crate::position::Position;

/// Most violations one check reports (a plan along a long fence could name every leg).
pub const MAX_VIOLATIONS: usize = 50;

/// A straight leg of a plan, `waypoints[index] → waypoints[index + 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leg {
    pub index: usize,
    pub from: Position,
    pub to: Position,
}

/// Where a leg first enters a fence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    pub geofence_id: GeofenceId,
    pub geofence_name: String,
    pub kind: FenceKind,
    pub leg_index: usize,
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
}

impl Violation {
    /// `waypoints[i]→[i+1]`, the leg as an error names it.
    pub fn leg(&self) -> String {
        format!("waypoints[{}]→[{}]", self.leg_index, self.leg_index + 1)
    }
}

/// The fences a plan's path enters, by what they mean for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanCheck {
    /// Prohibited fences: the plan is refused.
    pub prohibited: Vec<Violation>,
    /// Restricted fences while the plan has no authorisation reference: refused.
    pub unauthorized: Vec<Violation>,
    /// Restricted fences the plan's authorisation covers, and advisory ones: accepted, told.
    pub warnings: Vec<Violation>,
}

impl PlanCheck {
    pub fn is_clear(&self) -> bool {
        self.prohibited.is_empty() && self.unauthorized.is_empty()
    }
}

/// Checks the path of `waypoints` against every fence of `index` that applies at some time
/// in `[start, end]` (the plan may fly any time in its window, so a schedule that opens at
/// any moment of it counts). Each leg is tested exactly: the part of its ground track
/// inside a fence's shape, intersected with the part whose altitude (linear along the
/// leg) lies in the fence's band. A violation names the first such point of each fence on
/// each leg.
pub fn check_plan(
    index: &AirspaceIndex,
    waypoints: &[Waypoint],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    authorized: bool,
) -> PlanCheck {
    check_plan_with(waypoints, start, end, authorized, |bbox| {
        index.fences_near(bbox).map(|f| f.as_ref()).collect()
    })
}

/// [`check_plan`] over the fences `near` names for each leg's bounding box
/// (`[min_lon, min_lat, max_lon, max_lat]`): the index's lookup, or a scan (the benchmark's
/// reference).
pub fn check_plan_with<'a>(
    waypoints: &[Waypoint],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    authorized: bool,
    near: impl Fn([f64; 4]) -> Vec<&'a Geofence>,
) -> PlanCheck {
    let mut check = PlanCheck::default();
    for (i, pair) in waypoints.windows(2).enumerate() {
        let leg = Leg {
            index: i,
            from: pair[0].position,
            to: pair[1].position,
        };
        let (a, b) = (
            (leg.from.lon.get(), leg.from.lat.get()),
            (leg.to.lon.get(), leg.to.lat.get()),
        );
        let bbox = [a.0.min(b.0), a.1.min(b.1), a.0.max(b.0), a.1.max(b.1)];
        let mut hits: Vec<Violation> = near(bbox)
            .into_iter()
            .filter(|fence| fence.applies_during(start, end))
            .filter_map(|fence| {
                let (lon, lat, alt_m) = first_inside(fence, &leg)?;
                Some(Violation {
                    geofence_id: fence.id,
                    geofence_name: fence.name.clone(),
                    kind: fence.kind,
                    leg_index: i,
                    lat,
                    lon,
                    alt_m,
                })
            })
            .collect();
        hits.sort_by_key(|v| v.geofence_id);
        for hit in hits {
            let list = match (hit.kind, authorized) {
                (FenceKind::Prohibited, _) => &mut check.prohibited,
                (FenceKind::Restricted, false) => &mut check.unauthorized,
                (FenceKind::Restricted, true) | (FenceKind::Advisory, _) => &mut check.warnings,
            };
            if list.len() < MAX_VIOLATIONS {
                list.push(hit);
            }
        }
    }
    check
}

/// The first point of the leg inside the fence's shape and band, as `(lon, lat, alt_m)`.
fn first_inside(fence: &Geofence, leg: &Leg) -> Option<(f64, f64, f64)> {
    let (a0, a1) = (leg.from.alt_m.get(), leg.to.alt_m.get());
    let (lower, upper) = fence.band.above_takeoff();
    // The parameters t where the altitude a0 + t (a1 - a0) lies in [lower, upper].
    let (t_low, t_high) = if a0 == a1 {
        if (lower..=upper).contains(&a0) {
            (0.0, 1.0)
        } else {
            return None;
        }
    } else {
        let t_lower = (lower - a0) / (a1 - a0);
        let t_upper = (upper - a0) / (a1 - a0);
        (t_lower.min(t_upper).max(0.0), t_lower.max(t_upper).min(1.0))
    };
    if t_low > t_high {
        return None;
    }
    let a = (leg.from.lon.get(), leg.from.lat.get());
    let b = (leg.to.lon.get(), leg.to.lat.get());
    fence
        .shape
        .inside_intervals(a, b)
        .into_iter()
        .find_map(|(from, to)| {
            let (from, to) = (from.max(t_low), to.min(t_high));
            (from <= to).then_some(from)
        })
        .map(|t| {
            (
                a.0 + (b.0 - a.0) * t,
                a.1 + (b.1 - a.1) * t,
                a0 + (a1 - a0) * t,
            )
        })
}
