//! `/flight-plans`: planning, approval and the life of a flight.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use domain::user::Role;
use domain::{DroneId, FlightPlanId};
use uuid::Uuid;

use super::{cached_response, location};
use crate::auth::{Operator, Principal};
use crate::dto::{
    CreateFlightPlanRequest, FlightPlanList, FlightPlanQuery, FlightPlanResponse, Problem,
    TransitionPath, TransitionRequest, UpdateFlightPlanRequest,
};
use crate::error::ApiError;
use crate::extract::{encode_cursor, OptionalJson, Pagination, ValidJson};
use crate::services::{etag, FlightPlanService, Precondition};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_plans)
        .service(create_plan)
        .service(get_plan)
        .service(update_plan)
        .service(transition_plan);
}

/// Flight plans of the organisation, optionally by drone, state and time window.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(Pagination, FlightPlanQuery),
    responses((status = 200, body = FlightPlanList)))]
#[get("/flight-plans")]
pub async fn list_plans(
    plans: web::Data<FlightPlanService>,
    principal: Principal,
    page: web::Query<Pagination>,
    query: web::Query<FlightPlanQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let page = plans
        .list(caller.org_id, &query.filter()?, page.page_request()?)
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
    plans: web::Data<FlightPlanService>,
    Operator(caller): Operator,
    body: ValidJson<CreateFlightPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let drone = DroneId::from_uuid(body.0.drone_id);
    let plan = plans.create(&caller, drone, &body.0.input()).await?;
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
    plans: web::Data<FlightPlanService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let plan = plans
        .get(caller.org_id, FlightPlanId::from_uuid(*id))
        .await?;
    Ok(cached_response(plan))
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
    plans: web::Data<FlightPlanService>,
    Operator(caller): Operator,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateFlightPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let precondition = Precondition::from_request(&req)?;
    let change = body.0;
    let plan = plans
        .update(
            caller.org_id,
            FlightPlanId::from_uuid(*id),
            &precondition,
            |input| change.apply(input),
        )
        .await?;
    Ok(cached_response(plan))
}

/// Moves a plan through its life: `submit` (draft → submitted), `approve` / `reject`
/// (submitted → approved / rejected; admins), `activate` (approved → active), `complete`
/// (active → completed), `cancel` (any non-final state → cancelled). Submit and approve
/// re-check every rule; approve and activate need a drone that is not grounded or retired.
/// A rejection may say why (`{"reason": "…"}`), kept on the plan as `rejection_reason`;
/// the other steps take no body.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(TransitionPath), request_body(content = Option<TransitionRequest>, description = "optional; `reason` with `reject` only"), responses(
    (status = 200, body = FlightPlanResponse),
    (status = 403, description = "the role may not take this step", body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "illegal transition or drone may not fly", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "the plan no longer passes validation", body = Problem, content_type = "application/problem+json"),
))]
#[post("/flight-plans/{id}/{action}")]
pub async fn transition_plan(
    plans: web::Data<FlightPlanService>,
    principal: Principal,
    path: web::Path<TransitionPath>,
    body: OptionalJson<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let TransitionPath { id, action } = path.into_inner();
    let reason = body.0.unwrap_or_default().reason;
    let plan = plans
        .transition(&principal, FlightPlanId::from_uuid(id), action, reason)
        .await?;
    Ok(cached_response(plan))
}
