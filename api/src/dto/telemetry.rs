use chrono::{DateTime, Utc};
use domain::telemetry::{Bucket, PointInput, Stats, TelemetryPoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

/// One telemetry sample, as sent and as read back. Units are in the names; positions are
/// WGS 84 degrees and altitudes metres above the take-off point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "drone_id": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e0f", "ts": "2026-11-23T10:15:30.250Z",
    "lat": 47.3769, "lon": 8.5417, "alt_m": 62.5, "speed_mps": 11.8, "heading_deg": 274.0,
    "battery_pct": 81.5, "vertical_speed_mps": 0.2, "satellites": 14, "link_quality_pct": 97.0
}))]
pub struct PointDto {
    pub drone_id: Uuid,
    /// RFC 3339 UTC; at most `telemetry.max_future_skew_s` ahead and within retention.
    pub ts: DateTime<Utc>,
    /// −90…90
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// −180…180
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// −500…10000
    #[schema(minimum = -500, maximum = 10000)]
    pub alt_m: f64,
    /// 0…150
    #[schema(minimum = 0, maximum = 150)]
    pub speed_mps: f64,
    /// 0…360, clockwise from true north
    #[schema(minimum = 0, maximum = 360)]
    pub heading_deg: f64,
    /// 0…100
    #[schema(minimum = 0, maximum = 100)]
    pub battery_pct: f64,
    /// −100…100, positive upwards
    #[schema(minimum = -100, maximum = 100)]
    pub vertical_speed_mps: Option<f64>,
    /// 0…255
    #[schema(maximum = 255)]
    pub satellites: Option<u16>,
    /// 0…100
    #[schema(minimum = 0, maximum = 100)]
    pub link_quality_pct: Option<f64>,
    /// The flight plan the point belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight_plan_id: Option<Uuid>,
}

impl From<PointDto> for PointInput {
    fn from(p: PointDto) -> Self {
        Self {
            drone_id: p.drone_id.into(),
            ts: p.ts,
            lat: p.lat,
            lon: p.lon,
            alt_m: p.alt_m,
            speed_mps: p.speed_mps,
            heading_deg: p.heading_deg,
            battery_pct: p.battery_pct,
            vertical_speed_mps: p.vertical_speed_mps,
            satellites: p.satellites,
            link_quality_pct: p.link_quality_pct,
            flight_plan_id: p.flight_plan_id.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// 1 to 5,000 points (`telemetry.max_batch_points`), of any of the caller's drones.
    pub points: Vec<PointDto>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PointError {
    /// Position of the point in `points`.
    pub index: usize,
    /// The offending field of that point (or `drone_id`).
    pub field: String,
    /// One of the field codes (see the README's error table).
    #[schema(schema_with = crate::error::field_code_schema)]
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"accepted": 998, "rejected": 2, "errors": [
    {"index": 17, "field": "battery_pct", "code": "out_of_range", "message": "must be between 0 and 100"},
    {"index": 503, "field": "drone_id", "code": "unknown_drone", "message": "no such drone in the organisation"}
]}))]
pub struct IngestResponse {
    pub accepted: usize,
    pub rejected: usize,
    pub errors: Vec<PointError>,
}

impl From<TelemetryPoint> for PointDto {
    fn from(p: TelemetryPoint) -> Self {
        Self {
            drone_id: p.drone_id.as_uuid(),
            ts: p.ts,
            lat: p.lat,
            lon: p.lon,
            alt_m: p.alt_m,
            speed_mps: p.speed_mps,
            heading_deg: p.heading_deg,
            battery_pct: p.battery_pct,
            vertical_speed_mps: p.vertical_speed_mps,
            satellites: p.satellites,
            link_quality_pct: p.link_quality_pct,
            flight_plan_id: p.flight_plan_id.map(|id| id.as_uuid()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatsDto {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

impl From<Stats> for StatsDto {
    fn from(s: Stats) -> Self {
        Self {
            avg: s.avg,
            min: s.min,
            max: s.max,
        }
    }
}

/// Aggregates of one time bucket `[start, start + interval)`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BucketResponse {
    pub start: DateTime<Utc>,
    pub count: u64,
    pub alt_m: StatsDto,
    pub speed_mps: StatsDto,
    pub battery_pct: StatsDto,
    pub heading_deg: StatsDto,
    /// Position and time of the oldest point in the bucket.
    pub first_lat: f64,
    pub first_lon: f64,
    pub first_ts: DateTime<Utc>,
    /// Position and time of the newest point in the bucket.
    pub last_lat: f64,
    pub last_lon: f64,
    pub last_ts: DateTime<Utc>,
    /// Ground distance flown inside the bucket, in metres: the great-circle (haversine)
    /// lengths of the segments between consecutive points of the bucket, on the mean Earth
    /// radius (6,371,008.8 m). The segment from the previous bucket's last point is not
    /// counted, so the distance of a whole range is the sum of its buckets' plus those
    /// joins.
    pub distance_m: f64,
}

impl From<Bucket> for BucketResponse {
    fn from(b: Bucket) -> Self {
        Self {
            start: b.start,
            count: b.count,
            alt_m: b.alt_m.into(),
            speed_mps: b.speed_mps.into(),
            battery_pct: b.battery_pct.into(),
            heading_deg: b.heading_deg.into(),
            first_lat: b.first_lat,
            first_lon: b.first_lon,
            first_ts: b.first_ts,
            last_lat: b.last_lat,
            last_lon: b.last_lon,
            last_ts: b.last_ts,
            distance_m: b.distance_m,
        }
    }
}

/// Raw points of a drone's history, newest first, cursor-paginated.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub items: Vec<PointDto>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A drone's history downsampled into buckets of `interval_s`, oldest first, the whole
/// range; buckets without points are left out.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DownsampledHistory {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Bucket width in seconds.
    pub interval_s: i64,
    pub buckets: Vec<BucketResponse>,
}

/// `GET /drones/{id}/telemetry`: raw points, or with `interval` downsampled buckets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TelemetryHistory {
    Points(HistoryResponse),
    Buckets(DownsampledHistory),
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Start of the range, inclusive (RFC 3339). Default: one hour before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End of the range, exclusive (RFC 3339). Default: now.
    pub to: Option<DateTime<Utc>>,
    /// Raw points per page, 1–5000 (default 500).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Downsample into buckets of this width: `10s`, `1m`, `1h`, … (1 s to 1 day).
    #[param(example = "1m")]
    pub interval: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Geojson,
    Csv,
    Gpx,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Start, inclusive (RFC 3339). Default: 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339). Default: now.
    pub to: Option<DateTime<Utc>>,
    /// `geojson` (default), `csv` or `gpx`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// A drone's track as GeoJSON (`format=geojson`): one Point feature per sample, oldest
/// first, coordinates `[lon, lat, alt_m]`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackCollection {
    #[serde(rename = "type")]
    #[schema(example = "FeatureCollection")]
    pub kind: String,
    pub features: Vec<TrackFeature>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackFeature {
    #[serde(rename = "type")]
    #[schema(example = "Feature")]
    pub kind: String,
    pub geometry: TrackPoint,
    pub properties: TrackProperties,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackPoint {
    #[serde(rename = "type")]
    #[schema(example = "Point")]
    pub kind: String,
    /// `[lon, lat, alt_m]`.
    #[schema(min_items = 3, max_items = 3)]
    pub coordinates: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackProperties {
    pub ts: DateTime<Utc>,
    pub speed_mps: f64,
    pub heading_deg: f64,
    pub battery_pct: f64,
    pub vertical_speed_mps: Option<f64>,
    pub satellites: Option<u16>,
    pub link_quality_pct: Option<f64>,
}

/// One Server-Sent Event of `GET /live`, as a client's parser sees it: its name, and its
/// data (JSON text; `ready`: `{"status"}`, `positions`: `{"positions": [Point…]}`,
/// `logout`: `{"reason"}`, `error`: `{"code", "message"}`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LiveEvent {
    #[schema(inline)]
    pub event: LiveEventName,
    pub data: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiveEventName {
    Ready,
    Positions,
    Logout,
    Error,
}
