use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{body, problem, TestApp};
use crate::telemetry::{ingest, point};

/// A Server-Sent Events reader over a streaming response.
pub struct Events {
    res: reqwest::Response,
    buffer: String,
    /// The `id:` of the last event read.
    pub last_id: Option<String>,
}

impl Events {
    pub async fn open(app: &TestApp, query: &str, token: &str) -> Events {
        Self::resume(app, query, token, None).await
    }

    /// Opens a stream as a client reconnecting with `Last-Event-ID` would.
    pub async fn resume(
        app: &TestApp,
        query: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Events {
        let mut req = app
            .client
            .get(app.url(&format!("/api/v1/live?{query}")))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let mut events = Events {
            res,
            buffer: String::new(),
            last_id: None,
        };
        let (name, _) = events
            .next(Duration::from_secs(5))
            .await
            .expect("a ready event");
        assert_eq!(name, "ready");
        events
    }

    /// The next named event, skipping comments; `None` at the end of the stream or on timeout.
    pub async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in raw.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(id) = line.strip_prefix("id: ") {
                        self.last_id = Some(id.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(d).ok();
                    }
                }
                if let Some(name) = name {
                    return Some((name, data.unwrap_or(Value::Null)));
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The data of the next event named `name`, skipping others; `None` on timeout.
    pub async fn next_named(&mut self, name: &str, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        while let Some((n, data)) = self.next(deadline - tokio::time::Instant::now()).await {
            if n == name {
                return Some(data);
            }
        }
        None
    }

    /// Drone ids in `positions` events until `within` passes.
    pub async fn positions(&mut self, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut ids = Vec::new();
        while let Some((name, data)) = self.next(deadline - tokio::time::Instant::now()).await {
            if name == "positions" {
                for p in data["positions"].as_array().unwrap() {
                    ids.push(p["drone_id"].as_str().unwrap().to_owned());
                }
            }
        }
        ids
    }
}

async fn the_live_stream_delivers_posted_points_within_its_bbox_and_organisation(app: TestApp) {
    let org = app.org("live").await;
    let other = app.org("live-other").await;
    let inside = app.drone(&org.operator, "L-IN").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outside = app.drone(&org.operator, "L-OUT").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = app.drone(&other.operator, "L-FOREIGN").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut all = Events::open(&app, "max_hz=10", &org.viewer).await;
    let mut boxed = Events::open(&app, "bbox=7.5,46.5,8.5,47.5&max_hz=10", &org.viewer).await;
    let mut theirs = Events::open(&app, "max_hz=10", &other.viewer).await;
    let now = chrono::Utc::now();
    ingest(
        &app,
        &org.operator,
        &[
            point(&inside, now, 47.0, 8.0),
            point(&outside, now, 48.5, 9.5),
        ],
    )
    .await;
    ingest(&app, &other.operator, &[point(&foreign, now, 47.0, 8.0)]).await;
    let mut seen_all = all.positions(Duration::from_secs(2)).await;
    seen_all.sort();
    let mut expected = vec![inside.clone(), outside.clone()];
    expected.sort();
    assert_eq!(seen_all, expected);
    assert_eq!(
        boxed.positions(Duration::from_secs(1)).await,
        vec![inside.clone()]
    );
    assert_eq!(
        theirs.positions(Duration::from_secs(1)).await,
        vec![foreign]
    );
    let mut filtered = Events::open(&app, &format!("drone_ids={outside}"), &org.viewer).await;
    ingest(
        &app,
        &org.operator,
        &[
            point(&inside, chrono::Utc::now(), 47.0, 8.0),
            point(&outside, chrono::Utc::now(), 48.0, 9.0),
        ],
    )
    .await;
    assert_eq!(
        filtered.positions(Duration::from_secs(2)).await,
        vec![outside]
    );
}

async fn updates_are_coalesced_per_drone_to_the_newest(app: TestApp) {
    let org = app.org("live").await;
    let d = app.drone(&org.operator, "L-CO").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut events = Events::open(&app, "max_hz=1", &org.viewer).await;
    let now = chrono::Utc::now();
    let burst: Vec<Value> = (0..20)
        .map(|i| {
            point(
                &d,
                now - chrono::Duration::milliseconds(2000 - i * 100),
                47.0 + i as f64 * 0.01,
                8.0,
            )
        })
        .collect();
    ingest(&app, &org.operator, &burst).await;
    let (name, data) = loop {
        let (name, data) = events.next(Duration::from_secs(3)).await.expect("an event");
        if name == "positions" {
            break (name, data);
        }
    };
    assert_eq!(name, "positions");
    let positions = data["positions"].as_array().unwrap();
    assert_eq!(positions.len(), 1, "one update per drone per tick");
    assert!(
        (positions[0]["lat"].as_f64().unwrap() - 47.19).abs() < 1e-9,
        "the newest point wins"
    );
}

async fn logging_out_closes_the_stream(app: TestApp) {
    let org = app.org("live").await;
    let mut events = Events::open(&app, "", &org.operator).await;
    app.request(Method::POST, "/api/v1/auth/logout", Some(&org.operator))
        .send()
        .await
        .unwrap();
    let (name, _) = events
        .next(Duration::from_secs(3))
        .await
        .expect("a logout event");
    assert_eq!(name, "logout");
    assert!(
        events.next(Duration::from_secs(2)).await.is_none(),
        "the stream ends"
    );
}

async fn the_live_stream_needs_a_valid_token_and_filters(app: TestApp) {
    let org = app.org("live").await;
    let res = app
        .client
        .get(app.url("/api/v1/live"))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Browsers' EventSource cannot send headers: they use a single-use ticket, never the
    // token itself in the URL.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/live?access_token={}", org.viewer)))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let ticket = body(
        app.post("/api/v1/live/tickets", &org.viewer, &serde_json::json!({}))
            .await,
    )
    .await;
    let res = app
        .client
        .get(app.url(&format!(
            "/api/v1/live?ticket={}",
            ticket["ticket"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for query in ["bbox=1,2,3", "max_hz=0", "max_hz=1000", "drone_ids=nope"] {
        let res = app.get(&format!("/api/v1/live?{query}"), &org.viewer).await;
        problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
}

both_backends!(
    the_live_stream_delivers_posted_points_within_its_bbox_and_organisation,
    updates_are_coalesced_per_drone_to_the_newest,
    logging_out_closes_the_stream,
    the_live_stream_needs_a_valid_token_and_filters,
);
