//! The embedded telemetry pipeline (DESIGN §4): an in-process bounded queue per shard (a
//! lane), one writer task per lane that batches points, bulk-writes them to its shard and
//! only then hands them to the live publisher, and the small caches the ingest path needs.
//!
//! Shards fail alone: while a shard's writes fail, its lane refuses new points at once
//! (reported per point), and the other lanes keep writing. With durable acknowledgement a
//! publish returns once its points are committed — group commit: every request whose
//! points share a batch waits for the same write. Memory stays bounded: each lane counts
//! points. Shutdown closes the lanes and waits until the writers have written everything
//! they took.

mod counter;
mod directory;
mod lane;
mod writer;

use std::sync::Arc;
use std::time::Duration;

pub use counter::RecentCounter;
pub use directory::{DirectoryEntry, DroneDirectory};

use async_trait::async_trait;
use domain::ports::{BusError, Delivery, TelemetryBus, TelemetryStore};
use domain::settings::{millis, InvalidSetting};
use domain::shard::SlotMap;
use domain::telemetry::TelemetryPoint;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::live::LivePublisher;
use crate::telemetry::WriteObserver;
use lane::{Job, Lane, Refusal};

/// The `[pipeline]` settings: the embedded queue and its writers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Most points queued and not yet written, over all shards (each shard's lane holds an
    /// equal share); beyond it a shard's points are refused.
    pub queue_capacity_points: usize,
    /// A write batch closes at this many points…
    pub write_batch_points: usize,
    /// …or this long after its first point arrived.
    #[serde(rename = "flush_interval_ms", with = "millis")]
    pub flush_interval: Duration,
}

impl PipelineSettings {
    /// Checks what the types alone cannot; the error names the one setting at fault.
    /// `max_batch_points` is the largest batch ingest accepts: a queue smaller than that
    /// could never take a full batch.
    pub fn check(&self, max_batch_points: usize) -> Result<(), InvalidSetting> {
        if self.queue_capacity_points < max_batch_points {
            return Err(InvalidSetting::new(
                "queue_capacity_points",
                "must be at least telemetry.max_batch_points, or no full batch could ever be accepted",
            ));
        }
        if self.write_batch_points == 0 {
            return Err(InvalidSetting::new(
                "write_batch_points",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// When `publish` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    /// Once the points are committed to their shards (or acknowledged by the brokers).
    Durable,
    /// Once they are in this process's queue: faster, but a crash loses what is queued.
    Queued,
}

/// How a publish is acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Acknowledgement {
    pub mode: AckMode,
    /// With [`AckMode::Durable`], the longest wait for a commit; points not committed by
    /// then are reported refused (they may still be written; sending them again is safe).
    pub timeout: Duration,
}

/// The running pipeline: a lane and a writer per shard.
pub struct Pipeline {
    lanes: Vec<Arc<Lane>>,
    slot_map: SlotMap,
    ack: Acknowledgement,
    paused: watch::Sender<bool>,
    writers: tokio::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Pipeline {
    /// Starts a writer per shard of `slot_map` on the current runtime. Written points go
    /// to `publisher`.
    pub fn start(
        settings: &PipelineSettings,
        ack: Acknowledgement,
        slot_map: SlotMap,
        store: Arc<dyn TelemetryStore>,
        publisher: Arc<dyn LivePublisher>,
        observer: Arc<dyn WriteObserver>,
    ) -> Self {
        let shards = usize::from(slot_map.shard_count().max(1));
        let per_lane = settings.queue_capacity_points.div_ceil(shards);
        let paused = watch::channel(false).0;
        let mut lanes = Vec::with_capacity(shards);
        let mut writers = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (lane, queue) = Lane::new(per_lane);
            let lane = Arc::new(lane);
            writers.push(tokio::spawn(writer::run(
                writer::Writer {
                    queue,
                    lane: lane.clone(),
                    store: store.clone(),
                    publisher: publisher.clone(),
                    observer: observer.clone(),
                    batch_max_points: settings.write_batch_points.max(1),
                    flush_interval: settings.flush_interval,
                },
                paused.subscribe(),
            )));
            lanes.push(lane);
        }
        Self {
            lanes,
            slot_map,
            ack,
            paused,
            writers: tokio::sync::Mutex::new(writers),
        }
    }

    /// Points accepted and not yet written, over all shards.
    pub fn queued_points(&self) -> usize {
        self.lanes.iter().map(|lane| lane.queued()).sum()
    }

    pub fn capacity(&self) -> usize {
        self.lanes.iter().map(|lane| lane.capacity()).sum()
    }

    /// Shards whose last write failed (their points are refused until one succeeds).
    pub fn down_shards(&self) -> Vec<u16> {
        (0..)
            .zip(&self.lanes)
            .filter(|(_, lane)| lane.is_down())
            .map(|(shard, _)| shard)
            .collect()
    }

    /// Holds writes (queued points stay queued, and the queue can fill up); for maintenance
    /// windows and for tests of backpressure.
    pub fn pause_writer(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume_writer(&self) {
        self.paused.send_replace(false);
    }

    /// Refuses new points, then waits until every accepted point is written.
    pub async fn shutdown(&self) {
        for lane in &self.lanes {
            lane.close();
        }
        self.resume_writer();
        let writers = std::mem::take(&mut *self.writers.lock().await);
        for result in join_all(writers).await {
            if let Err(e) = result {
                tracing::error!(error = %e, "telemetry writer task failed");
            }
        }
    }
}

/// The points of one lane in a publish: their indices in the batch, and the wait for them.
struct Share {
    indices: Vec<usize>,
    done: Option<oneshot::Receiver<()>>,
}

#[async_trait]
impl TelemetryBus for Pipeline {
    async fn publish(&self, points: Vec<TelemetryPoint>) -> Result<Delivery, BusError> {
        let mut by_lane: Vec<(Vec<usize>, Vec<TelemetryPoint>)> =
            vec![(Vec::new(), Vec::new()); self.lanes.len()];
        for (index, point) in points.into_iter().enumerate() {
            let lane = usize::from(self.slot_map.shard_of(point.drone_id).0);
            if let Some((indices, share)) = by_lane.get_mut(lane) {
                indices.push(index);
                share.push(point);
            }
        }
        let durable = self.ack.mode == AckMode::Durable;
        let mut refused = Vec::new();
        let mut shares = Vec::new();
        let (mut closed, mut full, mut down) = (false, false, false);
        for (lane, (indices, share)) in self.lanes.iter().zip(by_lane) {
            if share.is_empty() {
                continue;
            }
            let (done, wait) = if durable {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            match lane.push(Job {
                points: share,
                done,
            }) {
                Ok(()) => shares.push(Share {
                    indices,
                    done: wait,
                }),
                Err(refusal) => {
                    closed |= refusal == Refusal::Closed;
                    full |= refusal == Refusal::Full;
                    down |= refusal == Refusal::Down;
                    refused.extend(indices);
                }
            }
        }
        if shares.is_empty() {
            // Nothing taken: say why for the whole batch, as the client's retry is the same.
            match (closed, full, down) {
                (true, _, _) => return Err(BusError::Closed),
                (false, true, false) => return Err(BusError::Full),
                _ => {}
            }
        }
        let deadline = tokio::time::Instant::now() + self.ack.timeout;
        for share in shares {
            let Some(done) = share.done else { continue };
            if !matches!(tokio::time::timeout_at(deadline, done).await, Ok(Ok(()))) {
                refused.extend(share.indices);
            }
        }
        refused.sort_unstable();
        Ok(Delivery { refused })
    }
}
