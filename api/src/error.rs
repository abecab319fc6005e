//! The API's one error type and its RFC 7807 rendering.
//!
//! Every error answer is `application/problem+json` with a stable snake_case `code`. The
//! codes and their statuses are listed once, in [`ApiError::code`] and
//! [`ApiError::status_code`], and documented in OpenAPI under the `Problem` schema. A 5xx
//! body says nothing specific; the cause chain goes to the log.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use domain::{FieldError, StoreError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 7807 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:nimbusfleet:problem:validation_failed",
    "title": "Unprocessable Content",
    "status": 422,
    "code": "validation_failed",
    "detail": "2 problem(s) with the request",
    "errors": [{"field": "waypoints[1].alt_m", "code": "above_ceiling", "message": "must be at most 120 m (the configured ceiling)"}]
}))]
pub struct Problem {
    /// `urn:nimbusfleet:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable error code. One of: `malformed_request`, `invalid_query`,
    /// `invalid_cursor`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `duplicate_serial`, `duplicate_email`, `duplicate_name`, `illegal_transition`,
    /// `drone_not_flyable`, `drone_has_open_plans`, `last_admin`, `not_editable`,
    /// `concurrent_update`, `precondition_failed`, `payload_too_large`,
    /// `unsupported_media_type`, `validation_failed`, `idempotency_key_reused`,
    /// `idempotency_in_progress`, `rate_limited`, `service_unavailable`, `internal_error`.
    pub code: String,
    pub detail: String,
    /// Every invalid field, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    /// JSON path of the input, e.g. `serial` or `waypoints[2].alt_m`.
    pub field: String,
    pub code: String,
    pub message: String,
}

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the resource changed since it was read (If-Match did not match)")]
    PreconditionFailed,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    PayloadTooLargeDetail(String),
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("{} problem(s) with the request", .0.0.len())]
    Validation(ValidationErrors),
    #[error("the organisation's rate limit is exceeded; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u32 },
    #[error("{detail}")]
    Unavailable {
        detail: &'static str,
        retry_after_s: u32,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation(FieldError::new(field, code, message).into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge { .. } | Self::PayloadTooLargeDetail(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// Writes the error and its whole chain of causes (zero-to-production's `error_chain_fmt`).
fn error_chain_fmt(e: &impl std::error::Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{e}")?;
    let mut current = e.source();
    while let Some(cause) = current {
        writeln!(f, "Caused by:\n\t{cause}")?;
        current = cause.source();
    }
    Ok(())
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Internal(e) => write!(f, "internal error: {e:?}"),
            other => error_chain_fmt(other, f),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } | Self::PayloadTooLargeDetail(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Internal(_) => {
                tracing::error!(error.code = self.code(), error.details = ?self, "request failed")
            }
            // Expected under load or during an outage, counted in metrics: no error log per
            // request (the causes are logged, throttled, where they happen).
            Self::Unavailable { .. } => {
                tracing::debug!(error.code = self.code(), error.details = ?self, "request refused")
            }
            _ => {}
        }
        let detail = match self {
            Self::Internal(_) => "an unexpected error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation(errors) => errors
                .0
                .iter()
                .map(|e| ProblemField {
                    field: e.field.clone(),
                    code: e.code.to_owned(),
                    message: e.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("urn:nimbusfleet:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: self.code().to_owned(),
            detail,
            errors,
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::Unavailable { retry_after_s, .. } | Self::RateLimited { retry_after_s } => {
                response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            _ => {}
        }
        response.json(problem)
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::Validation(error.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity } => Self::NotFound(entity),
            StoreError::Conflict { field: "serial" } => Self::conflict(
                "duplicate_serial",
                "a drone with this serial is already registered in the organisation",
            ),
            StoreError::Conflict { field: "email" } => {
                Self::conflict("duplicate_email", "a user with this email already exists")
            }
            StoreError::Conflict { field: "name" } => Self::conflict(
                "duplicate_name",
                "an organisation with this name already exists",
            ),
            StoreError::Conflict { field } => {
                Self::conflict("conflict", format!("{field} already exists"))
            }
            StoreError::VersionMismatch { entity } => Self::conflict(
                "concurrent_update",
                format!("the {entity} was changed by another request; read it again and retry"),
            ),
            StoreError::ShardUnavailable { shard, source } => {
                tracing::warn!(shard, error = %source, "shard unavailable");
                Self::Unavailable {
                    detail: "the storage holding this data is temporarily unavailable",
                    retry_after_s: 5,
                }
            }
            StoreError::CatalogUnavailable(source) => {
                tracing::warn!(error = %source, "catalog database unavailable");
                Self::Unavailable {
                    detail: "the catalog database is temporarily unavailable",
                    retry_after_s: 5,
                }
            }
            StoreError::Backend(source) => Self::Internal(anyhow::Error::from_boxed(source)),
        }
    }
}

impl From<domain::ports::SessionError> for ApiError {
    fn from(error: domain::ports::SessionError) -> Self {
        tracing::warn!(error = %error, "session store unavailable; failing closed");
        Self::Unavailable {
            detail: "authentication is temporarily unavailable",
            retry_after_s: 2,
        }
    }
}
