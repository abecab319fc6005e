//! What an ingest worker does when a shard cannot be written (DESIGN §3): the shard's share
//! of a batch is *parked* — produced to the parked topic, partitioned by shard — so that the
//! partition's other drones keep flowing and the offsets can be committed; a replayer in
//! every worker writes parked points back once their shard answers again.
//!
//! Offsets of the telemetry topic are stored only after every share of their batch is either
//! written or acknowledged by the brokers on the parked topic, so no point is ever
//! committed past without being durable somewhere. The replayer keeps the same rule on the
//! parked topic: a record's offset is stored after its points are written; while its shard
//! is down its partition is paused and the record retried with backoff ([`super::replay`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use domain::ports::TelemetryStore;
use domain::shard::{ShardId, SlotMap};
use domain::telemetry::TelemetryPoint;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use super::{encode_points, KafkaSettings, KafkaTopic};
use crate::telemetry::WriteObserver;

/// How long a shard that failed is left alone before a batch tries it again; meanwhile its
/// points go straight to the parked topic.
const SHARD_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The first and the longest pause between two attempts at producing or replaying.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long one produce to a side topic may take before it is retried.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the parked topic's metadata.
pub(super) const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Which shards failed lately, so that a batch does not wait on a shard known to be down.
pub(super) struct ShardHealth {
    retry_at: Vec<Mutex<Option<Instant>>>,
}

impl ShardHealth {
    pub(super) fn new(shards: u16) -> Self {
        Self {
            retry_at: (0..shards.max(1)).map(|_| Mutex::new(None)).collect(),
        }
    }

    fn slot(&self, shard: ShardId) -> Option<&Mutex<Option<Instant>>> {
        self.retry_at.get(usize::from(shard.0))
    }

    /// Whether a batch should try to write to `shard` rather than park its share.
    pub(super) fn worth_trying(&self, shard: ShardId) -> bool {
        self.slot(shard)
            .and_then(|s| {
                s.lock()
                    .ok()
                    .map(|at| at.is_none_or(|at| Instant::now() >= at))
            })
            .unwrap_or(true)
    }

    pub(super) fn failed(&self, shard: ShardId) {
        if let Some(mut at) = self.slot(shard).and_then(|s| s.lock().ok()) {
            *at = Some(Instant::now() + SHARD_RETRY_AFTER);
        }
    }

    pub(super) fn succeeded(&self, shard: ShardId) {
        if let Some(mut at) = self.slot(shard).and_then(|s| s.lock().ok()) {
            at.take();
        }
    }
}

/// Writes one shard's share within `timeout`, telling `health` and `writes` how it went.
pub(super) async fn write_share(
    store: &dyn TelemetryStore,
    writes: &dyn WriteObserver,
    health: &ShardHealth,
    timeout: Duration,
    shard: ShardId,
    points: &[TelemetryPoint],
) -> bool {
    let started = Instant::now();
    let error = match tokio::time::timeout(timeout, store.write_points(points)).await {
        Ok(Ok(rows)) => {
            writes.batch_written(points.len(), rows, started.elapsed());
            health.succeeded(shard);
            return true;
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {} ms", timeout.as_millis()),
    };
    writes.write_failed();
    health.failed(shard);
    tracing::warn!(shard = shard.0, points = points.len(), %error, "shard write failed");
    false
}

/// Splits points by the shard that stores them.
pub(super) fn by_shard(
    slot_map: &SlotMap,
    points: Vec<TelemetryPoint>,
) -> BTreeMap<ShardId, Vec<TelemetryPoint>> {
    let mut shares: BTreeMap<ShardId, Vec<TelemetryPoint>> = BTreeMap::new();
    for point in points {
        shares
            .entry(slot_map.shard_of(point.drone_id))
            .or_default()
            .push(point);
    }
    shares
}

/// The worker's producer for the topics beside the telemetry topic: dead letters and parked
/// points. Both are rare and a duplicate is harmless, so it needs no idempotence, only the
/// brokers' acknowledgement.
pub(super) struct SideTopics {
    producer: FutureProducer,
    dead_letter: String,
    parked: String,
    parked_partitions: OnceLock<i32>,
    record_max_points: usize,
    record_format: super::RecordFormat,
}

impl SideTopics {
    pub(super) fn new(kafka: &KafkaSettings) -> anyhow::Result<Self> {
        Ok(Self {
            producer: kafka.client_config(&[("acks", "all".into())]).create()?,
            dead_letter: kafka.topic(KafkaTopic::DeadLetter).to_owned(),
            parked: kafka.topic(KafkaTopic::Parked).to_owned(),
            parked_partitions: OnceLock::new(),
            record_max_points: kafka.record_max_points.max(1),
            record_format: kafka.record_format,
        })
    }

    /// The parked topic's partition for `shard` (its index modulo the partitions, so that
    /// each shard's points wait on a partition of their own where there are enough).
    fn parked_partition(&self, shard: ShardId) -> Result<i32, String> {
        let partitions = match self.parked_partitions.get() {
            Some(n) => *n,
            None => {
                let metadata = self
                    .producer
                    .client()
                    .fetch_metadata(Some(&self.parked), METADATA_TIMEOUT)
                    .map_err(|e| e.to_string())?;
                let n = metadata
                    .topics()
                    .first()
                    .map_or(0, |t| i32::try_from(t.partitions().len()).unwrap_or(0));
                if n == 0 {
                    return Err(format!(
                        "topic {} does not exist (nimbusfleet admin create-topics)",
                        self.parked
                    ));
                }
                *self.parked_partitions.get_or_init(|| n)
            }
        };
        Ok(i32::from(shard.0) % partitions)
    }

    /// Produces `points` of `shard` to the parked topic, retrying until the brokers have
    /// acknowledged every record; `false` when `stop` was set first.
    pub(super) async fn park(
        &self,
        shard: ShardId,
        points: &[TelemetryPoint],
        stop: &AtomicBool,
    ) -> bool {
        let key = shard.0.to_string();
        let mut backoff = FIRST_BACKOFF;
        let mut rest: Vec<&[TelemetryPoint]> = points.chunks(self.record_max_points).collect();
        while !rest.is_empty() {
            let mut failed = Vec::new();
            match self.parked_partition(shard) {
                Ok(partition) => {
                    for chunk in rest {
                        if let Err(error) = self.send_parked(&key, partition, chunk).await {
                            tracing::warn!(shard = shard.0, %error, "parking points failed; retrying");
                            failed.push(chunk);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(shard = shard.0, %error, "parking points failed; retrying");
                    failed = rest;
                }
            }
            rest = failed;
            if rest.is_empty() {
                break;
            }
            if stop.load(Ordering::Acquire) {
                return false;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        true
    }

    async fn send_parked(
        &self,
        key: &str,
        partition: i32,
        points: &[TelemetryPoint],
    ) -> Result<(), String> {
        let payload = encode_points(points, self.record_format).map_err(|e| e.to_string())?;
        let record = FutureRecord::to(&self.parked)
            .partition(partition)
            .key(key)
            .payload(&payload);
        self.producer
            .send(record, Timeout::After(PRODUCE_TIMEOUT))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error.to_string())
    }

    /// Copies `message` to the dead-letter topic with the reason and its origin in headers;
    /// retries until the brokers acknowledge it, `false` when `stop` was set first.
    pub(super) async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        reason: &str,
        stop: &AtomicBool,
    ) -> bool {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "nimbus-dead-letter-reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "nimbus-source-topic",
                value: Some(message.topic()),
            })
            .insert(Header {
                key: "nimbus-source-partition",
                value: Some(&partition),
            })
            .insert(Header {
                key: "nimbus-source-offset",
                value: Some(&offset),
            });
        let payload = message.payload().unwrap_or_default();
        let key = message.key().unwrap_or_default();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let record = FutureRecord::to(&self.dead_letter)
                .payload(payload)
                .key(key)
                .headers(headers.clone());
            match self
                .producer
                .send(record, Timeout::After(PRODUCE_TIMEOUT))
                .await
            {
                Ok(_) => return true,
                Err((error, _)) => {
                    tracing::error!(%error, topic = %self.dead_letter, "dead-letter write failed; retrying");
                }
            }
            if stop.load(Ordering::Acquire) {
                return false;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
