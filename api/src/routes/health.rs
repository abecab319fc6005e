//! `/health/*` and `/metrics`, served by API replicas and ingest workers alike.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub async fn metrics(observability: web::Data<Observability>) -> Result<HttpResponse, ApiError> {
    let text = observability
        .metrics
        .render(&(observability.gauges)())
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
