use sea_orm::entity::prelude::*;

/// The single row (`id = 1`) recording the slot map the data is stored by.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shard_map")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub shards: i32,
    pub spec: String,
    /// 1 as first recorded; one more at each slot move's cut-over.
    pub version: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
