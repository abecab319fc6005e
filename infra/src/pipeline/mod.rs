//! The embedded telemetry pipeline (DESIGN §4): an in-process bounded queue (the bus), one
//! writer task that batches points, bulk-writes them to their shards and only then hands
//! them to live subscribers, and the small caches the ingest path needs.
//!
//! Memory stays bounded: the queue counts points, and a full queue is reported to the
//! caller (who answers 503) instead of growing. Shutdown closes the queue and waits until
//! the writer has written everything it accepted.

mod bus;
mod counter;
mod directory;
mod live;
mod writer;

use std::sync::Arc;
use std::time::Duration;

pub use bus::InProcessBus;
pub use counter::RecentCounter;
pub use directory::{DirectoryEntry, DroneDirectory};
pub use live::{LiveHub, LivePublisher};
pub use writer::{write_durably, WriteObserver};

use domain::ports::TelemetryStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Most points queued and not yet written; beyond it `publish` reports `Full`.
    pub queue_capacity_points: usize,
    /// A write batch closes at this many points…
    pub batch_max_points: usize,
    /// …or this long after its first point arrived.
    pub flush_interval: Duration,
    /// Batches a live subscriber may fall behind before it is dropped.
    pub live_buffer_batches: usize,
}

/// The running pipeline: the bus to publish to, the hub to subscribe to, and the writer.
pub struct Pipeline {
    pub bus: Arc<InProcessBus>,
    pub live: LiveHub,
    paused: watch::Sender<bool>,
    publisher: Arc<std::sync::RwLock<Arc<dyn LivePublisher>>>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Pipeline {
    /// Starts the writer task on the current runtime.
    pub fn start(
        settings: &PipelineSettings,
        store: Arc<dyn TelemetryStore>,
        observer: Arc<dyn WriteObserver>,
    ) -> Self {
        let (bus, queue) = InProcessBus::new(settings.queue_capacity_points);
        let mut pipeline = Self::without_writer(settings, bus);
        let writer = tokio::spawn(writer::run(
            writer::Writer {
                queue,
                bus: pipeline.bus.clone(),
                store,
                publisher: pipeline.publisher.clone(),
                observer,
                batch_max_points: settings.batch_max_points.max(1),
                flush_interval: settings.flush_interval,
            },
            pipeline.paused.subscribe(),
        ));
        pipeline.writer = tokio::sync::Mutex::new(Some(writer));
        pipeline
    }

    /// Only the live hub, with no writer: for `serve` when Kafka carries telemetry and the
    /// ingest workers write it (DESIGN §4). The in-process bus is closed from the start.
    pub fn live_only(settings: &PipelineSettings) -> Self {
        let (bus, _queue) = InProcessBus::new(0);
        bus.close();
        Self::without_writer(settings, bus)
    }

    fn without_writer(settings: &PipelineSettings, bus: InProcessBus) -> Self {
        let live = LiveHub::new(settings.live_buffer_batches);
        let publisher: Arc<std::sync::RwLock<Arc<dyn LivePublisher>>> =
            Arc::new(std::sync::RwLock::new(Arc::new(live.clone())));
        Self {
            bus: Arc::new(bus),
            live,
            paused: watch::channel(false).0,
            publisher,
            writer: tokio::sync::Mutex::new(None),
        }
    }

    /// Sends written points through `publisher` (e.g. Redis pub/sub, which feeds every
    /// replica's hub) instead of straight to this process's hub.
    pub fn set_live_publisher(&self, publisher: Arc<dyn LivePublisher>) {
        if let Ok(mut current) = self.publisher.write() {
            *current = publisher;
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
