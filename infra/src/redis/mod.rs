//! The distributed adapters on Redis (DESIGN §5, §6): sessions (fail closed), the cache (fail
//! open), the GCRA rate limiter shared by every replica (deciding in-process while Redis is
//! away), idempotency keys, and the live fan-out between replicas.
//!
//! Every command goes through one helper, [`Redis::exec`]: it bounds the whole call (pool
//! checkout included) by `settings.timeout`, reports to the [`RedisObserver`], drops a
//! connection that failed or timed out instead of handing it back to the pool, and logs
//! failures at most once per ten seconds per operation. The pool connects lazily, so a
//! process starts while Redis is down and recovers by itself when it comes back.
//!
//! Needs Redis 7 or newer (`SET … NX GET`, `PEXPIRE … NX|GT`).

mod airspace;
mod cache;
mod errors;
mod health;
mod idempotency;
mod live;
mod pool;
mod pubsub;
mod rate_limit;
mod routing;
mod session;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{AsyncConnectionConfig, Client, FromRedisValue, Pipeline, RedisResult};
use deadpool_redis::Runtime;
use domain::settings::{millis, InvalidSetting};
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use tokio::time::Instant;

pub use airspace::RedisAirspaceFeed;
pub use cache::RedisCache;
pub use errors::RedisError;
pub use idempotency::{RedisIdempotencyStore, KEYS_PER_SCOPE};
pub use live::LiveBridge;
pub use rate_limit::{lease_size, RedisRateLimiter, LEASE_MAX_AGE};
pub use session::{RedisSessionStore, NEAR_TTL};

use errors::ErrorLog;
use pool::{Connection, Manager, Pool};

/// The `[redis]` settings: where Redis is and how long to wait for it.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…`. Unset: sessions, caches,
    /// rate limits, idempotency keys and live fan-out stay in this process (embedded mode;
    /// one replica only).
    #[serde(default, serialize_with = "masked_url")]
    pub url: Option<SecretString>,
    /// Put in front of every key and channel (e.g. `nf:v1:`), so that installations and
    /// format versions can share one server.
    pub key_prefix: String,
    /// Longest wait for one cache command; past it a read counts as a miss.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub cache_timeout: Duration,
    /// Longest wait for a session, rate-limit or idempotency command. Longer than the cache
    /// timeout: a session that times out fails closed (503), which users see.
    #[serde(rename = "command_timeout_ms", with = "millis")]
    pub command_timeout: Duration,
    /// Connections per process and pool. Each is multiplexed, so a handful carries a lot
    /// of traffic.
    pub pool_size: usize,
}

impl RedisSettings {
    /// Settings for a server at `url` with the defaults for everything else.
    pub fn at(url: &str, key_prefix: &str) -> Self {
        Self {
            url: Some(url.to_owned().into()),
            key_prefix: key_prefix.to_owned(),
            cache_timeout: Duration::from_millis(50),
            command_timeout: Duration::from_millis(500),
            pool_size: 16,
        }
    }

    /// A pool whose commands wait at most `timeout`; `None` without `url`.
    pub fn pool(&self, timeout: Duration) -> Option<PoolSettings> {
        Some(PoolSettings {
            url: self.url.as_ref()?.expose_secret().to_owned(),
            key_prefix: self.key_prefix.clone(),
            timeout,
            pool_size: self.pool_size,
        })
    }

    /// Checks what the types alone cannot; the error names the one setting at fault.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if let Some(url) = &self.url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(InvalidSetting::new(
                    "url",
                    "must be a redis:// or rediss:// URL",
                ));
            }
        }
        if self.cache_timeout.is_zero() {
            return Err(InvalidSetting::new("timeout_ms", "must be at least 1"));
        }
        if self.command_timeout.is_zero() {
            return Err(InvalidSetting::new(
                "command_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.pool_size == 0 {
            return Err(InvalidSetting::new("pool_size", "must be at least 1"));
        }
        Ok(())
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisSettings")
            .field("key_prefix", &self.key_prefix)
            .field("cache_timeout", &self.cache_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

fn masked_url<S: Serializer>(url: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&crate::store::redact_url(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// One connection pool: the server, the key prefix and the one timeout of its commands.
/// [`RedisSettings::pool`] makes one from the settings.
#[derive(Clone)]
pub struct PoolSettings {
    pub url: String,
    pub key_prefix: String,
    pub timeout: Duration,
    pub pool_size: usize,
}

impl fmt::Debug for PoolSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PoolSettings")
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// Told about every command, so that `api` can export error counts and latencies without
/// `infra` knowing Prometheus. Called on the request path: keep it cheap.
pub trait RedisObserver: Send + Sync {
    /// `op` names the operation (`session_get`, `cache_set`, `rate_limit`, …).
    fn command(&self, op: &'static str, ok: bool, took: Duration);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl RedisObserver for NoopObserver {
    fn command(&self, _op: &'static str, _ok: bool, _took: Duration) {}
}

/// A connection pool to one Redis server and the adapters built on it. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// For the pub/sub connection, which lives outside the pool.
    client: Client,
    settings: PoolSettings,
    errors: ErrorLog,
    observer: Arc<dyn RedisObserver>,
    /// The SHA1 of the rate-limit script as Redis reported it on first load.
    gcra_sha: Arc<OnceLock<String>>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("key_prefix", &self.inner.settings.key_prefix)
            .field("timeout", &self.inner.settings.timeout)
            .field("pool", &self.inner.pool.status())
            .finish_non_exhaustive()
    }
}

/// Upper bound for the readiness probe: a blip longer than one command's timeout should not
/// take a replica out of the load balancer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

impl Redis {
    /// Builds the pool without connecting: this succeeds while the server is down and fails
    /// only on a malformed URL.
    pub fn new(settings: PoolSettings, observer: Arc<dyn RedisObserver>) -> anyhow::Result<Redis> {
        use anyhow::Context;

        let url = settings.url.as_str();
        let timeout = settings.timeout.max(Duration::from_millis(1));
        let client = Client::open(url).context("invalid redis url")?;
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let manager = Manager::new(client.clone(), connection);
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .context("failed to build the redis connection pool")?;
        Ok(Redis {
            inner: Arc::new(Inner {
                pool,
                client,
                settings: PoolSettings {
                    timeout,
                    ..settings
                },
                errors: ErrorLog::default(),
                observer,
                gcra_sha: Arc::default(),
            }),
        })
    }

    /// The longest wait of one command.
    pub fn timeout(&self) -> Duration {
        self.inner.settings.timeout
    }

    /// Sessions with `expires_at` as their TTL in Redis, capped at `ttl_hint` (the configured
    /// session lifetime) so that a wrong clock or a bad token can never park one for longer.
    pub fn session_store(&self, ttl_hint: Duration) -> RedisSessionStore {
        RedisSessionStore::new(self.clone(), ttl_hint)
    }

    pub fn cache(&self) -> RedisCache {
        RedisCache::new(self.clone())
    }

    /// Make one and share it: its in-process fallback keeps its buckets across calls.
    pub fn rate_limiter(&self) -> RedisRateLimiter {
        RedisRateLimiter::new(self.clone())
    }

    /// Make one per process: it runs one subscription.
    pub fn airspace_feed(&self) -> RedisAirspaceFeed {
        RedisAirspaceFeed::new(self.clone())
    }

    pub fn idempotency_store(&self) -> RedisIdempotencyStore {
        RedisIdempotencyStore::new(self.clone())
    }

    /// The bridge between this process's [`crate::live::LiveHub`] and every other
    /// replica's. Start its subscriber once per process.
    pub fn live_bridge(&self, hub: crate::live::LiveHub) -> LiveBridge {
        LiveBridge::new(self.clone(), hub)
    }

    /// `{prefix}{rest}`.
    pub(crate) fn key(&self, rest: fmt::Arguments<'_>) -> String {
        format!("{}{}", self.inner.settings.key_prefix, rest)
    }

    /// Runs one command (or pipeline) with the configured timeout.
    pub(crate) async fn query<T>(
        &self,
        op: &'static str,
        cmd: deadpool_redis::redis::Cmd,
    ) -> Result<T, RedisError>
    where
        T: FromRedisValue + Send + 'static,
    {
        self.exec(op, move |conn| {
            Box::pin(async move { cmd.query_async(conn).await })
        })
        .await
    }

    pub(crate) async fn query_pipe<T>(
        &self,
        op: &'static str,
        pipe: Pipeline,
    ) -> Result<T, RedisError>
    where
        T: FromRedisValue + Send + 'static,
    {
        self.exec(op, move |conn| {
            Box::pin(async move { pipe.query_async(conn).await })
        })
        .await
    }

    /// Runs `f` on a pooled connection with the configured timeout. See [`Self::exec_within`].
    pub(crate) async fn exec<T, F>(&self, op: &'static str, f: F) -> Result<T, RedisError>
    where
        F: for<'c> FnOnce(&'c mut MultiplexedConnection) -> BoxFuture<'c, RedisResult<T>>,
    {
        self.exec_within(op, self.inner.settings.timeout, f).await
    }

    /// Runs `f` on a pooled connection, the checkout and `f` together bounded by `timeout`;
    /// reports to the observer and the throttled log.
    pub(crate) async fn exec_within<T, F>(
        &self,
        op: &'static str,
        timeout: Duration,
        f: F,
    ) -> Result<T, RedisError>
    where
        F: for<'c> FnOnce(&'c mut MultiplexedConnection) -> BoxFuture<'c, RedisResult<T>>,
    {
        let started = Instant::now();
        let result = self.run(started + timeout, timeout, f).await;
        let took = started.elapsed();
        self.inner.observer.command(op, result.is_ok(), took);
        match &result {
            Ok(_) => self.inner.errors.succeeded(op),
            Err(e) => self.inner.errors.failed(op, e),
        }
        result
    }

    async fn run<T, F>(&self, deadline: Instant, timeout: Duration, f: F) -> Result<T, RedisError>
    where
        F: for<'c> FnOnce(&'c mut MultiplexedConnection) -> BoxFuture<'c, RedisResult<T>>,
    {
        // A connection the pool opens is opened on `connection_runtime` (see `pool`).
        let mut conn = match tokio::time::timeout_at(deadline, self.inner.pool.get()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(RedisError::Connection(e)),
            Err(_) => return Err(RedisError::Timeout(timeout)),
        };
        match tokio::time::timeout_at(deadline, f(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    discard(conn);
                }
                Err(RedisError::Command(e))
            }
            Err(_) => {
                // A reply may still be on its way: never hand this connection out again.
                discard(conn);
                Err(RedisError::Timeout(timeout))
            }
        }
    }

    fn log(&self) -> &ErrorLog {
        &self.inner.errors
    }

    fn observer(&self) -> &dyn RedisObserver {
        self.inner.observer.as_ref()
    }
}

/// The runtime that opens the pool's connections. A connection's I/O task runs on the
/// runtime that opened it, and each actix-web worker has a runtime of its own that ends when
/// that worker stops: during a graceful shutdown an idle worker stops first, and the other
/// workers' next command on a pooled connection it had opened fails (`broken pipe`, a 503
/// for a request with a session). One small runtime for the whole process, never shut
/// down, owns every connection instead. `None` (the caller's runtime) if it cannot start.
fn connection_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("redis-io")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// Takes the connection out of the pool and closes it; the pool opens a fresh one when
/// needed.
fn discard(conn: Connection) {
    drop(Connection::take(conn));
}
