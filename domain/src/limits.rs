//! Rate limits: plan quotas and the GCRA both rate-limiter adapters decide with.

use std::time::Duration;

use crate::org::Plan;

/// A sustained rate with a burst allowance (GCRA: `per_second` requests every `period_s`
/// seconds — one every `period_s / per_second` seconds — up to `burst` at once). The API
/// plans count per second (`period_s = 1`); login throttling counts per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quota {
    pub per_second: u32,
    pub burst: u32,
    /// The period `per_second` counts over, in seconds (1 unless said otherwise).
    #[serde(default = "one_second")]
    pub period_s: u32,
}

fn one_second() -> u32 {
    1
}

impl Quota {
    /// The quota of a plan; Enterprise organisations carry their own.
    pub fn of_plan(plan: Plan, enterprise: Option<Quota>) -> Quota {
        match plan {
            Plan::Free => Quota {
                per_second: 10,
                burst: 50,
                period_s: 1,
            },
            Plan::Standard => Quota {
                per_second: 100,
                burst: 500,
                period_s: 1,
            },
            Plan::Professional => Quota {
                per_second: 500,
                burst: 2000,
                period_s: 1,
            },
            Plan::Enterprise => enterprise.unwrap_or(Quota {
                per_second: 2000,
                burst: 8000,
                period_s: 1,
            }),
        }
    }

    /// Time between two requests at the sustained rate.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_micros(self.interval_us().unsigned_abs())
    }

    /// [`Quota::emission_interval`] in microseconds, at least 1.
    pub fn interval_us(&self) -> i64 {
        (1_000_000 * i64::from(self.period_s.max(1)) / i64::from(self.per_second.max(1))).max(1)
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateDecision {
    pub allowed: bool,
    /// The burst size (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests that could be made at once right now (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Until the allowance is full again (`RateLimit-Reset`).
    pub reset_after: Duration,
    /// When refused: until one request is allowed again (`Retry-After`).
    pub retry_after: Duration,
}

/// Pure GCRA over a "theoretical arrival time" in microseconds, shared by the in-process
/// limiter and mirrored by the Redis script, so both decide alike.
pub fn gcra(tat_us: Option<i64>, now_us: i64, quota: Quota) -> (RateDecision, i64) {
    let interval = quota.interval_us();
    let tolerance = interval * i64::from(quota.burst.max(1));
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat + interval;
    let allow_at = new_tat - tolerance;
    if now_us < allow_at {
        let retry = allow_at - now_us;
        let remaining = 0;
        let decision = RateDecision {
            allowed: false,
            limit: quota.burst,
            remaining,
            reset_after: Duration::from_micros((tat - now_us).max(0) as u64),
            retry_after: Duration::from_micros(retry as u64),
        };
        return (decision, tat);
    }
    let remaining = ((tolerance - (new_tat - now_us)) / interval).max(0) as u32;
    let decision = RateDecision {
        allowed: true,
        limit: quota.burst,
        remaining,
        reset_after: Duration::from_micros((new_tat - now_us).max(0) as u64),
        retry_after: Duration::ZERO,
    };
    (decision, new_tat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_then_the_sustained_rate() {
        let quota = Quota {
            per_second: 10,
            burst: 50,
            period_s: 1,
        };
        let mut tat = None;
        let now = 1_000_000_000;
        let mut allowed = 0;
        for _ in 0..60 {
            let (d, t) = gcra(tat, now, quota);
            tat = Some(t);
            if d.allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 50, "the burst");
        let (d, _) = gcra(tat, now, quota);
        assert!(!d.allowed);
        assert!(d.retry_after <= Duration::from_millis(100));
        // One second later, ten more.
        let later = now + 1_000_000;
        let mut more = 0;
        for _ in 0..20 {
            let (d, t) = gcra(tat, later, quota);
            if d.allowed {
                tat = Some(t);
                more += 1;
            }
        }
        assert_eq!(more, 10);
    }

    #[test]
    fn plans_have_the_documented_quotas() {
        assert_eq!(
            Quota::of_plan(Plan::Free, None),
            Quota {
                per_second: 10,
                burst: 50,
                period_s: 1,
            }
        );
        assert_eq!(
            Quota::of_plan(Plan::Standard, None),
            Quota {
                per_second: 100,
                burst: 500,
                period_s: 1,
            }
        );
        assert_eq!(
            Quota::of_plan(Plan::Professional, None),
            Quota {
                per_second: 500,
                burst: 2000,
                period_s: 1,
            }
        );
        let custom = Quota {
            per_second: 5000,
            burst: 20000,
            period_s: 1,
        };
        assert_eq!(Quota::of_plan(Plan::Enterprise, Some(custom)), custom);
    }
}
