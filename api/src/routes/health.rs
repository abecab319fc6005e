//! `/health/*` and `/metrics`, served by API replicas and ingest workers alike.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::Problem;
use crate::error::ApiError;
use crate::state::{Observability, Readiness};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live).service(ready).service(metrics);
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` (liveness), `ready`, `degraded` or `unavailable`.
    #[schema(example = "ready")]
    pub status: String,
    /// Each dependency and whether it answered (`ok` or `down`).
    #[schema(example = json!({"catalog": "ok", "shard-0": "ok"}))]
    pub checks: BTreeMap<String, String>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthStatus)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok".to_owned(),
        checks: BTreeMap::new(),
    })
}

/// Readiness, with each dependency (catalog, every shard, Redis and the brokers where
/// configured) marked `ok` or `down`: `200 ready` when all answer; `200 degraded` when a
/// shard, Redis or the brokers do not (the process still serves everything that does not
/// need them, so it stays in the load balancer); `503 unavailable` when the catalog does
/// not, or the process is shutting down.
#[utoipa::path(tag = "operations", responses(
    (status = 200, body = HealthStatus, description = "ready, or degraded (a non-critical dependency is down)"),
    (status = 503, body = HealthStatus, description = "the catalog is down, or the process is stopping"),
))]
#[get("/health/ready")]
pub async fn ready(observability: web::Data<Observability>) -> HttpResponse {
    let checks = observability.check().await;
    let readiness = observability.readiness(&checks);
    let body = HealthStatus {
        status: match readiness {
            Readiness::Ready => "ready",
            Readiness::Degraded => "degraded",
            Readiness::Unavailable => "unavailable",
        }
        .to_owned(),
        checks: checks
            .into_iter()
            .map(|(name, up)| (name, if up { "ok" } else { "down" }.to_owned()))
            .collect(),
    };
    match readiness {
        Readiness::Unavailable => HttpResponse::ServiceUnavailable().json(body),
        Readiness::Ready | Readiness::Degraded => HttpResponse::Ok().json(body),
    }
}

/// Prometheus metrics in the text exposition format. With `server.metrics_token` set, only
/// `Authorization: Bearer <that token>` is answered (the metrics name organisations' plans
/// and the routes' traffic).
#[utoipa::path(tag = "operations", responses(
    (status = 200, content_type = "text/plain", body = String),
    (status = 401, description = "`server.metrics_token` is set and this is not it", body = Problem, content_type = "application/problem+json"),
))]
#[get("/metrics")]
pub async fn metrics(
    req: actix_web::HttpRequest,
    observability: web::Data<Observability>,
) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &observability.metrics_token {
        use secrecy::ExposeSecret;
        let sent = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !infra::secrets::digest_matches_plain(sent, expected.expose_secret()) {
            return Err(ApiError::Unauthorized(
                "/metrics needs the bearer token of server.metrics_token",
            ));
        }
    }
    let text = observability
        .metrics
        .render(&(observability.gauges)())
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
