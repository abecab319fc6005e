//! Figure 1: sustained ingest through `POST /api/v1/telemetry`.
//!
//! Point `k` (a global counter the senders draw batches from) belongs to drone
//! `k mod D`, has sequence number `k div D` and `ts = t0 + k µs`, so every `(drone_id, ts)`
//! is new and batches mix many drones, as a gateway's would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use domain::{DroneId, OrgId};
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::points::{self, Wire};
use crate::setup::{Bench, Org};

/// How long the writer may take to empty its queue after the senders stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// A 503's or 429's wait when `Retry-After` is missing or unreadable.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// `Retry-After: 0` still waits a little rather than spinning.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(50);

pub struct Config {
    pub senders: usize,
    pub batch: usize,
    pub duration: Duration,
    pub t0: DateTime<Utc>,
}

pub struct Outcome {
    /// Points the API accepted.
    pub points: u64,
    /// From the first request until the writer's queue was empty.
    pub elapsed: Duration,
    /// From the last answer until the queue was empty.
    pub drain: Duration,
    /// Duration of each accepted POST, request to answer body.
    pub http_ms: Vec<f64>,
    /// 503 (queue full) and 429 (rate limited) answers, each followed by a resend after
    /// `Retry-After`.
    pub retries: u64,
    /// The first point index not used, so that later rows can avoid every key used here.
    pub next_index: u64,
}

#[derive(Default)]
struct SenderStats {
    accepted: u64,
    http_ms: Vec<f64>,
    retries: u64,
}

#[derive(Deserialize)]
struct Answer {
    accepted: u64,
    rejected: u64,
    #[serde(default)]
    errors: Vec<PointError>,
}

#[derive(Deserialize)]
struct PointError {
    index: usize,
    code: String,
}

/// The per-point refusal of a shard that cannot take points now (its lane is full or it
/// does not answer): those points are sent again, like a 503.
const SHARD_UNAVAILABLE: &str = "shard_unavailable";

struct Sender {
    client: reqwest::Client,
    url: String,
    token: String,
    org: OrgId,
    drones: Arc<[DroneId]>,
    next: Arc<AtomicU64>,
    batch: usize,
    t0: DateTime<Utc>,
    until: Instant,
}

/// Sends for `config.duration`, then waits until `written` reports every accepted point
/// durable (the embedded writer's queue is empty, or the Kafka workers wrote them all).
pub async fn run(
    bench: &Bench,
    org: &Org,
    drones: &[DroneId],
    config: &Config,
    written: &(dyn Fn(u64) -> bool + Sync),
) -> anyhow::Result<Outcome> {
    let next = Arc::new(AtomicU64::new(0));
    let drones: Arc<[DroneId]> = drones.into();
    let started = Instant::now();
    let mut senders = JoinSet::new();
    for _ in 0..config.senders {
        senders.spawn(
            Sender {
                client: bench.client.clone(),
                url: bench.url("/api/v1/telemetry"),
                token: org.token.clone(),
                org: org.id,
                drones: drones.clone(),
                next: next.clone(),
                batch: config.batch,
                t0: config.t0,
                until: started + config.duration,
            }
            .run(),
        );
    }
    let mut total = SenderStats::default();
    while let Some(joined) = senders.join_next().await {
        let stats = joined.context("a sender panicked")??;
        total.accepted += stats.accepted;
        total.retries += stats.retries;
        total.http_ms.extend(stats.http_ms);
    }
    let answered = Instant::now();
    while !written(total.accepted) {
        if answered.elapsed() > DRAIN_TIMEOUT {
            bail!(
                "the accepted points were not written within {} s",
                DRAIN_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(Outcome {
        points: total.accepted,
        elapsed: started.elapsed(),
        drain: answered.elapsed(),
        http_ms: total.http_ms,
        retries: total.retries,
        next_index: next.load(Ordering::Relaxed),
    })
}

impl Sender {
    async fn run(self) -> anyhow::Result<SenderStats> {
        let mut stats = SenderStats::default();
        let mut wire = Vec::with_capacity(self.batch);
        while Instant::now() < self.until {
            let first = self.next.fetch_add(self.batch as u64, Ordering::Relaxed);
            wire.clear();
            wire.extend((first..first + self.batch as u64).map(|k| Wire::from(&self.point(k))));
            while !wire.is_empty() {
                let body = Bytes::from(points::body(&wire)?);
                let refused = self.send(body, &mut stats).await?;
                if !refused.is_empty() {
                    stats.retries += 1;
                    tokio::time::sleep(MIN_RETRY_AFTER).await;
                }
                let mut i = 0;
                wire.retain(|_| {
                    i += 1;
                    refused.binary_search(&(i - 1)).is_ok()
                });
            }
        }
        Ok(stats)
    }

    fn point(&self, k: u64) -> domain::telemetry::TelemetryPoint {
        let d = self.drones.len() as u64;
        let index = (k % d) as usize;
        let ts = self.t0 + chrono::Duration::microseconds(k as i64);
        points::point(self.org, self.drones[index], index, k / d, ts)
    }

    /// Sends one batch until it is accepted, waiting `Retry-After` after each 503 or 429;
    /// returns the indexes (sorted) of the points refused one by one as `shard_unavailable`.
    async fn send(&self, body: Bytes, stats: &mut SenderStats) -> anyhow::Result<Vec<usize>> {
        loop {
            let started = Instant::now();
            let res = self
                .client
                .post(&self.url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .context("POST /telemetry failed")?;
            match res.status() {
                StatusCode::ACCEPTED => {
                    let answer: Answer = res.json().await.context("a 202 without its counts")?;
                    stats.http_ms.push(started.elapsed().as_secs_f64() * 1e3);
                    stats.accepted += answer.accepted;
                    if let Some(other) = answer.errors.iter().find(|e| e.code != SHARD_UNAVAILABLE)
                    {
                        bail!(
                            "{} generated points were rejected, e.g. point {} as {}",
                            answer.rejected,
                            other.index,
                            other.code
                        );
                    }
                    let mut refused: Vec<usize> = answer.errors.iter().map(|e| e.index).collect();
                    refused.sort_unstable();
                    return Ok(refused);
                }
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                    stats.retries += 1;
                    let wait = res
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
                    tokio::time::sleep(wait.max(MIN_RETRY_AFTER)).await;
                }
                status => {
                    let text = res.text().await.unwrap_or_default();
                    bail!("POST /telemetry answered {status}: {text}");
                }
            }
        }
    }
}
