use chrono::{DateTime, Utc};

use crate::ids::{OrgId, SessionId, UserId};
use crate::user::Role;

/// A logged-in user's session. Tokens name it; deleting it revokes them everywhere.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
