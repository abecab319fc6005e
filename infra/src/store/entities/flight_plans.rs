use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flight_plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub drone_id: Uuid,
    pub name: String,
    /// A JSON array of `domain::flight_plan::WaypointInput`.
    pub waypoints: Json,
    pub planned_start: DateTimeUtc,
    pub planned_end: DateTimeUtc,
    pub state: String,
    pub distance_m: f64,
    pub duration_s: f64,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
    pub rejection_reason: Option<String>,
    pub authorization_ref: Option<String>,
    pub override_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
