use chrono::Utc;
use domain::api_key::ApiKey;
use domain::ports::{ApiKeyRepository, DroneRepository};
use domain::{ApiKeyId, DroneId, OrgId, StoreError};
use infra::secrets::{digest_matches, new_api_key, sha256_hex};
use infra::Store;

use crate::helpers::{drone, id_on, new_org};

fn key(org: OrgId, drone: DroneId, prefix: &str) -> ApiKey {
    ApiKey {
        id: ApiKeyId::new(),
        org_id: org,
        drone_id: drone,
        name: format!("key {prefix}"),
        prefix: prefix.to_owned(),
        created_at: Utc::now(),
    }
}

pub async fn api_keys_are_found_by_prefix_and_scoped_by_drone(store: &Store) {
    let (org, _) = new_org(store).await;
    let (stranger, _) = new_org(store).await;
    let drone_id = id_on(store, 1);
    let other_drone = id_on(store, 0);
    store
        .create_drone(drone(org, drone_id, "K-1"))
        .await
        .unwrap();

    let (prefix, secret) = new_api_key();
    let first = store
        .create_api_key(key(org, drone_id, &prefix), sha256_hex(&secret))
        .await
        .unwrap();
    let (prefix2, secret2) = new_api_key();
    let second = store
        .create_api_key(key(org, drone_id, &prefix2), sha256_hex(&secret2))
        .await
        .unwrap();

    let err = store
        .create_api_key(key(org, drone_id, &prefix), sha256_hex("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(domain::ConflictKind::KeyPrefix)),
        "{err:?}"
    );

    let listed = store.list_api_keys(org, drone_id).await.unwrap();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort_by_key(|k| k.id);
    assert_eq!(listed, expected);
    assert!(store
        .list_api_keys(stranger, drone_id)
        .await
        .unwrap()
        .is_empty());

    let (found, digest) = store.find_api_key(&prefix).await.unwrap().unwrap();
    assert_eq!(found, first);
    assert!(digest_matches(&secret, &digest));
    assert!(!digest_matches(&secret2, &digest));
    assert_eq!(store.find_api_key("nosuchprefix").await.unwrap(), None);

    for (o, d) in [(stranger, drone_id), (org, other_drone)] {
        let err = store.delete_api_key(o, d, first.id).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    }
    store.delete_api_key(org, drone_id, first.id).await.unwrap();
    assert_eq!(store.find_api_key(&prefix).await.unwrap(), None);
    assert_eq!(
        store.list_api_keys(org, drone_id).await.unwrap(),
        vec![second]
    );
}
