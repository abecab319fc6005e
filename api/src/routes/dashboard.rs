//! The dashboard: the static files of `frontend/dist` at `/`.
//!
//! Vite names built assets by content hash (`/assets/index-3f9a1c.js`), so they are cached
//! for a year; `index.html` is revalidated on every load so that a new build shows at once.
//! Paths that name no file get `index.html` (the dashboard routes in the browser), except
//! missing assets and paths under `/api/`, `/health/` and `/metrics`, which get the usual
//! problem+json 404.

use std::path::Path;

use actix_files::{Files, NamedFile};
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpResponse, ResponseError};

use crate::error::ApiError;

const HASHED_ASSETS: &str = "/assets/";

pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path) {
    let index = dir.join("index.html");
    if !index.is_file() {
        tracing::info!(dir = %dir.display(), "no dashboard build found; `/` explains how to build it");
        cfg.route("/", web::get().to(not_built))
            .default_service(web::to(super::not_found));
        return;
    }
    let fallback = index.clone();
    cfg.service(
        Files::new("/", dir)
            .index_file("index.html")
            .prefer_utf8(true)
            .default_handler(fn_service(move |req: ServiceRequest| {
                let index = fallback.clone();
                async move {
                    let (req, _) = req.into_parts();
                    if !is_dashboard_route(req.path()) || req.path().starts_with(HASHED_ASSETS) {
                        let response = ApiError::NotFound("route").error_response();
                        return Ok(ServiceResponse::new(req, response));
                    }
                    let file = NamedFile::open_async(&index).await?;
                    let response = file.into_response(&req);
                    Ok(ServiceResponse::new(req, response))
                }
            })),
    );
}

/// Long-lived caching for hashed assets, revalidation for everything else the dashboard
/// serves. Wraps the whole app, so it leaves API responses alone.
pub async fn cache_headers(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    // Decided before the call, so that API requests (ingest included) pay no allocation.
    let (dashboard, hashed) = (
        is_dashboard_route(req.path()),
        req.path().starts_with(HASHED_ASSETS),
    );
    let mut response = next.call(req).await?;
    if !dashboard || response.headers().contains_key(header::CACHE_CONTROL) {
        return Ok(response);
    }
    let directives = if hashed && response.status().is_success() {
        vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(31_536_000),
            CacheDirective::Extension("immutable".into(), None),
        ]
    } else {
        vec![CacheDirective::NoCache]
    };
    if let Ok(value) = CacheControl(directives).to_string().parse() {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    Ok(response)
}

/// Paths the dashboard may answer: everything but the API, health, metrics and docs.
fn is_dashboard_route(path: &str) -> bool {
    !["/api/", "/api-docs/", "/health/", "/metrics", "/docs"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        && path != "/api"
}

async fn not_built() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(NOT_BUILT)
}

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NimbusFleet</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1b1f24}
code{background:#eef1f4;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>NimbusFleet</h1>
<p>The API is running, but the dashboard has not been built.</p>
<p>Build it with <code>make run</code> (or <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>),
or point <code>server.dashboard_dir</code> (<code>NIMBUS__SERVER__DASHBOARD_DIR</code>) at a build.</p>
<p>The API reference is at <a href="/docs/">/docs/</a>.</p></body></html>
"#;

#[cfg(test)]
mod tests {
    use super::is_dashboard_route;

    #[test]
    fn api_health_and_docs_paths_are_not_dashboard_routes() {
        for path in [
            "/api/v1/x",
            "/api",
            "/health/live",
            "/metrics",
            "/docs/",
            "/api-docs/openapi.json",
        ] {
            assert!(!is_dashboard_route(path), "{path}");
        }
        for path in ["/", "/drones/1", "/assets/index-abc.js", "/login"] {
            assert!(is_dashboard_route(path), "{path}");
        }
    }
}
