//! `/drones`: the fleet register.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use domain::user::Role;
use domain::DroneId;
use uuid::Uuid;

use super::{cached_response, location, not_modified};
use crate::auth::{Operator, Principal};
use crate::dto::{
    CreateDroneRequest, DroneList, DroneQuery, DroneResponse, Problem, UpdateDroneRequest,
};
use crate::error::ApiError;
use crate::extract::{encode_cursor, Pagination, ValidJson};
use crate::services::{etag, DroneService, Precondition};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_drones)
        .service(create_drone)
        .service(get_drone)
        .service(update_drone)
        .service(delete_drone);
}

/// The organisation's drones across all shards, in registration order.
#[utoipa::path(context_path = "/api/v1", tag = "drones", security(("bearer" = [])), params(Pagination, DroneQuery),
    responses((status = 200, body = DroneList)))]
#[get("/drones")]
pub async fn list_drones(
    drones: web::Data<DroneService>,
    principal: Principal,
    page: web::Query<Pagination>,
    query: web::Query<DroneQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let filter = query.filter().map_err(ApiError::from)?;
    let page = drones
        .list(caller.org_id, &filter, page.page_request()?)
        .await?;
    Ok(HttpResponse::Ok().json(DroneList {
        incomplete: !page.missing_shards.is_empty(),
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}

/// Registers a drone (operators and admins).
#[utoipa::path(context_path = "/api/v1", tag = "drones", security(("bearer" = [])), request_body = CreateDroneRequest, responses(
    (status = 201, body = DroneResponse, headers(("ETag" = String), ("Location" = String))),
    (status = 409, description = "serial already registered", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/drones")]
pub async fn create_drone(
    req: HttpRequest,
    drones: web::Data<DroneService>,
    Operator(caller): Operator,
    body: ValidJson<CreateDroneRequest>,
) -> Result<HttpResponse, ApiError> {
    let drone = drones.create(body.0.into_new_drone(caller.org_id)?).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, drone.id)))
        .insert_header(header::ETag(etag(drone.version)))
        .json(DroneResponse::from(drone)))
}

/// One drone. Also readable with the drone's own API key. Supports `If-None-Match`.
#[utoipa::path(context_path = "/api/v1", tag = "drones", security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = DroneResponse, headers(("ETag" = String))),
    (status = 304, description = "not modified"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}")]
#[tracing::instrument(skip_all, fields(drone_id = %id))]
pub async fn get_drone(
    req: HttpRequest,
    drones: web::Data<DroneService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = DroneId::from_uuid(*id);
    if !principal.may_read_drone(id) {
        return Err(ApiError::NotFound("drone"));
    }
    let cached = drones.get(principal.org_id(), id).await?;
    if let Some(response) = not_modified(&req, cached.version) {
        return Ok(response);
    }
    Ok(cached_response(cached))
}

/// Changes some fields of a drone (operators and admins). Send `If-Match: "<version>"` to
/// avoid overwriting someone else's change: a stale tag is answered with 412.
#[utoipa::path(context_path = "/api/v1", tag = "drones", security(("bearer" = [])), params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateDroneRequest, responses(
    (status = 200, body = DroneResponse, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "serial already registered", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/drones/{id}")]
pub async fn update_drone(
    req: HttpRequest,
    drones: web::Data<DroneService>,
    Operator(caller): Operator,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateDroneRequest>,
) -> Result<HttpResponse, ApiError> {
    let precondition = Precondition::from_request(&req)?;
    let patch = body.0.into_patch()?;
    let updated = drones
        .update(
            caller.org_id,
            DroneId::from_uuid(*id),
            &patch,
            &precondition,
        )
        .await?;
    Ok(cached_response(updated))
}

/// Deletes a drone with its flight plans and API keys (admins). Refused while one of its
/// plans is approved or active.
#[utoipa::path(context_path = "/api/v1", tag = "drones", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "the drone has an approved or active flight plan", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/drones/{id}")]
pub async fn delete_drone(
    drones: web::Data<DroneService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Admin)?;
    drones
        .delete(caller.org_id, DroneId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
