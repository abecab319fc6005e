#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The API's integration tests: one binary, each test with its own databases (named by
//! UUID) on SQLite or on the local PostgreSQL, a catalog and two shards each time.

mod helpers;

mod airspace;
mod alerts;
mod api_keys;
mod archive;
mod auth;
mod dashboard;
mod docs;
mod drones;
mod errors;
mod faults;
mod flight_plans;
mod health;
mod kafka;
mod live;
mod moves;
mod openapi;
mod redis;
mod replay;
mod replicas;
mod security;
mod sharding;
mod telemetry;
mod tenancy;
mod users;
mod webhooks;
