//! NimbusFleet's HTTP API and the `nimbusfleet` binary's commands.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod configuration;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod simulate;
pub mod startup;
pub mod telemetry;
