//! Rollup rows keep the ground distance flown inside their bucket (`distance_m`: the
//! segments between consecutive points of the bucket), so that the distance of any coarser
//! bucket is the sum of its rows' distances and of the segments that join consecutive rows
//! (each row keeps its first and last position).
//!
//! Rows rolled up before this migration have no distance, so the rollup state is reset: the
//! next rounds recompute every bucket from the raw rows that retention and the archive have
//! kept. Buckets of days already archived keep a distance of 0.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Rollup {
    #[sea_orm(iden = "telemetry_1m")]
    Minutes,
    #[sea_orm(iden = "telemetry_1h")]
    Hours,
    DistanceM,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Rollup::Minutes, Rollup::Hours] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(Rollup::DistanceM)
                                .double()
                                .not_null()
                                .default(0.0),
                        )
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM telemetry_rollup_state")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Rollup::Minutes, Rollup::Hours] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Rollup::DistanceM)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
