use std::fmt;

use super::{FlightPlanState, IllegalTransition, Transition};
use crate::user::Role;

impl FlightPlanState {
    pub const ALL: [FlightPlanState; 7] = [
        Self::Draft,
        Self::Submitted,
        Self::Approved,
        Self::Rejected,
        Self::Active,
        Self::Completed,
        Self::Cancelled,
    ];

    /// The name used in the API and in storage (same as the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether no transition leaves this state.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Completed | Self::Cancelled)
    }

    /// The state `transition` leads to, by the state machine alone. Role, drone status and
    /// re-validation are checked by [`FlightPlan::transition`].
    pub fn apply(self, transition: Transition) -> Result<Self, IllegalTransition> {
        use FlightPlanState as S;
        use Transition as T;
        match (self, transition) {
            (S::Draft, T::Submit) => Ok(S::Submitted),
            (S::Submitted, T::Approve) => Ok(S::Approved),
            (S::Submitted, T::Reject) => Ok(S::Rejected),
            (S::Approved, T::Activate) => Ok(S::Active),
            (S::Active, T::Complete) => Ok(S::Completed),
            (S::Draft | S::Submitted | S::Approved | S::Active, T::Cancel) => Ok(S::Cancelled),
            _ => Err(IllegalTransition {
                from: self.as_str(),
                transition: transition.as_str(),
            }),
        }
    }
}

impl fmt::Display for FlightPlanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Transition {
    pub const ALL: [Transition; 6] = [
        Self::Submit,
        Self::Approve,
        Self::Reject,
        Self::Activate,
        Self::Complete,
        Self::Cancel,
    ];

    /// The name used in the API (same as the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Activate => "activate",
            Self::Complete => "complete",
            Self::Cancel => "cancel",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// The least role that may ask for this transition: deciding on a plan is an admin's
    /// call, flying it is an operator's.
    pub fn required_role(self) -> Role {
        match self {
            Self::Approve | Self::Reject => Role::Admin,
            Self::Submit | Self::Activate | Self::Complete | Self::Cancel => Role::Operator,
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
