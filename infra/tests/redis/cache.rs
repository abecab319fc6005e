use std::time::Duration;

use domain::platform::Cache;

use crate::helpers::{redis, unique_prefix};

#[tokio::test]
async fn a_cached_value_reads_back_until_deleted() {
    let cache = redis(&unique_prefix()).cache();
    assert_eq!(cache.get("drone:1").await, None);
    cache
        .set(
            "drone:1",
            b"\x00\xffbytes".to_vec(),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(cache.get("drone:1").await, Some(b"\x00\xffbytes".to_vec()));
    cache
        .set("drone:1", b"newer".to_vec(), Duration::from_secs(30))
        .await;
    assert_eq!(cache.get("drone:1").await, Some(b"newer".to_vec()));
    cache.delete("drone:1").await;
    assert_eq!(cache.get("drone:1").await, None);
}

#[tokio::test]
async fn a_cached_value_expires_after_its_ttl() {
    let cache = redis(&unique_prefix()).cache();
    cache
        .set("short", b"s".to_vec(), Duration::from_millis(100))
        .await;
    cache
        .set("long", b"l".to_vec(), Duration::from_secs(30))
        .await;
    assert_eq!(cache.get("short").await, Some(b"s".to_vec()));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(cache.get("short").await, None);
    assert_eq!(cache.get("long").await, Some(b"l".to_vec()));
}

#[tokio::test]
async fn a_zero_ttl_removes_the_value() {
    let cache = redis(&unique_prefix()).cache();
    cache.set("k", b"1".to_vec(), Duration::from_secs(30)).await;
    cache.set("k", b"2".to_vec(), Duration::ZERO).await;
    assert_eq!(cache.get("k").await, None);
}

#[tokio::test]
async fn replicas_with_one_prefix_share_the_cache_and_other_prefixes_do_not() {
    let prefix = unique_prefix();
    redis(&prefix)
        .cache()
        .set("k", b"v".to_vec(), Duration::from_secs(30))
        .await;
    assert_eq!(redis(&prefix).cache().get("k").await, Some(b"v".to_vec()));
    assert_eq!(redis(&unique_prefix()).cache().get("k").await, None);
}
