use chrono::{DateTime, Utc};

use crate::ids::OrgId;

/// The organisation's subscription; it sets the API rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Standard,
    Professional,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 4] = [
        Self::Free,
        Self::Standard,
        Self::Professional,
        Self::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Standard => "standard",
            Self::Professional => "professional",
            Self::Enterprise => "enterprise",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub plan: Plan,
    /// The rate limit of an Enterprise organisation (other plans use their plan's).
    pub custom_quota: Option<crate::limits::Quota>,
    /// Its own battery alert thresholds, where it set them.
    pub battery: crate::monitoring::BatteryThresholds,
    pub created_at: DateTime<Utc>,
}

impl Organization {
    /// The API rate limit that applies to this organisation.
    pub fn quota(&self) -> crate::limits::Quota {
        crate::limits::Quota::of_plan(self.plan, self.custom_quota)
    }
}
