use chrono::{DateTime, Utc};
use domain::monitoring::{BatteryThresholds, MonitorRules};
use domain::org::{Organization, Plan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationResponse {
    pub id: Uuid,
    #[schema(example = "Demo Aviation")]
    pub name: String,
    /// Subscription plan; it sets the API rate limit.
    #[schema(schema_with = super::enums::plan, example = "free")]
    pub plan: Plan,
    /// The API rate limit of the plan, shared by all the organisation's users and keys.
    pub rate_limit: RateLimitDto,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RateLimitDto {
    #[schema(example = 10)]
    pub requests_per_second: u32,
    #[schema(example = 50)]
    pub burst: u32,
}

impl From<Organization> for OrganizationResponse {
    fn from(org: Organization) -> Self {
        let quota = org.quota();
        Self {
            rate_limit: RateLimitDto {
                requests_per_second: quota.per_second,
                burst: quota.burst,
            },
            id: org.id.as_uuid(),
            name: org.name,
            plan: org.plan,
            created_at: org.created_at,
        }
    }
}

/// The monitoring thresholds that apply to the organisation's drones.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MonitoringSettingsResponse {
    /// A battery below this raises a `battery_low` warning: the organisation's own value,
    /// else the installation's `monitoring.battery_warn_pct`.
    #[schema(example = 30.0)]
    pub battery_warn_pct: f64,
    /// A battery below this makes the alert critical.
    #[schema(example = 15.0)]
    pub battery_critical_pct: f64,
    /// The organisation's own values; `null` where the installation's apply.
    pub own: BatteryThresholdsDto,
    /// The installation's link timeout in seconds; a drone may have its own
    /// (`link_timeout_s` on the drone).
    #[schema(example = 5.0)]
    pub link_timeout_s: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatteryThresholdsDto {
    pub battery_warn_pct: Option<f64>,
    pub battery_critical_pct: Option<f64>,
}

impl MonitoringSettingsResponse {
    pub fn new(own: BatteryThresholds, rules: &MonitorRules) -> Self {
        let (battery_warn_pct, battery_critical_pct) = own.effective(rules);
        Self {
            battery_warn_pct,
            battery_critical_pct,
            own: BatteryThresholdsDto {
                battery_warn_pct: own.warn_pct,
                battery_critical_pct: own.critical_pct,
            },
            link_timeout_s: rules.link_timeout_s,
        }
    }
}

/// Changes the organisation's own thresholds: absent fields stay, `null` goes back to the
/// installation's value.
#[derive(Debug, Default, Serialize, Deserialize, validator::Validate, ToSchema)]
#[schema(example = json!({"battery_warn_pct": 40.0, "battery_critical_pct": 20.0}))]
#[serde(deny_unknown_fields)]
pub struct UpdateMonitoringRequest {
    /// 0–100, at or above the critical threshold.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<f64>, nullable)]
    pub battery_warn_pct: Option<Option<f64>>,
    /// 0–100, at or below the warning threshold.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<f64>, nullable)]
    pub battery_critical_pct: Option<Option<f64>>,
}

impl UpdateMonitoringRequest {
    /// The thresholds after this change.
    pub fn apply(self, current: BatteryThresholds) -> BatteryThresholds {
        BatteryThresholds {
            warn_pct: self.battery_warn_pct.unwrap_or(current.warn_pct),
            critical_pct: self.battery_critical_pct.unwrap_or(current.critical_pct),
        }
    }
}
