//! The few NimbusFleet endpoints the simulator calls, over HTTP.

use std::sync::RwLock;
use std::time::Duration;

use api::dto::{
    CreateDroneRequest, DroneList, DroneResponse, IngestResponse, LoginRequest, PositionsResponse,
    Problem, TokenResponse,
};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::SimAuth;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{request} failed: {}", innermost(.source))]
    Transport {
        request: String,
        #[source]
        source: reqwest::Error,
    },
    /// A non-2xx answer, with the problem document's `code` when it has one.
    #[error("{request} answered {} {code}: {detail}", .status.as_u16())]
    Status {
        request: String,
        status: StatusCode,
        code: String,
        detail: String,
        /// The first entry of the problem's `errors`, as `field code`.
        first_error: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("{request} answered with an unexpected body")]
    Decode {
        request: String,
        #[source]
        source: reqwest::Error,
    },
}

impl ClientError {
    /// True when the server could not be reached or asked to come back later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => {
                *status == StatusCode::SERVICE_UNAVAILABLE
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Decode { .. } => false,
        }
    }

    /// A one-line description for progress lines.
    pub fn short(&self) -> String {
        match self {
            Self::Transport { source, .. } => innermost(source),
            Self::Status {
                status,
                code,
                first_error,
                ..
            } => match first_error {
                Some(first) => format!("{} {code} ({first})", status.as_u16()),
                None => format!("{} {code}", status.as_u16()),
            },
            Self::Decode { .. } => "unexpected answer body".to_owned(),
        }
    }
}

/// The deepest cause's message: "Connection refused (os error 111)" rather than reqwest's
/// "error sending request for url (…)".
fn innermost(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

enum Credential {
    Login {
        email: String,
        password: SecretString,
        token: RwLock<Option<SecretString>>,
    },
    ApiKey(SecretString),
}

/// An authenticated client. With email and password it logs in again when its token is
/// refused (expired, or the session ended), so a long simulation keeps going.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    credential: Credential,
}

impl ApiClient {
    pub fn new(base_url: &str, auth: &SimAuth) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("nimbusfleet-simulator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let credential = match auth {
            SimAuth::Credentials { email, password } => Credential::Login {
                email: email.clone(),
                password: password.clone(),
                token: RwLock::new(None),
            },
            SimAuth::ApiKey { key, .. } => Credential::ApiKey(key.clone()),
        };
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            credential,
        })
    }

    /// Logs in with the email and password; does nothing for an API key.
    pub async fn login(&self) -> Result<(), ClientError> {
        let Credential::Login {
            email,
            password,
            token,
        } = &self.credential
        else {
            return Ok(());
        };
        let request = "POST /api/v1/auth/login";
        let body = LoginRequest {
            email: email.clone(),
            password: password.expose_secret().to_owned(),
            organization: None,
        };
        let response = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&body)
            .send()
            .await
            .map_err(|source| transport(request, source))?;
        let answer: TokenResponse = decode(request, check(request, response).await?).await?;
        *token.write().unwrap_or_else(|e| e.into_inner()) =
            Some(SecretString::from(answer.access_token));
        Ok(())
    }

    /// Every drone of the organisation, following the cursor.
    pub async fn list_drones(&self) -> Result<Vec<DroneResponse>, ClientError> {
        let request = "GET /api/v1/drones";
        let mut drones = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = self.url("/api/v1/drones");
            let cursor_now = cursor.clone();
            let response = self
                .send(request, move |http| {
                    let query: Vec<(&str, String)> = std::iter::once(("limit", "500".to_owned()))
                        .chain(cursor_now.clone().map(|c| ("cursor", c)))
                        .collect();
                    http.get(&url).query(&query)
                })
                .await?;
            let page: DroneList = decode(request, response).await?;
            drones.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(drones),
            }
        }
    }

    /// The latest position of every drone of the organisation that has reported.
    pub async fn fleet_positions(&self) -> Result<PositionsResponse, ClientError> {
        let request = "GET /api/v1/fleet/positions";
        let url = self.url("/api/v1/fleet/positions");
        let response = self.send(request, |http| http.get(&url)).await?;
        decode(request, response).await
    }

    pub async fn get_drone(&self, id: Uuid) -> Result<DroneResponse, ClientError> {
        let request = format!("GET /api/v1/drones/{id}");
        let url = self.url(&format!("/api/v1/drones/{id}"));
        let response = self.send(&request, |http| http.get(&url)).await?;
        decode(&request, response).await
    }

    /// Registers a drone; `None` when its serial is taken.
    pub async fn create_drone(
        &self,
        drone: &CreateDroneRequest,
    ) -> Result<Option<DroneResponse>, ClientError> {
        let request = "POST /api/v1/drones";
        let url = self.url("/api/v1/drones");
        match self.send(request, |http| http.post(&url).json(drone)).await {
            Ok(response) => decode(request, response).await.map(Some),
            Err(ClientError::Status { code, .. }) if code == "duplicate_serial" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a geofence (`simulate --misbehave enter-fence`).
    pub async fn create_geofence(&self, fence: &serde_json::Value) -> Result<(), ClientError> {
        let request = "POST /api/v1/geofences";
        let url = self.url("/api/v1/geofences");
        self.send(request, |http| http.post(&url).json(fence))
            .await
            .map(drop)
    }

    /// Posts one batch (a complete JSON body) of telemetry.
    pub async fn post_telemetry(&self, body: &[u8]) -> Result<IngestResponse, ClientError> {
        let request = "POST /api/v1/telemetry";
        let url = self.url("/api/v1/telemetry");
        let response = self
            .send(request, |http| {
                http.post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_vec())
            })
            .await?;
        decode(request, response).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorize(&self, builder: RequestBuilder) -> RequestBuilder {
        match &self.credential {
            Credential::ApiKey(key) => builder.header("x-api-key", key.expose_secret()),
            Credential::Login { token, .. } => {
                match &*token.read().unwrap_or_else(|e| e.into_inner()) {
                    Some(token) => builder.bearer_auth(token.expose_secret()),
                    None => builder,
                }
            }
        }
    }

    /// Sends an authorised request; on `401` with a login, logs in again and resends once.
    async fn send(
        &self,
        request: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, ClientError> {
        let response = self
            .authorize(build(&self.http))
            .send()
            .await
            .map_err(|source| transport(request, source))?;
        let relogin = response.status() == StatusCode::UNAUTHORIZED
            && matches!(self.credential, Credential::Login { .. });
        if !relogin {
            return check(request, response).await;
        }
        self.login().await?;
        let response = self
            .authorize(build(&self.http))
            .send()
            .await
            .map_err(|source| transport(request, source))?;
        check(request, response).await
    }
}

fn transport(request: &str, source: reqwest::Error) -> ClientError {
    ClientError::Transport {
        request: request.to_owned(),
        source,
    }
}

async fn decode<T: serde::de::DeserializeOwned>(
    request: &str,
    response: Response,
) -> Result<T, ClientError> {
    response.json().await.map_err(|source| {
        if source.is_decode() {
            ClientError::Decode {
                request: request.to_owned(),
                source,
            }
        } else {
            transport(request, source)
        }
    })
}

/// Passes a 2xx answer through and turns any other into [`ClientError::Status`].
async fn check(request: &str, response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Whatever answers may not speak problem+json (a load balancer's 502, say).
    let problem = response.json::<Problem>().await.ok();
    let (code, detail, first_error) = match problem {
        Some(p) => (
            p.code.name().to_owned(),
            p.detail,
            p.errors.first().map(|e| format!("{} {}", e.field, e.code)),
        ),
        None => (format!("http_{}", status.as_u16()), String::new(), None),
    };
    Err(ClientError::Status {
        request: request.to_owned(),
        status,
        code,
        detail,
        first_error,
        retry_after,
    })
}
