use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{body, problem, TestApp};

async fn liveness_and_readiness_report_every_database(app: TestApp) {
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let json = body(ready).await;
    assert_eq!(json["status"], "ready");
    assert_eq!(json["checks"]["catalog"], "ok");
    assert_eq!(json["checks"]["shard-0"], "ok");
    assert_eq!(json["checks"]["shard-1"], "ok");
}

async fn metrics_count_requests_by_route_template_and_report_pools(app: TestApp) {
    let org = app.org("metrics").await;
    let drone = app.drone(&org.operator, "MET-1").await;
    let id = drone["id"].as_str().unwrap();
    app.get(&format!("/api/v1/drones/{id}"), &org.viewer).await;
    let text = app.metrics_text().await;
    assert!(
        text.contains(r#"nimbusfleet_http_requests_total{method="GET",route="/api/v1/drones/{id}",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("nimbusfleet_http_request_duration_seconds_bucket"));
    assert!(
        text.contains(r#"nimbusfleet_db_pool_connections{database="shard-1",state="max"} 5"#),
        "{text}"
    );
    assert!(!text.contains(id), "raw ids must not become labels");
}

async fn unknown_routes_answer_a_404_problem(app: TestApp) {
    let res = app
        .client
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn every_answer_carries_a_request_id(app: TestApp) {
    let res = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    let id = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id header");
    assert!(uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok());
}

both_backends!(
    liveness_and_readiness_report_every_database,
    metrics_count_requests_by_route_template_and_report_pools,
    unknown_routes_answer_a_404_problem,
    every_answer_carries_a_request_id,
);

#[tokio::test]
async fn readiness_names_an_unreachable_shard_and_stays_degraded() {
    use crate::helpers::{spawn_with, test_settings, Backend};
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(Backend::Postgres, dir.path()).await;
    let app = spawn_with(Backend::Postgres, settings, dir).await;
    // Terminate the connections of shard 1 and forbid new ones: the shard is "down".
    crate::helpers::block_database(&crate::helpers::shard_database_name(&app, 1)).await;
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    // A down shard makes only its own drones unavailable: the replica keeps serving the
    // others, so it stays in the load balancer (200), and says which shard is down.
    assert_eq!(ready.status(), StatusCode::OK);
    let json = body(ready).await;
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["checks"]["shard-1"], "down");
    assert_eq!(json["checks"]["catalog"], "ok");
}

/// SIGTERM to `serve` with a live stream open: the stream ends once the drain is over (its
/// client reconnects elsewhere) and the process exits then, well inside
/// `server.shutdown_timeout_s`, instead of waiting that long for the stream.
#[tokio::test]
async fn sigterm_ends_live_streams_and_the_server_stops_promptly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nimbusfleet"))
        .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("NIMBUS__SERVER__SHUTDOWN_TIMEOUT_S", "30")
        .env("NIMBUS__SERVER__DRAIN_DELAY_S", "1")
        .env("NIMBUS__LOG__LEVEL", "warn")
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // "NimbusFleet is running at http://127.0.0.1:PORT"
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split("running at ").nth(1).map(|u| u.trim().to_owned()))
        .expect("serve printed its address");
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "admin@demo.nimbusfleet.local", "password": "demo-admin-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let token = body(login).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = client
        .get(format!("{base}/api/v1/live"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));

    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), stream.chunk())
        .await
        .expect("the live stream ended")
        .unwrap()
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        rest.contains(": the server is stopping; reconnect"),
        "{rest}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "stopping took {took:?}: the open stream held the graceful stop up"
    );
}
