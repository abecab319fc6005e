//! `/organization`: the caller's organisation.

use actix_web::{get, web, HttpResponse};
use domain::user::Role;

use crate::auth::Principal;
use crate::dto::OrganizationResponse;
use crate::error::ApiError;
use crate::services::AuthService;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_organization);
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
