//! The schema of every shard database: drones and the rows that live beside their drone.

use sea_orm_migration::prelude::*;

mod m20261123_000101_create_drones;
mod m20261123_000102_create_flight_plans;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000101_create_drones::Migration),
            Box::new(m20261123_000102_create_flight_plans::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_shard").into_iden()
    }
}
