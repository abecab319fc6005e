use chrono::{DateTime, Utc};
use domain::org::{Organization, Plan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationResponse {
    pub id: Uuid,
    #[schema(example = "Demo Aviation")]
    pub name: String,
    /// Subscription plan; it sets the API rate limit.
    #[schema(schema_with = super::enums::plan, example = "free")]
    pub plan: Plan,
    /// The API rate limit of the plan, shared by all the organisation's users and keys.
    pub rate_limit: RateLimitDto,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RateLimitDto {
    #[schema(example = 10)]
    pub requests_per_second: u32,
    #[schema(example = 50)]
    pub burst: u32,
}

impl From<Organization> for OrganizationResponse {
    fn from(org: Organization) -> Self {
        let quota = org.quota();
        Self {
            rate_limit: RateLimitDto {
                requests_per_second: quota.per_second,
                burst: quota.burst,
            },
            id: org.id.as_uuid(),
            name: org.name,
            plan: org.plan,
            created_at: org.created_at,
        }
    }
}
