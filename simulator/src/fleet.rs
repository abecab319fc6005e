//! Which drones fly: the organisation's drones with this run's serial prefix (`SIM-…` by
//! default), registered when there are too few, or the one drone an API key belongs to.
//!
//! A drone that reported in the last [`IN_USE_WINDOW_S`] seconds is being flown by someone
//! else (another simulator, or a real drone): it is left alone and another one registered,
//! so that two runs never interleave two tracks on one drone.

use std::collections::HashSet;

use futures::{stream, StreamExt};
use rand::rngs::StdRng;
use rand::Rng;

use api::dto::{CreateDroneRequest, DroneResponse, PositionDto};
use domain::drone::DroneStatus;

use super::client::{ApiClient, ClientError};
use super::flight::{DroneSpec, Home};
use super::{Backoff, Out, SimAuth, SimConfig};

/// How recently a drone must have reported to count as flown by someone else.
const IN_USE_WINDOW_S: i64 = 15;
/// Homes of registered drones spread around central Zurich.
const CENTRE: (f64, f64) = (47.37, 8.54);
const SPREAD_M: f64 = 5_000.0;
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

/// The drones to fly. Waits (printing why) while the server is unreachable or busy.
pub(super) async fn prepare(
    config: &SimConfig,
    client: &ApiClient,
    rng: &mut StdRng,
    out: &Out,
) -> anyhow::Result<Vec<DroneSpec>> {
    let mut backoff = Backoff::new();
    loop {
        match try_prepare(config, client, rng, out).await {
            Ok(specs) if specs.is_empty() => anyhow::bail!("there is no drone to fly"),
            Ok(specs) => return Ok(specs),
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                out.line(format_args!(
                    "waiting for {}: {}; retrying in {:.1} s",
                    config.base_url,
                    e.short(),
                    delay.as_secs_f64()
                ));
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context("failed to prepare the simulated drones"))
            }
        }
    }
}

async fn try_prepare(
    config: &SimConfig,
    client: &ApiClient,
    rng: &mut StdRng,
    out: &Out,
) -> Result<Vec<DroneSpec>, ClientError> {
    if let SimAuth::ApiKey { drone_id, .. } = &config.auth {
        let drone = client.get_drone(*drone_id).await?;
        return Ok(vec![spec(drone, rng)]);
    }
    client.login().await?;
    let in_use = in_use(client).await?;
    let free = |d: &DroneResponse| is_flyable(d) && !in_use.contains(&d.id);
    let prefix = format!("{}-", config.serial_prefix);
    let mut drones = sim_drones(client, &prefix).await?;
    let busy = drones.iter().filter(|d| in_use.contains(&d.id)).count();
    let flyable = drones.iter().filter(|d| free(d)).count();
    if busy > 0 {
        out.line(format_args!(
            "{busy} {prefix}… drone(s) reported in the last {IN_USE_WINDOW_S} s: another sender flies them, so this run does not"
        ));
    }
    if flyable < config.drones {
        let taken: HashSet<String> = drones.iter().map(|d| d.serial.clone()).collect();
        let new: Vec<CreateDroneRequest> = (1..)
            .map(|n| format!("{prefix}{n:04}"))
            .filter(|serial| !taken.contains(serial))
            .take(config.drones - flyable)
            .map(|serial| new_drone(serial, &prefix, rng))
            .collect();
        let results: Vec<_> = stream::iter(new.clone())
            .map(|drone| async move { client.create_drone(&drone).await })
            .buffer_unordered(config.concurrency.max(1))
            .collect()
            .await;
        let mut created = 0;
        for result in results {
            if result?.is_some() {
                created += 1;
            }
        }
        if let (Some(first), Some(last)) = (new.first(), new.last()) {
            out.line(format_args!(
                "registered {created} drone(s) {}…{}",
                first.serial, last.serial
            ));
        }
        drones = sim_drones(client, &prefix).await?;
    }
    drones.retain(|d| free(d));
    drones.truncate(config.drones);
    Ok(drones.into_iter().map(|d| spec(d, rng)).collect())
}

/// Drones whose latest point is at most [`IN_USE_WINDOW_S`] old.
async fn in_use(client: &ApiClient) -> Result<HashSet<uuid::Uuid>, ClientError> {
    let since = chrono::Utc::now() - chrono::Duration::seconds(IN_USE_WINDOW_S);
    Ok(client
        .fleet_positions()
        .await?
        .items
        .into_iter()
        .filter(|p| p.ts >= since)
        .map(|p| p.drone_id)
        .collect())
}

/// The organisation's drones with `prefix` in serial order (`SIM-0002` before `SIM-0010`).
async fn sim_drones(client: &ApiClient, prefix: &str) -> Result<Vec<DroneResponse>, ClientError> {
    let mut drones: Vec<DroneResponse> = client
        .list_drones()
        .await?
        .into_iter()
        .filter(|d| d.serial.starts_with(prefix))
        .collect();
    drones.sort_by(|a, b| (a.serial.len(), &a.serial).cmp(&(b.serial.len(), &b.serial)));
    Ok(drones)
}

/// Retired drones take no telemetry.
fn is_flyable(drone: &DroneResponse) -> bool {
    drone.status != DroneStatus::Retired
}

fn new_drone(serial: String, prefix: &str, rng: &mut StdRng) -> CreateDroneRequest {
    let number = serial.trim_start_matches(prefix).to_owned();
    CreateDroneRequest {
        name: format!("Simulator {number}"),
        serial,
        model: "NimbusSim X4".to_owned(),
        manufacturer: None,
        status: None,
        max_altitude_m: 120.0,
        max_speed_mps: (rng.gen_range(15.0..=25.0_f64) * 10.0).round() / 10.0,
        endurance_min: rng.gen_range(30..=45),
        firmware_version: None,
        home: Some(random_home(rng)),
        link_timeout_s: None,
    }
}

/// A point spread uniformly over a disc of [`SPREAD_M`] around [`CENTRE`].
fn random_home(rng: &mut StdRng) -> PositionDto {
    let bearing = rng.gen_range(0.0..std::f64::consts::TAU);
    let distance = SPREAD_M * rng.gen_range(0.0..=1.0_f64).sqrt();
    let lat = CENTRE.0 + distance * bearing.cos() / METRES_PER_DEGREE_LAT;
    let lon =
        CENTRE.1 + distance * bearing.sin() / (METRES_PER_DEGREE_LAT * CENTRE.0.to_radians().cos());
    PositionDto {
        lat: (lat * 1e6).round() / 1e6,
        lon: (lon * 1e6).round() / 1e6,
        alt_m: 0.0,
    }
}

fn spec(drone: DroneResponse, rng: &mut StdRng) -> DroneSpec {
    let home = drone.home.unwrap_or_else(|| random_home(rng));
    DroneSpec {
        id: drone.id,
        home: Home {
            lat: home.lat,
            lon: home.lon,
            alt_m: home.alt_m,
        },
        max_speed_mps: drone.max_speed_mps,
        max_altitude_m: drone.max_altitude_m,
        endurance_min: f64::from(drone.endurance_min),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn registered_drones_get_homes_within_5_km_of_zurich_and_limits_in_range() {
        let mut rng = StdRng::seed_from_u64(1);
        for n in 0..500 {
            let drone = new_drone(format!("SIM-{n:04}"), "SIM-", &mut rng);
            let home = drone.home.unwrap();
            let north = (home.lat - CENTRE.0) * METRES_PER_DEGREE_LAT;
            let east = (home.lon - CENTRE.1) * METRES_PER_DEGREE_LAT * CENTRE.0.to_radians().cos();
            assert!(north.hypot(east) <= SPREAD_M + 1.0);
            assert!((15.0..=25.0).contains(&drone.max_speed_mps));
            assert!((30..=45).contains(&drone.endurance_min));
            assert_eq!(drone.max_altitude_m, 120.0);
        }
    }
}
