use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use domain::session::Session;
use std::sync::OnceLock;

use domain::user::{Email, Password, PasswordHash};
use domain::SessionId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ValidJson;
use crate::routes::organization::OrganizationResponse;
use crate::routes::users::UserResponse;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login).service(logout).service(me);
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"email": "admin@demo.nimbusfleet.local", "password": "demo-admin-password"}))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 254))]
    pub email: String,
    #[validate(length(min = 1, max = 128))]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token and its session expire.
    #[schema(example = 86400)]
    pub expires_in: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserResponse,
    pub organization: OrganizationResponse,
}

/// A hash to verify against when the email is unknown, so that a wrong email and a wrong
/// password take the same time.
fn dummy_hash() -> Option<PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let password = Password::parse("not-a-real-password-for-timing".to_owned()).ok()?;
            infra::secrets::hash_password(&password).ok()
        })
        .clone()
}

/// Exchanges an email and password for an access token and starts a session.
#[utoipa::path(context_path = "/api/v1", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "wrong email or password", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, description = "missing field", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(request) = body;
    let found = match Email::parse(&request.email) {
        Ok(email) => state.users.find_credentials(&email).await?,
        Err(_) => None,
    };
    let known = found.as_ref().map(|(_, hash)| hash.clone());
    let password = request.password;
    let verified = web::block(move || match known.or_else(dummy_hash) {
        Some(hash) => infra::secrets::verify_password(&password, &hash),
        None => false,
    })
    .await
    .map_err(ApiError::internal)?;
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
        expires_at: now + state.token_ttl,
    };
    let token = state
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
    state.sessions.create(session).await?;
    tracing::info!(user_id = %user.id, org_id = %user.org_id, "user logged in");
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.token_ttl.num_seconds(),
    }))
}

/// Ends the caller's session: the token is refused from now on.
#[utoipa::path(context_path = "/api/v1", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "logged out")))]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let user = principal.require(domain::user::Role::Viewer)?;
    state.sessions.delete(user.session_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The calling user and their organisation.
#[utoipa::path(context_path = "/api/v1", tag = "auth", security(("bearer" = [])), responses((status = 200, body = MeResponse)))]
#[get("/auth/me")]
pub async fn me(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let caller = principal.require(domain::user::Role::Viewer)?;
    let user = state
        .users
        .get_user(caller.org_id, caller.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    let org = state
        .orgs
        .get_org(caller.org_id)
        .await?
        .ok_or(ApiError::NotFound("organisation"))?;
    Ok(HttpResponse::Ok().json(MeResponse {
        user: user.into(),
        organization: org.into(),
    }))
}
