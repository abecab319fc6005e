//! Authentication: user access tokens (JWT naming a server-side session) and device API
//! keys. [`Principal`] is the extractor handlers use; it fails closed. The checks
//! themselves are the auth service's ([`crate::services::AuthService`]).

pub(crate) mod jwt;
mod principal;

pub use jwt::{Claims, JwtKeys};
pub use principal::{
    admit, authenticate, bearer, Admin, Operator, Principal, Reporter, UserPrincipal,
};
