//! `/fleet`: the organisation's drones at a glance, across all shards.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use chrono::{Duration, Utc};
use domain::drone::DroneStatus;
use domain::flight_plan::FlightPlanState;
use domain::telemetry::BBox;
use domain::user::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::cache::{Cached, ResponseCache};
use crate::error::{ApiError, Problem};
use crate::routes::telemetry::PointDto;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(fleet_positions).service(fleet_summary);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PositionsQuery {
    /// Only drones inside `minLon,minLat,maxLon,maxLat` (degrees).
    #[param(example = "8.4,47.3,8.7,47.45")]
    pub bbox: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionsResponse {
    /// The latest state of every drone that has reported.
    pub items: Vec<PointDto>,
    /// True when a shard could not be read and its drones are missing.
    pub incomplete: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "drones_total": 42, "drones_by_status": {"active": 37, "maintenance": 3, "grounded": 1, "retired": 1},
    "reporting_last_60s": 35, "active_flight_plans": 12, "points_last_minute": 2100
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
}

/// Latest position of every drone of the organisation, optionally within a bounding box.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), params(PositionsQuery), responses(
    (status = 200, body = PositionsResponse),
))]
#[get("/fleet/positions")]
pub async fn fleet_positions(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PositionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let bbox = query
        .bbox
        .as_deref()
        .map(BBox::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", format!("bbox {}", e.message)))?;
    let (points, missing) = state.telemetry.fleet_positions(caller.org_id, bbox).await?;
    Ok(HttpResponse::Ok().json(PositionsResponse {
        items: points.into_iter().map(Into::into).collect(),
        incomplete: !missing.is_empty(),
    }))
}

/// Drones by status, drones reporting now, active flights and the recent ingest rate.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), responses(
    (status = 200, body = SummaryResponse),
    (status = 503, body = Problem, content_type = "application/problem+json"),
))]
#[get("/fleet/summary")]
pub async fn fleet_summary(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let org = principal.require(Role::Viewer)?.org_id;
    let key = ResponseCache::summary_key(org);
    if let Some(hit) = state.cache.get(Cached::FleetSummary, &key).await {
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(hit.body));
    }
    let now = Utc::now();
    let (by_status, reporting, active) = futures::try_join!(
        state.drones.count_drones_by_status(org),
        state
            .telemetry
            .drones_reporting_since(org, now - Duration::seconds(60)),
        state
            .plans
            .count_plans_in_state(org, FlightPlanState::Active),
    )?;
    let mut drones_by_status: BTreeMap<String, u64> = DroneStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    for (status, n) in &by_status {
        drones_by_status.insert(status.as_str().to_owned(), *n);
    }
    let summary = SummaryResponse {
        drones_total: by_status.iter().map(|(_, n)| n).sum(),
        drones_by_status,
        reporting_last_60s: reporting,
        active_flight_plans: active,
        points_last_minute: state.recent_points.last_minute(org, now),
    };
    let body = serde_json::to_vec(&summary).map_err(ApiError::internal)?;
    state
        .cache
        .put(Cached::FleetSummary, &key, None, body.clone())
        .await;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}
