//! Conformance monitoring and alerts: what the monitor judged and raised, and how fast.

use domain::monitoring::AlertKind;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

#[derive(Clone)]
pub struct MonitoringMetrics {
    pub points_judged: IntCounter,
    pub alerts_raised: IntCounterVec,
    pub alerts_resolved: IntCounterVec,
    /// From the first offending point (its timestamp) to the alert raised.
    pub detection: HistogramVec,
    /// From a link deadline to `link_lost` raised.
    pub link_lost_delay: Histogram,
    pub monitored_drones: IntGauge,
    pub timers_pending: IntGauge,
    pub record_failures: IntCounter,
}

impl MonitoringMetrics {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let points_judged = IntCounter::new(
            "monitor_points_judged_total",
            "Telemetry points judged by the conformance monitor",
        )?;
        let alerts_raised = IntCounterVec::new(
            Opts::new("alerts_raised_total", "Alerts raised, by kind"),
            &["kind"],
        )?;
        let alerts_resolved = IntCounterVec::new(
            Opts::new(
                "alerts_resolved_total",
                "Alerts resolved by the monitor when their condition cleared, by kind",
            ),
            &["kind"],
        )?;
        let detection = HistogramVec::new(
            HistogramOpts::new(
                "alert_detection_seconds",
                "From the first offending point's timestamp to the alert raised, by kind (includes the excursion grace time)",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 30.0]),
            &["kind"],
        )?;
        let link_lost_delay = Histogram::with_opts(
            HistogramOpts::new(
                "link_lost_delay_seconds",
                "From a drone's link deadline (last point's arrival + timeout) to link_lost raised",
            )
            .buckets(vec![0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0]),
        )?;
        let monitored_drones = IntGauge::new(
            "monitor_drones",
            "Drones whose state the conformance monitor of this process keeps",
        )?;
        let timers_pending = IntGauge::new(
            "monitor_link_timers",
            "Link deadlines pending in this process's monitor",
        )?;
        let record_failures = IntCounter::new(
            "alert_record_failures_total",
            "Failed attempts to store alert changes (retried)",
        )?;
        for kind in AlertKind::ALL {
            alerts_raised.with_label_values(&[kind.as_str()]);
            alerts_resolved.with_label_values(&[kind.as_str()]);
        }
        registry.register(Box::new(points_judged.clone()))?;
        registry.register(Box::new(alerts_raised.clone()))?;
        registry.register(Box::new(alerts_resolved.clone()))?;
        registry.register(Box::new(detection.clone()))?;
        registry.register(Box::new(link_lost_delay.clone()))?;
        registry.register(Box::new(monitored_drones.clone()))?;
        registry.register(Box::new(timers_pending.clone()))?;
        registry.register(Box::new(record_failures.clone()))?;
        Ok(Self {
            points_judged,
            alerts_raised,
            alerts_resolved,
            detection,
            link_lost_delay,
            monitored_drones,
            timers_pending,
            record_failures,
        })
    }
}

/// Webhook deliveries: what was queued, how attempts went, which webhooks were disabled.
#[derive(Clone)]
pub struct WebhookMetrics {
    pub enqueued: IntCounter,
    /// Attempts by outcome: `delivered`, `retrying` (failed, tried again later) and
    /// `gave_up` (failed, the retry window closed).
    pub attempts: IntCounterVec,
    pub disabled: IntCounter,
    pub enqueue_failures: IntCounter,
}

impl WebhookMetrics {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let enqueued = IntCounter::new(
            "webhook_deliveries_enqueued_total",
            "Webhook deliveries queued (one per alert change and matching webhook)",
        )?;
        let attempts = IntCounterVec::new(
            Opts::new(
                "webhook_delivery_attempts_total",
                "Webhook delivery attempts by outcome: delivered, retrying, gave_up",
            ),
            &["outcome"],
        )?;
        let disabled = IntCounter::new(
            "webhooks_disabled_total",
            "Webhooks disabled because every attempt to reach them failed for webhooks.retry_for_s",
        )?;
        let enqueue_failures = IntCounter::new(
            "webhook_enqueue_failures_total",
            "Failed attempts to queue webhook deliveries (retried)",
        )?;
        for outcome in ["delivered", "retrying", "gave_up"] {
            attempts.with_label_values(&[outcome]);
        }
        registry.register(Box::new(enqueued.clone()))?;
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(disabled.clone()))?;
        registry.register(Box::new(enqueue_failures.clone()))?;
        Ok(Self {
            enqueued,
            attempts,
            disabled,
            enqueue_failures,
        })
    }
}
