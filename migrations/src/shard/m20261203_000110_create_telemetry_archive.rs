//! The manifest of the shard's telemetry archive: one row per UTC day whose raw points were
//! written to a Parquet file in object storage, verified by reading it back, and then
//! removed from `telemetry`. A day in the manifest is read from its file only; a day not in
//! it from `telemetry` only, so a crash between writing a file and dropping the rows can
//! neither lose nor duplicate a point. Timestamps are `timestamptz` on PostgreSQL and
//! INTEGER microseconds on SQLite, as in `telemetry`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (ts, int, text) = match manager.get_database_backend() {
            DbBackend::Postgres => ("timestamptz", "bigint", "text"),
            DbBackend::Sqlite => ("INTEGER", "INTEGER", "TEXT"),
            DbBackend::MySql => {
                return Err(DbErr::Migration(
                    "MySQL is not a supported shard database".to_owned(),
                ))
            }
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE TABLE telemetry_archive (day {ts} PRIMARY KEY, location {text} NOT NULL, \
                 rows {int} NOT NULL, drones {int} NOT NULL, bytes {int} NOT NULL, \
                 sha256 {text} NOT NULL, first_ts {ts} NOT NULL, last_ts {ts} NOT NULL, \
                 archived_at {ts} NOT NULL)"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS telemetry_archive")
            .await?;
        Ok(())
    }
}
