//! The shared cache (DESIGN §5) under `{prefix}cache:{key}`. It fails open: when Redis
//! cannot answer in time, a read is a miss and a write does nothing, so callers go to the
//! database instead of failing.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::cmd;
use domain::ports::Cache;

use super::Redis;

#[derive(Debug, Clone)]
pub struct RedisCache {
    redis: Redis,
}

impl RedisCache {
    pub(super) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(format_args!("cache:{key}"))
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut c = cmd("GET");
        c.arg(self.key(key));
        self.redis
            .query::<Option<Vec<u8>>>("cache_get", c)
            .await
            .ok()
            .flatten()
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            // Expired on arrival: make sure no older value survives it.
            self.delete(key).await;
            return;
        }
        let mut c = cmd("SET");
        c.arg(self.key(key)).arg(value).arg("PX").arg(ttl_ms);
        let _ = self.redis.query::<()>("cache_set", c).await;
    }

    async fn delete(&self, key: &str) {
        let mut c = cmd("DEL");
        c.arg(self.key(key));
        let _ = self.redis.query::<()>("cache_delete", c).await;
    }
}
