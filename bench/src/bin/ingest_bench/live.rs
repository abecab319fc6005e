//! Figure 3: drone-to-live-stream latency.
//!
//! One Server-Sent Events client listens to `GET /api/v1/live?max_hz=100` while every
//! drone sends one point a second, spread evenly: every 100 ms a tenth of the fleet
//! reports, in POSTs of [`POST_POINTS`] points sent concurrently, each point's `ts` the
//! moment its POST is built. A sample is the time an event arrives at the client minus
//! the `ts` of a position in it (both on this machine's clock).
//!
//! The same client takes the conformance monitor's `alert` events, for three more figures:
//! after the warm-up a prohibited fence is created over the drones flying in the west of
//! the city, so their next points breach it (a sample: the alert's arrival minus its
//! triggering point's `ts`); the drones fly with no plan, so `unplanned_flight` follows
//! the excursion grace time; and when the senders stop, every drone goes silent and is
//! declared lost (a sample: the alert's arrival minus the moment its last POST was answered,
//! which includes `monitoring.link_timeout_s`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use domain::{DroneId, OrgId};
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::points::{self, Wire};
use crate::setup::{Bench, Org};

/// The client's requested update rate; `live.max_hz` must allow it.
pub const MAX_HZ: u32 = 100;
/// Each drone reports once a second, a tenth of the fleet at each tick.
const TICK: Duration = Duration::from_millis(100);
const TICKS_PER_SECOND: usize = 10;
const POST_POINTS: usize = 250;
/// After the last POST: time for its points to be written and reach the client.
const SETTLE: Duration = Duration::from_millis(500);
const READY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Outcome {
    /// Milliseconds from a point's `ts` to its arrival, for points sent after the warm-up.
    pub latency_ms: Vec<f64>,
    /// `geofence_breach` raised: milliseconds from the triggering point's `ts` to the event.
    pub breach_ms: Vec<f64>,
    /// `unplanned_flight` raised: milliseconds from the first offending point (grace
    /// included) to the event.
    pub unplanned_ms: Vec<f64>,
    /// `link_lost` raised: milliseconds from the drone's last answered POST to the event.
    pub link_lost_ms: Vec<f64>,
    /// Drones that went silent at the end, and how many of them were declared lost.
    pub silenced: usize,
    /// Points sent after the warm-up: as many samples are expected.
    pub sent_after_warmup: u64,
    /// Duration of each POST sent after the warm-up.
    pub http_ms: Vec<f64>,
}

pub async fn run(
    bench: &Bench,
    org: &Org,
    drones: &[DroneId],
    duration: Duration,
    warmup: Duration,
    link_timeout: Duration,
) -> anyhow::Result<Outcome> {
    let res = bench
        .client
        .get(bench.url(&format!("/api/v1/live?max_hz={MAX_HZ}")))
        .bearer_auth(&org.token)
        .send()
        .await
        .context("GET /live failed")?;
    if res.status() != StatusCode::OK {
        bail!("GET /live answered {}", res.status());
    }
    let mut events = EventStream::new(res);
    match tokio::time::timeout(READY_TIMEOUT, events.next()).await {
        Ok(Ok(Some(event))) if event.name == "ready" => {}
        _ => bail!("the live stream did not say `ready`"),
    }
    let cutoff = Utc::now() + warmup;
    let (stop, stopped) = oneshot::channel();
    let reader = tokio::spawn(read_positions(events, cutoff, stopped));

    let drones: Arc<[DroneId]> = drones.into();
    let ticks = (duration.as_millis() / TICK.as_millis()) as usize;
    let fence_tick = (warmup.as_millis() / TICK.as_millis()) as usize + TICKS_PER_SECOND;
    let mut last_done: HashMap<DroneId, DateTime<Utc>> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    let mut posts = JoinSet::new();
    let mut http_ms = Vec::new();
    let mut sent_after_warmup = 0;
    for tick in 0..ticks {
        ticker.tick().await;
        if tick == fence_tick {
            create_fence(bench, org).await?;
        }
        let slot = tick % TICKS_PER_SECOND;
        let members: Vec<usize> = (slot..drones.len()).step_by(TICKS_PER_SECOND).collect();
        for chunk in members.chunks(POST_POINTS) {
            let post = Post {
                client: bench.client.clone(),
                url: bench.url("/api/v1/telemetry"),
                token: org.token.clone(),
                org: org.id,
                drones: drones.clone(),
                members: chunk.to_vec(),
                seq: (tick / TICKS_PER_SECOND) as u64,
                cutoff,
            };
            posts.spawn(post.send());
        }
        while let Some(done) = posts.try_join_next() {
            let sent = done.context("a live sender panicked")??;
            sent.count(&mut http_ms, &mut sent_after_warmup, &mut last_done);
        }
    }
    while let Some(done) = posts.join_next().await {
        let sent = done.context("a live sender panicked")??;
        sent.count(&mut http_ms, &mut sent_after_warmup, &mut last_done);
    }
    while bench.queued_points() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every drone is silent from now on: long enough for each to be declared lost.
    tokio::time::sleep(SETTLE + link_timeout + Duration::from_secs(2)).await;
    // The reader may have ended on its own with an error; that error is the one to report.
    let _ = stop.send(());
    let read = reader.await.context("the live reader panicked")??;
    let ms = |d: chrono::Duration| d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3;
    let mut breach_ms = Vec::new();
    let mut unplanned_ms = Vec::new();
    let mut link_lost_ms = Vec::new();
    for a in read.alerts.iter().filter(|a| a.change == "raised") {
        match a.kind.as_str() {
            "geofence_breach" => breach_ms.extend(a.point_ts.map(|ts| ms(a.received - ts))),
            "unplanned_flight" => unplanned_ms.push(ms(a.received - a.first_seen)),
            "link_lost" => {
                if let Some(done) = last_done.get(&a.drone_id) {
                    link_lost_ms.push(ms(a.received - *done));
                }
            }
            _ => {}
        }
    }
    Ok(Outcome {
        latency_ms: read.latency_ms,
        breach_ms,
        unplanned_ms,
        link_lost_ms,
        silenced: last_done.len(),
        sent_after_warmup,
        http_ms,
    })
}

/// A prohibited rectangle over the drones whose homes are in the grid's first 50 rows and
/// 11 columns (about 550 of them), 0–500 m.
async fn create_fence(bench: &Bench, org: &Org) -> anyhow::Result<()> {
    let (s, w, n, e) = (47.295, 8.395, 47.40, 8.4345);
    let body = serde_json::json!({
        "name": "Bench no-fly", "kind": "prohibited", "lower_m": 0.0, "upper_m": 500.0,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
    });
    let res = bench
        .client
        .post(bench.url("/api/v1/geofences"))
        .bearer_auth(&org.token)
        .json(&body)
        .send()
        .await
        .context("POST /geofences failed")?;
    if res.status() != StatusCode::CREATED {
        bail!("POST /geofences answered {}", res.status());
    }
    Ok(())
}

/// What one POST did.
struct Sent {
    /// After the warm-up: its duration in milliseconds and its number of points.
    timed: Option<(f64, u64)>,
    drones: Vec<DroneId>,
    answered: DateTime<Utc>,
}

impl Sent {
    fn count(
        self,
        http_ms: &mut Vec<f64>,
        sent: &mut u64,
        last_done: &mut HashMap<DroneId, DateTime<Utc>>,
    ) {
        if let Some((ms, points)) = self.timed {
            http_ms.push(ms);
            *sent += points;
        }
        for drone in self.drones {
            last_done.insert(drone, self.answered);
        }
    }
}

struct Post {
    client: reqwest::Client,
    url: String,
    token: String,
    org: OrgId,
    drones: Arc<[DroneId]>,
    members: Vec<usize>,
    seq: u64,
    cutoff: DateTime<Utc>,
}

impl Post {
    /// Sends the members' points stamped now.
    async fn send(self) -> anyhow::Result<Sent> {
        let ts = Utc::now();
        let wire: Vec<Wire> = self
            .members
            .iter()
            .map(|&i| Wire::from(&points::point(self.org, self.drones[i], i, self.seq, ts)))
            .collect();
        let body = points::body(&wire)?;
        let started = Instant::now();
        let res = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .context("POST /telemetry failed")?;
        let status = res.status();
        let text = res
            .text()
            .await
            .context("POST /telemetry: no answer body")?;
        if status != StatusCode::ACCEPTED {
            bail!("POST /telemetry answered {status}: {text}");
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(Sent {
            timed: (ts >= self.cutoff).then_some((ms, wire.len() as u64)),
            drones: self.members.iter().map(|&i| self.drones[i]).collect(),
            answered: Utc::now(),
        })
    }
}

#[derive(Deserialize)]
struct Positions {
    positions: Vec<Stamp>,
}

#[derive(Deserialize)]
struct Stamp {
    ts: DateTime<Utc>,
}

#[derive(Deserialize)]
struct AlertEvent {
    change: String,
    alert: AlertBody,
}

#[derive(Deserialize)]
struct AlertBody {
    kind: String,
    drone_id: DroneId,
    first_seen: DateTime<Utc>,
    point: Option<Stamp>,
}

/// An alert event as the client saw it.
struct AlertSeen {
    change: String,
    kind: String,
    drone_id: DroneId,
    first_seen: DateTime<Utc>,
    point_ts: Option<DateTime<Utc>>,
    received: DateTime<Utc>,
}

struct Read {
    latency_ms: Vec<f64>,
    alerts: Vec<AlertSeen>,
}

/// Latencies of the positions stamped at or after `cutoff`, and every alert event, until
/// told to stop.
async fn read_positions(
    mut events: EventStream,
    cutoff: DateTime<Utc>,
    mut stop: oneshot::Receiver<()>,
) -> anyhow::Result<Read> {
    let mut latency_ms = Vec::new();
    let mut alerts = Vec::new();
    loop {
        let event = tokio::select! {
            _ = &mut stop => return Ok(Read { latency_ms, alerts }),
            event = events.next() => event?.context("the live stream ended early")?,
        };
        match event.name.as_str() {
            "positions" => {
                let data: Positions =
                    serde_json::from_str(&event.data).context("a malformed positions event")?;
                for p in data.positions.into_iter().filter(|p| p.ts >= cutoff) {
                    let lag = (event.received - p.ts)
                        .num_microseconds()
                        .unwrap_or(i64::MAX);
                    latency_ms.push(lag as f64 / 1e3);
                }
            }
            "alert" => {
                let data: AlertEvent =
                    serde_json::from_str(&event.data).context("a malformed alert event")?;
                alerts.push(AlertSeen {
                    change: data.change,
                    kind: data.alert.kind,
                    drone_id: data.alert.drone_id,
                    first_seen: data.alert.first_seen,
                    point_ts: data.alert.point.map(|p| p.ts),
                    received: event.received,
                });
            }
            "error" | "logout" => bail!("the live stream sent `{}`: {}", event.name, event.data),
            _ => {}
        }
    }
}

struct Event {
    name: String,
    data: String,
    /// When the chunk that completed the event arrived.
    received: DateTime<Utc>,
}

/// A Server-Sent Events reader that notes when each event arrived.
struct EventStream {
    res: reqwest::Response,
    buffer: Vec<u8>,
    /// Bytes of `buffer` already searched for the end of an event.
    scanned: usize,
    received: DateTime<Utc>,
}

impl EventStream {
    fn new(res: reqwest::Response) -> Self {
        Self {
            res,
            buffer: Vec::new(),
            scanned: 0,
            received: Utc::now(),
        }
    }

    /// The next named event, skipping comments; `None` when the stream ends.
    async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            while let Some(event) = self.take() {
                if let Some(event) = event {
                    return Ok(Some(event));
                }
            }
            match self
                .res
                .chunk()
                .await
                .context("reading the live stream failed")?
            {
                Some(bytes) => {
                    self.received = Utc::now();
                    self.buffer.extend_from_slice(&bytes);
                }
                None => return Ok(None),
            }
        }
    }

    /// The first complete block in the buffer: `Some(None)` for a comment, `None` when no
    /// block is complete yet.
    fn take(&mut self) -> Option<Option<Event>> {
        let from = self.scanned.saturating_sub(1);
        let Some(at) = self.buffer[from..].windows(2).position(|w| w == b"\n\n") else {
            self.scanned = self.buffer.len();
            return None;
        };
        let end = from + at + 2;
        let block: Vec<u8> = self.buffer.drain(..end).collect();
        self.scanned = 0;
        let block = String::from_utf8_lossy(&block);
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n.to_owned());
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            }
        }
        Some(name.map(|name| Event {
            name,
            data,
            received: self.received,
        }))
    }
}
