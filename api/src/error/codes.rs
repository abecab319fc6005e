//! The one table of problem codes. Each line gives a code's name, its HTTP status and what
//! it means; the problem body, the OpenAPI `Problem.code` enum and the README's error table
//! are all produced from it (meilisearch's `make_error_codes!` is the model).

use actix_web::http::StatusCode;
use domain::FieldCode;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

macro_rules! error_codes {
    ($($variant:ident => $name:literal, $status:ident, $doc:literal;)+) => {
        /// A problem document's stable, machine-readable `code`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[doc = $doc] $variant,)+
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The snake_case name clients match on.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)+
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status,)+
                }
            }

            /// One line saying when the code is given.
            pub fn doc(self) -> &'static str {
                match self {
                    $(Code::$variant => $doc,)+
                }
            }
        }
    };
}

error_codes! {
    MalformedRequest => "malformed_request", BAD_REQUEST, "The body is not valid JSON, or a header cannot be read.";
    InvalidQuery => "invalid_query", BAD_REQUEST, "A query parameter is missing, malformed or out of range; `detail` names it.";
    InvalidCursor => "invalid_cursor", BAD_REQUEST, "The `cursor` is not one this API issued.";
    Unauthorized => "unauthorized", UNAUTHORIZED, "Credentials are missing, invalid or expired, or the session has ended.";
    Forbidden => "forbidden", FORBIDDEN, "The caller's role, or a drone's API key, may not do this.";
    NotFound => "not_found", NOT_FOUND, "No such resource in the caller's organisation (foreign ids answer the same).";
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED, "The path exists but not with this method.";
    DuplicateSerial => "duplicate_serial", CONFLICT, "A drone with this serial is already registered in the organisation.";
    DuplicateEmail => "duplicate_email", CONFLICT, "A user with this email already exists in the organisation.";
    DuplicateName => "duplicate_name", CONFLICT, "An organisation with this name already exists.";
    IllegalTransition => "illegal_transition", CONFLICT, "The flight plan's state does not allow this step.";
    DroneNotFlyable => "drone_not_flyable", CONFLICT, "The drone's status (maintenance, grounded or retired) keeps it on the ground: its plans cannot be approved or activated.";
    DroneHasOpenPlans => "drone_has_open_plans", CONFLICT, "The drone has an approved or active flight plan.";
    PlanConflict => "plan_conflict", CONFLICT, "The plan's 4-D volume meets another submitted, approved or active plan; `conflicts` lists where and when. An admin may submit or approve it with an `override_reason`.";
    DroneDoubleBooked => "drone_double_booked", CONFLICT, "The drone holds another submitted, approved or active plan whose window overlaps this one's.";
    AlertClosed => "alert_closed", CONFLICT, "The alert's state does not allow this step: it is already acknowledged (acknowledge) or resolved (acknowledge, resolve).";
    TooManyWebhooks => "too_many_webhooks", CONFLICT, "The organisation has as many webhooks as allowed (20): delete one first.";
    LastAdmin => "last_admin", CONFLICT, "The organisation must keep at least one admin.";
    NotEditable => "not_editable", CONFLICT, "Only draft flight plans can be edited.";
    ConcurrentUpdate => "concurrent_update", CONFLICT, "The resource changed while this request ran; read it again and retry.";
    IdempotencyInProgress => "idempotency_in_progress", CONFLICT, "A request with this `Idempotency-Key` is still running.";
    SecretNotReplayable => "secret_not_replayable", CONFLICT, "The first request with this `Idempotency-Key` created a secret, which is shown only once; `detail` names what it created.";
    PreconditionFailed => "precondition_failed", PRECONDITION_FAILED, "`If-Match` names a version that is no longer current.";
    PayloadTooLarge => "payload_too_large", PAYLOAD_TOO_LARGE, "The body, or the batch, is larger than allowed.";
    UnsupportedMediaType => "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The body is not `application/json`.";
    ValidationFailed => "validation_failed", UNPROCESSABLE_ENTITY, "Well-formed input that breaks rules; `errors` lists every field with its own code.";
    GeofenceViolation => "geofence_violation", UNPROCESSABLE_ENTITY, "A leg of the plan enters a prohibited geofence while it applies; `violations` names each fence, leg, point and altitude.";
    AuthorizationRequired => "authorization_required", UNPROCESSABLE_ENTITY, "A leg of the plan enters a restricted geofence and the plan has no `authorization_ref`; `violations` names each.";
    RateLimited => "rate_limited", TOO_MANY_REQUESTS, "The organisation's rate limit is exceeded; retry after `Retry-After` seconds.";
    LoginThrottled => "login_throttled", TOO_MANY_REQUESTS, "Too many login attempts for this account or from this address; retry after `Retry-After` seconds.";
    TooManyStreams => "too_many_streams", TOO_MANY_REQUESTS, "The user or the organisation has as many live streams open as allowed; close one first.";
    ServiceUnavailable => "service_unavailable", SERVICE_UNAVAILABLE, "A dependency is unavailable or the service is overloaded; retry after `Retry-After` seconds.";
    InternalError => "internal_error", INTERNAL_SERVER_ERROR, "An unexpected error; the body carries no details, the log does.";
}

impl Code {
    /// The status's reason phrase, the problem document's `title`.
    pub fn title(self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }

    /// `urn:nimbusfleet:problem:<code>`, the problem document's `type`.
    pub fn type_uri(self) -> String {
        format!("urn:nimbusfleet:problem:{}", self.name())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Code::ALL
            .iter()
            .copied()
            .find(|code| code.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown problem code {name}")))
    }
}

impl utoipa::PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        enum_schema(
            "Stable, machine-readable problem code (see the README's error table).",
            Code::ALL.iter().map(|c| c.name()),
        )
    }
}

impl utoipa::ToSchema for Code {}

/// The OpenAPI schema of a field error's `code`: every [`FieldCode`].
pub fn field_code_schema() -> RefOr<Schema> {
    enum_schema(
        "Why the field was refused.",
        FieldCode::ALL.iter().map(|c| c.as_str()),
    )
}

fn enum_schema<'a>(description: &str, names: impl Iterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names.collect::<Vec<_>>()))
        .into()
}

/// The README's error table: every problem code with its status, then every field code.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | status | meaning |\n|---|---|---|\n");
    for code in Code::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.name(),
            code.status().as_u16(),
            code.doc()
        ));
    }
    out.push_str("\nField codes, in `errors[].code` of `validation_failed` and of a telemetry batch's per-point errors:\n\n| code | meaning |\n|---|---|\n");
    for code in FieldCode::ALL {
        out.push_str(&format!("| `{}` | {} |\n", code.as_str(), code.doc()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_their_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.name()), "{code} is listed twice");
            assert!(code.status().is_client_error() || code.status().is_server_error());
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), *code);
        }
    }
}
