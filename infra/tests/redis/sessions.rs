use std::time::Duration;

use chrono::TimeDelta;
use deadpool_redis::redis;
use domain::platform::SessionStore;
use domain::UserId;

use crate::helpers::{redis, session, shared_url, unique_prefix};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn a_session_reads_back_until_it_is_deleted() {
    let store = redis(&unique_prefix()).session_store(DAY);
    let s = session(UserId::new(), TimeDelta::minutes(5));
    store.create(s.clone()).await.unwrap();
    assert_eq!(store.get(s.id).await.unwrap(), Some(s.clone()));
    assert!(store.delete(s.id).await.unwrap());
    assert_eq!(store.get(s.id).await.unwrap(), None);
    assert!(!store.delete(s.id).await.unwrap());
}

#[tokio::test]
async fn deleting_a_users_sessions_revokes_all_of_them_and_no_others() {
    let store = redis(&unique_prefix()).session_store(DAY);
    let (alice, bob) = (UserId::new(), UserId::new());
    let a1 = session(alice, TimeDelta::minutes(5));
    let a2 = session(alice, TimeDelta::minutes(5));
    let b1 = session(bob, TimeDelta::minutes(5));
    for s in [&a1, &a2, &b1] {
        store.create(s.clone()).await.unwrap();
    }
    store.delete_for_user(alice).await.unwrap();
    assert_eq!(store.get(a1.id).await.unwrap(), None);
    assert_eq!(store.get(a2.id).await.unwrap(), None);
    assert_eq!(store.get(b1.id).await.unwrap(), Some(b1.clone()));
    // Idempotent, and a later session is unaffected.
    store.delete_for_user(alice).await.unwrap();
    let a3 = session(alice, TimeDelta::minutes(5));
    store.create(a3.clone()).await.unwrap();
    assert_eq!(store.get(a3.id).await.unwrap(), Some(a3));
}

#[tokio::test]
async fn sessions_of_one_store_are_invisible_under_another_prefix() {
    let s = session(UserId::new(), TimeDelta::minutes(5));
    redis(&unique_prefix())
        .session_store(DAY)
        .create(s.clone())
        .await
        .unwrap();
    let other = redis(&unique_prefix()).session_store(DAY);
    assert_eq!(other.get(s.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_session_expires_at_its_expiry_and_so_does_the_users_index() {
    let prefix = unique_prefix();
    let store = redis(&prefix).session_store(DAY);
    let user = UserId::new();
    let short = session(user, TimeDelta::milliseconds(300));
    store.create(short.clone()).await.unwrap();
    assert!(store.get(short.id).await.unwrap().is_some());

    let client = redis::Client::open(shared_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let index_ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}user-sessions:{user}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=300).contains(&index_ttl), "index ttl {index_ttl} ms");

    // A longer session of the same user extends the index; a shorter one never shrinks it.
    let long = session(user, TimeDelta::seconds(30));
    store.create(long.clone()).await.unwrap();
    store
        .create(session(user, TimeDelta::seconds(1)))
        .await
        .unwrap();
    let index_ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}user-sessions:{user}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(index_ttl > 25_000, "index ttl {index_ttl} ms");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.get(short.id).await.unwrap(), None);
    assert!(!store.delete(short.id).await.unwrap());
    assert_eq!(store.get(long.id).await.unwrap(), Some(long));
}

#[tokio::test]
async fn an_already_expired_session_is_not_stored() {
    let store = redis(&unique_prefix()).session_store(DAY);
    let past = session(UserId::new(), TimeDelta::seconds(-1));
    store.create(past.clone()).await.unwrap();
    assert_eq!(store.get(past.id).await.unwrap(), None);
}

#[tokio::test]
async fn the_ttl_hint_caps_how_long_a_session_is_kept() {
    let store = redis(&unique_prefix()).session_store(Duration::from_millis(200));
    let s = session(UserId::new(), TimeDelta::hours(24));
    store.create(s.clone()).await.unwrap();
    assert!(store.get(s.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.get(s.id).await.unwrap(), None);
}

/// Two stores on one prefix are two replicas: each keeps its own copy of what it read.
#[tokio::test]
async fn a_session_ended_on_one_replica_is_refused_by_another_at_once() {
    let prefix = unique_prefix();
    let (a, b) = (
        redis(&prefix).session_store(DAY),
        redis(&prefix).session_store(DAY),
    );
    let user = UserId::new();
    let (s1, s2, s3) = (
        session(user, TimeDelta::minutes(5)),
        session(user, TimeDelta::minutes(5)),
        session(user, TimeDelta::minutes(5)),
    );
    for s in [&s1, &s2, &s3] {
        a.create(s.clone()).await.unwrap();
        // Read on b, which now answers from its copy.
        assert_eq!(b.get(s.id).await.unwrap(), Some(s.clone()));
    }
    // b's revocation subscriber starts with its first read.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let gone_on_b = |id| {
        let b = b.clone();
        async move {
            let started = std::time::Instant::now();
            while b.get(id).await.unwrap().is_some() {
                assert!(
                    started.elapsed() < infra::redis::NEAR_TTL,
                    "b still accepts the session"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            started.elapsed()
        }
    };
    assert!(a.delete(s1.id).await.unwrap());
    let one = gone_on_b(s1.id).await;
    a.delete_for_user(user).await.unwrap();
    let all = (gone_on_b(s2.id).await, gone_on_b(s3.id).await);
    // Told over pub/sub: far sooner than the copy's lifetime.
    let limit = infra::redis::NEAR_TTL / 4;
    assert!(
        one < limit && all.0 < limit && all.1 < limit,
        "{one:?} {all:?}"
    );
}

#[tokio::test]
async fn a_replica_that_missed_a_revocation_refuses_the_session_within_a_second() {
    let prefix = unique_prefix();
    let store = redis(&prefix).session_store(DAY);
    let s = session(UserId::new(), TimeDelta::minutes(5));
    store.create(s.clone()).await.unwrap();
    assert_eq!(store.get(s.id).await.unwrap(), Some(s.clone()));
    // Removed behind the store's back: no message tells it.
    let client = redis::Client::open(shared_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}session:{}", s.id))
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    while store.get(s.id).await.unwrap().is_some() {
        assert!(started.elapsed() <= infra::redis::NEAR_TTL + Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pattern subscriptions on the server, waited for until there are `want` (5 s at most).
async fn wait_for_patterns(conn: &mut redis::aio::MultiplexedConnection, want: i64) {
    let started = std::time::Instant::now();
    loop {
        let n: i64 = redis::cmd("PUBSUB")
            .arg("NUMPAT")
            .query_async(conn)
            .await
            .unwrap();
        if n == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{n} subscriptions, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The revocation subscription lives as long as the store: an app that stops (tests and
/// benchmarks build many in one process) leaves no connection behind.
#[tokio::test]
async fn a_dropped_store_ends_its_revocation_subscription() {
    let server = crate::helpers::PrivateRedis::start();
    let r = infra::redis::Redis::new(
        crate::helpers::settings(&server.url(), &unique_prefix(), Duration::from_millis(500)),
        std::sync::Arc::new(infra::redis::NoopObserver),
    )
    .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let store = r.session_store(DAY);
    let copy = store.clone();
    assert_eq!(store.get(domain::SessionId::new()).await.unwrap(), None);
    wait_for_patterns(&mut conn, 1).await;
    drop(store);
    // The clone still uses it.
    assert_eq!(copy.get(domain::SessionId::new()).await.unwrap(), None);
    wait_for_patterns(&mut conn, 1).await;
    drop(copy);
    wait_for_patterns(&mut conn, 0).await;
}
