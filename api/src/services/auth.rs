//! Who is calling: logins and sessions for users, API keys for drones.

use std::sync::Arc;

use chrono::Utc;
use domain::api_key::PresentedKey;
use domain::org::Organization;
use domain::platform::SessionStore;
use domain::ports::{ApiKeyRepository, OrgRepository, UserRepository};
use domain::session::Session;
use domain::user::{Email, User};
use domain::{OrgId, SessionId};

use super::passwords;
use crate::auth::{JwtKeys, Principal, UserPrincipal};
use crate::error::ApiError;
use crate::state::AppState;

/// A new access token and how long it lives.
pub struct Token {
    pub access_token: String,
    pub expires_in_s: i64,
}

#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    orgs: Arc<dyn OrgRepository>,
    api_keys: Arc<dyn ApiKeyRepository>,
    sessions: Arc<dyn SessionStore>,
    jwt: JwtKeys,
    token_ttl: chrono::Duration,
}

impl AuthService {
    pub fn new(state: &AppState) -> Self {
        Self {
            users: state.repos.users.clone(),
            orgs: state.repos.orgs.clone(),
            api_keys: state.repos.api_keys.clone(),
            sessions: state.auth.sessions.clone(),
            jwt: state.auth.jwt.clone(),
            token_ttl: chrono::Duration::from_std(state.auth.token_ttl)
                .unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Checks a bearer token or API key; fails closed.
    pub async fn authenticate(&self, credential: Option<String>) -> Result<Principal, ApiError> {
        let credential =
            credential.ok_or(ApiError::Unauthorized("missing bearer token or API key"))?;
        if credential.starts_with(domain::api_key::KEY_PREFIX) {
            return self.authenticate_key(&credential).await;
        }
        let claims = self
            .jwt
            .verify(&credential)
            .map_err(|_| ApiError::Unauthorized("invalid or expired token"))?;
        let session = self
            .sessions
            .get(claims.sid)
            .await?
            .filter(|s| {
                s.user_id == claims.sub && s.org_id == claims.org && s.expires_at > Utc::now()
            })
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

    async fn authenticate_key(&self, raw: &str) -> Result<Principal, ApiError> {
        // Unknown and wrong secrets answer alike: a prefix alone tells an attacker nothing.
        let invalid = || ApiError::Unauthorized("unknown or revoked API key");
        let presented = PresentedKey::parse(raw).ok_or(ApiError::Unauthorized(
            "malformed API key: expected nfk_<prefix>_<secret> as issued",
        ))?;
        let (key, digest) = self
            .api_keys
            .find_api_key(&presented.prefix)
            .await?
            .ok_or_else(invalid)?;
        if !infra::secrets::digest_matches(&presented.secret, &digest) {
            return Err(invalid());
        }
        Ok(Principal::Device {
            key_id: key.id,
            org_id: key.org_id,
            drone_id: key.drone_id,
        })
    }

    /// Exchanges an email and password for an access token naming a new session.
    pub async fn login(&self, email: &str, password: String) -> Result<Token, ApiError> {
        let found = match Email::parse(email) {
            Ok(email) => self.users.find_credentials(&email).await?,
            Err(_) => None,
        };
        let known = found.as_ref().map(|(_, hash)| hash.clone());
        let verified = passwords::verify(password, known).await?;
        let user = match found {
            Some((user, _)) if verified => user,
            _ => return Err(ApiError::Unauthorized("wrong email or password")),
        };
        let now = Utc::now();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            org_id: user.org_id,
            role: user.role,
            created_at: now,
            expires_at: now + self.token_ttl,
        };
        let token = self
            .jwt
            .sign(
                user.id,
                user.org_id,
                user.role,
                session.id,
                now,
                session.expires_at,
            )
            .map_err(ApiError::internal)?;
        self.sessions.create(session).await?;
        tracing::info!(user_id = %user.id, org_id = %user.org_id, "user logged in");
        Ok(Token {
            access_token: token,
            expires_in_s: self.token_ttl.num_seconds(),
        })
    }

    /// Ends the caller's session: the token is refused from now on, on every replica.
    pub async fn logout(&self, user: &UserPrincipal) -> Result<(), ApiError> {
        self.sessions.delete(user.session_id).await?;
        Ok(())
    }

    /// Whether the session still exists (live streams close when it ends).
    pub async fn session_alive(&self, session: SessionId) -> bool {
        matches!(self.sessions.get(session).await, Ok(Some(_)))
    }

    /// The calling user and their organisation.
    pub async fn me(&self, caller: &UserPrincipal) -> Result<(User, Organization), ApiError> {
        let user = self
            .users
            .get_user(caller.org_id, caller.user_id)
            .await?
            .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
        let org = self.organization(caller.org_id).await?;
        Ok((user, org))
    }

    pub async fn organization(&self, org: OrgId) -> Result<Organization, ApiError> {
        self.orgs
            .get_org(org)
            .await?
            .ok_or(ApiError::NotFound("organisation"))
    }
}
