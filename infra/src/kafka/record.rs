//! The payload of a telemetry record: many points of one partition, in one of two formats.
//!
//! - **2, compact** (the default): one byte `0x02`, then a protobuf `PointBatch`
//!   (`proto/telemetry_record.proto`) that lists each organisation, drone and flight plan once
//!   and gives each point's time relative to the batch's first: about 85 bytes a point
//!   against about 400 in JSON, so a broker carries several times the points for its bytes.
//! - **1, JSON**: `{"v":1,"points":[…]}`, what earlier versions wrote.
//!
//! Readers take both, told apart by the first byte (`{` or `0x02`), so records written
//! before an upgrade still decode after it. Measurements stay doubles: a point decodes to
//! exactly what was accepted.

use std::collections::HashMap;

use chrono::DateTime;
use domain::ids::{DroneId, FlightPlanId, OrgId};
use domain::telemetry::TelemetryPoint;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which format records are written in (`kafka.record_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// Format 2, protobuf.
    #[default]
    Compact,
    /// Format 1, JSON: for a rolling upgrade from a version whose workers read nothing else.
    Json,
}

const JSON_VERSION: u8 = 1;
const COMPACT_VERSION: u8 = 2;

#[derive(Serialize)]
struct JsonOut<'a> {
    v: u8,
    points: &'a [TelemetryPoint],
}

#[derive(Deserialize)]
struct JsonIn {
    v: u8,
    points: Vec<TelemetryPoint>,
}

/// `proto/telemetry_record.proto`'s `PointBatch`.
#[derive(Clone, PartialEq, prost::Message)]
struct PointBatch {
    #[prost(bytes = "vec", repeated, tag = "1")]
    orgs: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    drones: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    flight_plans: Vec<Vec<u8>>,
    #[prost(sint64, tag = "4")]
    base_ts_us: i64,
    #[prost(message, repeated, tag = "5")]
    points: Vec<Point>,
}

/// `proto/telemetry_record.proto`'s `Point`.
#[derive(Clone, PartialEq, prost::Message)]
struct Point {
    #[prost(uint32, tag = "1")]
    org: u32,
    #[prost(uint32, tag = "2")]
    drone: u32,
    #[prost(sint64, tag = "3")]
    ts_delta_us: i64,
    #[prost(double, tag = "4")]
    lat: f64,
    #[prost(double, tag = "5")]
    lon: f64,
    #[prost(double, tag = "6")]
    alt_m: f64,
    #[prost(double, tag = "7")]
    speed_mps: f64,
    #[prost(double, tag = "8")]
    heading_deg: f64,
    #[prost(double, tag = "9")]
    battery_pct: f64,
    #[prost(double, optional, tag = "10")]
    vertical_speed_mps: Option<f64>,
    #[prost(uint32, optional, tag = "11")]
    satellites: Option<u32>,
    #[prost(double, optional, tag = "12")]
    link_quality_pct: Option<f64>,
    #[prost(uint32, optional, tag = "13")]
    flight_plan: Option<u32>,
}

/// Why a payload cannot be encoded (in practice never: JSON of plain numbers, or protobuf
/// into a growing buffer).
#[derive(Debug, thiserror::Error)]
#[error("the points cannot be encoded: {0}")]
pub struct EncodeError(String);

/// The payload of one record holding `points`.
pub fn encode(points: &[TelemetryPoint], format: RecordFormat) -> Result<Vec<u8>, EncodeError> {
    match format {
        RecordFormat::Json => serde_json::to_vec(&JsonOut {
            v: JSON_VERSION,
            points,
        })
        .map_err(|e| EncodeError(e.to_string())),
        RecordFormat::Compact => encode_compact(points),
    }
}

/// Numbers each distinct id in order of first appearance.
struct Index<T> {
    ids: HashMap<T, u32>,
    bytes: Vec<Vec<u8>>,
}

impl<T: std::hash::Hash + Eq + Copy> Index<T> {
    fn new() -> Self {
        Self {
            ids: HashMap::new(),
            bytes: Vec::new(),
        }
    }

    fn of(&mut self, id: T, uuid: impl FnOnce(T) -> Uuid) -> u32 {
        let next = self.bytes.len() as u32;
        *self.ids.entry(id).or_insert_with(|| {
            self.bytes.push(uuid(id).as_bytes().to_vec());
            next
        })
    }
}

fn encode_compact(points: &[TelemetryPoint]) -> Result<Vec<u8>, EncodeError> {
    use prost::Message;

    let base = match points.first() {
        Some(p) => p.ts.timestamp_micros(),
        None => 0,
    };
    let (mut orgs, mut drones, mut plans) = (Index::new(), Index::new(), Index::new());
    let mut encoded = Vec::with_capacity(points.len());
    for p in points {
        encoded.push(Point {
            org: orgs.of(p.org_id, |id: OrgId| id.as_uuid()),
            drone: drones.of(p.drone_id, |id: DroneId| id.as_uuid()),
            ts_delta_us: p
                .ts
                .timestamp_micros()
                .checked_sub(base)
                .ok_or_else(|| EncodeError("timestamps too far apart".into()))?,
            lat: p.lat,
            lon: p.lon,
            alt_m: p.alt_m,
            speed_mps: p.speed_mps,
            heading_deg: p.heading_deg,
            battery_pct: p.battery_pct,
            vertical_speed_mps: p.vertical_speed_mps,
            satellites: p.satellites.map(u32::from),
            link_quality_pct: p.link_quality_pct,
            flight_plan: p
                .flight_plan_id
                .map(|id| plans.of(id, |id: FlightPlanId| id.as_uuid())),
        });
    }
    let batch = PointBatch {
        orgs: orgs.bytes,
        drones: drones.bytes,
        flight_plans: plans.bytes,
        base_ts_us: base,
        points: encoded,
    };
    let mut out = Vec::with_capacity(1 + batch.encoded_len());
    out.push(COMPACT_VERSION);
    batch
        .encode(&mut out)
        .map_err(|e| EncodeError(e.to_string()))?;
    Ok(out)
}

/// Reads a record's payload, whichever format it is in; the error says why it cannot be
/// read (for the dead-letter topic).
pub fn decode(payload: Option<&[u8]>) -> Result<Vec<TelemetryPoint>, String> {
    let payload = payload.ok_or_else(|| "record has no payload".to_owned())?;
    match payload.first() {
        Some(b'{') => {
            let record: JsonIn =
                serde_json::from_slice(payload).map_err(|e| format!("undecodable payload: {e}"))?;
            if record.v != JSON_VERSION {
                return Err(format!("unsupported record version {}", record.v));
            }
            Ok(record.points)
        }
        Some(&COMPACT_VERSION) => decode_compact(&payload[1..]),
        Some(other) => Err(format!(
            "undecodable payload: unsupported record format (first byte 0x{other:02x})"
        )),
        None => Err("undecodable payload: empty".to_owned()),
    }
}

fn decode_compact(body: &[u8]) -> Result<Vec<TelemetryPoint>, String> {
    use prost::Message;

    let batch = PointBatch::decode(body).map_err(|e| format!("undecodable payload: {e}"))?;
    let uuid = |list: &[Vec<u8>], at: u32, what: &str| -> Result<Uuid, String> {
        let bytes = list
            .get(at as usize)
            .ok_or_else(|| format!("undecodable payload: {what} index {at} out of range"))?;
        Uuid::from_slice(bytes)
            .map_err(|_| format!("undecodable payload: {what} {at} is not a UUID"))
    };
    batch
        .points
        .iter()
        .map(|p| {
            let ts_us = batch
                .base_ts_us
                .checked_add(p.ts_delta_us)
                .ok_or_else(|| "undecodable payload: timestamp out of range".to_owned())?;
            Ok(TelemetryPoint {
                org_id: OrgId::from_uuid(uuid(&batch.orgs, p.org, "organisation")?),
                drone_id: DroneId::from_uuid(uuid(&batch.drones, p.drone, "drone")?),
                ts: DateTime::from_timestamp_micros(ts_us)
                    .ok_or_else(|| "undecodable payload: timestamp out of range".to_owned())?,
                lat: p.lat,
                lon: p.lon,
                alt_m: p.alt_m,
                speed_mps: p.speed_mps,
                heading_deg: p.heading_deg,
                battery_pct: p.battery_pct,
                vertical_speed_mps: p.vertical_speed_mps,
                satellites: p
                    .satellites
                    .map(|s| {
                        u16::try_from(s).map_err(|_| format!("undecodable payload: satellites {s}"))
                    })
                    .transpose()?,
                link_quality_pct: p.link_quality_pct,
                flight_plan_id: p
                    .flight_plan
                    .map(|at| {
                        uuid(&batch.flight_plans, at, "flight plan").map(FlightPlanId::from_uuid)
                    })
                    .transpose()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: u32, drone: DroneId, plan: Option<FlightPlanId>) -> TelemetryPoint {
        TelemetryPoint {
            org_id: OrgId::from_uuid(Uuid::from_u128(7)),
            drone_id: drone,
            ts: DateTime::from_timestamp_micros(1_764_633_600_123_456 + i64::from(i) * 1_000_003)
                .unwrap(),
            lat: 47.376_887_123_456_78 + f64::from(i) * 1e-7,
            lon: -8.541_694_000_000_001,
            alt_m: if i.is_multiple_of(3) { 0.0 } else { 120.25 },
            speed_mps: 12.5,
            heading_deg: 359.999_999_9,
            battery_pct: 80.0 - f64::from(i) * 0.01,
            vertical_speed_mps: i.is_multiple_of(2).then_some(-0.5),
            satellites: (!i.is_multiple_of(4)).then_some(u16::MAX),
            link_quality_pct: i.is_multiple_of(5).then_some(99.9),
            flight_plan_id: plan,
        }
    }

    fn sample() -> Vec<TelemetryPoint> {
        let (a, b) = (DroneId::new(), DroneId::new());
        let plan = FlightPlanId::new();
        (0..50)
            .map(|i| {
                point(
                    i,
                    if i % 2 == 0 { a } else { b },
                    (i % 3 == 1).then_some(plan),
                )
            })
            .collect()
    }

    #[test]
    fn both_formats_give_back_exactly_the_points() {
        let points = sample();
        for format in [RecordFormat::Compact, RecordFormat::Json] {
            let payload = encode(&points, format).unwrap();
            assert_eq!(decode(Some(&payload)).unwrap(), points, "{format:?}");
        }
        assert_eq!(
            decode(Some(&encode(&[], RecordFormat::Compact).unwrap())).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_record_written_before_the_compact_format_still_decodes() {
        let drone = Uuid::from_u128(42);
        let v1 = format!(
            r#"{{"v":1,"points":[{{"org_id":"{}","drone_id":"{drone}","ts":"2026-12-01T10:00:00.123456Z","lat":47.1,"lon":8.5,"alt_m":100.0,"speed_mps":12.0,"heading_deg":90.0,"battery_pct":80.0,"vertical_speed_mps":null,"satellites":12,"link_quality_pct":null,"flight_plan_id":null}}]}}"#,
            Uuid::from_u128(7)
        );
        let points = decode(Some(v1.as_bytes())).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].drone_id, DroneId::from_uuid(drone));
        assert_eq!(points[0].ts.timestamp_micros() % 1_000_000, 123_456);
    }

    #[test]
    fn the_compact_format_is_a_fraction_of_the_json_one() {
        let points = sample();
        let compact = encode(&points, RecordFormat::Compact).unwrap().len();
        let json = encode(&points, RecordFormat::Json).unwrap().len();
        assert!(
            compact * 4 < json,
            "compact {compact} bytes, JSON {json} bytes for 50 points"
        );
    }

    #[test]
    fn bad_payloads_say_why() {
        assert!(decode(None).unwrap_err().contains("no payload"));
        assert!(decode(Some(b"")).unwrap_err().contains("empty"));
        assert!(decode(Some(b"{not json"))
            .unwrap_err()
            .contains("undecodable"));
        assert!(decode(Some(br#"{"v":9,"points":[]}"#))
            .unwrap_err()
            .contains("version 9"));
        assert!(decode(Some(b"\x07abc")).unwrap_err().contains("0x07"));
        assert!(decode(Some(b"\x02\xff\xff\xff"))
            .unwrap_err()
            .contains("undecodable"));
        // A point naming a drone the batch does not list.
        let mut payload = encode(&sample()[..1], RecordFormat::Compact).unwrap();
        let batch = <PointBatch as prost::Message>::decode(&payload[1..]).unwrap();
        let broken = PointBatch {
            drones: Vec::new(),
            ..batch
        };
        payload.truncate(1);
        prost::Message::encode(&broken, &mut payload).unwrap();
        assert!(decode(Some(&payload))
            .unwrap_err()
            .contains("drone index 0 out of range"));
    }
}
