//! Cache-aside for hot reads (DESIGN §5), over the `Cache` port: Redis when configured,
//! in-process otherwise. Values are the JSON answers themselves, keyed by organisation, so a
//! hit is served without touching the database or serialising again, and another
//! organisation's id can never hit. Writes delete the affected keys; every key lives in a
//! versioned namespace (`nf:v1:` by default) so that a format change never reads old data.

use std::sync::Arc;
use std::time::Duration;

use domain::ports::Cache;
use domain::{DroneId, FlightPlanId, OrgId};
use prometheus::IntCounterVec;

/// Which cached answer, with its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Drone,
    FlightPlan,
    LatestTelemetry,
    FleetSummary,
}

impl Cached {
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
}

/// A cached answer: the body as sent and, for versioned resources, the version (ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBody {
    pub version: Option<i64>,
    pub body: Vec<u8>,
}

const NO_VERSION: i64 = i64::MIN;

impl CachedBody {
    /// Eight bytes of version (big-endian; `i64::MIN` for none), then the body.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.body.len());
        out.extend_from_slice(&self.version.unwrap_or(NO_VERSION).to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (head, body) = bytes.split_first_chunk::<8>()?;
        let version = i64::from_be_bytes(*head);
        Some(Self {
            version: (version != NO_VERSION).then_some(version),
            body: body.to_vec(),
        })
    }
}

/// A cache that never holds anything (`cache.enabled = false`).
pub struct NoCache;

#[async_trait::async_trait]
impl Cache for NoCache {
    async fn get(&self, _key: &str) -> Option<Vec<u8>> {
        None
    }

    async fn set(&self, _key: &str, _value: Vec<u8>, _ttl: Duration) {}

    async fn delete(&self, _key: &str) {}
}

#[derive(Clone)]
pub struct ResponseCache {
    cache: Arc<dyn Cache>,
    /// `redis` or `memory`, for the metrics.
    layer: &'static str,
    lookups: IntCounterVec,
}

impl ResponseCache {
    pub fn new(cache: Arc<dyn Cache>, layer: &'static str, lookups: IntCounterVec) -> Self {
        Self {
            cache,
            layer,
            lookups,
        }
    }

    pub fn drone_key(org: OrgId, drone: DroneId) -> String {
        format!("drone:{org}:{drone}")
    }

    pub fn plan_key(org: OrgId, plan: FlightPlanId) -> String {
        format!("plan:{org}:{plan}")
    }

    pub fn latest_key(org: OrgId, drone: DroneId) -> String {
        format!("latest:{org}:{drone}")
    }

    pub fn summary_key(org: OrgId) -> String {
        format!("summary:{org}")
    }

    pub async fn get(&self, kind: Cached, key: &str) -> Option<CachedBody> {
        let found = self
            .cache
            .get(key)
            .await
            .and_then(|bytes| CachedBody::decode(&bytes));
        let outcome = if found.is_some() { "hit" } else { "miss" };
        self.lookups
            .with_label_values(&[kind.name(), self.layer, outcome])
            .inc();
        found
    }

    pub async fn put(&self, kind: Cached, key: &str, version: Option<i64>, body: Vec<u8>) {
        let bytes = CachedBody { version, body }.encode();
        self.cache.set(key, bytes, kind.ttl()).await;
    }

    pub async fn invalidate(&self, key: &str) {
        self.cache.delete(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_body_round_trips_with_and_without_a_version() {
        for version in [Some(7), None] {
            let body = CachedBody {
                version,
                body: b"{\"a\":1}".to_vec(),
            };
            assert_eq!(CachedBody::decode(&body.encode()), Some(body));
        }
        assert_eq!(CachedBody::decode(b"short"), None);
    }
}
