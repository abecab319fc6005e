//! The fleet register: drones, their cached answers and the ingest directory.

use std::sync::Arc;

use chrono::Utc;
use domain::drone::{Drone, DroneFilter, DronePatch, NewDrone};
use domain::flight_plan::{FlightPlan, FlightPlanFilter};
use domain::page::{Page, PageRequest};
use domain::ports::{DroneRepository, FlightPlanRepository};
use domain::{DroneId, OrgId};
use infra::pipeline::DroneDirectory;

use super::{all_pages, lost_race, CacheAside, Cached, CachedBody, Loaded, Precondition};
use crate::dto::DroneResponse;
use crate::error::{ApiError, Code};
use crate::state::AppState;

#[derive(Clone)]
pub struct DroneService {
    drones: Arc<dyn DroneRepository>,
    plans: Arc<dyn FlightPlanRepository>,
    cache: CacheAside,
    directory: DroneDirectory,
    airspace: super::AirspaceService,
}

impl DroneService {
    pub fn new(state: &AppState, cache: CacheAside, airspace: super::AirspaceService) -> Self {
        Self {
            drones: state.repos.drones.clone(),
            plans: state.repos.plans.clone(),
            cache,
            directory: state.telemetry.directory.clone(),
            airspace,
        }
    }

    pub async fn list(
        &self,
        org: OrgId,
        filter: &DroneFilter,
        page: PageRequest,
    ) -> Result<Page<Drone>, ApiError> {
        Ok(self.drones.list_drones(org, filter, page).await?)
    }

    pub async fn create(&self, new: NewDrone) -> Result<Drone, ApiError> {
        let drone = self
            .drones
            .create_drone(new.into_drone(DroneId::new(), Utc::now()))
            .await?;
        self.directory.invalidate(drone.org_id, drone.id).await;
        if drone.link_timeout_s.is_some() {
            self.airspace
                .drone_changed(drone.org_id, drone.id, drone.link_timeout_s)
                .await;
        }
        tracing::debug!(drone_id = %drone.id, org_id = %drone.org_id, "drone registered");
        Ok(drone)
    }

    /// The drone's answer, from the cache when it holds it.
    pub async fn get(&self, org: OrgId, id: DroneId) -> Result<CachedBody, ApiError> {
        self.cache
            .read(Cached::drone(org, id), || async {
                let drone = self.drones.get_drone(org, id).await?;
                Ok(drone.map(|d| Loaded {
                    version: Some(d.version),
                    value: DroneResponse::from(d),
                }))
            })
            .await?
            .ok_or(ApiError::NotFound("drone"))
    }

    /// Applies `patch`, guarded by `If-Match` when sent; the new answer is cached for every
    /// replica to read next.
    pub async fn update(
        &self,
        org: OrgId,
        id: DroneId,
        patch: &DronePatch,
        precondition: &Precondition,
    ) -> Result<CachedBody, ApiError> {
        let current = self.find(org, id).await?;
        let matched = precondition.check(current.version)?;
        let drone = self
            .drones
            .update_drone(org, id, patch, matched.then_some(current.version))
            .await
            .map_err(lost_race(matched))?;
        self.directory.invalidate(org, id).await;
        if drone.link_timeout_s != current.link_timeout_s {
            self.airspace
                .drone_changed(org, id, drone.link_timeout_s)
                .await;
        }
        self.cache
            .write(
                Cached::drone(org, id),
                drone.version,
                &DroneResponse::from(drone),
            )
            .await
    }

    /// Deletes the drone with its plans and keys, unless [`Drone::delete_check`] refuses.
    pub async fn delete(&self, org: OrgId, id: DroneId) -> Result<(), ApiError> {
        let drone = self.find(org, id).await?;
        let plans = self.plans_of(org, id).await?;
        drone
            .delete_check(&plans)
            .map_err(|refused| ApiError::conflict(Code::DroneHasOpenPlans, refused.to_string()))?;
        self.drones.delete_drone(org, id).await?;
        self.directory.invalidate(org, id).await;
        let ids: Vec<_> = plans.iter().map(|p| p.id).collect();
        self.airspace.plans_removed(org, &ids).await;
        self.cache
            .remove(Cached::drone(org, id), drone.version)
            .await;
        for plan in plans {
            self.cache
                .remove(Cached::plan(org, plan.id), plan.version)
                .await;
        }
        Ok(())
    }

    async fn find(&self, org: OrgId, id: DroneId) -> Result<Drone, ApiError> {
        self.drones
            .get_drone(org, id)
            .await?
            .ok_or(ApiError::NotFound("drone"))
    }

    async fn plans_of(&self, org: OrgId, drone: DroneId) -> Result<Vec<FlightPlan>, ApiError> {
        let filter = FlightPlanFilter {
            drone_id: Some(drone),
            ..Default::default()
        };
        all_pages(|page| self.plans.list_plans(org, &filter, page)).await
    }
}
