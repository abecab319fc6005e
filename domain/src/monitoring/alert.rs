//! Stored alerts: what the monitor's events become on the drone's shard, and what people
//! do with them (acknowledge, resolve).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AlertKind, Change, Detail, Severity};
use crate::ids::{AlertId, DroneId, FlightPlanId, OrgId, UserId};
use crate::telemetry::TelemetryPoint;

/// Longest note on an acknowledgement or a resolution, in characters.
pub const NOTE_MAX_LEN: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Resolved]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// Where and when the triggering point was.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertPoint {
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
    pub ts: DateTime<Utc>,
}

impl From<&TelemetryPoint> for AlertPoint {
    fn from(p: &TelemetryPoint) -> Self {
        Self {
            lat: p.lat,
            lon: p.lon,
            alt_m: p.alt_m,
            ts: p.ts,
        }
    }
}

/// Who resolved an alert: the monitor, when the condition cleared, or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolver {
    System,
    User(UserId),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub org_id: OrgId,
    pub drone_id: DroneId,
    pub flight_plan_id: Option<FlightPlanId>,
    pub kind: AlertKind,
    pub severity: Severity,
    pub state: AlertState,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// How often the condition was raised while this alert was unresolved.
    pub count: i64,
    pub point: Option<AlertPoint>,
    pub detail: Detail,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<UserId>,
    pub acknowledge_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Resolver>,
    pub resolve_note: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Alert {
    pub fn is_unresolved(&self) -> bool {
        self.state != AlertState::Resolved
    }
}

/// What a person does with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    Acknowledge,
    Resolve,
}

impl AlertAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
        }
    }

    /// Applies the action, or says why it cannot be done (the alert's state).
    pub fn apply(
        self,
        alert: &Alert,
        by: UserId,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Alert, AlertState> {
        let mut next = alert.clone();
        match (self, alert.state) {
            (_, AlertState::Resolved) | (Self::Acknowledge, AlertState::Acknowledged) => {
                return Err(alert.state)
            }
            (Self::Acknowledge, AlertState::Open) => {
                next.state = AlertState::Acknowledged;
                next.acknowledged_at = Some(now);
                next.acknowledged_by = Some(by);
                next.acknowledge_note = note;
            }
            (Self::Resolve, _) => {
                next.state = AlertState::Resolved;
                next.resolved_at = Some(now);
                next.resolved_by = Some(Resolver::User(by));
                next.resolve_note = note;
            }
        }
        next.updated_at = now;
        Ok(next)
    }
}

/// A note: trimmed, empty is none, at most [`NOTE_MAX_LEN`] characters.
pub fn parse_note(note: Option<&str>) -> Result<Option<String>, crate::FieldError> {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(note) => crate::drone::parse_text("note", note, NOTE_MAX_LEN).map(Some),
    }
}

/// `active` is open or acknowledged: what still needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Is(AlertState),
    Active,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub state: Option<StateFilter>,
    pub kind: Option<AlertKind>,
    pub min_severity: Option<Severity>,
    pub severity: Option<Severity>,
    pub drone_id: Option<DroneId>,
    /// Alerts whose `[first_seen, last_seen]` overlaps `[since, until]`.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// What the monitor asks the alert store to record for one of its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub org_id: OrgId,
    pub event: super::AlertEvent,
    pub flight_plan_id: Option<FlightPlanId>,
    pub point: Option<AlertPoint>,
}

/// An alert that changed, as live streams and webhooks see it. `event_id` is UUIDv7:
/// ordered by time over every process that makes them, so a client that reconnects with
/// the last id it saw can be given what followed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertNotice {
    pub event_id: Uuid,
    pub change: NoticeChange,
    pub alert: Alert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeChange {
    Raised,
    Updated,
    Acknowledged,
    Resolved,
}

impl NoticeChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raised => "raised",
            Self::Updated => "updated",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
}

impl From<Change> for NoticeChange {
    fn from(c: Change) -> Self {
        match c {
            Change::Raised => Self::Raised,
            Change::Updated => Self::Updated,
            Change::Resolved => Self::Resolved,
        }
    }
}

impl AlertNotice {
    pub fn new(change: NoticeChange, alert: Alert) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            change,
            alert,
        }
    }
}
