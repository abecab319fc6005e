//! Webhooks and their delivery queue, in the catalog. A delivery is taken for an attempt by
//! a conditional update (pending, due, and not held by anyone whose lease still runs), so
//! every replica's dispatcher may poll the same queue on either backend; the attempt's
//! outcome is stored only by the holder of the lease.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::monitoring::{AlertKind, Severity};
use domain::page::{Page, PageRequest};
use domain::ports::{LeasedDelivery, WebhookRepository};
use domain::webhook::{Delivery, DeliveryFilter, DeliveryStatus, Webhook};
use domain::{OrgId, StoreError, UserId, WebhookId};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::entities::{webhook_deliveries as deliveries, webhooks};
use super::error::CorruptRow;
use super::{db_time, Db, Store};

const ENTITY: &str = "webhook";
const DELIVERY: &str = "webhook delivery";

#[async_trait]
impl WebhookRepository for Store {
    #[tracing::instrument(skip_all, fields(org_id = %webhook.org_id, webhook_id = %webhook.id))]
    async fn create_webhook(&self, webhook: Webhook, secret: &str) -> Result<Webhook, StoreError> {
        let webhook = stored_times(webhook);
        let mut row = to_row(&webhook);
        row.secret = Set(secret.to_owned());
        webhooks::Entity::insert(row)
            .exec_without_returning(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        Ok(webhook)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, webhook_id = %id))]
    async fn get_webhook(&self, org: OrgId, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        webhooks::Entity::find()
            .filter(webhooks::Column::Id.eq(id.as_uuid()))
            .filter(webhooks::Column::OrgId.eq(org.as_uuid()))
            .one(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .map(from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn list_webhooks(
        &self,
        org: OrgId,
        page: PageRequest,
    ) -> Result<Page<Webhook>, StoreError> {
        let mut query = webhooks::Entity::find().filter(webhooks::Column::OrgId.eq(org.as_uuid()));
        if let Some(after) = page.after {
            query = query.filter(webhooks::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(webhooks::Column::Id)
            .limit(u64::from(page.limit) + 1)
            .all(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .into_iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_sorted(rows, page.limit, |w| w.id.as_uuid()))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn enabled_webhooks(&self, org: OrgId) -> Result<Vec<Webhook>, StoreError> {
        webhooks::Entity::find()
            .filter(webhooks::Column::OrgId.eq(org.as_uuid()))
            .filter(webhooks::Column::Enabled.eq(true))
            .order_by_asc(webhooks::Column::Id)
            .all(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .into_iter()
            .map(from_row)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(org_id = %webhook.org_id, webhook_id = %webhook.id))]
    async fn update_webhook(
        &self,
        webhook: Webhook,
        expected_version: i64,
    ) -> Result<Webhook, StoreError> {
        let webhook = stored_times(webhook);
        let row = webhooks::ActiveModel {
            id: NotSet,
            org_id: NotSet,
            secret: NotSet,
            created_by: NotSet,
            created_at: NotSet,
            version: Set(expected_version + 1),
            ..to_row(&webhook)
        };
        let result = webhooks::Entity::update_many()
            .set(row)
            .filter(webhooks::Column::Id.eq(webhook.id.as_uuid()))
            .filter(webhooks::Column::OrgId.eq(webhook.org_id.as_uuid()))
            .filter(webhooks::Column::Version.eq(expected_version))
            .exec(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        let stored = self.get_webhook(webhook.org_id, webhook.id).await?;
        match (result.rows_affected, stored) {
            (0, Some(_)) => Err(StoreError::VersionMismatch { entity: ENTITY }),
            (_, Some(webhook)) => Ok(webhook),
            (_, None) => Err(StoreError::NotFound { entity: ENTITY }),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, webhook_id = %id))]
    async fn delete_webhook(&self, org: OrgId, id: WebhookId) -> Result<(), StoreError> {
        let txn = self
            .catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        let result = webhooks::Entity::delete_many()
            .filter(webhooks::Column::Id.eq(id.as_uuid()))
            .filter(webhooks::Column::OrgId.eq(org.as_uuid()))
            .exec(&txn)
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound { entity: ENTITY });
        }
        deliveries::Entity::delete_many()
            .filter(deliveries::Column::WebhookId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        txn.commit().await.map_err(|e| Db::Catalog.err(e))
    }

    #[tracing::instrument(skip_all, fields(count = queued.len()))]
    async fn enqueue_deliveries(&self, queued: &[Delivery]) -> Result<(), StoreError> {
        if queued.is_empty() {
            return Ok(());
        }
        let txn = self
            .catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        // Bounded statements: SQLite allows at most 32,766 bound values in one.
        for chunk in queued.chunks(500) {
            deliveries::Entity::insert_many(chunk.iter().map(delivery_row))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| Db::Catalog.err(e))?;
        }
        txn.commit().await.map_err(|e| Db::Catalog.err(e))
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn lease_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        let now = db_time(now);
        let free = Condition::any()
            .add(deliveries::Column::LeasedUntil.is_null())
            .add(deliveries::Column::LeasedUntil.lt(now));
        let enabled = Query::select()
            .column(webhooks::Column::Id)
            .from(webhooks::Entity)
            .and_where(webhooks::Column::Enabled.eq(true))
            .to_owned();
        let due = deliveries::Entity::find()
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(deliveries::Column::NextAttemptAt.lte(now))
            .filter(free.clone())
            .filter(deliveries::Column::WebhookId.in_subquery(enabled))
            .order_by_asc(deliveries::Column::NextAttemptAt)
            .limit(limit as u64)
            .all(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut taken = Vec::with_capacity(due.len());
        for row in due {
            let token = Uuid::new_v4();
            // Another dispatcher may have taken it since the select: the condition repeats.
            let result = deliveries::Entity::update_many()
                .col_expr(deliveries::Column::LeaseToken, Expr::value(token))
                .col_expr(deliveries::Column::LeasedUntil, Expr::value(until))
                .filter(deliveries::Column::Id.eq(row.id))
                .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
                .filter(free.clone())
                .exec(self.catalog())
                .await
                .map_err(|e| Db::Catalog.err(e))?;
            if result.rows_affected == 1 {
                taken.push((delivery_from_row(row)?, token));
            }
        }
        let mut ids: Vec<Uuid> = taken.iter().map(|(d, _)| d.webhook_id.as_uuid()).collect();
        ids.sort_unstable();
        ids.dedup();
        let hooks = webhooks::Entity::find()
            .filter(webhooks::Column::Id.is_in(ids))
            .all(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        Ok(taken
            .into_iter()
            .filter_map(|(delivery, token)| {
                let hook = hooks
                    .iter()
                    .find(|h| h.id == delivery.webhook_id.as_uuid())?;
                Some(LeasedDelivery {
                    url: hook.url.clone(),
                    secret: hook.secret.clone(),
                    delivery,
                    token,
                })
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %delivery.id, status = delivery.status.as_str()))]
    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        token: Uuid,
    ) -> Result<Option<Webhook>, StoreError> {
        let txn = self
            .catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        let result = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::Status,
                Expr::value(delivery.status.as_str()),
            )
            .col_expr(deliveries::Column::Attempts, Expr::value(delivery.attempts))
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::value(db_time(delivery.next_attempt_at)),
            )
            .col_expr(
                deliveries::Column::LastAttemptAt,
                Expr::value(delivery.last_attempt_at.map(db_time)),
            )
            .col_expr(
                deliveries::Column::ResponseStatus,
                Expr::value(delivery.response_status),
            )
            .col_expr(
                deliveries::Column::LastError,
                Expr::value(delivery.last_error.clone()),
            )
            .col_expr(deliveries::Column::LeaseToken, Expr::value(None::<Uuid>))
            .col_expr(
                deliveries::Column::LeasedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(deliveries::Column::Id.eq(delivery.id))
            .filter(deliveries::Column::LeaseToken.eq(token))
            .exec(&txn)
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        if result.rows_affected == 0 {
            return Err(StoreError::VersionMismatch { entity: DELIVERY });
        }
        let hook = webhooks::Entity::update_many()
            .filter(webhooks::Column::Id.eq(delivery.webhook_id.as_uuid()));
        let streak = if delivery.status == DeliveryStatus::Succeeded {
            hook.col_expr(
                webhooks::Column::FailingSince,
                Expr::value(None::<DateTime<Utc>>),
            )
        } else {
            hook.col_expr(
                webhooks::Column::FailingSince,
                Expr::value(delivery.last_attempt_at.map(db_time)),
            )
            .filter(webhooks::Column::FailingSince.is_null())
        };
        streak.exec(&txn).await.map_err(|e| Db::Catalog.err(e))?;
        let webhook = webhooks::Entity::find_by_id(delivery.webhook_id.as_uuid())
            .one(&txn)
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .map(from_row)
            .transpose()?;
        txn.commit().await.map_err(|e| Db::Catalog.err(e))?;
        Ok(webhook)
    }

    #[tracing::instrument(skip_all)]
    async fn prune_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = deliveries::Entity::delete_many()
            .filter(deliveries::Column::Status.ne(DeliveryStatus::Pending.as_str()))
            .filter(deliveries::Column::CreatedAt.lt(db_time(before)))
            .exec(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        Ok(result.rows_affected)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, webhook_id = %webhook))]
    async fn list_deliveries(
        &self,
        org: OrgId,
        webhook: WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let mut query = deliveries::Entity::find()
            .filter(deliveries::Column::WebhookId.eq(webhook.as_uuid()))
            .filter(deliveries::Column::OrgId.eq(org.as_uuid()));
        if let Some(status) = filter.status {
            query = query.filter(deliveries::Column::Status.eq(status.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(deliveries::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(deliveries::Column::Id)
            .limit(u64::from(page.limit) + 1)
            .all(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .into_iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_sorted(rows, page.limit, |d| d.id))
    }
}

fn stored_times(webhook: Webhook) -> Webhook {
    Webhook {
        created_at: db_time(webhook.created_at),
        updated_at: db_time(webhook.updated_at),
        failing_since: webhook.failing_since.map(db_time),
        ..webhook
    }
}

fn to_row(w: &Webhook) -> webhooks::ActiveModel {
    webhooks::ActiveModel {
        id: Set(w.id.as_uuid()),
        org_id: Set(w.org_id.as_uuid()),
        url: Set(w.url.clone()),
        description: Set(w.description.clone()),
        kinds: Set(serde_json::Value::Array(
            w.kinds
                .iter()
                .map(|k| serde_json::Value::from(k.as_str()))
                .collect(),
        )),
        min_severity: Set(w.min_severity.as_str().to_owned()),
        enabled: Set(w.enabled),
        disabled_reason: Set(w.disabled_reason.clone()),
        failing_since: Set(w.failing_since),
        secret: NotSet,
        created_by: Set(w.created_by.as_uuid()),
        created_at: Set(w.created_at),
        updated_at: Set(w.updated_at),
        version: Set(w.version),
    }
}

fn from_row(row: webhooks::Model) -> Result<Webhook, StoreError> {
    let corrupt = |detail: String| CorruptRow::err(ENTITY, row.id, detail);
    let names: Vec<String> =
        serde_json::from_value(row.kinds.clone()).map_err(|e| corrupt(format!("kinds: {e}")))?;
    let kinds = names
        .iter()
        .map(|n| AlertKind::parse(n).ok_or_else(|| corrupt(format!("kind `{n}`"))))
        .collect::<Result<Vec<_>, _>>()?;
    let min_severity = Severity::parse(&row.min_severity)
        .ok_or_else(|| corrupt(format!("min_severity `{}`", row.min_severity)))?;
    Ok(Webhook {
        id: WebhookId::from_uuid(row.id),
        org_id: OrgId::from_uuid(row.org_id),
        url: row.url,
        description: row.description,
        kinds,
        min_severity,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        failing_since: row.failing_since,
        created_by: UserId::from_uuid(row.created_by),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

fn delivery_row(d: &Delivery) -> deliveries::ActiveModel {
    deliveries::ActiveModel {
        id: Set(d.id),
        webhook_id: Set(d.webhook_id.as_uuid()),
        org_id: Set(d.org_id.as_uuid()),
        event_type: Set(d.event_type.clone()),
        payload: Set(d.payload.clone()),
        status: Set(d.status.as_str().to_owned()),
        attempts: Set(d.attempts),
        next_attempt_at: Set(db_time(d.next_attempt_at)),
        last_attempt_at: Set(d.last_attempt_at.map(db_time)),
        response_status: Set(d.response_status),
        last_error: Set(d.last_error.clone()),
        created_at: Set(db_time(d.created_at)),
        lease_token: Set(None),
        leased_until: Set(None),
    }
}

fn delivery_from_row(row: deliveries::Model) -> Result<Delivery, StoreError> {
    let status = DeliveryStatus::parse(&row.status)
        .ok_or_else(|| CorruptRow::err(DELIVERY, row.id, format!("status `{}`", row.status)))?;
    Ok(Delivery {
        id: row.id,
        webhook_id: WebhookId::from_uuid(row.webhook_id),
        org_id: OrgId::from_uuid(row.org_id),
        event_type: row.event_type,
        payload: row.payload,
        status,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at,
        last_attempt_at: row.last_attempt_at,
        response_status: row.response_status,
        last_error: row.last_error,
        created_at: row.created_at,
    })
}
