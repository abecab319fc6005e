//! Planning and approval: drafts, edits and the state machine, with the plan's cached
//! answer kept current.

use std::sync::Arc;

use chrono::Utc;
use domain::drone::Drone;
use domain::flight_plan::{
    self, EditError, FlightPlan, FlightPlanFilter, FlightPlanState, PlanInput, PlanRules,
    Transition, TransitionError,
};
use domain::page::{Page, PageRequest};
use domain::ports::{DroneRepository, FlightPlanRepository};
use domain::{DroneId, FlightPlanId, OrgId};

use super::airspace::{Conflicts, PlanShape, Warnings};
use super::{lost_race, AirspaceService, CacheAside, Cached, CachedBody, Loaded, Precondition};
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
    airspace: AirspaceService,
}

impl FlightPlanService {
    pub fn new(state: &AppState, cache: CacheAside, airspace: AirspaceService) -> Self {
        Self {
            plans: state.repos.plans.clone(),
            drones: state.repos.drones.clone(),
            cache,
            rules: state.limits.plan_rules,
            airspace,
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

    /// Pending plans (draft, submitted, approved) that something now stands in the way of:
    /// a fence created across them, another plan, a double booking. Pages through the
    /// organisation's plans until `page.limit` such plans are found; the cursor is the last
    /// plan looked at.
    pub async fn list_conflicting(
        &self,
        org: OrgId,
        filter: &FlightPlanFilter,
        page: PageRequest,
    ) -> Result<Page<FlightPlan>, ApiError> {
        let limit = usize::from(page.limit);
        let mut found = Vec::new();
        let mut missing_shards = Vec::new();
        let mut scan = PageRequest {
            limit: domain::page::MAX_LIMIT,
            after: page.after,
        };
        loop {
            let batch = self.plans.list_plans(org, filter, scan).await?;
            missing_shards.extend(batch.missing_shards.iter().copied());
            for plan in batch.items {
                let pending = matches!(
                    plan.state,
                    FlightPlanState::Draft | FlightPlanState::Submitted | FlightPlanState::Approved
                );
                if pending && self.airspace.conflicts_of(&plan).await?.any() {
                    found.push(plan);
                    if found.len() == limit {
                        let next_after = Some(found[limit - 1].id.as_uuid());
                        return Ok(Page {
                            items: found,
                            next_after,
                            missing_shards,
                        });
                    }
                }
            }
            match batch.next_after {
                Some(after) => scan.after = Some(after),
                None => {
                    return Ok(Page {
                        items: found,
                        next_after: None,
                        missing_shards,
                    })
                }
            }
        }
    }

    /// Everything that stands in the plan's way now.
    pub async fn conflicts(&self, org: OrgId, id: FlightPlanId) -> Result<Conflicts, ApiError> {
        let plan = self.plan(org, id).await?;
        self.airspace.conflicts_of(&plan).await
    }

    /// A new draft for one of the organisation's drones; every rule is checked, the
    /// airspace included. Answers the plan and the fences it is only warned of.
    pub async fn create(
        &self,
        caller: &UserPrincipal,
        drone: DroneId,
        input: &PlanInput,
    ) -> Result<(FlightPlan, Warnings), ApiError> {
        let drone = self.drone(caller.org_id, drone).await?;
        let now = Utc::now();
        let valid = flight_plan::validate(input, &drone, &self.rules, now)?;
        let plan = FlightPlan::draft(valid, &drone, caller.user_id, now);
        let warnings = self
            .airspace
            .check_fences(caller.org_id, &PlanShape::from(&plan))
            .await?;
        Ok((self.plans.create_plan(plan).await?, warnings))
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
        let warnings = self
            .airspace
            .check_fences(org, &PlanShape::from(&edited))
            .await?;
        let stored = self
            .plans
            .update_plan(edited, plan.version)
            .await
            .map_err(lost_race(matched))?;
        self.respond(stored, warnings).await
    }

    /// Moves a plan through its life ([`FlightPlan::transition`]); a rejection keeps its
    /// `reason`. Submit and approve check the airspace too: the fences along the path and
    /// the other plans' volumes ([`AirspaceService::deconflict`]); an approval that accepts
    /// a conflict keeps its `override_reason`. A caller who may not see the plan gets 404
    /// before one who may not take the step gets 403.
    pub async fn transition(
        &self,
        principal: &Principal,
        id: FlightPlanId,
        action: Transition,
        reason: Option<String>,
        override_reason: Option<String>,
    ) -> Result<CachedBody, ApiError> {
        let caller = principal.require(domain::user::Role::Viewer)?;
        let plan = self.plan(caller.org_id, id).await?;
        principal.require(action.required_role())?;
        let reason = flight_plan::parse_reason(action, reason.as_deref())?;
        let override_reason =
            flight_plan::parse_override_reason(action, override_reason.as_deref())?;
        if override_reason.is_some() {
            // Accepting a conflict is the admins' call, as approving is.
            principal.require(domain::user::Role::Admin)?;
        }
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
        let mut warnings = Warnings::new();
        let _turn = match action {
            Transition::Submit | Transition::Approve => {
                Some(self.airspace.turn(caller.org_id).await)
            }
            _ => None,
        };
        if matches!(action, Transition::Submit | Transition::Approve) {
            warnings = self
                .airspace
                .check_fences(caller.org_id, &PlanShape::from(&plan))
                .await?;
            let accepted = override_reason.is_some()
                || (action == Transition::Approve && plan.override_reason.is_some());
            self.airspace.deconflict(&plan, action, accepted).await?;
        }
        let version = plan.version;
        let rejection_reason = match action {
            Transition::Reject => reason,
            _ => plan.rejection_reason.clone(),
        };
        let override_reason = override_reason.or_else(|| plan.override_reason.clone());
        let next = FlightPlan {
            state: next_state,
            updated_at: now,
            rejection_reason,
            override_reason,
            ..plan
        };
        let stored = self.plans.update_plan(next, version).await?;
        self.airspace.plan_changed(&stored).await;
        tracing::info!(
            plan_id = %stored.id,
            action = action.as_str(),
            state = stored.state.as_str(),
            override_reason = stored.override_reason.as_deref(),
            "flight plan transition"
        );
        self.respond(stored, warnings).await
    }

    /// Caches the plan's answer; the warnings of this write are added to this answer only
    /// (a later read shows the plan as stored; `GET …/conflicts` tells the current ones).
    async fn respond(&self, plan: FlightPlan, warnings: Warnings) -> Result<CachedBody, ApiError> {
        let cached = self
            .cache
            .write(
                Cached::plan(plan.org_id, plan.id),
                plan.version,
                &FlightPlanResponse::from(plan.clone()),
            )
            .await?;
        if warnings.is_empty() {
            return Ok(cached);
        }
        let answer = FlightPlanResponse {
            warnings,
            ..FlightPlanResponse::from(plan)
        };
        Ok(CachedBody {
            version: cached.version,
            body: serde_json::to_vec(&answer).map_err(ApiError::internal)?,
        })
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
