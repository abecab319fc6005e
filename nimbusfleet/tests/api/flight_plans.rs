use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{body, fields, problem, TestApp};

pub fn plan_body(drone_id: &str) -> Value {
    let start = Utc::now() + Duration::hours(2);
    json!({
        "drone_id": drone_id,
        "name": "Bridge inspection",
        "waypoints": [
            {"lat": 47.3769, "lon": 8.5417, "alt_m": 0.0},
            {"lat": 47.3800, "lon": 8.5450, "alt_m": 60.0, "speed_mps": 12.0, "hold_s": 30.0},
            {"lat": 47.3769, "lon": 8.5417, "alt_m": 0.0}
        ],
        "planned_start": start.to_rfc3339(),
        "planned_end": (start + Duration::minutes(30)).to_rfc3339(),
    })
}

async fn step(app: &TestApp, token: &str, id: &str, action: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/flight-plans/{id}/{action}"),
        Some(token),
    )
    .send()
    .await
    .unwrap()
}

async fn a_plan_goes_from_draft_to_completed(app: TestApp) {
    let org = app.org("plans").await;
    let drone = app.drone(&org.operator, "FP-1").await;
    let res = app
        .post(
            "/api/v1/flight-plans",
            &org.operator,
            &plan_body(drone["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let plan = body(res).await;
    assert_eq!(plan["state"], "draft");
    assert_eq!(plan["waypoints"].as_array().unwrap().len(), 3);
    let distance = plan["estimate"]["distance_m"].as_f64().unwrap();
    assert!((800.0..1000.0).contains(&distance), "distance {distance}");
    assert!(plan["estimate"]["duration_s"].as_f64().unwrap() > 30.0);
    let id = plan["id"].as_str().unwrap();

    let edited = app
        .patch(
            &format!("/api/v1/flight-plans/{id}"),
            &org.operator,
            &json!({"name": "North side"}),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    assert_eq!(body(edited).await["name"], "North side");

    for (token, action, state) in [
        (&org.operator, "submit", "submitted"),
        (&org.admin, "approve", "approved"),
        (&org.operator, "activate", "active"),
        (&org.operator, "complete", "completed"),
    ] {
        let res = step(&app, token, id, action).await;
        assert_eq!(res.status(), StatusCode::OK, "{action}");
        assert_eq!(body(res).await["state"], state);
    }
    let done = body(
        app.get(&format!("/api/v1/flight-plans/{id}"), &org.viewer)
            .await,
    )
    .await;
    assert_eq!(done["state"], "completed");
    assert_eq!(done["version"], 6);
    problem(
        step(&app, &org.operator, id, "cancel").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
}

async fn plans_can_be_rejected_or_cancelled_and_illegal_steps_are_409(app: TestApp) {
    let org = app.org("plans").await;
    let drone = app.drone(&org.operator, "FP-2").await;
    let template = plan_body(drone["id"].as_str().unwrap());
    let new_plan = || app.post("/api/v1/flight-plans", &org.operator, &template);
    let a = body(new_plan().await).await;
    let a = a["id"].as_str().unwrap();
    problem(
        step(&app, &org.operator, a, "approve").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        step(&app, &org.admin, a, "approve").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    problem(
        step(&app, &org.operator, a, "activate").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    step(&app, &org.operator, a, "submit").await;
    problem(
        step(&app, &org.operator, a, "submit").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    let p = problem(
        app.patch(
            &format!("/api/v1/flight-plans/{a}"),
            &org.operator,
            &json!({"name": "x"}),
        )
        .await,
        StatusCode::CONFLICT,
        "not_editable",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("submitted"));
    assert_eq!(
        body(step(&app, &org.admin, a, "reject").await).await["state"],
        "rejected"
    );
    problem(
        step(&app, &org.admin, a, "cancel").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;

    let b = body(new_plan().await).await;
    let b = b["id"].as_str().unwrap();
    assert_eq!(
        body(step(&app, &org.operator, b, "cancel").await).await["state"],
        "cancelled"
    );
    problem(
        step(&app, &org.viewer, b, "submit").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        step(&app, &org.admin, b, "fly").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn a_grounded_drone_cannot_be_approved_or_activated(app: TestApp) {
    let org = app.org("plans").await;
    let drone = app.drone(&org.operator, "FP-3").await;
    let drone_path = format!("/api/v1/drones/{}", drone["id"].as_str().unwrap());
    let plan = body(
        app.post(
            "/api/v1/flight-plans",
            &org.operator,
            &plan_body(drone["id"].as_str().unwrap()),
        )
        .await,
    )
    .await;
    let id = plan["id"].as_str().unwrap();
    step(&app, &org.operator, id, "submit").await;
    app.patch(&drone_path, &org.operator, &json!({"status": "grounded"}))
        .await;
    problem(
        step(&app, &org.admin, id, "approve").await,
        StatusCode::CONFLICT,
        "drone_not_flyable",
    )
    .await;
    app.patch(&drone_path, &org.operator, &json!({"status": "active"}))
        .await;
    assert_eq!(
        step(&app, &org.admin, id, "approve").await.status(),
        StatusCode::OK
    );
    app.patch(&drone_path, &org.operator, &json!({"status": "retired"}))
        .await;
    problem(
        step(&app, &org.operator, id, "activate").await,
        StatusCode::CONFLICT,
        "drone_not_flyable",
    )
    .await;
    // And an approved plan keeps its drone from being deleted.
    problem(
        app.delete(&drone_path, &org.admin).await,
        StatusCode::CONFLICT,
        "drone_has_open_plans",
    )
    .await;
}

async fn a_bad_plan_lists_every_problem_with_field_and_waypoint(app: TestApp) {
    let org = app.org("plans").await;
    let drone = app.drone(&org.operator, "FP-4").await;
    let mut plan = plan_body(drone["id"].as_str().unwrap());
    plan["waypoints"][1]["alt_m"] = json!(500.0);
    plan["waypoints"][2]["lat"] = json!(95.0);
    plan["waypoints"][0]["speed_mps"] = json!(90.0);
    plan["planned_start"] = json!((Utc::now() - Duration::hours(1)).to_rfc3339());
    let res = app.post("/api/v1/flight-plans", &org.operator, &plan).await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let mut got = fields(&p);
    got.sort();
    assert_eq!(
        got,
        [
            "planned_start",
            "waypoints[0].speed_mps",
            "waypoints[1].alt_m",
            "waypoints[2].lat"
        ]
    );
    let alt = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "waypoints[1].alt_m")
        .unwrap();
    assert_eq!(alt["code"], "above_ceiling");

    let mut too_far = plan_body(drone["id"].as_str().unwrap());
    too_far["waypoints"][1]["lat"] = json!(48.5);
    let p = problem(
        app.post("/api/v1/flight-plans", &org.operator, &too_far)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "exceeds_endurance"),
        "{p}"
    );

    let mut one = plan_body(drone["id"].as_str().unwrap());
    one["waypoints"] = json!([{"lat": 47.0, "lon": 8.0, "alt_m": 10.0}]);
    let p = problem(
        app.post("/api/v1/flight-plans", &org.operator, &one).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["waypoints"]);

    let unknown = plan_body(&uuid::Uuid::new_v4().to_string());
    problem(
        app.post("/api/v1/flight-plans", &org.operator, &unknown)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn plans_are_listed_by_drone_state_and_time_window(app: TestApp) {
    let org = app.org("plans").await;
    let d1 = app.drone(&org.operator, "FP-5").await;
    let d2 = app.drone(&org.operator, "FP-6").await;
    let (d1, d2) = (d1["id"].as_str().unwrap(), d2["id"].as_str().unwrap());
    let mut ids = Vec::new();
    for (drone, hours) in [(d1, 2), (d1, 30), (d2, 2)] {
        let mut b = plan_body(drone);
        let start = Utc::now() + Duration::hours(hours);
        b["planned_start"] = json!(start.to_rfc3339());
        b["planned_end"] = json!((start + Duration::minutes(30)).to_rfc3339());
        ids.push(
            body(app.post("/api/v1/flight-plans", &org.operator, &b).await).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    step(&app, &org.operator, &ids[2], "submit").await;
    let count = |v: Value| v["items"].as_array().unwrap().len();
    assert_eq!(
        count(body(app.get("/api/v1/flight-plans", &org.viewer).await).await),
        3
    );
    assert_eq!(
        count(
            body(
                app.get(&format!("/api/v1/flight-plans?drone_id={d1}"), &org.viewer)
                    .await
            )
            .await
        ),
        2
    );
    let submitted = body(
        app.get("/api/v1/flight-plans?state=submitted", &org.viewer)
            .await,
    )
    .await;
    assert_eq!(submitted["items"][0]["id"], ids[2]);
    let to = (Utc::now() + Duration::hours(10))
        .to_rfc3339()
        .replace('+', "%2B");
    let soon = body(
        app.get(&format!("/api/v1/flight-plans?to={to}"), &org.viewer)
            .await,
    )
    .await;
    assert_eq!(count(soon), 2);
    let from = (Utc::now() + Duration::hours(20))
        .to_rfc3339()
        .replace('+', "%2B");
    let later = body(
        app.get(
            &format!("/api/v1/flight-plans?from={from}&drone_id={d1}"),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert_eq!(later["items"][0]["id"], ids[1]);
    assert_eq!(count(later), 1);
    problem(
        app.get("/api/v1/flight-plans?state=flying", &org.viewer)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    let paged = body(app.get("/api/v1/flight-plans?limit=2", &org.viewer).await).await;
    let rest = body(
        app.get(
            &format!(
                "/api/v1/flight-plans?limit=2&cursor={}",
                paged["next_cursor"].as_str().unwrap()
            ),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert_eq!(count(paged) + count(rest), 3);
}

async fn a_viewer_cannot_plan(app: TestApp) {
    let org = app.org("plans").await;
    let drone = app.drone(&org.operator, "FP-7").await;
    let res = app
        .post(
            "/api/v1/flight-plans",
            &org.viewer,
            &plan_body(drone["id"].as_str().unwrap()),
        )
        .await;
    problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

/// An admin's rejection says why; other steps take no reason.
async fn a_rejection_keeps_its_reason_for_the_author(app: TestApp) {
    let org = app.org("reasons").await;
    let drone = app.drone(&org.operator, "FP-R").await;
    let plan = body(
        app.post(
            "/api/v1/flight-plans",
            &org.operator,
            &plan_body(drone["id"].as_str().unwrap()),
        )
        .await,
    )
    .await;
    let id = plan["id"].as_str().unwrap();
    assert!(plan["rejection_reason"].is_null());
    assert_eq!(step(&app, &org.operator, id, "submit").await.status(), 200);
    let path = format!("/api/v1/flight-plans/{id}/approve");
    let refused = app
        .post(&path, &org.admin, &json!({"reason": "looks fine"}))
        .await;
    let refused = problem(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&refused), ["reason"]);
    let path = format!("/api/v1/flight-plans/{id}/reject");
    let too_long = app
        .post(&path, &org.admin, &json!({"reason": "x".repeat(501)}))
        .await;
    problem(
        too_long,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let rejected = app
        .post(
            &path,
            &org.admin,
            &json!({"reason": "  crosses the approach path  "}),
        )
        .await;
    assert_eq!(rejected.status(), StatusCode::OK);
    let rejected = body(rejected).await;
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["rejection_reason"], "crosses the approach path");
    let read = body(
        app.get(&format!("/api/v1/flight-plans/{id}"), &org.viewer)
            .await,
    )
    .await;
    assert_eq!(read["rejection_reason"], "crosses the approach path");
}

both_backends!(
    a_rejection_keeps_its_reason_for_the_author,
    a_plan_goes_from_draft_to_completed,
    plans_can_be_rejected_or_cancelled_and_illegal_steps_are_409,
    a_grounded_drone_cannot_be_approved_or_activated,
    a_bad_plan_lists_every_problem_with_field_and_waypoint,
    plans_are_listed_by_drone_state_and_time_window,
    a_viewer_cannot_plan,
);
