//! The Kafka side of the pipeline: what API replicas produce and what ingest workers
//! consume, dead-letter and lag behind (the autoscaling signal for ingest workers).

use std::time::Duration;

use infra::kafka::GroupLag;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use super::Metrics;

#[derive(Clone)]
pub(super) struct KafkaMetrics {
    records_produced: IntCounter,
    points_produced: IntCounter,
    produce_failures: IntCounterVec,
    produce_duration: Histogram,
    pub(super) in_flight: IntGauge,
    records_consumed: IntCounter,
    points_consumed: IntCounter,
    dead_lettered: IntCounter,
    lag: IntGaugeVec,
    lag_total: IntGauge,
    assigned: IntGauge,
    group_lag_records: IntGauge,
    group_lag_seconds: Gauge,
    unowned_partitions: IntGauge,
    topic_partitions: IntGauge,
    parked: IntCounterVec,
    replayed: IntCounterVec,
    parked_records: IntGauge,
    parked_seconds: Gauge,
}

/// Why a produce failed, as counted: every reason has a series from the start.
pub(super) const PRODUCE_FAILURES: [&str; 2] = ["queue_full", "unavailable"];

impl KafkaMetrics {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            records_produced: IntCounter::new(
                "kafka_records_produced_total",
                "Telemetry records acknowledged by the Kafka brokers",
            )?,
            points_produced: IntCounter::new(
                "kafka_points_produced_total",
                "Telemetry points in acknowledged Kafka records",
            )?,
            produce_failures: IntCounterVec::new(
                Opts::new(
                    "kafka_produce_failures_total",
                    "Ingest batches refused with 503 because Kafka did not take them, by reason (queue_full, unavailable)",
                ),
                &["reason"],
            )?,
            produce_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "kafka_produce_duration_seconds",
                    "From handing a batch to the producer to the brokers' acknowledgement",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ]),
            )?,
            in_flight: IntGauge::new(
                "kafka_producer_in_flight_records",
                "Records handed to the producer and not yet acknowledged",
            )?,
            records_consumed: IntCounter::new(
                "ingest_records_consumed_total",
                "Kafka records read by this ingest worker",
            )?,
            points_consumed: IntCounter::new(
                "ingest_points_consumed_total",
                "Telemetry points read by this ingest worker (written ones: telemetry_points_processed_total)",
            )?,
            dead_lettered: IntCounter::new(
                "ingest_dead_lettered_total",
                "Records that could not be decoded, sent to the dead-letter topic",
            )?,
            lag: IntGaugeVec::new(
                Opts::new(
                    "ingest_consumer_lag_records",
                    "Records not yet written, per partition assigned to this worker",
                ),
                &["partition"],
            )?,
            lag_total: IntGauge::new(
                "ingest_consumer_lag_records_total",
                "Records not yet written over every partition assigned to this worker",
            )?,
            group_lag_records: IntGauge::new(
                "ingest_group_lag_records",
                "Records the whole consumer group has not committed, over every partition of the topic (every worker reports the same: take the max)",
            )?,
            group_lag_seconds: Gauge::new(
                "ingest_group_lag_seconds",
                "Age of the oldest record the consumer group has not committed (0 without lag)",
            )?,
            unowned_partitions: IntGauge::new(
                "ingest_unowned_partitions",
                "Partitions of the telemetry topic that no member of the consumer group holds",
            )?,
            topic_partitions: IntGauge::new(
                "ingest_topic_partitions",
                "Partitions of the telemetry topic: the most ingest workers that can share the load",
            )?,
            assigned: IntGauge::new(
                "ingest_assigned_partitions",
                "Partitions of the telemetry topic this worker holds",
            )?,
            parked: IntCounterVec::new(
                Opts::new(
                    "ingest_parked_points_total",
                    "Points this worker sent to the parked topic because their shard could not be written, by shard",
                ),
                &["shard"],
            )?,
            replayed: IntCounterVec::new(
                Opts::new(
                    "ingest_replayed_points_total",
                    "Parked points this worker wrote to their shard after all, by shard",
                ),
                &["shard"],
            )?,
            parked_records: IntGauge::new(
                "ingest_parked_records",
                "Parked records not yet replayed, over the whole parked topic (every worker reports the same: take the max)",
            )?,
            parked_seconds: Gauge::new(
                "ingest_parked_seconds",
                "Age of the oldest parked record not yet replayed (0 when nothing is parked)",
            )?,
        };
        registry.register(Box::new(metrics.records_produced.clone()))?;
        registry.register(Box::new(metrics.points_produced.clone()))?;
        registry.register(Box::new(metrics.produce_failures.clone()))?;
        registry.register(Box::new(metrics.produce_duration.clone()))?;
        registry.register(Box::new(metrics.in_flight.clone()))?;
        registry.register(Box::new(metrics.records_consumed.clone()))?;
        registry.register(Box::new(metrics.points_consumed.clone()))?;
        registry.register(Box::new(metrics.dead_lettered.clone()))?;
        registry.register(Box::new(metrics.lag.clone()))?;
        registry.register(Box::new(metrics.lag_total.clone()))?;
        registry.register(Box::new(metrics.group_lag_records.clone()))?;
        registry.register(Box::new(metrics.group_lag_seconds.clone()))?;
        registry.register(Box::new(metrics.unowned_partitions.clone()))?;
        registry.register(Box::new(metrics.topic_partitions.clone()))?;
        for reason in PRODUCE_FAILURES {
            metrics.produce_failures.with_label_values(&[reason]);
        }
        registry.register(Box::new(metrics.assigned.clone()))?;
        registry.register(Box::new(metrics.parked.clone()))?;
        registry.register(Box::new(metrics.replayed.clone()))?;
        registry.register(Box::new(metrics.parked_records.clone()))?;
        registry.register(Box::new(metrics.parked_seconds.clone()))?;
        Ok(metrics)
    }
}

impl infra::kafka::ProducerObserver for Metrics {
    fn records_produced(&self, records: usize, points: usize, took: Duration) {
        self.kafka.records_produced.inc_by(records as u64);
        self.kafka.points_produced.inc_by(points as u64);
        self.kafka.produce_duration.observe(took.as_secs_f64());
    }

    fn produce_failed(&self, reason: &'static str) {
        self.kafka
            .produce_failures
            .with_label_values(&[reason])
            .inc();
    }
}

impl infra::kafka::IngestObserver for Metrics {
    fn records_consumed(&self, records: usize, points: usize) {
        self.kafka.records_consumed.inc_by(records as u64);
        self.kafka.points_consumed.inc_by(points as u64);
    }

    fn dead_lettered(&self) {
        self.kafka.dead_lettered.inc();
    }

    fn lag(&self, partitions: &[(i32, i64)]) {
        self.kafka.lag.reset();
        for (partition, lag) in partitions {
            self.kafka
                .lag
                .with_label_values(&[partition.to_string().as_str()])
                .set(*lag);
        }
        self.kafka
            .lag_total
            .set(partitions.iter().map(|(_, lag)| lag).sum());
    }

    fn group_lag(&self, lag: &GroupLag) {
        let k = &self.kafka;
        k.group_lag_records.set(lag.records);
        k.group_lag_seconds.set(lag.oldest.as_secs_f64());
        k.topic_partitions.set(i64::from(lag.partitions));
        if let Some(unowned) = lag.unowned {
            k.unowned_partitions.set(i64::from(unowned));
        }
    }

    fn parked(&self, shard: u16, points: usize) {
        self.kafka
            .parked
            .with_label_values(&[shard.to_string().as_str()])
            .inc_by(points as u64);
    }

    fn replayed(&self, shard: u16, points: usize) {
        self.kafka
            .replayed
            .with_label_values(&[shard.to_string().as_str()])
            .inc_by(points as u64);
    }

    fn parked_backlog(&self, lag: &GroupLag) {
        self.kafka.parked_records.set(lag.records);
        self.kafka.parked_seconds.set(lag.oldest.as_secs_f64());
    }

    fn assigned(&self, partitions: usize) {
        self.kafka
            .assigned
            .set(i64::try_from(partitions).unwrap_or(i64::MAX));
    }
}
