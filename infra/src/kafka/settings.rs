//! The `[kafka]` and `[ingest]` settings: brokers, topics and client settings shared by the
//! producer and the ingest workers, and the workers' consumer group.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use domain::settings::{millis, InvalidSetting, REDACTED};
use rdkafka::config::ClientConfig;
use serde::{Deserialize, Serialize, Serializer};

/// The topics NimbusFleet uses, mapped to their names by [`TopicAssignments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaTopic {
    /// Accepted telemetry, many points per record, keyed and partitioned by drone slot.
    Telemetry,
    /// Records an ingest worker could not decode, with the reason in headers.
    DeadLetter,
    /// Points an ingest worker could not write because their shard was down, keyed and
    /// partitioned by shard; replayed once the shard is back.
    Parked,
}

impl KafkaTopic {
    pub const ALL: [KafkaTopic; 3] = [Self::Telemetry, Self::DeadLetter, Self::Parked];
}

/// `[kafka.topics]`: the name of each [`KafkaTopic`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopicAssignments {
    pub telemetry: String,
    pub dead_letter: String,
    pub parked: String,
}

impl TopicAssignments {
    pub fn name(&self, topic: KafkaTopic) -> &str {
        match topic {
            KafkaTopic::Telemetry => &self.telemetry,
            KafkaTopic::DeadLetter => &self.dead_letter,
            KafkaTopic::Parked => &self.parked,
        }
    }
}

/// The producer's compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// librdkafka's name of the codec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// `host:9092[,host:9092…]`. Unset: telemetry goes through the in-process queue and
    /// `serve` writes it itself (embedded mode). Set: `serve` produces accepted points to
    /// Kafka and `nimbusfleet ingest` workers write them.
    #[serde(default)]
    pub brokers: Option<String>,
    pub topics: TopicAssignments,
    pub client_id: String,
    /// Most points per Kafka record (points are grouped by partition).
    pub record_max_points: usize,
    /// How records are written: `compact` (protobuf, `proto/telemetry_record.proto`) or
    /// `json` (what versions before it wrote). Workers read both.
    #[serde(default)]
    pub record_format: super::RecordFormat,
    /// librdkafka's idempotent producer (`enable.idempotence`). Off by default: a record a
    /// retry sends twice is harmless (points are keyed by drone and time), and tansu, the
    /// broker of the tests and `make cluster`, stops accepting an idempotent producer's
    /// records after a restart.
    pub idempotence: bool,
    pub compression: Compression,
    /// How long the producer waits to fill a batch of records.
    #[serde(rename = "linger_ms", with = "millis")]
    pub linger: Duration,
    /// Bound of the producer's unacknowledged records, in KiB and in records; when either is
    /// reached, ingest answers 503 with `Retry-After` at once.
    pub queue_max_kbytes: u64,
    pub queue_max_records: u64,
    /// Longest wait for the brokers' acknowledgement before ingest answers 503 (the client
    /// retries, and a replay is harmless).
    #[serde(rename = "delivery_timeout_ms", with = "millis")]
    pub delivery_timeout: Duration,
    /// Further librdkafka settings (`security.protocol`, `sasl.*`, …), applied last to
    /// every client. Values of keys that name a password or secret are never printed.
    #[serde(default, serialize_with = "masked_options")]
    pub options: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// The brokers; empty when Kafka is not configured (callers check [`Self::brokers`]
    /// before building clients).
    pub(crate) fn bootstrap_servers(&self) -> &str {
        self.brokers.as_deref().unwrap_or_default()
    }

    pub fn topic(&self, topic: KafkaTopic) -> &str {
        self.topics.name(topic)
    }

    /// Checks what the types alone cannot; the error names the one setting at fault.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.brokers.as_deref().is_some_and(|b| b.trim().is_empty()) {
            return Err(InvalidSetting::new(
                "brokers",
                "must list host:port pairs, or be unset",
            ));
        }
        if self.topics.telemetry.is_empty() {
            return Err(InvalidSetting::new("topics.telemetry", "must not be empty"));
        }
        if self.topics.dead_letter.is_empty() {
            return Err(InvalidSetting::new(
                "topics.dead_letter",
                "must not be empty",
            ));
        }
        if self.topics.dead_letter == self.topics.telemetry {
            return Err(InvalidSetting::new(
                "topics.dead_letter",
                "must differ from kafka.topics.telemetry",
            ));
        }
        if self.record_max_points == 0 {
            return Err(InvalidSetting::new(
                "record_max_points",
                "must be at least 1",
            ));
        }
        if self.queue_max_kbytes == 0 {
            return Err(InvalidSetting::new(
                "queue_max_kbytes",
                "must be at least 1",
            ));
        }
        if self.queue_max_records == 0 {
            return Err(InvalidSetting::new(
                "queue_max_records",
                "must be at least 1",
            ));
        }
        let delivery_ms = self.delivery_timeout.as_millis();
        if !(100..=300_000).contains(&delivery_ms) {
            return Err(InvalidSetting::new(
                "delivery_timeout_ms",
                "must be between 100 and 300000 milliseconds",
            ));
        }
        Ok(())
    }

    /// Brokers and client id, then `defaults` (ours for this kind of client), then
    /// `kafka.options`, which win.
    pub(crate) fn client_config(&self, defaults: &[(&str, String)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap_servers())
            .set("client.id", &self.client_id);
        for (key, value) in defaults {
            config.set(*key, value);
        }
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }

    /// The telemetry producer's configuration: `acks=all`, compressed, with a bounded queue
    /// and delivery timeout, idempotent when `kafka.idempotence` says so.
    pub fn producer_config(&self) -> ClientConfig {
        self.client_config(&[
            ("enable.idempotence", self.idempotence.to_string()),
            ("acks", "all".into()),
            ("compression.type", self.compression.as_str().into()),
            ("linger.ms", self.linger.as_millis().to_string()),
            (
                "queue.buffering.max.kbytes",
                self.queue_max_kbytes.to_string(),
            ),
            (
                "queue.buffering.max.messages",
                self.queue_max_records.to_string(),
            ),
            (
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            ),
        ])
    }
}

fn masked_options<S: Serializer>(
    options: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let secret = |key: &str| {
        let key = key.to_ascii_lowercase();
        ["password", "secret", "key", "token"]
            .iter()
            .any(|word| key.contains(word))
    };
    serializer.collect_map(options.iter().map(|(key, value)| {
        let shown = if secret(key) {
            REDACTED
        } else {
            value.as_str()
        };
        (key, shown)
    }))
}

/// The `[ingest]` settings of `nimbusfleet ingest`, one member of the consumer group.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Where the worker serves `/health/live`, `/health/ready` and `/metrics`.
    pub bind: SocketAddr,
    /// The consumer group every ingest worker joins.
    pub group_id: String,
    /// A write batch closes at this many points…
    pub batch_max_points: usize,
    /// …or this long after its first record arrived.
    #[serde(rename = "flush_interval_ms", with = "millis")]
    pub flush_interval: Duration,
    /// How long the group waits for a silent worker before handing its partitions over.
    #[serde(rename = "session_timeout_ms", with = "millis")]
    pub session_timeout: Duration,
    /// How often the consumer lag in `/metrics` is refreshed.
    #[serde(rename = "lag_interval_ms", with = "millis")]
    pub stats_interval: Duration,
    /// How long one shard's share of a batch may take to write before the shard counts as
    /// down and the share is parked.
    #[serde(rename = "shard_write_timeout_ms", with = "millis")]
    pub shard_write_timeout: Duration,
}

impl IngestSettings {
    /// Checks what the types alone cannot; the error names the one setting at fault.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.group_id.is_empty() {
            return Err(InvalidSetting::new("group_id", "must not be empty"));
        }
        if self.batch_max_points == 0 {
            return Err(InvalidSetting::new(
                "batch_max_points",
                "must be at least 1",
            ));
        }
        if !(1_000..=300_000).contains(&self.session_timeout.as_millis()) {
            return Err(InvalidSetting::new(
                "session_timeout_ms",
                "must be between 1000 and 300000 milliseconds",
            ));
        }
        if self.stats_interval < Duration::from_millis(100) {
            return Err(InvalidSetting::new(
                "lag_interval_ms",
                "must be at least 100 milliseconds",
            ));
        }
        if self.shard_write_timeout < Duration::from_millis(100) {
            return Err(InvalidSetting::new(
                "shard_write_timeout_ms",
                "must be at least 100 milliseconds",
            ));
        }
        Ok(())
    }
}
