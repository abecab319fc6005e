//! A rejected plan keeps the admin's reason, so its author learns why.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlightPlans {
    Table,
    RejectionReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlightPlans::Table)
                    .add_column(ColumnDef::new(FlightPlans::RejectionReason).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlightPlans::Table)
                    .drop_column(FlightPlans::RejectionReason)
                    .to_owned(),
            )
            .await
    }
}
