use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::platform::{IdempotencyState, IdempotencyStore, IdempotencyUnavailable};

/// The map is swept of expired entries whenever it doubles past its size after the last
/// sweep (and never below this), so a sweep costs amortised O(1) per `begin`.
const SWEEP_FLOOR: usize = 1024;

/// Idempotency keys in process memory. `begin` is atomic under one mutex; every entry
/// expires at its TTL.
#[derive(Debug)]
pub struct InMemoryIdempotencyStore {
    entries: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    /// Only ever `InProgress` or `Done`, with when it expires.
    map: HashMap<String, (IdempotencyState, Instant)>,
    sweep_at: usize,
}

impl Entries {
    fn put(&mut self, key: &str, state: IdempotencyState, now: Instant, ttl: Duration) {
        let expires = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(365 * 86_400));
        self.map.insert(key.to_owned(), (state, expires));
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, (_, expires)| *expires > now);
            self.sweep_at = (self.map.len() * 2).max(SWEEP_FLOOR);
        }
    }
}

impl InMemoryIdempotencyStore {
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for InMemoryIdempotencyStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<IdempotencyState, IdempotencyUnavailable> {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some((state, expires)) = entries.map.get(key) {
            if *expires > now {
                return Ok(state.clone());
            }
        }
        let claim = IdempotencyState::InProgress {
            fingerprint: fingerprint.to_owned(),
        };
        entries.put(key, claim, now, ttl);
        Ok(IdempotencyState::Started)
    }

    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        answer: &[u8],
        ttl: Duration,
    ) -> Result<(), IdempotencyUnavailable> {
        let done = IdempotencyState::Done {
            fingerprint: fingerprint.to_owned(),
            answer: answer.to_vec(),
        };
        self.lock().put(key, done, Instant::now(), ttl);
        Ok(())
    }

    async fn abandon(&self, key: &str) -> Result<(), IdempotencyUnavailable> {
        self.lock().map.remove(key);
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

    #[tokio::test]
    async fn a_key_is_claimed_then_reported_in_progress_then_replayed() {
        let store = InMemoryIdempotencyStore::new();
        assert_eq!(
            store.begin("k", "f1", TTL).await.unwrap(),
            IdempotencyState::Started
        );
        assert_eq!(
            store.begin("k", "f2", TTL).await.unwrap(),
            IdempotencyState::InProgress {
                fingerprint: "f1".to_owned()
            }
        );
        store.complete("k", "f1", &response(), TTL).await.unwrap();
        assert_eq!(
            store.begin("k", "f1", TTL).await.unwrap(),
            IdempotencyState::Done {
                fingerprint: "f1".to_owned(),
                answer: response()
            }
        );
    }

    #[tokio::test]
    async fn an_abandoned_key_can_be_claimed_again() {
        let store = InMemoryIdempotencyStore::new();
        assert_eq!(
            store.begin("k", "f", TTL).await.unwrap(),
            IdempotencyState::Started
        );
        store.abandon("k").await.unwrap();
        assert_eq!(
            store.begin("k", "f", TTL).await.unwrap(),
            IdempotencyState::Started
        );
    }

    #[tokio::test]
    async fn an_expired_key_can_be_claimed_again() {
        let store = InMemoryIdempotencyStore::new();
        let short = Duration::from_millis(30);
        assert_eq!(
            store.begin("k", "f", short).await.unwrap(),
            IdempotencyState::Started
        );
        store.complete("k", "f", &response(), short).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            store.begin("k", "g", TTL).await.unwrap(),
            IdempotencyState::Started
        );
    }

    #[tokio::test]
    async fn expired_entries_are_swept() {
        let store = InMemoryIdempotencyStore::new();
        for i in 0..SWEEP_FLOOR - 1 {
            store
                .begin(&format!("k{i}"), "f", Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        store.begin("last", "f", TTL).await.unwrap();
        assert_eq!(store.lock().map.len(), 1);
    }

    #[tokio::test]
    async fn concurrent_begins_start_exactly_once() {
        let store = std::sync::Arc::new(InMemoryIdempotencyStore::new());
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.begin("k", "f", TTL).await.unwrap() })
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
