//! Command-line interface of the `nimbusfleet` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use simulator::SimulateArgs;

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
    /// Print the effective settings (every layer applied) as TOML, secrets redacted.
    Config,
    /// Print the table of problem and field error codes (Markdown, as in the README).
    ErrorCodes,
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
    /// With --demo: also fly N simulated drones (DEMO-SIM-0001…) against this server as the demo
    /// operator, at 1 Hz each.
    #[arg(long, value_name = "N", requires = "demo")]
    pub simulate: Option<u32>,
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
    /// Create the Kafka telemetry and dead-letter topics (`kafka.topics.telemetry`,
    /// `kafka.topics.dead_letter`) when they do not exist.
    CreateTopics(CreateTopicsArgs),
    /// Archive telemetry days before a date to `telemetry.archive_url` as Parquet (what the
    /// maintenance does after `telemetry.archive_after_days`), with progress. Safe to stop
    /// and run again: it goes on where it stopped, never storing a day twice.
    Archive(ArchiveArgs),
    /// Move a range of slots, with every row of their drones, to another shard while the
    /// service keeps serving and ingesting: copy, catch up, a short write fence, the slot
    /// map's next version, then the source's copies are deleted. Resumable: after a crash,
    /// run `move-slots --resume`.
    MoveSlots(MoveSlotsArgs),
    /// Move slots until they are spread evenly over N shards, one range at a time (shards
    /// beyond the current ones must be configured first; see `add-shard`).
    Rebalance(RebalanceArgs),
    /// Prepare a new, empty shard database (runs the shard migrations) and print how to
    /// configure it before slots are moved to it.
    AddShard(AddShardArgs),
    /// Show the shards, their slot ranges and rows, and the latest slot moves.
    Shards,
}

#[derive(Debug, Args)]
pub struct MoveSlotsArgs {
    /// The slots to move: `256-383`, or one slot.
    #[arg(long, value_name = "FIRST-LAST", required_unless_present = "resume")]
    pub slots: Option<String>,
    /// The shard they go to (its index in storage.shard_urls).
    #[arg(long, value_name = "SHARD", required_unless_present = "resume")]
    pub to: Option<u16>,
    /// Finish the move that was interrupted, from where it stopped.
    #[arg(long, conflicts_with_all = ["slots", "to"])]
    pub resume: bool,
}

#[derive(Debug, Args)]
pub struct RebalanceArgs {
    /// Spread the slots evenly over this many shards (the first N of storage.shard_urls).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub shards: u16,
}

#[derive(Debug, Args)]
pub struct AddShardArgs {
    /// The new shard's PostgreSQL URL.
    #[arg(long, value_name = "URL")]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Archive every day before this one (UTC, YYYY-MM-DD), oldest first.
    #[arg(long, value_name = "DATE")]
    pub before: chrono::NaiveDate,
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
    #[arg(long, value_enum)]
    pub plan: PlanArg,
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
    /// The organisation's plan, which sets its API rate limit.
    #[arg(long, value_enum, default_value_t = PlanArg::Free)]
    pub plan: PlanArg,
}

/// A plan, as the admin commands take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanArg {
    Free,
    Standard,
    Professional,
    Enterprise,
}

impl From<PlanArg> for domain::org::Plan {
    fn from(plan: PlanArg) -> Self {
        match plan {
            PlanArg::Free => Self::Free,
            PlanArg::Standard => Self::Standard,
            PlanArg::Professional => Self::Professional,
            PlanArg::Enterprise => Self::Enterprise,
        }
    }
}
