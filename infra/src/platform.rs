//! The factories of the platform ports (DESIGN §5, §6): with `redis.url` set every replica
//! shares sessions, caches, rate limits, idempotency keys and live fan-out through Redis;
//! without it the in-process twins keep them (embedded mode, one replica). The choice is
//! made once, in [`Platform::new`]; each port's factory then only matches on it.

use std::sync::Arc;
use std::time::Duration;

use domain::platform::{AirspaceFeed, Cache, IdempotencyStore, RateLimiter, SessionStore};
use domain::ports::HealthCheck;

use crate::live::{LiveHub, LivePublisher};
use crate::local::{InMemoryCache, InMemoryIdempotencyStore, LocalRateLimiter, NoCache};
use crate::redis::{Redis, RedisObserver, RedisSettings};
use crate::InMemorySessionStore;

/// Most entries of the embedded response cache; beyond it the least useful are evicted.
pub const EMBEDDED_CACHE_ENTRIES: u64 = 100_000;

/// Where the platform ports keep their state.
#[derive(Clone)]
pub enum Platform {
    /// In this process only.
    Embedded,
    /// In Redis. Two pools: caches give up fast and fall back to the database (`caching`),
    /// while sessions, limits and idempotency keys wait longer (`commands`), because their
    /// failure is visible to users.
    Redis { commands: Redis, caching: Redis },
}

impl Platform {
    /// Redis when `settings.url` is set, else embedded. Connects lazily: this succeeds while
    /// Redis is down and fails only on a malformed URL.
    pub fn new(settings: &RedisSettings, observer: Arc<dyn RedisObserver>) -> anyhow::Result<Self> {
        let (Some(commands), Some(caching)) = (
            settings.pool(settings.command_timeout),
            settings.pool(settings.cache_timeout),
        ) else {
            return Ok(Self::Embedded);
        };
        Ok(Self::Redis {
            commands: Redis::new(commands, observer.clone())?,
            caching: Redis::new(caching, observer)?,
        })
    }

    /// `redis` or `memory`, for metrics and logs.
    pub fn layer(&self) -> &'static str {
        match self {
            Self::Embedded => "memory",
            Self::Redis { .. } => "redis",
        }
    }

    /// Sessions live `ttl` at most.
    pub fn sessions(&self, ttl: Duration) -> Arc<dyn SessionStore> {
        match self {
            Self::Embedded => Arc::new(InMemorySessionStore::new()),
            Self::Redis { commands, .. } => Arc::new(commands.session_store(ttl)),
        }
    }

    /// The response cache; `enabled = false` gives one that never holds anything.
    pub fn cache(&self, enabled: bool) -> Arc<dyn Cache> {
        match self {
            _ if !enabled => Arc::new(NoCache),
            Self::Embedded => Arc::new(InMemoryCache::new(EMBEDDED_CACHE_ENTRIES)),
            Self::Redis { caching, .. } => Arc::new(caching.cache()),
        }
    }

    /// The shared cache the drone directory sits on, whatever `cache.enabled` says: ingest
    /// must not query the database per point.
    pub fn directory_cache(&self) -> Arc<dyn Cache> {
        self.cache(true)
    }

    pub fn rate_limiter(&self) -> Arc<dyn RateLimiter> {
        match self {
            Self::Embedded => Arc::new(LocalRateLimiter::new()),
            Self::Redis { commands, .. } => Arc::new(commands.rate_limiter()),
        }
    }

    /// How airspace changes reach the other replicas' indexes. Make one per process.
    pub fn airspace_feed(&self) -> Arc<dyn AirspaceFeed> {
        match self {
            Self::Embedded => Arc::new(crate::local::LocalAirspaceFeed),
            Self::Redis { commands, .. } => Arc::new(commands.airspace_feed()),
        }
    }

    pub fn idempotency(&self) -> Arc<dyn IdempotencyStore> {
        match self {
            Self::Embedded => Arc::new(InMemoryIdempotencyStore::default()),
            Self::Redis { commands, .. } => Arc::new(commands.idempotency_store()),
        }
    }

    /// Where writers hand written points. Embedded: straight to `hub`. Redis: to every
    /// replica's hub through pub/sub; with `subscribe`, this process's `hub` is fed from
    /// it too (API replicas serve `/live`; ingest workers only publish).
    pub fn live(&self, hub: &LiveHub, subscribe: bool) -> Arc<dyn LivePublisher> {
        match self {
            Self::Embedded => Arc::new(hub.clone()),
            Self::Redis { commands, .. } => {
                let bridge = commands.live_bridge(hub.clone());
                if subscribe {
                    bridge.start_subscriber();
                }
                Arc::new(bridge)
            }
        }
    }

    /// Reads `store`'s slot map again as soon as a slot move elsewhere announces a change
    /// (Redis); embedded, moves do not happen and the poll is enough.
    pub fn follow_slot_map(&self, store: &crate::Store) {
        if let Self::Redis { commands, .. } = self {
            commands.follow_slot_map(store.clone());
        }
    }

    /// Announces `store`'s slot moves to the other processes (Redis).
    pub fn announcing_slot_moves(&self, store: crate::Store) -> crate::Store {
        match self {
            Self::Embedded => store,
            Self::Redis { commands, .. } => store.with_routing_notifier(Arc::new(commands.clone())),
        }
    }

    /// What `/health/ready` checks besides storage.
    pub fn health(&self) -> Vec<Arc<dyn HealthCheck>> {
        match self {
            Self::Embedded => Vec::new(),
            Self::Redis { commands, .. } => vec![Arc::new(commands.clone())],
        }
    }
}
