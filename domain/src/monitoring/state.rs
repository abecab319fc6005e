//! The per-drone state machine.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::timers::Deadlines;
use super::{AlertEvent, AlertKind, Change, Detail, MonitorRules, Severity};
use crate::airspace::{distance_to_path_m, AirspaceIndex, FenceKind};
use crate::ids::{DroneId, GeofenceId};
use crate::position::Position;
use crate::telemetry::TelemetryPoint;

/// The drone's active plan, as the monitor needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanCorridor {
    pub path: Vec<Position>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub lateral_buffer_m: f64,
    pub vertical_buffer_m: f64,
    /// The plan has an authorisation for restricted fences.
    pub authorized: bool,
}

/// What one point came to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judged {
    /// Alerts that opened, changed or closed.
    pub events: Vec<AlertEvent>,
    /// Older than the drone's newest point: judged for the record only.
    pub late: bool,
    /// What was non-conforming at this point, whatever its age (the record).
    pub findings: Vec<AlertKind>,
}

#[derive(Debug, Clone, Default)]
struct DroneState {
    newest: Option<DateTime<Utc>>,
    /// When the newest point arrived (the link deadline counts from it, not from the
    /// drone's clock).
    arrived: Option<DateTime<Utc>>,
    open: BTreeMap<AlertKind, Severity>,
    /// Fences the drone is in, by hysteresis: entered when inside, left only beyond it.
    inside: BTreeMap<GeofenceId, String>,
    /// First offending point of each excursion still within its grace time.
    excursions: HashMap<AlertKind, DateTime<Utc>>,
    /// The sensor values of the last point, and the first point that had them.
    last_values: Option<[u64; 6]>,
    unchanged_since: Option<DateTime<Utc>>,
    /// Its own link timeout (a satellite link may take 120 s), as its last point found it
    /// in the airspace index's overrides.
    link_timeout_s: Option<f64>,
}

/// The state of every monitored drone, and their link deadlines.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    rules: MonitorRules,
    drones: HashMap<DroneId, DroneState>,
    deadlines: Deadlines,
}

impl Monitor {
    pub fn new(rules: MonitorRules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// Drones with state, and link deadlines pending (for metrics).
    pub fn monitored(&self) -> (usize, usize) {
        (self.drones.len(), self.deadlines.len())
    }

    /// The earliest link deadline: when to call [`Self::expire`] next.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.next()
    }

    /// Whether the drone has an alert of `kind` open here.
    pub fn is_open(&self, drone: DroneId, kind: AlertKind) -> bool {
        self.drones
            .get(&drone)
            .is_some_and(|d| d.open.contains_key(&kind))
    }

    /// Whether the drone has state here (else [`Self::restore`] it first).
    pub fn knows(&self, drone: DroneId) -> bool {
        self.drones.contains_key(&drone)
    }

    /// Rebuilds a drone's state after a start or a rebalance: its unresolved alerts and its
    /// newest stored point. A drone that was flying gets a link deadline counted from `now`,
    /// so one that went silent while nobody watched is declared lost one timeout later (its
    /// own `link_timeout_s`, else the rules').
    pub fn restore(
        &mut self,
        drone: DroneId,
        open: impl IntoIterator<Item = (AlertKind, Severity)>,
        newest: Option<&TelemetryPoint>,
        link_timeout_s: Option<f64>,
        now: DateTime<Utc>,
    ) {
        let state = self.drones.entry(drone).or_default();
        state.link_timeout_s = link_timeout_s;
        let timeout = link_timeout_s.unwrap_or(self.rules.link_timeout_s);
        state.open.extend(open);
        if let Some(p) = newest {
            state.newest = state.newest.max(Some(p.ts));
            state.arrived = state.arrived.or(Some(now));
            let flying =
                p.speed_mps > self.rules.flying_speed_mps || p.alt_m > self.rules.flying_alt_m;
            if flying && !state.open.contains_key(&AlertKind::LinkLost) {
                self.deadlines.set(drone, now + seconds(timeout));
            }
        }
    }

    /// The drone's link timeout in seconds: its own, else the rules'.
    pub fn link_timeout(&self, drone: DroneId) -> f64 {
        self.drones
            .get(&drone)
            .and_then(|d| d.link_timeout_s)
            .unwrap_or(self.rules.link_timeout_s)
    }

    /// [`Self::observe_at`] for a point that arrived at its own timestamp (tests, replays).
    pub fn observe(
        &mut self,
        point: &TelemetryPoint,
        airspace: &AirspaceIndex,
        plan: Option<&PlanCorridor>,
    ) -> Judged {
        self.observe_at(point, airspace, plan, point.ts)
    }

    /// Judges one accepted point of the drone, given the organisation's airspace and the
    /// drone's active plan (if any), at `arrived` (when it reached this process). Points of
    /// one drone must come in the order written.
    pub fn observe_at(
        &mut self,
        point: &TelemetryPoint,
        airspace: &AirspaceIndex,
        plan: Option<&PlanCorridor>,
        arrived: DateTime<Utc>,
    ) -> Judged {
        let rules = self.rules;
        let overrides = airspace.overrides();
        let own_timeout = overrides.link_timeouts.get(&point.drone_id).copied();
        let timeout = own_timeout.unwrap_or(rules.link_timeout_s);
        let state = self.drones.entry(point.drone_id).or_default();
        state.link_timeout_s = own_timeout;
        let late = state.newest.is_some_and(|newest| point.ts < newest);
        let authorized = plan.is_some_and(|p| p.authorized);
        let offending_fences: Vec<(GeofenceId, String)> = airspace
            .fences_at(point.lon, point.lat, point.alt_m, point.ts)
            .filter(|f| match f.kind {
                FenceKind::Prohibited => true,
                FenceKind::Restricted => !authorized,
                FenceKind::Advisory => false,
            })
            .map(|f| (f.id, f.name.clone()))
            .collect();
        let flying = point.speed_mps > rules.flying_speed_mps || point.alt_m > rules.flying_alt_m;
        let conformance = conformance(point, plan, flying);
        let battery = battery_severity(point.battery_pct, overrides.battery.effective(&rules));

        let mut findings: Vec<AlertKind> = conformance.iter().map(|(k, _)| *k).collect();
        if !offending_fences.is_empty() {
            findings.push(AlertKind::GeofenceBreach);
        }
        if battery.is_some() {
            findings.push(AlertKind::BatteryLow);
        }
        findings.sort();
        if late {
            return Judged {
                events: Vec::new(),
                late: true,
                findings,
            };
        }
        state.newest = Some(point.ts);
        state.arrived = Some(arrived);
        let mut events = Vec::new();
        let drone = point.drone_id;
        let mut emit = |state: &mut DroneState, kind, severity: Option<Severity>, at, detail| {
            if let Some(event) = transition(state, drone, kind, severity, at, detail) {
                events.push(event);
            }
        };

        // The link: this point restores it; a flying drone (or one with an active plan) must
        // send the next one before its deadline.
        emit(state, AlertKind::LinkLost, None, point.ts, Detail::None);
        if flying || plan.is_some() {
            self.deadlines.set(drone, arrived + seconds(timeout));
        } else {
            self.deadlines.cancel(drone);
        }

        // Fences, with hysteresis on leaving.
        for (id, name) in &offending_fences {
            state.inside.insert(*id, name.clone());
        }
        state.inside.retain(|id, _| {
            offending_fences.iter().any(|(f, _)| f == id)
                || airspace.fence(*id).is_some_and(|f| {
                    f.applies_at(point.ts)
                        && f.shape.distance_outside_m(point.lon, point.lat)
                            <= rules.geofence_hysteresis_m
                        && f.band.contains(point.alt_m)
                })
        });
        let breach = state
            .inside
            .iter()
            .next()
            .map(|(id, name)| Detail::Geofence {
                geofence_id: *id,
                name: name.clone(),
            });
        match breach {
            Some(detail) => emit(
                state,
                AlertKind::GeofenceBreach,
                Some(Severity::Critical),
                point.ts,
                detail,
            ),
            None => emit(
                state,
                AlertKind::GeofenceBreach,
                None,
                point.ts,
                Detail::None,
            ),
        }

        // Corridor, band and planned window, each after its grace time.
        for kind in [
            AlertKind::OffCorridor,
            AlertKind::AltitudeDeviation,
            AlertKind::UnplannedFlight,
        ] {
            match conformance.iter().find(|(k, _)| *k == kind) {
                Some((_, detail)) => {
                    let since = *state.excursions.entry(kind).or_insert(point.ts);
                    let lasted_s = (point.ts - since).num_milliseconds() as f64 / 1e3;
                    if lasted_s >= rules.excursion_grace_s || state.open.contains_key(&kind) {
                        emit(state, kind, Some(Severity::Warning), since, detail.clone());
                    }
                }
                None => {
                    state.excursions.remove(&kind);
                    emit(state, kind, None, point.ts, Detail::None);
                }
            }
        }

        emit(
            state,
            AlertKind::BatteryLow,
            battery,
            point.ts,
            Detail::Battery {
                battery_pct: point.battery_pct,
            },
        );

        // A sensor repeating the same values under new timestamps.
        let values = [
            point.lat.to_bits(),
            point.lon.to_bits(),
            point.alt_m.to_bits(),
            point.speed_mps.to_bits(),
            point.heading_deg.to_bits(),
            point.battery_pct.to_bits(),
        ];
        if state.last_values == Some(values) {
            if let Some(since) = state.unchanged_since {
                let frozen_s = (point.ts - since).num_milliseconds() as f64 / 1e3;
                if frozen_s >= rules.frozen_after_s {
                    emit(
                        state,
                        AlertKind::TelemetryFrozen,
                        Some(Severity::Warning),
                        since,
                        Detail::None,
                    );
                }
            }
        } else {
            // This point starts a possible run of equal values.
            state.last_values = Some(values);
            state.unchanged_since = Some(point.ts);
            emit(
                state,
                AlertKind::TelemetryFrozen,
                None,
                point.ts,
                Detail::None,
            );
        }

        Judged {
            events,
            late: false,
            findings,
        }
    }

    /// Opens `link_lost` for every drone whose deadline passed by `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        for (drone, _) in self.deadlines.pop_due(now) {
            let Some(state) = self.drones.get_mut(&drone) else {
                continue;
            };
            let silent_s = state
                .arrived
                .map_or(0.0, |t| (now - t).num_milliseconds() as f64 / 1e3);
            let at = state.newest.unwrap_or(now);
            if let Some(event) = transition(
                state,
                drone,
                AlertKind::LinkLost,
                Some(Severity::Critical),
                at,
                Detail::Link { silent_s },
            ) {
                events.push(event);
            }
        }
        events
    }
}

fn seconds(s: f64) -> Duration {
    Duration::milliseconds((s * 1e3) as i64)
}

/// Opens, changes or closes one alert kind of one drone; `None` when nothing changed.
fn transition(
    state: &mut DroneState,
    drone: DroneId,
    kind: AlertKind,
    severity: Option<Severity>,
    at: DateTime<Utc>,
    detail: Detail,
) -> Option<AlertEvent> {
    let (change, severity) = match (state.open.get(&kind).copied(), severity) {
        (None, None) => return None,
        (Some(open), Some(now)) if open == now => return None,
        (None, Some(now)) => (Change::Raised, now),
        (Some(_), Some(now)) => (Change::Updated, now),
        (Some(open), None) => (Change::Resolved, open),
    };
    match change {
        Change::Resolved => state.open.remove(&kind),
        _ => state.open.insert(kind, severity),
    };
    Some(AlertEvent {
        drone_id: drone,
        kind,
        change,
        severity,
        at,
        detail,
    })
}

/// The battery's severity against (warning, critical) thresholds.
fn battery_severity(battery_pct: f64, (warn, critical): (f64, f64)) -> Option<Severity> {
    if battery_pct < critical {
        Some(Severity::Critical)
    } else if battery_pct < warn {
        Some(Severity::Warning)
    } else {
        None
    }
}

/// Which plan rules the point breaks: off the corridor, off the band, or flying outside
/// an active plan's window (or with none).
fn conformance(
    point: &TelemetryPoint,
    plan: Option<&PlanCorridor>,
    flying: bool,
) -> Vec<(AlertKind, Detail)> {
    let Some(plan) = plan.filter(|p| (p.start..=p.end).contains(&point.ts)) else {
        return if flying {
            vec![(AlertKind::UnplannedFlight, Detail::None)]
        } else {
            Vec::new()
        };
    };
    let path: Vec<(f64, f64)> = plan
        .path
        .iter()
        .map(|p| (p.lon.get(), p.lat.get()))
        .collect();
    let (distance_m, leg, t) = distance_to_path_m(point.lon, point.lat, &path);
    let mut broken = Vec::new();
    if distance_m > plan.lateral_buffer_m {
        broken.push((AlertKind::OffCorridor, Detail::Corridor { distance_m }));
    }
    let planned = match (plan.path.get(leg), plan.path.get(leg + 1)) {
        (Some(a), Some(b)) => a.alt_m.get() + (b.alt_m.get() - a.alt_m.get()) * t,
        (Some(a), None) => a.alt_m.get(),
        _ => point.alt_m,
    };
    let band = (
        planned - plan.vertical_buffer_m,
        planned + plan.vertical_buffer_m,
    );
    if point.alt_m < band.0 || point.alt_m > band.1 {
        broken.push((
            AlertKind::AltitudeDeviation,
            Detail::Altitude {
                alt_m: point.alt_m,
                band,
            },
        ));
    }
    broken
}
