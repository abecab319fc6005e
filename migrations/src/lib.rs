//! NimbusFleet's schema, as two independent migrators: the catalog (organisations, users,
//! API keys, the per-organisation serial registry, the recorded slot map) and the shard
//! schema applied to every shard database (drones and what hangs off them).
//!
//! Every table is built with sea-query's schema builder so the same migration runs on
//! PostgreSQL and on SQLite. Each migrator keeps its bookkeeping in its own table, so a
//! catalog and a shard may share one database (as in the embedded single-file setup).

pub mod catalog;
pub mod shard;

pub use sea_orm_migration::MigratorTrait;

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, TransactionTrait,
};

/// The PostgreSQL advisory lock key that serialises migrations ("Nimbus" in ASCII).
const MIGRATION_LOCK: i64 = 0x4e69_6d62_7573;

/// Which database a migration failed on.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("failed to take the migration lock on the catalog")]
    Lock(#[source] DbErr),
    #[error("failed to migrate the catalog database")]
    Catalog(#[source] DbErr),
    #[error("failed to migrate shard {shard}")]
    Shard {
        shard: usize,
        #[source]
        source: DbErr,
    },
}

/// Applies pending migrations to the catalog and to every shard. Idempotent.
///
/// Replicas and workers that start together take turns: on PostgreSQL a transaction on the
/// catalog holds an advisory lock until every database is migrated (two concurrent runs of
/// the same migration fail on PostgreSQL's catalog constraints).
pub async fn run(
    catalog: &DatabaseConnection,
    shards: &[DatabaseConnection],
) -> Result<(), MigrationError> {
    let turn = if catalog.get_database_backend() == DatabaseBackend::Postgres {
        let txn = catalog.begin().await.map_err(MigrationError::Lock)?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await
            .map_err(MigrationError::Lock)?;
        Some(txn)
    } else {
        None
    };
    catalog::Migrator::up(catalog, None)
        .await
        .map_err(MigrationError::Catalog)?;
    for (shard, db) in shards.iter().enumerate() {
        shard::Migrator::up(db, None)
            .await
            .map_err(|source| MigrationError::Shard { shard, source })?;
    }
    if let Some(txn) = turn {
        txn.commit().await.map_err(MigrationError::Lock)?;
    }
    Ok(())
}

/// Connects to a new shard database at `url`, applies the shard schema and answers how many
/// drones it already holds (`nimbusfleet admin add-shard`: a new shard must hold none).
pub async fn prepare_shard(url: &str) -> Result<i64, DbErr> {
    let db = sea_orm_migration::sea_orm::Database::connect(url).await?;
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Err(DbErr::Custom(
            "a shard added for slot moves must be a PostgreSQL database".to_owned(),
        ));
    }
    shard::Migrator::up(&db, None).await?;
    let row = db
        .query_one(sea_orm_migration::sea_orm::Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT count(*) FROM drones",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("counting drones returned nothing".to_owned()))?;
    let drones: i64 = row.try_get_by_index(0)?;
    db.close().await?;
    Ok(drones)
}
