//! What a run did — [`Summary`], printed at the end of `nimbusfleet simulate` — and the
//! counters and output it is made from while the run goes on.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Problems (non-2xx answers, rejected points) printed one by one; later ones are only
/// counted.
const MAX_REPORTED_PROBLEMS: u64 = 5;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Flying time, from the first sample to the stop.
    pub elapsed: Duration,
    pub drones: usize,
    pub target_points_per_s: f64,
    pub generated: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Points in batches answered with a non-2xx status other than `503` and `422`.
    pub failed: u64,
    /// Points resent after `503`/`429` or a network error, counted once per resend.
    pub retried: u64,
    /// Points generated but not answered when the run stopped.
    pub unsent: u64,
}

impl Summary {
    /// Points the server answered for.
    pub fn sent(&self) -> u64 {
        self.accepted + self.rejected + self.failed
    }

    pub fn points_per_s(&self) -> f64 {
        per_second(self.sent(), self.elapsed)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flew {} drones for {:.1} s: generated {}, sent {}, accepted {}, rejected {}, \
             failed {}, retried {}, unsent {}; {:.1} points/s (target {:.1})",
            self.drones,
            self.elapsed.as_secs_f64(),
            self.generated,
            self.sent(),
            self.accepted,
            self.rejected,
            self.failed,
            self.retried,
            self.unsent,
            self.points_per_s(),
            self.target_points_per_s,
        )
    }
}

pub(crate) fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Counters shared by the generator, the senders and the progress printer.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) generated: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) reported: AtomicU64,
    /// The latest network or server error since the last progress line.
    last_error: Mutex<Option<String>>,
}

impl Stats {
    pub(crate) fn sent(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
            + self.rejected.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn set_error(&self, error: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    pub(crate) fn take_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// Prints lines with the configured prefix.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub(crate) label: Arc<str>,
}

impl Out {
    pub(crate) fn line(&self, text: impl fmt::Display) {
        println!("{}{text}", self.label);
    }

    /// Prints one of the first few problems; says so once when it stops printing them.
    pub(crate) fn problem(&self, stats: &Stats, text: impl fmt::Display) {
        let n = stats.reported.fetch_add(1, Ordering::Relaxed);
        if n < MAX_REPORTED_PROBLEMS {
            self.line(text);
        }
        if n + 1 == MAX_REPORTED_PROBLEMS {
            self.line("further problems are only counted");
        }
    }
}
