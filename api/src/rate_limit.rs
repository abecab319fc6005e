//! Per-organisation API rate limits (DESIGN §6): every authenticated request counts against
//! its organisation's plan, across all replicas when Redis is configured. Each answer
//! carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a refused one is
//! `429` with `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use domain::limits::{Quota, RateDecision};
use domain::org::Plan;
use domain::platform::RateLimiter;
use domain::ports::OrgRepository;
use domain::OrgId;
use moka::sync::Cache;
use prometheus::IntCounterVec;

use crate::error::ApiError;

/// How long a replica keeps an organisation's plan before reading it again: the delay
/// after which `admin set-plan` applies everywhere.
const PLAN_TTL: Duration = Duration::from_secs(30);
/// Most organisations whose plan a replica remembers.
const PLAN_CACHE_ENTRIES: u64 = 100_000;

#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    orgs: Arc<dyn OrgRepository>,
    plans: Cache<OrgId, (Plan, Quota)>,
    rejections: IntCounterVec,
}

impl RateLimits {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        orgs: Arc<dyn OrgRepository>,
        rejections: IntCounterVec,
    ) -> Self {
        Self {
            limiter,
            orgs,
            plans: Cache::builder()
                .max_capacity(PLAN_CACHE_ENTRIES)
                .time_to_live(PLAN_TTL)
                .build(),
            rejections,
        }
    }

    async fn plan_of(&self, org: OrgId) -> Result<(Plan, Quota), ApiError> {
        if let Some(known) = self.plans.get(&org) {
            return Ok(known);
        }
        let found = self
            .orgs
            .get_org(org)
            .await?
            .map(|o| (o.plan, o.quota()))
            .ok_or(ApiError::Unauthorized("the organisation no longer exists"))?;
        self.plans.insert(org, found);
        Ok(found)
    }

    /// Counts one request of `org`; the decision is also left on the request for the
    /// header middleware.
    pub async fn check(&self, org: OrgId, req: &actix_web::HttpRequest) -> Result<(), ApiError> {
        let (plan, quota) = self.plan_of(org).await?;
        let decision = self.limiter.check(&format!("org:{org}"), quota).await;
        req.extensions_mut().insert(decision);
        if decision.allowed {
            Ok(())
        } else {
            self.rejections.with_label_values(&[plan.as_str()]).inc();
            Err(ApiError::RateLimited {
                retry_after_s: decision.retry_after.as_secs_f64().ceil().max(1.0) as u32,
            })
        }
    }
}

fn seconds(d: Duration) -> HeaderValue {
    HeaderValue::from(d.as_secs_f64().ceil() as u64)
}

/// Adds the `RateLimit-*` headers to every answer of a rate-limited request.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let decision = res.request().extensions().get::<RateDecision>().copied();
    if let Some(d) = decision {
        let headers = res.headers_mut();
        headers.insert(
            HeaderName::from_static("ratelimit-limit"),
            HeaderValue::from(d.limit),
        );
        headers.insert(
            HeaderName::from_static("ratelimit-remaining"),
            HeaderValue::from(d.remaining),
        );
        headers.insert(
            HeaderName::from_static("ratelimit-reset"),
            seconds(d.reset_after),
        );
    }
    Ok(res)
}
