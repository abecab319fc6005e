use actix_web::{get, web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use domain::telemetry::{Interval, TimeRange};
use domain::user::Role;
use domain::{DroneId, OrgId};
use infra::pipeline::DirectoryEntry;
use uuid::Uuid;

use super::dto::{HistoryQuery, HistoryResponse, PointDto};
use crate::auth::Principal;
use crate::cache::{Cached, ResponseCache};
use crate::error::{ApiError, Problem};
use crate::startup::AppState;

/// The organisation and drone of a telemetry read, after checking the caller may read it:
/// any user of the organisation, or the drone's own API key. Unknown → 404.
pub(super) async fn readable_drone(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(OrgId, DroneId), ApiError> {
    let drone = DroneId::from_uuid(id);
    if let Principal::User(_) = principal {
        principal.require(Role::Viewer)?;
    }
    if !principal.may_read_drone(drone) {
        return Err(ApiError::NotFound("drone"));
    }
    let org = principal.org_id();
    match state.directory.lookup(org, drone).await? {
        DirectoryEntry::Known(_) => Ok((org, drone)),
        DirectoryEntry::Unknown => Err(ApiError::NotFound("drone")),
    }
}

/// `[from, to)` with defaults: `to` = now, `from` = `to - default_span`.
pub(super) fn time_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_span: Duration,
) -> Result<TimeRange, ApiError> {
    let to = to.unwrap_or_else(|| Utc::now() + Duration::seconds(60));
    let from = from.unwrap_or(to - default_span);
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`from` must be before `to`",
        ));
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
        .ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor is not one this API issued"))
}

const MAX_BUCKETS: i64 = 10_000;

/// The drone's latest reported state.
#[utoipa::path(context_path = "/api/v1", tag = "telemetry", security(("bearer" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "drone id")), responses(
    (status = 200, body = PointDto),
    (status = 404, description = "unknown drone, or no telemetry yet", body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}/telemetry/latest")]
pub async fn latest_telemetry(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, drone) = readable_drone(&state, &principal, *id).await?;
    let key = ResponseCache::latest_key(org, drone);
    let body = match state.cache.get(Cached::LatestTelemetry, &key).await {
        Some(hit) => hit.body,
        None => {
            let point = state
                .telemetry
                .latest(org, drone)
                .await?
                .ok_or(ApiError::NotFound("telemetry of this drone"))?;
            let body = serde_json::to_vec(&PointDto::from(point)).map_err(ApiError::internal)?;
            state
                .cache
                .put(Cached::LatestTelemetry, &key, None, body.clone())
                .await;
            body
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// The drone's history in `[from, to)`: raw points newest first (cursor-paginated), or with
/// `interval` the per-bucket avg/min/max of altitude, speed, battery and heading and the
/// last position of each bucket, oldest first.
#[utoipa::path(context_path = "/api/v1", tag = "telemetry", security(("bearer" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "drone id"), HistoryQuery), responses(
    (status = 200, body = HistoryResponse),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}/telemetry")]
pub async fn telemetry_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (org, drone) = readable_drone(&state, &principal, *id).await?;
    let range = time_range(query.from, query.to, Duration::hours(1))?;
    if let Some(raw) = &query.interval {
        let interval = Interval::parse(raw).map_err(|e| {
            ApiError::bad_request("invalid_query", format!("interval {}", e.message))
        })?;
        if (range.to - range.from).num_seconds() / interval.seconds() > MAX_BUCKETS {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("the range holds more than {MAX_BUCKETS} buckets of this interval; widen the interval"),
            ));
        }
        let buckets = state
            .telemetry
            .downsample(org, drone, range, interval)
            .await?;
        return Ok(HttpResponse::Ok().json(HistoryResponse {
            from: range.from,
            to: range.to,
            interval_s: Some(interval.seconds()),
            items: Vec::new(),
            buckets: buckets.into_iter().map(Into::into).collect(),
            next_cursor: None,
        }));
    }
    let limit = query.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 5000",
        ));
    }
    let before = query.cursor.as_deref().map(decode_ts).transpose()?;
    let mut points = state
        .telemetry
        .history(org, drone, range, before, limit + 1)
        .await?;
    let more = points.len() > limit as usize;
    points.truncate(limit as usize);
    let next_cursor = if more {
        points.last().map(|p| encode_ts(p.ts))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(HistoryResponse {
        from: range.from,
        to: range.to,
        interval_s: None,
        items: points.into_iter().map(Into::into).collect(),
        buckets: Vec::new(),
        next_cursor,
    }))
}
