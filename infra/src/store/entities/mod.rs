//! Hand-written sea-orm entities mirroring `migrations/`: when a migration changes a table,
//! change its entity here in the same commit. They stay inside `infra`; the repositories
//! convert them to and from `domain` types.

pub mod alerts;
pub mod api_keys;
pub mod drone_serials;
pub mod drones;
pub mod flight_plans;
pub mod geofences;
pub mod organizations;
pub mod shard_map;
pub mod slot_moves;
pub mod users;
pub mod webhook_deliveries;
pub mod webhooks;
