use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use domain::flight_plan::FlightPlanState;
use domain::user::Role;
use domain::DroneId;
use uuid::Uuid;

use super::dto::{CreateDroneRequest, DroneList, DroneQuery, DroneResponse, UpdateDroneRequest};
use crate::auth::Principal;
use crate::cache::{Cached, CachedBody, ResponseCache};
use crate::error::{ApiError, Problem};
use crate::extract::{encode_cursor, Pagination, ValidJson};
use crate::routes::{check_if_match, etag, location, not_modified, precondition};
use crate::startup::AppState;

/// Every plan of a drone: to refuse deleting a drone that is flying or cleared to fly, and
/// to drop the plans' cached answers when the drone (and so they) go.
async fn plans_of(
    state: &AppState,
    org: domain::OrgId,
    drone: DroneId,
) -> Result<Vec<domain::flight_plan::FlightPlan>, ApiError> {
    let filter = domain::flight_plan::FlightPlanFilter {
        drone_id: Some(drone),
        ..Default::default()
    };
    let mut plans = Vec::new();
    let mut page = domain::page::PageRequest::first(domain::page::MAX_LIMIT);
    loop {
        let found = state.plans.list_plans(org, &filter, page).await?;
        plans.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(plans),
        }
    }
}

/// The organisation's drones across all shards, in registration order.
#[utoipa::path(context_path = "/api/v1", tag = "drones", security(("bearer" = [])), params(Pagination, DroneQuery),
    responses((status = 200, body = DroneList)))]
#[get("/drones")]
pub async fn list_drones(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<Pagination>,
    query: web::Query<DroneQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let filter = query.filter().map_err(ApiError::from)?;
    let page = state
        .drones
        .list_drones(caller.org_id, &filter, page.page_request()?)
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
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidJson<CreateDroneRequest>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Operator)?;
    let new = body.0.into_new_drone(caller.org_id)?;
    let drone = state
        .drones
        .create_drone(new.into_drone(DroneId::new(), Utc::now()))
        .await?;
    state.directory.invalidate(drone.org_id, drone.id).await;
    tracing::info!(drone_id = %drone.id, org_id = %drone.org_id, "drone registered");
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
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = DroneId::from_uuid(*id);
    if !principal.may_read_drone(id) {
        return Err(ApiError::NotFound("drone"));
    }
    let org = principal.org_id();
    let key = ResponseCache::drone_key(org, id);
    let cached = match state.cache.get(Cached::Drone, &key).await {
        Some(hit) => hit,
        None => {
            let drone = state
                .drones
                .get_drone(org, id)
                .await?
                .ok_or(ApiError::NotFound("drone"))?;
            let version = drone.version;
            let body =
                serde_json::to_vec(&DroneResponse::from(drone)).map_err(ApiError::internal)?;
            state
                .cache
                .put(Cached::Drone, &key, Some(version), body.clone())
                .await;
            CachedBody {
                version: Some(version),
                body,
            }
        }
    };
    let version = cached.version.unwrap_or_default();
    if let Some(response) = not_modified(&req, version) {
        return Ok(response);
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(version)))
        .content_type("application/json")
        .body(cached.body))
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
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateDroneRequest>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Operator)?;
    let id = DroneId::from_uuid(*id);
    let current = state
        .drones
        .get_drone(caller.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("drone"))?;
    let matched = check_if_match(&req, current.version)?;
    let patch = body.0.into_patch()?;
    let drone = state
        .drones
        .update_drone(
            caller.org_id,
            id,
            &patch,
            matched.then_some(current.version),
        )
        .await
        .map_err(precondition(matched))?;
    state.directory.invalidate(caller.org_id, id).await;
    // Write-through: the next read on any replica gets the new version from the cache.
    let version = drone.version;
    let body = serde_json::to_vec(&DroneResponse::from(drone)).map_err(ApiError::internal)?;
    state
        .cache
        .put(
            Cached::Drone,
            &ResponseCache::drone_key(caller.org_id, id),
            Some(version),
            body.clone(),
        )
        .await;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(version)))
        .content_type("application/json")
        .body(body))
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
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Admin)?;
    let id = DroneId::from_uuid(*id);
    state
        .drones
        .get_drone(caller.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("drone"))?;
    let plans = plans_of(&state, caller.org_id, id).await?;
    if plans
        .iter()
        .any(|p| matches!(p.state, FlightPlanState::Approved | FlightPlanState::Active))
    {
        return Err(ApiError::conflict(
            "drone_has_open_plans",
            "the drone has an approved or active flight plan; complete or cancel it first",
        ));
    }
    state.drones.delete_drone(caller.org_id, id).await?;
    state.directory.invalidate(caller.org_id, id).await;
    state
        .cache
        .invalidate(&ResponseCache::drone_key(caller.org_id, id))
        .await;
    for plan in plans {
        state
            .cache
            .invalidate(&ResponseCache::plan_key(caller.org_id, plan.id))
            .await;
    }
    Ok(HttpResponse::NoContent().finish())
}
