use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use domain::user::Role;
use domain::{ApiKeyId, DroneId, OrgId, SessionId, UserId};

use crate::error::ApiError;
use crate::rate_limit::RateLimits;
use crate::services::AuthService;

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

    /// What a read-after token is bound to: the session, or the API key.
    pub fn caller_key(&self) -> Vec<u8> {
        let (kind, id) = match self {
            Self::User(user) => (b's', user.session_id.to_string()),
            Self::Device { key_id, .. } => (b'k', key_id.to_string()),
        };
        let mut key = vec![kind, b':'];
        key.extend_from_slice(id.as_bytes());
        key
    }

    /// The drone a device key acts for; `None` for users.
    pub fn own_drone(&self) -> Option<DroneId> {
        match self {
            Self::User(_) => None,
            Self::Device { drone_id, .. } => Some(*drone_id),
        }
    }
}

/// The credential of a request: `X-API-Key`, or `Authorization: Bearer …`; `None` when it
/// sends neither. A header that is there but unreadable, or both at once, is refused with a
/// message saying so, rather than treated as no credential.
pub fn bearer(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let key = req.headers().get("x-api-key");
    let authorization = req.headers().get(header::AUTHORIZATION);
    match (key, authorization) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::Unauthorized(
            "send one credential: either X-API-Key or Authorization, not both",
        )),
        (Some(key), None) => match key.to_str().map(str::trim) {
            Ok(k) if k.starts_with("nfk_") => Ok(Some(k)),
            // A placeholder or a token in the wrong header: say what a key looks like.
            _ => Err(ApiError::Unauthorized(
                "the X-API-Key header is not an API key (they look like nfk_<prefix>_<secret>)",
            )),
        },
        (None, Some(value)) => {
            let malformed = || ApiError::Unauthorized("Authorization must be `Bearer <token>`");
            let (scheme, token) = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .ok_or_else(malformed)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(malformed());
            }
            Ok(Some(token.trim()))
        }
    }
}

/// Authenticates the request's credential, then counts it against its organisation's
/// rate limit. Shared by the extractor and routes that also take a credential elsewhere.
pub async fn authenticate(
    req: &HttpRequest,
    credential: Option<String>,
) -> Result<Principal, ApiError> {
    let missing = || ApiError::internal(anyhow::anyhow!("the auth service is not configured"));
    let auth = req
        .app_data::<web::Data<AuthService>>()
        .ok_or_else(missing)?;
    let limits = req
        .app_data::<web::Data<RateLimits>>()
        .ok_or_else(missing)?;
    let principal = auth.authenticate(credential).await?;
    infra::consistency::bind_caller(&principal.caller_key());
    limits.check(principal.org_id(), req).await?;
    Ok(principal)
}

/// Counts an already authenticated principal against its organisation's rate limit.
pub async fn admit(req: &HttpRequest, principal: Principal) -> Result<Principal, ApiError> {
    let limits = req
        .app_data::<web::Data<RateLimits>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the rate limiter is not configured")))?;
    limits.check(principal.org_id(), req).await?;
    Ok(principal)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The idempotency middleware authenticates first and leaves the principal here.
        let known = req.extensions().get::<Principal>().cloned();
        let credential = bearer(req).map(|c| c.map(str::to_owned));
        let req = req.clone();
        Box::pin(async move {
            match known {
                Some(principal) => admit(&req, principal).await,
                None => authenticate(&req, credential?).await,
            }
        })
    }
}

/// Extractors that authorise before anything else is read: a handler that takes one before
/// its body refuses a caller without the role (`403`) before it looks at the body (`422`).
macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub UserPrincipal);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let principal = Principal::from_request(req, payload);
                Box::pin(async move { Ok(Self(principal.await?.require($role)?.clone())) })
            }
        }
    };
}

role_extractor!(
    /// A user with the operator or admin role.
    Operator,
    Role::Operator
);
role_extractor!(
    /// A user with the admin role.
    Admin,
    Role::Admin
);

/// Who may send telemetry: a drone's API key, or an operator or admin.
#[derive(Debug, Clone)]
pub struct Reporter(pub Principal);

impl FromRequest for Reporter {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        Box::pin(async move {
            let principal = principal.await?;
            if let Principal::User(_) = &principal {
                principal.require(Role::Operator)?;
            }
            Ok(Self(principal))
        })
    }
}
