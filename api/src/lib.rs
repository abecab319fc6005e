//! NimbusFleet's HTTP API: routes, request and response types, authentication, middleware,
//! live streaming, metrics and the OpenAPI document, over a thin layer of services. It
//! serves what the composition root (the `nimbusfleet` crate) builds into [`state`].

pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod services;
pub mod settings;
pub mod state;
pub mod streams;
