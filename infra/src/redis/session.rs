//! Sessions in Redis (DESIGN §6). Authentication fails closed: whenever Redis cannot answer,
//! every method reports [`SessionError::Unavailable`] rather than guessing.
//!
//! `{prefix}session:{sid}` holds the session as JSON and expires with it;
//! `{prefix}user-sessions:{uid}` is the set of the user's session ids, kept as long as the
//! user's newest session, for revoking them all at once.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use deadpool_redis::redis::{cmd, pipe};
use domain::platform::{SessionError, SessionStore};
use domain::session::Session;
use domain::{SessionId, UserId};

use super::{Redis, RedisError};

#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    redis: Redis,
    max_ttl: Duration,
}

impl RedisSessionStore {
    pub(super) fn new(redis: Redis, max_ttl: Duration) -> Self {
        Self { redis, max_ttl }
    }

    fn session_key(&self, id: SessionId) -> String {
        self.redis.key(format_args!("session:{id}"))
    }

    fn user_key(&self, user: UserId) -> String {
        self.redis.key(format_args!("user-sessions:{user}"))
    }

    /// Reads a stored session; one that no longer parses counts as absent (its user logs in
    /// again), which keeps authentication closed.
    fn decode(&self, raw: &[u8]) -> Option<Session> {
        match serde_json::from_slice::<Session>(raw) {
            Ok(session) => Some(session),
            Err(e) => {
                self.redis
                    .log()
                    .failed("session_decode", &RedisError::decode(e));
                None
            }
        }
    }
}

fn unavailable(e: RedisError) -> SessionError {
    SessionError::Unavailable(Box::new(e))
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    async fn create(&self, session: Session) -> Result<(), SessionError> {
        let ttl = (session.expires_at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(self.max_ttl);
        if ttl.is_zero() {
            // Already expired: there is nothing a later `get` could return.
            return Ok(());
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let json = serde_json::to_vec(&session).map_err(|e| unavailable(RedisError::decode(e)))?;
        let user_key = self.user_key(session.user_id);
        let mut p = pipe();
        p.atomic()
            .cmd("SET")
            .arg(self.session_key(session.id))
            .arg(json)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .cmd("SADD")
            .arg(&user_key)
            .arg(session.id.to_string())
            .ignore()
            // A new set has no TTL yet (NX); an existing one only ever grows (GT), so it
            // outlives every session it lists.
            .cmd("PEXPIRE")
            .arg(&user_key)
            .arg(ttl_ms)
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&user_key)
            .arg(ttl_ms)
            .arg("GT")
            .ignore();
        self.redis
            .query_pipe::<()>("session_create", p)
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn get(&self, id: SessionId) -> Result<Option<Session>, SessionError> {
        let mut c = cmd("GET");
        c.arg(self.session_key(id));
        let raw: Option<Vec<u8>> = self
            .redis
            .query("session_get", c)
            .await
            .map_err(unavailable)?;
        // The key expires with the session, but the two clocks differ by a little.
        Ok(raw
            .and_then(|raw| self.decode(&raw))
            .filter(|s| s.id == id && s.expires_at > Utc::now()))
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn delete(&self, id: SessionId) -> Result<bool, SessionError> {
        let mut c = cmd("GETDEL");
        c.arg(self.session_key(id));
        let raw: Option<Vec<u8>> = self
            .redis
            .query("session_delete", c)
            .await
            .map_err(unavailable)?;
        let Some(raw) = raw else {
            return Ok(false);
        };
        let Some(session) = self.decode(&raw) else {
            return Ok(true);
        };
        // The session is gone already; a stale id left in the user's set is harmless (it
        // expires with the set), so a failure here does not fail the logout.
        let mut c = cmd("SREM");
        c.arg(self.user_key(session.user_id)).arg(id.to_string());
        let _ = self.redis.query::<()>("session_unindex", c).await;
        Ok(session.expires_at > Utc::now())
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn delete_for_user(&self, user: UserId) -> Result<(), SessionError> {
        let user_key = self.user_key(user);
        let mut c = cmd("SMEMBERS");
        c.arg(&user_key);
        let ids: Vec<String> = self
            .redis
            .query("session_list_user", c)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.redis.key(format_args!("session:{id}")))
            .collect();
        // Removes exactly the ids read, so that a session created meanwhile stays listed
        // (and revocable) instead of being dropped from the set.
        let mut p = pipe();
        p.atomic()
            .cmd("DEL")
            .arg(keys)
            .ignore()
            .cmd("SREM")
            .arg(&user_key)
            .arg(ids)
            .ignore();
        self.redis
            .query_pipe::<()>("session_delete_user", p)
            .await
            .map_err(unavailable)
    }
}
