//! The embedded telemetry pipeline (DESIGN §4): an in-process bounded queue (the bus), one
//! writer task that batches points, bulk-writes them to their shards and only then hands
//! them to the live publisher, and the small caches the ingest path needs.
//!
//! Memory stays bounded: the queue counts points, and a full queue is reported to the
//! caller (who answers 503) instead of growing. Shutdown closes the queue and waits until
//! the writer has written everything it accepted.

mod bus;
mod counter;
mod directory;
mod writer;

use std::sync::Arc;
use std::time::Duration;

pub use bus::InProcessBus;
pub use counter::RecentCounter;
pub use directory::{DirectoryEntry, DroneDirectory};

use domain::ports::TelemetryStore;
use domain::settings::{millis, InvalidSetting};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::live::LivePublisher;
use crate::telemetry::WriteObserver;

/// The `[pipeline]` settings: the embedded queue and its writer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Most points queued and not yet written; beyond it `publish` reports `Full` (503).
    pub queue_capacity_points: usize,
    /// A write batch closes at this many points…
    pub write_batch_points: usize,
    /// …or this long after its first point arrived.
    #[serde(rename = "flush_interval_ms", with = "millis")]
    pub flush_interval: Duration,
}

impl PipelineSettings {
    /// Checks what the types alone cannot; the error names the one setting at fault.
    /// `max_batch_points` is the largest batch ingest accepts: a queue smaller than that
    /// could never take a full batch.
    pub fn check(&self, max_batch_points: usize) -> Result<(), InvalidSetting> {
        if self.queue_capacity_points < max_batch_points {
            return Err(InvalidSetting::new(
                "queue_capacity_points",
                "must be at least telemetry.max_batch_points, or no full batch could ever be accepted",
            ));
        }
        if self.write_batch_points == 0 {
            return Err(InvalidSetting::new(
                "write_batch_points",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The running pipeline: the bus to publish to and the writer that empties it.
pub struct Pipeline {
    pub bus: Arc<InProcessBus>,
    paused: watch::Sender<bool>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Pipeline {
    /// Starts the writer task on the current runtime. Written points go to `publisher`.
    pub fn start(
        settings: &PipelineSettings,
        store: Arc<dyn TelemetryStore>,
        publisher: Arc<dyn LivePublisher>,
        observer: Arc<dyn WriteObserver>,
    ) -> Self {
        let (bus, queue) = InProcessBus::new(settings.queue_capacity_points);
        let bus = Arc::new(bus);
        let paused = watch::channel(false).0;
        let writer = tokio::spawn(writer::run(
            writer::Writer {
                queue,
                bus: bus.clone(),
                store,
                publisher,
                observer,
                batch_max_points: settings.write_batch_points.max(1),
                flush_interval: settings.flush_interval,
            },
            paused.subscribe(),
        ));
        Self {
            bus,
            paused,
            writer: tokio::sync::Mutex::new(Some(writer)),
        }
    }

    /// Points accepted and not yet written.
    pub fn queued_points(&self) -> usize {
        self.bus.queued()
    }

    /// Holds writes (queued points stay queued, and the queue can fill up); for maintenance
    /// windows and for tests of backpressure.
    pub fn pause_writer(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume_writer(&self) {
        self.paused.send_replace(false);
    }

    /// Refuses new points, then waits until every accepted point is written.
    pub async fn shutdown(&self) {
        self.bus.close();
        self.resume_writer();
        if let Some(writer) = self.writer.lock().await.take() {
            if let Err(e) = writer.await {
                tracing::error!(error = %e, "telemetry writer task failed");
            }
        }
    }
}
