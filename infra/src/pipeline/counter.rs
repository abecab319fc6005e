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
        self.sum(org, now, |window| window.buckets.iter().sum())
    }

    /// Points accepted per second over the `seconds` whole seconds before the current one
    /// (at most 59): the current rate, steadier than one second and fresher than a minute.
    pub fn per_second(&self, org: OrgId, now: DateTime<Utc>, seconds: usize) -> f64 {
        let seconds = seconds.clamp(1, WINDOW_S - 1);
        let current = now.timestamp();
        let total = self.sum(org, now, |window| {
            (1..=seconds as i64)
                .map(|back| window.buckets[(current - back).rem_euclid(WINDOW_S as i64) as usize])
                .sum()
        });
        total as f64 / seconds as f64
    }

    fn sum(&self, org: OrgId, now: DateTime<Utc>, read: impl Fn(&Window) -> u64) -> u64 {
        let Ok(mut orgs) = self.orgs.lock() else {
            return 0;
        };
        match orgs.get_mut(&org) {
            Some(window) => {
                window.advance(now.timestamp());
                read(window)
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
    fn the_current_rate_averages_the_last_whole_seconds() {
        let c = RecentCounter::default();
        let org = OrgId::new();
        let t0 = DateTime::from_timestamp(1_000_000, 0).unwrap();
        for s in 0..10 {
            c.add(org, 100, t0 + Duration::seconds(s));
        }
        // The current, partial second does not count.
        c.add(org, 5_000, t0 + Duration::seconds(10));
        let now = t0 + Duration::milliseconds(10_500);
        assert_eq!(c.per_second(org, now, 5), 100.0);
        assert_eq!(c.per_second(OrgId::new(), now, 5), 0.0);
        assert_eq!(c.per_second(org, t0 + Duration::seconds(80), 5), 0.0);
    }

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
