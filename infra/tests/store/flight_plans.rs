use chrono::{TimeDelta, Utc};
use domain::flight_plan::{Estimate, FlightPlan, FlightPlanFilter, FlightPlanState, Waypoint};
use domain::page::PageRequest;
use domain::ports::{DroneRepository, FlightPlanRepository};
use domain::position::Position;
use domain::shard::{slot_of, Slot};
use domain::{DroneId, FlightPlanId, OrgId, StoreError, UserId};
use infra::Store;

use crate::helpers::{at, drone, id_on, new_org};

fn waypoint(lat: f64, lon: f64, alt_m: f64, speed_mps: Option<f64>) -> Waypoint {
    Waypoint {
        position: Position::parse(lat, lon, alt_m).unwrap(),
        speed_mps,
        hold_s: None,
    }
}

/// A draft plan for `drone`, with an id routed to the drone's shard.
pub fn plan(org: OrgId, drone: DroneId, created_by: UserId) -> FlightPlan {
    let now = Utc::now();
    FlightPlan {
        id: FlightPlanId::for_slot(slot_of(drone)),
        org_id: org,
        drone_id: drone,
        name: "Survey north field".to_owned(),
        waypoints: vec![
            waypoint(52.5200, 13.4049, 0.0, None),
            Waypoint {
                hold_s: Some(12.5),
                ..waypoint(52.5210, 13.4060, 60.0, Some(8.0))
            },
            waypoint(52.5220, 13.4049, 0.0, Some(5.0)),
        ],
        planned_start: now + TimeDelta::hours(1),
        planned_end: now + TimeDelta::hours(2),
        state: FlightPlanState::Draft,
        estimate: Estimate {
            distance_m: 412.7,
            duration_s: 95.25,
        },
        created_by,
        created_at: now,
        updated_at: now,
        version: 1,
        rejection_reason: None,
        authorization_ref: Some("AUTH-2026-1".to_owned()),
        override_reason: None,
    }
}

pub async fn a_plan_round_trips_through_create_get_update(store: &Store) {
    let (org, admin) = new_org(store).await;
    let drone_id = id_on(store, 1);
    store
        .create_drone(drone(org, drone_id, "P-1"))
        .await
        .unwrap();
    let created = store
        .create_plan(plan(org, drone_id, admin.id))
        .await
        .unwrap();
    assert_eq!(
        store.get_plan(org, created.id).await.unwrap(),
        Some(created.clone())
    );

    let mut changed = created.clone();
    changed.name = "Survey south field".to_owned();
    changed.waypoints.truncate(2);
    changed.state = FlightPlanState::Submitted;
    changed.planned_start = at("2031-05-01T08:00:00.123456Z");
    changed.planned_end = at("2031-05-01T08:30:00Z");
    changed.estimate = Estimate {
        distance_m: 120.0,
        duration_s: 30.0,
    };
    changed.updated_at = Utc::now();
    let updated = store.update_plan(changed.clone(), 1).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, changed.name);
    assert_eq!(updated.waypoints, changed.waypoints);
    assert_eq!(updated.state, FlightPlanState::Submitted);
    assert_eq!(updated.planned_start, changed.planned_start);
    assert_eq!(updated.estimate, changed.estimate);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(updated.created_by, admin.id);
    assert_eq!(
        store.get_plan(org, created.id).await.unwrap(),
        Some(updated.clone())
    );

    let err = store.update_plan(changed.clone(), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionMismatch { .. }), "{err:?}");
    let missing = FlightPlan {
        id: FlightPlanId::for_slot(slot_of(drone_id)),
        ..changed
    };
    let err = store.update_plan(missing, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let err = store
        .create_plan(plan(org, id_on(store, 0), admin.id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "drone" }),
        "{err:?}"
    );

    // An id made for a slot on another shard cannot be stored beside its drone.
    let misrouted = FlightPlan {
        id: FlightPlanId::for_slot(Slot::new(0).unwrap()),
        ..plan(org, drone_id, admin.id)
    };
    let err = store.create_plan(misrouted).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

pub async fn plans_are_listed_and_counted_by_drone_state_and_time(store: &Store) {
    let (org, admin) = new_org(store).await;
    let (other, _) = new_org(store).await;
    let drones = [id_on(store, 0), id_on(store, 1)];
    for (i, id) in drones.iter().enumerate() {
        store
            .create_drone(drone(org, *id, &format!("L-{i}")))
            .await
            .unwrap();
    }
    let states = [
        FlightPlanState::Draft,
        FlightPlanState::Approved,
        FlightPlanState::Completed,
    ];
    let mut ids = Vec::new();
    for day in 1..=3 {
        for drone_id in drones {
            let p = FlightPlan {
                planned_start: at(&format!("2031-06-0{day}T10:00:00Z")),
                planned_end: at(&format!("2031-06-0{day}T11:00:00Z")),
                state: states[day - 1],
                ..plan(org, drone_id, admin.id)
            };
            ids.push(store.create_plan(p).await.unwrap().id);
        }
    }
    ids.sort();
    let list = |filter: FlightPlanFilter, limit: u16| async move {
        store
            .list_plans(org, &filter, PageRequest::first(limit))
            .await
            .unwrap()
    };

    let first = list(FlightPlanFilter::default(), 4).await;
    assert_eq!(
        first.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        ids[..4]
    );
    assert!(first.missing_shards.is_empty());
    let rest = store
        .list_plans(
            org,
            &FlightPlanFilter::default(),
            PageRequest {
                limit: 4,
                after: first.next_after,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        ids[4..]
    );
    assert_eq!(rest.next_after, None);

    let of_drone = list(
        FlightPlanFilter {
            drone_id: Some(drones[1]),
            ..Default::default()
        },
        50,
    )
    .await;
    assert_eq!(of_drone.items.len(), 3);
    assert!(of_drone.items.iter().all(|p| p.drone_id == drones[1]));

    let approved = list(
        FlightPlanFilter {
            state: Some(FlightPlanState::Approved),
            ..Default::default()
        },
        50,
    )
    .await;
    assert_eq!(approved.items.len(), 2);

    let window = |from: Option<&str>, to: Option<&str>| FlightPlanFilter {
        from: from.map(at),
        to: to.map(at),
        ..Default::default()
    };
    let inside = list(
        window(Some("2031-06-02T10:30:00Z"), Some("2031-06-02T10:45:00Z")),
        50,
    )
    .await;
    assert_eq!(inside.items.len(), 2);
    assert!(inside
        .items
        .iter()
        .all(|p| p.state == FlightPlanState::Approved));
    let touching = list(window(Some("2031-06-02T11:00:00Z"), None), 50).await;
    assert_eq!(touching.items.len(), 4, "ends are inclusive");
    let until = list(window(None, Some("2031-06-01T10:00:00Z")), 50).await;
    assert_eq!(until.items.len(), 2);
    let both = list(
        FlightPlanFilter {
            drone_id: Some(drones[0]),
            state: Some(FlightPlanState::Completed),
            from: Some(at("2031-06-03T10:59:59.999999Z")),
            to: None,
        },
        50,
    )
    .await;
    assert_eq!(both.items.len(), 1);

    let active = [FlightPlanState::Draft, FlightPlanState::Approved];
    assert_eq!(store.count_plans(org, drones[0], &active).await.unwrap(), 2);
    assert_eq!(
        store
            .count_plans(org, drones[0], &[FlightPlanState::Active])
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.count_plans(org, drones[0], &[]).await.unwrap(), 0);
    assert_eq!(
        store.count_plans(other, drones[0], &active).await.unwrap(),
        0
    );
}

pub async fn a_plan_of_another_org_is_not_found(store: &Store) {
    let (owner, admin) = new_org(store).await;
    let (stranger, intruder) = new_org(store).await;
    let drone_id = id_on(store, 0);
    store
        .create_drone(drone(owner, drone_id, "O-1"))
        .await
        .unwrap();
    let created = store
        .create_plan(plan(owner, drone_id, admin.id))
        .await
        .unwrap();

    assert_eq!(store.get_plan(stranger, created.id).await.unwrap(), None);
    let hijack = FlightPlan {
        org_id: stranger,
        name: "Hijack".to_owned(),
        ..created.clone()
    };
    let err = store.update_plan(hijack, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let listed = store
        .list_plans(
            stranger,
            &FlightPlanFilter::default(),
            PageRequest::first(50),
        )
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    let err = store
        .create_plan(plan(stranger, drone_id, intruder.id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "drone" }),
        "{err:?}"
    );
    assert_eq!(
        store.get_plan(owner, created.id).await.unwrap(),
        Some(created)
    );
}
