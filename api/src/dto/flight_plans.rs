use chrono::{DateTime, Utc};
use domain::flight_plan::{
    Estimate, FlightPlan, FlightPlanFilter, FlightPlanState, PlanInput, Transition, Waypoint,
    WaypointInput,
};
use domain::DroneId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::error::ApiError;

/// A waypoint: WGS 84 degrees, metres above the take-off point.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lat": 47.3769, "lon": 8.5417, "alt_m": 60.0, "speed_mps": 12.0, "hold_s": 10.0}))]
#[serde(deny_unknown_fields)]
pub struct WaypointDto {
    pub lat: f64,
    pub lon: f64,
    /// Metres above the take-off point; at most the drone's maximum and the ceiling.
    pub alt_m: f64,
    /// Ground speed on the leg ending here; the default cruise speed when absent.
    pub speed_mps: Option<f64>,
    /// Seconds to hover here.
    pub hold_s: Option<f64>,
}

impl From<WaypointDto> for WaypointInput {
    fn from(w: WaypointDto) -> Self {
        Self {
            lat: w.lat,
            lon: w.lon,
            alt_m: w.alt_m,
            speed_mps: w.speed_mps,
            hold_s: w.hold_s,
        }
    }
}

impl From<&Waypoint> for WaypointDto {
    fn from(w: &Waypoint) -> Self {
        let i = w.to_input();
        Self {
            lat: i.lat,
            lon: i.lon,
            alt_m: i.alt_m,
            speed_mps: i.speed_mps,
            hold_s: i.hold_s,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EstimateDto {
    /// 3-D path length in metres.
    pub distance_m: f64,
    /// Flight time in seconds, holds included.
    pub duration_s: f64,
}

impl From<Estimate> for EstimateDto {
    fn from(e: Estimate) -> Self {
        Self {
            distance_m: e.distance_m,
            duration_s: e.duration_s,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlightPlanResponse {
    pub id: Uuid,
    pub drone_id: Uuid,
    pub name: String,
    /// `draft`, `submitted`, `approved`, `rejected`, `active`, `completed` or `cancelled`.
    #[schema(schema_with = super::enums::flight_plan_state, example = "draft")]
    pub state: FlightPlanState,
    pub waypoints: Vec<WaypointDto>,
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
    pub estimate: EstimateDto,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// Why an admin rejected the plan, when they said.
    pub rejection_reason: Option<String>,
    /// The authorisation that lets the plan enter `restricted` fences.
    pub authorization_ref: Option<String>,
    /// Why an admin approved the plan despite a conflict with another plan.
    pub override_reason: Option<String>,
    /// Fences the path enters that do not refuse it (advisory, or restricted with an
    /// authorisation), in the answers of create, update, submit and approve.
    /// `GET …/conflicts` tells the current ones at any time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<super::ViolationDto>,
}

impl From<FlightPlan> for FlightPlanResponse {
    fn from(p: FlightPlan) -> Self {
        Self {
            id: p.id.as_uuid(),
            drone_id: p.drone_id.as_uuid(),
            name: p.name,
            state: p.state,
            waypoints: p.waypoints.iter().map(Into::into).collect(),
            planned_start: p.planned_start,
            planned_end: p.planned_end,
            estimate: p.estimate.into(),
            created_by: p.created_by.as_uuid(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
            rejection_reason: p.rejection_reason,
            authorization_ref: p.authorization_ref,
            override_reason: p.override_reason,
            warnings: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlightPlanList {
    pub items: Vec<FlightPlanResponse>,
    pub next_cursor: Option<String>,
    /// True when a shard could not be read and its plans are missing from this page.
    pub incomplete: bool,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({
    "drone_id": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e0f",
    "name": "Bridge inspection",
    "waypoints": [
        {"lat": 47.3769, "lon": 8.5417, "alt_m": 0.0},
        {"lat": 47.3800, "lon": 8.5450, "alt_m": 60.0, "speed_mps": 12.0, "hold_s": 30.0},
        {"lat": 47.3769, "lon": 8.5417, "alt_m": 0.0}
    ],
    "planned_start": "2030-06-01T09:00:00Z",
    "planned_end": "2030-06-01T09:30:00Z"
}))]
#[serde(deny_unknown_fields)]
pub struct CreateFlightPlanRequest {
    pub drone_id: Uuid,
    pub name: String,
    /// The authorisation (1–100 characters) that lets the plan enter `restricted` fences.
    #[serde(default)]
    pub authorization_ref: Option<String>,
    pub waypoints: Vec<WaypointDto>,
    /// RFC 3339, in the future.
    pub planned_start: DateTime<Utc>,
    /// RFC 3339, after `planned_start`.
    pub planned_end: DateTime<Utc>,
}

impl CreateFlightPlanRequest {
    pub fn input(self) -> PlanInput {
        PlanInput {
            name: self.name,
            authorization_ref: self.authorization_ref,
            waypoints: self.waypoints.into_iter().map(Into::into).collect(),
            planned_start: self.planned_start,
            planned_end: self.planned_end,
        }
    }
}

/// Changes a draft plan; absent fields stay as they are. The whole plan is validated again.
#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"name": "Bridge inspection (north side)"}))]
#[serde(deny_unknown_fields)]
pub struct UpdateFlightPlanRequest {
    pub name: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    pub authorization_ref: Option<Option<String>>,
    pub waypoints: Option<Vec<WaypointDto>>,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
}

impl UpdateFlightPlanRequest {
    pub fn apply(self, mut input: PlanInput) -> PlanInput {
        if let Some(name) = self.name {
            input.name = name;
        }
        if let Some(authorization_ref) = self.authorization_ref {
            input.authorization_ref = authorization_ref;
        }
        if let Some(waypoints) = self.waypoints {
            input.waypoints = waypoints.into_iter().map(Into::into).collect();
        }
        if let Some(start) = self.planned_start {
            input.planned_start = start;
        }
        if let Some(end) = self.planned_end {
            input.planned_end = end;
        }
        input
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlightPlanQuery {
    /// Only this drone's plans.
    pub drone_id: Option<Uuid>,
    /// Only plans in this state.
    #[param(schema_with = super::enums::flight_plan_state, example = "approved")]
    pub state: Option<FlightPlanState>,
    /// Only plans whose window ends at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only plans whose window starts at or before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `true`: only pending plans (draft, submitted, approved) that now enter a prohibited
    /// fence, a restricted one without authorisation, or another plan's volume, or whose
    /// drone is double-booked, such as after a fence was created across them.
    pub conflicts: Option<bool>,
}

impl FlightPlanQuery {
    pub fn filter(&self) -> Result<FlightPlanFilter, ApiError> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if to < from {
                return Err(ApiError::invalid_query("`to` must not be before `from`"));
            }
        }
        Ok(FlightPlanFilter {
            drone_id: self.drone_id.map(DroneId::from_uuid),
            state: self.state,
            from: self.from,
            to: self.to,
        })
    }
}

/// The optional body of a transition.
#[derive(Debug, Default, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"reason": "the route crosses the airport's approach"}))]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// With `reject` only: why, for the plan's author (at most 500 characters).
    pub reason: Option<String>,
    /// With `submit` or `approve`, admins only: why the plan is accepted although its
    /// volume meets other plans (at most 500 characters); kept on the plan, and an approval
    /// of a plan submitted with one needs no second.
    pub override_reason: Option<String>,
}

/// Path of a transition: `/flight-plans/{id}/{action}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TransitionPath {
    /// The plan.
    pub id: Uuid,
    /// The step to take.
    #[param(schema_with = super::enums::transition, required = true)]
    pub action: Transition,
}
