//! The geofence resource: stored in the catalog, mirrored into the airspace index.

use std::sync::Arc;

use chrono::Utc;
use domain::airspace::{Geofence, GeofenceFilter, GeofenceInput, GeofencePatch};
use domain::page::{Page, PageRequest};
use domain::ports::GeofenceRepository;
use domain::{GeofenceId, OrgId, ValidationErrors};

use super::import::{export, parse_import};
use super::AirspaceService;
use crate::auth::UserPrincipal;
use crate::dto::ImportResponse;
use crate::error::ApiError;
use crate::services::{lost_race, Precondition};

#[derive(Clone)]
pub struct GeofenceService {
    fences: Arc<dyn GeofenceRepository>,
    airspace: AirspaceService,
}

impl GeofenceService {
    pub fn new(airspace: AirspaceService) -> Self {
        Self {
            fences: airspace.fences.clone(),
            airspace,
        }
    }

    pub async fn list(
        &self,
        org: OrgId,
        filter: &GeofenceFilter,
        page: PageRequest,
    ) -> Result<Page<Geofence>, ApiError> {
        Ok(self.fences.list_geofences(org, filter, page).await?)
    }

    pub async fn create(
        &self,
        caller: &UserPrincipal,
        input: &GeofenceInput,
    ) -> Result<Geofence, ApiError> {
        let fence = Geofence::new(input.validate()?, caller.org_id, caller.user_id, Utc::now());
        let stored = self.fences.create_geofence(fence).await?;
        self.airspace
            .fence_changed(stored.org_id, stored.id, Some(&stored))
            .await;
        tracing::info!(geofence_id = %stored.id, kind = stored.kind.as_str(), "geofence created");
        Ok(stored)
    }

    pub async fn get(&self, org: OrgId, id: GeofenceId) -> Result<Geofence, ApiError> {
        self.fences
            .get_geofence(org, id)
            .await?
            .ok_or(ApiError::NotFound("geofence"))
    }

    /// Applies `patch`, every rule checked again; guarded by `If-Match` when sent.
    pub async fn update(
        &self,
        org: OrgId,
        id: GeofenceId,
        precondition: &Precondition,
        patch: GeofencePatch,
    ) -> Result<Geofence, ApiError> {
        let fence = self.get(org, id).await?;
        let matched = precondition.check(fence.version)?;
        let edited = fence.edit(patch, Utc::now())?;
        let stored = self
            .fences
            .update_geofence(edited, fence.version)
            .await
            .map_err(lost_race(matched))?;
        self.airspace.fence_changed(org, id, Some(&stored)).await;
        Ok(stored)
    }

    pub async fn delete(&self, org: OrgId, id: GeofenceId) -> Result<(), ApiError> {
        self.fences.delete_geofence(org, id).await?;
        self.airspace.fence_changed(org, id, None).await;
        tracing::info!(geofence_id = %id, "geofence deleted");
        Ok(())
    }

    /// Creates every fence of a FeatureCollection or ED-269 document, or none: one invalid
    /// feature refuses the whole import with each problem named `features[i].…`.
    pub async fn import(
        &self,
        caller: &UserPrincipal,
        doc: &serde_json::Value,
    ) -> Result<ImportResponse, ApiError> {
        let imported = parse_import(doc)?;
        let now = Utc::now();
        let mut errors = ValidationErrors::default();
        let mut fences = Vec::with_capacity(imported.fences.len());
        for (feature, input) in &imported.fences {
            match input.validate() {
                Ok(valid) => fences.push(Geofence::new(valid, caller.org_id, caller.user_id, now)),
                Err(e) => errors.0.extend(
                    e.0.into_iter()
                        .map(|e| e.under(&format!("features[{feature}]"))),
                ),
            }
        }
        errors.into_result()?;
        self.fences.create_geofences(fences.clone()).await?;
        self.airspace.fences_added(caller.org_id, &fences).await;
        tracing::info!(count = fences.len(), "geofences imported");
        Ok(ImportResponse {
            created: fences.len(),
            ids: fences.iter().map(|f| f.id.as_uuid()).collect(),
            unsupported: imported.unsupported,
        })
    }

    /// Every fence of the organisation as a FeatureCollection.
    pub async fn export(&self, org: OrgId) -> Result<serde_json::Value, ApiError> {
        Ok(export(&self.airspace.all_fences(org).await?))
    }
}
