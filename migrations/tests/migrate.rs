//! Both migrators applied to one SQLite database, as in the embedded single-file setup.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Database;

#[tokio::test]
async fn catalog_and_shard_migrations_share_a_database_and_are_idempotent() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    for _ in 0..2 {
        migrations::catalog::Migrator::up(&db, None).await.unwrap();
        migrations::shard::Migrator::up(&db, None).await.unwrap();
    }
    let manager = SchemaManager::new(&db);
    for table in [
        "organizations",
        "users",
        "api_keys",
        "drone_serials",
        "shard_map",
        "drones",
        "flight_plans",
        "telemetry",
        "drone_latest",
        "seaql_migrations_catalog",
        "seaql_migrations_shard",
    ] {
        assert!(manager.has_table(table).await.unwrap(), "{table} missing");
    }
    assert!(!manager.has_table("seaql_migrations").await.unwrap());
    let catalog = migrations::catalog::Migrator::get_applied_migrations(&db)
        .await
        .unwrap();
    let shard = migrations::shard::Migrator::get_applied_migrations(&db)
        .await
        .unwrap();
    assert_eq!(
        catalog.len(),
        migrations::catalog::Migrator::migrations().len()
    );
    assert_eq!(shard.len(), migrations::shard::Migrator::migrations().len());
}

#[tokio::test]
async fn every_migration_can_be_rolled_back_and_reapplied() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    migrations::catalog::Migrator::up(&db, None).await.unwrap();
    migrations::shard::Migrator::up(&db, None).await.unwrap();
    migrations::shard::Migrator::down(&db, None).await.unwrap();
    migrations::catalog::Migrator::down(&db, None)
        .await
        .unwrap();
    let manager = SchemaManager::new(&db);
    assert!(!manager.has_table("drones").await.unwrap());
    assert!(!manager.has_table("organizations").await.unwrap());
    migrations::catalog::Migrator::up(&db, None).await.unwrap();
    migrations::shard::Migrator::up(&db, None).await.unwrap();
    assert!(manager.has_table("flight_plans").await.unwrap());
}
