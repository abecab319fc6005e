use sea_orm_migration::prelude::*;

use super::m20261123_000101_create_drones::Drones;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FlightPlans::Table)
                    .col(
                        ColumnDef::new(FlightPlans::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(FlightPlans::OrgId).uuid().not_null())
                    .col(ColumnDef::new(FlightPlans::DroneId).uuid().not_null())
                    .col(ColumnDef::new(FlightPlans::Name).text().not_null())
                    .col(ColumnDef::new(FlightPlans::Waypoints).json().not_null())
                    .col(
                        ColumnDef::new(FlightPlans::PlannedStart)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FlightPlans::PlannedEnd)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FlightPlans::State).text().not_null())
                    .col(ColumnDef::new(FlightPlans::DistanceM).double().not_null())
                    .col(ColumnDef::new(FlightPlans::DurationS).double().not_null())
                    .col(ColumnDef::new(FlightPlans::CreatedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(FlightPlans::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FlightPlans::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FlightPlans::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_flight_plans_drone_id")
                            .from(FlightPlans::Table, FlightPlans::DroneId)
                            .to(Drones::Table, Drones::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_flight_plans_org_id_id",
                [FlightPlans::OrgId, FlightPlans::Id],
            ),
            (
                "ix_flight_plans_drone_id_state",
                [FlightPlans::DroneId, FlightPlans::State],
            ),
            (
                "ix_flight_plans_org_id_planned_start",
                [FlightPlans::OrgId, FlightPlans::PlannedStart],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(FlightPlans::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlightPlans::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum FlightPlans {
    Table,
    Id,
    OrgId,
    DroneId,
    Name,
    Waypoints,
    PlannedStart,
    PlannedEnd,
    State,
    DistanceM,
    DurationS,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    Version,
}
