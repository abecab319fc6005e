//! Telemetry: batch ingest and the reads over a drone's history.

mod export;
mod ingest;
mod read;

pub use export::*;
pub use ingest::*;
pub use read::*;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(ingest_telemetry)
        .service(latest_telemetry)
        .service(export_telemetry)
        .service(telemetry_history);
}
