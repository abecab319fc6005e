//! HTTP routes. Everything under `/api/v1` is JSON and documented in OpenAPI. Handlers
//! parse the request, call one service and map its answer.

pub mod admin;
pub mod alerts;
pub mod api_keys;
pub mod auth;
pub mod dashboard;
pub mod docs;
pub mod drones;
pub mod fleet;
pub mod flight_plans;
pub mod geofences;
pub mod health;
pub mod live;
pub mod organization;
pub mod telemetry;
pub mod users;
pub mod webhooks;

use actix_web::http::header::{self, Header, IfNoneMatch};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::services::{etag, CachedBody};

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
                .configure(geofences::configure)
                .configure(telemetry::configure)
                .configure(fleet::configure)
                .configure(live::configure)
                .configure(alerts::configure)
                .configure(webhooks::configure)
                .configure(admin::configure)
                .default_service(web::to(not_found)),
        );
    dashboard::configure(cfg, dashboard_dir);
}

/// No route matched: `405` with `Allow` when the path is one of the API's with other
/// methods, `404` otherwise.
pub(crate) async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = allowed_methods(req.path());
    if allowed.is_empty() {
        return Err(ApiError::NotFound("route"));
    }
    let mut res = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
        res.headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    Ok(res)
}

/// The methods the OpenAPI document lists for the template `path` matches.
fn allowed_methods(path: &str) -> Vec<&'static str> {
    use std::sync::OnceLock;
    static ROUTES: OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        use utoipa::OpenApi;
        let doc = crate::openapi::ApiDoc::openapi();
        doc.paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
                let segments = template.split('/').map(str::to_owned).collect();
                (segments, methods)
            })
            .collect()
    });
    let parts: Vec<&str> = path.split('/').collect();
    routes
        .iter()
        .find(|(segments, _)| {
            segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| (s.starts_with('{') && !p.is_empty()) || s == p)
        })
        .map(|(_, methods)| methods.clone())
        .unwrap_or_default()
}

/// `304 Not Modified` when `If-None-Match` already names the current version.
pub fn not_modified(req: &HttpRequest, version: Option<i64>) -> Option<HttpResponse> {
    let version = version?;
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Items(tags)) if tags.iter().any(|t| t.weak_eq(&etag(version))) => Some(
            HttpResponse::NotModified()
                .insert_header(header::ETag(etag(version)))
                .finish(),
        ),
        _ => None,
    }
}

/// A `200` with a cached (or just serialised) JSON answer and its `ETag`.
pub fn cached_response(cached: CachedBody) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(version) = cached.version {
        response.insert_header(header::ETag(etag(version)));
    }
    response.content_type("application/json").body(cached.body)
}

/// The request's path, for `Location` headers.
pub fn location(req: &HttpRequest, id: impl std::fmt::Display) -> String {
    format!("{}/{}", req.path().trim_end_matches('/'), id)
}
