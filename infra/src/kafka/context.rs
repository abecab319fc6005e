//! The ingest worker's client context: the batch in hand and how it is written. It is the
//! context because librdkafka's rebalance callbacks run inside `poll`, and there the batch
//! must be written and its offsets committed before the partitions are handed over.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::ports::TelemetryStore;
use domain::shard::SlotMap;
use domain::telemetry::TelemetryPoint;
use futures::future::join_all;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use super::consumer::IngestObserver;
use super::park::{self, ShardHealth, SideTopics};
use crate::live::LivePublisher;
use crate::telemetry::WriteObserver;

pub(super) struct WorkerContext {
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) store: Arc<dyn TelemetryStore>,
    pub(super) slot_map: SlotMap,
    pub(super) health: Arc<ShardHealth>,
    pub(super) write_timeout: Duration,
    pub(super) side: Arc<SideTopics>,
    pub(super) writes: Arc<dyn WriteObserver>,
    pub(super) observer: Arc<dyn IngestObserver>,
    pub(super) live: Arc<dyn LivePublisher>,
    pub(super) topic: String,
    pub(super) batch: Mutex<Batch>,
    pub(super) stop: Arc<AtomicBool>,
}

/// Points read and not yet written, with the last offset read per partition.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) points: Vec<TelemetryPoint>,
    pub(super) offsets: BTreeMap<i32, i64>,
}

impl WorkerContext {
    pub(super) fn add(&self, partition: i32, offset: i64, points: Vec<TelemetryPoint>) {
        if let Ok(mut batch) = self.batch.lock() {
            batch.points.extend(points);
            batch.offsets.insert(partition, offset);
        }
    }

    pub(super) fn batched_points(&self) -> usize {
        self.batch.lock().map(|b| b.points.len()).unwrap_or(0)
    }

    /// Writes the batch in hand — each shard's share to its shard, or parked when the shard
    /// is down — hands what was written to live subscribers, then stores the offsets the
    /// batch covers. Stopping while a share cannot be parked stores no offsets: the records
    /// are read again.
    pub(super) fn flush(&self, consumer: &BaseConsumer<Self>) {
        let batch = match self.batch.lock() {
            Ok(mut batch) => std::mem::take(&mut *batch),
            Err(_) => return,
        };
        if batch.offsets.is_empty() {
            return;
        }
        if !batch.points.is_empty() {
            let Some(written) = self.runtime.block_on(self.write_or_park(batch.points)) else {
                tracing::warn!(
                    "stopping before parked points were acknowledged: offsets not stored"
                );
                return;
            };
            if !written.is_empty() {
                let points: Arc<[TelemetryPoint]> = written.into();
                self.runtime.block_on(self.live.publish(points));
            }
        }
        for (partition, offset) in batch.offsets {
            if let Err(error) = consumer.store_offset(&self.topic, partition, offset) {
                // The partition was taken away meanwhile; its new owner replays the records,
                // which the (drone_id, ts) key makes harmless.
                tracing::debug!(partition, offset, %error, "offset not stored");
            }
        }
    }

    /// Writes every shard's share at once; the shares of shards that are down, or fail
    /// now, are parked. The points written, or `None` when stopping before every failed
    /// share was parked.
    async fn write_or_park(&self, points: Vec<TelemetryPoint>) -> Option<Vec<TelemetryPoint>> {
        let shares = park::by_shard(&self.slot_map, points);
        let attempts = join_all(shares.into_iter().map(|(shard, share)| async move {
            let written = self.health.worth_trying(shard)
                && park::write_share(
                    self.store.as_ref(),
                    self.writes.as_ref(),
                    &self.health,
                    self.write_timeout,
                    shard,
                    &share,
                )
                .await;
            (shard, share, written)
        }))
        .await;
        let mut written = Vec::new();
        for (shard, share, ok) in attempts {
            if ok {
                written.extend(share);
            } else if self.side.park(shard, &share, &self.stop).await {
                self.observer.parked(shard.0, share.len());
            } else {
                return None;
            }
        }
        Some(written)
    }
}

impl ClientContext for WorkerContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            self.observer.lag(&[]);
            return;
        };
        let mut lags: Vec<(i32, i64)> = topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.desired)
            .filter_map(|p| {
                // Before anything is stored or committed on a partition, everything on it is
                // unread (auto.offset.reset=earliest).
                let lag = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else if p.consumer_lag >= 0 {
                    p.consumer_lag
                } else if p.hi_offset >= 0 && p.lo_offset >= 0 {
                    p.hi_offset - p.lo_offset
                } else {
                    -1
                };
                (lag >= 0).then_some((p.partition, lag))
            })
            .collect();
        lags.sort_unstable();
        self.observer.lag(&lags);
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            tracing::info!(
                partitions = partitions.count(),
                "partitions revoked: writing the batch in hand and committing"
            );
            self.flush(consumer);
            if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(%error, "commit on revoke");
            }
            self.observer.assigned(0);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let assigned: Vec<i32> = partitions
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            tracing::info!(?assigned, "partitions assigned");
            self.observer.assigned(assigned.len());
        }
    }
}
