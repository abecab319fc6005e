use std::collections::HashMap;

use actix_web::{post, web, HttpResponse};
use chrono::Utc;
use domain::drone::DroneStatus;
use domain::ports::BusError;
use domain::telemetry::{validate_point, PointInput};
use domain::user::Role;
use domain::{DroneId, FieldError, OrgId, ValidationErrors};
use infra::pipeline::DirectoryEntry;

use super::dto::{IngestRequest, IngestResponse, PointError};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::ValidJson;
use crate::startup::AppState;

/// Why a drone may not report, if it may not.
fn drone_refusal(
    entry: DirectoryEntry,
    only: Option<DroneId>,
    drone: DroneId,
) -> Option<FieldError> {
    if only.is_some_and(|own| own != drone) {
        return Some(FieldError::new(
            "drone_id",
            "forbidden_drone",
            "an API key may only send its own drone's telemetry",
        ));
    }
    match entry {
        DirectoryEntry::Unknown => Some(FieldError::new(
            "drone_id",
            "unknown_drone",
            "no such drone in the organisation",
        )),
        DirectoryEntry::Known(DroneStatus::Retired) => Some(FieldError::new(
            "drone_id",
            "drone_retired",
            "the drone is retired and takes no telemetry",
        )),
        DirectoryEntry::Known(_) => None,
    }
}

/// Accepts a batch of points from a drone's API key (its own drone only) or an operator's
/// or admin's token (any drone of the organisation). Each point is checked on its own:
/// the answer counts accepted and rejected points and says why each rejected one was.
/// Accepted points are queued for a bulk write and reach live streams once stored.
#[utoipa::path(context_path = "/api/v1", tag = "telemetry", security(("bearer" = []), ("api_key" = [])),
    request_body = IngestRequest, responses(
    (status = 202, body = IngestResponse, description = "some or all points accepted"),
    (status = 413, description = "more than 1 MiB or more points than `telemetry.max_batch_points`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "no point was valid; `errors` names index and field of each", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "the queue is full; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
))]
#[post("/telemetry")]
pub async fn ingest_telemetry(
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidJson<IngestRequest>,
) -> Result<HttpResponse, ApiError> {
    let (org, only): (OrgId, Option<DroneId>) = match &principal {
        Principal::Device {
            org_id, drone_id, ..
        } => (*org_id, Some(*drone_id)),
        Principal::User(_) => (principal.require(Role::Operator)?.org_id, None),
    };
    let points = body.0.points;
    if points.is_empty() {
        return Err(ApiError::invalid(
            "points",
            "empty",
            "must hold at least one point",
        ));
    }
    if points.len() > state.max_batch_points {
        return Err(ApiError::PayloadTooLargeDetail(format!(
            "a batch holds at most {} points; split it",
            state.max_batch_points
        )));
    }
    // One lookup per distinct drone, and none for drones a key may not send anyway.
    let mut directory: HashMap<DroneId, DirectoryEntry> = HashMap::new();
    for point in &points {
        let drone = DroneId::from_uuid(point.drone_id);
        if only.is_some_and(|own| own != drone) {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = directory.entry(drone) {
            slot.insert(state.directory.lookup(org, drone).await?);
        }
    }
    let total = points.len();
    let now = Utc::now();
    let mut accepted = Vec::with_capacity(points.len());
    let mut errors = Vec::new();
    for (index, dto) in points.into_iter().enumerate() {
        let input = PointInput::from(dto);
        let entry = directory
            .get(&input.drone_id)
            .copied()
            .unwrap_or(DirectoryEntry::Unknown);
        let result = match drone_refusal(entry, only, input.drone_id) {
            Some(refusal) => Err(vec![refusal]),
            None => validate_point(&input, org, &state.telemetry_rules, now),
        };
        match result {
            Ok(point) => accepted.push(point),
            Err(problems) => errors.extend(problems.into_iter().map(|e| (index, e))),
        }
    }
    for (_, e) in &errors {
        state
            .metrics
            .points_rejected
            .with_label_values(&[e.code])
            .inc();
    }
    if accepted.is_empty() {
        return Err(ApiError::Validation(ValidationErrors(
            errors
                .into_iter()
                .map(|(index, e)| {
                    FieldError::new(format!("points[{index}].{}", e.field), e.code, e.message)
                })
                .collect(),
        )));
    }
    let count = accepted.len();
    state.bus.publish(accepted).await.map_err(|e| match e {
        BusError::Full => ApiError::Unavailable {
            detail: "the telemetry queue is full; retry the same batch later",
            retry_after_s: 1,
        },
        BusError::Closed => ApiError::Unavailable {
            detail: "the service is shutting down; retry on another replica",
            retry_after_s: 1,
        },
        BusError::Unavailable(reason) => {
            tracing::warn!(%reason, "telemetry bus did not confirm a batch");
            ApiError::Unavailable {
                detail: "the telemetry bus is unavailable; retry the same batch later",
                retry_after_s: 2,
            }
        }
    })?;
    state.metrics.points_accepted.inc_by(count as u64);
    state.recent_points.add(org, count as u64, now);
    Ok(HttpResponse::Accepted().json(IngestResponse {
        accepted: count,
        rejected: total - count,
        errors: errors
            .into_iter()
            .map(|(index, e)| PointError {
                index,
                field: e.field,
                code: e.code.to_owned(),
                message: e.message,
            })
            .collect(),
    }))
}
