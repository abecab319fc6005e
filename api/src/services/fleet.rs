//! The organisation's fleet at a glance, across all shards.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use domain::drone::DroneStatus;
use domain::flight_plan::FlightPlanState;
use domain::ports::{AlertRepository, DroneRepository, FlightPlanRepository, TelemetryStore};
use domain::telemetry::{BBox, Interval, TelemetryPoint};
use domain::OrgId;
use infra::pipeline::RecentCounter;

use super::{CacheAside, Cached, Loaded};
use crate::dto::SummaryResponse;
use crate::error::ApiError;
use crate::state::AppState;

/// How recent a drone's latest point must be for it to count as reporting.
const REPORTING_WINDOW_S: i64 = 60;
/// The window of the current ingest rate.
const RATE_WINDOW_S: usize = 5;

/// The counts of a summary: what is cached (they cost a query per shard).
#[derive(serde::Serialize, serde::Deserialize)]
struct Counts {
    drones_total: u64,
    drones_by_status: BTreeMap<String, u64>,
    reporting_last_60s: u64,
    active_flight_plans: u64,
    /// Shards that could not be counted.
    missing_shards: Vec<u16>,
}

#[derive(Clone)]
pub struct FleetService {
    drones: Arc<dyn DroneRepository>,
    plans: Arc<dyn FlightPlanRepository>,
    store: Arc<dyn TelemetryStore>,
    alerts: Arc<dyn AlertRepository>,
    recent_points: Arc<RecentCounter>,
    cache: CacheAside,
}

impl FleetService {
    pub fn new(state: &AppState, cache: CacheAside) -> Self {
        Self {
            drones: state.repos.drones.clone(),
            plans: state.repos.plans.clone(),
            store: state.telemetry.store.clone(),
            alerts: state.repos.alerts.clone(),
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

    /// Every drone as it was at `at` (its last point in `(at - window, at]`, optionally
    /// inside `bbox`), and the shards that could not be read.
    pub async fn positions_at(
        &self,
        org: OrgId,
        at: DateTime<Utc>,
        window: Interval,
        bbox: Option<BBox>,
    ) -> Result<(Vec<TelemetryPoint>, Vec<u16>), ApiError> {
        Ok(self.store.fleet_positions_at(org, at, window, bbox).await?)
    }

    /// Drones by status, drones reporting now and active flights (cached for half a
    /// minute), with this replica's ingest rates and the unresolved alerts as they are now.
    pub async fn summary(&self, org: OrgId) -> Result<SummaryResponse, ApiError> {
        let key = (Cached::FleetSummary, Cached::FleetSummary.key(org, ""));
        let cached = self
            .cache
            .read(key, || async {
                let counts = self.count(org).await?;
                // An incomplete count is answered, never kept: the next read tries again.
                Ok(counts.missing_shards.is_empty().then_some(Loaded {
                    version: None,
                    value: counts,
                }))
            })
            .await?;
        let counts = match cached {
            Some(cached) => serde_json::from_slice(&cached.body).map_err(ApiError::internal)?,
            None => self.count(org).await?,
        };
        // Alerts change by the second: counted on every read, never cached.
        let alerts = self.alerts.count_unresolved_alerts(org).await?;
        let mut missing_shards = counts.missing_shards;
        missing_shards.extend(&alerts.missing_shards);
        missing_shards.sort_unstable();
        missing_shards.dedup();
        let now = Utc::now();
        Ok(SummaryResponse {
            drones_total: counts.drones_total,
            drones_by_status: counts.drones_by_status,
            reporting_last_60s: counts.reporting_last_60s,
            active_flight_plans: counts.active_flight_plans,
            points_last_minute: self.recent_points.last_minute(org, now),
            points_per_second: self.recent_points.per_second(org, now, RATE_WINDOW_S),
            open_alerts: alerts
                .value
                .iter()
                .map(|(severity, n)| (severity.as_str().to_owned(), *n))
                .collect(),
            incomplete: !missing_shards.is_empty(),
            missing_shards,
        })
    }

    async fn count(&self, org: OrgId) -> Result<Counts, ApiError> {
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
        for (status, n) in &by_status.value {
            drones_by_status.insert(status.as_str().to_owned(), *n);
        }
        let mut missing_shards: Vec<u16> = [
            &by_status.missing_shards,
            &reporting.missing_shards,
            &active.missing_shards,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect();
        missing_shards.sort_unstable();
        missing_shards.dedup();
        Ok(Counts {
            drones_total: by_status.value.iter().map(|(_, n)| n).sum(),
            drones_by_status,
            reporting_last_60s: reporting.value,
            active_flight_plans: active.value,
            missing_shards,
        })
    }
}
