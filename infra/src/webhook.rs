//! Sending webhook deliveries over HTTP, signed the Standard Webhooks way
//! (<https://www.standardwebhooks.com/>): `webhook-id`, `webhook-timestamp` (Unix seconds)
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by
//! the base64 part of the `whsec_` secret.
//!
//! Only addresses the [`AddressPolicy`] allows are reached: a host's every resolved address
//! is checked by the client's resolver at connection time (so a name that resolves to a
//! private address after the webhook was created is refused too), redirects are not
//! followed and no proxy is used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::ports::LeasedDelivery;
use domain::webhook::{AddressPolicy, AttemptOutcome};
use hmac::{Hmac, Mac};
use rand::RngCore;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;
const USER_AGENT: &str = concat!("NimbusFleet-Webhooks/", env!("CARGO_PKG_VERSION"));

/// A new signing secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` value for a message, or `None` for a malformed secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Resolves names and keeps only the addresses deliveries may reach.
struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves to no address deliveries may reach (private and local addresses are refused; see webhooks.allow_private_addresses)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP side of webhook deliveries.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl WebhookSender {
    pub fn new(policy: AddressPolicy, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .build()?;
        Ok(Self { client, policy })
    }

    /// One attempt at a delivery, signed at `now`.
    pub async fn send(&self, leased: &LeasedDelivery, now: DateTime<Utc>) -> AttemptOutcome {
        let failed = |error: String| AttemptOutcome::Failed {
            status: None,
            error,
        };
        let url = match url::Url::parse(&leased.url) {
            Ok(url) => url,
            Err(e) => return failed(format!("the webhook's URL is invalid: {e}")),
        };
        // Addresses written in the URL are never resolved: check them here.
        match url.host() {
            Some(host) if self.policy.allows_host(&host) => {}
            _ => {
                return failed(
                    "the URL's host is a private or local address (see webhooks.allow_private_addresses)"
                        .into(),
                )
            }
        }
        let delivery = &leased.delivery;
        let msg_id = delivery.id.to_string();
        let timestamp = now.timestamp();
        let Some(signature) = sign(&leased.secret, &msg_id, timestamp, &delivery.payload) else {
            return failed("the webhook's secret is malformed".into());
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => AttemptOutcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => {
                let status = response.status();
                AttemptOutcome::Failed {
                    status: Some(status.as_u16()),
                    error: match status.canonical_reason() {
                        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
                        None => format!("HTTP {}", status.as_u16()),
                    },
                }
            }
            Err(error) => failed(describe(error)),
        }
    }
}

/// A transport error with its causes, without the URL (it may carry a token).
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let error = error.without_url();
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(sign("whsec_!!!", "m", 1, body).is_none());
    }

    #[test]
    fn secrets_are_prefixed_random_and_decodable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let key = STANDARD
            .decode(a.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
    }
}
