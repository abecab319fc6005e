//! Alerts, on their drone's shard. An alert id carries its drone's slot, so an alert is
//! routed by its id alone; lists across shards are merged newest first.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::monitoring::{
    Alert, AlertFilter, AlertKind, AlertNotice, AlertPoint, AlertState, Change, Detail,
    NoticeChange, Observation, Resolver, Severity, StateFilter,
};
use domain::page::{Page, PageRequest, Partial};
use domain::ports::AlertRepository;
use domain::telemetry::TelemetryPoint;
use domain::{AlertId, DroneId, FlightPlanId, OrgId, StoreError, UserId};
use futures::future::join_all;
use futures::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::alerts;
use super::error::{collect_runs, is_unique_violation, CorruptRow};
use super::{db_time, Db, Store};

const ENTITY: &str = "alert";
/// Drones whose alert changes one shard stores at once (each takes a connection).
const CONCURRENT_DRONES: usize = 4;
/// Drones whose unresolved alerts one query reads, and new alerts one statement inserts.
const BULK_ROWS: usize = 500;
/// Times a monitor update is retried when a person changed the alert at the same moment.
const RETRIES: usize = 3;

#[async_trait]
impl AlertRepository for Store {
    #[tracing::instrument(skip_all, fields(observations = observations.len()))]
    async fn record_observations(
        &self,
        observations: &[Observation],
    ) -> Result<Vec<AlertNotice>, StoreError> {
        let mut by_shard: BTreeMap<u16, Vec<&Observation>> = BTreeMap::new();
        for o in observations {
            by_shard
                .entry(self.slot_map().shard_of(o.event.drone_id).0)
                .or_default()
                .push(o);
        }
        let shards = by_shard.into_iter().map(|(shard, share)| async move {
            let (db, conn) = self.shard(domain::shard::ShardId(shard))?;
            // A burst (a fence that appears over hundreds of flying drones, a whole fleet
            // going silent) is read in one query per few hundred drones; the alerts it opens
            // are inserted a few hundred a statement, and the rest are stored one drone's
            // observations in order, several drones at once.
            let unresolved = unresolved_of(db, conn, &share).await?;
            let (fresh, rest) = split_fresh(share, &unresolved);
            let mut notices = insert_fresh(db, conn, &fresh).await?;
            let mut by_drone: BTreeMap<DroneId, Vec<&Observation>> = BTreeMap::new();
            for o in rest {
                by_drone.entry(o.event.drone_id).or_default().push(o);
            }
            let unresolved = &unresolved;
            let runs: Vec<_> = by_drone
                .into_values()
                .map(|run| record_run(db, conn, run, unresolved))
                .collect();
            let runs = futures::stream::iter(runs).buffer_unordered(CONCURRENT_DRONES);
            for run in runs.collect::<Vec<_>>().await {
                notices.extend(run?);
            }
            Ok::<_, StoreError>(notices)
        });
        let mut notices = Vec::new();
        let mut failed = None;
        for result in join_all(shards).await {
            match result {
                Ok(n) => notices.extend(n),
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            // What the other shards recorded is kept; the caller retries the whole batch,
            // which records nothing twice (an unresolved alert absorbs a repeated raise).
            Some(e) if notices.is_empty() => Err(e),
            Some(e) => {
                tracing::warn!(error = %e, "alerts of a shard could not be recorded");
                Ok(notices)
            }
            None => Ok(notices),
        }
    }

    #[tracing::instrument(skip_all, fields(alerts = seen.len()))]
    async fn touch_alerts(
        &self,
        seen: &[(DroneId, AlertKind, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        // Several at once per shard, as alert changes are.
        let updates: Vec<_> = seen
            .iter()
            .copied()
            .map(|(drone, kind, at)| self.touch(drone, kind, at))
            .collect();
        let concurrency = CONCURRENT_DRONES * self.all_shards().count().max(1);
        let done: Vec<_> = futures::stream::iter(updates)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        done.into_iter().collect()
    }

    #[tracing::instrument(skip_all, fields(drones = drones.len()))]
    async fn monitor_state(
        &self,
        drones: &[DroneId],
    ) -> Result<(Vec<Alert>, Vec<TelemetryPoint>), StoreError> {
        let mut by_shard: BTreeMap<u16, Vec<DroneId>> = BTreeMap::new();
        for drone in drones {
            by_shard
                .entry(self.slot_map().shard_of(*drone).0)
                .or_default()
                .push(*drone);
        }
        let mut alerts_found = Vec::new();
        let mut latest = Vec::new();
        for (shard, drones) in by_shard {
            let (db, conn) = self.shard(domain::shard::ShardId(shard))?;
            for chunk in drones.chunks(500) {
                let ids: Vec<_> = chunk.iter().map(DroneId::as_uuid).collect();
                let rows = alerts::Entity::find()
                    .filter(alerts::Column::DroneId.is_in(ids))
                    .filter(alerts::Column::State.ne(AlertState::Resolved.as_str()))
                    .all(conn)
                    .await
                    .map_err(|e| db.err(e))?;
                for row in rows {
                    alerts_found.push(from_row(row)?);
                }
                latest.extend(
                    crate::telemetry::latest_of(conn, chunk)
                        .await
                        .map_err(|e| db.err(e))?,
                );
            }
        }
        Ok((alerts_found, latest))
    }

    async fn reported_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<TelemetryPoint>, StoreError> {
        let queries = self.all_shards().map(|(db, conn)| async move {
            (
                db,
                crate::telemetry::latest_since(conn, since)
                    .await
                    .map(|mut points| {
                        points.retain(|p| self.owns(db, p.drone_id));
                        points
                    })
                    .map_err(|e| db.err(e)),
            )
        });
        let (runs, missing) = collect_runs(join_all(queries).await)?;
        if !missing.is_empty() {
            tracing::warn!(
                ?missing,
                "the monitor could not read the latest state of some shards"
            );
        }
        Ok(runs.into_iter().flatten().collect())
    }

    #[tracing::instrument(skip_all, fields(org_id = %org, alert_id = %id))]
    async fn get_alert(&self, org: OrgId, id: AlertId) -> Result<Option<Alert>, StoreError> {
        let (db, conn) = self.readable_shard(self.slot_map().shard_of_slot(id.slot()))?;
        find(db, conn, org, id).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn list_alerts(
        &self,
        org: OrgId,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<Page<Alert>, StoreError> {
        let id = |a: &Alert| a.id.as_uuid();
        if let Some(drone) = filter.drone_id {
            let (db, conn) = self.readable_drone_shard(drone)?;
            let rows =
                list_on_shard(db, conn, self.owned_rows(db, "drone_id"), org, filter, page).await?;
            return Ok(Page::from_sorted(rows, page.limit, id));
        }
        let queries = self.readable_shards().map(|(db, conn)| async move {
            (
                db,
                list_on_shard(db, conn, self.owned_rows(db, "drone_id"), org, filter, page).await,
            )
        });
        let (runs, missing) = collect_runs(join_all(queries).await)?;
        let mut merged = Page::merge_newest_first(runs, page.limit, id);
        merged.missing_shards = missing;
        Ok(merged)
    }

    #[tracing::instrument(skip_all, fields(org_id = %alert.org_id, alert_id = %alert.id))]
    async fn update_alert(&self, alert: Alert, expected_version: i64) -> Result<Alert, StoreError> {
        // Retried by the new slot map if the drone's slots moved meanwhile.
        self.rerouted(|| async {
            let alert = alert.clone();
            let (db, conn) = self.writable_shard(self.slot_map().shard_of_slot(alert.id.slot()))?;
            let org = alert.org_id;
            let id = alert.id;
            if write(db, conn, alert, expected_version).await? {
                return find(db, conn, org, id)
                    .await?
                    .ok_or(StoreError::NotFound { entity: ENTITY });
            }
            match find(db, conn, org, id).await? {
                Some(_) => Err(StoreError::VersionMismatch { entity: ENTITY }),
                None => Err(StoreError::NotFound { entity: ENTITY }),
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org))]
    async fn count_unresolved_alerts(
        &self,
        org: OrgId,
    ) -> Result<Partial<Vec<(Severity, u64)>>, StoreError> {
        let queries = self.readable_shards().map(|(db, conn)| async move {
            let mut counts = Vec::new();
            for severity in Severity::ALL {
                let n = alerts::Entity::find()
                    .filter(alerts::Column::OrgId.eq(org.as_uuid()))
                    .filter(alerts::Column::State.ne(AlertState::Resolved.as_str()))
                    .filter(alerts::Column::Severity.eq(severity.as_str()))
                    .filter(self.owned_rows(db, "drone_id"))
                    .count(conn)
                    .await;
                match n {
                    Ok(n) => counts.push((*severity, n)),
                    Err(e) => return (db, Err(db.err(e))),
                }
            }
            (db, Ok(counts))
        });
        let (runs, missing_shards) = collect_runs(join_all(queries).await)?;
        let mut totals: Vec<(Severity, u64)> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        for (severity, n) in runs.into_iter().flatten() {
            if let Some(total) = totals.iter_mut().find(|(s, _)| *s == severity) {
                total.1 += n;
            }
        }
        Ok(Partial {
            value: totals,
            missing_shards,
        })
    }
}

impl Store {
    /// Moves an unresolved alert's `last_seen` forward to `at`.
    async fn touch(
        &self,
        drone: DroneId,
        kind: AlertKind,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (db, conn) = self.drone_shard(drone)?;
        alerts::Entity::update_many()
            .col_expr(alerts::Column::LastSeen, Expr::value(db_time(at)))
            .filter(alerts::Column::DroneId.eq(drone.as_uuid()))
            .filter(alerts::Column::Kind.eq(kind.as_str()))
            .filter(alerts::Column::State.ne(AlertState::Resolved.as_str()))
            .filter(alerts::Column::LastSeen.lt(db_time(at)))
            .exec(conn)
            .await
            .map_err(|e| db.err(e))?;
        Ok(())
    }
}

/// The unresolved alerts of the observations' drones, by drone and kind.
async fn unresolved_of(
    db: Db,
    conn: &DatabaseConnection,
    observations: &[&Observation],
) -> Result<HashMap<(DroneId, AlertKind), Alert>, StoreError> {
    let drones: Vec<uuid::Uuid> = observations
        .iter()
        .map(|o| o.event.drone_id.as_uuid())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut found = HashMap::new();
    for chunk in drones.chunks(BULK_ROWS) {
        let rows = alerts::Entity::find()
            .filter(alerts::Column::DroneId.is_in(chunk.iter().copied()))
            .filter(alerts::Column::State.ne(AlertState::Resolved.as_str()))
            .all(conn)
            .await
            .map_err(|e| db.err(e))?;
        for row in rows {
            let alert = from_row(row)?;
            found.insert((alert.drone_id, alert.kind), alert);
        }
    }
    Ok(found)
}

/// The observations that open an alert nothing else of the batch touches (they can be
/// inserted together), and the rest.
fn split_fresh<'o>(
    share: Vec<&'o Observation>,
    unresolved: &HashMap<(DroneId, AlertKind), Alert>,
) -> (Vec<&'o Observation>, Vec<&'o Observation>) {
    let mut touches: HashMap<(DroneId, AlertKind), usize> = HashMap::new();
    for o in &share {
        *touches.entry((o.event.drone_id, o.event.kind)).or_default() += 1;
    }
    share.into_iter().partition(|o| {
        let key = (o.event.drone_id, o.event.kind);
        matches!(o.event.change, Change::Raised | Change::Updated)
            && !unresolved.contains_key(&key)
            && touches.get(&key) == Some(&1)
    })
}

/// Opens the alerts of `fresh` a few hundred a statement. A statement that meets an alert
/// another writer opened meanwhile (a Kafka rebalance) stores its share one by one instead,
/// counting on the other writer's alert.
async fn insert_fresh(
    db: Db,
    conn: &DatabaseConnection,
    fresh: &[&Observation],
) -> Result<Vec<AlertNotice>, StoreError> {
    let mut notices = Vec::new();
    for chunk in fresh.chunks(BULK_ROWS) {
        let now = super::now();
        let opened: Vec<Alert> = chunk.iter().map(|o| opened(o, now)).collect();
        let rows = opened.iter().map(to_row).collect::<Result<Vec<_>, _>>()?;
        match alerts::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await
        {
            Ok(_) => notices.extend(
                opened
                    .into_iter()
                    .map(|a| AlertNotice::new(NoticeChange::Raised, a)),
            ),
            Err(err) if is_unique_violation(&err) => {
                for o in chunk {
                    notices.extend(record(db, conn, o, None).await?);
                }
            }
            Err(err) => return Err(db.err(err)),
        }
    }
    Ok(notices)
}

/// The alert an observation opens.
fn opened(o: &Observation, now: DateTime<Utc>) -> Alert {
    let e = &o.event;
    Alert {
        id: AlertId::for_slot(domain::shard::slot_of(e.drone_id)),
        org_id: o.org_id,
        drone_id: e.drone_id,
        flight_plan_id: o.flight_plan_id,
        kind: e.kind,
        severity: e.severity,
        state: AlertState::Open,
        first_seen: db_time(e.at),
        last_seen: db_time(o.point.map_or(e.at, |p| p.ts.max(e.at))),
        count: 1,
        point: o.point,
        detail: e.detail.clone(),
        acknowledged_at: None,
        acknowledged_by: None,
        acknowledge_note: None,
        resolved_at: None,
        resolved_by: None,
        resolve_note: None,
        updated_at: now,
        version: 1,
    }
}

/// One drone's observations on its shard, in order. The first of each kind starts from
/// `unresolved`, read for the whole batch.
async fn record_run(
    db: Db,
    conn: &DatabaseConnection,
    run: Vec<&Observation>,
    unresolved: &HashMap<(DroneId, AlertKind), Alert>,
) -> Result<Vec<AlertNotice>, StoreError> {
    let mut notices = Vec::new();
    let mut started = HashSet::new();
    for o in run {
        let key = (o.event.drone_id, o.event.kind);
        let known = started.insert(key).then(|| unresolved.get(&key).cloned());
        if let Some(notice) = record(db, conn, o, known).await? {
            notices.push(notice);
        }
    }
    Ok(notices)
}

/// One observation on its shard: what it changed, if anything. `known`: the unresolved
/// alert of its drone and kind as just read, if it was (else it is read here).
async fn record(
    db: Db,
    conn: &DatabaseConnection,
    o: &Observation,
    mut known: Option<Option<Alert>>,
) -> Result<Option<AlertNotice>, StoreError> {
    let e = &o.event;
    for _ in 0..RETRIES {
        let unresolved = match known.take() {
            Some(known) => known,
            None => find_unresolved(db, conn, e.drone_id, e.kind).await?,
        };
        let now = super::now();
        let (change, next, expected) = match (e.change, unresolved) {
            (Change::Resolved, None) => return Ok(None),
            (Change::Raised | Change::Updated, None) => {
                let alert = opened(o, now);
                match alerts::Entity::insert(to_row(&alert)?)
                    .exec_without_returning(conn)
                    .await
                {
                    Ok(_) => return Ok(Some(AlertNotice::new(NoticeChange::Raised, alert))),
                    // Another writer opened it first: count on it instead.
                    Err(err) if is_unique_violation(&err) => continue,
                    Err(err) => return Err(db.err(err)),
                }
            }
            (change, Some(open)) => {
                let mut next = open.clone();
                let seen = db_time(o.point.map_or(e.at, |p| p.ts.max(e.at)));
                next.last_seen = next.last_seen.max(seen);
                next.updated_at = now;
                match change {
                    Change::Raised => {
                        next.count += 1;
                        next.severity = e.severity;
                        next.detail = e.detail.clone();
                        next.point = o.point.or(next.point);
                    }
                    Change::Updated => {
                        next.severity = e.severity;
                        next.detail = e.detail.clone();
                        next.point = o.point.or(next.point);
                    }
                    Change::Resolved => {
                        next.state = AlertState::Resolved;
                        next.resolved_at = Some(db_time(e.at));
                        next.resolved_by = Some(Resolver::System);
                    }
                }
                (NoticeChange::from(change), next, open.version)
            }
        };
        if write(db, conn, next.clone(), expected).await? {
            return Ok(Some(AlertNotice::new(
                change,
                Alert {
                    version: expected + 1,
                    ..next
                },
            )));
        }
        // A person acknowledged or resolved it meanwhile: read it again.
    }
    Err(StoreError::VersionMismatch { entity: ENTITY })
}

/// Writes `alert` over the stored row at `expected_version`; false when the row moved on.
async fn write(
    db: Db,
    conn: &DatabaseConnection,
    alert: Alert,
    expected_version: i64,
) -> Result<bool, StoreError> {
    let mut row = to_row(&alert)?;
    row.version = Set(expected_version + 1);
    let result = alerts::Entity::update_many()
        .set(row)
        .filter(alerts::Column::Id.eq(alert.id.as_uuid()))
        .filter(alerts::Column::OrgId.eq(alert.org_id.as_uuid()))
        .filter(alerts::Column::Version.eq(expected_version))
        .exec(conn)
        .await
        .map_err(|e| db.err(e))?;
    Ok(result.rows_affected == 1)
}

async fn find_unresolved(
    db: Db,
    conn: &DatabaseConnection,
    drone: DroneId,
    kind: AlertKind,
) -> Result<Option<Alert>, StoreError> {
    alerts::Entity::find()
        .filter(alerts::Column::DroneId.eq(drone.as_uuid()))
        .filter(alerts::Column::Kind.eq(kind.as_str()))
        .filter(alerts::Column::State.ne(AlertState::Resolved.as_str()))
        .one(conn)
        .await
        .map_err(|e| db.err(e))?
        .map(from_row)
        .transpose()
}

async fn find(
    db: Db,
    conn: &DatabaseConnection,
    org: OrgId,
    id: AlertId,
) -> Result<Option<Alert>, StoreError> {
    alerts::Entity::find()
        .filter(alerts::Column::Id.eq(id.as_uuid()))
        .filter(alerts::Column::OrgId.eq(org.as_uuid()))
        .one(conn)
        .await
        .map_err(|e| db.err(e))?
        .map(from_row)
        .transpose()
}

async fn list_on_shard(
    db: Db,
    conn: &DatabaseConnection,
    owned: sea_orm::Condition,
    org: OrgId,
    filter: &AlertFilter,
    page: PageRequest,
) -> Result<Vec<Alert>, StoreError> {
    let mut query = alerts::Entity::find()
        .filter(alerts::Column::OrgId.eq(org.as_uuid()))
        .filter(owned);
    if let Some(drone) = filter.drone_id {
        query = query.filter(alerts::Column::DroneId.eq(drone.as_uuid()));
    }
    match filter.state {
        Some(StateFilter::Is(state)) => {
            query = query.filter(alerts::Column::State.eq(state.as_str()));
        }
        Some(StateFilter::Active) => {
            query = query.filter(alerts::Column::State.ne(AlertState::Resolved.as_str()));
        }
        None => {}
    }
    if let Some(kind) = filter.kind {
        query = query.filter(alerts::Column::Kind.eq(kind.as_str()));
    }
    if let Some(severity) = filter.severity {
        query = query.filter(alerts::Column::Severity.eq(severity.as_str()));
    }
    if let Some(min) = filter.min_severity {
        let at_least = Severity::ALL
            .iter()
            .filter(|s| **s >= min)
            .map(|s| s.as_str());
        query = query.filter(alerts::Column::Severity.is_in(at_least));
    }
    if let Some(since) = filter.since {
        query = query.filter(alerts::Column::LastSeen.gte(db_time(since)));
    }
    if let Some(until) = filter.until {
        query = query.filter(alerts::Column::FirstSeen.lte(db_time(until)));
    }
    if let Some(after) = page.after {
        query = query.filter(alerts::Column::Id.lt(after));
    }
    query
        .order_by_desc(alerts::Column::Id)
        .limit(u64::from(page.limit) + 1)
        .all(conn)
        .await
        .map_err(|e| db.err(e))?
        .into_iter()
        .map(from_row)
        .collect()
}

fn to_row(a: &Alert) -> Result<alerts::ActiveModel, StoreError> {
    let detail = serde_json::to_value(&a.detail).map_err(StoreError::backend)?;
    Ok(alerts::ActiveModel {
        id: Set(a.id.as_uuid()),
        org_id: Set(a.org_id.as_uuid()),
        drone_id: Set(a.drone_id.as_uuid()),
        flight_plan_id: Set(a.flight_plan_id.map(|p| p.as_uuid())),
        kind: Set(a.kind.as_str().to_owned()),
        severity: Set(a.severity.as_str().to_owned()),
        state: Set(a.state.as_str().to_owned()),
        first_seen: Set(db_time(a.first_seen)),
        last_seen: Set(db_time(a.last_seen)),
        count: Set(a.count),
        point_lat: Set(a.point.map(|p| p.lat)),
        point_lon: Set(a.point.map(|p| p.lon)),
        point_alt_m: Set(a.point.map(|p| p.alt_m)),
        point_ts: Set(a.point.map(|p| db_time(p.ts))),
        detail: Set(detail),
        acknowledged_at: Set(a.acknowledged_at.map(db_time)),
        acknowledged_by: Set(a.acknowledged_by.map(|u| u.as_uuid())),
        acknowledge_note: Set(a.acknowledge_note.clone()),
        resolved_at: Set(a.resolved_at.map(db_time)),
        resolved_by: Set(a.resolved_by.map(|r| match r {
            Resolver::System => "system".to_owned(),
            Resolver::User(u) => u.to_string(),
        })),
        resolve_note: Set(a.resolve_note.clone()),
        updated_at: Set(db_time(a.updated_at)),
        version: Set(a.version),
    })
}

fn from_row(row: alerts::Model) -> Result<Alert, StoreError> {
    let corrupt = |detail: String| CorruptRow::err(ENTITY, row.id, detail);
    let kind = AlertKind::parse(&row.kind)
        .ok_or_else(|| corrupt(format!("unknown kind `{}`", row.kind)))?;
    let severity = Severity::parse(&row.severity)
        .ok_or_else(|| corrupt(format!("unknown severity `{}`", row.severity)))?;
    let state = AlertState::parse(&row.state)
        .ok_or_else(|| corrupt(format!("unknown state `{}`", row.state)))?;
    let detail: Detail =
        serde_json::from_value(row.detail.clone()).map_err(|e| corrupt(format!("detail: {e}")))?;
    let resolved_by = match row.resolved_by.as_deref() {
        None => None,
        Some("system") => Some(Resolver::System),
        Some(user) => Some(Resolver::User(
            user.parse::<UserId>()
                .map_err(|e| corrupt(format!("resolved_by: {e}")))?,
        )),
    };
    let point = match (row.point_lat, row.point_lon, row.point_alt_m, row.point_ts) {
        (Some(lat), Some(lon), Some(alt_m), Some(ts)) => Some(AlertPoint {
            lat,
            lon,
            alt_m,
            ts,
        }),
        _ => None,
    };
    Ok(Alert {
        id: AlertId::from_uuid(row.id),
        org_id: OrgId::from_uuid(row.org_id),
        drone_id: DroneId::from_uuid(row.drone_id),
        flight_plan_id: row.flight_plan_id.map(FlightPlanId::from_uuid),
        kind,
        severity,
        state,
        first_seen: row.first_seen,
        last_seen: row.last_seen,
        count: row.count,
        point,
        detail,
        acknowledged_at: row.acknowledged_at,
        acknowledged_by: row.acknowledged_by.map(UserId::from_uuid),
        acknowledge_note: row.acknowledge_note,
        resolved_at: row.resolved_at,
        resolved_by,
        resolve_note: row.resolve_note,
        updated_at: row.updated_at,
        version: row.version,
    })
}
