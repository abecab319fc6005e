//! Alerts as people see them: listed across shards, read, acknowledged and resolved. What
//! a person changes reaches every replica's live streams like what the monitor changes.
//! An organisation's own battery thresholds are set here too.

use std::sync::Arc;

use chrono::Utc;
use domain::monitoring::{
    parse_note, Alert, AlertAction, AlertFilter, AlertState, BatteryThresholds, MonitorRules,
    NoticeChange, Severity,
};
use domain::page::{Page, PageRequest, Partial};
use domain::ports::{AlertRepository, OrgRepository};
use domain::{AlertId, OrgId, UserId};
use infra::live::LivePublisher;

use crate::error::{ApiError, Code};
use crate::state::AppState;

#[derive(Clone)]
pub struct AlertService {
    alerts: Arc<dyn AlertRepository>,
    orgs: Arc<dyn OrgRepository>,
    live: Arc<dyn LivePublisher>,
    rules: MonitorRules,
    airspace: super::AirspaceService,
}

impl AlertService {
    pub fn new(state: &AppState) -> Self {
        Self {
            alerts: state.repos.alerts.clone(),
            orgs: state.repos.orgs.clone(),
            live: state.telemetry.publisher.clone(),
            rules: state.limits.monitor_rules,
            airspace: state.airspace.clone(),
        }
    }

    /// The installation's monitoring rules.
    pub fn rules(&self) -> &MonitorRules {
        &self.rules
    }

    /// Stores the organisation's own battery thresholds (checked against the installation's
    /// for what stays unset); every monitor applies them from its next point.
    pub async fn set_thresholds(
        &self,
        org: OrgId,
        battery: BatteryThresholds,
    ) -> Result<BatteryThresholds, ApiError> {
        battery.check(&self.rules)?;
        let stored = self.orgs.set_battery_thresholds(org, battery).await?;
        self.airspace.thresholds_changed(org, stored.battery).await;
        Ok(stored.battery)
    }

    pub async fn list(
        &self,
        org: OrgId,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<Page<Alert>, ApiError> {
        Ok(self.alerts.list_alerts(org, filter, page).await?)
    }

    pub async fn get(&self, org: OrgId, id: AlertId) -> Result<Alert, ApiError> {
        self.alerts
            .get_alert(org, id)
            .await?
            .ok_or(ApiError::NotFound("alert"))
    }

    /// Acknowledges or resolves the alert, with an optional note.
    pub async fn act(
        &self,
        org: OrgId,
        id: AlertId,
        action: AlertAction,
        by: UserId,
        note: Option<&str>,
    ) -> Result<Alert, ApiError> {
        let note = parse_note(note)?;
        let alert = self.get(org, id).await?;
        let next = action
            .apply(&alert, by, note, Utc::now())
            .map_err(|state| {
                ApiError::conflict(
                    Code::AlertClosed,
                    format!(
                        "the alert is {}: it cannot be {}d",
                        state.as_str(),
                        action.as_str()
                    ),
                )
            })?;
        let stored = self.alerts.update_alert(next, alert.version).await?;
        let change = match stored.state {
            AlertState::Resolved => NoticeChange::Resolved,
            _ => NoticeChange::Acknowledged,
        };
        self.live
            .publish_alerts(&[super::monitoring::notice(change, stored.clone())])
            .await;
        Ok(stored)
    }

    /// Unresolved alerts by severity.
    pub async fn unresolved(&self, org: OrgId) -> Result<Partial<Vec<(Severity, u64)>>, ApiError> {
        Ok(self.alerts.count_unresolved_alerts(org).await?)
    }
}
