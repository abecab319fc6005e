//! Planning and approval: drafts, edits and the state machine, with the plan's cached
//! answer kept current.

use std::sync::Arc;

use chrono::Utc;
use domain::drone::Drone;
use domain::flight_plan::{
    self, EditError, FlightPlan, FlightPlanFilter, PlanInput, PlanRules, Transition,
    TransitionError,
};
use domain::page::{Page, PageRequest};
use domain::ports::{DroneRepository, FlightPlanRepository};
use domain::{DroneId, FlightPlanId, OrgId};

use super::{lost_race, CacheAside, Cached, CachedBody, Loaded, Precondition};
use crate::auth::{Principal, UserPrincipal};
use crate::dto::FlightPlanResponse;
use crate::error::{ApiError, Code};
use crate::state::AppState;

#[derive(Clone)]
pub struct FlightPlanService {
    plans: Arc<dyn FlightPlanRepository>,
    drones: Arc<dyn DroneRepository>,
    cache: CacheAside,
    rules: PlanRules,
}

impl FlightPlanService {
    pub fn new(state: &AppState, cache: CacheAside) -> Self {
        Self {
            plans: state.repos.plans.clone(),
            drones: state.repos.drones.clone(),
            cache,
            rules: state.limits.plan_rules,
        }
    }

    pub async fn list(
        &self,
        org: OrgId,
        filter: &FlightPlanFilter,
        page: PageRequest,
    ) -> Result<Page<FlightPlan>, ApiError> {
        Ok(self.plans.list_plans(org, filter, page).await?)
    }

    /// A new draft for one of the organisation's drones; every rule is checked.
    pub async fn create(
        &self,
        caller: &UserPrincipal,
        drone: DroneId,
        input: &PlanInput,
    ) -> Result<FlightPlan, ApiError> {
        let drone = self.drone(caller.org_id, drone).await?;
        let now = Utc::now();
        let valid = flight_plan::validate(input, &drone, &self.rules, now)?;
        let plan = FlightPlan::draft(valid, &drone, caller.user_id, now);
        Ok(self.plans.create_plan(plan).await?)
    }

    /// The plan's answer, from the cache when it holds it.
    pub async fn get(&self, org: OrgId, id: FlightPlanId) -> Result<CachedBody, ApiError> {
        self.cache
            .read(Cached::plan(org, id), || async {
                let plan = self.plans.get_plan(org, id).await?;
                Ok(plan.map(|p| Loaded {
                    version: Some(p.version),
                    value: FlightPlanResponse::from(p),
                }))
            })
            .await?
            .ok_or(ApiError::NotFound("flight plan"))
    }

    /// Edits a draft ([`FlightPlan::edit`]): `change` turns what the user wrote before into
    /// the new input. Guarded by `If-Match` when sent.
    pub async fn update(
        &self,
        org: OrgId,
        id: FlightPlanId,
        precondition: &Precondition,
        change: impl FnOnce(PlanInput) -> PlanInput,
    ) -> Result<CachedBody, ApiError> {
        let plan = self.plan(org, id).await?;
        let matched = precondition.check(plan.version)?;
        let drone = self.drone(org, plan.drone_id).await?;
        let edited = plan
            .edit(&change(plan.input()), &drone, &self.rules, Utc::now())
            .map_err(|e| match e {
                EditError::NotEditable(_) => ApiError::conflict(Code::NotEditable, e.to_string()),
                EditError::Invalid(errors) => ApiError::Validation(errors),
            })?;
        let stored = self
            .plans
            .update_plan(edited, plan.version)
            .await
            .map_err(lost_race(matched))?;
        self.respond(stored).await
    }

    /// Moves a plan through its life ([`FlightPlan::transition`]); a rejection keeps its
    /// `reason`. A caller who may not see the plan gets 404 before one who may not take the
    /// step gets 403.
    pub async fn transition(
        &self,
        principal: &Principal,
        id: FlightPlanId,
        action: Transition,
        reason: Option<String>,
    ) -> Result<CachedBody, ApiError> {
        let caller = principal.require(domain::user::Role::Viewer)?;
        let plan = self.plan(caller.org_id, id).await?;
        principal.require(action.required_role())?;
        let reason = flight_plan::parse_reason(action, reason.as_deref())?;
        let drone = self.drone(caller.org_id, plan.drone_id).await?;
        let now = Utc::now();
        let next_state =
            plan.transition(action, &drone, &self.rules, now)
                .map_err(|e| match e {
                    TransitionError::Illegal(e) => {
                        ApiError::conflict(Code::IllegalTransition, e.to_string())
                    }
                    TransitionError::DroneMayNotFly { .. } => {
                        ApiError::conflict(Code::DroneNotFlyable, e.to_string())
                    }
                    TransitionError::Invalid(errors) => ApiError::Validation(errors),
                })?;
        let version = plan.version;
        let rejection_reason = match action {
            Transition::Reject => reason,
            _ => plan.rejection_reason.clone(),
        };
        let next = FlightPlan {
            state: next_state,
            updated_at: now,
            rejection_reason,
            ..plan
        };
        let stored = self.plans.update_plan(next, version).await?;
        tracing::info!(plan_id = %stored.id, action = action.as_str(), state = stored.state.as_str(), "flight plan transition");
        self.respond(stored).await
    }

    async fn respond(&self, plan: FlightPlan) -> Result<CachedBody, ApiError> {
        self.cache
            .write(
                Cached::plan(plan.org_id, plan.id),
                plan.version,
                &FlightPlanResponse::from(plan),
            )
            .await
    }

    async fn drone(&self, org: OrgId, id: DroneId) -> Result<Drone, ApiError> {
        self.drones
            .get_drone(org, id)
            .await?
            .ok_or(ApiError::NotFound("drone"))
    }

    async fn plan(&self, org: OrgId, id: FlightPlanId) -> Result<FlightPlan, ApiError> {
        self.plans
            .get_plan(org, id)
            .await?
            .ok_or(ApiError::NotFound("flight plan"))
    }
}
