//! Live fan-out of written points and of alert changes: the in-process hub every `/live`
//! stream subscribes to, and the [`LivePublisher`] writers and the monitor hand them to
//! (the hub itself, or Redis pub/sub that feeds every replica's hub).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use domain::monitoring::AlertNotice;
use domain::telemetry::TelemetryPoint;
use domain::OrgId;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Alert changes kept for replay however short the window, so that a burst cannot grow
/// the buffer without bound.
const REPLAY_MAX_NOTICES: usize = 20_000;
const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);
/// Alert changes a live client may fall behind before it is disconnected: room for a
/// fleet-wide burst (every drone of a 10,000-drone fleet raising one at once), a pointer a
/// slot.
const ALERT_BUFFER: usize = 16_384;

/// Alert changes kept for replay, with when they arrived here.
type Replay = VecDeque<(Instant, Arc<AlertNotice>)>;

/// In-process fan-out of written points and alert changes to live subscribers. Each
/// subscriber filters for its own organisation. A subscriber more than the buffer behind
/// gets `Lagged` and is expected to hang up: slow clients are dropped, never buffered
/// without bound. Alert changes of the last `replay_window` are kept, so that a client
/// that reconnects is given those it missed (positions need no replay: the next one
/// supersedes them).
#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<[TelemetryPoint]>>,
    alerts: broadcast::Sender<Arc<AlertNotice>>,
    replay: Arc<Mutex<Replay>>,
    replay_window: Duration,
}

impl LiveHub {
    pub fn new(buffer_batches: usize) -> Self {
        let (sender, _) = broadcast::channel(buffer_batches.max(1));
        let (alerts, _) = broadcast::channel(ALERT_BUFFER);
        Self {
            sender,
            alerts,
            replay: Arc::default(),
            replay_window: DEFAULT_REPLAY_WINDOW,
        }
    }

    /// How long alert changes are kept for replay (`live.replay_window_s`).
    pub fn with_replay_window(mut self, window: Duration) -> Self {
        self.replay_window = window;
        self
    }

    /// Hands an alert change to this process's subscribers and keeps it for replay.
    pub fn publish_alert(&self, notice: Arc<AlertNotice>) {
        {
            let mut replay = self.replay.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            while replay.front().is_some_and(|(at, _)| {
                now.duration_since(*at) > self.replay_window || replay.len() >= REPLAY_MAX_NOTICES
            }) {
                replay.pop_front();
            }
            replay.push_back((now, notice.clone()));
        }
        let _ = self.alerts.send(notice);
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<AlertNotice>> {
        self.alerts.subscribe()
    }

    /// The organisation's alert changes after `last` (a client's `Last-Event-ID`), oldest
    /// first: those that followed it here, or, when this process never saw it (another
    /// replica's id, or one older than the window), those made after it (ids are UUIDv7,
    /// ordered by time).
    pub fn alerts_after(&self, org: OrgId, last: Uuid) -> Vec<Arc<AlertNotice>> {
        let replay = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        let notices = replay.iter().map(|(_, n)| n);
        let mine = |n: &&Arc<AlertNotice>| n.alert.org_id == org;
        match replay.iter().position(|(_, n)| n.event_id == last) {
            Some(at) => notices.skip(at + 1).filter(mine).cloned().collect(),
            None => notices
                .filter(|n| n.event_id > last)
                .filter(mine)
                .cloned()
                .collect(),
        }
    }

    pub fn publish(&self, points: Arc<[TelemetryPoint]>) {
        // No subscriber is not an error.
        let _ = self.sender.send(points);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[TelemetryPoint]>> {
        self.sender.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// Where the writer hands written points: straight to this process's hub, or to a
/// cross-replica fan-out (Redis pub/sub) that feeds every replica's hub.
#[async_trait]
pub trait LivePublisher: Send + Sync {
    async fn publish(&self, points: Arc<[TelemetryPoint]>);
    /// Alert changes, for every replica's `/live` streams.
    async fn publish_alerts(&self, notices: &[Arc<AlertNotice>]);
}

#[async_trait]
impl LivePublisher for LiveHub {
    async fn publish(&self, points: Arc<[TelemetryPoint]>) {
        LiveHub::publish(self, points);
    }

    async fn publish_alerts(&self, notices: &[Arc<AlertNotice>]) {
        for notice in notices {
            self.publish_alert(notice.clone());
        }
    }
}

#[async_trait]
impl LivePublisher for crate::redis::LiveBridge {
    async fn publish(&self, points: Arc<[TelemetryPoint]>) {
        crate::redis::LiveBridge::publish(self, &points).await;
    }

    async fn publish_alerts(&self, notices: &[Arc<AlertNotice>]) {
        crate::redis::LiveBridge::publish_alerts(self, notices).await;
    }
}
