//! The raw telemetry points of the shard's drones, keyed `(drone_id, ts)` so that storing a
//! replayed point changes nothing.
//!
//! The table is time-series data and takes a different shape on each backend:
//!
//! - **PostgreSQL with TimescaleDB** (the extension is available and preloaded): a
//!   hypertable with one-day chunks; retention is `drop_chunks`.
//! - **PostgreSQL without it**: a native table `PARTITION BY RANGE (ts)` with a `DEFAULT`
//!   partition, `telemetry_default`, so that no point is ever refused for lack of a
//!   partition. Daily partitions `telemetry_pYYYYMMDD` are created ahead of time (and
//!   dropped after retention) by the store's `maintain`, not here: a migration must not
//!   depend on the day it runs.
//! - **SQLite**: a plain `WITHOUT ROWID` table clustered on its key, `ts` as INTEGER
//!   microseconds since the Unix epoch, uuids as the 16-byte BLOBs sqlx binds (the same
//!   bytes as `drones.id`).
//!
//! On PostgreSQL the primary key `(drone_id, ts)` serves reads by drone newest-first as a
//! backward index scan, so no separate `(drone_id, ts DESC)` index is kept.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_COLUMNS: &str = "
    drone_id uuid NOT NULL,
    org_id uuid NOT NULL,
    ts timestamptz NOT NULL,
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    alt_m double precision NOT NULL,
    speed_mps double precision NOT NULL,
    heading_deg double precision NOT NULL,
    battery_pct double precision NOT NULL,
    vertical_speed_mps double precision NULL,
    satellites smallint NULL,
    link_quality_pct double precision NULL,
    flight_plan_id uuid NULL,
    PRIMARY KEY (drone_id, ts)";

const SQLITE_TABLE: &str = "
CREATE TABLE telemetry (
    drone_id BLOB NOT NULL,
    org_id BLOB NOT NULL,
    ts INTEGER NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    alt_m REAL NOT NULL,
    speed_mps REAL NOT NULL,
    heading_deg REAL NOT NULL,
    battery_pct REAL NOT NULL,
    vertical_speed_mps REAL NULL,
    satellites INTEGER NULL,
    link_quality_pct REAL NULL,
    flight_plan_id BLOB NULL,
    PRIMARY KEY (drone_id, ts)
) WITHOUT ROWID";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                if timescaledb_usable(manager).await? {
                    db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS timescaledb")
                        .await?;
                    db.execute_unprepared(&format!("CREATE TABLE telemetry ({POSTGRES_COLUMNS})"))
                        .await?;
                    db.execute_unprepared(
                        "SELECT create_hypertable('telemetry', 'ts', \
                         chunk_time_interval => interval '1 day')",
                    )
                    .await?;
                } else {
                    db.execute_unprepared(&format!(
                        "CREATE TABLE telemetry ({POSTGRES_COLUMNS}) PARTITION BY RANGE (ts)"
                    ))
                    .await?;
                    db.execute_unprepared(
                        "CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT",
                    )
                    .await?;
                }
            }
            DbBackend::Sqlite => {
                db.execute_unprepared(SQLITE_TABLE).await?;
            }
            DbBackend::MySql => {
                return Err(DbErr::Migration(
                    "MySQL is not a supported shard database".to_owned(),
                ))
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping a partitioned table or a hypertable drops its partitions or chunks.
        manager
            .drop_table(Table::drop().table(Alias::new("telemetry")).to_owned())
            .await
    }
}

/// Whether TimescaleDB can be used: installed on the server and loaded at start-up
/// (`CREATE EXTENSION` fails without `shared_preload_libraries = 'timescaledb'`).
async fn timescaledb_usable(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let row = manager
        .get_connection()
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') \
             AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'",
        ))
        .await?;
    match row {
        Some(row) => row.try_get_by_index::<bool>(0),
        None => Ok(false),
    }
}
