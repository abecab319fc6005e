//! How a process stops: the API drains on SIGTERM before it stops serving; an ingest
//! worker writes the batch in hand and commits on SIGTERM or SIGINT.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};

use super::Consumer;

/// Runs the consumer on its own thread (it blocks in `poll`) until a signal or its end.
pub(super) async fn run_consumer(
    consumer: Consumer,
    server: Server,
    stop_requested: Arc<tokio::sync::Notify>,
) -> anyhow::Result<()> {
    let stop = consumer.worker.stop_flag();
    let (finished, mut consumer_done) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("ingest-consumer".into())
        .spawn(move || {
            consumer.worker.run();
            let _ = finished.send(());
        })?;
    let http = server.handle();
    tokio::spawn(server);
    let stopped_by_signal = tokio::select! {
        () = shutdown_signal() => true,
        () = stop_requested.notified() => true,
        _ = &mut consumer_done => false,
    };
    tracing::info!("stopping: writing the batch in hand and committing offsets");
    stop.store(true, Ordering::Release);
    let joined = tokio::time::timeout(
        CONSUMER_STOP_TIMEOUT,
        tokio::task::spawn_blocking(move || thread.join()),
    )
    .await;
    http.stop(true).await;
    match joined {
        Ok(Ok(Ok(()))) if stopped_by_signal => Ok(()),
        Ok(Ok(Ok(()))) => anyhow::bail!("the Kafka consumer stopped unexpectedly"),
        Ok(_) => anyhow::bail!("the Kafka consumer thread failed"),
        Err(_) => anyhow::bail!(
            "the Kafka consumer did not stop within {} s (a shard or the broker does not answer); \
             its uncommitted records will be consumed again by the group, and rows are keyed, \
             so nothing is lost or doubled",
            CONSUMER_STOP_TIMEOUT.as_secs()
        ),
    }
}

/// How long a stopping worker may take to write its batch and commit: a shard or broker
/// that does not answer must not keep the process alive past its pod's grace period
/// (`terminationGracePeriodSeconds: 45` in k8s/base/ingest-deployment.yaml).
const CONSUMER_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// On SIGTERM: readiness turns 503 and answers close their connections for `delay`, then
/// live streams end and the server stops gracefully. On SIGINT (Ctrl-C), or a
/// [`StopHandle`], it stops at once.
pub(super) async fn drain_on_signal(
    server: ServerHandle,
    draining: Arc<std::sync::atomic::AtomicBool>,
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
    delay: std::time::Duration,
    stop: Arc<tokio::sync::Notify>,
) {
    let delay = tokio::select! {
        () = terminate_signal() => delay,
        _ = tokio::signal::ctrl_c() => std::time::Duration::ZERO,
        () = stop.notified() => std::time::Duration::ZERO,
    };
    draining.store(true, Ordering::Release);
    if !delay.is_zero() {
        tracing::info!(
            seconds = delay.as_secs_f64(),
            "draining: readiness is 503 before the listener closes"
        );
        tokio::time::sleep(delay).await;
    }
    stopping.send_replace(true);
    server.stop(true).await;
}

/// SIGTERM, or never where there is none.
async fn terminate_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
