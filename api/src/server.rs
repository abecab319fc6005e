//! The HTTP servers: the API (routes, middleware, one service per resource) and the small
//! operations listener of an ingest worker (health and metrics only). Both serve what the
//! composition root built; neither builds an adapter.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::rate_limit::RateLimits;
use crate::services::Services;
use crate::settings::ServerSettings;
use crate::state::{AppState, Observability};
use crate::{extract, routes};

/// The API server on `listener`, not yet running (await it, or hand it to a runtime).
pub fn api(
    state: Arc<AppState>,
    settings: &ServerSettings,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let services = Services::new(&state);
    let rate_limits = RateLimits::new(
        state.limits.rate_limiter.clone(),
        state.repos.orgs.clone(),
        state.observability.metrics.rate_limit_rejections.clone(),
    );
    let data = AppData {
        auth: web::Data::new(services.auth),
        users: web::Data::new(services.users),
        drones: web::Data::new(services.drones),
        api_keys: web::Data::new(services.api_keys),
        plans: web::Data::new(services.plans),
        geofences: web::Data::new(services.geofences),
        telemetry_service: web::Data::new(services.telemetry),
        fleet: web::Data::new(services.fleet),
        alerts: web::Data::new(services.alerts),
        webhooks: web::Data::new(services.webhooks),
        admin: web::Data::new(services.admin),
        rate_limits: web::Data::new(rate_limits),
        telemetry: web::Data::new(state.telemetry.clone()),
        limits: web::Data::new(state.limits.clone()),
        metrics: web::Data::new(state.observability.metrics.clone()),
        observability: web::Data::new(state.observability.clone()),
        auth_state: web::Data::new(state.auth.clone()),
    };
    let body_limit = state.limits.body_limit_bytes;
    let dashboard_dir = settings.dashboard_dir.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                crate::idempotency::middleware,
            ))
            // Outside idempotency, which may authenticate (and so bind the caller) first.
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::read_your_writes,
            ))
            .wrap(actix_web::middleware::from_fn(crate::rate_limit::headers))
            .wrap(actix_web::middleware::from_fn(crate::metrics::record))
            .wrap(actix_web::middleware::from_fn(
                routes::dashboard::cache_headers,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::add_request_id,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::security_headers,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::close_when_draining,
            ))
            .wrap(TracingLogger::<crate::logging::RequestSpan>::new())
            .configure(|cfg| data.register(cfg))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::QueryConfig::default().error_handler(extract::query_error))
            .app_data(web::PathConfig::default().error_handler(extract::path_error))
            .configure(|cfg| routes::configure(cfg, &dashboard_dir))
    })
    .listen(listener)?
    // The composition root handles the signals: it drains first, then stops the server.
    .disable_signals()
    .shutdown_timeout(settings.shutdown_timeout.as_secs());
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    Ok(server.run())
}

/// An ingest worker's `/health/live`, `/health/ready` and `/metrics` on `listener`. It
/// ignores signals: the worker stops it once its consumer has committed.
pub fn operations(observability: Observability, listener: TcpListener) -> std::io::Result<Server> {
    let observability = web::Data::new(observability);
    let metrics = web::Data::new(observability.metrics.clone());
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(observability.clone())
            .app_data(metrics.clone())
            .configure(routes::health::configure)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// What handlers and middleware extract, each registered once per worker.
#[derive(Clone)]
struct AppData {
    auth: web::Data<crate::services::AuthService>,
    users: web::Data<crate::services::UserService>,
    drones: web::Data<crate::services::DroneService>,
    api_keys: web::Data<crate::services::ApiKeyService>,
    plans: web::Data<crate::services::FlightPlanService>,
    geofences: web::Data<crate::services::GeofenceService>,
    telemetry_service: web::Data<crate::services::TelemetryService>,
    fleet: web::Data<crate::services::FleetService>,
    alerts: web::Data<crate::services::AlertService>,
    webhooks: web::Data<crate::services::WebhookService>,
    admin: web::Data<crate::services::AdminService>,
    rate_limits: web::Data<RateLimits>,
    telemetry: web::Data<crate::state::Telemetry>,
    limits: web::Data<crate::state::Limits>,
    metrics: web::Data<crate::metrics::Metrics>,
    observability: web::Data<Observability>,
    auth_state: web::Data<crate::state::Auth>,
}

impl AppData {
    fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.auth.clone())
            .app_data(self.users.clone())
            .app_data(self.drones.clone())
            .app_data(self.api_keys.clone())
            .app_data(self.plans.clone())
            .app_data(self.geofences.clone())
            .app_data(self.telemetry_service.clone())
            .app_data(self.fleet.clone())
            .app_data(self.alerts.clone())
            .app_data(self.webhooks.clone())
            .app_data(self.admin.clone())
            .app_data(self.rate_limits.clone())
            .app_data(self.telemetry.clone())
            .app_data(self.limits.clone())
            .app_data(self.metrics.clone())
            .app_data(self.observability.clone())
            .app_data(self.auth_state.clone());
    }
}
