//! Request extractors whose failures are problem documents naming the input at fault.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{PayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::page::{PageRequest, DEFAULT_LIMIT, MAX_LIMIT};
use domain::{FieldCode, FieldError, ValidationErrors};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;
use validator::{Validate, ValidationErrorsKind};

use crate::error::{ApiError, Code};

/// A JSON body, deserialised with the path of any bad field and then checked with
/// `validator`. Syntax errors are 400; well-formed JSON of the wrong shape or failing a
/// rule is 422 with every field listed.
pub struct ValidJson<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// The configured body limit, for the 413's message (the limit itself is enforced by the
/// `web::PayloadConfig` the server sets from the same value).
fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<crate::state::Limits>>()
        .map(|limits| limits.body_limit_bytes)
        .unwrap_or(DEFAULT_BODY_LIMIT_BYTES)
}

/// actix-web's own default, for a server that set no limit.
const DEFAULT_BODY_LIMIT_BYTES: usize = 262_144;

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let limit = body_limit(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = body.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
                _ => ApiError::bad_request(
                    Code::MalformedRequest,
                    "the request body could not be read",
                ),
            })?;
            parse_json(&bytes)
        })
    }
}

/// A JSON body that may be left out: `None` for an empty body, else like [`ValidJson`].
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let limit = body_limit(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
                _ => ApiError::bad_request(
                    Code::MalformedRequest,
                    "the request body could not be read",
                ),
            })?;
            // No body and a JSON `null` both mean "none given".
            if bytes.is_empty() || bytes.trim_ascii() == b"null" {
                return Ok(Self(None));
            }
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            parse_json(&bytes).map(|ValidJson(value)| Self(Some(value)))
        })
    }
}

/// Deserialises and validates a JSON document.
pub fn parse_json<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<ValidJson<T>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(
                Code::MalformedRequest,
                format!("the body is not valid JSON: {inner}"),
            )
        } else {
            let field = if path == "." { String::new() } else { path };
            ApiError::invalid(
                field,
                FieldCode::InvalidType,
                strip_position(&inner.to_string()),
            )
        }
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request(
            Code::MalformedRequest,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    value
        .validate()
        .map_err(|e| ApiError::Validation(flatten(&e)))?;
    Ok(ValidJson(value))
}

/// serde_json appends " at line 1 column 17", which means nothing to a client that sent a
/// compact document.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Turns validator's nested errors into field paths such as `waypoints[2].alt_m`.
pub fn flatten(errors: &validator::ValidationErrors) -> ValidationErrors {
    let mut out = ValidationErrors::default();
    flatten_into(errors, "", &mut out);
    out.0.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn flatten_into(errors: &validator::ValidationErrors, prefix: &str, out: &mut ValidationErrors) {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    for (name, kind) in errors.errors() {
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    out.push(FieldError::new(
                        join(name),
                        static_code(&error.code),
                        describe(error),
                    ));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten_into(inner, &join(name), out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten_into(inner, &format!("{}[{index}]", join(name)), out);
                }
            }
        }
    }
}

/// validator's code as ours.
fn static_code(code: &str) -> FieldCode {
    match code {
        "length" => FieldCode::Length,
        "range" => FieldCode::OutOfRange,
        "email" => FieldCode::InvalidEmail,
        "required" => FieldCode::Required,
        _ => FieldCode::Invalid,
    }
}

fn describe(error: &validator::ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match (error.code.as_ref(), param("min"), param("max")) {
        ("length", Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
        ("length", None, Some(max)) => format!("must be at most {max} long"),
        ("length", Some(min), None) => format!("must be at least {min} long"),
        ("range", Some(min), Some(max)) => format!("must be between {min} and {max}"),
        ("email", _, _) => "must be an email address".to_owned(),
        _ => "is invalid".to_owned(),
    }
}

/// Maps `web::Query` failures to a 400 naming the parameter.
pub fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let detail = match &error {
        QueryPayloadError::Deserialize(e) => format!("invalid query parameter: {e}"),
        _ => "invalid query string".to_owned(),
    };
    ApiError::invalid_query(detail).into()
}

/// Maps `web::Path` failures (an id that is not a UUID) to 404: no such resource exists.
pub fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound("resource").into()
}

/// `limit` and `cursor` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, example = 50)]
    pub limit: Option<u16>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Pagination {
    pub fn page_request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_query(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest { limit, after })
    }
}

pub fn encode_cursor(after: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(after.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_request(Code::InvalidCursor, "cursor is not one this API issued")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Validate)]
    struct Body {
        #[validate(length(min = 1, max = 3))]
        name: String,
        #[validate(nested)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, Validate)]
    struct Item {
        #[validate(range(min = 0, max = 10))]
        n: i32,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_name_the_field() {
        let err = parse_json::<Body>(b"{\"name\": ").err().unwrap();
        assert_eq!(err.code(), "malformed_request");
        let err = parse_json::<Body>(br#"{"name":"a","items":[{"n":"x"}]}"#)
            .err()
            .unwrap();
        match err {
            ApiError::Validation(e) => assert_eq!(e.0[0].field, "items[0].n"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validator_errors_are_flattened_into_paths() {
        let err = parse_json::<Body>(br#"{"name":"long","items":[{"n":1},{"n":11}]}"#)
            .err()
            .unwrap();
        match err {
            ApiError::Validation(e) => {
                let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["items[1].n", "name"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let p = Pagination {
            limit: Some(10),
            cursor: Some(encode_cursor(id)),
        };
        assert_eq!(p.page_request().unwrap().after, Some(id));
        let bad = Pagination {
            limit: None,
            cursor: Some("!!".into()),
        };
        assert_eq!(bad.page_request().unwrap_err().code(), "invalid_cursor");
        let big = Pagination {
            limit: Some(501),
            cursor: None,
        };
        assert_eq!(big.page_request().unwrap_err().code(), "invalid_query");
    }
}
