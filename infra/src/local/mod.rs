//! In-process twins of the Redis adapters for the embedded mode (DESIGN §2): the same ports,
//! state in this process only. `LocalRateLimiter` is also what the Redis rate limiter falls
//! back to while Redis is unreachable.

mod airspace;
mod cache;
mod idempotency;
mod rate_limit;

pub use airspace::LocalAirspaceFeed;
pub use cache::{InMemoryCache, NoCache};
pub use idempotency::{IdempotencyBounds, InMemoryIdempotencyStore};
pub use rate_limit::LocalRateLimiter;
