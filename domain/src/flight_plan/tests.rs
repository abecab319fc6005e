#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, TimeZone, Timelike};
use geo::Haversine;

use super::*;
use crate::error::FieldError;
use crate::user::Role;

#[test]
fn state_and_transition_names_are_their_serde_names() {
    for state in FlightPlanState::ALL {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        assert_eq!(FlightPlanState::parse(state.as_str()), Some(state));
    }
    for transition in Transition::ALL {
        assert_eq!(
            serde_json::to_value(transition).unwrap(),
            transition.as_str()
        );
    }
}
use crate::drone::{DroneStatus, Limits, Serial};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 12, 0, 0).unwrap()
}

/// Max 150 m, 20 m/s, 30 min: with the default rules the ceiling (120 m) binds and a plan
/// may use 25 min.
fn drone() -> Drone {
    Drone {
        id: DroneId::new(),
        org_id: OrgId::new(),
        serial: Serial::parse("SN-0001").unwrap(),
        name: "Hawk".into(),
        model: "M300".into(),
        manufacturer: None,
        status: DroneStatus::Active,
        limits: Limits {
            max_altitude_m: 150.0,
            max_speed_mps: 20.0,
            endurance_min: 30,
        },
        firmware_version: None,
        home: None,
        link_timeout_s: None,
        created_at: now(),
        updated_at: now(),
        version: 1,
    }
}

fn rules() -> PlanRules {
    PlanRules::default()
}

fn wp(lat: f64, lon: f64, alt_m: f64) -> WaypointInput {
    WaypointInput {
        lat,
        lon,
        alt_m,
        speed_mps: None,
        hold_s: None,
    }
}

/// A short survey (about 1.2 km, two minutes) an hour from now, in a one-hour window.
fn input() -> PlanInput {
    PlanInput {
        name: "Survey north field".into(),
        authorization_ref: None,
        waypoints: vec![
            wp(52.0, 4.0, 50.0),
            wp(52.0, 4.01, 60.0),
            wp(52.005, 4.01, 60.0),
        ],
        planned_start: now() + Duration::hours(1),
        planned_end: now() + Duration::hours(2),
    }
}

fn problems(input: &PlanInput, drone: &Drone, rules: &PlanRules) -> Vec<(String, &'static str)> {
    validate(input, drone, rules, now())
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| (e.field, e.code.as_str()))
        .collect()
}

/// Asserts that validation against `drone` and `rules` fails with exactly one problem.
fn refused_by(
    input: &PlanInput,
    drone: &Drone,
    rules: &PlanRules,
    field: &str,
    code: &str,
) -> FieldError {
    let errors = validate(input, drone, rules, now()).unwrap_err().0;
    assert_eq!(errors.len(), 1, "expected one problem, got {errors:?}");
    assert_eq!(errors[0].field, field, "{errors:?}");
    assert_eq!(errors[0].code, code, "{errors:?}");
    errors[0].clone()
}

fn refused(input: &PlanInput, field: &str, code: &str) -> FieldError {
    refused_by(input, &drone(), &rules(), field, code)
}

/// A one-kilometre step east along the equator, in degrees of longitude.
fn one_km_deg() -> f64 {
    (1000.0 / Haversine.radius()).to_degrees()
}

fn waypoint(
    lat: f64,
    lon: f64,
    alt_m: f64,
    speed_mps: Option<f64>,
    hold_s: Option<f64>,
) -> Waypoint {
    Waypoint {
        position: Position::parse(lat, lon, alt_m).unwrap(),
        speed_mps,
        hold_s,
    }
}

fn plan(state: FlightPlanState) -> FlightPlan {
    let valid = validate(&input(), &drone(), &rules(), now()).unwrap();
    FlightPlan {
        id: FlightPlanId::new(),
        org_id: OrgId::new(),
        drone_id: DroneId::new(),
        name: valid.name,
        waypoints: valid.waypoints,
        planned_start: valid.planned_start,
        planned_end: valid.planned_end,
        state,
        estimate: valid.estimate,
        created_by: UserId::new(),
        created_at: now(),
        updated_at: now(),
        version: 1,
        rejection_reason: None,
        authorization_ref: None,
        override_reason: None,
    }
}

fn drone_with_status(status: DroneStatus) -> Drone {
    Drone { status, ..drone() }
}

// --- validation -------------------------------------------------------------------------

#[test]
fn a_valid_plan_is_accepted_with_its_name_trimmed_and_its_estimate() {
    let mut input = input();
    input.name = "  Survey north field \t".into();
    let valid = validate(&input, &drone(), &rules(), now()).unwrap();
    assert_eq!(valid.name, "Survey north field");
    assert_eq!(valid.waypoints.len(), 3);
    assert_eq!(valid.waypoints[1].position.lon.get(), 4.01);
    assert_eq!(valid.estimate, estimate(&valid.waypoints, 10.0, 20.0));
    assert!(valid.estimate.distance_m > 1000.0 && valid.estimate.distance_m < 1500.0);
}

#[test]
fn planned_times_are_truncated_to_whole_seconds() {
    let mut input = input();
    input.planned_start += Duration::milliseconds(1500);
    input.planned_end += Duration::nanoseconds(999_999_999);
    let valid = validate(&input, &drone(), &rules(), now()).unwrap();
    assert_eq!(
        valid.planned_start,
        now() + Duration::hours(1) + Duration::seconds(1)
    );
    assert_eq!(valid.planned_end, now() + Duration::hours(2));
    assert_eq!(valid.planned_start.nanosecond(), 0);
}

#[test]
fn a_blank_name_is_refused() {
    let mut input = input();
    input.name = "   ".into();
    refused(&input, "name", "length");
}

#[test]
fn a_name_longer_than_100_characters_is_refused() {
    let mut input = input();
    input.name = "é".repeat(100);
    assert!(validate(&input, &drone(), &rules(), now()).is_ok());
    input.name = "é".repeat(101);
    refused(&input, "name", "length");
}

#[test]
fn a_name_with_control_characters_is_refused() {
    let mut input = input();
    input.name = "Survey\u{0000}north".into();
    refused(&input, "name", "invalid_characters");
}

#[test]
fn a_plan_with_a_single_waypoint_is_refused() {
    let mut input = input();
    input.waypoints.truncate(1);
    let error = refused(&input, "waypoints", "too_few_waypoints");
    assert!(error.message.contains('2'), "{}", error.message);
}

#[test]
fn a_plan_without_waypoints_is_refused() {
    let mut input = input();
    input.waypoints.clear();
    refused(&input, "waypoints", "too_few_waypoints");
}

#[test]
fn a_plan_with_more_waypoints_than_the_rules_allow_is_refused() {
    let rules = PlanRules {
        max_waypoints: 3,
        ..rules()
    };
    assert!(validate(&input(), &drone(), &rules, now()).is_ok());
    let mut input = input();
    input.waypoints.push(wp(52.005, 4.0, 60.0));
    refused_by(&input, &drone(), &rules, "waypoints", "too_many_waypoints");
}

#[test]
fn a_latitude_out_of_range_is_refused() {
    let mut input = input();
    input.waypoints[1].lat = 90.5;
    refused(&input, "waypoints[1].lat", "out_of_range");
}

#[test]
fn a_longitude_out_of_range_is_refused() {
    let mut input = input();
    input.waypoints[0].lon = -180.5;
    refused(&input, "waypoints[0].lon", "out_of_range");
}

#[test]
fn a_coordinate_that_is_not_a_finite_number_is_refused() {
    let mut input = input();
    input.waypoints[2].lat = f64::NAN;
    refused(&input, "waypoints[2].lat", "not_finite");
    let mut input = self::input();
    input.waypoints[2].lon = f64::INFINITY;
    refused(&input, "waypoints[2].lon", "not_finite");
}

#[test]
fn an_altitude_that_is_not_a_finite_number_is_refused() {
    let mut input = input();
    input.waypoints[0].alt_m = f64::NAN;
    refused(&input, "waypoints[0].alt_m", "not_finite");
}

#[test]
fn a_waypoint_below_the_take_off_point_is_refused() {
    let mut input = input();
    input.waypoints[0].alt_m = -0.5;
    refused(&input, "waypoints[0].alt_m", "below_ground");
    input.waypoints[0].alt_m = 0.0;
    assert!(validate(&input, &drone(), &rules(), now()).is_ok());
}

#[test]
fn a_waypoint_above_the_drones_maximum_altitude_is_refused() {
    let mut drone = drone();
    drone.limits.max_altitude_m = 100.0;
    let mut input = input();
    input.waypoints[1].alt_m = 110.0;
    let error = refused_by(
        &input,
        &drone,
        &rules(),
        "waypoints[1].alt_m",
        "above_drone_max_altitude",
    );
    assert!(
        error.message.contains("100 m") && error.message.contains("drone"),
        "{}",
        error.message
    );
}

#[test]
fn a_waypoint_above_the_ceiling_is_refused() {
    let mut input = input();
    input.waypoints[1].alt_m = 130.0;
    let error = refused(&input, "waypoints[1].alt_m", "above_ceiling");
    assert!(
        error.message.contains("120 m") && error.message.contains("ceiling"),
        "{}",
        error.message
    );
    input.waypoints[1].alt_m = 120.0;
    assert!(validate(&input, &drone(), &rules(), now()).is_ok());
}

#[test]
fn a_waypoint_above_both_limits_is_told_the_lower_one() {
    let mut drone = drone();
    drone.limits.max_altitude_m = 100.0;
    let mut input = input();
    input.waypoints[1].alt_m = 500.0;
    refused_by(
        &input,
        &drone,
        &rules(),
        "waypoints[1].alt_m",
        "above_drone_max_altitude",
    );
    let rules = PlanRules {
        ceiling_m: 80.0,
        ..rules()
    };
    input.waypoints[0].alt_m = 10.0;
    refused_by(
        &input,
        &drone,
        &rules,
        "waypoints[1].alt_m",
        "above_ceiling",
    );
}

#[test]
fn a_speed_of_zero_or_less_is_refused() {
    let mut input = input();
    input.waypoints[1].speed_mps = Some(0.0);
    refused(&input, "waypoints[1].speed_mps", "not_positive");
    input.waypoints[1].speed_mps = Some(-3.0);
    refused(&input, "waypoints[1].speed_mps", "not_positive");
}

#[test]
fn a_speed_above_the_drones_maximum_is_refused() {
    let mut input = input();
    input.waypoints[2].speed_mps = Some(20.5);
    let error = refused(&input, "waypoints[2].speed_mps", "above_drone_max_speed");
    assert!(error.message.contains("20 m/s"), "{}", error.message);
    input.waypoints[2].speed_mps = Some(20.0);
    assert!(validate(&input, &drone(), &rules(), now()).is_ok());
}

#[test]
fn a_speed_that_is_not_a_finite_number_is_refused() {
    let mut input = input();
    input.waypoints[2].speed_mps = Some(f64::NAN);
    refused(&input, "waypoints[2].speed_mps", "not_finite");
}

#[test]
fn a_negative_hold_is_refused() {
    let mut input = input();
    input.waypoints[0].hold_s = Some(-1.0);
    refused(&input, "waypoints[0].hold_s", "negative");
    input.waypoints[0].hold_s = Some(0.0);
    assert!(validate(&input, &drone(), &rules(), now()).is_ok());
}

#[test]
fn a_hold_longer_than_an_hour_is_refused() {
    let mut drone = drone();
    drone.limits.endurance_min = 120;
    let mut input = input();
    input.planned_end = input.planned_start + Duration::hours(3);
    input.waypoints[1].hold_s = Some(3600.5);
    refused_by(
        &input,
        &drone,
        &rules(),
        "waypoints[1].hold_s",
        "hold_too_long",
    );
    input.waypoints[1].hold_s = Some(3600.0);
    assert!(validate(&input, &drone, &rules(), now()).is_ok());
}

#[test]
fn a_hold_that_is_not_a_finite_number_is_refused() {
    let mut input = input();
    input.waypoints[1].hold_s = Some(f64::INFINITY);
    refused(&input, "waypoints[1].hold_s", "not_finite");
}

#[test]
fn a_start_in_the_past_is_refused() {
    let mut input = input();
    input.planned_start = now() - Duration::minutes(1);
    refused(&input, "planned_start", "start_in_past");
}

#[test]
fn a_start_at_this_very_moment_is_refused() {
    let mut input = input();
    input.planned_start = now();
    refused(&input, "planned_start", "start_in_past");
}

#[test]
fn an_end_before_the_start_is_refused() {
    let mut input = input();
    input.planned_end = input.planned_start - Duration::minutes(10);
    refused(&input, "planned_end", "end_before_start");
}

#[test]
fn an_end_equal_to_the_start_is_refused_once() {
    let mut input = input();
    input.planned_end = input.planned_start;
    refused(&input, "planned_end", "end_before_start");
}

#[test]
fn a_flight_longer_than_the_endurance_less_the_reserve_is_refused() {
    let mut input = input();
    input.waypoints[1].hold_s = Some(1800.0);
    let error = refused(&input, "waypoints", "exceeds_endurance");
    assert!(
        error.message.contains("32.") && error.message.contains("25.0 min"),
        "{}",
        error.message
    );
}

#[test]
fn a_flight_that_fits_only_without_the_reserve_is_refused() {
    let mut input = input();
    input.waypoints[1].hold_s = Some(26.0 * 60.0);
    refused(&input, "waypoints", "exceeds_endurance");
    input.waypoints[1].hold_s = Some(20.0 * 60.0);
    assert!(validate(&input, &drone(), &rules(), now()).is_ok());
}

#[test]
fn a_window_shorter_than_the_flight_is_refused() {
    let mut input = input();
    input.waypoints[1].hold_s = Some(600.0);
    input.planned_end = input.planned_start + Duration::minutes(5);
    let error = refused(&input, "planned_end", "window_too_short");
    assert!(error.message.contains("5.0 min"), "{}", error.message);
}

#[test]
fn the_estimate_is_not_checked_while_a_waypoint_is_invalid() {
    let mut input = input();
    input.waypoints[0].hold_s = Some(3000.0);
    input.waypoints[1].lat = 91.0;
    refused(&input, "waypoints[1].lat", "out_of_range");
}

#[test]
fn one_bad_input_reports_every_problem_with_its_waypoint_index() {
    let input = PlanInput {
        name: String::new(),
        authorization_ref: Some(" ".into()),
        waypoints: vec![
            wp(52.0, 4.0, 50.0),
            wp(95.0, 4.0, 50.0),
            wp(52.0, 200.0, -1.0),
            WaypointInput {
                speed_mps: Some(0.0),
                hold_s: Some(-5.0),
                ..wp(52.0, 4.01, 500.0)
            },
        ],
        planned_start: now() - Duration::hours(1),
        planned_end: now() - Duration::hours(2),
    };
    let expected: Vec<(String, &str)> = [
        ("name", "length"),
        ("authorization_ref", "length"),
        ("waypoints[1].lat", "out_of_range"),
        ("waypoints[2].lon", "out_of_range"),
        ("waypoints[2].alt_m", "below_ground"),
        ("waypoints[3].alt_m", "above_ceiling"),
        ("waypoints[3].speed_mps", "not_positive"),
        ("waypoints[3].hold_s", "negative"),
        ("planned_start", "start_in_past"),
        ("planned_end", "end_before_start"),
    ]
    .into_iter()
    .map(|(field, code)| (field.to_owned(), code))
    .collect();
    assert_eq!(problems(&input, &drone(), &rules()), expected);
}

// --- estimate ---------------------------------------------------------------------------

#[test]
fn two_waypoints_a_kilometre_apart_at_10_mps_with_a_30_s_hold_take_about_130_s() {
    let route = [
        waypoint(0.0, 0.0, 50.0, None, None),
        waypoint(0.0, one_km_deg(), 50.0, None, Some(30.0)),
    ];
    let estimate = estimate(&route, 10.0, 20.0);
    assert!((estimate.distance_m - 1000.0).abs() < 0.01, "{estimate:?}");
    assert!((estimate.duration_s - 130.0).abs() < 0.01, "{estimate:?}");
}

#[test]
fn a_climb_lengthens_a_leg_in_three_dimensions() {
    let route = [
        waypoint(0.0, 0.0, 0.0, None, None),
        waypoint(0.0, 0.3 * one_km_deg(), 400.0, None, None),
    ];
    let estimate = estimate(&route, 10.0, 20.0);
    assert!((estimate.distance_m - 500.0).abs() < 0.01, "{estimate:?}");
    assert!((estimate.duration_s - 50.0).abs() < 0.01, "{estimate:?}");
}

#[test]
fn a_leg_is_flown_at_its_destinations_speed() {
    let route = [
        waypoint(0.0, 0.0, 50.0, Some(1.0), None),
        waypoint(0.0, one_km_deg(), 50.0, Some(5.0), None),
        waypoint(0.0, 2.0 * one_km_deg(), 50.0, None, None),
    ];
    let estimate = estimate(&route, 10.0, 20.0);
    assert!((estimate.distance_m - 2000.0).abs() < 0.01, "{estimate:?}");
    assert!(
        (estimate.duration_s - (200.0 + 100.0)).abs() < 0.01,
        "{estimate:?}"
    );
}

#[test]
fn the_default_speed_is_capped_at_the_drones_maximum() {
    let route = [
        waypoint(0.0, 0.0, 50.0, None, None),
        waypoint(0.0, one_km_deg(), 50.0, None, None),
    ];
    let estimate = estimate(&route, 10.0, 4.0);
    assert!((estimate.duration_s - 250.0).abs() < 0.01, "{estimate:?}");
}

#[test]
fn holds_count_at_every_waypoint_and_a_standstill_takes_no_time() {
    let route = [
        waypoint(10.0, 10.0, 50.0, None, Some(20.0)),
        waypoint(10.0, 10.0, 50.0, None, Some(40.0)),
    ];
    let estimate = estimate(&route, 0.0, 20.0);
    assert_eq!(estimate.distance_m, 0.0);
    assert_eq!(estimate.duration_s, 60.0);
}

// --- state machine ----------------------------------------------------------------------

const LEGAL: [(FlightPlanState, Transition, FlightPlanState); 9] = {
    use FlightPlanState as S;
    use Transition as T;
    [
        (S::Draft, T::Submit, S::Submitted),
        (S::Submitted, T::Approve, S::Approved),
        (S::Submitted, T::Reject, S::Rejected),
        (S::Approved, T::Activate, S::Active),
        (S::Active, T::Complete, S::Completed),
        (S::Draft, T::Cancel, S::Cancelled),
        (S::Submitted, T::Cancel, S::Cancelled),
        (S::Approved, T::Cancel, S::Cancelled),
        (S::Active, T::Cancel, S::Cancelled),
    ]
};

#[test]
fn submitting_a_draft_makes_it_submitted() {
    let next =
        plan(FlightPlanState::Draft).transition(Transition::Submit, &drone(), &rules(), now());
    assert_eq!(next, Ok(FlightPlanState::Submitted));
}

#[test]
fn approving_a_submitted_plan_makes_it_approved() {
    let next =
        plan(FlightPlanState::Submitted).transition(Transition::Approve, &drone(), &rules(), now());
    assert_eq!(next, Ok(FlightPlanState::Approved));
}

#[test]
fn rejecting_a_submitted_plan_makes_it_rejected() {
    let next =
        plan(FlightPlanState::Submitted).transition(Transition::Reject, &drone(), &rules(), now());
    assert_eq!(next, Ok(FlightPlanState::Rejected));
}

#[test]
fn activating_an_approved_plan_makes_it_active() {
    let next =
        plan(FlightPlanState::Approved).transition(Transition::Activate, &drone(), &rules(), now());
    assert_eq!(next, Ok(FlightPlanState::Active));
}

#[test]
fn completing_an_active_plan_makes_it_completed() {
    let next =
        plan(FlightPlanState::Active).transition(Transition::Complete, &drone(), &rules(), now());
    assert_eq!(next, Ok(FlightPlanState::Completed));
}

#[test]
fn a_plan_that_has_not_finished_can_be_cancelled() {
    for from in [
        FlightPlanState::Draft,
        FlightPlanState::Submitted,
        FlightPlanState::Approved,
        FlightPlanState::Active,
    ] {
        let next = plan(from).transition(Transition::Cancel, &drone(), &rules(), now());
        assert_eq!(next, Ok(FlightPlanState::Cancelled), "from {from}");
    }
}

#[test]
fn the_state_machine_allows_exactly_the_legal_transitions() {
    for from in FlightPlanState::ALL {
        for transition in Transition::ALL {
            let legal = LEGAL
                .iter()
                .find(|(f, t, _)| *f == from && *t == transition)
                .map(|(_, _, to)| *to);
            match legal {
                Some(to) => assert_eq!(from.apply(transition), Ok(to)),
                None => assert_eq!(
                    from.apply(transition),
                    Err(IllegalTransition {
                        from: from.as_str(),
                        transition: transition.as_str(),
                    }),
                    "{transition} from {from} should be illegal"
                ),
            }
        }
    }
}

#[test]
fn every_illegal_transition_is_refused_by_a_plan_too() {
    for from in FlightPlanState::ALL {
        for transition in Transition::ALL {
            if LEGAL.iter().any(|(f, t, _)| *f == from && *t == transition) {
                continue;
            }
            let result = plan(from).transition(transition, &drone(), &rules(), now());
            assert!(
                matches!(result, Err(TransitionError::Illegal(_))),
                "{transition} from {from} gave {result:?}"
            );
        }
    }
}

#[test]
fn an_illegal_transition_says_what_was_tried_from_where() {
    let error = FlightPlanState::Approved
        .apply(Transition::Submit)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot submit a flight plan that is approved"
    );
}

#[test]
fn rejected_completed_and_cancelled_plans_are_final() {
    let finals: Vec<_> = FlightPlanState::ALL
        .into_iter()
        .filter(|s| s.is_final())
        .collect();
    assert_eq!(
        finals,
        [
            FlightPlanState::Rejected,
            FlightPlanState::Completed,
            FlightPlanState::Cancelled
        ]
    );
    for state in finals {
        assert!(Transition::ALL.into_iter().all(|t| state.apply(t).is_err()));
    }
}

#[test]
fn states_and_transitions_parse_back_from_their_names() {
    for state in FlightPlanState::ALL {
        assert_eq!(FlightPlanState::parse(state.as_str()), Some(state));
    }
    for transition in Transition::ALL {
        assert_eq!(Transition::parse(transition.as_str()), Some(transition));
    }
    assert_eq!(FlightPlanState::parse("Draft"), None);
    assert_eq!(Transition::parse("launch"), None);
    assert_eq!(Transition::Activate.as_str(), "activate");
    assert_eq!(FlightPlanState::Cancelled.as_str(), "cancelled");
}

#[test]
fn approving_and_rejecting_need_an_admin_and_the_rest_an_operator() {
    for transition in Transition::ALL {
        let expected = match transition {
            Transition::Approve | Transition::Reject => Role::Admin,
            _ => Role::Operator,
        };
        assert_eq!(transition.required_role(), expected, "{transition}");
    }
}

#[test]
fn approving_a_plan_for_a_grounded_drone_is_refused() {
    let result = plan(FlightPlanState::Submitted).transition(
        Transition::Approve,
        &drone_with_status(DroneStatus::Grounded),
        &rules(),
        now(),
    );
    assert_eq!(
        result,
        Err(TransitionError::DroneMayNotFly { status: "grounded" })
    );
}

#[test]
fn activating_a_plan_for_a_retired_drone_is_refused() {
    let result = plan(FlightPlanState::Approved).transition(
        Transition::Activate,
        &drone_with_status(DroneStatus::Retired),
        &rules(),
        now(),
    );
    assert_eq!(
        result,
        Err(TransitionError::DroneMayNotFly { status: "retired" })
    );
}

#[test]
fn a_drone_in_maintenance_may_not_be_approved_or_activated() {
    let drone = drone_with_status(DroneStatus::Maintenance);
    let refused = Err(TransitionError::DroneMayNotFly {
        status: "maintenance",
    });
    let approve =
        plan(FlightPlanState::Submitted).transition(Transition::Approve, &drone, &rules(), now());
    assert_eq!(approve, refused);
    let activate =
        plan(FlightPlanState::Approved).transition(Transition::Activate, &drone, &rules(), now());
    assert_eq!(activate, refused);
    let submit =
        plan(FlightPlanState::Draft).transition(Transition::Submit, &drone, &rules(), now());
    assert_eq!(submit, Ok(FlightPlanState::Submitted));
}

#[test]
fn a_plan_for_a_grounded_drone_can_still_be_submitted_rejected_or_cancelled() {
    let drone = drone_with_status(DroneStatus::Grounded);
    let cases = [
        (
            FlightPlanState::Draft,
            Transition::Submit,
            FlightPlanState::Submitted,
        ),
        (
            FlightPlanState::Submitted,
            Transition::Reject,
            FlightPlanState::Rejected,
        ),
        (
            FlightPlanState::Active,
            Transition::Cancel,
            FlightPlanState::Cancelled,
        ),
    ];
    for (from, transition, to) in cases {
        assert_eq!(
            plan(from).transition(transition, &drone, &rules(), now()),
            Ok(to)
        );
    }
}

#[test]
fn the_state_machine_is_checked_before_the_drone() {
    let result = plan(FlightPlanState::Draft).transition(
        Transition::Approve,
        &drone_with_status(DroneStatus::Grounded),
        &rules(),
        now(),
    );
    assert!(
        matches!(result, Err(TransitionError::Illegal(_))),
        "{result:?}"
    );
}

#[test]
fn submitting_a_plan_whose_start_has_passed_is_refused() {
    let plan = plan(FlightPlanState::Draft);
    let later = plan.planned_start + Duration::minutes(1);
    let Err(TransitionError::Invalid(errors)) =
        plan.transition(Transition::Submit, &drone(), &rules(), later)
    else {
        panic!("submit of a plan whose start passed was accepted");
    };
    assert_eq!(errors.0.len(), 1, "{errors:?}");
    assert_eq!(
        (errors.0[0].field.as_str(), errors.0[0].code.as_str()),
        ("planned_start", "start_in_past")
    );
}

#[test]
fn approving_a_plan_after_the_drones_limits_were_lowered_is_refused() {
    let mut drone = drone();
    drone.limits.max_altitude_m = 55.0;
    let result =
        plan(FlightPlanState::Submitted).transition(Transition::Approve, &drone, &rules(), now());
    let Err(TransitionError::Invalid(errors)) = result else {
        panic!("expected re-validation to fail, got {result:?}");
    };
    let found: Vec<_> = errors
        .0
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("waypoints[1].alt_m", "above_drone_max_altitude"),
            ("waypoints[2].alt_m", "above_drone_max_altitude"),
        ]
    );
}

#[test]
fn activating_completing_and_cancelling_do_not_re_validate() {
    let mut drone = drone();
    drone.limits.max_altitude_m = 10.0;
    let plan_start = plan(FlightPlanState::Draft).planned_start;
    let later = plan_start + Duration::minutes(5);
    let cases = [
        (
            FlightPlanState::Approved,
            Transition::Activate,
            FlightPlanState::Active,
        ),
        (
            FlightPlanState::Active,
            Transition::Complete,
            FlightPlanState::Completed,
        ),
        (
            FlightPlanState::Active,
            Transition::Cancel,
            FlightPlanState::Cancelled,
        ),
    ];
    for (from, transition, to) in cases {
        assert_eq!(
            plan(from).transition(transition, &drone, &rules(), later),
            Ok(to)
        );
    }
}

#[test]
fn a_stored_plan_gives_back_the_input_it_was_made_from() {
    let mut original = input();
    original.waypoints[1].speed_mps = Some(8.0);
    original.waypoints[2].hold_s = Some(15.0);
    let valid = validate(&original, &drone(), &rules(), now()).unwrap();
    let plan = FlightPlan {
        name: valid.name,
        waypoints: valid.waypoints,
        planned_start: valid.planned_start,
        planned_end: valid.planned_end,
        estimate: valid.estimate,
        ..plan(FlightPlanState::Draft)
    };
    assert_eq!(plan.input(), original);
}

// --- editing, drafts and deletion ----------------------------------------------------------

#[test]
fn only_a_draft_can_be_edited() {
    let mut renamed = input();
    renamed.name = "Renamed".into();
    let later = now() + Duration::minutes(1);
    let edited = plan(FlightPlanState::Draft)
        .edit(&renamed, &drone(), &rules(), later)
        .unwrap();
    assert_eq!(edited.name, "Renamed");
    assert_eq!(edited.updated_at, later);
    for state in FlightPlanState::ALL
        .into_iter()
        .filter(|s| *s != FlightPlanState::Draft)
    {
        assert_eq!(
            plan(state).edit(&renamed, &drone(), &rules(), later),
            Err(EditError::NotEditable(state))
        );
    }
}

#[test]
fn an_edit_is_validated_again() {
    let mut bad = input();
    bad.waypoints.truncate(1);
    let Err(EditError::Invalid(errors)) =
        plan(FlightPlanState::Draft).edit(&bad, &drone(), &rules(), now())
    else {
        panic!("an edit with one waypoint was accepted");
    };
    assert_eq!(errors.0[0].code, "too_few_waypoints");
}

#[test]
fn a_draft_lives_on_its_drones_shard() {
    let drone = drone();
    let valid = validate(&input(), &drone, &rules(), now()).unwrap();
    let draft = FlightPlan::draft(valid, &drone, UserId::new(), now());
    assert_eq!(draft.state, FlightPlanState::Draft);
    assert_eq!(draft.version, 1);
    assert_eq!(draft.id.slot(), crate::shard::slot_of(drone.id));
    assert_eq!((draft.org_id, draft.drone_id), (drone.org_id, drone.id));
}

#[test]
fn a_drone_with_an_approved_or_active_plan_cannot_be_deleted() {
    let drone = drone();
    let of_drone = |state| FlightPlan {
        drone_id: drone.id,
        ..plan(state)
    };
    assert!(drone.delete_check(&[]).is_ok());
    for state in FlightPlanState::ALL {
        let open = matches!(state, FlightPlanState::Approved | FlightPlanState::Active);
        assert_eq!(
            drone.delete_check(&[of_drone(state)]).is_err(),
            open,
            "{state}"
        );
    }
    // Another drone's open plan does not hold this one.
    assert!(drone.delete_check(&[plan(FlightPlanState::Active)]).is_ok());
}

#[test]
fn only_a_rejection_takes_a_reason_and_it_is_trimmed_and_bounded() {
    assert_eq!(
        parse_reason(Transition::Reject, Some("  crosses the airport  ")).unwrap(),
        Some("crosses the airport".to_owned())
    );
    assert_eq!(parse_reason(Transition::Reject, None).unwrap(), None);
    assert_eq!(
        parse_reason(Transition::Approve, Some("fine"))
            .unwrap_err()
            .code,
        "invalid"
    );
    let long = "x".repeat(REASON_MAX_LEN + 1);
    assert_eq!(
        parse_reason(Transition::Reject, Some(&long))
            .unwrap_err()
            .code,
        "length"
    );
}
