use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::limits::{gcra, Quota, RateDecision};
use domain::platform::RateLimiter;
use moka::ops::compute::Op;
use moka::Expiry;

/// Most buckets kept; past it moka evicts some, which only ever makes the limiter more
/// lenient for their keys.
const MAX_BUCKETS: u64 = 1_000_000;

/// GCRA in process memory (the embedded limiter, and the Redis limiter's fallback): the same
/// `domain::limits::gcra` as the Redis script, on a monotonic clock. Each bucket is dropped
/// once it would be full again, so memory follows the keys active in the last burst window.
pub struct LocalRateLimiter {
    buckets: moka::sync::Cache<String, Bucket>,
    epoch: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tat_us: i64,
    /// From the last update until the bucket is full again.
    full_in: Duration,
}

struct UntilFull;

impl Expiry<String, Bucket> for UntilFull {
    fn expire_after_create(
        &self,
        _key: &String,
        bucket: &Bucket,
        _at: Instant,
    ) -> Option<Duration> {
        Some(bucket.full_in)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        bucket: &Bucket,
        _at: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        Some(bucket.full_in)
    }
}

impl LocalRateLimiter {
    pub fn new() -> Self {
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_BUCKETS)
                .expire_after(UntilFull)
                .build(),
            epoch: Instant::now(),
        }
    }

    fn now_us(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX)
    }

    /// Decides at `now_us` (microseconds on this limiter's clock), atomically per key.
    fn check_at(&self, key: &str, quota: Quota, now_us: i64) -> RateDecision {
        let mut verdict = None;
        let _ = self.buckets.entry_by_ref(key).and_compute_with(|bucket| {
            let tat = bucket.map(|b| b.into_value().tat_us);
            let (decision, new_tat) = gcra(tat, now_us, quota);
            verdict = Some(decision);
            if decision.allowed {
                Op::Put(Bucket {
                    tat_us: new_tat,
                    full_in: Duration::from_micros(u64::try_from(new_tat - now_us).unwrap_or(0)),
                })
            } else {
                Op::Nop
            }
        });
        // moka always runs the closure; this only keeps the types honest.
        verdict.unwrap_or_else(|| gcra(None, now_us, quota).0)
    }
}

impl Default for LocalRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRateLimiter")
            .field("buckets", &self.buckets.entry_count())
            .finish()
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check(&self, key: &str, quota: Quota) -> RateDecision {
        self.check_at(key, quota, self.now_us())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota {
        per_second: 10,
        burst: 5,
        period_s: 1,
    };

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_retry_after() {
        let limiter = LocalRateLimiter::new();
        let now = 1_000_000;
        let decisions: Vec<_> = (0..7).map(|_| limiter.check_at("k", QUOTA, now)).collect();
        assert!(decisions[..5].iter().all(|d| d.allowed));
        assert_eq!(
            decisions[..5]
                .iter()
                .map(|d| d.remaining)
                .collect::<Vec<_>>(),
            [4, 3, 2, 1, 0]
        );
        assert!(!decisions[5].allowed && !decisions[6].allowed);
        assert_eq!(decisions[5].limit, 5);
        assert_eq!(decisions[5].retry_after, Duration::from_millis(100));
        assert_eq!(decisions[5].reset_after, Duration::from_millis(500));
    }

    #[test]
    fn the_allowance_refills_at_the_sustained_rate() {
        let limiter = LocalRateLimiter::new();
        let now = 1_000_000;
        for _ in 0..5 {
            limiter.check_at("k", QUOTA, now);
        }
        assert!(!limiter.check_at("k", QUOTA, now).allowed);
        // One second later, ten more (one per 100 ms), not more.
        let later = now + 1_000_000;
        let allowed = (0..20)
            .filter(|_| limiter.check_at("k", QUOTA, later).allowed)
            .count();
        assert_eq!(allowed, 5, "the bucket refills up to the burst only");
        let mut allowed = 0;
        for step in 1..=10 {
            if limiter.check_at("k", QUOTA, later + step * 100_000).allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10);
    }

    #[test]
    fn keys_have_separate_buckets() {
        let limiter = LocalRateLimiter::new();
        for _ in 0..5 {
            assert!(limiter.check_at("a", QUOTA, 0).allowed);
        }
        assert!(!limiter.check_at("a", QUOTA, 0).allowed);
        assert!(limiter.check_at("b", QUOTA, 0).allowed);
    }

    #[tokio::test]
    async fn concurrent_checks_never_allow_more_than_the_burst() {
        let limiter = std::sync::Arc::new(LocalRateLimiter::new());
        let quota = Quota {
            per_second: 1,
            burst: 50,
            period_s: 1,
        };
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.check("k", quota).await.allowed })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            if task.await.unwrap() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 50);
    }
}
