use chrono::{DateTime, Utc};

use super::*;
use crate::flight_plan::{FlightPlanState, Waypoint};
use crate::ids::{DroneId, FlightPlanId, OrgId, UserId};
use crate::position::Position;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn square(lon0: f64, lat0: f64, size: f64) -> RawGeometry {
    RawGeometry::Polygon {
        coordinates: vec![vec![
            vec![lon0, lat0],
            vec![lon0 + size, lat0],
            vec![lon0 + size, lat0 + size],
            vec![lon0, lat0 + size],
            vec![lon0, lat0],
        ]],
    }
}

fn input(kind: FenceKind, geometry: RawGeometry, lower_m: f64, upper_m: f64) -> GeofenceInput {
    GeofenceInput {
        name: "zone".into(),
        kind,
        geometry: Some(geometry),
        circle: None,
        lower_m,
        upper_m,
        datum: Datum::Agl,
        schedule: None,
        active: true,
    }
}

fn fence(input: GeofenceInput) -> Geofence {
    Geofence::new(
        input.validate().unwrap(),
        OrgId::new(),
        UserId::new(),
        Utc::now(),
    )
}

fn waypoints(points: &[(f64, f64, f64)]) -> Vec<Waypoint> {
    points
        .iter()
        .map(|&(lat, lon, alt)| Waypoint {
            position: Position::parse(lat, lon, alt).unwrap(),
            speed_mps: None,
            hold_s: None,
        })
        .collect()
}

fn index_of(fences: Vec<Geofence>) -> AirspaceIndex {
    AirspaceIndex::build(AirspaceRules::default(), fences, Vec::new())
}

const START: &str = "2026-12-04T10:00:00Z";
const END: &str = "2026-12-04T11:00:00Z";

fn check(index: &AirspaceIndex, path: &[(f64, f64, f64)], authorized: bool) -> PlanCheck {
    check_plan(index, &waypoints(path), t(START), t(END), authorized)
}

#[test]
fn a_leg_crossing_a_fence_whose_both_waypoints_lie_outside_it_is_refused_at_that_leg() {
    // A 0.01° square east of 8.50; the second leg passes straight through it.
    let index = index_of(vec![fence(input(
        FenceKind::Prohibited,
        square(8.50, 47.00, 0.01),
        0.0,
        120.0,
    ))]);
    let result = check(
        &index,
        &[
            (46.99, 8.49, 50.0),
            (47.005, 8.49, 50.0),
            (47.005, 8.52, 50.0),
        ],
        false,
    );
    assert_eq!(result.prohibited.len(), 1, "{result:?}");
    let v = &result.prohibited[0];
    assert_eq!(v.leg_index, 1);
    assert_eq!(v.leg(), "waypoints[1]→[2]");
    assert!(
        (v.lon - 8.50).abs() < 1e-9,
        "enters at the west edge: {v:?}"
    );
    assert!((v.lat - 47.005).abs() < 1e-9);
    assert_eq!(v.alt_m, 50.0);
}

#[test]
fn a_path_that_passes_beside_a_fence_is_clear() {
    let index = index_of(vec![fence(input(
        FenceKind::Prohibited,
        square(8.50, 47.00, 0.01),
        0.0,
        120.0,
    ))]);
    let result = check(&index, &[(47.02, 8.49, 50.0), (47.02, 8.52, 50.0)], false);
    assert!(
        result.is_clear() && result.warnings.is_empty(),
        "{result:?}"
    );
}

#[test]
fn altitude_bands_above_and_below_the_path_do_not_apply_but_a_climb_into_one_does() {
    let band = |lower, upper| {
        fence(input(
            FenceKind::Prohibited,
            square(8.50, 47.00, 0.01),
            lower,
            upper,
        ))
    };
    let level = [(47.005, 8.49, 50.0), (47.005, 8.52, 50.0)];
    assert!(check(&index_of(vec![band(100.0, 200.0)]), &level, false).is_clear());
    assert!(check(&index_of(vec![band(0.0, 40.0)]), &level, false).is_clear());
    assert!(!check(&index_of(vec![band(40.0, 60.0)]), &level, false).is_clear());

    // Climbing from 50 m to 150 m across the square: it reaches 100 m half way along,
    // which is inside the square (8.50..8.51 of 8.49..8.51).
    let climb = [(47.005, 8.49, 50.0), (47.005, 8.51, 150.0)];
    let result = check(&index_of(vec![band(100.0, 200.0)]), &climb, false);
    let v = &result.prohibited[0];
    assert!((v.alt_m - 100.0).abs() < 1e-6, "{v:?}");
    assert!((v.lon - 8.50).abs() < 1e-9);
}

#[test]
fn restricted_fences_need_an_authorisation_and_advisory_ones_only_warn() {
    let index = index_of(vec![
        fence(input(
            FenceKind::Restricted,
            square(8.50, 47.00, 0.01),
            0.0,
            120.0,
        )),
        fence(input(
            FenceKind::Advisory,
            square(8.53, 47.00, 0.01),
            0.0,
            120.0,
        )),
    ]);
    let path = [(47.005, 8.49, 50.0), (47.005, 8.55, 50.0)];
    let without = check(&index, &path, false);
    assert_eq!(without.unauthorized.len(), 1);
    assert_eq!(without.warnings.len(), 1);
    assert!(!without.is_clear());
    let with = check(&index, &path, true);
    assert!(with.is_clear());
    assert_eq!(with.warnings.len(), 2);
}

#[test]
fn a_circle_is_entered_where_the_leg_meets_its_radius() {
    let circle = Circle {
        lat: 47.0,
        lon: 8.5,
        radius_m: 500.0,
    };
    let index = index_of(vec![fence(GeofenceInput {
        geometry: None,
        circle: Some(circle),
        ..input(FenceKind::Prohibited, square(0.0, 0.0, 1.0), 0.0, 120.0)
    })]);
    // Due west to east through the centre: enters 500 m west of it.
    let result = check(&index, &[(47.0, 8.48, 30.0), (47.0, 8.52, 30.0)], false);
    let v = &result.prohibited[0];
    let west_m = (8.5 - v.lon) * 111_195.08 * 47f64.to_radians().cos();
    assert!((west_m - 500.0).abs() < 1.0, "entered {west_m} m west");
    // 600 m north of the centre it passes by.
    let north = 47.0 + 600.0 / 111_195.08;
    assert!(check(&index, &[(north, 8.48, 30.0), (north, 8.52, 30.0)], false).is_clear());
}

#[test]
fn inactive_fences_and_fences_outside_the_plan_window_do_not_apply() {
    let mut off = input(FenceKind::Prohibited, square(8.50, 47.00, 0.01), 0.0, 120.0);
    off.active = false;
    let mut later = input(FenceKind::Prohibited, square(8.50, 47.00, 0.01), 0.0, 120.0);
    later.schedule = Some(RawSchedule {
        valid_from: Some(t("2026-12-05T00:00:00Z")),
        ..RawSchedule::default()
    });
    let index = index_of(vec![fence(off), fence(later)]);
    assert!(check(&index, &[(47.005, 8.49, 50.0), (47.005, 8.52, 50.0)], false).is_clear());
}

fn night_window() -> Schedule {
    Schedule::parse(&RawSchedule {
        time_zone: Some("Europe/Berlin".into()),
        weekly: vec![RawWindow {
            days: vec![Weekday::Fri],
            start: "22:00".into(),
            end: "06:00".into(),
        }],
        ..RawSchedule::default()
    })
    .unwrap()
}

#[test]
fn a_weekly_window_across_midnight_runs_into_the_next_day_in_its_time_zone() {
    let s = night_window();
    // 2026-12-04 is a Friday; Berlin is UTC+1 in December.
    assert!(s.active_at(t("2026-12-04T21:00:00Z")), "Fri 22:00 Berlin");
    assert!(s.active_at(t("2026-12-05T02:00:00Z")), "Sat 03:00 Berlin");
    assert!(
        !s.active_at(t("2026-12-05T05:00:00Z")),
        "Sat 06:00 Berlin: closed"
    );
    assert!(!s.active_at(t("2026-12-04T20:59:00Z")), "Fri 21:59 Berlin");
    assert!(!s.active_at(t("2026-12-03T22:00:00Z")), "Thu 23:00 Berlin");
    // In summer Berlin is UTC+2: Fri 2026-07-03 22:00 Berlin is 20:00 UTC.
    assert!(s.active_at(t("2026-07-03T20:00:00Z")));
    assert!(!s.active_at(t("2026-07-03T19:59:00Z")));
    // A plan window that only overlaps the night window's last minutes.
    assert!(s.active_during(t("2026-12-05T04:50:00Z"), t("2026-12-05T08:00:00Z")));
    assert!(!s.active_during(t("2026-12-05T05:00:00Z"), t("2026-12-05T08:00:00Z")));
}

#[test]
fn a_schedule_names_its_bad_fields() {
    let errors = Schedule::parse(&RawSchedule {
        valid_from: Some(t("2026-12-05T00:00:00Z")),
        valid_to: Some(t("2026-12-04T00:00:00Z")),
        time_zone: Some("Mars/Olympus".into()),
        weekly: vec![RawWindow {
            days: vec![],
            start: "25:00".into(),
            end: "06:00".into(),
        }],
    })
    .unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "schedule.valid_to",
            "schedule.time_zone",
            "schedule.weekly[0].days",
            "schedule.weekly[0].start"
        ]
    );
}

#[test]
fn a_self_intersecting_ring_is_refused_naming_the_ring_and_vertex() {
    // A bow tie: the edge 1→2 crosses the edge 3→4.
    let bow_tie = RawGeometry::Polygon {
        coordinates: vec![vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![1.0, 1.0],
            vec![0.0, 0.0],
        ]],
    };
    let errors = input(FenceKind::Prohibited, bow_tie, 0.0, 100.0)
        .validate()
        .unwrap_err();
    assert_eq!(errors.0[0].field, "geometry.coordinates[0][1]");
    assert_eq!(errors.0[0].code, crate::FieldCode::SelfIntersection);
    assert!(
        errors.0[0].message.contains("vertex 3"),
        "{}",
        errors.0[0].message
    );
}

#[test]
fn rings_are_checked_vertex_by_vertex_and_bands_must_be_ordered() {
    let open = RawGeometry::Polygon {
        coordinates: vec![vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![1.0, 91.0],
            vec![0.0, 1.0],
        ]],
    };
    let errors = input(FenceKind::Prohibited, open, 100.0, 50.0)
        .validate()
        .unwrap_err();
    let found: Vec<_> = errors
        .0
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("geometry.coordinates[0][2]", "out_of_range"),
            ("upper_m", "inverted_band")
        ]
    );
    let unclosed = RawGeometry::Polygon {
        coordinates: vec![vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![1.0, 1.0],
            vec![0.0, 1.0],
        ]],
    };
    let errors = input(FenceKind::Prohibited, unclosed, 0.0, 50.0)
        .validate()
        .unwrap_err();
    assert_eq!(errors.0[0].code.as_str(), "unclosed_ring");
}

#[test]
fn a_fence_may_have_at_most_ten_thousand_vertices() {
    let ring = |n: usize| {
        let mut ring: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                vec![8.0 + 0.1 * a.cos(), 47.0 + 0.1 * a.sin()]
            })
            .collect();
        ring.push(ring[0].clone());
        RawGeometry::Polygon {
            coordinates: vec![ring],
        }
    };
    assert!(input(FenceKind::Advisory, ring(9_999), 0.0, 100.0)
        .validate()
        .is_ok());
    let errors = input(FenceKind::Advisory, ring(10_000), 0.0, 100.0)
        .validate()
        .unwrap_err();
    assert_eq!(errors.0[0].code.as_str(), "too_many_vertices");
}

#[test]
fn point_checks_find_the_fences_a_position_is_in_at_its_altitude_and_time() {
    let mut scheduled = input(FenceKind::Restricted, square(8.50, 47.00, 0.01), 0.0, 120.0);
    scheduled.schedule = Some(RawSchedule {
        valid_to: Some(t("2026-12-04T12:00:00Z")),
        ..RawSchedule::default()
    });
    let index = index_of(vec![
        fence(input(
            FenceKind::Prohibited,
            square(8.50, 47.00, 0.01),
            0.0,
            60.0,
        )),
        fence(scheduled),
    ]);
    let at = |lon, lat, alt, ts: &str| index.fences_at(lon, lat, alt, t(ts)).count();
    assert_eq!(at(8.505, 47.005, 50.0, "2026-12-04T11:00:00Z"), 2);
    assert_eq!(at(8.505, 47.005, 80.0, "2026-12-04T11:00:00Z"), 1);
    assert_eq!(at(8.505, 47.005, 50.0, "2026-12-04T12:00:00Z"), 1);
    assert_eq!(at(8.515, 47.005, 50.0, "2026-12-04T11:00:00Z"), 0);
}

#[test]
fn amsl_bands_are_taken_to_cover_every_altitude_until_take_off_elevations_are_known() {
    let mut high = input(
        FenceKind::Prohibited,
        square(8.50, 47.00, 0.01),
        900.0,
        2000.0,
    );
    high.datum = Datum::Amsl;
    let index = index_of(vec![fence(high)]);
    assert!(!check(&index, &[(47.005, 8.49, 30.0), (47.005, 8.52, 30.0)], false).is_clear());
}

#[test]
fn the_index_follows_upserts_and_removals() {
    let f = fence(input(
        FenceKind::Prohibited,
        square(8.50, 47.00, 0.01),
        0.0,
        120.0,
    ));
    let mut index = AirspaceIndex::new(AirspaceRules::default());
    index.upsert_fence(f.clone());
    assert_eq!(index.fences_at(8.505, 47.005, 10.0, t(START)).count(), 1);
    let moved = Geofence {
        shape: FenceShape::parse_geometry(&square(9.0, 47.0, 0.01)).unwrap(),
        ..f.clone()
    };
    index.upsert_fence(moved);
    assert_eq!(index.fence_count(), 1);
    assert_eq!(index.fences_at(8.505, 47.005, 10.0, t(START)).count(), 0);
    assert_eq!(index.fences_at(9.005, 47.005, 10.0, t(START)).count(), 1);
    index.remove_fence(f.id);
    assert_eq!(index.fences_at(9.005, 47.005, 10.0, t(START)).count(), 0);
}

fn volume(drone: DroneId, path: &[(f64, f64, f64)], start: &str, end: &str) -> PlanVolume {
    PlanVolume {
        id: FlightPlanId::new(),
        drone_id: drone,
        name: "plan".into(),
        state: FlightPlanState::Submitted,
        start: t(start),
        end: t(end),
        path: waypoints(path).iter().map(|w| w.position).collect(),
        authorized: false,
    }
}

/// Latitude `m` metres north of 47°.
fn north(m: f64) -> f64 {
    47.0 + m / 111_195.08
}

#[test]
fn plans_conflict_within_twice_the_lateral_buffer_and_not_beyond() {
    let existing = volume(
        DroneId::new(),
        &[(47.0, 8.50, 50.0), (47.0, 8.52, 50.0)],
        START,
        END,
    );
    let index = AirspaceIndex::build(AirspaceRules::default(), vec![], vec![existing.clone()]);
    let parallel = |m: f64| {
        volume(
            DroneId::new(),
            &[(north(m), 8.50, 50.0), (north(m), 8.52, 50.0)],
            START,
            END,
        )
    };
    let near = parallel(90.0).conflicts(&index);
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].plan_id, existing.id);
    assert!(
        (near[0].lat - north(45.0)).abs() < 1e-6,
        "met half way: {near:?}"
    );
    assert!(parallel(110.0).conflicts(&index).is_empty());
}

#[test]
fn plans_conflict_within_twice_the_vertical_buffer_and_not_beyond() {
    let existing = volume(
        DroneId::new(),
        &[(47.0, 8.50, 40.0), (47.0, 8.52, 40.0)],
        START,
        END,
    );
    let index = AirspaceIndex::build(AirspaceRules::default(), vec![], vec![existing]);
    let crossing = |alt: f64| {
        volume(
            DroneId::new(),
            &[(46.99, 8.51, alt), (47.01, 8.51, alt)],
            START,
            END,
        )
    };
    let found = crossing(65.0).conflicts(&index);
    assert_eq!(found.len(), 1);
    assert!((found[0].alt_m - 52.5).abs() < 1e-9, "{found:?}");
    assert!(crossing(75.0).conflicts(&index).is_empty());
}

#[test]
fn plans_conflict_within_twice_the_time_buffer_and_not_beyond() {
    let existing = volume(
        DroneId::new(),
        &[(47.0, 8.50, 40.0), (47.0, 8.52, 40.0)],
        START,
        END,
    );
    let index = AirspaceIndex::build(AirspaceRules::default(), vec![], vec![existing]);
    let at = |start: &str, end: &str| {
        volume(
            DroneId::new(),
            &[(47.0, 8.50, 40.0), (47.0, 8.52, 40.0)],
            start,
            end,
        )
        .conflicts(&index)
    };
    // 2 × 120 s: a start 4 min after the other's end still meets its buffer.
    let found = at("2026-12-04T11:04:00Z", "2026-12-04T11:30:00Z");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].from, t("2026-12-04T11:02:00Z"));
    assert_eq!(found[0].to, t("2026-12-04T11:02:00Z"));
    assert!(at("2026-12-04T11:04:01Z", "2026-12-04T11:30:00Z").is_empty());
}

#[test]
fn the_same_drone_is_double_booked_by_overlapping_windows_and_not_in_conflict_with_itself() {
    let drone = DroneId::new();
    let first = volume(drone, &[(47.0, 8.50, 40.0), (47.0, 8.52, 40.0)], START, END);
    let index = AirspaceIndex::build(AirspaceRules::default(), vec![], vec![first.clone()]);
    let second = volume(
        drone,
        &[(47.0, 8.50, 40.0), (47.0, 8.52, 40.0)],
        "2026-12-04T10:30:00Z",
        "2026-12-04T11:30:00Z",
    );
    assert!(second.conflicts(&index).is_empty());
    assert_eq!(second.double_bookings(&index).count(), 1);
    let after = volume(
        drone,
        &[(47.0, 8.50, 40.0), (47.0, 8.52, 40.0)],
        "2026-12-04T11:00:01Z",
        "2026-12-04T11:30:00Z",
    );
    assert_eq!(after.double_bookings(&index).count(), 0);
    // A plan checked again does not meet itself.
    assert!(first.conflicts(&index).is_empty());
    assert_eq!(first.double_bookings(&index).count(), 0);
}

#[test]
fn removing_a_plan_frees_its_airspace() {
    let existing = volume(
        DroneId::new(),
        &[(47.0, 8.50, 40.0), (47.0, 8.52, 40.0)],
        START,
        END,
    );
    let mut index = AirspaceIndex::new(AirspaceRules::default());
    index.upsert_plan(existing.clone());
    let other = volume(
        DroneId::new(),
        &[(46.99, 8.51, 40.0), (47.01, 8.51, 40.0)],
        START,
        END,
    );
    assert_eq!(other.conflicts(&index).len(), 1);
    index.remove_plan(existing.id);
    assert!(other.conflicts(&index).is_empty());
    assert_eq!(index.plan_count(), 0);
}
