//! Webhooks from the outside: an admin subscribes a local receiver, alerts are raised by
//! points sent through the API, and the receiver checks what arrives — the Standard
//! Webhooks headers and an HMAC-SHA256 signature it verifies on its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::{body, fields, problem, spawn_with, test_settings, Backend, Org, TestApp};
use crate::telemetry::ingest;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A minimal HTTP/1.1 endpoint on 127.0.0.1: answers each request with the next status of
/// `statuses` (the last one repeats) and keeps what it received.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: Vec<u16>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/nimbus", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, statuses) = (log.clone(), statuses.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut headers = Vec::new();
                        loop {
                            let mut h = String::new();
                            reader.read_line(&mut h).await.unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (name, value) = h.split_once(':').unwrap();
                            headers
                                .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                        }
                        let len: usize = headers
                            .iter()
                            .find(|(n, _)| n == "content-length")
                            .map(|(_, v)| v.parse().unwrap())
                            .unwrap_or(0);
                        let mut buf = vec![0; len];
                        reader.read_exact(&mut buf).await.unwrap();
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(Received {
                                headers,
                                body: String::from_utf8(buf).unwrap(),
                            });
                            log.len()
                        };
                        let status = statuses[(n - 1).min(statuses.len() - 1)];
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
                        );
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, received }
    }

    /// What arrived once `ready` holds for it.
    async fn wait(&self, what: &str, ready: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..150 {
            let got = self.received.lock().unwrap().clone();
            if ready(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the receiver never got {what}: {:?}",
            self.received.lock().unwrap()
        );
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// Verifies a Standard Webhooks signature the way a receiver's library does.
fn verify(secret: &str, got: &Received) {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    let (id, ts) = (got.header("webhook-id"), got.header("webhook-timestamp"));
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{}", got.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert!(
        got.header("webhook-signature")
            .split(' ')
            .any(|s| s == expected),
        "signature {} is not {expected}",
        got.header("webhook-signature")
    );
    let sent: i64 = ts.parse().unwrap();
    assert!((Utc::now().timestamp() - sent).abs() < 60, "timestamp {ts}");
    assert_eq!(got.header("content-type"), "application/json");
}

async fn app_with(
    backend: Backend,
    tweak: impl FnOnce(&mut nimbusfleet::settings::Settings),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(backend, dir.path()).await;
    // The receiver listens on loopback.
    settings.webhooks.allow_private_addresses = true;
    settings.webhooks.poll_interval = Duration::from_millis(50);
    tweak(&mut settings);
    spawn_with(backend, settings, dir).await
}

/// A point just now at 47.3 N 8.5 E, 50 m, 10 m/s, with `battery` %.
async fn report(app: &TestApp, org: &Org, drone: &str, battery: f64) {
    let point = json!({"drone_id": drone, "ts": Utc::now().to_rfc3339(), "lat": 47.3,
        "lon": 8.5, "alt_m": 50.0, "speed_mps": 10.0, "heading_deg": 90.0,
        "battery_pct": battery});
    let res = ingest(app, &org.operator, &[point]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}

async fn subscribe(app: &TestApp, org: &Org, body: Value) -> (String, String) {
    let res = app.post("/api/v1/webhooks", &org.admin, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().contains_key("location"));
    let created = crate::helpers::body(res).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (created["id"].as_str().unwrap().to_owned(), secret)
}

async fn alert_changes_reach_a_subscribed_endpoint_signed(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let receiver = Receiver::start(vec![204]).await;
    let org = app.org("hooks").await;
    let (hook, secret) = subscribe(
        &app,
        &org,
        json!({"url": receiver.url, "description": "pager", "kinds": ["battery_low"],
            "min_severity": "critical"}),
    )
    .await;
    let shown = body(
        app.get(&format!("/api/v1/webhooks/{hook}"), &org.admin)
            .await,
    )
    .await;
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );
    assert_eq!(shown["kinds"], json!(["battery_low"]));
    assert_eq!(shown["enabled"], true);

    let drone = app.drone(&org.operator, "WH-1").await;
    let id = drone["id"].as_str().unwrap();
    // A warning is below the webhook's minimum severity; critical is not.
    report(&app, &org, id, 25.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 0, "a warning is not delivered");
    report(&app, &org, id, 10.0).await;
    let got = receiver.wait("alert.updated", |r| !r.is_empty()).await;
    verify(&secret, &got[0]);
    let payload = got[0].json();
    assert_eq!(payload["type"], "alert.updated", "{payload}");
    assert_eq!(payload["data"]["change"], "updated");
    let alert = &payload["data"]["alert"];
    assert_eq!(alert["kind"], "battery_low");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["drone_id"], drone["id"]);

    // A person resolving it is a change too.
    let alert_id = alert["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/api/v1/alerts/{alert_id}/resolve"),
            &org.operator,
            &json!({"note": "landed"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = receiver.wait("alert.resolved", |r| r.len() >= 2).await;
    verify(&secret, &got[1]);
    assert_eq!(got[1].json()["type"], "alert.resolved");
    assert_eq!(got[1].json()["data"]["alert"]["resolve_note"], "landed");
    assert_ne!(got[0].header("webhook-id"), got[1].header("webhook-id"));

    let deliveries = body(
        app.get(&format!("/api/v1/webhooks/{hook}/deliveries"), &org.admin)
            .await,
    )
    .await;
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{deliveries}");
    assert_eq!(items[0]["event_type"], "alert.resolved", "newest first");
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!(items[0]["attempts"], 1);
    assert_eq!(items[0]["response_status"], 204);
    assert_eq!(
        items[0]["id"].as_str().unwrap(),
        got[1].header("webhook-id")
    );
    assert!(items[0]["next_attempt_at"].is_null());
    let failed = body(
        app.get(
            &format!("/api/v1/webhooks/{hook}/deliveries?status=failed"),
            &org.admin,
        )
        .await,
    )
    .await;
    assert_eq!(failed["items"], json!([]));

    // Another organisation's alerts never reach it.
    let other = app.org("hooks-other").await;
    let theirs = app.drone(&other.operator, "WH-1").await;
    report(&app, &other, theirs["id"].as_str().unwrap(), 5.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 2);
}

mod alert_changes_reach_a_subscribed_endpoint_signed {
    use crate::helpers::Backend;

    #[tokio::test]
    async fn sqlite() {
        super::alert_changes_reach_a_subscribed_endpoint_signed(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres() {
        super::alert_changes_reach_a_subscribed_endpoint_signed(Backend::Postgres).await;
    }
}

/// An endpoint that fails is retried with the same message id until it answers.
#[tokio::test]
async fn a_failing_endpoint_gets_the_same_message_again_until_it_answers() {
    let app = app_with(Backend::Sqlite, |s| {
        s.webhooks.retry_base = Duration::from_millis(100);
    })
    .await;
    let receiver = Receiver::start(vec![500, 503, 200]).await;
    let org = app.org("retry").await;
    let (hook, secret) = subscribe(&app, &org, json!({"url": receiver.url})).await;
    let drone = app.drone(&org.operator, "RT-1").await;
    report(&app, &org, drone["id"].as_str().unwrap(), 20.0).await;
    let got = receiver.wait("three attempts", |r| r.len() >= 3).await;
    for attempt in &got {
        verify(&secret, attempt);
        assert_eq!(attempt.header("webhook-id"), got[0].header("webhook-id"));
        assert_eq!(attempt.body, got[0].body, "the same body on every attempt");
    }
    let delivered = loop {
        let page = body(
            app.get(&format!("/api/v1/webhooks/{hook}/deliveries"), &org.admin)
                .await,
        )
        .await;
        if page["items"][0]["status"] == "succeeded" {
            break page["items"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered["attempts"], 3);
    assert_eq!(delivered["response_status"], 200);
    let shown = body(
        app.get(&format!("/api/v1/webhooks/{hook}"), &org.admin)
            .await,
    )
    .await;
    assert!(
        shown["failing_since"].is_null(),
        "a success ends the streak"
    );
    assert_eq!(receiver.count(), 3, "nothing sent after the success");
}

/// An endpoint that fails for the whole retry window gets its webhook disabled, with the
/// reason shown to admins; enabling it again tries what is pending.
#[tokio::test]
async fn a_webhook_whose_endpoint_fails_for_the_whole_window_is_disabled() {
    let app = app_with(Backend::Sqlite, |s| {
        s.webhooks.retry_base = Duration::from_millis(100);
        s.webhooks.retry_max_delay = Duration::from_secs(1);
        s.webhooks.retry_for = Duration::from_secs(1);
    })
    .await;
    let receiver = Receiver::start(vec![503]).await;
    let org = app.org("disable").await;
    let (hook, _) = subscribe(&app, &org, json!({"url": receiver.url})).await;
    let drone = app.drone(&org.operator, "DS-1").await;
    report(&app, &org, drone["id"].as_str().unwrap(), 20.0).await;
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = body(
            app.get(&format!("/api/v1/webhooks/{hook}"), &org.admin)
                .await,
        )
        .await;
        if shown["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["enabled"], false, "{shown}");
    let reason = shown["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("HTTP 503"), "{reason}");
    assert!(!shown["failing_since"].is_null());
    let failed = body(
        app.get(
            &format!("/api/v1/webhooks/{hook}/deliveries?status=failed"),
            &org.admin,
        )
        .await,
    )
    .await;
    let d = &failed["items"][0];
    assert!(d["attempts"].as_i64().unwrap() >= 2, "{failed}");
    assert_eq!(d["response_status"], 503);
    assert_eq!(d["last_error"], "HTTP 503 Service Unavailable");

    // Disabled: new alerts are not queued for it.
    let attempts = receiver.count();
    report(&app, &org, drone["id"].as_str().unwrap(), 5.0).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), attempts);

    let res = app
        .patch(
            &format!("/api/v1/webhooks/{hook}"),
            &org.admin,
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let enabled = body(res).await;
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["disabled_reason"].is_null());
    assert!(enabled["failing_since"].is_null());
}

#[tokio::test]
async fn webhooks_are_for_admins_and_never_reach_private_addresses_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(Backend::Sqlite, dir.path()).await;
    let app = spawn_with(Backend::Sqlite, settings, dir).await;
    let org = app.org("hook-admin").await;
    let good = json!({"url": "https://hooks.example.com/nimbus", "kinds": ["link_lost"]});
    for token in [&org.operator, &org.viewer] {
        let res = app.post("/api/v1/webhooks", token, &good).await;
        problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app.get("/api/v1/webhooks", token).await;
        problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for (url, why) in [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://10.0.0.7/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[::1]:8080/", "IPv6 loopback"),
        ("http://localhost:8080/", "localhost"),
        ("ftp://hooks.example.com/", "not http"),
        ("https://user:pw@hooks.example.com/", "credentials"),
    ] {
        let res = app
            .post("/api/v1/webhooks", &org.admin, &json!({"url": url}))
            .await;
        let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(fields(&p), vec!["url"], "{why}: {p}");
    }
    let res = app
        .post(
            "/api/v1/webhooks",
            &org.admin,
            &json!({"url": "https://hooks.example.com/", "kinds": ["link_lost", "nope"]}),
        )
        .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&p), vec!["kinds[1]"]);
    let res = app.post("/api/v1/webhooks", &org.admin, &json!({})).await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&p), vec!["url"]);

    let (hook, _) = subscribe(&app, &org, good).await;
    let listed = body(app.get("/api/v1/webhooks", &org.admin).await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["min_severity"], "warning", "the default");
    assert!(listed["items"][0].get("secret").is_none());

    let other = app.org("hook-thief").await;
    let path = format!("/api/v1/webhooks/{hook}");
    problem(
        app.get(&path, &other.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        app.get(&format!("{path}/deliveries"), &other.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        app.delete(&path, &other.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let res = app
        .patch(&path, &org.admin, &json!({"url": "http://192.168.1.10/"}))
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .patch(
            &path,
            &org.admin,
            &json!({"kinds": [], "min_severity": "info", "description": "everything"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed = body(res).await;
    assert_eq!(changed["kinds"], json!([]));
    assert_eq!(changed["description"], "everything");
    assert_eq!(changed["version"], 2);
    let res = app
        .get(&format!("{path}/deliveries?status=sent"), &org.admin)
        .await;
    problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;

    let res = app.delete(&path, &org.admin).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    problem(
        app.get(&path, &org.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
