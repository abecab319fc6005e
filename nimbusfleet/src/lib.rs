//! The `nimbusfleet` binary's library: the command line, the settings every layer's
//! sections compose into, and the composition root ([`application::Application::build`])
//! that `serve`, `ingest`, the integration tests and the benchmarks all start from.

pub mod application;
pub mod cli;
pub mod commands;
pub mod settings;
