//! The composition root: [`Application::build`] turns settings into a running process —
//! the API server, or an ingest worker — choosing every adapter once (through infra's
//! factories), running the migrations, and wiring the pieces. `serve`, `ingest`, the
//! integration tests and the benchmarks all start here.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;
use api::auth::JwtKeys;
use api::metrics::{Metrics, Snapshot};
use api::services::{
    AirspaceService, AirspaceSources, DispatcherParts, MonitorParts, MonitoringPublisher,
    WebhookDirectory, WebhookDispatcher, WebhookOutbox,
};
use api::state::{AppState, Auth, Limits, Observability, Repos, Telemetry};
use domain::ports::{HealthCheck, TelemetryStore};
use infra::bus::{TelemetryPath, Writers};
use infra::kafka::{IngestWorker, KafkaBus};
use infra::live::{LiveHub, LivePublisher};
use infra::pipeline::{DroneDirectory, Pipeline, RecentCounter};
use infra::platform::Platform;
use infra::Store;
use secrecy::SecretString;

use crate::settings::Settings;

mod shutdown;

use shutdown::{drain_on_signal, run_consumer};

/// What this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `serve`: the HTTP API on `server.bind`.
    Api,
    /// `ingest`: one member of the Kafka consumer group, with health and metrics on
    /// `ingest.bind`.
    Ingest,
}

/// Length of the random JWT key of an embedded process that was given none.
const EMBEDDED_JWT_SECRET_LEN: usize = 48;
/// The dependency without which an API replica cannot serve at all (logins, keys, plans
/// and the shard map live there); shards, Redis and the brokers only degrade it.
const CATALOG: &str = "catalog";
/// An ingest worker is unavailable while its group leaves partitions unconsumed.
const CONSUMER_GROUP: &str = infra::kafka::GROUP_HEALTH;
/// How often dependencies are checked for `nimbusfleet_health_dependency_up`.
const HEALTH_WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    state: Option<Arc<AppState>>,
    telemetry: Option<Arc<TelemetryPath>>,
    consumer: Option<Consumer>,
    stop: Arc<tokio::sync::Notify>,
    drain_delay: std::time::Duration,
}

/// Stops a running [`Application`] as SIGTERM would.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    stop: Arc<tokio::sync::Notify>,
}

impl StopHandle {
    /// Graceful: in-flight requests finish, accepted points are made durable, an ingest
    /// worker writes its batch in hand and commits.
    pub async fn stop(&self) {
        self.stop.notify_one();
        self.server.stop(true).await;
    }
}

/// What both roles are built from.
struct Common {
    settings: Settings,
    store: Store,
    metrics: Metrics,
    platform: Platform,
    hub: LiveHub,
}

/// The ingest worker's consumer, on a thread of its own.
struct Consumer {
    worker: IngestWorker,
}

/// Connects to every configured database, checks the slot map and, when `migrate`, runs
/// the migrations first (replicas and workers starting together take turns).
pub async fn open_store(settings: &Settings, migrate: bool) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.storage)
        .await
        .context("failed to connect to storage")?;
    if migrate {
        let (catalog, shards) = store.databases();
        migrations::run(catalog, shards)
            .await
            .context("failed to run migrations")?;
    }
    store.check_slot_map().await?;
    let archive = &settings.telemetry.archive_url;
    if archive.is_empty() {
        return Ok(store);
    }
    let after = chrono::Duration::days(i64::from(settings.telemetry.archive_after_days));
    Ok(store.with_archive(infra::telemetry::Archive::open(archive)?, after))
}

impl Application {
    /// Opens storage (running migrations when `storage.migrate_on_start`), binds the
    /// role's listener and prepares everything; nothing is served until [`Self::run`].
    pub async fn build(settings: Settings, role: Role) -> anyhow::Result<Self> {
        let store = open_store(&settings, settings.storage.migrate_on_start).await?;
        let metrics = Metrics::new().context("failed to register metrics")?;
        let platform = Platform::new(&settings.redis, Arc::new(metrics.clone()))
            .context("invalid redis.url")?;
        let hub = LiveHub::new(settings.live.buffer_batches)
            .with_replay_window(settings.live.replay_window);
        let common = Common {
            settings,
            store,
            metrics,
            platform,
            hub,
        };
        match role {
            Role::Api => Self::api(common).await,
            Role::Ingest => Self::ingest(common),
        }
    }

    async fn api(common: Common) -> anyhow::Result<Self> {
        let Common {
            settings,
            store,
            metrics,
            platform,
            hub,
        } = common;
        let telemetry_store: Arc<dyn TelemetryStore> = Arc::new(store.clone());
        let directory = WebhookDirectory::new(Arc::new(store.clone()));
        let dispatcher = if settings.webhooks.dispatch {
            Some(dispatcher(&settings, &metrics, &directory)?)
        } else {
            None
        };
        let live = WebhookOutbox::start(
            platform.live(&hub, true),
            directory.clone(),
            dispatcher.as_ref().map(WebhookDispatcher::waker),
            metrics.webhooks.clone(),
        );
        let airspace = airspace(&settings, &store, &platform);
        let jwt_secret = jwt_secret(&settings);
        // Points are judged where they are written: here when embedded, else by the
        // ingest workers.
        let writer_live = if settings.kafka.brokers.is_none() {
            monitored(&settings, &store, &metrics, airspace.clone(), live.clone())
        } else {
            live.clone()
        };
        let path = Arc::new(
            TelemetryPath::new(
                &settings.kafka,
                &settings.pipeline,
                Writers {
                    store: telemetry_store.clone(),
                    slot_map: (*store.slot_map()).clone(),
                    live: writer_live,
                    observer: Arc::new(metrics.clone()),
                    ack: settings.telemetry.acknowledgement(),
                },
                Arc::new(metrics.clone()),
            )
            .await?,
        );
        let storage = Arc::new(store.clone());
        let state = Arc::new(AppState {
            repos: Repos::new(
                storage.clone(),
                platform.cache(settings.cache.enabled),
                if settings.cache.enabled {
                    platform.layer()
                } else {
                    "none"
                },
                platform.airspace_feed(),
            ),
            airspace,
            webhooks: directory,
            telemetry: Telemetry {
                store: telemetry_store.clone(),
                bus: path.bus(),
                live: hub.clone(),
                publisher: live,
                directory: DroneDirectory::new(storage, platform.directory_cache()),
                recent_points: Arc::new(RecentCounter::default()),
            },
            auth: Auth {
                jwt: JwtKeys::new(&jwt_secret, &settings.auth.issuer),
                // Read-after tokens only matter where reads can go to replicas.
                read_after: store.has_replicas().then(|| {
                    use secrecy::ExposeSecret;
                    infra::consistency::TokenKey::derive(jwt_secret.expose_secret().as_bytes())
                }),
                sessions: platform.sessions(settings.auth.token_ttl),
                token_ttl: settings.auth.token_ttl,
                login_quotas: settings.auth.login_quotas(),
                trust_forwarded_for: settings.server.trust_forwarded_for,
                installation_admins: settings
                    .auth
                    .installation_admins
                    .iter()
                    .map(|e| e.trim().to_lowercase())
                    .collect(),
            },
            limits: Limits {
                plan_rules: settings.flight_plans,
                airspace_rules: settings.airspace,
                telemetry_rules: settings.telemetry.rules(),
                monitor_rules: settings.monitoring,
                max_batch_points: settings.telemetry.max_batch_points,
                live_max_hz: settings.live.max_hz,
                live_streams: Arc::new(api::streams::StreamLimits::new(
                    settings.live.max_streams_per_principal,
                    settings.live.max_streams_per_org,
                )),
                behind_tls: settings.server.behind_tls,
                body_limit_bytes: settings.server.body_limit_bytes,
                rate_limiter: platform.rate_limiter(),
                idempotency: platform.idempotency(),
                webhook_addresses: settings.webhooks.address_policy(),
            },
            observability: observability(
                metrics,
                &store,
                &platform,
                path.health().into_iter().collect(),
                vec![CATALOG],
                {
                    let (store, path, hub) = (store.clone(), path.clone(), hub.clone());
                    move || Snapshot {
                        pools: store.pool_stats(),
                        replicas: store.replica_stats(),
                        queued_points: path.queued_points(),
                        queue_capacity: path.queue_capacity(),
                        live_subscribers: hub.subscribers(),
                        kafka_in_flight: path.in_flight(),
                    }
                },
                settings.server.metrics_token.clone(),
            ),
        });
        let listener = bind(settings.server.bind)?;
        let port = listener.local_addr()?.port();
        let server = api::server::api(state.clone(), &settings.server, listener)?;
        tokio::spawn(state.observability.clone().watch(HEALTH_WATCH_INTERVAL));
        if store.has_replicas() {
            tokio::spawn(store.clone().watch_replicas());
        }
        if store.slots_can_move() {
            tokio::spawn(store.clone().watch_routing());
            platform.follow_slot_map(&store);
        }
        if let Some(dispatcher) = dispatcher {
            tokio::spawn(dispatcher.run());
        }
        tokio::spawn(roll_up_telemetry(
            telemetry_store.clone(),
            settings.telemetry.rollup_interval,
            settings.telemetry.retention(),
        ));
        tokio::spawn(maintain_telemetry(
            telemetry_store,
            settings.telemetry.maintenance_interval,
            settings.telemetry.retention(),
        ));
        Ok(Self {
            port,
            server,
            store,
            state: Some(state),
            telemetry: Some(path),
            consumer: None,
            stop: Arc::default(),
            drain_delay: settings.server.drain_delay,
        })
    }

    fn ingest(common: Common) -> anyhow::Result<Self> {
        let Common {
            settings,
            store,
            metrics,
            platform,
            hub,
        } = common;
        if settings.kafka.brokers.is_none() {
            anyhow::bail!(
                "`nimbusfleet ingest` needs kafka.brokers (NIMBUS__KAFKA__BROKERS=host:9092)"
            );
        }
        if matches!(platform, Platform::Embedded) {
            tracing::warn!(
                "redis.url is not set: points written by this worker reach no live view"
            );
        }
        let worker = IngestWorker::new(
            &settings.kafka,
            &settings.ingest,
            tokio::runtime::Handle::current(),
            Arc::new(store.clone()),
            (*store.slot_map()).clone(),
            Arc::new(metrics.clone()),
            Arc::new(metrics.clone()),
            monitored(
                &settings,
                &store,
                &metrics,
                airspace(&settings, &store, &platform),
                WebhookOutbox::start(
                    platform.live(&hub, false),
                    WebhookDirectory::new(Arc::new(store.clone())),
                    None,
                    metrics.webhooks.clone(),
                ),
            ),
        )
        .context("failed to create the Kafka consumer")?;
        let gauges = {
            let store = store.clone();
            move || Snapshot {
                pools: store.pool_stats(),
                ..Snapshot::default()
            }
        };
        let group: Arc<dyn HealthCheck> = worker.group_health();
        let observability = observability(
            metrics,
            &store,
            &platform,
            vec![group],
            vec![CONSUMER_GROUP],
            gauges,
            settings.server.metrics_token.clone(),
        );
        let listener = bind(settings.ingest.bind)?;
        let port = listener.local_addr()?.port();
        tokio::spawn(observability.clone().watch(HEALTH_WATCH_INTERVAL));
        if store.slots_can_move() {
            tokio::spawn(store.clone().watch_routing());
            platform.follow_slot_map(&store);
        }
        let server = api::server::operations(observability, listener)?;
        Ok(Self {
            port,
            server,
            store,
            state: None,
            telemetry: None,
            consumer: Some(Consumer { worker }),
            stop: Arc::default(),
            drain_delay: std::time::Duration::ZERO,
        })
    }

    /// The port the listener is bound to (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The API's state (`Role::Api` only).
    pub fn state(&self) -> Option<&Arc<AppState>> {
        self.state.as_ref()
    }

    /// The embedded telemetry pipeline, when this API replica writes telemetry itself.
    pub fn pipeline(&self) -> Option<Arc<Pipeline>> {
        self.telemetry.as_ref()?.pipeline().cloned()
    }

    /// The Kafka producer, when accepted telemetry goes to Kafka.
    pub fn kafka(&self) -> Option<Arc<KafkaBus>> {
        self.telemetry.as_ref()?.kafka().cloned()
    }

    /// A handle that stops the application gracefully.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            stop: self.stop.clone(),
        }
    }

    /// API: serves until SIGINT/SIGTERM, drains in-flight requests
    /// (`server.shutdown_timeout_s`), then makes every accepted point durable. Ingest:
    /// consumes until SIGINT/SIGTERM, then writes the batch in hand and commits.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.consumer {
            None => {
                if let Some(state) = &self.state {
                    tokio::spawn(drain_on_signal(
                        self.server.handle(),
                        state.observability.draining.clone(),
                        state.observability.stopping.clone(),
                        self.drain_delay,
                        self.stop.clone(),
                    ));
                }
                let served = self.server.await;
                if let Some(telemetry) = &self.telemetry {
                    telemetry.drain().await;
                }
                served.context("server failed")
            }
            Some(consumer) => run_consumer(consumer, self.server, self.stop).await,
        }
    }
}

/// The process's airspace indexes (one per process: it subscribes to the feed).
fn airspace(settings: &Settings, store: &Store, platform: &Platform) -> AirspaceService {
    let storage = Arc::new(store.clone());
    AirspaceService::new(
        AirspaceSources {
            fences: storage.clone(),
            plans: storage.clone(),
            orgs: storage.clone(),
            drones: storage,
        },
        platform.airspace_feed(),
        settings.airspace,
    )
}

/// What the writers of this process hand written points to: the conformance monitor in
/// front of the live fan-out, unless `monitoring.enabled` is off.
fn monitored(
    settings: &Settings,
    store: &Store,
    metrics: &Metrics,
    airspace: AirspaceService,
    live: Arc<dyn LivePublisher>,
) -> Arc<dyn LivePublisher> {
    if !settings.monitoring.enabled {
        return live;
    }
    MonitoringPublisher::start(
        MonitorParts {
            rules: settings.monitoring,
            airspace,
            alerts: Arc::new(store.clone()),
            metrics: metrics.monitoring.clone(),
        },
        live,
    )
}

/// The webhook dispatcher of an API replica: it sends due deliveries from the shared queue.
fn dispatcher(
    settings: &Settings,
    metrics: &Metrics,
    directory: &WebhookDirectory,
) -> anyhow::Result<WebhookDispatcher> {
    let w = &settings.webhooks;
    Ok(WebhookDispatcher::new(DispatcherParts {
        directory: directory.clone(),
        sender: infra::webhook::WebhookSender::new(w.address_policy(), w.timeout)
            .context("failed to build the webhook HTTP client")?,
        retry: w.retry_policy(),
        concurrency: w.concurrency,
        poll_interval: w.poll_interval,
        lease: w.timeout + std::time::Duration::from_secs(30),
        keep_deliveries: std::time::Duration::from_secs(u64::from(w.keep_deliveries_days) * 86_400),
        metrics: metrics.webhooks.clone(),
    }))
}

fn bind(address: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).with_context(|| format!("failed to bind {address}"))
}

/// Storage, the platform's Redis and (for API replicas producing to Kafka) the brokers
/// are what `/health/ready` checks.
fn observability(
    metrics: Metrics,
    store: &Store,
    platform: &Platform,
    more: Vec<Arc<dyn HealthCheck>>,
    critical: Vec<&'static str>,
    gauges: impl Fn() -> Snapshot + Send + Sync + 'static,
    metrics_token: Option<SecretString>,
) -> Observability {
    let mut health: Vec<Arc<dyn HealthCheck>> = vec![Arc::new(store.clone())];
    health.extend(platform.health());
    health.extend(more);
    Observability {
        metrics,
        health,
        critical: [api::state::TIMED_OUT]
            .into_iter()
            .chain(critical)
            .collect(),
        draining: Arc::default(),
        stopping: Arc::new(tokio::sync::watch::channel(false).0),
        gauges: Arc::new(gauges),
        metrics_token,
    }
}

/// The configured JWT key, or a random one for an embedded process (validation refuses a
/// missing key with PostgreSQL).
fn jwt_secret(settings: &Settings) -> SecretString {
    match &settings.auth.jwt_secret {
        Some(secret) => secret.clone(),
        None => {
            tracing::info!(
                "auth.jwt_secret is not set: using a random key for this process (embedded mode)"
            );
            use rand::distributions::{Alphanumeric, DistString};
            SecretString::from(
                Alphanumeric.sample_string(&mut rand::rngs::OsRng, EMBEDDED_JWT_SECRET_LEN),
            )
        }
    }
}

/// Creates telemetry partitions ahead of time and drops expired ones, now and then every
/// `every`. Failures are logged and retried at the next round.
async fn maintain_telemetry(
    store: Arc<dyn TelemetryStore>,
    every: std::time::Duration,
    retention: chrono::Duration,
) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        if let Err(error) = store.maintain(chrono::Utc::now(), retention).await {
            tracing::warn!(%error, "telemetry maintenance failed; retrying at the next round");
        }
    }
}

/// Keeps the telemetry rollups current, every `every`. Failures are logged
/// and retried at the next round.
async fn roll_up_telemetry(
    store: Arc<dyn TelemetryStore>,
    every: std::time::Duration,
    retention: chrono::Duration,
) {
    // The first round after one interval, once the start-up maintenance has made the
    // day's partitions (a round holds the tables the maintenance locks).
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = store.roll_up(chrono::Utc::now(), retention).await {
            tracing::warn!(%error, "telemetry rollup failed; retrying at the next round");
        }
    }
}
