//! `/auth`: log in and out.

use actix_web::{get, post, web, HttpResponse};
use domain::user::Role;

use crate::auth::Principal;
use crate::dto::{LoginRequest, MeResponse, Problem, TokenResponse};
use crate::error::ApiError;
use crate::extract::ValidJson;
use crate::services::AuthService;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login).service(logout).service(me);
}

/// Exchanges an email and password for an access token and starts a session.
#[utoipa::path(context_path = "/api/v1", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "wrong email or password", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "missing field", body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/login")]
pub async fn login(
    auth: web::Data<AuthService>,
    body: ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(request) = body;
    let token = auth.login(&request.email, request.password).await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: token.expires_in_s,
    }))
}

/// Ends the caller's session: the token is refused from now on.
#[utoipa::path(context_path = "/api/v1", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "logged out")))]
#[post("/auth/logout")]
pub async fn logout(
    auth: web::Data<AuthService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    auth.logout(principal.require(Role::Viewer)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The calling user and their organisation.
#[utoipa::path(context_path = "/api/v1", tag = "auth", security(("bearer" = [])), responses((status = 200, body = MeResponse)))]
#[get("/auth/me")]
pub async fn me(
    auth: web::Data<AuthService>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let (user, organization) = auth.me(principal.require(Role::Viewer)?).await?;
    Ok(HttpResponse::Ok().json(MeResponse {
        user: user.into(),
        organization: organization.into(),
    }))
}
