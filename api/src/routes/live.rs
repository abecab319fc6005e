//! `GET /live`: a Server-Sent Events stream of position updates for the caller's
//! organisation.
//!
//! Events: `ready` once subscribed; `positions` with the newest point of each drone that
//! moved since the last event, at most `max_hz` times a second (updates are coalesced per
//! drone, the newest wins); a `: heartbeat` comment every 15 s; `logout` when the caller's
//! session ends (then the stream closes); `error` with `slow_consumer` when the client
//! fell more than `live.buffer_batches` behind (then the stream closes — slow
//! clients are dropped, their backlog is not kept).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use domain::telemetry::{BBox, TelemetryPoint};
use domain::user::Role;
use domain::{DroneId, OrgId, SessionId};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa::IntoParams;

use super::fleet::parse_bbox;
use crate::auth::{authenticate, bearer};
use crate::dto::{PointDto, Problem};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::services::AuthService;
use crate::state::{Limits, Telemetry};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live);
}

const HEARTBEAT: Duration = Duration::from_secs(15);
const SESSION_CHECK: Duration = Duration::from_secs(1);
const DEFAULT_HZ: f64 = 2.0;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// Only these drones (comma-separated ids).
    pub drone_ids: Option<String>,
    /// Only drones inside `minLon,minLat,maxLon,maxLat`.
    pub bbox: Option<String>,
    /// Most `positions` events per second (default 2, at most `live.max_hz`).
    pub max_hz: Option<f64>,
    /// The access token, for clients that cannot send headers (browsers' `EventSource`).
    pub access_token: Option<String>,
}

struct Filter {
    org: OrgId,
    drones: Option<HashSet<DroneId>>,
    bbox: Option<BBox>,
}

impl Filter {
    fn wants(&self, p: &TelemetryPoint) -> bool {
        p.org_id == self.org
            && self.drones.as_ref().is_none_or(|d| d.contains(&p.drone_id))
            && self.bbox.is_none_or(|b| b.contains(p.lat, p.lon))
    }
}

struct Live {
    rx: broadcast::Receiver<Arc<[TelemetryPoint]>>,
    filter: Filter,
    pending: HashMap<DroneId, TelemetryPoint>,
    tick: tokio::time::Interval,
    heartbeat: tokio::time::Interval,
    session_check: tokio::time::Interval,
    auth: web::Data<AuthService>,
    session: SessionId,
    metrics: Metrics,
    greeted: bool,
    done: bool,
}

fn event(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The next bytes of the stream; `None` ends it.
async fn next_event(mut l: Live) -> Option<(Result<Bytes, actix_web::Error>, Live)> {
    if l.done {
        return None;
    }
    if !l.greeted {
        l.greeted = true;
        return Some((
            Ok(event("ready", &serde_json::json!({"status": "subscribed"}))),
            l,
        ));
    }
    loop {
        tokio::select! {
            _ = l.session_check.tick() => {
                if !l.auth.session_alive(l.session).await {
                    l.done = true;
                    return Some((Ok(event("logout", &serde_json::json!({"reason": "session ended"}))), l));
                }
            }
            _ = l.tick.tick() => {
                if l.pending.is_empty() {
                    continue;
                }
                let now = Utc::now();
                let mut points: Vec<TelemetryPoint> = l.pending.drain().map(|(_, p)| p).collect();
                points.sort_by_key(|p| p.drone_id);
                for p in &points {
                    let lag = (now - p.ts).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
                    l.metrics.live_latency.observe(lag);
                }
                let positions: Vec<PointDto> = points.into_iter().map(Into::into).collect();
                return Some((Ok(event("positions", &serde_json::json!({"positions": positions}))), l));
            }
            _ = l.heartbeat.tick() => {
                return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), l));
            }
            received = l.rx.recv() => match received {
                Ok(batch) => {
                    for p in batch.iter().filter(|p| l.filter.wants(p)) {
                        let newer = l.pending.get(&p.drone_id).is_none_or(|q| q.ts <= p.ts);
                        if newer {
                            l.pending.insert(p.drone_id, *p);
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "dropping a live client that fell behind");
                    l.done = true;
                    return Some((Ok(event("error", &serde_json::json!({"code": "slow_consumer", "message": "the client fell behind and was disconnected; reconnect"}))), l));
                }
                Err(RecvError::Closed) => return None,
            },
        }
    }
}

fn interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// Live position updates of the caller's organisation as Server-Sent Events (see the
/// module docs for the events). Authenticate with `Authorization: Bearer …` or, from a
/// browser's `EventSource`, with `?access_token=…`.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), params(LiveQuery), responses(
    (status = 200, description = "an event stream", content_type = "text/event-stream", body = String),
    (status = 400, body = Problem, content_type = "application/problem+json"),
))]
#[get("/live")]
pub async fn live(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    telemetry: web::Data<Telemetry>,
    limits: web::Data<Limits>,
    metrics: web::Data<Metrics>,
    query: web::Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let credential = bearer(&req)?
        .map(str::to_owned)
        .or_else(|| query.access_token.clone());
    let principal = authenticate(&req, credential).await?;
    let user = principal.require(Role::Viewer)?.clone();
    let drones = query
        .drone_ids
        .as_deref()
        .map(|raw| {
            raw.split(',')
                .map(|id| id.trim().parse::<DroneId>())
                .collect::<Result<HashSet<_>, _>>()
                .map_err(|_| ApiError::invalid_query("drone_ids must be comma-separated drone ids"))
        })
        .transpose()?;
    let bbox = parse_bbox(query.bbox.as_deref())?;
    let hz = query.max_hz.unwrap_or(DEFAULT_HZ);
    if !(hz.is_finite() && hz > 0.0 && hz <= limits.live_max_hz) {
        return Err(ApiError::invalid_query(format!(
            "max_hz must be greater than 0 and at most {}",
            limits.live_max_hz
        )));
    }
    let live = Live {
        rx: telemetry.live.subscribe(),
        filter: Filter {
            org: user.org_id,
            drones,
            bbox,
        },
        pending: HashMap::new(),
        tick: interval(Duration::from_secs_f64(1.0 / hz)),
        heartbeat: interval(HEARTBEAT),
        session_check: interval(SESSION_CHECK),
        auth,
        session: user.session_id,
        metrics: metrics.get_ref().clone(),
        greeted: false,
        done: false,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(futures::stream::unfold(live, next_event)))
}
