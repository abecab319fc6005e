//! Attacks an outsider, or a careless client, could make: each test reproduces one and
//! checks that it no longer works.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{body, problem, spawn, spawn_with, test_settings, Backend, TestApp, PASSWORD};
use crate::telemetry::point;

async fn api_key(app: &TestApp, admin: &str, drone: &str) -> Value {
    let res = app
        .post(
            &format!("/api/v1/drones/{drone}/api-keys"),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    body(res).await
}

/// A POST of `body` with an `Idempotency-Key`, with or without a token.
async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.request(Method::POST, path, token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn idempotency_keys_need_a_credential_are_scoped_to_it_and_replays_authenticate_again() {
    let app = spawn(Backend::Sqlite).await;
    let org = app.org("idem").await;

    // Without a credential a key does nothing: 401, and nothing is kept for a later caller.
    let res = post_with_key(
        &app,
        "/api/v1/drones",
        None,
        "k1",
        &crate::helpers::drone_body("IDEM-1"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let res = post_with_key(
        &app,
        "/api/v1/drones",
        Some(&org.operator),
        "k1",
        &crate::helpers::drone_body("IDEM-1"),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "the key was not taken by the 401"
    );
    let created = body(res).await;

    // The same key and body replays for the same user, and is another key for another one.
    let replay = post_with_key(
        &app,
        "/api/v1/drones",
        Some(&org.operator),
        "k1",
        &crate::helpers::drone_body("IDEM-1"),
    )
    .await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(body(replay).await["id"], created["id"]);
    let other = post_with_key(
        &app,
        "/api/v1/drones",
        Some(&org.admin),
        "k1",
        &crate::helpers::drone_body("IDEM-1"),
    )
    .await;
    problem(other, StatusCode::CONFLICT, "duplicate_serial").await;

    // Errors are not kept: after a 422, the same key runs again with a fixed body.
    let bad = post_with_key(
        &app,
        "/api/v1/drones",
        Some(&org.operator),
        "k2",
        &json!({"serial": ""}),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fixed = post_with_key(
        &app,
        "/api/v1/drones",
        Some(&org.operator),
        "k2",
        &json!({"serial": ""}),
    )
    .await;
    assert!(
        fixed.headers().get("idempotent-replayed").is_none(),
        "a 422 is not replayed"
    );

    // A replay authenticates again: after logout it is a 401, not the stored answer.
    let res = app
        .post("/api/v1/auth/logout", &org.operator, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let after_logout = post_with_key(
        &app,
        "/api/v1/drones",
        Some(&org.operator),
        "k1",
        &crate::helpers::drone_body("IDEM-1"),
    )
    .await;
    assert_eq!(after_logout.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replayed_key_creation_never_shows_the_secret_again() {
    let app = spawn(Backend::Sqlite).await;
    let org = app.org("idem-key").await;
    let drone = app.drone(&org.operator, "SECRET-1").await;
    let path = format!("/api/v1/drones/{}/api-keys", drone["id"].as_str().unwrap());
    let first = post_with_key(
        &app,
        &path,
        Some(&org.admin),
        "create-key",
        &json!({"name": "autopilot"}),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    let secret = first["secret"].as_str().unwrap().to_owned();
    let replay = post_with_key(
        &app,
        &path,
        Some(&org.admin),
        "create-key",
        &json!({"name": "autopilot"}),
    )
    .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let text = replay.text().await.unwrap();
    assert!(!text.contains(&secret), "the secret was replayed: {text}");
    let replay: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(replay["code"], "secret_not_replayable");
    assert!(replay["detail"]
        .as_str()
        .unwrap()
        .contains(first["id"].as_str().unwrap()));
    // One key exists, not two.
    let keys = body(app.get(&path, &org.admin).await).await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_account_and_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(Backend::Sqlite, dir.path()).await;
    settings.auth.login_attempts_per_account_per_minute = 5;
    settings.auth.login_attempts_per_client_per_minute = 12;
    let app = spawn_with(Backend::Sqlite, settings, dir).await;
    let org = app.org("throttle").await;

    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            app.login(&org.admin_email, "wrong-password-123")
                .await
                .status(),
        );
    }
    // The login that set up the organisation counted too: 4 more, then 429.
    assert_eq!(
        &statuses[..4],
        [StatusCode::UNAUTHORIZED; 4],
        "{statuses:?}"
    );
    assert!(
        statuses[4..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let refused = app.login(&org.admin_email, PASSWORD).await;
    assert!(refused.headers().contains_key("retry-after"));
    problem(refused, StatusCode::TOO_MANY_REQUESTS, "login_throttled").await;

    // Another account from the same address: allowed until the address's own quota.
    let mut other = Vec::new();
    for i in 0..8 {
        other.push(
            app.login(&format!("nobody-{i}@nowhere.test"), "whatever-123")
                .await
                .status(),
        );
    }
    assert!(other.contains(&StatusCode::UNAUTHORIZED));
    assert_eq!(
        *other.last().unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "{other:?}"
    );
}

#[tokio::test]
async fn a_burst_of_logins_is_bounded_in_hashes_and_leaves_memory_where_it_was() {
    let app = spawn(Backend::Sqlite).await;
    let org = app.org("burst").await;
    let rss = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let before = rss();
    let logins: Vec<_> = (0..200)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/login");
            let email = format!("user-{i}@{}.test", org.id);
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": email, "password": "not-the-password"}))
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    let mut answered = Vec::new();
    for login in logins {
        answered.push(login.await.unwrap().unwrap());
    }
    assert!(answered.iter().all(|s| [
        StatusCode::UNAUTHORIZED,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS
    ]
    .contains(s)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown_mb = rss().saturating_sub(before) / 1024;
    eprintln!("security: 200 concurrent logins grew the test process by {grown_mb} MB");
    assert!(grown_mb < 50, "memory grew by {grown_mb} MB");
}

#[tokio::test]
async fn unknown_methods_and_paths_do_not_grow_the_metrics() {
    let app = spawn(Backend::Sqlite).await;
    let size = |text: &str| text.len();
    let before = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for i in 0..300 {
        let method = Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        app.client
            .request(method, app.url(&format!("/random/{i}")))
            .send()
            .await
            .unwrap();
    }
    let after = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!after.contains("X299"), "a method became a label");
    assert!(
        size(&after) < size(&before) + 8_000,
        "metrics grew from {} to {} bytes",
        size(&before),
        size(&after)
    );
}

#[tokio::test]
async fn live_rates_are_bounded_streams_are_capped_and_tickets_replace_tokens_in_urls() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(Backend::Sqlite, dir.path()).await;
    settings.live.max_streams_per_principal = 2;
    let app = spawn_with(Backend::Sqlite, settings, dir).await;
    let org = app.org("live-bounds").await;

    for hz in ["1e-300", "0", "-1", "1000", "NaN"] {
        let res = app
            .get(&format!("/api/v1/live?max_hz={hz}"), &org.viewer)
            .await;
        problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    // A token in the URL is refused; a ticket works once.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/live?access_token={}", org.viewer)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let ticket = body(
        app.post("/api/v1/live/tickets", &org.viewer, &json!({}))
            .await,
    )
    .await;
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/api/v1/live?ticket={ticket}"));
    let first = app.client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let again = app.client.get(&url).send().await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "a ticket is single use"
    );
    // An access token is no ticket, and a ticket no access token.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/live?ticket={}", org.viewer)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.get("/api/v1/auth/me", &ticket).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Two streams per user here: a third is a 429.
    let second = app.get("/api/v1/live", &org.viewer).await;
    assert_eq!(second.status(), StatusCode::OK);
    let third = app.get("/api/v1/live", &org.viewer).await;
    problem(third, StatusCode::TOO_MANY_REQUESTS, "too_many_streams").await;

    // A stream nobody reads still ends when its session does.
    assert_eq!(app.state.limits.live_streams.open_streams(), 2);
    let res = app
        .post("/api/v1/auth/logout", &org.viewer, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.state.limits.live_streams.open_streams() > 0 {
        assert!(
            Instant::now() < deadline,
            "the unread streams outlived the session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((first, second));
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn(backend).await;
        let org = app.org("race").await;
        let second = body(
            app.post(
                "/api/v1/users",
                &org.admin,
                &json!({"email": format!("second-{}@race.test", org.id), "role": "admin", "password": PASSWORD}),
            )
            .await,
        )
        .await;
        let second_token = app.token(second["email"].as_str().unwrap(), PASSWORD).await;
        let me = body(app.get("/api/v1/auth/me", &org.admin).await).await;
        let first_id = me["user"]["id"].as_str().unwrap().to_owned();
        let second_id = second["id"].as_str().unwrap().to_owned();
        let demote = json!({"role": "viewer"});
        let (path_a, path_b) = (
            format!("/api/v1/users/{second_id}"),
            format!("/api/v1/users/{first_id}"),
        );
        let (a, b) = tokio::join!(
            app.patch(&path_a, &org.admin, &demote),
            app.patch(&path_b, &second_token, &demote),
        );
        let statuses = [a.status(), b.status()];
        assert!(
            statuses.contains(&StatusCode::OK) && statuses.iter().any(|s| *s != StatusCode::OK),
            "exactly one demotion succeeds: {statuses:?}"
        );
        let admins = app
            .state
            .repos
            .users
            .count_admins(domain::OrgId::from_uuid(org.id))
            .await
            .unwrap();
        assert_eq!(admins, 1, "{backend:?}");
    }
}

#[tokio::test]
async fn batches_cannot_make_the_server_work_or_answer_more_than_they_weigh() {
    let app = spawn(Backend::Sqlite).await;
    let org = app.org("batch-bounds").await;
    // 5,000 random drone ids: refused at once, the answer listing 100 of them.
    let points: Vec<Value> = (0..5000)
        .map(|_| {
            point(
                &uuid::Uuid::new_v4().to_string(),
                chrono::Utc::now(),
                47.0,
                8.0,
            )
        })
        .collect();
    let started = Instant::now();
    let res = app
        .post(
            "/api/v1/telemetry",
            &org.operator,
            &json!({"points": points}),
        )
        .await;
    let took = started.elapsed();
    let bytes = res.content_length().unwrap_or(0);
    let refused = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(refused["errors"].as_array().unwrap().len(), 100);
    assert!(
        refused["detail"].as_str().unwrap().contains("5000"),
        "{}",
        refused["detail"]
    );
    eprintln!("security: 5,000 unknown drones refused in {took:?}, {bytes} bytes");

    // Two points of one drone at one time: the second is refused, not silently merged.
    let drone = app.drone(&org.operator, "DUP-1").await;
    let id = drone["id"].as_str().unwrap();
    let ts = chrono::Utc::now() - chrono::Duration::seconds(5);
    let res = app
        .post(
            "/api/v1/telemetry",
            &org.operator,
            &json!({"points": [point(id, ts, 47.0, 8.0), point(id, ts, 47.1, 8.1)]}),
        )
        .await;
    let answer = body(res).await;
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["errors"][0]["code"], "duplicate_in_batch");

    // A point's flight plan must be one of its drone's.
    let mut bad = point(id, ts + chrono::Duration::seconds(1), 47.0, 8.0);
    bad["flight_plan_id"] = json!(uuid::Uuid::new_v4());
    let res = app
        .post(
            "/api/v1/telemetry",
            &org.operator,
            &json!({"points": [bad]}),
        )
        .await;
    let refused = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(refused["errors"][0]["code"], "unknown_plan");
}

#[tokio::test]
async fn every_answer_carries_security_headers_and_metrics_can_need_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(Backend::Sqlite, dir.path()).await;
    settings.server.behind_tls = true;
    settings.server.metrics_token = Some("metrics-token-for-tests".to_owned().into());
    let app = spawn_with(Backend::Sqlite, settings, dir).await;
    for path in ["/", "/docs/", "/api/v1/drones", "/health/live"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(h.contains_key("strict-transport-security"), "{path}");
    }
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-for-tests")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A whole scenario against a real `serve` logging at debug, in both formats: no access
/// token, live ticket or API key it issued appears in its logs.
#[tokio::test]
async fn no_credential_issued_in_a_scenario_reaches_the_logs() {
    for format in ["json", "pretty"] {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::helpers::redis_settings(
            Backend::Postgres,
            dir.path(),
            &crate::helpers::redis_url(),
        )
        .await;
        let app = spawn_with(Backend::Postgres, settings, dir).await;
        let org = app.org("log-scan").await;
        let drone = app.drone(&org.operator, "LOG-1").await;
        let id = drone["id"].as_str().unwrap().to_owned();
        let key = api_key(&app, &org.admin, &id).await["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let log = std::env::temp_dir().join(format!(
            "nimbusfleet-logscan-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let serve = crate::kafka::Replica::start_with(
            &app,
            &[
                ("NIMBUS__LOG__LEVEL", "debug".to_owned()),
                ("NIMBUS__LOG__FORMAT", format.to_owned()),
            ],
            std::process::Stdio::from(std::fs::File::create(&log).unwrap()),
        )
        .await;
        let client = reqwest::Client::new();
        let base = &serve.address;
        let ticket = body(
            client
                .post(format!("{base}/api/v1/live/tickets"))
                .bearer_auth(&org.viewer)
                .send()
                .await
                .unwrap(),
        )
        .await["ticket"]
            .as_str()
            .unwrap()
            .to_owned();
        let requests = [
            format!("{base}/api/v1/live?access_token={}", org.viewer),
            format!("{base}/api/v1/live?ticket={ticket}&max_hz=0"),
            format!("{base}/api/v1/drones/{id}?api_key={key}"),
            format!("{base}/api/v1/nothing-here?token={}", org.admin),
        ];
        for url in &requests {
            client.get(url).send().await.unwrap();
        }
        client
            .get(format!("{base}/api/v1/drones/{id}"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        client
            .get(format!("{base}/api/v1/drones"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": org.admin_email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(serve);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.lines().count() > 5, "the server logged: {text}");
        for (what, secret) in [
            ("viewer token", &org.viewer),
            ("admin token", &org.admin),
            ("operator token", &org.operator),
            ("live ticket", &ticket),
            ("API key", &key),
            ("password", &PASSWORD.to_owned()),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "the {format} log holds the {what}"
            );
        }
        std::fs::remove_file(&log).ok();
    }
}
