//! Prometheus metrics: request counts and latency by route template and status, database
//! pool usage, and the telemetry pipeline (ingest, writes, queue depth, live delivery).
//! Gauges that mirror other state are refreshed at scrape time.

mod kafka;
mod monitoring;

pub use monitoring::{MonitoringMetrics, WebhookMetrics};

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    replica_lag: prometheus::GaugeVec,
    replica_up: IntGaugeVec,
    pub points_accepted: IntCounter,
    pub points_rejected: IntCounterVec,
    points_written: IntCounter,
    points_processed: IntCounter,
    write_batch_points: Histogram,
    write_duration: Histogram,
    write_failures: IntCounter,
    queue_points: IntGauge,
    queue_capacity: IntGauge,
    live_subscribers: IntGauge,
    pub live_latency: Histogram,
    pub cache_lookups: IntCounterVec,
    pub rate_limit_rejections: IntCounterVec,
    redis_commands: IntCounterVec,
    redis_latency: HistogramVec,
    dependency_up: IntGaugeVec,
    kafka: kafka::KafkaMetrics,
    pub monitoring: monitoring::MonitoringMetrics,
    pub webhooks: monitoring::WebhookMetrics,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("nimbusfleet".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route template and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by database and state (in_use, idle, max)",
            ),
            &["database", "state"],
        )?;
        let replica_lag = prometheus::GaugeVec::new(
            Opts::new(
                "db_replica_lag_seconds",
                "How far each read replica is behind its primary (NaN while it is down)",
            ),
            &["database", "replica"],
        )?;
        let replica_up = IntGaugeVec::new(
            Opts::new(
                "db_replica_up",
                "Whether each read replica answered its last lag measurement",
            ),
            &["database", "replica"],
        )?;
        let points_accepted = IntCounter::new(
            "telemetry_points_accepted_total",
            "Telemetry points accepted by the API",
        )?;
        let points_rejected = IntCounterVec::new(
            Opts::new(
                "telemetry_points_rejected_total",
                "Telemetry points rejected by the API, by reason code",
            ),
            &["reason"],
        )?;
        let points_written = IntCounter::new(
            "telemetry_points_written_total",
            "Telemetry rows newly stored (replays excluded)",
        )?;
        let points_processed = IntCounter::new(
            "telemetry_points_processed_total",
            "Telemetry points the writer made durable",
        )?;
        let write_batch_points = Histogram::with_opts(
            HistogramOpts::new("telemetry_write_batch_points", "Points per write batch").buckets(
                vec![
                    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
                ],
            ),
        )?;
        let write_duration = Histogram::with_opts(
            HistogramOpts::new(
                "telemetry_write_duration_seconds",
                "Duration of one bulk write",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        let write_failures = IntCounter::new(
            "telemetry_write_failures_total",
            "Failed bulk writes (retried)",
        )?;
        let queue_points = IntGauge::new(
            "telemetry_queue_points",
            "Points accepted and not yet written",
        )?;
        let queue_capacity = IntGauge::new(
            "telemetry_queue_capacity_points",
            "Capacity of the telemetry queue",
        )?;
        let live_subscribers = IntGauge::new(
            "live_subscribers",
            "Live stream clients connected to this replica",
        )?;
        let live_latency = Histogram::with_opts(
            HistogramOpts::new(
                "live_latency_seconds",
                "Drone to live stream: time of delivery to a client minus the point's ts",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )?;
        let cache_lookups = IntCounterVec::new(
            Opts::new(
                "cache_lookups_total",
                "Cache lookups by cache, layer (redis, memory) and outcome (hit, miss)",
            ),
            &["cache", "layer", "outcome"],
        )?;
        let rate_limit_rejections = IntCounterVec::new(
            Opts::new(
                "rate_limit_rejections_total",
                "Requests refused with 429, by plan",
            ),
            &["plan"],
        )?;
        let redis_commands = IntCounterVec::new(
            Opts::new(
                "redis_commands_total",
                "Redis commands by operation and outcome (ok, error)",
            ),
            &["op", "outcome"],
        )?;
        let redis_latency = HistogramVec::new(
            HistogramOpts::new(
                "redis_command_duration_seconds",
                "Redis command latency by operation",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
            ]),
            &["op"],
        )?;
        let dependency_up = IntGaugeVec::new(
            Opts::new(
                "health_dependency_up",
                "Whether each dependency answered its last readiness check (1) or not (0), by dependency (catalog, shard-0, …, redis, kafka)",
            ),
            &["dependency"],
        )?;
        // Bounded label sets get their series at once, so that rates and alerts see zeros
        // rather than nothing.
        for code in domain::FieldCode::ALL {
            points_rejected.with_label_values(&[code.as_str()]);
        }
        for plan in domain::org::Plan::ALL {
            rate_limit_rejections.with_label_values(&[plan.as_str()]);
        }
        registry.register(Box::new(dependency_up.clone()))?;
        registry.register(Box::new(cache_lookups.clone()))?;
        registry.register(Box::new(rate_limit_rejections.clone()))?;
        registry.register(Box::new(redis_commands.clone()))?;
        registry.register(Box::new(redis_latency.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(replica_lag.clone()))?;
        registry.register(Box::new(replica_up.clone()))?;
        registry.register(Box::new(points_accepted.clone()))?;
        registry.register(Box::new(points_rejected.clone()))?;
        registry.register(Box::new(points_written.clone()))?;
        registry.register(Box::new(points_processed.clone()))?;
        registry.register(Box::new(write_batch_points.clone()))?;
        registry.register(Box::new(write_duration.clone()))?;
        registry.register(Box::new(write_failures.clone()))?;
        registry.register(Box::new(queue_points.clone()))?;
        registry.register(Box::new(queue_capacity.clone()))?;
        registry.register(Box::new(live_subscribers.clone()))?;
        registry.register(Box::new(live_latency.clone()))?;
        let kafka = kafka::KafkaMetrics::new(&registry)?;
        let monitoring = monitoring::MonitoringMetrics::new(&registry)?;
        let webhooks = monitoring::WebhookMetrics::new(&registry)?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool,
            replica_lag,
            replica_up,
            points_accepted,
            points_rejected,
            points_written,
            points_processed,
            write_batch_points,
            write_duration,
            write_failures,
            queue_points,
            queue_capacity,
            live_subscribers,
            live_latency,
            cache_lookups,
            rate_limit_rejections,
            redis_commands,
            redis_latency,
            dependency_up,
            kafka,
            monitoring,
            webhooks,
        })
    }

    /// Records the outcome of one dependency's readiness check.
    pub fn dependency(&self, name: &str, up: bool) {
        self.dependency_up
            .with_label_values(&[name])
            .set(i64::from(up));
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition of every metric, with the gauges refreshed from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> Result<String, prometheus::Error> {
        self.queue_points
            .set(i64::try_from(snapshot.queued_points).unwrap_or(i64::MAX));
        self.queue_capacity
            .set(i64::try_from(snapshot.queue_capacity).unwrap_or(i64::MAX));
        self.live_subscribers
            .set(i64::try_from(snapshot.live_subscribers).unwrap_or(i64::MAX));
        self.kafka
            .in_flight
            .set(i64::from(snapshot.kafka_in_flight));
        for p in &snapshot.pools {
            let in_use = i64::from(p.size.saturating_sub(p.idle));
            self.pool
                .with_label_values(&[p.database.as_str(), "in_use"])
                .set(in_use);
            self.pool
                .with_label_values(&[p.database.as_str(), "idle"])
                .set(i64::from(p.idle));
            self.pool
                .with_label_values(&[p.database.as_str(), "max"])
                .set(i64::from(p.max));
        }
        for r in &snapshot.replicas {
            let replica = r.replica.to_string();
            let labels = [r.database.as_str(), replica.as_str()];
            self.replica_up
                .with_label_values(&labels)
                .set(i64::from(r.up));
            // Unknown (never measured, or down) is reported as NaN rather than as a figure.
            let lag = if r.up {
                r.lag_ms as f64 / 1000.0
            } else {
                f64::NAN
            };
            self.replica_lag.with_label_values(&labels).set(lag);
        }
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// State mirrored into gauges at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Connection pools, one per database.
    pub pools: Vec<infra::PoolStats>,
    /// Read replicas as their lag watcher last found them.
    pub replicas: Vec<infra::ReplicaStats>,
    pub queued_points: usize,
    pub queue_capacity: usize,
    pub live_subscribers: usize,
    pub kafka_in_flight: i32,
}

impl infra::telemetry::WriteObserver for Metrics {
    fn batch_written(&self, points: usize, new_rows: u64, took: Duration) {
        self.points_processed.inc_by(points as u64);
        self.points_written.inc_by(new_rows);
        self.write_batch_points.observe(points as f64);
        self.write_duration.observe(took.as_secs_f64());
    }

    fn write_failed(&self) {
        self.write_failures.inc();
    }
}

impl infra::redis::RedisObserver for Metrics {
    fn command(&self, op: &'static str, ok: bool, took: Duration) {
        self.redis_commands
            .with_label_values(&[op, if ok { "ok" } else { "error" }])
            .inc();
        self.redis_latency
            .with_label_values(&[op])
            .observe(took.as_secs_f64());
    }
}

/// Records every request under its route template (`/api/v1/drones/{id}`), never the raw
/// path, so ids do not explode the label space. Unrouted requests count as `unmatched`.
/// The method as a metric label: the standard methods by name, any other as `other`.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        // Every label has a bounded set of values: any method beyond the standard ones, and
        // any path no route matched, count under one value each.
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(
            method,
            &route,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}
