//! Exact percentiles over every sample: the runs are bounded, so the samples fit in memory.

pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

impl Summary {
    /// `None` without samples.
    pub fn of(mut samples: Vec<f64>) -> Option<Self> {
        samples.sort_by(f64::total_cmp);
        Some(Self {
            p50: nearest_rank(&samples, 0.50)?,
            p99: nearest_rank(&samples, 0.99)?,
            max: *samples.last()?,
            count: samples.len(),
        })
    }
}

/// The smallest sample with at least `q` of all samples at or below it.
fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}
