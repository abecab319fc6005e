//! `Idempotency-Key` on POST: the first request with a key runs and its answer is kept for
//! 24 h; a repeat with the same body gets that answer again (with `Idempotent-Replayed:
//! true`), a repeat with another body is `422`, and a repeat while the first still runs
//! waits for its answer. Keys are scoped to the credential that sent them. When the store
//! is unreachable, requests run without the guarantee rather than fail.

use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use domain::limits::{IdempotencyState, StoredResponse};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::startup::AppState;

pub const TTL: Duration = Duration::from_secs(24 * 3600);
const HEADER: &str = "idempotency-key";
/// How long a repeat waits for the first request with its key to finish.
const WAIT: Duration = Duration::from_secs(10);

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .content_type(stored.content_type.as_str())
        .insert_header(("idempotent-replayed", "true"))
        .body(stored.body.clone())
}

fn problem(error: ApiError) -> HttpResponse {
    error.error_response()
}

async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request("malformed_request", "the request body could not be read")
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
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        _ => {
            let error = ApiError::bad_request(
                "malformed_request",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            );
            return Ok(req.into_response(problem(error)));
        }
    };
    let body = match read_body(&mut req, state.body_limit_bytes).await {
        Ok(body) => body,
        Err(error) => return Ok(req.into_response(problem(error))),
    };
    let credential = crate::auth::bearer(req.request())
        .unwrap_or("anonymous")
        .to_owned();
    let scoped = format!(
        "{}:{}",
        sha256_hex(&[credential.as_bytes()]),
        sha256_hex(&[key.as_bytes()])
    );
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
                "idempotency_key_reused",
                "this key was used with a different request; use a new key",
            )
            .into(),
        )
    };
    loop {
        match state.idempotency.begin(&scoped, &fingerprint, TTL).await {
            Ok(IdempotencyState::Started) => break,
            Ok(IdempotencyState::Done {
                fingerprint: f,
                response,
            }) => {
                let answer = if f == fingerprint {
                    replay(&response)
                } else {
                    problem(reused())
                };
                return Ok(req.into_response(answer));
            }
            Ok(IdempotencyState::InProgress { fingerprint: f }) => {
                if f != fingerprint {
                    return Ok(req.into_response(problem(reused())));
                }
                if tokio::time::Instant::now() >= deadline {
                    let error = ApiError::conflict(
                        "idempotency_in_progress",
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
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let (head, body) = response.into_parts();
    let bytes = body::to_bytes(body).await.unwrap_or_default();
    let outcome = if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        // Not an answer to keep: let a retry run again.
        state.idempotency.abandon(&scoped).await
    } else {
        let stored = StoredResponse {
            status: status.as_u16(),
            content_type,
            body: bytes.to_vec(),
        };
        state
            .idempotency
            .complete(&scoped, &fingerprint, &stored, TTL)
            .await
    };
    if let Err(error) = outcome {
        tracing::warn!(%error, "could not record an idempotent answer");
    }
    let response = head.set_body(bytes.boxed());
    Ok(ServiceResponse::new(
        request,
        response.map_into_boxed_body(),
    ))
}
