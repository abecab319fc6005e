use std::collections::HashMap;
use std::error::Error;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Why a Redis command did not answer.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("no redis connection")]
    Connection(#[source] deadpool_redis::PoolError),
    #[error("redis command failed")]
    Command(#[source] deadpool_redis::redis::RedisError),
    #[error("unreadable value in redis")]
    Decode(#[source] Box<dyn Error + Send + Sync>),
}

impl RedisError {
    pub(crate) fn decode(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Decode(error.into())
    }
}

/// `error: cause: cause`, for one log field.
pub(crate) fn chain(error: &(dyn Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(out, ": {cause}");
        source = cause.source();
    }
    out
}

/// Failures are logged at most once per this long per operation.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Throttles failure logs, so that an outage writes a line every ten seconds per operation
/// instead of one per request, and says once when an operation works again.
#[derive(Default)]
pub(crate) struct ErrorLog {
    ops: Mutex<HashMap<&'static str, OpLog>>,
    /// Whether any operation is failing, so that the success path takes no lock normally.
    any_failing: AtomicBool,
}

#[derive(Default)]
struct OpLog {
    last_logged: Option<Instant>,
    suppressed: u64,
    failing: bool,
}

impl ErrorLog {
    pub(crate) fn failed(&self, op: &'static str, error: &RedisError) {
        if let Some(suppressed) = self.record_failure(op, Instant::now()) {
            tracing::warn!(op, suppressed, error = %chain(error), "redis operation failed");
        }
    }

    pub(crate) fn succeeded(&self, op: &'static str) {
        if let Some(suppressed) = self.record_success(op) {
            tracing::info!(op, suppressed, "redis operation works again");
        }
    }

    /// Logs a failure that is not a [`RedisError`] (the subscriber's), throttled alike.
    pub(crate) fn failed_with(
        &self,
        op: &'static str,
        message: &str,
        error: &(dyn Error + 'static),
    ) {
        if let Some(suppressed) = self.record_failure(op, Instant::now()) {
            tracing::warn!(op, suppressed, error = %chain(error), "{message}");
        }
    }

    /// Returns how many failures went unlogged before this one when this one is to be logged.
    fn record_failure(&self, op: &'static str, now: Instant) -> Option<u64> {
        self.any_failing.store(true, Ordering::Relaxed);
        let mut ops = self.ops.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = ops.entry(op).or_default();
        entry.failing = true;
        match entry.last_logged {
            Some(at) if now.saturating_duration_since(at) < LOG_EVERY => {
                entry.suppressed += 1;
                None
            }
            _ => {
                entry.last_logged = Some(now);
                Some(std::mem::take(&mut entry.suppressed))
            }
        }
    }

    /// Returns the failures not yet logged when `op` was failing until now.
    fn record_success(&self, op: &'static str) -> Option<u64> {
        if !self.any_failing.load(Ordering::Relaxed) {
            return None;
        }
        let mut ops = self.ops.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = ops.get_mut(op)?;
        if !entry.failing {
            return None;
        }
        entry.failing = false;
        let suppressed = std::mem::take(&mut entry.suppressed);
        // Allow the next outage's first failure to be logged at once.
        entry.last_logged = None;
        if !ops.values().any(|o| o.failing) {
            self.any_failing.store(false, Ordering::Relaxed);
        }
        Some(suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_logged_once_per_interval_with_the_count_of_the_others() {
        let log = ErrorLog::default();
        let t0 = Instant::now();
        assert_eq!(log.record_failure("get", t0), Some(0));
        for i in 1..=5 {
            assert_eq!(log.record_failure("get", t0 + Duration::from_secs(i)), None);
        }
        // Another operation has its own budget.
        assert_eq!(log.record_failure("set", t0), Some(0));
        assert_eq!(log.record_failure("get", t0 + LOG_EVERY), Some(5));
        assert_eq!(log.record_failure("get", t0 + LOG_EVERY), None);
    }

    #[test]
    fn recovery_is_reported_once_with_what_went_unlogged() {
        let log = ErrorLog::default();
        let t0 = Instant::now();
        assert_eq!(log.record_success("get"), None);
        log.record_failure("get", t0);
        log.record_failure("get", t0);
        assert_eq!(log.record_success("get"), Some(1));
        assert_eq!(log.record_success("get"), None);
        assert!(!log.any_failing.load(Ordering::Relaxed));
        // The next outage is logged at once.
        assert_eq!(log.record_failure("get", t0), Some(0));
    }
}
