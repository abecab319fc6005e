use domain::shard::ShardId;
use domain::DroneId;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{block_database, body, shard_database_name, spawn, Backend, TestApp};

async fn each_drone_lives_on_the_shard_its_slot_maps_to(app: TestApp) {
    let org = app.org("shards").await;
    let mut per_shard = [0; 2];
    for i in 0..40 {
        let drone = app.drone(&org.operator, &format!("SHARD-{i}")).await;
        let id: DroneId = drone["id"].as_str().unwrap().parse().unwrap();
        let expected = app.store.slot_map().shard_of(id);
        let found = app.store.locate_drone(id).await.unwrap();
        assert_eq!(
            found,
            vec![expected],
            "drone {id} is not (only) on shard {expected}"
        );
        per_shard[expected.0 as usize] += 1;
    }
    assert!(
        per_shard.iter().all(|n| *n > 0),
        "40 drones should reach both shards: {per_shard:?}"
    );
    assert_eq!(
        app.store
            .slot_map()
            .shard_of_slot(domain::shard::Slot::new(0).unwrap()),
        ShardId(0)
    );
}

both_backends!(each_drone_lives_on_the_shard_its_slot_maps_to);

/// DESIGN §3: a shard that is down makes only its own drones unavailable.
#[tokio::test]
async fn a_down_shard_hides_only_its_own_drones() {
    let app = spawn(Backend::Postgres).await;
    let org = app.org("outage").await;
    let mut on = [Vec::new(), Vec::new()];
    let mut i = 0;
    while on[0].len() < 3 || on[1].len() < 3 {
        let drone = app.drone(&org.operator, &format!("OUT-{i}")).await;
        i += 1;
        let id: DroneId = drone["id"].as_str().unwrap().parse().unwrap();
        on[app.store.slot_map().shard_of(id).0 as usize].push(id);
    }
    block_database(&shard_database_name(&app, 1)).await;
    let healthy = app
        .get(&format!("/api/v1/drones/{}", on[0][0]), &org.viewer)
        .await;
    assert_eq!(healthy.status(), StatusCode::OK);
    let down = app
        .get(&format!("/api/v1/drones/{}", on[1][0]), &org.viewer)
        .await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.headers().contains_key("retry-after"));
    let list = body(app.get("/api/v1/drones?limit=500", &org.viewer).await).await;
    assert_eq!(list["incomplete"], true);
    assert_eq!(list["items"].as_array().unwrap().len(), on[0].len());
}

/// The embedded default: one SQLite shard in the data directory, nothing else configured.
#[tokio::test]
async fn the_embedded_default_needs_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = nimbusfleet::settings::Settings::load(None, &Default::default()).unwrap();
    settings.server.bind = "127.0.0.1:0".parse().unwrap();
    settings.storage.data_dir = dir.path().join("data");
    let app = crate::helpers::spawn_with(Backend::Sqlite, settings, dir).await;
    assert_eq!(app.store.shard_count(), 1);
    let org = app.org("embedded").await;
    app.drone(&org.operator, "EMB-1").await;
    assert!(app.settings.storage.data_dir.join("catalog.db").exists());
    assert!(app.settings.storage.data_dir.join("shard-0.db").exists());
}

/// With the catalog down, logins answer 503 (not 500) and drones on healthy shards stay
/// readable to users who are already logged in.
#[tokio::test]
async fn a_down_catalog_is_503_and_shards_keep_serving() {
    let app = spawn(Backend::Postgres).await;
    let org = app.org("catalog").await;
    let drone = app.drone(&org.operator, "CAT-1").await;
    block_database(&crate::helpers::catalog_database_name(&app)).await;
    let login = app.login(&org.admin_email, crate::helpers::PASSWORD).await;
    assert!(login.headers().contains_key("retry-after"));
    crate::helpers::problem(
        login,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    let read = app
        .get(
            &format!("/api/v1/drones/{}", drone["id"].as_str().unwrap()),
            &org.viewer,
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
}
