//! Live fan-out between replicas over Redis pub/sub. Every written batch is published, per
//! organisation, on `{prefix}live:{org_id}`; each process runs one `PSUBSCRIBE
//! {prefix}live:*` and feeds what arrives into its own [`LiveHub`], where the WebSocket and
//! SSE subscribers of that process pick it up. A process receives its own batches this way
//! too, so in the distributed set-up the writer publishes through the bridge only, never
//! straight into the hub.
//!
//! Delivery is at most once: batches published while a subscriber is reconnecting are not
//! replayed (a live view moves on; history is in the database).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::aio::{PubSubSink, PubSubStream};
use deadpool_redis::redis::{pipe, Msg, Value};
use domain::telemetry::TelemetryPoint;
use domain::OrgId;
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Redis, RedisError};
use crate::live::LiveHub;

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Connecting and subscribing; more generous than one command's timeout since it happens
/// once per connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A quiet subscription is checked this often, so that a connection that died silently (a
/// vanished host, a dropped NAT entry) is noticed and replaced.
const PING_EVERY: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(2);

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

#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("the subscription connection closed")]
    Closed,
    #[error("the subscription connection did not answer a ping")]
    Ping(#[source] RedisError),
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

    /// Starts the one subscriber task of this process. It runs until aborted, reconnecting
    /// with backoff (50 ms doubling to 2 s, jittered) whenever the connection is lost.
    pub fn start_subscriber(&self) -> JoinHandle<()> {
        tokio::spawn(subscribe_forever(self.redis.clone(), self.hub.clone()))
    }
}

async fn subscribe_forever(redis: Redis, hub: LiveHub) {
    let pattern = redis.key(format_args!("live:*"));
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        match connect(&redis, &pattern).await {
            Ok((sink, stream)) => {
                redis
                    .observer()
                    .command("live_subscribe", true, started.elapsed());
                redis.log().succeeded("live_subscribe");
                tracing::debug!(%pattern, "live subscription started");
                backoff = BACKOFF_MIN;
                let lost = pump(&redis, &hub, sink, stream).await;
                redis.log().failed_with(
                    "live_subscribe",
                    "live subscription lost; reconnecting",
                    &lost,
                );
            }
            Err(e) => {
                redis
                    .observer()
                    .command("live_subscribe", false, started.elapsed());
                redis.log().failed("live_subscribe", &e);
            }
        }
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Up to a quarter more, so that replicas losing Redis together do not come back in step.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(1.0 + rand::random::<f64>() / 4.0)
}

async fn connect(redis: &Redis, pattern: &str) -> Result<(PubSubSink, PubSubStream), RedisError> {
    let timeout = CONNECT_TIMEOUT.max(redis.inner.settings.timeout);
    let subscribed = tokio::time::timeout(timeout, async {
        let mut pubsub = redis.inner.client.get_async_pubsub().await?;
        pubsub.psubscribe(pattern).await?;
        Ok(pubsub.split())
    })
    .await;
    match subscribed {
        Ok(Ok(parts)) => Ok(parts),
        Ok(Err(e)) => Err(RedisError::Command(e)),
        Err(_) => Err(RedisError::Timeout(timeout)),
    }
}

/// Feeds the hub until the connection is lost; returns why.
async fn pump(
    redis: &Redis,
    hub: &LiveHub,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
) -> Lost {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => deliver(redis, hub, &msg),
                None => return Lost::Closed,
            },
            _ = ping.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, sink.ping::<Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Lost::Ping(RedisError::Command(e)),
                    Err(_) => return Lost::Ping(RedisError::Timeout(PING_TIMEOUT)),
                }
            }
        }
    }
}

fn deliver(redis: &Redis, hub: &LiveHub, msg: &Msg) {
    match serde_json::from_slice::<Vec<TelemetryPoint>>(msg.get_payload_bytes()) {
        Ok(points) if points.is_empty() => {}
        Ok(points) => hub.publish(Arc::from(points)),
        Err(e) => redis.log().failed("live_decode", &RedisError::decode(e)),
    }
}
