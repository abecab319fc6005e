//! The `[storage]` settings: where the catalog and shard databases are and how to pool
//! connections to them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::settings::{seconds, InvalidSetting};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::redact_url;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Folder of the embedded SQLite databases, used when `catalog_url` is unset.
    pub data_dir: PathBuf,
    /// Catalog database URL (PostgreSQL or SQLite). Unset: embedded SQLite in `data_dir`.
    #[serde(default, serialize_with = "masked_url")]
    pub catalog_url: Option<SecretString>,
    /// Shard database URLs, in shard order. Required with `catalog_url`.
    #[serde(default, serialize_with = "masked_urls")]
    pub shard_urls: Vec<SecretString>,
    /// Slot ranges per shard, e.g. `0-511:0,512-1023:1`. Unset: an even split.
    #[serde(default)]
    pub slot_map: Option<String>,
    /// Streaming replicas of each shard, in shard order (PostgreSQL only): a list per shard,
    /// empty for a shard without replicas. In the environment, one string with `;` between
    /// shards and `,` between one shard's replicas.
    #[serde(
        default,
        deserialize_with = "per_shard_urls",
        serialize_with = "masked_per_shard_urls"
    )]
    pub shard_replica_urls: Vec<Vec<SecretString>>,
    /// Streaming replicas of the catalog (PostgreSQL only).
    #[serde(default, serialize_with = "masked_urls")]
    pub catalog_replica_urls: Vec<SecretString>,
    /// Replicas further behind their primary than this (or down) are skipped.
    pub max_replica_lag_ms: u64,
    /// Pool size per database.
    pub max_connections: u32,
    #[serde(rename = "connect_timeout_s", with = "seconds")]
    pub connect_timeout: Duration,
    /// Run migrations when `serve` or `ingest` starts.
    pub migrate_on_start: bool,
}

/// The database URLs a [`StorageSettings`] resolves to.
pub(crate) struct DatabaseUrls {
    pub catalog: String,
    pub shards: Vec<String>,
    pub catalog_replicas: Vec<String>,
    /// Per shard; shorter than `shards` when the last shards have none.
    pub shard_replicas: Vec<Vec<String>>,
}

const SCHEMES: [&str; 3] = ["postgres://", "postgresql://", "sqlite:"];

impl StorageSettings {
    /// Embedded SQLite files under `data_dir`, with the defaults for everything else.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            catalog_url: None,
            shard_urls: Vec::new(),
            slot_map: None,
            shard_replica_urls: Vec::new(),
            catalog_replica_urls: Vec::new(),
            max_replica_lag_ms: 1000,
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            migrate_on_start: true,
        }
    }

    /// Configured databases, by URL (the catalog first).
    pub fn with_urls(mut self, catalog: &str, shards: &[String]) -> Self {
        self.catalog_url = Some(catalog.to_owned().into());
        self.shard_urls = shards.iter().map(|u| u.clone().into()).collect();
        self
    }

    /// Checks what the types alone cannot; the error names the one setting at fault.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.max_connections == 0 {
            return Err(InvalidSetting::new("max_connections", "must be at least 1"));
        }
        match (&self.catalog_url, self.shard_urls.is_empty()) {
            (None, false) => {
                return Err(InvalidSetting::new(
                    "shard_urls",
                    "is set but storage.catalog_url is not; set both or neither",
                ))
            }
            (Some(_), true) => {
                return Err(InvalidSetting::new(
                    "shard_urls",
                    "must list at least one shard when storage.catalog_url is set",
                ))
            }
            _ => {}
        }
        let valid = |url: &SecretString| SCHEMES.iter().any(|s| url.expose_secret().starts_with(s));
        if self.catalog_url.as_ref().is_some_and(|url| !valid(url)) {
            return Err(InvalidSetting::new(
                "catalog_url",
                "must be a postgres://… or sqlite:… URL",
            ));
        }
        if let Some(i) = self.shard_urls.iter().position(|url| !valid(url)) {
            return Err(InvalidSetting::new(
                "shard_urls",
                format!("entry {i} must be a postgres://… or sqlite:… URL"),
            ));
        }
        if self.shard_urls.len() > usize::from(domain::shard::SLOT_COUNT) {
            return Err(InvalidSetting::new(
                "shard_urls",
                "lists more shards than there are slots (1024)",
            ));
        }
        self.slot_map()
            .map_err(|e| InvalidSetting::new("slot_map", e.to_string()))?;
        self.check_replicas()
    }

    fn check_replicas(&self) -> Result<(), InvalidSetting> {
        let postgres = |url: &SecretString| {
            let url = url.expose_secret();
            url.starts_with("postgres://") || url.starts_with("postgresql://")
        };
        let has_replicas = !self.catalog_replica_urls.is_empty()
            || self.shard_replica_urls.iter().any(|r| !r.is_empty());
        if has_replicas && self.catalog_url.is_none() {
            return Err(InvalidSetting::new(
                if self.catalog_replica_urls.is_empty() {
                    "shard_replica_urls"
                } else {
                    "catalog_replica_urls"
                },
                "needs storage.catalog_url and storage.shard_urls: the embedded databases have no replicas",
            ));
        }
        if let Some(i) = self.catalog_replica_urls.iter().position(|u| !postgres(u)) {
            return Err(InvalidSetting::new(
                "catalog_replica_urls",
                format!("entry {i} must be a postgres://… URL (replicas are PostgreSQL streaming replicas)"),
            ));
        }
        if self.shard_replica_urls.len() > self.shard_urls.len() {
            return Err(InvalidSetting::new(
                "shard_replica_urls",
                format!(
                    "lists replicas for {} shards but storage.shard_urls has {}",
                    self.shard_replica_urls.len(),
                    self.shard_urls.len()
                ),
            ));
        }
        for (shard, replicas) in self.shard_replica_urls.iter().enumerate() {
            if let Some(i) = replicas.iter().position(|u| !postgres(u)) {
                return Err(InvalidSetting::new(
                    "shard_replica_urls",
                    format!("shard {shard}'s entry {i} must be a postgres://… URL (replicas are PostgreSQL streaming replicas)"),
                ));
            }
            if !replicas.is_empty() && !postgres(&self.shard_urls[shard]) {
                return Err(InvalidSetting::new(
                    "shard_replica_urls",
                    format!("shard {shard} is not PostgreSQL, so it has no streaming replicas"),
                ));
            }
        }
        if self.catalog_url.as_ref().is_some_and(|u| !postgres(u))
            && !self.catalog_replica_urls.is_empty()
        {
            return Err(InvalidSetting::new(
                "catalog_replica_urls",
                "the catalog is not PostgreSQL, so it has no streaming replicas",
            ));
        }
        if !(10..=3_600_000).contains(&self.max_replica_lag_ms) {
            return Err(InvalidSetting::new(
                "max_replica_lag_ms",
                "must be between 10 and 3600000",
            ));
        }
        Ok(())
    }

    /// Whether any database is PostgreSQL (and so the installation may have replicas).
    pub fn uses_postgres(&self) -> bool {
        self.catalog_url
            .iter()
            .chain(&self.shard_urls)
            .any(|url| url.expose_secret().starts_with("postgres"))
    }

    /// Physical shards: those configured, or the one embedded shard.
    pub fn shard_count(&self) -> u16 {
        u16::try_from(self.shard_urls.len().max(1)).unwrap_or(u16::MAX)
    }

    /// The configured slot map, or an even split over the shards.
    pub fn slot_map(&self) -> Result<domain::shard::SlotMap, domain::shard::SlotMapError> {
        let shards = self.shard_count();
        match &self.slot_map {
            Some(spec) => domain::shard::SlotMap::parse(spec, shards),
            None => domain::shard::SlotMap::even(shards),
        }
    }

    /// The configured URLs, or embedded SQLite files under `data_dir` (created if missing).
    pub(crate) fn database_urls(&self) -> std::io::Result<DatabaseUrls> {
        let exposed = |urls: &[SecretString]| -> Vec<String> {
            urls.iter().map(|u| u.expose_secret().to_owned()).collect()
        };
        match &self.catalog_url {
            Some(catalog) => Ok(DatabaseUrls {
                catalog: catalog.expose_secret().to_owned(),
                shards: exposed(&self.shard_urls),
                catalog_replicas: exposed(&self.catalog_replica_urls),
                shard_replicas: self.shard_replica_urls.iter().map(|r| exposed(r)).collect(),
            }),
            None => {
                std::fs::create_dir_all(&self.data_dir)?;
                let dir = std::path::absolute(&self.data_dir)?;
                Ok(DatabaseUrls {
                    catalog: sqlite_url(&dir, "catalog.db"),
                    shards: vec![sqlite_url(&dir, "shard-0.db")],
                    catalog_replicas: Vec::new(),
                    shard_replicas: Vec::new(),
                })
            }
        }
    }
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

fn masked_url<S: Serializer>(url: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&redact_url(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

fn masked_urls<S: Serializer>(urls: &[SecretString], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(urls.iter().map(|url| redact_url(url.expose_secret())))
}

fn masked_per_shard_urls<S: Serializer>(
    urls: &[Vec<SecretString>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(urls.iter().map(|shard| {
        shard
            .iter()
            .map(|url| redact_url(url.expose_secret()))
            .collect::<Vec<_>>()
    }))
}

/// A list of URL lists (TOML: `[["postgres://…"], []]`), or one string as the environment
/// gives it: `;` between shards, `,` between one shard's URLs.
fn per_shard_urls<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Vec<SecretString>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum PerShard {
        Text(String),
        Lists(Vec<Vec<String>>),
    }
    let lists = match PerShard::deserialize(deserializer)? {
        PerShard::Lists(lists) => lists,
        PerShard::Text(text) if text.trim().is_empty() => Vec::new(),
        PerShard::Text(text) => text
            .split(';')
            .map(|shard| {
                shard
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect(),
    };
    Ok(lists
        .into_iter()
        .map(|shard| shard.into_iter().map(SecretString::from).collect())
        .collect())
}
