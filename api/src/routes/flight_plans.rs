//! `/flight-plans`: planning, approval and the life of a flight.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use domain::user::Role;
use domain::{DroneId, FlightPlanId};
use uuid::Uuid;

use super::{cached_response, location};
use crate::auth::{Operator, Principal};
use crate::dto::{
    CreateFlightPlanRequest, FlightPlanList, FlightPlanQuery, FlightPlanResponse,
    PlanConflictsResponse, Problem, TransitionPath, TransitionRequest, UpdateFlightPlanRequest,
};
use crate::error::ApiError;
use crate::extract::{encode_cursor, OptionalJson, Pagination, ValidJson};
use crate::services::{etag, FlightPlanService, Precondition};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_plans)
        .service(create_plan)
        .service(get_plan)
        .service(plan_conflicts)
        .service(update_plan)
        .service(transition_plan);
}

/// Flight plans of the organisation, optionally by drone, state and time window;
/// `conflicts=true` keeps only the pending plans that a fence, another plan or a double
/// booking now stands in the way of.
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
    let filter = query.filter()?;
    let page = if query.conflicts == Some(true) {
        plans
            .list_conflicting(caller.org_id, &filter, page.page_request()?)
            .await?
    } else {
        plans
            .list(caller.org_id, &filter, page.page_request()?)
            .await?
    };
    Ok(HttpResponse::Ok().json(FlightPlanList {
        incomplete: !page.missing_shards.is_empty(),
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}

/// Creates a draft plan (operators and admins). Every rule is checked; a 422 lists each
/// problem with its field and waypoint index. The path is checked leg by leg against the
/// organisation's geofences that apply in the plan's window: a prohibited one refuses it
/// (422 `geofence_violation`), a restricted one without `authorization_ref` too (422
/// `authorization_required`), each naming the fence, the leg, the point and the altitude;
/// advisory ones come back as `warnings`.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), request_body = CreateFlightPlanRequest, responses(
    (status = 201, body = FlightPlanResponse, headers(("ETag" = String), ("Location" = String))),
    (status = 404, description = "unknown drone", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid, or refused by a geofence (`violations`)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/flight-plans")]
pub async fn create_plan(
    req: HttpRequest,
    plans: web::Data<FlightPlanService>,
    Operator(caller): Operator,
    body: ValidJson<CreateFlightPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let drone = DroneId::from_uuid(body.0.drone_id);
    let (plan, warnings) = plans.create(&caller, drone, &body.0.input()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, plan.id)))
        .insert_header(header::ETag(etag(plan.version)))
        .json(FlightPlanResponse {
            warnings,
            ..FlightPlanResponse::from(plan)
        }))
}

/// What stands in the plan's way now: the fences its path enters (refusing ones in
/// `geofences`, the others in `warnings`), the other plans its 4-D volume meets (with where
/// and when), and the drone's other plans whose windows overlap.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = PlanConflictsResponse),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/flight-plans/{id}/conflicts")]
pub async fn plan_conflicts(
    plans: web::Data<FlightPlanService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let found = plans
        .conflicts(caller.org_id, FlightPlanId::from_uuid(*id))
        .await?;
    let refusing = found
        .check
        .prohibited
        .iter()
        .chain(&found.check.unauthorized);
    Ok(HttpResponse::Ok().json(PlanConflictsResponse {
        plan_id: *id,
        geofences: refusing.map(Into::into).collect(),
        warnings: found.check.warnings.iter().map(Into::into).collect(),
        plans: found.plans.iter().map(Into::into).collect(),
        double_booked: found.double_booked.iter().map(|p| p.as_uuid()).collect(),
    }))
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
/// re-check every rule and the airspace: the geofences along the path (422
/// `geofence_violation`, `authorization_required`), the drone's other plans (409
/// `drone_double_booked`) and every other submitted, approved or active plan of the
/// organisation (409 `plan_conflict` with `conflicts`: where and when the 4-D volumes meet).
/// An admin may submit or approve a conflicting plan with `{"override_reason": "…"}`,
/// kept on the plan. Approve and activate need an `active` drone (409 `drone_not_flyable` for one in
/// maintenance, grounded or retired). A rejection may say why (`{"reason": "…"}`), kept on
/// the plan as `rejection_reason`; the other steps take no body.
#[utoipa::path(context_path = "/api/v1", tag = "flight-plans", security(("bearer" = [])), params(TransitionPath), request_body(content = Option<TransitionRequest>, description = "optional; `reason` with `reject` only, `override_reason` with `submit` or `approve` (admins)"), responses(
    (status = 200, body = FlightPlanResponse),
    (status = 403, description = "the role may not take this step", body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "illegal transition, drone may not fly, double-booked drone or conflicting plans", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "the plan no longer passes validation, or a geofence refuses it", body = Problem, content_type = "application/problem+json"),
))]
#[post("/flight-plans/{id}/{action}")]
pub async fn transition_plan(
    plans: web::Data<FlightPlanService>,
    principal: Principal,
    path: web::Path<TransitionPath>,
    body: OptionalJson<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let TransitionPath { id, action } = path.into_inner();
    let body = body.0.unwrap_or_default();
    let plan = plans
        .transition(
            &principal,
            FlightPlanId::from_uuid(id),
            action,
            body.reason,
            body.override_reason,
        )
        .await?;
    Ok(cached_response(plan))
}
