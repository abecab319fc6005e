//! Geofences, per organisation, in the catalog: every replica loads an organisation's fences
//! into its airspace index, whatever shard its drones live on. The bounding box is kept in
//! columns so that a `bbox` filter of the list is an index range, not a geometry scan.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Geofences::Table)
                    .col(
                        ColumnDef::new(Geofences::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Geofences::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Geofences::Name).text().not_null())
                    .col(ColumnDef::new(Geofences::Kind).text().not_null())
                    .col(ColumnDef::new(Geofences::Shape).json().not_null())
                    .col(ColumnDef::new(Geofences::MinLon).double().not_null())
                    .col(ColumnDef::new(Geofences::MinLat).double().not_null())
                    .col(ColumnDef::new(Geofences::MaxLon).double().not_null())
                    .col(ColumnDef::new(Geofences::MaxLat).double().not_null())
                    .col(ColumnDef::new(Geofences::LowerM).double().not_null())
                    .col(ColumnDef::new(Geofences::UpperM).double().not_null())
                    .col(ColumnDef::new(Geofences::Datum).text().not_null())
                    .col(ColumnDef::new(Geofences::Schedule).json().null())
                    .col(ColumnDef::new(Geofences::Active).boolean().not_null())
                    .col(ColumnDef::new(Geofences::Version).big_integer().not_null())
                    .col(ColumnDef::new(Geofences::CreatedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(Geofences::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Geofences::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_geofences_org_id_id")
                    .table(Geofences::Table)
                    .col(Geofences::OrgId)
                    .col(Geofences::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Geofences::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Geofences {
    Table,
    Id,
    OrgId,
    Name,
    Kind,
    Shape,
    MinLon,
    MinLat,
    MaxLon,
    MaxLat,
    LowerM,
    UpperM,
    Datum,
    Schedule,
    Active,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}
