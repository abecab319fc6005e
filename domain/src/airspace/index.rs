//! The per-organisation R-tree of fences and of plans' volumes. A replica keeps one per
//! organisation in memory; every check and every point goes through it, never through a
//! table scan.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::deconflict::PlanVolume;
use super::fence::Geofence;
use super::AirspaceRules;
use crate::ids::{DroneId, FlightPlanId, GeofenceId};
use crate::monitoring::{BatteryThresholds, Overrides};

type FenceEntry = GeomWithData<Rectangle<[f64; 2]>, GeofenceId>;
type LegEntry = GeomWithData<Rectangle<[f64; 2]>, (FlightPlanId, usize)>;

/// Fences and plan volumes of one organisation.
#[derive(Debug, Clone)]
pub struct AirspaceIndex {
    rules: AirspaceRules,
    fences: HashMap<GeofenceId, Arc<Geofence>>,
    fence_tree: RTree<FenceEntry>,
    plans: HashMap<FlightPlanId, Arc<PlanVolume>>,
    plan_tree: RTree<LegEntry>,
    by_drone: HashMap<DroneId, Vec<FlightPlanId>>,
    overrides: Overrides,
}

impl AirspaceIndex {
    pub fn new(rules: AirspaceRules) -> Self {
        Self::build(rules, Vec::new(), Vec::new())
    }

    /// An index of `fences` and `plans`, bulk-loaded (much faster than one insert each).
    pub fn build(rules: AirspaceRules, fences: Vec<Geofence>, plans: Vec<PlanVolume>) -> Self {
        let fence_entries = fences.iter().map(fence_entry).collect();
        let leg_entries = plans.iter().flat_map(|p| leg_entries(p, &rules)).collect();
        let mut by_drone: HashMap<DroneId, Vec<FlightPlanId>> = HashMap::new();
        for plan in &plans {
            by_drone.entry(plan.drone_id).or_default().push(plan.id);
        }
        Self {
            rules,
            fences: fences.into_iter().map(|f| (f.id, Arc::new(f))).collect(),
            fence_tree: RTree::bulk_load(fence_entries),
            plans: plans.into_iter().map(|p| (p.id, Arc::new(p))).collect(),
            plan_tree: RTree::bulk_load(leg_entries),
            by_drone,
            overrides: Overrides::default(),
        }
    }

    /// The index with the organisation's own monitoring thresholds.
    pub fn with_overrides(mut self, overrides: Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The organisation's own monitoring thresholds (the monitor reads them with the fences).
    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    pub fn set_battery_thresholds(&mut self, battery: BatteryThresholds) {
        self.overrides.battery = battery;
    }

    /// A drone's own link timeout, or none (the installation's applies).
    pub fn set_link_timeout(&mut self, drone: DroneId, seconds: Option<f64>) {
        match seconds {
            Some(seconds) => self.overrides.link_timeouts.insert(drone, seconds),
            None => self.overrides.link_timeouts.remove(&drone),
        };
    }

    pub fn rules(&self) -> &AirspaceRules {
        &self.rules
    }

    pub fn fence_count(&self) -> usize {
        self.fences.len()
    }

    pub fn plan_count(&self) -> usize {
        self.plans.len()
    }

    pub fn fence(&self, id: GeofenceId) -> Option<&Arc<Geofence>> {
        self.fences.get(&id)
    }

    pub fn plan(&self, id: FlightPlanId) -> Option<&Arc<PlanVolume>> {
        self.plans.get(&id)
    }

    /// Adds the fence, or replaces the one with its id.
    pub fn upsert_fence(&mut self, fence: Geofence) {
        self.remove_fence(fence.id);
        self.fence_tree.insert(fence_entry(&fence));
        self.fences.insert(fence.id, Arc::new(fence));
    }

    pub fn remove_fence(&mut self, id: GeofenceId) {
        if let Some(old) = self.fences.remove(&id) {
            self.fence_tree.remove(&fence_entry(&old));
        }
    }

    /// Adds the plan's volume, or replaces the one with its id.
    pub fn upsert_plan(&mut self, plan: PlanVolume) {
        self.remove_plan(plan.id);
        for entry in leg_entries(&plan, &self.rules) {
            self.plan_tree.insert(entry);
        }
        self.by_drone
            .entry(plan.drone_id)
            .or_default()
            .push(plan.id);
        self.plans.insert(plan.id, Arc::new(plan));
    }

    pub fn remove_plan(&mut self, id: FlightPlanId) {
        let Some(old) = self.plans.remove(&id) else {
            return;
        };
        for entry in leg_entries(&old, &self.rules) {
            self.plan_tree.remove(&entry);
        }
        if let Some(ids) = self.by_drone.get_mut(&old.drone_id) {
            ids.retain(|p| *p != id);
            if ids.is_empty() {
                self.by_drone.remove(&old.drone_id);
            }
        }
    }

    /// Fences whose bounding box meets `[min_lon, min_lat, max_lon, max_lat]`.
    pub fn fences_near(&self, bbox: [f64; 4]) -> impl Iterator<Item = &Arc<Geofence>> + '_ {
        let envelope = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
        self.fence_tree
            .locate_in_envelope_intersecting(&envelope)
            .filter_map(|entry| self.fences.get(&entry.data))
    }

    /// Every fence that a point at `alt_m` above take-off is inside at `t` (active, in its
    /// schedule, in its band and its shape). The live point check: an R-tree lookup of the
    /// point, then the exact test on the few fences whose box holds it.
    pub fn fences_at(
        &self,
        lon: f64,
        lat: f64,
        alt_m: f64,
        t: DateTime<Utc>,
    ) -> impl Iterator<Item = &Arc<Geofence>> + '_ {
        self.fence_tree
            .locate_all_at_point(&[lon, lat])
            .filter_map(|entry| self.fences.get(&entry.data))
            .filter(move |f| {
                f.band.contains(alt_m) && f.shape.contains(lon, lat) && f.applies_at(t)
            })
    }

    /// Legs of other plans whose buffered box meets `bbox`, as (plan, leg index).
    pub(crate) fn legs_near(
        &self,
        bbox: [f64; 4],
    ) -> impl Iterator<Item = (&Arc<PlanVolume>, usize)> + '_ {
        let envelope = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
        self.plan_tree
            .locate_in_envelope_intersecting(&envelope)
            .filter_map(|entry| {
                let (plan, leg) = entry.data;
                self.plans.get(&plan).map(|p| (p, leg))
            })
    }

    /// The drone's plans in the index (submitted, approved or active).
    pub fn plans_of(&self, drone: DroneId) -> impl Iterator<Item = &Arc<PlanVolume>> + '_ {
        self.by_drone
            .get(&drone)
            .into_iter()
            .flatten()
            .filter_map(|id| self.plans.get(id))
    }
}

fn fence_entry(fence: &Geofence) -> FenceEntry {
    let [min_lon, min_lat, max_lon, max_lat] = fence.shape.bbox();
    GeomWithData::new(
        Rectangle::from_corners([min_lon, min_lat], [max_lon, max_lat]),
        fence.id,
    )
}

/// One entry per leg: its box grown by the lateral buffer.
fn leg_entries(plan: &PlanVolume, rules: &AirspaceRules) -> Vec<LegEntry> {
    (0..plan.leg_count())
        .map(|leg| {
            let [min_lon, min_lat, max_lon, max_lat] = plan.leg_bbox(leg, rules.lateral_buffer_m);
            GeomWithData::new(
                Rectangle::from_corners([min_lon, min_lat], [max_lon, max_lat]),
                (plan.id, leg),
            )
        })
        .collect()
}
