use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{body, problem, spawn_with, test_settings, Backend, TestApp};

pub fn point(drone: &str, ts: DateTime<Utc>, lat: f64, lon: f64) -> Value {
    json!({
        "drone_id": drone, "ts": ts.to_rfc3339(), "lat": lat, "lon": lon, "alt_m": 50.0,
        "speed_mps": 10.0, "heading_deg": 90.0, "battery_pct": 80.0, "satellites": 12
    })
}

/// `n` points of one drone, one every `step_s` seconds ending now.
pub fn track(drone: &str, n: usize, step_s: i64) -> Vec<Value> {
    let end = Utc::now() - chrono::Duration::seconds(1);
    (0..n)
        .map(|i| {
            point(
                drone,
                end - chrono::Duration::seconds(step_s * (n - 1 - i) as i64),
                47.0 + i as f64 * 1e-4,
                8.0,
            )
        })
        .collect()
}

pub async fn ingest(app: &TestApp, token: &str, points: &[Value]) -> reqwest::Response {
    app.post("/api/v1/telemetry", token, &json!({ "points": points }))
        .await
}

/// Waits until the writer has written everything accepted so far.
pub async fn flushed(app: &TestApp) {
    for _ in 0..200 {
        if app.pipeline().queued_points() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the telemetry writer did not flush within 5 s");
}

async fn history_count(app: &TestApp, token: &str, drone: &str) -> usize {
    let from = (Utc::now() - chrono::Duration::hours(2))
        .to_rfc3339()
        .replace('+', "%2B");
    let res = app
        .get(
            &format!("/api/v1/drones/{drone}/telemetry?limit=5000&from={from}"),
            token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await["items"].as_array().unwrap().len()
}

async fn every_accepted_point_is_stored_across_shards_with_exact_counts(app: TestApp) {
    let org = app.org("tele").await;
    let mut drones = Vec::new();
    let mut shards = HashSet::new();
    while drones.len() < 6 || shards.len() < 2 {
        let d = app
            .drone(&org.operator, &format!("T-{}", drones.len()))
            .await;
        let id = d["id"].as_str().unwrap().to_owned();
        shards.insert(app.store.slot_map().shard_of(id.parse().unwrap()));
        drones.push(id);
    }
    let mut batch = Vec::new();
    for d in &drones {
        batch.extend(track(d, 250, 1));
    }
    for chunk in batch.chunks(500) {
        let res = ingest(&app, &org.operator, chunk).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let json = body(res).await;
        assert_eq!(json["accepted"], chunk.len());
        assert_eq!(json["rejected"], 0);
    }
    flushed(&app).await;
    for d in &drones {
        assert_eq!(history_count(&app, &org.viewer, d).await, 250, "drone {d}");
    }
    let latest = body(
        app.get(
            &format!("/api/v1/drones/{}/telemetry/latest", drones[0]),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert!(
        (latest["lat"].as_f64().unwrap() - (47.0 + 249.0 * 1e-4)).abs() < 1e-9,
        "{latest}"
    );
    let fleet = body(app.get("/api/v1/fleet/positions", &org.viewer).await).await;
    assert_eq!(fleet["items"].as_array().unwrap().len(), drones.len());
    assert_eq!(fleet["incomplete"], false);
    let summary = body(app.get("/api/v1/fleet/summary", &org.viewer).await).await;
    assert_eq!(summary["reporting_last_60s"], drones.len());
    assert_eq!(summary["points_last_minute"], drones.len() * 250);
    assert_eq!(summary["drones_by_status"]["active"], drones.len());
    let metrics = app.metrics_text().await;
    let total = drones.len() * 250;
    for line in [
        format!("nimbusfleet_telemetry_points_accepted_total {total}"),
        format!("nimbusfleet_telemetry_points_written_total {total}"),
        "nimbusfleet_telemetry_queue_points 0".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing `{line}` in\n{metrics}");
    }
    assert!(metrics.contains("nimbusfleet_telemetry_write_batch_points_count"));
}

async fn a_replayed_batch_adds_no_rows(app: TestApp) {
    let org = app.org("tele").await;
    let d = app.drone(&org.operator, "R-1").await;
    let id = d["id"].as_str().unwrap();
    let batch = track(id, 100, 1);
    assert_eq!(
        ingest(&app, &org.operator, &batch).await.status(),
        StatusCode::ACCEPTED
    );
    flushed(&app).await;
    let mut replay = batch.clone();
    replay.extend(track(id, 1, 1).into_iter().map(|mut p| {
        p["ts"] = json!((Utc::now() - chrono::Duration::milliseconds(500)).to_rfc3339());
        p
    }));
    assert_eq!(
        ingest(&app, &org.operator, &replay).await.status(),
        StatusCode::ACCEPTED
    );
    flushed(&app).await;
    assert_eq!(history_count(&app, &org.viewer, id).await, 101);
}

async fn per_point_errors_name_index_and_field(app: TestApp) {
    let org = app.org("tele").await;
    let d = app.drone(&org.operator, "E-1").await;
    let id = d["id"].as_str().unwrap();
    let mut batch = track(id, 4, 1);
    batch[1]["battery_pct"] = json!(140);
    batch[2]["ts"] = json!((Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    batch[3]["drone_id"] = json!(uuid::Uuid::new_v4());
    let res = ingest(&app, &org.operator, &batch).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let json = body(res).await;
    assert_eq!(json["accepted"], 1);
    assert_eq!(json["rejected"], 3);
    let metrics = app.metrics_text().await;
    assert!(
        metrics
            .contains(r#"nimbusfleet_telemetry_points_rejected_total{reason="unknown_drone"} 1"#),
        "{metrics}"
    );
    let errors: Vec<(u64, String, String)> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (1, "battery_pct".into(), "out_of_range".into()),
            (2, "ts".into(), "in_future".into()),
            (3, "drone_id".into(), "unknown_drone".into())
        ]
    );
    let all_bad = ingest(&app, &org.operator, &batch[1..]).await;
    let p = problem(
        all_bad,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "points[0].battery_pct");
    problem(
        ingest(&app, &org.operator, &[]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let mut wrong_type = track(id, 1, 1);
    wrong_type[0]["lat"] = json!("north");
    let p = problem(
        ingest(&app, &org.operator, &wrong_type).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "points[0].lat");
    problem(
        ingest(&app, &org.viewer, &track(id, 1, 1)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let too_many = track(id, 5001, 0);
    problem(
        ingest(&app, &org.operator, &too_many).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

async fn an_api_key_writes_its_own_drone_only_and_retired_drones_take_nothing(app: TestApp) {
    let org = app.org("tele").await;
    let mine = app.drone(&org.operator, "K-1").await;
    let other = app.drone(&org.operator, "K-2").await;
    let (mine, other) = (mine["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    let key = body(
        app.post(
            &format!("/api/v1/drones/{mine}/api-keys"),
            &org.admin,
            &json!({}),
        )
        .await,
    )
    .await;
    let secret = key["secret"].as_str().unwrap();
    let mut batch = track(mine, 2, 1);
    batch.extend(track(other, 1, 1));
    let json = body(ingest(&app, secret, &batch).await).await;
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["errors"][0]["code"], "forbidden_drone");
    assert_eq!(json["errors"][0]["index"], 2);
    flushed(&app).await;
    // The key reads its own drone's telemetry, not another's.
    assert_eq!(
        app.get(&format!("/api/v1/drones/{mine}/telemetry/latest"), secret)
            .await
            .status(),
        StatusCode::OK
    );
    problem(
        app.get(&format!("/api/v1/drones/{other}/telemetry"), secret)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.patch(
        &format!("/api/v1/drones/{other}"),
        &org.operator,
        &json!({"status": "retired"}),
    )
    .await;
    let p = problem(
        ingest(&app, &org.operator, &track(other, 1, 1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(p["errors"][0]["code"] == "drone_retired", "{p}");
}

async fn another_organisations_telemetry_is_invisible(app: TestApp) {
    let org = app.org("tele").await;
    let other = app.org("spy").await;
    let d = app.drone(&org.operator, "I-1").await;
    let id = d["id"].as_str().unwrap();
    ingest(&app, &org.operator, &track(id, 10, 1)).await;
    flushed(&app).await;
    for path in [
        format!("/api/v1/drones/{id}/telemetry/latest"),
        format!("/api/v1/drones/{id}/telemetry"),
        format!("/api/v1/drones/{id}/telemetry?interval=1m"),
        format!("/api/v1/drones/{id}/telemetry/export?format=csv"),
    ] {
        problem(
            app.get(&path, &other.admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let fleet = body(app.get("/api/v1/fleet/positions", &other.viewer).await).await;
    assert!(fleet["items"].as_array().unwrap().is_empty());
    let json = body(ingest(&app, &other.operator, &track(id, 1, 1)).await).await;
    assert_eq!(
        json["code"], "validation_failed",
        "another org's drone is unknown to the sender: {json}"
    );
}

async fn downsampled_buckets_are_exact_on_known_data(app: TestApp) {
    let org = app.org("tele").await;
    let d = app.drone(&org.operator, "D-1").await;
    let id = d["id"].as_str().unwrap();
    let start = (Utc::now() - chrono::Duration::minutes(10))
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    // One point every 10 s for 3 minutes: altitude 10, 20, …, 60 within each minute.
    let points: Vec<Value> = (0..18)
        .map(|i| {
            let mut p = point(
                id,
                start + chrono::Duration::seconds(10 * i),
                47.0 + i as f64 * 0.001,
                8.0,
            );
            p["alt_m"] = json!(10.0 * ((i % 6) + 1) as f64);
            p["battery_pct"] = json!(90.0 - i as f64);
            p
        })
        .collect();
    assert_eq!(
        ingest(&app, &org.operator, &points).await.status(),
        StatusCode::ACCEPTED
    );
    flushed(&app).await;
    let from = start.to_rfc3339().replace('+', "%2B");
    let to = (start + chrono::Duration::minutes(3))
        .to_rfc3339()
        .replace('+', "%2B");
    let res = body(
        app.get(
            &format!("/api/v1/drones/{id}/telemetry?interval=1m&from={from}&to={to}"),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert_eq!(res["interval_s"], 60);
    assert!(
        res.get("items").is_none() && res.get("next_cursor").is_none(),
        "a downsampled answer carries no raw half: {res}"
    );
    let buckets = res["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 3, "{res}");
    for (m, b) in buckets.iter().enumerate() {
        assert_eq!(b["count"], 6);
        assert_eq!(b["alt_m"]["min"], 10.0);
        assert_eq!(b["alt_m"]["max"], 60.0);
        assert!((b["alt_m"]["avg"].as_f64().unwrap() - 35.0).abs() < 1e-9);
        assert_eq!(b["battery_pct"]["max"], 90.0 - 6.0 * m as f64);
        let last = 6 * m + 5;
        assert!((b["last_lat"].as_f64().unwrap() - (47.0 + last as f64 * 0.001)).abs() < 1e-9);
        let bucket_start: DateTime<Utc> = b["start"].as_str().unwrap().parse().unwrap();
        assert_eq!(bucket_start, start + chrono::Duration::minutes(m as i64));
    }
    problem(
        app.get(
            &format!("/api/v1/drones/{id}/telemetry?interval=7x"),
            &org.viewer,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}

async fn history_pages_newest_first_without_gaps(app: TestApp) {
    let org = app.org("tele").await;
    let d = app.drone(&org.operator, "H-1").await;
    let id = d["id"].as_str().unwrap();
    ingest(&app, &org.operator, &track(id, 25, 1)).await;
    flushed(&app).await;
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/drones/{id}/telemetry?limit=10");
    loop {
        let page = body(app.get(&path, &org.viewer).await).await;
        for p in page["items"].as_array().unwrap() {
            seen.push(p["ts"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/drones/{id}/telemetry?limit=10&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first");
}

async fn exports_are_valid_geojson_csv_and_gpx(app: TestApp) {
    let org = app.org("tele").await;
    let d = app.drone(&org.operator, "X-1").await;
    let id = d["id"].as_str().unwrap();
    ingest(&app, &org.operator, &track(id, 2500, 1)).await;
    flushed(&app).await;
    let export = |format: &'static str| {
        let path = format!("/api/v1/drones/{id}/telemetry/export?format={format}");
        let token = org.viewer.clone();
        let app = &app;
        async move {
            let res = app.get(&path, &token).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert!(res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(format));
            res.text().await.unwrap()
        }
    };
    let geojson: Value = serde_json::from_str(&export("geojson").await).expect("GeoJSON is JSON");
    assert_eq!(geojson["type"], "FeatureCollection");
    let features = geojson["features"].as_array().unwrap();
    assert_eq!(features.len(), 2500);
    assert_eq!(features[0]["geometry"]["type"], "Point");
    let csv = export("csv").await;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("ts,lat,lon,alt_m"));
    assert_eq!(lines.len(), 2501);
    assert_eq!(lines[1].split(',').count(), lines[0].split(',').count());
    let gpx = export("gpx").await;
    let doc = roxmltree::Document::parse(&gpx).expect("GPX is XML");
    assert_eq!(doc.root_element().tag_name().name(), "gpx");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("trkpt"))
            .count(),
        2500
    );
    problem(
        app.get(
            &format!("/api/v1/drones/{id}/telemetry/export?format=kml"),
            &org.viewer,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}

async fn a_deleted_drone_leaves_no_position_behind(app: TestApp) {
    let org = app.org("tele").await;
    let d = app.drone(&org.operator, "GONE-1").await;
    let id = d["id"].as_str().unwrap();
    ingest(&app, &org.operator, &track(id, 5, 1)).await;
    flushed(&app).await;
    assert_eq!(
        body(app.get("/api/v1/fleet/positions", &org.viewer).await).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.delete(&format!("/api/v1/drones/{id}"), &org.admin)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        body(app.get("/api/v1/fleet/positions", &org.viewer).await).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let json = body(ingest(&app, &org.operator, &track(id, 1, 1)).await).await;
    assert_eq!(
        json["errors"][0]["code"], "unknown_drone",
        "the directory forgot it too: {json}"
    );
}

both_backends!(
    a_deleted_drone_leaves_no_position_behind,
    every_accepted_point_is_stored_across_shards_with_exact_counts,
    a_replayed_batch_adds_no_rows,
    per_point_errors_name_index_and_field,
    an_api_key_writes_its_own_drone_only_and_retired_drones_take_nothing,
    another_organisations_telemetry_is_invisible,
    downsampled_buckets_are_exact_on_known_data,
    history_pages_newest_first_without_gaps,
    exports_are_valid_geojson_csv_and_gpx,
);

/// With the writer held, the queue fills: ingest answers 503 with `Retry-After`, and every
/// point answered 202 is stored once the writer resumes.
async fn a_full_queue_is_503_and_loses_no_accepted_point(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(backend, dir.path()).await;
    settings.telemetry.max_batch_points = 100;
    // Each of the two shards' lanes holds half: 250 points for the one drone's shard.
    settings.pipeline.queue_capacity_points = 500;
    // The queue's own backpressure: answers that do not wait for the (held) writer.
    settings.telemetry.ack = infra::pipeline::AckMode::Queued;
    let app = spawn_with(backend, settings, dir).await;
    let org = app.org("full").await;
    let d = app.drone(&org.operator, "F-1").await;
    let id = d["id"].as_str().unwrap();
    app.pipeline().pause_writer();
    let points = track(id, 1000, 1);
    let mut accepted = 0;
    let mut refused = 0;
    for chunk in points.chunks(100) {
        let res = ingest(&app, &org.operator, chunk).await;
        match res.status() {
            StatusCode::ACCEPTED => accepted += body(res).await["accepted"].as_u64().unwrap(),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(res.headers()["retry-after"], "1");
                problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 200, "two batches fit in a 250-point queue");
    assert_eq!(refused, 8);
    app.pipeline().resume_writer();
    flushed(&app).await;
    assert_eq!(history_count(&app, &org.viewer, id).await, 200);
}

mod full_queue {
    #[tokio::test]
    async fn sqlite() {
        super::a_full_queue_is_503_and_loses_no_accepted_point(super::Backend::Sqlite).await
    }
    #[tokio::test]
    async fn postgres() {
        super::a_full_queue_is_503_and_loses_no_accepted_point(super::Backend::Postgres).await
    }
}

/// Shutdown refuses new points and writes every accepted one before it returns.
async fn shutdown_writes_every_queued_point(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(backend, dir.path()).await;
    settings.telemetry.ack = infra::pipeline::AckMode::Queued;
    let app = spawn_with(backend, settings, dir).await;
    let org = app.org("drain").await;
    let d = app.drone(&org.operator, "DRAIN-1").await;
    let id = d["id"].as_str().unwrap();
    app.pipeline().pause_writer();
    for chunk in track(id, 300, 1).chunks(100) {
        assert_eq!(
            ingest(&app, &org.operator, chunk).await.status(),
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(app.pipeline().queued_points(), 300);
    app.pipeline().shutdown().await;
    assert_eq!(app.pipeline().queued_points(), 0);
    assert_eq!(history_count(&app, &org.viewer, id).await, 300);
    let refused = ingest(&app, &org.operator, &track(id, 1, 1)).await;
    problem(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
}

mod shutdown {
    #[tokio::test]
    async fn sqlite() {
        super::shutdown_writes_every_queued_point(super::Backend::Sqlite).await
    }
    #[tokio::test]
    async fn postgres() {
        super::shutdown_writes_every_queued_point(super::Backend::Postgres).await
    }
}
