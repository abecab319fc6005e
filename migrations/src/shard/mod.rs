//! The schema of every shard database: drones and the rows that live beside their drone
//! (flight plans, telemetry, each drone's latest state and its alerts).

use sea_orm_migration::prelude::*;

mod m20261123_000101_create_drones;
mod m20261123_000102_create_flight_plans;
mod m20261123_000103_create_telemetry;
mod m20261123_000104_create_drone_latest;
mod m20261201_000105_add_rejection_reason_to_flight_plans;
mod m20261202_000106_add_airspace_to_flight_plans;
mod m20261202_000107_create_alerts;
mod m20261202_000108_add_link_timeout_to_drones;
mod m20261203_000109_create_telemetry_rollups;
mod m20261203_000110_create_telemetry_archive;
mod m20261203_000111_add_distance_to_rollups;
mod m20261206_000112_prepare_slot_moves;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000101_create_drones::Migration),
            Box::new(m20261123_000102_create_flight_plans::Migration),
            Box::new(m20261123_000103_create_telemetry::Migration),
            Box::new(m20261123_000104_create_drone_latest::Migration),
            Box::new(m20261201_000105_add_rejection_reason_to_flight_plans::Migration),
            Box::new(m20261202_000106_add_airspace_to_flight_plans::Migration),
            Box::new(m20261202_000107_create_alerts::Migration),
            Box::new(m20261202_000108_add_link_timeout_to_drones::Migration),
            Box::new(m20261203_000109_create_telemetry_rollups::Migration),
            Box::new(m20261203_000110_create_telemetry_archive::Migration),
            Box::new(m20261203_000111_add_distance_to_rollups::Migration),
            Box::new(m20261206_000112_prepare_slot_moves::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_shard").into_iden()
    }
}
