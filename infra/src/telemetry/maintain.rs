//! Keeping `telemetry` bounded and, on native PostgreSQL partitioning, partitioned ahead.
//!
//! Native partitions are daily, `telemetry_pYYYYMMDD` for `[day, day + 1)` in UTC, made for
//! yesterday through today + 3. A point whose day has no partition is stored in
//! `telemetry_default`. Creating a partition whose day already has rows in the default
//! partition moves those rows into it in the same transaction (PostgreSQL would refuse the
//! partition otherwise), so no point is lost. Every change takes a transaction-scoped
//! advisory lock, so replicas running `maintain` at once take turns, and "already exists"
//! counts as done.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, Statement, TransactionTrait,
    Value,
};

use super::sql::{Dialect, Query};

/// Taken by every partition change on a shard ("NFTLMAIN").
const MAINTENANCE_LOCK: i64 = 0x4e46_544c_4d41_494e;
const PARTITION_PREFIX: &str = "telemetry_p";
/// Partitions are made for these days relative to today.
const DAYS_BEHIND: u64 = 1;
const DAYS_AHEAD: u64 = 3;
/// PostgreSQL's "relation already exists".
const DUPLICATE_TABLE: &str = "42P07";

pub(super) async fn maintain(
    conn: &DatabaseConnection,
    now: DateTime<Utc>,
    retention: chrono::Duration,
) -> Result<(), DbErr> {
    let cutoff = now - retention;
    let dialect = Dialect::of(conn)?;
    super::rollup::expire(conn, dialect, cutoff).await?;
    match dialect {
        Dialect::Sqlite => delete_expired_sqlite(conn, cutoff).await,
        Dialect::Postgres => match layout(conn).await? {
            Layout::Partitioned => maintain_partitions(conn, now, cutoff).await,
            Layout::Hypertable => {
                let mut q = Query::new(
                    Dialect::Postgres,
                    "SELECT drop_chunks('telemetry', older_than => ",
                );
                q.bind(cutoff).sql("::timestamptz)");
                conn.query_all(q.build()).await?;
                Ok(())
            }
            Layout::Plain => {
                let mut q = Query::new(Dialect::Postgres, "DELETE FROM telemetry WHERE ts < ");
                q.bind(cutoff);
                conn.execute(q.build()).await?;
                Ok(())
            }
        },
    }
}

/// Each drone's expired rows in a statement of its own: a range of the primary key, and
/// short write locks that let ingestion go on in between.
async fn delete_expired_sqlite(
    conn: &DatabaseConnection,
    cutoff: DateTime<Utc>,
) -> Result<(), DbErr> {
    let drones = conn
        .query_all(Statement::from_string(
            conn.get_database_backend(),
            "SELECT DISTINCT drone_id FROM telemetry",
        ))
        .await?;
    let mut deleted = 0;
    for row in drones {
        let drone: uuid::Uuid = row.try_get_by_index(0)?;
        let mut q = Query::new(Dialect::Sqlite, "DELETE FROM telemetry WHERE drone_id = ");
        q.bind(drone).sql(" AND ts < ").bind_ts(cutoff);
        deleted += conn.execute(q.build()).await?.rows_affected();
    }
    if deleted > 0 {
        tracing::info!(deleted, %cutoff, "deleted expired telemetry");
    }
    Ok(())
}

enum Layout {
    /// Native `PARTITION BY RANGE (ts)`.
    Partitioned,
    /// A TimescaleDB hypertable.
    Hypertable,
    /// A plain table.
    Plain,
}

async fn layout(conn: &DatabaseConnection) -> Result<Layout, DbErr> {
    let row = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            "SELECT c.relkind::text, \
             EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') \
             FROM pg_class c WHERE c.oid = to_regclass('telemetry')",
        ))
        .await?
        .ok_or_else(|| {
            DbErr::Custom("the telemetry table is missing: is the shard migrated?".to_owned())
        })?;
    let kind: String = row.try_get_by_index(0)?;
    let timescale: bool = row.try_get_by_index(1)?;
    Ok(match kind.as_str() {
        "p" => Layout::Partitioned,
        _ if timescale => Layout::Hypertable,
        _ => Layout::Plain,
    })
}

async fn maintain_partitions(
    conn: &DatabaseConnection,
    now: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<(), DbErr> {
    let today = now.date_naive();
    let first = today
        .checked_sub_days(Days::new(DAYS_BEHIND))
        .unwrap_or(today);
    let existing = partitions(conn).await?;
    for day in first
        .iter_days()
        .take((DAYS_BEHIND + 1 + DAYS_AHEAD) as usize)
    {
        if !existing.contains(&day) {
            create_partition(conn, day).await?;
        }
    }
    for day in existing {
        if day_start(day.succ_opt().unwrap_or(day)) <= cutoff {
            drop_partition(conn, day).await?;
        }
    }
    let mut q = Query::new(
        Dialect::Postgres,
        "DELETE FROM telemetry_default WHERE ts < ",
    );
    q.bind(cutoff);
    let deleted = conn.execute(q.build()).await?.rows_affected();
    if deleted > 0 {
        tracing::info!(deleted, %cutoff, "deleted expired telemetry from the default partition");
    }
    Ok(())
}

/// Drops the storage of one day that holds nothing else: its daily partition, or its
/// TimescaleDB chunk (the archive has the day; rows of it elsewhere are deleted by the
/// caller).
pub(super) async fn drop_day(conn: &DatabaseConnection, day: NaiveDate) -> Result<(), DbErr> {
    match layout(conn).await? {
        Layout::Partitioned => {
            if partitions(conn).await?.contains(&day) {
                drop_partition(conn, day).await?;
            }
        }
        Layout::Hypertable => {
            let (from, to) = (day_start(day), day_start(day.succ_opt().unwrap_or(day)));
            let mut q = Query::new(
                Dialect::Postgres,
                "SELECT drop_chunks('telemetry', older_than => ",
            );
            q.bind(to)
                .sql("::timestamptz, newer_than => ")
                .bind(from)
                .sql("::timestamptz)");
            conn.query_all(q.build()).await?;
        }
        Layout::Plain => {}
    }
    Ok(())
}

/// The days of the daily partitions attached to `telemetry`.
async fn partitions(conn: &impl ConnectionTrait) -> Result<Vec<NaiveDate>, DbErr> {
    let rows = conn
        .query_all(Statement::from_string(
            conn.get_database_backend(),
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'telemetry'::regclass",
        ))
        .await?;
    let mut days = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        if let Some(day) = partition_day(&name) {
            days.push(day);
        }
    }
    days.sort_unstable();
    Ok(days)
}

fn partition_name(day: NaiveDate) -> String {
    format!("{PARTITION_PREFIX}{}", day.format("%Y%m%d"))
}

fn partition_day(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(PARTITION_PREFIX)?;
    if digits.len() != 8 {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// A timestamptz literal: DDL takes no bind parameters. Built from a date only.
fn literal(t: DateTime<Utc>) -> String {
    format!("'{}'", t.format("%Y-%m-%d %H:%M:%S+00"))
}

async fn locked(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = conn.begin().await?;
    txn.execute(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT pg_advisory_xact_lock($1)",
        [Value::from(MAINTENANCE_LOCK)],
    ))
    .await?;
    Ok(txn)
}

async fn create_partition(conn: &DatabaseConnection, day: NaiveDate) -> Result<(), DbErr> {
    match try_create_partition(conn, day).await {
        Err(err) if is_duplicate_table(&err) => Ok(()),
        result => result,
    }
}

async fn try_create_partition(conn: &DatabaseConnection, day: NaiveDate) -> Result<(), DbErr> {
    let txn = locked(conn).await?;
    // Another replica may have made it while this one waited for the lock.
    if partitions(&txn).await?.contains(&day) {
        return txn.commit().await;
    }
    let name = partition_name(day);
    let (from, to) = (day_start(day), day_start(day.succ_opt().unwrap_or(day)));
    let bounds = format!("FROM ({}) TO ({})", literal(from), literal(to));
    // Keeps writers from adding rows of this day to the default partition between the
    // count below and the attach.
    txn.execute_unprepared("LOCK TABLE telemetry_default IN ACCESS EXCLUSIVE MODE")
        .await?;
    let mut q = Query::new(
        Dialect::Postgres,
        "SELECT count(*) FROM telemetry_default WHERE ts >= ",
    );
    q.bind(from).sql(" AND ts < ").bind(to);
    let stray: i64 = match txn.query_one(q.build()).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    if stray == 0 {
        txn.execute_unprepared(&format!(
            "CREATE TABLE {name} PARTITION OF telemetry FOR VALUES {bounds}"
        ))
        .await?;
    } else {
        // The bounds as a CHECK spare the attach a scan of the new table.
        txn.execute_unprepared(&format!(
            "CREATE TABLE {name} (LIKE telemetry INCLUDING DEFAULTS INCLUDING CONSTRAINTS, \
             CONSTRAINT {name}_bounds CHECK (ts >= {} AND ts < {}))",
            literal(from),
            literal(to)
        ))
        .await?;
        let mut q = Query::new(
            Dialect::Postgres,
            "WITH moved AS (DELETE FROM telemetry_default WHERE ts >= ",
        );
        q.bind(from).sql(" AND ts < ").bind(to).sql(&format!(
            " RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ));
        txn.execute(q.build()).await?;
        txn.execute_unprepared(&format!(
            "ALTER TABLE telemetry ATTACH PARTITION {name} FOR VALUES {bounds}"
        ))
        .await?;
        txn.execute_unprepared(&format!("ALTER TABLE {name} DROP CONSTRAINT {name}_bounds"))
            .await?;
        tracing::info!(
            partition = %name,
            moved = stray,
            "moved points from the default partition into a new partition"
        );
    }
    txn.commit().await
}

async fn drop_partition(conn: &DatabaseConnection, day: NaiveDate) -> Result<(), DbErr> {
    let name = partition_name(day);
    let txn = locked(conn).await?;
    txn.execute_unprepared(&format!("DROP TABLE IF EXISTS {name}"))
        .await?;
    txn.commit().await?;
    tracing::info!(partition = %name, "dropped an expired telemetry partition");
    Ok(())
}

fn is_duplicate_table(err: &DbErr) -> bool {
    use sea_orm::sqlx;
    use sea_orm::RuntimeErr;
    matches!(
        err,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(e)))
            | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(e)))
            if e.code().as_deref() == Some(DUPLICATE_TABLE)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_carry_their_utc_day() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(partition_name(day), "telemetry_p20260309");
        assert_eq!(partition_day("telemetry_p20260309"), Some(day));
        assert_eq!(partition_day("telemetry_default"), None);
        assert_eq!(partition_day("telemetry_p2026030"), None);
        assert_eq!(literal(day_start(day)), "'2026-03-09 00:00:00+00'");
    }
}
