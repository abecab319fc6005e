use chrono::{DateTime, Utc};

use crate::error::{FieldCode, FieldError};
use crate::ids::{OrgId, UserId};

/// A login address, stored lower-cased; unique across the whole installation because
/// login takes only an email and a password.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let invalid =
            || FieldError::new("email", FieldCode::InvalidEmail, "must be an email address");
        if email.is_empty() || email.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let plain = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '@');
        if !plain(local) || !plain(domain) || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed, only ever held long enough to hash or verify it.
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 10;
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: String) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(FieldError::new(
                "password",
                FieldCode::Length,
                format!("must be {} to {} characters", Self::MIN_LEN, Self::MAX_LEN),
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A PHC-format password hash (argon2id), as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Self::Viewer, Self::Operator, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// Roles are ordered: an admin may do all an operator may, an operator all a viewer may.
    pub fn at_least(self, required: Role) -> bool {
        self >= required
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Refused: the organisation would be left without an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the organisation must keep at least one admin")]
pub struct LastAdmin;

impl User {
    /// An organisation keeps at least one admin: demoting this user to `new_role`, or
    /// removing them (`None`), is refused when they are an admin and `admins` (the
    /// organisation's admins, this user included) is one or fewer.
    pub fn check_admin_remains(
        &self,
        new_role: Option<Role>,
        admins: u64,
    ) -> Result<(), LastAdmin> {
        let stays_admin = new_role == Some(Role::Admin);
        if self.role == Role::Admin && !stays_admin && admins <= 1 {
            return Err(LastAdmin);
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub org_id: OrgId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: PasswordHash,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<PasswordHash>,
}

impl UserPatch {
    /// Whether applying this patch to `user` must end their sessions: a session carries the
    /// role it was opened with, and a new password locks out whoever knew the old one.
    pub fn ends_sessions(&self, user: &User) -> bool {
        self.password_hash.is_some() || self.role.is_some_and(|role| role != user.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> User {
        let now = chrono::Utc::now();
        User {
            id: UserId::new(),
            org_id: OrgId::new(),
            email: Email::parse("ada@example.com").unwrap(),
            name: "Ada".into(),
            role,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn the_last_admin_can_be_neither_demoted_nor_removed() {
        let admin = user(Role::Admin);
        assert_eq!(
            admin.check_admin_remains(Some(Role::Viewer), 1),
            Err(LastAdmin)
        );
        assert_eq!(admin.check_admin_remains(None, 1), Err(LastAdmin));
        assert_eq!(admin.check_admin_remains(Some(Role::Admin), 1), Ok(()));
        assert_eq!(admin.check_admin_remains(Some(Role::Operator), 2), Ok(()));
        assert_eq!(admin.check_admin_remains(None, 2), Ok(()));
        assert_eq!(user(Role::Operator).check_admin_remains(None, 0), Ok(()));
    }

    #[test]
    fn a_role_or_password_change_ends_the_sessions() {
        let operator = user(Role::Operator);
        let change = |role, password: bool| UserPatch {
            name: None,
            role,
            password_hash: password.then(|| PasswordHash("$argon2id$…".into())),
        };
        assert!(change(Some(Role::Viewer), false).ends_sessions(&operator));
        assert!(change(None, true).ends_sessions(&operator));
        assert!(!change(Some(Role::Operator), false).ends_sessions(&operator));
        assert!(!change(None, false).ends_sessions(&operator));
    }

    #[test]
    fn emails_are_lower_cased_and_need_an_at_sign() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn passwords_have_a_minimum_length_and_never_print() {
        assert!(Password::parse("short".into()).is_err());
        let p = Password::parse("long enough secret".into()).unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin.at_least(Role::Operator));
        assert!(Role::Operator.at_least(Role::Viewer));
        assert!(!Role::Viewer.at_least(Role::Operator));
        assert!(!Role::Operator.at_least(Role::Admin));
    }
}
