//! The API's request and response bodies (and query parameters), as they travel on the
//! wire. They serialise both ways, so clients such as the simulator use these same types
//! instead of copies of their own. Each converts into domain types at the handler edge.

mod admin;
mod airspace;
mod alerts;
mod api_keys;
mod auth;
mod drones;
pub mod enums;
mod fleet;
mod flight_plans;
mod organization;
mod problem;
mod telemetry;
mod users;
mod webhooks;

pub use admin::*;
pub use airspace::*;
pub use alerts::*;
pub use api_keys::*;
pub use auth::*;
pub use drones::*;
pub use fleet::*;
pub use flight_plans::*;
pub use organization::*;
pub use problem::*;
pub use telemetry::*;
pub use users::*;
pub use webhooks::*;

use serde::{Deserialize, Deserializer};

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
