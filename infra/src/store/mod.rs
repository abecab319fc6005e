//! The relational store: one catalog database and N shard databases behind a slot map.
//!
//! [`Store`] implements every repository port of `domain`. Drones and what hangs off them
//! (flight plans) are routed to `slot_map.shard_of(drone_id)`; organisations, users, API keys
//! and the per-organisation serial registry live in the catalog. Lists that span shards fan
//! out in parallel and are merged by id; a shard that fails is reported in the page's
//! `missing_shards` instead of failing the whole list.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use domain::ports::HealthCheck;
use domain::shard::ShardId;
use domain::{DroneId, StoreError};
use futures::future::{join_all, try_join_all};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Statement,
};

mod alerts;
mod api_keys;
mod drones;
mod entities;
mod error;
mod flight_plans;
mod geofences;
mod moves;
mod orgs;
mod replicas;
mod settings;
mod users;
mod webhooks;

pub use moves::{MoveObserver, Quiet, RoutingNotifier, ROUTING_REFRESH};
pub use replicas::ReplicaStats;
pub use settings::StorageSettings;

pub(crate) use error::{collect_runs, Db};
pub(crate) use moves::is_moved;

use entities::{drones as drone_rows, shard_map};

/// Connection-pool usage of one database, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// `catalog`, `shard-0`, `shard-1`, …
    pub database: String,
    /// Connections currently open (idle or in use).
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// The catalog and shard connection pools plus the slot map. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    catalog: DatabaseConnection,
    shards: Arc<[DatabaseConnection]>,
    /// Read replicas (`storage.catalog_replica_urls`, `storage.shard_replica_urls`); one
    /// set per shard, empty where a shard has none.
    catalog_replicas: Arc<replicas::ReplicaSet>,
    shard_replicas: Arc<[replicas::ReplicaSet]>,
    max_replica_lag_ms: u64,
    /// The slot map routed by, replaced when the catalog's changes (see [`moves`]).
    routing: Arc<std::sync::RwLock<Arc<moves::Routing>>>,
    /// Whether `storage.slot_map` was set: else the configured map is the even spread,
    /// and shards configured beyond the recorded map are shards added for a move.
    explicit_map: bool,
    /// Taken by changes that could remove an organisation's last admin, so that two of
    /// them in this process run one after the other (across processes, PostgreSQL row
    /// locks do the same).
    admin_changes: Arc<tokio::sync::Mutex<()>>,
    /// Told when a move changes the slot map, to tell the other processes at once.
    notifier: Option<Arc<dyn moves::RoutingNotifier>>,
    /// Where telemetry older than `archive_after` goes (`telemetry.archive_url`), if set.
    archive: Option<(crate::telemetry::Archive, chrono::Duration)>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("shards", &self.shards.len())
            .field("slot_map", &self.slot_map().to_spec())
            .finish_non_exhaustive()
    }
}

/// The `shard_map` row's fixed key: the table holds one row.
const SHARD_MAP_ROW: i32 = 1;

impl Store {
    /// Opens a pool to the catalog and to every shard. Errors name the database that
    /// failed (with any password in its URL masked).
    pub async fn connect(settings: &StorageSettings) -> anyhow::Result<Store> {
        let urls = settings.database_urls().with_context(|| {
            format!(
                "failed to create the data directory {}",
                settings.data_dir.display()
            )
        })?;
        ensure!(
            !urls.shards.is_empty(),
            "at least one shard database must be configured"
        );
        ensure!(
            urls.shards.len() <= usize::from(domain::shard::SLOT_COUNT),
            "more shard databases are configured than there are slots (1024)"
        );
        let slot_map = settings
            .slot_map()
            .with_context(|| format!("invalid slot map for {} shard(s)", settings.shard_count()))?;
        let catalog = open(&urls.catalog, settings, "catalog").await?;
        let shards = try_join_all(
            urls.shards
                .iter()
                .enumerate()
                .map(|(i, url)| open(url, settings, format!("shard {i}"))),
        )
        .await?;
        let catalog_replicas =
            open_replicas(&urls.catalog_replicas, settings, "catalog".to_owned()).await?;
        let shard_replicas = try_join_all((0..urls.shards.len()).map(|i| {
            let urls = urls.shard_replicas.get(i).map_or(&[][..], Vec::as_slice);
            open_replicas(urls, settings, format!("shard {i}"))
        }))
        .await?;
        Ok(Store {
            catalog,
            shards: shards.into(),
            catalog_replicas: Arc::new(catalog_replicas),
            shard_replicas: shard_replicas.into(),
            max_replica_lag_ms: settings.max_replica_lag_ms,
            routing: Arc::new(std::sync::RwLock::new(Arc::new(moves::Routing::new(
                slot_map,
            )))),
            explicit_map: settings.slot_map.is_some(),
            admin_changes: Arc::default(),
            notifier: None,
            archive: None,
        })
    }

    /// Archives telemetry days that ended more than `after` ago into `archive` (during
    /// maintenance), and reads archived days from it.
    pub fn with_archive(
        mut self,
        archive: crate::telemetry::Archive,
        after: chrono::Duration,
    ) -> Self {
        self.archive = Some((archive, after));
        self
    }

    /// Announces this process's slot moves to the others through `notifier` (Redis), so
    /// that they read the new map at once rather than at their next poll.
    pub fn with_routing_notifier(mut self, notifier: Arc<dyn moves::RoutingNotifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    pub(crate) fn archive(&self) -> Option<&(crate::telemetry::Archive, chrono::Duration)> {
        self.archive.as_ref()
    }

    /// The catalog and shard connections, for the migrations the composition root runs.
    pub fn databases(&self) -> (&DatabaseConnection, &[DatabaseConnection]) {
        (&self.catalog, &self.shards)
    }

    /// Records the slot map in the catalog on first start. Afterwards the recorded map is
    /// the one routed by: the configured map must equal it until slots have moved (rows
    /// already written would be looked for on the wrong shard), and every shard it names
    /// must be configured.
    pub async fn check_slot_map(&self) -> anyhow::Result<()> {
        let configured = self.slot_map();
        let spec = configured.to_spec();
        let shards = i32::from(configured.shard_count());
        let stored = match self.stored_slot_map().await? {
            Some(row) => row,
            None => {
                let row = shard_map::ActiveModel {
                    id: Set(SHARD_MAP_ROW),
                    shards: Set(shards),
                    spec: Set(spec.clone()),
                    version: Set(1),
                    created_at: Set(now()),
                };
                match shard_map::Entity::insert(row)
                    .exec_without_returning(&self.catalog)
                    .await
                {
                    Ok(_) => return Ok(()),
                    // Another replica recorded its map first: compare against that one.
                    Err(e) if error::is_unique_violation(&e) => self
                        .stored_slot_map()
                        .await?
                        .context("the recorded slot map vanished while it was being checked")?,
                    Err(e) => {
                        return Err(e).context("failed to record the slot map in the catalog")
                    }
                }
            }
        };
        // Shards added to the configuration (for a move) beyond the recorded map's.
        let added = !self.explicit_map && shards > stored.shards;
        if stored.version == 1 && !added && (stored.spec != spec || stored.shards != shards) {
            bail!(
                "the configured slot map `{spec}` ({shards} shard(s)) differs from the one the \
                 data was written with, `{}` ({} shard(s)), recorded in the catalog's shard_map \
                 table; start with the recorded map, and move slots between shards with \
                 `nimbusfleet admin move-slots`, which copies their rows",
                stored.spec,
                stored.shards
            );
        }
        ensure!(
            stored.shards <= shards,
            "the slot map recorded in the catalog (version {}) spreads the slots over {} \
             shards, but only {shards} shard database(s) are configured: list every shard in \
             storage.shard_urls",
            stored.version,
            stored.shards
        );
        self.refresh_routing().await?;
        Ok(())
    }

    async fn stored_slot_map(&self) -> anyhow::Result<Option<shard_map::Model>> {
        shard_map::Entity::find_by_id(SHARD_MAP_ROW)
            .one(&self.catalog)
            .await
            .context("failed to read the slot map recorded in the catalog")
    }

    pub(crate) fn admin_changes(&self) -> &tokio::sync::Mutex<()> {
        &self.admin_changes
    }

    pub fn shard_count(&self) -> u16 {
        self.slot_map().shard_count()
    }

    /// Every shard holding a row with this drone id; exactly one for a stored drone. Scans
    /// all shards, so it is meant for tests and diagnostics, not for request paths.
    pub async fn locate_drone(&self, id: DroneId) -> anyhow::Result<Vec<ShardId>> {
        let mut found = Vec::new();
        for (i, shard) in self.shards.iter().enumerate() {
            let rows = drone_rows::Entity::find()
                .filter(drone_rows::Column::Id.eq(id.as_uuid()))
                .count(shard)
                .await
                .with_context(|| format!("failed to look for drone {id} on shard {i}"))?;
            if rows > 0 {
                found.push(ShardId(shard_index(i)));
            }
        }
        Ok(found)
    }

    /// One entry per database: the catalog first, then the shards in order.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        std::iter::once(pool_stats("catalog".to_owned(), &self.catalog))
            .chain(
                self.shards
                    .iter()
                    .enumerate()
                    .map(|(i, db)| pool_stats(format!("shard-{i}"), db)),
            )
            .collect()
    }

    /// The shard owning `drone`, with its index for error reports.
    pub(crate) fn drone_shard(
        &self,
        drone: DroneId,
    ) -> Result<(Db, &DatabaseConnection), StoreError> {
        self.shard(self.slot_map().shard_of(drone))
    }

    pub(crate) fn shard(&self, shard: ShardId) -> Result<(Db, &DatabaseConnection), StoreError> {
        self.shards
            .get(usize::from(shard.0))
            .map(|db| (Db::Shard(shard.0), db))
            .ok_or_else(|| StoreError::backend(error::Misrouted::UnknownShard(shard.0)))
    }

    /// Every shard with its index, for fan-out queries.
    pub(crate) fn all_shards(&self) -> impl Iterator<Item = (Db, &DatabaseConnection)> {
        self.shards
            .iter()
            .enumerate()
            .map(|(i, db)| (Db::Shard(shard_index(i)), db))
    }

    pub(crate) fn catalog(&self) -> &DatabaseConnection {
        &self.catalog
    }

    /// The shard owning `drone`, for a statement that writes: the primary, noted so that the
    /// request's read-after token covers the write.
    pub(crate) fn writable_drone_shard(
        &self,
        drone: DroneId,
    ) -> Result<(Db, &DatabaseConnection), StoreError> {
        self.writable_shard(self.slot_map().shard_of(drone))
    }

    pub(crate) fn writable_shard(
        &self,
        shard: ShardId,
    ) -> Result<(Db, &DatabaseConnection), StoreError> {
        let (db, conn) = self.shard(shard)?;
        if self.replicas_of(db).is_some() {
            crate::consistency::wrote(db, conn);
        }
        Ok((db, conn))
    }

    /// The catalog, for a statement that writes (see [`Self::writable_shard`]).
    pub(crate) fn writable_catalog(&self) -> &DatabaseConnection {
        if self.replicas_of(Db::Catalog).is_some() {
            crate::consistency::wrote(Db::Catalog, &self.catalog);
        }
        &self.catalog
    }

    /// The shard owning `drone`, for a read that a replica may answer (see
    /// [`crate::consistency`]): a replica when the request is a read, one is fit and it
    /// has replayed the caller's last write; else the primary.
    pub(crate) fn readable_drone_shard(
        &self,
        drone: DroneId,
    ) -> Result<(Db, &DatabaseConnection), StoreError> {
        self.readable_shard(self.slot_map().shard_of(drone))
    }

    pub(crate) fn readable_shard(
        &self,
        shard: ShardId,
    ) -> Result<(Db, &DatabaseConnection), StoreError> {
        let (db, primary) = self.shard(shard)?;
        Ok((db, self.pick_readable(db, primary)))
    }

    /// [`Self::all_shards`] for reads that replicas may answer.
    pub(crate) fn readable_shards(&self) -> impl Iterator<Item = (Db, &DatabaseConnection)> {
        self.all_shards()
            .map(|(db, primary)| (db, self.pick_readable(db, primary)))
    }

    /// The catalog for reads that a replica may answer.
    pub(crate) fn readable_catalog(&self) -> &DatabaseConnection {
        self.pick_readable(Db::Catalog, &self.catalog)
    }

    fn pick_readable<'a>(
        &'a self,
        db: Db,
        primary: &'a DatabaseConnection,
    ) -> &'a DatabaseConnection {
        let Some(replicas) = self.replicas_of(db) else {
            return primary;
        };
        match crate::consistency::read_from(db) {
            crate::consistency::ReadFrom::Primary => primary,
            crate::consistency::ReadFrom::Replica { after } => replicas
                .pick(after, self.max_replica_lag_ms)
                .unwrap_or(primary),
        }
    }

    /// The replicas of `db`; `None` when it has none.
    fn replicas_of(&self, db: Db) -> Option<&replicas::ReplicaSet> {
        match db {
            Db::Catalog => Some(&*self.catalog_replicas),
            Db::Shard(i) => self.shard_replicas.get(usize::from(i)),
        }
        .filter(|r| !r.is_empty())
    }

    /// Every database with its primary and replicas, named as in metrics.
    fn replica_sets(
        &self,
    ) -> impl Iterator<Item = (String, &DatabaseConnection, &replicas::ReplicaSet)> {
        std::iter::once(("catalog".to_owned(), &self.catalog, &*self.catalog_replicas)).chain(
            self.shards
                .iter()
                .zip(self.shard_replicas.iter())
                .enumerate()
                .map(|(i, (primary, replicas))| (format!("shard-{i}"), primary, replicas)),
        )
    }

    /// Whether any database has read replicas.
    pub fn has_replicas(&self) -> bool {
        self.replica_sets().any(|(_, _, r)| !r.is_empty())
    }

    /// Measures every replica's lag, a few times per `storage.max_replica_lag_ms`, until the
    /// process ends; until a replica's first measurement, reads skip it.
    pub async fn watch_replicas(self) {
        let every = Duration::from_millis((self.max_replica_lag_ms / 4).clamp(20, 250));
        let timeout = Duration::from_millis(self.max_replica_lag_ms.clamp(100, 2000));
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            join_all(
                self.replica_sets()
                    .map(|(name, primary, replicas)| async move {
                        replicas.observe(&name, primary, timeout).await;
                    }),
            )
            .await;
        }
    }

    /// Each replica as the last measurement found it, for `/metrics`.
    pub fn replica_stats(&self) -> Vec<ReplicaStats> {
        self.replica_sets()
            .flat_map(|(name, _, replicas)| replicas.stats(&name).collect::<Vec<_>>())
            .collect()
    }
}

#[async_trait]
impl HealthCheck for Store {
    async fn check(&self) -> Vec<(String, Option<String>)> {
        let names = std::iter::once("catalog".to_owned())
            .chain((0..self.shards.len()).map(|i| format!("shard-{i}")));
        let pings = std::iter::once(&self.catalog)
            .chain(self.shards.iter())
            .map(|db| db.ping());
        let results = join_all(pings).await;
        let max_lag = self.max_replica_lag_ms;
        // Replicas as the lag watcher last found them: reported, but never critical (a read
        // skips a replica that is down or behind and goes to the primary).
        let replicas = self.replica_stats().into_iter().map(move |r| {
            let problem = if !r.up {
                Some("down or not measured yet".to_owned())
            } else if r.lag_ms > max_lag {
                Some(format!(
                    "{} ms behind its primary (limit {max_lag} ms)",
                    r.lag_ms
                ))
            } else {
                None
            };
            (format!("{}-replica-{}", r.database, r.replica), problem)
        });
        names
            .zip(results)
            .map(|(name, result)| (name, result.err().map(|e| e.to_string())))
            .chain(replicas)
            .collect()
    }
}

/// Shard indices fit in u16: `connect` refuses more shards than slots.
fn shard_index(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// Timestamps as the databases keep them: PostgreSQL stores microseconds, so values are
/// truncated before they are written and what a caller gets back equals what it reads later.
pub(crate) fn db_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub(crate) fn now() -> DateTime<Utc> {
    db_time(Utc::now())
}

async fn open(
    url: &str,
    settings: &StorageSettings,
    name: impl std::fmt::Display,
) -> anyhow::Result<DatabaseConnection> {
    let is_sqlite = url.starts_with("sqlite:");
    // Every connection to an in-memory SQLite database opens a database of its own.
    let in_memory = is_sqlite && (url.contains(":memory:") || url.contains("mode=memory"));
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if in_memory {
            1
        } else {
            settings.max_connections
        })
        .connect_timeout(settings.connect_timeout)
        .sqlx_logging(false)
        // Per-connection settings, applied by sqlx to every pooled connection (a PRAGMA
        // run once after connecting would reach only one of them).
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    let db = Database::connect(options).await.with_context(|| {
        format!(
            "failed to connect to the {name} database at {}",
            redact_url(url)
        )
    })?;
    if is_sqlite {
        check_sqlite(&db).await.with_context(|| {
            format!(
                "failed to set up the {name} database at {}",
                redact_url(url)
            )
        })?;
    }
    Ok(db)
}

/// Pools to one database's replicas. They connect when first used, so that a replica that
/// is down at start only makes reads skip it.
async fn open_replicas(
    urls: &[String],
    settings: &StorageSettings,
    of: String,
) -> anyhow::Result<replicas::ReplicaSet> {
    let conns = try_join_all(urls.iter().enumerate().map(|(i, url)| {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(settings.max_connections)
            .connect_timeout(settings.connect_timeout)
            .sqlx_logging(false)
            .connect_lazy(true);
        let of = &of;
        async move {
            // Lazy: this fails only on a malformed URL.
            Database::connect(options).await.with_context(|| {
                format!("invalid URL for the {of} replica {i}: {}", redact_url(url))
            })
        }
    }))
    .await?;
    Ok(replicas::ReplicaSet::new(conns))
}

/// Makes sure the SQLite settings the store relies on are in force: WAL for concurrent
/// readers, a busy timeout for concurrent writers, and foreign keys for cascading deletes.
async fn check_sqlite(db: &DatabaseConnection) -> anyhow::Result<()> {
    db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    db.execute_unprepared("PRAGMA busy_timeout=5000").await?;
    let row = db
        .query_one(Statement::from_string(
            DatabaseBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await?
        .context("PRAGMA foreign_keys returned nothing")?;
    let enabled: i32 = row.try_get_by_index(0)?;
    ensure!(enabled == 1, "SQLite foreign key enforcement is off");
    Ok(())
}

fn pool_stats(database: String, db: &DatabaseConnection) -> PoolStats {
    let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let (size, idle, max) = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                to_u32(pool.num_idle()),
                pool.options().get_max_connections(),
            )
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                to_u32(pool.num_idle()),
                pool.options().get_max_connections(),
            )
        }
        DatabaseBackend::MySql => (0, 0, 0),
    };
    PoolStats {
        database,
        size,
        idle,
        max,
    }
}

/// The URL with the password (if any) replaced by `***`, for messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_database_urls() {
        assert_eq!(
            redact_url("postgres://nimbus:s3cr%40t@db:5432/nf_catalog?sslmode=require"),
            "postgres://nimbus:***@db:5432/nf_catalog?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://nimbus@db/nf"),
            "postgres://nimbus@db/nf"
        );
        assert_eq!(
            redact_url("sqlite:///data/catalog.db?mode=rwc"),
            "sqlite:///data/catalog.db?mode=rwc"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn stored_timestamps_keep_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(db_time(t).to_rfc3339(), "2026-03-01T10:00:00.123456+00:00");
    }
}
