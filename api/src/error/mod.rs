//! The API's one error type and its RFC 7807 rendering.
//!
//! Every error answer is `application/problem+json` with a stable snake_case `code` from
//! the one table in [`codes`]. A 5xx body says nothing specific; the cause chain goes to
//! the log. Errors of the layers below are mapped here, in one place each.

mod codes;

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use domain::platform::SessionError;
use domain::ports::BusError;
use domain::{ConflictKind, FieldCode, FieldError, StoreError, ValidationErrors};

pub use codes::{field_code_schema, markdown_table, Code};

use crate::dto::{Problem, ProblemField};
use crate::logging::Throttle;

/// The most field errors one problem lists (its `detail` gives the total), so that a large
/// invalid request cannot produce an answer larger than itself.
pub const MAX_LISTED_ERRORS: usize = 100;

#[derive(thiserror::Error)]
pub enum ApiError {
    /// A 400 with one of the `BAD_REQUEST` codes.
    #[error("{detail}")]
    BadRequest { code: Code, detail: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A 409 with one of the `CONFLICT` codes.
    #[error("{detail}")]
    Conflict { code: Code, detail: String },
    /// A plan refused by the airspace checks: the fences it enters or the plans it meets.
    #[error("{detail}")]
    Airspace {
        code: Code,
        detail: String,
        violations: Vec<crate::dto::ViolationDto>,
        conflicts: Vec<crate::dto::PlanConflictDto>,
    },
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
    /// A 429 with one of the other `TOO_MANY_REQUESTS` codes (login throttling, streams).
    #[error("{detail}")]
    TooMany {
        code: Code,
        detail: String,
        retry_after_s: u32,
    },
    /// A dependency is down; the cause is logged, not shown.
    #[error("{detail}")]
    Unavailable {
        detail: &'static str,
        retry_after_s: u32,
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: Code, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::bad_request(Code::InvalidQuery, detail)
    }

    pub fn conflict(code: Code, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self::Validation(FieldError::new(field, code, message).into())
    }

    pub fn unavailable(detail: &'static str, retry_after_s: u32) -> Self {
        Self::Unavailable {
            detail,
            retry_after_s,
            cause: None,
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    pub fn code(&self) -> Code {
        match self {
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Airspace { code, .. } => *code,
            Self::Unauthorized(_) => Code::Unauthorized,
            Self::Forbidden(_) => Code::Forbidden,
            Self::NotFound(_) => Code::NotFound,
            Self::MethodNotAllowed => Code::MethodNotAllowed,
            Self::PreconditionFailed => Code::PreconditionFailed,
            Self::PayloadTooLarge { .. } | Self::PayloadTooLargeDetail(_) => Code::PayloadTooLarge,
            Self::UnsupportedMediaType => Code::UnsupportedMediaType,
            Self::Validation(_) => Code::ValidationFailed,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::TooMany { code, .. } => *code,
            Self::Unavailable { .. } => Code::ServiceUnavailable,
            Self::Internal(_) => Code::InternalError,
        }
    }

    /// The answer's problem document.
    pub fn problem(&self) -> Problem {
        let code = self.code();
        let detail = match self {
            Self::Internal(_) => "an unexpected error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let detail = match self {
            Self::Validation(errors) if errors.0.len() > MAX_LISTED_ERRORS => {
                format!("{detail}; the first {MAX_LISTED_ERRORS} are listed")
            }
            _ => detail,
        };
        let errors = match self {
            Self::Validation(errors) => errors
                .0
                .iter()
                .take(MAX_LISTED_ERRORS)
                .map(|e| ProblemField {
                    field: e.field.clone(),
                    code: e.code.as_str().to_owned(),
                    message: e.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let (violations, conflicts) = match self {
            Self::Airspace {
                violations,
                conflicts,
                ..
            } => (violations.clone(), conflicts.clone()),
            _ => (Vec::new(), Vec::new()),
        };
        Problem {
            kind: code.type_uri(),
            title: code.title().to_owned(),
            status: code.status().as_u16(),
            code,
            detail,
            errors,
            violations,
            conflicts,
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
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(_) => {
                tracing::error!(error.code = %self.code(), error.details = ?self, "request failed")
            }
            // Expected under load or during an outage, counted in metrics: no error log per
            // request (the causes are logged, throttled, where they happen).
            Self::Unavailable { .. } => {
                tracing::debug!(error.code = %self.code(), error.details = ?self, "request refused")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        match self {
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::Unavailable { retry_after_s, .. }
            | Self::RateLimited { retry_after_s }
            | Self::TooMany { retry_after_s, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            _ => {}
        }
        response.json(self.problem())
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
            StoreError::Conflict(ConflictKind::Serial) => Self::conflict(
                Code::DuplicateSerial,
                "a drone with this serial is already registered in the organisation",
            ),
            StoreError::Conflict(ConflictKind::Email) => Self::conflict(
                Code::DuplicateEmail,
                "a user with this email already exists in the organisation",
            ),
            StoreError::Conflict(ConflictKind::LastAdmin) => Self::conflict(
                Code::LastAdmin,
                "the organisation must keep at least one admin",
            ),
            StoreError::Conflict(ConflictKind::OrgName) => Self::conflict(
                Code::DuplicateName,
                "an organisation with this name already exists",
            ),
            // Prefixes are random: a collision is an accident, and the client's retry succeeds.
            StoreError::Conflict(ConflictKind::KeyPrefix) => {
                Self::Internal(anyhow::Error::new(error))
            }
            StoreError::VersionMismatch { entity } => Self::conflict(
                Code::ConcurrentUpdate,
                format!("the {entity} was changed by another request; read it again and retry"),
            ),
            StoreError::ShardUnavailable { .. } => {
                static LOG: Throttle = Throttle::new();
                if let Some(suppressed) = LOG.admit() {
                    tracing::warn!(error = %chain(&error), suppressed, "shard unavailable");
                }
                Self::Unavailable {
                    detail: "the storage holding this data is temporarily unavailable",
                    retry_after_s: 5,
                    cause: Some(Box::new(error)),
                }
            }
            StoreError::CatalogUnavailable(_) => {
                static LOG: Throttle = Throttle::new();
                if let Some(suppressed) = LOG.admit() {
                    tracing::warn!(error = %chain(&error), suppressed, "catalog database unavailable");
                }
                Self::Unavailable {
                    detail: "the catalog database is temporarily unavailable",
                    retry_after_s: 5,
                    cause: Some(Box::new(error)),
                }
            }
            StoreError::Backend(_) => Self::Internal(anyhow::Error::new(error)),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        static LOG: Throttle = Throttle::new();
        if let Some(suppressed) = LOG.admit() {
            tracing::warn!(error = %chain(&error), suppressed, "session store unavailable; failing closed");
        }
        Self::Unavailable {
            detail: "authentication is temporarily unavailable",
            retry_after_s: 2,
            cause: Some(Box::new(error)),
        }
    }
}

impl From<BusError> for ApiError {
    fn from(error: BusError) -> Self {
        let (detail, retry_after_s) = match &error {
            BusError::Full => ("the telemetry queue is full; retry the same batch later", 1),
            BusError::Closed => ("the service is shutting down; retry on another replica", 1),
            BusError::Unavailable(_) => {
                static LOG: Throttle = Throttle::new();
                if let Some(suppressed) = LOG.admit() {
                    tracing::warn!(error = %chain(&error), suppressed, "telemetry bus did not confirm a batch");
                }
                (
                    "the telemetry bus is unavailable; retry the same batch later",
                    2,
                )
            }
        };
        Self::Unavailable {
            detail,
            retry_after_s,
            cause: Some(Box::new(error)),
        }
    }
}

/// The error and its causes on one line, for logs.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
