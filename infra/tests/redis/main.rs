//! Redis adapter tests against the server named by `NIMBUS_TEST_REDIS_URL` (default: the
//! local one), each test under its own key prefix; the outage tests start a private
//! `redis-server` on a free port, stop it and start it again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod cache;
mod idempotency;
mod live;
mod outage;
mod rate_limit;
mod sessions;
