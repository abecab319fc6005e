//! The shared cache (DESIGN §5) under `{prefix}cache:{key}`. It fails open: when Redis
//! cannot answer in time, a read is a miss and a write does nothing, so callers go to the
//! database instead of failing.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::cmd;
use domain::platform::{Cache, CacheEntry};

use super::Redis;

#[derive(Debug, Clone)]
pub struct RedisCache {
    redis: Redis,
}

/// Sets KEYS[1] to ARGV[1] for ARGV[2] ms unless it holds an entry of a greater version.
/// Both values start with [`CacheEntry`]'s 8-byte big-endian version; a first byte of 0x80
/// or more is `i64::MIN`, "no version", which never blocks a write. Lua numbers are doubles,
/// exact for versions up to 2^53.
const PUT_VERSIONED_SCRIPT: &str = r"
local function version(s)
  if string.len(s) < 8 or string.byte(s, 1) >= 128 then return nil end
  local v = 0
  for i = 1, 8 do v = v * 256 + string.byte(s, i) end
  return v
end
local current = redis.call('GET', KEYS[1])
if current then
  local old, new = version(current), version(ARGV[1])
  if old and new and old > new then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
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
        let ttl_ms = ttl_millis(ttl);
        if ttl_ms == 0 {
            // Expired on arrival: make sure no older value survives it.
            self.delete(key).await;
            return;
        }
        let mut c = cmd("SET");
        c.arg(self.key(key)).arg(value).arg("PX").arg(ttl_ms);
        let _ = self.redis.query::<()>("cache_set", c).await;
    }

    async fn put_versioned(&self, key: &str, entry: &CacheEntry, ttl: Duration) {
        let ttl_ms = ttl_millis(ttl);
        if ttl_ms == 0 {
            self.delete(key).await;
            return;
        }
        let mut c = cmd("EVAL");
        c.arg(PUT_VERSIONED_SCRIPT)
            .arg(1)
            .arg(self.key(key))
            .arg(entry.encode())
            .arg(ttl_ms);
        let _ = self.redis.query::<i64>("cache_put_versioned", c).await;
    }

    async fn delete(&self, key: &str) {
        let mut c = cmd("DEL");
        c.arg(self.key(key));
        let _ = self.redis.query::<()>("cache_delete", c).await;
    }
}
