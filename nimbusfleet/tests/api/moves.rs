//! Online slot moves (`admin move-slots`): a range of slots moves from shard 1 to a third
//! shard added to a running installation, while a sender ingests steadily and a client
//! registers, edits and plans drones. Afterwards every acknowledged point and every
//! acknowledged write is on the shard the new map names, nothing of the range is left on
//! the source, and no request failed except, briefly, with a 503 during the fence.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::shard::{ShardId, SlotRange};
use domain::DroneId;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{body, spawn_with, test_settings, Backend, Org, TestApp};

const INSTALLATION_ADMIN: &str = "ops@installation.test";

const RANGE: SlotRange = SlotRange {
    first: 512,
    last: 767,
};

/// What the clients saw: acknowledged points and drones, and every failed request.
#[derive(Default)]
struct Ledger {
    acked_points: HashSet<(String, i64)>,
    drones: BTreeSet<String>,
    plans: BTreeSet<String>,
    unavailable: usize,
    failures: Vec<String>,
    requests: usize,
}

/// An installation recorded with 2 shards, then configured with a third, empty one (as
/// `admin add-shard` prepares it): the app routes by the recorded 2-shard map.
async fn grown_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(Backend::Postgres, dir.path()).await;
    let first = spawn_with(
        Backend::Postgres,
        settings.clone(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    assert_eq!(first.store.shard_count(), 2);
    drop(first);
    let third = settings.storage.shard_urls[1]
        .expose_secret()
        .replace("_s1", "_s2");
    let (base, name) = third.rsplit_once('/').unwrap();
    let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    admin.close().await.ok();
    assert_eq!(migrations::prepare_shard(&third).await.unwrap(), 0);
    settings.storage.shard_urls.push(third.into());
    settings.auth.installation_admins = vec![INSTALLATION_ADMIN.to_uppercase()];
    let app = spawn_with(Backend::Postgres, settings, dir).await;
    assert_eq!(app.store.shard_count(), 3, "the added shard is configured");
    assert_eq!(
        app.store.slot_map().to_spec(),
        "0-511:0,512-1023:1",
        "and owns nothing yet"
    );
    app
}

fn point(drone: &str, ts: chrono::DateTime<Utc>) -> Value {
    json!({
        "drone_id": drone, "ts": ts.to_rfc3339(), "lat": 47.4, "lon": 8.5, "alt_m": 60.0,
        "speed_mps": 8.0, "heading_deg": 90.0, "battery_pct": 75.0
    })
}

/// Sends a batch with a point for each drone every 100 ms until `stop`.
async fn send(
    app: Arc<TestApp>,
    token: String,
    drones: Vec<String>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = 0i64;
    let start = Utc::now() - chrono::Duration::minutes(5);
    while !stop.load(Ordering::Relaxed) {
        let ts = start + chrono::Duration::milliseconds(tick * 10);
        let points: Vec<Value> = drones.iter().map(|d| point(d, ts)).collect();
        let res = app
            .post("/api/v1/telemetry", &token, &json!({ "points": points }))
            .await;
        let status = res.status();
        let answer = body(res).await;
        {
            let mut ledger = ledger.lock().unwrap();
            ledger.requests += 1;
            match status {
                StatusCode::ACCEPTED => {
                    let refused: HashSet<usize> = answer["errors"]
                        .as_array()
                        .map(|errors| {
                            errors
                                .iter()
                                .filter_map(|e| e["index"].as_u64().map(|i| i as usize))
                                .collect()
                        })
                        .unwrap_or_default();
                    if !refused.is_empty() {
                        ledger.unavailable += 1;
                    }
                    for (i, d) in drones.iter().enumerate() {
                        if !refused.contains(&i) {
                            ledger
                                .acked_points
                                .insert((d.clone(), ts.timestamp_micros()));
                        }
                    }
                }
                StatusCode::SERVICE_UNAVAILABLE => ledger.unavailable += 1,
                other => ledger
                    .failures
                    .push(format!("POST /telemetry: {other} {answer}")),
            }
        }
        tick += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers a drone, renames it, reads it back, lists drones and plans a flight for the new
/// one, over and over, until `stop`.
async fn write(
    app: Arc<TestApp>,
    org_token: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let res = app
            .post(
                "/api/v1/drones",
                &org_token,
                &crate::helpers::drone_body(&format!("MOVE-W-{i:04}")),
            )
            .await;
        let status = res.status();
        let drone = body(res).await;
        let id = match status {
            StatusCode::CREATED => drone["id"].as_str().unwrap().to_owned(),
            StatusCode::SERVICE_UNAVAILABLE => {
                ledger.lock().unwrap().unavailable += 1;
                continue;
            }
            other => {
                ledger
                    .lock()
                    .unwrap()
                    .failures
                    .push(format!("POST /drones: {other} {drone}"));
                continue;
            }
        };
        ledger.lock().unwrap().drones.insert(id.clone());
        let res = app
            .patch(
                &format!("/api/v1/drones/{id}"),
                &org_token,
                &json!({ "name": format!("moved {i}") }),
            )
            .await;
        record(&ledger, "PATCH /drones", res).await;
        // Reads of what was just written, by id and in the list (read from whichever shard
        // holds the drone at that moment).
        let res = app.get(&format!("/api/v1/drones/{id}"), &org_token).await;
        if let Some(read) = record(&ledger, "GET /drones/{id}", res).await {
            if read["name"] != format!("moved {i}") {
                let mut ledger = ledger.lock().unwrap();
                ledger
                    .failures
                    .push(format!("GET /drones/{id} missed its write: {read}"));
            }
        }
        let res = app.get("/api/v1/drones?limit=20", &org_token).await;
        record(&ledger, "GET /drones", res).await;
        let plan = crate::flight_plans::plan_body(&id);
        let res = app.post("/api/v1/flight-plans", &org_token, &plan).await;
        if let Some(plan) = record(&ledger, "POST /flight-plans", res).await {
            ledger
                .lock()
                .unwrap()
                .plans
                .insert(plan["id"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn record(ledger: &Mutex<Ledger>, what: &str, res: reqwest::Response) -> Option<Value> {
    let status = res.status();
    let answer = body(res).await;
    let mut ledger = ledger.lock().unwrap();
    ledger.requests += 1;
    if status.is_success() {
        return Some(answer);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        ledger.unavailable += 1;
    } else {
        ledger.failures.push(format!("{what}: {status} {answer}"));
    }
    None
}

async fn count(url: &str, sql: &str) -> i64 {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    db.close().await.ok();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn keys_on(url: &str) -> HashSet<(String, i64)> {
    let db = Database::connect(url).await.unwrap();
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT drone_id::text, (EXTRACT(EPOCH FROM ts) * 1000000)::bigint FROM telemetry",
        ))
        .await
        .unwrap();
    db.close().await.ok();
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).unwrap(),
                r.try_get_by_index::<i64>(1).unwrap(),
            )
        })
        .collect()
}

fn shard_urls(app: &TestApp) -> Vec<String> {
    app.settings
        .storage
        .shard_urls
        .iter()
        .map(|u| u.expose_secret().to_owned())
        .collect()
}

/// Asserts that every point of `acked` is on its drone's shard by the current map and on no
/// other; the points of each shard.
async fn assert_on_their_shards(
    app: &TestApp,
    acked: &HashSet<(String, i64)>,
) -> Vec<HashSet<(String, i64)>> {
    let mut keys = Vec::new();
    for url in shard_urls(app) {
        keys.push(keys_on(&url).await);
    }
    let (mut lost, mut misplaced) = (0, 0);
    for key in acked {
        let home = usize::from(shard_of(app, &key.0).0);
        if !keys[home].contains(key) {
            lost += 1;
        }
        misplaced += keys
            .iter()
            .enumerate()
            .filter(|(i, k)| *i != home && k.contains(key))
            .count();
    }
    assert_eq!(
        (lost, misplaced),
        (0, 0),
        "acknowledged points lost or on a wrong shard"
    );
    keys
}

fn shard_of(app: &TestApp, drone: &str) -> ShardId {
    app.store
        .slot_map()
        .shard_of(DroneId::from_uuid(drone.parse().unwrap()))
}

#[tokio::test]
async fn slots_move_to_a_new_shard_while_points_and_writes_keep_coming() {
    let app = Arc::new(grown_app().await);
    let org: Org = app.org("moves").await;
    let mut fleet = Vec::new();
    for i in 0..60 {
        let drone = app.drone(&org.operator, &format!("MOVE-{i:03}")).await;
        fleet.push(drone["id"].as_str().unwrap().to_owned());
    }
    let in_range = |d: &String| {
        RANGE.contains(domain::shard::slot_of(DroneId::from_uuid(
            d.parse().unwrap(),
        )))
    };
    let moving = fleet.iter().filter(|d| in_range(d)).count();
    assert!(moving > 0, "some of the 60 drones are in slots {RANGE}");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    ledger.lock().unwrap().drones.extend(fleet.iter().cloned());
    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(send(
        app.clone(),
        org.operator.clone(),
        fleet.clone(),
        ledger.clone(),
        stop.clone(),
    ));
    let writer = tokio::spawn(write(
        app.clone(),
        org.operator.clone(),
        ledger.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let m = app.store.start_move(RANGE, ShardId(2)).await.unwrap();
    assert_eq!(
        (m.source, m.target, m.state.as_str()),
        (ShardId(1), ShardId(2), "copying")
    );
    let refused = app
        .store
        .start_move(SlotRange { first: 0, last: 10 }, ShardId(2))
        .await;
    assert!(
        refused.unwrap_err().to_string().contains("is not finished"),
        "one move at a time"
    );
    let done = app.store.run_move(m, &infra::Quiet).await.unwrap();
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    sender.await.unwrap();
    writer.await.unwrap();

    assert_eq!(done.state, "done");
    let map = app.store.slot_map();
    assert_eq!(map.version(), 2);
    assert_eq!(map.to_spec(), "0-511:0,512-767:2,768-1023:1");
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    println!(
        "move: {} drones of {} moved, {} rows copied, {} changes caught up, fence {:?} ms, \
         {:.1} s; {} requests, {} answered 503 (or refused a point), {} acknowledged points",
        done.progress.drones_copied,
        ledger.drones.len(),
        done.progress.rows_copied(),
        done.progress.changes,
        done.fence_ms,
        took.as_secs_f64(),
        ledger.requests,
        ledger.unavailable,
        ledger.acked_points.len()
    );
    assert!(
        ledger.failures.is_empty(),
        "requests failed: {:?}",
        ledger.failures
    );
    assert!(
        done.fence_ms.is_some_and(|ms| ms < 5_000),
        "fence {:?}",
        done.fence_ms
    );

    // Every acknowledged point is on its drone's shard by the new map, and only there.
    let urls = shard_urls(&app);
    let keys = assert_on_their_shards(&app, &ledger.acked_points).await;
    assert!(!keys[2].is_empty(), "points moved to the new shard");

    // Every acknowledged drone is on exactly the shard its slot maps to now.
    for drone in &ledger.drones {
        let id = DroneId::from_uuid(drone.parse().unwrap());
        assert_eq!(
            app.store.locate_drone(id).await.unwrap(),
            vec![shard_of(&app, drone)],
            "drone {drone}"
        );
    }
    // Nothing of the range is left on the source, and the logged changes are gone.
    let leftover = format!("'{{[{},{})}}'::int4multirange", RANGE.first, RANGE.last + 1);
    for table in [
        "drones",
        "flight_plans",
        "drone_latest",
        "telemetry",
        "nf_move_changes",
    ] {
        let column = if table == "drones" { "id" } else { "drone_id" };
        let n = count(
            &urls[1],
            &format!("SELECT count(*) FROM {table} WHERE nf_slot({column}) <@ {leftover}"),
        )
        .await;
        assert_eq!(n, 0, "{table} rows of slots {RANGE} left on the source");
    }
    // The API sees each drone and plan once, and the moved ones answer from their new shard.
    let listed = body(app.get("/api/v1/drones?limit=500", &org.viewer).await).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        ledger.drones.len()
    );
    let plans = body(app.get("/api/v1/flight-plans?limit=500", &org.viewer).await).await;
    assert_eq!(plans["items"].as_array().unwrap().len(), ledger.plans.len());
    let moved = fleet.iter().find(|d| in_range(d)).unwrap();
    let latest = app
        .get(
            &format!("/api/v1/drones/{moved}/telemetry?limit=1"),
            &org.viewer,
        )
        .await;
    assert_eq!(latest.status(), StatusCode::OK);
    assert_eq!(body(latest).await["items"].as_array().unwrap().len(), 1);

    // The installation's admins see the shards and the move; an organisation's admin does not.
    crate::helpers::problem(
        app.get("/api/v1/admin/shards", &org.admin).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    nimbusfleet::commands::create_org(
        app.state.repos.orgs.as_ref(),
        "Installation",
        domain::org::Plan::Free,
        INSTALLATION_ADMIN,
        "Ops",
        crate::helpers::PASSWORD.to_owned(),
    )
    .await
    .unwrap();
    let ops = app
        .token(INSTALLATION_ADMIN, crate::helpers::PASSWORD)
        .await;
    let shards = body(app.get("/api/v1/admin/shards", &ops).await).await;
    assert_eq!(shards["slot_map_version"], 2, "{shards}");
    assert_eq!(shards["shards"][1]["slots"], json!(["768-1023"]));
    assert_eq!(shards["shards"][2]["slots"], json!(["512-767"]));
    assert_eq!(shards["shards"][2]["slot_count"], 256);
    assert!(
        shards["shards"][2]["points_estimate"].as_i64().unwrap() > 0,
        "the target is analyzed after the move: {shards}"
    );
    assert_eq!(shards["moves"][0]["state"], "done");
    assert_eq!(shards["moves"][0]["slots"], "512-767");
    assert_eq!(
        shards["moves"][0]["drones_copied"],
        done.progress.drones_copied
    );

    // A writer holding the old map is refused by the source, never stored there.
    let stale = Database::connect(&urls[1]).await.unwrap();
    let insert = stale
        .execute_unprepared(&format!(
            "INSERT INTO telemetry (drone_id, org_id, ts, lat, lon, alt_m, speed_mps, heading_deg, battery_pct) \
             VALUES ('{moved}', '{}', now(), 0, 0, 0, 0, 0, 50)",
            org.id
        ))
        .await
        .unwrap_err();
    assert!(insert.to_string().contains("nf_moved_out"), "{insert}");

    // Rows of moved slots that are still on the source (between the switch and the
    // clean-up) are left out of its rollups, which would otherwise fail on the constraint.
    stale
        .execute_unprepared(&format!(
            "ALTER TABLE telemetry DROP CONSTRAINT nf_moved_out; \
             ALTER TABLE telemetry_rollup_dirty DROP CONSTRAINT nf_moved_out; \
             INSERT INTO telemetry (drone_id, org_id, ts, lat, lon, alt_m, speed_mps, heading_deg, battery_pct) \
             VALUES ('{moved}', '{}', date_trunc('minute', now()) - interval '30 minutes', 0, 0, 0, 0, 0, 50); \
             INSERT INTO telemetry_rollup_dirty (drone_id, minute) \
             VALUES ('{moved}', date_trunc('minute', now()) - interval '30 minutes'); \
             ALTER TABLE telemetry ADD CONSTRAINT nf_moved_out CHECK (NOT (nf_slot(drone_id) <@ {leftover})) NOT VALID; \
             ALTER TABLE telemetry_rollup_dirty ADD CONSTRAINT nf_moved_out CHECK (NOT (nf_slot(drone_id) <@ {leftover})) NOT VALID",
            org.id
        ))
        .await
        .unwrap();
    domain::ports::TelemetryStore::roll_up(&app.store, Utc::now(), chrono::Duration::days(7))
        .await
        .expect("a rollup round on a shard holding a finished move's rows");
    assert_eq!(
        count(
            &urls[1],
            &format!("SELECT count(*) FROM telemetry_1m WHERE drone_id = '{moved}'")
        )
        .await,
        0
    );
    stale.close().await.ok();
}

/// `admin move-slots` as an operator runs it, with the settings of `app`.
fn mover(app: &TestApp, args: &[&str], stop_at: Option<&str>) -> std::process::Command {
    let shards = shard_urls(app);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_nimbusfleet"));
    command
        .args(["admin", "move-slots"])
        .args(args)
        .env(
            "NIMBUS__STORAGE__CATALOG_URL",
            app.settings
                .storage
                .catalog_url
                .as_ref()
                .unwrap()
                .expose_secret(),
        )
        .env("NIMBUS__STORAGE__SHARD_URLS", shards.join(","))
        .env("NIMBUS__STORAGE__DATA_DIR", &app.settings.storage.data_dir)
        .env("NIMBUS__AUTH__JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("NIMBUS__LOG__LEVEL", "warn")
        .env_remove("NIMBUS_MOVE_STOP_AT");
    if let Some(at) = stop_at {
        command.env("NIMBUS_MOVE_STOP_AT", at);
    }
    command
}

/// Runs the mover until it stops at `at`, then `kill -9`s it.
async fn kill_mover_at(app: &TestApp, args: &[&str], at: &str) {
    use std::io::BufRead;
    let mut child = mover(app, args, Some(at))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let marker = format!("NIMBUS_MOVE_STOP_AT={at}");
    let seen = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if line.contains(&marker) {
                return Ok(());
            }
            lines.push(line);
        }
        Err(lines.join("\n"))
    });
    let seen = tokio::time::timeout(Duration::from_secs(120), seen)
        .await
        .expect("the mover reaches its stop point within 2 minutes")
        .unwrap();
    // SIGKILL: the mover gets no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(output) = seen {
        panic!("the mover ended before {at}: {output}");
    }
}

#[tokio::test]
async fn a_mover_killed_mid_copy_and_mid_cut_over_resumes_and_loses_nothing() {
    let app = grown_app().await;
    let org = app.org("resume").await;
    let mut fleet = Vec::new();
    // Until more than one chunk (50 drones) of them is in the moving slots.
    let in_range = |d: &String| {
        RANGE.contains(domain::shard::slot_of(DroneId::from_uuid(
            d.parse().unwrap(),
        )))
    };
    let mut i = 0;
    while fleet.iter().filter(|d| in_range(d)).count() < 60 {
        let drone = app.drone(&org.operator, &format!("RES-{i:03}")).await;
        fleet.push(drone["id"].as_str().unwrap().to_owned());
        i += 1;
    }
    let moving: Vec<String> = fleet.iter().filter(|d| in_range(d)).cloned().collect();
    assert!(
        moving.len() > 50,
        "more than one chunk of drones moves: {}",
        moving.len()
    );
    let mut acked = HashSet::new();
    let mut post = |ts: chrono::DateTime<Utc>| {
        let points: Vec<Value> = fleet.iter().map(|d| point(d, ts)).collect();
        for d in &fleet {
            acked.insert((d.clone(), ts.timestamp_micros()));
        }
        json!({ "points": points })
    };
    let t0 = Utc::now() - chrono::Duration::minutes(2);
    let batch = post(t0);
    assert_eq!(
        app.post("/api/v1/telemetry", &org.operator, &batch)
            .await
            .status(),
        StatusCode::ACCEPTED
    );

    // Killed after the first chunk: the move is recorded, the source still serves.
    kill_mover_at(&app, &["--slots", "512-767", "--to", "2"], "copy").await;
    let m = app
        .store
        .active_move()
        .await
        .unwrap()
        .expect("an unfinished move");
    assert_eq!(
        (m.state.as_str(), m.progress.drones_copied),
        ("copying", 50)
    );
    let batch = post(t0 + chrono::Duration::seconds(1));
    assert_eq!(
        app.post("/api/v1/telemetry", &org.operator, &batch)
            .await
            .status(),
        StatusCode::ACCEPTED,
        "points keep coming while the move waits"
    );

    // Killed with the source fenced and the map not moved: writes to the range are
    // refused (503), never stored on the source; reads go on.
    kill_mover_at(&app, &["--resume"], "fence").await;
    let m = app.store.active_move().await.unwrap().unwrap();
    assert_eq!(m.state, "cutover");
    let one = json!({ "points": [point(&moving[0], t0 + chrono::Duration::seconds(2))] });
    let res = app.post("/api/v1/telemetry", &org.operator, &one).await;
    let status = res.status();
    let answer = body(res).await;
    assert!(
        status == StatusCode::SERVICE_UNAVAILABLE
            || answer["errors"][0]["code"] == "shard_unavailable",
        "a fenced slot's point is refused, not stored: {status} {answer}"
    );
    let read = app
        .get(&format!("/api/v1/drones/{}", moving[0]), &org.viewer)
        .await;
    assert_eq!(read.status(), StatusCode::OK, "reads go on while fenced");

    let out = mover(&app, &["--resume"], None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("done"), "{printed}");
    app.store.refresh_routing().await.unwrap();
    assert_eq!(app.store.slot_map().version(), 2);
    assert!(app.store.active_move().await.unwrap().is_none());
    let again = mover(&app, &["--resume"], None).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to resume"));

    // The point refused during the fence goes in now, on the new shard (the embedded
    // writer that kept retrying it backs off, so it may take a few seconds to answer).
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .post("/api/v1/telemetry", &org.operator, &one)
        .await
        .status()
        != StatusCode::ACCEPTED
    {
        assert!(
            Instant::now() < deadline,
            "the point is never taken after the move"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    acked.insert((
        moving[0].clone(),
        (t0 + chrono::Duration::seconds(2)).timestamp_micros(),
    ));
    assert_on_their_shards(&app, &acked).await;
    for drone in &fleet {
        let id = DroneId::from_uuid(drone.parse().unwrap());
        assert_eq!(
            app.store.locate_drone(id).await.unwrap(),
            vec![shard_of(&app, drone)]
        );
    }
}
