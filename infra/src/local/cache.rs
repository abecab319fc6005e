use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::platform::{Cache, CacheEntry};
use moka::ops::compute::Op;
use moka::Expiry;

/// The embedded cache: a moka cache in which every entry lives for the TTL it was set with.
#[derive(Clone)]
pub struct InMemoryCache {
    entries: moka::sync::Cache<String, Arc<Entry>>,
}

struct Entry {
    bytes: Vec<u8>,
    ttl: Duration,
}

/// Each entry expires `ttl` after it was (last) set.
struct PerEntryTtl;

impl Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        _at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        _at: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl InMemoryCache {
    /// Holds at most `max_entries` entries; beyond that moka evicts the least useful.
    pub fn new(max_entries: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }
}

impl std::fmt::Debug for InMemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

#[async_trait]
impl Cache for InMemoryCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.get(key).map(|entry| entry.bytes.clone())
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if ttl.is_zero() {
            self.entries.invalidate(key);
            return;
        }
        self.entries
            .insert(key.to_owned(), Arc::new(Entry { bytes: value, ttl }));
    }

    async fn put_versioned(&self, key: &str, entry: &CacheEntry, ttl: Duration) {
        if ttl.is_zero() {
            self.entries.invalidate(key);
            return;
        }
        // Serialised per key by moka, so a check and its write cannot interleave with another.
        self.entries
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let current = current.and_then(|c| CacheEntry::decode(&c.value().bytes));
                if entry.supersedes(current.as_ref()) {
                    Op::Put(Arc::new(Entry {
                        bytes: entry.encode(),
                        ttl,
                    }))
                } else {
                    Op::Nop
                }
            });
    }

    async fn delete(&self, key: &str) {
        self.entries.invalidate(key);
    }
}

/// A cache that never holds anything (`cache.enabled = false`: every read goes to the
/// database, for benchmarks and troubleshooting).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

#[async_trait]
impl Cache for NoCache {
    async fn get(&self, _key: &str) -> Option<Vec<u8>> {
        None
    }

    async fn set(&self, _key: &str, _value: Vec<u8>, _ttl: Duration) {}

    async fn put_versioned(&self, _key: &str, _entry: &CacheEntry, _ttl: Duration) {}

    async fn delete(&self, _key: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_reads_back_until_deleted() {
        let cache = InMemoryCache::new(100);
        assert_eq!(cache.get("a").await, None);
        cache
            .set("a", b"one".to_vec(), Duration::from_secs(60))
            .await;
        assert_eq!(cache.get("a").await, Some(b"one".to_vec()));
        cache
            .set("a", b"two".to_vec(), Duration::from_secs(60))
            .await;
        assert_eq!(cache.get("a").await, Some(b"two".to_vec()));
        cache.delete("a").await;
        assert_eq!(cache.get("a").await, None);
    }

    #[tokio::test]
    async fn each_entry_expires_after_its_own_ttl() {
        let cache = InMemoryCache::new(100);
        cache
            .set("short", b"s".to_vec(), Duration::from_millis(50))
            .await;
        cache
            .set("long", b"l".to_vec(), Duration::from_secs(60))
            .await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get("short").await, None);
        assert_eq!(cache.get("long").await, Some(b"l".to_vec()));
    }

    #[tokio::test]
    async fn setting_again_restarts_the_ttl_with_the_new_one() {
        let cache = InMemoryCache::new(100);
        cache.set("k", b"1".to_vec(), Duration::from_secs(60)).await;
        cache
            .set("k", b"2".to_vec(), Duration::from_millis(50))
            .await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get("k").await, None);
    }

    #[tokio::test]
    async fn a_versioned_put_never_goes_back_in_time() {
        let cache = InMemoryCache::new(100);
        let entry = |version: i64, body: &[u8]| CacheEntry {
            version: Some(version),
            value: body.to_vec(),
        };
        let ttl = Duration::from_secs(60);
        cache.put_versioned("d", &entry(2, b"two"), ttl).await;
        cache.put_versioned("d", &entry(1, b"one"), ttl).await;
        let read = |bytes: Option<Vec<u8>>| bytes.and_then(|b| CacheEntry::decode(&b));
        assert_eq!(read(cache.get("d").await), Some(entry(2, b"two")));
        cache
            .put_versioned("d", &CacheEntry::tombstone(3), ttl)
            .await;
        cache.put_versioned("d", &entry(2, b"two"), ttl).await;
        assert_eq!(read(cache.get("d").await), Some(CacheEntry::tombstone(3)));
    }

    #[tokio::test]
    async fn a_zero_ttl_removes_the_entry() {
        let cache = InMemoryCache::new(100);
        cache.set("k", b"1".to_vec(), Duration::from_secs(60)).await;
        cache.set("k", b"2".to_vec(), Duration::ZERO).await;
        assert_eq!(cache.get("k").await, None);
    }
}
