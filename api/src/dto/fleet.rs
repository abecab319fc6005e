use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PointDto;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PositionsQuery {
    /// Only drones inside `minLon,minLat,maxLon,maxLat` (degrees).
    #[param(example = "8.4,47.3,8.7,47.45")]
    pub bbox: Option<String>,
    /// The fleet as it was at this instant (RFC 3339) instead of now: each drone's last
    /// point at or before it, read from the stored history (for archived days, from the
    /// minute rollups: the last point of each drone's newest minute in the window, with the
    /// minute's mean altitude, speed, heading and battery).
    #[param(example = "2026-12-01T10:15:00Z")]
    pub at: Option<DateTime<Utc>>,
    /// With `at`: how old a drone's last point may be and still count, `1s` to `1d`
    /// (default `60s`); a drone silent for longer is left out.
    #[param(example = "60s")]
    pub window: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PositionsResponse {
    /// The instant asked for with `at`; absent for the latest positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The latest state of every drone that has reported (with `at`: as it was then).
    pub items: Vec<PointDto>,
    /// True when a shard could not be read and its drones are missing.
    pub incomplete: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// The first frame's instant, inclusive (RFC 3339).
    #[param(example = "2026-12-01T10:00:00Z")]
    pub from: DateTime<Utc>,
    /// The end of the range, exclusive (RFC 3339); at most 3600 steps after `from`.
    #[param(example = "2026-12-01T10:15:00Z")]
    pub to: DateTime<Utc>,
    /// Time between frames, `1s` to `1h` (default `1s`).
    #[param(example = "1s")]
    pub step: Option<String>,
    /// How old a drone's last point may be and still be in a frame, `1s` to `1d` (default
    /// `60s`).
    #[param(example = "60s")]
    pub window: Option<String>,
    /// Only drones inside `minLon,minLat,maxLon,maxLat` (degrees).
    #[param(example = "8.4,47.3,8.7,47.45")]
    pub bbox: Option<String>,
}

/// One line of a replay: the fleet at one instant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "at": "2026-12-01T10:15:00Z",
    "items": [{"drone_id": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e0f", "ts": "2026-12-01T10:14:59.500Z",
        "lat": 47.3769, "lon": 8.5417, "alt_m": 62.5, "speed_mps": 11.8, "heading_deg": 274.0,
        "battery_pct": 81.5}],
    "incomplete": false
}))]
pub struct ReplayFrame {
    pub at: DateTime<Utc>,
    /// Each drone's last point in `(at - window, at]`, in drone id order.
    pub items: Vec<PointDto>,
    /// True when a shard could not be read for this frame and its drones are missing.
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
