use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use domain::OrgId;

const WINDOW_S: usize = 60;

/// Points accepted per organisation over the last minute, in one-second buckets.
/// Process-local: with several replicas each counts its own share.
#[derive(Default)]
pub struct RecentCounter {
    orgs: Mutex<HashMap<OrgId, Window>>,
}

struct Window {
    buckets: [u64; WINDOW_S],
    /// The second the newest bucket belongs to.
    head: i64,
}

impl Window {
    fn advance(&mut self, second: i64) {
        let gap = second - self.head;
        if gap <= 0 {
            return;
        }
        for step in 1..=gap.min(WINDOW_S as i64) {
            self.buckets[((self.head + step).rem_euclid(WINDOW_S as i64)) as usize] = 0;
        }
        self.head = second;
    }
}

impl RecentCounter {
    pub fn add(&self, org: OrgId, points: u64, now: DateTime<Utc>) {
        let second = now.timestamp();
        if let Ok(mut orgs) = self.orgs.lock() {
            let window = orgs.entry(org).or_insert(Window {
                buckets: [0; WINDOW_S],
                head: second,
            });
            window.advance(second);
            window.buckets[second.rem_euclid(WINDOW_S as i64) as usize] += points;
        }
    }

    /// Points accepted in the last 60 seconds.
    pub fn last_minute(&self, org: OrgId, now: DateTime<Utc>) -> u64 {
        let Ok(mut orgs) = self.orgs.lock() else {
            return 0;
        };
        match orgs.get_mut(&org) {
            Some(window) => {
                window.advance(now.timestamp());
                window.buckets.iter().sum()
            }
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn counts_fall_out_of_the_window_after_a_minute() {
        let c = RecentCounter::default();
        let org = OrgId::new();
        let t0 = Utc::now();
        c.add(org, 5, t0);
        c.add(org, 7, t0 + Duration::seconds(30));
        assert_eq!(c.last_minute(org, t0 + Duration::seconds(30)), 12);
        assert_eq!(c.last_minute(org, t0 + Duration::seconds(61)), 7);
        assert_eq!(c.last_minute(org, t0 + Duration::seconds(200)), 0);
        assert_eq!(c.last_minute(OrgId::new(), t0), 0);
    }
}
