//! The organisation's fleet at a glance, across all shards.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use domain::drone::DroneStatus;
use domain::flight_plan::FlightPlanState;
use domain::ports::{DroneRepository, FlightPlanRepository, TelemetryStore};
use domain::telemetry::{BBox, TelemetryPoint};
use domain::OrgId;
use infra::pipeline::RecentCounter;

use super::{CacheAside, Cached, Loaded};
use crate::dto::SummaryResponse;
use crate::error::ApiError;
use crate::state::AppState;

/// How recent a drone's latest point must be for it to count as reporting.
const REPORTING_WINDOW_S: i64 = 60;

#[derive(Clone)]
pub struct FleetService {
    drones: Arc<dyn DroneRepository>,
    plans: Arc<dyn FlightPlanRepository>,
    store: Arc<dyn TelemetryStore>,
    recent_points: Arc<RecentCounter>,
    cache: CacheAside,
}

impl FleetService {
    pub fn new(state: &AppState, cache: CacheAside) -> Self {
        Self {
            drones: state.repos.drones.clone(),
            plans: state.repos.plans.clone(),
            store: state.telemetry.store.clone(),
            recent_points: state.telemetry.recent_points.clone(),
            cache,
        }
    }

    /// The latest state of every drone that has reported (optionally inside `bbox`), and
    /// the shards that could not be read.
    pub async fn positions(
        &self,
        org: OrgId,
        bbox: Option<BBox>,
    ) -> Result<(Vec<TelemetryPoint>, Vec<u16>), ApiError> {
        Ok(self.store.fleet_positions(org, bbox).await?)
    }

    /// Drones by status, drones reporting now, active flights and the recent ingest rate,
    /// as the JSON answer (cached for half a minute).
    pub async fn summary(&self, org: OrgId) -> Result<Vec<u8>, ApiError> {
        let key = (Cached::FleetSummary, Cached::FleetSummary.key(org, ""));
        self.cache
            .read(key, || async {
                Ok(Some(Loaded {
                    version: None,
                    value: self.count(org).await?,
                }))
            })
            .await?
            .map(|cached| cached.body)
            .ok_or(ApiError::NotFound("fleet summary"))
    }

    async fn count(&self, org: OrgId) -> Result<SummaryResponse, ApiError> {
        let now = Utc::now();
        let (by_status, reporting, active) = futures::try_join!(
            self.drones.count_drones_by_status(org),
            self.store
                .drones_reporting_since(org, now - Duration::seconds(REPORTING_WINDOW_S)),
            self.plans
                .count_plans_in_state(org, FlightPlanState::Active),
        )?;
        let mut drones_by_status: BTreeMap<String, u64> = DroneStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
        for (status, n) in &by_status {
            drones_by_status.insert(status.as_str().to_owned(), *n);
        }
        Ok(SummaryResponse {
            drones_total: by_status.iter().map(|(_, n)| n).sum(),
            drones_by_status,
            reporting_last_60s: reporting,
            active_flight_plans: active,
            points_last_minute: self.recent_points.last_minute(org, now),
        })
    }
}
