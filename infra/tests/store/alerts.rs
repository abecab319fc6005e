use domain::monitoring::{
    AlertEvent, AlertFilter, AlertKind, Change, Detail, NoticeChange, Observation, Severity,
};
use domain::page::PageRequest;
use domain::ports::{AlertRepository, DroneRepository};
use domain::{DroneId, OrgId};

use crate::helpers::{at, drone, new_org, TestDb};

fn lost(org: OrgId, drone: DroneId, change: Change, second: u32) -> Observation {
    Observation {
        org_id: org,
        event: AlertEvent {
            drone_id: drone,
            kind: AlertKind::LinkLost,
            change,
            severity: Severity::Critical,
            at: at(&format!("2026-12-04T10:00:{second:02}Z")),
            detail: Detail::Link { silent_s: 5.0 },
        },
        flight_plan_id: None,
        point: None,
    }
}

/// A whole fleet losing its link at once (more drones than one insert statement takes, on
/// both shards) opens one alert each; the same again counts on them; a drone whose batch
/// also resolves its alert ends resolved; and the fleet's next points resolve them all.
pub async fn a_burst_of_alert_changes_opens_each_alert_once(db: &TestDb) {
    let (org, _) = new_org(&db.store).await;
    let drones: Vec<DroneId> = (0..1_100).map(|_| DroneId::new()).collect();
    for (i, id) in drones.iter().enumerate() {
        db.store
            .create_drone(drone(org, *id, &format!("BURST-{i:04}")))
            .await
            .unwrap();
    }
    let raised: Vec<Observation> = drones
        .iter()
        .map(|d| lost(org, *d, Change::Raised, 5))
        .collect();
    let notices = db.store.record_observations(&raised).await.unwrap();
    assert_eq!(notices.len(), drones.len());
    assert!(notices.iter().all(|n| n.change == NoticeChange::Raised));

    let mut again: Vec<Observation> = drones
        .iter()
        .map(|d| lost(org, *d, Change::Raised, 6))
        .collect();
    // The first drone's batch also resolves its alert, after raising it once more.
    again.push(lost(org, drones[0], Change::Resolved, 7));
    let notices = db.store.record_observations(&again).await.unwrap();
    assert_eq!(notices.len(), drones.len() + 1);
    let open = AlertFilter {
        state: Some(domain::monitoring::StateFilter::Active),
        ..AlertFilter::default()
    };
    let mut count = 0;
    let mut page = PageRequest::first(100);
    loop {
        let found = db.store.list_alerts(org, &open, page).await.unwrap();
        for alert in &found.items {
            assert_eq!(alert.count, 2, "a repeat counts on the open alert");
            assert_ne!(alert.drone_id, drones[0]);
        }
        count += found.items.len();
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(
        count,
        drones.len() - 1,
        "one open alert per drone, none twice"
    );

    let back: Vec<Observation> = drones
        .iter()
        .map(|d| lost(org, *d, Change::Resolved, 8))
        .collect();
    let notices = db.store.record_observations(&back).await.unwrap();
    assert_eq!(
        notices.len(),
        drones.len() - 1,
        "the resolved one stays as it is"
    );
    let still = db
        .store
        .list_alerts(org, &open, PageRequest::first(10))
        .await
        .unwrap();
    assert!(still.items.is_empty());
}
