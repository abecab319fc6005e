//! The telemetry ingest benchmark (`bench/ingest`): on fresh PostgreSQL databases (a catalog
//! and two shards) it starts the real application in-process on a free loopback port and
//! measures, in one run:
//!
//! 1. sustained ingest through `POST /api/v1/telemetry` with N concurrent senders, in
//!    points per second from the first request until the writer's queue is empty;
//! 2. the raw binary `COPY` rate of as many rows of the same drones into the same table,
//!    split by shard and chunked like the writer's batches — the reference limit;
//! 3. the drone-to-live-stream latency (the point's `ts`, set when it is sent, to its
//!    arrival in a `GET /api/v1/live` Server-Sent Events client) at 10,000 drones × 1 Hz;
//! 4. the conformance monitor: ingest with monitoring on versus off, and, in the live run,
//!    how fast geofence breaches, unplanned flights and lost links reach the client.
//!
//! Each figure is one JSON line on stdout; progress goes to stderr. The databases are
//! dropped at the end, also after an error or Ctrl-C.

mod copy;
mod ingest;
mod kafka;
mod live;
mod points;
mod setup;
mod stats;

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::{json, Value};

use setup::Databases;

/// The targets, printed beside the figures.
const TARGET_INGEST_VS_COPY: f64 = 0.85;
const TARGET_LIVE_P99_MS: f64 = 20.0;
const TARGET_MONITORING_RATIO: f64 = 0.9;
/// A lost link is to be declared within the timeout plus this (p99).
const TARGET_LINK_LOST_SLACK_MS: f64 = 1_000.0;
/// Live samples whose point was sent this early in the run are not counted.
const LIVE_WARMUP: Duration = Duration::from_secs(2);

#[derive(Debug, Parser)]
#[command(about = "NimbusFleet telemetry ingest benchmark (run it through bench/ingest)")]
struct Args {
    /// Concurrent HTTP senders in the ingest figure.
    #[arg(long, default_value_t = 8)]
    senders: usize,
    /// Seconds the senders send in the ingest figure.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Points per POST in the ingest figure (at most `telemetry.max_batch_points`).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Drones the ingest figure's points are spread over.
    #[arg(long, default_value_t = 1000)]
    drones: usize,
    /// Drones reporting once a second in the live-latency figure.
    #[arg(long, default_value_t = 10_000)]
    live_drones: usize,
    /// Seconds of the live-latency figure, the first 2 of which are warm-up.
    #[arg(long, default_value_t = 15)]
    live_seconds: u64,
    /// Also measure ingest through Kafka (a second app producing to these brokers and one
    /// in-process ingest worker) and the broker's own produce and consume rates for the same
    /// data. `bench/ingest --kafka` starts a private tansu broker and sets this.
    #[arg(long, value_name = "HOST:PORT")]
    kafka_brokers: Option<String>,
    /// Partitions of the benchmark's Kafka topics.
    #[arg(long, default_value_t = 8)]
    kafka_partitions: i32,
    /// Skip the second ingest figure, with `telemetry.ack = "queued"` (a 202 once the
    /// points are in the queue) beside the default `durable` (a 202 once they are
    /// committed).
    #[arg(long)]
    no_queued: bool,
    /// Skip the ingest figure with `monitoring.enabled = false`, beside the default (on).
    #[arg(long)]
    no_monitoring_off: bool,
    /// PostgreSQL base URL, without a database name.
    #[arg(
        long,
        env = "NIMBUS_TEST_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
}

impl Args {
    /// The ingest figure's senders, batches and duration, for points from `t0` on.
    fn ingest_config(&self, t0: chrono::DateTime<chrono::Utc>) -> ingest::Config {
        ingest::Config {
            senders: self.senders,
            batch: self.batch,
            duration: Duration::from_secs(self.duration),
            t0,
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.senders == 0 || self.batch == 0 || self.drones == 0 || self.live_drones == 0 {
            bail!("--senders, --batch, --drones and --live-drones must be at least 1");
        }
        if self.duration == 0 {
            bail!("--duration must be at least 1 second");
        }
        if self.live_seconds <= LIVE_WARMUP.as_secs() {
            bail!(
                "--live-seconds must be more than the {} s warm-up",
                LIVE_WARMUP.as_secs()
            );
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.check()?;
    let databases = Databases::create(&args.pg_url).await?;
    let outcome = tokio::select! {
        outcome = run(&args, &databases) => outcome,
        signal = interrupted() => Err(anyhow::anyhow!("stopped by {signal}")),
    };
    let dropped = databases.drop_all().await;
    outcome?;
    dropped
}

/// Waits for Ctrl-C or SIGTERM (`timeout`, CI cancellation), so that the run can still
/// drop its databases.
async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Prints one figure as a JSON line, `figure` first and the other fields in key order.
/// A closed stdout is an error, not a panic, so that the databases are still dropped.
fn emit(figure: &str, fields: Value) -> anyhow::Result<()> {
    let fields = fields.to_string();
    let rest = fields
        .strip_prefix('{')
        .filter(|rest| *rest != "}")
        .map_or_else(|| "}".to_owned(), |rest| format!(",{rest}"));
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"figure\":{}{rest}", json!(figure))
        .and_then(|()| out.flush())
        .context("failed to write to stdout")
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

async fn run(args: &Args, databases: &Databases) -> anyhow::Result<()> {
    let settings = setup::settings(databases)?;
    api::logging::init(&settings.log);
    let bench = setup::start(&settings).await?;
    progress(&format!(
        "app on {} (PostgreSQL, catalog + 2 shards); write batches of {} points, flush after {} ms",
        bench.address,
        settings.pipeline.write_batch_points,
        settings.pipeline.flush_interval.as_millis()
    ));
    if args.batch > settings.telemetry.max_batch_points {
        bail!(
            "--batch {} exceeds telemetry.max_batch_points ({})",
            args.batch,
            settings.telemetry.max_batch_points
        );
    }

    let (fleet, drones) = bench.warm_fleet("Ingest", "ING", args.drones).await?;
    let t0 = setup::start_of_points();
    progress(&format!(
        "ingest: {} senders × {}-point batches for {} s",
        args.senders, args.batch, args.duration
    ));
    let ingested = ingest::run(&bench, &fleet, &drones, &args.ingest_config(t0), &|_| {
        bench.queued_points() == 0
    })
    .await?;
    let ingest_rate = emit_ingest(args, settings.telemetry.ack, &ingested)?;

    let chunk = settings.pipeline.write_batch_points;
    progress(&format!(
        "raw COPY: {} rows in writer-sized batches of {chunk}",
        ingested.points
    ));
    let copied = copy::run(
        &bench.store,
        fleet.id,
        &drones,
        &copy::Config {
            rows: ingested.points,
            first_index: ingested.next_index,
            chunk,
            t0,
        },
    )
    .await?;
    let copy_rate = copied.rows as f64 / copied.elapsed.as_secs_f64();
    emit(
        "raw_copy_points_per_s",
        json!({
            "value": round(copy_rate, 1),
            "rows": copied.rows,
            "batch": chunk,
            "copies": copied.copies,
            "shards": bench.store.shard_count(),
            "seconds": round(copied.elapsed.as_secs_f64(), 3),
        }),
    )?;
    let ratio = ingest_rate / copy_rate;
    emit(
        "ingest_vs_copy_ratio",
        json!({
            "value": round(ratio, 3),
            "target": TARGET_INGEST_VS_COPY,
            "met": ratio >= TARGET_INGEST_VS_COPY,
        }),
    )?;

    if !args.no_queued {
        queued_ingest(args, &settings, ingest_rate).await?;
    }
    if !args.no_monitoring_off {
        unmonitored_ingest(args, &settings, ingest_rate).await?;
    }

    if let Some(brokers) = &args.kafka_brokers {
        kafka::run(args, &settings, brokers, ingest_rate).await?;
    }

    let watchers = bench.org("Live").await?;
    progress(&format!("registering {} drones", args.live_drones));
    let live_drones =
        setup::register_drones(&bench.state, watchers.id, "LIVE", args.live_drones).await?;
    progress(&format!(
        "live: {} drones × 1 Hz for {} s, one SSE client at max_hz={}",
        args.live_drones,
        args.live_seconds,
        live::MAX_HZ
    ));
    let observed = live::run(
        &bench,
        &watchers,
        &live_drones,
        Duration::from_secs(args.live_seconds),
        LIVE_WARMUP,
        Duration::from_secs_f64(settings.monitoring.link_timeout_s),
    )
    .await?;
    emit_alert_latencies(&settings, &observed)?;
    let latency = stats::Summary::of(observed.latency_ms)
        .context("the live stream delivered no position after the warm-up")?;
    let posts = stats::Summary::of(observed.http_ms);
    emit(
        "live_latency_ms",
        json!({
            "p50": round(latency.p50, 2),
            "p99": round(latency.p99, 2),
            "max": round(latency.max, 2),
            "samples": latency.count,
            "sent": observed.sent_after_warmup,
            "drones": args.live_drones,
            "rate_hz": 1,
            "max_hz": live::MAX_HZ,
            "warmup_s": LIVE_WARMUP.as_secs(),
            "http_p50_ms": posts.as_ref().map(|s| round(s.p50, 2)),
            "http_p99_ms": posts.as_ref().map(|s| round(s.p99, 2)),
            "target_p99_ms": TARGET_LIVE_P99_MS,
            "met": latency.p99 < TARGET_LIVE_P99_MS,
        }),
    )?;

    bench.stop().await;
    Ok(())
}

/// Emits the `ingest_points_per_s` figure of one run; returns the rate.
fn emit_ingest(
    args: &Args,
    ack: infra::pipeline::AckMode,
    ingested: &ingest::Outcome,
) -> anyhow::Result<f64> {
    let ingest_rate = ingested.points as f64 / ingested.elapsed.as_secs_f64();
    let http = stats::Summary::of(ingested.http_ms.clone());
    emit(
        "ingest_points_per_s",
        json!({
            "value": round(ingest_rate, 1),
            "ack": ack,
            "senders": args.senders,
            "batch": args.batch,
            "drones": args.drones,
            "points": ingested.points,
            "seconds": round(ingested.elapsed.as_secs_f64(), 3),
            "drain_ms": round(ingested.drain.as_secs_f64() * 1e3, 1),
            "requests": ingested.http_ms.len(),
            "retries": ingested.retries,
            "http_p50_ms": http.as_ref().map(|s| round(s.p50, 2)),
            "http_p99_ms": http.as_ref().map(|s| round(s.p99, 2)),
        }),
    )?;
    Ok(ingest_rate)
}

/// The ingest figure again on a second app with other `settings`, on the same databases
/// with a fleet of its own (`name`, serials `prefix-…`); returns what it ingested.
async fn ingest_again(
    args: &Args,
    settings: &nimbusfleet::settings::Settings,
    name: &str,
    prefix: &str,
    what: &str,
) -> anyhow::Result<ingest::Outcome> {
    let bench = setup::start(settings).await?;
    let (fleet, drones) = bench.warm_fleet(name, prefix, args.drones).await?;
    progress(&format!(
        "ingest with {what}: {} senders × {}-point batches for {} s",
        args.senders, args.batch, args.duration
    ));
    let ingested = ingest::run(
        &bench,
        &fleet,
        &drones,
        &args.ingest_config(setup::start_of_points()),
        &|_| bench.queued_points() == 0,
    )
    .await?;
    bench.stop().await;
    Ok(ingested)
}

/// The ingest figure with `telemetry.ack = "queued"`, and the durable rate beside it.
async fn queued_ingest(
    args: &Args,
    settings: &nimbusfleet::settings::Settings,
    durable_rate: f64,
) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    settings.telemetry.ack = infra::pipeline::AckMode::Queued;
    let ingested = ingest_again(
        args,
        &settings,
        "IngestQueued",
        "INQ",
        "telemetry.ack=queued",
    )
    .await?;
    let queued_rate = emit_ingest(args, settings.telemetry.ack, &ingested)?;
    emit(
        "durable_vs_queued_ratio",
        json!({ "value": round(durable_rate / queued_rate, 3) }),
    )?;
    Ok(())
}

/// The ingest figure with `monitoring.enabled = false`, and the monitored rate beside it.
async fn unmonitored_ingest(
    args: &Args,
    settings: &nimbusfleet::settings::Settings,
    monitored_rate: f64,
) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    settings.monitoring.enabled = false;
    let ingested = ingest_again(
        args,
        &settings,
        "IngestUnmonitored",
        "INU",
        "monitoring.enabled=false",
    )
    .await?;
    let rate = ingested.points as f64 / ingested.elapsed.as_secs_f64();
    emit(
        "ingest_unmonitored_points_per_s",
        json!({"value": round(rate, 1), "points": ingested.points, "drones": args.drones}),
    )?;
    let ratio = monitored_rate / rate;
    emit(
        "monitoring_on_vs_off_ratio",
        json!({
            "value": round(ratio, 3),
            "target": TARGET_MONITORING_RATIO,
            "met": ratio >= TARGET_MONITORING_RATIO,
        }),
    )?;
    Ok(())
}

/// The monitor's figures from the live run.
fn emit_alert_latencies(
    settings: &nimbusfleet::settings::Settings,
    observed: &live::Outcome,
) -> anyhow::Result<()> {
    let timeout_ms = settings.monitoring.link_timeout_s * 1e3;
    let figure = |samples: &[f64]| stats::Summary::of(samples.to_vec());
    if let Some(s) = figure(&observed.breach_ms) {
        emit(
            "alert_geofence_breach_ms",
            json!({"p50": round(s.p50, 1), "p99": round(s.p99, 1), "max": round(s.max, 1),
                   "samples": s.count, "from": "triggering point's ts"}),
        )?;
    }
    if let Some(s) = figure(&observed.unplanned_ms) {
        emit(
            "alert_unplanned_flight_ms",
            json!({"p50": round(s.p50, 1), "p99": round(s.p99, 1), "max": round(s.max, 1),
                   "samples": s.count, "grace_ms": settings.monitoring.excursion_grace_s * 1e3,
                   "from": "first offending point's ts (grace included)"}),
        )?;
    }
    let lost = figure(&observed.link_lost_ms);
    let p99 = lost.as_ref().map(|s| s.p99);
    emit(
        "alert_link_lost_ms",
        json!({"p50": lost.as_ref().map(|s| round(s.p50, 1)), "p99": p99.map(|v| round(v, 1)),
               "max": lost.as_ref().map(|s| round(s.max, 1)),
               "samples": lost.as_ref().map_or(0, |s| s.count), "silenced": observed.silenced,
               "timeout_ms": timeout_ms,
               "target_p99_ms": timeout_ms + TARGET_LINK_LOST_SLACK_MS,
               "met": p99.is_some_and(|p| p <= timeout_ms + TARGET_LINK_LOST_SLACK_MS)
                   && lost.as_ref().map_or(0, |s| s.count) == observed.silenced,
               "from": "last answered POST"}),
    )?;
    Ok(())
}

fn progress(message: &str) {
    eprintln!("[ingest-bench] {message}");
}
