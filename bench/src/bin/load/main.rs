//! The scaling guide's load scenarios against a running NimbusFleet (the local cluster's
//! nginx by default): **steady**, **ramp**, **spike** (10× steady, then back) and **soak**
//! (2× steady for a long time). An open-loop generator posts telemetry at each phase's
//! target rate and never retries, so every answer counts as it came. Per phase it reports
//! throughput, p50/p95/p99 latency and requests by status; per second it samples the
//! consumer lag and queue depth from the `--metrics` endpoints; at the end it waits for the
//! backlog to drain and counts the points stored in the `--shard-url` databases against the
//! points acknowledged. It writes `<out>/<label>.json` and `<out>/<label>.svg` (rate,
//! latency and lag over time) and prints one JSON line per phase and one for the totals.

mod chart;
mod client;
mod record;
mod schedule;
mod scrape;
mod stored;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use api::dto::{IngestRequest, PointDto};
use chrono::{DateTime, Utc};
use clap::Parser;
use serde_json::json;
use uuid::Uuid;

use client::Client;
use record::{Latency, Recorder};
use schedule::{Phase, Scenario, Shape};

#[derive(Debug, Parser)]
#[command(about = "NimbusFleet load scenarios: steady, ramp, spike and soak")]
struct Args {
    /// Base URL (the local cluster's nginx by default).
    #[arg(long, env = "NF_LOAD_URL", default_value = "http://127.0.0.1:8090")]
    url: String,
    /// Scenarios to run, in order (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "steady")]
    scenario: Vec<Scenario>,
    /// The steady rate, in points per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of a steady or ramp phase (and of each steady part around a spike).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// The ramp's final rate [default: 4 × --rate].
    #[arg(long)]
    peak: Option<f64>,
    /// The spike's rate over the steady one.
    #[arg(long, default_value_t = 10.0)]
    spike_factor: f64,
    /// Seconds of the spike.
    #[arg(long, default_value_t = 10)]
    spike_duration: u64,
    /// Seconds of the soak (2 × --rate): long by design, so bound it here.
    #[arg(long, default_value_t = 600)]
    soak_duration: u64,
    /// Drones to spread the points over (registered as PREFIX-00001… when missing).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    drones: u32,
    #[arg(long, default_value = "LOAD")]
    prefix: String,
    /// Points per POST (at most telemetry.max_batch_points, 5,000 by default).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    batch_points: u32,
    /// How often the generator sends what the target rate owes, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=5_000))]
    tick_ms: u64,
    /// Requests in flight at most; past it the generator falls behind (counted).
    #[arg(long, default_value_t = 128)]
    max_in_flight: usize,
    /// An operator's or admin's login (the demo operator by default).
    #[arg(
        long,
        env = "NF_LOAD_EMAIL",
        default_value = "operator@demo.nimbusfleet.local"
    )]
    email: String,
    #[arg(
        long,
        env = "NF_LOAD_PASSWORD",
        hide_env_values = true,
        default_value = "demo-operator-password"
    )]
    password: String,
    /// A /metrics URL to sample every second (repeat for every replica and worker).
    #[arg(long = "metrics")]
    metrics: Vec<String>,
    /// Bearer token for /metrics (server.metrics_token), when set.
    #[arg(long, env = "NF_LOAD_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// A shard database (PostgreSQL URL) to count stored points in (repeat for each).
    #[arg(long = "shard-url")]
    shard_urls: Vec<String>,
    /// Seconds to wait at the end for the backlog to drain before counting.
    #[arg(long, default_value_t = 60)]
    drain_timeout: u64,
    /// Folder for the JSON result and the SVG chart.
    #[arg(long, default_value = "load-results")]
    out: PathBuf,
    /// File name of the result [default: the scenarios and the start time].
    #[arg(long)]
    label: Option<String>,
}

/// Where the simulated drones fly (the demo organisation's area).
const HOME: (f64, f64) = (47.3769, 8.5417);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shape = Shape {
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
        peak: args.peak.unwrap_or(args.rate * 4.0),
        spike_factor: args.spike_factor,
        spike_duration: Duration::from_secs(args.spike_duration),
        soak_duration: Duration::from_secs(args.soak_duration),
    };
    let phases = schedule::phases(&args.scenario, &shape);
    let client = Arc::new(Client::connect(&args.url, &args.email, &args.password).await?);
    eprintln!("[load] {} drones with prefix {}", args.drones, args.prefix);
    let drones = client.drones(&args.prefix, args.drones).await?;
    let scraper = Arc::new(scrape::Scraper::new(
        args.metrics.clone(),
        args.metrics_token.clone(),
    )?);
    let shards = stored::Shards::connect(&args.shard_urls)
        .await
        .context("connecting to a --shard-url")?;

    let started_at = Utc::now();
    let recorder = Arc::new(Mutex::new(Recorder::new(phases.len())));
    let run = Instant::now();
    let sampler = tokio::spawn(sample_every_second(scraper.clone(), recorder.clone(), run));
    let behind = generate(&args, &phases, &drones, client, recorder.clone(), run).await?;
    let sent_for = run.elapsed();
    let (stored, drain) = drain(&args, &shards, &scraper, &drones, started_at, &recorder).await?;
    sampler.abort();

    let mut rec = recorder.lock().unwrap_or_else(|e| e.into_inner());
    let acked = rec.acked();
    let mut phase_results = Vec::new();
    for (phase, tally) in phases.iter().zip(rec.phases.iter_mut()) {
        let requests: u64 = tally.requests.values().sum();
        let failed = requests - tally.requests.get("202").copied().unwrap_or(0);
        let secs = phase.duration.as_secs_f64().max(f64::EPSILON);
        let result = json!({
            "phase": phase.name,
            "scenario": phase.scenario,
            "duration_s": phase.duration.as_secs_f64(),
            "target_points_per_s": [phase.from_rate, phase.to_rate],
            "target_points": phase.planned_points().round(),
            "points_sent": tally.points_sent,
            "points_acknowledged": tally.points_acked,
            "acknowledged_points_per_s": (tally.points_acked as f64 / secs).round(),
            "requests": requests,
            "requests_per_s": (requests as f64 / secs * 10.0).round() / 10.0,
            "latency_ms": Latency::of(&mut tally.latencies_ms),
            "requests_by_status": tally.requests,
            "error_rate": if requests == 0 { 0.0 } else { failed as f64 / requests as f64 },
        });
        println!("{result}");
        phase_results.push(result);
    }
    let summary: Vec<String> = phase_results
        .iter()
        .map(|p| {
            format!(
                "{} {} points/s p99 {:.0} ms errors {:.2} %",
                p["phase"].as_str().unwrap_or_default(),
                p["acknowledged_points_per_s"],
                p["latency_ms"]["p99"].as_f64().unwrap_or_default(),
                p["error_rate"].as_f64().unwrap_or_default() * 100.0
            )
        })
        .collect();
    let stored_text = stored.map_or("not counted".to_owned(), |s| s.to_string());
    println!(
        "load: {}; acknowledged {acked}, stored {stored_text}",
        summary.join("; ")
    );
    let timeline = rec.timeline();
    let totals = json!({
        "points_acknowledged": acked,
        "points_stored": stored,
        "points_lost": stored.map(|s| acked.saturating_sub(s)),
        "stored_checked": stored.is_some(),
        "generator_fell_behind_ticks": behind,
        "sent_for_s": sent_for.as_secs_f64(),
        "drained_after_s": drain.map(|d| d.as_secs_f64()),
    });
    println!("{}", json!({ "totals": totals }));
    let label = args.label.clone().unwrap_or_else(|| {
        let names: Vec<String> = args
            .scenario
            .iter()
            .map(|s| format!("{s:?}").to_lowercase())
            .collect();
        format!(
            "{}-{}",
            names.join("-"),
            started_at.format("%Y%m%dT%H%M%SZ")
        )
    });
    std::fs::create_dir_all(&args.out)?;
    let json_path = args.out.join(format!("{label}.json"));
    let svg_path = args.out.join(format!("{label}.svg"));
    let document = json!({
        "url": args.url,
        "started_at": started_at,
        "drones": args.drones,
        "batch_points": args.batch_points,
        "phases": phase_results,
        "totals": totals,
        "timeline": timeline,
    });
    std::fs::write(&json_path, serde_json::to_vec_pretty(&document)?)?;
    chart::draw(
        &svg_path,
        &format!("NimbusFleet load: {label}"),
        &timeline,
        &phases,
    )?;
    eprintln!(
        "[load] wrote {} and {}",
        json_path.display(),
        svg_path.display()
    );
    if stored.is_some_and(|s| s < acked) {
        anyhow::bail!(
            "{} acknowledged points are not stored",
            acked - stored.unwrap_or(0)
        );
    }
    Ok(())
}

/// Sends each phase's points on every tick; returns how many ticks found every request
/// slot busy (the generator fell behind its target).
async fn generate(
    args: &Args,
    phases: &[Phase],
    drones: &[Uuid],
    client: Arc<Client>,
    recorder: Arc<Mutex<Recorder>>,
    run: Instant,
) -> anyhow::Result<u64> {
    let slots = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight.max(1)));
    let mut fleet = Fleet::new(drones);
    let tick = Duration::from_millis(args.tick_ms);
    let mut behind = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    for (index, phase) in phases.iter().enumerate() {
        eprintln!(
            "[load] phase {} ({} s, {:.0} → {:.0} points/s)",
            phase.name,
            phase.duration.as_secs(),
            phase.from_rate,
            phase.to_rate
        );
        let start = Instant::now();
        let mut last = start;
        let mut owed = 0.0;
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while start.elapsed() < phase.duration {
            ticker.tick().await;
            let now = Instant::now();
            let rate = phase.rate_at(now - start);
            owed += rate * (now - last).as_secs_f64();
            last = now;
            let second = run.elapsed().as_secs();
            recorder
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .target(second, rate);
            while owed >= 1.0 {
                let n = (owed as u64).min(u64::from(args.batch_points));
                owed -= n as f64;
                let body = serde_json::to_vec(&IngestRequest {
                    points: fleet.points(n as usize),
                })?;
                let permit = match slots.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        behind += 1;
                        slots.clone().acquire_owned().await?
                    }
                };
                recorder
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .sent(index, second, n);
                let (client, recorder) = (client.clone(), recorder.clone());
                tasks.spawn(async move {
                    let outcome = client.post(body).await;
                    recorder
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .answered(index, second, &outcome);
                    drop(permit);
                });
            }
            while tasks.try_join_next().is_some() {}
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(behind)
}

async fn sample_every_second(
    scraper: Arc<scrape::Scraper>,
    recorder: Arc<Mutex<Recorder>>,
    run: Instant,
) {
    if scraper.is_empty() {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let sample = scraper.sample().await;
        recorder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .scraped(run.elapsed().as_secs(), &sample);
    }
}

/// Waits until the stored count reaches the acknowledged one (or stops growing for 10 s, or
/// the drain timeout passes); returns the count and how long the drain took.
async fn drain(
    args: &Args,
    shards: &stored::Shards,
    scraper: &scrape::Scraper,
    drones: &[Uuid],
    since: DateTime<Utc>,
    recorder: &Mutex<Recorder>,
) -> anyhow::Result<(Option<u64>, Option<Duration>)> {
    if shards.is_empty() {
        eprintln!("[load] stored points not counted (no --shard-url)");
        return Ok((None, None));
    }
    let acked = recorder.lock().unwrap_or_else(|e| e.into_inner()).acked();
    let started = Instant::now();
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let stored = shards.count(drones, since).await?;
        if stored >= acked {
            return Ok((Some(stored), Some(started.elapsed())));
        }
        if stored != last {
            (last, last_change) = (stored, Instant::now());
        }
        let lag = scraper.sample().await.lag_records.unwrap_or(0.0);
        let stalled = lag == 0.0 && last_change.elapsed() > Duration::from_secs(10);
        if stalled || started.elapsed() > Duration::from_secs(args.drain_timeout) {
            return Ok((Some(stored), None));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The drones' positions and the last timestamp each one sent (points of a drone never
/// share a timestamp: they would be one row).
struct Fleet {
    drones: Vec<(Uuid, f64, f64, DateTime<Utc>)>,
    next: usize,
}

impl Fleet {
    fn new(ids: &[Uuid]) -> Self {
        let n = ids.len().max(1) as f64;
        let drones = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let angle = i as f64 / n * std::f64::consts::TAU;
                let r = 0.02 + 0.08 * ((i * 7919) % 100) as f64 / 100.0;
                (
                    *id,
                    HOME.0 + r * angle.sin(),
                    HOME.1 + r * angle.cos(),
                    DateTime::<Utc>::MIN_UTC,
                )
            })
            .collect();
        Self { drones, next: 0 }
    }

    fn points(&mut self, n: usize) -> Vec<PointDto> {
        let now = Utc::now();
        (0..n)
            .map(|_| {
                let i = self.next;
                self.next = (self.next + 1) % self.drones.len();
                let d = &mut self.drones[i];
                let ts = now.max(d.3 + chrono::Duration::milliseconds(1));
                d.3 = ts;
                d.1 += 0.00001;
                PointDto {
                    drone_id: d.0,
                    ts,
                    lat: d.1,
                    lon: d.2,
                    alt_m: 60.0,
                    speed_mps: 8.0,
                    heading_deg: 0.0,
                    battery_pct: 80.0,
                    vertical_speed_mps: None,
                    satellites: Some(14),
                    link_quality_pct: Some(95.0),
                    flight_plan_id: None,
                }
            })
            .collect()
    }
}
