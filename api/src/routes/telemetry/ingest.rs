use actix_web::{post, web, HttpResponse};

use crate::auth::Reporter;
use crate::dto::{IngestRequest, IngestResponse, PointError, Problem};
use crate::error::ApiError;
use crate::extract::ValidJson;
use crate::services::TelemetryService;

/// Accepts a batch of points from a drone's API key (its own drone only) or an operator's
/// or admin's token (any drone of the organisation). Each point is checked on its own:
/// the answer counts accepted and rejected points and says why each rejected one was.
/// Accepted points are queued for a bulk write and reach live streams once stored.
#[utoipa::path(context_path = "/api/v1", tag = "telemetry", security(("bearer" = []), ("api_key" = [])),
    request_body = IngestRequest, responses(
    (status = 202, body = IngestResponse, description = "some or all points accepted"),
    (status = 413, description = "more than 1 MiB or more points than `telemetry.max_batch_points`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "no point was valid; `errors` names index and field of each", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "the queue is full; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
))]
#[post("/telemetry")]
pub async fn ingest_telemetry(
    telemetry: web::Data<TelemetryService>,
    Reporter(principal): Reporter,
    body: ValidJson<IngestRequest>,
) -> Result<HttpResponse, ApiError> {
    let points = body.0.points.into_iter().map(Into::into).collect();
    let outcome = telemetry.ingest(&principal, points).await?;
    Ok(HttpResponse::Accepted().json(IngestResponse {
        accepted: outcome.accepted,
        rejected: outcome.total - outcome.accepted,
        errors: outcome
            .errors
            .into_iter()
            .map(|(index, e)| PointError {
                index,
                field: e.field,
                code: e.code.as_str().to_owned(),
                message: e.message,
            })
            .collect(),
    }))
}
