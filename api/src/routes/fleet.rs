//! `/fleet`: the organisation's drones at a glance, across all shards, now or at any
//! instant of the stored history.

use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use domain::telemetry::{BBox, Interval};
use domain::user::Role;
use domain::OrgId;

use crate::auth::Principal;
use crate::dto::{
    PositionsQuery, PositionsResponse, Problem, ReplayFrame, ReplayQuery, SummaryResponse,
};
use crate::error::ApiError;
use crate::services::FleetService;

/// How old a drone's last point may be and still place it at an instant, by default.
const DEFAULT_WINDOW_S: i64 = 60;
/// The default time between replay frames, and the widest.
const DEFAULT_STEP_S: i64 = 1;
const MAX_STEP_S: i64 = 3600;
/// Frames one replay request may ask for; a longer replay is several requests.
const MAX_FRAMES: i64 = 3600;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(fleet_positions)
        .service(fleet_replay)
        .service(fleet_summary);
}

/// A `bbox` query parameter, or 400 naming it.
pub(crate) fn parse_bbox(raw: Option<&str>) -> Result<Option<BBox>, ApiError> {
    raw.map(BBox::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_query(format!("bbox {}", e.message)))
}

/// A duration query parameter (`30s`, `5m`, `1h`), its default when absent, or 400 naming it.
fn parse_interval(field: &str, raw: Option<&str>, default_s: i64) -> Result<Interval, ApiError> {
    match raw {
        Some(raw) => Interval::parse_field(field, raw)
            .map_err(|e| ApiError::invalid_query(format!("{field} {}", e.message))),
        None => Interval::from_seconds(default_s)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("default {field} of {default_s} s"))),
    }
}

/// The latest position of every drone of the organisation, or with `at` every drone's
/// position at that instant (its last point at or before it within `window`); optionally
/// within a bounding box.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), params(PositionsQuery), responses(
    (status = 200, body = PositionsResponse),
))]
#[get("/fleet/positions")]
pub async fn fleet_positions(
    fleet: web::Data<FleetService>,
    principal: Principal,
    query: web::Query<PositionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let bbox = parse_bbox(query.bbox.as_deref())?;
    let (points, missing) = match query.at {
        Some(at) => {
            let window = parse_interval("window", query.window.as_deref(), DEFAULT_WINDOW_S)?;
            fleet.positions_at(caller.org_id, at, window, bbox).await?
        }
        None if query.window.is_some() => {
            return Err(ApiError::invalid_query("window needs `at`"));
        }
        None => fleet.positions(caller.org_id, bbox).await?,
    };
    let answer = PositionsResponse {
        at: query.at,
        items: points.into_iter().map(Into::into).collect(),
        incomplete: !missing.is_empty(),
    };
    let body = positions_json(&answer, answer.items.len()).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// A positions answer as JSON, written into a buffer sized for `points` points at once: a
/// whole fleet is megabytes, which a growing buffer would copy a dozen times over.
fn positions_json<T: serde::Serialize>(value: &T, points: usize) -> serde_json::Result<Vec<u8>> {
    /// A point is about 250 bytes of JSON with every field set.
    const POINT_BYTES: usize = 256;
    let mut out = Vec::with_capacity(64 + points * POINT_BYTES);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// Where a replay stream is.
struct Replay {
    fleet: web::Data<FleetService>,
    org: OrgId,
    next: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
    window: Interval,
    bbox: Option<BBox>,
}

/// The next frame as one NDJSON line, computed only when the client has taken the last.
async fn next_frame(mut r: Replay) -> Option<(Result<Bytes, actix_web::Error>, Replay)> {
    if r.next >= r.to {
        return None;
    }
    let at = r.next;
    r.next = at + r.step;
    let frame = match r.fleet.positions_at(r.org, at, r.window, r.bbox).await {
        Ok((points, missing)) => ReplayFrame {
            at,
            items: points.into_iter().map(Into::into).collect(),
            incomplete: !missing.is_empty(),
        },
        Err(error) => {
            // The status line is gone; all we can do is end the stream early, and log.
            tracing::error!(?error, %at, "fleet replay failed mid-stream");
            r.next = r.to;
            return Some((Err(error.into()), r));
        }
    };
    let mut line = match positions_json(&frame, frame.items.len()) {
        Ok(line) => line,
        Err(error) => {
            r.next = r.to;
            return Some((Err(ApiError::internal(error).into()), r));
        }
    };
    line.push(b'\n');
    Some((Ok(Bytes::from(line)), r))
}

/// The fleet replayed over `[from, to)`: one frame per `step` as newline-delimited JSON,
/// each the answer `positions?at=` gives for its instant, streamed as they are read (at
/// most 3600 frames a request).
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), params(ReplayQuery), responses(
    (status = 200, description = "one `ReplayFrame` per line, oldest first", content(
        (ReplayFrame = "application/x-ndjson"),
    )),
))]
#[get("/fleet/replay")]
pub async fn fleet_replay(
    fleet: web::Data<FleetService>,
    principal: Principal,
    query: web::Query<ReplayQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(Role::Viewer)?;
    let bbox = parse_bbox(query.bbox.as_deref())?;
    let window = parse_interval("window", query.window.as_deref(), DEFAULT_WINDOW_S)?;
    let step = parse_interval("step", query.step.as_deref(), DEFAULT_STEP_S)?;
    if step.seconds() > MAX_STEP_S {
        return Err(ApiError::invalid_query(format!(
            "step must be at most {MAX_STEP_S} s (1h)"
        )));
    }
    if query.from >= query.to {
        return Err(ApiError::invalid_query("`from` must be before `to`"));
    }
    let span_s = (query.to - query.from).num_seconds();
    if span_s > MAX_FRAMES * step.seconds() {
        return Err(ApiError::invalid_query(format!(
            "to is {span_s} s after from: at most {MAX_FRAMES} frames of step {} s a request; \
             ask for the rest from where this one ends",
            step.seconds()
        )));
    }
    let replay = Replay {
        fleet,
        org: caller.org_id,
        next: query.from,
        to: query.to,
        step: Duration::seconds(step.seconds()),
        window,
        bbox,
    };
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(futures::stream::unfold(replay, next_frame)))
}

/// Drones by status, drones reporting now, active flights and the recent ingest rate.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), responses(
    (status = 200, body = SummaryResponse),
    (status = 503, body = Problem, content_type = "application/problem+json"),
))]
#[get("/fleet/summary")]
pub async fn fleet_summary(
    fleet: web::Data<FleetService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let org = principal.require(Role::Viewer)?.org_id;
    Ok(HttpResponse::Ok().json(fleet.summary(org).await?))
}
