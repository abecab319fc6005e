//! Slot-map changes between processes over `{prefix}slot-map`: a mover publishes when a
//! move starts, switches and ends, and every process that hears it reads the map from the
//! catalog at once instead of at its next poll ([`crate::ROUTING_REFRESH`]). The message
//! carries nothing: the catalog is the truth, and a lost message only delays a process by
//! one poll.

use deadpool_redis::redis::cmd;

use super::pubsub::subscribe_forever;
use super::{connection_runtime, Redis};
use crate::store::RoutingNotifier;
use crate::Store;

impl Redis {
    fn slot_map_channel(&self) -> String {
        self.key(format_args!("slot-map"))
    }

    /// Reads `store`'s slot map again whenever another process announces a change, until
    /// the process ends.
    pub fn follow_slot_map(&self, store: Store) {
        let on_gap = store.clone();
        let task = subscribe_forever(
            self.clone(),
            self.slot_map_channel(),
            "slot_map_subscribe",
            move || {
                let store = on_gap.clone();
                tokio::spawn(async move {
                    // A gap in the subscription: messages may have been missed.
                    let _ = store.refresh_routing().await;
                });
            },
            move |_| {
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(error) = store.refresh_routing().await {
                        tracing::warn!(error = %format!("{error:#}"), "could not read the slot map");
                    }
                });
            },
        );
        match connection_runtime() {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        };
    }
}

#[async_trait::async_trait]
impl RoutingNotifier for Redis {
    async fn slot_map_changed(&self) {
        let mut c = cmd("PUBLISH");
        c.arg(self.slot_map_channel()).arg("changed");
        // Counted and logged (throttled) by `query`; the others poll anyway.
        let _ = self.query::<i64>("slot_map_publish", c).await;
    }
}
