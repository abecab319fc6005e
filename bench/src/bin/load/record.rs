//! What the run saw: per phase (requests by status, latency, points) and per second (the
//! timeline the chart draws).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::client::Outcome;

/// Latency percentiles in milliseconds, exact over every request of the phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(samples: &mut [f64]) -> Self {
        samples.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let n = samples.len();
            if n == 0 {
                return 0.0;
            }
            let r = ((q * n as f64).ceil() as usize).clamp(1, n);
            samples[r - 1]
        };
        Self {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: samples.last().copied().unwrap_or(0.0),
        }
    }
}

#[derive(Debug, Default)]
pub struct PhaseTally {
    pub points_sent: u64,
    pub points_acked: u64,
    pub requests: BTreeMap<String, u64>,
    pub latencies_ms: Vec<f64>,
}

/// One second of the run (by when each request was sent).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Second {
    pub t: u64,
    pub target_rate: f64,
    pub points_sent: u64,
    pub points_acked: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// From the scraped /metrics: the consumer group's lag (records, the maximum any worker
    /// reports) and the age of its oldest record, and the embedded queues' depth (the sum).
    pub lag_records: Option<f64>,
    pub lag_seconds: Option<f64>,
    pub queue_points: Option<f64>,
    #[serde(skip)]
    latencies_ms: Vec<f64>,
}

#[derive(Debug, Default)]
pub struct Recorder {
    pub phases: Vec<PhaseTally>,
    seconds: Vec<Second>,
}

impl Recorder {
    pub fn new(phases: usize) -> Self {
        Self {
            phases: (0..phases).map(|_| PhaseTally::default()).collect(),
            seconds: Vec::new(),
        }
    }

    fn second(&mut self, t: u64) -> &mut Second {
        let i = t as usize;
        while self.seconds.len() <= i {
            let t = self.seconds.len() as u64;
            self.seconds.push(Second {
                t,
                ..Second::default()
            });
        }
        &mut self.seconds[i]
    }

    pub fn target(&mut self, t: u64, rate: f64) {
        self.second(t).target_rate = rate;
    }

    pub fn sent(&mut self, phase: usize, t: u64, points: u64) {
        self.phases[phase].points_sent += points;
        self.second(t).points_sent += points;
    }

    pub fn answered(&mut self, phase: usize, t: u64, outcome: &Outcome) {
        let ms = outcome.latency.as_secs_f64() * 1000.0;
        let tally = &mut self.phases[phase];
        tally.points_acked += outcome.accepted;
        *tally.requests.entry(outcome.status.clone()).or_default() += 1;
        tally.latencies_ms.push(ms);
        let second = self.second(t);
        second.points_acked += outcome.accepted;
        second.latencies_ms.push(ms);
        if !outcome.ok() {
            second.errors += 1;
        }
    }

    pub fn scraped(&mut self, t: u64, sample: &crate::scrape::Sample) {
        let second = self.second(t);
        second.lag_records = sample.lag_records;
        second.lag_seconds = sample.lag_seconds;
        second.queue_points = sample.queue_points;
    }

    /// The timeline with each second's percentiles computed.
    pub fn timeline(&mut self) -> Vec<Second> {
        for s in &mut self.seconds {
            let l = Latency::of(&mut s.latencies_ms);
            s.p50_ms = l.p50;
            s.p99_ms = l.p99;
        }
        self.seconds.clone()
    }

    pub fn acked(&self) -> u64 {
        self.phases.iter().map(|p| p.points_acked).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latency::of(&mut v);
        assert_eq!((l.p50, l.p95, l.p99, l.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Latency::of(&mut []).p99, 0.0);
    }

    #[test]
    fn answers_count_in_their_phase_and_second() {
        let mut r = Recorder::new(2);
        r.sent(1, 3, 10);
        let ok = Outcome {
            status: "202".into(),
            accepted: 10,
            latency: Duration::from_millis(4),
        };
        let refused = Outcome {
            status: "503".into(),
            accepted: 0,
            latency: Duration::from_millis(1),
        };
        r.answered(1, 3, &ok);
        r.answered(1, 3, &refused);
        assert_eq!(r.acked(), 10);
        assert_eq!(r.phases[1].requests["503"], 1);
        let timeline = r.timeline();
        assert_eq!(timeline.len(), 4);
        assert_eq!((timeline[3].points_acked, timeline[3].errors), (10, 1));
    }
}
