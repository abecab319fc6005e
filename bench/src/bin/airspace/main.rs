//! The airspace checks at fleet scale, in-process on one core, each beside a reference
//! measured in the same run: the same check by scanning every fence or plan (what a check
//! without the index costs). One JSON line per figure on stdout, progress on stderr.
//!
//!   airspace_plan_check_ms   a 50-waypoint plan against 100,000 fences (goal p99 ≤ 5 ms)
//!   airspace_deconflict_ms   a plan against 10,000 active plans (goal p99 ≤ 10 ms)
//!   airspace_point_checks_per_s  point-in-fence for a stream of positions against 100,000
//!                            fences (goal ≥ 1,000,000 a second on one core)
//!
//! Fences are random polygons (6–24 corners, 50–800 m across) and circles spread over a
//! 6° × 4° region (about 450 × 450 km); plans are random walks of 200–600 m legs inside a
//! 1° square, windows spread over a day.

// Generated inputs are valid by construction; a panic there is a bug in this program.
#![allow(clippy::expect_used)]

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use domain::airspace::{
    check_plan, check_plan_with, AirspaceIndex, AirspaceRules, Circle, Datum, FenceKind, Geofence,
    GeofenceInput, PlanVolume, RawGeometry,
};
use domain::flight_plan::{FlightPlanState, Waypoint};
use domain::position::Position;
use domain::{DroneId, FlightPlanId, OrgId, UserId};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Airspace index benchmark: plan checks, deconfliction, point checks")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    fences: usize,
    #[arg(long, default_value_t = 10_000)]
    plans: usize,
    #[arg(long, default_value_t = 50)]
    waypoints: usize,
    /// Checked plans per figure.
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// Positions for the point-check rate.
    #[arg(long, default_value_t = 2_000_000)]
    points: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// A small, fast, seeded generator (xorshift64*), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }
}

const REGION: [f64; 4] = [5.0, 45.0, 11.0, 49.0];
const PLAN_AREA: [f64; 4] = [8.0, 47.0, 9.0, 48.0];
const M_PER_DEG: f64 = 111_195.0;

fn fence(rng: &mut Rng, org: OrgId, user: UserId) -> Geofence {
    let lon = rng.range(REGION[0], REGION[2]);
    let lat = rng.range(REGION[1], REGION[3]);
    let radius_m = rng.range(25.0, 400.0);
    let kind = match rng.next() % 10 {
        0..=5 => FenceKind::Prohibited,
        6..=7 => FenceKind::Restricted,
        _ => FenceKind::Advisory,
    };
    let (geometry, circle) = if rng.next().is_multiple_of(5) {
        (None, Some(Circle { lat, lon, radius_m }))
    } else {
        let corners = 6 + (rng.next() % 19) as usize;
        let m_lon = M_PER_DEG * lat.to_radians().cos();
        let mut ring: Vec<Vec<f64>> = (0..corners)
            .map(|i| {
                let a = i as f64 / corners as f64 * std::f64::consts::TAU;
                let r = radius_m * rng.range(0.6, 1.0);
                vec![lon + r * a.cos() / m_lon, lat + r * a.sin() / M_PER_DEG]
            })
            .collect();
        ring.push(ring[0].clone());
        (
            Some(RawGeometry::Polygon {
                coordinates: vec![ring],
            }),
            None,
        )
    };
    let lower_m = if rng.next().is_multiple_of(4) {
        60.0
    } else {
        0.0
    };
    let input = GeofenceInput {
        name: "fence".into(),
        kind,
        geometry,
        circle,
        lower_m,
        upper_m: lower_m + rng.range(40.0, 500.0),
        datum: Datum::Agl,
        schedule: None,
        active: true,
    };
    let valid = input.validate().expect("generated fences are valid");
    Geofence::new(valid, org, user, Utc::now())
}

fn path(rng: &mut Rng, waypoints: usize, area: [f64; 4]) -> Vec<Waypoint> {
    let mut lon = rng.range(area[0], area[2]);
    let mut lat = rng.range(area[1], area[3]);
    (0..waypoints)
        .map(|_| {
            let heading = rng.range(0.0, std::f64::consts::TAU);
            let leg_m = rng.range(200.0, 600.0);
            lon = (lon + leg_m * heading.cos() / (M_PER_DEG * lat.to_radians().cos()))
                .clamp(area[0], area[2]);
            lat = (lat + leg_m * heading.sin() / M_PER_DEG).clamp(area[1], area[3]);
            Waypoint {
                position: Position::parse(lat, lon, rng.range(20.0, 120.0))
                    .expect("generated positions are valid"),
                speed_mps: None,
                hold_s: None,
            }
        })
        .collect()
}

fn volume(rng: &mut Rng, waypoints: usize, day: DateTime<Utc>) -> PlanVolume {
    let start = day + Duration::seconds((rng.unit() * 86_400.0) as i64);
    PlanVolume {
        id: FlightPlanId::new(),
        drone_id: DroneId::new(),
        name: "plan".into(),
        state: FlightPlanState::Approved,
        start,
        end: start + Duration::minutes(20 + (rng.next() % 40) as i64),
        path: path(rng, waypoints, PLAN_AREA)
            .iter()
            .map(|w| w.position)
            .collect(),
        authorized: false,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn timed<T>(mut run: impl FnMut() -> T, samples: usize) -> (Vec<f64>, Vec<T>) {
    let mut ms = Vec::with_capacity(samples);
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        out.push(run());
        ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    (ms, out)
}

fn main() {
    let args = Args::parse();
    let mut rng = Rng(args.seed.max(1));
    let (org, user) = (OrgId::new(), UserId::new());
    let rules = AirspaceRules::default();

    eprintln!("[airspace] generating {} fences", args.fences);
    let started = Instant::now();
    let fences: Vec<Geofence> = (0..args.fences)
        .map(|_| fence(&mut rng, org, user))
        .collect();
    let validate_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let index = AirspaceIndex::build(rules, fences.clone(), Vec::new());
    let build_s = started.elapsed().as_secs_f64();
    eprintln!("[airspace] validated in {validate_s:.1} s, indexed in {build_s:.2} s");

    // 1. A plan against every fence. Plans fly across the fence region so that legs meet
    //    fences; the reference scans every fence for each leg.
    let window_start = Utc::now() + Duration::hours(1);
    let window_end = window_start + Duration::hours(1);
    let plans: Vec<Vec<Waypoint>> = (0..args.samples)
        .map(|_| path(&mut rng, args.waypoints, REGION))
        .collect();
    let mut next = plans.iter().cycle();
    let (ms, checks) = timed(
        || {
            let plan = next.next().expect("cycle");
            check_plan(&index, plan, window_start, window_end, false)
        },
        args.samples,
    );
    let hits: usize = checks
        .iter()
        .map(|c| c.prohibited.len() + c.unauthorized.len() + c.warnings.len())
        .sum();
    let reference_samples = (args.samples / 50).max(5);
    // The scan's table: every fence with its bounding box stored beside it.
    let boxes: Vec<([f64; 4], &Geofence)> = fences.iter().map(|f| (f.shape.bbox(), f)).collect();
    let (reference_ms, _) = {
        let mut next = plans.iter().cycle();
        timed(
            || {
                let plan = next.next().expect("cycle");
                check_plan_with(plan, window_start, window_end, false, |bbox| {
                    boxes
                        .iter()
                        .filter(|(b, _)| overlaps(b, &bbox))
                        .map(|(_, f)| *f)
                        .collect()
                })
            },
            reference_samples,
        )
    };
    println!(
        "{}",
        json!({
            "figure": "airspace_plan_check_ms",
            "fences": args.fences, "waypoints": args.waypoints, "samples": args.samples,
            "p50": percentile(&ms, 0.5), "p99": percentile(&ms, 0.99), "max": percentile(&ms, 1.0),
            "violations_found": hits,
            "reference": "a scan of every fence's stored bounding box, then the exact test",
            "reference_p50": percentile(&reference_ms, 0.5),
            "index_build_s": build_s,
            "goal_p99_ms": 5.0,
        })
    );

    // 2. Deconfliction against active plans over one day in a 1° square.
    eprintln!("[airspace] indexing {} plans", args.plans);
    let day = Utc::now() + Duration::days(1);
    let volumes: Vec<PlanVolume> = (0..args.plans)
        .map(|_| {
            let waypoints = 2 + (rng.next() % 40) as usize;
            volume(&mut rng, waypoints, day)
        })
        .collect();
    let plan_index = AirspaceIndex::build(rules, Vec::new(), volumes.clone());
    let candidates: Vec<PlanVolume> = (0..args.samples)
        .map(|_| volume(&mut rng, args.waypoints, day))
        .collect();
    let mut next = candidates.iter().cycle();
    let (ms, found) = timed(
        || next.next().expect("cycle").conflicts(&plan_index).len(),
        args.samples,
    );
    // The scan's table: every leg of every plan with its buffered box stored beside it.
    let legs: Vec<([f64; 4], &PlanVolume, usize)> = volumes
        .iter()
        .flat_map(|p| {
            (0..p.leg_count()).map(move |leg| (p.leg_bbox(leg, rules.lateral_buffer_m), p, leg))
        })
        .collect();
    let mut next = candidates.iter().cycle();
    let (reference_ms, _) = timed(
        || {
            next.next()
                .expect("cycle")
                .conflicts_with(&rules, |bbox| {
                    legs.iter()
                        .filter(|(b, _, _)| overlaps(b, &bbox))
                        .map(|(_, plan, leg)| (*plan, *leg))
                        .collect()
                })
                .len()
        },
        reference_samples.min(10),
    );
    println!(
        "{}",
        json!({
            "figure": "airspace_deconflict_ms",
            "plans": args.plans, "waypoints": args.waypoints, "samples": args.samples,
            "p50": percentile(&ms, 0.5), "p99": percentile(&ms, 0.99), "max": percentile(&ms, 1.0),
            "conflicts_found": found.iter().sum::<usize>(),
            "reference": "a scan of every leg's stored buffered box, then the exact test",
            "reference_p50": percentile(&reference_ms, 0.5),
            "goal_p99_ms": 10.0,
        })
    );

    // 3. Point checks: positions spread over the fence region, one thread.
    let positions: Vec<(f64, f64, f64)> = (0..args.points.min(1_000_000))
        .map(|_| {
            (
                rng.range(REGION[0], REGION[2]),
                rng.range(REGION[1], REGION[3]),
                rng.range(0.0, 150.0),
            )
        })
        .collect();
    let t = Utc::now();
    let started = Instant::now();
    let mut inside = 0usize;
    for i in 0..args.points {
        let (lon, lat, alt) = positions[i % positions.len()];
        inside += index.fences_at(lon, lat, alt, t).count();
    }
    let rate = args.points as f64 / started.elapsed().as_secs_f64();
    let reference_points = 20_000usize;
    let started = Instant::now();
    let mut reference_inside = 0usize;
    for &(lon, lat, alt) in positions.iter().take(reference_points) {
        let point = [lon, lat, lon, lat];
        reference_inside += boxes
            .iter()
            .filter(|(b, f)| overlaps(b, &point) && f.contains(lon, lat, alt) && f.applies_at(t))
            .count();
    }
    let reference_rate = reference_points as f64 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "figure": "airspace_point_checks_per_s",
            "fences": args.fences, "points": args.points, "value": rate,
            "inside_found": inside,
            "reference": "a scan of every fence's stored bounding box, then the exact test",
            "reference_value": reference_rate,
            "reference_inside_found": reference_inside,
            "goal": 1_000_000,
        })
    );
}

fn overlaps(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}
