//! Strategic deconfliction (ASTM F3548-21 style operational intents): each submitted plan
//! holds a 4-D volume, its path buffered laterally by `lateral_buffer_m`, vertically by
//! `vertical_buffer_m`, and its window `[planned_start, planned_end]` widened by
//! `time_buffer_s` on both sides. Two plans conflict when their volumes meet.
//!
//! Per pair of legs the test is: the buffered time extents overlap, the ground tracks come
//! within twice the lateral buffer, and the legs' altitude ranges (each widened by the
//! vertical buffer) overlap. Taking a leg's whole altitude range is conservative for a leg
//! that climbs across another: it may report a conflict a finer 3-D test would not, never
//! the other way round. Altitudes of different plans are compared as given (metres above
//! each one's take-off point).

use chrono::{DateTime, Duration, Utc};

use super::index::AirspaceIndex;
use super::{AirspaceRules, Local};
use crate::flight_plan::{FlightPlan, FlightPlanState};
use crate::ids::{DroneId, FlightPlanId};
use crate::position::Position;

/// What the index keeps of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanVolume {
    pub id: FlightPlanId,
    pub drone_id: DroneId,
    pub name: String,
    pub state: FlightPlanState,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub path: Vec<Position>,
    /// The plan carries an authorisation for restricted fences.
    pub authorized: bool,
}

/// Where and when two plans' volumes meet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanConflict {
    pub plan_id: FlightPlanId,
    pub plan_name: String,
    pub drone_id: DroneId,
    pub state: FlightPlanState,
    /// The leg of the plan being checked (`waypoints[i]→[i+1]`).
    pub leg_index: usize,
    /// The other plan's leg.
    pub other_leg_index: usize,
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl PlanVolume {
    pub fn of(plan: &FlightPlan) -> Self {
        Self {
            id: plan.id,
            drone_id: plan.drone_id,
            name: plan.name.clone(),
            state: plan.state,
            start: plan.planned_start,
            end: plan.planned_end,
            path: plan.waypoints.iter().map(|w| w.position).collect(),
            authorized: plan.authorization_ref.is_some(),
        }
    }

    /// Whether a plan in `state` holds airspace: submitted, approved or active.
    pub fn holds_airspace(state: FlightPlanState) -> bool {
        matches!(
            state,
            FlightPlanState::Submitted | FlightPlanState::Approved | FlightPlanState::Active
        )
    }

    pub fn leg_count(&self) -> usize {
        self.path.len().saturating_sub(1)
    }

    fn leg(&self, i: usize) -> (Position, Position) {
        (self.path[i], self.path[i + 1])
    }

    /// The leg's box grown by `buffer_m` on every side.
    pub fn leg_bbox(&self, i: usize, buffer_m: f64) -> [f64; 4] {
        let (a, b) = self.leg(i);
        let (a_lat, a_lon) = (a.lat.get(), a.lon.get());
        let (b_lat, b_lon) = (b.lat.get(), b.lon.get());
        let widest = a_lat.abs().max(b_lat.abs());
        let (dlon, dlat) = Local::at(widest).degrees(buffer_m);
        [
            a_lon.min(b_lon) - dlon,
            a_lat.min(b_lat) - dlat,
            a_lon.max(b_lon) + dlon,
            a_lat.max(b_lat) + dlat,
        ]
    }

    /// `[start, end]` widened by the time buffer.
    pub fn extent(&self, rules: &AirspaceRules) -> (DateTime<Utc>, DateTime<Utc>) {
        let buffer = Duration::seconds(i64::from(rules.time_buffer_s));
        (self.start - buffer, self.end + buffer)
    }

    /// Whether the two plans' windows (unbuffered) overlap: a drone can fly one at a time.
    pub fn overlaps_in_time(&self, other: &PlanVolume) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// The drone's other plans in the index whose windows overlap this one's.
    pub fn double_bookings<'a>(
        &'a self,
        index: &'a AirspaceIndex,
    ) -> impl Iterator<Item = &'a PlanVolume> + 'a {
        index
            .plans_of(self.drone_id)
            .map(|p| p.as_ref())
            .filter(move |p| p.id != self.id && self.overlaps_in_time(p))
    }

    /// Every other drone's plan in the index whose volume meets this one, once each, at the
    /// first leg pair where they meet.
    pub fn conflicts(&self, index: &AirspaceIndex) -> Vec<PlanConflict> {
        self.conflicts_with(index.rules(), |bbox| {
            index
                .legs_near(bbox)
                .map(|(plan, leg)| (plan.as_ref(), leg))
                .collect()
        })
    }

    /// [`Self::conflicts`] over the legs `near` names for each of this plan's legs' box
    /// (grown by the lateral buffer): the index's lookup, or a scan (the benchmark's
    /// reference).
    pub fn conflicts_with<'a>(
        &self,
        rules: &AirspaceRules,
        near: impl Fn([f64; 4]) -> Vec<(&'a PlanVolume, usize)>,
    ) -> Vec<PlanConflict> {
        let (start, end) = self.extent(rules);
        let mut found: Vec<PlanConflict> = Vec::new();
        for leg in 0..self.leg_count() {
            let bbox = self.leg_bbox(leg, rules.lateral_buffer_m);
            for (other, other_leg) in near(bbox) {
                if other.id == self.id
                    || other.drone_id == self.drone_id
                    || found.iter().any(|c| c.plan_id == other.id)
                {
                    continue;
                }
                let (other_start, other_end) = other.extent(rules);
                let (from, to) = (start.max(other_start), end.min(other_end));
                if from > to {
                    continue;
                }
                if let Some((lon, lat, alt_m)) =
                    legs_meet(self.leg(leg), other.leg(other_leg), rules)
                {
                    found.push(PlanConflict {
                        plan_id: other.id,
                        plan_name: other.name.clone(),
                        drone_id: other.drone_id,
                        state: other.state,
                        leg_index: leg,
                        other_leg_index: other_leg,
                        lat,
                        lon,
                        alt_m,
                        from,
                        to,
                    });
                }
            }
        }
        found.sort_by_key(|c| (c.leg_index, c.plan_id));
        found
    }
}

/// Where two buffered legs meet: the middle of their closest approach and of their common
/// altitudes.
fn legs_meet(
    (a0, a1): (Position, Position),
    (b0, b1): (Position, Position),
    rules: &AirspaceRules,
) -> Option<(f64, f64, f64)> {
    let v = rules.vertical_buffer_m;
    let range = |p: Position, q: Position| {
        let (x, y) = (p.alt_m.get(), q.alt_m.get());
        (x.min(y) - v, x.max(y) + v)
    };
    let (a_low, a_high) = range(a0, a1);
    let (b_low, b_high) = range(b0, b1);
    let (low, high) = (a_low.max(b_low), a_high.min(b_high));
    if low > high {
        return None;
    }
    let origin = (a0.lon.get(), a0.lat.get());
    let local = Local::at((a0.lat.get() + a1.lat.get()) / 2.0);
    let xy = |p: Position| local.xy(p.lon.get() - origin.0, p.lat.get() - origin.1);
    let (p, q) = closest_points(xy(a0), xy(a1), xy(b0), xy(b1));
    let distance = (p.0 - q.0).hypot(p.1 - q.1);
    if distance > 2.0 * rules.lateral_buffer_m {
        return None;
    }
    let (mx, my) = ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0);
    let (dlon, dlat) = (mx / local.xy(1.0, 0.0).0, my / local.xy(0.0, 1.0).1);
    Some((origin.0 + dlon, origin.1 + dlat, (low + high) / 2.0))
}

type Xy = (f64, f64);

/// The closest points of segments `p1 → q1` and `p2 → q2` (Ericson, Real-Time Collision
/// Detection, 5.1.9).
fn closest_points(p1: Xy, q1: Xy, p2: Xy, q2: Xy) -> (Xy, Xy) {
    let sub = |a: Xy, b: Xy| (a.0 - b.0, a.1 - b.1);
    let dot = |a: Xy, b: Xy| a.0 * b.0 + a.1 * b.1;
    let at = |p: Xy, d: Xy, t: f64| (p.0 + d.0 * t, p.1 + d.1 * t);
    let (d1, d2, r) = (sub(q1, p1), sub(q2, p2), sub(p1, p2));
    let (a, e, f) = (dot(d1, d1), dot(d2, d2), dot(d2, r));
    const EPS: f64 = 1e-12;
    let (s, t);
    if a <= EPS && e <= EPS {
        return (p1, p2);
    }
    if a <= EPS {
        s = 0.0;
        t = (f / e).clamp(0.0, 1.0);
    } else {
        let c = dot(d1, r);
        if e <= EPS {
            t = 0.0;
            s = (-c / a).clamp(0.0, 1.0);
        } else {
            let b = dot(d1, d2);
            let denom = a * e - b * b;
            let s0 = if denom > EPS {
                ((b * f - c * e) / denom).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let t0 = (b * s0 + f) / e;
            if t0 < 0.0 {
                t = 0.0;
                s = (-c / a).clamp(0.0, 1.0);
            } else if t0 > 1.0 {
                t = 1.0;
                s = ((b - c) / a).clamp(0.0, 1.0);
            } else {
                t = t0;
                s = s0;
            }
        }
    }
    (at(p1, d1, s), at(p2, d2, t))
}
