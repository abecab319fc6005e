//! One pub/sub subscription that lives as long as the process: the live fan-out and the
//! session revocations each run one. It reconnects with backoff (50 ms doubling to 2 s,
//! jittered) whenever the connection is lost, and PINGs a quiet connection so that one that
//! died silently is replaced.

use std::time::Duration;

use deadpool_redis::redis::aio::{PubSubSink, PubSubStream};
use deadpool_redis::redis::{Msg, Value};
use futures::StreamExt;
use tokio::time::Instant;

use super::{Redis, RedisError};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Connecting and subscribing; more generous than one command's timeout since it happens
/// once per connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A quiet subscription is checked this often, so that a connection that died silently (a
/// vanished host, a dropped NAT entry) is noticed and replaced.
const PING_EVERY: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("the subscription connection closed")]
    Closed,
    #[error("the subscription connection did not answer a ping")]
    Ping(#[source] RedisError),
}

/// Subscribes to `pattern` (`PSUBSCRIBE`) and hands every message to `on_message` until the
/// task is aborted. `on_subscribed` runs each time a subscription starts, after a gap in
/// which messages may have been missed. `op` names it in metrics and logs.
pub(super) async fn subscribe_forever(
    redis: Redis,
    pattern: String,
    op: &'static str,
    mut on_subscribed: impl FnMut() + Send,
    mut on_message: impl FnMut(&Msg) + Send,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        match connect(&redis, &pattern).await {
            Ok((sink, stream)) => {
                redis.observer().command(op, true, started.elapsed());
                redis.log().succeeded(op);
                tracing::debug!(%pattern, "{op}: subscription started");
                backoff = BACKOFF_MIN;
                on_subscribed();
                let lost = pump(sink, stream, &mut on_message).await;
                redis
                    .log()
                    .failed_with(op, "subscription lost; reconnecting", &lost);
            }
            Err(e) => {
                redis.observer().command(op, false, started.elapsed());
                redis.log().failed(op, &e);
            }
        }
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Up to a quarter more, so that replicas losing Redis together do not come back in step.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(1.0 + rand::random::<f64>() / 4.0)
}

async fn connect(redis: &Redis, pattern: &str) -> Result<(PubSubSink, PubSubStream), RedisError> {
    let timeout = CONNECT_TIMEOUT.max(redis.inner.settings.timeout);
    let subscribed = tokio::time::timeout(timeout, async {
        let mut pubsub = redis.inner.client.get_async_pubsub().await?;
        pubsub.psubscribe(pattern).await?;
        Ok(pubsub.split())
    })
    .await;
    match subscribed {
        Ok(Ok(parts)) => Ok(parts),
        Ok(Err(e)) => Err(RedisError::Command(e)),
        Err(_) => Err(RedisError::Timeout(timeout)),
    }
}

/// Hands messages on until the connection is lost; returns why.
async fn pump(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    on_message: &mut (impl FnMut(&Msg) + Send),
) -> Lost {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => on_message(&msg),
                None => return Lost::Closed,
            },
            _ = ping.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, sink.ping::<Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Lost::Ping(RedisError::Command(e)),
                    Err(_) => return Lost::Ping(RedisError::Timeout(PING_TIMEOUT)),
                }
            }
        }
    }
}
