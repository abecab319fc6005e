//! Authentication: user access tokens (JWT naming a server-side session) and device API
//! keys. [`Principal`] is the extractor handlers use; it fails closed. The checks
//! themselves are the auth service's ([`crate::services::AuthService`]).

mod jwt;
mod principal;

pub use jwt::{Claims, JwtKeys};
pub use principal::{authenticate, bearer, Principal, UserPrincipal};
