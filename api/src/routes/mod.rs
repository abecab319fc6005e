//! HTTP routes. Everything under `/api/v1` is JSON and documented in OpenAPI.

pub mod api_keys;
pub mod auth;
pub mod dashboard;
pub mod docs;
pub mod drones;
pub mod fleet;
pub mod flight_plans;
pub mod health;
pub mod live;
pub mod organization;
pub mod telemetry;
pub mod users;

use actix_web::http::header::{self, EntityTag, Header, IfMatch, IfNoneMatch};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// Every route: health, docs, the API under `/api/v1`, then the dashboard at `/` (served
/// from `dashboard_dir`), which answers whatever the others do not.
pub fn configure(cfg: &mut web::ServiceConfig, dashboard_dir: &std::path::Path) {
    cfg.configure(health::configure)
        .configure(docs::configure)
        .service(
            web::scope("/api/v1")
                .configure(auth::configure)
                .configure(organization::configure)
                .configure(users::configure)
                .configure(drones::configure)
                .configure(api_keys::configure)
                .configure(flight_plans::configure)
                .configure(telemetry::configure)
                .configure(fleet::configure)
                .configure(live::configure)
                .default_service(web::to(not_found)),
        );
    dashboard::configure(cfg, dashboard_dir);
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

/// A strong ETag for a row version.
pub fn etag(version: i64) -> EntityTag {
    EntityTag::new_strong(version.to_string())
}

/// Checks `If-Match` against the current version: `Ok(true)` when the header was sent and
/// matches, `Ok(false)` when absent, 412 when it names another version.
pub fn check_if_match(req: &HttpRequest, current_version: i64) -> Result<bool, ApiError> {
    if !req.headers().contains_key(header::IF_MATCH) {
        return Ok(false);
    }
    match IfMatch::parse(req) {
        Ok(IfMatch::Any) => Ok(true),
        Ok(IfMatch::Items(tags)) if tags.iter().any(|t| t.strong_eq(&etag(current_version))) => {
            Ok(true)
        }
        Ok(IfMatch::Items(_)) => Err(ApiError::PreconditionFailed),
        Err(_) => Err(ApiError::bad_request(
            "malformed_request",
            "If-Match must list entity tags such as \"3\"",
        )),
    }
}

/// `304 Not Modified` when `If-None-Match` already names the current version.
pub fn not_modified(req: &HttpRequest, version: i64) -> Option<HttpResponse> {
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Items(tags)) if tags.iter().any(|t| t.weak_eq(&etag(version))) => Some(
            HttpResponse::NotModified()
                .insert_header(header::ETag(etag(version)))
                .finish(),
        ),
        _ => None,
    }
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Maps the store's optimistic-lock failure to 412 when the client sent `If-Match`.
pub fn precondition(matched: bool) -> impl Fn(domain::StoreError) -> ApiError {
    move |e| match e {
        domain::StoreError::VersionMismatch { .. } if matched => ApiError::PreconditionFailed,
        other => other.into(),
    }
}

/// The request's path, for `Location` headers.
pub fn location(req: &HttpRequest, id: impl std::fmt::Display) -> String {
    format!("{}/{}", req.path().trim_end_matches('/'), id)
}
