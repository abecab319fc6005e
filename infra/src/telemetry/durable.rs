//! The durable write both telemetry writers share: the embedded pipeline's writer task and
//! the Kafka ingest worker.

use std::time::{Duration, Instant};

use domain::ports::TelemetryStore;
use domain::telemetry::TelemetryPoint;

/// Told about every write, so the API can export metrics without infra knowing Prometheus.
pub trait WriteObserver: Send + Sync {
    fn batch_written(&self, points: usize, new_rows: u64, took: Duration);
    fn write_failed(&self);
}

/// The longest pause between two attempts of a failing write.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The pause after the first failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Writes one batch to its shards and returns once it is durable. Accepted points are never
/// dropped: a failing write is retried with backoff while the queue (or, with Kafka, the
/// consumer lag) grows and pushes back on ingest. Shared by the embedded writer and the
/// Kafka ingest worker.
pub async fn write_durably(
    store: &dyn TelemetryStore,
    observer: &dyn WriteObserver,
    batch: &[TelemetryPoint],
) {
    write_durably_reporting(store, observer, batch, |_| {}).await;
}

/// Like [`write_durably`], telling `outcome` after every attempt whether it succeeded.
pub async fn write_durably_reporting(
    store: &dyn TelemetryStore,
    observer: &dyn WriteObserver,
    batch: &[TelemetryPoint],
    outcome: impl Fn(bool),
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        match store.write_points(batch).await {
            Ok(new_rows) => {
                observer.batch_written(batch.len(), new_rows, started.elapsed());
                outcome(true);
                return;
            }
            Err(error) => {
                observer.write_failed();
                outcome(false);
                tracing::warn!(points = batch.len(), error = %error, retry_in_ms = backoff.as_millis() as u64, "telemetry write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
