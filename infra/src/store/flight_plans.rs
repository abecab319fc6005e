//! Flight plans, on their drone's shard. A plan id carries its drone's slot, so a plan is
//! routed by its id alone.

use async_trait::async_trait;
use domain::flight_plan::{
    Estimate, FlightPlan, FlightPlanFilter, FlightPlanState, Waypoint, WaypointInput,
};
use domain::page::{Page, PageRequest, Partial};
use domain::ports::FlightPlanRepository;
use domain::position::Position;
use domain::shard::ShardId;
use domain::{DroneId, FlightPlanId, OrgId, StoreError, UserId};
use futures::future::join_all;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::{drones, flight_plans};
use super::error::{collect_runs, is_foreign_key_violation, CorruptRow, Misrouted};
use super::{db_time, Db, Store};

const ENTITY: &str = "flight_plan";
const DRONE: StoreError = StoreError::NotFound { entity: "drone" };

#[async_trait]
impl FlightPlanRepository for Store {
    #[tracing::instrument(
        skip_all,
        fields(org_id = %plan.org_id, drone_id = %plan.drone_id, plan_id = %plan.id)
    )]
    async fn create_plan(&self, plan: FlightPlan) -> Result<FlightPlan, StoreError> {
        // Retried by the new slot map if the drone's slots moved meanwhile.
        self.rerouted(|| async {
            let plan = plan.clone();
            let (db, shard) = self.writable_shard(self.plan_shard(plan.id))?;
            if self.slot_map().shard_of(plan.drone_id)
                != self.slot_map().shard_of_slot(plan.id.slot())
            {
                return Err(StoreError::backend(Misrouted::PlanSlot {
                    plan: plan.id.as_uuid(),
                    plan_slot: plan.id.slot().get(),
                    drone: plan.drone_id.as_uuid(),
                }));
            }
            let drone_exists = drones::Entity::find()
                .filter(drones::Column::Id.eq(plan.drone_id.as_uuid()))
                .filter(drones::Column::OrgId.eq(plan.org_id.as_uuid()))
                .count(shard)
                .await
                .map_err(|e| db.err(e))?
                > 0;
            if !drone_exists {
                return Err(DRONE);
            }
            let plan = FlightPlan {
                planned_start: db_time(plan.planned_start),
                planned_end: db_time(plan.planned_end),
                created_at: db_time(plan.created_at),
                updated_at: db_time(plan.updated_at),
                ..plan
            };
            flight_plans::Entity::insert(to_row(&plan)?)
                .exec_without_returning(shard)
                .await
                .map_err(|e| {
                    if is_foreign_key_violation(&e) {
                        DRONE
                    } else {
                        db.err(e)
                    }
                })?;
            Ok(plan)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, plan_id = %id))]
    async fn get_plan(
        &self,
        org: OrgId,
        id: FlightPlanId,
    ) -> Result<Option<FlightPlan>, StoreError> {
        let (db, shard) = self.readable_shard(self.plan_shard(id))?;
        find(db, shard, org, id).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn list_plans(
        &self,
        org: OrgId,
        filter: &FlightPlanFilter,
        page: PageRequest,
    ) -> Result<Page<FlightPlan>, StoreError> {
        let id = |p: &FlightPlan| p.id.as_uuid();
        if let Some(drone) = filter.drone_id {
            let (db, shard) = self.readable_drone_shard(drone)?;
            let rows = list_on_shard(
                db,
                shard,
                self.owned_rows(db, "drone_id"),
                org,
                filter,
                page,
            )
            .await?;
            return Ok(Page::from_sorted(rows, page.limit, id));
        }
        let queries = self.readable_shards().map(|(db, shard)| async move {
            (
                db,
                list_on_shard(
                    db,
                    shard,
                    self.owned_rows(db, "drone_id"),
                    org,
                    filter,
                    page,
                )
                .await,
            )
        });
        let (runs, missing) = collect_runs(join_all(queries).await)?;
        let mut merged = Page::merge(runs, page.limit, id);
        merged.missing_shards = missing;
        Ok(merged)
    }

    #[tracing::instrument(
        skip_all,
        fields(org_id = %plan.org_id, plan_id = %plan.id, expected_version = expected_version)
    )]
    async fn update_plan(
        &self,
        plan: FlightPlan,
        expected_version: i64,
    ) -> Result<FlightPlan, StoreError> {
        // Retried by the new slot map if the drone's slots moved meanwhile.
        self.rerouted(|| async {
            let plan = plan.clone();
            let (db, shard) = self.writable_shard(self.plan_shard(plan.id))?;
            let row = flight_plans::ActiveModel {
                id: NotSet,
                org_id: NotSet,
                drone_id: NotSet,
                created_by: NotSet,
                created_at: NotSet,
                version: Set(expected_version + 1),
                updated_at: Set(db_time(plan.updated_at)),
                planned_start: Set(db_time(plan.planned_start)),
                planned_end: Set(db_time(plan.planned_end)),
                ..to_row(&plan)?
            };
            let result = flight_plans::Entity::update_many()
                .set(row)
                .filter(flight_plans::Column::Id.eq(plan.id.as_uuid()))
                .filter(flight_plans::Column::OrgId.eq(plan.org_id.as_uuid()))
                .filter(flight_plans::Column::Version.eq(expected_version))
                .exec(shard)
                .await
                .map_err(|e| db.err(e))?;
            let stored = find(db, shard, plan.org_id, plan.id).await?;
            match (result.rows_affected, stored) {
                (0, Some(_)) => Err(StoreError::VersionMismatch { entity: ENTITY }),
                (_, Some(plan)) => Ok(plan),
                (_, None) => Err(StoreError::NotFound { entity: ENTITY }),
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn count_plans_in_state(
        &self,
        org: OrgId,
        state: FlightPlanState,
    ) -> Result<Partial<u64>, StoreError> {
        let queries = self.readable_shards().map(|(db, shard)| async move {
            let n = flight_plans::Entity::find()
                .filter(flight_plans::Column::OrgId.eq(org.as_uuid()))
                .filter(flight_plans::Column::State.eq(state.as_str()))
                .filter(self.owned_rows(db, "drone_id"))
                .count(shard)
                .await
                .map_err(|e| db.err(e));
            (db, n.map(|n| vec![n]))
        });
        let (runs, missing_shards) = collect_runs(join_all(queries).await)?;
        Ok(Partial {
            value: runs.into_iter().flatten().sum(),
            missing_shards,
        })
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %drone))]
    async fn count_plans(
        &self,
        org: OrgId,
        drone: DroneId,
        states: &[FlightPlanState],
    ) -> Result<u64, StoreError> {
        if states.is_empty() {
            return Ok(0);
        }
        let (db, shard) = self.readable_drone_shard(drone)?;
        flight_plans::Entity::find()
            .filter(flight_plans::Column::OrgId.eq(org.as_uuid()))
            .filter(flight_plans::Column::DroneId.eq(drone.as_uuid()))
            .filter(flight_plans::Column::State.is_in(states.iter().map(|s| s.as_str())))
            .count(shard)
            .await
            .map_err(|e| db.err(e))
    }
}

impl Store {
    /// The shard holding a plan: the one its id's slot maps to.
    fn plan_shard(&self, id: FlightPlanId) -> ShardId {
        self.slot_map().shard_of_slot(id.slot())
    }
}

async fn find(
    db: Db,
    shard: &DatabaseConnection,
    org: OrgId,
    id: FlightPlanId,
) -> Result<Option<FlightPlan>, StoreError> {
    flight_plans::Entity::find()
        .filter(flight_plans::Column::Id.eq(id.as_uuid()))
        .filter(flight_plans::Column::OrgId.eq(org.as_uuid()))
        .one(shard)
        .await
        .map_err(|e| db.err(e))?
        .map(from_row)
        .transpose()
}

async fn list_on_shard(
    db: Db,
    shard: &DatabaseConnection,
    owned: sea_orm::Condition,
    org: OrgId,
    filter: &FlightPlanFilter,
    page: PageRequest,
) -> Result<Vec<FlightPlan>, StoreError> {
    let mut query = flight_plans::Entity::find()
        .filter(flight_plans::Column::OrgId.eq(org.as_uuid()))
        .filter(owned);
    if let Some(drone) = filter.drone_id {
        query = query.filter(flight_plans::Column::DroneId.eq(drone.as_uuid()));
    }
    if let Some(state) = filter.state {
        query = query.filter(flight_plans::Column::State.eq(state.as_str()));
    }
    // Overlap of [planned_start, planned_end] with [from, to].
    if let Some(from) = filter.from {
        query = query.filter(flight_plans::Column::PlannedEnd.gte(db_time(from)));
    }
    if let Some(to) = filter.to {
        query = query.filter(flight_plans::Column::PlannedStart.lte(db_time(to)));
    }
    if let Some(after) = page.after {
        query = query.filter(flight_plans::Column::Id.gt(after));
    }
    query
        .order_by_asc(flight_plans::Column::Id)
        .limit(u64::from(page.limit) + 1)
        .all(shard)
        .await
        .map_err(|e| db.err(e))?
        .into_iter()
        .map(from_row)
        .collect()
}

fn to_row(plan: &FlightPlan) -> Result<flight_plans::ActiveModel, StoreError> {
    let waypoints: Vec<WaypointInput> = plan.waypoints.iter().map(Waypoint::to_input).collect();
    let waypoints = serde_json::to_value(waypoints).map_err(StoreError::backend)?;
    Ok(flight_plans::ActiveModel {
        id: Set(plan.id.as_uuid()),
        org_id: Set(plan.org_id.as_uuid()),
        drone_id: Set(plan.drone_id.as_uuid()),
        name: Set(plan.name.clone()),
        waypoints: Set(waypoints),
        planned_start: Set(plan.planned_start),
        planned_end: Set(plan.planned_end),
        state: Set(plan.state.as_str().to_owned()),
        distance_m: Set(plan.estimate.distance_m),
        duration_s: Set(plan.estimate.duration_s),
        created_by: Set(plan.created_by.as_uuid()),
        created_at: Set(plan.created_at),
        updated_at: Set(plan.updated_at),
        version: Set(plan.version),
        rejection_reason: Set(plan.rejection_reason.clone()),
        authorization_ref: Set(plan.authorization_ref.clone()),
        override_reason: Set(plan.override_reason.clone()),
    })
}

fn from_row(row: flight_plans::Model) -> Result<FlightPlan, StoreError> {
    let corrupt = |detail: String| CorruptRow::err(ENTITY, row.id, detail);
    let state = FlightPlanState::parse(&row.state)
        .ok_or_else(|| corrupt(format!("unknown state `{}`", row.state)))?;
    let inputs: Vec<WaypointInput> = serde_json::from_value(row.waypoints.clone())
        .map_err(|e| corrupt(format!("waypoints: {e}")))?;
    let waypoints = inputs
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let position = Position::parse(w.lat, w.lon, w.alt_m)
                .map_err(|e| corrupt(format!("waypoints[{i}]: {e:?}")))?;
            Ok(Waypoint {
                position,
                speed_mps: w.speed_mps,
                hold_s: w.hold_s,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(FlightPlan {
        id: FlightPlanId::from_uuid(row.id),
        org_id: OrgId::from_uuid(row.org_id),
        drone_id: DroneId::from_uuid(row.drone_id),
        name: row.name,
        waypoints,
        planned_start: row.planned_start,
        planned_end: row.planned_end,
        state,
        estimate: Estimate {
            distance_m: row.distance_m,
            duration_s: row.duration_s,
        },
        created_by: UserId::from_uuid(row.created_by),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
        rejection_reason: row.rejection_reason,
        authorization_ref: row.authorization_ref,
        override_reason: row.override_reason,
    })
}
