//! The OpenAPI document. `nimbusfleet openapi` prints it; `openapi/openapi.json` is that
//! output, committed, and a test fails when the two differ.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::dto::{Problem, ProblemField};
use crate::error::Code;
use crate::routes::{
    admin, alerts, api_keys, auth, drones, fleet, flight_plans, geofences, health, live,
    organization, telemetry, users, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "NimbusFleet API",
        description = "Drone fleet management: drones, flight plans, users, device keys, live telemetry, airspace and alerts.\n\n\
            Every authenticated answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` \
            (the organisation's plan: Free 10 req/s burst 50, Standard 100/500, Professional 500/2000); \
            past the limit the answer is `429` with `Retry-After`. POSTs accept an `Idempotency-Key` header: \
            a repeat with the same body replays the first answer (`Idempotent-Replayed: true`), another body is `422`.\n\n\
            Where the installation has read replicas, a successful write answers with a `nimbus-read-after` header; \
            send it back in the same header on later requests to read your own writes (lists and history then \
            wait for a replica to replay them, or read the primary). It is bound to your session or API key.\n\n\
            Units are in field names (`alt_m`, `speed_mps`, `endurance_min`). Positions are WGS 84 degrees; \
            altitudes are metres above the take-off point. Times are RFC 3339 UTC.\n\n\
            Errors are RFC 7807 `application/problem+json` documents with a stable `code` (see the `Problem` schema). \
            Lists are cursor-paginated: pass `next_cursor` back as `cursor` until it is `null`.",
        version = env!("CARGO_PKG_VERSION"),
        license(name = "Apache-2.0"),
    ),
    paths(
        health::live, health::ready, health::metrics,
        auth::login, auth::logout, auth::me,
        organization::get_organization,
        organization::get_monitoring,
        organization::update_monitoring,
        users::list_users, users::create_user, users::get_user, users::update_user, users::delete_user,
        drones::list_drones, drones::create_drone, drones::get_drone, drones::update_drone, drones::delete_drone,
        api_keys::create_api_key, api_keys::list_api_keys, api_keys::delete_api_key,
        flight_plans::list_plans, flight_plans::create_plan, flight_plans::get_plan,
        flight_plans::update_plan, flight_plans::transition_plan, flight_plans::plan_conflicts,
        geofences::list_geofences, geofences::create_geofence, geofences::get_geofence,
        geofences::update_geofence, geofences::delete_geofence, geofences::export_geofences,
        geofences::import_geofences,
        telemetry::ingest_telemetry, telemetry::latest_telemetry, telemetry::telemetry_history,
        telemetry::export_telemetry,
        fleet::fleet_positions, fleet::fleet_replay, fleet::fleet_summary, live::live, live::live_ticket,
        alerts::list_alerts, alerts::get_alert, alerts::acknowledge_alert, alerts::resolve_alert,
        webhooks::list_webhooks, webhooks::create_webhook, webhooks::get_webhook,
        webhooks::update_webhook, webhooks::delete_webhook, webhooks::list_deliveries,
        admin::get_shards,
    ),
    components(schemas(Problem, ProblemField, Code)),
    modifiers(&Security, &CommonProblems),
    tags(
        (name = "auth", description = "Log in and out"),
        (name = "organization", description = "The caller's organisation"),
        (name = "users", description = "Users and roles (admins)"),
        (name = "drones", description = "The fleet register"),
        (name = "api-keys", description = "Device credentials (admins)"),
        (name = "flight-plans", description = "Planning and approval, checked against the airspace"),
        (name = "geofences", description = "Airspace restrictions: prohibited, restricted and advisory zones with altitude bands and schedules"),
        (name = "telemetry", description = "Batch ingest and each drone's history"),
        (name = "fleet", description = "The whole fleet: positions, summary, live stream"),
        (name = "alerts", description = "What the conformance monitor raised on live telemetry: geofence breaches, corridor and altitude deviations, unplanned flights, low battery, lost links, frozen sensors"),
        (name = "webhooks", description = "Alert changes delivered to the organisation's endpoints, signed (Standard Webhooks), retried for 24 hours (admins)"),
        (name = "admin", description = "The installation itself: shards and slot moves (installation admins, `auth.installation_admins`)"),
        (name = "operations", description = "Health and metrics"),
    ),
)]
pub struct ApiDoc;

/// `bearer`: a user's access token from `/api/v1/auth/login`. `api_key`: a drone's key
/// (`nfk_…`), sent as `X-API-Key` or as a bearer token.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A drone's API key (nfk_…); it acts for that drone only",
            ))),
        );
    }
}

/// Adds the answers every API operation can give (400, 500, 503; 401, 403 and 429 when it
/// needs a credential; 415 where it takes a JSON body) without repeating them on each
/// handler.
struct CommonProblems;

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

fn add_common(op: &mut Operation, secured: bool) {
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(description));
    };
    add(
        "400",
        "Malformed request: invalid JSON, query parameter or cursor",
    );
    if secured {
        add(
            "401",
            "Missing, invalid or expired credentials, or a session that has ended",
        );
        add("403", "The caller's role may not do this");
        add(
            "429",
            "The organisation's rate limit is exceeded; retry after `Retry-After` seconds",
        );
    }
    if has_body {
        add("415", "The body is not `application/json`");
    }
    add(
        "500",
        "Unexpected error; the body carries no details, the log does",
    );
    add(
        "503",
        "A dependency is unavailable; retry after `Retry-After` seconds",
    );
}

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                add_common(op, secured);
            }
        }
    }
}

/// The document as pretty JSON, exactly as committed in `openapi/openapi.json`.
pub fn document() -> Result<String, serde_json::Error> {
    let mut json = ApiDoc::openapi().to_pretty_json()?;
    json.push('\n');
    Ok(json)
}
