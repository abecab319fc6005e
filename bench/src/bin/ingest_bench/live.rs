//! Figure 3: drone-to-live-stream latency.
//!
//! One Server-Sent Events client listens to `GET /api/v1/live?max_hz=100` while every
//! drone sends one point a second, spread evenly: every 100 ms a tenth of the fleet
//! reports, in POSTs of [`POST_POINTS`] points sent concurrently, each point's `ts` the
//! moment its POST is built. A sample is the time an event arrives at the client minus
//! the `ts` of a position in it (both on this machine's clock).

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
    let mut ticker = tokio::time::interval(TICK);
    let mut posts = JoinSet::new();
    let mut http_ms = Vec::new();
    let mut sent_after_warmup = 0;
    for tick in 0..ticks {
        ticker.tick().await;
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
            if let Some((ms, points)) = done.context("a live sender panicked")?? {
                http_ms.push(ms);
                sent_after_warmup += points;
            }
        }
    }
    while let Some(done) = posts.join_next().await {
        if let Some((ms, points)) = done.context("a live sender panicked")?? {
            http_ms.push(ms);
            sent_after_warmup += points;
        }
    }
    while bench.queued_points() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(SETTLE).await;
    // The reader may have ended on its own with an error; that error is the one to report.
    let _ = stop.send(());
    let latency_ms = reader.await.context("the live reader panicked")??;
    Ok(Outcome {
        latency_ms,
        sent_after_warmup,
        http_ms,
    })
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
    /// Sends the members' points stamped now; after the warm-up, returns the POST's
    /// duration in milliseconds and its number of points.
    async fn send(self) -> anyhow::Result<Option<(f64, u64)>> {
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
        Ok((ts >= self.cutoff).then_some((ms, wire.len() as u64)))
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

/// Latencies of the positions stamped at or after `cutoff`, until told to stop.
async fn read_positions(
    mut events: EventStream,
    cutoff: DateTime<Utc>,
    mut stop: oneshot::Receiver<()>,
) -> anyhow::Result<Vec<f64>> {
    let mut latency_ms = Vec::new();
    loop {
        let event = tokio::select! {
            _ = &mut stop => return Ok(latency_ms),
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
