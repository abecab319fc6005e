//! Slot moves (`nimbusfleet admin move-slots`): the slot map gains a version, raised by one
//! at each move's cut-over, and `slot_moves` records each move with its state, so that a
//! move interrupted at any step is resumed from where it stopped.
//!
//! A move's `state` is one of:
//! - `copying`: the rows of the slots are being copied to the target, changes caught up;
//! - `cutover`: the source is (or was being) fenced for the last changes;
//! - `switched`: the map moved; the source's copies are being deleted;
//! - `done`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ShardMap {
    Table,
    Version,
}

#[derive(DeriveIden)]
enum SlotMoves {
    Table,
    Id,
    FirstSlot,
    LastSlot,
    Source,
    Target,
    State,
    Progress,
    FenceMs,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ShardMap::Table)
                    .add_column(
                        ColumnDef::new(ShardMap::Version)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SlotMoves::Table)
                    .col(
                        ColumnDef::new(SlotMoves::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SlotMoves::FirstSlot).integer().not_null())
                    .col(ColumnDef::new(SlotMoves::LastSlot).integer().not_null())
                    .col(ColumnDef::new(SlotMoves::Source).integer().not_null())
                    .col(ColumnDef::new(SlotMoves::Target).integer().not_null())
                    .col(ColumnDef::new(SlotMoves::State).text().not_null())
                    .col(ColumnDef::new(SlotMoves::Progress).text().not_null())
                    .col(ColumnDef::new(SlotMoves::FenceMs).big_integer().null())
                    .col(
                        ColumnDef::new(SlotMoves::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SlotMoves::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SlotMoves::FinishedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SlotMoves::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ShardMap::Table)
                    .drop_column(ShardMap::Version)
                    .to_owned(),
            )
            .await
    }
}
