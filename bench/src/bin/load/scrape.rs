//! Reads the queue and lag gauges from each replica's and worker's /metrics.

use std::time::Duration;

/// The consumer group's lag, whoever holds the partitions (every worker reports it; the
/// maximum is taken, not the sum).
const GROUP_LAG_RECORDS: &str = "nimbusfleet_ingest_group_lag_records";
const GROUP_LAG_SECONDS: &str = "nimbusfleet_ingest_group_lag_seconds";
/// Points accepted but not yet written, per embedded replica (summed).
const QUEUE_POINTS: &str = "nimbusfleet_telemetry_queue_points";

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sample {
    pub lag_records: Option<f64>,
    pub lag_seconds: Option<f64>,
    pub queue_points: Option<f64>,
}

pub struct Scraper {
    http: reqwest::Client,
    urls: Vec<String>,
    token: Option<String>,
}

impl Scraper {
    pub fn new(urls: Vec<String>, token: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self { http, urls, token })
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// One sample over every endpoint; endpoints that do not answer are left out.
    pub async fn sample(&self) -> Sample {
        let mut total = Sample::default();
        for url in &self.urls {
            let mut req = self.http.get(url);
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            let Ok(res) = req.send().await else { continue };
            let Ok(text) = res.text().await else { continue };
            total.merge(&parse(&text));
        }
        total
    }
}

impl Sample {
    fn merge(&mut self, other: &Sample) {
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.lag_records = max(self.lag_records, other.lag_records);
        self.lag_seconds = max(self.lag_seconds, other.lag_seconds);
        self.queue_points = sum(self.queue_points, other.queue_points);
    }
}

/// The three gauges from a Prometheus text exposition (labelled series are summed).
pub fn parse(text: &str) -> Sample {
    let mut s = Sample::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let slot = match name {
            GROUP_LAG_RECORDS => &mut s.lag_records,
            GROUP_LAG_SECONDS => &mut s.lag_seconds,
            QUEUE_POINTS => &mut s.queue_points,
            _ => continue,
        };
        *slot = Some(slot.unwrap_or(0.0) + value);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauges_are_read_from_the_exposition() {
        let text = "# TYPE nimbusfleet_ingest_group_lag_records gauge\n\
                    nimbusfleet_ingest_group_lag_records 42\n\
                    nimbusfleet_ingest_group_lag_seconds 1.5\n\
                    nimbusfleet_telemetry_queue_points{shard=\"0\"} 3\n\
                    nimbusfleet_telemetry_queue_points{shard=\"1\"} 4\n\
                    nimbusfleet_http_requests_total{route=\"x\"} 9\n";
        assert_eq!(
            parse(text),
            Sample {
                lag_records: Some(42.0),
                lag_seconds: Some(1.5),
                queue_points: Some(7.0)
            }
        );
    }

    #[test]
    fn lag_is_the_maximum_over_workers_and_queues_add_up() {
        let mut a = parse(
            "nimbusfleet_ingest_group_lag_records 10\nnimbusfleet_telemetry_queue_points 5\n",
        );
        a.merge(&parse(
            "nimbusfleet_ingest_group_lag_records 12\nnimbusfleet_telemetry_queue_points 1\n",
        ));
        assert_eq!((a.lag_records, a.queue_points), (Some(12.0), Some(6.0)));
    }
}
