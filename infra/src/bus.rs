//! The factory of the telemetry bus (DESIGN §4): where an API replica puts accepted points.
//! With `kafka.brokers` set they become Kafka records and the ingest workers write them;
//! otherwise the embedded pipeline queues them and its writer task writes them here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::ports::{HealthCheck, TelemetryBus, TelemetryStore};

use crate::kafka::{KafkaBus, KafkaSettings, ProducerObserver};
use crate::live::LivePublisher;
use crate::pipeline::{Acknowledgement, Pipeline, PipelineSettings};
use crate::telemetry::WriteObserver;
use domain::shard::SlotMap;

/// How long a stopping replica waits for Kafka to acknowledge the records in flight.
const KAFKA_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The telemetry path of this process, chosen once.
pub enum TelemetryPath {
    Embedded(Arc<Pipeline>),
    Kafka(Arc<KafkaBus>),
}

/// What the embedded writers need besides their settings.
pub struct Writers {
    pub store: Arc<dyn TelemetryStore>,
    /// Which shard each drone's points go to.
    pub slot_map: SlotMap,
    pub live: Arc<dyn LivePublisher>,
    pub observer: Arc<dyn WriteObserver>,
    pub ack: Acknowledgement,
}

impl TelemetryPath {
    /// Kafka when `kafka.brokers` is set (connecting first; the topic must exist), else the
    /// embedded pipeline with its writers started on the current runtime.
    pub async fn new(
        kafka: &KafkaSettings,
        pipeline: &PipelineSettings,
        writers: Writers,
        producer: Arc<dyn ProducerObserver>,
    ) -> anyhow::Result<Self> {
        match &kafka.brokers {
            Some(brokers) => {
                let bus = KafkaBus::connect(kafka, producer)
                    .await
                    .with_context(|| format!("failed to connect to Kafka at {brokers}"))?;
                Ok(Self::Kafka(Arc::new(bus)))
            }
            None => Ok(Self::Embedded(Arc::new(Pipeline::start(
                pipeline,
                writers.ack,
                writers.slot_map,
                writers.store,
                writers.live,
                writers.observer,
            )))),
        }
    }

    pub fn bus(&self) -> Arc<dyn TelemetryBus> {
        match self {
            Self::Embedded(pipeline) => pipeline.clone(),
            Self::Kafka(kafka) => kafka.clone(),
        }
    }

    /// The embedded pipeline, when this process writes telemetry itself.
    pub fn pipeline(&self) -> Option<&Arc<Pipeline>> {
        match self {
            Self::Embedded(pipeline) => Some(pipeline),
            Self::Kafka(_) => None,
        }
    }

    pub fn kafka(&self) -> Option<&Arc<KafkaBus>> {
        match self {
            Self::Embedded(_) => None,
            Self::Kafka(kafka) => Some(kafka),
        }
    }

    /// Points accepted and not yet durable in this process's queue (0 with Kafka).
    pub fn queued_points(&self) -> usize {
        self.pipeline().map_or(0, |p| p.queued_points())
    }

    pub fn queue_capacity(&self) -> usize {
        self.pipeline().map_or(0, |p| p.capacity())
    }

    /// Kafka records handed to the producer and not yet acknowledged (0 when embedded).
    pub fn in_flight(&self) -> i32 {
        self.kafka().map_or(0, |k| k.in_flight())
    }

    /// The brokers, for `/health/ready`.
    pub fn health(&self) -> Option<Arc<dyn HealthCheck>> {
        self.kafka()
            .map(|kafka| kafka.clone() as Arc<dyn HealthCheck>)
    }

    /// Refuses new points and waits until every accepted one is durable.
    pub async fn drain(&self) {
        match self {
            Self::Embedded(pipeline) => {
                tracing::info!(
                    queued = pipeline.queued_points(),
                    "draining the telemetry queue"
                );
                pipeline.shutdown().await;
            }
            Self::Kafka(kafka) => kafka.flush(KAFKA_FLUSH_TIMEOUT).await,
        }
    }
}
