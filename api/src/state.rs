//! What the HTTP layer is built from, grouped by concern. The composition root (the
//! `nimbusfleet` crate's `Application::build`) fills it once from the settings; the server
//! turns it into one service per resource ([`crate::services`]). Nothing here builds
//! anything, and nothing here knows which adapter sits behind a port.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use domain::airspace::AirspaceRules;
use domain::flight_plan::PlanRules;
use domain::monitoring::MonitorRules;
use domain::platform::{AirspaceFeed, Cache, IdempotencyStore, RateLimiter, SessionStore};
use domain::ports::{
    AlertRepository, ApiKeyRepository, DroneRepository, FlightPlanRepository, GeofenceRepository,
    HealthCheck, OrgRepository, ShardDirectory, TelemetryBus, TelemetryStore, UserRepository,
    WebhookRepository,
};
use domain::telemetry::TelemetryRules;
use infra::live::{LiveHub, LivePublisher};
use infra::pipeline::{DroneDirectory, RecentCounter};

use crate::auth::JwtKeys;
use crate::metrics::{Metrics, Snapshot};

pub struct AppState {
    pub repos: Repos,
    /// The airspace indexes, shared with the monitor when this process writes telemetry.
    pub airspace: crate::services::AirspaceService,
    pub telemetry: Telemetry,
    /// Each organisation's enabled webhooks, shared with the webhook outbox.
    pub webhooks: crate::services::WebhookDirectory,
    pub auth: Auth,
    pub limits: Limits,
    pub observability: Observability,
}

/// The storage ports, and the response cache in front of them.
#[derive(Clone)]
pub struct Repos {
    pub orgs: Arc<dyn OrgRepository>,
    pub users: Arc<dyn UserRepository>,
    pub drones: Arc<dyn DroneRepository>,
    pub api_keys: Arc<dyn ApiKeyRepository>,
    pub plans: Arc<dyn FlightPlanRepository>,
    pub geofences: Arc<dyn GeofenceRepository>,
    pub alerts: Arc<dyn AlertRepository>,
    pub webhooks: Arc<dyn WebhookRepository>,
    pub shards: Arc<dyn ShardDirectory>,
    pub cache: Arc<dyn Cache>,
    /// Tells the other replicas' airspace indexes what changed.
    pub airspace_feed: Arc<dyn AirspaceFeed>,
    /// `redis` or `memory`, for the cache metrics.
    pub cache_layer: &'static str,
}

/// The storage every repository port of one adapter implements.
pub trait Storage:
    OrgRepository
    + UserRepository
    + DroneRepository
    + ApiKeyRepository
    + FlightPlanRepository
    + GeofenceRepository
    + AlertRepository
    + WebhookRepository
    + ShardDirectory
{
}

impl<T> Storage for T where
    T: OrgRepository
        + UserRepository
        + DroneRepository
        + ApiKeyRepository
        + FlightPlanRepository
        + GeofenceRepository
        + AlertRepository
        + WebhookRepository
        + ShardDirectory
{
}

impl Repos {
    /// Every repository as a view of one `storage`.
    pub fn new<S: Storage + 'static>(
        storage: Arc<S>,
        cache: Arc<dyn Cache>,
        cache_layer: &'static str,
        airspace_feed: Arc<dyn AirspaceFeed>,
    ) -> Self {
        Self {
            orgs: storage.clone(),
            users: storage.clone(),
            drones: storage.clone(),
            api_keys: storage.clone(),
            plans: storage.clone(),
            geofences: storage.clone(),
            alerts: storage.clone(),
            webhooks: storage.clone(),
            shards: storage,
            cache,
            cache_layer,
            airspace_feed,
        }
    }
}

/// The telemetry path: where accepted points go and where they are read from.
#[derive(Clone)]
pub struct Telemetry {
    pub store: Arc<dyn TelemetryStore>,
    pub bus: Arc<dyn TelemetryBus>,
    /// What `/live` streams subscribe to.
    pub live: LiveHub,
    /// Where alert changes people make go, to reach every replica's streams.
    pub publisher: Arc<dyn LivePublisher>,
    pub directory: DroneDirectory,
    pub recent_points: Arc<RecentCounter>,
}

/// Who is calling: token keys and the session store.
#[derive(Clone)]
pub struct Auth {
    pub jwt: JwtKeys,
    /// Signs the read-after tokens of writes (`nimbus-read-after`); `None` without read
    /// replicas, where every read is of the primary.
    pub read_after: Option<infra::consistency::TokenKey>,
    pub sessions: Arc<dyn SessionStore>,
    pub token_ttl: Duration,
    pub login_quotas: crate::settings::LoginQuotas,
    /// Whether the client address comes from `X-Forwarded-For` (`server.trust_forwarded_for`).
    pub trust_forwarded_for: bool,
    /// Lower-case emails of the users who may see the installation's shards
    /// (`auth.installation_admins`).
    pub installation_admins: Arc<[String]>,
}

/// What requests may do: rules, sizes and rates.
#[derive(Clone)]
pub struct Limits {
    pub plan_rules: PlanRules,
    pub airspace_rules: AirspaceRules,
    pub telemetry_rules: TelemetryRules,
    pub monitor_rules: MonitorRules,
    pub max_batch_points: usize,
    pub live_max_hz: f64,
    /// Open live streams, bounded per principal and per organisation.
    pub live_streams: Arc<crate::streams::StreamLimits>,
    /// The service is reached over TLS: answers carry HSTS.
    pub behind_tls: bool,
    pub body_limit_bytes: usize,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Which addresses webhooks may be given (`webhooks.allow_private_addresses`).
    pub webhook_addresses: domain::webhook::AddressPolicy,
}

/// Health checks and metrics, shared with the ingest worker's listener.
#[derive(Clone)]
pub struct Observability {
    pub metrics: Metrics,
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// The dependencies without which this process cannot serve at all (the catalog for an
    /// API replica); any other one down only degrades it.
    pub critical: Vec<&'static str>,
    /// Set when the process is stopping: readiness answers 503 so that load balancers stop
    /// sending it requests before its listener closes.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Turns true when the server stops, after the drain: live streams end then (their
    /// clients reconnect, to another replica), so that the graceful stop is not held up by
    /// streams that would otherwise run until `server.shutdown_timeout_s`.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Reads the state mirrored into gauges at scrape time.
    pub gauges: Arc<dyn Fn() -> Snapshot + Send + Sync>,
    /// When set, `/metrics` answers only this bearer token (`server.metrics_token`).
    pub metrics_token: Option<secrecy::SecretString>,
}

/// What readiness found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Every dependency answered.
    Ready,
    /// Some answered not, none critical: the process serves what does not need them (a
    /// down shard makes only its own drones unavailable), so it stays in the load balancer.
    Degraded,
    /// A critical dependency is down, or the process is draining: route elsewhere.
    Unavailable,
}

/// How long a readiness check may take per dependency.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
/// The name a check that did not answer in time is reported under (always critical).
pub const TIMED_OUT: &str = "storage";

impl Observability {
    /// Runs every health check (each within [`READY_TIMEOUT`]): each dependency and
    /// whether it answered. The outcome is also what `nimbusfleet_health_dependency_up`
    /// shows.
    pub async fn check(&self) -> BTreeMap<String, bool> {
        let mut checks = BTreeMap::new();
        for check in &self.health {
            match tokio::time::timeout(READY_TIMEOUT, check.check()).await {
                Ok(results) => {
                    for (name, error) in results {
                        if let Some(error) = &error {
                            // Probes come every few seconds; the answer names every failing
                            // dependency, the log one line per 10 s.
                            static LOG: crate::logging::Throttle = crate::logging::Throttle::new();
                            if let Some(suppressed) = LOG.admit() {
                                tracing::warn!(dependency = %name, %error, suppressed, "readiness check failed");
                            }
                        }
                        checks.insert(name, error.is_none());
                    }
                }
                Err(_) => {
                    tracing::warn!("readiness check timed out");
                    checks.insert(TIMED_OUT.to_owned(), false);
                }
            }
        }
        for (name, up) in &checks {
            self.metrics.dependency(name, *up);
        }
        checks
    }

    /// Readiness from a [`Self::check`] result.
    pub fn readiness(&self, checks: &BTreeMap<String, bool>) -> Readiness {
        let draining = self.draining.load(std::sync::atomic::Ordering::Acquire);
        let critical_down = checks
            .iter()
            .any(|(name, up)| !up && self.critical.contains(&name.as_str()));
        if draining || critical_down {
            Readiness::Unavailable
        } else if checks.values().all(|up| *up) {
            Readiness::Ready
        } else {
            Readiness::Degraded
        }
    }

    /// Checks every `every`, so that the dependency gauges stay current when nobody asks
    /// `/health/ready`. Runs until the process ends.
    pub async fn watch(self, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.check().await;
        }
    }
}
