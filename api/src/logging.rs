//! Logging: one `init`, JSON or human-readable as configured; `RUST_LOG` overrides the level.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::settings::InvalidSetting;
use serde::{Deserialize, Serialize};
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The `[log]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `info,sqlx=warn`; `RUST_LOG` wins when set.
    pub level: String,
}

impl LogSettings {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        EnvFilter::try_new(&self.level)
            .map(|_| ())
            .map_err(|e| InvalidSetting::new("level", format!("is not a valid filter: {e}")))
    }
}

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) is harmless; ignore it.
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// The span of every request: method, route template, the path with secret query values
/// redacted, the request id and, at the end, the status. Unlike tracing-actix-web's default
/// it neither logs `?access_token=…` nor turns every 4xx into a warning: client errors are
/// answers, not incidents (5xx are logged where they happen, with their cause chain).
pub struct RequestSpan;

/// Query parameters whose values never reach a log.
const SECRET_PARAMETERS: [&str; 4] = ["access_token", "ticket", "token", "api_key"];

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let request_id = actix_web::HttpMessage::extensions(request)
            .get::<tracing_actix_web::RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %request.method(),
            // Recorded at the end: before routing, finding the template means matching the
            // path against every route's pattern again (a sixth of a cached read's CPU).
            route = tracing::field::Empty,
            target = %redacted_target(request.uri()),
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => {
                // After routing: the matched resource names its template directly.
                let route = response.request().match_pattern();
                span.record("route", route.as_deref().unwrap_or("unmatched"));
                response.status()
            }
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
        if status.is_client_error() {
            let _entered = span.enter();
            tracing::debug!(status = status.as_u16(), "request refused");
        }
    }
}

/// At most one log line per [`Throttle::EVERY`] for a cause that repeats on every request
/// while a dependency is down (a Redis or shard outage would otherwise log once per
/// refused request), with how many occurrences were suppressed (the Redis adapter throttles its own logs alike).
pub struct Throttle {
    /// Milliseconds since the Unix epoch of the last line; 0 before the first.
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    pub const EVERY: Duration = Duration::from_secs(10);

    pub const fn new() -> Self {
        Self {
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(occurrences suppressed since the last line)` when this one is to be logged.
    pub fn admit(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let last = self.last_ms.load(Ordering::Acquire);
        let due = last == 0 || now.saturating_sub(last) >= Self::EVERY.as_millis() as u64;
        if due
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::AcqRel);
        None
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

/// The path and query of `uri`, with the values of [`SECRET_PARAMETERS`] replaced.
pub fn redacted_target(uri: &actix_web::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name) => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_never_reach_the_log() {
        let uri: actix_web::http::Uri =
            "/api/v1/live?max_hz=2&access_token=eyJ.secret.sig&bbox=1,2,3,4"
                .parse()
                .unwrap_or_default();
        assert_eq!(
            redacted_target(&uri),
            "/api/v1/live?max_hz=2&access_token=[redacted]&bbox=1,2,3,4"
        );
        let plain: actix_web::http::Uri = "/api/v1/drones".parse().unwrap_or_default();
        assert_eq!(redacted_target(&plain), "/api/v1/drones");
    }
}
