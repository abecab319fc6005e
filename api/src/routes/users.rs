use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::drone::{parse_text, NAME_MAX_LEN};
use domain::user::{Email, NewUser, Password, Role, User, UserPatch};
use domain::{UserId, ValidationErrors};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{encode_cursor, Pagination, ValidJson};
use crate::routes::{check_if_match, etag, location, precondition};
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(delete_user);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name,
            role: user.role,
            created_at: user.created_at,
            updated_at: user.updated_at,
            version: user.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "name": "Ada Lovelace", "role": "operator", "password": "correct horse battery"}))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
    /// 10–128 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"role": "viewer"}))]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// A new password (10–128 characters); ends the user's sessions.
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only users with this role.
    #[param(value_type = Option<String>)]
    pub role: Option<Role>,
}

async fn hash(password: Password) -> Result<domain::user::PasswordHash, ApiError> {
    web::block(move || infra::secrets::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Users of the caller's organisation (admins only).
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), params(Pagination, UserFilter),
    responses((status = 200, body = UserList)))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<Pagination>,
    filter: web::Query<UserFilter>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let page = state
        .users
        .list_users(admin.org_id, filter.role, page.page_request()?)
        .await?;
    Ok(HttpResponse::Ok().json(UserList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}

/// Adds a user to the caller's organisation (admins only).
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), request_body = CreateUserRequest, responses(
    (status = 201, body = UserResponse),
    (status = 409, description = "email already in use", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/users")]
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let ValidJson(request) = body;
    let mut errors = ValidationErrors::default();
    let email = errors.collect(Email::parse(&request.email));
    let name = errors.collect(parse_text("name", &request.name, NAME_MAX_LEN));
    let password = errors.collect(Password::parse(request.password));
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(errors.into());
    };
    let user = state
        .users
        .create_user(NewUser {
            org_id: admin.org_id,
            email,
            name,
            role: request.role,
            password_hash: hash(password).await?,
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, user.id)))
        .insert_header(header::ETag(etag(user.version)))
        .json(UserResponse::from(user)))
}

/// One user of the caller's organisation (admins only).
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = UserResponse, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let user = state
        .users
        .get_user(admin.org_id, UserId::from_uuid(*id))
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(user.version)))
        .json(UserResponse::from(user)))
}

/// Changes a user's name, role or password (admins only). Honours `If-Match`. A role or
/// password change ends the user's sessions. The last admin cannot be demoted.
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateUserRequest, responses(
    (status = 200, body = UserResponse),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "would leave no admin", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/users/{id}")]
pub async fn update_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let id = UserId::from_uuid(*id);
    let current = state
        .users
        .get_user(admin.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let matched = check_if_match(&req, current.version)?;
    let ValidJson(request) = body;
    let mut errors = ValidationErrors::default();
    let name = request
        .name
        .as_deref()
        .and_then(|n| errors.collect(parse_text("name", n, NAME_MAX_LEN)));
    let password = request
        .password
        .and_then(|p| errors.collect(Password::parse(p)));
    errors.into_result()?;
    if current.role == Role::Admin && request.role.is_some_and(|r| r != Role::Admin) {
        ensure_other_admin(&state, admin.org_id).await?;
    }
    let revoke = password.is_some() || request.role.is_some_and(|r| r != current.role);
    let password_hash = match password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let patch = UserPatch {
        name,
        role: request.role,
        password_hash,
    };
    let user = state
        .users
        .update_user(admin.org_id, id, patch, Some(current.version))
        .await
        .map_err(precondition(matched))?;
    if revoke {
        state.sessions.delete_for_user(user.id).await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(user.version)))
        .json(UserResponse::from(user)))
}

async fn ensure_other_admin(state: &AppState, org: domain::OrgId) -> Result<(), ApiError> {
    if state.users.count_admins(org).await? <= 1 {
        return Err(ApiError::conflict(
            "last_admin",
            "the organisation must keep at least one admin",
        ));
    }
    Ok(())
}

/// Removes a user and ends their sessions (admins only). The last admin cannot be removed.
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "last admin", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let id = UserId::from_uuid(*id);
    let user = state
        .users
        .get_user(admin.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if user.role == Role::Admin {
        ensure_other_admin(&state, admin.org_id).await?;
    }
    state.users.delete_user(admin.org_id, id).await?;
    state.sessions.delete_for_user(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
