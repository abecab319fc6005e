//! The fleet as it was: `GET /fleet/positions?at=` and the `GET /fleet/replay` stream, on
//! known tracks spread over both shards.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, DurationRound, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::Value;

use domain::ports::TelemetryStore;
use domain::telemetry::TelemetryPoint;
use domain::{DroneId, OrgId};

use crate::both_backends;
use crate::helpers::{body, problem, spawn_with, test_settings, Backend, TestApp};
use crate::kafka::query_shards;
use crate::telemetry::{flushed, ingest, point};

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Drones on both shards with known tracks from `t0`, ten minutes ago: `a` reports every
/// 10 s for 50 s, `b` once at 30 s far east of `a`, `c` never.
struct Fleet {
    t0: DateTime<Utc>,
    a: String,
    b: String,
}

async fn fleet(app: &TestApp, token: &str) -> Fleet {
    let t0 = (Utc::now() - chrono::Duration::minutes(10))
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap();
    let mut ids = Vec::new();
    let mut shards = HashSet::new();
    // Until the first two drones sit on different shards.
    for n in 0.. {
        if ids.len() == 2 {
            break;
        }
        let d = app.drone(token, &format!("RP-{n}")).await;
        let id = d["id"].as_str().unwrap().to_owned();
        let shard = app.store.slot_map().shard_of(id.parse().unwrap());
        if ids.len() == 1 && shards.contains(&shard) {
            continue;
        }
        shards.insert(shard);
        ids.push(id);
    }
    app.drone(token, "RP-never").await;
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let mut points: Vec<Value> = (0..6)
        .map(|i| {
            point(
                &a,
                t0 + chrono::Duration::seconds(10 * i),
                47.0 + i as f64 * 1e-3,
                8.0,
            )
        })
        .collect();
    points.push(point(&b, t0 + chrono::Duration::seconds(30), 47.0, 9.0));
    let res = ingest(app, token, &points).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    flushed(app).await;
    Fleet { t0, a, b }
}

/// `drone id → ts` of an answer's items.
fn placed(items: &Value) -> BTreeMap<String, String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let ts: DateTime<Utc> = p["ts"].as_str().unwrap().parse().unwrap();
            (p["drone_id"].as_str().unwrap().to_owned(), stamp(ts))
        })
        .collect()
}

async fn positions_at(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/fleet/positions?{query}"), token)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    body(res).await
}

async fn positions_answer_each_drone_as_it_was_at_an_instant(app: TestApp) {
    let org = app.org("replay").await;
    let f = fleet(&app, &org.operator).await;
    let at = |s: i64| stamp(f.t0 + chrono::Duration::seconds(s));
    let sec = at;

    let early = positions_at(&app, &org.viewer, &format!("at={}", at(25))).await;
    assert_eq!(early["at"], at(25));
    assert_eq!(early["incomplete"], false);
    assert_eq!(
        placed(&early["items"]),
        BTreeMap::from([(f.a.clone(), sec(20))]),
        "b has not reported yet at 25 s"
    );

    let both = positions_at(&app, &org.viewer, &format!("at={}", at(30))).await;
    assert_eq!(
        placed(&both["items"]),
        BTreeMap::from([(f.a.clone(), sec(30)), (f.b.clone(), sec(30))]),
        "a point exactly at `at` counts"
    );
    let a = both["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["drone_id"] == f.a)
        .unwrap();
    assert!((a["lat"].as_f64().unwrap() - 47.003).abs() < 1e-9, "{a}");

    // 150 s after a's last point: outside the default 60 s window, inside a 5 minute one.
    let late = positions_at(&app, &org.viewer, &format!("at={}", at(200))).await;
    assert!(late["items"].as_array().unwrap().is_empty(), "{late}");
    let wide = positions_at(&app, &org.viewer, &format!("at={}&window=5m", at(200))).await;
    assert_eq!(
        placed(&wide["items"]),
        BTreeMap::from([(f.a.clone(), sec(50)), (f.b.clone(), sec(30))])
    );

    // The bbox keeps a (lon 8) and leaves b (lon 9) out.
    let boxed = positions_at(
        &app,
        &org.viewer,
        &format!("at={}&bbox=7.5,46.5,8.5,47.5", at(40)),
    )
    .await;
    assert_eq!(
        placed(&boxed["items"]),
        BTreeMap::from([(f.a.clone(), sec(40))])
    );

    // Another organisation sees none of it.
    let spy = app.org("spy").await;
    let none = positions_at(&app, &spy.viewer, &format!("at={}&window=1d", at(40))).await;
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");

    let p = problem(
        app.get(
            &format!("/api/v1/fleet/positions?at={}&window=2d", at(40)),
            &org.viewer,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("window"), "{p}");
    let p = problem(
        app.get("/api/v1/fleet/positions?window=5m", &org.viewer)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("at"), "{p}");
    let res = app
        .get("/api/v1/fleet/positions?at=yesterday", &org.viewer)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn a_replay_streams_one_frame_per_step_equal_to_positions_at(app: TestApp) {
    let org = app.org("replay").await;
    let f = fleet(&app, &org.operator).await;
    let at = |s: i64| stamp(f.t0 + chrono::Duration::seconds(s));
    let res = app
        .get(
            &format!(
                "/api/v1/fleet/replay?from={}&to={}&step=10s&window=15s",
                at(5),
                at(65)
            ),
            &org.viewer,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = res.text().await.unwrap();
    assert!(text.ends_with('\n'), "every frame ends its line");
    let frames: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON frame"))
        .collect();
    let instants: Vec<String> = frames
        .iter()
        .map(|f| f["at"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        instants,
        [5, 15, 25, 35, 45, 55]
            .iter()
            .map(|s| at(*s))
            .collect::<Vec<_>>(),
        "frames at from, from + step, … before to"
    );
    for frame in &frames {
        let expected = positions_at(
            &app,
            &org.viewer,
            &format!("at={}&window=15s", frame["at"].as_str().unwrap()),
        )
        .await;
        assert_eq!(frame["items"], expected["items"], "frame {}", frame["at"]);
        assert_eq!(frame["incomplete"], false);
    }
    // b is in the frames less than 15 s after its one point, and only there.
    let b_frames: Vec<String> = frames
        .iter()
        .filter(|frame| placed(&frame["items"]).contains_key(&f.b))
        .map(|frame| frame["at"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        b_frames,
        vec![at(35)],
        "(45 s - 15 s, 45 s] leaves 30 s out"
    );
    let a_last = placed(&frames[5]["items"]);
    assert_eq!(a_last.get(&f.a), Some(&at(50)));
}

async fn a_replay_refuses_what_it_cannot_answer_naming_the_parameter(app: TestApp) {
    let org = app.org("replay").await;
    let from = Utc::now() - chrono::Duration::hours(3);
    let cases = [
        (from, from + chrono::Duration::hours(2), "1s", "frames"),
        (from, from, "1s", "before"),
        (from, from + chrono::Duration::minutes(1), "0s", "step"),
        (from, from + chrono::Duration::minutes(1), "2h", "step"),
        (from, from + chrono::Duration::minutes(1), "soon", "step"),
    ];
    for (from, to, step, named) in cases {
        let path = format!(
            "/api/v1/fleet/replay?from={}&to={}&step={step}",
            stamp(from),
            stamp(to)
        );
        let p = problem(
            app.get(&path, &org.viewer).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains(named), "{path}: {p}");
    }
    let res = app
        .get(
            &format!("/api/v1/fleet/replay?to={}", stamp(from)),
            &org.viewer,
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "from is required");
    // 3600 frames is the most one request asks for, and it is answered.
    let res = app
        .get(
            &format!(
                "/api/v1/fleet/replay?from={}&to={}&step=1s",
                stamp(from),
                stamp(from + chrono::Duration::hours(1))
            ),
            &org.viewer,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap().lines().count(), 3600);
    let res = app
        .request(
            reqwest::Method::GET,
            &format!(
                "/api/v1/fleet/replay?from={}&to={}",
                stamp(from),
                stamp(from + chrono::Duration::minutes(1))
            ),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// The instants of archived days come from the minute rollups: each drone's last point of
/// the newest minute whose last point is at or before the instant, with the minute's mean
/// altitude.
async fn replays_of_archived_days_come_from_the_minute_rollups(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(backend, dir.path()).await;
    settings.telemetry.archive_url = dir.path().join("archive").display().to_string();
    let app = spawn_with(backend, settings, dir).await;
    let org = app.org("replay-archive").await;
    let drone = app.drone(&org.operator, "RP-OLD").await;
    let id = drone["id"].as_str().unwrap().to_owned();
    let day = chrono::Duration::days(1);
    let t0 = Utc::now().duration_trunc(day).unwrap() - chrono::Duration::days(40)
        + chrono::Duration::hours(10);
    // Ten minutes at 0.1 Hz, 40 days ago: written to the store directly, as ingest refuses
    // points that old once an archive is configured.
    let points: Vec<TelemetryPoint> = (0..60)
        .map(|i| TelemetryPoint {
            org_id: OrgId::from_uuid(org.id),
            drone_id: DroneId::from_uuid(id.parse().unwrap()),
            ts: t0 + chrono::Duration::seconds(10 * i),
            lat: 47.0 + i as f64 * 1e-3,
            lon: 8.0,
            alt_m: 50.0 + i as f64,
            speed_mps: 10.0,
            heading_deg: 90.0,
            battery_pct: 80.0,
            vertical_speed_mps: None,
            satellites: None,
            link_quality_pct: None,
            flight_plan_id: None,
        })
        .collect();
    app.store.write_points(&points).await.unwrap();
    let at = |s: i64| stamp(t0 + chrono::Duration::seconds(s));
    let raw = positions_at(&app, &org.viewer, &format!("at={}", at(125))).await;
    assert_eq!(
        placed(&raw["items"]),
        BTreeMap::from([(id.clone(), at(120))])
    );

    let archived = app
        .store
        .archive_before((t0 + day).date_naive(), t0 - day, &|_| {})
        .await
        .unwrap();
    assert!(!archived.is_empty());
    assert!(query_shards(&app, "SELECT count(*) AS n FROM telemetry")
        .await
        .iter()
        .all(|r| r.try_get::<i64>("", "n").unwrap() == 0));

    // 125 s: minute 2 ends after it (its last point is at 170 s), so minute 1's last point.
    let old = positions_at(&app, &org.viewer, &format!("at={}", at(125))).await;
    assert_eq!(
        placed(&old["items"]),
        BTreeMap::from([(id.clone(), at(110))])
    );
    let p = &old["items"][0];
    assert!((p["lat"].as_f64().unwrap() - 47.011).abs() < 1e-9, "{p}");
    assert!(
        (p["alt_m"].as_f64().unwrap() - 58.5).abs() < 1e-9,
        "minute 1's mean: {p}"
    );
    let later = positions_at(&app, &org.viewer, &format!("at={}", at(185))).await;
    assert_eq!(
        placed(&later["items"]),
        BTreeMap::from([(id.clone(), at(170))])
    );
    // Past the track's end by more than the window: nothing.
    let gone = positions_at(&app, &org.viewer, &format!("at={}", at(720))).await;
    assert!(gone["items"].as_array().unwrap().is_empty(), "{gone}");
    // The replay stream reads the same way.
    let res = app
        .get(
            &format!(
                "/api/v1/fleet/replay?from={}&to={}&step=60s",
                at(65),
                at(365)
            ),
            &org.viewer,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let seen: Vec<BTreeMap<String, String>> = text
        .lines()
        .map(|l| placed(&serde_json::from_str::<Value>(l).unwrap()["items"]))
        .collect();
    let expected: Vec<BTreeMap<String, String>> = [50, 110, 170, 230, 290]
        .iter()
        .map(|s| BTreeMap::from([(id.clone(), at(*s))]))
        .collect();
    assert_eq!(seen, expected);
}

mod replays_of_archived_days_come_from_the_minute_rollups {
    #[tokio::test]
    async fn sqlite() {
        super::replays_of_archived_days_come_from_the_minute_rollups(super::Backend::Sqlite).await
    }
    #[tokio::test]
    async fn postgres() {
        super::replays_of_archived_days_come_from_the_minute_rollups(super::Backend::Postgres).await
    }
}

both_backends!(
    positions_answer_each_drone_as_it_was_at_an_instant,
    a_replay_streams_one_frame_per_step_equal_to_positions_at,
    a_replay_refuses_what_it_cannot_answer_naming_the_parameter,
);
