use std::sync::Arc;
use std::time::Duration;

use domain::drone::DroneStatus;
use domain::platform::Cache;
use domain::ports::DroneRepository;
use domain::{DroneId, OrgId, StoreError};
use moka::sync::Cache as Memory;

/// What ingest needs to know of a drone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryEntry {
    /// The drone exists in the organisation, with this status.
    Known(DroneStatus),
    /// No such drone in the organisation.
    Unknown,
}

impl DirectoryEntry {
    fn encode(self) -> &'static [u8] {
        match self {
            Self::Known(status) => status.as_str().as_bytes(),
            Self::Unknown => b"unknown",
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        match text {
            "unknown" => Some(Self::Unknown),
            other => DroneStatus::parse(other).map(Self::Known),
        }
    }
}

/// `(org, drone) → status` for validating telemetry without a database query per point.
/// Two layers: a per-process memory that forgets after `local_ttl` (so a change made on
/// another replica is seen within it), over the shared cache (Redis in a cluster) that
/// keeps entries for `shared_ttl` and is invalidated on every drone change.
#[derive(Clone)]
pub struct DroneDirectory {
    drones: Arc<dyn DroneRepository>,
    shared: Arc<dyn Cache>,
    local: Memory<(OrgId, DroneId), DirectoryEntry>,
    shared_ttl: Duration,
}

/// How long this process trusts what it learnt: a change made on another replica is seen
/// within this.
pub const LOCAL_TTL: Duration = Duration::from_secs(2);
/// How long the shared cache keeps an entry (changes invalidate it at once).
pub const SHARED_TTL: Duration = Duration::from_secs(300);
/// Most drones this process remembers.
pub const LOCAL_CAPACITY: u64 = 1_000_000;

impl DroneDirectory {
    /// A directory with the default lifetimes and capacity.
    pub fn new(drones: Arc<dyn DroneRepository>, shared: Arc<dyn Cache>) -> Self {
        Self::with_limits(drones, shared, LOCAL_TTL, SHARED_TTL, LOCAL_CAPACITY)
    }

    pub fn with_limits(
        drones: Arc<dyn DroneRepository>,
        shared: Arc<dyn Cache>,
        local_ttl: Duration,
        shared_ttl: Duration,
        capacity: u64,
    ) -> Self {
        Self {
            drones,
            shared,
            local: Memory::builder()
                .max_capacity(capacity)
                .time_to_live(local_ttl)
                .build(),
            shared_ttl,
        }
    }

    fn key(org: OrgId, drone: DroneId) -> String {
        format!("dir:{org}:{drone}")
    }

    pub async fn lookup(&self, org: OrgId, drone: DroneId) -> Result<DirectoryEntry, StoreError> {
        if let Some(entry) = self.local.get(&(org, drone)) {
            return Ok(entry);
        }
        let key = Self::key(org, drone);
        let shared = self
            .shared
            .get(&key)
            .await
            .and_then(|b| DirectoryEntry::decode(&b));
        let entry = match shared {
            Some(entry) => entry,
            None => {
                let entry = match self.drones.get_drone(org, drone).await? {
                    Some(d) => DirectoryEntry::Known(d.status),
                    None => DirectoryEntry::Unknown,
                };
                self.shared
                    .set(&key, entry.encode().to_vec(), self.shared_ttl)
                    .await;
                entry
            }
        };
        self.local.insert((org, drone), entry);
        Ok(entry)
    }

    /// Forgets a drone after it was created, changed or deleted.
    pub async fn invalidate(&self, org: OrgId, drone: DroneId) {
        self.local.invalidate(&(org, drone));
        self.shared.delete(&Self::key(org, drone)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_their_cached_form() {
        for entry in DroneStatus::ALL
            .map(DirectoryEntry::Known)
            .into_iter()
            .chain([DirectoryEntry::Unknown])
        {
            assert_eq!(DirectoryEntry::decode(entry.encode()), Some(entry));
        }
        assert_eq!(DirectoryEntry::decode(b"flying"), None);
    }
}
