//! Each drone's newest point, one row per drone, so that "where is every drone now" reads
//! one small table instead of the time series. Written with an upsert that only moves a
//! row forward in time. `ts` is `timestamptz` on PostgreSQL and INTEGER microseconds since
//! the Unix epoch on SQLite, as in `telemetry`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut ts = ColumnDef::new(DroneLatest::Ts);
        match manager.get_database_backend() {
            DbBackend::Sqlite => ts.big_integer(),
            _ => ts.timestamp_with_time_zone(),
        };
        manager
            .create_table(
                Table::create()
                    .table(DroneLatest::Table)
                    .col(
                        ColumnDef::new(DroneLatest::DroneId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DroneLatest::OrgId).uuid().not_null())
                    .col(ts.not_null())
                    .col(ColumnDef::new(DroneLatest::Lat).double().not_null())
                    .col(ColumnDef::new(DroneLatest::Lon).double().not_null())
                    .col(ColumnDef::new(DroneLatest::AltM).double().not_null())
                    .col(ColumnDef::new(DroneLatest::SpeedMps).double().not_null())
                    .col(ColumnDef::new(DroneLatest::HeadingDeg).double().not_null())
                    .col(ColumnDef::new(DroneLatest::BatteryPct).double().not_null())
                    .col(
                        ColumnDef::new(DroneLatest::VerticalSpeedMps)
                            .double()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(DroneLatest::Satellites)
                            .small_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(DroneLatest::LinkQualityPct).double().null())
                    .col(ColumnDef::new(DroneLatest::FlightPlanId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_drone_latest_org_id")
                    .table(DroneLatest::Table)
                    .col(DroneLatest::OrgId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DroneLatest::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DroneLatest {
    Table,
    DroneId,
    OrgId,
    Ts,
    Lat,
    Lon,
    AltM,
    SpeedMps,
    HeadingDeg,
    BatteryPct,
    VerticalSpeedMps,
    Satellites,
    LinkQualityPct,
    FlightPlanId,
}
