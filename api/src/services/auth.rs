//! Who is calling: logins and sessions for users, API keys for drones.

use std::sync::Arc;

use chrono::Utc;
use domain::api_key::PresentedKey;
use domain::org::Organization;
use domain::platform::{IdempotencyState, IdempotencyStore, RateLimiter, SessionStore};
use domain::ports::{ApiKeyRepository, OrgRepository, UserRepository};
use domain::session::Session;
use domain::user::{Email, User};
use domain::{OrgId, SessionId};

use super::passwords;
use crate::auth::jwt::{TicketClaims, TICKET_TYPE};
use crate::auth::{JwtKeys, Principal, UserPrincipal};

/// Accounts of one address a login looks at (one per organisation).
pub const MAX_ACCOUNTS_PER_EMAIL: u64 = 5;

/// How long a live-stream ticket may wait to be used, in seconds.
pub const TICKET_TTL_S: i64 = 60;
use crate::error::ApiError;
use crate::settings::LoginQuotas;
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
    limiter: Arc<dyn RateLimiter>,
    login_quotas: LoginQuotas,
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
            limiter: state.limits.rate_limiter.clone(),
            login_quotas: state.auth.login_quotas,
        }
    }

    /// Counts a login attempt against the account and the client address (shared by every
    /// replica through Redis when configured); refused with 429 beyond either quota, before
    /// any password is hashed.
    async fn throttle_login(
        &self,
        email: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), ApiError> {
        let account = format!("login:account:{}", email.trim().to_lowercase());
        let mut checks = vec![(account, self.login_quotas.account)];
        if let Some(ip) = client {
            checks.push((format!("login:client:{ip}"), self.login_quotas.client));
        }
        for (key, quota) in checks {
            let decision = self.limiter.check(&key, quota).await;
            if !decision.allowed {
                let retry_after_s = decision.retry_after.as_secs_f64().ceil().max(1.0) as u32;
                return Err(ApiError::TooMany {
                    code: crate::error::Code::LoginThrottled,
                    detail: format!(
                        "too many login attempts for this account or from this address; retry in {retry_after_s} s"
                    ),
                    retry_after_s,
                });
            }
        }
        Ok(())
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
        self.session_principal(claims.sid, claims.sub, claims.org)
            .await
    }

    /// The user of a live session that belongs to `user` of `org`; its role is the
    /// session's, which role changes replace.
    async fn session_principal(
        &self,
        sid: SessionId,
        user: domain::UserId,
        org: OrgId,
    ) -> Result<Principal, ApiError> {
        let session = self
            .sessions
            .get(sid)
            .await?
            .filter(|s| s.user_id == user && s.org_id == org && s.expires_at > Utc::now())
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
    ///
    /// An address may have an account in several organisations: `organization` (its name)
    /// says which. Without it, the password is checked against each account of the address
    /// (at most [`MAX_ACCOUNTS_PER_EMAIL`]) and the one it opens is used.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        organization: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Token, ApiError> {
        self.throttle_login(email, client).await?;
        let mut found = match Email::parse(email) {
            Ok(email) => {
                self.users
                    .find_credentials(&email, MAX_ACCOUNTS_PER_EMAIL)
                    .await?
            }
            Err(_) => Vec::new(),
        };
        if let Some(name) = organization {
            let org = self.orgs.find_org_by_name(name).await?.map(|o| o.id);
            found.retain(|(user, _)| Some(user.org_id) == org);
        }
        let wrong = || ApiError::Unauthorized("wrong email or password");
        if found.is_empty() {
            // The same work as a wrong password, so an unknown address takes as long.
            passwords::verify(password, None).await?;
            return Err(wrong());
        }
        let mut opened = Vec::new();
        for (user, hash) in found {
            if passwords::verify(password.clone(), Some(hash)).await? {
                opened.push(user);
            }
        }
        let user = match opened.len() {
            0 => return Err(wrong()),
            1 => opened.remove(0),
            _ => {
                return Err(ApiError::Unauthorized(
                    "these credentials open accounts in several organisations: name one in `organization`",
                ))
            }
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
        let session_id = session.id;
        self.sessions.create(session).await?;
        // The role was read before the (slow) password check: if the account changed
        // meanwhile (a demotion, a new password, deletion), this session must not live on
        // with what was read.
        let current = self.users.get_user(user.org_id, user.id).await?;
        if current.is_none_or(|now| now.version != user.version) {
            self.sessions.delete(session_id).await?;
            return Err(ApiError::Unauthorized(
                "the account changed while logging in; log in again",
            ));
        }
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
    /// A ticket for one live stream, valid [`TICKET_TTL_S`] seconds, bound to the caller's
    /// session (browsers' `EventSource` cannot send headers; a ticket in the URL is harmless
    /// once used or expired, unlike the access token it replaces).
    pub fn live_ticket(&self, caller: &UserPrincipal) -> Result<Token, ApiError> {
        let claims = TicketClaims {
            typ: TICKET_TYPE.to_owned(),
            sub: caller.user_id,
            org: caller.org_id,
            sid: caller.session_id,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.jwt.issuer().to_owned(),
            exp: (Utc::now() + chrono::Duration::seconds(TICKET_TTL_S)).timestamp(),
        };
        Ok(Token {
            access_token: self.jwt.sign_ticket(&claims).map_err(ApiError::internal)?,
            expires_in_s: TICKET_TTL_S,
        })
    }

    /// Redeems a live-stream ticket: valid, unused (it is used now, on every replica
    /// through the idempotency store), and its session still alive.
    pub async fn redeem_ticket(
        &self,
        ticket: &str,
        used: &dyn IdempotencyStore,
    ) -> Result<Principal, ApiError> {
        let claims = self
            .jwt
            .verify_ticket(ticket)
            .map_err(|_| ApiError::Unauthorized("invalid or expired live ticket"))?;
        let first = used
            .begin(
                "live-ticket",
                &claims.jti,
                "used",
                std::time::Duration::from_secs(TICKET_TTL_S.unsigned_abs() + 60),
            )
            .await
            .map_err(|_| {
                ApiError::unavailable("live tickets cannot be checked right now; retry shortly", 2)
            })?;
        if first != IdempotencyState::Started {
            return Err(ApiError::Unauthorized(
                "this live ticket was used already; ask for another",
            ));
        }
        self.session_principal(claims.sid, claims.sub, claims.org)
            .await
    }

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
