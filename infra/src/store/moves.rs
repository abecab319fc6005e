//! Online slot moves (`nimbusfleet admin move-slots`, `admin rebalance`) and the live slot
//! map every process routes by.
//!
//! **Routing.** The catalog's `shard_map` row is the map, with a version raised by one at
//! each move's cut-over. Every process reads it at start and again every
//! [`ROUTING_REFRESH`], and at once when a write finds that its slots moved.
//!
//! **A move** of a slot range from its source shard to a target shard (PostgreSQL only):
//! 1. *copying*: triggers on the source's tables log every change to a row of the range
//!    (`nf_move_changes`); after [`GRACE`], so that every process knows the target holds
//!    copies that fan-out reads must leave out, the range's drones are copied in chunks
//!    of [`DRONES_PER_CHUNK`] with every row that lives beside them (one target
//!    transaction a chunk, the last drone copied kept in the catalog to resume from),
//!    then the logged changes are caught up until few are left;
//! 2. *cutover*: the source's tables are locked `IN EXCLUSIVE MODE` (reads go on, writes
//!    wait), the last changes are copied, the range is added to the source's
//!    `nf_moved_out` constraint (a process still holding the old map can never write
//!    those slots there again: its write fails, it reloads the map and writes to the
//!    target), the lock is released and the catalog's map moves to the next version;
//! 3. *switched*: after [`GRACE`] (every process routes by the new map) the source's
//!    copies are deleted;
//! 4. *done*.
//!
//! Every step can be run again after a crash (`--resume`): copies are delete-then-insert
//! in one transaction, the fence is skipped if the source was already fenced, and the map
//! moves only if it has not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Utc};
use domain::shard::{MoveProgress, ShardId, ShardRows, SlotMap, SlotMove, SlotRange};
use domain::StoreError;
use futures::TryStreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::postgres::{PgConnection, PgPool, PgPoolCopyExt};
use sea_orm::sqlx::{self, Executor, Row};
use sea_orm::Condition;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::entities::{shard_map, slot_moves};
use super::{now, Db, Store, SHARD_MAP_ROW};

/// How often every process reads the slot map again.
pub const ROUTING_REFRESH: Duration = Duration::from_secs(1);
/// How long a mover waits for every process to have read a change of the routing: more
/// than two refreshes.
const GRACE: Duration = Duration::from_secs(3);
/// How long a write keeps retrying while its slots are fenced before it answers 503.
const FENCE_WAIT: Duration = Duration::from_secs(5);
const DRONES_PER_CHUNK: usize = 50;
const CHANGES_PER_ROUND: i64 = 20_000;
/// The fence is taken once a catch-up round finds fewer changes than this.
const CUTOVER_BELOW: usize = 2_000;
const CATCH_UP_ROUNDS: usize = 30;

/// A table whose rows live on their drone's shard.
struct Moved {
    name: &'static str,
    /// The column holding the drone's id.
    drone: &'static str,
    /// The time column of a table keyed by drone and time; changes to those are copied by
    /// key, the others by drone.
    key: Option<&'static str>,
}

/// In foreign-key order: a drone before the plans and alerts that reference it.
const TABLES: [Moved; 8] = [
    Moved {
        name: "drones",
        drone: "id",
        key: None,
    },
    Moved {
        name: "flight_plans",
        drone: "drone_id",
        key: None,
    },
    Moved {
        name: "alerts",
        drone: "drone_id",
        key: None,
    },
    Moved {
        name: "drone_latest",
        drone: "drone_id",
        key: None,
    },
    Moved {
        name: "telemetry",
        drone: "drone_id",
        key: Some("ts"),
    },
    Moved {
        name: "telemetry_1m",
        drone: "drone_id",
        key: Some("bucket"),
    },
    Moved {
        name: "telemetry_1h",
        drone: "drone_id",
        key: Some("bucket"),
    },
    Moved {
        name: "telemetry_rollup_dirty",
        drone: "drone_id",
        key: Some("minute"),
    },
];

/// Deleting a drone deletes these by cascade, so a drone's change copies them again.
const CASCADED: [&str; 2] = ["flight_plans", "alerts"];

/// The map a process routes by, and the slots each shard holds rows of without owning
/// them (a move's copies on its target before the cut-over, its leftovers on the source
/// after): fan-out reads leave those rows out.
#[derive(Debug)]
pub(crate) struct Routing {
    pub(crate) map: Arc<SlotMap>,
    foreign: Vec<Option<String>>,
}

impl Routing {
    pub(crate) fn new(map: SlotMap) -> Self {
        Self {
            map: Arc::new(map),
            foreign: Vec::new(),
        }
    }
}

/// Times a move's step is run again after a deadlock or a lock timeout.
const STEP_RETRIES: usize = 5;

/// A deadlock (`40P01`), a serialization failure (`40001`) or a lock timeout (`55P03`).
fn is_transient(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let database = match cause.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Database(e)) => Some(&**e),
            _ => cause
                .downcast_ref::<sea_orm::DbErr>()
                .and_then(database_error),
        };
        matches!(
            database.and_then(|e| e.code()).as_deref(),
            Some("40P01" | "40001" | "55P03")
        )
    })
}

/// The database's own error inside `err`, if the database answered one.
fn database_error(err: &sea_orm::DbErr) -> Option<&dyn sqlx::error::DatabaseError> {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(e)))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(e))) => Some(&**e),
        _ => None,
    }
}

/// A write refused because its slots moved away from the shard (the `nf_moved_out`
/// constraint or delete guard); the write is retried by the new map.
#[derive(Debug, thiserror::Error)]
#[error("the drone's slot has moved to another shard")]
pub(crate) struct SlotsMoved(#[source] pub(crate) sea_orm::DbErr);

pub(crate) fn is_slot_moved(err: &sea_orm::DbErr) -> bool {
    database_error(err).is_some_and(|e| e.constraint() == Some("nf_moved_out"))
}

/// Whether a write was refused because its slots moved away from the shard.
pub(crate) fn is_moved(err: &StoreError) -> bool {
    matches!(err, StoreError::ShardUnavailable { source, .. } if source.is::<SlotsMoved>())
}

/// `{[first,last+1)}`, the range as a PostgreSQL multirange literal.
fn multirange(range: SlotRange) -> String {
    format!("{{[{},{})}}", range.first, u32::from(range.last) + 1)
}

#[async_trait::async_trait]
impl domain::ports::ShardDirectory for Store {
    async fn shard_overview(&self) -> Result<domain::ports::ShardOverview, StoreError> {
        let moves = self
            .recent_moves(20)
            .await
            .map_err(|e| StoreError::CatalogUnavailable(e.into()))?;
        Ok(domain::ports::ShardOverview {
            map: (*self.slot_map()).clone(),
            shards: self.shard_rows().await,
            moves,
        })
    }
}

/// Tells the other processes that the slot map or a move's state changed.
#[async_trait::async_trait]
pub trait RoutingNotifier: Send + Sync {
    async fn slot_map_changed(&self);
}

/// What a running move reports, for a progress bar.
pub trait MoveObserver: Send + Sync {
    /// A step begins: `copying`, `catching up`, `fencing`, `waiting`, `deleting`, `done`.
    fn phase(&self, step: &str);
    fn progress(&self, progress: &MoveProgress);
}

/// An observer that reports nothing.
pub struct Quiet;

impl MoveObserver for Quiet {
    fn phase(&self, _: &str) {}
    fn progress(&self, _: &MoveProgress) {}
}

impl Store {
    /// The slot map this process routes by now.
    pub fn slot_map(&self) -> Arc<SlotMap> {
        self.routing().map.clone()
    }

    fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// For a fan-out read on `db`: a condition (on `column`, a drone id) leaving out the rows
    /// it holds during a move for slots it does not own; always true when it holds none.
    pub(crate) fn owned_rows(&self, db: Db, column: &str) -> Condition {
        match self.owned_rows_sql(db, column) {
            Some(sql) => Condition::all().add(Expr::cust(sql)),
            None => Condition::all(),
        }
    }

    /// [`Self::owned_rows`] as SQL, for queries written by hand; `None` when `db` holds no
    /// rows of slots it does not own.
    pub(crate) fn owned_rows_sql(&self, db: Db, column: &str) -> Option<String> {
        let routing = self.routing();
        let slots = match db {
            Db::Shard(shard) => routing.foreign.get(usize::from(shard))?.as_ref()?,
            Db::Catalog => return None,
        };
        Some(format!(
            "NOT (nf_slot({column}) <@ '{slots}'::int4multirange)"
        ))
    }

    /// For fan-out reads whose rows carry their drone: whether `drone`'s row read on `db`
    /// is the one to keep (its slot is owned there, not a move's copy).
    pub(crate) fn owns(&self, db: Db, drone: domain::DroneId) -> bool {
        match db {
            Db::Shard(shard) => self.slot_map().shard_of(drone).0 == shard,
            Db::Catalog => true,
        }
    }

    /// Reads the slot map and the running move from the catalog; whether the map's version
    /// changed.
    pub async fn refresh_routing(&self) -> anyhow::Result<bool> {
        let Some(stored) = self.stored_slot_map().await? else {
            return Ok(false);
        };
        let configured = u16::try_from(self.shards.len()).unwrap_or(u16::MAX);
        let map =
            SlotMap::recorded(&stored.spec, configured, stored.version).with_context(|| {
                format!(
                    "the slot map recorded in the catalog (version {}), `{}`, names a shard that \
                 is not configured: add every shard's database to storage.shard_urls",
                    stored.version, stored.spec
                )
            })?;
        let mut foreign = vec![None; self.shards.len()];
        if let Some(m) = self.active_move().await? {
            let holder = if m.state == "switched" {
                m.source
            } else {
                m.target
            };
            if let Some(slot) = foreign.get_mut(usize::from(holder.0)) {
                *slot = Some(multirange(m.range));
            }
        }
        let current = self.routing();
        let changed = current.map.version() != map.version();
        if changed || current.foreign != foreign || *current.map != map {
            if changed {
                tracing::info!(
                    version = map.version(),
                    spec = %map.to_spec(),
                    "routing by a new slot map"
                );
            }
            *self.routing.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Routing {
                map: Arc::new(map),
                foreign,
            });
        }
        Ok(changed)
    }

    /// Reads the slot map again every [`ROUTING_REFRESH`] until the process ends.
    pub async fn watch_routing(self) {
        let mut ticker = tokio::time::interval(ROUTING_REFRESH);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = self.refresh_routing().await {
                tracing::warn!(error = %format!("{error:#}"), "could not read the slot map");
            }
        }
    }

    /// Runs `write` until it is not refused for a moved slot: then the map is read again
    /// and the write goes where the slot is now. While the slots are fenced (the map has
    /// not moved yet) it waits, [`FENCE_WAIT`] at most, then the refusal (a 503) stands.
    pub(crate) async fn rerouted<T, F, Fut>(&self, mut write: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let deadline = Instant::now() + FENCE_WAIT;
        loop {
            match write().await {
                Err(err) if is_moved(&err) && Instant::now() < deadline => {
                    let moved = self.refresh_routing().await.unwrap_or(false);
                    if !moved {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Whether slots can move here: the catalog and every shard are PostgreSQL.
    pub fn slots_can_move(&self) -> bool {
        self.catalog.get_database_backend() == DatabaseBackend::Postgres
            && self
                .shards
                .iter()
                .all(|s| s.get_database_backend() == DatabaseBackend::Postgres)
    }

    fn movable(&self) -> anyhow::Result<()> {
        ensure!(
            self.slots_can_move(),
            "slots move only between PostgreSQL shards; an embedded (SQLite) installation \
             keeps its slot map"
        );
        Ok(())
    }

    fn pool(&self, shard: ShardId) -> anyhow::Result<PgPool> {
        let db = self
            .shards
            .get(usize::from(shard.0))
            .with_context(|| format!("shard {shard} is not configured"))?;
        Ok(db.get_postgres_connection_pool().clone())
    }

    /// The move that is not done yet, if any (there is at most one).
    pub async fn active_move(&self) -> anyhow::Result<Option<SlotMove>> {
        let row = slot_moves::Entity::find()
            .filter(slot_moves::Column::State.ne("done"))
            .order_by_asc(slot_moves::Column::Id)
            .one(&self.catalog)
            .await
            .context("failed to read the slot moves from the catalog")?;
        row.map(from_row).transpose()
    }

    /// The latest moves, newest first.
    pub async fn recent_moves(&self, limit: u64) -> anyhow::Result<Vec<SlotMove>> {
        slot_moves::Entity::find()
            .order_by_desc(slot_moves::Column::Id)
            .limit(limit)
            .all(&self.catalog)
            .await
            .context("failed to read the slot moves from the catalog")?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// How many drones and (about) how many points each shard holds.
    pub async fn shard_rows(&self) -> Vec<ShardRows> {
        let counts = self.shards.iter().enumerate().map(|(i, conn)| async move {
            let shard = u16::try_from(i).unwrap_or(u16::MAX);
            let pg = conn.get_database_backend() == DatabaseBackend::Postgres;
            let drones =
                sea_orm::PaginatorTrait::count(super::entities::drones::Entity::find(), conn).await;
            let points = if pg {
                let pool = conn.get_postgres_connection_pool();
                sqlx::query_scalar::<_, f64>(
                    "SELECT coalesce(sum(c.reltuples) FILTER (WHERE c.reltuples > 0), 0)::float8 \
                     FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid \
                     WHERE c.relname = 'telemetry' OR i.inhparent = 'telemetry'::regclass",
                )
                .fetch_one(pool)
                .await
                .ok()
            } else {
                None
            };
            match drones {
                Ok(n) => ShardRows {
                    shard: ShardId(shard),
                    drones: i64::try_from(n).ok(),
                    points_estimate: points.map(|p| p as i64),
                    error: None,
                },
                Err(e) => ShardRows {
                    shard: ShardId(shard),
                    drones: None,
                    points_estimate: None,
                    error: Some(e.to_string()),
                },
            }
        });
        futures::future::join_all(counts).await
    }

    /// Records a move of `range` to shard `to`; [`Store::run_move`] then carries it out.
    pub async fn start_move(&self, range: SlotRange, to: ShardId) -> anyhow::Result<SlotMove> {
        self.movable()?;
        ensure!(
            usize::from(to.0) < self.shards.len(),
            "shard {to} is not configured: add its database to storage.shard_urls on every \
             process (see `nimbusfleet admin add-shard`), restart them, then move slots to it"
        );
        if let Some(m) = self.active_move().await? {
            bail!(
                "move {} of slots {} from shard {} to shard {} is not finished (state `{}`); \
                 finish it first with `nimbusfleet admin move-slots --resume`",
                m.id,
                m.range,
                m.source,
                m.target,
                m.state
            );
        }
        self.refresh_routing().await?;
        let owners = self.slot_map().owners_within(range);
        let [(_, source)] = owners[..] else {
            let parts: Vec<String> = owners
                .iter()
                .map(|(r, s)| format!("{r} on shard {s}"))
                .collect();
            bail!(
                "slots {range} are on several shards ({}); move each part on its own",
                parts.join(", ")
            );
        };
        ensure!(source != to, "slots {range} are already on shard {to}");
        let at = now();
        let row = slot_moves::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            first_slot: Set(i32::from(range.first)),
            last_slot: Set(i32::from(range.last)),
            source: Set(i32::from(source.0)),
            target: Set(i32::from(to.0)),
            state: Set("copying".to_owned()),
            progress: Set(serde_json::to_string(&MoveProgress::default())?),
            fence_ms: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            finished_at: Set(None),
        };
        let row = row
            .insert(&self.catalog)
            .await
            .context("failed to record the move in the catalog")?;
        tracing::info!(id = row.id, %range, %source, target = %to, "slot move started");
        from_row(row)
    }

    /// Carries `m` out from its recorded state to `done`.
    pub async fn run_move(
        &self,
        mut m: SlotMove,
        observer: &dyn MoveObserver,
    ) -> anyhow::Result<SlotMove> {
        self.movable()?;
        let mut mover = Mover {
            store: self,
            source: self.pool(m.source)?,
            target: self.pool(m.target)?,
            columns: HashMap::new(),
            observer,
        };
        let mut retries = 0;
        loop {
            let step = match m.state.as_str() {
                "copying" => mover.copy(&mut m).await,
                "cutover" => mover.cut_over(&mut m).await,
                "switched" => mover.clean_up(&mut m).await,
                "done" => {
                    observer.phase("done");
                    return Ok(m);
                }
                other => bail!("move {} has an unknown state `{other}`", m.id),
            };
            match step {
                Ok(()) => retries = 0,
                // A deadlock with the service's own writes, or a lock not granted in time:
                // every step can run again, so it does, a few times.
                Err(error) if is_transient(&error) && retries < STEP_RETRIES => {
                    retries += 1;
                    tracing::warn!(
                        id = m.id,
                        state = %m.state,
                        error = %format!("{error:#}"),
                        "a slot move step failed; running it again"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads the map again here and tells the other processes to.
    async fn announce(&self) -> anyhow::Result<()> {
        self.refresh_routing().await?;
        if let Some(notifier) = &self.notifier {
            notifier.slot_map_changed().await;
        }
        Ok(())
    }

    async fn save_move(&self, m: &mut SlotMove) -> anyhow::Result<()> {
        m.updated_at = now();
        let row = slot_moves::Entity::find_by_id(m.id)
            .one(&self.catalog)
            .await?
            .with_context(|| format!("move {} vanished from the catalog", m.id))?;
        let mut row = row.into_active_model();
        row.state = Set(m.state.clone());
        row.progress = Set(serde_json::to_string(&m.progress)?);
        row.fence_ms = Set(m.fence_ms);
        row.updated_at = Set(m.updated_at);
        row.finished_at = Set(m.finished_at);
        row.update(&self.catalog)
            .await
            .context("failed to record the move's progress in the catalog")?;
        Ok(())
    }
}

/// For the crash tests: with `NIMBUS_MOVE_STOP_AT=copy` (after the first chunk) or `fence`
/// (the source fenced, the map not moved yet) the mover says so on stderr and stops there,
/// holding what it holds, until it is killed (`kill -9`).
fn stop_point(at: &str) {
    if std::env::var("NIMBUS_MOVE_STOP_AT").is_ok_and(|v| v == at) {
        eprintln!("NIMBUS_MOVE_STOP_AT={at}: stopped, waiting to be killed");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn from_row(row: slot_moves::Model) -> anyhow::Result<SlotMove> {
    let slot = |v: i32| u16::try_from(v).context("a stored slot is out of range");
    Ok(SlotMove {
        id: row.id,
        range: SlotRange {
            first: slot(row.first_slot)?,
            last: slot(row.last_slot)?,
        },
        source: ShardId(slot(row.source)?),
        target: ShardId(slot(row.target)?),
        state: row.state,
        progress: serde_json::from_str(&row.progress).unwrap_or_default(),
        fence_ms: row.fence_ms,
        created_at: row.created_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
    })
}

struct Mover<'a> {
    store: &'a Store,
    source: PgPool,
    target: PgPool,
    /// Each table's column list, in the target's order (both shards run the same
    /// migrations, so the source has the same columns).
    columns: HashMap<&'static str, String>,
    observer: &'a dyn MoveObserver,
}

impl Mover<'_> {
    async fn copy(&mut self, m: &mut SlotMove) -> anyhow::Result<()> {
        let slots = multirange(m.range);
        self.observer.phase("preparing");
        for t in &TABLES {
            self.source
                .execute(
                    format!(
                        "DROP TRIGGER IF EXISTS nf_move_capture ON {name}; \
                         CREATE TRIGGER nf_move_capture AFTER INSERT OR UPDATE OR DELETE ON \
                         {name} FOR EACH ROW EXECUTE FUNCTION nf_move_capture('{slots}', \
                         '{drone}', '{key}', '{name}')",
                        name = t.name,
                        drone = t.drone,
                        key = t.key.unwrap_or(""),
                    )
                    .as_str(),
                )
                .await
                .with_context(|| {
                    format!("failed to log the changes of {} on the source", t.name)
                })?;
        }
        // Every process must know that the target holds copies before the first one lands.
        self.store.announce().await?;
        tokio::time::sleep(GRACE).await;
        self.accept(m.range).await?;
        for t in &TABLES {
            let columns = self.columns_of(t.name).await?;
            self.columns.insert(t.name, columns);
        }
        if m.progress.drones_total == 0 {
            m.progress.drones_total = sqlx::query_scalar::<_, i64>(&format!(
                "SELECT count(*) FROM drones WHERE nf_slot(id) <@ '{slots}'::int4multirange"
            ))
            .fetch_one(&self.source)
            .await? as u64;
        }
        self.observer.phase("copying");
        self.observer.progress(&m.progress);
        let mut clock = Instant::now();
        let mut lap = |progress: &mut MoveProgress| {
            progress.copy_ms += u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
            clock = Instant::now();
        };
        loop {
            let drones: Vec<Uuid> = sqlx::query_scalar(&format!(
                "SELECT id FROM drones WHERE nf_slot(id) <@ '{slots}'::int4multirange \
                 AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT {DRONES_PER_CHUNK}"
            ))
            .bind(m.progress.last_drone)
            .fetch_all(&self.source)
            .await
            .context("failed to list the drones to copy")?;
            let Some(last) = drones.last().copied() else {
                break;
            };
            let condition = format!("= ANY({})", uuid_array(&drones));
            let tables: Vec<(&Moved, String)> = TABLES
                .iter()
                .map(|t| (t, format!("{} {condition}", t.drone)))
                .collect();
            let rows = self.mirror(&tables).await?;
            for (table, n) in rows {
                *m.progress.rows.entry(table.to_owned()).or_default() += n;
            }
            m.progress.drones_copied += drones.len() as u64;
            m.progress.last_drone = Some(last);
            lap(&mut m.progress);
            self.store.save_move(m).await?;
            self.observer.progress(&m.progress);
            stop_point("copy");
        }
        self.observer.phase("catching up");
        for _ in 0..CATCH_UP_ROUNDS {
            let caught = self.catch_up(m).await?;
            lap(&mut m.progress);
            self.store.save_move(m).await?;
            self.observer.progress(&m.progress);
            if caught < CUTOVER_BELOW {
                break;
            }
        }
        m.state = "cutover".to_owned();
        self.store.save_move(m).await
    }

    /// Takes back slots the target once moved out: they are no longer refused there.
    async fn accept(&self, range: SlotRange) -> anyhow::Result<()> {
        let slots = multirange(range);
        let mut tx = self.target.begin().await?;
        let moved_out: String = sqlx::query_scalar(&format!(
            "UPDATE nf_moved_out SET slots = slots - '{slots}'::int4multirange WHERE id = 1 \
             RETURNING slots::text"
        ))
        .fetch_one(&mut *tx)
        .await
        .context("failed to read the target's moved-out slots")?;
        constrain(&mut tx, &moved_out).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn columns_of(&self, table: &str) -> anyhow::Result<String> {
        sqlx::query_scalar(
            "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
        )
        .bind(table)
        .fetch_one(&self.target)
        .await
        .with_context(|| format!("failed to read the columns of {table}"))
    }

    /// Makes the target's rows matching each table's condition equal to the source's: a
    /// delete and a copy, all tables in one target transaction. Rows written per table.
    async fn mirror(
        &self,
        tables: &[(&Moved, String)],
    ) -> anyhow::Result<Vec<(&'static str, u64)>> {
        let mut tx = self.target.begin().await?;
        tx.execute("SELECT set_config('nf.mover', 'on', true)")
            .await?;
        for (t, condition) in tables {
            tx.execute(format!("DELETE FROM {} WHERE {condition}", t.name).as_str())
                .await
                .with_context(|| format!("failed to clear {} on the target", t.name))?;
        }
        let mut written = Vec::with_capacity(tables.len());
        for (t, condition) in tables {
            let columns = self
                .columns
                .get(t.name)
                .with_context(|| format!("the columns of {} were not read", t.name))?;
            let n = copy_rows(&self.source, &mut tx, t.name, columns, condition)
                .await
                .with_context(|| format!("failed to copy {} to the target", t.name))?;
            written.push((t.name, n));
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Copies one round of logged changes; how many there were.
    async fn catch_up(&self, m: &mut SlotMove) -> anyhow::Result<usize> {
        let changes = sqlx::query(&format!(
            "SELECT seq, tbl, drone_id, ts FROM nf_move_changes ORDER BY seq \
             LIMIT {CHANGES_PER_ROUND}"
        ))
        .fetch_all(&self.source)
        .await
        .context("failed to read the changes logged on the source")?;
        let Some(last) = changes.last() else {
            return Ok(0);
        };
        let last_seq: i64 = last.try_get(0)?;
        let mut by_drone: BTreeMap<&str, BTreeSet<Uuid>> = BTreeMap::new();
        let mut by_key: BTreeMap<&str, BTreeSet<(Uuid, DateTime<Utc>)>> = BTreeMap::new();
        for row in &changes {
            let tbl: String = row.try_get(1)?;
            let drone: Uuid = row.try_get(2)?;
            let ts: Option<DateTime<Utc>> = row.try_get(3)?;
            let Some(t) = TABLES.iter().find(|t| t.name == tbl) else {
                continue;
            };
            match (t.key, ts) {
                (Some(_), Some(ts)) => {
                    by_key.entry(t.name).or_default().insert((drone, ts));
                }
                _ => {
                    by_drone.entry(t.name).or_default().insert(drone);
                    if t.name == "drones" {
                        for cascaded in CASCADED {
                            by_drone.entry(cascaded).or_default().insert(drone);
                        }
                    }
                }
            }
        }
        let mut tables = Vec::new();
        for t in &TABLES {
            if let Some(drones) = by_drone.get(t.name) {
                let ids: Vec<Uuid> = drones.iter().copied().collect();
                tables.push((t, format!("{} = ANY({})", t.drone, uuid_array(&ids))));
            }
            if let (Some(key), Some(keys)) = (t.key, by_key.get(t.name)) {
                let ids: Vec<Uuid> = keys.iter().map(|(d, _)| *d).collect();
                let times: Vec<String> = keys
                    .iter()
                    .map(|(_, ts)| format!("\"{}\"", ts.format("%Y-%m-%d %H:%M:%S%.6f+00")))
                    .collect();
                tables.push((
                    t,
                    format!(
                        "({}, {key}) IN (SELECT * FROM unnest({}, '{{{}}}'::timestamptz[]))",
                        t.drone,
                        uuid_array(&ids),
                        times.join(",")
                    ),
                ));
            }
        }
        for (table, n) in self.mirror(&tables).await? {
            *m.progress.rows.entry(table.to_owned()).or_default() += n;
        }
        sqlx::query("DELETE FROM nf_move_changes WHERE seq <= $1")
            .bind(last_seq)
            .execute(&self.source)
            .await?;
        m.progress.changes += changes.len() as u64;
        Ok(changes.len())
    }

    async fn cut_over(&mut self, m: &mut SlotMove) -> anyhow::Result<()> {
        for t in &TABLES {
            if !self.columns.contains_key(t.name) {
                let columns = self.columns_of(t.name).await?;
                self.columns.insert(t.name, columns);
            }
        }
        self.observer.phase("fencing");
        let slots = multirange(m.range);
        let mut fence = self.source.begin().await?;
        let fenced: bool = sqlx::query_scalar(&format!(
            "SELECT slots @> '{slots}'::int4multirange FROM nf_moved_out WHERE id = 1"
        ))
        .fetch_one(&mut *fence)
        .await?;
        let started = Instant::now();
        if !fenced {
            fence.execute("SET LOCAL lock_timeout = '10s'").await?;
            let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
            fence
                .execute(format!("LOCK TABLE {} IN EXCLUSIVE MODE", names.join(", ")).as_str())
                .await
                .context("failed to fence the source's tables")?;
            // Writes to the source wait from here; what they wrote before is logged.
            while self.catch_up(m).await? > 0 {}
            let moved_out: String = sqlx::query_scalar(&format!(
                "UPDATE nf_moved_out SET slots = slots + '{slots}'::int4multirange WHERE id = 1 \
                 RETURNING slots::text"
            ))
            .fetch_one(&mut *fence)
            .await?;
            constrain(&mut fence, &moved_out).await?;
        }
        fence.commit().await?;
        stop_point("fence");
        // The catalog's map moves, with the move's state, in one transaction.
        let txn = self.store.catalog.begin().await?;
        let stored = shard_map::Entity::find_by_id(SHARD_MAP_ROW)
            .lock_exclusive()
            .one(&txn)
            .await?
            .context("the catalog has no slot map")?;
        let shards = u16::try_from(stored.shards).unwrap_or(u16::MAX);
        let map = SlotMap::recorded(&stored.spec, shards.max(m.target.0 + 1), stored.version)?;
        if map.owners_within(m.range) != vec![(m.range, m.target)] {
            let next = map.with_move(m.range, m.target);
            let mut row = stored.into_active_model();
            row.spec = Set(next.to_spec());
            row.shards = Set(i32::from(next.shard_count()));
            row.version = Set(next.version());
            row.update(&txn).await?;
        }
        m.state = "switched".to_owned();
        if !fenced {
            m.fence_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        }
        let mut row = slot_moves::Entity::find_by_id(m.id)
            .one(&txn)
            .await?
            .with_context(|| format!("move {} vanished from the catalog", m.id))?
            .into_active_model();
        row.state = Set(m.state.clone());
        row.fence_ms = Set(m.fence_ms);
        row.progress = Set(serde_json::to_string(&m.progress)?);
        m.updated_at = now();
        row.updated_at = Set(m.updated_at);
        row.update(&txn).await?;
        txn.commit().await?;
        self.store.announce().await?;
        tracing::info!(
            id = m.id,
            range = %m.range,
            fence_ms = m.fence_ms,
            "slots switched to their new shard"
        );
        Ok(())
    }

    async fn clean_up(&mut self, m: &mut SlotMove) -> anyhow::Result<()> {
        self.observer.phase("waiting");
        let since = (Utc::now() - m.updated_at).to_std().unwrap_or_default();
        tokio::time::sleep(GRACE.saturating_sub(since)).await;
        self.observer.phase("deleting");
        let slots = multirange(m.range);
        for t in &TABLES {
            self.source
                .execute(format!("DROP TRIGGER IF EXISTS nf_move_capture ON {}", t.name).as_str())
                .await?;
        }
        // Children first: deleting drones first would delete plans and alerts by cascade
        // without counting them.
        for t in TABLES.iter().rev() {
            let mut tx = self.source.begin().await?;
            tx.execute("SELECT set_config('nf.mover', 'on', true)")
                .await?;
            let deleted = tx
                .execute(
                    format!(
                        "DELETE FROM {} WHERE nf_slot({}) <@ '{slots}'::int4multirange",
                        t.name, t.drone
                    )
                    .as_str(),
                )
                .await
                .with_context(|| format!("failed to delete the moved rows of {}", t.name))?;
            tx.commit().await?;
            m.progress.deleted += deleted.rows_affected();
            self.observer.progress(&m.progress);
        }
        self.source.execute("DELETE FROM nf_move_changes").await?;
        // Both shards' statistics changed in bulk: the planner (and the row estimates of
        // `admin shards`) should know at once rather than at autovacuum's next visit.
        let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        let analyze = format!("ANALYZE {}", names.join(", "));
        for pool in [&self.target, &self.source] {
            if let Err(error) = pool.execute(analyze.as_str()).await {
                tracing::warn!(%error, "could not analyze a shard after a slot move");
            }
        }
        m.state = "done".to_owned();
        m.finished_at = Some(now());
        self.store.save_move(m).await?;
        self.store.announce().await?;
        tracing::info!(id = m.id, range = %m.range, "slot move done");
        Ok(())
    }
}

/// Sets the `nf_moved_out` constraint of every moved table to `moved_out` (a multirange
/// literal), or drops it when nothing moved out.
async fn constrain(conn: &mut PgConnection, moved_out: &str) -> anyhow::Result<()> {
    for t in &TABLES {
        let add = if moved_out == "{}" {
            String::new()
        } else {
            format!(
                ", ADD CONSTRAINT nf_moved_out CHECK (NOT (nf_slot({}) <@ '{moved_out}'::int4multirange)) NOT VALID",
                t.drone
            )
        };
        conn.execute(
            format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS nf_moved_out{add}",
                t.name
            )
            .as_str(),
        )
        .await
        .with_context(|| format!("failed to set the moved-out slots of {}", t.name))?;
    }
    Ok(())
}

/// Streams the rows of `table` matching `condition` from `source` into `target` with binary
/// COPY (through a temporary table, so that a row the target wrote itself meanwhile, a
/// rollup of copied points, is kept rather than failing the copy); how many were written.
async fn copy_rows(
    source: &PgPool,
    target: &mut PgConnection,
    table: &str,
    columns: &str,
    condition: &str,
) -> anyhow::Result<u64> {
    let stage = format!("nf_stage_{table}");
    target
        .execute(
            format!("CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
                .as_str(),
        )
        .await?;
    let mut rows = source
        .copy_out_raw(&format!(
            "COPY (SELECT {columns} FROM {table} WHERE {condition}) TO STDOUT (FORMAT binary)"
        ))
        .await?;
    let mut copy = target
        .copy_in_raw(&format!(
            "COPY {stage} ({columns}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    loop {
        let chunk = match rows.try_next().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(err) => {
                let _ = copy.abort("reading the source failed").await;
                return Err(err.into());
            }
        };
        if let Err(err) = copy.send(chunk).await {
            let _ = copy.abort("sending rows failed").await;
            return Err(err.into());
        }
    }
    copy.finish().await?;
    let inserted = target
        .execute(
            format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} \
                 ON CONFLICT DO NOTHING"
            )
            .as_str(),
        )
        .await?;
    target.execute(format!("TRUNCATE {stage}").as_str()).await?;
    Ok(inserted.rows_affected())
}

fn uuid_array(ids: &[Uuid]) -> String {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    format!("'{{{}}}'::uuid[]", ids.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_written_as_half_open_multiranges() {
        let range = SlotRange {
            first: 256,
            last: 383,
        };
        assert_eq!(multirange(range), "{[256,384)}");
        assert_eq!(
            multirange(SlotRange {
                first: 1023,
                last: 1023
            }),
            "{[1023,1024)}"
        );
    }

    #[test]
    fn tables_name_a_drone_before_what_references_it() {
        assert_eq!(TABLES[0].name, "drones");
        for cascaded in CASCADED {
            assert!(TABLES.iter().any(|t| t.name == cascaded));
        }
    }
}
