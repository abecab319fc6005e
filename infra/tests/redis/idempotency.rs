use std::time::Duration;

use domain::platform::{IdempotencyState, IdempotencyStore};

use crate::helpers::{redis, unique_prefix};

const TTL: Duration = Duration::from_secs(60);

fn response() -> Vec<u8> {
    b"{\"id\":\"\xe2\x9c\x93\"}\x00\xff".to_vec()
}

#[tokio::test]
async fn a_key_is_claimed_then_in_progress_then_replayed() {
    let store = redis(&unique_prefix()).idempotency_store();
    assert_eq!(
        store.begin("scope", "k", "f1", TTL).await.unwrap(),
        IdempotencyState::Started
    );
    assert_eq!(
        store.begin("scope", "k", "f1", TTL).await.unwrap(),
        IdempotencyState::InProgress {
            fingerprint: "f1".to_owned()
        }
    );
    store
        .complete("scope", "k", "f1", &response(), TTL)
        .await
        .unwrap();
    assert_eq!(
        store.begin("scope", "k", "f1", TTL).await.unwrap(),
        IdempotencyState::Done {
            fingerprint: "f1".to_owned(),
            answer: response()
        }
    );
}

#[tokio::test]
async fn a_conflicting_fingerprint_sees_the_original_one() {
    let store = redis(&unique_prefix()).idempotency_store();
    assert_eq!(
        store.begin("scope", "k", "original", TTL).await.unwrap(),
        IdempotencyState::Started
    );
    assert_eq!(
        store.begin("scope", "k", "other", TTL).await.unwrap(),
        IdempotencyState::InProgress {
            fingerprint: "original".to_owned()
        }
    );
    store
        .complete("scope", "k", "original", &response(), TTL)
        .await
        .unwrap();
    match store.begin("scope", "k", "other", TTL).await.unwrap() {
        IdempotencyState::Done { fingerprint, .. } => assert_eq!(fingerprint, "original"),
        state => panic!("expected Done, got {state:?}"),
    }
}

#[tokio::test]
async fn an_abandoned_key_can_be_claimed_again() {
    let store = redis(&unique_prefix()).idempotency_store();
    assert_eq!(
        store.begin("scope", "k", "f", TTL).await.unwrap(),
        IdempotencyState::Started
    );
    store.abandon("scope", "k").await.unwrap();
    assert_eq!(
        store.begin("scope", "k", "f", TTL).await.unwrap(),
        IdempotencyState::Started
    );
}

#[tokio::test]
async fn an_expired_key_can_be_claimed_again() {
    let store = redis(&unique_prefix()).idempotency_store();
    let short = Duration::from_millis(100);
    assert_eq!(
        store.begin("scope", "k", "f", short).await.unwrap(),
        IdempotencyState::Started
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        store.begin("scope", "k", "f", TTL).await.unwrap(),
        IdempotencyState::Started
    );
}

#[tokio::test]
async fn concurrent_begins_on_one_key_start_exactly_once_across_replicas() {
    let prefix = unique_prefix();
    let stores = [
        redis(&prefix).idempotency_store(),
        redis(&prefix).idempotency_store(),
    ];
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.begin("scope", "k", "f", TTL).await.unwrap() })
        })
        .collect();
    let mut started = 0;
    for task in tasks {
        match task.await.unwrap() {
            IdempotencyState::Started => started += 1,
            IdempotencyState::InProgress { fingerprint } => assert_eq!(fingerprint, "f"),
            state => panic!("unexpected {state:?}"),
        }
    }
    assert_eq!(started, 1);
}

#[tokio::test]
async fn one_scope_keeps_a_bounded_number_of_keys_oldest_evicted() {
    use infra::redis::KEYS_PER_SCOPE;
    let store = redis(&unique_prefix()).idempotency_store();
    for i in 0..KEYS_PER_SCOPE + 5 {
        store
            .begin("greedy", &format!("k{i}"), "f", TTL)
            .await
            .unwrap();
    }
    // The newest keys are still claimed; the five oldest were evicted and can start again.
    assert!(matches!(
        store
            .begin("greedy", &format!("k{}", KEYS_PER_SCOPE + 4), "f", TTL)
            .await
            .unwrap(),
        IdempotencyState::InProgress { .. }
    ));
    for i in 0..5 {
        assert_eq!(
            store
                .begin("other-scope", &format!("k{i}"), "f", TTL)
                .await
                .unwrap(),
            IdempotencyState::Started
        );
    }
    assert_eq!(
        store.begin("greedy", "k0", "f", TTL).await.unwrap(),
        IdempotencyState::Started,
        "the oldest key of the scope was evicted"
    );
}
