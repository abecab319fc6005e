//! `GET /live`: a Server-Sent Events stream of position updates for the caller's
//! organisation.
//!
//! Events: `ready` once subscribed; `positions` with the newest point of each drone that
//! moved since the last event, at most `max_hz` times a second (updates are coalesced per
//! drone, the newest wins; a point that arrived more than `monitoring.stale_after_s` after
//! its timestamp carries `"late": true`); `alert` when an alert of the organisation is
//! raised, updated, acknowledged or resolved (`alerts=false` leaves them out,
//! `min_severity` filters them); a `: heartbeat` comment every 15 s; `logout` when the
//! caller's session ends (then the stream closes); `error` with `slow_consumer` when the
//! client fell more than `live.buffer_batches` behind (then the stream closes — slow
//! clients are dropped, their backlog is not kept). When the server stops (after its drain
//! on SIGTERM) the stream ends with a `: the server is stopping; reconnect` comment, so that
//! the client reconnects to another replica and the stop is not held up.
//!
//! Every event carries an `id:`: the id of the last alert event the stream sent (`0`
//! before the first). A client that reconnects with `Last-Event-ID` (browsers' `EventSource`
//! does it by itself) is first sent the alert events it missed, as far back as
//! `live.replay_window_s`; positions need no replay, the next one supersedes them.
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
use domain::monitoring::{AlertNotice, Severity};
use domain::telemetry::{BBox, TelemetryPoint};
use domain::user::Role;
use domain::{DroneId, OrgId, SessionId};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::fleet::parse_bbox;
use crate::auth::{admit, authenticate, bearer, Principal};
use crate::dto::{AlertEventDto, LiveEvent, LiveTicket, PointDto, Problem};
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
/// Alert events a stream holds for a client that is not reading; beyond it the client is
/// dropped as a slow consumer (alerts are not coalesced). A fleet-wide event (a fence over
/// thousands of drones, a whole fleet taking off) changes thousands of alerts at once, and
/// a client that reads is never dropped for that: holding them costs a pointer each.
const HELD_ALERTS: usize = 20_000;

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
    /// Whether `alert` events are sent (default true).
    pub alerts: Option<bool>,
    /// The id of the last event received, as the `Last-Event-ID` header carries it: for
    /// clients that open a new stream (a new ticket) rather than letting `EventSource`
    /// reconnect. The header wins when both are sent.
    pub last_event_id: Option<String>,
    /// Only alert events of this severity or a higher one (default `info`: all).
    #[param(schema_with = crate::dto::enums::severity)]
    pub min_severity: Option<Severity>,
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
    /// `None` when the client asked for no alerts.
    alerts: Option<broadcast::Receiver<Arc<AlertNotice>>>,
    min_severity: Severity,
    /// Missed alert events to send first (a reconnect with `Last-Event-ID`), then alert
    /// events the client has not taken yet.
    held: std::collections::VecDeque<Arc<AlertNotice>>,
    /// Ids of the replayed events, not to be sent twice when they also arrive live.
    replayed: HashSet<uuid::Uuid>,
    /// The id of the last alert event sent: every event carries it.
    last_id: String,
    stale_after: chrono::Duration,
    filter: Filter,
    pending: HashMap<DroneId, TelemetryPoint>,
    tick: tokio::time::Interval,
    heartbeat: tokio::time::Interval,
    session_check: tokio::time::Interval,
    /// True once the server stops: the stream ends, and the client reconnects elsewhere.
    stopping: tokio::sync::watch::Receiver<bool>,
    auth: web::Data<AuthService>,
    session: SessionId,
    metrics: Metrics,
    /// Where the events go; the response streams from its other end.
    out: mpsc::Sender<Bytes>,
    /// Given back when the stream ends.
    _slot: StreamSlot,
}

fn event(id: &str, name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: {name}\ndata: {data}\n\n"))
}

/// A point as `/live` sends it: flagged when it arrived late.
#[derive(serde::Serialize)]
struct LivePoint {
    #[serde(flatten)]
    point: PointDto,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    late: bool,
}

/// A `positions` event, serialised straight from the points: the largest and most frequent
/// event, so no intermediate `serde_json::Value` tree is built for it.
fn positions_event(id: &str, positions: &[LivePoint]) -> Bytes {
    #[derive(serde::Serialize)]
    struct Positions<'a> {
        positions: &'a [LivePoint],
    }
    let mut out = Vec::with_capacity(48 + positions.len() * 160);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\nevent: positions\ndata: ");
    // Serialising plain data into memory cannot fail.
    let _ = serde_json::to_writer(&mut out, &Positions { positions });
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// An `alert` event; its id is the alert change's.
fn alert_event(notice: &AlertNotice) -> Bytes {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(notice.event_id.to_string().as_bytes());
    out.extend_from_slice(b"\nevent: alert\ndata: ");
    let _ = serde_json::to_writer(&mut out, &AlertEventDto::from(notice));
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

impl Live {
    /// Runs the stream until the session ends, the client goes away or falls behind.
    async fn run(mut self) {
        if self
            .out
            .send(event(
                &self.last_id,
                "ready",
                &serde_json::json!({"status": "subscribed"}),
            ))
            .await
            .is_err()
        {
            return;
        }
        loop {
            if !self.flush_alerts() {
                return;
            }
            // Room for the next held alert event wakes the stream at once, rather than
            // waiting for the next tick (at 2 Hz a burst would drain a few events a second).
            let out = self.out.clone();
            tokio::select! {
                permit = out.reserve(), if !self.held.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(notice) = self.held.pop_front() {
                            self.last_id = notice.event_id.to_string();
                            permit.send(alert_event(&notice));
                        }
                    }
                    Err(_) => return,
                },
                _ = self.session_check.tick() => {
                    if !self.auth.session_alive(self.session).await {
                        // Best effort: a client that reads nothing will not see it, but
                        // gets nothing more either.
                        let _ = self.out.try_send(event(&self.last_id, "logout", &serde_json::json!({"reason": "session ended"})));
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
                true = async { self.stopping.wait_for(|stopping| *stopping).await.is_ok() } => {
                    let _ = self.out.try_send(Bytes::from_static(b": the server is stopping; reconnect\n\n"));
                    return;
                }
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
                        self.slow_consumer();
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                received = next_alert(&mut self.alerts) => match received {
                    Ok(notice) => {
                        let wanted = notice.alert.org_id == self.filter.org
                            && notice.alert.severity >= self.min_severity
                            && self.filter.drones.as_ref().is_none_or(|d| d.contains(&notice.alert.drone_id))
                            && !self.replayed.remove(&notice.event_id);
                        if wanted {
                            if self.held.len() >= HELD_ALERTS {
                                self.slow_consumer();
                                return;
                            }
                            self.held.push_back(notice);
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "dropping a live client that fell behind on alerts");
                        self.slow_consumer();
                        return;
                    }
                    Err(RecvError::Closed) => self.alerts = None,
                },
            }
        }
    }

    fn slow_consumer(&self) {
        let _ = self.out.try_send(event(&self.last_id, "error", &serde_json::json!({"code": "slow_consumer", "message": "the client fell behind and was disconnected; reconnect"})));
    }

    /// Hands held alert events to the client while it takes them; false when it is gone.
    fn flush_alerts(&mut self) -> bool {
        while let Some(notice) = self.held.front() {
            match self.out.try_reserve() {
                Ok(permit) => {
                    permit.send(alert_event(notice));
                    self.last_id = notice.event_id.to_string();
                    self.held.pop_front();
                }
                Err(mpsc::error::TrySendError::Full(())) => return true,
                Err(mpsc::error::TrySendError::Closed(())) => return false,
            }
        }
        true
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
        let positions: Vec<LivePoint> = points
            .into_iter()
            .map(|p| LivePoint {
                late: now - p.ts > self.stale_after,
                point: p.into(),
            })
            .collect();
        positions_event(&self.last_id, &positions)
    }
}

/// The next alert change, or never when the stream takes none.
async fn next_alert(
    rx: &mut Option<broadcast::Receiver<Arc<AlertNotice>>>,
) -> Result<Arc<AlertNotice>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The `Last-Event-ID` a reconnecting client sent (the header, else `?last_event_id=`),
/// when it is an alert event's id.
fn last_event_id(req: &HttpRequest, query: &LiveQuery) -> Option<uuid::Uuid> {
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    header
        .or(query.last_event_id.as_deref())?
        .trim()
        .parse()
        .ok()
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

/// Live position updates and alert changes of the caller's organisation as Server-Sent
/// Events; a reconnect with `Last-Event-ID` first receives the alert events it missed
/// (within `live.replay_window_s`). Authenticate with `Authorization: Bearer …` or, from a
/// browser's `EventSource`, with `?ticket=` from `POST /live/tickets`.
#[utoipa::path(context_path = "/api/v1", tag = "fleet", security(("bearer" = [])), params(LiveQuery), responses(
    (status = 200, description = "an event stream: `ready`, then `positions` (data: `{\"positions\": [Point…]}`, a point that arrived late has `\"late\": true`), `alert` (data: `{\"change\": \"raised\"|\"updated\"|\"acknowledged\"|\"resolved\", \"alert\": Alert}`), `: heartbeat` comments, and a last `logout` or `error` (`slow_consumer`); every event has an `id:`, and a reconnect with `Last-Event-ID` first receives the alert events missed", content_type = "text/event-stream", body = LiveEvent),
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
    observability: web::Data<crate::state::Observability>,
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
    let want_alerts = query.alerts.unwrap_or(true);
    let min_severity = query.min_severity.unwrap_or(Severity::Info);
    // Subscribed before the replay is read, so that nothing falls between the two.
    let alerts = want_alerts.then(|| telemetry.live.subscribe_alerts());
    let last = last_event_id(&req, &query);
    let held: std::collections::VecDeque<Arc<AlertNotice>> = match last {
        Some(last) if want_alerts => telemetry
            .live
            .alerts_after(user.org_id, last)
            .into_iter()
            .filter(|n| n.alert.severity >= min_severity)
            .filter(|n| {
                drones
                    .as_ref()
                    .is_none_or(|d| d.contains(&n.alert.drone_id))
            })
            .collect(),
        _ => Default::default(),
    };
    let live = Live {
        rx: telemetry.live.subscribe(),
        alerts,
        min_severity,
        replayed: held.iter().map(|n| n.event_id).collect(),
        held,
        last_id: last.map_or_else(|| "0".to_owned(), |id| id.to_string()),
        stale_after: chrono::Duration::milliseconds(
            (limits.monitor_rules.stale_after_s * 1e3) as i64,
        ),
        filter: Filter {
            org: user.org_id,
            drones,
            bbox,
        },
        pending: HashMap::new(),
        tick: interval(Duration::from_secs_f64(1.0 / hz)),
        heartbeat: interval(HEARTBEAT),
        session_check: interval(SESSION_CHECK),
        stopping: observability.stopping.subscribe(),
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
