//! Live fan-out of written points: the in-process hub every `/live` stream subscribes to,
//! and the [`LivePublisher`] writers hand points to (the hub itself, or Redis pub/sub that
//! feeds every replica's hub).

use std::sync::Arc;

use async_trait::async_trait;

use domain::telemetry::TelemetryPoint;
use tokio::sync::broadcast;

/// In-process fan-out of written points to live subscribers. Each subscriber filters for
/// its own organisation. A subscriber more than the buffer behind gets `Lagged` and is
/// expected to hang up: slow clients are dropped, never buffered without bound.
#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<[TelemetryPoint]>>,
}

impl LiveHub {
    pub fn new(buffer_batches: usize) -> Self {
        let (sender, _) = broadcast::channel(buffer_batches.max(1));
        Self { sender }
    }

    pub fn publish(&self, points: Arc<[TelemetryPoint]>) {
        // No subscriber is not an error.
        let _ = self.sender.send(points);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[TelemetryPoint]>> {
        self.sender.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// Where the writer hands written points: straight to this process's hub, or to a
/// cross-replica fan-out (Redis pub/sub) that feeds every replica's hub.
#[async_trait]
pub trait LivePublisher: Send + Sync {
    async fn publish(&self, points: Arc<[TelemetryPoint]>);
}

#[async_trait]
impl LivePublisher for LiveHub {
    async fn publish(&self, points: Arc<[TelemetryPoint]>) {
        LiveHub::publish(self, points);
    }
}

#[async_trait]
impl LivePublisher for crate::redis::LiveBridge {
    async fn publish(&self, points: Arc<[TelemetryPoint]>) {
        crate::redis::LiveBridge::publish(self, &points).await;
    }
}
