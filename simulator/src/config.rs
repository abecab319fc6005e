//! What a simulator run flies and where it sends: [`SimConfig`], from the command line or
//! built by `serve --demo`.

use std::time::Duration;

use secrecy::SecretString;
use uuid::Uuid;

use crate::args::{Misbehave, SimulateArgs};

/// How the simulator authenticates.
#[derive(Debug, Clone)]
pub enum SimAuth {
    /// An operator or admin: flies the organisation's `SIM-…` drones, registering them
    /// when there are too few.
    Credentials {
        email: String,
        password: SecretString,
    },
    /// A drone's API key: flies that drone only.
    ApiKey { key: SecretString, drone_id: Uuid },
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    pub auth: SimAuth,
    /// Drones to fly (ignored with an API key, which flies its own drone).
    pub drones: usize,
    /// Samples per second per drone.
    pub rate_hz: f64,
    /// Counted from the call to [`run`], time spent waiting for the server included.
    /// `None`: until `shutdown` completes.
    pub duration: Option<Duration>,
    /// How often generated points are cut into batches and posted.
    pub batch_interval: Duration,
    /// Concurrent HTTP senders.
    pub concurrency: usize,
    pub seed: u64,
    pub progress_interval: Duration,
    /// How long, after stopping, the senders may take to deliver what is queued.
    pub drain_timeout: Duration,
    /// Prefix of every printed line, e.g. `"simulator: "`.
    pub label: String,
    /// Serials of the drones this run registers and flies: `{prefix}-0001`, …
    pub serial_prefix: String,
    /// Print a progress line every `progress_interval`; off, only the start and the
    /// summary are printed.
    pub progress: bool,
    /// How the misbehaving drones misbehave (none: every drone behaves).
    pub misbehave: Vec<Misbehave>,
    /// Share of the drones that misbehave (at least one when `misbehave` is not empty).
    pub misbehave_share: f64,
}

/// The serial prefix of `nimbusfleet simulate`'s drones.
pub const DEFAULT_SERIAL_PREFIX: &str = "SIM";
/// The serial prefix of the drones `serve --demo --simulate` flies.
pub const DEMO_SERIAL_PREFIX: &str = "DEMO-SIM";

impl SimConfig {
    /// The simulator `serve --demo --simulate N` runs against its own server: `drones`
    /// drones at 1 Hz, `DEMO-SIM-…`, no progress lines (the server's log is not for them).
    pub fn demo(base_url: &str, email: &str, password: &str, drones: usize) -> Self {
        Self {
            base_url: base_url.to_owned(),
            auth: SimAuth::Credentials {
                email: email.to_owned(),
                password: SecretString::from(password),
            },
            drones,
            rate_hz: 1.0,
            duration: None,
            batch_interval: Duration::from_secs(1),
            concurrency: 2,
            seed: rand::random(),
            progress_interval: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(3),
            label: "simulator: ".to_owned(),
            serial_prefix: DEMO_SERIAL_PREFIX.to_owned(),
            progress: false,
            misbehave: Vec::new(),
            misbehave_share: 0.0,
        }
    }

    /// Rejects values the run loop cannot work with.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.rate_hz.is_finite() && self.rate_hz > 0.0 && self.rate_hz <= 100.0,
            "the rate must be above 0 and at most 100 Hz, not {}",
            self.rate_hz
        );
        anyhow::ensure!(self.concurrency > 0, "at least one sender is needed");
        for (name, value) in [
            ("batch interval", self.batch_interval),
            ("progress interval", self.progress_interval),
        ] {
            anyhow::ensure!(!value.is_zero(), "the {name} must be above zero");
        }
        Ok(())
    }

    /// Points per second the drones should produce together.
    pub fn target_points_per_s(&self, drones: usize) -> f64 {
        drones as f64 * self.rate_hz
    }
}

impl TryFrom<SimulateArgs> for SimConfig {
    type Error = anyhow::Error;

    fn try_from(args: SimulateArgs) -> anyhow::Result<Self> {
        let auth = match (args.api_key, args.drone_id, args.email, args.password) {
            (Some(key), Some(drone_id), None, _) => SimAuth::ApiKey {
                key: SecretString::from(key),
                drone_id,
            },
            (Some(_), None, _, _) => anyhow::bail!("--api-key needs --drone-id"),
            (None, _, Some(email), Some(password)) => SimAuth::Credentials {
                email,
                password: SecretString::from(password),
            },
            (None, _, Some(_), None) => {
                anyhow::bail!("--email needs --password (or NIMBUS_SIM_PASSWORD)")
            }
            _ => anyhow::bail!("give either --api-key and --drone-id, or --email and --password"),
        };
        Ok(Self {
            base_url: args.url,
            auth,
            drones: args.drones as usize,
            rate_hz: args.rate,
            duration: args.duration.map(Duration::from_secs),
            batch_interval: Duration::from_millis(args.batch_ms),
            concurrency: usize::from(args.concurrency),
            seed: args.seed.unwrap_or_else(rand::random),
            progress_interval: Duration::from_secs(args.progress_s),
            drain_timeout: Duration::from_secs(5),
            label: String::new(),
            serial_prefix: args.prefix,
            progress: true,
            misbehave: args.misbehave,
            misbehave_share: args.misbehave_share,
        })
    }
}
