//! A drone may have its own link timeout (a satellite link reports every minute or two).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Drones {
    Table,
    LinkTimeoutS,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Drones::Table)
                    .add_column(ColumnDef::new(Drones::LinkTimeoutS).double().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Drones::Table)
                    .drop_column(Drones::LinkTimeoutS)
                    .to_owned(),
            )
            .await
    }
}
