//! Idempotency keys in Redis under `{prefix}idem:{scope}:{key}`: claimed with one atomic
//! `SET … NX GET PX` that either stores an "in progress" record or returns whoever holds the
//! key, then overwritten with the answer for replay. Each scope's keys are also listed in
//! the sorted set `{prefix}idem-scope:{scope}` by claim time; beyond
//! [`KEYS_PER_SCOPE`] the oldest are deleted, so one principal cannot fill Redis.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::cmd;
use domain::platform::{IdempotencyState, IdempotencyStore, IdempotencyUnavailable};

use super::{Redis, RedisError};

/// Keys one scope (a user or a drone key) may hold at once.
pub const KEYS_PER_SCOPE: usize = 1_000;

/// Lists a claimed key in its scope and deletes the scope's oldest keys beyond the bound.
/// KEYS[1]: the scope's sorted set; ARGV: now (ms), the key, the bound, the TTL (ms).
const TRACK_IN_SCOPE: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[1], excess)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
return 0
";

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

    fn key(&self, scope: &str, key: &str) -> String {
        self.redis.key(format_args!("idem:{scope}:{key}"))
    }

    fn scope_key(&self, scope: &str) -> String {
        self.redis.key(format_args!("idem-scope:{scope}"))
    }
}

#[async_trait]
impl IdempotencyStore for RedisIdempotencyStore {
    #[tracing::instrument(skip_all)]
    async fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<IdempotencyState, IdempotencyUnavailable> {
        let full = self.key(scope, key);
        let claim = serde_json::to_vec(&Record::InProgress {
            fingerprint: fingerprint.to_owned(),
        })
        .map_err(|e| unavailable(RedisError::decode(e)))?;
        let mut c = cmd("SET");
        c.arg(&full)
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
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            let mut track = cmd("EVAL");
            track
                .arg(TRACK_IN_SCOPE)
                .arg(1)
                .arg(self.scope_key(scope))
                .arg(now_ms)
                .arg(&full)
                .arg(KEYS_PER_SCOPE)
                .arg(millis(ttl));
            self.redis
                .query::<()>("idempotency_track", track)
                .await
                .map_err(unavailable)?;
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
        scope: &str,
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
        c.arg(self.key(scope, key))
            .arg(done)
            .arg("PX")
            .arg(millis(ttl));
        self.redis
            .query::<()>("idempotency_complete", c)
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(skip_all)]
    async fn abandon(&self, scope: &str, key: &str) -> Result<(), IdempotencyUnavailable> {
        let mut c = cmd("DEL");
        c.arg(self.key(scope, key));
        self.redis
            .query::<()>("idempotency_abandon", c)
            .await
            .map_err(unavailable)
    }
}
