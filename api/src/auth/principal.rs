use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::Utc;
use domain::api_key::PresentedKey;
use domain::user::Role;
use domain::{ApiKeyId, DroneId, OrgId, SessionId, UserId};

use crate::error::ApiError;
use crate::startup::AppState;

/// A logged-in user, as established by a valid token naming a live session.
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    pub session_id: SessionId,
}

/// Who is calling. Devices authenticate with an API key bound to one drone.
#[derive(Debug, Clone)]
pub enum Principal {
    User(UserPrincipal),
    Device {
        key_id: ApiKeyId,
        org_id: OrgId,
        drone_id: DroneId,
    },
}

impl Principal {
    pub fn org_id(&self) -> OrgId {
        match self {
            Self::User(user) => user.org_id,
            Self::Device { org_id, .. } => *org_id,
        }
    }

    /// The calling user when they hold at least `role`; devices are refused.
    pub fn require(&self, role: Role) -> Result<&UserPrincipal, ApiError> {
        match self {
            Self::User(user) if user.role.at_least(role) => Ok(user),
            Self::User(_) => Err(ApiError::Forbidden(match role {
                Role::Admin => "this action needs the admin role",
                Role::Operator => "this action needs the operator or admin role",
                Role::Viewer => "this action needs a user account",
            })),
            Self::Device { .. } => Err(ApiError::Forbidden("API keys may not call this endpoint")),
        }
    }

    /// Whether the caller may read this drone: any user of the organisation, or the drone's
    /// own key. Another drone's key gets the same 404 as a foreign id.
    pub fn may_read_drone(&self, drone: DroneId) -> bool {
        match self {
            Self::User(_) => true,
            Self::Device { drone_id, .. } => *drone_id == drone,
        }
    }
}

/// The credential of a request: `X-API-Key`, or `Authorization: Bearer …`.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    if let Some(key) = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates a bearer token or API key taken from wherever the route allows it.
pub async fn authenticate(
    state: &AppState,
    credential: Option<String>,
) -> Result<Principal, ApiError> {
    let credential = credential.ok_or(ApiError::Unauthorized("missing bearer token or API key"))?;
    if credential.starts_with(domain::api_key::KEY_PREFIX) {
        return authenticate_key(state, &credential).await;
    }
    let claims = state
        .jwt
        .verify(&credential)
        .map_err(|_| ApiError::Unauthorized("invalid or expired token"))?;
    let session = state
        .sessions
        .get(claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub && s.org_id == claims.org && s.expires_at > Utc::now())
        .ok_or(ApiError::Unauthorized(
            "the session has ended; log in again",
        ))?;
    Ok(Principal::User(UserPrincipal {
        user_id: session.user_id,
        org_id: session.org_id,
        role: session.role,
        session_id: session.id,
    }))
}

async fn authenticate_key(state: &AppState, raw: &str) -> Result<Principal, ApiError> {
    let invalid = ApiError::Unauthorized("invalid API key");
    let presented =
        PresentedKey::parse(raw).ok_or_else(|| ApiError::Unauthorized("invalid API key"))?;
    let (key, digest) = state
        .api_keys
        .find_api_key(&presented.prefix)
        .await?
        .ok_or(invalid)?;
    if !infra::secrets::digest_matches(&presented.secret, &digest) {
        return Err(ApiError::Unauthorized("invalid API key"));
    }
    Ok(Principal::Device {
        key_id: key.id,
        org_id: key.org_id,
        drone_id: key.drone_id,
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credential = bearer(req).map(str::to_owned);
        let req = req.clone();
        Box::pin(async move {
            let state = state
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
            let principal = authenticate(&state, credential).await?;
            state.rate_limits.check(principal.org_id(), &req).await?;
            Ok(principal)
        })
    }
}
