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
use std::future::Future;

use crate::store::{collect_runs, Store};

mod durable;
mod maintain;
mod postgres;
mod read;
mod rollup;
mod sql;
mod write;

pub(crate) use read::{latest_of, latest_since};

pub use durable::{write_durably, write_durably_reporting, WriteObserver};
pub use postgres::copy_points;
use read::Direction;

#[async_trait]
impl TelemetryStore for Store {
    #[tracing::instrument(skip_all, fields(points = points.len()))]
    async fn write_points(&self, points: &[TelemetryPoint]) -> Result<u64, StoreError> {
        if points.is_empty() {
            return Ok(0);
        }
        let shares = write::by_shard(self, points);
        let results = join_all(
            shares
                .iter()
                .map(|(shard, share)| self.write_shard(*shard, share)),
        )
        .await;
        // Every share is attempted; if one fails the batch fails, and a retry of the whole
        // batch stores only what is still missing.
        let mut stored = 0;
        let mut failure = None;
        for result in results {
            match result {
                Ok(n) => stored += n,
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(stored),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %drone))]
    async fn latest(
        &self,
        org: OrgId,
        drone: DroneId,
    ) -> Result<Option<TelemetryPoint>, StoreError> {
        let (db, conn) = self.drone_shard(drone)?;
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
        let (db, conn) = self.drone_shard(drone)?;
        read::history(
            conn,
            org,
            drone,
            range,
            Direction::Descending(before),
            limit,
        )
        .await
        .map_err(|e| db.err(e))
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
        let (db, conn) = self.drone_shard(drone)?;
        read::history(conn, org, drone, range, Direction::Ascending(after), limit)
            .await
            .map_err(|e| db.err(e))
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
        let (db, conn) = self.drone_shard(drone)?;
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
        self.fleet_read(|conn| read::positions_at(conn, org, at, window, bbox))
            .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn drones_reporting_since(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
    ) -> Result<Partial<u64>, StoreError> {
        let queries = self.all_shards().map(|(db, conn)| async move {
            let count = read::count_reporting_since(conn, org, since)
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
        let queries = self.all_shards().map(|(db, conn)| {
            let run = read(conn);
            async move { (db, run.await.map_err(|e| db.err(e))) }
        });
        let (runs, missing) = collect_runs(join_all(queries).await)?;
        let mut positions: Vec<TelemetryPoint> = runs.into_iter().flatten().collect();
        positions.sort_by_key(|p| p.drone_id);
        Ok((positions, missing))
    }
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
