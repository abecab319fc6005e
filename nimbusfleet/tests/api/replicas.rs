//! Read replicas with read-your-writes, against a real PostgreSQL streaming replica.
//!
//! `make test` starts a private primary and a replica made of it by `pg_basebackup`
//! (scripts/private-postgres.sh) and names them in `NIMBUS_TEST_REPLICA_URLS`
//! (`<primary> <replica>`). Replay on the replica is paused and resumed by the scenario, so
//! it is one test: nothing else uses that pair.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;

use crate::helpers::{body, drone_body, spawn_with, test_settings_on, Backend, TestApp};

const READ_AFTER: &str = "nimbus-read-after";

fn replica_urls() -> Option<(String, String)> {
    let raw = std::env::var("NIMBUS_TEST_REPLICA_URLS").ok()?;
    let (primary, replica) = raw.trim().split_once(' ')?;
    Some((primary.to_owned(), replica.trim().to_owned()))
}

/// Settings for an API on the primary's databases `dbs`, reading from the replica's copies
/// of them, and the data directory they name.
struct Installation {
    settings: nimbusfleet::settings::Settings,
    dir: tempfile::TempDir,
}

async fn spawn_on_replica(
    dbs: &(String, Vec<String>),
    primary: &str,
    replica: &str,
    max_lag_ms: u64,
) -> TestApp {
    let Installation { settings, dir } = on_replica(dbs, primary, replica, max_lag_ms);
    spawn_with(Backend::Postgres, settings, dir).await
}

fn on_replica(
    dbs: &(String, Vec<String>),
    primary: &str,
    replica: &str,
    max_lag_ms: u64,
) -> Installation {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::base_settings(dir.path());
    let on = |base: &str, name: &str| format!("{base}/{name}");
    settings.storage.catalog_url = Some(on(primary, &dbs.0).into());
    settings.storage.shard_urls = dbs.1.iter().map(|n| on(primary, n).into()).collect();
    settings.storage.catalog_replica_urls = vec![on(replica, &dbs.0).into()];
    settings.storage.shard_replica_urls =
        dbs.1.iter().map(|n| vec![on(replica, n).into()]).collect();
    settings.storage.max_replica_lag_ms = max_lag_ms;
    // One installation: sessions (and the cache) are shared through Redis.
    settings.redis.url = Some(crate::helpers::redis_url().into());
    settings.redis.key_prefix = format!("nft:{}:", dbs.0);
    Installation { settings, dir }
}

fn database_names(settings: &nimbusfleet::settings::Settings) -> (String, Vec<String>) {
    let name = |url: &str| url.rsplit('/').next().unwrap().to_owned();
    use secrecy::ExposeSecret;
    let storage = &settings.storage;
    (
        name(storage.catalog_url.as_ref().unwrap().expose_secret()),
        storage
            .shard_urls
            .iter()
            .map(|u| name(u.expose_secret()))
            .collect(),
    )
}

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, body(res).await)
}

/// Waits until every replica check of `/health/ready` reads `want`.
async fn wait_for_replicas(app: &TestApp, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, health) = ready(app).await;
        let checks = health["checks"].as_object().unwrap();
        let replicas: Vec<_> = checks
            .iter()
            .filter(|(name, _)| name.contains("-replica-"))
            .collect();
        if replicas.len() == 3 && replicas.iter().all(|(_, v)| *v == want) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "replicas never became {want}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    read_after: Option<&str>,
    json: Option<&Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.request(method, path, Some(token));
    if let Some(read_after) = read_after {
        req = req.header(READ_AFTER, read_after);
    }
    if let Some(json) = json {
        req = req.json(json);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let value = res.json().await.unwrap_or(Value::Null);
    (status, headers, value)
}

fn read_after(headers: &HeaderMap) -> String {
    headers
        .get(READ_AFTER)
        .expect("a write answered with a read-after token")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn replay(replica: &DatabaseConnection, what: &str) {
    replica
        .execute_unprepared(&format!("SELECT pg_wal_replay_{what}()"))
        .await
        .unwrap();
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect()
}

/// The drone ids `GET /drones` lists for this caller, sorted.
async fn listed(app: &TestApp, token: &str, read_after: Option<&str>) -> Vec<String> {
    let (status, _, list) = send(app, Method::GET, "/api/v1/drones", token, read_after, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut ids: Vec<String> = ids(&list).into_iter().map(str::to_owned).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn reads_go_to_replicas_and_each_session_reads_its_own_writes() {
    let Some((primary, replica)) = replica_urls() else {
        eprintln!("skipped: NIMBUS_TEST_REPLICA_URLS is not set (make test sets it)");
        return;
    };
    let replica_admin = Database::connect(format!("{replica}/postgres"))
        .await
        .expect("the replica is not reachable");
    // A pause left by an earlier run that failed half-way would stall everything.
    replay(&replica_admin, "resume").await;

    // The installation's databases, created on the primary (and so on the replica).
    let dir = tempfile::tempdir().unwrap();
    let dbs = database_names(&test_settings_on(Backend::Postgres, &primary, dir.path()).await);
    // An app that tolerates any lag (so that a stale replica keeps answering, which is what
    // shows where a read went), and one on the same databases that skips a replica over
    // 300 ms behind.
    let tolerant = spawn_on_replica(&dbs, &primary, &replica, 60_000).await;
    let strict = spawn_on_replica(&dbs, &primary, &replica, 300).await;
    wait_for_replicas(&tolerant, "ok").await;
    wait_for_replicas(&strict, "ok").await;
    let org = tolerant.org("replicas").await;

    // Caught up: a write answers with a token, and a read with it finds the write.
    let (status, headers, a) = send(
        &tolerant,
        Method::POST,
        "/api/v1/drones",
        &org.admin,
        None,
        Some(&drone_body("RR-A")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let token_a = read_after(&headers);
    let a_id = a["id"].as_str().unwrap().to_owned();
    let (status, _, got) = send(
        &tolerant,
        Method::GET,
        &format!("/api/v1/drones/{a_id}"),
        &org.admin,
        Some(&token_a),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");

    // The replica stops replaying: what is written now exists only on the primary.
    replay(&replica_admin, "pause").await;
    let (status, headers, b) = send(
        &tolerant,
        Method::POST,
        "/api/v1/drones",
        &org.admin,
        Some(&token_a),
        Some(&drone_body("RR-B")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let token_b = read_after(&headers);
    let b_id = b["id"].as_str().unwrap().to_owned();
    let b_path = format!("/api/v1/drones/{b_id}");

    // Without the token a list goes to the replica, which has not seen drone B; with it,
    // to the primary of B's shard. (Single drones are answered by the response cache, which
    // is written through and filled from primaries, so they are fresh either way.)
    let mut both = vec![a_id.clone(), b_id.clone()];
    both.sort_unstable();
    let only_a = vec![a_id.clone()];
    assert_eq!(
        listed(&tolerant, &org.admin, None).await,
        only_a,
        "a read without a token is served by the paused replica"
    );
    assert_eq!(
        listed(&tolerant, &org.admin, Some(&token_b)).await,
        both,
        "the writer reads its own write"
    );
    let (status, _, _) = send(&tolerant, Method::GET, &b_path, &org.admin, None, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a single drone comes from the cache or the primary"
    );
    // The token is bound to the admin's session: another session presenting it, or a
    // token altered on the way, gets the replica's view.
    assert_eq!(
        listed(&tolerant, &org.operator, Some(&token_b)).await,
        only_a
    );
    let (payload, signature) = token_b.rsplit_once('.').unwrap();
    let tampered = format!("{}.{signature}", payload.replace("=0/", "=1/"));
    assert_ne!(tampered, token_b);
    assert_eq!(listed(&tolerant, &org.admin, Some(&tampered)).await, only_a);

    // Updates and deletes carry tokens too, and the token of B's write still covers A's
    // (tokens merge).
    let (status, headers, patched) = send(
        &tolerant,
        Method::PATCH,
        &format!("/api/v1/drones/{a_id}"),
        &org.admin,
        Some(&token_b),
        Some(&serde_json::json!({"name": "renamed while the replica sleeps"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let token_patch = read_after(&headers);
    let (_, _, a_now) = send(
        &tolerant,
        Method::GET,
        &format!("/api/v1/drones/{a_id}"),
        &org.admin,
        Some(&token_patch),
        None,
    )
    .await;
    assert_eq!(a_now["name"], "renamed while the replica sleeps");
    assert_eq!(
        listed(&tolerant, &org.admin, Some(&token_patch)).await,
        both,
        "the merged token still covers drone B"
    );

    // The strict app measures the paused replica falling behind, skips it and says so,
    // without failing readiness.
    let health = wait_for_replicas(&strict, "down").await;
    let (status, _) = ready(&strict).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a lagging replica does not fail readiness: {health}"
    );
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        listed(&strict, &org.admin, None).await,
        both,
        "a replica beyond the lag limit is skipped"
    );
    let metrics = strict.metrics_text().await;
    let lag = metrics
        .lines()
        .find(|l| l.starts_with("nimbusfleet_db_replica_lag_seconds{database=\"shard-0\""))
        .unwrap_or_else(|| panic!("no replica lag metric in {metrics}"));
    let seconds: f64 = lag.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds > 0.3, "{lag}");

    // Replay resumes: the replica catches up and serves reads without tokens again.
    replay(&replica_admin, "resume").await;
    wait_for_replicas(&strict, "ok").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while listed(&tolerant, &org.admin, None).await != both {
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A replica that cannot be reached is skipped, and reported without failing readiness.
    let mut lonely = on_replica(&dbs, &primary, &replica, 60_000);
    lonely.settings.storage.catalog_replica_urls.clear();
    lonely.settings.storage.shard_replica_urls =
        vec![vec!["postgres://postgres@127.0.0.1:1/nowhere"
            .to_owned()
            .into()]];
    let lonely = spawn_with(Backend::Postgres, lonely.settings, lonely.dir).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, health) = ready(&lonely).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["checks"]["shard-0-replica-0"], "down", "{health}");
    assert_eq!(listed(&lonely, &org.admin, None).await, both);
}
