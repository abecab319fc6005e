//! `/admin`: the installation's shards, for its own operators (`auth.installation_admins`).

use actix_web::{get, web, HttpResponse};
use domain::user::Role;

use crate::auth::Principal;
use crate::dto::{Problem, ShardsResponse};
use crate::error::ApiError;
use crate::services::AdminService;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_shards);
}

/// The shards, the slot ranges each owns, their rows, and the latest slot moves with their
/// progress (`nimbusfleet admin move-slots`). Installation admins only: users whose email
/// is in `auth.installation_admins`.
#[utoipa::path(context_path = "/api/v1", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, body = ShardsResponse),
    (status = 403, description = "not an installation admin", body = Problem, content_type = "application/problem+json"),
))]
#[get("/admin/shards")]
pub async fn get_shards(
    admin: web::Data<AdminService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Admin)?;
    let overview = admin.shards(caller).await?;
    Ok(HttpResponse::Ok().json(ShardsResponse::from(overview)))
}
