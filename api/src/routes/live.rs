//! `GET /live`: a Server-Sent Events stream of position updates for the caller's
//! organisation.
//!
//! Events: `ready` once subscribed; `positions` with the newest point of each drone that
//! moved since the last event, at most `max_hz` times a second (updates are coalesced per
//! drone, the newest wins); a `: heartbeat` comment every 15 s; `logout` when the caller's
//! session ends (then the stream closes); `error` with `slow_consumer` when the client
//! fell more than `live.buffer_batches` behind (then the stream closes — slow
//! clients are dropped, their backlog is not kept).
//!
//! Each stream runs as a task of its own that checks the session every second whether or
//! not the client reads, so a revoked session stops the stream even when nobody is
//! reading it. Browsers, whose `EventSource` cannot send headers, authenticate with a
//! single-use ticket from `POST /live/tickets` (`?ticket=`), never with the access token
//! in the URL. Streams are bounded per user and per organisation (`live.max_streams_*`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use domain::telemetry::{BBox, TelemetryPoint};
use domain::user::Role;
use domain::{DroneId, OrgId, SessionId};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::fleet::parse_bbox;
use crate::auth::{admit, authenticate, bearer, Principal};
use crate::dto::{LiveEvent, LiveTicket, PointDto, Problem};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::services::AuthService;
use crate::state::{Limits, Telemetry};
use crate::streams::{StreamRefusal, StreamSlot};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live).service(live_ticket);
}

const HEARTBEAT: Duration = Duration::from_secs(15);
const SESSION_CHECK: Duration = Duration::from_secs(1);
const DEFAULT_HZ: f64 = 2.0;
/// The slowest update rate a client may ask for (one `positions` event every 10 s).
const MIN_HZ: f64 = 0.1;
/// Events a stream's task may have ready before the client takes them; beyond it the
/// task keeps coalescing positions instead of queueing more.
const READY_EVENTS: usize = 4;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// Only these drones (comma-separated ids).
    pub drone_ids: Option<String>,
    /// Only drones inside `minLon,minLat,maxLon,maxLat`.
    pub bbox: Option<String>,
    /// Most `positions` events per second (default 2; 0.1 to `live.max_hz`).
    #[param(minimum = 0.1, maximum = 100.0)]
    pub max_hz: Option<f64>,
    /// A ticket from `POST /live/tickets`, for clients that cannot send headers (browsers'
    /// `EventSource`); single use, valid 60 s.
    pub ticket: Option<String>,
    /// No longer accepted (a token in a URL ends up in logs and histories): use `ticket`.
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
    /// Where the events go; the response streams from its other end.
    out: mpsc::Sender<Bytes>,
    /// Given back when the stream ends.
    _slot: StreamSlot,
}

fn event(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// A `positions` event, serialised straight from the points: the largest and most frequent
/// event, so no intermediate `serde_json::Value` tree is built for it.
fn positions_event(positions: &[PointDto]) -> Bytes {
    #[derive(serde::Serialize)]
    struct Positions<'a> {
        positions: &'a [PointDto],
    }
    let mut out = Vec::with_capacity(32 + positions.len() * 160);
    out.extend_from_slice(b"event: positions\ndata: ");
    // Serialising plain data into memory cannot fail.
    let _ = serde_json::to_writer(&mut out, &Positions { positions });
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

impl Live {
    /// Runs the stream until the session ends, the client goes away or falls behind.
    async fn run(mut self) {
        if self
            .out
            .send(event("ready", &serde_json::json!({"status": "subscribed"})))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                _ = self.session_check.tick() => {
                    if !self.auth.session_alive(self.session).await {
                        // Best effort: a client that reads nothing will not see it, but
                        // gets nothing more either.
                        let _ = self.out.try_send(event("logout", &serde_json::json!({"reason": "session ended"})));
                        return;
                    }
                }
                _ = self.tick.tick() => {
                    if self.pending.is_empty() {
                        continue;
                    }
                    let out = self.out.clone();
                    let permit = match out.try_reserve() {
                        Ok(permit) => permit,
                        // The client is not reading: keep coalescing.
                        Err(mpsc::error::TrySendError::Full(())) => continue,
                        Err(mpsc::error::TrySendError::Closed(())) => return,
                    };
                    permit.send(self.positions());
                }
                _ = self.heartbeat.tick() => {
                    if matches!(self.out.try_send(Bytes::from_static(b": heartbeat\n\n")), Err(mpsc::error::TrySendError::Closed(_))) {
                        return;
                    }
                }
                () = self.out.closed() => return,
                received = self.rx.recv() => match received {
                    Ok(batch) => {
                        for p in batch.iter().filter(|p| self.filter.wants(p)) {
                            let newer = self.pending.get(&p.drone_id).is_none_or(|q| q.ts <= p.ts);
                            if newer {
                                self.pending.insert(p.drone_id, *p);
                            }
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "dropping a live client that fell behind");
                        let _ = self.out.try_send(event("error", &serde_json::json!({"code": "slow_consumer", "message": "the client fell behind and was disconnected; reconnect"})));
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    /// The pending positions as one event, newest per drone, in drone order.
    fn positions(&mut self) -> Bytes {
        let now = Utc::now();
        let mut points: Vec<TelemetryPoint> = self.pending.drain().map(|(_, p)| p).collect();
        points.sort_by_key(|p| p.drone_id);
        for p in &points {
            let lag = (now - p.ts).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
            self.metrics.live_latency.observe(lag);
        }
        let positions: Vec<PointDto> = points.into_iter().map(Into::into).collect();
        positions_event(&positions)
    }
}

fn interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// A single-use ticket for one live stream, valid 60 s, bound to the caller's session:
/// browsers pass it to `EventSource` as `GET /live?ticket=…` (they cannot send headers,
/// and an access token in a URL ends up in logs and histories).
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), responses(
    (status = 201, body = LiveTicket),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "a drone's API key", body = Problem, content_type = "application/problem+json"),
))]
#[post("/live/tickets")]
pub async fn live_ticket(
    auth: web::Data<AuthService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let ticket = auth.live_ticket(principal.require(Role::Viewer)?)?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(LiveTicket {
            ticket: ticket.access_token,
            expires_in: ticket.expires_in_s,
        }))
}

/// Live position updates of the caller's organisation as Server-Sent Events (see the
/// module docs for the events). Authenticate with `Authorization: Bearer …` or, from a
/// browser's `EventSource`, with `?ticket=` from `POST /live/tickets`.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), params(LiveQuery), responses(
    (status = 200, description = "an event stream: `ready`, then `positions` (data: `{\"positions\": [Point…]}`), `: heartbeat` comments, and a last `logout` or `error` (`slow_consumer`)", content_type = "text/event-stream", body = LiveEvent),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "too many open streams for this user or organisation", body = Problem, content_type = "application/problem+json"),
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
    let principal = match (&query.ticket, bearer(&req)?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Unauthorized(
                "send one credential: a ticket or a header, not both",
            ))
        }
        (Some(ticket), None) => {
            let principal = auth
                .redeem_ticket(ticket, limits.idempotency.as_ref())
                .await?;
            admit(&req, principal).await?
        }
        (None, Some(credential)) => authenticate(&req, Some(credential.to_owned())).await?,
        (None, None) if query.access_token.is_some() => return Err(ApiError::Unauthorized(
            "access_token is not accepted in the URL: POST /api/v1/live/tickets and pass ?ticket=",
        )),
        (None, None) => authenticate(&req, None).await?,
    };
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
    if !(hz.is_finite() && (MIN_HZ..=limits.live_max_hz).contains(&hz)) {
        return Err(ApiError::invalid_query(format!(
            "max_hz must be between {MIN_HZ} and {}",
            limits.live_max_hz
        )));
    }
    let slot = limits
        .live_streams
        .open(format!("session:{}", user.session_id), user.org_id)
        .map_err(|refusal| {
            let why = match refusal {
                StreamRefusal::Principal(n) => {
                    format!("at most {n} live streams per user are open at once")
                }
                StreamRefusal::Organisation(n) => {
                    format!("at most {n} live streams per organisation are open at once")
                }
            };
            ApiError::TooMany {
                code: crate::error::Code::TooManyStreams,
                detail: why,
                retry_after_s: 5,
            }
        })?;
    let (out, events) = mpsc::channel(READY_EVENTS);
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
        out,
        _slot: slot,
    };
    actix_web::rt::spawn(live.run());
    let stream = futures::stream::unfold(events, |mut events| async move {
        let next = events.recv().await?;
        Some((Ok::<_, actix_web::Error>(next), events))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream))
}
