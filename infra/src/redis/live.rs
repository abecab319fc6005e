//! Live fan-out between replicas over Redis pub/sub. Every written batch is published, per
//! organisation, on `{prefix}live:{org_id}`; each process runs one `PSUBSCRIBE
//! {prefix}live:*` and feeds what arrives into its own [`LiveHub`], where the WebSocket and
//! SSE subscribers of that process pick it up. A process receives its own batches this way
//! too, so in the distributed set-up the writer publishes through the bridge only, never
//! straight into the hub.
//!
//! Delivery is at most once: batches published while a subscriber is reconnecting are not
//! replayed (a live view moves on; history is in the database).
//!
//! Alert changes travel the same way on `{prefix}alerts:{org_id}`, one JSON
//! [`AlertNotice`] per message, into each hub's replay buffer and its streams.

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_redis::redis::{pipe, Msg};
use domain::monitoring::AlertNotice;
use domain::telemetry::TelemetryPoint;
use domain::OrgId;
use tokio::task::JoinHandle;

use super::pubsub::subscribe_forever;
use super::{Redis, RedisError};
use crate::live::LiveHub;

#[derive(Clone)]
pub struct LiveBridge {
    redis: Redis,
    hub: LiveHub,
}

impl std::fmt::Debug for LiveBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBridge")
            .field("redis", &self.redis)
            .field("hub_subscribers", &self.hub.subscribers())
            .finish()
    }
}

impl LiveBridge {
    pub(super) fn new(redis: Redis, hub: LiveHub) -> Self {
        Self { redis, hub }
    }

    /// The hub that the subscriber feeds.
    pub fn hub(&self) -> &LiveHub {
        &self.hub
    }

    /// Publishes `points` to every replica (this one included): one message per
    /// organisation, all in one round trip. Best effort: a failure is logged (throttled)
    /// and the batch is not delivered live.
    #[tracing::instrument(skip_all, fields(points = points.len()))]
    pub async fn publish(&self, points: &[TelemetryPoint]) {
        let mut by_org: BTreeMap<OrgId, Vec<&TelemetryPoint>> = BTreeMap::new();
        for point in points {
            by_org.entry(point.org_id).or_default().push(point);
        }
        if by_org.is_empty() {
            return;
        }
        let mut p = pipe();
        for (org, points) in by_org {
            match serde_json::to_vec(&points) {
                Ok(payload) => {
                    p.cmd("PUBLISH")
                        .arg(self.redis.key(format_args!("live:{org}")))
                        .arg(payload)
                        .ignore();
                }
                Err(e) => self
                    .redis
                    .log()
                    .failed("live_encode", &RedisError::decode(e)),
            }
        }
        let _ = self.redis.query_pipe::<()>("live_publish", p).await;
    }

    /// Publishes alert changes to every replica (this one included), in one round trip.
    /// Best effort, like positions: the alerts themselves are stored on their shards.
    pub async fn publish_alerts(&self, notices: &[Arc<AlertNotice>]) {
        if notices.is_empty() {
            return;
        }
        let mut p = pipe();
        for notice in notices {
            match serde_json::to_vec(notice.as_ref()) {
                Ok(payload) => {
                    p.cmd("PUBLISH")
                        .arg(
                            self.redis
                                .key(format_args!("alerts:{}", notice.alert.org_id)),
                        )
                        .arg(payload)
                        .ignore();
                }
                Err(e) => self
                    .redis
                    .log()
                    .failed("alerts_encode", &RedisError::decode(e)),
            }
        }
        let _ = self.redis.query_pipe::<()>("alerts_publish", p).await;
    }

    /// Starts the subscriber tasks of this process (positions and alerts). They run until
    /// aborted, reconnecting whenever the connection is lost (see [`subscribe_forever`]).
    pub fn start_subscriber(&self) -> JoinHandle<()> {
        let (redis, hub) = (self.redis.clone(), self.hub.clone());
        let alerts = tokio::spawn(subscribe_forever(
            redis.clone(),
            redis.key(format_args!("alerts:*")),
            "alerts_subscribe",
            || {},
            {
                let (redis, hub) = (redis.clone(), hub.clone());
                move |msg| deliver_alert(&redis, &hub, msg)
            },
        ));
        let pattern = redis.key(format_args!("live:*"));
        let positions = subscribe_forever(
            redis.clone(),
            pattern,
            "live_subscribe",
            || {},
            move |msg| deliver(&redis, &hub, msg),
        );
        tokio::spawn(async move {
            // Aborting this task ends both subscriptions.
            struct AbortOnDrop(JoinHandle<()>);
            impl Drop for AbortOnDrop {
                fn drop(&mut self) {
                    self.0.abort();
                }
            }
            let _alerts = AbortOnDrop(alerts);
            positions.await;
        })
    }
}

fn deliver_alert(redis: &Redis, hub: &LiveHub, msg: &Msg) {
    match serde_json::from_slice::<AlertNotice>(msg.get_payload_bytes()) {
        Ok(notice) => hub.publish_alert(Arc::new(notice)),
        Err(e) => redis.log().failed("alerts_decode", &RedisError::decode(e)),
    }
}

fn deliver(redis: &Redis, hub: &LiveHub, msg: &Msg) {
    match serde_json::from_slice::<Vec<TelemetryPoint>>(msg.get_payload_bytes()) {
        Ok(points) if points.is_empty() => {}
        Ok(points) => hub.publish(Arc::from(points)),
        Err(e) => redis.log().failed("live_decode", &RedisError::decode(e)),
    }
}
