use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::ports::{BusError, Delivery, TelemetryBus};
use domain::telemetry::TelemetryPoint;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::{KafkaSettings, KafkaTopic};

/// Told about every produced batch, so the API can export metrics.
pub trait ProducerObserver: Send + Sync {
    fn records_produced(&self, records: usize, points: usize, took: Duration);
    /// `reason`: `queue_full` or `unavailable`.
    fn produce_failed(&self, reason: &'static str);
}

/// The bus of an API replica in a cluster: accepted points become Kafka records. `publish`
/// returns once the brokers have acknowledged every record (`acks=all`), so a `202` means
/// the points are durable in Kafka. While the brokers are known to be down it fails at
/// once, and recovers by itself as soon as a metadata probe (one a second) is answered.
pub struct KafkaBus {
    producer: FutureProducer<WatchContext>,
    brokers: Arc<BrokerWatch>,
    topic: String,
    partitions: i32,
    record_max_points: usize,
    record_format: super::RecordFormat,
    observer: Arc<dyn ProducerObserver>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus")
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl KafkaBus {
    /// Creates the producer and reads the topic's partition count; fails when the brokers
    /// cannot be reached or the topic does not exist.
    pub async fn connect(
        settings: &KafkaSettings,
        observer: Arc<dyn ProducerObserver>,
    ) -> anyhow::Result<Self> {
        let brokers = Arc::new(BrokerWatch::default());
        let producer: FutureProducer<WatchContext> = settings
            .producer_config()
            .create_with_context(WatchContext(brokers.clone()))?;
        let topic = settings.topic(KafkaTopic::Telemetry);
        let partitions = topic_partitions(&producer, topic).await?;
        tokio::spawn(probe_while_down(producer.clone(), Arc::downgrade(&brokers)));
        tracing::info!(
            topic,
            partitions,
            brokers = settings.bootstrap_servers(),
            "telemetry goes to Kafka"
        );
        Ok(Self {
            producer,
            brokers,
            topic: topic.to_owned(),
            partitions,
            record_max_points: settings.record_max_points.max(1),
            record_format: settings.record_format,
            observer,
        })
    }

    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// Records handed to the producer and not yet acknowledged.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Waits until every record in flight is acknowledged (at shutdown).
    pub async fn flush(&self, timeout: Duration) {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!(
                in_flight = self.in_flight(),
                "Kafka producer did not flush in time"
            );
        }
    }
}

async fn topic_partitions(
    producer: &FutureProducer<WatchContext>,
    topic: &str,
) -> anyhow::Result<i32> {
    let client = producer.clone();
    let name = topic.to_owned();
    let metadata = tokio::task::spawn_blocking(move || {
        client
            .client()
            .fetch_metadata(Some(&name), Duration::from_secs(10))
    })
    .await??;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        anyhow::bail!(
            "Kafka topic {topic} does not exist; create it with `nimbusfleet admin create-topics`"
        );
    }
    Ok(i32::try_from(partitions)?)
}

#[async_trait]
impl TelemetryBus for KafkaBus {
    async fn publish(&self, points: Vec<TelemetryPoint>) -> Result<Delivery, BusError> {
        let watch = &self.brokers;
        if !watch.may_try() {
            self.observer.produce_failed("unavailable");
            return Err(BusError::Unavailable(Box::new(BrokersDown)));
        }
        let started = Instant::now();
        let total = points.len();
        let mut deliveries = Vec::new();
        let records = super::records(
            points,
            self.partitions,
            self.record_max_points,
            self.record_format,
        )
        .map_err(|e| BusError::Unavailable(Box::new(e)))?;
        for (partition, payload) in records {
            // The key names the partition: every record of a drone has the same one. A retry
            // may reorder or repeat records; points are keyed by time, so neither matters.
            let key = partition.to_string();
            let record = FutureRecord::to(&self.topic)
                .partition(partition)
                .key(&key)
                .payload(&payload);
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                // Records already handed over still get delivered; the client retries the
                // whole batch and the replayed points are ignored by their key.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.observer.produce_failed("queue_full");
                    return Err(BusError::Full);
                }
                Err((error, _)) => {
                    self.observer.produce_failed("unavailable");
                    return Err(BusError::Unavailable(Box::new(error)));
                }
            }
        }
        let records = deliveries.len();
        for delivery in futures::future::join_all(deliveries).await {
            let failure: Box<dyn std::error::Error + Send + Sync> = match delivery {
                Ok(Ok(_)) => continue,
                Ok(Err((error, _))) => Box::new(error),
                Err(cancelled) => Box::new(cancelled),
            };
            self.observer.produce_failed("unavailable");
            watch.failed();
            return Err(BusError::Unavailable(failure));
        }
        watch.succeeded();
        self.observer
            .records_produced(records, total, started.elapsed());
        Ok(Delivery::default())
    }
}

#[async_trait]
impl domain::ports::HealthCheck for KafkaBus {
    async fn check(&self) -> Vec<(String, Option<String>)> {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        let answer = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(1))
                .map(|_| ())
        })
        .await;
        let error = match answer {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(error) => Some(error.to_string()),
        };
        vec![("kafka".to_owned(), error)]
    }
}

/// The brokers are known to be unreachable: the answer comes at once, not after the
/// delivery timeout.
#[derive(Debug, thiserror::Error)]
#[error("the Kafka brokers are unreachable")]
struct BrokersDown;

/// How often the brokers are asked for metadata while they are known to be down, to learn
/// that they are back.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one of those probes waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the producer knows of its brokers: librdkafka says when all of them are down, a
/// failed delivery says the same, and a delivered record or an answered metadata probe
/// ([`probe_while_down`]) says they are back. While down, publishes fail at once.
#[derive(Default)]
pub(super) struct BrokerWatch {
    down_since: std::sync::Mutex<Option<Instant>>,
}

impl BrokerWatch {
    fn failed(&self) {
        if let Ok(mut down) = self.down_since.lock() {
            down.get_or_insert_with(Instant::now);
        }
    }

    fn succeeded(&self) {
        if let Ok(mut down) = self.down_since.lock() {
            if let Some(since) = down.take() {
                tracing::info!(
                    down_ms = since.elapsed().as_millis() as u64,
                    "the Kafka brokers answer again"
                );
            }
        }
    }

    /// Whether a publish may go to the brokers now.
    fn may_try(&self) -> bool {
        !self.down_since.lock().map(|d| d.is_some()).unwrap_or(false)
    }
}

/// While the brokers are known to be down, asks them for metadata every [`PROBE_INTERVAL`]
/// and marks them up when they answer; ends when the bus is dropped.
async fn probe_while_down(producer: FutureProducer<WatchContext>, watch: Weak<BrokerWatch>) {
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(brokers) = watch.upgrade() else {
            return;
        };
        if brokers.may_try() {
            continue;
        }
        let client = producer.clone();
        let answered = tokio::task::spawn_blocking(move || {
            client.client().fetch_metadata(None, PROBE_TIMEOUT).is_ok()
        })
        .await;
        if matches!(answered, Ok(true)) {
            brokers.succeeded();
        }
    }
}

/// The producer's client context: it tells the [`BrokerWatch`] when librdkafka finds
/// every broker down.
pub(super) struct WatchContext(Arc<BrokerWatch>);

impl rdkafka::ClientContext for WatchContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            tracing::warn!(%reason, "all Kafka brokers are down; ingest answers 503 at once until they are back");
            self.0.failed();
        } else {
            tracing::debug!(%error, %reason, "Kafka client error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn while_the_brokers_are_down_publishes_fail_fast_until_they_answer() {
        let watch = BrokerWatch::default();
        assert!(watch.may_try() && watch.may_try(), "up: every publish goes");
        watch.failed();
        assert!(!watch.may_try() && !watch.may_try(), "down: fail fast");
        watch.succeeded();
        assert!(watch.may_try() && watch.may_try());
    }
}
