use sea_orm::entity::prelude::*;

/// One slot move (`admin move-slots`), its state and progress (see the catalog migration
/// `m20261206_000011_create_slot_moves`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "slot_moves")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub first_slot: i32,
    pub last_slot: i32,
    pub source: i32,
    pub target: i32,
    pub state: String,
    /// JSON: rows copied per table and the last drone copied (see `moves::Progress`).
    pub progress: String,
    pub fence_ms: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
