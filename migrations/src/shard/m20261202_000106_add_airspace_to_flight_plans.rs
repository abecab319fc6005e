//! A plan carries the authorisation that lets it cross restricted fences, and the reason an
//! admin gave for approving it despite a conflict with another plan.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlightPlans {
    Table,
    AuthorizationRef,
    OverrideReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [FlightPlans::AuthorizationRef, FlightPlans::OverrideReason] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FlightPlans::Table)
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [FlightPlans::AuthorizationRef, FlightPlans::OverrideReason] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FlightPlans::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
