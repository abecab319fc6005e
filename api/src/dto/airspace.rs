use chrono::{DateTime, Utc};
use domain::airspace::{
    Circle, Datum, FenceKind, Geofence, GeofenceInput, GeofencePatch, PlanConflict, RawGeometry,
    RawSchedule, Violation,
};
use domain::flight_plan::FlightPlanState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::double_option;

/// A fence. Heights are metres in `datum`: `agl` bands are compared with plans' altitudes
/// (metres above take-off) directly; `amsl` bands, until take-off elevations are known,
/// are treated as covering every altitude.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e0f",
    "name": "Hospital helipad",
    "kind": "prohibited",
    "geometry": null,
    "circle": {"lat": 47.3769, "lon": 8.5417, "radius_m": 300.0},
    "lower_m": 0.0, "upper_m": 150.0, "datum": "agl",
    "schedule": null, "active": true, "version": 1,
    "created_by": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e10",
    "created_at": "2026-12-02T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z"
}))]
pub struct GeofenceResponse {
    pub id: Uuid,
    pub name: String,
    #[schema(schema_with = super::enums::fence_kind)]
    pub kind: FenceKind,
    /// A GeoJSON Polygon or MultiPolygon (`[lon, lat]` positions), or null for a circle.
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<RawGeometry>,
    #[schema(value_type = Option<CircleDto>)]
    pub circle: Option<Circle>,
    pub lower_m: f64,
    pub upper_m: f64,
    #[schema(schema_with = super::enums::datum)]
    pub datum: Datum,
    #[schema(value_type = Option<ScheduleDto>)]
    pub schedule: Option<RawSchedule>,
    pub active: bool,
    pub version: i64,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Geofence> for GeofenceResponse {
    fn from(f: &Geofence) -> Self {
        let (geometry, circle) = f.shape.to_raw();
        Self {
            id: f.id.as_uuid(),
            name: f.name.clone(),
            kind: f.kind,
            geometry,
            circle,
            lower_m: f.band.lower_m,
            upper_m: f.band.upper_m,
            datum: f.band.datum,
            schedule: f.schedule.as_ref().map(|s| s.to_raw()),
            active: f.active,
            version: f.version,
            created_by: f.created_by.as_uuid(),
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// A circle on the ground (documentation of [`Circle`]).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct CircleDto {
    lat: f64,
    lon: f64,
    /// Up to 100 km.
    radius_m: f64,
}

/// When a fence applies (documentation of [`RawSchedule`]). Without weekly windows it
/// applies all the time between `valid_from` and `valid_to` (`valid_to` excluded).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ScheduleDto {
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
    /// IANA time zone of the weekly windows, such as `Europe/Berlin`; UTC when absent.
    time_zone: Option<String>,
    weekly: Vec<WindowDto>,
}

/// On `days` from `start` to `end` local time (`HH:MM`); an `end` at or before `start`
/// runs into the next day.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct WindowDto {
    /// `mon` … `sun`.
    days: Vec<String>,
    #[schema(example = "22:00")]
    start: String,
    #[schema(example = "06:00")]
    end: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GeofenceList {
    pub items: Vec<GeofenceResponse>,
    pub next_cursor: Option<String>,
}

/// A new fence: exactly one of `geometry` and `circle`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({
    "name": "Stadium",
    "kind": "restricted",
    "geometry": {"type": "Polygon", "coordinates": [[[8.50, 47.00], [8.51, 47.00], [8.51, 47.01], [8.50, 47.01], [8.50, 47.00]]]},
    "lower_m": 0.0, "upper_m": 120.0,
    "schedule": {"time_zone": "Europe/Zurich", "weekly": [{"days": ["sat", "sun"], "start": "12:00", "end": "18:00"}]}
}))]
#[serde(deny_unknown_fields)]
pub struct CreateGeofenceRequest {
    pub name: String,
    #[schema(schema_with = super::enums::fence_kind)]
    pub kind: FenceKind,
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<RawGeometry>,
    #[schema(value_type = Option<CircleDto>)]
    pub circle: Option<Circle>,
    pub lower_m: f64,
    pub upper_m: f64,
    /// `agl` (default) or `amsl`.
    #[serde(default)]
    #[schema(schema_with = super::enums::datum)]
    pub datum: Datum,
    #[schema(value_type = Option<ScheduleDto>)]
    pub schedule: Option<RawSchedule>,
    /// Default true.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl From<CreateGeofenceRequest> for GeofenceInput {
    fn from(r: CreateGeofenceRequest) -> Self {
        Self {
            name: r.name,
            kind: r.kind,
            geometry: r.geometry,
            circle: r.circle,
            lower_m: r.lower_m,
            upper_m: r.upper_m,
            datum: r.datum,
            schedule: r.schedule,
            active: r.active,
        }
    }
}

/// Changes to a fence; absent fields stay. `geometry` replaces a circle and the other way
/// round; `"schedule": null` removes the schedule.
#[derive(Debug, Default, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"active": false}))]
#[serde(deny_unknown_fields)]
pub struct UpdateGeofenceRequest {
    pub name: Option<String>,
    #[schema(schema_with = super::enums::fence_kind)]
    pub kind: Option<FenceKind>,
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<RawGeometry>,
    #[schema(value_type = Option<CircleDto>)]
    pub circle: Option<Circle>,
    pub lower_m: Option<f64>,
    pub upper_m: Option<f64>,
    #[schema(schema_with = super::enums::datum)]
    pub datum: Option<Datum>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ScheduleDto>)]
    pub schedule: Option<Option<RawSchedule>>,
    pub active: Option<bool>,
}

impl From<UpdateGeofenceRequest> for GeofencePatch {
    fn from(r: UpdateGeofenceRequest) -> Self {
        Self {
            name: r.name,
            kind: r.kind,
            geometry: r.geometry,
            circle: r.circle,
            lower_m: r.lower_m,
            upper_m: r.upper_m,
            datum: r.datum,
            schedule: r.schedule,
            active: r.active,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeofenceQuery {
    /// Only fences of this kind.
    #[param(schema_with = super::enums::fence_kind)]
    pub kind: Option<FenceKind>,
    /// Only fences whose bounding box meets `minLon,minLat,maxLon,maxLat`.
    #[param(example = "8.4,47.3,8.6,47.4")]
    pub bbox: Option<String>,
}

/// A GeoJSON FeatureCollection or an ED-269 document, read by the import itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImportDocument(pub serde_json::Value);

impl Validate for ImportDocument {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

/// What an import stored, and what of the input it could not represent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportResponse {
    /// How many fences were created.
    pub created: usize,
    pub ids: Vec<Uuid>,
    /// Every input field that has no counterpart here, by feature: reported, not dropped
    /// silently.
    pub unsupported: Vec<UnsupportedField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnsupportedField {
    /// Index of the feature (zone) in the input.
    pub feature: usize,
    /// JSON path inside the feature, such as `zoneAuthority`.
    pub field: String,
    pub reason: String,
}

/// Where a plan's leg `waypoints[leg_index]→[leg_index + 1]` first enters a fence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ViolationDto {
    pub geofence_id: Uuid,
    pub geofence_name: String,
    #[schema(schema_with = super::enums::fence_kind)]
    pub kind: FenceKind,
    /// `waypoints[i]→[i+1]`.
    #[schema(example = "waypoints[1]→[2]")]
    pub leg: String,
    pub leg_index: usize,
    pub lat: f64,
    pub lon: f64,
    /// Metres above take-off.
    pub alt_m: f64,
}

impl From<&Violation> for ViolationDto {
    fn from(v: &Violation) -> Self {
        Self {
            geofence_id: v.geofence_id.as_uuid(),
            geofence_name: v.geofence_name.clone(),
            kind: v.kind,
            leg: v.leg(),
            leg_index: v.leg_index,
            lat: v.lat,
            lon: v.lon,
            alt_m: v.alt_m,
        }
    }
}

/// Where and when this plan's volume meets another plan's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlanConflictDto {
    pub plan_id: Uuid,
    pub plan_name: String,
    pub drone_id: Uuid,
    #[schema(schema_with = super::enums::flight_plan_state)]
    pub state: FlightPlanState,
    /// This plan's leg (`waypoints[i]→[i+1]`).
    pub leg_index: usize,
    /// The other plan's leg.
    pub other_leg_index: usize,
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
    /// The time both (buffered) volumes hold the airspace.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl From<&PlanConflict> for PlanConflictDto {
    fn from(c: &PlanConflict) -> Self {
        Self {
            plan_id: c.plan_id.as_uuid(),
            plan_name: c.plan_name.clone(),
            drone_id: c.drone_id.as_uuid(),
            state: c.state,
            leg_index: c.leg_index,
            other_leg_index: c.other_leg_index,
            lat: c.lat,
            lon: c.lon,
            alt_m: c.alt_m,
            from: c.from,
            to: c.to,
        }
    }
}

/// A plan's current conflicts: the fences its path enters that keep it on the ground
/// (prohibited, or restricted without an authorisation), those it is only told of, and
/// the other plans its volume meets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanConflictsResponse {
    pub plan_id: Uuid,
    pub geofences: Vec<ViolationDto>,
    pub warnings: Vec<ViolationDto>,
    pub plans: Vec<PlanConflictDto>,
    /// Other plans of the same drone whose windows overlap this one's.
    pub double_booked: Vec<Uuid>,
}
