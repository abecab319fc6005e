//! Figure 2: the raw binary COPY rate, the reference limit for ingest.
//!
//! The rows are the ingest figure's rows continued: the same drones and the same kind of
//! values, with indices (and so timestamps) after every one ingested, so every key is new.
//! They go out the way the writer sends its batches: `chunk` points at a time, split by
//! the drone's shard, each share sorted by `(drone_id, ts)`, the shares copied in
//! parallel. Only the COPY calls are timed (generating rows is the benchmark's own
//! work); the writer's `drone_latest` upsert, HTTP and validation are what ingest adds.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::shard::ShardId;
use domain::telemetry::TelemetryPoint;
use domain::{DroneId, OrgId};
use futures::future::try_join_all;

use crate::points;
use infra::Store;

pub struct Config {
    pub rows: u64,
    /// Index of the first row, continuing the ingest figure's counter.
    pub first_index: u64,
    /// Points per writer batch (`pipeline.write_batch_points`).
    pub chunk: usize,
    pub t0: DateTime<Utc>,
}

pub struct Outcome {
    pub rows: u64,
    /// COPY statements run.
    pub copies: u64,
    /// Time spent in COPY calls, shards overlapping.
    pub elapsed: Duration,
}

pub async fn run(
    store: &Store,
    org: OrgId,
    drones: &[DroneId],
    config: &Config,
) -> anyhow::Result<Outcome> {
    let d = drones.len() as u64;
    let mut elapsed = Duration::ZERO;
    let mut rows = 0;
    let mut copies = 0;
    let mut start = config.first_index;
    let end = config.first_index + config.rows;
    while start < end {
        let stop = (start + config.chunk as u64).min(end);
        let mut shares: Vec<(ShardId, Vec<TelemetryPoint>)> = Vec::new();
        for k in start..stop {
            let index = (k % d) as usize;
            let ts = config.t0 + chrono::Duration::microseconds(k as i64);
            let point = points::point(org, drones[index], index, k / d, ts);
            let shard = store.slot_map().shard_of(point.drone_id);
            match shares.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, share)) => share.push(point),
                None => shares.push((shard, vec![point])),
            }
        }
        for (_, share) in &mut shares {
            share.sort_by_key(|p| (p.drone_id, p.ts));
        }
        let started = Instant::now();
        let copied = try_join_all(shares.iter().map(|(shard, share)| async move {
            let pool = store
                .postgres_shard_pool(*shard)
                .context("the shard is not on PostgreSQL")?;
            infra::telemetry::copy_points(pool, share)
                .await
                .with_context(|| format!("COPY into shard {} failed", shard.0))
        }))
        .await?;
        elapsed += started.elapsed();
        rows += copied.iter().sum::<u64>();
        copies += copied.len() as u64;
        start = stop;
    }
    Ok(Outcome {
        rows,
        copies,
        elapsed,
    })
}
