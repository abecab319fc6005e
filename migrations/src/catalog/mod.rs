//! The catalog database: not sharded.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_organizations;
mod m20261123_000002_create_users;
mod m20261123_000003_create_api_keys;
mod m20261123_000004_create_drone_serials;
mod m20261123_000005_create_shard_map;
mod m20261123_000006_add_quota_to_organizations;
mod m20261201_000007_users_unique_per_organisation;
mod m20261202_000008_create_geofences;
mod m20261202_000009_create_webhooks;
mod m20261202_000010_add_battery_thresholds_to_organizations;
mod m20261206_000011_create_slot_moves;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_organizations::Migration),
            Box::new(m20261123_000002_create_users::Migration),
            Box::new(m20261123_000003_create_api_keys::Migration),
            Box::new(m20261123_000004_create_drone_serials::Migration),
            Box::new(m20261123_000005_create_shard_map::Migration),
            Box::new(m20261123_000006_add_quota_to_organizations::Migration),
            Box::new(m20261201_000007_users_unique_per_organisation::Migration),
            Box::new(m20261202_000008_create_geofences::Migration),
            Box::new(m20261202_000009_create_webhooks::Migration),
            Box::new(m20261202_000010_add_battery_thresholds_to_organizations::Migration),
            Box::new(m20261206_000011_create_slot_moves::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_catalog").into_iden()
    }
}
