//! `/fleet`: the organisation's drones at a glance, across all shards.

use actix_web::{get, web, HttpResponse};
use domain::telemetry::BBox;
use domain::user::Role;

use crate::auth::Principal;
use crate::dto::{PositionsQuery, PositionsResponse, Problem, SummaryResponse};
use crate::error::ApiError;
use crate::services::FleetService;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(fleet_positions).service(fleet_summary);
}

/// A `bbox` query parameter, or 400 naming it.
pub(crate) fn parse_bbox(raw: Option<&str>) -> Result<Option<BBox>, ApiError> {
    raw.map(BBox::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_query(format!("bbox {}", e.message)))
}

/// Latest position of every drone of the organisation, optionally within a bounding box.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), params(PositionsQuery), responses(
    (status = 200, body = PositionsResponse),
))]
#[get("/fleet/positions")]
pub async fn fleet_positions(
    fleet: web::Data<FleetService>,
    principal: Principal,
    query: web::Query<PositionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let bbox = parse_bbox(query.bbox.as_deref())?;
    let (points, missing) = fleet.positions(caller.org_id, bbox).await?;
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
    fleet: web::Data<FleetService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let org = principal.require(Role::Viewer)?.org_id;
    Ok(HttpResponse::Ok().json(fleet.summary(org).await?))
}
