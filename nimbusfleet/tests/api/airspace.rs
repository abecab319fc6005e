use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{body, fields, problem, spawn_replicas, Backend, Org, TestApp};

/// A 0.01° square (about 1.1 × 0.76 km) with its south-west corner at 8.50 E, 47.00 N.
fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[
        [8.50, 47.00], [8.51, 47.00], [8.51, 47.01], [8.50, 47.01], [8.50, 47.00]
    ]]})
}

fn fence(kind: &str) -> Value {
    json!({"name": format!("{kind} square"), "kind": kind, "geometry": square(), "lower_m": 0.0, "upper_m": 120.0})
}

/// West to east at 47.005 N: both waypoints outside the square, the leg through it.
fn through(drone: &str, start_in_h: i64) -> Value {
    let start = Utc::now() + Duration::hours(start_in_h);
    json!({
        "drone_id": drone,
        "name": "Crossing",
        "waypoints": [
            {"lat": 47.005, "lon": 8.495, "alt_m": 0.0},
            {"lat": 47.005, "lon": 8.497, "alt_m": 50.0},
            {"lat": 47.005, "lon": 8.515, "alt_m": 50.0}
        ],
        "planned_start": start.to_rfc3339(),
        "planned_end": (start + Duration::minutes(30)).to_rfc3339(),
    })
}

async fn create_fence(app: &TestApp, org: &Org, body_: &Value) -> Value {
    let res = app.post("/api/v1/geofences", &org.operator, body_).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    body(res).await
}

async fn geofences_are_created_listed_edited_and_deleted_by_operators_and_read_by_viewers(
    app: TestApp,
) {
    let org = app.org("fences").await;
    let prohibited = create_fence(&app, &org, &fence("prohibited")).await;
    assert_eq!(prohibited["version"], 1);
    assert_eq!(prohibited["datum"], "agl");
    assert_eq!(prohibited["active"], true);
    let circle = create_fence(
        &app,
        &org,
        &json!({"name": "Pad", "kind": "advisory", "circle": {"lat": 48.0, "lon": 11.0, "radius_m": 300.0},
                "lower_m": 0.0, "upper_m": 60.0, "datum": "amsl",
                "schedule": {"time_zone": "Europe/Berlin", "weekly": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]}}),
    )
    .await;
    assert_eq!(circle["circle"]["radius_m"], 300.0);
    assert_eq!(circle["schedule"]["weekly"][0]["end"], "06:00");

    problem(
        app.post("/api/v1/geofences", &org.viewer, &fence("advisory"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let all = body(app.get("/api/v1/geofences", &org.viewer).await).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let kind = body(
        app.get("/api/v1/geofences?kind=advisory", &org.viewer)
            .await,
    )
    .await;
    assert_eq!(kind["items"][0]["id"], circle["id"]);
    let near = body(
        app.get("/api/v1/geofences?bbox=8.4,46.9,8.6,47.1", &org.viewer)
            .await,
    )
    .await;
    assert_eq!(near["items"].as_array().unwrap().len(), 1);
    assert_eq!(near["items"][0]["id"], prohibited["id"]);
    let paged = body(app.get("/api/v1/geofences?limit=1", &org.viewer).await).await;
    assert!(paged["next_cursor"].is_string());

    let path = format!("/api/v1/geofences/{}", prohibited["id"].as_str().unwrap());
    let stale = app
        .request(reqwest::Method::PATCH, &path, Some(&org.operator))
        .header("If-Match", "\"7\"")
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let edited = body(
        app.patch(
            &path,
            &org.operator,
            &json!({"active": false, "upper_m": 90.0}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (edited["active"].clone(), edited["version"].clone()),
        (json!(false), json!(2))
    );
    assert_eq!(edited["upper_m"], 90.0);
    let read = app.get(&path, &org.viewer).await;
    assert_eq!(read.headers()["etag"], "\"2\"");
    assert_eq!(app.delete(&path, &org.operator).await.status(), 204);
    problem(
        app.get(&path, &org.viewer).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Another organisation sees none of them.
    let other = app.org("strangers").await;
    let foreign = format!("/api/v1/geofences/{}", circle["id"].as_str().unwrap());
    problem(
        app.get(&foreign, &other.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let theirs = body(app.get("/api/v1/geofences", &other.admin).await).await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
}

async fn a_bad_geofence_is_refused_naming_the_ring_and_vertex(app: TestApp) {
    let org = app.org("badfences").await;
    let bow_tie = json!({"name": "Bow tie", "kind": "prohibited", "lower_m": 100.0, "upper_m": 50.0,
        "geometry": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]]}});
    let refused = problem(
        app.post("/api/v1/geofences", &org.operator, &bow_tie).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&refused), ["geometry.coordinates[0][1]", "upper_m"]);
    assert_eq!(refused["errors"][0]["code"], "self_intersection");
    let neither = problem(
        app.post(
            "/api/v1/geofences",
            &org.operator,
            &json!({"name": "x", "kind": "prohibited", "lower_m": 0.0, "upper_m": 10.0}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&neither), ["geometry"]);
    let bad_kind = problem(
        app.post(
            "/api/v1/geofences",
            &org.operator,
            &json!({"name": "x", "kind": "forbidden", "geometry": square(), "lower_m": 0.0, "upper_m": 10.0}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&bad_kind), ["kind"]);
}

async fn a_plan_whose_leg_crosses_a_prohibited_fence_is_refused_at_that_leg(app: TestApp) {
    let org = app.org("crossing").await;
    let drone = app.drone(&org.operator, "X-1").await;
    let drone = drone["id"].as_str().unwrap();
    let fence = create_fence(&app, &org, &fence("prohibited")).await;
    let refused = problem(
        app.post("/api/v1/flight-plans", &org.operator, &through(drone, 2))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "geofence_violation",
    )
    .await;
    let v = &refused["violations"][0];
    assert_eq!(v["geofence_id"], fence["id"]);
    assert_eq!(v["leg"], "waypoints[1]→[2]");
    assert_eq!(v["leg_index"], 1);
    assert!((v["lon"].as_f64().unwrap() - 8.50).abs() < 1e-9, "{v}");
    assert_eq!(v["alt_m"], 50.0);
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .contains("prohibited square"));

    // With the band lowered below the path, the same plan is clear.
    let fence_path = format!("/api/v1/geofences/{}", fence["id"].as_str().unwrap());
    assert_eq!(
        app.patch(&fence_path, &org.operator, &json!({"upper_m": 40.0}))
            .await
            .status(),
        200
    );
    let res = app
        .post("/api/v1/flight-plans", &org.operator, &through(drone, 2))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn restricted_fences_need_an_authorization_and_advisory_ones_come_back_as_warnings(
    app: TestApp,
) {
    let org = app.org("restricted").await;
    let drone = app.drone(&org.operator, "R-1").await;
    let drone = drone["id"].as_str().unwrap();
    create_fence(&app, &org, &fence("restricted")).await;
    let refused = problem(
        app.post("/api/v1/flight-plans", &org.operator, &through(drone, 2))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "authorization_required",
    )
    .await;
    assert_eq!(refused["violations"][0]["kind"], "restricted");
    let mut authorized = through(drone, 2);
    authorized["authorization_ref"] = json!("FOCA-2026-117");
    let res = app
        .post("/api/v1/flight-plans", &org.operator, &authorized)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let plan = body(res).await;
    assert_eq!(plan["authorization_ref"], "FOCA-2026-117");
    assert_eq!(plan["warnings"][0]["kind"], "restricted");

    let mut advisory = fence("advisory");
    advisory["geometry"]["coordinates"][0] = json!([
        [8.511, 47.00],
        [8.514, 47.00],
        [8.514, 47.01],
        [8.511, 47.01],
        [8.511, 47.00]
    ]);
    create_fence(&app, &org, &advisory).await;
    let id = plan["id"].as_str().unwrap();
    let submitted = body(
        app.post(
            &format!("/api/v1/flight-plans/{id}/submit"),
            &org.operator,
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(submitted["state"], "submitted");
    let kinds: Vec<_> = submitted["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["restricted", "advisory"]);
}

async fn a_fence_created_later_flags_the_pending_plans_it_crosses(app: TestApp) {
    let org = app.org("later").await;
    let drone = app.drone(&org.operator, "L-1").await;
    let drone = drone["id"].as_str().unwrap();
    let crossing = body(
        app.post("/api/v1/flight-plans", &org.operator, &through(drone, 2))
            .await,
    )
    .await;
    let mut elsewhere = through(drone, 5);
    for w in elsewhere["waypoints"].as_array_mut().unwrap() {
        w["lat"] = json!(47.1);
    }
    app.post("/api/v1/flight-plans", &org.operator, &elsewhere)
        .await;
    let none = body(
        app.get("/api/v1/flight-plans?conflicts=true", &org.viewer)
            .await,
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");

    let fence = create_fence(&app, &org, &fence("prohibited")).await;
    let flagged = body(
        app.get("/api/v1/flight-plans?conflicts=true", &org.viewer)
            .await,
    )
    .await;
    let ids: Vec<_> = flagged["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, [crossing["id"].clone()]);
    let conflicts = body(
        app.get(
            &format!(
                "/api/v1/flight-plans/{}/conflicts",
                crossing["id"].as_str().unwrap()
            ),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert_eq!(conflicts["geofences"][0]["geofence_id"], fence["id"]);
    assert_eq!(conflicts["geofences"][0]["leg_index"], 1);
    // Submitting it now is refused.
    problem(
        app.post(
            &format!(
                "/api/v1/flight-plans/{}/submit",
                crossing["id"].as_str().unwrap()
            ),
            &org.operator,
            &json!({}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "geofence_violation",
    )
    .await;
}

/// Two drones on the same path at the same time.
async fn plans_whose_volumes_meet_conflict_at_submit_unless_an_admin_accepts_it(app: TestApp) {
    let org = app.org("deconflict").await;
    let (a, b) = (
        app.drone(&org.operator, "D-1").await,
        app.drone(&org.operator, "D-2").await,
    );
    let plan = |drone: &Value| through(drone["id"].as_str().unwrap(), 3);
    let first = body(
        app.post("/api/v1/flight-plans", &org.operator, &plan(&a))
            .await,
    )
    .await;
    let second = body(
        app.post("/api/v1/flight-plans", &org.operator, &plan(&b))
            .await,
    )
    .await;
    let step = |id: &Value, action: &str| {
        format!("/api/v1/flight-plans/{}/{action}", id.as_str().unwrap())
    };
    assert_eq!(
        app.post(&step(&first["id"], "submit"), &org.operator, &json!({}))
            .await
            .status(),
        200
    );
    let refused = problem(
        app.post(&step(&second["id"], "submit"), &org.operator, &json!({}))
            .await,
        StatusCode::CONFLICT,
        "plan_conflict",
    )
    .await;
    let c = &refused["conflicts"][0];
    assert_eq!(c["plan_id"], first["id"]);
    assert_eq!(c["state"], "submitted");
    assert!(c["from"].is_string() && c["to"].is_string() && c["alt_m"].is_number());
    let conflicts = body(
        app.get(
            &format!(
                "/api/v1/flight-plans/{}/conflicts",
                second["id"].as_str().unwrap()
            ),
            &org.viewer,
        )
        .await,
    )
    .await;
    assert_eq!(conflicts["plans"][0]["plan_id"], first["id"]);

    // Only an admin may accept the conflict.
    let accept = json!({"override_reason": "same operator, visual separation"});
    problem(
        app.post(&step(&second["id"], "submit"), &org.operator, &accept)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let accepted = body(
        app.post(&step(&second["id"], "submit"), &org.admin, &accept)
            .await,
    )
    .await;
    assert_eq!(accepted["state"], "submitted");
    assert_eq!(
        accepted["override_reason"],
        "same operator, visual separation"
    );
    // The first plan now meets the second at its approval.
    problem(
        app.post(&step(&first["id"], "approve"), &org.admin, &json!({}))
            .await,
        StatusCode::CONFLICT,
        "plan_conflict",
    )
    .await;
    let approved = body(
        app.post(
            &step(&first["id"], "approve"),
            &org.admin,
            &json!({"override_reason": "checked with the pilots"}),
        )
        .await,
    )
    .await;
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["override_reason"], "checked with the pilots");
    // The second was accepted at submit: its approval needs no second reason.
    let approved = body(
        app.post(&step(&second["id"], "approve"), &org.admin, &json!({}))
            .await,
    )
    .await;
    assert_eq!(approved["state"], "approved");

    // A cancelled plan frees its airspace.
    let third_drone = app.drone(&org.operator, "D-3").await;
    let third = body(
        app.post("/api/v1/flight-plans", &org.operator, &plan(&third_drone))
            .await,
    )
    .await;
    for id in [&first["id"], &second["id"]] {
        assert_eq!(
            app.post(&step(id, "cancel"), &org.operator, &json!({}))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        app.post(&step(&third["id"], "submit"), &org.operator, &json!({}))
            .await
            .status(),
        200
    );
}

async fn a_drone_is_never_double_booked_and_one_in_maintenance_cannot_be_approved(app: TestApp) {
    let org = app.org("booking").await;
    let drone = app.drone(&org.operator, "B-1").await;
    let id = drone["id"].as_str().unwrap();
    let mut first = through(id, 2);
    let mut overlapping = through(id, 2);
    for plan in [&mut first, &mut overlapping] {
        for w in plan["waypoints"].as_array_mut().unwrap() {
            w["lat"] = json!(47.2);
        }
    }
    overlapping["planned_start"] = json!((Utc::now() + Duration::minutes(140)).to_rfc3339());
    overlapping["planned_end"] = json!((Utc::now() + Duration::minutes(200)).to_rfc3339());
    let first = body(
        app.post("/api/v1/flight-plans", &org.operator, &first)
            .await,
    )
    .await;
    let second = body(
        app.post("/api/v1/flight-plans", &org.operator, &overlapping)
            .await,
    )
    .await;
    let step = |plan: &Value, action: &str| {
        format!(
            "/api/v1/flight-plans/{}/{action}",
            plan["id"].as_str().unwrap()
        )
    };
    assert_eq!(
        app.post(&step(&first, "submit"), &org.operator, &json!({}))
            .await
            .status(),
        200
    );
    let refused = problem(
        app.post(
            &step(&second, "submit"),
            &org.admin,
            &json!({"override_reason": "no"}),
        )
        .await,
        StatusCode::CONFLICT,
        "drone_double_booked",
    )
    .await;
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .contains(first["id"].as_str().unwrap()));

    let drone_path = format!("/api/v1/drones/{id}");
    assert_eq!(
        app.patch(
            &drone_path,
            &org.operator,
            &json!({"status": "maintenance"})
        )
        .await
        .status(),
        200
    );
    let refused = problem(
        app.post(&step(&first, "approve"), &org.admin, &json!({}))
            .await,
        StatusCode::CONFLICT,
        "drone_not_flyable",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("maintenance"));
}

async fn fences_import_from_ed269_and_geojson_and_export_as_geojson(app: TestApp) {
    let org = app.org("import").await;
    let ed269 = json!({
        "title": "Test zones",
        "features": [{
            "identifier": "ZONE-1", "name": "Airport", "restriction": "PROHIBITED",
            "country": "CHE",
            "geometry": [{"uomDimensions": "FT", "lowerLimit": 0, "lowerVerticalReference": "AGL",
                          "upperLimit": 400, "upperVerticalReference": "AGL",
                          "horizontalProjection": {"type": "Polygon", "coordinates": [[
                              [8.50, 47.00], [8.51, 47.00], [8.51, 47.01], [8.50, 47.01], [8.50, 47.00]]]}}]
        }]
    });
    let imported = body(
        app.post("/api/v1/geofences/import", &org.operator, &ed269)
            .await,
    )
    .await;
    assert_eq!(imported["created"], 1, "{imported}");
    let unsupported: Vec<_> = imported["unsupported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(unsupported, ["/title", "country"]);
    let export = app.get("/api/v1/geofences/export", &org.viewer).await;
    assert_eq!(export.headers()["content-type"], "application/geo+json");
    let collection = body(export).await;
    assert_eq!(collection["type"], "FeatureCollection");
    let feature = &collection["features"][0];
    assert_eq!(feature["properties"]["name"], "Airport [ZONE-1]");
    assert!((feature["properties"]["upper_m"].as_f64().unwrap() - 121.92).abs() < 1e-9);

    // The export imports into another organisation as the same fence.
    let other = app.org("import-copy").await;
    let copied = body(
        app.post("/api/v1/geofences/import", &other.operator, &collection)
            .await,
    )
    .await;
    assert_eq!(copied["created"], 1, "{copied}");
    let theirs = body(app.get("/api/v1/geofences", &other.viewer).await).await;
    assert_eq!(theirs["items"][0]["geometry"], feature["geometry"]);

    // One bad feature refuses the whole document.
    let mut bad = collection.clone();
    bad["features"][0]["properties"]["lower_m"] = json!(500.0);
    let refused = problem(
        app.post("/api/v1/geofences/import", &other.operator, &bad)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&refused), ["features[0].upper_m"]);
    let still = body(app.get("/api/v1/geofences", &other.viewer).await).await;
    assert_eq!(still["items"].as_array().unwrap().len(), 1);
}

both_backends!(
    geofences_are_created_listed_edited_and_deleted_by_operators_and_read_by_viewers,
    a_bad_geofence_is_refused_naming_the_ring_and_vertex,
    a_plan_whose_leg_crosses_a_prohibited_fence_is_refused_at_that_leg,
    restricted_fences_need_an_authorization_and_advisory_ones_come_back_as_warnings,
    a_fence_created_later_flags_the_pending_plans_it_crosses,
    plans_whose_volumes_meet_conflict_at_submit_unless_an_admin_accepts_it,
    a_drone_is_never_double_booked_and_one_in_maintenance_cannot_be_approved,
    fences_import_from_ed269_and_geojson_and_export_as_geojson,
);

/// Each replica keeps its own index: a fence or a plan made on one must reach the others.
#[tokio::test]
async fn a_fence_or_plan_made_on_one_replica_is_enforced_by_the_others() {
    let apps = spawn_replicas(Backend::Postgres, 2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let org = a.org("replica-airspace").await;
    let d1 = a.drone(&org.operator, "RA-1").await;
    let d2 = a.drone(&org.operator, "RA-2").await;
    // B loads the organisation's (empty) airspace by checking a plan.
    let first = b
        .post(
            "/api/v1/flight-plans",
            &org.operator,
            &through(d1["id"].as_str().unwrap(), 2),
        )
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    create_fence(a, &org, &fence("prohibited")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let res = b
            .post(
                "/api/v1/flight-plans",
                &org.operator,
                &through(d2["id"].as_str().unwrap(), 2),
            )
            .await;
        if res.status() == StatusCode::UNPROCESSABLE_ENTITY {
            break;
        }
        assert_eq!(res.status(), StatusCode::CREATED);
        assert!(
            std::time::Instant::now() < deadline,
            "replica B never saw the fence"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Plan volumes travel too: a plan submitted on B holds the airspace on A.
    let fence_list = body(a.get("/api/v1/geofences", &org.viewer).await).await;
    let fence_path = format!(
        "/api/v1/geofences/{}",
        fence_list["items"][0]["id"].as_str().unwrap()
    );
    assert_eq!(a.delete(&fence_path, &org.operator).await.status(), 204);
    let plan_id = first["id"].as_str().unwrap();
    // A loads the organisation's airspace before B's submit.
    assert_eq!(
        a.get(
            &format!("/api/v1/flight-plans/{plan_id}/conflicts"),
            &org.viewer
        )
        .await
        .status(),
        200
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let submitted = loop {
        let res = b
            .post(
                &format!("/api/v1/flight-plans/{plan_id}/submit"),
                &org.operator,
                &json!({}),
            )
            .await;
        if res.status() == StatusCode::OK {
            break res;
        }
        // B may not have seen the fence's deletion yet.
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            std::time::Instant::now() < deadline,
            "replica B never saw the deletion"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(submitted.status(), 200);
    let other = body(
        a.post(
            "/api/v1/flight-plans",
            &org.operator,
            &through(d2["id"].as_str().unwrap(), 2),
        )
        .await,
    )
    .await;
    let other_id = other["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found = body(
            a.get(
                &format!("/api/v1/flight-plans/{other_id}/conflicts"),
                &org.viewer,
            )
            .await,
        )
        .await;
        if found["plans"][0]["plan_id"] == first["id"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica A never saw B's plan"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    problem(
        a.post(
            &format!("/api/v1/flight-plans/{other_id}/submit"),
            &org.operator,
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
        "plan_conflict",
    )
    .await;
}
