use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{get, web, HttpResponse};
use domain::ports::HealthCheck;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::startup::{AppState, READY_TIMEOUT};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live).service(ready).service(metrics);
}

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok`, `ready` or `unavailable`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency and whether it answered (`ok` or `down`).
    #[schema(example = json!({"catalog": "ok", "shard-0": "ok"}))]
    pub checks: BTreeMap<String, &'static str>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthStatus)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok",
        checks: BTreeMap::new(),
    })
}

/// Readiness: every configured dependency answers. 503 when one does not.
#[utoipa::path(tag = "operations", responses(
    (status = 200, body = HealthStatus),
    (status = 503, body = HealthStatus, description = "a dependency is down"),
))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    readiness(&state.health).await
}

/// Runs every check (each within `READY_TIMEOUT`): `200` when all answer, else `503`, with
/// each dependency marked `ok` or `down`. Shared by `serve` and `ingest`.
pub async fn readiness(health: &[Arc<dyn HealthCheck>]) -> HttpResponse {
    let mut checks = BTreeMap::new();
    for check in health {
        match tokio::time::timeout(READY_TIMEOUT, check.check()).await {
            Ok(results) => {
                for (name, error) in results {
                    if let Some(error) = &error {
                        tracing::warn!(dependency = %name, %error, "readiness check failed");
                    }
                    checks.insert(name, if error.is_none() { "ok" } else { "down" });
                }
            }
            Err(_) => {
                tracing::warn!("readiness check timed out");
                checks.insert("storage".to_owned(), "down");
            }
        }
    }
    let all_ok = checks.values().all(|v| *v == "ok");
    let body = HealthStatus {
        status: if all_ok { "ready" } else { "unavailable" },
        checks,
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
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render(
            &state.store.pool_stats(),
            crate::metrics::Snapshot {
                queued_points: state.pipeline.queued_points(),
                queue_capacity: state.pipeline.bus.capacity(),
                live_subscribers: state.pipeline.live.subscribers(),
                kafka_in_flight: state.kafka.as_ref().map_or(0, |k| k.in_flight()),
            },
        )
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
