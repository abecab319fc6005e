use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::platform::{IdempotencyState, IdempotencyStore, IdempotencyUnavailable};

/// Bounds of the in-process store: the oldest keys go first when one is exceeded.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyBounds {
    /// Keys over all scopes.
    pub max_entries: usize,
    /// Bytes of stored answers (and key names) over all scopes.
    pub max_bytes: usize,
    /// Keys of one scope (one user or drone key).
    pub max_per_scope: usize,
}

impl Default for IdempotencyBounds {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_per_scope: 1_000,
        }
    }
}

/// Idempotency keys in process memory, bounded in entries, bytes and keys per scope, with
/// the oldest evicted first; `begin` is atomic under one mutex and every entry expires at
/// its TTL.
#[derive(Debug)]
pub struct InMemoryIdempotencyStore {
    bounds: IdempotencyBounds,
    entries: Mutex<Entries>,
}

#[derive(Debug)]
struct Entry {
    /// Only ever `InProgress` or `Done`.
    state: IdempotencyState,
    expires: Instant,
    /// Which put made it, so that stale places in the queues are recognised.
    seq: u64,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<(String, String), Entry>,
    /// Every put in order, oldest first (places whose entry was replaced or removed are
    /// skipped when they come up).
    order: VecDeque<(u64, (String, String))>,
    /// The same, per scope.
    scopes: HashMap<String, VecDeque<(u64, String)>>,
    bytes: usize,
    next_seq: u64,
}

fn size(key: &(String, String), state: &IdempotencyState) -> usize {
    let answer = match state {
        IdempotencyState::Done { answer, .. } => answer.len(),
        _ => 0,
    };
    key.0.len() + key.1.len() + answer + 64
}

impl Entries {
    fn remove(&mut self, key: &(String, String)) {
        if let Some(entry) = self.map.remove(key) {
            self.bytes -= entry.bytes;
        }
    }

    fn is_current(&self, key: &(String, String), seq: u64) -> bool {
        self.map.get(key).is_some_and(|e| e.seq == seq)
    }

    fn put(
        &mut self,
        key: (String, String),
        state: IdempotencyState,
        now: Instant,
        ttl: Duration,
        bounds: IdempotencyBounds,
    ) {
        let expires = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(365 * 86_400));
        let seq = self.next_seq;
        self.next_seq += 1;
        let bytes = size(&key, &state);
        self.remove(&key);
        self.bytes += bytes;
        self.map.insert(
            key.clone(),
            Entry {
                state,
                expires,
                seq,
                bytes,
            },
        );
        self.order.push_back((seq, key.clone()));
        let scope = self.scopes.entry(key.0.clone()).or_default();
        scope.push_back((seq, key.1));
        self.evict_in_scope(&key.0, bounds.max_per_scope);
        while self.map.len() > bounds.max_entries || self.bytes > bounds.max_bytes {
            let Some((seq, oldest)) = self.order.pop_front() else {
                break;
            };
            if self.is_current(&oldest, seq) {
                self.remove(&oldest);
            }
        }
        self.compact(now);
    }

    /// Drops the oldest keys of `scope` beyond `max`.
    fn evict_in_scope(&mut self, scope: &str, max: usize) {
        let Some(mut queue) = self.scopes.remove(scope) else {
            return;
        };
        queue.retain(|(seq, key)| self.is_current(&(scope.to_owned(), key.clone()), *seq));
        while queue.len() > max {
            if let Some((_, key)) = queue.pop_front() {
                self.remove(&(scope.to_owned(), key));
            }
        }
        if !queue.is_empty() {
            self.scopes.insert(scope.to_owned(), queue);
        }
    }

    /// Keeps the queues from growing past twice the entries with places that no longer
    /// count, and sweeps expired entries while at it.
    fn compact(&mut self, now: Instant) {
        if self.order.len() <= 2 * self.map.len() + 1024 {
            return;
        }
        let expired: Vec<(String, String)> = self
            .map
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
        let map = &self.map;
        self.order
            .retain(|(seq, key)| map.get(key).is_some_and(|e| e.seq == *seq));
        self.scopes.retain(|scope, queue| {
            queue.retain(|(seq, key)| {
                map.get(&(scope.clone(), key.clone()))
                    .is_some_and(|e| e.seq == *seq)
            });
            !queue.is_empty()
        });
    }
}

impl InMemoryIdempotencyStore {
    pub fn new(bounds: IdempotencyBounds) -> Self {
        Self {
            bounds,
            entries: Mutex::new(Entries::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for InMemoryIdempotencyStore {
    fn default() -> Self {
        Self::new(IdempotencyBounds::default())
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<IdempotencyState, IdempotencyUnavailable> {
        let now = Instant::now();
        let mut entries = self.lock();
        let key = (scope.to_owned(), key.to_owned());
        if let Some(entry) = entries.map.get(&key) {
            if entry.expires > now {
                return Ok(entry.state.clone());
            }
        }
        let claim = IdempotencyState::InProgress {
            fingerprint: fingerprint.to_owned(),
        };
        entries.put(key, claim, now, ttl, self.bounds);
        Ok(IdempotencyState::Started)
    }

    async fn complete(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        answer: &[u8],
        ttl: Duration,
    ) -> Result<(), IdempotencyUnavailable> {
        let done = IdempotencyState::Done {
            fingerprint: fingerprint.to_owned(),
            answer: answer.to_vec(),
        };
        let key = (scope.to_owned(), key.to_owned());
        self.lock().put(key, done, Instant::now(), ttl, self.bounds);
        Ok(())
    }

    async fn abandon(&self, scope: &str, key: &str) -> Result<(), IdempotencyUnavailable> {
        self.lock().remove(&(scope.to_owned(), key.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn response() -> Vec<u8> {
        b"201 application/json {\"id\":1}".to_vec()
    }

    fn store() -> InMemoryIdempotencyStore {
        InMemoryIdempotencyStore::default()
    }

    #[tokio::test]
    async fn a_key_is_claimed_then_reported_in_progress_then_replayed() {
        let store = store();
        assert_eq!(
            store.begin("s", "k", "f1", TTL).await.unwrap(),
            IdempotencyState::Started
        );
        assert_eq!(
            store.begin("s", "k", "f2", TTL).await.unwrap(),
            IdempotencyState::InProgress {
                fingerprint: "f1".to_owned()
            }
        );
        store
            .complete("s", "k", "f1", &response(), TTL)
            .await
            .unwrap();
        assert_eq!(
            store.begin("s", "k", "f1", TTL).await.unwrap(),
            IdempotencyState::Done {
                fingerprint: "f1".to_owned(),
                answer: response()
            }
        );
        assert_eq!(
            store.begin("other", "k", "f1", TTL).await.unwrap(),
            IdempotencyState::Started,
            "another scope's key of the same name is another key"
        );
    }

    #[tokio::test]
    async fn an_abandoned_key_can_be_claimed_again() {
        let store = store();
        assert_eq!(
            store.begin("s", "k", "f", TTL).await.unwrap(),
            IdempotencyState::Started
        );
        store.abandon("s", "k").await.unwrap();
        assert_eq!(
            store.begin("s", "k", "f", TTL).await.unwrap(),
            IdempotencyState::Started
        );
    }

    #[tokio::test]
    async fn an_expired_key_can_be_claimed_again() {
        let store = store();
        let short = Duration::from_millis(30);
        assert_eq!(
            store.begin("s", "k", "f", short).await.unwrap(),
            IdempotencyState::Started
        );
        store
            .complete("s", "k", "f", &response(), short)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            store.begin("s", "k", "g", TTL).await.unwrap(),
            IdempotencyState::Started
        );
    }

    #[tokio::test]
    async fn entries_bytes_and_keys_per_scope_are_bounded_oldest_first() {
        let store = InMemoryIdempotencyStore::new(IdempotencyBounds {
            max_entries: 100,
            max_bytes: 1 << 20,
            max_per_scope: 10,
        });
        for i in 0..50 {
            store
                .begin("greedy", &format!("k{i}"), "f", TTL)
                .await
                .unwrap();
        }
        {
            let entries = store.lock();
            assert_eq!(entries.map.len(), 10, "one scope keeps at most 10 keys");
            assert!(entries.map.contains_key(&("greedy".into(), "k49".into())));
            assert!(!entries.map.contains_key(&("greedy".into(), "k0".into())));
        }
        for i in 0..500 {
            store.begin(&format!("s{i}"), "k", "f", TTL).await.unwrap();
        }
        assert_eq!(store.lock().map.len(), 100, "at most 100 keys in all");
        let big = vec![0_u8; 300 * 1024];
        for i in 0..10 {
            store
                .complete("big", &format!("k{i}"), "f", &big, TTL)
                .await
                .unwrap();
        }
        let entries = store.lock();
        assert!(entries.bytes <= 1 << 20, "{} bytes", entries.bytes);
        assert!(entries.order.len() <= 2 * entries.map.len() + 1024);
    }

    #[tokio::test]
    async fn concurrent_begins_start_exactly_once() {
        let store = std::sync::Arc::new(store());
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.begin("s", "k", "f", TTL).await.unwrap() })
            })
            .collect();
        let mut started = 0;
        for task in tasks {
            if task.await.unwrap() == IdempotencyState::Started {
                started += 1;
            }
        }
        assert_eq!(started, 1);
    }
}
