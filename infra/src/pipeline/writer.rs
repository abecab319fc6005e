use std::sync::Arc;
use std::time::Duration;

use domain::ports::TelemetryStore;
use domain::telemetry::TelemetryPoint;
use tokio::sync::{mpsc, watch};

use super::lane::{Job, Lane};
use crate::live::LivePublisher;
use crate::telemetry::{write_durably_reporting, WriteObserver};

/// The writer of one shard's lane.
pub(super) struct Writer {
    pub queue: mpsc::UnboundedReceiver<Job>,
    pub lane: Arc<Lane>,
    pub store: Arc<dyn TelemetryStore>,
    pub publisher: Arc<dyn LivePublisher>,
    pub observer: Arc<dyn WriteObserver>,
    pub batch_max_points: usize,
    pub flush_interval: Duration,
}

/// Batches, writes and publishes until the lane is closed and empty. While a write fails
/// the lane is marked down, so that new points for the shard are refused at once instead
/// of piling up behind it; the batch in hand is retried until it is durable.
pub(super) async fn run(mut w: Writer, mut paused: watch::Receiver<bool>) {
    while let Some(first) = w.queue.recv().await {
        let mut batch = first.points;
        let mut waiting: Vec<_> = first.done.into_iter().collect();
        let deadline = tokio::time::Instant::now() + w.flush_interval;
        while batch.len() < w.batch_max_points {
            match tokio::time::timeout_at(deadline, w.queue.recv()).await {
                Ok(Some(more)) => {
                    batch.extend(more.points);
                    waiting.extend(more.done);
                }
                Ok(None) | Err(_) => break,
            }
        }
        // A paused writer keeps its batch (still counted as queued) until resumed.
        while *paused.borrow() {
            if paused.changed().await.is_err() {
                break;
            }
        }
        let lane = w.lane.clone();
        write_durably_reporting(w.store.as_ref(), w.observer.as_ref(), &batch, |ok| {
            lane.set_down(!ok)
        })
        .await;
        w.lane.release(batch.len());
        for done in waiting {
            // The request may have stopped waiting; the points are durable regardless.
            let _ = done.send(());
        }
        let points: Arc<[TelemetryPoint]> = batch.into();
        w.publisher.publish(points).await;
    }
    tracing::debug!("a telemetry writer drained its lane and stopped");
}
