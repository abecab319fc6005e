//! NimbusFleet's domain: value types that are valid by construction, the rules of flight
//! planning, and the ports (traits) that storage and session adapters implement.
//!
//! Nothing here performs I/O or knows about HTTP, SQL, Redis or Kafka.

pub mod airspace;
pub mod api_key;
pub mod drone;
pub mod error;
pub mod flight_plan;
pub mod ids;
pub mod limits;
pub mod monitoring;
pub mod org;
pub mod page;
pub mod platform;
pub mod ports;
pub mod position;
pub mod session;
pub mod settings;
pub mod shard;
pub mod telemetry;
pub mod user;
pub mod webhook;

pub use error::{ConflictKind, FieldCode, FieldError, StoreError, ValidationErrors};
pub use ids::{
    AlertId, ApiKeyId, DroneId, FlightPlanId, GeofenceId, OrgId, SessionId, UserId, WebhookId,
};
