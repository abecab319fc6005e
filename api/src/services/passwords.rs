//! Password hashing off the async workers (argon2id is deliberately slow).

use std::sync::OnceLock;

use domain::user::{Password, PasswordHash};

use crate::error::ApiError;

pub async fn hash(password: Password) -> Result<PasswordHash, ApiError> {
    tokio::task::spawn_blocking(move || infra::secrets::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Whether `password` matches `hash`; with no hash (an unknown email) it is checked against
/// a dummy, so that a wrong email and a wrong password take the same time.
pub async fn verify(password: String, hash: Option<PasswordHash>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || match hash.or_else(dummy_hash) {
        Some(hash) => infra::secrets::verify_password(&password, &hash),
        None => false,
    })
    .await
    .map_err(ApiError::internal)
}

fn dummy_hash() -> Option<PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let password = Password::parse("not-a-real-password-for-timing".to_owned()).ok()?;
            infra::secrets::hash_password(&password).ok()
        })
        .clone()
}
