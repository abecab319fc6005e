//! Typed settings, layered: built-in defaults → a TOML file (`--config`, or `nimbusfleet.toml`
//! in the working directory when present) → `NIMBUS__SECTION__KEY` environment variables →
//! command-line flags. [`Settings::validate`] runs at start and names the setting at fault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::flight_plan::PlanRules;
use domain::shard::SlotMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub auth: AuthSettings,
    pub flight_plans: FlightPlanSettings,
    pub telemetry: TelemetrySettings,
    pub redis: RedisSettings,
    pub cache: CacheSettings,
    pub kafka: KafkaSettings,
    pub ingest: IngestSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KafkaSettings {
    /// `host:9092[,host:9092…]`. Unset: telemetry goes through the in-process queue and
    /// `serve` writes it itself (embedded mode). Set: `serve` produces accepted points to
    /// Kafka and `nimbusfleet ingest` workers write them.
    pub brokers: Option<String>,
    pub topic: String,
    pub dead_letter_topic: String,
    pub client_id: String,
    /// Most points per Kafka record (points are grouped by partition).
    pub record_max_points: usize,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: String,
    pub linger_ms: u64,
    /// Bound of the producer's unacknowledged records, in KiB and in records; when either is
    /// reached, ingest answers 503 with `Retry-After`.
    pub queue_max_kbytes: u64,
    pub queue_max_records: u64,
    /// Longest wait for the brokers' acknowledgement before ingest answers 503.
    pub delivery_timeout_ms: u64,
    /// Further librdkafka settings (e.g. `security.protocol`), applied to every client.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngestSettings {
    /// Where `nimbusfleet ingest` serves `/health/live`, `/health/ready` and `/metrics`.
    pub bind: String,
    /// The consumer group every ingest worker joins.
    pub group_id: String,
    /// A write batch closes at this many points…
    pub batch_max_points: usize,
    /// …or this many milliseconds after its first record.
    pub flush_interval_ms: u64,
    /// How long the group waits for a silent worker before moving its partitions.
    pub session_timeout_ms: u64,
    /// How often the consumer lag in `/metrics` is refreshed.
    pub lag_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// Serve hot reads from the cache (Redis, or in-process without Redis). Off: every read
    /// goes to the database (for benchmarks and troubleshooting).
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// `redis://host:6379/0`. Unset: sessions, caches, rate limits, idempotency keys and live
    /// fan-out stay in this process (embedded mode; one replica only).
    pub url: Option<SecretString>,
    /// Prefix of every key and channel, so that installations can share a server.
    pub key_prefix: String,
    /// Longest wait for one cache command; past it a read counts as a miss.
    pub timeout_ms: u64,
    /// Longest wait for a session, rate-limit or idempotency command. Longer than the cache
    /// timeout: a session that times out fails closed (503), which users see.
    pub command_timeout_ms: u64,
    pub pool_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT.
    pub shutdown_timeout_s: u64,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// The built dashboard (`frontend/dist`), served at `/`. When it holds no `index.html`,
    /// `/` explains how to build it and links to the API docs.
    pub dashboard_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    /// Folder of the embedded SQLite databases, used when `catalog_url` is unset.
    pub data_dir: PathBuf,
    /// Catalog database URL (PostgreSQL or SQLite). Unset: embedded SQLite in `data_dir`.
    pub catalog_url: Option<SecretString>,
    /// Shard database URLs, in shard order. Required with `catalog_url`.
    #[serde(default)]
    pub shard_urls: Vec<SecretString>,
    /// Slot ranges per shard, e.g. `0-511:0,512-1023:1`. Unset: an even split.
    pub slot_map: Option<String>,
    pub max_connections: u32,
    pub connect_timeout_s: u64,
    /// Run migrations when `serve` starts.
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HMAC key for access tokens (≥ 32 bytes). Unset in embedded mode: a random key per
    /// process. Required with PostgreSQL, where every replica must share it.
    pub jwt_secret: Option<SecretString>,
    /// Lifetime of an access token and its session, in seconds.
    pub token_ttl_s: u64,
    pub issuer: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FlightPlanSettings {
    pub ceiling_m: f64,
    pub endurance_reserve_min: f64,
    pub default_speed_mps: f64,
    pub max_waypoints: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// Most points in one `POST /telemetry` batch.
    pub max_batch_points: usize,
    /// Most points accepted but not yet written; beyond it ingest answers 503.
    pub queue_capacity_points: usize,
    /// The writer closes a batch at this many points…
    pub write_batch_points: usize,
    /// …or this many milliseconds after its first point.
    pub flush_interval_ms: u64,
    /// How far in the future a point's `ts` may be, in seconds.
    pub max_future_skew_s: i64,
    /// Days of history kept; older points are refused and dropped.
    pub retention_days: i64,
    /// Batches a live client may fall behind before it is disconnected.
    pub live_buffer_batches: usize,
    /// Highest update rate (per second) a live client may ask for.
    pub live_max_hz: f64,
    /// How often partitions are created ahead and expired ones dropped, in seconds.
    pub maintenance_interval_s: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `info,sqlx=warn`; `RUST_LOG` wins when set.
    pub level: String,
}

/// Command-line values that override every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub ingest_bind: Option<String>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Not marked as the source: its message is already in ours, and printing the chain
    /// would repeat it.
    #[error("configuration: {0}")]
    Load(config::ConfigError),
    #[error("configuration: `{setting}` {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
}

impl From<config::ConfigError> for SettingsError {
    fn from(error: config::ConfigError) -> Self {
        Self::Load(error)
    }
}

fn invalid(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting,
        problem: problem.into(),
    }
}

const DEFAULT_FILE: &str = "nimbusfleet.toml";

impl Settings {
    /// Loads every layer and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder()
            .set_default("server.bind", "127.0.0.1:8080")?
            .set_default("server.workers", 0)?
            .set_default("server.shutdown_timeout_s", 30)?
            .set_default("server.body_limit_bytes", 1_048_576)?
            .set_default("server.dashboard_dir", "frontend/dist")?
            .set_default("storage.data_dir", "./data")?
            .set_default("storage.max_connections", 10)?
            .set_default("storage.connect_timeout_s", 5)?
            .set_default("storage.migrate_on_start", true)?
            .set_default("auth.token_ttl_s", 86_400)?
            .set_default("auth.issuer", "nimbusfleet")?
            .set_default("flight_plans.ceiling_m", 120.0)?
            .set_default("flight_plans.endurance_reserve_min", 5.0)?
            .set_default("flight_plans.default_speed_mps", 10.0)?
            .set_default("flight_plans.max_waypoints", 500)?
            .set_default("telemetry.max_batch_points", 5000)?
            .set_default("telemetry.queue_capacity_points", 200_000)?
            .set_default("telemetry.write_batch_points", 5000)?
            .set_default("telemetry.flush_interval_ms", 5)?
            .set_default("telemetry.max_future_skew_s", 30)?
            .set_default("telemetry.retention_days", 90)?
            .set_default("telemetry.live_buffer_batches", 1024)?
            .set_default("telemetry.live_max_hz", 10.0)?
            .set_default("telemetry.maintenance_interval_s", 3600)?
            .set_default("redis.key_prefix", "nf:v1:")?
            .set_default("redis.timeout_ms", 50)?
            .set_default("redis.command_timeout_ms", 500)?
            .set_default("redis.pool_size", 16)?
            .set_default("cache.enabled", true)?
            .set_default("kafka.topic", "nimbus.telemetry")?
            .set_default("kafka.dead_letter_topic", "nimbus.telemetry.dead-letter")?
            .set_default("kafka.client_id", "nimbusfleet")?
            .set_default("kafka.record_max_points", 1000)?
            .set_default("kafka.compression", "lz4")?
            .set_default("kafka.linger_ms", 5)?
            .set_default("kafka.queue_max_kbytes", 65_536)?
            .set_default("kafka.queue_max_records", 100_000)?
            .set_default("kafka.delivery_timeout_ms", 10_000)?
            .set_default("ingest.bind", "127.0.0.1:9464")?
            .set_default("ingest.group_id", "nimbus-ingest")?
            .set_default("ingest.batch_max_points", 5000)?
            .set_default("ingest.flush_interval_ms", 5)?
            .set_default("ingest.session_timeout_ms", 10_000)?
            .set_default("ingest.lag_interval_ms", 1000)?
            .set_default("log.format", "pretty")?
            .set_default("log.level", "info,sea_orm_migration=warn,sqlx=warn")?;
        builder = match file {
            Some(path) => builder.add_source(config::File::from(path).required(true)),
            None => builder.add_source(config::File::with_name(DEFAULT_FILE).required(false)),
        };
        builder = builder.add_source(
            config::Environment::with_prefix("NIMBUS")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("storage.shard_urls")
                .try_parsing(true),
        );
        if let Some(bind) = &overrides.bind {
            builder = builder.set_override("server.bind", bind.as_str())?;
        }
        if let Some(bind) = &overrides.ingest_bind {
            builder = builder.set_override("ingest.bind", bind.as_str())?;
        }
        if let Some(dir) = &overrides.data_dir {
            builder = builder.set_override("storage.data_dir", dir.to_string_lossy().as_ref())?;
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot. Each error names its setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.server
            .bind
            .parse::<SocketAddr>()
            .map_err(|_| invalid("server.bind", "must be an address such as 127.0.0.1:8080"))?;
        if self.server.body_limit_bytes < 1024 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1024"));
        }
        let s = &self.storage;
        if s.max_connections == 0 {
            return Err(invalid("storage.max_connections", "must be at least 1"));
        }
        match (&s.catalog_url, s.shard_urls.is_empty()) {
            (None, false) => {
                return Err(invalid(
                    "storage.shard_urls",
                    "is set but storage.catalog_url is not; set both or neither",
                ))
            }
            (Some(_), true) => {
                return Err(invalid(
                    "storage.shard_urls",
                    "must list at least one shard when storage.catalog_url is set",
                ))
            }
            _ => {}
        }
        for url in s.catalog_url.iter().chain(&s.shard_urls) {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                return Err(invalid(
                    "storage.catalog_url/shard_urls",
                    "must be postgres://… or sqlite:… URLs",
                ));
            }
        }
        if s.shard_urls.len() > usize::from(u16::MAX) {
            return Err(invalid("storage.shard_urls", "lists too many shards"));
        }
        self.slot_map()?;
        self.validate_kafka()?;
        match &self.auth.jwt_secret {
            Some(secret) if secret.expose_secret().len() < 32 => {
                return Err(invalid("auth.jwt_secret", "must be at least 32 bytes long"))
            }
            None if self.uses_postgres() => return Err(invalid(
                "auth.jwt_secret",
                "is required with PostgreSQL storage: every replica must sign with the same key",
            )),
            _ => {}
        }
        if !(60..=30 * 86_400).contains(&self.auth.token_ttl_s) {
            return Err(invalid(
                "auth.token_ttl_s",
                "must be between 60 and 2592000 seconds",
            ));
        }
        let fp = &self.flight_plans;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(fp.ceiling_m) {
            return Err(invalid(
                "flight_plans.ceiling_m",
                "must be a positive number of metres",
            ));
        }
        if !(fp.endurance_reserve_min.is_finite() && fp.endurance_reserve_min >= 0.0) {
            return Err(invalid(
                "flight_plans.endurance_reserve_min",
                "must be zero or more minutes",
            ));
        }
        if !positive(fp.default_speed_mps) {
            return Err(invalid(
                "flight_plans.default_speed_mps",
                "must be a positive speed",
            ));
        }
        if fp.max_waypoints < 2 {
            return Err(invalid("flight_plans.max_waypoints", "must be at least 2"));
        }
        let t = &self.telemetry;
        if t.max_batch_points == 0 {
            return Err(invalid("telemetry.max_batch_points", "must be at least 1"));
        }
        if t.queue_capacity_points < t.max_batch_points {
            return Err(invalid(
                "telemetry.queue_capacity_points",
                "must be at least telemetry.max_batch_points, or no full batch could ever be accepted",
            ));
        }
        if t.write_batch_points == 0 {
            return Err(invalid(
                "telemetry.write_batch_points",
                "must be at least 1",
            ));
        }
        if !(0..=3600).contains(&t.max_future_skew_s) {
            return Err(invalid(
                "telemetry.max_future_skew_s",
                "must be between 0 and 3600 seconds",
            ));
        }
        if !(1..=3650).contains(&t.retention_days) {
            return Err(invalid(
                "telemetry.retention_days",
                "must be between 1 and 3650 days",
            ));
        }
        if !(t.live_max_hz.is_finite() && t.live_max_hz > 0.0 && t.live_max_hz <= 100.0) {
            return Err(invalid(
                "telemetry.live_max_hz",
                "must be greater than 0 and at most 100",
            ));
        }
        if t.live_buffer_batches == 0 || t.maintenance_interval_s == 0 {
            return Err(invalid(
                "telemetry.live_buffer_batches/maintenance_interval_s",
                "must be at least 1",
            ));
        }
        if let Some(url) = &self.redis.url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid("redis.url", "must be a redis:// or rediss:// URL"));
            }
        }
        if self.redis.timeout_ms == 0
            || self.redis.command_timeout_ms == 0
            || self.redis.pool_size == 0
        {
            return Err(invalid(
                "redis.timeout_ms/command_timeout_ms/pool_size",
                "must be at least 1",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", format!("is not a valid filter: {e}")))?;
        Ok(())
    }

    pub fn uses_postgres(&self) -> bool {
        self.storage
            .catalog_url
            .iter()
            .chain(&self.storage.shard_urls)
            .any(|url| url.expose_secret().starts_with("postgres"))
    }

    pub fn shard_count(&self) -> u16 {
        u16::try_from(self.storage.shard_urls.len().max(1)).unwrap_or(u16::MAX)
    }

    pub fn slot_map(&self) -> Result<SlotMap, SettingsError> {
        let shards = self.shard_count();
        match &self.storage.slot_map {
            Some(spec) => SlotMap::parse(spec, shards),
            None => SlotMap::even(shards),
        }
        .map_err(|e| invalid("storage.slot_map", e.to_string()))
    }

    pub fn plan_rules(&self) -> PlanRules {
        PlanRules {
            ceiling_m: self.flight_plans.ceiling_m,
            endurance_reserve_min: self.flight_plans.endurance_reserve_min,
            default_speed_mps: self.flight_plans.default_speed_mps,
            max_waypoints: self.flight_plans.max_waypoints,
        }
    }

    pub fn telemetry_rules(&self) -> domain::telemetry::TelemetryRules {
        domain::telemetry::TelemetryRules {
            max_future_skew: chrono::Duration::seconds(self.telemetry.max_future_skew_s),
            retention: chrono::Duration::days(self.telemetry.retention_days),
        }
    }

    fn validate_kafka(&self) -> Result<(), SettingsError> {
        let k = &self.kafka;
        if k.brokers.as_deref().is_some_and(|b| b.trim().is_empty()) {
            return Err(invalid(
                "kafka.brokers",
                "must list host:port pairs, or be unset",
            ));
        }
        if k.topic.is_empty() || k.dead_letter_topic.is_empty() || k.topic == k.dead_letter_topic {
            return Err(invalid(
                "kafka.dead_letter_topic",
                "kafka.topic and kafka.dead_letter_topic must be set and differ",
            ));
        }
        if k.record_max_points == 0 {
            return Err(invalid("kafka.record_max_points", "must be at least 1"));
        }
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&k.compression.as_str()) {
            return Err(invalid(
                "kafka.compression",
                "must be none, gzip, snappy, lz4 or zstd",
            ));
        }
        if k.queue_max_kbytes == 0 || k.queue_max_records == 0 {
            return Err(invalid(
                "kafka.queue_max_kbytes",
                "kafka.queue_max_kbytes and kafka.queue_max_records must be at least 1",
            ));
        }
        if !(100..=300_000).contains(&k.delivery_timeout_ms) {
            return Err(invalid(
                "kafka.delivery_timeout_ms",
                "must be between 100 and 300000 milliseconds",
            ));
        }
        let i = &self.ingest;
        i.bind
            .parse::<SocketAddr>()
            .map_err(|_| invalid("ingest.bind", "must be an address such as 127.0.0.1:9464"))?;
        if i.group_id.is_empty() {
            return Err(invalid("ingest.group_id", "must not be empty"));
        }
        if i.batch_max_points == 0 {
            return Err(invalid("ingest.batch_max_points", "must be at least 1"));
        }
        if !(1_000..=300_000).contains(&i.session_timeout_ms) {
            return Err(invalid(
                "ingest.session_timeout_ms",
                "must be between 1000 and 300000 milliseconds",
            ));
        }
        if i.lag_interval_ms < 100 {
            return Err(invalid(
                "ingest.lag_interval_ms",
                "must be at least 100 milliseconds",
            ));
        }
        Ok(())
    }

    /// The Redis settings for `infra` with a command timeout of `timeout_ms`, when
    /// `redis.url` is set.
    pub fn redis_settings(&self, timeout_ms: u64) -> Option<infra::redis::RedisSettings> {
        let r = &self.redis;
        Some(infra::redis::RedisSettings {
            url: r.url.as_ref()?.expose_secret().to_owned(),
            key_prefix: r.key_prefix.clone(),
            timeout: Duration::from_millis(timeout_ms),
            pool_size: r.pool_size,
        })
    }

    /// The Kafka settings for `infra`, when `kafka.brokers` is set.
    pub fn kafka_settings(&self) -> Option<infra::kafka::KafkaSettings> {
        let k = &self.kafka;
        Some(infra::kafka::KafkaSettings {
            brokers: k.brokers.clone()?,
            topic: k.topic.clone(),
            dead_letter_topic: k.dead_letter_topic.clone(),
            client_id: k.client_id.clone(),
            record_max_points: k.record_max_points,
            compression: k.compression.clone(),
            linger: Duration::from_millis(k.linger_ms),
            queue_max_kbytes: k.queue_max_kbytes,
            queue_max_records: k.queue_max_records,
            delivery_timeout: Duration::from_millis(k.delivery_timeout_ms),
            options: k.options.clone(),
        })
    }

    pub fn ingest_settings(&self) -> infra::kafka::IngestSettings {
        let i = &self.ingest;
        infra::kafka::IngestSettings {
            group_id: i.group_id.clone(),
            batch_max_points: i.batch_max_points,
            flush_interval: Duration::from_millis(i.flush_interval_ms),
            session_timeout: Duration::from_millis(i.session_timeout_ms),
            stats_interval: Duration::from_millis(i.lag_interval_ms),
        }
    }

    pub fn pipeline_settings(&self) -> infra::pipeline::PipelineSettings {
        infra::pipeline::PipelineSettings {
            queue_capacity_points: self.telemetry.queue_capacity_points,
            batch_max_points: self.telemetry.write_batch_points,
            flush_interval: Duration::from_millis(self.telemetry.flush_interval_ms),
            live_buffer_batches: self.telemetry.live_buffer_batches,
        }
    }

    /// The storage configuration for `infra`: the configured URLs, or embedded SQLite files
    /// under `data_dir` (created if missing).
    pub fn infra_storage(&self) -> std::io::Result<infra::StorageSettings> {
        let s = &self.storage;
        let (catalog_url, shard_urls) = match &s.catalog_url {
            Some(catalog) => (
                catalog.expose_secret().to_owned(),
                s.shard_urls
                    .iter()
                    .map(|u| u.expose_secret().to_owned())
                    .collect(),
            ),
            None => {
                std::fs::create_dir_all(&s.data_dir)?;
                let dir = std::path::absolute(&s.data_dir)?;
                let sqlite = |file: &str| format!("sqlite://{}?mode=rwc", dir.join(file).display());
                (sqlite("catalog.db"), vec![sqlite("shard-0.db")])
            }
        };
        Ok(infra::StorageSettings {
            catalog_url,
            shard_urls,
            slot_map: s.slot_map.clone(),
            max_connections: s.max_connections,
            connect_timeout: Duration::from_secs(s.connect_timeout_s),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Settings::load(None, &Overrides::default()).unwrap()
    }

    #[test]
    fn defaults_are_embedded_and_valid() {
        let s = defaults();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert!(s.storage.catalog_url.is_none());
        assert_eq!(s.shard_count(), 1);
        assert_eq!(s.flight_plans.ceiling_m, 120.0);
        assert!(
            s.kafka_settings().is_none(),
            "no Kafka unless brokers are set"
        );
    }

    #[test]
    fn kafka_settings_are_checked_and_named() {
        let mut s = defaults();
        s.kafka.brokers = Some("127.0.0.1:9092".into());
        s.validate().unwrap();
        let kafka = s.kafka_settings().unwrap();
        assert_eq!(kafka.topic, "nimbus.telemetry");
        assert_eq!(kafka.delivery_timeout, Duration::from_secs(10));

        let problem = |tweak: fn(&mut Settings)| {
            let mut bad = s.clone();
            tweak(&mut bad);
            bad.validate().unwrap_err().to_string()
        };
        assert!(problem(|s| s.kafka.compression = "brotli".into()).contains("kafka.compression"));
        assert!(
            problem(|s| s.kafka.dead_letter_topic = s.kafka.topic.clone())
                .contains("kafka.dead_letter_topic")
        );
        assert!(problem(|s| s.kafka.record_max_points = 0).contains("kafka.record_max_points"));
        assert!(problem(|s| s.ingest.bind = "nowhere".into()).contains("ingest.bind"));
        assert!(problem(|s| s.ingest.session_timeout_ms = 10).contains("ingest.session_timeout_ms"));
        assert!(problem(|s| s.kafka.brokers = Some(" ".into())).contains("kafka.brokers"));
    }

    #[test]
    fn a_bad_setting_is_named_in_the_error() {
        let mut s = defaults();
        s.server.bind = "nowhere".into();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("server.bind"));
        let mut s = defaults();
        s.storage.catalog_url = Some("postgres://db/catalog".to_owned().into());
        s.storage.shard_urls = vec!["postgres://db/s0".to_owned().into()];
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("auth.jwt_secret"));
        s.auth.jwt_secret = Some("x".repeat(40).into());
        s.storage.slot_map = Some("0-100:0".into());
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("storage.slot_map"));
    }

    #[test]
    fn command_line_flags_win_over_defaults() {
        let overrides = Overrides {
            bind: Some("0.0.0.0:9999".into()),
            ingest_bind: Some("0.0.0.0:9465".into()),
            data_dir: Some("/tmp/nf".into()),
        };
        let s = Settings::load(None, &overrides).unwrap();
        assert_eq!(s.server.bind, "0.0.0.0:9999");
        assert_eq!(s.ingest.bind, "0.0.0.0:9465");
        assert_eq!(s.storage.data_dir, PathBuf::from("/tmp/nf"));
    }
}
