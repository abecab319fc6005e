use chrono::{DateTime, Timelike, Utc};
use geo::{Distance, Haversine};

use super::{Estimate, PlanInput, PlanRules, ValidPlan, Waypoint, WaypointInput};
use crate::drone::{parse_text, Drone, NAME_MAX_LEN, TEXT_MAX_LEN};
use crate::error::{FieldCode, FieldError, ValidationErrors};
use crate::position::{AltitudeM, Latitude, Longitude, Position};

/// Longest hover at one waypoint, in seconds.
pub const MAX_HOLD_S: f64 = 3600.0;

/// Checks every rule and reports every problem at once, so a client can mark all bad inputs
/// in one round trip.
///
/// The drone's limits and `now` are inputs rather than facts fixed at creation: the same plan
/// is validated again on submit and approve, when time has moved on and the drone's limits
/// may have been lowered. Times in the result are truncated to whole seconds so that a
/// stored plan compares equal to the one validated, whatever precision storage keeps.
pub fn validate(
    input: &PlanInput,
    drone: &Drone,
    rules: &PlanRules,
    now: DateTime<Utc>,
) -> Result<ValidPlan, ValidationErrors> {
    let mut errors = ValidationErrors::default();

    let name = errors.collect(parse_text("name", &input.name, NAME_MAX_LEN));
    let authorization_ref = match &input.authorization_ref {
        None => Some(None),
        Some(raw) => errors
            .collect(parse_text("authorization_ref", raw, TEXT_MAX_LEN))
            .map(Some),
    };

    let count = input.waypoints.len();
    if count < 2 {
        errors.push(FieldError::new(
            "waypoints",
            FieldCode::TooFewWaypoints,
            format!("a plan needs at least 2 waypoints, got {count}"),
        ));
    } else if count > rules.max_waypoints {
        errors.push(FieldError::new(
            "waypoints",
            FieldCode::TooManyWaypoints,
            format!(
                "a plan may have at most {} waypoints, got {count}",
                rules.max_waypoints
            ),
        ));
    }
    let parsed: Vec<Option<Waypoint>> = input
        .waypoints
        .iter()
        .enumerate()
        .map(|(index, raw)| parse_waypoint(index, raw, drone, rules, &mut errors))
        .collect();
    let waypoints: Option<Vec<Waypoint>> = parsed.into_iter().collect();

    let planned_start = whole_seconds(input.planned_start);
    let planned_end = whole_seconds(input.planned_end);
    if planned_start <= now {
        errors.push(FieldError::new(
            "planned_start",
            FieldCode::StartInPast,
            "must be in the future",
        ));
    }
    let window_is_ordered = planned_end > planned_start;
    if !window_is_ordered {
        errors.push(FieldError::new(
            "planned_end",
            FieldCode::EndBeforeStart,
            "must be after planned_start",
        ));
    }

    let estimate = waypoints.as_deref().map(|waypoints| {
        estimate(
            waypoints,
            rules.default_speed_mps,
            drone.limits.max_speed_mps,
        )
    });
    if let Some(estimate) = estimate {
        let needed_min = estimate.duration_s / 60.0;
        let allowed_min = f64::from(drone.limits.endurance_min) - rules.endurance_reserve_min;
        // A NaN estimate (from a zero default speed) is refused, not waved through.
        if needed_min.is_nan() || needed_min > allowed_min {
            errors.push(FieldError::new(
                "waypoints",
                FieldCode::ExceedsEndurance,
                format!(
                    "the flight needs about {needed_min:.1} min but the drone may fly at most \
                     {allowed_min:.1} min ({} min endurance less a {} min reserve)",
                    drone.limits.endurance_min, rules.endurance_reserve_min
                ),
            ));
        }
        // An inverted window is already reported as `end_before_start`.
        let window_s = (planned_end - planned_start).num_seconds() as f64;
        if window_is_ordered && window_s < estimate.duration_s {
            errors.push(FieldError::new(
                "planned_end",
                FieldCode::WindowTooShort,
                format!(
                    "the planned window is {:.1} min but the flight needs about {:.1} min",
                    window_s / 60.0,
                    estimate.duration_s / 60.0
                ),
            ));
        }
    }

    match (name, authorization_ref, waypoints, estimate) {
        (Some(name), Some(authorization_ref), Some(waypoints), Some(estimate))
            if errors.is_empty() =>
        {
            Ok(ValidPlan {
                name,
                authorization_ref,
                waypoints,
                planned_start,
                planned_end,
                estimate,
            })
        }
        _ => Err(errors),
    }
}

/// Path length and flight time of a route.
///
/// Each leg is measured in 3-D: the haversine ground distance combined with the change of
/// altitude. A leg is flown at its destination's `speed_mps`, or else at `default_speed_mps`
/// capped at `max_speed_mps`; every `hold_s` is added on top. Callers pass positive speeds
/// (validated waypoints and the drone's limits guarantee it); a leg of zero length takes no
/// time whatever the speed.
pub fn estimate(waypoints: &[Waypoint], default_speed_mps: f64, max_speed_mps: f64) -> Estimate {
    let fallback_speed_mps = default_speed_mps.min(max_speed_mps);
    let mut distance_m = 0.0;
    let mut duration_s: f64 = waypoints.iter().filter_map(|w| w.hold_s).sum();
    for leg in waypoints.windows(2) {
        let [from, to] = leg else { continue };
        let ground_m = Haversine.distance(from.position.point(), to.position.point());
        let climb_m = to.position.alt_m.get() - from.position.alt_m.get();
        let leg_m = ground_m.hypot(climb_m);
        if leg_m > 0.0 {
            distance_m += leg_m;
            duration_s += leg_m / to.speed_mps.unwrap_or(fallback_speed_mps);
        }
    }
    Estimate {
        distance_m,
        duration_s,
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    // Setting nanoseconds to 0 cannot fail; keeping `t` is only a formality.
    t.with_nanosecond(0).unwrap_or(t)
}

/// Parses one waypoint, recording its problems under `waypoints[index]`.
fn parse_waypoint(
    index: usize,
    raw: &WaypointInput,
    drone: &Drone,
    rules: &PlanRules,
    errors: &mut ValidationErrors,
) -> Option<Waypoint> {
    let path = format!("waypoints[{index}]");
    let lat = errors.collect(Latitude::parse(raw.lat).map_err(|e| e.under(&path)));
    let lon = errors.collect(Longitude::parse(raw.lon).map_err(|e| e.under(&path)));
    let alt_m = errors.collect(parse_altitude(raw.alt_m, drone, rules).map_err(|e| e.under(&path)));
    let speed_mps = errors.collect(
        parse_speed(raw.speed_mps, drone.limits.max_speed_mps).map_err(|e| e.under(&path)),
    );
    let hold_s = errors.collect(parse_hold(raw.hold_s).map_err(|e| e.under(&path)));
    Some(Waypoint {
        position: Position {
            lat: lat?,
            lon: lon?,
            alt_m: alt_m?,
        },
        speed_mps: speed_mps?,
        hold_s: hold_s?,
    })
}

/// A plan's altitude must be at or above the take-off point and within both the drone's
/// capability and the installation's ceiling; the message names the lower of the two, since
/// that is the one the pilot must respect.
fn parse_altitude(alt_m: f64, drone: &Drone, rules: &PlanRules) -> Result<AltitudeM, FieldError> {
    if !alt_m.is_finite() {
        return Err(FieldError::new(
            "alt_m",
            FieldCode::NotFinite,
            "must be a finite number",
        ));
    }
    if alt_m < 0.0 {
        return Err(FieldError::new(
            "alt_m",
            FieldCode::BelowGround,
            "must be at least 0 m (the take-off point)",
        ));
    }
    let drone_max_m = drone.limits.max_altitude_m;
    if drone_max_m < rules.ceiling_m {
        if alt_m > drone_max_m {
            return Err(FieldError::new(
                "alt_m",
                FieldCode::AboveDroneMaxAltitude,
                format!("must be at most {drone_max_m} m, the drone's maximum altitude"),
            ));
        }
    } else if alt_m > rules.ceiling_m {
        return Err(FieldError::new(
            "alt_m",
            FieldCode::AboveCeiling,
            format!(
                "must be at most {} m, the altitude ceiling for all flights",
                rules.ceiling_m
            ),
        ));
    }
    AltitudeM::parse(alt_m)
}

fn parse_speed(speed_mps: Option<f64>, max_speed_mps: f64) -> Result<Option<f64>, FieldError> {
    let Some(speed_mps) = speed_mps else {
        return Ok(None);
    };
    if !speed_mps.is_finite() {
        return Err(FieldError::new(
            "speed_mps",
            FieldCode::NotFinite,
            "must be a finite number",
        ));
    }
    if speed_mps <= 0.0 {
        return Err(FieldError::new(
            "speed_mps",
            FieldCode::NotPositive,
            "must be greater than 0",
        ));
    }
    if speed_mps > max_speed_mps {
        return Err(FieldError::new(
            "speed_mps",
            FieldCode::AboveDroneMaxSpeed,
            format!("must be at most {max_speed_mps} m/s, the drone's maximum speed"),
        ));
    }
    Ok(Some(speed_mps))
}

fn parse_hold(hold_s: Option<f64>) -> Result<Option<f64>, FieldError> {
    let Some(hold_s) = hold_s else {
        return Ok(None);
    };
    if !hold_s.is_finite() {
        return Err(FieldError::new(
            "hold_s",
            FieldCode::NotFinite,
            "must be a finite number",
        ));
    }
    if hold_s < 0.0 {
        return Err(FieldError::new(
            "hold_s",
            FieldCode::Negative,
            "must be at least 0",
        ));
    }
    if hold_s > MAX_HOLD_S {
        return Err(FieldError::new(
            "hold_s",
            FieldCode::HoldTooLong,
            format!("must be at most {MAX_HOLD_S} s"),
        ));
    }
    Ok(Some(hold_s))
}
