use std::sync::Arc;
use std::time::Duration;

use domain::ports::TelemetryStore;
use domain::telemetry::TelemetryPoint;
use tokio::sync::{mpsc, watch};

use super::bus::InProcessBus;
use crate::live::LivePublisher;
use crate::telemetry::{write_durably, WriteObserver};

pub(super) struct Writer {
    pub queue: mpsc::UnboundedReceiver<Vec<TelemetryPoint>>,
    pub bus: Arc<InProcessBus>,
    pub store: Arc<dyn TelemetryStore>,
    pub publisher: Arc<dyn LivePublisher>,
    pub observer: Arc<dyn WriteObserver>,
    pub batch_max_points: usize,
    pub flush_interval: Duration,
}

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
        w.publisher.publish(batch.into()).await;
    }
    tracing::info!("telemetry writer drained its queue and stopped");
}
