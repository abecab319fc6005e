//! The calls the load generator makes, through the simulator's API client (which never
//! retries, only logs in again on a `401`): every answer is counted as it came.

use std::time::{Duration, Instant};

use api::dto::CreateDroneRequest;
use secrecy::SecretString;
use simulator::client::{ApiClient, ClientError};
use simulator::SimAuth;
use uuid::Uuid;

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
    api: ApiClient,
}

impl Client {
    pub async fn connect(base: &str, email: &str, password: &str) -> anyhow::Result<Self> {
        let auth = SimAuth::Credentials {
            email: email.to_owned(),
            password: SecretString::from(password.to_owned()),
        };
        let api = ApiClient::new(base, &auth)?;
        api.login().await?;
        Ok(Self { api })
    }

    /// The organisation's drones `PREFIX-00001` … `PREFIX-{count}`, registering the
    /// missing ones.
    pub async fn drones(&self, prefix: &str, count: u32) -> anyhow::Result<Vec<Uuid>> {
        let found: std::collections::HashMap<String, Uuid> = self
            .api
            .list_drones()
            .await?
            .into_iter()
            .map(|d| (d.serial, d.id))
            .collect();
        let mut ids = Vec::with_capacity(count as usize);
        for n in 1..=count {
            let serial = format!("{prefix}-{n:05}");
            match found.get(&serial) {
                Some(id) => ids.push(*id),
                None => ids.push(self.register(&serial).await?),
            }
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
            link_timeout_s: None,
            status: None,
        };
        match self.api.create_drone(&drone).await? {
            Some(created) => Ok(created.id),
            None => anyhow::bail!("the serial {serial} was taken while registering it"),
        }
    }

    /// Posts one batch (a complete JSON body) and reports how it ended.
    pub async fn post(&self, body: Vec<u8>) -> Outcome {
        let started = Instant::now();
        let answer = self.api.post_telemetry(&body).await;
        let latency = started.elapsed();
        let (status, accepted) = match answer {
            Ok(answer) => ("202".to_owned(), answer.accepted as u64),
            Err(ClientError::Status { status, .. }) => (status.as_u16().to_string(), 0),
            Err(ClientError::Transport { .. }) => ("transport".to_owned(), 0),
            Err(ClientError::Decode { .. }) => ("undecodable".to_owned(), 0),
        };
        Outcome {
            status,
            accepted,
            latency,
        }
    }
}
