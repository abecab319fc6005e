//! Orchestration, one type per resource: each service loads what a rule needs through the
//! repositories, asks `domain` to decide, stores the outcome and keeps caches and the drone
//! directory in step. Handlers parse the request, call one service method and map the
//! answer; no rule lives in a handler and none lives here.

mod admin;
mod airspace;
mod alerts;
mod api_keys;
mod auth;
mod cache;
mod drones;
mod fleet;
mod flight_plans;
mod monitoring;
mod passwords;
mod telemetry;
mod users;
mod webhooks;

pub use admin::AdminService;
pub use airspace::{AirspaceService, AirspaceSources, GeofenceService};
pub use alerts::AlertService;
pub use api_keys::ApiKeyService;
pub use auth::{AuthService, Token, MAX_ACCOUNTS_PER_EMAIL};
pub use cache::{CacheAside, Cached, CachedBody, Loaded};
pub use drones::DroneService;
pub use fleet::FleetService;
pub use flight_plans::FlightPlanService;
pub use monitoring::{MonitorParts, MonitoringPublisher};
pub use telemetry::{IngestOutcome, PointPage, TelemetryService};
pub use users::{NewAccount, UserChange, UserService};
pub use webhooks::{
    DispatcherParts, WebhookChange, WebhookDirectory, WebhookDispatcher, WebhookOutbox,
    WebhookService,
};

use actix_web::http::header::{self, EntityTag, Header, IfMatch};
use actix_web::HttpRequest;

use crate::error::ApiError;
use crate::state::AppState;

/// Every service, built once from the application's state.
#[derive(Clone)]
pub struct Services {
    pub auth: AuthService,
    pub users: UserService,
    pub drones: DroneService,
    pub api_keys: ApiKeyService,
    pub plans: FlightPlanService,
    pub geofences: GeofenceService,
    pub telemetry: TelemetryService,
    pub fleet: FleetService,
    pub alerts: AlertService,
    pub webhooks: WebhookService,
    pub admin: AdminService,
}

impl Services {
    pub fn new(state: &AppState) -> Self {
        let cache = CacheAside::new(
            state.repos.cache.clone(),
            state.repos.cache_layer,
            state.observability.metrics.cache_lookups.clone(),
        );
        let airspace = state.airspace.clone();
        Self {
            auth: AuthService::new(state),
            users: UserService::new(state),
            drones: DroneService::new(state, cache.clone(), airspace.clone()),
            api_keys: ApiKeyService::new(state),
            plans: FlightPlanService::new(state, cache.clone(), airspace.clone()),
            geofences: GeofenceService::new(airspace),
            telemetry: TelemetryService::new(state, cache.clone()),
            fleet: FleetService::new(state, cache),
            alerts: AlertService::new(state),
            webhooks: WebhookService::new(state.webhooks.clone(), state.limits.webhook_addresses),
            admin: AdminService::new(state),
        }
    }
}

/// Background tasks that retry a failed store (alert changes, webhook deliveries) wait this
/// long first, doubling up to `RETRY_MAX`.
const RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(200);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// A lock whose holders never leave its data half-changed, so a poisoned one is still good.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A strong ETag for a row version.
pub fn etag(version: i64) -> EntityTag {
    EntityTag::new_strong(version.to_string())
}

/// What `If-Match` asked for, checked by a service against the version it loads.
#[derive(Debug, Clone, Default)]
pub struct Precondition(Option<IfMatch>);

impl Precondition {
    /// A malformed header is a 400.
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        if !req.headers().contains_key(header::IF_MATCH) {
            return Ok(Self(None));
        }
        IfMatch::parse(req).map(|m| Self(Some(m))).map_err(|_| {
            ApiError::bad_request(
                crate::error::Code::MalformedRequest,
                "If-Match must list entity tags such as \"3\"",
            )
        })
    }

    /// `Ok(true)` when the header was sent and matches `current_version`, `Ok(false)` when
    /// absent, 412 when it names another version.
    pub fn check(&self, current_version: i64) -> Result<bool, ApiError> {
        match &self.0 {
            None => Ok(false),
            Some(IfMatch::Any) => Ok(true),
            Some(IfMatch::Items(tags))
                if tags.iter().any(|t| t.strong_eq(&etag(current_version))) =>
            {
                Ok(true)
            }
            Some(IfMatch::Items(_)) => Err(ApiError::PreconditionFailed),
        }
    }
}

/// Maps the store's optimistic-lock failure to 412 when the client sent a matching
/// `If-Match` (someone else won the race), else to the 409 of a concurrent update.
fn lost_race(matched: bool) -> impl Fn(domain::StoreError) -> ApiError {
    move |e| match e {
        domain::StoreError::VersionMismatch { .. } if matched => ApiError::PreconditionFailed,
        other => other.into(),
    }
}

/// Every page of a paginated repository read, for the few places that need all of them.
async fn all_pages<T, F, Fut>(mut read: F) -> Result<Vec<T>, ApiError>
where
    F: FnMut(domain::page::PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<domain::page::Page<T>, domain::StoreError>>,
{
    let mut items = Vec::new();
    let mut page = domain::page::PageRequest::first(domain::page::MAX_LIMIT);
    loop {
        let found = read(page).await?;
        items.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(items),
        }
    }
}
