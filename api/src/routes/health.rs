//! `/health/*` and `/metrics`, served by API replicas and ingest workers alike.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::Observability;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live).service(ready).service(metrics);
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `ok`, `ready` or `unavailable`.
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

/// Readiness: every configured dependency answers (each within a couple of seconds): `200`
/// when all do, else `503`, with each dependency marked `ok` or `down`.
#[utoipa::path(tag = "operations", responses(
    (status = 200, body = HealthStatus),
    (status = 503, body = HealthStatus, description = "a dependency is down"),
))]
#[get("/health/ready")]
pub async fn ready(observability: web::Data<Observability>) -> HttpResponse {
    let checks = observability.check().await;
    let all_ok = checks.values().all(|up| *up);
    let body = HealthStatus {
        status: if all_ok { "ready" } else { "unavailable" }.to_owned(),
        checks: checks
            .into_iter()
            .map(|(name, up)| (name, if up { "ok" } else { "down" }.to_owned()))
            .collect(),
    };
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
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
