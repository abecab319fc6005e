//! The binary's subcommands.

mod admin;
mod demo;
mod ingest;

pub use admin::{create_org, set_plan};

use std::time::Duration;

use anyhow::Context;

use crate::cli::{AdminCommand, Cli, Command, ServeArgs};
use crate::configuration::{Overrides, Settings};
use crate::simulate::{self, SimConfig};
use crate::startup::{open_store, AppState, Application};

/// How long a stopping server waits for its demo simulator's summary.
const DEMO_SIMULATOR_STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi(args) = &cli.command {
        let document = crate::openapi::document();
        return match &args.output {
            Some(path) => std::fs::write(path, document)
                .with_context(|| format!("failed to write {}", path.display())),
            None => {
                print!("{document}");
                Ok(())
            }
        };
    }
    if let Command::Simulate(args) = &cli.command {
        return simulate::run_cli(args.clone()).await;
    }
    let overrides = Overrides {
        bind: match &cli.command {
            Command::Serve(args) => args.bind.map(|b| b.to_string()),
            _ => None,
        },
        ingest_bind: match &cli.command {
            Command::Ingest(args) => args.bind.map(|b| b.to_string()),
            _ => None,
        },
        data_dir: cli.data_dir.clone(),
    };
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    crate::telemetry::init(&settings.log);
    match cli.command {
        Command::Serve(args) => serve(settings, args).await,
        Command::Ingest(_) => ingest::run(settings).await,
        Command::Admin(AdminCommand::CreateTopics(args)) => {
            let kafka = settings
                .kafka_settings()
                .context("kafka.brokers is not set (NIMBUS__KAFKA__BROKERS=host:9092)")?;
            infra::kafka::create_topics(&kafka, args.partitions, args.replication).await?;
            println!(
                "topics {} ({} partitions) and {} exist on {}",
                kafka.topic, args.partitions, kafka.dead_letter_topic, kafka.brokers
            );
            Ok(())
        }
        Command::Migrate => {
            open_store(&settings, true).await?;
            println!(
                "migrations applied to the catalog and {} shard(s)",
                settings.shard_count()
            );
            Ok(())
        }
        Command::Admin(AdminCommand::CreateOrg(args)) => {
            let store = open_store(&settings, settings.storage.migrate_on_start).await?;
            let plan = admin::parse_plan(&args.plan)?;
            let admin = create_org(
                &store,
                &args.name,
                plan,
                &args.admin_email,
                &args.admin_name,
                args.admin_password,
            )
            .await?;
            println!(
                "created organisation {:?} ({}) with admin {}",
                args.name,
                admin.org_id,
                admin.email.as_str()
            );
            Ok(())
        }
        Command::Admin(AdminCommand::SetPlan(args)) => {
            let store = open_store(&settings, settings.storage.migrate_on_start).await?;
            let org = set_plan(&store, &args).await?;
            let quota = org.quota();
            println!(
                "organisation {:?} is on the {} plan: {} requests/s, burst {} (replicas apply it within 30 s)",
                org.name,
                org.plan.as_str(),
                quota.per_second,
                quota.burst
            );
            Ok(())
        }
        Command::Openapi(_) | Command::Simulate(_) => Ok(()),
    }
}

async fn serve(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    let store = open_store(&settings, settings.storage.migrate_on_start).await?;
    let state = actix_web::web::Data::new(AppState::connect(&settings, store).await?);
    let app = Application::with_state(&settings, state.clone())?;
    let host = settings
        .server
        .bind
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    let host = if host == "0.0.0.0" || host == "[::]" {
        "127.0.0.1"
    } else {
        host
    };
    let base = format!("http://{host}:{}", app.port());
    if args.demo {
        demo::ensure(&state, &base).await?;
    }
    tracing::info!(address = %base, shards = settings.shard_count(), "NimbusFleet is listening");
    println!("NimbusFleet is running at {base}\n  API docs: {base}/docs/\n  OpenAPI:  {base}/api-docs/openapi.json\n  Stop with Ctrl-C.");
    let simulator = match args.simulate {
        Some(drones) if drones > 0 && args.demo => Some(start_demo_simulator(&base, drones)),
        _ => None,
    };
    let served = app.run().await.context("server failed");
    if let Some((stop, task)) = simulator {
        let _ = stop.send(());
        let _ = tokio::time::timeout(DEMO_SIMULATOR_STOP_TIMEOUT, task).await;
    }
    served
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
        match simulate::run(config, shutdown).await {
            Ok(summary) => println!("{label}{summary}"),
            Err(e) => eprintln!("{label}stopped: {e:#}"),
        }
    });
    (stop, task)
}
