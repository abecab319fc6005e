//! The connection pool's manager. Two differences from deadpool-redis's:
//!
//! - A connection handed out again within [`PING_AFTER_IDLE`] of its last checkout is not
//!   PINGed first. deadpool-redis PINGs on every checkout, which doubles the round trips of a
//!   one-command request; a multiplexed connection in steady use proves itself with every
//!   reply, and one that broke is discarded by [`super::Redis`] on its first I/O error, so
//!   only a connection that sat idle (where a Redis restart or a dropped NAT entry goes
//!   unnoticed) is checked.
//! - Connections are opened on [`super::connection_runtime`], so that each one's I/O task
//!   lives there rather than on the actix-web worker that happened to need it (a worker's
//!   runtime ends with the worker). Checking out an open connection stays on the caller's
//!   runtime: no task hop per command.

use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError};

/// A connection idle (not checked out) for longer than this is PINGed before reuse.
pub(super) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

pub(super) type Pool = managed::Pool<Manager>;
pub(super) type Connection = managed::Object<Manager>;

pub(super) struct Manager {
    client: Client,
    config: AsyncConnectionConfig,
}

impl Manager {
    pub(super) fn new(client: Client, config: AsyncConnectionConfig) -> Self {
        Self { client, config }
    }
}

impl managed::Manager for Manager {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        let (client, config) = (self.client.clone(), self.config.clone());
        let open = async move {
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await
        };
        match super::connection_runtime() {
            Some(runtime) => runtime.spawn(open).await.unwrap_or_else(|_| {
                Err(RedisError::from((
                    ErrorKind::Io,
                    "the connection task ended",
                )))
            }),
            None => open.await,
        }
    }

    async fn recycle(
        &self,
        conn: &mut MultiplexedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if metrics.last_used() < PING_AFTER_IDLE {
            return Ok(());
        }
        let pong: String = deadpool_redis::redis::cmd("PING").query_async(conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(RecycleError::message(format!("PING answered {pong:?}")))
        }
    }
}
