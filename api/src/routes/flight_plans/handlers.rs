use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use domain::drone::Drone;
use domain::flight_plan::{self, FlightPlan, FlightPlanState, TransitionError, ValidPlan};
use domain::shard::slot_of;
use domain::user::Role;
use domain::{DroneId, FlightPlanId, OrgId};
use uuid::Uuid;

use super::dto::{
    CreateFlightPlanRequest, FlightPlanList, FlightPlanQuery, FlightPlanResponse, TransitionPath,
    UpdateFlightPlanRequest,
};
use crate::auth::Principal;
use crate::cache::{Cached, CachedBody, ResponseCache};
use crate::error::{ApiError, Problem};
use crate::extract::{encode_cursor, Pagination, ValidJson};
use crate::routes::{check_if_match, etag, location, precondition};
use crate::startup::AppState;

async fn drone_of(state: &AppState, org: OrgId, id: DroneId) -> Result<Drone, ApiError> {
    state
        .drones
        .get_drone(org, id)
        .await?
        .ok_or(ApiError::NotFound("drone"))
}

async fn plan_of(state: &AppState, org: OrgId, id: Uuid) -> Result<FlightPlan, ApiError> {
    state
        .plans
        .get_plan(org, FlightPlanId::from_uuid(id))
        .await?
        .ok_or(ApiError::NotFound("flight plan"))
}

fn with_valid(mut plan: FlightPlan, valid: ValidPlan) -> FlightPlan {
    plan.name = valid.name;
    plan.waypoints = valid.waypoints;
    plan.planned_start = valid.planned_start;
    plan.planned_end = valid.planned_end;
    plan.estimate = valid.estimate;
    plan
}

/// Answers with the plan and refreshes its cached answer (write-through), so that every
/// replica reads the new version next.
async fn respond(state: &AppState, plan: FlightPlan) -> Result<HttpResponse, ApiError> {
    let key = ResponseCache::plan_key(plan.org_id, plan.id);
    let version = plan.version;
    let body = serde_json::to_vec(&FlightPlanResponse::from(plan)).map_err(ApiError::internal)?;
    state
        .cache
        .put(Cached::FlightPlan, &key, Some(version), body.clone())
        .await;
    Ok(cached_response(CachedBody {
        version: Some(version),
        body,
    }))
}

fn cached_response(cached: CachedBody) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::ETag(etag(cached.version.unwrap_or_default())))
        .content_type("application/json")
        .body(cached.body)
}

/// Flight plans of the organisation, optionally by drone, state and time window.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(Pagination, FlightPlanQuery),
    responses((status = 200, body = FlightPlanList)))]
#[get("/flight-plans")]
pub async fn list_plans(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<Pagination>,
    query: web::Query<FlightPlanQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let page = state
        .plans
        .list_plans(caller.org_id, &query.filter()?, page.page_request()?)
        .await?;
    Ok(HttpResponse::Ok().json(FlightPlanList {
        incomplete: !page.missing_shards.is_empty(),
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}

/// Creates a draft plan (operators and admins). Every rule is checked; a 422 lists each
/// problem with its field and waypoint index.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), request_body = CreateFlightPlanRequest, responses(
    (status = 201, body = FlightPlanResponse, headers(("ETag" = String), ("Location" = String))),
    (status = 404, description = "unknown drone", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/flight-plans")]
pub async fn create_plan(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidJson<CreateFlightPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Operator)?;
    let drone = drone_of(&state, caller.org_id, DroneId::from_uuid(body.0.drone_id)).await?;
    let now = Utc::now();
    let valid = flight_plan::validate(&body.0.input(), &drone, &state.plan_rules, now)?;
    let plan = FlightPlan {
        id: FlightPlanId::for_slot(slot_of(drone.id)),
        org_id: caller.org_id,
        drone_id: drone.id,
        name: valid.name,
        waypoints: valid.waypoints,
        planned_start: valid.planned_start,
        planned_end: valid.planned_end,
        state: FlightPlanState::Draft,
        estimate: valid.estimate,
        created_by: caller.user_id,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let plan = state.plans.create_plan(plan).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, plan.id)))
        .insert_header(header::ETag(etag(plan.version)))
        .json(FlightPlanResponse::from(plan)))
}

/// One flight plan.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = FlightPlanResponse, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/flight-plans/{id}")]
pub async fn get_plan(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let key = ResponseCache::plan_key(caller.org_id, FlightPlanId::from_uuid(*id));
    if let Some(hit) = state.cache.get(Cached::FlightPlan, &key).await {
        return Ok(cached_response(hit));
    }
    respond(&state, plan_of(&state, caller.org_id, *id).await?).await
}

/// Edits a draft plan (operators and admins). Honours `If-Match`. Plans that left the
/// draft state cannot be edited (409 `not_editable`).
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateFlightPlanRequest, responses(
    (status = 200, body = FlightPlanResponse),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "not a draft", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/flight-plans/{id}")]
pub async fn update_plan(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateFlightPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Operator)?;
    let plan = plan_of(&state, caller.org_id, *id).await?;
    let matched = check_if_match(&req, plan.version)?;
    if plan.state != FlightPlanState::Draft {
        return Err(ApiError::conflict(
            "not_editable",
            format!(
                "only draft plans can be edited; this one is {}",
                plan.state.as_str()
            ),
        ));
    }
    let drone = drone_of(&state, caller.org_id, plan.drone_id).await?;
    let input = body.0.apply(plan.input());
    let now = Utc::now();
    let valid = flight_plan::validate(&input, &drone, &state.plan_rules, now)?;
    let version = plan.version;
    let mut next = with_valid(plan, valid);
    next.updated_at = now;
    let stored = state
        .plans
        .update_plan(next, version)
        .await
        .map_err(precondition(matched))?;
    respond(&state, stored).await
}

/// Moves a plan through its life: `submit` (draft → submitted), `approve` / `reject`
/// (submitted → approved / rejected; admins), `activate` (approved → active), `complete`
/// (active → completed), `cancel` (any non-final state → cancelled). Submit and approve
/// re-check every rule; approve and activate need a drone that is not grounded or retired.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(
    ("id" = Uuid, Path),
    ("action" = String, Path, description = "submit | approve | reject | activate | complete | cancel"),
), responses(
    (status = 200, body = FlightPlanResponse),
    (status = 403, description = "the role may not take this step", body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "illegal transition or drone may not fly", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "the plan no longer passes validation", body = Problem, content_type = "application/problem+json"),
))]
#[post("/flight-plans/{id}/{action}")]
pub async fn transition_plan(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<TransitionPath>,
) -> Result<HttpResponse, ApiError> {
    let TransitionPath { id, action } = path.into_inner();
    let caller = principal.require(Role::Viewer)?;
    let plan = plan_of(&state, caller.org_id, id).await?;
    principal.require(action.required_role())?;
    let drone = drone_of(&state, caller.org_id, plan.drone_id).await?;
    let now = Utc::now();
    let next_state = plan
        .transition(action, &drone, &state.plan_rules, now)
        .map_err(|e| match e {
            TransitionError::Illegal(e) => ApiError::conflict("illegal_transition", e.to_string()),
            TransitionError::DroneMayNotFly { .. } => {
                ApiError::conflict("drone_not_flyable", e.to_string())
            }
            TransitionError::Invalid(errors) => ApiError::Validation(errors),
        })?;
    let version = plan.version;
    let mut next = plan;
    next.state = next_state;
    next.updated_at = now;
    let stored = state.plans.update_plan(next, version).await?;
    tracing::info!(plan_id = %stored.id, action = action.as_str(), state = stored.state.as_str(), "flight plan transition");
    respond(&state, stored).await
}
