//! The replayer ([`Replayer`]): every ingest worker runs one, in a consumer group of its own
//! over the parked topic, and writes parked points back to their shards. A record's offset
//! is stored once its points are written; while its shard is still down the record's
//! partition is paused and the record retried with backoff, so the other shards' parked
//! records (on other partitions) keep moving.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::ports::TelemetryStore;
use domain::shard::ShardId;
use domain::telemetry::TelemetryPoint;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::consumer::{group_member_config, IngestObserver};
use super::park::{
    write_share, ShardHealth, SideTopics, FIRST_BACKOFF, MAX_BACKOFF, METADATA_TIMEOUT,
};
use super::{decode_points, IngestSettings, KafkaSettings, KafkaTopic};
use crate::telemetry::WriteObserver;

/// How long one poll of the replayer waits for a record.
const REPLAY_POLL: Duration = Duration::from_millis(200);

/// A parked record whose shard did not take it yet; its partition is paused meanwhile.
struct Pending {
    offset: i64,
    shard: ShardId,
    points: Vec<TelemetryPoint>,
    retry_at: Instant,
    backoff: Duration,
}

/// Partitions taken from the replayer by a rebalance, so that it forgets their pending
/// records (their new owner reads them again from the committed offset).
#[derive(Default)]
struct ReplayContext {
    revoked: Mutex<Vec<i32>>,
}

impl ClientContext for ReplayContext {}

impl ConsumerContext for ReplayContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            if let Ok(mut revoked) = self.revoked.lock() {
                revoked.extend(partitions.elements().iter().map(|e| e.partition()));
            }
            if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(%error, "replayer commit on revoke");
            }
        }
    }
}

/// Writes parked points back to their shards, in a consumer group of its own
/// (`<ingest.group_id>.parked`) over the parked topic.
pub(super) struct Replayer {
    consumer: BaseConsumer<ReplayContext>,
    topic: String,
    runtime: tokio::runtime::Handle,
    store: Arc<dyn TelemetryStore>,
    writes: Arc<dyn WriteObserver>,
    parking: Arc<dyn IngestObserver>,
    health: Arc<ShardHealth>,
    side: Arc<SideTopics>,
    write_timeout: Duration,
}

/// What a [`Replayer`] shares with its worker.
pub(super) struct ReplayParts {
    pub runtime: tokio::runtime::Handle,
    pub store: Arc<dyn TelemetryStore>,
    pub writes: Arc<dyn WriteObserver>,
    pub parking: Arc<dyn IngestObserver>,
    pub health: Arc<ShardHealth>,
    pub side: Arc<SideTopics>,
}

/// The consumer group of the replayers.
pub(super) fn replay_group(ingest: &IngestSettings) -> String {
    format!("{}.parked", ingest.group_id)
}

impl Replayer {
    pub(super) fn new(
        kafka: &KafkaSettings,
        ingest: &IngestSettings,
        parts: ReplayParts,
    ) -> anyhow::Result<Self> {
        let consumer: BaseConsumer<ReplayContext> =
            group_member_config(kafka, ingest, &replay_group(ingest))
                .create_with_context(ReplayContext::default())?;
        let topic = kafka.topic(KafkaTopic::Parked).to_owned();
        consumer.subscribe(&[&topic])?;
        Ok(Self {
            consumer,
            topic,
            runtime: parts.runtime,
            store: parts.store,
            writes: parts.writes,
            parking: parts.parking,
            health: parts.health,
            side: parts.side,
            write_timeout: ingest.shard_write_timeout,
        })
    }

    /// Replays until `stop` is set; blocks the calling thread.
    pub(super) fn run(self, stop: &AtomicBool) {
        let mut pending: BTreeMap<i32, Pending> = BTreeMap::new();
        while !stop.load(Ordering::Acquire) {
            self.forget_revoked(&mut pending);
            self.retry_due(&mut pending);
            match self.consumer.poll(REPLAY_POLL) {
                // A paused partition may still deliver what was fetched before the pause;
                // that is read again after the seek that ends the pause.
                Some(Ok(message)) if !pending.contains_key(&message.partition()) => {
                    self.replay(&message, &mut pending, stop);
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::warn!(%error, "parked-topic consumer error");
                    std::thread::sleep(REPLAY_POLL);
                }
                None => {}
            }
        }
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(%error, "replayer final commit");
        }
    }

    fn forget_revoked(&self, pending: &mut BTreeMap<i32, Pending>) {
        let revoked = match self.consumer.context().revoked.lock() {
            Ok(mut revoked) => std::mem::take(&mut *revoked),
            Err(_) => return,
        };
        for partition in revoked {
            pending.remove(&partition);
        }
    }

    fn replay(
        &self,
        message: &BorrowedMessage<'_>,
        pending: &mut BTreeMap<i32, Pending>,
        stop: &AtomicBool,
    ) {
        let (partition, offset) = (message.partition(), message.offset());
        let shard = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.parse::<u16>().ok())
            .map(ShardId);
        let points = match (shard, decode_points(message.payload())) {
            (Some(shard), Ok(points)) => (shard, points),
            (None, _) | (_, Err(_)) => {
                let reason = "parked record without a shard key or a readable payload";
                tracing::warn!(
                    partition,
                    offset,
                    reason,
                    "parked record sent to the dead-letter topic"
                );
                if self
                    .runtime
                    .block_on(self.side.dead_letter(message, reason, stop))
                {
                    self.store_offset(partition, offset);
                }
                return;
            }
        };
        let (shard, points) = points;
        if self.write(shard, &points) {
            self.store_offset(partition, offset);
            return;
        }
        self.pause(partition, true);
        pending.insert(
            partition,
            Pending {
                offset,
                shard,
                points,
                retry_at: Instant::now() + FIRST_BACKOFF,
                backoff: FIRST_BACKOFF,
            },
        );
    }

    /// Retries the pending records whose time has come; a written one ends its
    /// partition's pause where it left off.
    fn retry_due(&self, pending: &mut BTreeMap<i32, Pending>) {
        let now = Instant::now();
        let due: Vec<i32> = pending
            .iter()
            .filter(|(_, p)| p.retry_at <= now)
            .map(|(partition, _)| *partition)
            .collect();
        for partition in due {
            let Some(p) = pending.get_mut(&partition) else {
                continue;
            };
            if !self.write(p.shard, &p.points) {
                p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
                p.retry_at = Instant::now() + p.backoff;
                continue;
            }
            let offset = p.offset;
            pending.remove(&partition);
            self.store_offset(partition, offset);
            let next = Offset::Offset(offset + 1);
            if let Err(error) = self
                .consumer
                .seek(&self.topic, partition, next, METADATA_TIMEOUT)
            {
                tracing::debug!(partition, %error, "replayer seek");
            }
            self.pause(partition, false);
        }
    }

    fn write(&self, shard: ShardId, points: &[TelemetryPoint]) -> bool {
        let written = self.runtime.block_on(write_share(
            self.store.as_ref(),
            self.writes.as_ref(),
            &self.health,
            self.write_timeout,
            shard,
            points,
        ));
        if written {
            self.parking.replayed(shard.0, points.len());
        }
        written
    }

    fn store_offset(&self, partition: i32, offset: i64) {
        if let Err(error) = self.consumer.store_offset(&self.topic, partition, offset) {
            tracing::debug!(partition, offset, %error, "parked offset not stored");
        }
    }

    fn pause(&self, partition: i32, pause: bool) {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        let result = if pause {
            self.consumer.pause(&list)
        } else {
            self.consumer.resume(&list)
        };
        if let Err(error) = result {
            tracing::debug!(partition, pause, %error, "replayer pause/resume");
        }
    }
}
