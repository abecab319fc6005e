//! `Idempotency-Key` on POST, for authenticated requests only: the request is authenticated
//! first, and its key lives in the scope of that principal (a user, or a drone key). The
//! first request with a key runs; a successful answer of at most [`MAX_REPLAYABLE_BYTES`]
//! is kept for 24 h, and a repeat with the same body gets it again (with
//! `Idempotent-Replayed: true`) — after authenticating again, so a logged-out token gets
//! `401`, not the old answer. A repeat with another body is `422`, a repeat while the first
//! still runs waits for its answer. Errors are not kept (a retry runs again), nor are larger
//! answers (`Idempotency-Stored: false` says so). An answer holding a secret is replaced,
//! for replay, by what its handler gives as [`ReplayAs`] (an API key's creation replays as
//! `409 secret_not_replayable` naming the key). Requests without a usable credential run
//! without a key. When the store is unreachable, requests run without the guarantee rather
//! than fail.

use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use domain::platform::IdempotencyState;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::services::AuthService;
use crate::state::Limits;

pub const TTL: Duration = Duration::from_secs(24 * 3600);
const HEADER: &str = "idempotency-key";
/// How long a repeat waits for the first request with its key to finish.
const WAIT: Duration = Duration::from_secs(10);
/// How long a key stays claimed by a request still running. Longer than any request may
/// take (a load balancer gives up after 60 s), far shorter than [`TTL`]: a replica killed
/// while answering cannot release its claim, and its key must not refuse the client's
/// retries (`idempotency_in_progress`) for a day. The answer, once stored, lives [`TTL`].
const CLAIM_TTL: Duration = Duration::from_secs(120);
/// The largest answer kept for replay; larger ones are sent once, with
/// `Idempotency-Stored: false`.
pub const MAX_REPLAYABLE_BYTES: usize = 64 * 1024;
const STORED_HEADER: &str = "idempotency-stored";

/// What a handler wants replayed instead of its answer, when the answer must not be kept
/// (it holds a secret): a problem document. Set it as an extension of the response.
#[derive(Debug, Clone)]
pub struct ReplayAs {
    status: StatusCode,
    problem: Bytes,
}

impl ReplayAs {
    pub fn problem(error: &ApiError) -> Self {
        Self {
            status: error.status_code(),
            problem: serde_json::to_vec(&error.problem())
                .map(Bytes::from)
                .unwrap_or_default(),
        }
    }
}

/// The scope of a principal's keys.
fn scope(principal: &Principal) -> String {
    match principal {
        Principal::User(user) => format!("user:{}", user.user_id),
        Principal::Device { key_id, .. } => format!("key:{key_id}"),
    }
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// An answer kept for replay: its status, content type and body. The store holds it as
/// opaque bytes: two bytes of status, the content type's length and the content type, then
/// the body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredAnswer {
    status: StatusCode,
    content_type: String,
    body: Bytes,
}

impl StoredAnswer {
    fn encode(&self) -> Vec<u8> {
        // A content type longer than 64 KiB is not one a handler of ours sends; it is cut.
        let content_type =
            &self.content_type.as_bytes()[..self.content_type.len().min(usize::from(u16::MAX))];
        let mut out = Vec::with_capacity(4 + content_type.len() + self.body.len());
        out.extend_from_slice(&self.status.as_u16().to_be_bytes());
        out.extend_from_slice(&(content_type.len() as u16).to_be_bytes());
        out.extend_from_slice(content_type);
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (status, rest) = bytes.split_first_chunk::<2>()?;
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let content_type = std::str::from_utf8(rest.get(..len)?).ok()?.to_owned();
        Some(Self {
            status: StatusCode::from_u16(u16::from_be_bytes(*status)).ok()?,
            content_type,
            body: Bytes::copy_from_slice(rest.get(len..)?),
        })
    }

    fn replay(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type(self.content_type.as_str())
            .insert_header(("idempotent-replayed", "true"))
            .body(self.body.clone())
    }
}

fn problem(error: ApiError) -> HttpResponse {
    error.error_response()
}

async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request(Code::MalformedRequest, "the request body could not be read")
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(HEADER) {
        Some(key) if req.method() == Method::POST && !req.path().starts_with("/api/v1/auth/") => {
            key.clone()
        }
        _ => return next.call(req).await,
    };
    let Some(limits) = req.app_data::<web::Data<Limits>>().cloned() else {
        return next.call(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        _ => {
            let error = ApiError::bad_request(
                Code::MalformedRequest,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            );
            return Ok(req.into_response(problem(error)));
        }
    };
    // Authenticate first: a request without a usable credential runs without a key (and
    // gets its 401 from the handler). The principal is handed to the handler's extractor.
    let Some(auth) = req.app_data::<web::Data<AuthService>>().cloned() else {
        return next.call(req).await;
    };
    let credential = match crate::auth::bearer(req.request()) {
        Ok(Some(credential)) => credential.to_owned(),
        _ => return next.call(req).await,
    };
    let principal = match auth.authenticate(Some(credential)).await {
        Ok(principal) => principal,
        Err(_) => return next.call(req).await,
    };
    let scope = scope(&principal);
    req.extensions_mut().insert(principal);
    let body = match read_body(&mut req, limits.body_limit_bytes).await {
        Ok(body) => body,
        Err(error) => return Ok(req.into_response(problem(error))),
    };
    let scoped = sha256_hex(&[key.as_bytes()]);
    let fingerprint = sha256_hex(&[
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        &body,
    ]);
    req.set_payload(actix_web::dev::Payload::from(body));

    let deadline = tokio::time::Instant::now() + WAIT;
    let reused = || {
        ApiError::Validation(
            domain::FieldError::new(
                "Idempotency-Key",
                domain::FieldCode::IdempotencyKeyReused,
                "this key was used with a different request; use a new key",
            )
            .into(),
        )
    };
    loop {
        match limits
            .idempotency
            .begin(&scope, &scoped, &fingerprint, CLAIM_TTL)
            .await
        {
            Ok(IdempotencyState::Started) => break,
            Ok(IdempotencyState::Done {
                fingerprint: f,
                answer,
            }) => {
                let answer = match StoredAnswer::decode(&answer) {
                    Some(stored) if f == fingerprint => stored.replay(),
                    Some(_) => problem(reused()),
                    None => problem(ApiError::internal(anyhow::anyhow!(
                        "the stored answer of an idempotency key cannot be read"
                    ))),
                };
                return Ok(req.into_response(answer));
            }
            Ok(IdempotencyState::InProgress { fingerprint: f }) => {
                if f != fingerprint {
                    return Ok(req.into_response(problem(reused())));
                }
                if tokio::time::Instant::now() >= deadline {
                    let error = ApiError::conflict(
                        Code::IdempotencyInProgress,
                        "a request with this key is still running; retry shortly",
                    );
                    return Ok(req.into_response(problem(error)));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(error) => {
                tracing::warn!(%error, "idempotency store unavailable; running the request without it");
                return next.call(req).await;
            }
        }
    }

    let res = next.call(req).await?;
    let (request, response) = res.into_parts();
    let status = response.status();
    let replay_as = response.extensions().get::<ReplayAs>().cloned();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let (head, body) = response.into_parts();
    let bytes = match body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(error) => {
            // The answer could not be read back: nothing to keep, and nothing to send.
            if let Err(error) = limits.idempotency.abandon(&scope, &scoped).await {
                tracing::warn!(%error, "could not release an idempotency key");
            }
            let error = ApiError::internal(anyhow::anyhow!("failed to read the answer: {error}"));
            return Ok(ServiceResponse::new(request, problem(error)));
        }
    };
    let stored = match replay_as {
        Some(_) if !status.is_success() => None,
        Some(ReplayAs { status, problem }) => Some(StoredAnswer {
            status,
            content_type: "application/problem+json".to_owned(),
            body: problem,
        }),
        // Errors are not answers to keep: a retry runs again.
        None if !status.is_success() => None,
        None if bytes.len() > MAX_REPLAYABLE_BYTES => None,
        None => Some(StoredAnswer {
            status,
            content_type,
            body: bytes.clone(),
        }),
    };
    let too_large = status.is_success() && stored.is_none();
    let outcome = match &stored {
        Some(stored) => {
            limits
                .idempotency
                .complete(&scope, &scoped, &fingerprint, &stored.encode(), TTL)
                .await
        }
        None => limits.idempotency.abandon(&scope, &scoped).await,
    };
    if let Err(error) = outcome {
        tracing::warn!(%error, "could not record an idempotent answer");
    }
    let mut response = head.set_body(bytes.boxed());
    if too_large {
        response.headers_mut().insert(
            header::HeaderName::from_static(STORED_HEADER),
            header::HeaderValue::from_static("false"),
        );
    }
    Ok(ServiceResponse::new(
        request,
        response.map_into_boxed_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_answer_round_trips() {
        let answer = StoredAnswer {
            status: StatusCode::CREATED,
            content_type: "application/json".to_owned(),
            body: Bytes::from_static(b"{\"id\":1}\x00\xff"),
        };
        assert_eq!(StoredAnswer::decode(&answer.encode()), Some(answer));
        assert_eq!(StoredAnswer::decode(b"\x00"), None);
    }
}
