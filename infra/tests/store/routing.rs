use std::time::Duration;

use domain::drone::DroneFilter;
use domain::flight_plan::FlightPlanFilter;
use domain::page::PageRequest;
use domain::ports::{DroneRepository, FlightPlanRepository, HealthCheck};
use domain::StoreError;
use infra::{StorageSettings, Store};

use crate::helpers::migrate;
use crate::helpers::{drone, id_on, new_org, ready, settings, sqlite_url, TestDb};

pub async fn the_slot_map_is_recorded_and_then_enforced(db: &TestDb) {
    db.store.check_slot_map().await.unwrap();

    let explicit = StorageSettings {
        slot_map: Some("0-511:0, 512-1023:1".to_owned()),
        ..db.settings.clone()
    };
    ready(&explicit).await;

    let moved = StorageSettings {
        slot_map: Some("0-255:0,256-1023:1".to_owned()),
        ..db.settings.clone()
    };
    let store = Store::connect(&moved).await.unwrap();
    let err = format!("{:#}", store.check_slot_map().await.unwrap_err());
    assert!(err.contains("admin move-slots"), "{err}");
    assert!(err.contains("0-511:0,512-1023:1"), "{err}");

    let fewer = StorageSettings {
        shard_urls: db.settings.shard_urls[..1].to_vec(),
        ..db.settings.clone()
    };
    let store = Store::connect(&fewer).await.unwrap();
    assert_eq!(store.shard_count(), 1);
    assert!(store.check_slot_map().await.is_err());

    let invalid = StorageSettings {
        slot_map: Some("0-511:0".to_owned()),
        ..db.settings.clone()
    };
    let err = format!("{:#}", Store::connect(&invalid).await.unwrap_err());
    assert!(err.contains("slot map"), "{err}");
}

pub async fn pools_and_health_are_reported_per_database(db: &TestDb) {
    let health = db.store.check().await;
    let names: Vec<_> = health.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["catalog", "shard-0", "shard-1"]);
    assert!(
        health.iter().all(|(_, error)| error.is_none()),
        "{health:?}"
    );

    let stats = db.store.pool_stats();
    let names: Vec<_> = stats.iter().map(|s| s.database.as_str()).collect();
    assert_eq!(names, ["catalog", "shard-0", "shard-1"]);
    for s in &stats {
        assert_eq!(s.max, 5);
        assert!(s.size >= 1 && s.idle <= s.size, "{s:?}");
    }
}

/// Shard 1 is replaced by an empty database, so every query there fails.
pub async fn a_failing_shard_is_left_out_of_lists_and_reported() {
    let db = TestDb::sqlite().await;
    let store = &db.store;
    let (org, admin) = new_org(store).await;
    let healthy = id_on(store, 0);
    let lost = id_on(store, 1);
    store
        .create_drone(drone(org, healthy, "H-0"))
        .await
        .unwrap();
    store.create_drone(drone(org, lost, "H-1")).await.unwrap();
    store
        .create_plan(crate::flight_plans::plan(org, healthy, admin.id))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let degraded = StorageSettings {
        shard_urls: vec![
            db.settings.shard_urls[0].clone(),
            sqlite_url(dir.path(), "empty.db").into(),
        ],
        ..db.settings.clone()
    };
    let degraded = Store::connect(&degraded).await.unwrap();
    let page = degraded
        .list_drones(org, &DroneFilter::default(), PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        [healthy]
    );
    assert_eq!(page.missing_shards, [1]);
    let plans = degraded
        .list_plans(org, &FlightPlanFilter::default(), PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(plans.items.len(), 1);
    assert_eq!(plans.missing_shards, [1]);
    assert!(degraded.get_drone(org, lost).await.is_err());
    assert!(degraded.get_drone(org, healthy).await.unwrap().is_some());

    let all_down = StorageSettings {
        shard_urls: vec![
            sqlite_url(dir.path(), "a.db").into(),
            sqlite_url(dir.path(), "b.db").into(),
        ],
        ..db.settings.clone()
    };
    let all_down = Store::connect(&all_down).await.unwrap();
    assert!(all_down
        .list_drones(org, &DroneFilter::default(), PageRequest::first(50))
        .await
        .is_err());
}

pub async fn connection_errors_name_the_database_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no-such-dir");
    let bad_shard = settings(
        sqlite_url(dir.path(), "catalog.db"),
        vec![
            sqlite_url(dir.path(), "s0.db"),
            sqlite_url(&missing_dir, "s1.db"),
        ],
    );
    let err = format!("{:#}", Store::connect(&bad_shard).await.unwrap_err());
    assert!(err.contains("shard 1"), "{err}");

    let unreachable = StorageSettings {
        connect_timeout: Duration::from_secs(2),
        ..settings(
            "postgres://nimbus:hunter2@127.0.0.1:1/nf_catalog".to_owned(),
            vec![sqlite_url(dir.path(), "s0.db")],
        )
    };
    let err = format!("{:#}", Store::connect(&unreachable).await.unwrap_err());
    assert!(err.contains("catalog"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("nimbus:***@127.0.0.1:1"), "{err}");
}

/// PostgreSQL: shard 1's database disappears while the store is running.
pub async fn a_lost_shard_is_unavailable_and_left_out_of_lists(db: &TestDb) {
    let store = &db.store;
    let (org, _) = new_org(store).await;
    let healthy = id_on(store, 0);
    let lost = id_on(store, 1);
    store
        .create_drone(drone(org, healthy, "L-0"))
        .await
        .unwrap();
    store.create_drone(drone(org, lost, "L-1")).await.unwrap();

    db.lose_database(2).await;

    let err = store.get_drone(org, lost).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ShardUnavailable { shard: 1, .. }),
        "{err:?}"
    );
    let page = store
        .list_drones(org, &DroneFilter::default(), PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        [healthy]
    );
    assert_eq!(page.missing_shards, [1]);
    let health = store.check().await;
    assert!(health[2].1.is_some(), "{health:?}");
    assert!(health[1].1.is_none(), "{health:?}");
}

/// Each connection to `sqlite::memory:` would open a database of its own.
pub async fn an_in_memory_store_keeps_to_one_connection_per_database() {
    let settings = settings(
        "sqlite::memory:".to_owned(),
        vec!["sqlite::memory:".to_owned()],
    );
    let store = ready(&settings).await;
    let (org, _) = new_org(&store).await;
    let id = id_on(&store, 0);
    store.create_drone(drone(org, id, "MEM-1")).await.unwrap();
    assert!(store.get_drone(org, id).await.unwrap().is_some());
    assert!(store.pool_stats().iter().all(|s| s.max == 1));
}

/// Replicas that start at once on new databases all run the migrations; they must take
/// turns instead of failing on each other's half-created tables.
pub async fn replicas_starting_together_migrate_in_turn() {
    let db = TestDb::postgres_unmigrated().await;
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(Store::connect(&db.settings).await.unwrap());
    }
    let results = futures::future::join_all(replicas.iter().map(|s| {
        let (catalog, shards) = s.databases();
        migrations::run(catalog, shards)
    }))
    .await;
    for result in results {
        result.unwrap();
    }
    migrate(&db.store).await;
    db.store.check_slot_map().await.unwrap();
    drop(replicas);
    db.drop_databases().await;
}
