//! Webhooks: admins subscribe URLs to their organisation's alert changes; every change is
//! queued durably (the catalog's `webhook_deliveries`) as one delivery per matching
//! webhook, wherever it happened, and sent by the API replicas' dispatchers, signed, with
//! retries for `webhooks.retry_for_s`.
//!
//! - [`WebhookService`]: what admins do with webhooks and how they read deliveries.
//! - [`WebhookOutbox`]: a [`LivePublisher`] decorator in front of the live fan-out, so that
//!   every alert change published where it is made (the monitor's recorder, a person's
//!   acknowledgement) is also queued for the webhooks that want it. Changes relayed from
//!   other replicas do not pass through it, so each is queued once.
//! - [`WebhookDispatcher`]: takes due deliveries under a lease, attempts them, stores the
//!   outcome and disables a webhook whose endpoint failed for the whole retry window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use domain::monitoring::{AlertNotice, Severity};
use domain::page::{Page, PageRequest};
use domain::ports::{LeasedDelivery, WebhookRepository};
use domain::telemetry::TelemetryPoint;
use domain::webhook::{
    self, AddressPolicy, AttemptOutcome, Delivery, DeliveryFilter, DeliveryStatus, RetryPolicy,
    Webhook, MAX_WEBHOOKS_PER_ORG,
};
use domain::{FieldCode, FieldError, OrgId, StoreError, UserId, WebhookId};
use infra::live::LivePublisher;
use infra::webhook::WebhookSender;
use tokio::sync::{mpsc, Notify};

use super::{lock, lost_race, Precondition, RETRY_MAX, RETRY_MIN};
use crate::dto::AlertEventDto;
use crate::error::{ApiError, Code};
use crate::metrics::WebhookMetrics;

/// How long a replica keeps an organisation's enabled webhooks before reading them again;
/// changes made through this replica apply at once.
const DIRECTORY_TTL: Duration = Duration::from_secs(5);
/// Batches of alert changes waiting to be queued; beyond it the publisher waits.
const OUTBOX_QUEUE: usize = 1024;
/// How often finished deliveries past `keep_deliveries_days` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// An organisation's enabled webhooks, and when they were read.
type Cached = (Instant, Arc<Vec<Webhook>>);

/// Each organisation's enabled webhooks, as the outbox matches changes against them; it
/// holds the repository the service and the dispatcher use too.
#[derive(Clone)]
pub struct WebhookDirectory {
    repo: Arc<dyn WebhookRepository>,
    cached: Arc<Mutex<HashMap<OrgId, Cached>>>,
}

impl WebhookDirectory {
    pub fn new(repo: Arc<dyn WebhookRepository>) -> Self {
        Self {
            repo,
            cached: Arc::default(),
        }
    }

    async fn enabled(&self, org: OrgId) -> Result<Arc<Vec<Webhook>>, StoreError> {
        if let Some((at, hooks)) = lock(&self.cached).get(&org) {
            if at.elapsed() < DIRECTORY_TTL {
                return Ok(hooks.clone());
            }
        }
        let hooks = Arc::new(self.repo.enabled_webhooks(org).await?);
        lock(&self.cached).insert(org, (Instant::now(), hooks.clone()));
        Ok(hooks)
    }

    fn invalidate(&self, org: OrgId) {
        lock(&self.cached).remove(&org);
    }
}

/// What an admin sets when creating a webhook or changing one.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub description: Option<String>,
    pub kinds: Option<Vec<String>>,
    pub min_severity: Option<Severity>,
    pub enabled: Option<bool>,
}

#[derive(Clone)]
pub struct WebhookService {
    directory: WebhookDirectory,
    addresses: AddressPolicy,
}

impl WebhookService {
    pub fn new(directory: WebhookDirectory, addresses: AddressPolicy) -> Self {
        Self {
            directory,
            addresses,
        }
    }

    fn repo(&self) -> &dyn WebhookRepository {
        self.directory.repo.as_ref()
    }

    /// Creates a webhook; returns it with its signing secret, shown only here.
    pub async fn create(
        &self,
        org: OrgId,
        by: UserId,
        change: WebhookChange,
    ) -> Result<(Webhook, String), ApiError> {
        let url = change
            .url
            .as_deref()
            .ok_or_else(|| FieldError::new("url", FieldCode::Required, "is required"))?;
        let url = self.check_url(url)?;
        let kinds = webhook::parse_kinds(change.kinds.as_deref().unwrap_or_default())?;
        let description = webhook::parse_description(change.description.as_deref())?;
        let existing = self
            .repo()
            .list_webhooks(org, PageRequest::first(MAX_WEBHOOKS_PER_ORG as u16))
            .await?;
        if existing.items.len() >= MAX_WEBHOOKS_PER_ORG {
            return Err(ApiError::conflict(
                Code::TooManyWebhooks,
                format!("the organisation has {MAX_WEBHOOKS_PER_ORG} webhooks, as many as allowed"),
            ));
        }
        let now = Utc::now();
        let hook = Webhook {
            id: WebhookId::new(),
            org_id: org,
            url,
            description,
            kinds,
            min_severity: change.min_severity.unwrap_or(Severity::Warning),
            enabled: change.enabled.unwrap_or(true),
            disabled_reason: None,
            failing_since: None,
            created_by: by,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let secret = infra::webhook::new_secret();
        let stored = self.repo().create_webhook(hook, &secret).await?;
        self.directory.invalidate(org);
        tracing::info!(webhook_id = %stored.id, "webhook created");
        Ok((stored, secret))
    }

    pub async fn list(&self, org: OrgId, page: PageRequest) -> Result<Page<Webhook>, ApiError> {
        Ok(self.repo().list_webhooks(org, page).await?)
    }

    pub async fn get(&self, org: OrgId, id: WebhookId) -> Result<Webhook, ApiError> {
        self.repo()
            .get_webhook(org, id)
            .await?
            .ok_or(ApiError::NotFound("webhook"))
    }

    /// Applies a change; enabling a webhook clears why the system disabled it, and its
    /// pending deliveries are tried again.
    pub async fn update(
        &self,
        org: OrgId,
        id: WebhookId,
        precondition: &Precondition,
        change: WebhookChange,
    ) -> Result<Webhook, ApiError> {
        let hook = self.get(org, id).await?;
        let matched = precondition.check(hook.version)?;
        let mut next = hook.clone();
        if let Some(url) = change.url.as_deref() {
            next.url = self.check_url(url)?;
        }
        if let Some(kinds) = change.kinds.as_deref() {
            next.kinds = webhook::parse_kinds(kinds)?;
        }
        if let Some(description) = change.description.as_deref() {
            next.description = webhook::parse_description(Some(description))?;
        }
        if let Some(min) = change.min_severity {
            next.min_severity = min;
        }
        if let Some(enabled) = change.enabled {
            if enabled && !hook.enabled {
                next.disabled_reason = None;
                next.failing_since = None;
            }
            next.enabled = enabled;
        }
        next.updated_at = Utc::now();
        let stored = self
            .repo()
            .update_webhook(next, hook.version)
            .await
            .map_err(lost_race(matched))?;
        self.directory.invalidate(org);
        Ok(stored)
    }

    pub async fn delete(&self, org: OrgId, id: WebhookId) -> Result<(), ApiError> {
        self.repo().delete_webhook(org, id).await?;
        self.directory.invalidate(org);
        tracing::info!(webhook_id = %id, "webhook deleted");
        Ok(())
    }

    pub async fn deliveries(
        &self,
        org: OrgId,
        id: WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>, ApiError> {
        self.get(org, id).await?;
        Ok(self.repo().list_deliveries(org, id, filter, page).await?)
    }

    /// A URL deliveries may reach: the host, when it is an address or `localhost`, is
    /// checked here; names are checked again at every attempt, once resolved.
    fn check_url(&self, raw: &str) -> Result<String, FieldError> {
        let url = webhook::parse_url(raw)?;
        match url.host() {
            Some(host) if self.addresses.allows_host(&host) => Ok(url.to_string()),
            _ => Err(FieldError::new(
                "url",
                FieldCode::Invalid,
                "must reach a public address: loopback, private and link-local addresses are refused (webhooks.allow_private_addresses)",
            )),
        }
    }
}

/// The body of a delivery: the Standard Webhooks shape, `type`, `timestamp` and `data` (the
/// change and the alert, as a `/live` `alert` event carries them).
fn payload(notice: &AlertNotice) -> String {
    serde_json::json!({
        "type": webhook::event_type(notice),
        "timestamp": notice.alert.updated_at,
        "data": AlertEventDto::from(notice),
    })
    .to_string()
}

/// Queues a delivery of every alert change published through it for each webhook that
/// wants the change.
pub struct WebhookOutbox {
    inner: Arc<dyn LivePublisher>,
    queue: mpsc::Sender<Vec<Arc<AlertNotice>>>,
}

impl WebhookOutbox {
    /// Starts the queueing task on the current runtime; `wake` tells this process's
    /// dispatcher, if any, that deliveries are due.
    pub fn start(
        inner: Arc<dyn LivePublisher>,
        directory: WebhookDirectory,
        wake: Option<Arc<Notify>>,
        metrics: WebhookMetrics,
    ) -> Arc<Self> {
        let (queue, changes) = mpsc::channel(OUTBOX_QUEUE);
        tokio::spawn(enqueue(changes, directory, wake, metrics));
        Arc::new(Self { inner, queue })
    }
}

#[async_trait]
impl LivePublisher for WebhookOutbox {
    async fn publish(&self, points: Arc<[TelemetryPoint]>) {
        self.inner.publish(points).await;
    }

    async fn publish_alerts(&self, notices: &[Arc<AlertNotice>]) {
        self.inner.publish_alerts(notices).await;
        if !notices.is_empty() {
            let _ = self.queue.send(notices.to_vec()).await;
        }
    }
}

async fn enqueue(
    mut changes: mpsc::Receiver<Vec<Arc<AlertNotice>>>,
    directory: WebhookDirectory,
    wake: Option<Arc<Notify>>,
    metrics: WebhookMetrics,
) {
    while let Some(notices) = changes.recv().await {
        let mut backoff = RETRY_MIN;
        loop {
            match deliveries_for(&directory, &notices).await {
                Ok(deliveries) if deliveries.is_empty() => break,
                Ok(deliveries) => match directory.repo.enqueue_deliveries(&deliveries).await {
                    Ok(()) => {
                        metrics.enqueued.inc_by(deliveries.len() as u64);
                        if let Some(wake) = &wake {
                            wake.notify_one();
                        }
                        break;
                    }
                    Err(error) => retry(&metrics, &error, &mut backoff).await,
                },
                Err(error) => retry(&metrics, &error, &mut backoff).await,
            }
        }
    }
}

async fn retry(metrics: &WebhookMetrics, error: &StoreError, backoff: &mut Duration) {
    metrics.enqueue_failures.inc();
    tracing::warn!(%error, retry_in = ?backoff, "webhook deliveries not queued; retrying");
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(RETRY_MAX);
}

async fn deliveries_for(
    directory: &WebhookDirectory,
    notices: &[Arc<AlertNotice>],
) -> Result<Vec<Delivery>, StoreError> {
    let now = Utc::now();
    let mut deliveries = Vec::new();
    let mut hooks: HashMap<OrgId, Arc<Vec<Webhook>>> = HashMap::new();
    for notice in notices {
        let org = notice.alert.org_id;
        let wanted = match hooks.get(&org) {
            Some(h) => h.clone(),
            None => {
                let h = directory.enabled(org).await?;
                hooks.insert(org, h.clone());
                h
            }
        };
        for hook in wanted.iter().filter(|h| h.accepts(notice)) {
            deliveries.push(Delivery::new(
                hook,
                webhook::event_type(notice),
                payload(notice),
                now,
            ));
        }
    }
    Ok(deliveries)
}

/// What the dispatcher needs.
pub struct DispatcherParts {
    /// This process's directory (and its repository), told when a webhook is disabled.
    pub directory: WebhookDirectory,
    pub sender: WebhookSender,
    pub retry: RetryPolicy,
    pub concurrency: usize,
    pub poll_interval: Duration,
    /// How long an attempt may hold a delivery: the attempt's timeout and some.
    pub lease: Duration,
    pub keep_deliveries: Duration,
    pub metrics: WebhookMetrics,
}

/// Sends due deliveries until the runtime stops.
pub struct WebhookDispatcher {
    parts: DispatcherParts,
    wake: Arc<Notify>,
}

impl WebhookDispatcher {
    pub fn new(parts: DispatcherParts) -> Self {
        Self {
            parts,
            wake: Arc::new(Notify::new()),
        }
    }

    /// What the outbox of this process pokes when it queued something.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub async fn run(self) {
        let p = &self.parts;
        let mut pruned = Instant::now();
        loop {
            let leased = match p
                .directory
                .repo
                .lease_deliveries(Utc::now(), p.concurrency, p.lease)
                .await
            {
                Ok(leased) => leased,
                Err(error) => {
                    tracing::warn!(%error, "webhook queue unreadable; retrying");
                    Vec::new()
                }
            };
            if leased.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(p.poll_interval) => {}
                }
            } else {
                futures::future::join_all(leased.iter().map(|l| self.attempt(l))).await;
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                let before =
                    Utc::now() - chrono::Duration::from_std(p.keep_deliveries).unwrap_or_default();
                match p.directory.repo.prune_deliveries(before).await {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "old webhook deliveries pruned"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "old webhook deliveries not pruned"),
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(webhook_id = %leased.delivery.webhook_id, delivery_id = %leased.delivery.id, attempt = leased.delivery.attempts + 1))]
    async fn attempt(&self, leased: &LeasedDelivery) {
        let p = &self.parts;
        let outcome = p.sender.send(leased, Utc::now()).await;
        let next = p
            .retry
            .after_attempt(&leased.delivery, &outcome, Utc::now());
        let label = match (&outcome, next.status) {
            (AttemptOutcome::Delivered { .. }, _) => "delivered",
            (_, DeliveryStatus::Failed) => "gave_up",
            _ => "retrying",
        };
        p.metrics.attempts.with_label_values(&[label]).inc();
        if let AttemptOutcome::Failed { error, .. } = &outcome {
            tracing::info!(%error, outcome = label, "webhook delivery failed");
        }
        match p.directory.repo.finish_delivery(&next, leased.token).await {
            Ok(Some(hook)) if next.status == DeliveryStatus::Failed && hook.enabled => {
                self.disable(hook, next.last_error.as_deref().unwrap_or("no answer"))
                    .await;
            }
            Ok(_) => {}
            Err(error) => {
                // The lease ran out (another replica may retry it) or the catalog is down:
                // the delivery stays pending and is attempted again.
                tracing::warn!(%error, "webhook delivery outcome not stored");
            }
        }
    }

    /// Disables a webhook whose every attempt failed for the whole retry window, and says
    /// why on the webhook, which admins see in its listing.
    async fn disable(&self, mut hook: Webhook, last_error: &str) {
        let p = &self.parts;
        let since = hook.failing_since.unwrap_or_else(Utc::now);
        let reason = format!(
            "every delivery attempt failed since {} (last: {last_error}); enable the webhook again once its endpoint answers",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let version = hook.version;
        hook.enabled = false;
        hook.disabled_reason = Some(reason.clone());
        hook.updated_at = Utc::now();
        match p.directory.repo.update_webhook(hook.clone(), version).await {
            Ok(_) => {
                p.directory.invalidate(hook.org_id);
                p.metrics.disabled.inc();
                tracing::warn!(org_id = %hook.org_id, webhook_id = %hook.id, %reason, "webhook disabled");
            }
            Err(error) => tracing::warn!(%error, webhook_id = %hook.id, "webhook not disabled"),
        }
    }
}
