use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::flight_plans::plan_body;
use crate::helpers::{body, problem, TestApp};

/// Every route that names another organisation's user, drone, key or plan answers 404,
/// exactly as for an id that does not exist.
async fn another_organisations_resources_are_404_on_every_route(app: TestApp) {
    let mine = app.org("mine").await;
    let theirs = app.org("theirs").await;
    let drone = app.drone(&theirs.operator, "THEIRS-1").await;
    let drone_id = drone["id"].as_str().unwrap().to_owned();
    let key = body(
        app.post(
            &format!("/api/v1/drones/{drone_id}/api-keys"),
            &theirs.admin,
            &json!({}),
        )
        .await,
    )
    .await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    let plan = body(
        app.post(
            "/api/v1/flight-plans",
            &theirs.operator,
            &plan_body(&drone_id),
        )
        .await,
    )
    .await;
    let plan_id = plan["id"].as_str().unwrap().to_owned();
    let me = body(app.get("/api/v1/auth/me", &theirs.viewer).await).await;
    let user_id = me["user"]["id"].as_str().unwrap().to_owned();

    let cases: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/users/{user_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{user_id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/users/{user_id}"), None),
        (Method::GET, format!("/api/v1/drones/{drone_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/drones/{drone_id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/drones/{drone_id}"), None),
        (
            Method::GET,
            format!("/api/v1/drones/{drone_id}/api-keys"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/drones/{drone_id}/api-keys"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/drones/{drone_id}/api-keys/{key_id}"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/flight-plans".to_owned(),
            Some(plan_body(&drone_id)),
        ),
        (Method::GET, format!("/api/v1/flight-plans/{plan_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/flight-plans/{plan_id}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            format!("/api/v1/flight-plans/{plan_id}/submit"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/flight-plans/{plan_id}/cancel"),
            None,
        ),
    ];
    for (method, path, payload) in cases {
        let mut request = app.request(method.clone(), &path, Some(&mine.admin));
        if let Some(payload) = &payload {
            request = request.json(payload);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
        problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Lists show none of it.
    let drones = body(app.get("/api/v1/drones", &mine.admin).await).await;
    assert!(drones["items"].as_array().unwrap().is_empty());
    let plans = body(
        app.get(
            &format!("/api/v1/flight-plans?drone_id={drone_id}"),
            &mine.admin,
        )
        .await,
    )
    .await;
    assert!(plans["items"].as_array().unwrap().is_empty());
    let users = body(app.get("/api/v1/users", &mine.admin).await).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 3);
    // A key of theirs cannot read my drones either.
    let my_drone = app.drone(&mine.operator, "MINE-1").await;
    let secret = key["secret"].as_str().unwrap();
    problem(
        app.get(
            &format!("/api/v1/drones/{}", my_drone["id"].as_str().unwrap()),
            secret,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // And nothing changed on their side.
    let still = body(
        app.get(&format!("/api/v1/flight-plans/{plan_id}"), &theirs.viewer)
            .await,
    )
    .await;
    assert_eq!(still["state"], "draft");
    assert_eq!(still["name"], "Bridge inspection");
}

both_backends!(another_organisations_resources_are_404_on_every_route);
