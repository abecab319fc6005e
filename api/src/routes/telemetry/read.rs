use actix_web::{get, web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use domain::telemetry::{Interval, TimeRange};
use domain::DroneId;
use uuid::Uuid;

use crate::auth::Principal;
use crate::dto::{
    DownsampledHistory, HistoryQuery, HistoryResponse, PointDto, Problem, TelemetryHistory,
};
use crate::error::{ApiError, Code};
use crate::services::{PointPage, TelemetryService};

/// Raw points per page by default, and at most.
const DEFAULT_PAGE_POINTS: u32 = 500;
const MAX_PAGE_POINTS: u32 = 5000;
/// How far past now the default end of a range reaches, for points stamped slightly ahead.
const DEFAULT_END_AHEAD_S: i64 = 60;

/// `[from, to)` with defaults: `to` = now, `from` = `to - default_span`.
pub(super) fn time_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_span: Duration,
) -> Result<TimeRange, ApiError> {
    let to = to.unwrap_or_else(|| Utc::now() + Duration::seconds(DEFAULT_END_AHEAD_S));
    let from = from.unwrap_or(to - default_span);
    if from >= to {
        return Err(ApiError::invalid_query("`from` must be before `to`"));
    }
    Ok(TimeRange { from, to })
}

fn encode_ts(ts: DateTime<Utc>) -> String {
    URL_SAFE_NO_PAD.encode(ts.timestamp_micros().to_be_bytes())
}

fn decode_ts(cursor: &str) -> Result<DateTime<Utc>, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .and_then(|b| DateTime::from_timestamp_micros(i64::from_be_bytes(b)))
        .ok_or_else(|| {
            ApiError::bad_request(Code::InvalidCursor, "cursor is not one this API issued")
        })
}

/// The drone's latest reported state.
#[utoipa::path(context_path = "/api/v1", tag = "telemetry", security(("bearer" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "drone id")), responses(
    (status = 200, body = PointDto),
    (status = 404, description = "unknown drone, or no telemetry yet", body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}/telemetry/latest")]
pub async fn latest_telemetry(
    telemetry: web::Data<TelemetryService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, drone) = telemetry
        .readable_drone(&principal, DroneId::from_uuid(*id))
        .await?;
    let body = telemetry.latest(org, drone).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// The drone's history in `[from, to)`: raw points newest first (cursor-paginated), or with
/// `interval` the per-bucket avg/min/max of altitude, speed, battery and heading and the
/// last position of each bucket, oldest first. The two are different answers
/// (`HistoryResponse` and `DownsampledHistory`).
#[utoipa::path(context_path = "/api/v1", tag = "telemetry", security(("bearer" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "drone id"), HistoryQuery), responses(
    (status = 200, body = TelemetryHistory, description = "raw points without `interval`, buckets with it", headers(
        ("archived-before" = String, description = "When the range reaches into archived days: the instant before which the points were read from the archive (Parquet)"),
    )),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}/telemetry")]
pub async fn telemetry_history(
    telemetry: web::Data<TelemetryService>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (org, drone) = telemetry
        .readable_drone(&principal, DroneId::from_uuid(*id))
        .await?;
    let range = time_range(query.from, query.to, Duration::hours(1))?;
    if let Some(raw) = &query.interval {
        let interval = Interval::parse(raw)
            .map_err(|e| ApiError::invalid_query(format!("interval {}", e.message)))?;
        let buckets = telemetry.downsample(org, drone, range, interval).await?;
        return Ok(
            HttpResponse::Ok().json(TelemetryHistory::Buckets(DownsampledHistory {
                from: range.from,
                to: range.to,
                interval_s: interval.seconds(),
                buckets: buckets.into_iter().map(Into::into).collect(),
            })),
        );
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_POINTS);
    if !(1..=MAX_PAGE_POINTS).contains(&limit) {
        return Err(ApiError::invalid_query(format!(
            "limit must be between 1 and {MAX_PAGE_POINTS}"
        )));
    }
    let before = query.cursor.as_deref().map(decode_ts).transpose()?;
    let page = PointPage::NewestBefore {
        before,
        limit: limit + 1,
    };
    let mut points = telemetry.points(org, drone, range, page).await?;
    let archived = telemetry.archive_header(drone, range).await?;
    let more = points.len() > limit as usize;
    points.truncate(limit as usize);
    let next_cursor = if more {
        points.last().map(|p| encode_ts(p.ts))
    } else {
        None
    };
    let mut answer = HttpResponse::Ok();
    if let Some(header) = archived {
        answer.insert_header(header);
    }
    Ok(answer.json(TelemetryHistory::Points(HistoryResponse {
        from: range.from,
        to: range.to,
        items: points.into_iter().map(Into::into).collect(),
        next_cursor,
    })))
}
