//! `/drones/{id}/api-keys`: device credentials (admins only). A key authenticates as its
//! drone and may act for that drone alone.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use domain::drone::{parse_text, NAME_MAX_LEN};
use domain::user::Role;
use domain::{ApiKeyId, DroneId};
use uuid::Uuid;

use super::location;
use crate::auth::{Admin, Principal};
use crate::dto::{ApiKeyList, CreateApiKeyRequest, CreatedApiKey, Problem};
use crate::error::{ApiError, Code};
use crate::extract::ValidJson;
use crate::idempotency::ReplayAs;
use crate::services::ApiKeyService;

/// The name of a key created without one.
const DEFAULT_KEY_NAME: &str = "default";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_api_key)
        .service(list_api_keys)
        .service(delete_api_key);
}

/// Issues a key for a drone. The secret is in this answer only; only its hash is stored.
#[utoipa::path(context_path = "/api/v1", tag = "api-keys", security(("bearer" = [])), params(("id" = Uuid, Path, description = "drone id")),
    request_body = CreateApiKeyRequest, responses(
    (status = 201, body = CreatedApiKey),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "a replay of this request's Idempotency-Key (`secret_not_replayable`): the secret is shown only once", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/drones/{id}/api-keys")]
pub async fn create_api_key(
    req: HttpRequest,
    keys: web::Data<ApiKeyService>,
    Admin(admin): Admin,
    id: web::Path<Uuid>,
    body: ValidJson<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = match body.0.name.as_deref() {
        Some(name) => parse_text("name", name, NAME_MAX_LEN)?,
        None => DEFAULT_KEY_NAME.to_owned(),
    };
    let (key, secret) = keys
        .create(admin.org_id, DroneId::from_uuid(*id), name)
        .await?;
    // A replay with the same Idempotency-Key must not show the secret again (only its hash
    // is stored anywhere): it answers 409 naming the key that was created.
    let replay = ApiError::conflict(
        Code::SecretNotReplayable,
        format!(
            "this Idempotency-Key created API key {} ({}…) for the drone; its secret is shown only once — revoke the key and create another if the secret was lost",
            key.id, key.prefix
        ),
    );
    let mut response = HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, key.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedApiKey {
            key: key.into(),
            secret,
        });
    response.extensions_mut().insert(ReplayAs::problem(&replay));
    Ok(response)
}

/// The drone's keys, without their secrets.
#[utoipa::path(context_path = "/api/v1", tag = "api-keys", security(("bearer" = [])), params(("id" = Uuid, Path, description = "drone id")), responses(
    (status = 200, body = ApiKeyList),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}/api-keys")]
pub async fn list_api_keys(
    keys: web::Data<ApiKeyService>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let found = keys.list(admin.org_id, DroneId::from_uuid(*id)).await?;
    Ok(HttpResponse::Ok().json(ApiKeyList {
        items: found.into_iter().map(Into::into).collect(),
    }))
}

/// Revokes a key at once.
#[utoipa::path(context_path = "/api/v1", tag = "api-keys", security(("bearer" = [])), params(("id" = Uuid, Path, description = "drone id"), ("key_id" = Uuid, Path)), responses(
    (status = 204, description = "revoked"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/drones/{id}/api-keys/{key_id}")]
pub async fn delete_api_key(
    keys: web::Data<ApiKeyService>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let (drone, key) = path.into_inner();
    keys.delete(
        admin.org_id,
        DroneId::from_uuid(drone),
        ApiKeyId::from_uuid(key),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
