use chrono::{DateTime, Utc};
use domain::drone::{parse_text, NAME_MAX_LEN};
use domain::user::{Email, Password, Role, User};
use domain::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(schema_with = super::enums::role, example = "operator")]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "name": "Ada Lovelace", "role": "operator", "password": "correct horse battery"}))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    /// Display name; defaults to the email's local part (`ada` for `ada@example.com`).
    pub name: Option<String>,
    /// `admin`, `operator` or `viewer`.
    #[schema(schema_with = super::enums::role)]
    pub role: Role,
    /// 10–128 characters.
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"role": "viewer"}))]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub name: Option<String>,
    #[schema(schema_with = super::enums::role)]
    pub role: Option<Role>,
    /// A new password (10–128 characters); ends the user's sessions.
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only users with this role.
    #[param(schema_with = super::enums::role)]
    pub role: Option<Role>,
}

impl CreateUserRequest {
    /// The account to create, reporting every invalid field. Without a `name`, the email's
    /// local part is the display name.
    pub fn into_account(self) -> Result<crate::services::NewAccount, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let email = errors.collect(Email::parse(&self.email));
        let name = match (&self.name, &email) {
            (Some(name), _) => errors.collect(parse_text("name", name, NAME_MAX_LEN)),
            (None, Some(email)) => Some(default_name(email)),
            (None, None) => None,
        };
        let password = errors.collect(Password::parse(self.password));
        match (email, name, password) {
            (Some(email), Some(name), Some(password)) if errors.is_empty() => {
                Ok(crate::services::NewAccount {
                    email,
                    name,
                    role: self.role,
                    password,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The local part of an email, as a display name (`ada` for `ada@example.com`).
fn default_name(email: &Email) -> String {
    let local = email.as_str().split('@').next().unwrap_or_default();
    local.chars().take(NAME_MAX_LEN).collect()
}

impl UpdateUserRequest {
    pub fn into_change(self) -> Result<crate::services::UserChange, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = self
            .name
            .as_deref()
            .and_then(|n| errors.collect(parse_text("name", n, NAME_MAX_LEN)));
        let password = self
            .password
            .and_then(|p| errors.collect(Password::parse(p)));
        errors.into_result()?;
        Ok(crate::services::UserChange {
            name,
            role: self.role,
            password,
        })
    }
}
