//! Fault scenarios with real processes — `nimbusfleet serve` and `ingest`, tansu,
//! redis-server and PostgreSQL, all on 127.0.0.1 — each bounded in time and traffic and
//! each ending with an exact count of acknowledged against stored points, keyed by
//! `(drone_id, ts)`: a point is acknowledged when a 202 took it without a per-point error.
//!
//! Every scenario prints one `fault:` line with its figures (run with `--no-capture` to see
//! them). `NIMBUS_FAULT_OUTAGE_S` shortens or lengthens the outages (default 30 s for a
//! shard, 20 s for the broker and Redis).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

use crate::helpers::{
    block_database, body, redis_settings, redis_url, shard_database_name, spawn_with, Backend, Org,
    TestApp,
};
use crate::kafka::{
    drones, kafka_app, query_shards, start_time, stream_point, PrivateBroker, Replica, Worker,
    PARTITIONS,
};
use crate::redis::PrivateRedis;

/// A point's identity: its drone and its timestamp in microseconds.
type Key = (String, i64);

fn outage(default_s: u64) -> Duration {
    let seconds = std::env::var("NIMBUS_FAULT_OUTAGE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_s);
    Duration::from_secs(seconds)
}

fn key_of(point: &Value) -> Key {
    let drone = point["drone_id"].as_str().unwrap().to_owned();
    let ts: DateTime<Utc> = point["ts"].as_str().unwrap().parse().unwrap();
    (drone, ts.timestamp_micros())
}

/// What the senders were told.
#[derive(Default)]
struct Ledger {
    acked: HashSet<Key>,
    /// Points a 202 refused one by one (`shard_unavailable`).
    refused_points: usize,
    /// 503 answers, each with `Retry-After`.
    unavailable: usize,
    /// The 503s by their `detail` (which dependency refused, or an overload).
    unavailable_by_detail: BTreeMap<String, usize>,
    /// When each 503 was asked for, and how long it took to arrive.
    refusals: Vec<(Instant, Duration)>,
    /// Requests that got no answer at all (a killed server).
    no_answer: usize,
    /// When the last 202 and the last 503 arrived.
    last_accepted: Option<Instant>,
    last_refused: Option<Instant>,
}

impl Ledger {
    fn acked(&self) -> usize {
        self.acked.len()
    }

    /// The slowest 503 among the requests sent after `since`.
    fn slowest_refusal_since(&self, since: Instant) -> Duration {
        self.refusals
            .iter()
            .filter(|(sent, _)| *sent >= since)
            .map(|(_, took)| *took)
            .max()
            .unwrap_or_default()
    }
}

/// One client posting a stream of points over `drones` in batches; several tasks may run
/// one stream, taking batch after batch.
#[derive(Clone)]
struct Stream {
    address: String,
    token: String,
    drones: Vec<String>,
    start: DateTime<Utc>,
    batch: usize,
    /// Points of the stream, at most.
    total: usize,
    next_batch: Arc<AtomicUsize>,
    /// Whether a batch answered 503 is sent again until taken (as a client would), or
    /// dropped.
    retry: bool,
}

impl Stream {
    fn new(address: &str, token: &str, drones: &[String], batch: usize, total: usize) -> Self {
        Self {
            address: address.to_owned(),
            token: token.to_owned(),
            drones: drones.to_vec(),
            start: start_time(total / drones.len().max(1)),
            batch,
            total,
            next_batch: Arc::default(),
            retry: true,
        }
    }

    /// Sends until the stream is exhausted, `stop` is set, or the server stops answering.
    async fn run(self, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        'batches: while !stop.load(Ordering::Acquire) {
            let first = self.next_batch.fetch_add(1, Ordering::AcqRel) * self.batch;
            if first >= self.total {
                return;
            }
            let points: Vec<Value> = (first..(first + self.batch).min(self.total))
                .map(|seq| stream_point(&self.drones, seq, self.start))
                .collect();
            loop {
                let sent = Instant::now();
                let res = client
                    .post(format!("{}/api/v1/telemetry", self.address))
                    .bearer_auth(&self.token)
                    .json(&json!({ "points": points }))
                    .send()
                    .await;
                let Ok(res) = res else {
                    ledger.lock().unwrap().no_answer += 1;
                    return;
                };

                match res.status() {
                    StatusCode::ACCEPTED => {
                        let answer = body(res).await;
                        let refused: BTreeSet<usize> = answer["errors"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|e| {
                                assert_eq!(e["code"], "shard_unavailable", "{e}");
                                e["index"].as_u64().unwrap() as usize
                            })
                            .collect();
                        let mut ledger = ledger.lock().unwrap();
                        ledger.refused_points += refused.len();
                        ledger.last_accepted = Some(Instant::now());
                        for (i, point) in points.iter().enumerate() {
                            if !refused.contains(&i) {
                                ledger.acked.insert(key_of(point));
                            }
                        }
                        continue 'batches;
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(res.headers().contains_key("retry-after"));
                        let took = sent.elapsed();
                        let detail = body(res).await["detail"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        {
                            let mut ledger = ledger.lock().unwrap();
                            ledger.unavailable += 1;
                            *ledger.unavailable_by_detail.entry(detail).or_default() += 1;
                            ledger.refusals.push((sent, took));
                            ledger.last_refused = Some(Instant::now());
                        }
                        if !self.retry || stop.load(Ordering::Acquire) {
                            continue 'batches;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    other => panic!(
                        "unexpected {other}: {}",
                        res.text().await.unwrap_or_default()
                    ),
                }
            }
        }
    }

    /// `tasks` senders of this stream, spawned.
    fn spawn(
        &self,
        tasks: usize,
        ledger: &Arc<Mutex<Ledger>>,
        stop: &Arc<AtomicBool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..tasks)
            .map(|_| tokio::spawn(self.clone().run(ledger.clone(), stop.clone())))
            .collect()
    }
}

async fn join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.unwrap();
    }
}

/// Every stored point's key, over every shard.
async fn stored_keys(app: &TestApp) -> HashSet<Key> {
    query_shards(
        app,
        "SELECT drone_id::text AS d, (EXTRACT(EPOCH FROM ts) * 1000000)::bigint AS us FROM telemetry",
    )
    .await
    .iter()
    .map(|row| {
        (
            row.try_get::<String>("", "d").unwrap(),
            row.try_get::<i64>("", "us").unwrap(),
        )
    })
    .collect()
}

/// How long after `since` the first 202 arrived; fails after `within`.
async fn accepted_again(ledger: &Mutex<Ledger>, since: Instant, within: Duration) -> Duration {
    loop {
        if ledger
            .lock()
            .unwrap()
            .last_accepted
            .is_some_and(|at| at > since)
        {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "no batch was accepted again within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Acknowledged points not stored, waiting up to `within` for queues and workers to drain.
async fn lost(app: &TestApp, ledger: &Ledger, within: Duration) -> (usize, usize) {
    let deadline = Instant::now() + within;
    loop {
        let stored = stored_keys(app).await;
        let lost = ledger.acked.iter().filter(|k| !stored.contains(*k)).count();
        if lost == 0 || Instant::now() > deadline {
            return (lost, stored.len());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn unblock_database(name: &str) {
    let base = std::env::var("NIMBUS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    admin.close().await.ok();
}

/// An app on PostgreSQL sharing the test Redis under a prefix of its own, so that the
/// `serve` processes started beside it accept its users' tokens.
async fn postgres_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let settings = redis_settings(Backend::Postgres, dir.path(), &redis_url()).await;
    spawn_with(Backend::Postgres, settings, dir).await
}

/// The drones of `drones` on `shard`.
fn on_shard(app: &TestApp, drones: &[String], shard: u16) -> Vec<String> {
    drones
        .iter()
        .filter(|d| {
            let id = domain::DroneId::from_uuid(d.parse().unwrap());
            app.store.slot_map().shard_of(id).0 == shard
        })
        .cloned()
        .collect()
}

/// Posts one new point for `drone` and returns how long after its `202` it appeared in the
/// drone's raw history (which is never cached; the latest state is, for 10 s). Fails when
/// it does not appear within 10 s.
async fn probe_visibility(address: &str, token: &str, drone: &str) -> Duration {
    let client = reqwest::Client::new();
    let ts = Utc::now();
    let point = json!({
        "drone_id": drone, "ts": ts.to_rfc3339(), "lat": 47.5, "lon": 8.5, "alt_m": 80.0,
        "speed_mps": 5.0, "heading_deg": 10.0, "battery_pct": 70.0
    });
    let res = client
        .post(format!("{address}/api/v1/telemetry"))
        .bearer_auth(token)
        .json(&json!({ "points": [point] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "a healthy shard's point is taken"
    );
    let accepted = Instant::now();
    loop {
        let res = client
            .get(format!("{address}/api/v1/drones/{drone}/telemetry?limit=1"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let newest = body(res).await;
        let seen: Option<DateTime<Utc>> = newest["items"][0]["ts"]
            .as_str()
            .and_then(|t| t.parse().ok());
        if seen.is_some_and(|seen| seen.timestamp_micros() == ts.timestamp_micros()) {
            return accepted.elapsed();
        }
        assert!(
            accepted.elapsed() < Duration::from_secs(10),
            "a healthy shard's point stayed invisible: posted {ts}, newest {newest}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn kill_9_of_serve_mid_ingest_loses_no_acknowledged_point() {
    let app = postgres_app().await;
    let org = app.org("fault-kill-serve").await;
    let drones = drones(&app, &org, 50).await;
    // NIMBUS_FAULT_ACK=queued shows what the opt-in costs (it is not asserted then).
    let ack = std::env::var("NIMBUS_FAULT_ACK").unwrap_or_else(|_| "durable".into());
    let mut serve = Replica::start_with(
        &app,
        &[("NIMBUS__TELEMETRY__ACK", ack.clone())],
        Stdio::inherit(),
    )
    .await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let stream = Stream::new(&serve.address, &org.operator, &drones, 500, 1_000_000);
    let senders = stream.spawn(4, &ledger, &stop);
    let deadline = Instant::now() + Duration::from_secs(90);
    while ledger.lock().unwrap().acked() < 40_000 {
        assert!(Instant::now() < deadline, "the stream did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.kill_9();
    join(senders).await;

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let (lost, stored) = lost(&app, &ledger, Duration::ZERO).await;
    eprintln!(
        "fault: serve kill -9 (telemetry.ack={ack}): acknowledged {}, stored {stored}, lost {lost}, requests without an answer {}",
        ledger.acked(),
        ledger.no_answer
    );
    assert!(ledger.no_answer > 0, "the kill cut requests off");
    if ack == "durable" {
        assert_eq!(lost, 0, "every acknowledged point is stored");
    }
}

#[tokio::test]
async fn a_down_shard_refuses_only_its_own_points_and_loses_nothing() {
    let app = postgres_app().await;
    let org = app.org("fault-shard").await;
    let drones = drones(&app, &org, 24).await;
    let (shard0, shard1) = (on_shard(&app, &drones, 0), on_shard(&app, &drones, 1));
    assert!(
        !shard0.is_empty() && !shard1.is_empty(),
        "drones on both shards"
    );
    let serve = Replica::start(&app).await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{}{path}", serve.address))
            .bearer_auth(&org.operator)
            .send()
    };

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut mixed = Stream::new(&serve.address, &org.operator, &drones, 240, 10_000_000);
    mixed.retry = false;
    let senders = mixed.spawn(2, &ledger, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let down = outage(30);
    let shard1_db = shard_database_name(&app, 1);
    block_database(&shard1_db).await;
    let blocked = Instant::now();
    let before = ledger.lock().unwrap().acked();

    // Through the outage: a shard-0 drone's new point is visible within a second, every
    // time it is probed.
    let probe = &shard0[0];
    let mut slowest_visible = Duration::ZERO;
    let mut probes = 0;
    let mut checked_reads = false;
    while blocked.elapsed() < down {
        let visible = probe_visibility(&serve.address, &org.operator, probe).await;
        slowest_visible = slowest_visible.max(visible);
        probes += 1;

        if !checked_reads && blocked.elapsed() > Duration::from_secs(3) {
            checked_reads = true;
            // Only shard 1's points are refused: a batch of them alone is a 503.
            let only_shard1: Vec<Value> = (0..10)
                .map(|i| stream_point(&shard1, i, Utc::now() - chrono::Duration::seconds(5)))
                .collect();
            let res = client
                .post(format!("{}/api/v1/telemetry", serve.address))
                .bearer_auth(&org.operator)
                .json(&json!({ "points": only_shard1 }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(res.headers().contains_key("retry-after"));
            // Reads: the list says it is incomplete, a shard-1 drone is a 503, a shard-0
            // drone is served, the summary names the shard it could not count, and
            // readiness names the shard.
            let list = body(get("/api/v1/drones".into()).await.unwrap()).await;
            assert_eq!(list["incomplete"], true, "{list}");
            let res = get(format!("/api/v1/drones/{}", shard1[0])).await.unwrap();
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(res.headers().contains_key("retry-after"));
            let res = get(format!("/api/v1/drones/{}", shard0[0])).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let summary = body(get("/api/v1/fleet/summary".into()).await.unwrap()).await;
            assert_eq!(summary["incomplete"], true, "{summary}");
            assert_eq!(summary["missing_shards"], json!([1]), "{summary}");
            let ready = get("/health/ready".into()).await.unwrap();
            assert_eq!(ready.status(), StatusCode::OK, "degraded, still serving");
            assert_eq!(body(ready).await["checks"]["shard-1"], "down");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (during, refused_during) = {
        let l = ledger.lock().unwrap();
        (l.acked() - before, l.refused_points)
    };
    unblock_database(&shard1_db).await;
    let restored = Instant::now();

    // Shard 1 takes points again by itself.
    let recovery = loop {
        let refused = ledger.lock().unwrap().refused_points;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if ledger.lock().unwrap().refused_points == refused {
            break restored.elapsed();
        }
        assert!(
            restored.elapsed() < Duration::from_secs(30),
            "shard 1 did not come back"
        );
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    join(senders).await;

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let (lost, stored) = lost(&app, &ledger, Duration::from_secs(30)).await;
    let shard1_acked = ledger
        .acked
        .iter()
        .filter(|(d, _)| shard1.contains(d))
        .count();
    eprintln!(
        "fault: shard 1 down {} s: acknowledged {} ({during} during the outage, {shard1_acked} of shard 1), refused per point {refused_during}, stored {stored}, lost {lost}; a shard-0 point visible within {} ms at worst ({probes} probes); shard 1 taking points again {} ms after restore",
        down.as_secs(),
        ledger.acked(),
        slowest_visible.as_millis(),
        recovery.as_millis()
    );
    assert!(
        checked_reads,
        "the outage lasted long enough to check the reads"
    );
    assert!(
        during > 0,
        "other shards' points were acknowledged during the outage"
    );
    assert!(
        refused_during > 0,
        "the down shard's points were refused per point"
    );
    assert!(
        slowest_visible <= Duration::from_secs(1),
        "visible within a second"
    );
    assert_eq!(lost, 0, "every acknowledged point is stored");
    drop(serve);
}

#[tokio::test]
async fn kill_9_of_ingest_workers_loses_and_duplicates_nothing_and_the_lag_drains() {
    let broker = PrivateBroker::start().await;
    let app = kafka_app(&broker, |_| {}).await;
    let org = app.org("fault-kill-ingest").await;
    let drones = drones(&app, &org, 200).await;
    let total = 200_000;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let stream = Stream::new(&app.address, &org.operator, &drones, 1000, total);
    let senders = stream.spawn(2, &ledger, &stop);

    // Kill -9 the worker each time another sixth of the stream is acknowledged, and start
    // it again at once.
    let mut worker = Worker::start(&app);
    let mut max_lag = 0.0_f64;
    for kill in 1..=3 {
        let threshold = total * (kill + 1) / 6;
        let deadline = Instant::now() + Duration::from_secs(120);
        while ledger.lock().unwrap().acked() < threshold {
            assert!(
                Instant::now() < deadline,
                "the stream stalled before kill {kill}"
            );
            let m = worker.metrics().await;
            max_lag = max_lag.max(
                m.get("nimbusfleet_ingest_group_lag_records")
                    .copied()
                    .unwrap_or(0.0),
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        worker.kill_9();
        eprintln!("kill -9 #{kill} with {threshold} of {total} points acknowledged");
        worker = Worker::start(&app);
    }
    join(senders).await;
    let acked = ledger.lock().unwrap().acked();
    assert_eq!(acked, total, "the sender retries 503s until taken");

    // The group-wide lag shows the backlog and drains without an operator.
    let deadline = Instant::now() + Duration::from_secs(120);
    let drained = loop {
        let m = worker.metrics().await;
        let lag = m.get("nimbusfleet_ingest_group_lag_records").copied();
        max_lag = max_lag.max(lag.unwrap_or(0.0));
        if lag == Some(0.0) && stored_keys(&app).await.len() >= total {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the lag did not drain: {:?}\n{}",
            m.iter()
                .filter(|(k, _)| k.contains("ingest_"))
                .collect::<Vec<_>>(),
            broker.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let (lost, stored) = lost(&app, &ledger, Duration::ZERO).await;
    let stored_keys = stored_keys(&app).await;
    let unexpected = stored_keys
        .iter()
        .filter(|k| !ledger.acked.contains(*k))
        .count();

    // Everything is committed: a fresh worker re-reads at most one batch per partition.
    worker.terminate();
    let fresh = Worker::start(&app);
    fresh.wait_for_partitions().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reread = fresh.metrics().await["nimbusfleet_ingest_points_consumed_total"];
    let batch_max = app.settings.ingest.batch_max_points as f64;
    eprintln!(
        "fault: ingest worker kill -9 x3: acknowledged {acked}, stored {stored}, lost {lost}, stored but never acknowledged {unexpected}, group lag peaked at {max_lag} records and drained {} ms after the last 202, a fresh worker re-read {reread} points",
        drained
            .saturating_duration_since(ledger.last_accepted.unwrap_or(drained))
            .as_millis()
    );
    assert_eq!(lost, 0, "0 lost");
    // Rows are keyed (drone_id, ts), so a row cannot be stored twice; what could go wrong
    // is a point stored that no client sent.
    assert_eq!(stored, acked, "0 duplicated, nothing unexpected");
    assert!(max_lag > 0.0, "the group-wide lag showed the backlog");
    assert!(
        reread <= f64::from(PARTITIONS) * batch_max,
        "a fresh worker re-read {reread} points"
    );
}

#[tokio::test]
async fn a_down_shard_parks_its_points_in_kafka_and_the_rest_flow() {
    let broker = PrivateBroker::start().await;
    let app = kafka_app(&broker, |_| {}).await;
    let org = app.org("fault-park").await;
    let drones = drones(&app, &org, 24).await;
    let (shard0, shard1) = (on_shard(&app, &drones, 0), on_shard(&app, &drones, 1));
    assert!(
        !shard0.is_empty() && !shard1.is_empty(),
        "drones on both shards"
    );
    let worker = Worker::start(&app);
    worker.wait_for_partitions().await;
    // The API caches its drones, so points of shard 1 are still taken while it is down.
    let warm = Stream::new(&app.address, &org.operator, &drones, 240, 2_400);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    join(warm.spawn(1, &ledger, &stop)).await;

    let stream = Stream::new(&app.address, &org.operator, &drones, 240, 10_000_000);
    let senders = stream.spawn(2, &ledger, &stop);
    let shard1_db = shard_database_name(&app, 1);
    block_database(&shard1_db).await;
    let blocked = Instant::now();
    let down = outage(30).min(Duration::from_secs(15));
    let probe = &shard0[0];
    let mut slowest_visible = Duration::ZERO;
    while blocked.elapsed() < down {
        let visible = probe_visibility(&app.address, &org.operator, probe).await;
        slowest_visible = slowest_visible.max(visible);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    unblock_database(&shard1_db).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    join(senders).await;

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let (lost, stored) = lost(&app, &ledger, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let m = worker.metrics().await;
        if m.get("nimbusfleet_ingest_parked_records") == Some(&0.0) || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let parked = m
        .get("nimbusfleet_ingest_parked_points_total{shard=\"1\"}")
        .copied()
        .unwrap_or(0.0);
    let replayed = m
        .get("nimbusfleet_ingest_replayed_points_total{shard=\"1\"}")
        .copied()
        .unwrap_or(0.0);
    eprintln!(
        "fault: shard 1 down {} s with Kafka: acknowledged {}, parked {parked} points of shard 1 and replayed {replayed}, stored {stored}, lost {lost}; a shard-0 point visible within {} ms at worst",
        down.as_secs(),
        ledger.acked(),
        slowest_visible.as_millis()
    );
    assert!(parked > 0.0, "shard 1's points were parked");
    assert!(replayed >= parked, "and replayed");
    assert_eq!(
        m.get("nimbusfleet_ingest_parked_records"),
        Some(&0.0),
        "nothing left parked"
    );
    assert!(
        slowest_visible <= Duration::from_secs(1),
        "the other shard's points kept flowing"
    );
    assert_eq!(lost, 0, "every acknowledged point is stored");
}

#[tokio::test]
async fn a_stopped_broker_gives_fast_503s_recovers_by_itself_and_loses_nothing() {
    let mut broker = PrivateBroker::start().await;
    let app = kafka_app(&broker, |s| {
        s.kafka.queue_max_records = 50;
    })
    .await;
    let org = app.org("fault-broker").await;
    let drones = drones(&app, &org, 20).await;
    let worker = Worker::start(&app);
    worker.wait_for_partitions().await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let stream = Stream::new(&app.address, &org.operator, &drones, 200, 10_000_000);
    let senders = stream.spawn(2, &ledger, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;

    broker.stop();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Degraded, not out of the load balancer: every replica shares the brokers, and reads
    // still work.
    let ready = reqwest::get(app.url("/health/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(body(ready).await["status"], "degraded");
    tokio::time::sleep(outage(20).saturating_sub(stopped.elapsed())).await;
    // Once the producer knows the brokers are down (the first second), every 503 is fast.
    let (refused_during, slowest) = {
        let l = ledger.lock().unwrap();
        (
            l.unavailable,
            l.slowest_refusal_since(stopped + Duration::from_secs(1)),
        )
    };
    broker.resume();
    let resumed = Instant::now();
    let recovery = accepted_again(&ledger, resumed, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Release);
    join(senders).await;

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let (lost, stored) = lost(&app, &ledger, Duration::from_secs(90)).await;
    eprintln!(
        "fault: broker stopped {} s: acknowledged {}, stored {stored}, lost {lost}; {refused_during} 503s during the outage, the slowest in {} ms; producing again {} ms after the broker came back",
        outage(20).as_secs(),
        ledger.acked(),
        slowest.as_millis(),
        recovery.as_millis()
    );
    assert!(refused_during > 0, "the outage was visible as 503s");
    assert!(
        slowest < Duration::from_secs(1),
        "503s arrive in well under a second"
    );
    assert_eq!(lost, 0, "every acknowledged point is stored");
    let ready = reqwest::get(app.url("/health/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stopped_redis_refuses_sessions_fast_keeps_drone_keys_working_and_loses_nothing() {
    let mut redis = PrivateRedis::start_persistent();
    let dir = tempfile::tempdir().unwrap();
    let settings = redis_settings(Backend::Postgres, dir.path(), &redis.url()).await;
    let app = spawn_with(Backend::Postgres, settings, dir).await;
    let org: Org = app.org("fault-redis").await;
    let drones = drones(&app, &org, 8).await;
    let mut keys = Vec::new();
    for drone in &drones {
        let key = body(
            app.post(
                &format!("/api/v1/drones/{drone}/api-keys"),
                &org.admin,
                &json!({}),
            )
            .await,
        )
        .await;
        keys.push(key["secret"].as_str().unwrap().to_owned());
    }
    let log = dir_log();
    let serve =
        Replica::start_with(&app, &[], Stdio::from(std::fs::File::create(&log).unwrap())).await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    // Each drone with its own key, as an autopilot sends; and a user's token on all of them.
    let mut senders = Vec::new();
    for (drone, key) in drones.iter().zip(&keys) {
        senders.extend(
            Stream::new(
                &serve.address,
                key,
                std::slice::from_ref(drone),
                50,
                1_000_000,
            )
            .spawn(1, &ledger, &stop),
        );
    }
    let by_user = Arc::new(Mutex::new(Ledger::default()));
    let user_stream = Stream::new(&serve.address, &org.operator, &drones, 100, 1_000_000);
    let user_senders = user_stream.spawn(1, &by_user, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;

    redis.stop();
    let stopped = Instant::now();
    // Log lines about Redis or sessions (an overloaded machine adds unrelated ones).
    let redis_lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("redis") || l.contains("session")
            })
            .count()
    };
    let lines_before = redis_lines();
    let drone_refusals_before = ledger.lock().unwrap().unavailable_by_detail.clone();
    tokio::time::sleep(outage(20)).await;
    let (user_refused, user_slowest) = {
        let l = by_user.lock().unwrap();
        (
            l.unavailable,
            l.slowest_refusal_since(stopped + Duration::from_secs(1)),
        )
    };
    // The drone-key 503s of the outage, by detail: an authentication refusal would mean the
    // drone keys depended on Redis; an overloaded queue (a busy CI machine) would not.
    let drone_refusals: BTreeMap<String, usize> = ledger
        .lock()
        .unwrap()
        .unavailable_by_detail
        .iter()
        .map(|(detail, n)| {
            (
                detail.clone(),
                n - drone_refusals_before.get(detail).unwrap_or(&0),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let log_lines = redis_lines() - lines_before;
    let outage_s = stopped.elapsed().as_secs() as usize;
    redis.resume();
    let resumed = Instant::now();
    let recovery = accepted_again(&by_user, resumed, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    join(senders).await;
    join(user_senders).await;

    let mut all = Ledger::default();
    all.acked
        .extend(ledger.lock().unwrap().acked.iter().cloned());
    all.acked
        .extend(by_user.lock().unwrap().acked.iter().cloned());
    let (lost, stored) = lost(&app, &all, Duration::from_secs(30)).await;
    eprintln!(
        "fault: Redis stopped {} s: acknowledged {} ({} by drone keys), stored {stored}, lost {lost}; drone-key batches refused {drone_refusals:?}; user-token 503s {user_refused}, the slowest in {} ms, back {} ms after Redis; {log_lines} log lines during the outage",
        stopped.elapsed().as_secs(),
        all.acked(),
        ledger.lock().unwrap().acked(),
        user_slowest.as_millis(),
        recovery.as_millis()
    );
    let refused_for_auth = drone_refusals
        .iter()
        .filter(|(detail, _)| !detail.starts_with("the telemetry queue is full"))
        .map(|(_, n)| n)
        .sum::<usize>();
    assert_eq!(
        refused_for_auth, 0,
        "drone keys need no Redis: {drone_refusals:?}"
    );
    assert!(user_refused > 0, "sessions fail closed");
    assert!(user_slowest < Duration::from_secs(1), "and fast");
    // Each refusal site logs at most once per 10 s (api::logging::Throttle and the Redis
    // adapter's own), a dozen sites at most, while the refusals come by the hundred.
    assert!(
        log_lines <= 2 * outage_s + 5 && log_lines < user_refused,
        "refusals are not logged one by one: {log_lines} lines about Redis or sessions in {outage_s} s, {user_refused} refusals"
    );
    assert_eq!(lost, 0, "every acknowledged point is stored");
    drop(serve);
}

fn dir_log() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "nimbusfleet-fault-{}.log",
        uuid::Uuid::new_v4().simple()
    ))
}
