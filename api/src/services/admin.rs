//! What the installation's own operators may see: its shards and slot moves. Only users
//! named in `auth.installation_admins` (by email) may, whatever their organisation.

use std::sync::Arc;

use domain::ports::{ShardDirectory, ShardOverview, UserRepository};

use crate::auth::UserPrincipal;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone)]
pub struct AdminService {
    users: Arc<dyn UserRepository>,
    shards: Arc<dyn ShardDirectory>,
    /// Lower-case emails.
    installation_admins: Arc<[String]>,
}

impl AdminService {
    pub fn new(state: &AppState) -> Self {
        Self {
            users: state.repos.users.clone(),
            shards: state.repos.shards.clone(),
            installation_admins: state.auth.installation_admins.clone(),
        }
    }

    /// The shards, their slots and rows, and the latest moves, for an installation admin.
    pub async fn shards(&self, caller: &UserPrincipal) -> Result<ShardOverview, ApiError> {
        self.require_installation_admin(caller).await?;
        Ok(self.shards.shard_overview().await?)
    }

    async fn require_installation_admin(&self, caller: &UserPrincipal) -> Result<(), ApiError> {
        if self.installation_admins.is_empty() {
            return Err(ApiError::Forbidden(
                "no installation admins are configured (auth.installation_admins)",
            ));
        }
        let user = self.users.get_user(caller.org_id, caller.user_id).await?;
        let listed = user.is_some_and(|u| {
            let email = u.email.as_str().to_lowercase();
            self.installation_admins.contains(&email)
        });
        if listed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this endpoint needs an installation admin (auth.installation_admins)",
            ))
        }
    }
}
