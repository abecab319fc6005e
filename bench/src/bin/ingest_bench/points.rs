//! Generated telemetry: drone `i` circles its home near Zürich, and a point is a pure
//! function of the drone, its sequence number and its `ts`, so the HTTP figure and the
//! COPY figure store the same kind of rows.

use chrono::{DateTime, Utc};
use domain::telemetry::TelemetryPoint;
use domain::{DroneId, OrgId};
use serde::Serialize;
use uuid::Uuid;

/// Home position of the `index`-th drone: a 100 × 100 grid over the city.
pub fn home(index: usize) -> (f64, f64) {
    (
        47.30 + (index % 100) as f64 * 0.002,
        8.40 + (index / 100 % 100) as f64 * 0.003,
    )
}

/// The `seq`-th sample of the `index`-th drone: a 300 m circle at 40–80 m, 10–14 m/s.
pub fn point(
    org: OrgId,
    drone: DroneId,
    index: usize,
    seq: u64,
    ts: DateTime<Utc>,
) -> TelemetryPoint {
    let (home_lat, home_lon) = home(index);
    let angle = seq as f64 * 0.05 + index as f64;
    let (sin, cos) = angle.sin_cos();
    TelemetryPoint {
        org_id: org,
        drone_id: drone,
        ts,
        lat: home_lat + 0.0027 * sin,
        lon: home_lon + 0.004 * cos,
        alt_m: 60.0 + 20.0 * (angle * 0.3).sin(),
        speed_mps: 12.0 + 2.0 * cos,
        heading_deg: (angle.to_degrees() + 90.0).rem_euclid(360.0),
        battery_pct: (95.0 - (seq % 9000) as f64 * 0.01).max(5.0),
        vertical_speed_mps: Some(1.8 * (angle * 0.3).cos()),
        satellites: Some(12 + (seq % 7) as u16),
        link_quality_pct: Some(90.0 + 9.0 * sin.abs()),
        flight_plan_id: None,
    }
}

/// A point as `POST /telemetry` takes it.
#[derive(Serialize)]
pub struct Wire {
    drone_id: Uuid,
    ts: DateTime<Utc>,
    lat: f64,
    lon: f64,
    alt_m: f64,
    speed_mps: f64,
    heading_deg: f64,
    battery_pct: f64,
    vertical_speed_mps: Option<f64>,
    satellites: Option<u16>,
    link_quality_pct: Option<f64>,
}

impl From<&TelemetryPoint> for Wire {
    fn from(p: &TelemetryPoint) -> Self {
        Self {
            drone_id: p.drone_id.as_uuid(),
            ts: p.ts,
            lat: p.lat,
            lon: p.lon,
            alt_m: p.alt_m,
            speed_mps: p.speed_mps,
            heading_deg: p.heading_deg,
            battery_pct: p.battery_pct,
            vertical_speed_mps: p.vertical_speed_mps,
            satellites: p.satellites,
            link_quality_pct: p.link_quality_pct,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    points: &'a [Wire],
}

/// The JSON body of one `POST /telemetry`.
pub fn body(points: &[Wire]) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(&Body { points })?)
}
