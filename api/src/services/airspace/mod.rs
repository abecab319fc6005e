//! Airspace: each organisation's fences and plan volumes in an in-memory R-tree
//! ([`AirspaceIndex`]), with its monitoring overrides (battery thresholds, drones' own link
//! timeouts), loaded on first use and kept current by this replica's own writes and,
//! through the [`AirspaceFeed`], by every other replica's. The plan checks, the geofence
//! resource ([`geofences`]) and the conformance monitor go through it.

mod geofences;
mod import;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use domain::airspace::{
    check_plan, AirspaceIndex, AirspaceRules, Geofence, GeofenceFilter, PlanCheck, PlanConflict,
    PlanVolume,
};
use domain::flight_plan::{FlightPlan, FlightPlanFilter, FlightPlanState, Transition};
use domain::monitoring::{BatteryThresholds, Overrides};
use domain::page::{PageRequest, MAX_LIMIT};
use domain::platform::{AirspaceChange, AirspaceEvent, AirspaceFeed};
use domain::ports::{DroneRepository, FlightPlanRepository, GeofenceRepository, OrgRepository};
use domain::{DroneId, FlightPlanId, OrgId};
use tokio::sync::OnceCell;

use crate::dto::ViolationDto;
use crate::error::{ApiError, Code};

pub use geofences::GeofenceService;

/// One organisation's index, and the changes other replicas made since it was last used.
struct OrgAirspace {
    index: RwLock<AirspaceIndex>,
    pending: Mutex<Vec<AirspaceChange>>,
}

type Slot = Arc<OnceCell<Arc<OrgAirspace>>>;

/// Where an [`AirspaceService`] reads what its indexes hold.
pub struct AirspaceSources {
    pub fences: Arc<dyn GeofenceRepository>,
    pub plans: Arc<dyn FlightPlanRepository>,
    pub orgs: Arc<dyn OrgRepository>,
    pub drones: Arc<dyn DroneRepository>,
}

#[derive(Clone)]
pub struct AirspaceService {
    fences: Arc<dyn GeofenceRepository>,
    plans: Arc<dyn FlightPlanRepository>,
    org_rows: Arc<dyn OrgRepository>,
    drones: Arc<dyn DroneRepository>,
    feed: Arc<dyn AirspaceFeed>,
    rules: AirspaceRules,
    orgs: Arc<Mutex<HashMap<OrgId, Slot>>>,
    /// One deconfliction at a time per organisation in this replica, from check to stored
    /// plan, so that two plans submitted together cannot both pass against the old index.
    turns: Arc<Mutex<HashMap<OrgId, Arc<tokio::sync::Mutex<()>>>>>,
}

/// What a plan check found that does not refuse the plan.
pub type Warnings = Vec<ViolationDto>;

impl AirspaceService {
    /// Subscribes to the feed: build once per process, and share it (the API's services
    /// and the monitor use the same index).
    pub fn new(
        sources: AirspaceSources,
        feed: Arc<dyn AirspaceFeed>,
        rules: AirspaceRules,
    ) -> Self {
        let service = Self {
            fences: sources.fences,
            plans: sources.plans,
            org_rows: sources.orgs,
            drones: sources.drones,
            feed,
            rules,
            orgs: Arc::default(),
            turns: Arc::default(),
        };
        let orgs = service.orgs.clone();
        service
            .feed
            .subscribe(Arc::new(move |event| on_event(&orgs, event)));
        service
    }

    /// The organisation's index, loaded on first use, with other replicas' changes applied.
    async fn airspace(&self, org: OrgId) -> Result<Arc<OrgAirspace>, ApiError> {
        let slot = self
            .orgs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(org)
            .or_default()
            .clone();
        let airspace = slot
            .get_or_try_init(|| async { self.load(org).await.map(Arc::new) })
            .await?
            .clone();
        let pending =
            std::mem::take(&mut *airspace.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for change in pending {
            if let Err(e) = self.reload(&airspace, change).await {
                // Whatever failed is reloaded whole next time.
                self.forget(org);
                return Err(e);
            }
        }
        Ok(airspace)
    }

    /// Runs `f` on the organisation's index (loaded on first use).
    pub async fn read_index<R>(
        &self,
        org: OrgId,
        f: impl FnOnce(&AirspaceIndex) -> R,
    ) -> Result<R, ApiError> {
        let airspace = self.airspace(org).await?;
        let index = read(&airspace.index);
        Ok(f(&index))
    }

    /// Reads every fence and every plan holding airspace. A shard that cannot be read would
    /// leave plans out, so the load fails rather than deconflict against part of the sky.
    async fn load(&self, org: OrgId) -> Result<OrgAirspace, ApiError> {
        let fences = self.all_fences(org).await?;
        let mut volumes = Vec::new();
        for state in [
            FlightPlanState::Submitted,
            FlightPlanState::Approved,
            FlightPlanState::Active,
        ] {
            let filter = FlightPlanFilter {
                state: Some(state),
                ..FlightPlanFilter::default()
            };
            let mut page = PageRequest::first(MAX_LIMIT);
            loop {
                let found = self.plans.list_plans(org, &filter, page).await?;
                if !found.missing_shards.is_empty() {
                    return Err(ApiError::unavailable(
                        "the flight plans of a shard cannot be read, so the airspace cannot be checked; retry later",
                        5,
                    ));
                }
                volumes.extend(found.items.iter().map(PlanVolume::of));
                match found.next_after {
                    Some(after) => page.after = Some(after),
                    None => break,
                }
            }
        }
        let overrides = self.overrides(org).await?;
        tracing::debug!(%org, fences = fences.len(), plans = volumes.len(), "airspace index loaded");
        let index = AirspaceIndex::build(self.rules, fences, volumes).with_overrides(overrides);
        Ok(OrgAirspace {
            index: RwLock::new(index),
            pending: Mutex::default(),
        })
    }

    /// The organisation's battery thresholds and its drones' own link timeouts. A shard
    /// that cannot be read fails the load, as for plans: its satellite drones would be
    /// declared lost at the installation's timeout.
    async fn overrides(&self, org: OrgId) -> Result<Overrides, ApiError> {
        let battery = self
            .org_rows
            .get_org(org)
            .await?
            .map(|o| o.battery)
            .unwrap_or_default();
        let timeouts = self.drones.link_timeouts(org).await?;
        if !timeouts.missing_shards.is_empty() {
            return Err(ApiError::unavailable(
                "the drones of a shard cannot be read, so their link timeouts are unknown; retry later",
                5,
            ));
        }
        Ok(Overrides {
            battery,
            link_timeouts: timeouts.value.into_iter().collect(),
        })
    }

    /// Every fence of the organisation.
    pub(crate) async fn all_fences(&self, org: OrgId) -> Result<Vec<Geofence>, ApiError> {
        let all = GeofenceFilter::default();
        // The index outlives the request that loads it: read from the primary.
        infra::consistency::on_primary(super::all_pages(|page| {
            self.fences.list_geofences(org, &all, page)
        }))
        .await
    }

    async fn reload(&self, airspace: &OrgAirspace, change: AirspaceChange) -> Result<(), ApiError> {
        match change {
            AirspaceChange::Geofence(org, id) => {
                let fence =
                    infra::consistency::on_primary(self.fences.get_geofence(org, id)).await?;
                let mut index = write(&airspace.index);
                match fence {
                    Some(fence) => index.upsert_fence(fence),
                    None => index.remove_fence(id),
                }
            }
            AirspaceChange::Plan(org, id) => {
                let plan = self.plans.get_plan(org, id).await?;
                let mut index = write(&airspace.index);
                match plan {
                    Some(plan) if PlanVolume::holds_airspace(plan.state) => {
                        index.upsert_plan(PlanVolume::of(&plan))
                    }
                    _ => index.remove_plan(id),
                }
            }
            AirspaceChange::Drone(org, id) => {
                let timeout = self
                    .drones
                    .get_drone(org, id)
                    .await?
                    .and_then(|d| d.link_timeout_s);
                write(&airspace.index).set_link_timeout(id, timeout);
            }
            AirspaceChange::Org(org) => self.forget(org),
        }
        Ok(())
    }

    fn forget(&self, org: OrgId) {
        self.orgs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&org);
    }

    /// A fence was stored or deleted here: this index follows at once, the others through
    /// the feed.
    pub(crate) async fn fence_changed(
        &self,
        org: OrgId,
        id: domain::GeofenceId,
        now: Option<&Geofence>,
    ) {
        self.apply_here(org, |index| match now {
            Some(fence) => index.upsert_fence(fence.clone()),
            None => index.remove_fence(id),
        });
        self.feed.publish(AirspaceChange::Geofence(org, id)).await;
    }

    /// Many fences were stored at once (an import): the other replicas reload the
    /// organisation.
    pub(crate) async fn fences_added(&self, org: OrgId, stored: &[Geofence]) {
        self.apply_here(org, |index| {
            for fence in stored {
                index.upsert_fence(fence.clone());
            }
        });
        self.feed.publish(AirspaceChange::Org(org)).await;
    }

    /// A plan was stored: its volume enters, moves in or leaves the index.
    pub async fn plan_changed(&self, plan: &FlightPlan) {
        self.apply_here(plan.org_id, |index| {
            if PlanVolume::holds_airspace(plan.state) {
                index.upsert_plan(PlanVolume::of(plan));
            } else {
                index.remove_plan(plan.id);
            }
        });
        self.feed
            .publish(AirspaceChange::Plan(plan.org_id, plan.id))
            .await;
    }

    /// A drone was stored with its own link timeout, or without one.
    pub async fn drone_changed(&self, org: OrgId, drone: DroneId, link_timeout_s: Option<f64>) {
        self.apply_here(org, |index| index.set_link_timeout(drone, link_timeout_s));
        self.feed.publish(AirspaceChange::Drone(org, drone)).await;
    }

    /// The organisation's battery thresholds changed: other replicas reload it.
    pub async fn thresholds_changed(&self, org: OrgId, battery: BatteryThresholds) {
        self.apply_here(org, |index| index.set_battery_thresholds(battery));
        self.feed.publish(AirspaceChange::Org(org)).await;
    }

    /// Plans were deleted with their drone.
    pub async fn plans_removed(&self, org: OrgId, plans: &[FlightPlanId]) {
        if plans.is_empty() {
            return;
        }
        self.apply_here(org, |index| {
            for id in plans {
                index.remove_plan(*id);
            }
        });
        self.feed.publish(AirspaceChange::Org(org)).await;
    }

    /// Applies a change made by this replica to its loaded index. An index still loading
    /// may have read the rows before the change: it is dropped and loaded again on demand.
    fn apply_here(&self, org: OrgId, change: impl FnOnce(&mut AirspaceIndex)) {
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        match orgs.get(&org).map(|slot| slot.get().cloned()) {
            Some(Some(airspace)) => change(&mut write(&airspace.index)),
            Some(None) => {
                orgs.remove(&org);
            }
            None => {}
        }
    }

    /// The plan's path against the fences that apply in its window: refused with 422
    /// `geofence_violation` or `authorization_required`, else the warnings to show.
    pub async fn check_fences(
        &self,
        org: OrgId,
        plan: &PlanShape<'_>,
    ) -> Result<Warnings, ApiError> {
        let check = self.fence_check(org, plan).await?;
        if !check.prohibited.is_empty() {
            return Err(refusal(
                Code::GeofenceViolation,
                "enters a prohibited geofence",
                &check.prohibited,
            ));
        }
        if !check.unauthorized.is_empty() {
            return Err(refusal(
                Code::AuthorizationRequired,
                "enters a restricted geofence without an authorization_ref",
                &check.unauthorized,
            ));
        }
        Ok(check.warnings.iter().map(Into::into).collect())
    }

    async fn fence_check(&self, org: OrgId, plan: &PlanShape<'_>) -> Result<PlanCheck, ApiError> {
        let airspace = self.airspace(org).await?;
        let index = read(&airspace.index);
        Ok(check_plan(
            &index,
            plan.waypoints,
            plan.start,
            plan.end,
            plan.authorized,
        ))
    }

    /// Waits for the organisation's turn to deconflict; hold the guard until the plan's new
    /// state is stored and [`Self::plan_changed`] has run. Replicas take turns only with
    /// themselves: across replicas a conflicting pair can pass in the time a change takes
    /// to reach the other replica over Redis (milliseconds).
    pub async fn turn(&self, org: OrgId) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(org)
            .or_default()
            .clone();
        turn.lock_owned().await
    }

    /// Strategic deconfliction at submit and approve: the drone may not be double-booked,
    /// and the plan's volume may not meet another plan's unless an admin `accepted` it
    /// (with an `override_reason`).
    pub async fn deconflict(
        &self,
        plan: &FlightPlan,
        transition: Transition,
        accepted: bool,
    ) -> Result<(), ApiError> {
        let airspace = self.airspace(plan.org_id).await?;
        let volume = PlanVolume::of(plan);
        let (booked, conflicts) = {
            let index = read(&airspace.index);
            let booked: Vec<String> = volume
                .double_bookings(&index)
                .map(|p| format!("{} ({}, {} to {})", p.id, p.state, p.start, p.end))
                .collect();
            (booked, volume.conflicts(&index))
        };
        if !booked.is_empty() {
            return Err(ApiError::conflict(
                Code::DroneDoubleBooked,
                format!(
                    "the drone already holds plans whose windows overlap this one's: {}",
                    booked.join(", ")
                ),
            ));
        }
        if conflicts.is_empty() || accepted {
            return Ok(());
        }
        let detail = format!(
            "the plan's volume meets {} other plan(s); an admin may {} it with an override_reason",
            conflicts.len(),
            transition.as_str()
        );
        Err(ApiError::Airspace {
            code: Code::PlanConflict,
            detail,
            violations: Vec::new(),
            conflicts: conflicts.iter().map(Into::into).collect(),
        })
    }

    /// Everything that stands in the plan's way now.
    pub async fn conflicts_of(&self, plan: &FlightPlan) -> Result<Conflicts, ApiError> {
        let airspace = self.airspace(plan.org_id).await?;
        let volume = PlanVolume::of(plan);
        let index = read(&airspace.index);
        let check = check_plan(
            &index,
            &plan.waypoints,
            plan.planned_start,
            plan.planned_end,
            plan.authorization_ref.is_some(),
        );
        Ok(Conflicts {
            double_booked: volume.double_bookings(&index).map(|p| p.id).collect(),
            plans: volume.conflicts(&index),
            check,
        })
    }
}

/// What [`AirspaceService::conflicts_of`] found.
pub struct Conflicts {
    pub check: PlanCheck,
    pub plans: Vec<PlanConflict>,
    pub double_booked: Vec<FlightPlanId>,
}

impl Conflicts {
    pub fn any(&self) -> bool {
        !self.check.is_clear() || !self.plans.is_empty() || !self.double_booked.is_empty()
    }
}

/// What the fence check needs of a plan, before or after it is stored.
pub struct PlanShape<'a> {
    pub waypoints: &'a [domain::flight_plan::Waypoint],
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub authorized: bool,
}

impl<'a> From<&'a FlightPlan> for PlanShape<'a> {
    fn from(plan: &'a FlightPlan) -> Self {
        Self {
            waypoints: &plan.waypoints,
            start: plan.planned_start,
            end: plan.planned_end,
            authorized: plan.authorization_ref.is_some(),
        }
    }
}

fn refusal(code: Code, what: &str, found: &[domain::airspace::Violation]) -> ApiError {
    let first = &found[0];
    ApiError::Airspace {
        code,
        detail: format!(
            "the plan {what}: leg {} enters \"{}\" at {:.6}, {:.6}, {:.1} m{}",
            first.leg(),
            first.geofence_name,
            first.lat,
            first.lon,
            first.alt_m,
            if found.len() > 1 {
                format!(" (and {} more)", found.len() - 1)
            } else {
                String::new()
            }
        ),
        violations: found.iter().map(Into::into).collect(),
        conflicts: Vec::new(),
    }
}

/// Another replica's change: queued for the organisation's index, applied at its next use;
/// after a gap in the feed every index is dropped and reloaded on demand.
fn on_event(orgs: &Mutex<HashMap<OrgId, Slot>>, event: AirspaceEvent) {
    let mut orgs = orgs.lock().unwrap_or_else(|p| p.into_inner());
    match event {
        AirspaceEvent::Resync => orgs.clear(),
        AirspaceEvent::Changed(AirspaceChange::Org(org)) => {
            orgs.remove(&org);
        }
        AirspaceEvent::Changed(
            change @ (AirspaceChange::Geofence(org, _)
            | AirspaceChange::Plan(org, _)
            | AirspaceChange::Drone(org, _)),
        ) => match orgs.get(&org).map(|slot| slot.get().cloned()) {
            Some(Some(airspace)) => airspace
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(change),
            // Still loading: what it reads may predate the change.
            Some(None) => {
                orgs.remove(&org);
            }
            None => {}
        },
    }
}

fn read(lock: &RwLock<AirspaceIndex>) -> std::sync::RwLockReadGuard<'_, AirspaceIndex> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write(lock: &RwLock<AirspaceIndex>) -> std::sync::RwLockWriteGuard<'_, AirspaceIndex> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
