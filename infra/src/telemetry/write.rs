//! The write path: one shard's share of a batch, stored in bulk, then each drone's latest
//! state moved forward.
//!
//! On PostgreSQL the two steps run concurrently on two connections and are not one
//! transaction (COPY runs on its own): if either fails the batch fails, and retrying it
//! stores no point twice and completes the `drone_latest` update, since that update is
//! computed from the whole batch and only ever moves a drone forward. Running them side by
//! side rather than one after the other is what brings the write path close to the raw
//! COPY rate (`bench/ingest`).

use chrono::Utc;
use domain::shard::ShardId;
use domain::telemetry::TelemetryPoint;
use domain::StoreError;
use sea_orm::sqlx;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, RuntimeErr, TransactionTrait};

use super::postgres::copy_on;
use super::rollup;
use super::sql::{Dialect, Query, COLUMNS, COLUMN_COUNT, VALUE_COLUMNS};
use crate::store::{db_time, Store};

impl Store {
    /// Stores `points` (all routed to `shard`, sorted by `(drone_id, ts)` without
    /// duplicates) and returns how many were new.
    pub(super) async fn write_shard(
        &self,
        shard: ShardId,
        points: &[TelemetryPoint],
    ) -> Result<u64, StoreError> {
        let (db, conn) = self.writable_shard(shard)?;
        match Dialect::of(conn).map_err(|e| db.err(e))? {
            Dialect::Postgres => {
                let (stored, latest) = futures::join!(
                    copy_or_insert(conn, points),
                    upsert_latest_postgres(conn, points)
                );
                let stored = stored.map_err(|e| db.err(e))?;
                latest.map_err(|e| db.err(e))?;
                // After the commit: a rollup that removes the mark then sees the points.
                rollup::mark_late(conn, Dialect::Postgres, points, Utc::now())
                    .await
                    .map_err(|e| db.err(e))?;
                Ok(stored)
            }
            Dialect::Sqlite => write_sqlite(conn, points).await.map_err(|e| db.err(e)),
        }
    }
}

/// One binary COPY; if the batch replays stored points, the slow path that skips them.
async fn copy_or_insert(
    conn: &DatabaseConnection,
    points: &[TelemetryPoint],
) -> Result<u64, DbErr> {
    let mut pg = conn
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e)))?;
    match copy_on(&mut pg, points).await {
        Ok(n) => Ok(n),
        Err(err) if is_unique_violation(&err) => {
            drop(pg);
            tracing::debug!(
                points = points.len(),
                "batch replays stored points; inserting it with ON CONFLICT DO NOTHING"
            );
            insert_new(conn, Dialect::Postgres, points).await
        }
        Err(err) => Err(DbErr::Exec(RuntimeErr::SqlxError(err))),
    }
}

/// Points and latest state in one transaction: one fsync per batch, whatever its size.
async fn write_sqlite(conn: &DatabaseConnection, points: &[TelemetryPoint]) -> Result<u64, DbErr> {
    let txn = conn.begin().await?;
    let stored = insert_new(&txn, Dialect::Sqlite, points).await?;
    upsert_latest(&txn, Dialect::Sqlite, points).await?;
    // In the same transaction: the mark and the points are seen together.
    rollup::mark_late(&txn, Dialect::Sqlite, points, Utc::now()).await?;
    txn.commit().await?;
    Ok(stored)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Multi-row `INSERT … ON CONFLICT DO NOTHING` in chunks under the bind-parameter limit;
/// returns how many rows were inserted.
async fn insert_new(
    conn: &impl ConnectionTrait,
    dialect: Dialect,
    points: &[TelemetryPoint],
) -> Result<u64, DbErr> {
    let mut inserted = 0;
    for chunk in points.chunks(dialect.rows_per_statement()) {
        let mut q = Query::with_capacity(dialect, chunk.len() * 80, chunk.len() * COLUMN_COUNT);
        q.sql("INSERT INTO telemetry (")
            .sql(COLUMNS)
            .sql(") VALUES ");
        for (i, p) in chunk.iter().enumerate() {
            if i > 0 {
                q.sql(",");
            }
            q.point_tuple(p);
        }
        q.sql(" ON CONFLICT (drone_id, ts) DO NOTHING");
        inserted += conn.execute(q.build()).await?.rows_affected();
    }
    Ok(inserted)
}

/// Upserts the newest point of each drone of the batch into `drone_latest`; a stored row
/// moves only forward in time, so a replayed older point never moves a drone back. Rows
/// go in drone id order, so concurrent batches lock shared drones in the same order and
/// cannot deadlock.
async fn upsert_latest(
    conn: &impl ConnectionTrait,
    dialect: Dialect,
    points: &[TelemetryPoint],
) -> Result<(), DbErr> {
    let newest = newest_per_drone(points);
    for chunk in newest.chunks(dialect.rows_per_statement()) {
        let mut q =
            Query::with_capacity(dialect, chunk.len() * 80 + 400, chunk.len() * COLUMN_COUNT);
        q.sql("INSERT INTO drone_latest (")
            .sql(COLUMNS)
            .sql(") VALUES ");
        for (i, p) in chunk.iter().enumerate() {
            if i > 0 {
                q.sql(",");
            }
            q.point_tuple(p);
        }
        q.sql(" ON CONFLICT (drone_id) DO UPDATE SET ");
        for (i, column) in VALUE_COLUMNS.iter().enumerate() {
            if i > 0 {
                q.sql(", ");
            }
            q.sql(column).sql(" = excluded.").sql(column);
        }
        q.sql(" WHERE excluded.ts > drone_latest.ts");
        conn.execute(q.build()).await?;
    }
    Ok(())
}

/// The last point of each drone's run in `points` (sorted by `(drone_id, ts)`).
/// The PostgreSQL upsert: the batch's columns as 13 arrays, `unnest`ed into rows, so that
/// one statement binds 13 parameters instead of 13 per drone.
async fn upsert_latest_postgres(
    conn: &DatabaseConnection,
    points: &[TelemetryPoint],
) -> Result<(), DbErr> {
    let newest = newest_per_drone(points);
    if newest.is_empty() {
        return Ok(());
    }
    let column =
        |f: &dyn Fn(&TelemetryPoint) -> f64| newest.iter().map(|p| f(p)).collect::<Vec<f64>>();
    let updates = VALUE_COLUMNS
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO drone_latest ({COLUMNS}) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::float8[], $5::float8[], \
         $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::int2[], \
         $12::float8[], $13::uuid[]) \
         ON CONFLICT (drone_id) DO UPDATE SET {updates} WHERE excluded.ts > drone_latest.ts"
    );
    let mut pg = conn
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e)))?;
    sqlx::query(&sql)
        .bind(
            newest
                .iter()
                .map(|p| p.drone_id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(
            newest
                .iter()
                .map(|p| p.org_id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(newest.iter().map(|p| db_time(p.ts)).collect::<Vec<_>>())
        .bind(column(&|p| p.lat))
        .bind(column(&|p| p.lon))
        .bind(column(&|p| p.alt_m))
        .bind(column(&|p| p.speed_mps))
        .bind(column(&|p| p.heading_deg))
        .bind(column(&|p| p.battery_pct))
        .bind(
            newest
                .iter()
                .map(|p| p.vertical_speed_mps)
                .collect::<Vec<_>>(),
        )
        .bind(
            newest
                .iter()
                .map(|p| p.satellites.map(super::sql::satellites_to_db))
                .collect::<Vec<_>>(),
        )
        .bind(
            newest
                .iter()
                .map(|p| p.link_quality_pct)
                .collect::<Vec<_>>(),
        )
        .bind(
            newest
                .iter()
                .map(|p| p.flight_plan_id.map(|id| id.as_uuid()))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *pg)
        .await
        .map_err(|e| DbErr::Exec(RuntimeErr::SqlxError(e)))?;
    Ok(())
}

fn newest_per_drone(points: &[TelemetryPoint]) -> Vec<&TelemetryPoint> {
    points
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            points
                .get(i + 1)
                .is_none_or(|next| next.drone_id != p.drone_id)
        })
        .map(|(_, p)| p)
        .collect()
}

/// Splits a batch by shard, each share [`prepared`] for writing.
pub(super) fn by_shard(
    store: &Store,
    points: &[TelemetryPoint],
) -> Vec<(ShardId, Vec<TelemetryPoint>)> {
    let map = store.slot_map();
    let mut shares: Vec<(ShardId, Vec<TelemetryPoint>)> = Vec::new();
    for p in points {
        let shard = map.shard_of(p.drone_id);
        match shares.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, share)) => share.push(*p),
            None => shares.push((shard, vec![*p])),
        }
    }
    shares
        .into_iter()
        .map(|(shard, share)| (shard, prepared(share)))
        .collect()
}

/// Timestamps at the stored microsecond precision, sorted by `(drone_id, ts)` (which keeps
/// index inserts local), and only the last of several points with the same key: one
/// statement may not touch a key twice.
fn prepared(mut points: Vec<TelemetryPoint>) -> Vec<TelemetryPoint> {
    for p in &mut points {
        p.ts = db_time(p.ts);
    }
    // Stable: equal keys keep their batch order, so the last one wins below.
    points.sort_by_key(|p| (p.drone_id, p.ts));
    let mut kept: Vec<TelemetryPoint> = Vec::with_capacity(points.len());
    for p in points {
        match kept.last_mut() {
            Some(last) if last.drone_id == p.drone_id && last.ts == p.ts => *last = p,
            _ => kept.push(p),
        }
    }
    kept
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::Duration;
    use domain::{DroneId, OrgId};

    fn point(drone: DroneId, seconds: i64, alt_m: f64) -> TelemetryPoint {
        TelemetryPoint {
            org_id: OrgId::from_uuid(uuid::Uuid::nil()),
            drone_id: drone,
            ts: chrono::DateTime::UNIX_EPOCH + Duration::seconds(seconds),
            lat: 1.0,
            lon: 2.0,
            alt_m,
            speed_mps: 0.0,
            heading_deg: 0.0,
            battery_pct: 50.0,
            vertical_speed_mps: None,
            satellites: None,
            link_quality_pct: None,
            flight_plan_id: None,
        }
    }

    #[test]
    fn the_newest_point_of_each_drone_is_the_last_of_its_run() {
        let (a, b) = (DroneId::new(), DroneId::new());
        let mut points = vec![
            point(b, 5, 0.0),
            point(a, 1, 0.0),
            point(a, 3, 0.0),
            point(b, 2, 0.0),
        ];
        points.sort_by_key(|p| (p.drone_id, p.ts));
        let newest: Vec<_> = newest_per_drone(&points)
            .into_iter()
            .map(|p| (p.drone_id, p.ts.timestamp()))
            .collect();
        assert_eq!(newest, [(a, 3), (b, 5)]);
    }

    #[test]
    fn repeated_keys_in_a_share_keep_the_last_point() {
        let a = DroneId::new();
        let mut late = point(a, 1, 99.0);
        late.ts += Duration::nanoseconds(400);
        let batch = [point(a, 2, 1.0), point(a, 1, 10.0), late];
        let kept = prepared(batch.to_vec());
        let summary: Vec<_> = kept.iter().map(|p| (p.ts.timestamp(), p.alt_m)).collect();
        assert_eq!(summary, [(1, 99.0), (2, 1.0)]);
        assert_eq!(kept[0].ts.timestamp_subsec_nanos(), 0);
    }
}
