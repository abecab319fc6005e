//! `/organization`: the caller's organisation, and its own monitoring thresholds.

use actix_web::{get, patch, web, HttpResponse};
use domain::user::Role;

use crate::auth::{Admin, Principal};
use crate::dto::{
    MonitoringSettingsResponse, OrganizationResponse, Problem, UpdateMonitoringRequest,
};
use crate::error::ApiError;
use crate::extract::ValidJson;
use crate::services::{AlertService, AuthService};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_organization)
        .service(get_monitoring)
        .service(update_monitoring);
}

/// The caller's organisation.
#[utoipa::path(context_path = "/api/v1", tag = "organization", security(("bearer" = [])), responses((status = 200, body = OrganizationResponse)))]
#[get("/organization")]
pub async fn get_organization(
    auth: web::Data<AuthService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let org = auth.organization(caller.org_id).await?;
    Ok(HttpResponse::Ok().json(OrganizationResponse::from(org)))
}

/// The battery thresholds and link timeout that the conformance monitor applies to the
/// organisation's drones: its own where it set them, else the installation's.
#[utoipa::path(context_path = "/api/v1", tag = "organization", security(("bearer" = [])), responses(
    (status = 200, body = MonitoringSettingsResponse),
    (status = 403, description = "a drone's API key", body = Problem, content_type = "application/problem+json"),
))]
#[get("/organization/monitoring")]
pub async fn get_monitoring(
    auth: web::Data<AuthService>,
    alerts: web::Data<AlertService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let own = auth.organization(caller.org_id).await?.battery;
    Ok(HttpResponse::Ok().json(MonitoringSettingsResponse::new(own, alerts.rules())))
}

/// Sets the organisation's own battery thresholds (admins); `null` goes back to the
/// installation's. Every monitor applies them from the drones' next points.
#[utoipa::path(context_path = "/api/v1", tag = "organization", security(("bearer" = [])), request_body = UpdateMonitoringRequest, responses(
    (status = 200, body = MonitoringSettingsResponse),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "a threshold out of 0–100, or critical above warning", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/organization/monitoring")]
pub async fn update_monitoring(
    auth: web::Data<AuthService>,
    alerts: web::Data<AlertService>,
    Admin(caller): Admin,
    body: ValidJson<UpdateMonitoringRequest>,
) -> Result<HttpResponse, ApiError> {
    let current = auth.organization(caller.org_id).await?.battery;
    let stored = alerts
        .set_thresholds(caller.org_id, body.0.apply(current))
        .await?;
    Ok(HttpResponse::Ok().json(MonitoringSettingsResponse::new(stored, alerts.rules())))
}
