use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "drones")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub serial: String,
    pub name: String,
    pub model: String,
    pub manufacturer: Option<String>,
    pub status: String,
    pub max_altitude_m: f64,
    pub max_speed_mps: f64,
    pub endurance_min: i32,
    pub firmware_version: Option<String>,
    pub home_lat: Option<f64>,
    pub home_lon: Option<f64>,
    pub home_alt_m: Option<f64>,
    pub link_timeout_s: Option<f64>,
    pub slot: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
