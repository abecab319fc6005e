use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::ports::TelemetryStore;
use domain::shard::SlotMap;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};

use super::context::{Batch, WorkerContext};
use super::lag::{GroupHealth, GroupLag, LagProbe};
use super::park::{ShardHealth, SideTopics};
use super::replay::{self, ReplayParts, Replayer};
use super::{decode_points, IngestSettings, KafkaSettings, KafkaTopic};

/// Partitions without an owner for this many session timeouts mean the group is stuck.
const STUCK_SESSIONS: u32 = 3;

/// How long a rejoin is given to take effect before another.
fn group_grace(group: &GroupHealth) -> Duration {
    group.grace()
}

/// Longest wait for one broker call of a lag measurement.
const MAX_LAG_PROBE_WAIT: Duration = Duration::from_secs(2);
/// How often a sleeping lag thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

use crate::live::LivePublisher;
use crate::telemetry::WriteObserver;

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
    /// Points of `shard` sent to the parked topic because the shard could not be written.
    fn parked(&self, shard: u16, points: usize);
    /// Parked points of `shard` written to it after all.
    fn replayed(&self, shard: u16, points: usize);
    /// Parked records not yet replayed, over the whole parked topic.
    fn parked_backlog(&self, lag: &GroupLag);
}

/// One member of the ingest consumer group. It runs on a thread of its own ([`run`] blocks):
/// rebalance callbacks come from inside `poll`, and there the batch in hand is written and
/// its offsets committed before the partitions are handed over.
///
/// Offsets are stored only after the points they cover are durable — written to their
/// shards, or, for a shard that is down, parked on the parked topic ([`park`]) —
/// (`enable.auto.offset.store=false`); auto-commit then commits what was stored. A crash
/// replays at most the uncommitted tail, which the `(drone_id, ts)` key makes harmless.
///
/// [`run`]: IngestWorker::run
pub struct IngestWorker {
    consumer: BaseConsumer<WorkerContext>,
    /// Taken by `run` for the lag thread: the telemetry group's and the replayers'.
    lag: Option<(LagProbe, LagProbe)>,
    /// Taken by `run` for the replay thread.
    replayer: Option<Replayer>,
    lag_interval: Duration,
    group: Arc<GroupHealth>,
    /// Set by the lag thread when the group has left partitions without an owner for too
    /// long: the consumer leaves the group and joins again, which reassigns them.
    rejoin: Arc<AtomicBool>,
    topic: String,
    batch_max_points: usize,
    flush_interval: Duration,
}

impl IngestWorker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kafka: &KafkaSettings,
        ingest: &IngestSettings,
        runtime: tokio::runtime::Handle,
        store: Arc<dyn TelemetryStore>,
        slot_map: SlotMap,
        writes: Arc<dyn WriteObserver>,
        observer: Arc<dyn IngestObserver>,
        live: Arc<dyn LivePublisher>,
    ) -> anyhow::Result<Self> {
        let mut config = group_member_config(kafka, ingest, &ingest.group_id);
        config.set(
            "statistics.interval.ms",
            ingest.stats_interval.as_millis().to_string(),
        );
        let health = Arc::new(ShardHealth::new(slot_map.shard_count()));
        let side = Arc::new(SideTopics::new(kafka)?);
        let replayer = Replayer::new(
            kafka,
            ingest,
            ReplayParts {
                runtime: runtime.clone(),
                store: store.clone(),
                writes: writes.clone(),
                parking: observer.clone(),
                health: health.clone(),
                side: side.clone(),
            },
        )?;
        let context = WorkerContext {
            runtime,
            store,
            slot_map,
            health,
            write_timeout: ingest.shard_write_timeout,
            side,
            writes,
            observer,
            live,
            topic: kafka.topic(KafkaTopic::Telemetry).to_owned(),
            batch: Mutex::new(Batch::default()),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let consumer: BaseConsumer<WorkerContext> = config.create_with_context(context)?;
        consumer.subscribe(&[kafka.topic(KafkaTopic::Telemetry)])?;
        let lag = (
            LagProbe::new(kafka, &ingest.group_id, kafka.topic(KafkaTopic::Telemetry))?,
            LagProbe::new(
                kafka,
                &replay::replay_group(ingest),
                kafka.topic(KafkaTopic::Parked),
            )?,
        );
        Ok(Self {
            consumer,
            lag: Some(lag),
            replayer: Some(replayer),
            lag_interval: ingest.stats_interval,
            group: Arc::new(GroupHealth::new(ingest.session_timeout * STUCK_SESSIONS)),
            rejoin: Arc::default(),
            topic: kafka.topic(KafkaTopic::Telemetry).to_owned(),
            batch_max_points: ingest.batch_max_points.max(1),
            flush_interval: ingest.flush_interval,
        })
    }

    fn stop(&self) -> &AtomicBool {
        &self.consumer.context().stop
    }

    /// Whether the group consumes every partition, for `/health/ready`.
    pub fn group_health(&self) -> Arc<GroupHealth> {
        self.group.clone()
    }

    /// Set it to make [`IngestWorker::run`] finish its batch, commit and return.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.consumer.context().stop.clone()
    }

    /// Consumes until the stop flag is set; blocks the calling thread, which must not be a
    /// Tokio worker. The group's lag is measured, and parked points are replayed, on
    /// threads of their own meanwhile.
    pub fn run(mut self) {
        let lag = self.lag.take().map(|probes| self.measure_lag(probes));
        let replay = self.replayer.take().map(|replayer| {
            let stop = self.stop_flag();
            std::thread::spawn(move || replayer.run(&stop))
        });
        self.consume();
        for thread in lag.into_iter().chain(replay) {
            if thread.join().is_err() {
                tracing::warn!("a thread of the ingest worker panicked");
            }
        }
    }

    /// Measures the group's lag, and what is parked, every `lag_interval` until the stop
    /// flag is set.
    fn measure_lag(&self, (probe, parked): (LagProbe, LagProbe)) -> std::thread::JoinHandle<()> {
        let (stop, interval) = (self.stop_flag(), self.lag_interval);
        let observer = self.consumer.context().observer.clone();
        let (group, rejoin) = (self.group.clone(), self.rejoin.clone());
        std::thread::spawn(move || {
            let mut last_rejoin: Option<Instant> = None;
            while !stop.load(Ordering::Acquire) {
                let started = Instant::now();
                match probe.measure(interval.min(MAX_LAG_PROBE_WAIT)) {
                    Ok(measured) => {
                        observer.group_lag(&measured);
                        group.record(&measured);
                    }
                    Err(error) => tracing::debug!(%error, "group lag not measured"),
                }
                match parked.measure(interval.min(MAX_LAG_PROBE_WAIT)) {
                    Ok(measured) => observer.parked_backlog(&measured),
                    Err(error) => tracing::debug!(%error, "parked backlog not measured"),
                }
                let recently = last_rejoin.is_some_and(|at| at.elapsed() < group_grace(&group));
                if let Some(stuck) = group.stuck().filter(|_| !recently) {
                    tracing::warn!(
                        partitions = stuck,
                        "partitions have records waiting and nobody consuming them: rejoining the group"
                    );
                    rejoin.store(true, Ordering::Release);
                    group.reset();
                    last_rejoin = Some(Instant::now());
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
        let topic = self.topic.clone();
        let mut deadline: Option<Instant> = None;
        while !self.stop().load(Ordering::Acquire) {
            if self.rejoin.swap(false, Ordering::AcqRel) {
                // Leaving writes the batch in hand and commits (the revoke callback).
                self.consumer.unsubscribe();
                if let Err(error) = self.consumer.subscribe(&[&topic]) {
                    tracing::warn!(%error, "rejoining the consumer group failed");
                }
            }
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
                let sent = context.runtime.block_on(context.side.dead_letter(
                    message,
                    &reason,
                    self.stop(),
                ));
                if !sent {
                    return false;
                }
                context.observer.records_consumed(1, 0);
                context.observer.dead_lettered();
                context.add(partition, offset, Vec::new());
                true
            }
        }
    }
}

/// A member of `group` that stores offsets itself once what they cover is durable, and
/// lets auto-commit commit them every second.
pub(super) fn group_member_config(
    kafka: &KafkaSettings,
    ingest: &IngestSettings,
    group: &str,
) -> rdkafka::ClientConfig {
    kafka.client_config(&[
        ("group.id", group.to_owned()),
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
    ])
}
