//! `/drones/{id}/api-keys`: device credentials (admins only). A key authenticates as its
//! drone and may act for that drone alone.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::api_key::{ApiKey, PresentedKey};
use domain::drone::{parse_text, NAME_MAX_LEN};
use domain::user::Role;
use domain::{ApiKeyId, DroneId, OrgId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::ValidJson;
use crate::routes::location;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_api_key)
        .service(list_api_keys)
        .service(delete_api_key);
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"name": "onboard computer"}))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for; defaults to `default`.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub id: Uuid,
    pub drone_id: Uuid,
    pub name: String,
    /// Public part of the key, to tell keys apart.
    #[schema(example = "k3x9q2m7w1ab")]
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id.as_uuid(),
            drone_id: key.drone_id.as_uuid(),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyResponse,
    /// The whole key. Shown only in this answer: store it now.
    #[schema(example = "nfk_k3x9q2m7w1ab_Jf82kLq0ZpX4vN7cT1sR9yB3mD6hG5wE")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyResponse>,
}

async fn ensure_drone(state: &AppState, org: OrgId, drone: DroneId) -> Result<(), ApiError> {
    state
        .drones
        .get_drone(org, drone)
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound("drone"))
}

/// Issues a key for a drone. The secret is in this answer only; only its hash is stored.
#[utoipa::path(context_path = "/api/v1", tag = "api-keys", security(("bearer" = [])), params(("id" = Uuid, Path, description = "drone id")),
    request_body = CreateApiKeyRequest, responses(
    (status = 201, body = CreatedApiKey),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/drones/{id}/api-keys")]
pub async fn create_api_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ValidJson<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let drone = DroneId::from_uuid(*id);
    let name = match body.0.name.as_deref() {
        Some(name) => parse_text("name", name, NAME_MAX_LEN)?,
        None => "default".to_owned(),
    };
    ensure_drone(&state, admin.org_id, drone).await?;
    let (prefix, secret) = infra::secrets::new_api_key();
    let key = ApiKey {
        id: ApiKeyId::new(),
        org_id: admin.org_id,
        drone_id: drone,
        name,
        prefix: prefix.clone(),
        created_at: Utc::now(),
    };
    let key = state
        .api_keys
        .create_api_key(key, infra::secrets::sha256_hex(&secret))
        .await?;
    tracing::info!(key_id = %key.id, drone_id = %drone, "api key issued");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&req, key.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedApiKey {
            key: key.into(),
            secret: PresentedKey::render(&prefix, &secret),
        }))
}

/// The drone's keys, without their secrets.
#[utoipa::path(context_path = "/api/v1", tag = "api-keys", security(("bearer" = [])), params(("id" = Uuid, Path, description = "drone id")), responses(
    (status = 200, body = ApiKeyList),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/drones/{id}/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let drone = DroneId::from_uuid(*id);
    ensure_drone(&state, admin.org_id, drone).await?;
    let keys = state.api_keys.list_api_keys(admin.org_id, drone).await?;
    Ok(HttpResponse::Ok().json(ApiKeyList {
        items: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Revokes a key at once.
#[utoipa::path(context_path = "/api/v1", tag = "api-keys", security(("bearer" = [])), params(("id" = Uuid, Path, description = "drone id"), ("key_id" = Uuid, Path)), responses(
    (status = 204, description = "revoked"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/drones/{id}/api-keys/{key_id}")]
pub async fn delete_api_key(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let admin = principal.require(Role::Admin)?;
    let (drone, key) = path.into_inner();
    state
        .api_keys
        .delete_api_key(
            admin.org_id,
            DroneId::from_uuid(drone),
            ApiKeyId::from_uuid(key),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
