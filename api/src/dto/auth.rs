use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::{OrganizationResponse, UserResponse};

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"email": "admin@demo.nimbusfleet.local", "password": "demo-admin-password"}))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 254))]
    pub email: String,
    #[validate(length(min = 1, max = 128))]
    pub password: String,
    /// The organisation's name, when the address has accounts in several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 200))]
    pub organization: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token and its session expire.
    #[schema(example = 86400)]
    pub expires_in: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub user: UserResponse,
    pub organization: OrganizationResponse,
}

/// A single-use ticket for one live stream (`GET /live?ticket=…`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LiveTicket {
    pub ticket: String,
    /// Seconds the ticket may wait to be used.
    #[schema(example = 60)]
    pub expires_in: i64,
}
