//! Alerts, on their drone's shard: one row per alert, at most one unresolved per drone and
//! kind (a partial unique index, which PostgreSQL and SQLite both have).

use sea_orm_migration::prelude::*;

use super::m20261123_000101_create_drones::Drones;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: Alerts| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .not_null()
                .to_owned()
        };
        let ts_null = |c: Alerts| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .null()
                .to_owned()
        };
        let text = |c: Alerts| ColumnDef::new(c).text().not_null().to_owned();
        let text_null = |c: Alerts| ColumnDef::new(c).text().null().to_owned();
        let double_null = |c: Alerts| ColumnDef::new(c).double().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(ColumnDef::new(Alerts::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Alerts::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Alerts::DroneId).uuid().not_null())
                    .col(ColumnDef::new(Alerts::FlightPlanId).uuid().null())
                    .col(text(Alerts::Kind))
                    .col(text(Alerts::Severity))
                    .col(text(Alerts::State))
                    .col(ts(Alerts::FirstSeen))
                    .col(ts(Alerts::LastSeen))
                    .col(ColumnDef::new(Alerts::Count).big_integer().not_null())
                    .col(double_null(Alerts::PointLat))
                    .col(double_null(Alerts::PointLon))
                    .col(double_null(Alerts::PointAltM))
                    .col(ts_null(Alerts::PointTs))
                    .col(ColumnDef::new(Alerts::Detail).json().not_null())
                    .col(ts_null(Alerts::AcknowledgedAt))
                    .col(ColumnDef::new(Alerts::AcknowledgedBy).uuid().null())
                    .col(text_null(Alerts::AcknowledgeNote))
                    .col(ts_null(Alerts::ResolvedAt))
                    .col(text_null(Alerts::ResolvedBy))
                    .col(text_null(Alerts::ResolveNote))
                    .col(ts(Alerts::UpdatedAt))
                    .col(ColumnDef::new(Alerts::Version).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_drone_id")
                            .from(Alerts::Table, Alerts::DroneId)
                            .to(Drones::Table, Drones::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_alerts_org_id_id", [Alerts::OrgId, Alerts::Id]),
            ("ix_alerts_drone_id_id", [Alerts::DroneId, Alerts::Id]),
            ("ix_alerts_org_id_state", [Alerts::OrgId, Alerts::State]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alerts::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index).await?;
        }
        // sea-query's index builder has no WHERE; this statement reads the same on both.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_alerts_unresolved_drone_kind \
                 ON alerts (drone_id, kind) WHERE state <> 'resolved'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Alerts {
    Table,
    Id,
    OrgId,
    DroneId,
    FlightPlanId,
    Kind,
    Severity,
    State,
    FirstSeen,
    LastSeen,
    Count,
    PointLat,
    PointLon,
    PointAltM,
    PointTs,
    Detail,
    AcknowledgedAt,
    AcknowledgedBy,
    AcknowledgeNote,
    ResolvedAt,
    ResolvedBy,
    ResolveNote,
    UpdatedAt,
    Version,
}
