use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{field_code_schema, Code};

/// An RFC 7807 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
    pub code: Code,
    pub detail: String,
    /// Every invalid field, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// Each fence a plan's leg enters, for `geofence_violation` and `authorization_required`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<super::ViolationDto>,
    /// Each plan whose volume meets this one, for `plan_conflict`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<super::PlanConflictDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemField {
    /// JSON path of the input, e.g. `serial` or `waypoints[2].alt_m`.
    pub field: String,
    /// One of the field codes (see the README's error table).
    #[schema(schema_with = field_code_schema)]
    pub code: String,
    pub message: String,
}
