//! Sessions in Redis (DESIGN §6). Authentication fails closed: whenever Redis cannot answer,
//! every method reports [`SessionError::Unavailable`] rather than guessing.
//!
//! `{prefix}session:{sid}` holds the session as JSON and expires with it;
//! `{prefix}user-sessions:{uid}` is the set of the user's session ids, kept as long as the
//! user's newest session, for revoking them all at once.
//!
//! A session read from Redis is kept in this process for [`NEAR_TTL`] (1 s), so that a busy
//! client costs one Redis read per second per replica instead of one per request. Ending
//! sessions publishes their ids on `{prefix}sessions-revoked`, and every replica drops them
//! from its copy as the message arrives (milliseconds); the TTL bounds what a replica that
//! missed the message (its subscription was down) can still accept: revocation takes effect
//! everywhere within 1 s, at worst.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use deadpool_redis::redis::{cmd, pipe};
use domain::platform::{SessionError, SessionStore};
use domain::session::Session;
use domain::{SessionId, UserId};

use super::pubsub::subscribe_forever;
use super::{connection_runtime, Redis, RedisError};

/// How long a replica answers from its own copy of a session.
pub const NEAR_TTL: Duration = Duration::from_secs(1);
/// Sessions a replica keeps copies of; the least recently used beyond it are dropped.
const NEAR_ENTRIES: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    redis: Redis,
    max_ttl: Duration,
    /// Copies of sessions read, each with the instant it stops being used: [`NEAR_TTL`]
    /// after the read, or sooner if the key expires in Redis before.
    near: moka::sync::Cache<SessionId, (Session, Instant)>,
    /// The revocation subscriber, started with the first read and stopped when the last
    /// clone of this store is dropped.
    subscriber: Arc<OnceLock<AbortOnDrop>>,
}

impl RedisSessionStore {
    pub(super) fn new(redis: Redis, max_ttl: Duration) -> Self {
        Self {
            redis,
            max_ttl,
            near: moka::sync::Cache::builder()
                .max_capacity(NEAR_ENTRIES)
                .time_to_live(NEAR_TTL)
                .build(),
            subscriber: Arc::default(),
        }
    }

    fn revoked_channel(&self) -> String {
        self.redis.key(format_args!("sessions-revoked"))
    }

    /// Starts, once, the task that drops revoked sessions from this process's copies: on the
    /// process-wide Redis runtime, which outlives any one actix-web worker.
    fn listen_for_revocations(&self) {
        self.subscriber.get_or_init(|| {
            let (after_gap, on_revoked) = (self.near.clone(), self.near.clone());
            let task = subscribe_forever(
                self.redis.clone(),
                self.revoked_channel(),
                "session_revocations",
                // Whatever was revoked while the subscription was down is unknown here.
                move || after_gap.invalidate_all(),
                move |msg| {
                    for id in msg.get_payload_bytes().split(|b| *b == b' ') {
                        if let Some(id) = std::str::from_utf8(id)
                            .ok()
                            .and_then(|id| id.parse::<SessionId>().ok())
                        {
                            on_revoked.invalidate(&id);
                        }
                    }
                },
            );
            AbortOnDrop(match connection_runtime() {
                Some(runtime) => runtime.spawn(task),
                None => tokio::spawn(task),
            })
        });
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

/// A task that ends with its owner.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
        self.listen_for_revocations();
        if let Some((session, until)) = self.near.get(&id) {
            if Instant::now() < until {
                return Ok(Some(session).filter(|s| s.expires_at > Utc::now()));
            }
        }
        let read = Instant::now();
        let mut p = pipe();
        p.cmd("GET")
            .arg(self.session_key(id))
            .cmd("PTTL")
            .arg(self.session_key(id));
        let (raw, ttl_ms): (Option<Vec<u8>>, i64) = self
            .redis
            .query_pipe("session_get", p)
            .await
            .map_err(unavailable)?;
        // The key expires with the session, but the two clocks differ by a little.
        let session = raw
            .and_then(|raw| self.decode(&raw))
            .filter(|s| s.id == id && s.expires_at > Utc::now());
        if let (Some(session), Ok(ttl_ms)) = (&session, u64::try_from(ttl_ms)) {
            let until = read + NEAR_TTL.min(Duration::from_millis(ttl_ms));
            self.near.insert(id, (session.clone(), until));
        }
        Ok(session)
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn delete(&self, id: SessionId) -> Result<bool, SessionError> {
        self.near.invalidate(&id);
        let mut p = pipe();
        p.cmd("GETDEL")
            .arg(self.session_key(id))
            .cmd("PUBLISH")
            .arg(self.revoked_channel())
            .arg(id.to_string())
            .ignore();
        let (raw,): (Option<Vec<u8>>,) = self
            .redis
            .query_pipe("session_delete", p)
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
        for id in &ids {
            if let Ok(id) = id.parse::<SessionId>() {
                self.near.invalidate(&id);
            }
        }
        // Removes exactly the ids read, so that a session created meanwhile stays listed
        // (and revocable) instead of being dropped from the set.
        let mut p = pipe();
        p.atomic()
            .cmd("DEL")
            .arg(keys)
            .ignore()
            .cmd("SREM")
            .arg(&user_key)
            .arg(&ids)
            .ignore()
            .cmd("PUBLISH")
            .arg(self.revoked_channel())
            .arg(ids.join(" "))
            .ignore();
        self.redis
            .query_pipe::<()>("session_delete_user", p)
            .await
            .map_err(unavailable)
    }
}
