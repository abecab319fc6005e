//! The telemetry store: [`TelemetryStore`] for [`Store`], on each drone's shard.
//!
//! Two tables per shard (schema in `migrations/src/shard/`):
//!
//! - `telemetry`, the raw points keyed `(drone_id, ts)`. On PostgreSQL it is a TimescaleDB
//!   hypertable with one-day chunks when the extension is available, otherwise a native
//!   table partitioned by range of `ts` into daily partitions plus a `DEFAULT` partition
//!   that takes any point whose day has no partition yet; [`TelemetryStore::maintain`]
//!   creates the partitions ahead of time and drops expired ones. On SQLite it is a plain
//!   table with `ts` in microseconds since the Unix epoch.
//! - `drone_latest`, one row per drone with its newest point, for latest-state and fleet
//!   reads.
//! - `telemetry_1m` and `telemetry_1h`, per drone rollups that downsampled reads use
//!   ([`TelemetryStore::roll_up`] keeps them; see `rollup.rs`).
//!
//! Writes are bulk: a batch is split by shard and the shards are written in parallel. On
//! PostgreSQL a shard's share is one binary `COPY` ([`copy_points`]); when that fails
//! because the batch replays stored points (at-least-once delivery), the share is written
//! again with `INSERT … ON CONFLICT DO NOTHING`, in chunks under the bind-parameter limit.
//! On SQLite it is always the latter, in one transaction. Then each drone's newest point
//! of the batch is upserted into `drone_latest`, moving it only forward in time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::page::Partial;
use domain::ports::TelemetryStore;
use domain::telemetry::{BBox, Bucket, Interval, TelemetryPoint, TimeRange};
use domain::{DroneId, OrgId, StoreError};
use futures::future::join_all;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashSet;
use std::future::Future;

use crate::store::{collect_runs, Store};

mod archive;
mod durable;
mod maintain;
mod postgres;
mod read;
mod rollup;
mod sql;
mod write;

pub(crate) use read::{latest_of, latest_since};

pub use archive::{Archive, ArchivedDay};
pub use durable::{write_durably, write_durably_reporting, WriteObserver};
pub use postgres::copy_points;
use read::Direction;

impl Store {
    /// Writes each shard's share; how many points were new, and the points of shares
    /// refused because their slots moved, with the refusal. Every share is attempted; if
    /// one fails otherwise the batch fails, and a retry of the whole batch stores only what
    /// is still missing.
    async fn write_by_shard(
        &self,
        points: &[TelemetryPoint],
    ) -> Result<(u64, Option<(Vec<TelemetryPoint>, StoreError)>), StoreError> {
        let shares = write::by_shard(self, points);
        let results = join_all(
            shares
                .iter()
                .map(|(shard, share)| self.write_shard(*shard, share)),
        )
        .await;
        let mut stored = 0;
        let mut moved: Option<(Vec<TelemetryPoint>, StoreError)> = None;
        let mut failure = None;
        for ((_, share), result) in shares.iter().zip(results) {
            match result {
                Ok(n) => stored += n,
                Err(err) if crate::store::is_moved(&err) => match &mut moved {
                    Some((points, _)) => points.extend_from_slice(share),
                    None => moved = Some((share.clone(), err)),
                },
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok((stored, moved)),
        }
    }
}

#[async_trait]
impl TelemetryStore for Store {
    #[tracing::instrument(skip_all, fields(points = points.len()))]
    async fn write_points(&self, points: &[TelemetryPoint]) -> Result<u64, StoreError> {
        if points.is_empty() {
            return Ok(0);
        }
        // Shares refused because their slots moved meanwhile are written again by the
        // new map.
        let (stored, moved) = self.write_by_shard(points).await?;
        let Some((moved, _)) = moved else {
            return Ok(stored);
        };
        let again = self
            .rerouted(|| async {
                match self.write_by_shard(&moved).await? {
                    (n, None) => Ok(n),
                    (_, Some((_, refused))) => Err(refused),
                }
            })
            .await?;
        Ok(stored + again)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %drone))]
    async fn latest(
        &self,
        org: OrgId,
        drone: DroneId,
    ) -> Result<Option<TelemetryPoint>, StoreError> {
        let (db, conn) = self.readable_drone_shard(drone)?;
        read::latest(conn, org, drone).await.map_err(|e| db.err(e))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %drone, limit = limit))]
    async fn history(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<TelemetryPoint>, StoreError> {
        self.history_in(org, drone, range, Direction::Descending(before), limit)
            .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %drone, limit = limit))]
    async fn history_ascending(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        after: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<TelemetryPoint>, StoreError> {
        self.history_in(org, drone, range, Direction::Ascending(after), limit)
            .await
    }

    async fn archived_until(&self, drone: DroneId) -> Result<Option<DateTime<Utc>>, StoreError> {
        if self.archive().is_none() {
            return Ok(None);
        }
        let (db, conn) = self.readable_drone_shard(drone)?;
        archive::archived_until(conn).await.map_err(|e| db.err(e))
    }

    #[tracing::instrument(
        skip_all,
        fields(org_id = %org, drone_id = %drone, interval_s = interval.seconds())
    )]
    async fn downsample(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        interval: Interval,
    ) -> Result<Vec<Bucket>, StoreError> {
        let (db, conn) = self.readable_drone_shard(drone)?;
        rollup::downsample(conn, org, drone, range, interval)
            .await
            .map_err(|e| db.err(e))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, bbox = bbox.is_some()))]
    async fn fleet_positions(
        &self,
        org: OrgId,
        bbox: Option<BBox>,
    ) -> Result<(Vec<TelemetryPoint>, Vec<u16>), StoreError> {
        self.fleet_read(|conn| read::positions(conn, org, bbox))
            .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, %at, window_s = window.seconds()))]
    async fn fleet_positions_at(
        &self,
        org: OrgId,
        at: DateTime<Utc>,
        window: Interval,
        bbox: Option<BBox>,
    ) -> Result<(Vec<TelemetryPoint>, Vec<u16>), StoreError> {
        let archived = self.archive().is_some();
        self.fleet_read(|conn| async move {
            let mut points = read::positions_at(conn, org, at, window, bbox).await?;
            // Raw rows of archived days are gone: those instants come from the rollups.
            let since = at - chrono::Duration::seconds(window.seconds());
            let until = if archived {
                archive::archived_until(conn).await?
            } else {
                None
            };
            if until.is_some_and(|until| since < until) {
                let raw: HashSet<DroneId> = points.iter().map(|p| p.drone_id).collect();
                let old = read::positions_at_from_rollups(conn, org, at, window, bbox).await?;
                points.extend(old.into_iter().filter(|p| !raw.contains(&p.drone_id)));
            }
            Ok(points)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn drones_reporting_since(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
    ) -> Result<Partial<u64>, StoreError> {
        let queries = self.readable_shards().map(|(db, conn)| async move {
            let owned = self.owned_rows_sql(db, "drone_id");
            let count = read::count_reporting_since(conn, org, since, owned)
                .await
                .map(|n| vec![n])
                .map_err(|e| db.err(e));
            (db, count)
        });
        let (runs, missing_shards) = collect_runs(join_all(queries).await)?;
        Ok(Partial {
            value: runs.into_iter().flatten().sum(),
            missing_shards,
        })
    }

    #[tracing::instrument(skip_all)]
    async fn roll_up(
        &self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<u64, StoreError> {
        let rounds = self.all_shards().map(|(db, conn)| async move {
            rollup::roll_up(conn, now, now - retention)
                .await
                .map_err(|e| db.err(e))
        });
        let mut rows = 0;
        for round in join_all(rounds).await {
            let round = round?;
            if round.late_minutes > 0 {
                tracing::debug!(late_minutes = round.late_minutes, "rolled up late points");
            }
            rows += round.minutes + round.hours + round.late_minutes;
        }
        Ok(rows)
    }

    #[tracing::instrument(skip_all, fields(retention_days = retention.num_days()))]
    async fn maintain(
        &self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<(), StoreError> {
        if let Some((archive, after)) = self.archive() {
            // A day a day past `after`, so that no write still in flight lands in it.
            let before = (now - *after - chrono::Duration::days(1)).date_naive();
            let archived = self
                .archive_before(before, now - retention, &|_| {})
                .await?;
            for day in &archived {
                tracing::info!(shard = day.shard, day = %day.day, rows = day.rows, bytes = day.bytes, "archived a day of telemetry");
            }
            for (db, conn) in self.all_shards() {
                let expired = archive::expire(conn, archive, now - retention)
                    .await
                    .map_err(|e| db.err(e))?;
                if expired > 0 {
                    tracing::info!(expired, "deleted archived days past retention");
                }
            }
        }
        let runs = self.all_shards().map(|(db, conn)| async move {
            maintain::maintain(conn, now, retention)
                .await
                .map_err(|e| db.err(e))
        });
        join_all(runs)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }
}

impl Store {
    /// One drone's history page: raw rows from the end of the archived days on, the archive
    /// before it, walked in `direction`.
    async fn history_in(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        direction: Direction,
        limit: u32,
    ) -> Result<Vec<TelemetryPoint>, StoreError> {
        let (db, conn) = self.readable_drone_shard(drone)?;
        let archived = match self.archive() {
            Some((archive, _)) => archive::archived_until(conn)
                .await
                .map_err(|e| db.err(e))?
                .filter(|until| range.from < *until)
                .map(|until| (archive, until)),
            None => None,
        };
        let Some((archive, until)) = archived else {
            return read::history(conn, org, drone, range, direction, limit)
                .await
                .map_err(|e| db.err(e));
        };
        let old = TimeRange {
            from: range.from,
            to: range.to.min(until),
        };
        let recent = TimeRange {
            from: range.from.max(until),
            to: range.to,
        };
        let raw = |limit| async move {
            if recent.from >= recent.to || limit == 0 {
                return Ok(Vec::new());
            }
            read::history(conn, org, drone, recent, direction, limit).await
        };
        let archived = |limit| async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            archive::history(conn, archive, org, drone, old, direction, limit).await
        };
        let mut points = match direction {
            Direction::Descending(_) => raw(limit).await,
            Direction::Ascending(_) => archived(limit).await,
        }
        .map_err(|e| db.err(e))?;
        let left = limit.saturating_sub(points.len() as u32);
        let rest = match direction {
            Direction::Descending(_) => archived(left).await,
            Direction::Ascending(_) => raw(left).await,
        }
        .map_err(|e| db.err(e))?;
        points.extend(rest);
        Ok(points)
    }

    /// Archives every day before `before` (and after what retention keeps, `since`) that has
    /// raw points, shard by shard and oldest first, stopping a shard at its first failure so
    /// that its archive has no gap. Returns what was archived.
    pub async fn archive_before(
        &self,
        before: chrono::NaiveDate,
        since: DateTime<Utc>,
        progress: &(dyn Fn(ArchiveProgress) + Send + Sync),
    ) -> Result<Vec<ArchiveProgress>, StoreError> {
        let Some((archive, _)) = self.archive() else {
            return Ok(Vec::new());
        };
        let mut done = Vec::new();
        for (index, (db, conn)) in self.all_shards().enumerate() {
            let Some(_lock) = archive::lock(conn).await.map_err(|e| db.err(e))? else {
                tracing::info!(shard = index, "another process is archiving this shard");
                continue;
            };
            rollup::roll_up_through(conn, Utc::now(), since, archive::day_start(before))
                .await
                .map_err(|e| db.err(e))?;
            // From the newest archived day: a run stopped between its manifest row and
            // dropping its rows left them there.
            let start = archive::archived_until(conn)
                .await
                .map_err(|e| db.err(e))?
                .map(|until| until - chrono::Duration::days(1))
                .unwrap_or(since)
                .max(since)
                .date_naive();
            for day in start.iter_days().take_while(|d| *d < before) {
                let outcome = archive::archive_day(conn, archive, index, day, &|rows| {
                    progress(ArchiveProgress {
                        shard: index,
                        day,
                        rows,
                        bytes: 0,
                        done: false,
                    })
                })
                .await
                .map_err(|e| db.err(e))?;
                if let archive::DayOutcome::Archived { rows, bytes } = outcome {
                    let p = ArchiveProgress {
                        shard: index,
                        day,
                        rows,
                        bytes,
                        done: true,
                    };
                    progress(p.clone());
                    done.push(p);
                }
            }
        }
        Ok(done)
    }

    /// Fleet positions read on every shard at once, merged in drone id order, with the
    /// shards that could not be read.
    async fn fleet_read<'a, F, Fut>(
        &'a self,
        read: F,
    ) -> Result<(Vec<TelemetryPoint>, Vec<u16>), StoreError>
    where
        F: Fn(&'a DatabaseConnection) -> Fut,
        Fut: Future<Output = Result<Vec<TelemetryPoint>, DbErr>>,
    {
        let queries = self.readable_shards().map(|(db, conn)| {
            let run = read(conn);
            async move {
                let points = run.await.map(|mut points| {
                    // During a move, the copies its target holds are not read twice.
                    points.retain(|p| self.owns(db, p.drone_id));
                    points
                });
                (db, points.map_err(|e| db.err(e)))
            }
        });
        let (runs, missing) = collect_runs(join_all(queries).await)?;
        let mut positions: Vec<TelemetryPoint> = runs.into_iter().flatten().collect();
        positions.sort_by_key(|p| p.drone_id);
        Ok((positions, missing))
    }
}

/// Where an archive run is: a day of a shard, the rows written so far, and whether the day
/// is done (written, verified, in the manifest, dropped from the database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveProgress {
    pub shard: usize,
    pub day: chrono::NaiveDate,
    pub rows: u64,
    pub bytes: u64,
    pub done: bool,
}

/// Removes a deleted drone's history and latest state from its shard, so that it leaves no
/// trace in fleet positions or exports.
pub(crate) async fn forget_drone(
    db: crate::store::Db,
    shard: &sea_orm::DatabaseConnection,
    drone: domain::DroneId,
) -> Result<(), domain::StoreError> {
    use sea_orm::ConnectionTrait;
    let dialect = sql::Dialect::of(shard).map_err(|e| db.err(e))?;
    for table in ["drone_latest", "telemetry"] {
        let mut q = sql::Query::new(dialect, &format!("DELETE FROM {table} WHERE drone_id = "));
        q.bind(drone.as_uuid());
        shard.execute(q.build()).await.map_err(|e| db.err(e))?;
    }
    rollup::forget(shard, dialect, drone)
        .await
        .map_err(|e| db.err(e))
}
