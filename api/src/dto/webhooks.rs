//! Webhooks and their deliveries on the wire.

use chrono::{DateTime, Utc};
use domain::monitoring::Severity;
use domain::webhook::{Delivery, DeliveryStatus, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::services::WebhookChange;

/// A new webhook. Deliveries are `POST`s of JSON signed the Standard Webhooks way with the
/// secret the answer shows once.
#[derive(Debug, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://ops.example.com/hooks/nimbus", "description": "On-call pager",
    "kinds": ["geofence_breach", "link_lost"], "min_severity": "warning"
}))]
pub struct CreateWebhookRequest {
    /// `https://…` (or `http://…`), at most 2000 characters, reaching a public address.
    pub url: Option<String>,
    /// At most 200 characters.
    pub description: Option<String>,
    /// Alert kinds delivered; absent or empty is every kind.
    #[schema(schema_with = super::enums::alert_kinds)]
    pub kinds: Option<Vec<String>>,
    /// Alerts of this severity or higher are delivered (default `warning`).
    #[schema(schema_with = super::enums::severity)]
    pub min_severity: Option<Severity>,
    /// Default true.
    pub enabled: Option<bool>,
}

impl From<CreateWebhookRequest> for WebhookChange {
    fn from(r: CreateWebhookRequest) -> Self {
        Self {
            url: r.url,
            description: r.description,
            kinds: r.kinds,
            min_severity: r.min_severity,
            enabled: r.enabled,
        }
    }
}

/// Changes to a webhook; absent fields stay. `"enabled": true` enables a webhook the
/// system disabled, and its pending deliveries are tried again; `"description": ""`
/// removes the description.
#[derive(Debug, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub description: Option<String>,
    #[schema(schema_with = super::enums::alert_kinds)]
    pub kinds: Option<Vec<String>>,
    #[schema(schema_with = super::enums::severity)]
    pub min_severity: Option<Severity>,
    pub enabled: Option<bool>,
}

impl From<UpdateWebhookRequest> for WebhookChange {
    fn from(r: UpdateWebhookRequest) -> Self {
        Self {
            url: r.url,
            description: r.description,
            kinds: r.kinds,
            min_severity: r.min_severity,
            enabled: r.enabled,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookResponse {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Alert kinds delivered; empty is every kind.
    #[schema(schema_with = super::enums::alert_kinds)]
    pub kinds: Vec<String>,
    #[schema(schema_with = super::enums::severity)]
    pub min_severity: String,
    pub enabled: bool,
    /// Why the system disabled the webhook (its endpoint failed every attempt for
    /// `webhooks.retry_for_s`); `null` otherwise.
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&Webhook> for WebhookResponse {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.as_uuid(),
            url: w.url.clone(),
            description: w.description.clone(),
            kinds: w.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            min_severity: w.min_severity.as_str().to_owned(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            failing_since: w.failing_since,
            created_by: w.created_by.as_uuid(),
            created_at: w.created_at,
            updated_at: w.updated_at,
            version: w.version,
        }
    }
}

/// A new webhook with its signing secret, which is shown only here.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhookResponse {
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// `whsec_` and the base64 key: verify `webhook-signature` (`v1,<base64 HMAC-SHA256>`
    /// of `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64-decoded part after
    /// `whsec_`) with any Standard Webhooks library.
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookResponse>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryResponse {
    /// The message id, sent as `webhook-id` on every attempt (the same on retries).
    pub id: Uuid,
    /// `alert.raised`, `alert.updated`, `alert.acknowledged` or `alert.resolved`.
    pub event_type: String,
    /// `pending` (waiting for its first attempt or a retry), `succeeded`, or `failed`
    /// (every attempt failed until the retry window closed).
    #[schema(schema_with = super::enums::delivery_status)]
    pub status: String,
    pub attempts: i32,
    /// When it is attempted next; `null` once finished.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The endpoint's HTTP status on the last attempt, when it answered.
    pub response_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The body sent: `{"type", "timestamp", "data": {"change", "alert"}}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<&Delivery> for DeliveryResponse {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id,
            event_type: d.event_type.clone(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            last_attempt_at: d.last_attempt_at,
            response_status: d.response_status,
            last_error: d.last_error.clone(),
            created_at: d.created_at,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryResponse>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this status.
    #[param(schema_with = super::enums::delivery_status)]
    pub status: Option<String>,
}
