//! `/users`: the organisation's users and their roles (admins only).

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use domain::user::{Role, User};
use domain::UserId;
use uuid::Uuid;

use super::location;
use crate::auth::{Admin, Principal};
use crate::dto::{
    CreateUserRequest, Problem, UpdateUserRequest, UserFilter, UserList, UserResponse,
};
use crate::error::ApiError;
use crate::extract::{encode_cursor, Pagination, ValidJson};
use crate::services::{etag, Precondition, UserService};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(delete_user);
}

/// The user's answer, with its version as `ETag`.
fn user_answer(mut response: actix_web::HttpResponseBuilder, user: User) -> HttpResponse {
    response
        .insert_header(header::ETag(etag(user.version)))
        .json(UserResponse::from(user))
}

/// Users of the caller's organisation (admins only).
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), params(Pagination, UserFilter),
    responses((status = 200, body = UserList)))]
#[get("/users")]
pub async fn list_users(
    users: web::Data<UserService>,
    principal: Principal,
    page: web::Query<Pagination>,
    filter: web::Query<UserFilter>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let page = users
        .list(admin.org_id, filter.role, page.page_request()?)
        .await?;
    Ok(HttpResponse::Ok().json(UserList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_after.map(encode_cursor),
    }))
}

/// Adds a user to the caller's organisation (admins only). Without a `name`, the email's
/// local part is the display name.
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), request_body = CreateUserRequest, responses(
    (status = 201, body = UserResponse, headers(("ETag" = String), ("Location" = String))),
    (status = 409, description = "email already in use", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/users")]
pub async fn create_user(
    req: HttpRequest,
    users: web::Data<UserService>,
    Admin(admin): Admin,
    body: ValidJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = users.create(admin.org_id, body.0.into_account()?).await?;
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, location(&req, user.id)));
    Ok(user_answer(response, user))
}

/// One user of the caller's organisation (admins only).
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 200, body = UserResponse, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/users/{id}")]
pub async fn get_user(
    users: web::Data<UserService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let user = users.get(admin.org_id, UserId::from_uuid(*id)).await?;
    Ok(user_answer(HttpResponse::Ok(), user))
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
    users: web::Data<UserService>,
    Admin(admin): Admin,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let precondition = Precondition::from_request(&req)?;
    let change = body.0.into_change()?;
    let user = users
        .update(admin.org_id, UserId::from_uuid(*id), &precondition, change)
        .await?;
    Ok(user_answer(HttpResponse::Ok(), user))
}

/// Removes a user and ends their sessions (admins only). The last admin cannot be removed.
#[utoipa::path(context_path = "/api/v1", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "last admin", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/users/{id}")]
pub async fn delete_user(
    users: web::Data<UserService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    users.delete(admin.org_id, UserId::from_uuid(*id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
