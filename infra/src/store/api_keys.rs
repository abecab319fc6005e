//! Device API keys, in the catalog. Only the SHA-256 digest of a key's secret is stored.

use async_trait::async_trait;
use domain::api_key::ApiKey;
use domain::ports::ApiKeyRepository;
use domain::ConflictKind;
use domain::{ApiKeyId, DroneId, OrgId, StoreError};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::api_keys;
use super::{db_time, Db, Store};

#[async_trait]
impl ApiKeyRepository for Store {
    #[tracing::instrument(
        skip_all,
        fields(org_id = %key.org_id, drone_id = %key.drone_id, api_key_id = %key.id)
    )]
    async fn create_api_key(
        &self,
        key: ApiKey,
        secret_sha256: String,
    ) -> Result<ApiKey, StoreError> {
        let key = ApiKey {
            created_at: db_time(key.created_at),
            ..key
        };
        let row = api_keys::ActiveModel {
            id: Set(key.id.as_uuid()),
            org_id: Set(key.org_id.as_uuid()),
            drone_id: Set(key.drone_id.as_uuid()),
            name: Set(key.name.clone()),
            prefix: Set(key.prefix.clone()),
            secret_sha256: Set(secret_sha256),
            created_at: Set(key.created_at),
        };
        api_keys::Entity::insert(row)
            .exec_without_returning(self.writable_catalog())
            .await
            .map_err(|e| Db::Catalog.err_or_conflict(e, ConflictKind::KeyPrefix))?;
        Ok(key)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %drone))]
    async fn list_api_keys(&self, org: OrgId, drone: DroneId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = api_keys::Entity::find()
            .filter(api_keys::Column::OrgId.eq(org.as_uuid()))
            .filter(api_keys::Column::DroneId.eq(drone.as_uuid()))
            .order_by_asc(api_keys::Column::Id)
            .all(self.readable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        Ok(rows.into_iter().map(|row| from_row(row).0).collect())
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %drone, api_key_id = %id))]
    async fn delete_api_key(
        &self,
        org: OrgId,
        drone: DroneId,
        id: ApiKeyId,
    ) -> Result<(), StoreError> {
        let result = api_keys::Entity::delete_many()
            .filter(api_keys::Column::Id.eq(id.as_uuid()))
            .filter(api_keys::Column::OrgId.eq(org.as_uuid()))
            .filter(api_keys::Column::DroneId.eq(drone.as_uuid()))
            .exec(self.writable_catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound { entity: "api_key" });
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn find_api_key(&self, prefix: &str) -> Result<Option<(ApiKey, String)>, StoreError> {
        Ok(api_keys::Entity::find()
            .filter(api_keys::Column::Prefix.eq(prefix))
            .one(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err(e))?
            .map(from_row))
    }
}

fn from_row(row: api_keys::Model) -> (ApiKey, String) {
    let key = ApiKey {
        id: ApiKeyId::from_uuid(row.id),
        org_id: OrgId::from_uuid(row.org_id),
        drone_id: DroneId::from_uuid(row.drone_id),
        name: row.name,
        prefix: row.prefix,
        created_at: row.created_at,
    };
    (key, row.secret_sha256)
}
