use std::collections::HashSet;

use domain::api_key::ApiKey;
use domain::drone::{DroneFilter, DronePatch, DroneStatus, Serial};
use domain::page::PageRequest;
use domain::ports::{ApiKeyRepository, DroneRepository, FlightPlanRepository};
use domain::shard::ShardId;
use domain::{ApiKeyId, StoreError};
use infra::Store;

use crate::helpers::{drone, id_on, new_org};

pub async fn a_serial_is_unique_per_organisation_across_shards(store: &Store) {
    let (org_a, _) = new_org(store).await;
    let (org_b, _) = new_org(store).await;
    let first = id_on(store, 0);
    let second = id_on(store, 1);
    store
        .create_drone(drone(org_a, first, "SN-1"))
        .await
        .unwrap();

    let err = store
        .create_drone(drone(org_a, second, "SN-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(domain::ConflictKind::Serial)),
        "{err:?}"
    );
    assert!(store.locate_drone(second).await.unwrap().is_empty());

    store
        .create_drone(drone(org_b, second, "SN-1"))
        .await
        .unwrap();
    // Serials compare exactly.
    store
        .create_drone(drone(org_a, id_on(store, 1), "sn-1"))
        .await
        .unwrap();
}

pub async fn a_drone_is_stored_on_its_own_shard_only(store: &Store) {
    let (org, _) = new_org(store).await;
    let mut used = HashSet::new();
    for i in 0..20 {
        let id = id_on(store, i % 2);
        store
            .create_drone(drone(org, id, &format!("PLACE-{i}")))
            .await
            .unwrap();
        let home = store.slot_map().shard_of(id);
        assert_eq!(store.locate_drone(id).await.unwrap(), vec![home]);
        used.insert(home);
    }
    assert_eq!(used, HashSet::from([ShardId(0), ShardId(1)]));
}

pub async fn a_stored_drone_reads_back_as_it_was_written(store: &Store) {
    let (org, _) = new_org(store).await;
    let mut bare = drone(org, id_on(store, 1), "RT-2");
    bare.home = None;
    bare.manufacturer = None;
    bare.firmware_version = None;
    for original in [drone(org, id_on(store, 0), "RT-1"), bare] {
        let created = store.create_drone(original.clone()).await.unwrap();
        assert_eq!(created.serial, original.serial);
        assert_eq!(created.home, original.home);
        assert_eq!(created.version, 1);
        let read = store.get_drone(org, original.id).await.unwrap();
        assert_eq!(read, Some(created));
    }
}

pub async fn listing_walks_every_drone_once_across_shards(store: &Store) {
    let (org, _) = new_org(store).await;
    let (other, _) = new_org(store).await;
    let mut expected = Vec::new();
    for i in 0..300 {
        let d = store
            .create_drone(drone(org, id_on(store, (i % 2) as u16), &format!("W-{i}")))
            .await
            .unwrap();
        expected.push(d.id.as_uuid());
    }
    store
        .create_drone(drone(other, id_on(store, 0), "W-0"))
        .await
        .unwrap();
    expected.sort();

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_drones(
                org,
                &DroneFilter::default(),
                PageRequest { limit: 37, after },
            )
            .await
            .unwrap();
        assert!(page.missing_shards.is_empty());
        assert!(page.items.len() <= 37);
        seen.extend(page.items.iter().map(|d| d.id.as_uuid()));
        pages += 1;
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every drone exactly once, in id order");
    assert_eq!(pages, 300usize.div_ceil(37));
}

pub async fn list_filters_combine_across_shards(store: &Store) {
    let (org, _) = new_org(store).await;
    for i in 0..40u16 {
        let mut d = drone(org, id_on(store, i % 2), &format!("F_{i}"));
        d.name = format!("Falcon-{i}");
        if i % 4 == 0 {
            d.status = DroneStatus::Maintenance;
        }
        if i % 5 == 0 {
            d.model = "Matrice 30T".to_owned();
        }
        if i == 7 {
            d.name = "50% Falcon".to_owned();
        }
        store.create_drone(d).await.unwrap();
    }
    let all = |filter: DroneFilter| async move {
        let page = store
            .list_drones(org, &filter, PageRequest::first(500))
            .await
            .unwrap();
        assert_eq!(page.next_after, None);
        page.items
    };
    let maintenance = all(DroneFilter {
        status: Some(DroneStatus::Maintenance),
        ..Default::default()
    })
    .await;
    assert_eq!(maintenance.len(), 10);
    assert!(maintenance
        .iter()
        .all(|d| d.status == DroneStatus::Maintenance));

    let both = all(DroneFilter {
        status: Some(DroneStatus::Maintenance),
        model: Some("Matrice 30T".to_owned()),
        q: None,
    })
    .await;
    assert_eq!(both.len(), 2, "i = 0 and 20");

    // Case-insensitive, on name or serial: Falcon-1, Falcon-10..19 (and F_1, F_10..19).
    let named = all(DroneFilter {
        q: Some("FALCON-1".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(named.len(), 11);
    let by_serial = all(DroneFilter {
        q: Some("f_1".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_serial.len(), 11);
    let underscore = all(DroneFilter {
        q: Some("N_1".to_owned()),
        ..Default::default()
    })
    .await;
    assert!(
        underscore.is_empty(),
        "`_` matches only itself, not the `-` of Falcon-1"
    );
    let percent = all(DroneFilter {
        q: Some("50%".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(percent.len(), 1);
    assert_eq!(percent[0].name, "50% Falcon");
    let only_percent = all(DroneFilter {
        q: Some("%".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(only_percent.len(), 1, "`%` matches only itself");
}

pub async fn updating_with_a_stale_version_is_a_version_mismatch(store: &Store) {
    let (org, _) = new_org(store).await;
    let id = id_on(store, 1);
    let created = store.create_drone(drone(org, id, "V-1")).await.unwrap();
    let rename = DronePatch {
        name: Some("Renamed".to_owned()),
        home: Some(None),
        ..Default::default()
    };
    let updated = store.update_drone(org, id, &rename, Some(1)).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.home, None);
    assert_eq!(updated.serial, created.serial);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(
        store.get_drone(org, id).await.unwrap(),
        Some(updated.clone())
    );

    let stale = DronePatch {
        status: Some(DroneStatus::Grounded),
        ..Default::default()
    };
    let err = store
        .update_drone(org, id, &stale, Some(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionMismatch { .. }), "{err:?}");
    assert_eq!(store.get_drone(org, id).await.unwrap(), Some(updated));

    let unguarded = store.update_drone(org, id, &stale, None).await.unwrap();
    assert_eq!(unguarded.version, 3);
    assert_eq!(unguarded.status, DroneStatus::Grounded);
}

pub async fn changing_a_serial_moves_its_reservation(store: &Store) {
    let (org, _) = new_org(store).await;
    let id = id_on(store, 0);
    store.create_drone(drone(org, id, "OLD-1")).await.unwrap();
    let taken = id_on(store, 1);
    store
        .create_drone(drone(org, taken, "TAKEN-1"))
        .await
        .unwrap();

    let to_taken = DronePatch {
        serial: Some(Serial::parse("TAKEN-1").unwrap()),
        ..Default::default()
    };
    let err = store
        .update_drone(org, id, &to_taken, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(domain::ConflictKind::Serial)),
        "{err:?}"
    );
    let unchanged = store.get_drone(org, id).await.unwrap().unwrap();
    assert_eq!(unchanged.serial.as_str(), "OLD-1");
    assert_eq!(unchanged.version, 1);

    let to_new = DronePatch {
        serial: Some(Serial::parse("NEW-1").unwrap()),
        ..Default::default()
    };
    let moved = store.update_drone(org, id, &to_new, Some(1)).await.unwrap();
    assert_eq!(moved.serial.as_str(), "NEW-1");

    // The old serial is free again, the new one is taken, on either shard.
    store
        .create_drone(drone(org, id_on(store, 1), "OLD-1"))
        .await
        .unwrap();
    let err = store
        .create_drone(drone(org, id_on(store, 1), "NEW-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(domain::ConflictKind::Serial)),
        "{err:?}"
    );

    // A failed version check leaves the requested serial free.
    let stale = DronePatch {
        serial: Some(Serial::parse("NEWER-1").unwrap()),
        ..Default::default()
    };
    let err = store
        .update_drone(org, id, &stale, Some(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionMismatch { .. }), "{err:?}");
    store
        .create_drone(drone(org, id_on(store, 0), "NEWER-1"))
        .await
        .unwrap();
}

pub async fn a_drone_of_another_org_is_not_found(store: &Store) {
    let (owner, _) = new_org(store).await;
    let (stranger, _) = new_org(store).await;
    let id = id_on(store, 1);
    let created = store
        .create_drone(drone(owner, id, "MINE-1"))
        .await
        .unwrap();

    assert_eq!(store.get_drone(stranger, id).await.unwrap(), None);
    let patch = DronePatch {
        name: Some("Stolen".to_owned()),
        ..Default::default()
    };
    let err = store
        .update_drone(stranger, id, &patch, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "drone" }),
        "{err:?}"
    );
    let err = store
        .update_drone(stranger, id, &patch, Some(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let err = store.delete_drone(stranger, id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let listed = store
        .list_drones(stranger, &DroneFilter::default(), PageRequest::first(50))
        .await
        .unwrap();
    assert!(listed.items.is_empty());

    assert_eq!(store.get_drone(owner, id).await.unwrap(), Some(created));
    let err = store
        .delete_drone(owner, id_on(store, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub async fn deleting_a_drone_frees_its_serial_and_removes_its_keys_and_plans(store: &Store) {
    let (org, admin) = new_org(store).await;
    let id = id_on(store, 0);
    store.create_drone(drone(org, id, "GONE-1")).await.unwrap();
    let key = ApiKey {
        id: ApiKeyId::new(),
        org_id: org,
        drone_id: id,
        name: "gateway".to_owned(),
        prefix: format!("del{}", &uuid::Uuid::new_v4().simple().to_string()[..9]),
        created_at: chrono::Utc::now(),
    };
    store
        .create_api_key(key.clone(), "00".repeat(32))
        .await
        .unwrap();
    let plan = crate::flight_plans::plan(org, id, admin.id);
    store.create_plan(plan.clone()).await.unwrap();

    store.delete_drone(org, id).await.unwrap();

    assert_eq!(store.get_drone(org, id).await.unwrap(), None);
    assert!(store.locate_drone(id).await.unwrap().is_empty());
    assert_eq!(store.get_plan(org, plan.id).await.unwrap(), None);
    assert_eq!(store.find_api_key(&key.prefix).await.unwrap(), None);
    assert!(store.list_api_keys(org, id).await.unwrap().is_empty());
    store
        .create_drone(drone(org, id_on(store, 1), "GONE-1"))
        .await
        .unwrap();
    let err = store.delete_drone(org, id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}
