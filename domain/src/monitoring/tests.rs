use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::airspace::{
    AirspaceIndex, AirspaceRules, FenceKind, Geofence, GeofenceInput, RawGeometry,
};
use crate::ids::{OrgId, UserId};
use crate::position::Position;
use crate::telemetry::TelemetryPoint;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(s: f64) -> DateTime<Utc> {
    t0() + Duration::milliseconds((s * 1e3) as i64)
}

/// A point of one drone at `s` seconds, flying at 10 m/s and 50 m with 80 % battery.
fn point(drone: DroneId, s: f64, lat: f64, lon: f64) -> TelemetryPoint {
    TelemetryPoint {
        org_id: OrgId::new(),
        drone_id: drone,
        ts: at(s),
        lat,
        lon,
        alt_m: 50.0,
        speed_mps: 10.0,
        heading_deg: 90.0,
        battery_pct: 80.0,
        vertical_speed_mps: None,
        satellites: None,
        link_quality_pct: None,
        flight_plan_id: None,
    }
}

/// A prohibited 0.01° square west edge at 8.50 E, 47.00–47.01 N.
fn fenced() -> AirspaceIndex {
    let input = GeofenceInput {
        name: "no-fly".into(),
        kind: FenceKind::Prohibited,
        geometry: Some(RawGeometry::Polygon {
            coordinates: vec![vec![
                vec![8.50, 47.00],
                vec![8.51, 47.00],
                vec![8.51, 47.01],
                vec![8.50, 47.01],
                vec![8.50, 47.00],
            ]],
        }),
        circle: None,
        lower_m: 0.0,
        upper_m: 120.0,
        datum: crate::airspace::Datum::Agl,
        schedule: None,
        active: true,
    };
    let fence = Geofence::new(input.validate().unwrap(), OrgId::new(), UserId::new(), t0());
    AirspaceIndex::build(AirspaceRules::default(), vec![fence], Vec::new())
}

fn empty() -> AirspaceIndex {
    AirspaceIndex::new(AirspaceRules::default())
}

/// Longitude `m` metres west of 8.50 E at 47.005 N.
fn west_of_fence(m: f64) -> f64 {
    8.50 - m / (111_195.08 * 47.005f64.to_radians().cos())
}

fn kinds(judged: &Judged) -> Vec<(AlertKind, Change)> {
    judged.events.iter().map(|e| (e.kind, e.change)).collect()
}

/// A plan due east along 47.005 N from 8.40 to 8.49 at 50 m, for the first hour.
fn corridor() -> PlanCorridor {
    PlanCorridor {
        path: vec![
            Position::parse(47.005, 8.40, 50.0).unwrap(),
            Position::parse(47.005, 8.49, 50.0).unwrap(),
        ],
        start: t0(),
        end: t0() + Duration::hours(1),
        lateral_buffer_m: 50.0,
        vertical_buffer_m: 15.0,
        authorized: false,
    }
}

#[test]
fn a_drone_on_a_fence_boundary_does_not_flap_and_leaves_beyond_the_hysteresis() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let airspace = fenced();
    let drone = DroneId::new();
    let plan = corridor();
    let inside = monitor.observe(&point(drone, 0.0, 47.005, 8.501), &airspace, Some(&plan));
    assert!(kinds(&inside).contains(&(AlertKind::GeofenceBreach, Change::Raised)));
    let breach = inside
        .events
        .iter()
        .find(|e| e.kind == AlertKind::GeofenceBreach)
        .unwrap();
    assert_eq!(breach.severity, Severity::Critical);
    assert!(matches!(breach.detail, Detail::Geofence { .. }));
    // Back and forth across the edge, within 10 m: nothing changes.
    for (i, m) in [5.0, -1.0, 8.0, 3.0].into_iter().enumerate() {
        let judged = monitor.observe(
            &point(drone, 1.0 + i as f64, 47.005, west_of_fence(m)),
            &airspace,
            Some(&plan),
        );
        assert!(
            !kinds(&judged)
                .iter()
                .any(|(k, _)| *k == AlertKind::GeofenceBreach),
            "flapped at {m} m: {judged:?}"
        );
    }
    let out = monitor.observe(
        &point(drone, 6.0, 47.005, west_of_fence(15.0)),
        &airspace,
        Some(&plan),
    );
    assert!(kinds(&out).contains(&(AlertKind::GeofenceBreach, Change::Resolved)));
}

#[test]
fn an_excursion_shorter_than_the_grace_time_raises_nothing_and_a_longer_one_dates_from_its_start() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let drone = DroneId::new();
    let plan = corridor();
    let off = 47.005 + 100.0 / 111_195.08;
    let airspace = empty();
    monitor.observe(&point(drone, 0.0, 47.005, 8.45), &airspace, Some(&plan));
    for s in [1.0, 2.0, 3.5] {
        let lat = if s < 3.0 { off } else { 47.005 };
        let judged = monitor.observe(&point(drone, s, lat, 8.45), &airspace, Some(&plan));
        assert!(judged.events.is_empty(), "{judged:?}");
    }
    let mut raised = Vec::new();
    for s in [10.0, 11.0, 12.0, 13.0, 14.0] {
        raised.extend(
            monitor
                .observe(&point(drone, s, off, 8.45), &airspace, Some(&plan))
                .events,
        );
    }
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(
        (raised[0].kind, raised[0].change),
        (AlertKind::OffCorridor, Change::Raised)
    );
    assert_eq!(
        raised[0].at,
        at(10.0),
        "dated from the first offending point"
    );
    let Detail::Corridor { distance_m } = raised[0].detail else {
        panic!("{:?}", raised[0].detail)
    };
    assert!((distance_m - 100.0).abs() < 1.0);
    let back = monitor.observe(&point(drone, 15.0, 47.005, 8.45), &airspace, Some(&plan));
    assert_eq!(kinds(&back), [(AlertKind::OffCorridor, Change::Resolved)]);
}

#[test]
fn leaving_the_band_is_an_altitude_deviation_and_flying_without_a_plan_is_unplanned() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let plan = corridor();
    let airspace = empty();
    let drone = DroneId::new();
    let mut raised = Vec::new();
    for s in 0..5 {
        let mut p = point(drone, f64::from(s), 47.005, 8.45);
        p.alt_m = 80.0;
        raised.extend(monitor.observe(&p, &airspace, Some(&plan)).events);
    }
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].kind, AlertKind::AltitudeDeviation);

    let free = DroneId::new();
    let mut raised = Vec::new();
    for s in 0..5 {
        raised.extend(
            monitor
                .observe(&point(free, f64::from(s), 47.1, 8.45), &airspace, None)
                .events,
        );
    }
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].kind, AlertKind::UnplannedFlight);
    // Landed: not flying, no longer unplanned.
    let mut landed = point(free, 6.0, 47.1, 8.45);
    landed.alt_m = 0.0;
    landed.speed_mps = 0.0;
    let judged = monitor.observe(&landed, &airspace, None);
    assert_eq!(
        kinds(&judged),
        [(AlertKind::UnplannedFlight, Change::Resolved)]
    );
}

#[test]
fn battery_warns_then_turns_critical_then_clears() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let (drone, plan, airspace) = (DroneId::new(), corridor(), empty());
    let mut steps = Vec::new();
    for (s, pct) in [
        (0.0, 50.0),
        (1.0, 29.0),
        (2.0, 25.0),
        (3.0, 14.0),
        (4.0, 95.0),
    ] {
        let mut p = point(drone, s, 47.005, 8.45);
        p.battery_pct = pct;
        for e in monitor.observe(&p, &airspace, Some(&plan)).events {
            steps.push((e.change, e.severity));
        }
    }
    assert_eq!(
        steps,
        [
            (Change::Raised, Severity::Warning),
            (Change::Updated, Severity::Critical),
            (Change::Resolved, Severity::Critical)
        ]
    );
}

#[test]
fn an_organisations_own_battery_thresholds_apply_to_its_drones() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let mut airspace = empty();
    airspace.set_battery_thresholds(BatteryThresholds {
        warn_pct: Some(50.0),
        critical_pct: None,
    });
    let drone = DroneId::new();
    let mut p = point(drone, 0.0, 47.005, 8.45);
    p.battery_pct = 45.0;
    let judged = monitor.observe(&p, &airspace, Some(&corridor()));
    assert_eq!(kinds(&judged), [(AlertKind::BatteryLow, Change::Raised)]);
    assert_eq!(judged.events[0].severity, Severity::Warning);
    p.ts = at(1.0);
    p.battery_pct = 14.0;
    let judged = monitor.observe(&p, &airspace, Some(&corridor()));
    assert_eq!(
        judged.events[0].severity,
        Severity::Critical,
        "the installation's 15 %"
    );
}

#[test]
fn battery_thresholds_are_checked_against_each_other() {
    let rules = MonitorRules::default();
    let own = |warn_pct, critical_pct| BatteryThresholds {
        warn_pct,
        critical_pct,
    };
    assert!(own(Some(40.0), Some(10.0)).check(&rules).is_ok());
    assert!(own(None, None).check(&rules).is_ok());
    let above = own(None, Some(35.0)).check(&rules).unwrap_err();
    assert_eq!(
        above.0[0].field, "battery_critical_pct",
        "above the default 30 %"
    );
    let range = own(Some(101.0), None).check(&rules).unwrap_err();
    assert_eq!(range.0[0].field, "battery_warn_pct");
}

#[test]
fn a_silent_flying_drone_loses_its_link_at_its_deadline_and_its_next_point_restores_it() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let (mut airspace, plan) = (empty(), corridor());
    let (drone, satellite) = (DroneId::new(), DroneId::new());
    airspace.set_link_timeout(satellite, Some(120.0));
    monitor.observe(&point(drone, 0.0, 47.005, 8.45), &airspace, Some(&plan));
    monitor.observe(&point(satellite, 0.0, 47.005, 8.45), &airspace, Some(&plan));
    assert_eq!(monitor.next_deadline(), Some(at(5.0)));
    assert!(monitor.expire(at(4.9)).is_empty());
    let lost = monitor.expire(at(5.0));
    assert_eq!(lost.len(), 1);
    assert_eq!(
        (lost[0].drone_id, lost[0].kind),
        (drone, AlertKind::LinkLost)
    );
    assert_eq!(lost[0].severity, Severity::Critical);
    assert!(
        monitor.expire(at(60.0)).is_empty(),
        "raised once, the satellite drone waits"
    );
    assert_eq!(monitor.expire(at(120.0)).len(), 1);
    let back = monitor.observe(&point(drone, 30.0, 47.005, 8.452), &airspace, Some(&plan));
    assert_eq!(kinds(&back), [(AlertKind::LinkLost, Change::Resolved)]);
    // A drone on the ground with no plan has no deadline.
    let parked = DroneId::new();
    let mut p = point(parked, 0.0, 47.2, 8.45);
    p.alt_m = 0.0;
    p.speed_mps = 0.0;
    monitor.observe(&p, &airspace, None);
    assert!(monitor
        .expire(at(1_000.0))
        .iter()
        .all(|e| e.drone_id != parked));
}

#[test]
fn a_late_point_is_judged_for_the_record_but_opens_and_closes_nothing() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let (airspace, plan, drone) = (fenced(), corridor(), DroneId::new());
    monitor.observe(&point(drone, 10.0, 47.005, 8.45), &airspace, Some(&plan));
    let old = monitor.observe(&point(drone, 5.0, 47.005, 8.505), &airspace, Some(&plan));
    assert!(old.late);
    assert!(old.events.is_empty());
    assert!(old.findings.contains(&AlertKind::GeofenceBreach));
    // The state did not move back: the next current point is judged normally.
    let next = monitor.observe(&point(drone, 11.0, 47.005, 8.45), &airspace, Some(&plan));
    assert!(!next.late && next.events.is_empty(), "{next:?}");
}

#[test]
fn a_sensor_repeating_the_same_values_is_frozen_after_its_time() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let (airspace, plan, drone) = (empty(), corridor(), DroneId::new());
    let mut raised = Vec::new();
    for s in 0..=31 {
        raised.extend(
            monitor
                .observe(
                    &point(drone, f64::from(s), 47.005, 8.45),
                    &airspace,
                    Some(&plan),
                )
                .events,
        );
    }
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].kind, AlertKind::TelemetryFrozen);
    assert_eq!(raised[0].at, at(0.0));
    let moved = monitor.observe(&point(drone, 32.0, 47.005, 8.451), &airspace, Some(&plan));
    assert_eq!(
        kinds(&moved),
        [(AlertKind::TelemetryFrozen, Change::Resolved)]
    );
}

#[test]
fn deadlines_give_back_only_the_due_drones_earliest_first() {
    let mut deadlines = Deadlines::default();
    let drones: Vec<DroneId> = (0..10_000).map(|_| DroneId::new()).collect();
    for (i, d) in drones.iter().enumerate() {
        deadlines.set(*d, at(i as f64 / 1000.0));
    }
    // Moving a deadline replaces it.
    deadlines.set(drones[0], at(100.0));
    let due = deadlines.pop_due(at(0.0105));
    let got: Vec<DroneId> = due.iter().map(|(d, _)| *d).collect();
    assert_eq!(got, drones[1..=10]);
    assert_eq!(deadlines.len(), 10_000 - 10);
    deadlines.cancel(drones[11]);
    assert_eq!(deadlines.pop_due(at(0.012)).len(), 1);
}

#[test]
fn rules_are_checked() {
    assert!(MonitorRules::default().check().is_ok());
    let bad = MonitorRules {
        battery_warn_pct: 10.0,
        ..MonitorRules::default()
    };
    assert_eq!(bad.check().unwrap_err().setting, "battery_warn_pct");
}

#[test]
fn the_link_deadline_counts_from_arrival_not_from_the_drones_clock() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let airspace = empty();
    let drone = DroneId::new();
    // A drone whose clock runs 3 s behind: its point arrives at 3 s.
    monitor.observe_at(&point(drone, 0.0, 47.2, 8.45), &airspace, None, at(3.0));
    assert_eq!(monitor.next_deadline(), Some(at(8.0)));
    assert!(monitor.expire(at(7.9)).is_empty());
    let lost = monitor.expire(at(8.0));
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].detail, Detail::Link { silent_s: 5.0 });
}

#[test]
fn a_restored_drone_keeps_its_open_alerts_and_a_flying_one_gets_a_deadline() {
    let mut monitor = Monitor::new(MonitorRules::default());
    let airspace = empty();
    let (flying, parked) = (DroneId::new(), DroneId::new());
    let last = point(flying, 0.0, 47.2, 8.45);
    let mut ground = point(parked, 0.0, 47.2, 8.45);
    ground.alt_m = 0.0;
    ground.speed_mps = 0.0;
    monitor.restore(
        flying,
        [(AlertKind::BatteryLow, Severity::Warning)],
        Some(&last),
        None,
        at(100.0),
    );
    monitor.restore(parked, [], Some(&ground), None, at(100.0));
    assert!(monitor.knows(flying) && monitor.knows(parked));
    assert!(monitor.is_open(flying, AlertKind::BatteryLow));
    // Restored at 100 s: lost at 105 s, the parked drone never.
    let lost = monitor.expire(at(105.0));
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].drone_id, flying);
    // The restored battery alert is not raised again, and resolves when the battery is fine.
    let mut charged = point(flying, 101.0, 47.2, 8.45);
    charged.battery_pct = 90.0;
    let next = monitor.observe(&charged, &airspace, None);
    assert!(kinds(&next).contains(&(AlertKind::BatteryLow, Change::Resolved)));
    // A point older than the restored latest is late: it changes nothing.
    let old = monitor.observe(&point(parked, -10.0, 47.2, 8.45), &airspace, None);
    assert!(old.late && old.events.is_empty());
}
