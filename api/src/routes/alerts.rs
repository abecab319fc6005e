//! `/alerts`: what the conformance monitor raised. Viewers read; operators and admins
//! acknowledge and resolve; drone keys have no access.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use domain::monitoring::{AlertAction, AlertFilter, AlertState, StateFilter};
use domain::user::Role;
use domain::AlertId;
use uuid::Uuid;

use crate::auth::{Operator, Principal};
use crate::dto::{AlertActionRequest, AlertList, AlertQuery, AlertResponse, Problem};
use crate::error::ApiError;
use crate::extract::{encode_cursor, OptionalJson, Pagination};
use crate::services::{etag, AlertService};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_alerts)
        .service(get_alert)
        .service(acknowledge_alert)
        .service(resolve_alert);
}

fn state_filter(raw: Option<&str>) -> Result<Option<StateFilter>, ApiError> {
    match raw {
        None => Ok(None),
        Some("active") => Ok(Some(StateFilter::Active)),
        Some(s) => AlertState::parse(s)
            .map(|s| Some(StateFilter::Is(s)))
            .ok_or_else(|| {
                ApiError::invalid_query(format!(
                    "state: `{s}` is not one of open, acknowledged, resolved, active"
                ))
            }),
    }
}

/// The organisation's alerts, newest first, across every shard; filter by state (`active`
/// is open or acknowledged), kind, severity (or `min_severity`), drone and time.
#[utoipa::path(context_path = "/api/v1", tag = "alerts", security(("bearer" = [])), params(Pagination, AlertQuery),
    responses(
        (status = 200, body = AlertList),
        (status = 400, description = "a malformed filter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "a drone's API key", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/alerts")]
pub async fn list_alerts(
    alerts: web::Data<AlertService>,
    principal: Principal,
    page: web::Query<Pagination>,
    query: web::Query<AlertQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let filter = AlertFilter {
        state: state_filter(query.state.as_deref())?,
        kind: query.kind,
        severity: query.severity,
        min_severity: query.min_severity,
        drone_id: query.drone_id.map(domain::DroneId::from_uuid),
        since: query.since,
        until: query.until,
    };
    let page = alerts
        .list(caller.org_id, &filter, page.page_request()?)
        .await?;
    Ok(HttpResponse::Ok().json(AlertList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
        incomplete: !page.missing_shards.is_empty(),
    }))
}

/// One alert.
#[utoipa::path(context_path = "/api/v1", tag = "alerts", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = AlertResponse, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/alerts/{id}")]
pub async fn get_alert(
    alerts: web::Data<AlertService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let alert = alerts.get(caller.org_id, AlertId::from_uuid(*id)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(alert.version)))
        .json(AlertResponse::from(&alert)))
}

async fn act(
    alerts: &AlertService,
    caller: &crate::auth::UserPrincipal,
    id: Uuid,
    action: AlertAction,
    body: Option<AlertActionRequest>,
) -> Result<HttpResponse, ApiError> {
    let note = body.and_then(|b| b.note);
    let alert = alerts
        .act(
            caller.org_id,
            AlertId::from_uuid(id),
            action,
            caller.user_id,
            note.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(alert.version)))
        .json(AlertResponse::from(&alert)))
}

/// Acknowledges an open alert (operators and admins), with an optional note: someone is
/// on it. The monitor still resolves it when its condition clears.
#[utoipa::path(context_path = "/api/v1", tag = "alerts", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body(content = Option<AlertActionRequest>), responses(
    (status = 200, body = AlertResponse),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "already acknowledged or resolved (`alert_closed`), or changed concurrently", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "the note is too long", body = Problem, content_type = "application/problem+json"),
))]
#[post("/alerts/{id}/acknowledge")]
pub async fn acknowledge_alert(
    alerts: web::Data<AlertService>,
    Operator(caller): Operator,
    id: web::Path<Uuid>,
    body: OptionalJson<AlertActionRequest>,
) -> Result<HttpResponse, ApiError> {
    act(&alerts, &caller, *id, AlertAction::Acknowledge, body.0).await
}

/// Resolves an open or acknowledged alert (operators and admins), with an optional note.
/// Should the condition persist, the monitor raises a new alert once it clears and shows
/// again.
#[utoipa::path(context_path = "/api/v1", tag = "alerts", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body(content = Option<AlertActionRequest>), responses(
    (status = 200, body = AlertResponse),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "already resolved (`alert_closed`), or changed concurrently", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "the note is too long", body = Problem, content_type = "application/problem+json"),
))]
#[post("/alerts/{id}/resolve")]
pub async fn resolve_alert(
    alerts: web::Data<AlertService>,
    Operator(caller): Operator,
    id: web::Path<Uuid>,
    body: OptionalJson<AlertActionRequest>,
) -> Result<HttpResponse, ApiError> {
    act(&alerts, &caller, *id, AlertAction::Resolve, body.0).await
}
