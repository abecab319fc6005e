//! Conformance monitoring and alerts, from the outside: points go in through the API, alerts
//! come out of `/alerts` and `/live`.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{body, problem, spawn_with, test_settings, Backend, Org, TestApp};
use crate::live::Events;
use crate::telemetry::ingest;

/// A prohibited 0.01° square with its south-west corner at 8.50 E, 47.00 N, 0–120 m.
fn no_fly() -> Value {
    json!({"name": "No-fly square", "kind": "prohibited", "lower_m": 0.0, "upper_m": 120.0,
    "geometry": {"type": "Polygon", "coordinates": [[
        [8.50, 47.00], [8.51, 47.00], [8.51, 47.01], [8.50, 47.01], [8.50, 47.00]
    ]]}})
}

/// A point `ago_ms` before now at 50 m, 10 m/s, with `battery` %.
fn at(drone: &str, ago_ms: i64, lat: f64, lon: f64, battery: f64) -> Value {
    let ts = Utc::now() - chrono::Duration::milliseconds(ago_ms);
    json!({"drone_id": drone, "ts": ts.to_rfc3339(), "lat": lat, "lon": lon, "alt_m": 50.0,
        "speed_mps": 10.0, "heading_deg": 90.0, "battery_pct": battery})
}

async fn send(app: &TestApp, org: &Org, points: &[Value]) {
    let res = ingest(app, &org.operator, points).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let json = body(res).await;
    assert_eq!(json["accepted"], points.len(), "{json}");
}

/// The drone's alerts of `kind` once `ready` says they are what the test waits for (the
/// monitor stores them a moment after the points are written).
async fn alerts_of(
    app: &TestApp,
    token: &str,
    drone: &str,
    kind: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/api/v1/alerts?drone_id={drone}&kind={kind}");
    let mut items = Vec::new();
    for _ in 0..100 {
        let page = body(app.get(&path, token).await).await;
        items = page["items"].as_array().cloned().unwrap_or_default();
        if ready(&items) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{kind} alerts of {drone} never became what the test expects: {items:?}");
}

async fn a_drone_entering_a_prohibited_fence_raises_one_alert_that_resolves_when_it_leaves(
    app: TestApp,
) {
    let org = app.org("breach").await;
    let fence = body(
        app.post("/api/v1/geofences", &org.operator, &no_fly())
            .await,
    )
    .await;
    let drone = app.drone(&org.operator, "BR-1").await;
    let id = drone["id"].as_str().unwrap();
    send(&app, &org, &[at(id, 3_000, 47.005, 8.495, 80.0)]).await;
    send(&app, &org, &[at(id, 2_000, 47.005, 8.505, 80.0)]).await;
    let open = alerts_of(&app, &org.viewer, id, "geofence_breach", |a| !a.is_empty()).await;
    assert_eq!(open.len(), 1);
    let alert = &open[0];
    assert_eq!(alert["state"], "open");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["details"]["type"], "geofence");
    assert_eq!(alert["details"]["geofence_id"], fence["id"]);
    assert_eq!(alert["details"]["name"], "No-fly square");
    assert_eq!(alert["point"]["lon"], 8.505);
    // Still inside, and a backlog point from before: still one alert.
    send(&app, &org, &[at(id, 1_500, 47.005, 8.506, 80.0)]).await;
    send(&app, &org, &[at(id, 2_500, 47.005, 8.507, 80.0)]).await;
    let summary = body(app.get("/api/v1/fleet/summary", &org.viewer).await).await;
    assert!(
        summary["open_alerts"]["critical"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    // 5 m outside the west edge is within the hysteresis: no flapping.
    send(&app, &org, &[at(id, 1_000, 47.005, 8.49993, 80.0)]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = alerts_of(&app, &org.viewer, id, "geofence_breach", |a| !a.is_empty()).await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["state"], "open");
    // Well outside: resolved by the system.
    send(&app, &org, &[at(id, 500, 47.005, 8.49, 80.0)]).await;
    let resolved = alerts_of(&app, &org.viewer, id, "geofence_breach", |a| {
        a.first().is_some_and(|a| a["state"] == "resolved")
    })
    .await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["resolved_by"], "system");
    assert_eq!(resolved[0]["id"], alert["id"]);
    // Another organisation sees none of it.
    let other = app.org("breach-other").await;
    let theirs = body(app.get("/api/v1/alerts", &other.viewer).await).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    problem(
        app.get(
            &format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()),
            &other.viewer,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn a_draining_battery_warns_then_the_same_alert_turns_critical(app: TestApp) {
    let org = app.org("battery").await;
    let drone = app.drone(&org.operator, "BA-1").await;
    let id = drone["id"].as_str().unwrap();
    send(&app, &org, &[at(id, 2_000, 47.3, 8.5, 25.0)]).await;
    let warned = alerts_of(&app, &org.viewer, id, "battery_low", |a| !a.is_empty()).await;
    assert_eq!(warned[0]["severity"], "warning");
    assert_eq!(warned[0]["details"]["battery_pct"], 25.0);
    send(&app, &org, &[at(id, 1_000, 47.3, 8.5, 12.0)]).await;
    let critical = alerts_of(&app, &org.viewer, id, "battery_low", |a| {
        a.first().is_some_and(|a| a["severity"] == "critical")
    })
    .await;
    assert_eq!(critical.len(), 1, "one alert, updated");
    assert_eq!(critical[0]["id"], warned[0]["id"]);
    let by_severity = body(
        app.get("/api/v1/alerts?min_severity=critical", &org.viewer)
            .await,
    )
    .await;
    assert_eq!(by_severity["items"].as_array().unwrap().len(), 1);
}

async fn operators_acknowledge_and_resolve_alerts_and_viewers_only_read(app: TestApp) {
    let org = app.org("ack").await;
    let drone = app.drone(&org.operator, "AK-1").await;
    let id = drone["id"].as_str().unwrap();
    send(&app, &org, &[at(id, 1_000, 47.3, 8.5, 10.0)]).await;
    let alert = alerts_of(&app, &org.viewer, id, "battery_low", |a| !a.is_empty()).await;
    let alert_id = alert[0]["id"].as_str().unwrap().to_owned();
    let ack = format!("/api/v1/alerts/{alert_id}/acknowledge");
    let resolve = format!("/api/v1/alerts/{alert_id}/resolve");
    problem(
        app.post(&ack, &org.viewer, &json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let too_long = problem(
        app.post(&ack, &org.operator, &json!({"note": "x".repeat(501)}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(too_long["errors"][0]["field"], "note");
    let acked = body(
        app.post(&ack, &org.operator, &json!({"note": "  pilot called  "}))
            .await,
    )
    .await;
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledge_note"], "pilot called");
    assert!(acked["acknowledged_by"].is_string());
    problem(
        app.post(&ack, &org.operator, &json!({})).await,
        StatusCode::CONFLICT,
        "alert_closed",
    )
    .await;
    let active = body(app.get("/api/v1/alerts?state=active", &org.viewer).await).await;
    assert_eq!(active["items"].as_array().unwrap().len(), 1);
    // An empty body is a resolution without a note.
    let res = app
        .request(reqwest::Method::POST, &resolve, Some(&org.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let resolved = body(res).await;
    assert_eq!(resolved["state"], "resolved");
    assert!(resolved["resolved_by"].as_str().unwrap() != "system");
    problem(
        app.post(&resolve, &org.operator, &json!({})).await,
        StatusCode::CONFLICT,
        "alert_closed",
    )
    .await;
    let active = body(app.get("/api/v1/alerts?state=active", &org.viewer).await).await;
    assert_eq!(active["items"].as_array().unwrap().len(), 0);
    let fetched = body(
        app.get(&format!("/api/v1/alerts/{alert_id}"), &org.viewer)
            .await,
    )
    .await;
    assert_eq!(fetched["state"], "resolved");
    problem(
        app.get("/api/v1/alerts?state=closed", &org.viewer).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    // A drone's key reads no alerts, not even its own drone's.
    let key = body(
        app.post(
            &format!("/api/v1/drones/{id}/api-keys"),
            &org.admin,
            &json!({}),
        )
        .await,
    )
    .await;
    let status = app
        .get("/api/v1/alerts", key["secret"].as_str().unwrap())
        .await
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn live_streams_carry_alert_events_and_replay_those_missed_after_a_reconnect(app: TestApp) {
    let org = app.org("live-alerts").await;
    let drone = app.drone(&org.operator, "LA-1").await;
    let id = drone["id"].as_str().unwrap();
    let mut events = Events::open(&app, "max_hz=10", &org.viewer).await;
    send(&app, &org, &[at(id, 1_000, 47.3, 8.5, 25.0)]).await;
    let raised = events.next_named("alert", Duration::from_secs(5)).await;
    let raised = raised.expect("an alert event");
    assert_eq!(raised["change"], "raised");
    assert_eq!(raised["alert"]["kind"], "battery_low");
    let seen = events.last_id.clone().expect("an event id");
    drop(events);
    // While disconnected: the battery goes critical.
    send(&app, &org, &[at(id, 500, 47.3, 8.5, 10.0)]).await;
    alerts_of(&app, &org.viewer, id, "battery_low", |a| {
        a.first().is_some_and(|a| a["severity"] == "critical")
    })
    .await;
    let mut again = Events::resume(&app, "max_hz=10", &org.viewer, Some(&seen)).await;
    let replayed = again.next_named("alert", Duration::from_secs(3)).await;
    let replayed = replayed.expect("the missed alert event, replayed");
    assert_eq!(replayed["change"], "updated");
    assert_eq!(replayed["alert"]["severity"], "critical");
    // A stream that asked for no alerts gets none.
    let mut quiet = Events::resume(&app, "alerts=false", &org.viewer, Some(&seen)).await;
    while let Some((name, _)) = quiet.next(Duration::from_millis(500)).await {
        assert_ne!(name, "alert");
    }
}

/// A point `ago_s` seconds before now at `alt_m` on the meridian 8.50 E (off it by `east_deg`).
fn on_plan(drone: &str, ago_s: i64, lat: f64, east_deg: f64, alt_m: f64) -> Value {
    let mut point = at(drone, ago_s * 1_000, lat, 8.50 + east_deg, 80.0);
    point["alt_m"] = json!(alt_m);
    point
}

async fn a_drone_flying_its_active_plan_is_judged_against_its_corridor_and_band(app: TestApp) {
    let org = app.org("corridor").await;
    let drone = app.drone(&org.operator, "CO-1").await;
    let id = drone["id"].as_str().unwrap();
    let start = Utc::now() + chrono::Duration::seconds(5);
    let plan = body(
        app.post(
            "/api/v1/flight-plans",
            &org.operator,
            &json!({"drone_id": id, "name": "North leg",
                "waypoints": [{"lat": 47.30, "lon": 8.50, "alt_m": 50.0},
                              {"lat": 47.31, "lon": 8.50, "alt_m": 50.0}],
                "planned_start": start.to_rfc3339(),
                "planned_end": (start + chrono::Duration::minutes(30)).to_rfc3339()}),
        )
        .await,
    )
    .await;
    let plan_id = plan["id"].as_str().expect("a plan").to_owned();
    for (token, action) in [
        (&org.operator, "submit"),
        (&org.admin, "approve"),
        (&org.operator, "activate"),
    ] {
        let res = app
            .post(
                &format!("/api/v1/flight-plans/{plan_id}/{action}"),
                token,
                &json!({}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{action}: {}",
            body(res).await
        );
    }
    // On the path (the plan's window opens a time buffer before its start), then ~230 m
    // east of it for 4 s, longer than the 3 s grace: off the corridor.
    send(&app, &org, &[on_plan(id, 20, 47.302, 0.0, 50.0)]).await;
    send(&app, &org, &[on_plan(id, 18, 47.303, 0.003, 50.0)]).await;
    send(&app, &org, &[on_plan(id, 14, 47.304, 0.003, 50.0)]).await;
    let off = alerts_of(&app, &org.viewer, id, "off_corridor", |a| !a.is_empty()).await;
    assert_eq!(off[0]["flight_plan_id"], plan_id.as_str());
    assert_eq!(off[0]["details"]["type"], "corridor");
    let distance = off[0]["details"]["distance_m"].as_f64().unwrap();
    assert!((200.0..260.0).contains(&distance), "{distance} m off");
    // Back on the path: resolved. Then 50 m above the band for 4 s: an altitude deviation.
    send(&app, &org, &[on_plan(id, 13, 47.305, 0.0, 50.0)]).await;
    alerts_of(&app, &org.viewer, id, "off_corridor", |a| {
        a.first().is_some_and(|a| a["state"] == "resolved")
    })
    .await;
    send(&app, &org, &[on_plan(id, 12, 47.306, 0.0, 100.0)]).await;
    send(&app, &org, &[on_plan(id, 8, 47.307, 0.0, 100.0)]).await;
    let high = alerts_of(&app, &org.viewer, id, "altitude_deviation", |a| {
        !a.is_empty()
    })
    .await;
    assert_eq!(high[0]["details"]["alt_m"], 100.0);
    assert_eq!(high[0]["state"], "open");
    // A flight on its plan is not unplanned.
    let unplanned = body(
        app.get(
            &format!("/api/v1/alerts?drone_id={id}&kind=unplanned_flight"),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert_eq!(
        unplanned["items"].as_array().unwrap().len(),
        0,
        "{unplanned}"
    );
}

/// The organisation's own battery thresholds: read by all, set by admins, checked, applied.
async fn an_organisation_sets_its_own_battery_thresholds(app: TestApp) {
    let org = app.org("thresholds").await;
    let path = "/api/v1/organization/monitoring";
    let defaults = body(app.get(path, &org.viewer).await).await;
    assert_eq!(defaults["battery_warn_pct"], 30.0);
    assert_eq!(defaults["battery_critical_pct"], 15.0);
    assert_eq!(defaults["own"]["battery_warn_pct"], Value::Null);
    assert!(defaults["link_timeout_s"].as_f64().unwrap() > 0.0);
    problem(
        app.patch(path, &org.operator, &json!({"battery_warn_pct": 50.0}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let above = problem(
        app.patch(path, &org.admin, &json!({"battery_critical_pct": 40.0}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        above["errors"][0]["field"], "battery_critical_pct",
        "{above}"
    );
    let range = problem(
        app.patch(path, &org.admin, &json!({"battery_warn_pct": 120.0}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(range["errors"][0]["field"], "battery_warn_pct", "{range}");
    let set = body(
        app.patch(path, &org.admin, &json!({"battery_warn_pct": 50.0}))
            .await,
    )
    .await;
    assert_eq!(set["battery_warn_pct"], 50.0);
    assert_eq!(set["own"]["battery_warn_pct"], 50.0);
    assert_eq!(set["battery_critical_pct"], 15.0);
    // 45 % is fine by the installation's 30 %, low by the organisation's 50 %.
    let drone = app.drone(&org.operator, "TH-1").await;
    let id = drone["id"].as_str().unwrap();
    send(&app, &org, &[at(id, 1_000, 47.3, 8.5, 45.0)]).await;
    let low = alerts_of(&app, &org.viewer, id, "battery_low", |a| !a.is_empty()).await;
    assert_eq!(low[0]["severity"], "warning");
    // Another organisation keeps the installation's.
    let other = app.org("thresholds-other").await;
    let theirs = body(app.get(path, &other.viewer).await).await;
    assert_eq!(theirs["battery_warn_pct"], 30.0);
    // `null` goes back to the installation's value.
    let reset = body(
        app.patch(path, &org.admin, &json!({"battery_warn_pct": null}))
            .await,
    )
    .await;
    assert_eq!(reset["battery_warn_pct"], 30.0);
    assert_eq!(reset["own"]["battery_warn_pct"], Value::Null);
}

both_backends!(
    a_drone_flying_its_active_plan_is_judged_against_its_corridor_and_band,
    an_organisation_sets_its_own_battery_thresholds,
    a_drone_entering_a_prohibited_fence_raises_one_alert_that_resolves_when_it_leaves,
    a_draining_battery_warns_then_the_same_alert_turns_critical,
    operators_acknowledge_and_resolve_alerts_and_viewers_only_read,
    live_streams_carry_alert_events_and_replay_those_missed_after_a_reconnect,
);

/// A flying drone that stops reporting is declared lost one timeout later, found again
/// with its next point.
#[tokio::test]
async fn a_silent_flying_drone_loses_its_link_within_the_timeout_and_regains_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(Backend::Sqlite, dir.path()).await;
    settings.monitoring.link_timeout_s = 1.0;
    let app = spawn_with(Backend::Sqlite, settings, dir).await;
    let org = app.org("link").await;
    let drone = app.drone(&org.operator, "LK-1").await;
    let id = drone["id"].as_str().unwrap();
    let started = std::time::Instant::now();
    send(&app, &org, &[at(id, 100, 47.3, 8.5, 80.0)]).await;
    let lost = alerts_of(&app, &org.viewer, id, "link_lost", |a| !a.is_empty()).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "declared after {took:?}"
    );
    assert_eq!(lost[0]["severity"], "critical");
    assert_eq!(lost[0]["details"]["type"], "link");
    send(&app, &org, &[at(id, 0, 47.3, 8.5001, 80.0)]).await;
    let back = alerts_of(&app, &org.viewer, id, "link_lost", |a| {
        a.first().is_some_and(|a| a["state"] == "resolved")
    })
    .await;
    assert_eq!(back[0]["resolved_by"], "system");
}

/// A drone with its own link timeout (a satellite link) is not declared lost at the
/// installation's; the timeout is validated and can be cleared.
#[tokio::test]
async fn a_drone_with_its_own_link_timeout_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(Backend::Sqlite, dir.path()).await;
    settings.monitoring.link_timeout_s = 1.0;
    let app = spawn_with(Backend::Sqlite, settings, dir).await;
    let org = app.org("satellite").await;
    let terrestrial = app.drone(&org.operator, "ST-1").await;
    let satellite = app.drone(&org.operator, "ST-2").await;
    let (fast, slow) = (
        terrestrial["id"].as_str().unwrap(),
        satellite["id"].as_str().unwrap(),
    );
    let path = format!("/api/v1/drones/{slow}");
    let refused = problem(
        app.patch(&path, &org.operator, &json!({"link_timeout_s": 0.2}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "link_timeout_s");
    let patched = body(
        app.patch(&path, &org.operator, &json!({"link_timeout_s": 120.0}))
            .await,
    )
    .await;
    assert_eq!(patched["link_timeout_s"], 120.0);
    send(
        &app,
        &org,
        &[
            at(fast, 100, 47.3, 8.5, 80.0),
            at(slow, 100, 47.4, 8.5, 80.0),
        ],
    )
    .await;
    alerts_of(&app, &org.viewer, fast, "link_lost", |a| !a.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let none = body(
        app.get(
            &format!("/api/v1/alerts?drone_id={slow}&kind=link_lost"),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "{none}");
    // Cleared, it goes back to the installation's 1 s from its next point.
    let cleared = body(
        app.patch(&path, &org.operator, &json!({"link_timeout_s": null}))
            .await,
    )
    .await;
    assert_eq!(cleared["link_timeout_s"], Value::Null);
    send(&app, &org, &[at(slow, 0, 47.4, 8.5001, 80.0)]).await;
    alerts_of(&app, &org.viewer, slow, "link_lost", |a| !a.is_empty()).await;
}
