use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{problem, TestApp};

/// Bad input on every write route gets a 4xx problem — never a 5xx, never a panic.
async fn bad_input_on_every_write_is_a_4xx_problem(app: TestApp) {
    let org = app.org("errors").await;
    let drone = app.drone(&org.operator, "ERR-1").await;
    let id = drone["id"].as_str().unwrap();
    let plan = crate::helpers::body(
        app.post(
            "/api/v1/flight-plans",
            &org.operator,
            &crate::flight_plans::plan_body(id),
        )
        .await,
    )
    .await;
    let plan_id = plan["id"].as_str().unwrap();
    let routes = [
        (Method::POST, "/api/v1/auth/login".to_owned()),
        (Method::POST, "/api/v1/users".to_owned()),
        (Method::POST, "/api/v1/drones".to_owned()),
        (Method::PATCH, format!("/api/v1/drones/{id}")),
        (Method::POST, format!("/api/v1/drones/{id}/api-keys")),
        (Method::POST, "/api/v1/flight-plans".to_owned()),
        (Method::PATCH, format!("/api/v1/flight-plans/{plan_id}")),
    ];
    let bodies: [&[u8]; 9] = [
        b"",
        b"{",
        b"not json",
        b"[]",
        b"null",
        b"{\"serial\": {\"nested\": [1, 2, {}]}}",
        b"{\"name\": 1e999}",
        b"{\"waypoints\": [{\"lat\": \"north\"}]}",
        b"{\"email\": \"\\u0000\", \"password\": \"\\ud800\"}",
    ];
    for (method, path) in &routes {
        for raw in bodies {
            let res = app
                .request(method.clone(), path, Some(&org.admin))
                .header("content-type", "application/json")
                .body(raw.to_vec())
                .send()
                .await
                .unwrap();
            let status = res.status();
            assert!(
                status.is_client_error(),
                "{method} {path} with {:?} answered {status}",
                String::from_utf8_lossy(raw)
            );
            let text = res.text().await.unwrap();
            assert!(text.contains("\"code\""), "{method} {path}: {text}");
        }
    }
}

async fn malformed_json_is_400_and_a_wrong_media_type_is_415(app: TestApp) {
    let org = app.org("errors").await;
    let res = app
        .request(Method::POST, "/api/v1/drones", Some(&org.operator))
        .header("content-type", "application/json")
        .body("{\"serial\": ")
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::BAD_REQUEST, "malformed_request").await;
    let res = app
        .request(Method::POST, "/api/v1/drones", Some(&org.operator))
        .header("content-type", "text/plain")
        .body("serial=1")
        .send()
        .await
        .unwrap();
    problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

async fn an_oversized_body_is_413(app: TestApp) {
    let org = app.org("errors").await;
    let huge = json!({"serial": "X", "name": "x".repeat(2 * 1024 * 1024)});
    let res = app.post("/api/v1/drones", &org.operator, &huge).await;
    problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

async fn ids_that_are_not_uuids_are_404(app: TestApp) {
    let org = app.org("errors").await;
    for path in [
        "/api/v1/drones/42",
        "/api/v1/users/x",
        "/api/v1/flight-plans/%00",
        "/api/v1/drones/nope/api-keys",
    ] {
        problem(
            app.get(path, &org.admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

both_backends!(
    bad_input_on_every_write_is_a_4xx_problem,
    malformed_json_is_400_and_a_wrong_media_type_is_415,
    an_oversized_body_is_413,
    ids_that_are_not_uuids_are_404,
);
