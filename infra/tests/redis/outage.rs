use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use deadpool_redis::redis;
use domain::limits::Quota;
use domain::platform::IdempotencyState;
use domain::platform::{Cache, IdempotencyStore, RateLimiter, SessionError, SessionStore};
use domain::ports::HealthCheck;
use domain::UserId;
use infra::live::LiveHub;
use infra::redis::{NoopObserver, Redis};

use crate::helpers::{free_port, session, settings, unique_prefix, CountingObserver, PrivateRedis};
use crate::live::until_subscribed;

const DAY: Duration = Duration::from_secs(86_400);
const TIMEOUT: Duration = Duration::from_millis(100);
/// "Promptly": the command timeout plus the pool's wait, with room for a busy machine.
const PROMPT: Duration = Duration::from_millis(500);

async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

async fn healthy(redis: &Redis) -> bool {
    redis.check().await == vec![("redis".to_owned(), None)]
}

#[tokio::test]
async fn a_pool_is_made_without_a_server_but_not_from_a_malformed_url() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let nowhere = Redis::new(
        settings(&url, &unique_prefix(), TIMEOUT),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let (got, took) = timed(nowhere.session_store(DAY).get(domain::SessionId::new())).await;
    assert!(matches!(got, Err(SessionError::Unavailable(_))));
    assert!(took < PROMPT, "{took:?}");
    assert!(!healthy(&nowhere).await);

    for bad in ["not a url", "http://127.0.0.1:6379", "redis://:99999999"] {
        let result = Redis::new(settings(bad, "p:", TIMEOUT), Arc::new(NoopObserver));
        assert!(result.is_err(), "{bad} was accepted");
    }
}

#[tokio::test]
async fn every_adapter_degrades_while_redis_is_down_and_recovers_when_it_returns() {
    let mut server = PrivateRedis::start();
    let prefix = unique_prefix();
    let observer = Arc::new(CountingObserver::default());
    let r = Redis::new(settings(&server.url(), &prefix, TIMEOUT), observer.clone()).unwrap();
    let other = Redis::new(
        settings(&server.url(), &prefix, TIMEOUT),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let sessions = r.session_store(DAY);
    let cache = r.cache();
    let limiter = r.rate_limiter();
    let idempotency = r.idempotency_store();
    let hub = LiveHub::new(64);
    let mut rx = hub.subscribe();
    let subscriber = r.live_bridge(hub).start_subscriber();
    let publisher = other.live_bridge(LiveHub::new(1));
    let quota = Quota {
        per_second: 1,
        burst: 3,
        period_s: 1,
    };

    // Up.
    let s = session(UserId::new(), TimeDelta::minutes(5));
    sessions.create(s.clone()).await.unwrap();
    assert_eq!(sessions.get(s.id).await.unwrap(), Some(s.clone()));
    cache.set("k", b"v".to_vec(), Duration::from_secs(60)).await;
    assert_eq!(cache.get("k").await, Some(b"v".to_vec()));
    assert!(limiter.check("up", quota).await.allowed);
    assert!(until_subscribed(&publisher, &mut rx, Duration::from_secs(5)).await);
    assert!(healthy(&r).await);
    // The subscription's liveness ping (sent at once) keeps it, rather than reconnecting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(observer.count("live_subscribe", true), 1);

    server.stop();
    // This process answers from its copy of a session it read for up to NEAR_TTL.
    tokio::time::sleep(infra::redis::NEAR_TTL).await;

    // Down: sessions fail closed, the cache misses, the limiter decides locally; all promptly.
    let (got, took_session) = timed(sessions.get(s.id)).await;
    assert!(matches!(got, Err(SessionError::Unavailable(_))), "{got:?}");
    assert!(took_session < PROMPT, "{took_session:?}");
    let other_session = session(UserId::new(), TimeDelta::minutes(5));
    assert!(matches!(
        sessions.create(other_session).await,
        Err(SessionError::Unavailable(_))
    ));
    assert!(matches!(
        sessions.delete_for_user(s.user_id).await,
        Err(SessionError::Unavailable(_))
    ));
    let (got, took_cache) = timed(cache.get("k")).await;
    assert_eq!(got, None);
    assert!(took_cache < PROMPT, "{took_cache:?}");
    let ((), took_cache_set) = timed(cache.set("k", b"w".to_vec(), Duration::from_secs(60))).await;
    assert!(took_cache_set < PROMPT, "{took_cache_set:?}");
    let start = Instant::now();
    let local: Vec<bool> = allowed_in_a_row(&limiter, "down", quota, 4).await;
    let took_limiter = start.elapsed();
    assert_eq!(
        local,
        [true, true, true, false],
        "the fallback still limits"
    );
    assert!(took_limiter < PROMPT * 4, "{took_limiter:?}");
    assert!(idempotency.begin("scope", "i", "f", DAY).await.is_err());
    assert!(!healthy(&r).await);
    assert!(observer.failures() >= 8);
    // Long enough for the subscriber to back off a few times.
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!(
        "down: session get {took_session:?}, cache get {took_cache:?}, cache set \
         {took_cache_set:?}, 4 rate-limit checks {took_limiter:?}"
    );

    server.restart();
    let back = Instant::now();

    // Back, with the same `Redis`: the first command of each adapter works.
    let (got, took_first) = timed(sessions.get(s.id)).await;
    assert_eq!(got.unwrap(), None, "the restarted server kept nothing");
    let s2 = session(UserId::new(), TimeDelta::minutes(5));
    sessions.create(s2.clone()).await.unwrap();
    assert_eq!(sessions.get(s2.id).await.unwrap(), Some(s2));
    cache
        .set("k", b"again".to_vec(), Duration::from_secs(60))
        .await;
    assert_eq!(cache.get("k").await, Some(b"again".to_vec()));
    assert_eq!(
        idempotency.begin("scope", "i", "f", DAY).await.unwrap(),
        IdempotencyState::Started
    );
    // The script cache went with the restart: the limiter reloads it and decides in Redis
    // again, where the other replica sees the same bucket.
    assert!(limiter.check("back", quota).await.allowed);
    let shared = other.rate_limiter();
    assert_eq!(
        allowed_in_a_row(&shared, "back", quota, 3).await,
        [true, true, false]
    );
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("{prefix}rl:back"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(exists);
    assert!(healthy(&r).await);
    assert!(
        until_subscribed(&publisher, &mut rx, Duration::from_secs(10)).await,
        "the live subscriber did not come back"
    );
    assert_eq!(observer.count("live_subscribe", true), 2);
    assert!(observer.count("live_subscribe", false) >= 2);
    eprintln!(
        "back: first session get {took_first:?}; live delivery resumed {:?} after restart",
        back.elapsed()
    );
    subscriber.abort();
}

#[tokio::test]
async fn a_frozen_server_times_out_promptly_and_its_connections_are_replaced() {
    let server = PrivateRedis::start();
    let r = Redis::new(
        settings(&server.url(), &unique_prefix(), TIMEOUT),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let sessions = r.session_store(DAY);
    let cache = r.cache();
    let s = session(UserId::new(), TimeDelta::minutes(5));
    sessions.create(s.clone()).await.unwrap();

    server.freeze();
    let (got, took_session) = timed(sessions.get(s.id)).await;
    assert!(matches!(got, Err(SessionError::Unavailable(_))), "{got:?}");
    assert!(
        took_session >= TIMEOUT && took_session < PROMPT,
        "{took_session:?}"
    );
    let (got, took_cache) = timed(cache.get("k")).await;
    assert_eq!(got, None);
    assert!(took_cache < PROMPT, "{took_cache:?}");
    eprintln!("frozen: session get {took_session:?}, cache get {took_cache:?}");

    server.thaw();
    // Replies to the timed-out commands arrive now on connections that were dropped, so
    // no later command can read a stale one.
    for _ in 0..20 {
        assert_eq!(sessions.get(s.id).await.unwrap(), Some(s.clone()));
        cache.set("k", b"v".to_vec(), Duration::from_secs(60)).await;
        assert_eq!(cache.get("k").await, Some(b"v".to_vec()));
    }
}

async fn allowed_in_a_row(
    limiter: &impl RateLimiter,
    key: &str,
    quota: Quota,
    n: usize,
) -> Vec<bool> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(limiter.check(key, quota).await.allowed);
    }
    out
}
