//! Organisations (tenants), in the catalog.

use async_trait::async_trait;
use domain::org::{Organization, Plan};
use domain::ports::OrgRepository;
use domain::user::{NewUser, User};
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
            created_at: Set(db_time(org.created_at)),
        };
        organizations::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|e| Db::Catalog.err_or_conflict(e, "name"))?;
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
        created_at: row.created_at,
    })
}
