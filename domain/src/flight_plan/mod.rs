//! Flight plans: their shape, validation rules ([`validate`]) and state machine ([`state`]).

mod state;
#[cfg(test)]
mod tests;
mod validate;

pub use validate::{estimate, validate, MAX_HOLD_S};

use chrono::{DateTime, Utc};

use crate::drone::{parse_text, Drone};
use crate::error::{FieldCode, FieldError, ValidationErrors};
use crate::ids::{DroneId, FlightPlanId, OrgId, UserId};
use crate::position::Position;
use crate::settings::InvalidSetting;
use crate::shard::slot_of;

/// A waypoint as received, before validation. `index` in error paths is its position.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WaypointInput {
    pub lat: f64,
    pub lon: f64,
    pub alt_m: f64,
    pub speed_mps: Option<f64>,
    pub hold_s: Option<f64>,
}

/// A validated waypoint.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Waypoint {
    pub position: Position,
    /// Ground speed on the leg that ends here; the plan's default speed when absent.
    pub speed_mps: Option<f64>,
    /// Time to hover here, in seconds.
    pub hold_s: Option<f64>,
}

impl Waypoint {
    pub fn to_input(&self) -> WaypointInput {
        WaypointInput {
            lat: self.position.lat.get(),
            lon: self.position.lon.get(),
            alt_m: self.position.alt_m.get(),
            speed_mps: self.speed_mps,
            hold_s: self.hold_s,
        }
    }
}

/// Everything a user supplies for a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    pub name: String,
    /// A reference to the authorisation for `restricted` fences (1–100 characters).
    pub authorization_ref: Option<String>,
    pub waypoints: Vec<WaypointInput>,
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
}

/// Installation-wide limits on plans (configuration `flight_plans.*`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRules {
    /// Highest altitude any plan may reach, whatever the drone can do (default 120 m).
    pub ceiling_m: f64,
    /// Endurance kept in reserve: a plan may use at most `endurance_min - reserve_min`.
    pub endurance_reserve_min: f64,
    /// Speed assumed for legs whose waypoint gives none, capped at the drone's maximum.
    pub default_speed_mps: f64,
    /// Most waypoints in one plan.
    pub max_waypoints: usize,
}

impl Default for PlanRules {
    fn default() -> Self {
        Self {
            ceiling_m: 120.0,
            endurance_reserve_min: 5.0,
            default_speed_mps: 10.0,
            max_waypoints: 500,
        }
    }
}

/// Path length and time a plan needs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub distance_m: f64,
    pub duration_s: f64,
}

/// A plan that passed [`validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPlan {
    pub name: String,
    pub authorization_ref: Option<String>,
    pub waypoints: Vec<Waypoint>,
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
    pub estimate: Estimate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlightPlanState {
    Draft,
    Submitted,
    Approved,
    Rejected,
    Active,
    Completed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Submit,
    Approve,
    Reject,
    Activate,
    Complete,
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {transition} a flight plan that is {from}")]
pub struct IllegalTransition {
    pub from: &'static str,
    pub transition: &'static str,
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransitionError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("drone is {status} and may not fly")]
    DroneMayNotFly { status: &'static str },
    #[error("the plan is no longer valid")]
    Invalid(#[from] ValidationErrors),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlightPlan {
    pub id: FlightPlanId,
    pub org_id: OrgId,
    pub drone_id: DroneId,
    pub name: String,
    pub waypoints: Vec<Waypoint>,
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
    pub state: FlightPlanState,
    pub estimate: Estimate,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// Why an admin rejected the plan, when they said.
    pub rejection_reason: Option<String>,
    /// The authorisation that lets the plan cross `restricted` fences.
    pub authorization_ref: Option<String>,
    /// Why an admin approved the plan despite a conflict with another plan.
    pub override_reason: Option<String>,
}

/// Longest rejection reason, in characters.
pub const REASON_MAX_LEN: usize = 500;

/// A reason given with a transition: trimmed, at most [`REASON_MAX_LEN`] characters, and
/// only for a rejection (the one decision that needs explaining to the plan's author).
pub fn parse_reason(
    transition: Transition,
    reason: Option<&str>,
) -> Result<Option<String>, FieldError> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    if transition != Transition::Reject {
        return Err(FieldError::new(
            "reason",
            FieldCode::Invalid,
            "only a rejection takes a reason",
        ));
    }
    parse_text("reason", reason, REASON_MAX_LEN).map(Some)
}

/// The reason an admin gives for accepting a plan that meets other plans: trimmed, at most
/// [`REASON_MAX_LEN`] characters, and only when submitting or approving.
pub fn parse_override_reason(
    transition: Transition,
    reason: Option<&str>,
) -> Result<Option<String>, FieldError> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    if !matches!(transition, Transition::Submit | Transition::Approve) {
        return Err(FieldError::new(
            "override_reason",
            FieldCode::Invalid,
            "only submit and approve take an override_reason",
        ));
    }
    parse_text("override_reason", reason, REASON_MAX_LEN).map(Some)
}

/// Filters of the flight-plan list; all optional and combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlightPlanFilter {
    pub drone_id: Option<DroneId>,
    pub state: Option<FlightPlanState>,
    /// Plans whose `[planned_start, planned_end]` overlaps `[from, to]`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl PlanRules {
    /// Checks what the types alone cannot; the error names the one setting at fault.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.ceiling_m) {
            return Err(InvalidSetting::new(
                "ceiling_m",
                "must be a positive number of metres",
            ));
        }
        if !(self.endurance_reserve_min.is_finite() && self.endurance_reserve_min >= 0.0) {
            return Err(InvalidSetting::new(
                "endurance_reserve_min",
                "must be zero or more minutes",
            ));
        }
        if !positive(self.default_speed_mps) {
            return Err(InvalidSetting::new(
                "default_speed_mps",
                "must be a positive speed",
            ));
        }
        if self.max_waypoints < 2 {
            return Err(InvalidSetting::new("max_waypoints", "must be at least 2"));
        }
        Ok(())
    }
}

/// Why a plan cannot be edited.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("only draft plans can be edited; this one is {0}")]
    NotEditable(FlightPlanState),
    #[error("the edited plan is invalid")]
    Invalid(#[from] ValidationErrors),
}

impl FlightPlan {
    /// A new draft of `drone` from a validated plan. Its id carries the drone's slot, so
    /// that the plan is stored on (and found on) the drone's shard.
    pub fn draft(valid: ValidPlan, drone: &Drone, created_by: UserId, now: DateTime<Utc>) -> Self {
        Self {
            id: FlightPlanId::for_slot(slot_of(drone.id)),
            org_id: drone.org_id,
            drone_id: drone.id,
            name: valid.name,
            waypoints: valid.waypoints,
            planned_start: valid.planned_start,
            planned_end: valid.planned_end,
            state: FlightPlanState::Draft,
            estimate: valid.estimate,
            created_by,
            created_at: now,
            updated_at: now,
            version: 1,
            rejection_reason: None,
            authorization_ref: valid.authorization_ref,
            override_reason: None,
        }
    }

    /// This plan with `input` in place of what the user wrote before. Only drafts are
    /// editable: a submitted plan is what an admin decides on, and it must not change
    /// under them. Every rule is checked again against `drone` as it is `now`.
    pub fn edit(
        &self,
        input: &PlanInput,
        drone: &Drone,
        rules: &PlanRules,
        now: DateTime<Utc>,
    ) -> Result<FlightPlan, EditError> {
        if self.state != FlightPlanState::Draft {
            return Err(EditError::NotEditable(self.state));
        }
        let valid = validate(input, drone, rules, now)?;
        Ok(FlightPlan {
            name: valid.name,
            authorization_ref: valid.authorization_ref,
            waypoints: valid.waypoints,
            planned_start: valid.planned_start,
            planned_end: valid.planned_end,
            estimate: valid.estimate,
            updated_at: now,
            ..self.clone()
        })
    }

    /// Whether the plan holds its drone: approved (cleared to fly) or active (flying).
    pub fn is_open(&self) -> bool {
        matches!(
            self.state,
            FlightPlanState::Approved | FlightPlanState::Active
        )
    }

    /// The plan as a user would submit it, for validating it again.
    pub fn input(&self) -> PlanInput {
        PlanInput {
            name: self.name.clone(),
            authorization_ref: self.authorization_ref.clone(),
            waypoints: self.waypoints.iter().map(Waypoint::to_input).collect(),
            planned_start: self.planned_start,
            planned_end: self.planned_end,
        }
    }

    /// The state `transition` would move this plan to, given its drone as it is `now`.
    ///
    /// Checks, in order: the state machine; for approve and activate, that the drone may fly;
    /// for submit and approve, that the plan still passes [`validate`] (its start may have
    /// passed or the drone's limits been lowered since it was written). Activating, completing
    /// and cancelling do not re-validate: by then the start has normally passed, and stopping
    /// a flight must always be possible. `drone` must be this plan's drone. The caller checks
    /// the role ([`Transition::required_role`]) and stores the result.
    pub fn transition(
        &self,
        transition: Transition,
        drone: &Drone,
        rules: &PlanRules,
        now: DateTime<Utc>,
    ) -> Result<FlightPlanState, TransitionError> {
        let next = self.state.apply(transition)?;
        if matches!(transition, Transition::Approve | Transition::Activate)
            && !drone.status.may_fly()
        {
            return Err(TransitionError::DroneMayNotFly {
                status: drone.status.as_str(),
            });
        }
        if matches!(transition, Transition::Submit | Transition::Approve) {
            validate(&self.input(), drone, rules, now)?;
        }
        Ok(next)
    }
}
