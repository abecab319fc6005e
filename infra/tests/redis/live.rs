use std::sync::Arc;
use std::time::Duration;

use domain::telemetry::TelemetryPoint;
use domain::OrgId;
use infra::live::LiveHub;
use tokio::sync::broadcast;

use crate::helpers::{point, redis, unique_prefix};

/// Batches that arrive within `within`, until `count` points are in.
pub async fn receive(
    rx: &mut broadcast::Receiver<Arc<[TelemetryPoint]>>,
    count: usize,
    within: Duration,
) -> Vec<TelemetryPoint> {
    let mut points = Vec::new();
    let _ = tokio::time::timeout(within, async {
        while points.len() < count {
            match rx.recv().await {
                Ok(batch) => points.extend(batch.iter().copied()),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
    .await;
    points
}

/// Waits until the subscriber is listening, by publishing probes until one arrives.
pub async fn until_subscribed(
    publisher: &infra::redis::LiveBridge,
    rx: &mut broadcast::Receiver<Arc<[TelemetryPoint]>>,
    within: Duration,
) -> bool {
    let probe_org = OrgId::new();
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        publisher.publish(&[point(probe_org, 0)]).await;
        let got = receive(rx, 1, Duration::from_millis(100)).await;
        if got.iter().any(|p| p.org_id == probe_org) {
            // Drain probes still in flight.
            let _ = receive(rx, usize::MAX, Duration::from_millis(50)).await;
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_batch_published_on_one_replica_reaches_the_hub_of_another() {
    let prefix = unique_prefix();
    let hub = LiveHub::new(64);
    let mut rx = hub.subscribe();
    let subscriber = redis(&prefix).live_bridge(hub);
    let task = subscriber.start_subscriber();
    let publisher = redis(&prefix).live_bridge(LiveHub::new(1));
    assert!(until_subscribed(&publisher, &mut rx, Duration::from_secs(5)).await);

    let (org_a, org_b) = (OrgId::new(), OrgId::new());
    let batch: Vec<_> = (0..5)
        .map(|i| point(if i % 2 == 0 { org_a } else { org_b }, i))
        .collect();
    publisher.publish(&batch).await;
    let mut got = receive(&mut rx, batch.len(), Duration::from_secs(5)).await;
    let key = |p: &TelemetryPoint| (p.org_id, p.drone_id);
    got.sort_by_key(key);
    let mut want = batch.clone();
    want.sort_by_key(key);
    assert_eq!(got, want);
    task.abort();
}

#[tokio::test]
async fn another_prefix_does_not_hear_the_batches() {
    let hub = LiveHub::new(64);
    let mut rx = hub.subscribe();
    let prefix = unique_prefix();
    let task = redis(&prefix).live_bridge(hub).start_subscriber();
    let ours = redis(&prefix).live_bridge(LiveHub::new(1));
    assert!(until_subscribed(&ours, &mut rx, Duration::from_secs(5)).await);

    let theirs = redis(&unique_prefix()).live_bridge(LiveHub::new(1));
    theirs.publish(&[point(OrgId::new(), 0)]).await;
    assert!(receive(&mut rx, 1, Duration::from_millis(300))
        .await
        .is_empty());
    task.abort();
}
