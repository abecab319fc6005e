//! The platform ports: what every replica shares when Redis is configured, and what an
//! embedded process keeps in memory otherwise — sessions, the response cache, rate limits
//! and idempotency keys. They speak bytes and domain types, not HTTP.

use async_trait::async_trait;

use crate::ids::{SessionId, UserId};
use crate::session::Session;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store cannot be reached: authentication must fail closed.
    #[error("session store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create(&self, session: Session) -> Result<(), SessionError>;
    async fn get(&self, id: SessionId) -> Result<Option<Session>, SessionError>;
    /// Returns whether a session was deleted.
    async fn delete(&self, id: SessionId) -> Result<bool, SessionError>;
    /// Revokes every session of a user (on deletion or a role change).
    async fn delete_for_user(&self, user: UserId) -> Result<(), SessionError>;
}

/// A key-value cache with TTLs (DESIGN §5). It fails open: an unreachable cache behaves
/// as a miss on reads and as a no-op on writes, so readers fall back to the database.
#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    async fn set(&self, key: &str, value: Vec<u8>, ttl: std::time::Duration);
    /// Stores `entry` (as [`CacheEntry::encode`]) unless `key` already holds an entry of a
    /// greater version, atomically: a reader that loaded an old version of a resource can
    /// never overwrite a newer one, nor the tombstone its deletion left.
    async fn put_versioned(&self, key: &str, entry: &CacheEntry, ttl: std::time::Duration);
    async fn delete(&self, key: &str);
}

/// A cached value and the version of the resource it shows (`None` for answers that have
/// no version, such as summaries). An empty value with a version is a tombstone: the
/// resource was deleted at that version, and older reads must not bring it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub version: Option<i64>,
    pub value: Vec<u8>,
}

impl CacheEntry {
    /// The width of the version in front of the value.
    pub const VERSION_BYTES: usize = 8;
    const NO_VERSION: i64 = i64::MIN;

    pub fn tombstone(version: i64) -> Self {
        Self {
            version: Some(version),
            value: Vec::new(),
        }
    }

    pub fn is_tombstone(&self) -> bool {
        self.version.is_some() && self.value.is_empty()
    }

    /// Eight bytes of version (big-endian; `i64::MIN` for none), then the value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::VERSION_BYTES + self.value.len());
        out.extend_from_slice(&self.version.unwrap_or(Self::NO_VERSION).to_be_bytes());
        out.extend_from_slice(&self.value);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (head, value) = bytes.split_first_chunk::<{ Self::VERSION_BYTES }>()?;
        let version = i64::from_be_bytes(*head);
        Some(Self {
            version: (version != Self::NO_VERSION).then_some(version),
            value: value.to_vec(),
        })
    }

    /// Whether this entry may replace `current`: unversioned entries always may, versioned
    /// ones when they are at least as new.
    pub fn supersedes(&self, current: Option<&CacheEntry>) -> bool {
        match (self.version, current.and_then(|c| c.version)) {
            (Some(new), Some(old)) => new >= old,
            _ => true,
        }
    }
}

/// Counts requests against a quota, shared by every replica when backed by Redis. Never
/// blocks traffic because of its own failure: an adapter that cannot reach its store
/// decides locally instead.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, key: &str, quota: crate::limits::Quota) -> crate::limits::RateDecision;
}

#[derive(Debug, thiserror::Error)]
#[error("idempotency store unavailable")]
pub struct IdempotencyUnavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Remembers answers to requests sent with an `Idempotency-Key`. Keys live in a `scope`
/// (the principal that sent them: a user or a drone key); a store keeps a bounded number
/// of keys per scope, evicting the oldest, so no caller can pin unbounded memory.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request whose body hashes to `fingerprint`, or reports who has it.
    async fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        ttl: std::time::Duration,
    ) -> Result<IdempotencyState, IdempotencyUnavailable>;
    /// Stores the answer of a claimed key for replay (opaque bytes: the caller encodes it).
    async fn complete(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        answer: &[u8],
        ttl: std::time::Duration,
    ) -> Result<(), IdempotencyUnavailable>;
    /// Releases a claimed key whose request did not end in an answer worth replaying, so
    /// that it can be retried.
    async fn abandon(&self, scope: &str, key: &str) -> Result<(), IdempotencyUnavailable>;
}

/// Where a request with an idempotency key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// This caller now owns the key and must run the request, then `complete` or `abandon`.
    Started,
    /// Another request with this key is running.
    InProgress { fingerprint: String },
    /// The request ran; replay its answer (the bytes given to `complete`).
    Done {
        fingerprint: String,
        answer: Vec<u8>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_entry_round_trips_with_and_without_a_version() {
        for version in [Some(7), None] {
            let entry = CacheEntry {
                version,
                value: b"{\"a\":1}".to_vec(),
            };
            assert_eq!(CacheEntry::decode(&entry.encode()), Some(entry));
        }
        assert_eq!(CacheEntry::decode(b"short"), None);
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one_or_its_tombstone() {
        let v = |version: i64| CacheEntry {
            version: Some(version),
            value: b"x".to_vec(),
        };
        assert!(v(3).supersedes(Some(&v(2))));
        assert!(v(3).supersedes(Some(&v(3))));
        assert!(!v(2).supersedes(Some(&v(3))));
        assert!(!v(2).supersedes(Some(&CacheEntry::tombstone(3))));
        assert!(v(2).supersedes(None));
    }
}

/// What changed in an organisation's airspace (its fences, a plan's volume, or a monitoring
/// override the index carries), told to the other replicas so that their in-memory indexes
/// follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AirspaceChange {
    Geofence(crate::OrgId, crate::GeofenceId),
    Plan(crate::OrgId, crate::FlightPlanId),
    /// A drone's own link timeout.
    Drone(crate::OrgId, crate::DroneId),
    /// Anything of the organisation's may have changed (a drone and its plans deleted).
    Org(crate::OrgId),
}

/// What an [`AirspaceFeed`] hands its subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AirspaceEvent {
    Changed(AirspaceChange),
    /// Changes may have been missed (the feed reconnected): rebuild every index.
    Resync,
}

/// Tells every replica of airspace changes: Redis pub/sub in the distributed mode; nothing
/// to tell in the embedded one, which has a single index.
#[async_trait]
pub trait AirspaceFeed: Send + Sync {
    /// Best effort: a change that cannot be published leaves other replicas stale until
    /// their next resync, and is logged.
    async fn publish(&self, change: AirspaceChange);
    /// Delivers the other replicas' changes to `on_event` from now on. Called once.
    fn subscribe(&self, on_event: std::sync::Arc<dyn Fn(AirspaceEvent) + Send + Sync>);
}
