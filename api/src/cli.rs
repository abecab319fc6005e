//! Command-line interface of the `nimbusfleet` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
