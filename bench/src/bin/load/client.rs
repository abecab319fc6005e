//! The calls the load generator makes: log in, find or register its drones, post batches.
//! Unlike the simulator's client it never retries: every answer is counted as it came.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use api::dto::{CreateDroneRequest, DroneList, IngestResponse};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Drones listed per page when looking for the ones a previous run registered.
const PAGE: u32 = 500;

/// How one POST /telemetry ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `202`, `503`, … or `transport` when no answer came.
    pub status: String,
    pub accepted: u64,
    pub latency: Duration,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status == "202"
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    email: String,
    password: String,
    token: RwLock<String>,
}

impl Client {
    pub async fn connect(base: &str, email: &str, password: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(256)
            .user_agent(concat!("nimbusfleet-load/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let client = Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            token: RwLock::new(String::new()),
        };
        client.login().await?;
        Ok(client)
    }

    async fn login(&self) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": self.email, "password": self.password}))
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        if !res.status().is_success() {
            bail!("login as {} answered {}", self.email, res.status());
        }
        let body: serde_json::Value = res.json().await?;
        let token = body["access_token"]
            .as_str()
            .context("the login answer has no access_token")?;
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token.to_owned();
        Ok(())
    }

    fn bearer(&self) -> String {
        self.token.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The organisation's drones whose serial starts with `prefix`, registering the missing
    /// ones (`PREFIX-00001` …) up to `count`.
    pub async fn drones(&self, prefix: &str, count: u32) -> anyhow::Result<Vec<Uuid>> {
        let mut found = std::collections::BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(format!("{}/api/v1/drones", self.base))
                .bearer_auth(self.bearer())
                .query(&[("q", prefix), ("limit", &PAGE.to_string())]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let res = req.send().await?;
            if !res.status().is_success() {
                bail!("GET /api/v1/drones answered {}", res.status());
            }
            let page: DroneList = res.json().await?;
            for d in page.items {
                if d.serial.starts_with(&format!("{prefix}-")) {
                    found.insert(d.serial, d.id);
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut ids: Vec<Uuid> = Vec::with_capacity(count as usize);
        for n in 1..=count {
            let serial = format!("{prefix}-{n:05}");
            if let Some(id) = found.get(&serial) {
                ids.push(*id);
                continue;
            }
            ids.push(self.register(&serial).await?);
        }
        Ok(ids)
    }

    async fn register(&self, serial: &str) -> anyhow::Result<Uuid> {
        let drone = CreateDroneRequest {
            serial: serial.to_owned(),
            name: format!("Load {serial}"),
            model: "load-generator".to_owned(),
            manufacturer: None,
            firmware_version: None,
            max_altitude_m: 120.0,
            max_speed_mps: 20.0,
            endurance_min: 40,
            home: None,
            status: None,
        };
        let res = self
            .http
            .post(format!("{}/api/v1/drones", self.base))
            .bearer_auth(self.bearer())
            .json(&drone)
            .send()
            .await?;
        if res.status() != StatusCode::CREATED {
            bail!(
                "registering {serial} answered {}: {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
        let body: serde_json::Value = res.json().await?;
        body["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("the drone answer has no id")
    }

    /// Posts one batch and reports how it ended; logs in again once if the token was
    /// refused (expired during a long soak).
    pub async fn post(&self, body: Vec<u8>) -> Outcome {
        let started = Instant::now();
        let mut outcome = self.post_once(&body, started).await;
        if outcome.status == "401" && self.login().await.is_ok() {
            outcome = self.post_once(&body, Instant::now()).await;
        }
        outcome
    }

    async fn post_once(&self, body: &[u8], started: Instant) -> Outcome {
        let sent = self
            .http
            .post(format!("{}/api/v1/telemetry", self.base))
            .bearer_auth(self.bearer())
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let (status, accepted) = match sent {
            Err(_) => ("transport".to_owned(), 0),
            Ok(res) => {
                let status = res.status();
                let accepted = match status {
                    StatusCode::ACCEPTED => res
                        .json::<IngestResponse>()
                        .await
                        .map(|r| r.accepted as u64)
                        .unwrap_or(0),
                    _ => 0,
                };
                (status.as_u16().to_string(), accepted)
            }
        };
        Outcome {
            status,
            accepted,
            latency: started.elapsed(),
        }
    }
}
