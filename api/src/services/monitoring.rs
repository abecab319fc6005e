//! Conformance monitoring where points are written (DESIGN §8): [`MonitoringPublisher`]
//! sits between a writer (the embedded lanes, or a Kafka ingest worker) and the live
//! fan-out. Every committed batch goes on to the live streams first, then each point is
//! judged by the domain's [`Monitor`] against its organisation's airspace index and the
//! drone's active plan. What opens, changes or closes an alert is handed to a recorder task
//! that stores it on the drone's shard and publishes it to `/live`; a
//! ticker raises `link_lost` when a deadline passes. The writer never waits on the
//! database for alerts, only for room in the recorder's bounded queue.
//!
//! A drone's state is rebuilt from its unresolved alerts and latest point the first time
//! this process sees it (after a start or a Kafka rebalance), and at start every drone that
//! reported in the last minutes gets a link deadline, so one that went silent while no
//! process watched is still declared lost.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::airspace::{AirspaceIndex, PlanVolume};
use domain::flight_plan::FlightPlanState;
use domain::monitoring::{
    AlertEvent, AlertKind, AlertNotice, AlertPoint, Change, Monitor, MonitorRules, NoticeChange,
    Observation, PlanCorridor,
};
use domain::ports::AlertRepository;
use domain::telemetry::TelemetryPoint;
use domain::{DroneId, FlightPlanId, OrgId};
use infra::live::LivePublisher;
use tokio::sync::mpsc;

use super::{lock, AirspaceService, RETRY_MAX, RETRY_MIN};
use crate::metrics::MonitoringMetrics;

/// How often link deadlines are checked: a lost link is declared at most this late.
const TICK: Duration = Duration::from_millis(100);
/// How often `last_seen` of alerts whose condition persists is written.
const TOUCH_EVERY: Duration = Duration::from_secs(5);
/// Batches of alert changes waiting for the recorder; beyond it the writer waits.
const RECORDER_QUEUE: usize = 1024;
/// Drones that reported within this long before a start get a link deadline at start.
const RESTORE_RECENT: chrono::Duration = chrono::Duration::minutes(10);

/// What the monitor needs besides its rules.
pub struct MonitorParts {
    pub rules: MonitorRules,
    pub airspace: AirspaceService,
    pub alerts: Arc<dyn AlertRepository>,
    pub metrics: MonitoringMetrics,
}

struct State {
    monitor: Monitor,
    /// Each monitored drone's organisation and active plan (for link deadlines, which
    /// come without a point).
    drones: HashMap<DroneId, (OrgId, Option<FlightPlanId>)>,
    /// Active plans as the monitor wants them, kept while the index holds the same volume.
    corridors: HashMap<FlightPlanId, (Arc<PlanVolume>, Arc<PlanCorridor>)>,
    /// Newest offending point of each open alert, not yet written as its `last_seen`.
    seen: HashMap<(DroneId, AlertKind), DateTime<Utc>>,
}

struct Shared {
    state: Mutex<State>,
    airspace: AirspaceService,
    alerts: Arc<dyn AlertRepository>,
    metrics: MonitoringMetrics,
    recorder: mpsc::Sender<Vec<Observation>>,
}

/// A [`LivePublisher`] that judges every point it forwards.
pub struct MonitoringPublisher {
    inner: Arc<dyn LivePublisher>,
    shared: Arc<Shared>,
}

impl MonitoringPublisher {
    /// Starts the recorder and the link ticker on the current runtime; they stop when the
    /// publisher is dropped.
    pub fn start(parts: MonitorParts, inner: Arc<dyn LivePublisher>) -> Arc<Self> {
        let (recorder, queue) = mpsc::channel(RECORDER_QUEUE);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                monitor: Monitor::new(parts.rules),
                drones: HashMap::new(),
                corridors: HashMap::new(),
                seen: HashMap::new(),
            }),
            airspace: parts.airspace,
            alerts: parts.alerts,
            metrics: parts.metrics,
            recorder,
        });
        tokio::spawn(record(
            queue,
            shared.alerts.clone(),
            inner.clone(),
            shared.metrics.clone(),
        ));
        tokio::spawn(tick(Arc::downgrade(&shared)));
        tokio::spawn(restore_recent(Arc::downgrade(&shared)));
        Arc::new(Self { inner, shared })
    }

    /// Drones monitored here, and link deadlines pending.
    pub fn monitored(&self) -> (usize, usize) {
        lock(&self.shared.state).monitor.monitored()
    }
}

#[async_trait]
impl LivePublisher for MonitoringPublisher {
    async fn publish(&self, points: Arc<[TelemetryPoint]>) {
        // Live positions first: judging must not delay them.
        self.inner.publish(points.clone()).await;
        let observations = self.shared.judge(&points).await;
        if !observations.is_empty() {
            // Waits only when the recorder is a full queue behind (the database is slow).
            let _ = self.shared.recorder.send(observations).await;
        }
    }

    async fn publish_alerts(&self, notices: &[Arc<AlertNotice>]) {
        self.inner.publish_alerts(notices).await;
    }
}

impl Shared {
    /// Judges a committed batch: what opened, changed or closed.
    async fn judge(&self, points: &[TelemetryPoint]) -> Vec<Observation> {
        self.restore_unknown(points).await;
        let arrived = Utc::now();
        let mut orgs: Vec<OrgId> = points.iter().map(|p| p.org_id).collect();
        orgs.sort_unstable();
        orgs.dedup();
        let mut observations = Vec::new();
        for org in orgs {
            let mine = points.iter().filter(|p| p.org_id == org);
            let judged = self
                .airspace
                .read_index(org, |index| {
                    self.judge_org(org, mine.clone(), index, arrived)
                })
                .await;
            match judged {
                Ok(found) => observations.extend(found),
                Err(error) => {
                    // Judged without fences rather than not at all (battery, link and
                    // plans still count); the index is loaded again at the next batch.
                    tracing::warn!(%org, ?error, "the airspace index could not be loaded for monitoring");
                    let empty = AirspaceIndex::new(Default::default());
                    observations.extend(self.judge_org(org, mine, &empty, arrived));
                }
            }
        }
        self.metrics.points_judged.inc_by(points.len() as u64);
        observations
    }

    fn judge_org<'p>(
        &self,
        org: OrgId,
        points: impl Iterator<Item = &'p TelemetryPoint>,
        index: &AirspaceIndex,
        arrived: DateTime<Utc>,
    ) -> Vec<Observation> {
        let mut observations = Vec::new();
        let mut state = lock(&self.state);
        for point in points {
            let plan = state.corridor(index, point.drone_id);
            let plan_id = plan.as_ref().map(|(id, _)| *id);
            state.drones.insert(point.drone_id, (org, plan_id));
            let judged = state.monitor.observe_at(
                point,
                index,
                plan.as_ref().map(|(_, c)| c.as_ref()),
                arrived,
            );
            if !judged.late {
                for kind in &judged.findings {
                    if state.monitor.is_open(point.drone_id, *kind) {
                        state.seen.insert((point.drone_id, *kind), point.ts);
                    }
                }
            }
            observations.extend(judged.events.into_iter().map(|event| Observation {
                org_id: org,
                flight_plan_id: plan_id,
                point: Some(AlertPoint::from(point)),
                event,
            }));
        }
        observations
    }

    /// Rebuilds the state of drones this process has not seen yet.
    async fn restore_unknown(&self, points: &[TelemetryPoint]) {
        let unknown: Vec<DroneId> = {
            let state = lock(&self.state);
            let mut unknown: Vec<DroneId> = points
                .iter()
                .map(|p| p.drone_id)
                .filter(|d| !state.monitor.knows(*d))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            unknown.sort_unstable();
            unknown
        };
        if !unknown.is_empty() {
            self.restore(&unknown, Utc::now()).await;
        }
    }

    async fn restore(&self, drones: &[DroneId], now: DateTime<Utc>) {
        let (alerts, latest) = match self.alerts.monitor_state(drones).await {
            Ok(found) => found,
            Err(error) => {
                // Starting from nothing: an alert still open is counted as a repeat when
                // its condition shows again, never duplicated.
                tracing::warn!(%error, drones = drones.len(), "monitor state could not be restored");
                (Vec::new(), Vec::new())
            }
        };
        let mut open: HashMap<DroneId, Vec<_>> = HashMap::new();
        for alert in &alerts {
            open.entry(alert.drone_id)
                .or_default()
                .push((alert.kind, alert.severity));
        }
        let latest: HashMap<DroneId, &TelemetryPoint> =
            latest.iter().map(|p| (p.drone_id, p)).collect();
        let timeouts = self.link_timeouts(latest.values().map(|p| p.org_id)).await;
        let mut state = lock(&self.state);
        for drone in drones {
            if state.monitor.knows(*drone) {
                continue;
            }
            if let Some(p) = latest.get(drone) {
                state.drones.entry(*drone).or_insert((p.org_id, None));
            }
            state.monitor.restore(
                *drone,
                open.remove(drone).unwrap_or_default(),
                latest.get(drone).copied(),
                timeouts.get(drone).copied(),
                now,
            );
        }
    }
}

impl Shared {
    /// The drones' own link timeouts in these organisations, so that a restored satellite
    /// drone is not declared lost at the installation's timeout.
    async fn link_timeouts(&self, orgs: impl Iterator<Item = OrgId>) -> HashMap<DroneId, f64> {
        let orgs: HashSet<OrgId> = orgs.collect();
        let mut timeouts = HashMap::new();
        for org in orgs {
            let found = self
                .airspace
                .read_index(org, |index| index.overrides().link_timeouts.clone())
                .await;
            match found {
                Ok(found) => timeouts.extend(found),
                Err(error) => {
                    tracing::warn!(%org, ?error, "link timeouts unknown at restore; the installation's apply until the next point")
                }
            }
        }
        timeouts
    }
}

impl State {
    /// The drone's active plan, if the index holds one.
    fn corridor(
        &mut self,
        index: &AirspaceIndex,
        drone: DroneId,
    ) -> Option<(FlightPlanId, Arc<PlanCorridor>)> {
        let volume = index
            .plans_of(drone)
            .find(|p| p.state == FlightPlanState::Active)?;
        if let Some((cached, corridor)) = self.corridors.get(&volume.id) {
            if Arc::ptr_eq(cached, volume) {
                return Some((volume.id, corridor.clone()));
            }
        }
        let airspace = index.rules();
        let slack = chrono::Duration::seconds(i64::from(airspace.time_buffer_s));
        let corridor = Arc::new(PlanCorridor {
            path: volume.path.clone(),
            start: volume.start - slack,
            end: volume.end + slack,
            lateral_buffer_m: airspace.lateral_buffer_m,
            vertical_buffer_m: airspace.vertical_buffer_m,
            authorized: volume.authorized,
        });
        if self.corridors.len() > 100_000 {
            self.corridors.clear();
        }
        self.corridors
            .insert(volume.id, (volume.clone(), corridor.clone()));
        Some((volume.id, corridor))
    }
}

/// Raises `link_lost` as deadlines pass, writes `last_seen` now and then, and mirrors the
/// monitor's size into metrics. Stops when the publisher is gone. `last_seen` is written by
/// a task of its own (one at a time): thousands of open alerts take seconds to touch, and
/// deadlines must not wait for that.
async fn tick(shared: std::sync::Weak<Shared>) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_touch = tokio::time::Instant::now();
    let touching = Arc::new(std::sync::atomic::AtomicBool::new(false));
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Utc::now();
        let (observations, touched) = {
            let mut state = lock(&shared.state);
            let events = state.monitor.expire(now);
            let observations: Vec<Observation> = events
                .into_iter()
                .filter_map(|event| {
                    let (org, plan) = state.drones.get(&event.drone_id).copied()?;
                    if let domain::monitoring::Detail::Link { silent_s } = event.detail {
                        let deadline = silent_s - state.monitor.link_timeout(event.drone_id);
                        shared.metrics.link_lost_delay.observe(deadline.max(0.0));
                    }
                    Some(Observation {
                        org_id: org,
                        flight_plan_id: plan,
                        point: None,
                        event,
                    })
                })
                .collect();
            let (drones, timers) = state.monitor.monitored();
            shared.metrics.monitored_drones.set(drones as i64);
            shared.metrics.timers_pending.set(timers as i64);
            let idle = !touching.load(std::sync::atomic::Ordering::Acquire);
            let touched = if idle && last_touch.elapsed() >= TOUCH_EVERY {
                last_touch = tokio::time::Instant::now();
                std::mem::take(&mut state.seen)
                    .into_iter()
                    .map(|((d, k), at)| (d, k, at))
                    .collect::<Vec<_>>()
            } else {
                Vec::new()
            };
            (observations, touched)
        };
        if !observations.is_empty() {
            let _ = shared.recorder.send(observations).await;
        }
        if !touched.is_empty() {
            touching.store(true, std::sync::atomic::Ordering::Release);
            let (alerts, touching) = (shared.alerts.clone(), touching.clone());
            tokio::spawn(async move {
                if let Err(error) = alerts.touch_alerts(&touched).await {
                    tracing::debug!(%error, "alert last_seen not written; next round");
                }
                touching.store(false, std::sync::atomic::Ordering::Release);
            });
        }
    }
}

/// At start: every drone that reported lately gets its state, and so a link deadline.
async fn restore_recent(shared: std::sync::Weak<Shared>) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let now = Utc::now();
    match shared.alerts.reported_since(now - RESTORE_RECENT).await {
        Ok(points) => {
            let drones: Vec<DroneId> = points.iter().map(|p| p.drone_id).collect();
            for chunk in drones.chunks(2_000) {
                shared.restore(chunk, now).await;
            }
            tracing::debug!(drones = drones.len(), "monitor state restored");
        }
        Err(error) => tracing::warn!(%error, "recent drones could not be read at start"),
    }
}

/// Stores alert changes in order, retrying while the shard is down, then tells the live
/// streams.
async fn record(
    mut queue: mpsc::Receiver<Vec<Observation>>,
    alerts: Arc<dyn AlertRepository>,
    live: Arc<dyn LivePublisher>,
    metrics: MonitoringMetrics,
) {
    while let Some(observations) = queue.recv().await {
        let mut backoff = RETRY_MIN;
        let notices = loop {
            match alerts.record_observations(&observations).await {
                Ok(notices) => break notices,
                Err(error) => {
                    metrics.record_failures.inc();
                    tracing::warn!(%error, retry_in = ?backoff, "alert changes not stored; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        };
        let now = Utc::now();
        for o in &observations {
            count(&metrics, &o.event, now);
        }
        let notices: Vec<Arc<AlertNotice>> = notices.into_iter().map(Arc::new).collect();
        live.publish_alerts(&notices).await;
    }
}

fn count(metrics: &MonitoringMetrics, event: &AlertEvent, now: DateTime<Utc>) {
    let kind = event.kind.as_str();
    match event.change {
        Change::Raised => {
            metrics.alerts_raised.with_label_values(&[kind]).inc();
            if event.kind != AlertKind::LinkLost {
                let took = (now - event.at).num_milliseconds() as f64 / 1e3;
                metrics
                    .detection
                    .with_label_values(&[kind])
                    .observe(took.max(0.0));
            }
        }
        Change::Resolved => {
            metrics.alerts_resolved.with_label_values(&[kind]).inc();
        }
        Change::Updated => {}
    }
}

/// What a person did to an alert, for the live streams and webhooks.
pub fn notice(change: NoticeChange, alert: domain::monitoring::Alert) -> Arc<AlertNotice> {
    Arc::new(AlertNotice::new(change, alert))
}
