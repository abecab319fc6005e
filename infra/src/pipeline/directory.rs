use std::sync::Arc;
use std::time::Duration;

use domain::drone::DroneStatus;
use domain::ports::DroneRepository;
use domain::{DroneId, OrgId, StoreError};
use moka::sync::Cache;

/// What ingest needs to know of a drone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryEntry {
    /// The drone exists in the organisation, with this status.
    Known(DroneStatus),
    /// No such drone in the organisation.
    Unknown,
}

/// A cache of `(org, drone) → status` so that validating a batch costs at most one lookup
/// per distinct drone, and usually none. Updates and deletions invalidate their entry.
#[derive(Clone)]
pub struct DroneDirectory {
    drones: Arc<dyn DroneRepository>,
    cache: Cache<(OrgId, DroneId), DirectoryEntry>,
}

impl DroneDirectory {
    pub fn new(drones: Arc<dyn DroneRepository>, ttl: Duration, capacity: u64) -> Self {
        Self {
            drones,
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    pub async fn lookup(&self, org: OrgId, drone: DroneId) -> Result<DirectoryEntry, StoreError> {
        if let Some(entry) = self.cache.get(&(org, drone)) {
            return Ok(entry);
        }
        let entry = match self.drones.get_drone(org, drone).await? {
            Some(d) => DirectoryEntry::Known(d.status),
            None => DirectoryEntry::Unknown,
        };
        self.cache.insert((org, drone), entry);
        Ok(entry)
    }

    pub fn invalidate(&self, org: OrgId, drone: DroneId) {
        self.cache.invalidate(&(org, drone));
    }
}
