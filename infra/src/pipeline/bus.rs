use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use domain::ports::{BusError, TelemetryBus};
use domain::telemetry::TelemetryPoint;
use tokio::sync::mpsc;

/// The embedded bus: an unbounded channel whose size is bounded by counting points, so
/// that one big batch and many small ones are limited alike.
pub struct InProcessBus {
    sender: Mutex<Option<mpsc::UnboundedSender<Vec<TelemetryPoint>>>>,
    queued: AtomicUsize,
    capacity: usize,
}

impl InProcessBus {
    pub(super) fn new(capacity: usize) -> (Self, mpsc::UnboundedReceiver<Vec<TelemetryPoint>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let bus = Self {
            sender: Mutex::new(Some(tx)),
            queued: AtomicUsize::new(0),
            capacity,
        };
        (bus, rx)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Called by the writer once points are durable.
    pub(super) fn release(&self, points: usize) {
        self.queued.fetch_sub(points, Ordering::AcqRel);
    }

    pub(super) fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
    }

    fn reserve(&self, points: usize) -> Result<(), BusError> {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                let next = queued.checked_add(points)?;
                (next <= self.capacity).then_some(next)
            })
            .map(|_| ())
            .map_err(|_| BusError::Full)
    }
}

#[async_trait]
impl TelemetryBus for InProcessBus {
    async fn publish(&self, points: Vec<TelemetryPoint>) -> Result<(), BusError> {
        if points.is_empty() {
            return Ok(());
        }
        let n = points.len();
        self.reserve(n)?;
        let sent = match self.sender.lock() {
            Ok(sender) => sender
                .as_ref()
                .map(|s| s.send(points).is_ok())
                .unwrap_or(false),
            Err(_) => false,
        };
        if sent {
            Ok(())
        } else {
            self.release(n);
            Err(BusError::Closed)
        }
    }
}
