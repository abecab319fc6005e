//! Telemetry: batch ingest onto the bus, and the reads over a drone's history.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::ports::{FlightPlanRepository, TelemetryBus, TelemetryStore};
use domain::telemetry::{
    may_report, validate_point, Bucket, Interval, PointInput, TelemetryPoint, TelemetryRules,
    TimeRange,
};
use domain::user::Role;
use domain::{DroneId, FieldCode, FieldError, FlightPlanId, OrgId, ValidationErrors};
use infra::pipeline::{DirectoryEntry, DroneDirectory, RecentCounter};

use super::{CacheAside, Cached, Loaded};
use crate::auth::Principal;
use crate::dto::PointDto;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Most buckets one downsampled read may return.
pub const MAX_BUCKETS: i64 = 10_000;
/// The header of a history answer that reaches into archived days: the instant (RFC 3339)
/// before which its points were read from the archive.
pub const ARCHIVED_BEFORE: &str = "archived-before";
/// `Retry-After` when every point of a batch is on a shard that is down.
const SHARD_RETRY_AFTER_S: u32 = 5;

/// Which page of a drone's raw points, at most `limit` of them.
#[derive(Debug, Clone, Copy)]
pub enum PointPage {
    /// Newest first, strictly before `before` when given (history pages).
    NewestBefore {
        before: Option<DateTime<Utc>>,
        limit: u32,
    },
    /// Oldest first, strictly after `after` when given (export pages).
    OldestAfter {
        after: Option<DateTime<Utc>>,
        limit: u32,
    },
}

/// What became of a batch: how many points were accepted, and why each other one was not
/// (by its index in the batch).
pub struct IngestOutcome {
    pub accepted: usize,
    pub total: usize,
    pub errors: Vec<(usize, FieldError)>,
}

#[derive(Clone)]
pub struct TelemetryService {
    store: Arc<dyn TelemetryStore>,
    plans: Arc<dyn FlightPlanRepository>,
    bus: Arc<dyn TelemetryBus>,
    directory: DroneDirectory,
    recent_points: Arc<RecentCounter>,
    cache: CacheAside,
    metrics: Metrics,
    rules: TelemetryRules,
    max_batch_points: usize,
}

/// Unknown drones one batch may name before the rest are refused without a lookup.
pub const MAX_UNKNOWN_DRONES: usize = 100;
/// Distinct flight plans one batch may name.
pub const MAX_PLANS_PER_BATCH: usize = 100;

/// A point's `flight_plan_id`, when given, must name a plan of its drone.
fn check_plan(
    input: &PointInput,
    plans: &HashMap<FlightPlanId, Option<DroneId>>,
) -> Result<(), FieldError> {
    match input.flight_plan_id {
        None => Ok(()),
        Some(plan) if plans.get(&plan).copied().flatten() == Some(input.drone_id) => Ok(()),
        Some(_) => Err(FieldError::new(
            "flight_plan_id",
            FieldCode::UnknownPlan,
            "no such flight plan for this drone",
        )),
    }
}

/// Only the first point of a drone at one `ts` is taken from a batch (the store keeps one
/// row per drone and time, so a second would be counted but never written).
fn first_in_batch(
    input: &PointInput,
    seen: &mut HashSet<(DroneId, i64)>,
) -> Result<(), FieldError> {
    if seen.insert((input.drone_id, input.ts.timestamp_micros())) {
        Ok(())
    } else {
        Err(FieldError::new(
            "ts",
            FieldCode::DuplicateInBatch,
            "another point of this drone at this time is earlier in the batch",
        ))
    }
}

impl TelemetryService {
    pub fn new(state: &AppState, cache: CacheAside) -> Self {
        Self {
            store: state.telemetry.store.clone(),
            plans: state.repos.plans.clone(),
            bus: state.telemetry.bus.clone(),
            directory: state.telemetry.directory.clone(),
            recent_points: state.telemetry.recent_points.clone(),
            cache,
            metrics: state.observability.metrics.clone(),
            rules: state.limits.telemetry_rules,
            max_batch_points: state.limits.max_batch_points,
        }
    }

    /// Checks each point on its own ([`may_report`], [`validate_point`]) and puts the
    /// accepted ones on the bus. Senders: a drone's API key (its own drone only) or an
    /// operator's or admin's token (any drone of the organisation).
    pub async fn ingest(
        &self,
        principal: &Principal,
        points: Vec<PointInput>,
    ) -> Result<IngestOutcome, ApiError> {
        let (org, own) = match principal {
            Principal::Device {
                org_id, drone_id, ..
            } => (*org_id, Some(*drone_id)),
            Principal::User(_) => (principal.require(Role::Operator)?.org_id, None),
        };
        if points.is_empty() {
            return Err(ApiError::invalid(
                "points",
                FieldCode::Empty,
                "must hold at least one point",
            ));
        }
        if points.len() > self.max_batch_points {
            return Err(ApiError::PayloadTooLargeDetail(format!(
                "a batch holds at most {} points; split it",
                self.max_batch_points
            )));
        }
        let statuses = self.statuses(org, own, &points).await?;
        let plans = self.plans_of(org, &points, &statuses).await?;
        let total = points.len();
        let now = Utc::now();
        let mut valid = Vec::with_capacity(total);
        let mut valid_index = Vec::with_capacity(total);
        let mut errors = Vec::new();
        let mut seen = HashSet::with_capacity(total);
        for (index, input) in points.into_iter().enumerate() {
            let status = statuses.get(&input.drone_id).copied().flatten();
            let result = may_report(input.drone_id, status, own)
                .and_then(|()| check_plan(&input, &plans))
                .map_err(|refusal| vec![refusal])
                .and_then(|()| validate_point(&input, org, &self.rules, now))
                .and_then(|point| {
                    first_in_batch(&input, &mut seen)
                        .map(|()| point)
                        .map_err(|e| vec![e])
                });
            match result {
                Ok(point) => {
                    valid.push(point);
                    valid_index.push(index);
                }
                Err(problems) => errors.extend(problems.into_iter().map(|e| (index, e))),
            }
        }
        if valid.is_empty() {
            self.count_rejections(&errors);
            return Err(ApiError::Validation(ValidationErrors(
                errors
                    .into_iter()
                    .map(|(index, e)| {
                        FieldError::new(format!("points[{index}].{}", e.field), e.code, e.message)
                    })
                    .collect(),
            )));
        }
        let delivery = self.bus.publish(valid).await?;
        if delivery.refused.len() == valid_index.len() {
            // Every valid point's shard is down: nothing was taken.
            return Err(ApiError::unavailable(
                "the storage of these drones is temporarily unavailable; send the batch again later",
                SHARD_RETRY_AFTER_S,
            ));
        }
        for refused in &delivery.refused {
            errors.push((
                valid_index[*refused],
                FieldError::new(
                    "drone_id",
                    FieldCode::ShardUnavailable,
                    "the shard holding this drone cannot take points now; send the point again later",
                ),
            ));
        }
        errors.sort_by_key(|(index, _)| *index);
        self.count_rejections(&errors);
        let count = valid_index.len() - delivery.refused.len();
        self.metrics.points_accepted.inc_by(count as u64);
        self.recent_points.add(org, count as u64, now);
        Ok(IngestOutcome {
            accepted: count,
            total,
            errors,
        })
    }

    fn count_rejections(&self, errors: &[(usize, FieldError)]) {
        for (_, e) in errors {
            self.metrics
                .points_rejected
                .with_label_values(&[e.code.as_str()])
                .inc();
        }
    }

    /// One directory lookup per distinct drone, and none for drones a key may not send.
    /// After [`MAX_UNKNOWN_DRONES`] unknown drones in a batch the rest are not looked up
    /// (they are refused as unknown), so a batch of random ids costs little.
    async fn statuses(
        &self,
        org: OrgId,
        own: Option<DroneId>,
        points: &[PointInput],
    ) -> Result<HashMap<DroneId, Option<domain::drone::DroneStatus>>, ApiError> {
        let mut statuses = HashMap::new();
        let mut unknown = 0;
        for point in points {
            let drone = point.drone_id;
            if own.is_some_and(|own| own != drone) || statuses.contains_key(&drone) {
                continue;
            }
            if unknown >= MAX_UNKNOWN_DRONES {
                statuses.insert(drone, None);
                continue;
            }
            let status = match self.directory.lookup(org, drone).await? {
                DirectoryEntry::Known(status) => Some(status),
                DirectoryEntry::Unknown => {
                    unknown += 1;
                    None
                }
            };
            statuses.insert(drone, status);
        }
        Ok(statuses)
    }

    /// The drone of each flight plan the batch names (for drones that may report), at most
    /// [`MAX_PLANS_PER_BATCH`] distinct plans looked up; a plan that does not exist in the
    /// organisation maps to `None`.
    async fn plans_of(
        &self,
        org: OrgId,
        points: &[PointInput],
        statuses: &HashMap<DroneId, Option<domain::drone::DroneStatus>>,
    ) -> Result<HashMap<FlightPlanId, Option<DroneId>>, ApiError> {
        let mut plans = HashMap::new();
        for point in points {
            let Some(plan) = point.flight_plan_id else {
                continue;
            };
            let known_drone = statuses.get(&point.drone_id).is_some_and(Option::is_some);
            if !known_drone || plans.contains_key(&plan) {
                continue;
            }
            let drone = if plans.len() < MAX_PLANS_PER_BATCH {
                self.plans.get_plan(org, plan).await?.map(|p| p.drone_id)
            } else {
                None
            };
            plans.insert(plan, drone);
        }
        Ok(plans)
    }

    /// The organisation and drone of a telemetry read, after checking the caller may read
    /// it: any user of the organisation, or the drone's own API key. Unknown → 404.
    pub async fn readable_drone(
        &self,
        principal: &Principal,
        drone: DroneId,
    ) -> Result<(OrgId, DroneId), ApiError> {
        if let Principal::User(_) = principal {
            principal.require(Role::Viewer)?;
        }
        if !principal.may_read_drone(drone) {
            return Err(ApiError::NotFound("drone"));
        }
        let org = principal.org_id();
        match self.directory.lookup(org, drone).await? {
            DirectoryEntry::Known(_) => Ok((org, drone)),
            DirectoryEntry::Unknown => Err(ApiError::NotFound("drone")),
        }
    }

    /// The drone's latest reported state, as its JSON answer (cached for a few seconds).
    pub async fn latest(&self, org: OrgId, drone: DroneId) -> Result<Vec<u8>, ApiError> {
        let key = (
            Cached::LatestTelemetry,
            Cached::LatestTelemetry.key(org, drone),
        );
        self.cache
            .read(key, || async {
                let point = self.store.latest(org, drone).await?;
                Ok(point.map(|p| Loaded {
                    version: None,
                    value: PointDto::from(p),
                }))
            })
            .await?
            .map(|cached| cached.body)
            .ok_or(ApiError::NotFound("telemetry of this drone"))
    }

    /// A page of raw points in `range`, in the order and from the point `page` says.
    pub async fn points(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        page: PointPage,
    ) -> Result<Vec<TelemetryPoint>, ApiError> {
        let points = match page {
            PointPage::NewestBefore { before, limit } => {
                self.store.history(org, drone, range, before, limit).await
            }
            PointPage::OldestAfter { after, limit } => {
                self.store
                    .history_ascending(org, drone, range, after, limit)
                    .await
            }
        };
        Ok(points?)
    }

    /// The `Archived-Before` header of a history answer over `range`: the instant before
    /// which its points come from the archive, when the range reaches back that far.
    pub async fn archive_header(
        &self,
        drone: DroneId,
        range: TimeRange,
    ) -> Result<Option<(&'static str, String)>, ApiError> {
        Ok(self
            .store
            .archived_until(drone)
            .await?
            .filter(|until| range.from < *until)
            .map(|until| {
                (
                    ARCHIVED_BEFORE,
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )
            }))
    }

    /// Buckets of `interval` over `range`; at most [`MAX_BUCKETS`].
    pub async fn downsample(
        &self,
        org: OrgId,
        drone: DroneId,
        range: TimeRange,
        interval: Interval,
    ) -> Result<Vec<Bucket>, ApiError> {
        if (range.to - range.from).num_seconds() / interval.seconds() > MAX_BUCKETS {
            return Err(ApiError::invalid_query(format!(
                "the range holds more than {MAX_BUCKETS} buckets of this interval; widen the interval"
            )));
        }
        Ok(self.store.downsample(org, drone, range, interval).await?)
    }
}
