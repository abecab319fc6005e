//! Read replicas of the catalog and the shards: which one may serve a read, and how far
//! behind its primary each one is.
//!
//! Lag is measured, not asked for: every round of [`ReplicaSet::observe`] records the
//! primary's WAL position with the time it was read, and a replica's lag is the age of the
//! oldest recorded position it has not replayed yet (0 when it has replayed them all). The
//! figure is exact to one round (`storage.max_replica_lag_ms` / 4, at most 250 ms) and, unlike
//! `now() - pg_last_xact_replay_timestamp()`, does not grow while the primary is idle.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use crate::consistency::{current_lsn, lsn_of};

/// Primary positions kept per database: at 4 rounds a second, half a minute, far beyond
/// any sensible lag limit.
const HISTORY: usize = 120;

/// A WAL page header is at most 40 bytes. A primary's write position can point past one
/// that its replica will not report as replayed until the next record; a difference that
/// small is no lag.
const PAGE_HEADER: u64 = 40;

/// One replica and what the last round found.
pub(crate) struct Replica {
    conn: DatabaseConnection,
    up: AtomicBool,
    /// `pg_last_wal_replay_lsn()` at the last round.
    replayed: AtomicU64,
    lag_ms: AtomicU64,
}

/// How a replica was found, for metrics and readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStats {
    /// `catalog`, `shard-0`, …
    pub database: String,
    /// The replica's index in its database's list.
    pub replica: usize,
    pub up: bool,
    pub lag_ms: u64,
}

/// The replicas of one database, taken in turn.
#[derive(Default)]
pub(crate) struct ReplicaSet {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    /// The primary's WAL positions, oldest first, with when they were read.
    history: Mutex<VecDeque<(Instant, u64)>>,
}

impl ReplicaSet {
    pub(crate) fn new(conns: Vec<DatabaseConnection>) -> Self {
        Self {
            replicas: conns
                .into_iter()
                .map(|conn| Replica {
                    conn,
                    // Unknown until the first round: nothing is read from a replica before
                    // its lag has been measured once.
                    up: AtomicBool::new(false),
                    replayed: AtomicU64::new(0),
                    lag_ms: AtomicU64::new(u64::MAX),
                })
                .collect(),
            ..Self::default()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// A replica fit to serve a read: up, at most `max_lag_ms` behind, and replayed at least
    /// to `after`. Replicas are tried in turn, so that reads spread over them.
    pub(crate) fn pick(&self, after: u64, max_lag_ms: u64) -> Option<&DatabaseConnection> {
        let n = self.replicas.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.replicas[(start + i) % n])
            .find(|r| {
                r.up.load(Ordering::Acquire)
                    && r.lag_ms.load(Ordering::Acquire) <= max_lag_ms
                    && r.replayed.load(Ordering::Acquire) >= after
            })
            .map(|r| &r.conn)
    }

    /// One round: the primary's position, then each replica's replayed position and lag.
    /// A replica that does not answer within `timeout`, or is not in recovery, is down.
    pub(crate) async fn observe(
        &self,
        name: &str,
        primary: &DatabaseConnection,
        timeout: Duration,
    ) {
        if self.replicas.is_empty() {
            return;
        }
        match tokio::time::timeout(timeout, current_lsn(primary)).await {
            Ok(Ok(lsn)) => {
                let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
                history.push_back((Instant::now(), lsn));
                while history.len() > HISTORY {
                    history.pop_front();
                }
            }
            // With the primary away, the replicas are measured against what it last said.
            Ok(Err(e)) => {
                tracing::debug!(database = name, error = %e, "primary WAL position unavailable")
            }
            Err(_) => tracing::debug!(database = name, "primary WAL position timed out"),
        }
        for (i, replica) in self.replicas.iter().enumerate() {
            let replayed = tokio::time::timeout(
                timeout,
                lsn_of(&replica.conn, "SELECT pg_last_wal_replay_lsn()::text"),
            )
            .await;
            let was_up = replica.up.load(Ordering::Acquire);
            match replayed {
                Ok(Ok(replayed)) => {
                    replica.replayed.store(replayed, Ordering::Release);
                    replica
                        .lag_ms
                        .store(self.lag_ms(replayed), Ordering::Release);
                    replica.up.store(true, Ordering::Release);
                    if !was_up {
                        tracing::info!(database = name, replica = i, "read replica is serving");
                    }
                }
                failed => {
                    replica.up.store(false, Ordering::Release);
                    if was_up {
                        let error = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no answer within {} ms", timeout.as_millis()),
                        };
                        tracing::warn!(database = name, replica = i, %error, "read replica is skipped");
                    }
                }
            }
        }
    }

    /// How long ago the primary was at a position the replica has not replayed yet.
    fn lag_ms(&self, replayed: u64) -> u64 {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history
            .iter()
            .find(|(_, lsn)| *lsn > replayed.saturating_add(PAGE_HEADER))
            .map_or(0, |(at, _)| {
                u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)
            })
    }

    pub(crate) fn stats(&self, database: &str) -> impl Iterator<Item = ReplicaStats> + '_ {
        let database = database.to_owned();
        self.replicas
            .iter()
            .enumerate()
            .map(move |(replica, r)| ReplicaStats {
                database: database.clone(),
                replica,
                up: r.up.load(Ordering::Acquire),
                lag_ms: r.lag_ms.load(Ordering::Acquire),
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set_of(n: usize) -> ReplicaSet {
        ReplicaSet::new((0..n).map(|_| DatabaseConnection::Disconnected).collect())
    }

    fn measured(set: &ReplicaSet, i: usize, up: bool, replayed: u64, lag_ms: u64) {
        let r = &set.replicas[i];
        r.up.store(up, Ordering::Release);
        r.replayed.store(replayed, Ordering::Release);
        r.lag_ms.store(lag_ms, Ordering::Release);
    }

    /// Which replica `pick` chose, by index.
    fn picked(set: &ReplicaSet, after: u64, max_lag_ms: u64) -> Option<usize> {
        let conn = set.pick(after, max_lag_ms)?;
        set.replicas
            .iter()
            .position(|r| std::ptr::eq(&r.conn, conn))
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_position_not_replayed() {
        let set = set_of(1);
        assert_eq!(set.lag_ms(0), 0, "no history: nothing to be behind");
        {
            let now = Instant::now();
            let mut history = set.history.lock().unwrap();
            history.push_back((now - Duration::from_millis(900), 1_000));
            history.push_back((now - Duration::from_millis(600), 2_000));
            history.push_back((now - Duration::from_millis(300), 3_000));
        }
        assert_eq!(set.lag_ms(3_000), 0, "replayed everything");
        // A page header's worth short of the primary is no lag.
        assert_eq!(set.lag_ms(3_000 - PAGE_HEADER), 0);
        let behind_one = set.lag_ms(2_000);
        assert!((300..600).contains(&behind_one), "{behind_one}");
        let behind_all = set.lag_ms(500);
        assert!((900..1_200).contains(&behind_all), "{behind_all}");
    }

    #[test]
    fn a_replica_is_picked_only_up_within_the_lag_limit_and_past_the_token() {
        let set = set_of(2);
        assert_eq!(picked(&set, 0, 1_000), None, "never measured: skipped");
        measured(&set, 0, true, 5_000, 10);
        measured(&set, 1, false, 9_000, 0);
        assert_eq!(picked(&set, 0, 1_000), Some(0));
        assert_eq!(
            picked(&set, 6_000, 1_000),
            None,
            "not replayed to the token yet"
        );
        measured(&set, 0, true, 5_000, 2_000);
        assert_eq!(picked(&set, 0, 1_000), None, "too far behind");
        measured(&set, 0, true, 5_000, 10);
        measured(&set, 1, true, 9_000, 10);
        assert_eq!(
            picked(&set, 6_000, 1_000),
            Some(1),
            "the one past the token"
        );
        // Both fit: they take turns.
        let turns: Vec<_> = (0..4).map(|_| picked(&set, 0, 1_000).unwrap()).collect();
        assert!(turns.contains(&0) && turns.contains(&1), "{turns:?}");
    }
}
