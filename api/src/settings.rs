//! The settings the HTTP layer owns: `[server]`, `[auth]`, `[cache]`, `[telemetry]` and
//! `[live]`. Each section checks itself; an error names the one setting at fault.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use domain::settings::{millis, redacted, seconds, InvalidSetting};
use domain::telemetry::TelemetryRules;
use infra::pipeline::{AckMode, Acknowledgement};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// How long in-flight requests may finish after SIGTERM/SIGINT.
    #[serde(rename = "shutdown_timeout_s", with = "seconds")]
    pub shutdown_timeout: Duration,
    /// After SIGTERM, how long the process keeps serving while readiness answers 503 and
    /// every answer closes its connection, so that load balancers move away before the
    /// listener closes (SIGINT, Ctrl-C, skips it).
    #[serde(rename = "drain_delay_s", with = "seconds")]
    pub drain_delay: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// The built dashboard (`frontend/dist`), served at `/`. When it holds no `index.html`,
    /// `/` explains how to build it and links to the API docs.
    pub dashboard_dir: PathBuf,
    /// Take the client address from `X-Forwarded-For` (for login throttling), as set by the
    /// load balancer in front. Off: the TCP peer, which a client cannot forge.
    pub trust_forwarded_for: bool,
    /// The service is reached over TLS (terminated in front of it): answers carry HSTS.
    pub behind_tls: bool,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (it names
    /// organisations' plans and the routes' traffic).
    #[serde(default, serialize_with = "redacted")]
    pub metrics_token: Option<SecretString>,
}

/// The smallest body limit: below it not even a login fits.
const MIN_BODY_LIMIT_BYTES: usize = 1024;

impl ServerSettings {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.body_limit_bytes < MIN_BODY_LIMIT_BYTES {
            return Err(InvalidSetting::new(
                "body_limit_bytes",
                format!("must be at least {MIN_BODY_LIMIT_BYTES}"),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens (≥ 32 bytes). Unset in embedded mode: a random key per
    /// process. Required with PostgreSQL, where every replica must share it.
    #[serde(default, serialize_with = "redacted")]
    pub jwt_secret: Option<SecretString>,
    /// Lifetime of an access token and its session.
    #[serde(rename = "token_ttl_s", with = "seconds")]
    pub token_ttl: Duration,
    pub issuer: String,
    /// Login attempts one account may take per minute (a burst of as many), wherever they
    /// come from; beyond: 429 with `Retry-After`.
    pub login_attempts_per_account_per_minute: u32,
    /// Login attempts one client address may make per minute (a burst of as many).
    pub login_attempts_per_client_per_minute: u32,
    /// Emails of the users who run the installation itself: they may read
    /// `GET /admin/shards` (they must also be admins of their organisation).
    #[serde(default)]
    pub installation_admins: Vec<String>,
}

/// The shortest key HS256 is given.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
const TOKEN_TTL_RANGE_S: std::ops::RangeInclusive<u64> = 60..=30 * 86_400;

impl AuthSettings {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if let Some(secret) = &self.jwt_secret {
            if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
                return Err(InvalidSetting::new(
                    "jwt_secret",
                    format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long"),
                ));
            }
        }
        if !TOKEN_TTL_RANGE_S.contains(&self.token_ttl.as_secs()) {
            return Err(InvalidSetting::new(
                "token_ttl_s",
                format!(
                    "must be between {} and {} seconds",
                    TOKEN_TTL_RANGE_S.start(),
                    TOKEN_TTL_RANGE_S.end()
                ),
            ));
        }
        for (name, value) in [
            (
                "login_attempts_per_account_per_minute",
                self.login_attempts_per_account_per_minute,
            ),
            (
                "login_attempts_per_client_per_minute",
                self.login_attempts_per_client_per_minute,
            ),
        ] {
            if value == 0 {
                return Err(InvalidSetting::new(name, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The login quotas: per account, per client address.
    pub fn login_quotas(&self) -> LoginQuotas {
        let per_minute = |n: u32| domain::limits::Quota {
            per_second: n,
            burst: n,
            period_s: 60,
        };
        LoginQuotas {
            account: per_minute(self.login_attempts_per_account_per_minute),
            client: per_minute(self.login_attempts_per_client_per_minute),
        }
    }
}

/// How many login attempts an account and a client address may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginQuotas {
    pub account: domain::limits::Quota,
    pub client: domain::limits::Quota,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Serve hot reads from the cache (Redis, or in-process without Redis). Off: every read
    /// goes to the database (for benchmarks and troubleshooting).
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Most points in one `POST /telemetry` batch.
    pub max_batch_points: usize,
    /// How far in the future a point's `ts` may be (clock skew).
    #[serde(rename = "max_future_skew_s", with = "seconds")]
    pub max_future_skew: Duration,
    /// Days of history kept; older points are refused and dropped.
    pub retention_days: u32,
    /// How often partitions are created ahead and expired ones dropped.
    #[serde(rename = "maintenance_interval_s", with = "seconds")]
    pub maintenance_interval: Duration,
    /// Where days of telemetry older than `archive_after_days` are archived as Parquet: a
    /// local directory (a path or `file:///…`), `s3://bucket/prefix` (S3 or an
    /// S3-compatible store), `gs://bucket/prefix` or `az://container/prefix`, with
    /// credentials, region and endpoint from the store's environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, …).
    /// Empty: no archive, and retention deletes old days.
    pub archive_url: String,
    /// Days after which a day of telemetry is archived (with `archive_url`); points older
    /// than this are then refused at ingest.
    pub archive_after_days: u32,
    /// How often the per-drone minute and hour rollups are brought up to date.
    #[serde(rename = "rollup_interval_s", with = "seconds")]
    pub rollup_interval: Duration,
    /// What a `202` means: `durable` (every accepted point is committed to its shard, or
    /// acknowledged by the Kafka brokers) or `queued` (in this process's queue: faster, but
    /// a crash of the process loses what is queued; embedded mode only).
    pub ack: AckMode,
    /// With `durable`, the longest wait for a commit; points not committed by then are
    /// answered `shard_unavailable` (sending them again is safe).
    #[serde(rename = "ack_timeout_ms", with = "millis")]
    pub ack_timeout: Duration,
}

const MAX_FUTURE_SKEW_S: u64 = 3600;
const ACK_TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u128> = 100..=60_000;
const RETENTION_DAYS_RANGE: std::ops::RangeInclusive<u32> = 1..=3650;

impl TelemetrySettings {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.max_batch_points == 0 {
            return Err(InvalidSetting::new(
                "max_batch_points",
                "must be at least 1",
            ));
        }
        if self.max_future_skew.as_secs() > MAX_FUTURE_SKEW_S {
            return Err(InvalidSetting::new(
                "max_future_skew_s",
                format!("must be between 0 and {MAX_FUTURE_SKEW_S} seconds"),
            ));
        }
        if !RETENTION_DAYS_RANGE.contains(&self.retention_days) {
            return Err(InvalidSetting::new(
                "retention_days",
                format!(
                    "must be between {} and {} days",
                    RETENTION_DAYS_RANGE.start(),
                    RETENTION_DAYS_RANGE.end()
                ),
            ));
        }
        if self.maintenance_interval.is_zero() {
            return Err(InvalidSetting::new(
                "maintenance_interval_s",
                "must be at least 1",
            ));
        }
        if !self.archive_url.is_empty()
            && !(1..self.retention_days).contains(&self.archive_after_days)
        {
            return Err(InvalidSetting::new(
                "archive_after_days",
                format!(
                    "must be between 1 and retention_days - 1 ({}) when archive_url is set",
                    self.retention_days.saturating_sub(1)
                ),
            ));
        }
        if self.rollup_interval.is_zero() {
            return Err(InvalidSetting::new(
                "rollup_interval_s",
                "must be at least 1",
            ));
        }
        if !(ACK_TIMEOUT_RANGE_MS).contains(&self.ack_timeout.as_millis()) {
            return Err(InvalidSetting::new(
                "ack_timeout_ms",
                format!(
                    "must be between {} and {} milliseconds",
                    ACK_TIMEOUT_RANGE_MS.start(),
                    ACK_TIMEOUT_RANGE_MS.end()
                ),
            ));
        }
        Ok(())
    }

    /// How the embedded pipeline acknowledges a publish.
    pub fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement {
            mode: self.ack,
            timeout: self.ack_timeout,
        }
    }

    /// The domain's rules for points' timestamps.
    pub fn rules(&self) -> TelemetryRules {
        TelemetryRules {
            max_future_skew: chrono::Duration::seconds(
                i64::try_from(self.max_future_skew.as_secs()).unwrap_or(i64::MAX),
            ),
            // With an archive, a point older than its day's archiving would land behind it.
            retention: chrono::Duration::days(i64::from(if self.archive_url.is_empty() {
                self.retention_days
            } else {
                self.archive_after_days.min(self.retention_days)
            })),
        }
    }

    /// How long history is kept (in the database, or in the archive).
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSettings {
    /// Highest update rate (per second) a live client may ask for.
    pub max_hz: f64,
    /// Batches a live client may fall behind before it is disconnected.
    pub buffer_batches: usize,
    /// Live streams one principal (a user's session) may hold open at once, per replica.
    pub max_streams_per_principal: usize,
    /// Live streams one organisation may hold open at once, per replica.
    pub max_streams_per_org: usize,
    /// How long alert events are kept for clients that reconnect with `Last-Event-ID`.
    #[serde(rename = "replay_window_s", with = "seconds")]
    pub replay_window: Duration,
}

/// The highest `live.max_hz` accepted.
const MAX_LIVE_HZ: f64 = 100.0;

impl LiveSettings {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if !(self.max_hz.is_finite() && self.max_hz > 0.0 && self.max_hz <= MAX_LIVE_HZ) {
            return Err(InvalidSetting::new(
                "max_hz",
                format!("must be greater than 0 and at most {MAX_LIVE_HZ}"),
            ));
        }
        if self.buffer_batches == 0 {
            return Err(InvalidSetting::new("buffer_batches", "must be at least 1"));
        }
        if self.max_streams_per_principal == 0 {
            return Err(InvalidSetting::new(
                "max_streams_per_principal",
                "must be at least 1",
            ));
        }
        if self.max_streams_per_org < self.max_streams_per_principal {
            return Err(InvalidSetting::new(
                "max_streams_per_org",
                "must be at least max_streams_per_principal",
            ));
        }
        Ok(())
    }
}

/// `[webhooks]`: delivering alert changes to the organisations' endpoints.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Whether this API replica sends queued deliveries (every replica may; a lease per
    /// delivery keeps two from sending the same attempt). Deliveries are queued wherever
    /// alerts change, whatever this says.
    pub dispatch: bool,
    /// Let deliveries reach loopback, private, link-local and other non-public addresses.
    /// Off, a webhook cannot be used to probe the network the server runs in.
    pub allow_private_addresses: bool,
    /// How long one attempt may take, connecting included.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// The delay before the first retry; each further retry waits twice as long, up to
    /// `retry_max_delay_s`.
    #[serde(rename = "retry_base_ms", with = "millis")]
    pub retry_base: Duration,
    #[serde(rename = "retry_max_delay_s", with = "seconds")]
    pub retry_max_delay: Duration,
    /// How long a delivery is retried. One that fails until then has failed, and its
    /// webhook, whose endpoint failed every attempt for that long, is disabled.
    #[serde(rename = "retry_for_s", with = "seconds")]
    pub retry_for: Duration,
    /// Deliveries attempted at once by one replica.
    pub concurrency: usize,
    /// How often the queue is polled for due deliveries (deliveries queued by this process
    /// are sent at once).
    #[serde(rename = "poll_interval_ms", with = "millis")]
    pub poll_interval: Duration,
    /// Finished deliveries are listed for this long, then deleted.
    pub keep_deliveries_days: u32,
}

impl WebhookSettings {
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.timeout < Duration::from_millis(100) || self.timeout > Duration::from_secs(60) {
            return Err(InvalidSetting::new(
                "timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        if self.retry_base.is_zero() {
            return Err(InvalidSetting::new("retry_base_ms", "must be at least 1"));
        }
        if self.retry_max_delay < self.retry_base {
            return Err(InvalidSetting::new(
                "retry_max_delay_s",
                "must be at least retry_base_ms",
            ));
        }
        if self.retry_for.is_zero() {
            return Err(InvalidSetting::new("retry_for_s", "must be at least 1"));
        }
        if !(1..=256).contains(&self.concurrency) {
            return Err(InvalidSetting::new("concurrency", "must be 1 to 256"));
        }
        if self.poll_interval < Duration::from_millis(10) {
            return Err(InvalidSetting::new(
                "poll_interval_ms",
                "must be at least 10",
            ));
        }
        if self.keep_deliveries_days == 0 {
            return Err(InvalidSetting::new(
                "keep_deliveries_days",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    pub fn retry_policy(&self) -> domain::webhook::RetryPolicy {
        domain::webhook::RetryPolicy {
            base: self.retry_base,
            max_delay: self.retry_max_delay,
            retry_for: self.retry_for,
        }
    }

    pub fn address_policy(&self) -> domain::webhook::AddressPolicy {
        domain::webhook::AddressPolicy {
            allow_private: self.allow_private_addresses,
        }
    }
}
