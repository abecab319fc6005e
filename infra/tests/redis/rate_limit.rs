use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::limits::{gcra, Quota};
use domain::platform::RateLimiter;
use infra::redis::Redis;

use crate::helpers::{redis, settings, shared_url, unique_prefix, CountingObserver};

#[tokio::test]
async fn a_burst_is_allowed_then_the_sustained_rate() {
    let quota = Quota {
        per_second: 5,
        burst: 10,
        period_s: 1,
    };
    let limiter = redis(&unique_prefix()).rate_limiter();
    let start = Instant::now();

    let first = limiter.check("org", quota).await;
    assert!(first.allowed);
    assert_eq!((first.limit, first.remaining), (10, 9));
    let mut allowed = 1;
    for _ in 0..14 {
        allowed += usize::from(limiter.check("org", quota).await.allowed);
    }
    let refilled = (start.elapsed().as_secs_f64() * 5.0).floor() as usize;
    assert!(
        (10..=10 + refilled).contains(&allowed),
        "{allowed} allowed at once; the burst is 10"
    );
    let refused = limiter.check("org", quota).await;
    if !refused.allowed {
        assert_eq!(refused.remaining, 0);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(
            refused.retry_after <= Duration::from_millis(200),
            "{:?}",
            refused.retry_after
        );
        assert!(
            refused.reset_after <= Duration::from_secs(2),
            "{:?}",
            refused.reset_after
        );
    } else {
        allowed += 1;
    }

    while start.elapsed() < Duration::from_millis(1200) {
        allowed += usize::from(limiter.check("org", quota).await.allowed);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    allowed += usize::from(limiter.check("org", quota).await.allowed);
    let expected = 10.0 + (start.elapsed().as_secs_f64() * 5.0).floor();
    assert!(
        (allowed as f64 - expected).abs() <= 1.0,
        "{allowed} allowed over {:?}; expected {expected}",
        start.elapsed()
    );
}

#[tokio::test]
async fn two_replicas_share_one_budget() {
    let prefix = unique_prefix();
    let (a, b) = (redis(&prefix).rate_limiter(), redis(&prefix).rate_limiter());
    let quota = Quota {
        per_second: 1,
        burst: 10,
        period_s: 1,
    };
    let start = Instant::now();
    let (mut from_a, mut from_b) = (0, 0);
    for _ in 0..15 {
        from_a += usize::from(a.check("org", quota).await.allowed);
        from_b += usize::from(b.check("org", quota).await.allowed);
    }
    let refilled = start.elapsed().as_secs() as usize;
    assert!(from_a > 0 && from_b > 0);
    assert!(
        (10..=10 + refilled).contains(&(from_a + from_b)),
        "{from_a} + {from_b} allowed; the shared burst is 10"
    );
}

#[tokio::test]
async fn keys_and_prefixes_have_separate_budgets() {
    let prefix = unique_prefix();
    let quota = Quota {
        per_second: 1,
        burst: 2,
        period_s: 1,
    };
    let limiter = redis(&prefix).rate_limiter();
    for _ in 0..2 {
        assert!(limiter.check("a", quota).await.allowed);
    }
    assert!(!limiter.check("a", quota).await.allowed);
    assert!(limiter.check("b", quota).await.allowed);
    let other = redis(&unique_prefix()).rate_limiter();
    assert!(other.check("a", quota).await.allowed);
}

#[tokio::test]
async fn the_script_decides_like_the_domain_rule() {
    let quota = Quota {
        per_second: 1,
        burst: 3,
        period_s: 1,
    };
    let limiter = redis(&unique_prefix()).rate_limiter();
    let start = Instant::now();
    let mut in_redis = Vec::new();
    for _ in 0..5 {
        in_redis.push(limiter.check("org", quota).await);
    }
    let slack = start.elapsed();

    let (mut tat, now) = (None, 1_700_000_000_000_000);
    let mut pure = Vec::new();
    for _ in 0..5 {
        let (decision, new_tat) = gcra(tat, now, quota);
        tat = Some(new_tat);
        pure.push(decision);
    }
    for (r, p) in in_redis.iter().zip(&pure) {
        assert_eq!(
            (r.allowed, r.limit, r.remaining),
            (p.allowed, p.limit, p.remaining)
        );
        // Redis's clock moved on a little between the calls.
        assert!(r.reset_after <= p.reset_after && r.reset_after + slack >= p.reset_after);
        assert!(r.retry_after <= p.retry_after && r.retry_after + slack >= p.retry_after);
    }
}

/// Three replicas hammering one key with a quota big enough to lease: together they allow
/// the burst (less at most what they hold unspent) plus the refill, never more, and ask
/// Redis far less often than once per request.
#[tokio::test]
async fn replicas_leasing_tokens_still_share_one_budget() {
    let prefix = unique_prefix();
    let observer = Arc::new(CountingObserver::default());
    let limiters: Vec<_> = (0..3)
        .map(|_| {
            Redis::new(
                settings(&shared_url(), &prefix, Duration::from_millis(500)),
                observer.clone(),
            )
            .unwrap()
            .rate_limiter()
        })
        .collect();
    let quota = Quota {
        per_second: 100,
        burst: 6400,
        period_s: 1,
    };
    assert_eq!(infra::redis::lease_size(quota), 100);
    let start = Instant::now();
    let checks = 4000;
    let tasks: Vec<_> = limiters
        .iter()
        .map(|limiter| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let mut allowed = 0usize;
                for _ in 0..checks {
                    allowed += usize::from(limiter.check("org", quota).await.allowed);
                }
                allowed
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.unwrap();
    }
    let refilled = (start.elapsed().as_secs_f64() * 100.0).ceil() as usize;
    let burst = 6400;
    assert!(
        allowed <= burst + refilled,
        "{allowed} allowed; the shared burst is {burst} (+{refilled} refilled)"
    );
    // Each replica holds at most one lease (100) unspent.
    assert!(
        allowed + 3 * 100 >= burst,
        "{allowed} allowed; the shared burst is {burst}"
    );
    let trips = observer.count("rate_limit", true);
    assert!(
        trips * 10 < 3 * checks as u64,
        "{trips} round trips for {} checks",
        3 * checks
    );
}

/// Tokens a replica leased and did not spend go back with its next lease, so a replica with
/// little traffic does not eat the budget of the others.
#[tokio::test]
async fn unspent_leased_tokens_go_back() {
    let prefix = unique_prefix();
    let (quiet, busy) = (redis(&prefix).rate_limiter(), redis(&prefix).rate_limiter());
    let quota = Quota {
        per_second: 1,
        burst: 640,
        period_s: 1,
    };
    assert_eq!(infra::redis::lease_size(quota), 10);
    let start = Instant::now();
    for _ in 0..5 {
        assert!(quiet.check("org", quota).await.allowed);
        tokio::time::sleep(infra::redis::LEASE_MAX_AGE + Duration::from_millis(20)).await;
    }
    // The quiet replica spent 5 and holds at most 9 of its last lease.
    let mut allowed = 0;
    while busy.check("org", quota).await.allowed {
        allowed += 1;
        assert!(allowed <= 640, "never refused");
    }
    let refilled = start.elapsed().as_secs() as usize + 1;
    assert!(
        (640 - 5 - 9..=640 - 5 + refilled).contains(&allowed),
        "the busy replica got {allowed}"
    );
}
