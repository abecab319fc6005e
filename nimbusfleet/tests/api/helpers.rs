use std::sync::Arc;

use api::state::AppState;
use infra::kafka::KafkaBus;
use infra::pipeline::Pipeline;
use infra::Store;
use nimbusfleet::application::{Application, Role};
use nimbusfleet::settings::{Overrides, Settings};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use uuid::Uuid;

/// The JWT key every test app signs with, so tests can forge tokens for the negative cases.
pub const JWT_SECRET: &str = "test-secret-of-at-least-thirty-two-bytes!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub store: Store,
    /// The embedded pipeline, unless telemetry goes to Kafka.
    embedded: Option<Arc<Pipeline>>,
    /// The Kafka producer, when telemetry goes to Kafka.
    pub kafka: Option<Arc<KafkaBus>>,
    pub settings: Settings,
    _dir: Arc<tempfile::TempDir>,
}

/// Runs an `async fn(TestApp)` once on SQLite and once on PostgreSQL, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::spawn($crate::helpers::Backend::Sqlite).await).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::helpers::spawn($crate::helpers::Backend::Postgres).await).await
            }
        }
    )+};
}

fn pg_base() -> String {
    std::env::var("NIMBUS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

async fn create_pg_databases(base: &str, names: &[String]) {
    let admin = Database::connect(format!("{base}/postgres"))
        .await
        .expect("PostgreSQL is not reachable; run the tests with `make test`, which starts it");
    for name in names {
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("failed to create a test database");
    }
    admin.close().await.ok();
}

/// Settings for a test: port 0, two shards, a known JWT key, quiet logs.
pub async fn test_settings(backend: Backend, dir: &std::path::Path) -> Settings {
    test_settings_on(backend, &pg_base(), dir).await
}

/// [`test_settings`] with the PostgreSQL databases created on the server at `pg_base`
/// (`postgres://user@host:port`).
pub async fn test_settings_on(backend: Backend, pg_base: &str, dir: &std::path::Path) -> Settings {
    let mut settings = base_settings(dir);
    let (catalog, shards) = match backend {
        Backend::Sqlite => {
            let url = |f: &str| format!("sqlite://{}?mode=rwc", dir.join(f).display());
            (
                url("catalog.db"),
                vec![url("shard-0.db"), url("shard-1.db")],
            )
        }
        Backend::Postgres => {
            let id = Uuid::new_v4().simple().to_string();
            let names: Vec<String> = ["catalog", "s0", "s1"]
                .iter()
                .map(|s| format!("nft_{id}_{s}"))
                .collect();
            create_pg_databases(pg_base, &names).await;
            let url = |n: &String| format!("{pg_base}/{n}");
            (url(&names[0]), names[1..].iter().map(url).collect())
        }
    };
    settings.storage.catalog_url = Some(catalog.into());
    settings.storage.shard_urls = shards.into_iter().map(Into::into).collect();
    settings
}

/// The test settings without databases: port 0, a known JWT key, quiet logs, small pools.
pub fn base_settings(dir: &std::path::Path) -> Settings {
    let mut settings = Settings::load(None, &Overrides::default()).expect("default settings");
    settings.server.bind = "127.0.0.1:0".parse().unwrap();
    settings.server.workers = 1;
    settings.server.shutdown_timeout = std::time::Duration::from_secs(1);
    settings.auth.jwt_secret = Some(JWT_SECRET.to_owned().into());
    settings.log.level = "warn".into();
    settings.storage.data_dir = dir.to_path_buf();
    settings.storage.max_connections = 5;
    // Every test logs in from 127.0.0.1; the throttling test sets its own quotas.
    settings.auth.login_attempts_per_client_per_minute = 100_000;
    settings
}

/// The Redis server the tests share (each test uses its own key prefix).
pub fn redis_url() -> String {
    std::env::var("NIMBUS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Settings for an app backed by Redis at `url`, with a key prefix of its own.
pub async fn redis_settings(backend: Backend, dir: &std::path::Path, url: &str) -> Settings {
    let mut settings = test_settings(backend, dir).await;
    settings.redis.url = Some(url.to_owned().into());
    settings.redis.key_prefix = format!("nft:{}:", Uuid::new_v4().simple());
    settings
}

/// `n` replicas of one installation: the same databases, the same Redis prefix.
pub async fn spawn_replicas(backend: Backend, n: usize) -> Vec<TestApp> {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = redis_settings(backend, dir.path(), &redis_url()).await;
    let dir = Arc::new(dir);
    let mut apps = Vec::new();
    for _ in 0..n {
        apps.push(spawn_shared(settings.clone(), dir.clone()).await);
    }
    apps
}

/// An app with `kafka.brokers` set: telemetry goes to Kafka, as `serve` sends it.
pub async fn spawn_kafka(settings: Settings, dir: tempfile::TempDir) -> TestApp {
    spawn_shared(settings, Arc::new(dir)).await
}

/// The application exactly as `serve` builds it, on a free port.
async fn spawn_shared(settings: Settings, dir: Arc<tempfile::TempDir>) -> TestApp {
    let app = Application::build(settings.clone(), Role::Api)
        .await
        .expect("app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().expect("an API has state").clone();
    let store = app.store().clone();
    let (embedded, kafka) = (app.pipeline(), app.kafka());
    tokio::spawn(app.run());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        state,
        store,
        embedded,
        kafka,
        settings,
        _dir: dir,
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = test_settings(backend, dir.path()).await;
    spawn_with(backend, settings, dir).await
}

pub async fn spawn_with(_backend: Backend, settings: Settings, dir: tempfile::TempDir) -> TestApp {
    spawn_shared(settings, Arc::new(dir)).await
}

/// An organisation with one user of each role, logged in.
pub struct Org {
    pub id: Uuid,
    pub admin: String,
    pub operator: String,
    pub viewer: String,
    pub admin_email: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// The embedded telemetry pipeline (apps without Kafka).
    pub fn pipeline(&self) -> &Pipeline {
        self.embedded
            .as_deref()
            .expect("this app writes telemetry itself")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, Some(token))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .expect("request")
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request")
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let res = self.login(email, password).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {email} failed");
        body(res).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Creates an organisation with an admin, an operator and a viewer, all logged in.
    pub async fn org(&self, name: &str) -> Org {
        self.org_on(name, None).await
    }

    /// An organisation on `plan` (default: a quota tests never reach).
    pub async fn org_on(&self, name: &str, plan: Option<domain::org::Plan>) -> Org {
        let tag = Uuid::new_v4().simple().to_string();
        let admin_email = format!("admin-{tag}@{name}.test");
        let admin = nimbusfleet::commands::create_org(
            self.state.repos.orgs.as_ref(),
            &format!("{name} {tag}"),
            domain::org::Plan::Free,
            &admin_email,
            "Admin",
            PASSWORD.to_owned(),
        )
        .await
        .expect("create org");
        // Tests make many requests quickly: give their organisations a quota they never hit.
        // The rate-limit tests create Free organisations of their own.
        let quota = domain::limits::Quota {
            per_second: 100_000,
            burst: 100_000,
            period_s: 1,
        };
        let (plan, quota) = match plan {
            Some(plan) => (plan, None),
            None => (domain::org::Plan::Enterprise, Some(quota)),
        };
        self.state
            .repos
            .orgs
            .set_plan(admin.org_id, plan, quota)
            .await
            .expect("set plan");
        let admin_token = self.token(&admin_email, PASSWORD).await;
        let mut tokens = Vec::new();
        for role in ["operator", "viewer"] {
            let email = format!("{role}-{tag}@{name}.test");
            let res = self
                .post(
                    "/api/v1/users",
                    &admin_token,
                    &json!({"email": email, "name": role, "role": role, "password": PASSWORD}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
            tokens.push(self.token(&email, PASSWORD).await);
        }
        Org {
            id: admin.org_id.as_uuid(),
            admin: admin_token,
            viewer: tokens.pop().expect("viewer"),
            operator: tokens.pop().expect("operator"),
            admin_email,
        }
    }

    /// `/metrics` as text.
    pub async fn metrics_text(&self) -> String {
        let res = self.client.get(self.url("/metrics")).send().await.unwrap();
        res.text().await.unwrap()
    }

    /// Registers a drone and returns its JSON.
    pub async fn drone(&self, token: &str, serial: &str) -> Value {
        let res = self
            .post("/api/v1/drones", token, &drone_body(serial))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating drone {serial}");
        body(res).await
    }
}

pub fn drone_body(serial: &str) -> Value {
    json!({
        "serial": serial,
        "name": format!("Drone {serial}"),
        "model": "Matrice 300 RTK",
        "manufacturer": "DJI",
        "max_altitude_m": 150.0,
        "max_speed_mps": 20.0,
        "endurance_min": 40,
        "home": {"lat": 47.3769, "lon": 8.5417, "alt_m": 0.0}
    })
}

pub async fn body(res: Response) -> Value {
    res.json().await.expect("a JSON body")
}

/// Asserts an RFC 7807 answer with this status and code, and returns it.
pub async fn problem(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "unexpected status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let json = body(res).await;
    assert_eq!(json["code"], code, "unexpected problem: {json}");
    assert_eq!(json["status"], status.as_u16());
    json
}

/// The `field` of each error of a 422 problem.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The PostgreSQL database name of shard `index` of a Postgres test app.
pub fn shard_database_name(app: &TestApp, index: usize) -> String {
    use secrecy::ExposeSecret;
    let url = app.settings.storage.shard_urls[index]
        .expose_secret()
        .to_owned();
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

/// The PostgreSQL database name of a Postgres test app's catalog.
pub fn catalog_database_name(app: &TestApp) -> String {
    use secrecy::ExposeSecret;
    let url = app
        .settings
        .storage
        .catalog_url
        .as_ref()
        .expect("catalog url")
        .expose_secret()
        .to_owned();
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Takes a PostgreSQL database "down": no new connections, existing ones terminated.
pub async fn block_database(name: &str) {
    let admin = Database::connect(format!("{}/postgres", pg_base()))
        .await
        .expect("postgres");
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
        ))
        .await
        .expect("alter database");
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .expect("terminate");
    admin.close().await.ok();
}
