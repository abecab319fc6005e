use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub drone_id: Uuid,
    pub flight_plan_id: Option<Uuid>,
    pub kind: String,
    pub severity: String,
    pub state: String,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
    pub count: i64,
    pub point_lat: Option<f64>,
    pub point_lon: Option<f64>,
    pub point_alt_m: Option<f64>,
    pub point_ts: Option<DateTimeUtc>,
    /// A `domain::monitoring::Detail` as JSON.
    pub detail: Json,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledge_note: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    /// `system`, or the id of the user who resolved it.
    pub resolved_by: Option<String>,
    pub resolve_note: Option<String>,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
