//! Airspace changes between replicas over `{prefix}airspace`: each message names one change
//! (`g <org> <fence>`, `p <org> <plan>`, `o <org>`) and the replica that made it, which
//! skips its own.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use deadpool_redis::redis::cmd;
use domain::platform::{AirspaceChange, AirspaceEvent, AirspaceFeed};
use uuid::Uuid;

use super::pubsub::subscribe_forever;
use super::{connection_runtime, Redis};

pub struct RedisAirspaceFeed {
    redis: Redis,
    /// This process, so that it ignores its own messages.
    origin: Uuid,
    subscriber: OnceLock<tokio::task::JoinHandle<()>>,
}

impl RedisAirspaceFeed {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            origin: Uuid::new_v4(),
            subscriber: OnceLock::new(),
        }
    }

    fn channel(&self) -> String {
        self.redis.key(format_args!("airspace"))
    }
}

impl Drop for RedisAirspaceFeed {
    fn drop(&mut self) {
        if let Some(task) = self.subscriber.get() {
            task.abort();
        }
    }
}

fn encode(origin: Uuid, change: AirspaceChange) -> String {
    match change {
        AirspaceChange::Geofence(org, id) => format!("{origin} g {org} {id}"),
        AirspaceChange::Plan(org, id) => format!("{origin} p {org} {id}"),
        AirspaceChange::Drone(org, id) => format!("{origin} d {org} {id}"),
        AirspaceChange::Org(org) => format!("{origin} o {org}"),
    }
}

/// The change and who made it; `None` for a message this version does not understand.
fn decode(raw: &str) -> Option<(Uuid, AirspaceChange)> {
    let mut parts = raw.split(' ');
    let origin = parts.next()?.parse().ok()?;
    let kind = parts.next()?;
    let org = parts.next()?.parse().ok()?;
    let change = match kind {
        "g" => AirspaceChange::Geofence(org, parts.next()?.parse().ok()?),
        "p" => AirspaceChange::Plan(org, parts.next()?.parse().ok()?),
        "d" => AirspaceChange::Drone(org, parts.next()?.parse().ok()?),
        "o" => AirspaceChange::Org(org),
        _ => return None,
    };
    Some((origin, change))
}

#[async_trait]
impl AirspaceFeed for RedisAirspaceFeed {
    async fn publish(&self, change: AirspaceChange) {
        let mut c = cmd("PUBLISH");
        c.arg(self.channel()).arg(encode(self.origin, change));
        // A failure is counted and logged (throttled) by `query`; the other replicas catch
        // up at their next resync.
        let _ = self.redis.query::<i64>("airspace_publish", c).await;
    }

    fn subscribe(&self, on_event: Arc<dyn Fn(AirspaceEvent) + Send + Sync>) {
        self.subscriber.get_or_init(|| {
            let origin = self.origin;
            let after_gap = on_event.clone();
            let task = subscribe_forever(
                self.redis.clone(),
                self.channel(),
                "airspace_subscribe",
                move || after_gap(AirspaceEvent::Resync),
                move |msg| {
                    let Ok(raw) = std::str::from_utf8(msg.get_payload_bytes()) else {
                        return;
                    };
                    match decode(raw) {
                        Some((from, _)) if from == origin => {}
                        Some((_, change)) => on_event(AirspaceEvent::Changed(change)),
                        None => tracing::debug!(message = raw, "unknown airspace message"),
                    }
                },
            );
            match connection_runtime() {
                Some(runtime) => runtime.spawn(task),
                None => tokio::spawn(task),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_their_encoding() {
        let origin = Uuid::new_v4();
        let org = domain::OrgId::new();
        for change in [
            AirspaceChange::Geofence(org, domain::GeofenceId::new()),
            AirspaceChange::Plan(org, domain::FlightPlanId::new()),
            AirspaceChange::Drone(org, domain::DroneId::new()),
            AirspaceChange::Org(org),
        ] {
            assert_eq!(decode(&encode(origin, change)), Some((origin, change)));
        }
        assert_eq!(decode("nonsense"), None);
    }
}
