//! Fresh databases, the application started in-process like the integration tests start
//! it, organisations with a logged-in operator, and drones registered straight through
//! the repository.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use api::state::AppState;
use chrono::Utc;
use domain::drone::{DroneStatus, Limits, NewDrone, Serial};
use domain::position::Position;
use domain::{DroneId, OrgId};
use futures::{StreamExt, TryStreamExt};
use infra::pipeline::Pipeline;
use infra::Store;
use nimbusfleet::application::{Application, Role, StopHandle};
use nimbusfleet::settings::{Overrides, Settings};
use reqwest::StatusCode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};
use uuid::Uuid;

const PASSWORD: &str = "bench password, not a secret";
/// Drones registered at once.
const REGISTER_CONCURRENCY: usize = 32;

/// The catalog and two shard databases of one run, named `nf_bench_<uuid>_{catalog,s0,s1}`.
pub struct Databases {
    base: String,
    names: Vec<String>,
}

impl Databases {
    pub async fn create(base: &str) -> anyhow::Result<Self> {
        let id = Uuid::new_v4().simple();
        let mut databases = Self {
            base: base.trim_end_matches('/').to_owned(),
            names: Vec::new(),
        };
        let admin = databases.admin().await?;
        for part in ["catalog", "s0", "s1"] {
            let name = format!("nf_bench_{id}_{part}");
            let created = admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .with_context(|| format!("failed to create database {name}"));
            if let Err(error) = created {
                admin.close().await.ok();
                databases.drop_all().await.ok();
                return Err(error);
            }
            databases.names.push(name);
        }
        admin.close().await.ok();
        Ok(databases)
    }

    async fn admin(&self) -> anyhow::Result<DatabaseConnection> {
        let mut options = ConnectOptions::new(format!("{}/postgres", self.base));
        // Dropping a database that was just written to waits for a checkpoint; that is
        // not worth a warning.
        options.sqlx_logging(false);
        Database::connect(options).await.with_context(|| {
            format!(
                "PostgreSQL is not reachable at {}; bench/ingest starts it",
                self.base
            )
        })
    }

    fn url(&self, index: usize) -> anyhow::Result<String> {
        let name = self.names.get(index).context("no such database")?;
        Ok(format!("{}/{name}", self.base))
    }

    /// Drops every database of the run, closing the connections still open to them.
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        if self.names.is_empty() {
            return Ok(());
        }
        let admin = self.admin().await?;
        let mut failure = None;
        for name in &self.names {
            let dropped = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .with_context(|| format!("failed to drop database {name}"));
            if let Err(error) = dropped {
                failure.get_or_insert(error);
            }
        }
        admin.close().await.ok();
        failure.map_or(Ok(()), Err)
    }
}

/// The defaults (and any `NIMBUS__…` variables), on this run's databases, with a free
/// loopback port, a throwaway JWT key, warnings-only logs, a queue large enough that
/// senders are not pushed back before the writer is saturated, and live clients allowed
/// 100 updates a second. Explicit `NIMBUS__PIPELINE__QUEUE_CAPACITY_POINTS` and
/// `NIMBUS__LIVE__MAX_HZ` variables win; `RUST_LOG` wins over the log filter.
pub fn settings(databases: &Databases) -> anyhow::Result<Settings> {
    let mut s = Settings::load(None, &Overrides::default())?;
    s.server.bind = "127.0.0.1:0".parse()?;
    s.server.shutdown_timeout = std::time::Duration::from_secs(1);
    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    s.auth.jwt_secret = Some(secret.into());
    // 503s under backpressure are expected here (the senders count and resend them), and
    // the server logs each one; a real failure stops the run with its answer.
    s.log.level = "warn,tracing_actix_web=off,api::error=off".into();
    s.storage.catalog_url = Some(databases.url(0)?.into());
    s.storage.shard_urls = vec![databases.url(1)?.into(), databases.url(2)?.into()];
    if std::env::var_os("NIMBUS__PIPELINE__QUEUE_CAPACITY_POINTS").is_none() {
        s.pipeline.queue_capacity_points = 1_000_000;
    }
    if std::env::var_os("NIMBUS__LIVE__MAX_HZ").is_none() {
        s.live.max_hz = 100.0;
    }
    s.validate()?;
    Ok(s)
}

pub struct Bench {
    pub address: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub store: Store,
    /// The embedded pipeline, unless telemetry goes to Kafka.
    pub pipeline: Option<Arc<Pipeline>>,
    stop: StopHandle,
}

/// An organisation and the token of one of its operators.
pub struct Org {
    pub id: OrgId,
    pub token: String,
}

/// Builds the application exactly as `serve` does (with `kafka.brokers` set, ingest
/// produces to Kafka and no writer runs in the app) and serves on the bound port.
pub async fn start(settings: &Settings) -> anyhow::Result<Bench> {
    let app = Application::build(settings.clone(), Role::Api).await?;
    let state = app.state().context("the API has no state")?.clone();
    let address = format!("http://127.0.0.1:{}", app.port());
    let (store, pipeline, stop) = (app.store().clone(), app.pipeline(), app.stop_handle());
    tokio::spawn(app.run());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("failed to build the HTTP client")?;
    Ok(Bench {
        address,
        client,
        state,
        store,
        pipeline,
        stop,
    })
}

impl Bench {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops serving; the databases are dropped afterwards anyway.
    pub async fn stop(&self) {
        self.stop.stop().await;
    }

    /// Points accepted and not yet written by the embedded pipeline.
    pub fn queued_points(&self) -> usize {
        self.pipeline.as_ref().map_or(0, |p| p.queued_points())
    }

    async fn login(&self, email: &str) -> anyhow::Result<String> {
        let res = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .context("login request failed")?;
        if res.status() != StatusCode::OK {
            anyhow::bail!("login of {email} answered {}", res.status());
        }
        let body: Value = res.json().await.context("login answered no JSON")?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("login answered no access_token")
    }

    /// Creates an organisation with an admin, who adds an operator; returns the operator's
    /// token.
    pub async fn org(&self, name: &str) -> anyhow::Result<Org> {
        let tag = Uuid::new_v4().simple().to_string();
        let admin_email = format!("admin-{tag}@bench.test");
        let admin = nimbusfleet::commands::create_org(
            self.state.repos.orgs.as_ref(),
            &format!("Bench {name} {tag}"),
            domain::org::Plan::Enterprise,
            &admin_email,
            "Bench admin",
            PASSWORD.to_owned(),
        )
        .await?;
        let admin_token = self.login(&admin_email).await?;
        let operator_email = format!("operator-{tag}@bench.test");
        let res = self
            .client
            .post(self.url("/api/v1/users"))
            .bearer_auth(&admin_token)
            .json(&json!({
                "email": operator_email, "name": "Bench operator",
                "role": "operator", "password": PASSWORD
            }))
            .send()
            .await
            .context("creating the operator failed")?;
        if res.status() != StatusCode::CREATED {
            anyhow::bail!("creating the operator answered {}", res.status());
        }
        Ok(Org {
            id: admin.org_id,
            token: self.login(&operator_email).await?,
        })
    }
}

/// The `ts` of a run's first point: whole seconds, far enough back that every generated
/// `ts` lies in the past.
pub fn start_of_points() -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(0) - chrono::Duration::seconds(60)
}

impl Bench {
    /// An organisation with `count` registered drones, each looked up once, so that ingest
    /// is measured warm (a drone's first lookup is not part of the sustained rate).
    pub async fn warm_fleet(
        &self,
        name: &str,
        prefix: &str,
        count: usize,
    ) -> anyhow::Result<(Org, Vec<DroneId>)> {
        let fleet = self.org(name).await?;
        crate::progress(&format!("registering {count} drones"));
        let drones = register_drones(&self.state, fleet.id, prefix, count).await?;
        for drone in &drones {
            self.state
                .telemetry
                .directory
                .lookup(fleet.id, *drone)
                .await?;
        }
        Ok((fleet, drones))
    }
}

/// Registers `count` active drones through the repository (much faster than HTTP), a few
/// at a time; returns their ids in registration order.
pub async fn register_drones(
    state: &AppState,
    org: OrgId,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<DroneId>> {
    let now = Utc::now();
    futures::stream::iter(0..count)
        .map(|i| async move {
            let serial = Serial::parse(&format!("{prefix}-{i:06}"))
                .map_err(|e| anyhow!("serial: {}", e.message))?;
            let (lat, lon) = crate::points::home(i);
            let home = Position::parse(lat, lon, 0.0).map_err(|e| anyhow!("home: {e:?}"))?;
            let drone = NewDrone {
                org_id: org,
                serial,
                name: format!("Bench {prefix} {i}"),
                model: "Matrice 300 RTK".into(),
                manufacturer: Some("DJI".into()),
                status: DroneStatus::Active,
                limits: Limits {
                    max_altitude_m: 150.0,
                    max_speed_mps: 20.0,
                    endurance_min: 40,
                },
                firmware_version: None,
                home: Some(home),
                link_timeout_s: None,
            }
            .into_drone(DroneId::new(), now);
            let id = drone.id;
            state
                .repos
                .drones
                .create_drone(drone)
                .await
                .context("failed to register a drone")?;
            Ok::<_, anyhow::Error>(id)
        })
        .buffered(REGISTER_CONCURRENCY)
        .try_collect()
        .await
}
