//! One shard's share of the embedded queue: bounded by counting points, with the shard's
//! health as the writer last saw it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use domain::telemetry::TelemetryPoint;
use tokio::sync::{mpsc, oneshot};

/// Points handed to a lane, and who waits for them to be durable.
pub(super) struct Job {
    pub points: Vec<TelemetryPoint>,
    /// Told once the points are committed (durable acknowledgement); `None` when nobody
    /// waits (queued acknowledgement).
    pub done: Option<oneshot::Sender<()>>,
}

/// Why a lane did not take points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The shard failed its last write and has not succeeded since.
    Down,
    /// The lane holds as many points as it may.
    Full,
    /// The pipeline is shutting down.
    Closed,
}

pub(super) struct Lane {
    sender: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    queued: AtomicUsize,
    capacity: usize,
    down: AtomicBool,
}

impl Lane {
    pub(super) fn new(capacity: usize) -> (Self, mpsc::UnboundedReceiver<Job>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let lane = Self {
            sender: Mutex::new(Some(tx)),
            queued: AtomicUsize::new(0),
            capacity,
            down: AtomicBool::new(false),
        };
        (lane, rx)
    }

    pub(super) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// What the writer learnt of its shard from its last write.
    pub(super) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Release);
    }

    /// Takes `job` unless the shard is down, the lane full or closed.
    pub(super) fn push(&self, job: Job) -> Result<(), Refusal> {
        if self.is_down() {
            return Err(Refusal::Down);
        }
        let n = job.points.len();
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                let next = queued.checked_add(n)?;
                (next <= self.capacity).then_some(next)
            });
        if reserved.is_err() {
            return Err(Refusal::Full);
        }
        let sender = self.sender.lock().ok().and_then(|s| s.clone());
        match sender.map(|s| s.send(job).is_ok()) {
            Some(true) => Ok(()),
            _ => {
                self.release(n);
                Err(Refusal::Closed)
            }
        }
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
}
