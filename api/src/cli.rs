//! Command-line interface of the `nimbusfleet` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "nimbusfleet",
    version,
    about = "NimbusFleet: drone fleet management backend"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./nimbusfleet.toml when present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for the embedded SQLite databases (ignored when storage URLs are configured).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Run catalog and shard migrations, then exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi(OpenapiArgs),
    /// Administrative tasks for scripts and operators.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Fly simulated drones and send their telemetry to a running server.
    Simulate(SimulateArgs),
    /// Consume telemetry from Kafka and write it to the shards, as one member of the ingest
    /// consumer group (needs `kafka.brokers`). Serves /metrics and /health on `ingest.bind`.
    Ingest(IngestArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Address of /metrics and /health/* [default: 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Create a demo organisation (admin, operator, viewer and a few drones) and print its
    /// credentials.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: also fly N simulated drones (SIM-0001…) against this server as the demo
    /// operator, at 1 Hz each.
    #[arg(long, value_name = "N", requires = "demo")]
    pub simulate: Option<u32>,
}

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("credentials").required(true).args(["api_key", "email"])))]
pub struct SimulateArgs {
    /// Base URL of the server.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Drones to fly: with --email, the organisation's SIM-… drones, registering
    /// SIM-0001… when there are fewer. Ignored with --api-key.
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
    /// Seconds between progress lines.
    #[arg(long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub progress_s: u64,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(hz) if hz > 0.0 && hz <= 100.0 => Ok(hz),
        _ => Err("must be a number of samples per second above 0 and at most 100".to_owned()),
    }
}

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an organisation and its first admin.
    CreateOrg(CreateOrgArgs),
    /// Change an organisation's plan, and so its API rate limit.
    SetPlan(SetPlanArgs),
    /// Create the Kafka telemetry and dead-letter topics (`kafka.topic`,
    /// `kafka.dead_letter_topic`) when they do not exist.
    CreateTopics(CreateTopicsArgs),
}

#[derive(Debug, Args)]
pub struct CreateTopicsArgs {
    /// Partitions of the telemetry topic: the most ingest workers that can share the load.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,
    /// Copies of each partition.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=10))]
    pub replication: i32,
}

#[derive(Debug, Args)]
pub struct SetPlanArgs {
    /// Name of the organisation.
    #[arg(long)]
    pub org: String,
    /// free (10 req/s, burst 50), standard (100/500), professional (500/2000) or enterprise.
    #[arg(long)]
    pub plan: String,
    /// Enterprise only: sustained requests per second.
    #[arg(long, requires = "burst")]
    pub rate: Option<u32>,
    /// Enterprise only: requests allowed at once.
    #[arg(long, requires = "rate")]
    pub burst: Option<u32>,
}

#[derive(Debug, Args)]
pub struct CreateOrgArgs {
    /// Organisation name (unique).
    #[arg(long)]
    pub name: String,
    /// Login email of the first admin.
    #[arg(long, value_name = "EMAIL")]
    pub admin_email: String,
    /// At least 10 characters. Prefer the environment variable: command lines are visible
    /// to other users of the machine.
    #[arg(
        long,
        env = "NIMBUS_ADMIN_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub admin_password: String,
    /// Display name of the admin.
    #[arg(long, default_value = "Administrator")]
    pub admin_name: String,
    /// free, standard, professional or enterprise.
    #[arg(long, default_value = "free")]
    pub plan: String,
}
