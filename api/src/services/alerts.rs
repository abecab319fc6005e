//! Alerts as people see them: listed across shards, read, acknowledged and resolved. What
//! a person changes reaches every replica's live streams like what the monitor changes.

use std::sync::Arc;

use chrono::Utc;
use domain::monitoring::{
    parse_note, Alert, AlertAction, AlertFilter, AlertState, NoticeChange, Severity,
};
use domain::page::{Page, PageRequest, Partial};
use domain::ports::AlertRepository;
use domain::{AlertId, OrgId, UserId};
use infra::live::LivePublisher;

use crate::error::{ApiError, Code};
use crate::state::AppState;

#[derive(Clone)]
pub struct AlertService {
    alerts: Arc<dyn AlertRepository>,
    live: Arc<dyn LivePublisher>,
}

impl AlertService {
    pub fn new(state: &AppState) -> Self {
        Self {
            alerts: state.repos.alerts.clone(),
            live: state.telemetry.publisher.clone(),
        }
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
