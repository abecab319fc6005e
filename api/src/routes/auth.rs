//! `/auth`: log in and out.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
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
    (status = 429, description = "too many attempts for this account or from this address (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "too many password checks at once; retry shortly", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "missing field", body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    state: web::Data<crate::state::Auth>,
    body: ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(request) = body;
    let client = client_address(&req, state.trust_forwarded_for);
    let token = auth
        .login(
            &request.email,
            request.password,
            request.organization.as_deref(),
            client,
        )
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: token.expires_in_s,
    }))
}

/// The caller's address: the TCP peer, or with `trust_forwarded_for` the first address of
/// `X-Forwarded-For` (what the load balancer in front saw).
fn client_address(req: &HttpRequest, trust_forwarded_for: bool) -> Option<std::net::IpAddr> {
    if trust_forwarded_for {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
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
