//! The slot map the data was written with, recorded once (a single row, `id = 1`) so that
//! a deployment started with a different map is refused instead of silently misrouting.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ShardMap::Table)
                    .col(
                        ColumnDef::new(ShardMap::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ShardMap::Shards).integer().not_null())
                    .col(ColumnDef::new(ShardMap::Spec).text().not_null())
                    .col(
                        ColumnDef::new(ShardMap::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ShardMap::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ShardMap {
    Table,
    Id,
    Shards,
    Spec,
    CreatedAt,
}
