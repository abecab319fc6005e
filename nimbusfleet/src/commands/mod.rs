//! The binary's subcommands.

mod admin;
mod demo;
mod shards;

pub use admin::{create_org, set_plan};

use std::time::Duration;

use anyhow::Context;
use simulator::SimConfig;

use crate::application::{open_store, Application, Role};
use crate::cli::{Cli, Command, ServeArgs};
use crate::settings::{Overrides, Settings};

/// How long a stopping server waits for its demo simulator's summary.
const DEMO_SIMULATOR_STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Openapi(args) => {
            let document =
                api::openapi::document().context("failed to render the OpenAPI document")?;
            return match &args.output {
                Some(path) => std::fs::write(path, document)
                    .with_context(|| format!("failed to write {}", path.display())),
                None => {
                    print!("{document}");
                    Ok(())
                }
            };
        }
        Command::ErrorCodes => {
            print!("{}", api::error::markdown_table());
            return Ok(());
        }
        Command::Simulate(args) => return simulator::run_cli(args.clone()).await,
        _ => {}
    }
    let overrides = Overrides {
        bind: match &cli.command {
            Command::Serve(args) => args.bind,
            _ => None,
        },
        ingest_bind: match &cli.command {
            Command::Ingest(args) => args.bind,
            _ => None,
        },
        data_dir: cli.data_dir.clone(),
    };
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    if let Command::Config = cli.command {
        print!(
            "{}",
            settings.to_toml().context("failed to print the settings")?
        );
        return Ok(());
    }
    api::logging::init(&settings.log);
    match cli.command {
        Command::Serve(args) => serve(settings, args).await,
        Command::Ingest(_) => ingest(settings).await,
        Command::Migrate => {
            open_store(&settings, true).await?;
            println!(
                "migrations applied to the catalog and {} shard(s)",
                settings.storage.shard_count()
            );
            Ok(())
        }
        Command::Admin(command) => admin::run(&settings, command).await,
        Command::Openapi(_) | Command::ErrorCodes | Command::Simulate(_) | Command::Config => {
            Ok(())
        }
    }
}

async fn serve(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    let bind = settings.server.bind;
    let shards = settings.storage.shard_count();
    let app = Application::build(settings, Role::Api).await?;
    let host = if bind.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        bind.ip().to_string()
    };
    let base = format!("http://{host}:{}", app.port());
    let state = app.state().context("the API has no state")?;
    if args.demo {
        demo::ensure(&state.repos, &base).await?;
    } else {
        demo::lock_out(&state.repos, state.auth.sessions.as_ref()).await?;
    }
    tracing::info!(address = %base, shards, "NimbusFleet is listening");
    println!("NimbusFleet is running at {base}\n  API docs: {base}/docs/\n  OpenAPI:  {base}/api-docs/openapi.json\n  Stop with Ctrl-C.");
    let simulator = match args.simulate {
        Some(drones) if drones > 0 && args.demo => Some(start_demo_simulator(&base, drones)),
        _ => None,
    };
    let served = app.run().await;
    if let Some((stop, task)) = simulator {
        let _ = stop.send(());
        let _ = tokio::time::timeout(DEMO_SIMULATOR_STOP_TIMEOUT, task).await;
    }
    served
}

async fn ingest(settings: Settings) -> anyhow::Result<()> {
    let banner = format!(
        "NimbusFleet ingest worker: {} → {} shard(s), group {}\n  metrics: http://{}/metrics\n  Stop with Ctrl-C or SIGTERM.",
        settings.kafka.topics.telemetry,
        settings.storage.shard_count(),
        settings.ingest.group_id,
        settings.ingest.bind
    );
    tracing::info!(topic = %settings.kafka.topics.telemetry, group = %settings.ingest.group_id, bind = %settings.ingest.bind, "ingest worker started");
    let app = Application::build(settings, Role::Ingest).await?;
    println!("{banner}");
    app.run().await
}

/// `serve --demo --simulate N`: flies N drones against this server as the demo operator
/// until Ctrl-C or the returned sender fires. A simulator that cannot start says why and
/// leaves the server running.
fn start_demo_simulator(
    base_url: &str,
    drones: u32,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (_, email, password) = demo::USERS[1];
    let config = SimConfig::demo(base_url, email, password, drones as usize);
    let label = config.label.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            tokio::select! {
                _ = stopped => {}
                Ok(()) = tokio::signal::ctrl_c() => {}
            }
        };
        match simulator::run(config, shutdown).await {
            Ok(summary) => println!("{label}{summary}"),
            Err(e) => eprintln!("{label}stopped: {e:#}"),
        }
    });
    (stop, task)
}
