use reqwest::StatusCode;

use crate::helpers::{spawn, Backend};

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("openapi/openapi.json is missing; run `make openapi`");
    assert!(
        committed == api::openapi::document().unwrap(),
        "openapi/openapi.json is out of date; run `make openapi` and commit the result"
    );
}

#[test]
fn every_operation_is_documented_with_a_summary_and_error_answers() {
    let doc: serde_json::Value = serde_json::from_str(&api::openapi::document().unwrap()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/organization",
        "/api/v1/organization/monitoring",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/drones",
        "/api/v1/drones/{id}",
        "/api/v1/drones/{id}/api-keys",
        "/api/v1/drones/{id}/api-keys/{key_id}",
        "/api/v1/flight-plans",
        "/api/v1/flight-plans/{id}",
        "/api/v1/flight-plans/{id}/{action}",
        "/api/v1/flight-plans/{id}/conflicts",
        "/api/v1/geofences",
        "/api/v1/geofences/{id}",
        "/api/v1/geofences/import",
        "/api/v1/geofences/export",
        "/api/v1/telemetry",
        "/api/v1/drones/{id}/telemetry",
        "/api/v1/drones/{id}/telemetry/latest",
        "/api/v1/drones/{id}/telemetry/export",
        "/api/v1/fleet/positions",
        "/api/v1/fleet/replay",
        "/api/v1/fleet/summary",
        "/api/v1/live",
        "/api/v1/live/tickets",
        "/api/v1/alerts",
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{id}/acknowledge",
        "/api/v1/alerts/{id}/resolve",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/deliveries",
        "/api/v1/admin/shards",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
    assert_eq!(
        paths.len(),
        39,
        "undocumented or unexpected paths: {:?}",
        paths.keys()
    );
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op.get("summary").is_some() || op.get("description").is_some(),
                "{method} {path} has no description"
            );
            if path.starts_with("/api/") && path != "/api/v1/auth/login" {
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path} lacks 401"
                );
                assert!(
                    op["security"].as_array().is_some_and(|s| !s.is_empty()),
                    "{method} {path} lacks security"
                );
            }
        }
    }
    for scheme in ["bearer", "api_key"] {
        assert!(doc["components"]["securitySchemes"].get(scheme).is_some());
    }
}

#[tokio::test]
async fn the_docs_ui_and_document_are_served_without_internet() {
    let app = spawn(Backend::Sqlite).await;
    let doc = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), StatusCode::OK);
    let json: serde_json::Value = doc.json().await.unwrap();
    assert_eq!(json["info"]["title"], "NimbusFleet API");
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let ui = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    let html = ui.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let script = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
}
