//! Telemetry: what a drone reports, the rules a point must pass, and the shapes the read
//! side returns. Numbers stay plain `f64` on this hot path; [`validate_point`] is what
//! makes a [`TelemetryPoint`] trustworthy.

use chrono::{DateTime, Duration, Utc};

use crate::drone::DroneStatus;
use crate::error::{FieldCode, FieldError};
use crate::ids::{DroneId, FlightPlanId, OrgId};

/// A point as received (already JSON-decoded), before its ranges are checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointInput {
    pub drone_id: DroneId,
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
    pub speed_mps: f64,
    pub heading_deg: f64,
    pub battery_pct: f64,
    pub vertical_speed_mps: Option<f64>,
    pub satellites: Option<u16>,
    pub link_quality_pct: Option<f64>,
    pub flight_plan_id: Option<FlightPlanId>,
}

/// A validated point of one organisation's drone. `(drone_id, ts)` identifies it: storing
/// the same point twice changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TelemetryPoint {
    pub org_id: OrgId,
    pub drone_id: DroneId,
    /// Microsecond precision (what PostgreSQL keeps).
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
    pub speed_mps: f64,
    pub heading_deg: f64,
    pub battery_pct: f64,
    pub vertical_speed_mps: Option<f64>,
    pub satellites: Option<u16>,
    pub link_quality_pct: Option<f64>,
    pub flight_plan_id: Option<FlightPlanId>,
}

/// Limits on timestamps (configuration `telemetry.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelemetryRules {
    /// How far in the future a `ts` may be (clock skew).
    pub max_future_skew: Duration,
    /// How old a point may be; also how long history is kept.
    pub retention: Duration,
}

impl Default for TelemetryRules {
    fn default() -> Self {
        Self {
            max_future_skew: Duration::seconds(30),
            retention: Duration::days(90),
        }
    }
}

fn range(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), FieldError> {
    if !value.is_finite() {
        return Err(FieldError::new(
            field,
            FieldCode::NotFinite,
            "must be a finite number",
        ));
    }
    if value < min || value > max {
        return Err(FieldError::new(
            field,
            FieldCode::OutOfRange,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(())
}

/// Checks one point's values and timestamp; every problem of the point is reported.
/// Whether the drone exists, belongs to the caller and may report is the caller's check.
pub fn validate_point(
    input: &PointInput,
    org_id: OrgId,
    rules: &TelemetryRules,
    now: DateTime<Utc>,
) -> Result<TelemetryPoint, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut check = |result: Result<(), FieldError>| {
        if let Err(e) = result {
            errors.push(e);
        }
    };
    check(range("lat", input.lat, -90.0, 90.0));
    check(range("lon", input.lon, -180.0, 180.0));
    check(range("alt_m", input.alt_m, -500.0, 10_000.0));
    check(range("speed_mps", input.speed_mps, 0.0, 150.0));
    check(range("heading_deg", input.heading_deg, 0.0, 360.0));
    check(range("battery_pct", input.battery_pct, 0.0, 100.0));
    if let Some(v) = input.vertical_speed_mps {
        check(range("vertical_speed_mps", v, -100.0, 100.0));
    }
    if let Some(v) = input.link_quality_pct {
        check(range("link_quality_pct", v, 0.0, 100.0));
    }
    if input.satellites.is_some_and(|s| s > 255) {
        check(Err(FieldError::new(
            "satellites",
            FieldCode::OutOfRange,
            "must be between 0 and 255",
        )));
    }
    if input.ts > now + rules.max_future_skew {
        check(Err(FieldError::new(
            "ts",
            FieldCode::InFuture,
            format!(
                "is more than {} s in the future",
                rules.max_future_skew.num_seconds()
            ),
        )));
    } else if input.ts < now - rules.retention {
        check(Err(FieldError::new(
            "ts",
            FieldCode::TooOld,
            format!(
                "is older than the {}-day retention",
                rules.retention.num_days()
            ),
        )));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TelemetryPoint {
        org_id,
        drone_id: input.drone_id,
        ts: truncate_to_micros(input.ts),
        lat: input.lat,
        lon: input.lon,
        alt_m: input.alt_m,
        speed_mps: input.speed_mps,
        heading_deg: input.heading_deg,
        battery_pct: input.battery_pct,
        vertical_speed_mps: input.vertical_speed_mps,
        satellites: input.satellites,
        link_quality_pct: input.link_quality_pct,
        flight_plan_id: input.flight_plan_id,
    })
}

/// Whether `drone` may report: it must be a drone of the organisation (`status` is its
/// status, `None` when there is no such drone), not retired, and — when the sender is a
/// drone's API key (`own` is its drone) — the key's own drone.
pub fn may_report(
    drone: DroneId,
    status: Option<DroneStatus>,
    own: Option<DroneId>,
) -> Result<(), FieldError> {
    if own.is_some_and(|own| own != drone) {
        return Err(FieldError::new(
            "drone_id",
            FieldCode::ForbiddenDrone,
            "an API key may only send its own drone's telemetry",
        ));
    }
    match status {
        None => Err(FieldError::new(
            "drone_id",
            FieldCode::UnknownDrone,
            "no such drone in the organisation",
        )),
        Some(DroneStatus::Retired) => Err(FieldError::new(
            "drone_id",
            FieldCode::DroneRetired,
            "the drone is retired and takes no telemetry",
        )),
        Some(_) => Ok(()),
    }
}

pub fn truncate_to_micros(ts: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(ts.timestamp_micros()).unwrap_or(ts)
}

/// A bucket width for downsampled history: `10s`, `1m`, `1h`, `1d` (1 s to 1 day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(i64);

impl Interval {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field("interval", raw)
    }

    /// [`Interval::parse`] of a parameter with another name (a replay's `step`, a
    /// position's `window`), which the error names.
    pub fn parse_field(field: &str, raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                FieldCode::InvalidInterval,
                "must be a number and a unit (s, m, h, d) such as 10s, 1m or 1h, between 1s and 1d",
            )
        };
        let raw = raw.trim();
        let unit_at = raw
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let (number, unit) = raw.split_at(unit_at);
        let number: i64 = number.parse().map_err(|_| invalid())?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        number
            .checked_mul(scale)
            .and_then(Self::from_seconds)
            .ok_or_else(invalid)
    }

    /// `seconds` as an interval, if it is between 1 s and 1 day.
    pub fn from_seconds(seconds: i64) -> Option<Self> {
        (1..=86_400).contains(&seconds).then_some(Self(seconds))
    }

    pub fn seconds(self) -> i64 {
        self.0
    }
}

/// A half-open time range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// avg/min/max of one numeric field within a bucket.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stats {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

/// One bucket of downsampled history: `[start, start + interval)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub count: u64,
    pub alt_m: Stats,
    pub speed_mps: Stats,
    pub battery_pct: Stats,
    pub heading_deg: Stats,
    /// Position of the oldest point in the bucket.
    pub first_lat: f64,
    pub first_lon: f64,
    pub first_ts: DateTime<Utc>,
    /// Position of the newest point in the bucket.
    pub last_lat: f64,
    pub last_lon: f64,
    pub last_ts: DateTime<Utc>,
    /// Ground distance flown inside the bucket: the haversine lengths (on the mean Earth
    /// radius, [`EARTH_RADIUS_M`]) of the segments between consecutive points of the bucket.
    pub distance_m: f64,
}

/// The mean Earth radius that distances flown are measured on: `geo`'s `Haversine`'s
/// (GRS80's mean radius).
pub const EARTH_RADIUS_M: f64 = geo::Haversine.radius();

/// Ground distance between two positions in degrees, in metres: `geo`'s haversine, the
/// formula the stores also evaluate in SQL.
pub fn ground_distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    use geo::{Distance, Haversine, Point};
    Haversine.distance(Point::new(lon1, lat1), Point::new(lon2, lat2))
}

/// A rectangle in degrees: `minLon,minLat,maxLon,maxLat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl BBox {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = |m: &str| FieldError::new("bbox", FieldCode::InvalidBbox, m.to_owned());
        let parts: Vec<f64> = raw
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid("must be minLon,minLat,maxLon,maxLat in degrees"))?;
        let [min_lon, min_lat, max_lon, max_lat] = parts[..] else {
            return Err(invalid("must be minLon,minLat,maxLon,maxLat in degrees"));
        };
        let lon_ok = |v: f64| (-180.0..=180.0).contains(&v);
        let lat_ok = |v: f64| (-90.0..=90.0).contains(&v);
        if !(lon_ok(min_lon) && lon_ok(max_lon) && lat_ok(min_lat) && lat_ok(max_lat)) {
            return Err(invalid("coordinates out of range"));
        }
        if min_lon > max_lon || min_lat > max_lat {
            return Err(invalid("minimums must not exceed maximums"));
        }
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.min_lat..=self.max_lat).contains(&lat) && (self.min_lon..=self.max_lon).contains(&lon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_organisations_flying_drones_report_and_a_key_only_for_its_own() {
        let (drone, other) = (DroneId::new(), DroneId::new());
        assert_eq!(may_report(drone, Some(DroneStatus::Active), None), Ok(()));
        assert_eq!(
            may_report(drone, Some(DroneStatus::Grounded), Some(drone)),
            Ok(())
        );
        let code = |r: Result<(), FieldError>| r.unwrap_err().code;
        assert_eq!(code(may_report(drone, None, None)), FieldCode::UnknownDrone);
        assert_eq!(
            code(may_report(drone, Some(DroneStatus::Retired), None)),
            FieldCode::DroneRetired
        );
        assert_eq!(
            code(may_report(drone, Some(DroneStatus::Active), Some(other))),
            FieldCode::ForbiddenDrone
        );
    }

    fn input(now: DateTime<Utc>) -> PointInput {
        PointInput {
            drone_id: DroneId::new(),
            ts: now,
            lat: 47.0,
            lon: 8.0,
            alt_m: 50.0,
            speed_mps: 10.0,
            heading_deg: 90.0,
            battery_pct: 80.0,
            vertical_speed_mps: None,
            satellites: Some(12),
            link_quality_pct: Some(99.0),
            flight_plan_id: None,
        }
    }

    #[test]
    fn a_plausible_point_is_accepted() {
        let now = Utc::now();
        let p = validate_point(&input(now), OrgId::new(), &TelemetryRules::default(), now).unwrap();
        assert_eq!(p.ts.timestamp_micros(), now.timestamp_micros());
    }

    #[test]
    fn every_bad_value_of_a_point_is_named() {
        let now = Utc::now();
        let mut bad = input(now);
        bad.lat = 91.0;
        bad.battery_pct = f64::NAN;
        bad.heading_deg = 400.0;
        bad.ts = now + Duration::minutes(5);
        let errors =
            validate_point(&bad, OrgId::new(), &TelemetryRules::default(), now).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["lat", "heading_deg", "battery_pct", "ts"]);
        assert_eq!(errors[2].code, "not_finite");
        assert_eq!(errors[3].code, "in_future");
    }

    #[test]
    fn points_older_than_retention_are_refused() {
        let now = Utc::now();
        let mut old = input(now);
        old.ts = now - Duration::days(91);
        let errors =
            validate_point(&old, OrgId::new(), &TelemetryRules::default(), now).unwrap_err();
        assert_eq!(errors[0].code, "too_old");
    }

    #[test]
    fn intervals_have_a_unit_and_stay_within_a_day() {
        assert_eq!(Interval::parse("10s").unwrap().seconds(), 10);
        assert_eq!(Interval::parse("1m").unwrap().seconds(), 60);
        assert_eq!(Interval::parse("2h").unwrap().seconds(), 7200);
        assert_eq!(Interval::parse("1d").unwrap().seconds(), 86_400);
        for bad in ["", "10", "s", "0s", "2d", "1w", "-1s", "1.5m"] {
            assert!(Interval::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_bbox_is_four_ordered_coordinates() {
        let b = BBox::parse("8.0,47.0,9.0,48.0").unwrap();
        assert!(b.contains(47.5, 8.5));
        assert!(!b.contains(46.9, 8.5));
        for bad in ["", "1,2,3", "9,47,8,48", "0,0,200,0", "a,b,c,d"] {
            assert!(BBox::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
