use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::drone::{Drone, DroneStatus, Limits, NewDrone, Serial};
use domain::org::{Organization, Plan};
use domain::ports::OrgRepository;
use domain::position::Position;
use domain::shard::ShardId;
use domain::user::{Email, NewUser, PasswordHash, Role, User};
use domain::{DroneId, OrgId};
use infra::{StorageSettings, Store};
use sea_orm::{ConnectionTrait, Database};

pub struct TestDb {
    pub store: Store,
    pub settings: StorageSettings,
    // Keeps the SQLite files alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, Vec<String>)>,
}

pub fn settings(catalog_url: String, shard_urls: Vec<String>) -> StorageSettings {
    StorageSettings {
        max_connections: 5,
        connect_timeout: Duration::from_secs(10),
        ..StorageSettings::embedded("unused").with_urls(&catalog_url, &shard_urls)
    }
}

pub fn sqlite_url(dir: &std::path::Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(
            sqlite_url(dir.path(), "catalog.db"),
            vec![
                sqlite_url(dir.path(), "shard-0.db"),
                sqlite_url(dir.path(), "shard-1.db"),
            ],
        );
        let store = ready(&settings).await;
        TestDb {
            store,
            settings,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// Three new databases (catalog and two shards) on the server named by
    /// `NIMBUS_TEST_PG_URL` (default: the local server). `make test` provisions it; the
    /// PostgreSQL runs are never skipped.
    pub async fn postgres() -> Option<TestDb> {
        let db = Self::postgres_unmigrated().await;
        migrate(&db.store).await;
        db.store.check_slot_map().await.unwrap();
        Some(db)
    }

    /// Like [`TestDb::postgres`], with the store connected but nothing migrated yet.
    pub async fn postgres_unmigrated() -> TestDb {
        let base = std::env::var("NIMBUS_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        Self::on_server(&base).await
    }

    /// Like [`TestDb::postgres`], on the PostgreSQL server with TimescaleDB preloaded that
    /// `NIMBUS_TEST_TSDB_URL` names, so `telemetry` is a hypertable. `make test` builds the
    /// extension and starts that server (`scripts/timescaledb.sh`); without the variable
    /// (a plain `cargo nextest run`) these tests say so and pass without running.
    pub async fn timescaledb() -> Option<TestDb> {
        let Ok(base) = std::env::var("NIMBUS_TEST_TSDB_URL") else {
            eprintln!("skipped: NIMBUS_TEST_TSDB_URL is not set (make test sets it)");
            return None;
        };
        let db = Self::on_server(&base).await;
        migrate(&db.store).await;
        db.store.check_slot_map().await.unwrap();
        Some(db)
    }

    /// A catalog and two shard databases, new, on the server at `base`.
    async fn on_server(base: &str) -> TestDb {
        let base = base.trim_end_matches('/').to_owned();
        let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
        let stem = format!("nf_test_{}", uuid::Uuid::new_v4().simple());
        let names: Vec<String> = ["catalog", "shard0", "shard1"]
            .iter()
            .map(|s| format!("{stem}_{s}"))
            .collect();
        for name in &names {
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
        }
        admin.close().await.unwrap();
        let url = |name: &String| format!("{base}/{name}");
        let settings = settings(url(&names[0]), names[1..].iter().map(url).collect());
        let store = Store::connect(&settings).await.unwrap();
        TestDb {
            store,
            settings,
            _dir: None,
            pg: Some((base, names)),
        }
    }

    /// Drops one PostgreSQL database under the store's feet (0 = catalog, 1.. = shards),
    /// as if its server were lost.
    pub async fn lose_database(&self, index: usize) {
        let (base, names) = self.pg.as_ref().unwrap();
        let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
        admin
            .execute_unprepared(&format!("DROP DATABASE \"{}\" WITH (FORCE)", names[index]))
            .await
            .unwrap();
    }

    /// Removes a PostgreSQL test's databases (after a passing test; a failing one leaves
    /// them for inspection).
    pub async fn drop_databases(self) {
        let Some((base, names)) = self.pg else {
            return;
        };
        drop(self.store);
        let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
        for name in names {
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .unwrap();
        }
    }
}

/// Runs the migrations on the store's databases, as the composition root does.
pub async fn migrate(store: &Store) {
    let (catalog, shards) = store.databases();
    migrations::run(catalog, shards).await.unwrap();
}

/// Connected, migrated and with its slot map checked, as the application starts it.
pub async fn ready(settings: &StorageSettings) -> Store {
    let store = Store::connect(settings).await.unwrap();
    migrate(&store).await;
    store.check_slot_map().await.unwrap();
    store
}

/// A new organisation and its admin.
pub async fn new_org(store: &Store) -> (OrgId, User) {
    let id = OrgId::new();
    let org = Organization {
        id,
        name: format!("Org {id}"),
        plan: Plan::Standard,
        custom_quota: None,
        battery: Default::default(),
        created_at: Utc::now(),
    };
    let admin = new_user(id, &format!("admin-{id}@example.com"), Role::Admin);
    let admin = store.create_org(org, admin).await.unwrap();
    (id, admin)
}

pub fn new_user(org: OrgId, email: &str, role: Role) -> NewUser {
    NewUser {
        org_id: org,
        email: Email::parse(email).unwrap(),
        name: format!("User {email}"),
        role,
        password_hash: PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
    }
}

/// A new drone id whose slot belongs to `shard`.
pub fn id_on(store: &Store, shard: u16) -> DroneId {
    loop {
        let id = DroneId::new();
        if store.slot_map().shard_of(id) == ShardId(shard) {
            return id;
        }
    }
}

pub fn drone(org: OrgId, id: DroneId, serial: &str) -> Drone {
    NewDrone {
        org_id: org,
        serial: Serial::parse(serial).unwrap(),
        name: format!("Hawk {serial}"),
        model: "M300".to_owned(),
        manufacturer: Some("DJI".to_owned()),
        status: DroneStatus::Active,
        limits: Limits {
            max_altitude_m: 120.0,
            max_speed_mps: 23.5,
            endurance_min: 41,
        },
        firmware_version: Some("v04.01".to_owned()),
        home: Some(Position::parse(52.520008, 13.404954, 34.5).unwrap()),
        link_timeout_s: None,
    }
    .into_drone(id, Utc::now())
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// Scenarios that need only the store take `&Store`; `&TestDb` coerces to it.
impl std::ops::Deref for TestDb {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}
