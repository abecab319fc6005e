//! The flight model of one simulated drone: pure and deterministic given its seed and the
//! sample times it is fed, so it can be tested without a clock or a server.
//!
//! A drone repeats one mission: it sits on the ground charging, takes off from home to a
//! cruise altitude, flies a closed circuit of waypoints around home, flies back, lands and
//! charges again. Positions are integrated in a local east/north/up frame centred on home
//! (flat-earth, fine within a few kilometres) and converted to WGS 84 degrees per sample.
//! Altitudes are metres above the take-off point, the API's datum.

use api::dto::PointDto;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// Longest integration step: samples further apart are integrated in steps this long.
const MAX_STEP_S: f64 = 0.1;
/// Longest gap between samples that is flown through; a longer one (a clock jump) is cut
/// to this, so one sample never costs more than a bounded amount of work.
const MAX_GAP_S: f64 = 3_600.0;
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

const CLIMB_MPS: f64 = 3.0;
const DESCENT_MPS: f64 = 2.0;
/// Descent rate in the last [`FLARE_HEIGHT_M`] metres.
const FLARE_DESCENT_MPS: f64 = 0.7;
const FLARE_HEIGHT_M: f64 = 5.0;
const VERTICAL_ACCEL_MPS2: f64 = 1.5;
const HORIZONTAL_ACCEL_MPS2: f64 = 2.0;
const TURN_RATE_DEG_S: f64 = 25.0;
/// Horizontal speed at which the drone drifts onto the landing spot while descending.
const LANDING_DRIFT_MPS: f64 = 1.0;

const CRUISE_ALT_M: (f64, f64) = (40.0, 100.0);
const CRUISE_SPEED_MPS: (f64, f64) = (8.0, 15.0);
const WAYPOINTS: (usize, usize) = (4, 8);
/// Distance of circuit waypoints from home.
const CIRCUIT_RADIUS_M: (f64, f64) = (300.0, 1_500.0);
/// Distance from the home waypoint at which the drone starts its descent.
const HOME_ACCEPT_M: f64 = 2.0;

const GROUND_TIME_S: (f64, f64) = (18.0, 23.0);
const CHARGE_PCT_PER_S: f64 = 4.0;
/// Battery level the drone needs before it takes off again.
const READY_BATTERY_PCT: f64 = 95.0;
/// Below this level the drone abandons its circuit and flies home.
const RETURN_BATTERY_PCT: f64 = 25.0;

const SATELLITES: (u16, u16) = (10, 16);
const LINK_LOSS_PCT_PER_KM: f64 = 12.0;

/// Home position: WGS 84 degrees and metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Home {
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
}

/// What the model needs to know about a drone.
#[derive(Debug, Clone, PartialEq)]
pub struct DroneSpec {
    pub id: Uuid,
    pub home: Home,
    pub max_speed_mps: f64,
    pub max_altitude_m: f64,
    pub endurance_min: f64,
}

/// How a drone departs from good behaviour (`simulate --misbehave`), so that the monitor
/// has something to alert on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Misbehaviour {
    /// The battery drains eight times faster in flight: `battery_low`, then critical.
    pub drain_battery: bool,
    /// Silent for [`SILENCE_S`] once per mission, from [`SILENT_AFTER_S`] after take-off:
    /// `link_lost`, then found again.
    pub lose_link: bool,
    /// Every mission first flies over this spot (metres east and north of home), where the
    /// simulator has put a prohibited fence: `geofence_breach`.
    pub detour: Option<(f64, f64)>,
}

/// When a link-losing drone goes silent, in seconds after take-off…
pub const SILENT_AFTER_S: f64 = 45.0;
/// …and for how long.
pub const SILENCE_S: f64 = 15.0;
const DRAIN_FACTOR: f64 = 8.0;

/// What the drone is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// On the home pad, charging.
    Grounded { remaining_s: f64 },
    /// Climbing vertically to the cruise altitude.
    TakeOff,
    /// Flying towards `route[next]`; the route's last waypoint is home.
    Cruise { next: usize },
    /// Descending onto the home pad.
    Landing,
}

/// The state of one simulated drone.
#[derive(Debug, Clone)]
pub struct Flight {
    spec: DroneSpec,
    rng: StdRng,
    phase: Phase,
    east_m: f64,
    north_m: f64,
    up_m: f64,
    heading_deg: f64,
    speed_mps: f64,
    vertical_mps: f64,
    battery_pct: f64,
    satellites: u16,
    satellites_change_in_s: f64,
    cruise_alt_m: f64,
    cruise_speed_mps: f64,
    route: Vec<(f64, f64)>,
    last_ts: Option<DateTime<Utc>>,
    misbehaviour: Misbehaviour,
    /// Seconds since the current mission's take-off.
    mission_s: f64,
}

impl Flight {
    /// A drone on its home pad, partly charged, taking off within about 20 s. Drones
    /// with different seeds start at different times and fly different circuits.
    pub fn new(spec: DroneSpec, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let phase = Phase::Grounded {
            remaining_s: rng.gen_range(0.0..GROUND_TIME_S.1),
        };
        let battery_pct = rng.gen_range(READY_BATTERY_PCT..=100.0);
        let satellites = rng.gen_range(SATELLITES.0..=SATELLITES.1);
        let heading_deg = rng.gen_range(0.0..360.0);
        Self {
            spec,
            rng,
            phase,
            east_m: 0.0,
            north_m: 0.0,
            up_m: 0.0,
            heading_deg,
            speed_mps: 0.0,
            vertical_mps: 0.0,
            battery_pct,
            satellites,
            satellites_change_in_s: 0.0,
            cruise_alt_m: 0.0,
            cruise_speed_mps: 0.0,
            route: Vec::new(),
            last_ts: None,
            misbehaviour: Misbehaviour::default(),
            mission_s: 0.0,
        }
    }

    /// The same drone, misbehaving.
    pub fn misbehaving(mut self, misbehaviour: Misbehaviour) -> Self {
        self.misbehaviour = misbehaviour;
        self
    }

    pub fn misbehaviour(&self) -> Misbehaviour {
        self.misbehaviour
    }

    pub fn spec(&self) -> &DroneSpec {
        &self.spec
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn altitude_m(&self) -> f64 {
        self.up_m
    }

    /// Cruise altitude of the current (or last) mission; 0 before the first take-off.
    pub fn cruise_altitude_m(&self) -> f64 {
        self.cruise_alt_m
    }

    /// Horizontal distance from home.
    pub fn distance_from_home_m(&self) -> f64 {
        self.east_m.hypot(self.north_m)
    }

    /// Advances the model to `ts` and returns the sample taken then. Returns `None` when
    /// `ts` is not after the previous sample's (a clock that stepped back), so a drone's
    /// timestamps always increase.
    pub fn sample(&mut self, ts: DateTime<Utc>) -> Option<PointDto> {
        if let Some(last) = self.last_ts {
            if ts <= last {
                return None;
            }
            let elapsed_s = (ts - last)
                .num_microseconds()
                .map_or(MAX_GAP_S, |us| us as f64 / 1e6);
            self.advance(elapsed_s.min(MAX_GAP_S));
        }
        self.last_ts = Some(ts);
        let silent = self.misbehaviour.lose_link
            && !matches!(self.phase, Phase::Grounded { .. })
            && (SILENT_AFTER_S..SILENT_AFTER_S + SILENCE_S).contains(&self.mission_s);
        if silent {
            return None;
        }
        Some(self.point(ts))
    }

    /// Advances the model by `dt_s` seconds of flight.
    pub fn advance(&mut self, dt_s: f64) {
        let mut left = dt_s.max(0.0);
        while left > 0.0 {
            let dt = left.min(MAX_STEP_S);
            self.step(dt);
            left -= dt;
        }
    }

    fn step(&mut self, dt: f64) {
        match self.phase {
            Phase::Grounded { remaining_s } => self.charge(dt, remaining_s - dt),
            Phase::TakeOff => self.climb(dt),
            Phase::Cruise { next } => self.cruise(dt, next),
            Phase::Landing => self.land(dt),
        }
        if !matches!(self.phase, Phase::Grounded { .. }) {
            self.mission_s += dt;
            let per_s = 100.0 / (self.spec.endurance_min.max(1.0) * 60.0);
            let load = 1.0 + 0.03 * self.speed_mps + 0.25 * self.vertical_mps.max(0.0);
            let drain = if self.misbehaviour.drain_battery {
                DRAIN_FACTOR
            } else {
                1.0
            };
            self.battery_pct = (self.battery_pct - per_s * load * drain * dt).max(0.0);
        }
        self.satellites_change_in_s -= dt;
        if self.satellites_change_in_s <= 0.0 {
            let change: i32 = self.rng.gen_range(-1..=1);
            self.satellites = (i32::from(self.satellites) + change)
                .clamp(i32::from(SATELLITES.0), i32::from(SATELLITES.1))
                as u16;
            self.satellites_change_in_s = self.rng.gen_range(5.0..20.0);
        }
    }

    fn charge(&mut self, dt: f64, remaining_s: f64) {
        self.east_m = 0.0;
        self.north_m = 0.0;
        self.up_m = 0.0;
        self.speed_mps = 0.0;
        self.vertical_mps = 0.0;
        self.battery_pct = (self.battery_pct + CHARGE_PCT_PER_S * dt).min(100.0);
        self.phase = if remaining_s <= 0.0 && self.battery_pct >= READY_BATTERY_PCT {
            self.plan_mission();
            Phase::TakeOff
        } else {
            Phase::Grounded { remaining_s }
        };
    }

    fn plan_mission(&mut self) {
        let ceiling = (self.spec.max_altitude_m - 5.0).max(self.spec.max_altitude_m * 0.8);
        self.cruise_alt_m = self
            .rng
            .gen_range(CRUISE_ALT_M.0..=CRUISE_ALT_M.1)
            .min(ceiling);
        self.cruise_speed_mps = self
            .rng
            .gen_range(CRUISE_SPEED_MPS.0..=CRUISE_SPEED_MPS.1)
            .min(self.spec.max_speed_mps * 0.9);
        let count = self.rng.gen_range(WAYPOINTS.0..=WAYPOINTS.1);
        let sector_deg = 360.0 / count as f64;
        let start_deg = self.rng.gen_range(0.0..360.0);
        self.route = (0..count)
            .map(|i| {
                let jitter = self.rng.gen_range(-0.3..=0.3) * sector_deg;
                let bearing = (start_deg + i as f64 * sector_deg + jitter).to_radians();
                let radius = self.rng.gen_range(CIRCUIT_RADIUS_M.0..=CIRCUIT_RADIUS_M.1);
                (radius * bearing.sin(), radius * bearing.cos())
            })
            .collect();
        if let Some(detour) = self.misbehaviour.detour {
            self.route.insert(0, detour);
        }
        self.route.push((0.0, 0.0));
        self.mission_s = 0.0;
    }

    fn climb(&mut self, dt: f64) {
        let to_go = (self.cruise_alt_m - self.up_m).max(0.0);
        let target = CLIMB_MPS.min((2.0 * VERTICAL_ACCEL_MPS2 * to_go).sqrt());
        self.vertical_mps = approach(self.vertical_mps, target, VERTICAL_ACCEL_MPS2 * dt);
        self.up_m = (self.up_m + self.vertical_mps * dt).min(self.cruise_alt_m);
        if let Some(&(east, north)) = self.route.first() {
            self.turn_towards(east, north, dt);
        }
        if self.up_m >= self.cruise_alt_m - 0.3 {
            self.phase = Phase::Cruise { next: 0 };
        }
    }

    fn cruise(&mut self, dt: f64, mut next: usize) {
        let home = self.route.len().saturating_sub(1);
        if next < home && self.battery_pct < RETURN_BATTERY_PCT {
            next = home;
        }
        let Some(&(east, north)) = self.route.get(next) else {
            self.phase = Phase::Landing;
            return;
        };
        let error_deg = self.turn_towards(east, north, dt);
        let distance = (east - self.east_m).hypot(north - self.north_m);
        // Slow down in sharp turns so the turn radius stays small, and before home.
        let mut target = self.cruise_speed_mps * error_deg.to_radians().cos().max(0.15);
        if next == home {
            target = target.min((2.0 * HORIZONTAL_ACCEL_MPS2 * 0.8 * distance).sqrt());
        }
        self.speed_mps = approach(self.speed_mps, target, HORIZONTAL_ACCEL_MPS2 * dt);
        let heading = self.heading_deg.to_radians();
        self.east_m += self.speed_mps * heading.sin() * dt;
        self.north_m += self.speed_mps * heading.cos() * dt;
        let hold = ((self.cruise_alt_m - self.up_m) * 0.5).clamp(-DESCENT_MPS, CLIMB_MPS);
        self.vertical_mps = approach(self.vertical_mps, hold, VERTICAL_ACCEL_MPS2 * dt);
        self.up_m += self.vertical_mps * dt;
        let reached = if next == home {
            distance < HOME_ACCEPT_M
        } else {
            distance < (self.speed_mps * 1.5).max(15.0)
        };
        self.phase = match (reached, next == home) {
            (true, true) => Phase::Landing,
            (true, false) => Phase::Cruise { next: next + 1 },
            (false, _) => Phase::Cruise { next },
        };
    }

    fn land(&mut self, dt: f64) {
        let distance = self.distance_from_home_m();
        if distance > 0.0 {
            let drift = (LANDING_DRIFT_MPS * dt).min(distance);
            self.east_m -= self.east_m / distance * drift;
            self.north_m -= self.north_m / distance * drift;
            self.speed_mps = drift / dt;
        } else {
            self.speed_mps = 0.0;
        }
        let target = if self.up_m > FLARE_HEIGHT_M {
            -DESCENT_MPS
        } else {
            -FLARE_DESCENT_MPS
        };
        self.vertical_mps = approach(self.vertical_mps, target, VERTICAL_ACCEL_MPS2 * dt);
        self.up_m += self.vertical_mps * dt;
        if self.up_m <= 0.0 {
            self.up_m = 0.0;
            self.east_m = 0.0;
            self.north_m = 0.0;
            self.speed_mps = 0.0;
            self.vertical_mps = 0.0;
            self.phase = Phase::Grounded {
                remaining_s: self.rng.gen_range(GROUND_TIME_S.0..=GROUND_TIME_S.1),
            };
        }
    }

    /// Turns towards a point at the turn rate; returns the heading error left, in degrees.
    fn turn_towards(&mut self, east: f64, north: f64, dt: f64) -> f64 {
        let (de, dn) = (east - self.east_m, north - self.north_m);
        if de.hypot(dn) < 1e-6 {
            return 0.0;
        }
        let bearing = de.atan2(dn).to_degrees();
        let error = wrap_180(bearing - self.heading_deg);
        let max_turn = TURN_RATE_DEG_S * dt;
        self.heading_deg = normalize_heading(self.heading_deg + error.clamp(-max_turn, max_turn));
        wrap_180(bearing - self.heading_deg)
    }

    fn point(&mut self, ts: DateTime<Utc>) -> PointDto {
        let home = self.spec.home;
        let metres_per_degree_lon =
            METRES_PER_DEGREE_LAT * home.lat.to_radians().cos().abs().max(0.01);
        let distance_km = self.distance_from_home_m() / 1_000.0;
        let noise = self.rng.gen_range(0.0..3.0);
        let link = (100.0 - LINK_LOSS_PCT_PER_KM * distance_km - noise).clamp(0.0, 100.0);
        PointDto {
            drone_id: self.spec.id,
            ts,
            lat: round(home.lat + self.north_m / METRES_PER_DEGREE_LAT, 7),
            lon: round(home.lon + self.east_m / metres_per_degree_lon, 7),
            alt_m: round(self.up_m, 2),
            speed_mps: round(self.speed_mps, 2),
            heading_deg: normalize_heading(round(self.heading_deg, 2)),
            battery_pct: round(self.battery_pct, 2).clamp(0.0, 100.0),
            vertical_speed_mps: Some(round(self.vertical_mps, 2)),
            satellites: Some(self.satellites),
            link_quality_pct: Some(round(link, 1)),
            flight_plan_id: None,
        }
    }
}

fn approach(value: f64, target: f64, max_change: f64) -> f64 {
    value + (target - value).clamp(-max_change, max_change)
}

/// An angle difference in (−180, 180].
fn wrap_180(deg: f64) -> f64 {
    let wrapped = deg.rem_euclid(360.0);
    if wrapped > 180.0 {
        wrapped - 360.0
    } else {
        wrapped
    }
}

/// A heading in [0, 360): `rem_euclid` alone can return 360.0 for tiny negative inputs.
fn normalize_heading(deg: f64) -> f64 {
    let h = deg.rem_euclid(360.0);
    if h >= 360.0 {
        0.0
    } else {
        h
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    let rounded = (value * factor).round() / factor;
    if rounded == 0.0 {
        0.0
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn spec() -> DroneSpec {
        DroneSpec {
            id: Uuid::nil(),
            home: Home {
                lat: 47.37,
                lon: 8.54,
                alt_m: 0.0,
            },
            max_speed_mps: 20.0,
            max_altitude_m: 120.0,
            endurance_min: 40.0,
        }
    }

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Samples the drone every `step_ms` for `duration_s`.
    fn fly(flight: &mut Flight, duration_s: i64, step_ms: i64) -> Vec<PointDto> {
        let t0 = start();
        (0..=duration_s * 1000 / step_ms)
            .filter_map(|i| flight.sample(t0 + TimeDelta::milliseconds(i * step_ms)))
            .collect()
    }

    fn advance_until(flight: &mut Flight, limit_s: f64, done: impl Fn(&Flight) -> bool) -> bool {
        let mut t = 0.0;
        while t < limit_s {
            if done(flight) {
                return true;
            }
            flight.advance(MAX_STEP_S);
            t += MAX_STEP_S;
        }
        done(flight)
    }

    #[test]
    fn take_off_climbs_to_a_cruise_altitude_between_40_and_100_m() {
        for seed in 0..20 {
            let mut flight = Flight::new(spec(), seed);
            assert!(advance_until(&mut flight, 60.0, |f| f.phase() == Phase::TakeOff));
            assert!(advance_until(&mut flight, 120.0, |f| matches!(
                f.phase(),
                Phase::Cruise { .. }
            )));
            let cruise = flight.cruise_altitude_m();
            assert!((40.0..=100.0).contains(&cruise), "cruise altitude {cruise}");
            assert!((flight.altitude_m() - cruise).abs() < 0.5);
        }
    }

    #[test]
    fn cruise_altitude_stays_below_a_low_altitude_limit() {
        let mut low = spec();
        low.max_altitude_m = 30.0;
        let mut flight = Flight::new(low, 7);
        let points = fly(&mut flight, 1_200, 1_000);
        assert!(points.iter().all(|p| p.alt_m <= 30.0));
        assert!(points.iter().any(|p| p.alt_m > 20.0));
    }

    #[test]
    fn a_drone_flies_its_circuit_lands_at_home_and_takes_off_again() {
        for seed in 0..30 {
            let mut flight = Flight::new(spec(), seed);
            assert!(advance_until(&mut flight, 60.0, |f| f.phase() == Phase::TakeOff));
            // The longest circuit is 8 legs of at most 3 km at 8 m/s or more.
            assert!(advance_until(&mut flight, 3_600.0, |f| f.phase() == Phase::Landing));
            assert!(advance_until(&mut flight, 300.0, |f| matches!(
                f.phase(),
                Phase::Grounded { .. }
            )));
            assert_eq!(flight.altitude_m(), 0.0);
            assert_eq!(flight.distance_from_home_m(), 0.0);
            assert!(advance_until(&mut flight, 60.0, |f| f.phase() == Phase::TakeOff));
        }
    }

    #[test]
    fn the_drone_stays_within_two_km_of_home_and_below_its_maximum_altitude() {
        for seed in 0..5 {
            let mut flight = Flight::new(spec(), seed);
            let mut furthest: f64 = 0.0;
            for _ in 0..36_000 {
                flight.advance(MAX_STEP_S);
                furthest = furthest.max(flight.distance_from_home_m());
                assert!(flight.altitude_m() <= 120.0);
                assert!(flight.altitude_m() >= 0.0);
            }
            assert!(furthest > CIRCUIT_RADIUS_M.0 * 0.5, "never left home");
            assert!(furthest < 2_000.0, "flew {furthest} m from home");
        }
    }

    #[test]
    fn battery_stays_between_0_and_100_even_with_a_short_endurance() {
        let mut weak = spec();
        weak.endurance_min = 2.0;
        let mut flight = Flight::new(weak, 11);
        let points = fly(&mut flight, 3_600, 1_000);
        assert!(points
            .iter()
            .all(|p| (0.0..=100.0).contains(&p.battery_pct)));
        assert!(points.iter().any(|p| p.battery_pct < 50.0), "never drained");
    }

    #[test]
    fn battery_drains_in_flight_and_recovers_on_the_ground() {
        let mut flight = Flight::new(spec(), 5);
        let points = fly(&mut flight, 3_600, 1_000);
        let airborne = points.windows(2).filter(|w| w[1].alt_m > 1.0);
        assert!(airborne
            .clone()
            .all(|w| w[1].battery_pct <= w[0].battery_pct));
        let grounded = points
            .windows(2)
            .filter(|w| w[0].alt_m == 0.0 && w[1].alt_m == 0.0);
        assert!(grounded
            .clone()
            .all(|w| w[1].battery_pct >= w[0].battery_pct));
        assert!(grounded
            .clone()
            .any(|w| w[1].battery_pct > w[0].battery_pct));
    }

    #[test]
    fn headings_stay_in_0_to_360_and_change_smoothly() {
        let mut flight = Flight::new(spec(), 9);
        let points = fly(&mut flight, 3_600, 1_000);
        assert!(points.iter().all(|p| (0.0..360.0).contains(&p.heading_deg)));
        for w in points.windows(2) {
            let turn = wrap_180(w[1].heading_deg - w[0].heading_deg).abs();
            assert!(turn <= TURN_RATE_DEG_S + 0.1, "turned {turn}° in 1 s");
        }
    }

    #[test]
    fn speeds_are_non_negative_and_within_the_drone_maximum() {
        let mut flight = Flight::new(spec(), 13);
        let points = fly(&mut flight, 3_600, 500);
        assert!(points.iter().all(|p| (0.0..=20.0).contains(&p.speed_mps)));
        assert!(points.iter().any(|p| p.speed_mps >= CRUISE_SPEED_MPS.0));
        assert!(points.iter().any(|p| p.vertical_speed_mps.unwrap() > 1.0));
        assert!(points.iter().any(|p| p.vertical_speed_mps.unwrap() < -1.0));
    }

    #[test]
    fn satellites_stay_between_10_and_16_and_link_quality_drops_away_from_home() {
        let mut flight = Flight::new(spec(), 17);
        let points = fly(&mut flight, 3_600, 1_000);
        assert!(points
            .iter()
            .all(|p| (10..=16).contains(&p.satellites.unwrap())));
        assert!(points
            .iter()
            .all(|p| (0.0..=100.0).contains(&p.link_quality_pct.unwrap())));
        let at_home = points.iter().find(|p| p.alt_m == 0.0).unwrap();
        let furthest = points
            .iter()
            .max_by(|a, b| {
                let da = (a.lat - 47.37).hypot(a.lon - 8.54);
                let db = (b.lat - 47.37).hypot(b.lon - 8.54);
                da.total_cmp(&db)
            })
            .unwrap();
        assert!(furthest.link_quality_pct.unwrap() < at_home.link_quality_pct.unwrap());
    }

    #[test]
    fn timestamps_increase_and_a_clock_that_steps_back_yields_no_sample() {
        let mut flight = Flight::new(spec(), 1);
        let t0 = start();
        assert!(flight.sample(t0).is_some());
        assert!(flight.sample(t0).is_none());
        assert!(flight.sample(t0 - TimeDelta::seconds(1)).is_none());
        let later = flight.sample(t0 + TimeDelta::milliseconds(250)).unwrap();
        assert_eq!(later.ts, t0 + TimeDelta::milliseconds(250));
        let points = fly(&mut Flight::new(spec(), 1), 60, 100);
        assert!(points.windows(2).all(|w| w[1].ts > w[0].ts));
    }

    #[test]
    fn the_same_seed_flies_the_same_mission() {
        let a = fly(&mut Flight::new(spec(), 42), 600, 1_000);
        let b = fly(&mut Flight::new(spec(), 42), 600, 1_000);
        assert_eq!(a, b);
        let c = fly(&mut Flight::new(spec(), 43), 600, 1_000);
        assert_ne!(a, c);
    }

    #[test]
    fn a_point_serialises_with_the_ingest_field_names() {
        let mut flight = Flight::new(spec(), 1);
        let point = flight.sample(start()).unwrap();
        let json = serde_json::to_value(point).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "alt_m",
                "battery_pct",
                "drone_id",
                "heading_deg",
                "lat",
                "link_quality_pct",
                "lon",
                "satellites",
                "speed_mps",
                "ts",
                "vertical_speed_mps"
            ]
        );
        assert_eq!(json["ts"], "2026-01-01T12:00:00Z");
    }

    #[test]
    fn a_link_losing_drone_goes_silent_once_per_mission_and_a_draining_one_runs_low() {
        let mut flight = Flight::new(spec(), 3).misbehaving(Misbehaviour {
            drain_battery: true,
            lose_link: true,
            detour: Some((400.0, 400.0)),
        });
        let start = start();
        let mut silent = 0;
        let mut lowest: f64 = 100.0;
        let mut near_detour = false;
        for i in 1..=900 {
            match flight.sample(start + chrono::Duration::seconds(i)) {
                None => silent += 1,
                Some(p) => lowest = lowest.min(p.battery_pct),
            }
            near_detour |= (flight.east_m - 400.0).hypot(flight.north_m - 400.0) < 30.0;
        }
        assert!(silent >= 14, "silent for {silent} s");
        assert!(lowest < 15.0, "lowest battery {lowest} %");
        assert!(near_detour, "the drone never flew over its detour");
    }

    #[test]
    fn headings_normalise_into_0_to_360() {
        assert_eq!(normalize_heading(-1e-17), 0.0);
        assert_eq!(normalize_heading(360.0), 0.0);
        assert_eq!(normalize_heading(-90.0), 270.0);
        assert_eq!(wrap_180(270.0), -90.0);
        assert_eq!(wrap_180(-180.0), 180.0);
    }
}
