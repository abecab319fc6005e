//! `nimbusfleet ingest`: one member of the ingest consumer group (DESIGN §4). It reads
//! telemetry records from Kafka, writes them to the shards in batches, publishes them to
//! live subscribers (Redis pub/sub, which every API replica listens to) and commits offsets
//! once the points are durable. `/metrics` carries the consumer lag that autoscaling uses.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use domain::ports::HealthCheck;
use infra::kafka::IngestWorker;
use infra::pipeline::{LiveHub, LivePublisher};
use infra::Store;

use crate::configuration::Settings;
use crate::metrics::{Metrics, Snapshot};
use crate::startup::open_store;

struct IngestState {
    store: Store,
    health: Vec<Arc<dyn HealthCheck>>,
    metrics: Metrics,
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let kafka = settings
        .kafka_settings()
        .context("`nimbusfleet ingest` needs kafka.brokers (NIMBUS__KAFKA__BROKERS=host:9092)")?;
    // Workers and replicas starting together take turns through the migrations (an advisory
    // lock on PostgreSQL).
    let store = open_store(&settings, settings.storage.migrate_on_start).await?;
    let metrics = Metrics::new().context("failed to register metrics")?;
    let live = live_publisher(&settings, &metrics)?;
    let worker = IngestWorker::new(
        &kafka,
        &settings.ingest_settings(),
        tokio::runtime::Handle::current(),
        Arc::new(store.clone()),
        Arc::new(metrics.clone()),
        Arc::new(metrics.clone()),
        live,
    )
    .context("failed to create the Kafka consumer")?;
    let stop = worker.stop_flag();
    let (finished, mut consumer_done) = tokio::sync::oneshot::channel::<()>();
    let consumer = std::thread::Builder::new()
        .name("ingest-consumer".into())
        .spawn(move || {
            worker.run();
            let _ = finished.send(());
        })?;

    let state = web::Data::new(IngestState {
        health: vec![Arc::new(store.clone())],
        store,
        metrics: metrics.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(crate::routes::health::live)
            .route("/health/ready", web::get().to(ready))
            .route("/metrics", web::get().to(render_metrics))
    })
    .workers(1)
    .disable_signals()
    .bind(&settings.ingest.bind)
    .with_context(|| format!("failed to bind {}", settings.ingest.bind))?
    .run();
    let http = server.handle();
    tokio::spawn(server);
    tracing::info!(topic = %kafka.topic, group = %settings.ingest.group_id, bind = %settings.ingest.bind, "ingest worker started");
    println!(
        "NimbusFleet ingest worker: {} → {} shard(s), group {}\n  metrics: http://{}/metrics\n  Stop with Ctrl-C or SIGTERM.",
        kafka.topic,
        settings.shard_count(),
        settings.ingest.group_id,
        settings.ingest.bind
    );

    let stopped_by_signal = tokio::select! {
        () = shutdown_signal() => true,
        _ = &mut consumer_done => false,
    };
    tracing::info!("stopping: writing the batch in hand and committing offsets");
    stop.store(true, Ordering::Release);
    let joined = tokio::task::spawn_blocking(move || consumer.join()).await;
    http.stop(true).await;
    match joined {
        Ok(Ok(())) if stopped_by_signal => Ok(()),
        Ok(Ok(())) => anyhow::bail!("the Kafka consumer stopped unexpectedly"),
        _ => anyhow::bail!("the Kafka consumer thread failed"),
    }
}

/// Written points go to every API replica's live hub through Redis; without Redis there is
/// no one to tell, and live views only show embedded-mode traffic.
fn live_publisher(
    settings: &Settings,
    metrics: &Metrics,
) -> anyhow::Result<Arc<dyn LivePublisher>> {
    let Some(redis) = settings.redis_settings(settings.redis.command_timeout_ms) else {
        tracing::warn!("redis.url is not set: points written by this worker reach no live view");
        return Ok(Arc::new(LiveHub::new(1)));
    };
    let redis =
        infra::redis::Redis::new(redis, Arc::new(metrics.clone())).context("invalid redis.url")?;
    Ok(Arc::new(redis.live_bridge(LiveHub::new(1))))
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

async fn ready(state: web::Data<IngestState>) -> HttpResponse {
    crate::routes::health::readiness(&state.health).await
}

async fn render_metrics(state: web::Data<IngestState>) -> HttpResponse {
    match state
        .metrics
        .render(&state.store.pool_stats(), Snapshot::default())
    {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(error) => {
            tracing::error!(%error, "metrics rendering failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
