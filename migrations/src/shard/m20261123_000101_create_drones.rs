use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Drones::Table)
                    .col(ColumnDef::new(Drones::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Drones::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Drones::Serial).text().not_null())
                    .col(ColumnDef::new(Drones::Name).text().not_null())
                    .col(ColumnDef::new(Drones::Model).text().not_null())
                    .col(ColumnDef::new(Drones::Manufacturer).text().null())
                    .col(ColumnDef::new(Drones::Status).text().not_null())
                    .col(ColumnDef::new(Drones::MaxAltitudeM).double().not_null())
                    .col(ColumnDef::new(Drones::MaxSpeedMps).double().not_null())
                    .col(ColumnDef::new(Drones::EnduranceMin).integer().not_null())
                    .col(ColumnDef::new(Drones::FirmwareVersion).text().null())
                    .col(ColumnDef::new(Drones::HomeLat).double().null())
                    .col(ColumnDef::new(Drones::HomeLon).double().null())
                    .col(ColumnDef::new(Drones::HomeAltM).double().null())
                    .col(ColumnDef::new(Drones::Slot).integer().not_null())
                    .col(
                        ColumnDef::new(Drones::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Drones::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Drones::Version).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // Also enforced across shards by the catalog's `drone_serials`; this one guards
        // the shard on its own.
        manager
            .create_index(
                Index::create()
                    .name("ux_drones_org_id_serial")
                    .table(Drones::Table)
                    .col(Drones::OrgId)
                    .col(Drones::Serial)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_drones_org_id_id")
                    .table(Drones::Table)
                    .col(Drones::OrgId)
                    .col(Drones::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_drones_org_id_status")
                    .table(Drones::Table)
                    .col(Drones::OrgId)
                    .col(Drones::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Drones::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Drones {
    Table,
    Id,
    OrgId,
    Serial,
    Name,
    Model,
    Manufacturer,
    Status,
    MaxAltitudeM,
    MaxSpeedMps,
    EnduranceMin,
    FirmwareVersion,
    HomeLat,
    HomeLon,
    HomeAltM,
    Slot,
    CreatedAt,
    UpdatedAt,
    Version,
}
