use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PointDto;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PositionsQuery {
    /// Only drones inside `minLon,minLat,maxLon,maxLat` (degrees).
    #[param(example = "8.4,47.3,8.7,47.45")]
    pub bbox: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PositionsResponse {
    /// The latest state of every drone that has reported.
    pub items: Vec<PointDto>,
    /// True when a shard could not be read and its drones are missing.
    pub incomplete: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "drones_total": 42, "drones_by_status": {"active": 37, "maintenance": 3, "grounded": 1, "retired": 1},
    "reporting_last_60s": 35, "active_flight_plans": 12, "points_last_minute": 2100,
    "points_per_second": 35.2, "open_alerts": {"info": 0, "warning": 2, "critical": 1},
    "incomplete": false, "missing_shards": []
}))]
pub struct SummaryResponse {
    pub drones_total: u64,
    /// Every status, zero included.
    pub drones_by_status: BTreeMap<String, u64>,
    /// Drones whose latest point is at most 60 s old.
    pub reporting_last_60s: u64,
    pub active_flight_plans: u64,
    /// Points accepted in the last 60 s by the replica that answers.
    pub points_last_minute: u64,
    /// Points accepted per second over the last 5 s by the replica that answers: the
    /// current ingest rate.
    pub points_per_second: f64,
    /// Unresolved (open or acknowledged) alerts by severity, every severity included.
    pub open_alerts: BTreeMap<String, u64>,
    /// True when a shard could not be counted: the counts lack its drones and plans.
    pub incomplete: bool,
    /// The shards that could not be counted.
    pub missing_shards: Vec<u16>,
}
