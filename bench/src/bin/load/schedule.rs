//! The scaling guide's load scenarios as a list of phases, each a target rate (points per
//! second) over time.

use std::time::Duration;

use serde::Serialize;

/// The scenarios `--scenario` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// A fixed rate for `--duration` seconds.
    Steady,
    /// From 0 to `--peak` points/s over `--duration` seconds.
    Ramp,
    /// `--duration` at the steady rate, `--spike-duration` at `--spike-factor` times it,
    /// then `--duration` at the steady rate again.
    Spike,
    /// Twice the steady rate for `--soak-duration` seconds.
    Soak,
}

/// How a phase's rate moves from its start to its end.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `steady`, `ramp`, `spike-before`, `spike`, `spike-after`, `soak`.
    pub name: String,
    pub scenario: Scenario,
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Points per second at the start and at the end (linear in between).
    pub from_rate: f64,
    pub to_rate: f64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Phase {
    fn new(name: &str, scenario: Scenario, duration: Duration, from: f64, to: f64) -> Self {
        Self {
            name: name.to_owned(),
            scenario,
            duration,
            from_rate: from,
            to_rate: to,
        }
    }

    /// The target rate `elapsed` into the phase.
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        let total = self.duration.as_secs_f64();
        if total <= 0.0 {
            return self.to_rate;
        }
        let f = (elapsed.as_secs_f64() / total).clamp(0.0, 1.0);
        self.from_rate + (self.to_rate - self.from_rate) * f
    }

    /// Points this phase asks for in all.
    pub fn planned_points(&self) -> f64 {
        (self.from_rate + self.to_rate) / 2.0 * self.duration.as_secs_f64()
    }
}

/// The knobs of every scenario.
#[derive(Debug, Clone)]
pub struct Shape {
    pub rate: f64,
    pub duration: Duration,
    pub peak: f64,
    pub spike_factor: f64,
    pub spike_duration: Duration,
    pub soak_duration: Duration,
}

/// The phases of `scenarios`, in order.
pub fn phases(scenarios: &[Scenario], shape: &Shape) -> Vec<Phase> {
    let mut out = Vec::new();
    for scenario in scenarios {
        let s = *scenario;
        match s {
            Scenario::Steady => out.push(Phase::new(
                "steady",
                s,
                shape.duration,
                shape.rate,
                shape.rate,
            )),
            Scenario::Ramp => out.push(Phase::new("ramp", s, shape.duration, 0.0, shape.peak)),
            Scenario::Spike => {
                let spike = shape.rate * shape.spike_factor;
                out.push(Phase::new(
                    "spike-before",
                    s,
                    shape.duration,
                    shape.rate,
                    shape.rate,
                ));
                out.push(Phase::new("spike", s, shape.spike_duration, spike, spike));
                out.push(Phase::new(
                    "spike-after",
                    s,
                    shape.duration,
                    shape.rate,
                    shape.rate,
                ));
            }
            Scenario::Soak => {
                let soak = shape.rate * 2.0;
                out.push(Phase::new("soak", s, shape.soak_duration, soak, soak));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            rate: 100.0,
            duration: Duration::from_secs(10),
            peak: 400.0,
            spike_factor: 10.0,
            spike_duration: Duration::from_secs(5),
            soak_duration: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_spike_is_ten_times_the_steady_rate_between_two_steady_phases() {
        let p = phases(&[Scenario::Spike], &shape());
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["spike-before", "spike", "spike-after"]);
        assert_eq!(p[1].rate_at(Duration::from_secs(2)), 1000.0);
        assert_eq!(p[2].rate_at(Duration::ZERO), 100.0);
    }

    #[test]
    fn a_ramp_climbs_linearly_to_the_peak() {
        let p = &phases(&[Scenario::Ramp], &shape())[0];
        assert_eq!(p.rate_at(Duration::ZERO), 0.0);
        assert_eq!(p.rate_at(Duration::from_secs(5)), 200.0);
        assert_eq!(p.rate_at(Duration::from_secs(30)), 400.0);
        assert_eq!(p.planned_points(), 2000.0);
    }

    #[test]
    fn a_soak_runs_twice_the_steady_rate() {
        let p = &phases(&[Scenario::Soak, Scenario::Steady], &shape());
        assert_eq!(p[0].rate_at(Duration::from_secs(59)), 200.0);
        assert_eq!(p[0].duration, Duration::from_secs(60));
        assert_eq!(p[1].name, "steady");
    }
}
