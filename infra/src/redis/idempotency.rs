//! Idempotency keys in Redis under `{prefix}idem:{key}`: claimed with one atomic
//! `SET … NX GET PX` that either stores an "in progress" record or returns whoever holds the
//! key, then overwritten with the answer for replay.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::cmd;
use domain::platform::{IdempotencyState, IdempotencyStore, IdempotencyUnavailable};

use super::{Redis, RedisError};

#[derive(Debug, Clone)]
pub struct RedisIdempotencyStore {
    redis: Redis,
}

/// What `{prefix}idem:{key}` holds (JSON; the answer in hex to keep it exact).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InProgress {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        answer_hex: String,
    },
}

impl Record {
    fn into_state(self) -> Result<IdempotencyState, RedisError> {
        Ok(match self {
            Record::InProgress { fingerprint } => IdempotencyState::InProgress { fingerprint },
            Record::Done {
                fingerprint,
                answer_hex,
            } => IdempotencyState::Done {
                fingerprint,
                answer: hex::decode(answer_hex).map_err(RedisError::decode)?,
            },
        })
    }
}

fn unavailable(e: RedisError) -> IdempotencyUnavailable {
    IdempotencyUnavailable(Box::new(e))
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisIdempotencyStore {
    pub(super) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(format_args!("idem:{key}"))
    }
}

#[async_trait]
impl IdempotencyStore for RedisIdempotencyStore {
    #[tracing::instrument(skip_all)]
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<IdempotencyState, IdempotencyUnavailable> {
        let claim = serde_json::to_vec(&Record::InProgress {
            fingerprint: fingerprint.to_owned(),
        })
        .map_err(|e| unavailable(RedisError::decode(e)))?;
        let mut c = cmd("SET");
        c.arg(self.key(key))
            .arg(claim)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(millis(ttl));
        let holder: Option<Vec<u8>> = self
            .redis
            .query("idempotency_begin", c)
            .await
            .map_err(unavailable)?;
        let Some(holder) = holder else {
            return Ok(IdempotencyState::Started);
        };
        serde_json::from_slice::<Record>(&holder)
            .map_err(RedisError::decode)
            .and_then(Record::into_state)
            .map_err(|e| {
                self.redis.log().failed("idempotency_decode", &e);
                unavailable(e)
            })
    }

    #[tracing::instrument(skip_all)]
    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        answer: &[u8],
        ttl: Duration,
    ) -> Result<(), IdempotencyUnavailable> {
        let done = serde_json::to_vec(&Record::Done {
            fingerprint: fingerprint.to_owned(),
            answer_hex: hex::encode(answer),
        })
        .map_err(|e| unavailable(RedisError::decode(e)))?;
        let mut c = cmd("SET");
        c.arg(self.key(key)).arg(done).arg("PX").arg(millis(ttl));
        self.redis
            .query::<()>("idempotency_complete", c)
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(skip_all)]
    async fn abandon(&self, key: &str) -> Result<(), IdempotencyUnavailable> {
        let mut c = cmd("DEL");
        c.arg(self.key(key));
        self.redis
            .query::<()>("idempotency_abandon", c)
            .await
            .map_err(unavailable)
    }
}
