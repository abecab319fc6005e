//! The schemas of the domain's enums, for DTO fields and query parameters that carry them
//! (the domain has no OpenAPI types): a string with every accepted value listed, so that
//! clients and fuzzers know them without reading descriptions.

use domain::airspace::{Datum, FenceKind};
use domain::drone::DroneStatus;
use domain::flight_plan::{FlightPlanState, Transition};
use domain::org::Plan;
use domain::user::Role;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

fn string_enum(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

pub fn drone_status() -> Object {
    string_enum(DroneStatus::ALL.map(DroneStatus::as_str))
}

pub fn role() -> Object {
    string_enum(Role::ALL.map(Role::as_str))
}

pub fn flight_plan_state() -> Object {
    string_enum(FlightPlanState::ALL.map(FlightPlanState::as_str))
}

pub fn transition() -> Object {
    string_enum(Transition::ALL.map(Transition::as_str))
}

pub fn plan() -> Object {
    string_enum(Plan::ALL.map(Plan::as_str))
}

pub fn fence_kind() -> Object {
    string_enum(FenceKind::ALL.map(FenceKind::as_str))
}

pub fn datum() -> Object {
    string_enum([Datum::Agl, Datum::Amsl].map(Datum::as_str))
}

pub fn alert_kind() -> Object {
    use domain::monitoring::AlertKind;
    string_enum(AlertKind::ALL.iter().map(|k| k.as_str()))
}

pub fn severity() -> Object {
    use domain::monitoring::Severity;
    string_enum(Severity::ALL.iter().map(|s| s.as_str()))
}

pub fn alert_state() -> Object {
    use domain::monitoring::AlertState;
    string_enum(
        [
            AlertState::Open,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ]
        .map(AlertState::as_str),
    )
}

/// The states a list may ask for: one of them, or `active` (open or acknowledged).
pub fn alert_state_filter() -> Object {
    string_enum(["open", "acknowledged", "resolved", "active"])
}

pub fn alert_change() -> Object {
    string_enum(["raised", "updated", "acknowledged", "resolved"])
}

pub fn delivery_status() -> Object {
    use domain::webhook::DeliveryStatus;
    string_enum(DeliveryStatus::ALL.map(DeliveryStatus::as_str))
}

pub fn alert_kinds() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(alert_kind())
        .build()
}
