//! The whole configuration, composed of the sections each layer owns, layered: compiled-in
//! defaults (`defaults.toml`) → a TOML file (`--config`, or `nimbusfleet.toml` in the
//! working directory when present) → `NIMBUS__SECTION__KEY` environment variables →
//! command-line flags. [`Settings::validate`] runs at start and names the one setting at
//! fault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use api::logging::LogSettings;
use api::settings::{
    AuthSettings, CacheSettings, LiveSettings, ServerSettings, TelemetrySettings, WebhookSettings,
};
use domain::airspace::AirspaceRules;
use domain::flight_plan::PlanRules;
use domain::monitoring::MonitorRules;
use domain::settings::InvalidSetting;
use infra::kafka::{IngestSettings, KafkaSettings};
use infra::pipeline::PipelineSettings;
use infra::redis::RedisSettings;
use infra::StorageSettings;
use serde::{Deserialize, Serialize};

/// Every default, with a comment per setting: the reference of what can be configured.
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub cache: CacheSettings,
    pub flight_plans: PlanRules,
    pub airspace: AirspaceRules,
    pub monitoring: MonitorRules,
    pub telemetry: TelemetrySettings,
    pub pipeline: PipelineSettings,
    pub live: LiveSettings,
    pub webhooks: WebhookSettings,
    pub storage: StorageSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
    pub ingest: IngestSettings,
    pub log: LogSettings,
}

/// Command-line values that override every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<SocketAddr>,
    pub ingest_bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Not marked as the source: its message is already in ours, and printing the chain
    /// would repeat it.
    #[error("configuration: {0}")]
    Load(config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(InvalidSetting),
}

impl From<config::ConfigError> for SettingsError {
    fn from(error: config::ConfigError) -> Self {
        Self::Load(error)
    }
}

impl From<InvalidSetting> for SettingsError {
    fn from(error: InvalidSetting) -> Self {
        Self::Invalid(error)
    }
}

const DEFAULT_FILE: &str = "nimbusfleet.toml";

impl Settings {
    /// Loads every layer and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
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
                .with_list_parse_key("storage.catalog_replica_urls")
                .with_list_parse_key("auth.installation_admins")
                .try_parsing(true),
        );
        if let Some(bind) = overrides.bind {
            builder = builder.set_override("server.bind", bind.to_string())?;
        }
        if let Some(bind) = overrides.ingest_bind {
            builder = builder.set_override("ingest.bind", bind.to_string())?;
        }
        if let Some(dir) = &overrides.data_dir {
            builder = builder.set_override("storage.data_dir", dir.to_string_lossy().as_ref())?;
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot: each section, then the rules that span sections.
    /// The error names one setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let sections: [(&str, Result<(), InvalidSetting>); 15] = [
            ("server", self.server.check()),
            ("auth", self.auth.check()),
            ("flight_plans", self.flight_plans.check()),
            ("airspace", self.airspace.check()),
            ("monitoring", self.monitoring.check()),
            ("telemetry", self.telemetry.check()),
            (
                "pipeline",
                self.pipeline.check(self.telemetry.max_batch_points),
            ),
            ("live", self.live.check()),
            ("webhooks", self.webhooks.check()),
            ("storage", self.storage.check()),
            ("redis", self.redis.check()),
            ("kafka", self.kafka.check()),
            ("ingest", self.ingest.check()),
            ("log", self.log.check()),
            ("auth", self.check_shared_secret()),
        ];
        for (section, result) in sections {
            result.map_err(|e| e.in_section(section))?;
        }
        Ok(())
    }

    /// Replicas sharing PostgreSQL must sign tokens with one key.
    fn check_shared_secret(&self) -> Result<(), InvalidSetting> {
        if self.auth.jwt_secret.is_none() && self.storage.uses_postgres() {
            return Err(InvalidSetting::new(
                "jwt_secret",
                "is required with PostgreSQL storage: every replica must sign with the same key",
            ));
        }
        Ok(())
    }

    /// The effective settings as TOML, secrets redacted (`nimbusfleet config`).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn defaults() -> Settings {
        Settings::load(None, &Overrides::default()).unwrap()
    }

    #[test]
    fn defaults_are_embedded_and_valid() {
        let s = defaults();
        assert_eq!(s.server.bind.to_string(), "127.0.0.1:8080");
        assert!(s.storage.catalog_url.is_none());
        assert_eq!(s.storage.shard_count(), 1);
        assert_eq!(s.flight_plans.ceiling_m, 120.0);
        assert!(s.kafka.brokers.is_none(), "no Kafka unless brokers are set");
    }

    #[test]
    fn kafka_settings_are_checked_and_named() {
        let mut s = defaults();
        s.kafka.brokers = Some("127.0.0.1:9092".into());
        s.validate().unwrap();
        assert_eq!(s.kafka.topics.telemetry, "nimbus.telemetry");
        assert_eq!(s.kafka.delivery_timeout, Duration::from_secs(10));

        let problem = |tweak: fn(&mut Settings)| {
            let mut bad = s.clone();
            tweak(&mut bad);
            bad.validate().unwrap_err().to_string()
        };
        assert!(
            problem(|s| s.kafka.topics.dead_letter = s.kafka.topics.telemetry.clone())
                .contains("kafka.topics.dead_letter")
        );
        assert!(problem(|s| s.kafka.record_max_points = 0).contains("kafka.record_max_points"));
        assert!(
            problem(|s| s.ingest.session_timeout = Duration::from_millis(10))
                .contains("ingest.session_timeout_ms")
        );
        assert!(problem(|s| s.kafka.brokers = Some(" ".into())).contains("kafka.brokers"));
    }

    #[test]
    fn a_bad_setting_is_named_in_the_error() {
        let mut s = defaults();
        s.server.body_limit_bytes = 10;
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("server.body_limit_bytes"));
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
    fn every_validation_error_names_exactly_one_setting() {
        let mut s = defaults();
        s.redis.pool_size = 0;
        let message = s.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "configuration: `redis.pool_size` must be at least 1"
        );
        let mut s = defaults();
        s.live.buffer_batches = 0;
        let message = s.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "configuration: `live.buffer_batches` must be at least 1"
        );
    }

    #[test]
    fn command_line_flags_win_over_defaults() {
        let overrides = Overrides {
            bind: Some("0.0.0.0:9999".parse().unwrap()),
            ingest_bind: Some("0.0.0.0:9465".parse().unwrap()),
            data_dir: Some("/tmp/nf".into()),
        };
        let s = Settings::load(None, &overrides).unwrap();
        assert_eq!(s.server.bind.to_string(), "0.0.0.0:9999");
        assert_eq!(s.ingest.bind.to_string(), "0.0.0.0:9465");
        assert_eq!(s.storage.data_dir, PathBuf::from("/tmp/nf"));
    }

    #[test]
    fn printed_settings_never_show_a_secret_and_load_back() {
        let mut s = defaults();
        s.auth.jwt_secret = Some("a-very-secret-key-of-at-least-32-bytes".to_owned().into());
        s.storage.catalog_url = Some("postgres://nimbus:hunter2@db/catalog".to_owned().into());
        s.storage.shard_urls = vec!["postgres://nimbus:hunter2@db/s0".to_owned().into()];
        s.redis.url = Some("redis://:hunter2@cache:6379".to_owned().into());
        s.kafka
            .options
            .insert("sasl.password".into(), "hunter2".into());
        let printed = s.to_toml().unwrap();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("a-very-secret"), "{printed}");
        assert!(
            printed.contains("postgres://nimbus:***@db/catalog"),
            "{printed}"
        );
        let defaults_printed = defaults().to_toml().unwrap();
        let reloaded: Settings = toml::from_str(&defaults_printed).unwrap();
        assert_eq!(reloaded.to_toml().unwrap(), defaults_printed);
    }

    #[test]
    fn read_replicas_are_listed_per_shard_in_a_file_or_as_one_string() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let load = |storage: &str| {
            let path = dir.path().join("nimbusfleet.toml");
            std::fs::write(
                &path,
                format!(
                    "[auth]\njwt_secret = \"{}\"\n[storage]\n\
                     catalog_url = \"postgres://db/c\"\n\
                     shard_urls = [\"postgres://db/s0\", \"postgres://db/s1\"]\n{storage}",
                    "k".repeat(40)
                ),
            )
            .unwrap();
            Settings::load(Some(&path), &Overrides::default())
        };
        let exposed = |s: &Settings| -> Vec<Vec<String>> {
            s.storage
                .shard_replica_urls
                .iter()
                .map(|r| r.iter().map(|u| u.expose_secret().to_owned()).collect())
                .collect()
        };
        let lists =
            load("shard_replica_urls = [[\"postgres://r0a/s0\", \"postgres://r0b/s0\"], []]")
                .unwrap();
        assert_eq!(
            exposed(&lists),
            vec![
                vec![
                    "postgres://r0a/s0".to_owned(),
                    "postgres://r0b/s0".to_owned()
                ],
                vec![]
            ]
        );
        // The environment's form: `;` between shards, `,` within one.
        let text =
            load("shard_replica_urls = \"postgres://r0a/s0, postgres://r0b/s0;postgres://r1/s1\"")
                .unwrap();
        assert_eq!(
            exposed(&text),
            vec![
                vec![
                    "postgres://r0a/s0".to_owned(),
                    "postgres://r0b/s0".to_owned()
                ],
                vec!["postgres://r1/s1".to_owned()]
            ]
        );
        let error = |storage: &str| load(storage).unwrap_err().to_string();
        assert!(error("shard_replica_urls = \"postgres://r/a;postgres://r/b;postgres://r/c\"")
            .contains("`storage.shard_replica_urls` lists replicas for 3 shards but storage.shard_urls has 2"));
        assert!(error("shard_replica_urls = [[\"sqlite://x.db\"]]")
            .contains("storage.shard_replica_urls"));
        assert!(error("catalog_replica_urls = [\"mysql://x\"]")
            .contains("storage.catalog_replica_urls"));
        assert!(error("max_replica_lag_ms = 0").contains("storage.max_replica_lag_ms"));
        // Embedded databases have no replicas.
        let mut embedded = defaults();
        embedded.storage.catalog_replica_urls = vec!["postgres://r/c".to_owned().into()];
        assert!(embedded
            .validate()
            .unwrap_err()
            .to_string()
            .contains("storage.catalog_replica_urls"));
        // Printed settings mask replica passwords like every other URL.
        let mut secret = text;
        secret.storage.shard_replica_urls =
            vec![vec!["postgres://nimbus:hunter2@r/s0".to_owned().into()]];
        secret.storage.catalog_replica_urls =
            vec!["postgres://nimbus:hunter2@r/c".to_owned().into()];
        let printed = secret.to_toml().unwrap();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://nimbus:***@r/s0"), "{printed}");
    }
}
