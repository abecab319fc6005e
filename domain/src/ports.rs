//! The fleet ports: what the application needs from storage and the telemetry bus. `infra`
//! implements them (sea-orm on SQLite/PostgreSQL through the shard router, Kafka or an
//! in-process queue); the composition root picks the adapters from the settings. The
//! platform ports (sessions, cache, rate limits, idempotency) are in [`crate::platform`].

use async_trait::async_trait;

use crate::airspace::{Geofence, GeofenceFilter};
use crate::api_key::ApiKey;
use chrono::{DateTime, Utc};

use crate::drone::{Drone, DroneFilter, DronePatch, DroneStatus};
use crate::error::StoreError;
use crate::flight_plan::{FlightPlan, FlightPlanFilter, FlightPlanState};
use crate::ids::{AlertId, ApiKeyId, DroneId, FlightPlanId, GeofenceId, OrgId, UserId, WebhookId};
use crate::monitoring::{Alert, AlertFilter, AlertKind, AlertNotice, Observation, Severity};
use crate::org::Organization;
use crate::page::{Page, PageRequest, Partial};
use crate::telemetry::{BBox, Bucket, Interval, TelemetryPoint, TimeRange};
use crate::user::{Email, NewUser, PasswordHash, Role, User, UserPatch};
use crate::webhook::{self, DeliveryFilter, Webhook};

#[async_trait]
pub trait OrgRepository: Send + Sync {
    /// Creates an organisation and its first admin atomically. Conflicts: `name`, `email`.
    async fn create_org(&self, org: Organization, admin: NewUser) -> Result<User, StoreError>;
    async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError>;
    async fn find_org_by_name(&self, name: &str) -> Result<Option<Organization>, StoreError>;
    /// Changes the plan (and, for Enterprise, the organisation's own quota).
    async fn set_plan(
        &self,
        id: OrgId,
        plan: crate::org::Plan,
        custom_quota: Option<crate::limits::Quota>,
    ) -> Result<Organization, StoreError>;
    async fn set_battery_thresholds(
        &self,
        id: OrgId,
        battery: crate::monitoring::BatteryThresholds,
    ) -> Result<Organization, StoreError>;
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Conflict: `email` (unique within the organisation).
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    async fn get_user(&self, org: OrgId, id: UserId) -> Result<Option<User>, StoreError>;
    /// The accounts with this email (at most `limit`, one per organisation) and their
    /// password hashes, for a login attempt.
    async fn find_credentials(
        &self,
        email: &Email,
        limit: u64,
    ) -> Result<Vec<(User, PasswordHash)>, StoreError>;
    async fn list_users(
        &self,
        org: OrgId,
        role: Option<Role>,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError>;
    /// Applies `patch`; `expected_version` guards against lost updates (VersionMismatch).
    async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        patch: UserPatch,
        expected_version: Option<i64>,
    ) -> Result<User, StoreError>;
    async fn delete_user(&self, org: OrgId, id: UserId) -> Result<(), StoreError>;
    async fn count_admins(&self, org: OrgId) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait DroneRepository: Send + Sync {
    /// Stores the drone on its shard; the serial is reserved in the catalog first so that it
    /// stays unique per organisation across shards. Conflict: `serial`.
    async fn create_drone(&self, drone: Drone) -> Result<Drone, StoreError>;
    async fn get_drone(&self, org: OrgId, id: DroneId) -> Result<Option<Drone>, StoreError>;
    /// Lists across all shards, merged in id order.
    async fn list_drones(
        &self,
        org: OrgId,
        filter: &DroneFilter,
        page: PageRequest,
    ) -> Result<Page<Drone>, StoreError>;
    /// Applies `patch` when the stored version still equals `expected_version` (when given).
    async fn update_drone(
        &self,
        org: OrgId,
        id: DroneId,
        patch: &DronePatch,
        expected_version: Option<i64>,
    ) -> Result<Drone, StoreError>;
    /// Deletes the drone, its flight plans and its API keys, and frees its serial.
    async fn delete_drone(&self, org: OrgId, id: DroneId) -> Result<(), StoreError>;
    /// How many drones the organisation has in each status (statuses with none omitted),
    /// summed over the shards that answered.
    async fn count_drones_by_status(
        &self,
        org: OrgId,
    ) -> Result<Partial<Vec<(DroneStatus, u64)>>, StoreError>;
    /// The drones of the organisation that have their own link timeout, with it.
    async fn link_timeouts(&self, org: OrgId) -> Result<Partial<Vec<(DroneId, f64)>>, StoreError>;
}

#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    async fn create_api_key(
        &self,
        key: ApiKey,
        secret_sha256: String,
    ) -> Result<ApiKey, StoreError>;
    async fn list_api_keys(&self, org: OrgId, drone: DroneId) -> Result<Vec<ApiKey>, StoreError>;
    async fn delete_api_key(
        &self,
        org: OrgId,
        drone: DroneId,
        id: ApiKeyId,
    ) -> Result<(), StoreError>;
    /// The key with this public prefix and its stored secret digest (hex SHA-256).
    async fn find_api_key(&self, prefix: &str) -> Result<Option<(ApiKey, String)>, StoreError>;
}

#[async_trait]
pub trait FlightPlanRepository: Send + Sync {
    async fn create_plan(&self, plan: FlightPlan) -> Result<FlightPlan, StoreError>;
    async fn get_plan(
        &self,
        org: OrgId,
        id: FlightPlanId,
    ) -> Result<Option<FlightPlan>, StoreError>;
    async fn list_plans(
        &self,
        org: OrgId,
        filter: &FlightPlanFilter,
        page: PageRequest,
    ) -> Result<Page<FlightPlan>, StoreError>;
    /// Replaces the stored plan (bumping its version) when its version is `expected_version`.
    async fn update_plan(
        &self,
        plan: FlightPlan,
        expected_version: i64,
    ) -> Result<FlightPlan, StoreError>;
    /// How many of the organisation's plans are in `state`, over the shards that answered.
    async fn count_plans_in_state(
        &self,
        org: OrgId,
        state: FlightPlanState,
    ) -> Result<Partial<u64>, StoreError>;
    /// How many of the drone's plans are in one of `states`.
    async fn count_plans(
        &self,
        org: OrgId,
        drone: DroneId,
        states: &[FlightPlanState],
    ) -> Result<u64, StoreError>;
}

/// Geofences, in the catalog database.
#[async_trait]
pub trait GeofenceRepository: Send + Sync {
    async fn create_geofence(&self, fence: Geofence) -> Result<Geofence, StoreError>;
    /// Stores all of them or none (an import).
    async fn create_geofences(&self, fences: Vec<Geofence>) -> Result<(), StoreError>;
    async fn get_geofence(
        &self,
        org: OrgId,
        id: GeofenceId,
    ) -> Result<Option<Geofence>, StoreError>;
    /// In id (creation) order.
    async fn list_geofences(
        &self,
        org: OrgId,
        filter: &GeofenceFilter,
        page: PageRequest,
    ) -> Result<Page<Geofence>, StoreError>;
    /// Replaces the stored fence (bumping its version) when its version is `expected_version`.
    async fn update_geofence(
        &self,
        fence: Geofence,
        expected_version: i64,
    ) -> Result<Geofence, StoreError>;
    async fn delete_geofence(&self, org: OrgId, id: GeofenceId) -> Result<(), StoreError>;
}

/// A delivery taken for an attempt, with what the attempt needs. Nobody else takes it
/// until `lease` has passed or it is finished with `token`.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    pub delivery: webhook::Delivery,
    pub url: String,
    /// The webhook's signing secret (`whsec_…`).
    pub secret: String,
    pub token: uuid::Uuid,
}

/// The installation's shards as its operators see them (`GET /admin/shards`).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardOverview {
    pub map: crate::shard::SlotMap,
    pub shards: Vec<crate::shard::ShardRows>,
    /// The latest slot moves, newest first.
    pub moves: Vec<crate::shard::SlotMove>,
}

#[async_trait]
pub trait ShardDirectory: Send + Sync {
    async fn shard_overview(&self) -> Result<ShardOverview, StoreError>;
}

/// Webhooks and their delivery queue, in the catalog.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Stores a webhook with its signing secret.
    async fn create_webhook(&self, webhook: Webhook, secret: &str) -> Result<Webhook, StoreError>;
    async fn get_webhook(&self, org: OrgId, id: WebhookId) -> Result<Option<Webhook>, StoreError>;
    /// In creation order.
    async fn list_webhooks(
        &self,
        org: OrgId,
        page: PageRequest,
    ) -> Result<Page<Webhook>, StoreError>;
    /// The organisation's enabled webhooks, whole.
    async fn enabled_webhooks(&self, org: OrgId) -> Result<Vec<Webhook>, StoreError>;
    /// Replaces the stored webhook (bumping its version) when it is at `expected_version`.
    async fn update_webhook(
        &self,
        webhook: Webhook,
        expected_version: i64,
    ) -> Result<Webhook, StoreError>;
    /// Deletes the webhook and its deliveries.
    async fn delete_webhook(&self, org: OrgId, id: WebhookId) -> Result<(), StoreError>;
    /// Queues deliveries, all or none.
    async fn enqueue_deliveries(&self, deliveries: &[webhook::Delivery]) -> Result<(), StoreError>;
    /// Takes up to `limit` pending deliveries of enabled webhooks that are due at `now`
    /// and not taken by someone else, for `lease`.
    async fn lease_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<LeasedDelivery>, StoreError>;
    /// Stores the outcome of an attempt on a delivery still held with `token`, and the
    /// webhook's failure streak: `failing_since` cleared on success, set when it is the
    /// first failure after one. Returns the webhook as it is now (`None` once deleted). A
    /// lease that expired is a `VersionMismatch` (someone else may be trying it).
    async fn finish_delivery(
        &self,
        delivery: &webhook::Delivery,
        token: uuid::Uuid,
    ) -> Result<Option<Webhook>, StoreError>;
    /// Deletes finished deliveries (succeeded or failed) created before `before`; returns
    /// how many.
    async fn prune_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Newest first; `page.after` continues after the last delivery of a page.
    async fn list_deliveries(
        &self,
        org: OrgId,
        webhook: WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<webhook::Delivery>, StoreError>;
}

/// Something whose reachability `/health/ready` reports.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// One entry per dependency: its name and the error, if it is down.
    async fn check(&self) -> Vec<(String, Option<String>)>;
}

/// The time-series side of a drone's shard: raw points, each drone's latest state, and the
/// reads over them. Every read is scoped by organisation.
#[async_trait]
pub trait TelemetryStore: Send + Sync {
    /// Bulk-writes points of any drones (grouped by shard inside), idempotently on
    /// `(drone_id, ts)`, and moves each drone's latest state forward when a point is newer
    /// than it. Returns how many rows were new. Never a statement per point.
    async fn write_points(&self, points: &[TelemetryPoint]) -> Result<u64, StoreError>;
    async fn latest(
        &self,
        org: OrgId,
        drone: DroneId,
    ) -> Result<Option<TelemetryPoint>, StoreError>;
    /// Newest first within `range`, strictly before `before` when given; at most `limit` rows.
    async fn history(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<TelemetryPoint>, StoreError>;
    /// Oldest first within `range`, strictly after `after` when given; at most `limit` rows.
    /// Exports page through this so that they never hold a whole track in memory.
    async fn history_ascending(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        after: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<TelemetryPoint>, StoreError>;
    /// Where the drone's raw history starts when older days are archived: points before it
    /// come from the archive (`None`: nothing is archived).
    async fn archived_until(&self, drone: DroneId) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Buckets of `interval` aligned to the Unix epoch, oldest first, empty buckets omitted.
    async fn downsample(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        interval: Interval,
    ) -> Result<Vec<Bucket>, StoreError>;
    /// Latest state of every drone of the organisation (optionally inside `bbox`), from all
    /// shards; the second value lists shards that could not be read.
    async fn fleet_positions(
        &self,
        org: OrgId,
        bbox: Option<BBox>,
    ) -> Result<(Vec<TelemetryPoint>, Vec<u16>), StoreError>;
    /// Every drone of the organisation as it was at instant `at`: its last point with
    /// `at - window < ts <= at` (optionally inside `bbox`), from all shards, in drone id
    /// order; the second value lists shards that could not be read.
    async fn fleet_positions_at(
        &self,
        org: OrgId,
        at: DateTime<Utc>,
        window: Interval,
        bbox: Option<BBox>,
    ) -> Result<(Vec<TelemetryPoint>, Vec<u16>), StoreError>;
    /// How many of the organisation's drones reported a point with `ts >= since`, over the
    /// shards that answered.
    async fn drones_reporting_since(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
    ) -> Result<Partial<u64>, StoreError>;
    /// Brings the per-drone minute and hour rollups up to date (up to a few minutes behind
    /// `now`, and where late points landed behind that), on every shard; returns how many
    /// rollup rows it wrote. Idempotent; replicas may run it at once.
    async fn roll_up(
        &self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<u64, StoreError>;
    /// Creates time partitions ahead of `now` and drops those entirely older than
    /// `now - retention` (PostgreSQL); deletes expired rows where there are no partitions.
    async fn maintain(
        &self,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    ) -> Result<(), StoreError>;
}

/// Alerts, on their drone's shard (DESIGN §8).
#[async_trait]
pub trait AlertRepository: Send + Sync {
    /// Records what the monitor observed, in order: `Raised` opens an alert (or, when one
    /// of that drone and kind is unresolved, counts a repeat on it), `Updated` changes its
    /// severity and detail, `Resolved` closes it as resolved by the system. Returns what
    /// changed; an observation that changes nothing (closing an alert a person already
    /// resolved) returns nothing. Observations of a shard that is down fail together.
    async fn record_observations(
        &self,
        observations: &[Observation],
    ) -> Result<Vec<AlertNotice>, StoreError>;
    /// Moves `last_seen` of the drones' unresolved alerts of these kinds forward.
    async fn touch_alerts(
        &self,
        seen: &[(DroneId, AlertKind, DateTime<Utc>)],
    ) -> Result<(), StoreError>;
    /// What the monitor rebuilds a drone's state from: the unresolved alerts and the latest
    /// point of each of these drones.
    async fn monitor_state(
        &self,
        drones: &[DroneId],
    ) -> Result<(Vec<Alert>, Vec<TelemetryPoint>), StoreError>;
    /// The latest point of every drone (of any organisation) that reported since `since`,
    /// from the shards that answered.
    async fn reported_since(&self, since: DateTime<Utc>)
        -> Result<Vec<TelemetryPoint>, StoreError>;
    async fn get_alert(&self, org: OrgId, id: AlertId) -> Result<Option<Alert>, StoreError>;
    /// Newest first; `page.after` continues after the last (oldest) alert of a page.
    async fn list_alerts(
        &self,
        org: OrgId,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<Page<Alert>, StoreError>;
    /// Stores a person's change when the alert is still at `expected_version`.
    async fn update_alert(&self, alert: Alert, expected_version: i64) -> Result<Alert, StoreError>;
    /// Unresolved alerts by severity, over the shards that answered.
    async fn count_unresolved_alerts(
        &self,
        org: OrgId,
    ) -> Result<Partial<Vec<(Severity, u64)>>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The queue is at capacity: the caller should answer 503 with `Retry-After`.
    #[error("telemetry queue is full")]
    Full,
    /// The service is shutting down and takes no more points.
    #[error("telemetry queue is closed")]
    Closed,
    /// The bus did not confirm the write (e.g. the Kafka brokers are unreachable): nothing
    /// may be assumed stored; the caller should answer 503 and the client retry.
    #[error("telemetry bus unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What became of a batch the bus took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Indices (in the published batch) of points the bus did not take: their shard is
    /// down, or did not confirm them in time. Nothing may be assumed of them; sending them
    /// again is safe (a point is keyed by drone and time).
    pub refused: Vec<usize>,
}

/// Where accepted points go on their way to storage: an in-process queue per shard when
/// embedded, Kafka in a cluster. What `Ok` promises depends on the acknowledgement mode:
/// durable (the default) — every point not in `refused` is committed to its shard, or
/// acknowledged by the Kafka brokers; queued — it is in this process's queue.
#[async_trait]
pub trait TelemetryBus: Send + Sync {
    async fn publish(&self, points: Vec<TelemetryPoint>) -> Result<Delivery, BusError>;
}
