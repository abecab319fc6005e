use async_trait::async_trait;
use deadpool_redis::redis::cmd;
use domain::ports::HealthCheck;

use super::errors::chain;
use super::{Redis, HEALTH_TIMEOUT};

#[async_trait]
impl HealthCheck for Redis {
    /// `("redis", None)` when a `PING` is answered, else the error.
    async fn check(&self) -> Vec<(String, Option<String>)> {
        let timeout = HEALTH_TIMEOUT.max(self.inner.settings.timeout);
        let pong = self
            .exec_within("ping", timeout, |conn| {
                Box::pin(async move { cmd("PING").query_async::<String>(conn).await })
            })
            .await;
        vec![("redis".to_owned(), pong.err().map(|e| chain(&e)))]
    }
}
