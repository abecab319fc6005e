use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "geofences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub kind: String,
    /// `{"geometry": <GeoJSON>}` or `{"circle": {"lat", "lon", "radius_m"}}`.
    pub shape: Json,
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
    pub lower_m: f64,
    pub upper_m: f64,
    pub datum: String,
    /// A `domain::airspace::RawSchedule`.
    pub schedule: Option<Json>,
    pub active: bool,
    pub version: i64,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
