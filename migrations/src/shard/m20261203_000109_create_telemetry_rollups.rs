//! Per-drone rollups of `telemetry`: one row per drone and minute (`telemetry_1m`) and per
//! drone and hour (`telemetry_1h`), which downsampled reads use instead of the raw rows.
//!
//! A rollup row keeps what a bucket of any coarser width can be combined from: the count,
//! the sum, minimum and maximum of altitude, speed, battery and heading, and the first and
//! last point's time and position. The store's maintenance keeps them (rows are recomputed
//! from the rows below them, so running it twice changes nothing):
//!
//! - `telemetry_rollup_state` holds each table's watermark: every bucket before it is
//!   complete.
//! - `telemetry_rollup_dirty` lists the minutes of drones that received a point behind the
//!   watermark (a late upload), to be recomputed.
//!
//! Both backends scan `telemetry` and `telemetry_1m` by time for the rollup: PostgreSQL
//! with a BRIN index on `ts` (a few pages for a whole day of appends), SQLite with a
//! B-tree. Timestamps are `timestamptz` on PostgreSQL and INTEGER microseconds on SQLite,
//! as in `telemetry`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["telemetry_1m", "telemetry_1h"];

fn rollup_table(name: &str, ts: &str, float: &str, uuid: &str, int: &str) -> String {
    let stats: String = ["alt", "speed", "battery", "heading"]
        .iter()
        .map(|m| {
            format!("{m}_sum {float} NOT NULL, {m}_min {float} NOT NULL, {m}_max {float} NOT NULL,")
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "CREATE TABLE {name} (drone_id {uuid} NOT NULL, bucket {ts} NOT NULL, \
         org_id {uuid} NOT NULL, n {int} NOT NULL, {stats} \
         first_ts {ts} NOT NULL, first_lat {float} NOT NULL, first_lon {float} NOT NULL, \
         last_ts {ts} NOT NULL, last_lat {float} NOT NULL, last_lon {float} NOT NULL, \
         PRIMARY KEY (drone_id, bucket))"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements: Vec<String> = match manager.get_database_backend() {
            DbBackend::Postgres => {
                let mut s: Vec<String> = TABLES
                    .iter()
                    .flat_map(|t| {
                        [
                            rollup_table(t, "timestamptz", "double precision", "uuid", "bigint"),
                            format!("CREATE INDEX {t}_bucket ON {t} USING brin (bucket)"),
                        ]
                    })
                    .collect();
                s.push("CREATE INDEX telemetry_ts_brin ON telemetry USING brin (ts)".to_owned());
                s.push(
                    "CREATE TABLE telemetry_rollup_state (name text PRIMARY KEY, \
                     watermark timestamptz NOT NULL)"
                        .to_owned(),
                );
                s.push(
                    "CREATE TABLE telemetry_rollup_dirty (drone_id uuid NOT NULL, \
                     minute timestamptz NOT NULL, PRIMARY KEY (drone_id, minute))"
                        .to_owned(),
                );
                s
            }
            DbBackend::Sqlite => {
                let mut s: Vec<String> = TABLES
                    .iter()
                    .flat_map(|t| {
                        [
                            format!(
                                "{} WITHOUT ROWID",
                                rollup_table(t, "INTEGER", "REAL", "BLOB", "INTEGER")
                            ),
                            format!("CREATE INDEX {t}_bucket ON {t} (bucket)"),
                        ]
                    })
                    .collect();
                s.push("CREATE INDEX telemetry_ts ON telemetry (ts)".to_owned());
                s.push(
                    "CREATE TABLE telemetry_rollup_state (name TEXT PRIMARY KEY, \
                     watermark INTEGER NOT NULL)"
                        .to_owned(),
                );
                s.push(
                    "CREATE TABLE telemetry_rollup_dirty (drone_id BLOB NOT NULL, \
                     minute INTEGER NOT NULL, PRIMARY KEY (drone_id, minute)) WITHOUT ROWID"
                        .to_owned(),
                );
                s
            }
            DbBackend::MySql => {
                return Err(DbErr::Migration(
                    "MySQL is not a supported shard database".to_owned(),
                ))
            }
        };
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "telemetry_1m",
            "telemetry_1h",
            "telemetry_rollup_state",
            "telemetry_rollup_dirty",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        let index = match manager.get_database_backend() {
            DbBackend::Postgres => "telemetry_ts_brin",
            _ => "telemetry_ts",
        };
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}"))
            .await?;
        Ok(())
    }
}
