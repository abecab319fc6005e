//! Drones: rows on their shard, serials reserved in the catalog.

use async_trait::async_trait;
use domain::drone::{Drone, DroneFilter, DronePatch, DroneStatus, Limits, Serial};
use domain::page::{Page, PageRequest, Partial};
use domain::ports::DroneRepository;
use domain::position::Position;
use domain::shard::slot_of;
use domain::ConflictKind;
use domain::{DroneId, OrgId, StoreError};
use futures::future::join_all;
use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::entities::{api_keys, drone_serials, drones};
use super::error::{chain, collect_runs, CorruptRow};
use super::{db_time, now, Db, Store};

const ENTITY: &str = "drone";

/// How often an update without an expected version is retried when a concurrent writer
/// got in between its read and its write.
const UNGUARDED_UPDATE_ATTEMPTS: usize = 3;

#[async_trait]
impl DroneRepository for Store {
    #[tracing::instrument(skip_all, fields(org_id = %drone.org_id, drone_id = %drone.id))]
    async fn create_drone(&self, drone: Drone) -> Result<Drone, StoreError> {
        // Retried by the new slot map if the drone's slots moved meanwhile.
        self.rerouted(|| async {
            let drone = drone.clone();
            let (db, shard) = self.writable_drone_shard(drone.id)?;
            let drone = Drone {
                created_at: db_time(drone.created_at),
                updated_at: db_time(drone.updated_at),
                ..drone
            };
            self.reserve_serial(drone.org_id, &drone.serial, drone.id)
                .await?;
            let inserted = drones::Entity::insert(to_row(&drone))
                .exec_without_returning(shard)
                .await;
            if let Err(err) = inserted {
                self.release_serial_after_failure(drone.org_id, &drone.serial, drone.id)
                    .await;
                return Err(db.err_or_conflict(err, ConflictKind::Serial));
            }
            Ok(drone)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %id))]
    async fn get_drone(&self, org: OrgId, id: DroneId) -> Result<Option<Drone>, StoreError> {
        let (db, shard) = self.readable_drone_shard(id)?;
        find(db, shard, org, id).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn list_drones(
        &self,
        org: OrgId,
        filter: &DroneFilter,
        page: PageRequest,
    ) -> Result<Page<Drone>, StoreError> {
        let queries = self.readable_shards().map(|(db, shard)| async move {
            let owned = self.owned_rows(db, "id");
            (db, list_on_shard(db, shard, owned, org, filter, page).await)
        });
        let (runs, missing) = collect_runs(join_all(queries).await)?;
        let mut merged = Page::merge(runs, page.limit, |d: &Drone| d.id.as_uuid());
        merged.missing_shards = missing;
        Ok(merged)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn count_drones_by_status(
        &self,
        org: OrgId,
    ) -> Result<Partial<Vec<(DroneStatus, u64)>>, StoreError> {
        let queries = self.readable_shards().map(|(db, shard)| async move {
            let rows = drones::Entity::find()
                .select_only()
                .column(drones::Column::Status)
                .column_as(Expr::col(drones::Column::Id).count(), "n")
                .filter(drones::Column::OrgId.eq(org.as_uuid()))
                .filter(self.owned_rows(db, "id"))
                .group_by(drones::Column::Status)
                .into_tuple::<(String, i64)>()
                .all(shard)
                .await
                .map_err(|e| db.err(e));
            (db, rows)
        });
        let (runs, missing_shards) = collect_runs(join_all(queries).await)?;
        let mut counts: Vec<(DroneStatus, u64)> = Vec::new();
        for (raw, n) in runs.into_iter().flatten() {
            let status = DroneStatus::parse(&raw)
                .ok_or_else(|| StoreError::backend(CorruptStatus(raw.clone())))?;
            match counts.iter_mut().find(|(s, _)| *s == status) {
                Some((_, total)) => *total += n.max(0) as u64,
                None => counts.push((status, n.max(0) as u64)),
            }
        }
        counts.sort_by_key(|(s, _)| DroneStatus::ALL.iter().position(|x| x == s));
        Ok(Partial {
            value: counts,
            missing_shards,
        })
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn link_timeouts(&self, org: OrgId) -> Result<Partial<Vec<(DroneId, f64)>>, StoreError> {
        let queries = self.all_shards().map(|(db, shard)| async move {
            let rows = drones::Entity::find()
                .select_only()
                .column(drones::Column::Id)
                .column(drones::Column::LinkTimeoutS)
                .filter(drones::Column::OrgId.eq(org.as_uuid()))
                .filter(drones::Column::LinkTimeoutS.is_not_null())
                .filter(self.owned_rows(db, "id"))
                .into_tuple::<(uuid::Uuid, f64)>()
                .all(shard)
                .await
                .map_err(|e| db.err(e));
            (db, rows)
        });
        let (runs, missing_shards) = collect_runs(join_all(queries).await)?;
        Ok(Partial {
            value: runs
                .into_iter()
                .flatten()
                .map(|(id, seconds)| (DroneId::from_uuid(id), seconds))
                .collect(),
            missing_shards,
        })
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %id))]
    async fn update_drone(
        &self,
        org: OrgId,
        id: DroneId,
        patch: &DronePatch,
        expected_version: Option<i64>,
    ) -> Result<Drone, StoreError> {
        // Retried by the new slot map if the drone's slots moved meanwhile.
        self.rerouted(|| async {
            let (db, shard) = self.writable_drone_shard(id)?;
            let attempts = if expected_version.is_some() {
                1
            } else {
                UNGUARDED_UPDATE_ATTEMPTS
            };
            for _ in 0..attempts {
                let current = find(db, shard, org, id)
                    .await?
                    .ok_or(StoreError::NotFound { entity: ENTITY })?;
                if expected_version.is_some_and(|v| v != current.version) {
                    return Err(StoreError::VersionMismatch { entity: ENTITY });
                }
                if let Some(updated) = self.try_update(db, shard, &current, patch).await? {
                    return Ok(updated);
                }
                if expected_version.is_some() {
                    // Distinguish a concurrent delete from a concurrent update.
                    return Err(match find(db, shard, org, id).await? {
                        Some(_) => StoreError::VersionMismatch { entity: ENTITY },
                        None => StoreError::NotFound { entity: ENTITY },
                    });
                }
            }
            Err(StoreError::VersionMismatch { entity: ENTITY })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, drone_id = %id))]
    async fn delete_drone(&self, org: OrgId, id: DroneId) -> Result<(), StoreError> {
        // Retried by the new slot map if the drone's slots moved meanwhile.
        self.rerouted(|| async {
            let (db, shard) = self.writable_drone_shard(id)?;
            let deleted = drones::Entity::delete_many()
                .filter(drones::Column::Id.eq(id.as_uuid()))
                .filter(drones::Column::OrgId.eq(org.as_uuid()))
                .exec(shard)
                .await
                .map_err(|e| db.err(e))?;
            crate::telemetry::forget_drone(db, shard, id).await?;
            // Runs even when the drone was already gone, so that retrying a delete whose
            // catalog half failed cleans up what it left behind.
            self.forget_drone_in_catalog(org, id).await?;
            if deleted.rows_affected == 0 {
                return Err(StoreError::NotFound { entity: ENTITY });
            }
            Ok(())
        })
        .await
    }
}

impl Store {
    /// One guarded write of `patch` over `current`. `Ok(None)` when the row changed (or
    /// vanished) since it was read.
    async fn try_update(
        &self,
        db: Db,
        shard: &DatabaseConnection,
        current: &Drone,
        patch: &DronePatch,
    ) -> Result<Option<Drone>, StoreError> {
        let mut next = patch.apply(current);
        next.version = current.version + 1;
        next.updated_at = now();
        let new_serial = (next.serial != current.serial).then_some(&next.serial);
        if let Some(serial) = new_serial {
            self.reserve_serial(current.org_id, serial, current.id)
                .await?;
        }
        let row = drones::ActiveModel {
            id: NotSet,
            org_id: NotSet,
            slot: NotSet,
            created_at: NotSet,
            ..to_row(&next)
        };
        let updated = drones::Entity::update_many()
            .set(row)
            .filter(drones::Column::Id.eq(current.id.as_uuid()))
            .filter(drones::Column::OrgId.eq(current.org_id.as_uuid()))
            .filter(drones::Column::Version.eq(current.version))
            .exec(shard)
            .await;
        let rows = match updated {
            Ok(result) => result.rows_affected,
            Err(err) => {
                if let Some(serial) = new_serial {
                    self.release_serial_after_failure(current.org_id, serial, current.id)
                        .await;
                }
                return Err(db.err_or_conflict(err, ConflictKind::Serial));
            }
        };
        if rows == 0 {
            if let Some(serial) = new_serial {
                self.release_serial_after_failure(current.org_id, serial, current.id)
                    .await;
            }
            return Ok(None);
        }
        if new_serial.is_some() {
            // The drone no longer uses its old serial. Failing to free it only keeps the
            // serial reserved; the update itself is done.
            self.release_serial_after_failure(current.org_id, &current.serial, current.id)
                .await;
        }
        Ok(Some(next))
    }

    /// Claims `serial` for `drone` in the catalog. Conflict: `serial`.
    async fn reserve_serial(
        &self,
        org: OrgId,
        serial: &Serial,
        drone: DroneId,
    ) -> Result<(), StoreError> {
        let row = drone_serials::ActiveModel {
            org_id: Set(org.as_uuid()),
            serial: Set(serial.as_str().to_owned()),
            drone_id: Set(drone.as_uuid()),
            created_at: Set(now()),
        };
        drone_serials::Entity::insert(row)
            .exec_without_returning(self.catalog())
            .await
            .map_err(|e| Db::Catalog.err_or_conflict(e, ConflictKind::Serial))?;
        Ok(())
    }

    /// Frees a serial reserved by `drone`. Best effort: a failure leaves the serial
    /// reserved (logged), which blocks its reuse but never breaks uniqueness.
    async fn release_serial_after_failure(&self, org: OrgId, serial: &Serial, drone: DroneId) {
        let released = drone_serials::Entity::delete_many()
            .filter(drone_serials::Column::OrgId.eq(org.as_uuid()))
            .filter(drone_serials::Column::Serial.eq(serial.as_str()))
            .filter(drone_serials::Column::DroneId.eq(drone.as_uuid()))
            .exec(self.catalog())
            .await;
        if let Err(err) = released {
            tracing::warn!(
                org_id = %org,
                drone_id = %drone,
                serial = serial.as_str(),
                error = %chain(&err),
                "failed to free a drone serial; it stays reserved"
            );
        }
    }

    /// Removes the drone's API keys and serial reservation from the catalog.
    async fn forget_drone_in_catalog(&self, org: OrgId, drone: DroneId) -> Result<(), StoreError> {
        let txn = self
            .catalog()
            .begin()
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        api_keys::Entity::delete_many()
            .filter(api_keys::Column::OrgId.eq(org.as_uuid()))
            .filter(api_keys::Column::DroneId.eq(drone.as_uuid()))
            .exec(&txn)
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        drone_serials::Entity::delete_many()
            .filter(drone_serials::Column::OrgId.eq(org.as_uuid()))
            .filter(drone_serials::Column::DroneId.eq(drone.as_uuid()))
            .exec(&txn)
            .await
            .map_err(|e| Db::Catalog.err(e))?;
        txn.commit().await.map_err(|e| Db::Catalog.err(e))
    }
}

async fn find(
    db: Db,
    shard: &DatabaseConnection,
    org: OrgId,
    id: DroneId,
) -> Result<Option<Drone>, StoreError> {
    drones::Entity::find()
        .filter(drones::Column::Id.eq(id.as_uuid()))
        .filter(drones::Column::OrgId.eq(org.as_uuid()))
        .one(shard)
        .await
        .map_err(|e| db.err(e))?
        .map(from_row)
        .transpose()
}

/// One shard's share of a list page: at most `limit + 1` rows after the cursor, by id.
async fn list_on_shard(
    db: Db,
    shard: &DatabaseConnection,
    owned: Condition,
    org: OrgId,
    filter: &DroneFilter,
    page: PageRequest,
) -> Result<Vec<Drone>, StoreError> {
    let mut query = drones::Entity::find()
        .filter(drones::Column::OrgId.eq(org.as_uuid()))
        .filter(owned);
    if let Some(status) = filter.status {
        query = query.filter(drones::Column::Status.eq(status.as_str()));
    }
    if let Some(model) = &filter.model {
        query = query.filter(drones::Column::Model.eq(model.as_str()));
    }
    if let Some(q) = &filter.q {
        let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
        let contains = |column: drones::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(LikeExpr::new(pattern.as_str()).escape('\\'))
        };
        query = query.filter(
            Condition::any()
                .add(contains(drones::Column::Name))
                .add(contains(drones::Column::Serial)),
        );
    }
    if let Some(after) = page.after {
        query = query.filter(drones::Column::Id.gt(after));
    }
    query
        .order_by_asc(drones::Column::Id)
        .limit(u64::from(page.limit) + 1)
        .all(shard)
        .await
        .map_err(|e| db.err(e))?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Makes `%`, `_` and the escape character itself match literally in a LIKE pattern.
pub(crate) fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn to_row(drone: &Drone) -> drones::ActiveModel {
    drones::ActiveModel {
        id: Set(drone.id.as_uuid()),
        org_id: Set(drone.org_id.as_uuid()),
        serial: Set(drone.serial.as_str().to_owned()),
        name: Set(drone.name.clone()),
        model: Set(drone.model.clone()),
        manufacturer: Set(drone.manufacturer.clone()),
        status: Set(drone.status.as_str().to_owned()),
        max_altitude_m: Set(drone.limits.max_altitude_m),
        max_speed_mps: Set(drone.limits.max_speed_mps),
        endurance_min: Set(i32::try_from(drone.limits.endurance_min).unwrap_or(i32::MAX)),
        firmware_version: Set(drone.firmware_version.clone()),
        home_lat: Set(drone.home.map(|h| h.lat.get())),
        home_lon: Set(drone.home.map(|h| h.lon.get())),
        home_alt_m: Set(drone.home.map(|h| h.alt_m.get())),
        link_timeout_s: Set(drone.link_timeout_s),
        slot: Set(i32::from(slot_of(drone.id).get())),
        created_at: Set(drone.created_at),
        updated_at: Set(drone.updated_at),
        version: Set(drone.version),
    }
}

fn from_row(row: drones::Model) -> Result<Drone, StoreError> {
    let corrupt = |detail: String| CorruptRow::err(ENTITY, row.id, detail);
    let serial = Serial::parse(&row.serial).map_err(|e| corrupt(e.to_string()))?;
    let status = DroneStatus::parse(&row.status)
        .ok_or_else(|| corrupt(format!("unknown status `{}`", row.status)))?;
    let endurance_min = u32::try_from(row.endurance_min)
        .map_err(|_| corrupt(format!("negative endurance {}", row.endurance_min)))?;
    let home = match (row.home_lat, row.home_lon, row.home_alt_m) {
        (Some(lat), Some(lon), Some(alt_m)) => {
            Some(Position::parse(lat, lon, alt_m).map_err(|e| corrupt(format!("home: {e:?}")))?)
        }
        (None, None, None) => None,
        _ => return Err(corrupt("home is only partly set".to_owned())),
    };
    Ok(Drone {
        id: DroneId::from_uuid(row.id),
        org_id: OrgId::from_uuid(row.org_id),
        serial,
        name: row.name,
        model: row.model,
        manufacturer: row.manufacturer,
        status,
        // Limits are not re-checked: tightening the rules must not make stored drones
        // unreadable.
        limits: Limits {
            max_altitude_m: row.max_altitude_m,
            max_speed_mps: row.max_speed_mps,
            endurance_min,
        },
        firmware_version: row.firmware_version,
        home,
        link_timeout_s: row.link_timeout_s,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_a_search_match_literally() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("hawk"), "hawk");
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored drone status `{0}` is unknown")]
struct CorruptStatus(String);
