//! Redis-backed behaviour: three replicas sharing PostgreSQL and Redis must act as one
//! service, and a Redis outage must fail closed for sessions and open for caches.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    body, drone_body, problem, redis_settings, spawn_replicas, spawn_with, Backend, TestApp,
    PASSWORD,
};
use crate::live::Events;
use crate::telemetry::{flushed, ingest, point};

/// A redis-server of this test's own, to stop and start at will.
pub(crate) struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    /// With an append-only file here (fsync on every write), a restart keeps the data.
    persistent: Option<tempfile::TempDir>,
}

impl PrivateRedis {
    pub(crate) fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = PrivateRedis {
            port,
            child: None,
            persistent: None,
        };
        redis.resume();
        redis
    }

    /// A server that keeps its data across a restart, as a production Redis with an
    /// append-only file does: a stop is an outage, not the loss of every session.
    pub(crate) fn start_persistent() -> PrivateRedis {
        let mut redis = PrivateRedis::start();
        redis.stop();
        redis.persistent = Some(tempfile::tempdir().unwrap());
        redis.resume();
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn resume(&mut self) {
        let port = self.port.to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""];
        let dir = self
            .persistent
            .as_ref()
            .map(|d| d.path().display().to_string());
        match &dir {
            Some(dir) => args.extend([
                "--dir",
                dir,
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ]),
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (make test installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("private redis-server did not start");
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn status(app: &TestApp, path: &str, token: &str) -> StatusCode {
    app.get(path, token).await.status()
}

#[tokio::test]
async fn a_logout_on_one_replica_is_refused_by_every_replica_within_a_second() {
    let apps = spawn_replicas(Backend::Postgres, 3).await;
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let org = a.org("replicas").await;
    let token = a.token(&org.admin_email, PASSWORD).await;
    assert_eq!(status(b, "/api/v1/auth/me", &token).await, StatusCode::OK);
    let res = c
        .request(Method::POST, "/api/v1/auth/logout", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let refused_by = Instant::now() + Duration::from_secs(1);
    for app in [a, b] {
        loop {
            if status(app, "/api/v1/auth/me", &token).await == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                Instant::now() < refused_by,
                "a replica still accepts a logged-out token"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_point_posted_to_one_replica_reaches_a_live_stream_on_another() {
    let apps = spawn_replicas(Backend::Postgres, 3).await;
    let org = apps[0].org("fanout").await;
    let drone = apps[0].drone(&org.operator, "FAN-1").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = Events::open(&apps[1], "max_hz=10", &org.viewer).await;
    // Give the replica's Redis subscription a moment to be established.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = ingest(
        &apps[0],
        &org.operator,
        &[point(&drone, chrono::Utc::now(), 47.0, 8.0)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(stream.positions(Duration::from_secs(3)).await, vec![drone]);
}

/// The monitor runs where a point is written; its alert reaches the streams of every
/// replica, and one replica's stream replays it to a client that missed it there.
#[tokio::test]
async fn an_alert_raised_on_one_replica_reaches_and_replays_on_another() {
    let apps = spawn_replicas(Backend::Postgres, 2).await;
    let org = apps[0].org("alert-fanout").await;
    let drone = apps[0].drone(&org.operator, "AF-1").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = Events::open(&apps[1], "max_hz=10", &org.viewer).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut low = point(&drone, chrono::Utc::now(), 47.0, 8.0);
    low["battery_pct"] = json!(9.0);
    let res = ingest(&apps[0], &org.operator, &[low]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let alert = stream.next_named("alert", Duration::from_secs(5)).await;
    let alert = alert.expect("the alert, on the other replica");
    assert_eq!(alert["alert"]["kind"], "battery_low");
    assert_eq!(alert["alert"]["severity"], "critical");
    // Acknowledged through the other replica: the first replica's streams hear of it, and
    // a client that reconnects there with the raise's id is given the acknowledgement.
    let raised_id = stream.last_id.clone().expect("an event id");
    let id = alert["alert"]["id"].as_str().unwrap();
    let res = apps[1]
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &org.operator,
            &json!({"note": "on it"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = Events::resume(&apps[0], "max_hz=10", &org.viewer, Some(&raised_id)).await;
    let replayed = again.next_named("alert", Duration::from_secs(3)).await;
    assert_eq!(replayed.expect("replayed")["change"], "acknowledged");
}

#[tokio::test]
async fn a_free_plan_gets_its_rate_in_total_across_replicas() {
    let apps = spawn_replicas(Backend::Postgres, 3).await;
    let org = apps[0].org_on("free", Some(domain::org::Plan::Free)).await;
    let started = Instant::now();
    let window = Duration::from_secs(3);
    let senders = apps.iter().flat_map(|app| {
        let token = org.viewer.clone();
        (0..3).map(move |_| {
            let token = token.clone();
            async move {
                let (mut ok, mut limited) = (0u32, 0u32);
                while started.elapsed() < window {
                    let res = app.get("/api/v1/organization", &token).await;
                    match res.status() {
                        StatusCode::OK => ok += 1,
                        StatusCode::TOO_MANY_REQUESTS => {
                            assert!(res.headers().contains_key("retry-after"));
                            limited += 1;
                        }
                        other => panic!(
                            "unexpected {other}: {}",
                            res.text().await.unwrap_or_default()
                        ),
                    }
                }
                (ok, limited)
            }
        })
    });
    let results = futures::future::join_all(senders).await;
    let elapsed = started.elapsed().as_secs_f64();
    let ok: u32 = results.iter().map(|r| r.0).sum();
    let limited: u32 = results.iter().map(|r| r.1).sum();
    let expected = 50.0 + 10.0 * elapsed;
    assert!(limited > 0, "the limit was never reached");
    assert!(
        (f64::from(ok) - expected).abs() <= expected * 0.10,
        "{ok} requests allowed in {elapsed:.2} s; expected {expected:.0} ± 10 % (burst 50 + 10/s)"
    );
}

#[tokio::test]
async fn rate_limit_headers_are_on_every_answer() {
    let apps = spawn_replicas(Backend::Sqlite, 1).await;
    let app = &apps[0];
    let org = app.org_on("headers", Some(domain::org::Plan::Free)).await;
    let first = app.get("/api/v1/organization", &org.viewer).await;
    assert_eq!(first.headers()["ratelimit-limit"], "50");
    let remaining: u32 = first.headers()["ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining < 50);
    let json = body(first).await;
    assert_eq!(json["rate_limit"]["requests_per_second"], 10);
    assert_eq!(json["rate_limit"]["burst"], 50);
    let error = app
        .get(
            &format!("/api/v1/drones/{}", uuid::Uuid::new_v4()),
            &org.viewer,
        )
        .await;
    assert_eq!(error.status(), StatusCode::NOT_FOUND);
    assert!(
        error.headers().contains_key("ratelimit-remaining"),
        "errors carry the headers too"
    );
    let mut refused = None;
    for _ in 0..60 {
        let res = app.get("/api/v1/organization", &org.viewer).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
    }
    let refused = refused.expect("the burst of 50 runs out");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert!(refused.headers().contains_key("retry-after"));
    problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn a_read_after_a_write_is_never_stale_through_any_replica() {
    let apps = spawn_replicas(Backend::Postgres, 3).await;
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let org = a.org("cache").await;
    let drone = a.drone(&org.operator, "C-1").await;
    let path = format!("/api/v1/drones/{}", drone["id"].as_str().unwrap());
    for app in [a, b, c] {
        assert_eq!(body(app.get(&path, &org.viewer).await).await["version"], 1);
    }
    for (round, (writer, status)) in [(b, "maintenance"), (c, "grounded"), (a, "active")]
        .into_iter()
        .enumerate()
    {
        let res = writer
            .patch(&path, &org.operator, &json!({ "status": status }))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        for reader in [a, b, c] {
            let json = body(reader.get(&path, &org.viewer).await).await;
            assert_eq!(json["status"], status);
            assert_eq!(json["version"], round as i64 + 2);
        }
    }
    // Flight plans: a transition on one replica is what the others read next.
    let plan = body(
        a.post(
            "/api/v1/flight-plans",
            &org.operator,
            &crate::flight_plans::plan_body(drone["id"].as_str().unwrap()),
        )
        .await,
    )
    .await;
    let plan_path = format!("/api/v1/flight-plans/{}", plan["id"].as_str().unwrap());
    assert_eq!(
        body(b.get(&plan_path, &org.viewer).await).await["state"],
        "draft"
    );
    c.request(
        Method::POST,
        &format!("{plan_path}/submit"),
        Some(&org.operator),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        body(b.get(&plan_path, &org.viewer).await).await["state"],
        "submitted"
    );
    // A deleted drone is gone everywhere.
    assert_eq!(
        c.request(
            Method::POST,
            &format!("{plan_path}/cancel"),
            Some(&org.operator)
        )
        .send()
        .await
        .unwrap()
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        a.delete(&path, &org.admin).await.status(),
        StatusCode::NO_CONTENT
    );
    for app in [a, b, c] {
        problem(
            app.get(&path, &org.viewer).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        problem(
            app.get(&plan_path, &org.viewer).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let metrics = b.metrics_text().await;
    assert!(
        metrics.contains(
            r#"nimbusfleet_cache_lookups_total{cache="drone",layer="redis",outcome="hit"}"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let apps = spawn_replicas(Backend::Postgres, 2).await;
    let org = apps[0].org("idem").await;
    let send = |app: &TestApp, key: &str, serial: &str| {
        app.request(Method::POST, "/api/v1/drones", Some(&org.operator))
            .header("idempotency-key", key)
            .json(&drone_body(serial))
            .send()
    };
    let first = send(&apps[0], "key-1", "IDEM-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    let again = send(&apps[1], "key-1", "IDEM-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await["id"], first["id"]);
    let other = send(&apps[0], "key-1", "IDEM-2").await.unwrap();
    let p = problem(other, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "idempotency_key_reused");
    // Ten concurrent requests with one key run once.
    let racers = (0..10).map(|i| send(&apps[i % 2], "key-2", "IDEM-RACE"));
    let answers = futures::future::join_all(racers).await;
    let mut ids = std::collections::HashSet::new();
    for res in answers {
        let res = res.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.insert(body(res).await["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one drone created");
    let list = body(apps[0].get("/api/v1/drones?q=IDEM-RACE", &org.viewer).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Telemetry and transitions take keys too.
    let drone = first["id"].as_str().unwrap();
    let batch = json!({"points": [point(drone, chrono::Utc::now(), 47.0, 8.0)]});
    for _ in 0..2 {
        let res = apps[0]
            .request(Method::POST, "/api/v1/telemetry", Some(&org.operator))
            .header("idempotency-key", "telemetry-1")
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let metrics = apps[0]
        .client
        .get(apps[0].url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("nimbusfleet_telemetry_points_accepted_total 1"),
        "the replay did not ingest twice"
    );
}

#[tokio::test]
async fn sessions_fail_closed_and_caches_fail_open_while_redis_is_down() {
    let mut redis = PrivateRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let settings = redis_settings(Backend::Postgres, dir.path(), &redis.url()).await;
    let app = spawn_with(Backend::Postgres, settings, dir).await;
    let org = app.org("outage").await;
    let drone = app.drone(&org.operator, "OUT-1").await;
    let id = drone["id"].as_str().unwrap();
    let key = body(
        app.post(
            &format!("/api/v1/drones/{id}/api-keys"),
            &org.admin,
            &json!({}),
        )
        .await,
    )
    .await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/drones/{id}");
    assert_eq!(status(&app, &path, &org.viewer).await, StatusCode::OK);

    redis.stop();
    // A replica answers from its copy of a session it read for up to NEAR_TTL.
    tokio::time::sleep(infra::redis::NEAR_TTL).await;
    let started = Instant::now();
    let res = app.get(&path, &org.viewer).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "fail fast, not after a long timeout"
    );
    assert!(res.headers().contains_key("retry-after"));
    problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    // A drone's key needs no session: reads go to the database and the limiter decides locally.
    for _ in 0..3 {
        assert_eq!(status(&app, &path, &secret).await, StatusCode::OK);
    }
    let ingested = ingest(&app, &secret, &[point(id, chrono::Utc::now(), 47.0, 8.0)]).await;
    assert_eq!(ingested.status(), StatusCode::ACCEPTED);
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    // Degraded, not out of the load balancer: drone keys and the database still answer.
    assert_eq!(ready.status(), StatusCode::OK);
    let ready = body(ready).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["redis"], "down");

    redis.resume();
    // Everything recovers without a restart; the new server lost the sessions, so log in again.
    let mut recovered = false;
    for _ in 0..50 {
        let ready = app
            .client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap();
        if body(ready).await["status"] == "ready" {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "readiness did not recover");
    let token = app.token(&org.admin_email, PASSWORD).await;
    assert_eq!(status(&app, &path, &token).await, StatusCode::OK);
    flushed(&app).await;
    assert_eq!(
        status(&app, &format!("{path}/telemetry/latest"), &token).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_drone_retired_on_one_replica_is_refused_telemetry_by_the_others_within_seconds() {
    let apps = spawn_replicas(Backend::Postgres, 2).await;
    let org = apps[0].org("directory").await;
    let drone = apps[0].drone(&org.operator, "DIR-1").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    async fn send(app: &TestApp, token: &str, drone: &str) -> StatusCode {
        ingest(app, token, &[point(drone, chrono::Utc::now(), 47.0, 8.0)])
            .await
            .status()
    }
    assert_eq!(
        send(&apps[1], &org.operator, &drone).await,
        StatusCode::ACCEPTED
    );
    apps[0]
        .patch(
            &format!("/api/v1/drones/{drone}"),
            &org.operator,
            &json!({"status": "retired"}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while send(&apps[1], &org.operator, &drone).await != StatusCode::UNPROCESSABLE_ENTITY {
        assert!(
            Instant::now() < deadline,
            "replica B still takes telemetry for a retired drone"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
