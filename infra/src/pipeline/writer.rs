use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ports::TelemetryStore;
use domain::telemetry::TelemetryPoint;
use tokio::sync::{mpsc, watch};

use super::bus::InProcessBus;
use super::live::LivePublisher;

/// Told about every write, so the API can export metrics without infra knowing Prometheus.
pub trait WriteObserver: Send + Sync {
    fn batch_written(&self, points: usize, new_rows: u64, took: Duration);
    fn write_failed(&self);
}

pub(super) struct Writer {
    pub queue: mpsc::UnboundedReceiver<Vec<TelemetryPoint>>,
    pub bus: Arc<InProcessBus>,
    pub store: Arc<dyn TelemetryStore>,
    pub publisher: Arc<std::sync::RwLock<Arc<dyn LivePublisher>>>,
    pub observer: Arc<dyn WriteObserver>,
    pub batch_max_points: usize,
    pub flush_interval: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Batches, writes and publishes until the queue is closed and empty.
pub(super) async fn run(mut w: Writer, mut paused: watch::Receiver<bool>) {
    while let Some(first) = w.queue.recv().await {
        let mut batch = first;
        let deadline = tokio::time::Instant::now() + w.flush_interval;
        while batch.len() < w.batch_max_points {
            match tokio::time::timeout_at(deadline, w.queue.recv()).await {
                Ok(Some(more)) => batch.extend(more),
                Ok(None) | Err(_) => break,
            }
        }
        // A paused writer keeps its batch (still counted as queued) until resumed.
        while *paused.borrow() {
            if paused.changed().await.is_err() {
                break;
            }
        }
        write_durably(w.store.as_ref(), w.observer.as_ref(), &batch).await;
        w.bus.release(batch.len());
        let publisher = w.publisher.read().map(|p| p.clone()).ok();
        if let Some(publisher) = publisher {
            publisher.publish(batch.into()).await;
        }
    }
    tracing::info!("telemetry writer drained its queue and stopped");
}

/// Writes one batch to its shards and returns once it is durable. Accepted points are never
/// dropped: a failing write is retried with backoff while the queue (or, with Kafka, the
/// consumer lag) grows and pushes back on ingest. Shared by the embedded writer and the
/// Kafka ingest worker.
pub async fn write_durably(
    store: &dyn TelemetryStore,
    observer: &dyn WriteObserver,
    batch: &[TelemetryPoint],
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = Instant::now();
        match store.write_points(batch).await {
            Ok(new_rows) => {
                observer.batch_written(batch.len(), new_rows, started.elapsed());
                return;
            }
            Err(error) => {
                observer.write_failed();
                tracing::warn!(points = batch.len(), error = %error, retry_in_ms = backoff.as_millis() as u64, "telemetry write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
