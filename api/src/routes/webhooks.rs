//! `/webhooks`: where the organisation's alert changes are delivered. Admins only: a
//! webhook sends the organisation's data to a URL of their choosing.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use domain::webhook::{DeliveryFilter, DeliveryStatus};
use domain::WebhookId;
use uuid::Uuid;

use super::location;
use crate::auth::Admin;
use crate::dto::{
    CreateWebhookRequest, CreatedWebhookResponse, DeliveryList, DeliveryQuery, Problem,
    UpdateWebhookRequest, WebhookList, WebhookResponse,
};
use crate::error::ApiError;
use crate::extract::{encode_cursor, Pagination, ValidJson};
use crate::services::{etag, Precondition, WebhookService};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(list_deliveries);
}

/// The organisation's webhooks in creation order (admins).
#[utoipa::path(context_path = "/api/v1", tag = "webhooks", security(("bearer" = [])), params(Pagination),
    responses(
        (status = 200, body = WebhookList),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/webhooks")]
pub async fn list_webhooks(
    webhooks: web::Data<WebhookService>,
    Admin(caller): Admin,
    page: web::Query<Pagination>,
) -> Result<HttpResponse, ApiError> {
    let page = webhooks.list(caller.org_id, page.page_request()?).await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}

/// Subscribes a URL to the organisation's alert changes (admins): each change of an alert
/// of the chosen kinds at `min_severity` or higher (raised, updated, acknowledged,
/// resolved) is `POST`ed as JSON with the Standard Webhooks headers `webhook-id`,
/// `webhook-timestamp` and `webhook-signature`. The answer shows the signing secret, once.
/// Deliveries that fail are retried with exponential backoff for 24 hours; a webhook whose
/// every attempt failed that long is disabled (`disabled_reason` says why).
#[utoipa::path(context_path = "/api/v1", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateWebhookRequest, responses(
    (status = 201, body = CreatedWebhookResponse, headers(("Location" = String), ("ETag" = String))),
    (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "the organisation has 20 webhooks (`too_many_webhooks`)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "a URL that is not http(s), carries credentials or reaches a private address; an unknown kind", body = Problem, content_type = "application/problem+json"),
))]
#[post("/webhooks")]
pub async fn create_webhook(
    req: HttpRequest,
    webhooks: web::Data<WebhookService>,
    Admin(caller): Admin,
    body: ValidJson<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let (hook, secret) = webhooks
        .create(caller.org_id, caller.user_id, body.0.into())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, hook.id)))
        .insert_header(header::ETag(etag(hook.version)))
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(CreatedWebhookResponse {
            webhook: (&hook).into(),
            secret,
        }))
}

/// One webhook (admins). Its secret is never shown again.
#[utoipa::path(context_path = "/api/v1", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = WebhookResponse, headers(("ETag" = String))),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    webhooks: web::Data<WebhookService>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let hook = webhooks
        .get(caller.org_id, WebhookId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(hook.version)))
        .json(WebhookResponse::from(&hook)))
}

/// Changes a webhook (admins); honours `If-Match`. `"enabled": true` enables one the
/// system disabled, and its pending deliveries are tried again.
#[utoipa::path(context_path = "/api/v1", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateWebhookRequest, responses(
    (status = 200, body = WebhookResponse, headers(("ETag" = String))),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "changed concurrently", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    req: HttpRequest,
    webhooks: web::Data<WebhookService>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let precondition = Precondition::from_request(&req)?;
    let hook = webhooks
        .update(
            caller.org_id,
            WebhookId::from_uuid(*id),
            &precondition,
            body.0.into(),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(hook.version)))
        .json(WebhookResponse::from(&hook)))
}

/// Deletes a webhook and its deliveries (admins).
#[utoipa::path(context_path = "/api/v1", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    webhooks: web::Data<WebhookService>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    webhooks
        .delete(caller.org_id, WebhookId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook's deliveries, newest first, with their status, attempts and the endpoint's
/// last answer (admins). Finished deliveries are kept for `webhooks.keep_deliveries_days`.
#[utoipa::path(context_path = "/api/v1", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path), Pagination, DeliveryQuery), responses(
    (status = 200, body = DeliveryList),
    (status = 400, description = "a malformed status or cursor", body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    webhooks: web::Data<WebhookService>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    page: web::Query<Pagination>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            DeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_query(format!(
                    "status: `{s}` is not one of pending, succeeded, failed"
                ))
            })
        })
        .transpose()?;
    let page = webhooks
        .deliveries(
            caller.org_id,
            WebhookId::from_uuid(*id),
            DeliveryFilter { status },
            page.page_request()?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}
