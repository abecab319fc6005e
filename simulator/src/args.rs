//! `nimbusfleet simulate`'s command-line arguments.

use clap::{ArgGroup, Args};
use uuid::Uuid;

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("credentials").required(true).args(["api_key", "email"])))]
pub struct SimulateArgs {
    /// Base URL of the server.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Drones to fly: with --email, the organisation's `--prefix` drones (SIM-… by default)
    /// that nobody else is flying, registering more when there are too few. Ignored with
    /// --api-key.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub drones: u32,
    /// Samples per second per drone (at most 100).
    #[arg(long, value_name = "HZ", default_value_t = 1.0, value_parser = parse_rate)]
    pub rate: f64,
    /// A drone's API key (nfk_…): fly that drone only. Prefer the environment variable.
    #[arg(
        long,
        env = "NIMBUS_SIM_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        requires = "drone_id",
        conflicts_with = "email"
    )]
    pub api_key: Option<String>,
    /// The API key's drone.
    #[arg(long, value_name = "UUID")]
    pub drone_id: Option<Uuid>,
    /// Login of an operator or admin.
    #[arg(long, value_name = "EMAIL", requires = "password")]
    pub email: Option<String>,
    /// Prefer the environment variable: command lines are visible to other users.
    #[arg(
        long,
        env = "NIMBUS_SIM_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub password: Option<String>,
    /// Stop after this many seconds [default: run until Ctrl-C].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
    /// How often points are batched and posted, in milliseconds: a post carries about
    /// drones × rate × interval points (split above 5,000).
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub batch_ms: u64,
    /// Concurrent HTTP senders.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Seed for homes, missions and noise: the same seed flies the same missions.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Serial prefix of the drones to fly (`PREFIX-0001`, …), registering them when there
    /// are too few. Drones that reported in the last 15 s are left to whoever flies them.
    #[arg(long, value_name = "PREFIX", default_value = crate::DEFAULT_SERIAL_PREFIX,
          value_parser = parse_prefix)]
    pub prefix: String,
    /// Make some drones misbehave so that the monitor raises alerts (comma-separated):
    /// `drain-battery` (the battery drains 8× faster in flight), `lose-link` (silent for
    /// 15 s once per mission), `enter-fence` (every mission first crosses a prohibited
    /// geofence the simulator creates beside the drone's home; needs --email).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_enum)]
    pub misbehave: Vec<Misbehave>,
    /// Share of the drones that misbehave (at least one).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.1, value_parser = parse_share)]
    pub misbehave_share: f64,
    /// Seconds between progress lines.
    #[arg(long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub progress_s: u64,
}

/// One way to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Misbehave {
    DrainBattery,
    LoseLink,
    EnterFence,
}

fn parse_share(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(share) if share > 0.0 && share <= 1.0 => Ok(share),
        _ => Err("must be a fraction above 0 and at most 1".to_owned()),
    }
}

fn parse_prefix(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 40
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 1 to 40 of A–Z a–z 0–9 - _ .".to_owned())
    }
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(hz) if hz > 0.0 && hz <= 100.0 => Ok(hz),
        _ => Err("must be a number of samples per second above 0 and at most 100".to_owned()),
    }
}
