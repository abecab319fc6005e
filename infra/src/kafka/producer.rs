use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::ports::{BusError, TelemetryBus};
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
/// returns once the brokers have acknowledged every record (`acks=all`, idempotent
/// producer), so a `202` means the points are durable in Kafka.
pub struct KafkaBus {
    producer: FutureProducer,
    topic: String,
    partitions: i32,
    record_max_points: usize,
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
        let producer: FutureProducer = settings.producer_config().create()?;
        let topic = settings.topic(KafkaTopic::Telemetry);
        let partitions = topic_partitions(&producer, topic).await?;
        tracing::info!(
            topic,
            partitions,
            brokers = settings.bootstrap_servers(),
            "telemetry goes to Kafka"
        );
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            partitions,
            record_max_points: settings.record_max_points.max(1),
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

async fn topic_partitions(producer: &FutureProducer, topic: &str) -> anyhow::Result<i32> {
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
    async fn publish(&self, points: Vec<TelemetryPoint>) -> Result<(), BusError> {
        let started = Instant::now();
        let total = points.len();
        let mut deliveries = Vec::new();
        let records = super::records(points, self.partitions, self.record_max_points)
            .map_err(|e| BusError::Unavailable(Box::new(e)))?;
        for (partition, payload) in records {
            // The key names the partition: every record of a drone has the same one, and the
            // idempotent producer keeps a partition's records in order.
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
            return Err(BusError::Unavailable(failure));
        }
        self.observer
            .records_produced(records, total, started.elapsed());
        Ok(())
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
