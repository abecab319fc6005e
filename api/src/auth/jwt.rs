use chrono::{DateTime, Utc};
use domain::user::Role;
use domain::{OrgId, SessionId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// What an access token asserts. The session id lets logout revoke the token at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub org: OrgId,
    pub role: Role,
    pub sid: SessionId,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// What a live-stream ticket asserts: the session it was issued in, for one stream opened
/// within its short life. It has no `role`, so it never passes as an access token, and an
/// access token has no `typ`, so it never passes as a ticket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketClaims {
    pub typ: String,
    pub sub: UserId,
    pub org: OrgId,
    pub sid: SessionId,
    /// Single use: the first stream that presents it claims this id.
    pub jti: String,
    pub iss: String,
    pub exp: i64,
}

pub const TICKET_TYPE: &str = "live-ticket";

/// HS256 signing keys. Only HS256 is accepted when verifying, so `alg: none` and tokens
/// signed with another algorithm or key are refused.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
}

impl JwtKeys {
    pub fn new(secret: &SecretString, issuer: &str) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            issuer: issuer.to_owned(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn sign(
        &self,
        user: UserId,
        org: OrgId,
        role: Role,
        session: SessionId,
        issued: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user,
            org,
            role,
            sid: session,
            iss: self.issuer.clone(),
            iat: issued.timestamp(),
            exp: expires.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn sign_ticket(
        &self,
        claims: &TicketClaims,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// A live-stream ticket's claims; anything else (an access token included) is refused.
    pub fn verify_ticket(&self, ticket: &str) -> Result<TicketClaims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        let claims =
            jsonwebtoken::decode::<TicketClaims>(ticket, &self.decoding, &validation)?.claims;
        if claims.typ != TICKET_TYPE {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidToken.into());
        }
        Ok(claims)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|data| data.claims)
    }
}
