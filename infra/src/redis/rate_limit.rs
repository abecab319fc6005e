//! The rate limiter shared by every replica (DESIGN §6): GCRA in one Lua script, so a check
//! is one atomic round trip, timed by Redis's own clock (`TIME`) so that replicas with
//! drifting clocks still share one budget. `{prefix}rl:{key}` holds the theoretical arrival
//! time in microseconds and expires when the bucket would be full again.
//!
//! A busy key does not pay that round trip per request: a replica leases a few tokens at a
//! time ([`lease_size`], 1/64 of the burst, at most 256) and spends them locally for up to
//! [`LEASE_MAX_AGE`]; what it did not spend goes back with its next lease. Tokens are taken
//! from the shared bucket before they are spent, so replicas together never allow more than
//! the quota; they allow less by at most the tokens leased and not yet spent (under 2 % of
//! the burst per replica). A refusal is kept until its own retry time, when no replica can
//! have a token for the key anyway, so a throttled client does not cost a round trip per
//! request either. Quotas with a burst under 128 are leased one token at a time, which is the
//! exact shared rule.
//!
//! Never blocks traffic because of Redis: when the script cannot run in time, an in-process
//! [`LocalRateLimiter`] decides (each replica then enforces the quota on its own share).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::{cmd, pipe, ErrorKind, ServerErrorKind};
use domain::limits::{Quota, RateDecision};
use domain::platform::RateLimiter;
use tokio::time::Instant;

use super::{Redis, RedisError};
use crate::local::LocalRateLimiter;

/// `domain::limits::gcra` for `ARGV[4]` requests at once, after giving back `ARGV[3]`
/// tokens leased and not spent. KEYS[1]: the bucket; ARGV[1]: the emission interval,
/// ARGV[2]: the tolerance (interval × burst), both in µs. Grants as many of the wanted
/// tokens as fit (at least one, or the request is refused) and returns
/// `{granted, remaining, reset_after_us, retry_after_us}`; with one wanted and none given
/// back it decides exactly like the domain rule. Lua numbers are doubles, exact for integers
/// up to 2^53 µs (about 285 years since the epoch); values written back go through `%d` so
/// that Redis never sees them in exponent notation.
pub(crate) const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local give_back = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local stored = tonumber(redis.call('GET', KEYS[1]))
local tat = stored or now
if give_back > 0 then tat = tat - give_back * interval end
if tat < now then tat = now end
local fit = math.floor((now + tolerance - tat) / interval)
if fit < 1 then
  if stored and give_back > 0 then
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', math.max(1, math.ceil((tat - now) / 1000))))
  end
  return {0, 0, tat - now, tat + interval - tolerance - now}
end
local granted = math.min(want, fit)
local new_tat = tat + granted * interval
local remaining = math.floor((tolerance - (new_tat - now)) / interval)
if remaining < 0 then remaining = 0 end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
return {granted, remaining, new_tat - now, 0}
";

/// Longest a leased token may wait to be spent; past it the rest go back with the next lease.
pub const LEASE_MAX_AGE: Duration = Duration::from_millis(250);
/// Keys whose leases are kept; the least recently used beyond it are dropped (their unspent
/// tokens are then lost to the bucket until it refills, a bounded undercount).
const LEASED_KEYS: u64 = 100_000;

/// Tokens leased at once for `quota`: 1/64 of the burst, between 1 and 256.
pub fn lease_size(quota: Quota) -> u32 {
    (quota.burst / 64).clamp(1, 256)
}

/// Tokens this replica took from the shared bucket and has not spent yet.
#[derive(Debug, Default)]
struct Lease {
    quota: Option<Quota>,
    left: u32,
    until: Option<Instant>,
    /// What the bucket had left when the lease was taken (the `remaining` header then adds
    /// `left`), and when it would be full again.
    remaining: u32,
    reset_at: Option<Instant>,
    /// After a refusal: no token for the key before then, whatever any replica does.
    refused_until: Option<Instant>,
}

impl Lease {
    /// One token from the lease, if it has one for `quota` and is still fresh.
    fn spend(&mut self, quota: Quota, now: Instant) -> Option<RateDecision> {
        if self.quota != Some(quota) || self.left == 0 || self.until.is_none_or(|u| now >= u) {
            return None;
        }
        self.left -= 1;
        Some(RateDecision {
            allowed: true,
            limit: quota.burst,
            remaining: self.remaining.saturating_add(self.left),
            reset_after: self
                .reset_at
                .map_or(Duration::ZERO, |r| r.saturating_duration_since(now)),
            retry_after: Duration::ZERO,
        })
    }

    /// The refusal still in force for `quota`, if any: nothing asks Redis before the
    /// refusal's own retry time.
    fn still_refused(&self, quota: Quota, now: Instant) -> Option<RateDecision> {
        let until = self.refused_until.filter(|u| now < *u)?;
        (self.quota == Some(quota)).then(|| RateDecision {
            allowed: false,
            limit: quota.burst,
            remaining: 0,
            reset_after: self
                .reset_at
                .map_or(Duration::ZERO, |r| r.saturating_duration_since(now)),
            retry_after: until - now,
        })
    }

    /// The unspent tokens to give back (counted in `quota`'s interval: none if the quota
    /// changed since), emptying the lease.
    fn take_back(&mut self, quota: Quota) -> u32 {
        let left = std::mem::take(&mut self.left);
        if self.quota == Some(quota) {
            left
        } else {
            0
        }
    }
}

#[derive(Clone)]
pub struct RedisRateLimiter {
    redis: Redis,
    fallback: Arc<LocalRateLimiter>,
    leases: moka::sync::Cache<String, Arc<tokio::sync::Mutex<Lease>>>,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

/// The script's reply: tokens granted (0: refused) and the decision for the first of them.
struct Grant {
    granted: u32,
    decision: RateDecision,
}

impl RedisRateLimiter {
    pub(super) fn new(redis: Redis) -> Self {
        Self {
            redis,
            fallback: Arc::new(LocalRateLimiter::new()),
            leases: moka::sync::Cache::builder()
                .max_capacity(LEASED_KEYS)
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    /// Asks the shared bucket for `want` tokens after giving back `give_back`; falls back to
    /// the in-process limiter (one token) when Redis cannot answer.
    async fn grant(&self, key: &str, quota: Quota, give_back: u32, want: u32) -> Grant {
        let reply = match self.check_in_redis(key, quota, give_back, want).await {
            Ok(reply) => reply,
            // Already logged (throttled) and reported to the observer.
            Err(_) => return self.locally(key, quota).await,
        };
        match decision(&reply, quota) {
            Some((granted, decision)) => Grant { granted, decision },
            None => {
                let e = RedisError::decode(format!("rate-limit script replied {reply:?}"));
                self.redis.log().failed("rate_limit_decode", &e);
                self.locally(key, quota).await
            }
        }
    }

    async fn locally(&self, key: &str, quota: Quota) -> Grant {
        let decision = self.fallback.check(key, quota).await;
        Grant {
            granted: u32::from(decision.allowed),
            decision,
        }
    }

    /// Runs the script: by SHA once it is known; on the first call by `EVAL`, pipelined with
    /// `SCRIPT LOAD` to learn the SHA in the same round trip (infra has no SHA1 of its own);
    /// by `EVAL` again when Redis lost its script cache (a restart), which reloads it.
    async fn check_in_redis(
        &self,
        key: &str,
        quota: Quota,
        give_back: u32,
        want: u32,
    ) -> Result<Vec<i64>, RedisError> {
        let interval = quota.interval_us();
        let tolerance = interval * i64::from(quota.burst.max(1));
        let bucket = self.redis.key(format_args!("rl:{key}"));
        let args = [
            interval,
            tolerance,
            i64::from(give_back),
            i64::from(want.max(1)),
        ];
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
                            .arg(&args)
                            .query_async(conn)
                            .await?;
                        let _ = known_sha.set(sha);
                        return Ok(reply);
                    };
                    let evalsha = cmd("EVALSHA")
                        .arg(sha)
                        .arg(1)
                        .arg(&bucket)
                        .arg(&args)
                        .query_async(conn)
                        .await;
                    match evalsha {
                        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                            cmd("EVAL")
                                .arg(GCRA_SCRIPT)
                                .arg(1)
                                .arg(&bucket)
                                .arg(&args)
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

/// The script's reply as the tokens granted and a decision, unless it has the wrong shape.
fn decision(reply: &[i64], quota: Quota) -> Option<(u32, RateDecision)> {
    let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    match reply {
        [granted, remaining, reset_after, retry_after] => {
            let granted = u32::try_from(*granted).ok()?;
            Some((
                granted,
                RateDecision {
                    allowed: granted > 0,
                    limit: quota.burst,
                    remaining: u32::try_from(*remaining).unwrap_or(0),
                    reset_after: micros(*reset_after),
                    retry_after: micros(*retry_after),
                },
            ))
        }
        _ => None,
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, quota: Quota) -> RateDecision {
        let size = lease_size(quota);
        if size == 1 {
            return self.grant(key, quota, 0, 1).await.decision;
        }
        let lease = self.leases.get_with_by_ref(key, Arc::default);
        // While this replica's lease for the key is being renewed, other requests for it go
        // to Redis on their own (one token each) rather than queue behind that round trip.
        let Ok(mut lease) = lease.try_lock() else {
            return self.grant(key, quota, 0, 1).await.decision;
        };
        let now = Instant::now();
        if let Some(decision) = lease
            .spend(quota, now)
            .or_else(|| lease.still_refused(quota, now))
        {
            return decision;
        }
        let give_back = lease.take_back(quota);
        let grant = self.grant(key, quota, give_back, size).await;
        let now = Instant::now();
        *lease = Lease {
            quota: Some(quota),
            left: grant.granted.saturating_sub(1),
            until: Some(now + LEASE_MAX_AGE),
            remaining: grant.decision.remaining,
            reset_at: Some(now + grant.decision.reset_after),
            refused_until: (!grant.decision.allowed).then(|| now + grant.decision.retry_after),
        };
        RateDecision {
            remaining: grant.decision.remaining.saturating_add(lease.left),
            ..grant.decision
        }
    }
}
