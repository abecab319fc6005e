//! Alerts on the wire.

use chrono::{DateTime, Utc};
use domain::monitoring::{Alert, AlertKind, AlertNotice, AlertPoint, Resolver, Severity};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertPointDto {
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
    pub ts: DateTime<Utc>,
}

impl From<AlertPoint> for AlertPointDto {
    fn from(p: AlertPoint) -> Self {
        Self {
            lat: p.lat,
            lon: p.lon,
            alt_m: p.alt_m,
            ts: p.ts,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e0f", "drone_id": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e00",
    "flight_plan_id": null, "kind": "geofence_breach", "severity": "critical", "state": "open",
    "first_seen": "2026-12-02T10:15:00Z", "last_seen": "2026-12-02T10:15:30Z", "count": 1,
    "point": {"lat": 47.3769, "lon": 8.5417, "alt_m": 80.0, "ts": "2026-12-02T10:15:00Z"},
    "details": {"type": "geofence", "geofence_id": "01936f3e-8a1b-7c2d-9e4f-5a6b7c8d9e11", "name": "Hospital"},
    "acknowledged_at": null, "acknowledged_by": null, "acknowledge_note": null,
    "resolved_at": null, "resolved_by": null, "resolve_note": null, "version": 1
}))]
pub struct AlertResponse {
    pub id: Uuid,
    pub drone_id: Uuid,
    /// The drone's active plan when the alert was raised.
    pub flight_plan_id: Option<Uuid>,
    #[schema(schema_with = super::enums::alert_kind)]
    pub kind: String,
    #[schema(schema_with = super::enums::severity)]
    pub severity: String,
    /// `open` → `acknowledged` → `resolved` (a person may resolve an open alert directly;
    /// the monitor resolves it when its condition clears).
    #[schema(schema_with = super::enums::alert_state)]
    pub state: String,
    /// The first offending point (or, for `link_lost`, the last point before the silence).
    pub first_seen: DateTime<Utc>,
    /// The newest point that still showed the condition.
    pub last_seen: DateTime<Utc>,
    /// How often the condition was raised while the alert stayed unresolved.
    pub count: i64,
    /// Where the triggering point was; `null` for `link_lost`.
    pub point: Option<AlertPointDto>,
    /// What the alert is about, by `type`: `geofence` (`geofence_id`, `name`), `corridor`
    /// (`distance_m` off the planned path), `altitude` (`alt_m`, `band` [low, high]),
    /// `battery` (`battery_pct`), `link` (`silent_s`), `none`.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledge_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `system` when the condition cleared, else the id of the user who resolved it.
    pub resolved_by: Option<String>,
    pub resolve_note: Option<String>,
    pub version: i64,
}

impl From<&Alert> for AlertResponse {
    fn from(a: &Alert) -> Self {
        Self {
            id: a.id.as_uuid(),
            drone_id: a.drone_id.as_uuid(),
            flight_plan_id: a.flight_plan_id.map(|p| p.as_uuid()),
            kind: a.kind.as_str().to_owned(),
            severity: a.severity.as_str().to_owned(),
            state: a.state.as_str().to_owned(),
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            count: a.count,
            point: a.point.map(Into::into),
            details: serde_json::to_value(&a.detail).unwrap_or(serde_json::Value::Null),
            acknowledged_at: a.acknowledged_at,
            acknowledged_by: a.acknowledged_by.map(|u| u.as_uuid()),
            acknowledge_note: a.acknowledge_note.clone(),
            resolved_at: a.resolved_at,
            resolved_by: a.resolved_by.map(|r| match r {
                Resolver::System => "system".to_owned(),
                Resolver::User(u) => u.to_string(),
            }),
            resolve_note: a.resolve_note.clone(),
            version: a.version,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<AlertResponse>,
    pub next_cursor: Option<String>,
    /// True when a shard could not be read and its alerts are missing from this page.
    pub incomplete: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open`, `acknowledged`, `resolved`, or `active` (open or acknowledged).
    #[param(schema_with = super::enums::alert_state_filter)]
    pub state: Option<String>,
    #[param(schema_with = super::enums::alert_kind)]
    pub kind: Option<AlertKind>,
    /// Only this severity.
    #[param(schema_with = super::enums::severity)]
    pub severity: Option<Severity>,
    /// Only this severity or a higher one.
    #[param(schema_with = super::enums::severity)]
    pub min_severity: Option<Severity>,
    pub drone_id: Option<Uuid>,
    /// Alerts still showing at or after this time (`last_seen >= since`).
    pub since: Option<DateTime<Utc>>,
    /// Alerts that began at or before this time (`first_seen <= until`).
    pub until: Option<DateTime<Utc>>,
}

/// An optional note on an acknowledgement or a resolution.
#[derive(Debug, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "Pilot contacted, returning to corridor"}))]
pub struct AlertActionRequest {
    /// At most 500 characters.
    pub note: Option<String>,
}

/// The data of a `/live` `alert` event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertEventDto {
    #[schema(schema_with = super::enums::alert_change)]
    pub change: String,
    pub alert: AlertResponse,
}

impl From<&AlertNotice> for AlertEventDto {
    fn from(n: &AlertNotice) -> Self {
        Self {
            change: n.change.as_str().to_owned(),
            alert: (&n.alert).into(),
        }
    }
}
