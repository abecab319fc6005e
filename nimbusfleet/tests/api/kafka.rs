//! Telemetry through a real Kafka-compatible broker (tansu, one private broker per test):
//! HTTP → Kafka → `nimbusfleet ingest` worker processes → PostgreSQL shards, with exact
//! counts and a dead-lettered record (worker crashes, a down shard and a broker outage are in
//! `faults.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{body, spawn_kafka, test_settings, Backend, Org, TestApp};

pub(crate) const PARTITIONS: i32 = 4;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tansu_binary() -> PathBuf {
    std::env::var_os("NIMBUS_TEST_TANSU_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/nimbusfleet/tansu/bin/tansu")
        })
}

/// A tansu broker of this test's own, storing into SQLite in a temporary directory (so a
/// restart keeps topics, records and committed offsets).
///
/// Clients reach it through a small TCP relay on a fixed port, which the broker advertises:
/// a restarted broker listens on a new port, because its old one stays blocked by TIME_WAIT
/// sockets for a minute (tansu does not set SO_REUSEADDR).
pub struct PrivateBroker {
    relay_port: u16,
    backend_port: std::sync::Arc<std::sync::atomic::AtomicU16>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateBroker {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let relay_port = listener.local_addr().unwrap().port();
        let backend_port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
        // On a runtime of its own: the test's single-threaded runtime blocks in places
        // (Kafka polls), which must not stall the broker's traffic.
        let backend = backend_port.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                relay(listener, backend).await;
            });
        });
        let mut broker = Self {
            relay_port,
            backend_port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        broker.resume();
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.relay_port)
    }

    /// The broker's own logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.starts_with("  "))
                    .rev()
                    .take(40)
                    .collect();
                logs.push_str(&format!("== {}\n", entry.path().display()));
                logs.extend(tail.into_iter().rev().map(|l| format!("{l}\n")));
            }
        }
        logs
    }

    pub fn resume(&mut self) {
        let port = free_port();
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{}", self.relay_port),
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.path().join(format!("tansu-{port}.log")))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start tansu at {} ({e}); run the tests with `make test`, which installs it",
                    tansu_binary().display()
                )
            });
        self.child = Some(child);
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                self.backend_port
                    .store(port, std::sync::atomic::Ordering::Release);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("tansu did not start listening");
    }

    /// Stops the broker the polite way (SIGTERM), as an operator or Kubernetes would.
    pub fn stop(&mut self) {
        self.backend_port
            .store(0, std::sync::atomic::Ordering::Release);
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // The relay thread ends with the test process; with no broker it refuses everything.
        self.stop();
    }
}

/// Forwards each connection to the broker's current port; with no broker, connections are
/// refused the moment they arrive, as a stopped broker's would be.
async fn relay(
    listener: tokio::net::TcpListener,
    backend: std::sync::Arc<std::sync::atomic::AtomicU16>,
) {
    while let Ok((mut client, _)) = listener.accept().await {
        let port = backend.load(std::sync::atomic::Ordering::Acquire);
        tokio::spawn(async move {
            if port == 0 {
                return;
            }
            if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}

/// One `nimbusfleet ingest` process (the real binary), configured like the test app.
pub(crate) struct Worker {
    child: Child,
    pub(crate) metrics_port: u16,
}

impl Worker {
    pub(crate) fn start(app: &TestApp) -> Self {
        let s = &app.settings;
        let metrics_port = free_port();
        let shards: Vec<String> = s
            .storage
            .shard_urls
            .iter()
            .map(|u| u.expose_secret().to_owned())
            .collect();
        let child = Command::new(env!("CARGO_BIN_EXE_nimbusfleet"))
            .arg("ingest")
            .env(
                "NIMBUS__STORAGE__CATALOG_URL",
                s.storage.catalog_url.as_ref().unwrap().expose_secret(),
            )
            .env("NIMBUS__STORAGE__SHARD_URLS", shards.join(","))
            .env("NIMBUS__STORAGE__DATA_DIR", &s.storage.data_dir)
            .env("NIMBUS__AUTH__JWT_SECRET", crate::helpers::JWT_SECRET)
            .env("NIMBUS__KAFKA__BROKERS", s.kafka.brokers.as_ref().unwrap())
            .env("NIMBUS__INGEST__BIND", format!("127.0.0.1:{metrics_port}"))
            .env("NIMBUS__INGEST__SESSION_TIMEOUT_MS", "3000")
            .env("NIMBUS__INGEST__LAG_INTERVAL_MS", "200")
            .envs(redis_env(s))
            .env("NIMBUS__LOG__LEVEL", "warn")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the nimbusfleet binary");
        Self {
            child,
            metrics_port,
        }
    }

    pub(crate) fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub(crate) async fn metrics(&self) -> BTreeMap<String, f64> {
        metrics(&format!("http://127.0.0.1:{}/metrics", self.metrics_port)).await
    }

    /// Waits until the worker holds partitions, and returns how many.
    pub(crate) async fn wait_for_partitions(&self) -> usize {
        for _ in 0..300 {
            let assigned = self
                .metrics()
                .await
                .get("nimbusfleet_ingest_assigned_partitions")
                .copied()
                .unwrap_or(0.0) as usize;
            if assigned > 0 {
                return assigned;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the ingest worker got no partitions within 30 s");
    }
}

/// The samples of a Prometheus text exposition, by series (name and labels); empty when
/// the process does not answer.
pub(crate) async fn metrics(url: &str) -> BTreeMap<String, f64> {
    let Ok(res) = reqwest::get(url).await else {
        return BTreeMap::new();
    };
    let text = res.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The Redis settings of an app, as environment variables for a process of the same
/// installation.
fn redis_env(s: &nimbusfleet::settings::Settings) -> Vec<(&'static str, String)> {
    match &s.redis.url {
        Some(url) => vec![
            ("NIMBUS__REDIS__URL", url.expose_secret().to_owned()),
            ("NIMBUS__REDIS__KEY_PREFIX", s.redis.key_prefix.clone()),
        ],
        None => Vec::new(),
    }
}

/// A second API replica of the test app's installation: the real `nimbusfleet serve`,
/// producing to Kafka when the app does.
pub(crate) struct Replica {
    child: Child,
    pub(crate) address: String,
}

impl Replica {
    pub(crate) async fn start(app: &TestApp) -> Self {
        Self::start_with(app, &[], Stdio::inherit()).await
    }

    /// With further environment variables (settings) and where its logs go.
    pub(crate) async fn start_with(app: &TestApp, env: &[(&str, String)], logs: Stdio) -> Self {
        let s = &app.settings;
        let port = free_port();
        let shards: Vec<String> = s
            .storage
            .shard_urls
            .iter()
            .map(|u| u.expose_secret().to_owned())
            .collect();
        let child = Command::new(env!("CARGO_BIN_EXE_nimbusfleet"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env(
                "NIMBUS__STORAGE__CATALOG_URL",
                s.storage.catalog_url.as_ref().unwrap().expose_secret(),
            )
            .env("NIMBUS__STORAGE__SHARD_URLS", shards.join(","))
            .env("NIMBUS__AUTH__JWT_SECRET", crate::helpers::JWT_SECRET)
            .envs(
                s.kafka
                    .brokers
                    .iter()
                    .map(|b| ("NIMBUS__KAFKA__BROKERS", b.clone())),
            )
            .env("NIMBUS__LOG__LEVEL", "warn")
            .envs(redis_env(s))
            .envs(env.iter().map(|(k, v)| (*k, v.clone())))
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(logs)
            .spawn()
            .expect("the nimbusfleet binary");
        let replica = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/health/live", replica.address))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the replica did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        replica
    }
}

impl Replica {
    /// `kill -9`: whatever the process held in memory is gone.
    pub(crate) fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Metric names in a Prometheus text exposition.
async fn metric_names(url: &str) -> std::collections::BTreeSet<String> {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

/// The Kubernetes autoscalers and monitoring, the compose Prometheus and the Grafana
/// dashboard name metrics; every one of them must be one the binary exports, so that the
/// deployment files cannot drift from the code.
#[tokio::test]
async fn every_metric_the_deployment_files_name_is_exported_by_serve_or_ingest() {
    let listed = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/deploy-metrics.py"
        ))
        .output()
        .expect("python3 runs scripts/deploy-metrics.py");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let named: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        named.len() > 10,
        "the deployment files name metrics: {named:?}"
    );

    let broker = PrivateBroker::start().await;
    let app = kafka_app(&broker, |s| {
        s.redis.url = Some(crate::helpers::redis_url().into());
        s.redis.key_prefix = format!("nft:{}:", uuid::Uuid::new_v4().simple());
    })
    .await;
    let org = app.org("kafka-metrics").await;
    let drones = drones(&app, &org, 4).await;
    let worker = Worker::start(&app);
    worker.wait_for_partitions().await;
    let replica = Replica::start(&app).await;
    let through_replica = Sender {
        address: replica.address.clone(),
        ..Sender::new(&app, &org.operator, &drones, start_time(100))
    };
    assert_eq!(through_replica.send_all(0..400, 100).await, 0);
    let client = reqwest::Client::new();
    for path in ["/api/v1/drones", "/api/v1/fleet/summary", "/health/ready"] {
        client
            .get(format!("{}{path}", replica.address))
            .bearer_auth(&org.viewer)
            .send()
            .await
            .unwrap();
    }
    wait_for_rows(&app, 400, Duration::from_secs(60)).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let mut exported = metric_names(&format!("{}/metrics", replica.address)).await;
        exported.extend(
            metric_names(&format!("http://127.0.0.1:{}/metrics", worker.metrics_port)).await,
        );
        let missing: Vec<&String> = named.iter().filter(|n| !exported.contains(*n)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        missing.is_empty(),
        "named by the deployment files but exported by neither serve nor ingest: {missing:?}"
    );
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill_9();
    }
}

pub(crate) async fn kafka_app(
    broker: &PrivateBroker,
    tune: impl FnOnce(&mut nimbusfleet::settings::Settings),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(Backend::Postgres, dir.path()).await;
    settings.kafka.brokers = Some(broker.brokers());
    tune(&mut settings);
    let kafka = settings.kafka.clone();
    infra::kafka::create_topics(&kafka, PARTITIONS, 1)
        .await
        .expect("topics created");
    spawn_kafka(settings, dir).await
}

/// The rows `sql` selects in every shard, one shard after the other.
pub(crate) async fn query_shards(app: &TestApp, sql: &str) -> Vec<sea_orm::QueryResult> {
    let mut rows = Vec::new();
    for url in &app.settings.storage.shard_urls {
        let db = Database::connect(url.expose_secret()).await.unwrap();
        let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
        rows.extend(db.query_all(statement).await.unwrap());
        db.close().await.ok();
    }
    rows
}

/// Telemetry rows in every shard.
pub(crate) async fn stored_rows(app: &TestApp) -> i64 {
    query_shards(app, "SELECT count(*) AS n FROM telemetry")
        .await
        .iter()
        .map(|row| row.try_get::<i64>("", "n").unwrap())
        .sum()
}

async fn wait_for_rows(app: &TestApp, expected: i64, within: Duration) -> i64 {
    let deadline = Instant::now() + within;
    loop {
        let rows = stored_rows(app).await;
        if rows >= expected || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn drones(app: &TestApp, org: &Org, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let drone = app.drone(&org.operator, &format!("KAFKA-{i:04}")).await;
        ids.push(drone["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// Point `seq` of a stream over `drones`: each drone's points are 1 ms apart, all in the
/// last few minutes, so every (drone, ts) is distinct.
pub(crate) fn stream_point(drones: &[String], seq: usize, start: DateTime<Utc>) -> Value {
    let drone = &drones[seq % drones.len()];
    let ts = start + chrono::Duration::milliseconds((seq / drones.len()) as i64);
    json!({
        "drone_id": drone, "ts": ts.to_rfc3339(), "lat": 47.0 + (seq % 100) as f64 * 1e-4,
        "lon": 8.0, "alt_m": 50.0, "speed_mps": 10.0, "heading_deg": 90.0, "battery_pct": 80.0
    })
}

pub(crate) fn start_time(points_per_drone: usize) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::milliseconds(points_per_drone as i64 + 60_000)
}

#[tokio::test]
async fn http_to_kafka_to_two_workers_writes_every_point_exactly_once() {
    let broker = PrivateBroker::start().await;
    let app = kafka_app(&broker, |_| {}).await;
    let org = app.org("kafka-exact").await;
    let drones = drones(&app, &org, 20).await;
    assert!(app.kafka.is_some(), "serve must produce to Kafka");

    let workers = [Worker::start(&app), Worker::start(&app)];
    // Both members hold partitions before the stream starts, so no rebalance replays any.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = workers[0].wait_for_partitions().await;
        let b = workers[1].wait_for_partitions().await;
        if a + b == PARTITIONS as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "partitions were not shared: {a} + {b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let total = 20_000;
    let start = start_time(total / drones.len());
    let refused = Sender::new(&app, &org.operator, &drones, start)
        .send_all(0..total, 500)
        .await;
    assert_eq!(refused, 0);
    let rows = wait_for_rows(&app, total as i64, Duration::from_secs(60)).await;
    assert_eq!(rows, total as i64, "every accepted point is stored once");

    // Each worker wrote a share, and together they stored each point exactly once (a
    // rebalance may make a worker read a record again; its replay stores nothing).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut written = 0.0;
    for worker in &workers {
        let m = worker.metrics().await;
        let points = m["nimbusfleet_telemetry_points_written_total"];
        assert!(points > 0.0, "both workers share the load");
        assert!(m["nimbusfleet_ingest_points_consumed_total"] >= points);
        written += points;
    }
    assert_eq!(written, total as f64, "each point was written once");

    // The latest state and history are served as in embedded mode.
    let res = app
        .get(
            &format!("/api/v1/drones/{}/telemetry/latest", drones[0]),
            &org.viewer,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_undecodable_record_goes_to_the_dead_letter_topic_and_its_partition_moves_on() {
    let broker = PrivateBroker::start().await;
    let app = kafka_app(&broker, |_| {}).await;
    let org = app.org("kafka-poison").await;
    let drones = drones(&app, &org, 8).await;
    let worker = Worker::start(&app);
    worker.wait_for_partitions().await;

    let kafka = app.settings.kafka.clone();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.brokers.as_deref().unwrap())
        .create()
        .unwrap();
    // Poison every partition, between good points.
    let start = start_time(100);
    let sender = Sender::new(&app, &org.operator, &drones, start);
    sender.send_all(0..400, 100).await;
    for partition in 0..PARTITIONS {
        producer
            .send(
                FutureRecord::to(&kafka.topics.telemetry)
                    .partition(partition)
                    .key("poison")
                    .payload(b"{\"v\":1,\"points\":[{\"oops\":true}]}".as_slice()),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    sender.send_all(400..800, 100).await;

    let rows = wait_for_rows(&app, 800, Duration::from_secs(30)).await;
    assert_eq!(rows, 800, "the records after the poison were written");

    // Read the dead-letter topic's one partition directly (assigned, so no group to join).
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.brokers.as_deref().unwrap())
        .set("group.id", "dead-letter-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut partitions = rdkafka::TopicPartitionList::new();
    partitions
        .add_partition_offset(&kafka.topics.dead_letter, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let mut letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while letters.len() < PARTITIONS as usize && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let headers = message.headers().expect("dead letters carry headers");
            let reason = headers
                .iter()
                .find(|h| h.key == "nimbus-dead-letter-reason")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .expect("a reason");
            assert_eq!(
                message.payload().unwrap(),
                b"{\"v\":1,\"points\":[{\"oops\":true}]}"
            );
            letters.push(reason);
        }
    }
    let m = worker.metrics().await;
    assert_eq!(
        letters.len(),
        PARTITIONS as usize,
        "one dead letter per poisoned partition; worker counted {:?}",
        m.get("nimbusfleet_ingest_dead_lettered_total")
    );
    assert!(
        letters.iter().all(|r| r.contains("undecodable")),
        "{letters:?}"
    );
    assert_eq!(
        m["nimbusfleet_ingest_dead_lettered_total"],
        PARTITIONS as f64
    );
}

/// Posts telemetry from any task: points `range` of the stream in batches, retrying a batch
/// until it is accepted (a 503 means the batch was not taken).
#[derive(Clone)]
struct Sender {
    address: String,
    token: String,
    drones: Vec<String>,
    start: DateTime<Utc>,
}

impl Sender {
    fn new(app: &TestApp, token: &str, drones: &[String], start: DateTime<Utc>) -> Self {
        Self {
            address: app.address.clone(),
            token: token.to_owned(),
            drones: drones.to_vec(),
            start,
        }
    }

    /// Returns how many 503s (each with `Retry-After`) it met.
    async fn send_all(&self, range: std::ops::Range<usize>, batch: usize) -> usize {
        let client = reqwest::Client::new();
        let mut refused = 0;
        let mut seq = range.start;
        while seq < range.end {
            let end = (seq + batch).min(range.end);
            let points: Vec<Value> = (seq..end)
                .map(|i| stream_point(&self.drones, i, self.start))
                .collect();
            loop {
                let res = client
                    .post(format!("{}/api/v1/telemetry", self.address))
                    .bearer_auth(&self.token)
                    .json(&json!({ "points": points }))
                    .send()
                    .await
                    .unwrap();
                match res.status() {
                    StatusCode::ACCEPTED => {
                        let answer = body(res).await;
                        assert_eq!(answer["accepted"], points.len(), "{answer}");
                        break;
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(res.headers().contains_key("retry-after"));
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    other => panic!(
                        "unexpected {other}: {}",
                        res.text().await.unwrap_or_default()
                    ),
                }
            }
            seq = end;
        }
        refused
    }
}

/// One round of points for every drone at `ts` with `battery` %, sent until taken (a 503
/// while the broker is busy is retried).
async fn battery_round(
    app: &TestApp,
    org: &Org,
    drones: &[String],
    ts: DateTime<Utc>,
    battery: f64,
) {
    let points: Vec<Value> = drones
        .iter()
        .map(|d| {
            json!({"drone_id": d, "ts": ts.to_rfc3339(), "lat": 47.3, "lon": 8.5, "alt_m": 50.0,
                "speed_mps": 10.0, "heading_deg": 90.0, "battery_pct": battery})
        })
        .collect();
    for _ in 0..50 {
        let res = crate::telemetry::ingest(app, &org.operator, &points).await;
        if res.status() == StatusCode::ACCEPTED {
            return;
        }
        assert_eq!(
            res.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            body(res).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("a round of points was never accepted");
}

/// (drone, severity, state) of every stored battery alert.
async fn battery_alerts(app: &TestApp) -> Vec<(String, String, String)> {
    query_shards(
        app,
        "SELECT drone_id::text AS d, severity, state FROM alerts WHERE kind = 'battery_low'",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "d").unwrap(),
            r.try_get("", "severity").unwrap(),
            r.try_get("", "state").unwrap(),
        )
    })
    .collect()
}

/// Waits until every drone has exactly one battery alert and `done` holds for all of them.
async fn wait_for_alerts(
    app: &TestApp,
    drones: usize,
    done: impl Fn(&(String, String, String)) -> bool,
) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alerts = battery_alerts(app).await;
        if (alerts.len() >= drones && alerts.iter().all(&done)) || Instant::now() > deadline {
            return alerts;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The monitor runs in the ingest workers. Killing one mid-flight moves its drones to the
/// other, which rebuilds their state from the stored alerts: the alerts go on being
/// updated and resolved, none lost, none opened twice.
#[tokio::test]
async fn alerts_survive_a_kill_9_of_an_ingest_worker_neither_lost_nor_duplicated() {
    let broker = PrivateBroker::start().await;
    let app = kafka_app(&broker, |_| {}).await;
    let org = app.org("kafka-alerts").await;
    let drones = drones(&app, &org, 40).await;
    let mut workers = [Worker::start(&app), Worker::start(&app)];
    for worker in &workers {
        worker.wait_for_partitions().await;
    }
    let start = Utc::now() - chrono::Duration::seconds(120);
    let second = |s: i64| start + chrono::Duration::seconds(s);

    // 25 %: one warning per drone.
    battery_round(&app, &org, &drones, second(0), 25.0).await;
    let warned = wait_for_alerts(&app, drones.len(), |(_, sev, _)| sev == "warning").await;
    assert_eq!(
        warned.len(),
        drones.len(),
        "one warning per drone: {warned:?}"
    );

    // 10 % in a stream of rounds; one worker is killed -9 in the middle of it.
    for s in 1..=10 {
        if s == 4 {
            workers[0].kill_9();
        }
        if s == 7 {
            workers[0] = Worker::start(&app);
        }
        battery_round(&app, &org, &drones, second(s), 10.0).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let critical = wait_for_alerts(&app, drones.len(), |(_, sev, _)| sev == "critical").await;
    let mut per_drone: BTreeMap<&str, usize> = BTreeMap::new();
    for (drone, _, _) in &critical {
        *per_drone.entry(drone.as_str()).or_default() += 1;
    }
    assert_eq!(per_drone.len(), drones.len(), "none lost: {critical:?}");
    assert!(
        per_drone.values().all(|n| *n == 1),
        "none opened twice: {per_drone:?}"
    );
    assert!(
        critical
            .iter()
            .all(|(_, sev, state)| sev == "critical" && state == "open"),
        "{critical:?}"
    );

    // Charged again: every alert resolves, still one per drone.
    battery_round(&app, &org, &drones, second(11), 90.0).await;
    let resolved = wait_for_alerts(&app, drones.len(), |(_, _, state)| state == "resolved").await;
    assert_eq!(resolved.len(), drones.len(), "{resolved:?}");
    assert!(
        resolved.iter().all(|(_, _, state)| state == "resolved"),
        "{resolved:?}"
    );
}
