use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::ports::TelemetryStore;
use domain::telemetry::TelemetryPoint;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::util::Timeout;
use rdkafka::ClientContext;

use super::lag::{GroupLag, LagProbe};
use super::{decode_points, IngestSettings, KafkaSettings, KafkaTopic};

/// Longest wait for one broker call of a lag measurement.
const MAX_LAG_PROBE_WAIT: Duration = Duration::from_secs(2);
/// How often a sleeping lag thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);
use crate::live::LivePublisher;
use crate::telemetry::{write_durably, WriteObserver};

/// Told what the worker consumes, dead-letters and lags behind, so that the binary can export
/// metrics without infra knowing Prometheus.
pub trait IngestObserver: Send + Sync {
    fn records_consumed(&self, records: usize, points: usize);
    fn dead_lettered(&self);
    /// Records not yet written, per assigned partition (replaces the previous report).
    fn lag(&self, partitions: &[(i32, i64)]);
    /// Partitions this worker holds after a rebalance.
    fn assigned(&self, partitions: usize);
    /// The whole group's lag, measured every `ingest.lag_interval_ms`.
    fn group_lag(&self, lag: &GroupLag);
}

/// One member of the ingest consumer group. It runs on a thread of its own ([`run`] blocks):
/// rebalance callbacks come from inside `poll`, and there the batch in hand is written and
/// its offsets committed before the partitions are handed over.
///
/// Offsets are stored only after the points they cover are durable in their shards
/// (`enable.auto.offset.store=false`); auto-commit then commits what was stored. A crash
/// replays at most the uncommitted tail, which the `(drone_id, ts)` key makes harmless.
///
/// [`run`]: IngestWorker::run
pub struct IngestWorker {
    consumer: BaseConsumer<WorkerContext>,
    /// Taken by `run` for the lag thread.
    lag: Option<LagProbe>,
    lag_interval: Duration,
    dead_letters: FutureProducer,
    dead_letter_topic: String,
    batch_max_points: usize,
    flush_interval: Duration,
    stop: Arc<AtomicBool>,
}

struct WorkerContext {
    runtime: tokio::runtime::Handle,
    store: Arc<dyn TelemetryStore>,
    writes: Arc<dyn WriteObserver>,
    observer: Arc<dyn IngestObserver>,
    live: Arc<dyn LivePublisher>,
    topic: String,
    batch: Mutex<Batch>,
}

/// Points read and not yet written, with the last offset read per partition.
#[derive(Default)]
struct Batch {
    points: Vec<TelemetryPoint>,
    offsets: BTreeMap<i32, i64>,
}

impl IngestWorker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kafka: &KafkaSettings,
        ingest: &IngestSettings,
        runtime: tokio::runtime::Handle,
        store: Arc<dyn TelemetryStore>,
        writes: Arc<dyn WriteObserver>,
        observer: Arc<dyn IngestObserver>,
        live: Arc<dyn LivePublisher>,
    ) -> anyhow::Result<Self> {
        let config = kafka.client_config(&[
            ("group.id", ingest.group_id.clone()),
            ("enable.auto.commit", "true".into()),
            ("auto.commit.interval.ms", "1000".into()),
            ("enable.auto.offset.store", "false".into()),
            ("auto.offset.reset", "earliest".into()),
            (
                "session.timeout.ms",
                ingest.session_timeout.as_millis().to_string(),
            ),
            // Three heartbeats per session, as Kafka advises (librdkafka's default of 3 s
            // would expire short sessions between two heartbeats).
            (
                "heartbeat.interval.ms",
                (ingest.session_timeout.as_millis() / 3)
                    .max(100)
                    .to_string(),
            ),
            (
                "statistics.interval.ms",
                ingest.stats_interval.as_millis().to_string(),
            ),
        ]);
        let context = WorkerContext {
            runtime,
            store,
            writes,
            observer,
            live,
            topic: kafka.topic(KafkaTopic::Telemetry).to_owned(),
            batch: Mutex::new(Batch::default()),
        };
        let consumer: BaseConsumer<WorkerContext> = config.create_with_context(context)?;
        consumer.subscribe(&[kafka.topic(KafkaTopic::Telemetry)])?;

        // Dead letters are rare and a duplicated one is harmless, so their producer needs no
        // idempotence, only the brokers' acknowledgement.
        let dead_letters = kafka.client_config(&[("acks", "all".into())]).create()?;
        Ok(Self {
            consumer,
            lag: Some(LagProbe::new(kafka, ingest)?),
            lag_interval: ingest.stats_interval,
            dead_letters,
            dead_letter_topic: kafka.topic(KafkaTopic::DeadLetter).to_owned(),
            batch_max_points: ingest.batch_max_points.max(1),
            flush_interval: ingest.flush_interval,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Set it to make [`IngestWorker::run`] finish its batch, commit and return.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Consumes until the stop flag is set; blocks the calling thread, which must not be a
    /// Tokio worker. The group's lag is measured on a thread of its own meanwhile.
    pub fn run(mut self) {
        let lag = self.lag.take().map(|probe| self.measure_lag(probe));
        self.consume();
        if lag.is_some_and(|thread| thread.join().is_err()) {
            tracing::warn!("the lag measurement thread panicked");
        }
    }

    /// Measures the group's lag every `lag_interval` until the stop flag is set.
    fn measure_lag(&self, probe: LagProbe) -> std::thread::JoinHandle<()> {
        let (stop, interval) = (self.stop.clone(), self.lag_interval);
        let observer = self.consumer.context().observer.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let started = Instant::now();
                match probe.measure(interval.min(MAX_LAG_PROBE_WAIT)) {
                    Ok(measured) => observer.group_lag(&measured),
                    Err(error) => tracing::debug!(%error, "group lag not measured"),
                }
                let rest = interval.saturating_sub(started.elapsed());
                // Wake up often enough to notice the stop flag.
                let wake = Instant::now() + rest;
                while !stop.load(Ordering::Acquire) && Instant::now() < wake {
                    std::thread::sleep(rest.min(STOP_CHECK));
                }
            }
        })
    }

    fn consume(&self) {
        let context = self.consumer.context();
        let mut deadline: Option<Instant> = None;
        while !self.stop.load(Ordering::Acquire) {
            let wait = deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(100))
                .min(Duration::from_millis(100));
            match self.consumer.poll(wait) {
                Some(Ok(message)) => {
                    if !self.take(&message) {
                        break;
                    }
                    deadline.get_or_insert_with(|| Instant::now() + self.flush_interval);
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "Kafka consumer error");
                    std::thread::sleep(Duration::from_millis(100));
                }
                None => {}
            }
            let full = context.batched_points() >= self.batch_max_points;
            if full || deadline.is_some_and(|d| Instant::now() >= d) {
                context.flush(&self.consumer);
                deadline = None;
            }
        }
        context.flush(&self.consumer);
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(_)) => {}
            Err(error) => tracing::warn!(%error, "final offset commit failed"),
        }
        tracing::info!("ingest worker stopped");
    }

    /// Adds a record to the batch, or sends it to the dead-letter topic when it cannot be
    /// read. `false` when stopping before a dead letter was delivered (its offset is then
    /// not stored, so the record will be read again).
    fn take(&self, message: &BorrowedMessage<'_>) -> bool {
        let context = self.consumer.context();
        let (partition, offset) = (message.partition(), message.offset());
        match decode_points(message.payload()) {
            Ok(points) => {
                context.observer.records_consumed(1, points.len());
                context.add(partition, offset, points);
                true
            }
            Err(reason) => {
                tracing::warn!(partition, offset, %reason, "record sent to the dead-letter topic");
                if !self.dead_letter(message, &reason) {
                    return false;
                }
                context.observer.records_consumed(1, 0);
                context.observer.dead_lettered();
                context.add(partition, offset, Vec::new());
                true
            }
        }
    }

    /// Copies the record to the dead-letter topic with the reason and its origin in headers;
    /// retries until the broker acknowledges it or the worker stops.
    fn dead_letter(&self, message: &BorrowedMessage<'_>, reason: &str) -> bool {
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
        let mut backoff = Duration::from_millis(100);
        loop {
            let record = FutureRecord::to(&self.dead_letter_topic)
                .payload(payload)
                .key(key)
                .headers(headers.clone());
            let sent = self.consumer.context().runtime.block_on(
                self.dead_letters
                    .send(record, Timeout::After(Duration::from_secs(10))),
            );
            match sent {
                Ok(_) => return true,
                Err((error, _)) => {
                    tracing::error!(%error, topic = %self.dead_letter_topic, "dead-letter write failed; retrying");
                }
            }
            if self.stop.load(Ordering::Acquire) {
                return false;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

impl WorkerContext {
    fn add(&self, partition: i32, offset: i64, points: Vec<TelemetryPoint>) {
        if let Ok(mut batch) = self.batch.lock() {
            batch.points.extend(points);
            batch.offsets.insert(partition, offset);
        }
    }

    fn batched_points(&self) -> usize {
        self.batch.lock().map(|b| b.points.len()).unwrap_or(0)
    }

    /// Writes the batch in hand durably, hands it to live subscribers, then stores the
    /// offsets it covers.
    fn flush(&self, consumer: &BaseConsumer<Self>) {
        let batch = match self.batch.lock() {
            Ok(mut batch) => std::mem::take(&mut *batch),
            Err(_) => return,
        };
        if batch.offsets.is_empty() {
            return;
        }
        if !batch.points.is_empty() {
            self.runtime.block_on(write_durably(
                self.store.as_ref(),
                self.writes.as_ref(),
                &batch.points,
            ));
            let points: Arc<[TelemetryPoint]> = batch.points.into();
            self.runtime.block_on(self.live.publish(points));
        }
        for (partition, offset) in batch.offsets {
            if let Err(error) = consumer.store_offset(&self.topic, partition, offset) {
                // The partition was taken away meanwhile; its new owner replays the records,
                // which the (drone_id, ts) key makes harmless.
                tracing::debug!(partition, offset, %error, "offset not stored");
            }
        }
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
