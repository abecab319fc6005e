//! Webhooks: an organisation's subscriptions to its alert changes, and the deliveries made
//! to them. Deliveries follow the Standard Webhooks convention (a message id, a timestamp
//! and an HMAC-SHA256 signature over both and the body); the signing itself is the
//! adapter's, the rules of what is sent, when it is retried and when a webhook is disabled
//! are here.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{FieldCode, FieldError};
use crate::ids::{OrgId, UserId, WebhookId};
use crate::monitoring::{AlertKind, AlertNotice, Severity};

/// Webhooks one organisation may have: each alert change is one delivery per webhook.
pub const MAX_WEBHOOKS_PER_ORG: usize = 20;
pub const URL_MAX_LEN: usize = 2000;
pub const DESCRIPTION_MAX_LEN: usize = 200;
/// What is kept of an endpoint's answer or of the error of a failed attempt.
pub const ERROR_MAX_LEN: usize = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    pub description: Option<String>,
    /// Alert kinds delivered; empty is every kind.
    pub kinds: Vec<AlertKind>,
    /// Alerts of this severity or higher are delivered.
    pub min_severity: Severity,
    pub enabled: bool,
    /// Why the webhook was disabled by the system (its endpoint kept failing); `None` when
    /// enabled or disabled by a person.
    pub disabled_reason: Option<String>,
    /// Since when every attempt to deliver to it failed; `None` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Webhook {
    /// Whether an alert change goes to this webhook.
    pub fn accepts(&self, notice: &AlertNotice) -> bool {
        self.enabled
            && notice.alert.org_id == self.org_id
            && notice.alert.severity >= self.min_severity
            && (self.kinds.is_empty() || self.kinds.contains(&notice.alert.kind))
    }
}

/// The event type of an alert change on the wire: `alert.raised`, `alert.updated`,
/// `alert.acknowledged`, `alert.resolved`.
pub fn event_type(notice: &AlertNotice) -> String {
    format!("alert.{}", notice.change.as_str())
}

/// A webhook's URL: absolute `http` or `https`, with a host, without credentials or a
/// fragment. Whether its address may be reached is [`AddressPolicy`]'s, at delivery.
pub fn parse_url(raw: &str) -> Result<url::Url, FieldError> {
    let invalid = |message: &str| FieldError::new("url", FieldCode::Invalid, message);
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > URL_MAX_LEN {
        return Err(FieldError::new(
            "url",
            FieldCode::Length,
            format!("must be 1 to {URL_MAX_LEN} characters"),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| invalid(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be an http or https URL"));
    }
    if url.host().is_none() {
        return Err(invalid("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not carry credentials: deliveries are authenticated by their signature",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    Ok(url)
}

/// Which addresses deliveries may reach. By default only public ones: a webhook must not
/// turn the server into a proxy to its own network (loopback, private ranges, link-local
/// and cloud metadata addresses, carrier-grade NAT, multicast, unspecified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_private: bool,
}

impl AddressPolicy {
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// A host named in a URL that no address check can save: `localhost` and its
    /// subdomains always resolve to loopback.
    pub fn allows_host(self, host: &url::Host<&str>) -> bool {
        match host {
            url::Host::Ipv4(ip) => self.allows(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => self.allows(IpAddr::V6(*ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                self.allow_private || !(name == "localhost" || name.ends_with(".localhost"))
            }
        }
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Carrier-grade NAT, 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // IETF protocol assignments and benchmarking, 192.0.0.0/24 and 198.18.0.0/15.
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Documentation 2001:db8::/32.
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// What a person sets on a webhook, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookFields {
    pub url: String,
    pub description: Option<String>,
    pub kinds: Vec<AlertKind>,
    pub min_severity: Severity,
    pub enabled: bool,
}

pub fn parse_description(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    match raw.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(None),
        Some(d) => crate::drone::parse_text("description", d, DESCRIPTION_MAX_LEN).map(Some),
    }
}

/// Kinds by name; each named once. Empty is every kind.
pub fn parse_kinds(raw: &[String]) -> Result<Vec<AlertKind>, FieldError> {
    let mut kinds = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        let kind = AlertKind::parse(name).ok_or_else(|| {
            FieldError::new(
                format!("kinds[{i}]"),
                FieldCode::Invalid,
                format!(
                    "`{name}` is not one of {}",
                    AlertKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds.sort_unstable();
    Ok(kinds)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    Succeeded,
    /// Every attempt failed until the retry window closed.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Succeeded, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One message to one webhook, with its attempts so far. Its id is the Standard Webhooks
/// message id (`webhook-id`): the same on every retry, so receivers can drop duplicates.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: WebhookId,
    pub org_id: OrgId,
    pub event_type: String,
    /// The exact body sent (and signed) on every attempt.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The endpoint's HTTP status on the last attempt, when it answered.
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    pub fn new(webhook: &Webhook, event_type: String, payload: String, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            webhook_id: webhook.id,
            org_id: webhook.org_id,
            event_type,
            payload,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_attempt_at: None,
            response_status: None,
            last_error: None,
            created_at: now,
        }
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// Any other answer, or none (refused, timed out, address not allowed).
    Failed { status: Option<u16>, error: String },
}

/// When deliveries are retried: after `base`, doubling up to `max_delay`, for `retry_for`
/// from the delivery's creation. A delivery whose window closed has failed, and its
/// webhook, which then failed on every attempt for that long, is disabled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    pub retry_for: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`, after `attempts` failed ones (≥ 1).
    pub fn delay(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base
            .checked_mul(1_u32 << exponent)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// What a delivery becomes after an attempt at `now`.
    pub fn after_attempt(
        &self,
        delivery: &Delivery,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Delivery {
        let mut next = delivery.clone();
        next.attempts += 1;
        next.last_attempt_at = Some(now);
        match outcome {
            AttemptOutcome::Delivered { status } => {
                next.status = DeliveryStatus::Succeeded;
                next.response_status = Some(i32::from(*status));
                next.last_error = None;
            }
            AttemptOutcome::Failed { status, error } => {
                next.response_status = status.map(i32::from);
                next.last_error = Some(error.chars().take(ERROR_MAX_LEN).collect());
                let retry_at = now + chrono_duration(self.delay(next.attempts));
                let closes = delivery.created_at + chrono_duration(self.retry_for);
                if retry_at > closes {
                    next.status = DeliveryStatus::Failed;
                } else {
                    next.next_attempt_at = retry_at;
                }
            }
        }
        next
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Deliveries listed newest first, optionally of one status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::monitoring::{Alert, AlertState, Detail, NoticeChange};
    use crate::{AlertId, DroneId};

    fn webhook(kinds: Vec<AlertKind>, min: Severity) -> Webhook {
        let now = Utc::now();
        Webhook {
            id: WebhookId::new(),
            org_id: OrgId::from_uuid(Uuid::nil()),
            url: "https://example.com/hook".into(),
            description: None,
            kinds,
            min_severity: min,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_by: UserId::new(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn notice(kind: AlertKind, severity: Severity) -> AlertNotice {
        let now = Utc::now();
        AlertNotice::new(
            NoticeChange::Raised,
            Alert {
                id: AlertId::new(),
                org_id: OrgId::from_uuid(Uuid::nil()),
                drone_id: DroneId::new(),
                flight_plan_id: None,
                kind,
                severity,
                state: AlertState::Open,
                first_seen: now,
                last_seen: now,
                count: 1,
                point: None,
                detail: Detail::None,
                acknowledged_at: None,
                acknowledged_by: None,
                acknowledge_note: None,
                resolved_at: None,
                resolved_by: None,
                resolve_note: None,
                updated_at: now,
                version: 1,
            },
        )
    }

    #[test]
    fn a_webhook_takes_its_kinds_at_its_severity_or_higher() {
        let hook = webhook(vec![AlertKind::BatteryLow], Severity::Warning);
        assert!(hook.accepts(&notice(AlertKind::BatteryLow, Severity::Critical)));
        assert!(!hook.accepts(&notice(AlertKind::BatteryLow, Severity::Info)));
        assert!(!hook.accepts(&notice(AlertKind::LinkLost, Severity::Critical)));
        let all = webhook(vec![], Severity::Info);
        assert!(all.accepts(&notice(AlertKind::LinkLost, Severity::Info)));
        let mut other_org = notice(AlertKind::LinkLost, Severity::Critical);
        other_org.alert.org_id = OrgId::new();
        assert!(
            !all.accepts(&other_org),
            "never another organisation's alerts"
        );
        let disabled = Webhook {
            enabled: false,
            ..all
        };
        assert!(!disabled.accepts(&notice(AlertKind::LinkLost, Severity::Critical)));
    }

    #[test]
    fn urls_are_http_with_a_host_and_no_credentials() {
        assert!(parse_url("https://hooks.example.com/nimbus?x=1").is_ok());
        for bad in [
            "",
            "ftp://example.com/",
            "not a url",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
        ] {
            let err = parse_url(bad).unwrap_err();
            assert_eq!(err.field, "url", "{bad}");
        }
    }

    #[test]
    fn private_and_special_addresses_are_refused_unless_allowed() {
        let strict = AddressPolicy {
            allow_private: false,
        };
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip}"));
            assert!(!strict.allows(ip), "{ip} must be refused");
            assert!(AddressPolicy {
                allow_private: true
            }
            .allows(ip));
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip}"));
            assert!(strict.allows(ip), "{ip} is public");
        }
        assert!(!strict.allows_host(&url::Host::Domain("api.LOCALHOST.")));
        assert!(strict.allows_host(&url::Host::Domain("example.com")));
    }

    #[test]
    fn retries_double_up_to_the_cap_and_stop_when_the_window_closes() {
        let policy = RetryPolicy {
            base: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            retry_for: Duration::from_secs(86_400),
        };
        assert_eq!(policy.delay(1), Duration::from_secs(5));
        assert_eq!(policy.delay(2), Duration::from_secs(10));
        assert_eq!(policy.delay(5), Duration::from_secs(80));
        assert_eq!(policy.delay(20), Duration::from_secs(3600));
        assert_eq!(policy.delay(i32::MAX), Duration::from_secs(3600));

        let hook = webhook(vec![], Severity::Info);
        let start = Utc::now();
        let mut d = Delivery::new(&hook, "alert.raised".into(), "{}".into(), start);
        let failed = AttemptOutcome::Failed {
            status: Some(503),
            error: "x".repeat(1000),
        };
        let mut now = start;
        while d.status == DeliveryStatus::Pending {
            d = policy.after_attempt(&d, &failed, now);
            now = d.next_attempt_at.max(now);
            assert!(d.attempts < 100, "retries must end");
        }
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert!(
            (now - start) <= chrono::Duration::hours(24),
            "no attempt after the window"
        );
        assert!(d.attempts > 20, "retried for the whole day: {}", d.attempts);
        assert_eq!(d.response_status, Some(503));
        assert_eq!(d.last_error.as_deref().map(str::len), Some(ERROR_MAX_LEN));

        let fresh = Delivery::new(&hook, "alert.raised".into(), "{}".into(), start);
        let ok = policy.after_attempt(&fresh, &AttemptOutcome::Delivered { status: 204 }, start);
        assert_eq!(ok.status, DeliveryStatus::Succeeded);
        assert_eq!((ok.attempts, ok.response_status), (1, Some(204)));
    }

    #[test]
    fn kinds_are_named_and_deduplicated() {
        let kinds =
            parse_kinds(&["link_lost".into(), "battery_low".into(), "link_lost".into()]).unwrap();
        assert_eq!(kinds, vec![AlertKind::BatteryLow, AlertKind::LinkLost]);
        assert_eq!(
            parse_kinds(&["battery_low".into(), "nope".into()])
                .unwrap_err()
                .field,
            "kinds[1]"
        );
    }
}
