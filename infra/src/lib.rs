//! NimbusFleet's adapters behind `domain`'s ports: the sharded relational store (sea-orm on
//! SQLite or PostgreSQL), Redis and Kafka, their embedded in-process twins, and the
//! factories that pick one or the other from the settings ([`platform`], [`bus`]).

pub mod bus;
pub mod consistency;
pub mod kafka;
pub mod live;
pub mod local;
pub mod pipeline;
pub mod platform;
pub mod redis;
pub mod secrets;
mod session;
mod store;
pub mod telemetry;
pub mod webhook;

pub use session::InMemorySessionStore;
pub use store::{
    MoveObserver, PoolStats, Quiet, ReplicaStats, RoutingNotifier, StorageSettings, Store,
    ROUTING_REFRESH,
};
