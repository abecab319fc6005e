//! The rate limiter shared by every replica (DESIGN §6): GCRA in one Lua script, so a check
//! is one atomic round trip, timed by Redis's own clock (`TIME`) so that replicas with
//! drifting clocks still share one budget. `{prefix}rl:{key}` holds the theoretical arrival
//! time in microseconds and expires when the bucket would be full again.
//!
//! Never blocks traffic because of Redis: when the script cannot run in time, an in-process
//! [`LocalRateLimiter`] decides (each replica then enforces the quota on its own share).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::{cmd, pipe, ErrorKind, ServerErrorKind};
use domain::limits::{Quota, RateDecision};
use domain::platform::RateLimiter;

use super::{Redis, RedisError};
use crate::local::LocalRateLimiter;

/// `domain::limits::gcra`, line for line. KEYS[1]: the bucket; ARGV[1]: the emission
/// interval, ARGV[2]: the tolerance (interval × burst), both in µs. Returns
/// `{allowed, remaining, reset_after_us, retry_after_us}`. Lua numbers are doubles, exact for
/// integers up to 2^53 µs (about 285 years since the epoch); values written back go through
/// `%d` so that Redis never sees them in exponent notation.
pub(crate) const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
local remaining = math.floor((tolerance - (new_tat - now)) / interval)
if remaining < 0 then remaining = 0 end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
return {1, remaining, new_tat - now, 0}
";

#[derive(Clone)]
pub struct RedisRateLimiter {
    redis: Redis,
    fallback: Arc<LocalRateLimiter>,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    pub(super) fn new(redis: Redis) -> Self {
        Self {
            redis,
            fallback: Arc::new(LocalRateLimiter::new()),
        }
    }

    /// Runs the script: by SHA once it is known; on the first call by `EVAL`, pipelined with
    /// `SCRIPT LOAD` to learn the SHA in the same round trip (infra has no SHA1 of its own);
    /// by `EVAL` again when Redis lost its script cache (a restart), which reloads it.
    async fn check_in_redis(&self, key: &str, quota: Quota) -> Result<Vec<i64>, RedisError> {
        let interval = quota.interval_us();
        let tolerance = interval * i64::from(quota.burst.max(1));
        let bucket = self.redis.key(format_args!("rl:{key}"));
        let known_sha: Arc<OnceLock<String>> = Arc::clone(&self.redis.inner.gcra_sha);
        self.redis
            .exec("rate_limit", move |conn| {
                Box::pin(async move {
                    let Some(sha) = known_sha.get() else {
                        let (sha, reply): (String, Vec<i64>) = pipe()
                            .cmd("SCRIPT")
                            .arg("LOAD")
                            .arg(GCRA_SCRIPT)
                            .cmd("EVAL")
                            .arg(GCRA_SCRIPT)
                            .arg(1)
                            .arg(&bucket)
                            .arg(interval)
                            .arg(tolerance)
                            .query_async(conn)
                            .await?;
                        let _ = known_sha.set(sha);
                        return Ok(reply);
                    };
                    let evalsha = cmd("EVALSHA")
                        .arg(sha)
                        .arg(1)
                        .arg(&bucket)
                        .arg(interval)
                        .arg(tolerance)
                        .query_async(conn)
                        .await;
                    match evalsha {
                        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                            cmd("EVAL")
                                .arg(GCRA_SCRIPT)
                                .arg(1)
                                .arg(&bucket)
                                .arg(interval)
                                .arg(tolerance)
                                .query_async(conn)
                                .await
                        }
                        other => other,
                    }
                })
            })
            .await
    }
}

/// The script's reply as a decision, unless it has the wrong shape.
fn decision(reply: &[i64], quota: Quota) -> Option<RateDecision> {
    let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    match reply {
        [allowed, remaining, reset_after, retry_after] => Some(RateDecision {
            allowed: *allowed == 1,
            limit: quota.burst,
            remaining: u32::try_from(*remaining).unwrap_or(0),
            reset_after: micros(*reset_after),
            retry_after: micros(*retry_after),
        }),
        _ => None,
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, quota: Quota) -> RateDecision {
        match self.check_in_redis(key, quota).await {
            Ok(reply) => match decision(&reply, quota) {
                Some(decision) => decision,
                None => {
                    let e = RedisError::decode(format!("rate-limit script replied {reply:?}"));
                    self.redis.log().failed("rate_limit_decode", &e);
                    self.fallback.check(key, quota).await
                }
            },
            // Already logged (throttled) and reported to the observer.
            Err(_) => self.fallback.check(key, quota).await,
        }
    }
}
