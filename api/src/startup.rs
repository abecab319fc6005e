//! Builds the application: storage, state, routes and the HTTP server. `main.rs` and the
//! integration tests both start the real server through [`Application::build`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use domain::flight_plan::PlanRules;
use domain::ports::{
    ApiKeyRepository, Cache, DroneRepository, FlightPlanRepository, HealthCheck, IdempotencyStore,
    OrgRepository, RateLimiter, SessionStore, TelemetryBus, TelemetryStore, UserRepository,
};
use domain::telemetry::TelemetryRules;
use infra::kafka::KafkaBus;
use infra::pipeline::{DroneDirectory, Pipeline, RecentCounter};
use infra::{InMemorySessionStore, Store};
use secrecy::SecretString;
use tracing_actix_web::TracingLogger;

use crate::auth::JwtKeys;
use crate::cache::ResponseCache;
use crate::configuration::Settings;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use crate::{extract, routes};

/// Everything a handler may need, shared by all workers.
pub struct AppState {
    pub orgs: Arc<dyn OrgRepository>,
    pub users: Arc<dyn UserRepository>,
    pub drones: Arc<dyn DroneRepository>,
    pub api_keys: Arc<dyn ApiKeyRepository>,
    pub plans: Arc<dyn FlightPlanRepository>,
    pub sessions: Arc<dyn SessionStore>,
    pub telemetry: Arc<dyn TelemetryStore>,
    pub bus: Arc<dyn TelemetryBus>,
    /// Set when `kafka.brokers` is: accepted points go to Kafka and no writer runs here.
    pub kafka: Option<Arc<KafkaBus>>,
    pub pipeline: Arc<Pipeline>,
    pub directory: DroneDirectory,
    pub recent_points: Arc<RecentCounter>,
    pub cache: ResponseCache,
    pub rate_limits: RateLimits,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub health: Vec<Arc<dyn HealthCheck>>,
    pub store: Store,
    pub jwt: JwtKeys,
    pub token_ttl: chrono::Duration,
    pub plan_rules: PlanRules,
    pub telemetry_rules: TelemetryRules,
    pub max_batch_points: usize,
    pub live_max_hz: f64,
    pub body_limit_bytes: usize,
    pub metrics: Metrics,
}

/// Connects to every configured database, checks the slot map and, unless disabled, runs
/// the migrations.
pub async fn open_store(settings: &Settings, migrate: bool) -> anyhow::Result<Store> {
    let storage = settings.infra_storage().with_context(|| {
        format!(
            "failed to create the data directory {}",
            settings.storage.data_dir.display()
        )
    })?;
    let store = Store::connect(&storage)
        .await
        .context("failed to connect to storage")?;
    if migrate {
        store.migrate().await.context("failed to run migrations")?;
    }
    store.check_slot_map().await?;
    Ok(store)
}

impl AppState {
    /// Builds the state with the embedded telemetry pipeline (whatever `kafka.brokers` says)
    /// and starts its writer; needs a Tokio runtime.
    pub fn new(settings: &Settings, store: Store) -> anyhow::Result<Self> {
        let metrics = Metrics::new().context("failed to register metrics")?;
        Self::assemble(settings, store, metrics, None)
    }

    /// Builds the state for `serve`: with `kafka.brokers` set, accepted telemetry goes to
    /// Kafka (connecting first; the topic must exist) and no writer runs in this process.
    pub async fn connect(settings: &Settings, store: Store) -> anyhow::Result<Self> {
        let metrics = Metrics::new().context("failed to register metrics")?;
        let kafka = match settings.kafka_settings() {
            Some(kafka) => Some(Arc::new(
                KafkaBus::connect(&kafka, Arc::new(metrics.clone()))
                    .await
                    .with_context(|| format!("failed to connect to Kafka at {}", kafka.brokers))?,
            )),
            None => None,
        };
        Self::assemble(settings, store, metrics, kafka)
    }

    fn assemble(
        settings: &Settings,
        store: Store,
        metrics: Metrics,
        kafka: Option<Arc<KafkaBus>>,
    ) -> anyhow::Result<Self> {
        let secret = match &settings.auth.jwt_secret {
            Some(secret) => secret.clone(),
            None => {
                tracing::info!("auth.jwt_secret is not set: using a random key for this process (embedded mode)");
                SecretString::from(random_secret(48))
            }
        };
        let ttl_s =
            i64::try_from(settings.auth.token_ttl_s).context("auth.token_ttl_s is too large")?;
        let telemetry: Arc<dyn TelemetryStore> = Arc::new(store.clone());
        let pipeline = Arc::new(match kafka {
            Some(_) => Pipeline::live_only(&settings.pipeline_settings()),
            None => Pipeline::start(
                &settings.pipeline_settings(),
                telemetry.clone(),
                Arc::new(metrics.clone()),
            ),
        });
        let drones: Arc<dyn DroneRepository> = Arc::new(store.clone());
        let orgs: Arc<dyn OrgRepository> = Arc::new(store.clone());
        let shared = Shared::new(settings, &metrics, &pipeline)?;
        let mut health: Vec<Arc<dyn HealthCheck>> = vec![Arc::new(store.clone())];
        health.extend(shared.health);
        let bus: Arc<dyn TelemetryBus> = match &kafka {
            Some(kafka) => {
                health.push(kafka.clone());
                kafka.clone()
            }
            None => pipeline.bus.clone(),
        };
        Ok(Self {
            rate_limits: RateLimits::new(
                shared.rate_limiter,
                orgs.clone(),
                metrics.rate_limit_rejections.clone(),
            ),
            cache: if settings.cache.enabled {
                ResponseCache::new(
                    shared.cache.clone(),
                    shared.layer,
                    metrics.cache_lookups.clone(),
                )
            } else {
                ResponseCache::new(
                    Arc::new(crate::cache::NoCache),
                    "none",
                    metrics.cache_lookups.clone(),
                )
            },
            idempotency: shared.idempotency,
            orgs,
            users: Arc::new(store.clone()),
            directory: DroneDirectory::new(
                drones.clone(),
                shared.cache.clone(),
                Duration::from_secs(2),
                Duration::from_secs(300),
                1_000_000,
            ),
            drones,
            api_keys: Arc::new(store.clone()),
            plans: Arc::new(store.clone()),
            sessions: shared.sessions,
            telemetry,
            bus,
            kafka,
            pipeline,
            recent_points: Arc::new(RecentCounter::default()),
            health,
            jwt: JwtKeys::new(&secret, &settings.auth.issuer),
            token_ttl: chrono::Duration::seconds(ttl_s),
            plan_rules: settings.plan_rules(),
            telemetry_rules: settings.telemetry_rules(),
            max_batch_points: settings.telemetry.max_batch_points,
            live_max_hz: settings.telemetry.live_max_hz,
            body_limit_bytes: settings.server.body_limit_bytes,
            metrics,
            store,
        })
    }
}

fn random_secret(len: usize) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, len)
}

/// The adapters of the ports that replicas share: Redis when `redis.url` is set, in-process
/// twins otherwise.
struct Shared {
    sessions: Arc<dyn SessionStore>,
    cache: Arc<dyn Cache>,
    layer: &'static str,
    rate_limiter: Arc<dyn RateLimiter>,
    idempotency: Arc<dyn IdempotencyStore>,
    health: Vec<Arc<dyn HealthCheck>>,
}

impl Shared {
    fn new(settings: &Settings, metrics: &Metrics, pipeline: &Pipeline) -> anyhow::Result<Self> {
        let connect = |timeout_ms: u64| {
            settings.redis_settings(timeout_ms).map(|redis| {
                infra::redis::Redis::new(redis, Arc::new(metrics.clone()))
                    .context("invalid redis.url")
            })
        };
        // Two pools: caches give up fast and fall back to the database; sessions, limits
        // and idempotency keys wait longer, because their failure is visible.
        let (Some(redis), Some(caching)) = (
            connect(settings.redis.command_timeout_ms),
            connect(settings.redis.timeout_ms),
        ) else {
            return Ok(Self {
                sessions: Arc::new(InMemorySessionStore::new()),
                cache: Arc::new(infra::local::InMemoryCache::new(100_000)),
                layer: "memory",
                rate_limiter: Arc::new(infra::local::LocalRateLimiter::new()),
                idempotency: Arc::new(infra::local::InMemoryIdempotencyStore::new()),
                health: Vec::new(),
            });
        };
        let (redis, caching) = (redis?, caching?);
        let bridge = redis.live_bridge(pipeline.live.clone());
        bridge.start_subscriber();
        pipeline.set_live_publisher(Arc::new(bridge));
        Ok(Self {
            sessions: Arc::new(redis.session_store(Duration::from_secs(settings.auth.token_ttl_s))),
            cache: Arc::new(caching.cache()),
            layer: "redis",
            rate_limiter: Arc::new(redis.rate_limiter()),
            idempotency: Arc::new(redis.idempotency_store()),
            health: vec![Arc::new(redis)],
        })
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Opens storage (running migrations when `storage.migrate_on_start`), binds
    /// `server.bind` and prepares the server; nothing is served until [`Application::run`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = open_store(&settings, settings.storage.migrate_on_start).await?;
        let state = web::Data::new(AppState::connect(&settings, store).await?);
        Self::with_state(&settings, state)
    }

    pub fn with_state(settings: &Settings, state: web::Data<AppState>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("failed to bind {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let body_limit = settings.server.body_limit_bytes;
        let dashboard_dir = settings.server.dashboard_dir.clone();
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    crate::idempotency::middleware,
                ))
                .wrap(actix_web::middleware::from_fn(crate::rate_limit::headers))
                .wrap(actix_web::middleware::from_fn(crate::metrics::record))
                .wrap(actix_web::middleware::from_fn(
                    routes::dashboard::cache_headers,
                ))
                .wrap(actix_web::middleware::from_fn(
                    crate::middleware::add_request_id,
                ))
                .wrap(TracingLogger::default())
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::QueryConfig::default().error_handler(extract::query_error))
                .app_data(web::PathConfig::default().error_handler(extract::path_error))
                .configure(|cfg| routes::configure(cfg, &dashboard_dir))
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_timeout_s);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        tokio::spawn(maintain_telemetry(
            state.telemetry.clone(),
            Duration::from_secs(settings.telemetry.maintenance_interval_s),
            settings.telemetry_rules().retention,
        ));
        Ok(Self {
            port,
            server: server.run(),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM, drains in-flight requests (`server.shutdown_timeout_s`),
    /// then writes every telemetry point still queued before returning.
    pub async fn run(self) -> std::io::Result<()> {
        let served = self.server.await;
        let queued = self.state.pipeline.queued_points();
        tracing::info!(queued, "draining the telemetry queue");
        self.state.pipeline.shutdown().await;
        if let Some(kafka) = &self.state.kafka {
            kafka.flush(Duration::from_secs(10)).await;
        }
        served
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Creates telemetry partitions ahead of time and drops expired ones, now and then every
/// `every`. Failures are logged and retried at the next round.
async fn maintain_telemetry(
    store: Arc<dyn TelemetryStore>,
    every: Duration,
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

/// How long a readiness check may take per dependency.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
