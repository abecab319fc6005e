//! The cross-shard serial registry: drones live on different shards, so a serial's
//! uniqueness within an organisation is enforced here, by the primary key, before the
//! drone's row is written to its shard.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DroneSerials::Table)
                    .col(ColumnDef::new(DroneSerials::OrgId).uuid().not_null())
                    .col(ColumnDef::new(DroneSerials::Serial).text().not_null())
                    .col(ColumnDef::new(DroneSerials::DroneId).uuid().not_null())
                    .col(
                        ColumnDef::new(DroneSerials::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .name("pk_drone_serials")
                            .col(DroneSerials::OrgId)
                            .col(DroneSerials::Serial),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_drone_serials_drone_id")
                    .table(DroneSerials::Table)
                    .col(DroneSerials::DroneId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DroneSerials::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DroneSerials {
    Table,
    OrgId,
    Serial,
    DroneId,
    CreatedAt,
}
