//! Cache-aside for hot reads (DESIGN §5), written once: [`CacheAside::read`] answers from
//! the cache or loads, serialises and fills it; writes refresh or tombstone their keys.
//!
//! Values are the JSON answers themselves, keyed by organisation, so a hit is served without
//! touching the database or serialising again, and another organisation's id can never
//! hit. Versioned answers (drones, plans) are filled with [`Cache::put_versioned`], which
//! keeps whatever newer version the cache already holds: a slow read can never put back a
//! stale answer, nor one of a deleted resource (deletion leaves a tombstone of its version).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::platform::{Cache, CacheEntry};
use domain::{DroneId, FlightPlanId, OrgId};
use prometheus::IntCounterVec;
use serde::Serialize;

use crate::error::ApiError;

/// Which cached answer, with its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Drone,
    FlightPlan,
    LatestTelemetry,
    FleetSummary,
}

impl Cached {
    pub const ALL: [Cached; 4] = [
        Self::Drone,
        Self::FlightPlan,
        Self::LatestTelemetry,
        Self::FleetSummary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Drone => "drone",
            Self::FlightPlan => "flight_plan",
            Self::LatestTelemetry => "latest_telemetry",
            Self::FleetSummary => "fleet_summary",
        }
    }

    pub fn ttl(self) -> Duration {
        match self {
            Self::Drone => Duration::from_secs(300),
            Self::FlightPlan => Duration::from_secs(3600),
            Self::LatestTelemetry => Duration::from_secs(10),
            Self::FleetSummary => Duration::from_secs(30),
        }
    }

    /// The key of one answer. `id` is the resource (a drone, a plan) or empty for answers
    /// about the whole organisation.
    pub fn key(self, org: OrgId, id: impl std::fmt::Display) -> String {
        let prefix = match self {
            Self::Drone => "drone",
            Self::FlightPlan => "plan",
            Self::LatestTelemetry => "latest",
            Self::FleetSummary => "summary",
        };
        format!("{prefix}:{org}:{id}")
    }

    pub fn drone(org: OrgId, drone: DroneId) -> (Self, String) {
        (Self::Drone, Self::Drone.key(org, drone))
    }

    pub fn plan(org: OrgId, plan: FlightPlanId) -> (Self, String) {
        (Self::FlightPlan, Self::FlightPlan.key(org, plan))
    }
}

/// A cached answer: the body as sent and, for versioned resources, the version (ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBody {
    pub version: Option<i64>,
    pub body: Vec<u8>,
}

/// What a loader found: the resource's version (if it has one) and its answer.
pub struct Loaded<T> {
    pub version: Option<i64>,
    pub value: T,
}

#[derive(Clone)]
pub struct CacheAside {
    cache: Arc<dyn Cache>,
    /// `redis` or `memory`, for the metrics.
    layer: &'static str,
    lookups: IntCounterVec,
}

impl CacheAside {
    pub fn new(cache: Arc<dyn Cache>, layer: &'static str, lookups: IntCounterVec) -> Self {
        for kind in Cached::ALL {
            for outcome in ["hit", "miss"] {
                lookups.with_label_values(&[kind.name(), layer, outcome]);
            }
        }
        Self {
            cache,
            layer,
            lookups,
        }
    }

    async fn lookup(&self, kind: Cached, key: &str) -> Option<CachedBody> {
        let found = self
            .cache
            .get(key)
            .await
            .and_then(|bytes| CacheEntry::decode(&bytes))
            .filter(|entry| !entry.is_tombstone());
        let outcome = if found.is_some() { "hit" } else { "miss" };
        self.lookups
            .with_label_values(&[kind.name(), self.layer, outcome])
            .inc();
        found.map(|entry| CachedBody {
            version: entry.version,
            body: entry.value,
        })
    }

    /// The cached answer under `key`, or else `load`'s, serialised and cached. `Ok(None)`
    /// when `load` finds nothing (nothing is cached then).
    pub async fn read<T, F, Fut>(
        &self,
        (kind, key): (Cached, String),
        load: F,
    ) -> Result<Option<CachedBody>, ApiError>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Loaded<T>>, ApiError>>,
    {
        if let Some(hit) = self.lookup(kind, &key).await {
            return Ok(Some(hit));
        }
        // Filled from the primary: a cached answer is served to every caller, so it must
        // never be what a replica had not yet caught up with.
        let Some(loaded) = infra::consistency::on_primary(load()).await? else {
            return Ok(None);
        };
        let body = serde_json::to_vec(&loaded.value).map_err(ApiError::internal)?;
        self.fill(kind, &key, loaded.version, &body).await;
        Ok(Some(CachedBody {
            version: loaded.version,
            body,
        }))
    }

    /// Serialises a resource just written and stores it (write-through), so that every
    /// replica reads the new version next; returns the body for the answer.
    pub async fn write<T: Serialize>(
        &self,
        (kind, key): (Cached, String),
        version: i64,
        value: &T,
    ) -> Result<CachedBody, ApiError> {
        let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
        self.fill(kind, &key, Some(version), &body).await;
        Ok(CachedBody {
            version: Some(version),
            body,
        })
    }

    /// Marks a deleted resource whose last version was `last_version`: reads that loaded
    /// it, at that version or before, can no longer cache it.
    pub async fn remove(&self, (kind, key): (Cached, String), last_version: i64) {
        let tombstone = CacheEntry::tombstone(last_version.saturating_add(1));
        self.cache.put_versioned(&key, &tombstone, kind.ttl()).await;
    }

    async fn fill(&self, kind: Cached, key: &str, version: Option<i64>, body: &[u8]) {
        let entry = CacheEntry {
            version,
            value: body.to_vec(),
        };
        match version {
            Some(_) => self.cache.put_versioned(key, &entry, kind.ttl()).await,
            None => self.cache.set(key, entry.encode(), kind.ttl()).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prometheus::Opts;

    fn cache_aside() -> CacheAside {
        let lookups =
            IntCounterVec::new(Opts::new("lookups", "test"), &["cache", "layer", "outcome"])
                .unwrap();
        CacheAside::new(
            Arc::new(infra::local::InMemoryCache::new(100)),
            "memory",
            lookups,
        )
    }

    #[tokio::test]
    async fn a_slow_read_cannot_cache_a_drone_deleted_meanwhile() {
        let cache = cache_aside();
        let (org, drone) = (OrgId::new(), DroneId::new());
        // The drone is deleted at version 2 while a read that loaded version 2 is slow.
        cache.remove(Cached::drone(org, drone), 2).await;
        let slow = cache
            .read(Cached::drone(org, drone), || async {
                Ok(Some(Loaded {
                    version: Some(2),
                    value: "stale",
                }))
            })
            .await
            .unwrap();
        assert!(slow.is_some(), "the slow read still answers what it read");
        let next = cache
            .read(Cached::drone(org, drone), || async {
                Ok(None::<Loaded<&str>>)
            })
            .await
            .unwrap();
        assert_eq!(
            next, None,
            "the deleted drone must not come back from the cache"
        );
    }

    #[tokio::test]
    async fn a_write_through_answer_is_what_the_next_read_gets() {
        let cache = cache_aside();
        let (org, drone) = (OrgId::new(), DroneId::new());
        cache
            .write(Cached::drone(org, drone), 3, &"three")
            .await
            .unwrap();
        let read = cache
            .read(Cached::drone(org, drone), || async {
                Ok(Some(Loaded {
                    version: Some(2),
                    value: "two",
                }))
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.version, Some(3));
        assert_eq!(read.body, b"\"three\"");
    }
}
