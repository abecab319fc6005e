//! Organisations (tenants), in the catalog.

use async_trait::async_trait;
use domain::limits::Quota;
use domain::monitoring::BatteryThresholds;
use domain::org::{Organization, Plan};
use domain::ports::OrgRepository;
use domain::user::{NewUser, User};
use domain::ConflictKind;
use domain::{OrgId, StoreError};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::entities::organizations;
use super::error::CorruptRow;
use super::users::insert_user;
use super::{db_time, Db, Store};

#[async_trait]
impl OrgRepository for Store {
    #[tracing::instrument(skip_all, fields(org_id = %org.id))]
    async fn create_org(&self, org: Organization, admin: NewUser) -> Result<User, StoreError> {
        let txn = self
            .catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        let row = organizations::ActiveModel {
            id: Set(org.id.as_uuid()),
            name: Set(org.name),
            plan: Set(org.plan.as_str().to_owned()),
            rate_limit_per_s: Set(org.custom_quota.map(|q| q.per_second as i32)),
            rate_limit_burst: Set(org.custom_quota.map(|q| q.burst as i32)),
            battery_warn_pct: Set(org.battery.warn_pct),
            battery_critical_pct: Set(org.battery.critical_pct),
            created_at: Set(db_time(org.created_at)),
        };
        organizations::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|e| Db::Catalog.err_or_conflict(e, ConflictKind::OrgName))?;
        // The admin belongs to the organisation being created, whatever the caller set.
        let admin = NewUser {
            org_id: org.id,
            ..admin
        };
        let user = insert_user(&txn, admin).await?;
        txn.commit().await.map_err(|e| Db::Catalog.err(e))?;
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(org_id = %id))]
    async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        organizations::Entity::find_by_id(id.as_uuid())
            .one(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .map(from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_org_by_name(&self, name: &str) -> Result<Option<Organization>, StoreError> {
        organizations::Entity::find()
            .filter(organizations::Column::Name.eq(name))
            .one(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .map(from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %id))]
    async fn set_plan(
        &self,
        id: OrgId,
        plan: Plan,
        custom_quota: Option<Quota>,
    ) -> Result<Organization, StoreError> {
        let quota = if plan == Plan::Enterprise {
            custom_quota
        } else {
            None
        };
        let row = organizations::ActiveModel {
            id: Set(id.as_uuid()),
            plan: Set(plan.as_str().to_owned()),
            rate_limit_per_s: Set(quota.map(|q| i32::try_from(q.per_second).unwrap_or(i32::MAX))),
            rate_limit_burst: Set(quota.map(|q| i32::try_from(q.burst).unwrap_or(i32::MAX))),
            ..Default::default()
        };
        self.update_org(id, row).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %id))]
    async fn set_battery_thresholds(
        &self,
        id: OrgId,
        battery: BatteryThresholds,
    ) -> Result<Organization, StoreError> {
        let row = organizations::ActiveModel {
            id: Set(id.as_uuid()),
            battery_warn_pct: Set(battery.warn_pct),
            battery_critical_pct: Set(battery.critical_pct),
            ..Default::default()
        };
        self.update_org(id, row).await
    }
}

impl Store {
    /// Writes the set columns of `row` and reads the organisation back.
    async fn update_org(
        &self,
        id: OrgId,
        row: organizations::ActiveModel,
    ) -> Result<Organization, StoreError> {
        let updated = organizations::Entity::update_many()
            .set(row)
            .filter(organizations::Column::Id.eq(id.as_uuid()))
            .exec(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        if updated.rows_affected == 0 {
            return Err(StoreError::NotFound {
                entity: "organization",
            });
        }
        self.get_org(id).await?.ok_or(StoreError::NotFound {
            entity: "organization",
        })
    }
}

fn from_row(row: organizations::Model) -> Result<Organization, StoreError> {
    let plan = Plan::parse(&row.plan).ok_or_else(|| {
        CorruptRow::err(
            "organization",
            row.id,
            format!("unknown plan `{}`", row.plan),
        )
    })?;
    Ok(Organization {
        id: OrgId::from_uuid(row.id),
        name: row.name,
        plan,
        custom_quota: match (row.rate_limit_per_s, row.rate_limit_burst) {
            (Some(per_second), Some(burst)) if per_second > 0 && burst > 0 => Some(Quota {
                per_second: per_second as u32,
                burst: burst as u32,
                period_s: 1,
            }),
            _ => None,
        },
        battery: BatteryThresholds {
            warn_pct: row.battery_warn_pct,
            critical_pct: row.battery_critical_pct,
        },
        created_at: row.created_at,
    })
}
