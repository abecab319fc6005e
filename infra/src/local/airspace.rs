//! The embedded airspace feed: one process holds the only index, so there is no one to tell.

use std::sync::Arc;

use async_trait::async_trait;
use domain::platform::{AirspaceChange, AirspaceEvent, AirspaceFeed};

pub struct LocalAirspaceFeed;

#[async_trait]
impl AirspaceFeed for LocalAirspaceFeed {
    async fn publish(&self, _change: AirspaceChange) {}

    fn subscribe(&self, _on_event: Arc<dyn Fn(AirspaceEvent) + Send + Sync>) {}
}
