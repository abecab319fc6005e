//! `nimbusfleet simulate`: a fleet of simulated drones flying missions and sending their
//! telemetry to a NimbusFleet server, for demos and load tests.
//!
//! One generator samples every drone's [`flight::Flight`] at the configured rate with the
//! wall-clock time, packs the points into batches every batch interval and hands them to
//! a few concurrent senders. A sender resends a batch after `503` (waiting `Retry-After`)
//! or a network error (with backoff) until it is answered, so no point is dropped
//! silently: at the end every generated point is either answered (accepted, rejected or
//! failed) or counted as unsent. When the senders fall behind, the generator waits for
//! them and samples less often; the progress line shows the achieved rate.

mod args;
pub mod batch;
pub mod client;
mod config;
mod fleet;
pub mod flight;
mod summary;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

pub use args::{Misbehave, SimulateArgs};
use batch::{Batch, Batcher};
use client::{ApiClient, ClientError};
pub use config::{SimAuth, SimConfig, DEFAULT_SERIAL_PREFIX, DEMO_SERIAL_PREFIX};
use flight::Flight;
pub use summary::Summary;
use summary::{per_second, Out, Stats};

/// Bounds on the wait before resending a deferred batch (`Retry-After` may say 0).
const MIN_RETRY_AFTER: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Stops a background task when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Exponential backoff from 0.5 s to 10 s.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(500))
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(10));
        delay
    }
}

/// Runs the simulation until `config.duration` has passed since the call or `shutdown`
/// completes, then lets the senders deliver what is queued for up to
/// `config.drain_timeout`.
///
/// Fails only when the drones cannot be prepared for a reason other than an unreachable
/// server (bad credentials, unknown drone…); an unreachable server is waited for.
pub async fn run(config: SimConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<Summary> {
    config.check()?;
    let deadline = config.duration.map(|d| Instant::now() + d);
    let stop = async {
        match deadline {
            Some(deadline) => tokio::select! {
                () = shutdown => {}
                () = tokio::time::sleep_until(deadline) => {}
            },
            None => shutdown.await,
        }
    };
    tokio::pin!(stop);
    let out = Out {
        label: Arc::from(config.label.as_str()),
    };
    let client = Arc::new(ApiClient::new(&config.base_url, &config.auth)?);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let specs = tokio::select! {
        specs = fleet::prepare(&config, &client, &mut rng, &out) => specs?,
        () = &mut stop => return Ok(Summary::default()),
    };
    let drones = specs.len();
    let target = config.target_points_per_s(drones);
    let mut flights: Vec<Flight> = specs
        .into_iter()
        .map(|spec| Flight::new(spec, rng.gen()))
        .collect();
    misbehave(&config, &client, &mut flights, &out).await?;
    out.line(format_args!(
        "flying {drones} drones at {} Hz ({target:.1} points/s) against {}",
        config.rate_hz, config.base_url
    ));

    let started = Instant::now();
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::channel::<Batch>(config.concurrency * 2);
    let queue = Arc::new(tokio::sync::Mutex::new(rx));
    let mut senders = JoinSet::new();
    for _ in 0..config.concurrency {
        senders.spawn(send_batches(
            client.clone(),
            queue.clone(),
            stats.clone(),
            out.clone(),
        ));
    }
    let progress = config.progress.then(|| {
        AbortOnDrop(tokio::spawn(print_progress(
            stats.clone(),
            out.clone(),
            config.progress_interval,
            drones,
            target,
            started,
        )))
    });

    let mut sample_tick = tokio::time::interval(Duration::from_secs_f64(1.0 / config.rate_hz));
    sample_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut flush_tick = tokio::time::interval(config.batch_interval);
    flush_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut batcher = Batcher::default();
    let mut pending: VecDeque<Batch> = VecDeque::new();
    'generate: loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            _ = sample_tick.tick() => {
                // Milliseconds: never ahead of the clock, and short on the wire.
                let ts = Utc::now().trunc_subsecs(3);
                for flight in &mut flights {
                    if let Some(point) = flight.sample(ts) {
                        batcher.push(&point).context("failed to serialise a point")?;
                        stats.generated.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = flush_tick.tick() => {
                pending.extend(batcher.take());
                while let Some(batch) = pending.pop_front() {
                    tokio::select! {
                        biased;
                        () = &mut stop => {
                            pending.push_front(batch);
                            break 'generate;
                        }
                        permit = tx.reserve() => match permit {
                            Ok(permit) => permit.send(batch),
                            Err(_) => break 'generate,
                        },
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();

    pending.extend(batcher.take());
    let drain_until = Instant::now() + config.drain_timeout;
    for batch in pending {
        match tokio::time::timeout_at(drain_until, tx.reserve()).await {
            Ok(Ok(permit)) => permit.send(batch),
            _ => break,
        }
    }
    drop(tx);
    let drained = tokio::time::timeout_at(drain_until, async {
        while senders.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        senders.abort_all();
    }
    drop(progress);

    let generated = stats.generated.load(Ordering::Relaxed);
    let summary = Summary {
        elapsed,
        drones,
        target_points_per_s: target,
        generated,
        accepted: stats.accepted.load(Ordering::Relaxed),
        rejected: stats.rejected.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        retried: stats.retried.load(Ordering::Relaxed),
        unsent: generated.saturating_sub(stats.sent()),
    };
    Ok(summary)
}

/// The `simulate` subcommand: runs until `--duration` or Ctrl-C and prints the summary.
/// Offset of a misbehaving drone's fenced detour from its home, in metres (east, north).
const DETOUR_M: (f64, f64) = (350.0, 350.0);
/// Radius of the prohibited circle on the detour.
const DETOUR_FENCE_RADIUS_M: f64 = 80.0;

/// Makes the configured share of the drones misbehave, creating the fences their detours
/// cross.
async fn misbehave(
    config: &SimConfig,
    client: &ApiClient,
    flights: &mut [Flight],
    out: &Out,
) -> anyhow::Result<()> {
    use args::Misbehave;
    if config.misbehave.is_empty() || flights.is_empty() {
        return Ok(());
    }
    let count =
        ((flights.len() as f64 * config.misbehave_share).ceil() as usize).clamp(1, flights.len());
    let has = |m| config.misbehave.contains(&m);
    let fenced = has(Misbehave::EnterFence);
    if fenced && matches!(config.auth, SimAuth::ApiKey { .. }) {
        anyhow::bail!(
            "--misbehave enter-fence creates geofences: it needs --email (an operator or admin)"
        );
    }
    for flight in flights.iter_mut().take(count) {
        let spec = flight.spec().clone();
        if fenced {
            let (east, north) = DETOUR_M;
            let lat = spec.home.lat + north / 111_320.0;
            let lon = spec.home.lon + east / (111_320.0 * spec.home.lat.to_radians().cos());
            let id = spec.id.to_string();
            let fence = serde_json::json!({
                "name": format!("Simulated no-fly {}", &id[id.len() - 6..]),
                "kind": "prohibited",
                "circle": {"lat": lat, "lon": lon, "radius_m": DETOUR_FENCE_RADIUS_M},
                "lower_m": 0.0,
                "upper_m": 500.0,
            });
            client.create_geofence(&fence).await?;
        }
        *flight = flight.clone().misbehaving(flight::Misbehaviour {
            drain_battery: has(Misbehave::DrainBattery),
            lose_link: has(Misbehave::LoseLink),
            detour: fenced.then_some(DETOUR_M),
        });
    }
    out.line(format_args!(
        "{count} of {} drones misbehave: {}",
        flights.len(),
        config
            .misbehave
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}

pub async fn run_cli(args: SimulateArgs) -> anyhow::Result<()> {
    let config = SimConfig::try_from(args)?;
    let out = config.label.clone();
    let shutdown = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let summary = run(config, shutdown).await?;
    if summary.drones == 0 {
        println!("{out}stopped before any drone flew");
    } else {
        println!("{out}{summary}");
    }
    Ok(())
}

async fn send_batches(
    client: Arc<ApiClient>,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Batch>>>,
    stats: Arc<Stats>,
    out: Out,
) {
    loop {
        let next = queue.lock().await.recv().await;
        let Some(batch) = next else {
            return;
        };
        deliver(&client, &batch, &stats, &out).await;
    }
}

/// Posts one batch until the server answers it; resends after `503`/`429` and network
/// errors.
async fn deliver(client: &ApiClient, batch: &Batch, stats: &Stats, out: &Out) {
    let points = batch.points as u64;
    let mut backoff = Backoff::new();
    loop {
        let error = match client.post_telemetry(&batch.body).await {
            Ok(answer) => {
                stats
                    .accepted
                    .fetch_add(answer.accepted as u64, Ordering::Relaxed);
                stats
                    .rejected
                    .fetch_add(answer.rejected as u64, Ordering::Relaxed);
                if let Some(e) = answer.errors.first() {
                    out.problem(
                        stats,
                        format_args!(
                            "{} point(s) rejected, e.g. points[{}].{} {}: {}",
                            answer.rejected, e.index, e.field, e.code, e.message
                        ),
                    );
                }
                return;
            }
            Err(error) => error,
        };
        match &error {
            ClientError::Status {
                retry_after,
                status,
                ..
            } if error.is_transient() => {
                stats.retried.fetch_add(points, Ordering::Relaxed);
                stats.set_error(error.short());
                let wait = retry_after
                    .unwrap_or_else(|| backoff.next_delay())
                    .clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER);
                tracing::debug!(
                    status = status.as_u16(),
                    wait_s = wait.as_secs_f64(),
                    "telemetry batch deferred"
                );
                tokio::time::sleep(wait).await;
            }
            ClientError::Transport { .. } => {
                stats.retried.fetch_add(points, Ordering::Relaxed);
                stats.set_error(error.short());
                tokio::time::sleep(backoff.next_delay()).await;
            }
            ClientError::Status { status, .. } if status.as_u16() == 422 => {
                stats.rejected.fetch_add(points, Ordering::Relaxed);
                out.problem(
                    stats,
                    format_args!("batch of {points} rejected: {}", error.short()),
                );
                return;
            }
            ClientError::Status { .. } | ClientError::Decode { .. } => {
                stats.failed.fetch_add(points, Ordering::Relaxed);
                out.problem(
                    stats,
                    format_args!("batch of {points} failed: {}", error.short()),
                );
                return;
            }
        }
    }
}

async fn print_progress(
    stats: Arc<Stats>,
    out: Out,
    every: Duration,
    drones: usize,
    target: f64,
    started: Instant,
) {
    let mut tick = tokio::time::interval_at(started + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut last_sent, mut last_at) = (0, started);
    loop {
        let now = tick.tick().await;
        let sent = stats.sent();
        let rate = per_second(sent - last_sent, now - last_at);
        (last_sent, last_at) = (sent, now);
        let mut line = format!(
            "[{:>5}s] {drones} drones | sent {sent} | accepted {} | rejected {} | retried {}",
            (now - started).as_secs(),
            stats.accepted.load(Ordering::Relaxed),
            stats.rejected.load(Ordering::Relaxed),
            stats.retried.load(Ordering::Relaxed),
        );
        let failed = stats.failed.load(Ordering::Relaxed);
        if failed > 0 {
            line.push_str(&format!(" | failed {failed}"));
        }
        line.push_str(&format!(" | {rate:.1} points/s (target {target:.1})"));
        if let Some(error) = stats.take_error() {
            line.push_str(&format!(" | last error: {error}"));
        }
        out.line(line);
    }
}
