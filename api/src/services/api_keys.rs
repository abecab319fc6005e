//! Device credentials: a key authenticates as its drone and acts for that drone alone.

use std::sync::Arc;

use chrono::Utc;
use domain::api_key::{ApiKey, PresentedKey};
use domain::ports::{ApiKeyRepository, DroneRepository};
use domain::{ApiKeyId, DroneId, OrgId};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone)]
pub struct ApiKeyService {
    api_keys: Arc<dyn ApiKeyRepository>,
    drones: Arc<dyn DroneRepository>,
}

impl ApiKeyService {
    pub fn new(state: &AppState) -> Self {
        Self {
            api_keys: state.repos.api_keys.clone(),
            drones: state.repos.drones.clone(),
        }
    }

    /// Issues a key for a drone; returns it with the whole secret, which is stored only as
    /// a hash and never shown again.
    pub async fn create(
        &self,
        org: OrgId,
        drone: DroneId,
        name: String,
    ) -> Result<(ApiKey, String), ApiError> {
        self.ensure_drone(org, drone).await?;
        let (prefix, secret) = infra::secrets::new_api_key();
        let key = ApiKey {
            id: ApiKeyId::new(),
            org_id: org,
            drone_id: drone,
            name,
            prefix: prefix.clone(),
            created_at: Utc::now(),
        };
        let key = self
            .api_keys
            .create_api_key(key, infra::secrets::sha256_hex(&secret))
            .await?;
        tracing::info!(key_id = %key.id, drone_id = %drone, "api key issued");
        Ok((key, PresentedKey::render(&prefix, &secret)))
    }

    pub async fn list(&self, org: OrgId, drone: DroneId) -> Result<Vec<ApiKey>, ApiError> {
        self.ensure_drone(org, drone).await?;
        Ok(self.api_keys.list_api_keys(org, drone).await?)
    }

    pub async fn delete(&self, org: OrgId, drone: DroneId, key: ApiKeyId) -> Result<(), ApiError> {
        Ok(self.api_keys.delete_api_key(org, drone, key).await?)
    }

    async fn ensure_drone(&self, org: OrgId, drone: DroneId) -> Result<(), ApiError> {
        self.drones
            .get_drone(org, drone)
            .await?
            .map(|_| ())
            .ok_or(ApiError::NotFound("drone"))
    }
}
