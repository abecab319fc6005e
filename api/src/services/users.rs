//! The organisation's users: accounts, roles and the sessions that carry them.

use std::sync::Arc;

use domain::page::{Page, PageRequest};
use domain::platform::SessionStore;
use domain::ports::UserRepository;
use domain::user::{Email, NewUser, Password, Role, User, UserPatch};
use domain::{OrgId, UserId};

use super::{lost_race, passwords, Precondition};
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// A user to add, parsed from the request.
pub struct NewAccount {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password: Password,
}

/// A change to a user, parsed from the request; absent fields stay as they are.
#[derive(Default)]
pub struct UserChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password: Option<Password>,
}

#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionStore>,
}

impl UserService {
    pub fn new(state: &AppState) -> Self {
        Self {
            users: state.repos.users.clone(),
            sessions: state.auth.sessions.clone(),
        }
    }

    pub async fn list(
        &self,
        org: OrgId,
        role: Option<Role>,
        page: PageRequest,
    ) -> Result<Page<User>, ApiError> {
        Ok(self.users.list_users(org, role, page).await?)
    }

    pub async fn create(&self, org: OrgId, account: NewAccount) -> Result<User, ApiError> {
        let password_hash = passwords::hash(account.password).await?;
        Ok(self
            .users
            .create_user(NewUser {
                org_id: org,
                email: account.email,
                name: account.name,
                role: account.role,
                password_hash,
            })
            .await?)
    }

    pub async fn get(&self, org: OrgId, id: UserId) -> Result<User, ApiError> {
        self.users
            .get_user(org, id)
            .await?
            .ok_or(ApiError::NotFound("user"))
    }

    /// Applies `change`, guarded by `If-Match` when sent. The last admin stays an admin
    /// ([`User::check_admin_remains`]); a role or password change ends the user's sessions.
    pub async fn update(
        &self,
        org: OrgId,
        id: UserId,
        precondition: &Precondition,
        change: UserChange,
    ) -> Result<User, ApiError> {
        let current = self.get(org, id).await?;
        let matched = precondition.check(current.version)?;
        if change.role.is_some_and(|role| role != current.role) {
            self.check_admin_remains(&current, change.role).await?;
        }
        let password_hash = match change.password {
            Some(password) => Some(passwords::hash(password).await?),
            None => None,
        };
        let patch = UserPatch {
            name: change.name,
            role: change.role,
            password_hash,
        };
        let ends_sessions = patch.ends_sessions(&current);
        // Sessions end before the change is stored: if storing fails, the user only has to
        // log in again, whereas the other order could leave a demoted user with an admin
        // session. A login racing the change is caught by the login itself (it re-reads
        // the account after creating its session).
        if ends_sessions {
            self.sessions.delete_for_user(id).await?;
        }
        let user = self
            .users
            .update_user(org, id, patch, Some(current.version))
            .await
            .map_err(lost_race(matched))?;
        if ends_sessions {
            self.sessions.delete_for_user(user.id).await?;
        }
        Ok(user)
    }

    /// Removes a user and ends their sessions; the last admin cannot be removed.
    pub async fn delete(&self, org: OrgId, id: UserId) -> Result<(), ApiError> {
        let user = self.get(org, id).await?;
        self.check_admin_remains(&user, None).await?;
        self.sessions.delete_for_user(id).await?;
        self.users.delete_user(org, id).await?;
        self.sessions.delete_for_user(id).await?;
        Ok(())
    }

    async fn check_admin_remains(
        &self,
        user: &User,
        new_role: Option<Role>,
    ) -> Result<(), ApiError> {
        if user.role != Role::Admin {
            return Ok(());
        }
        let admins = self.users.count_admins(user.org_id).await?;
        user.check_admin_remains(new_role, admins)
            .map_err(|refused| ApiError::conflict(Code::LastAdmin, refused.to_string()))
    }
}
