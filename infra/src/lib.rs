//! NimbusFleet's adapters behind `domain`'s ports: the sharded relational store (sea-orm on
//! SQLite or PostgreSQL), the in-process session store, and password / API-key secrets.

pub mod kafka;
pub mod local;
pub mod pipeline;
pub mod redis;
pub mod secrets;
mod session;
mod store;
pub mod telemetry;

pub use session::InMemorySessionStore;
pub use store::{PoolStats, StorageSettings, Store};
