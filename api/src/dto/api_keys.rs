use chrono::{DateTime, Utc};
use domain::api_key::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"name": "onboard computer"}))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for; defaults to `default`.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyResponse,
    /// The whole key. Shown only in this answer: store it now.
    #[schema(example = "nfk_k3x9q2m7w1ab_Jf82kLq0ZpX4vN7cT1sR9yB3mD6hG5wE")]
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyResponse>,
}
