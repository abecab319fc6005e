use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{body, drone_body, fields, problem, TestApp};

async fn a_registered_drone_can_be_read_updated_and_deleted(app: TestApp) {
    let org = app.org("drones").await;
    let res = app
        .post("/api/v1/drones", &org.operator, &drone_body("SN-1"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let drone = body(res).await;
    assert_eq!(drone["status"], "active");
    assert_eq!(drone["home"]["lat"], 47.3769);
    assert_eq!(drone["version"], 1);
    let path = format!("/api/v1/drones/{}", drone["id"].as_str().unwrap());

    let fetched = app.get(&path, &org.viewer).await;
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    assert_eq!(body(fetched).await, drone);

    let res = app
        .patch(
            &path,
            &org.operator,
            &json!({"status": "maintenance", "firmware_version": "2.0", "home": null}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"], "\"2\"");
    let updated = body(res).await;
    assert_eq!(updated["status"], "maintenance");
    assert_eq!(updated["firmware_version"], "2.0");
    assert!(updated["home"].is_null());
    assert_eq!(updated["serial"], "SN-1");
    assert_eq!(updated["version"], 2);

    assert_eq!(
        app.delete(&path, &org.admin).await.status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.get(&path, &org.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The serial is free again.
    app.drone(&org.operator, "SN-1").await;
}

async fn if_match_guards_updates_and_if_none_match_saves_a_download(app: TestApp) {
    let org = app.org("drones").await;
    let drone = app.drone(&org.operator, "SN-ETAG").await;
    let path = format!("/api/v1/drones/{}", drone["id"].as_str().unwrap());
    let patch = |tag: &'static str, name: &'static str| {
        app.request(Method::PATCH, &path, Some(&org.operator))
            .header("if-match", tag)
            .json(&json!({"name": name}))
            .send()
    };
    assert_eq!(
        patch("\"1\"", "first").await.unwrap().status(),
        StatusCode::OK
    );
    let stale = patch("\"1\"", "second").await.unwrap();
    problem(
        stale,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    assert_eq!(
        body(app.get(&path, &org.viewer).await).await["name"],
        "first"
    );
    assert_eq!(patch("*", "third").await.unwrap().status(), StatusCode::OK);

    let cached = app
        .request(Method::GET, &path, Some(&org.viewer))
        .header("if-none-match", "\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}

async fn a_serial_is_unique_per_organisation_across_shards(app: TestApp) {
    let org = app.org("drones").await;
    let other = app.org("drones").await;
    app.drone(&org.operator, "SN-DUP").await;
    // New ids land on either shard; try enough times that both shards are hit.
    for _ in 0..8 {
        let res = app
            .post("/api/v1/drones", &org.operator, &drone_body("SN-DUP"))
            .await;
        problem(res, StatusCode::CONFLICT, "duplicate_serial").await;
    }
    app.drone(&other.operator, "SN-DUP").await;
    let second = app.drone(&org.operator, "SN-OTHER").await;
    let path = format!("/api/v1/drones/{}", second["id"].as_str().unwrap());
    let res = app
        .patch(&path, &org.operator, &json!({"serial": "SN-DUP"}))
        .await;
    problem(res, StatusCode::CONFLICT, "duplicate_serial").await;
    // Renaming frees the old serial.
    assert_eq!(
        app.patch(&path, &org.operator, &json!({"serial": "SN-NEW"}))
            .await
            .status(),
        StatusCode::OK
    );
    app.drone(&org.operator, "SN-OTHER").await;
}

async fn an_invalid_drone_lists_every_bad_field(app: TestApp) {
    let org = app.org("drones").await;
    let res = app
        .post(
            "/api/v1/drones",
            &org.operator,
            &json!({
                "serial": "bad serial!", "name": "", "model": "M", "max_altitude_m": -1,
                "max_speed_mps": 0, "endurance_min": 0, "home": {"lat": 91, "lon": 0, "alt_m": 0}
            }),
        )
        .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        fields(&p),
        [
            "serial",
            "name",
            "max_altitude_m",
            "max_speed_mps",
            "endurance_min",
            "home.lat"
        ]
    );
    let missing = app
        .post("/api/v1/drones", &org.operator, &json!({"serial": "X"}))
        .await;
    let p = problem(
        missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{p}"
    );
    let wrong_type = app
        .post("/api/v1/drones", &org.operator, &json!({"serial": 5}))
        .await;
    let p = problem(
        wrong_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["serial"]);
    let ok = app.drone(&org.operator, "SN-OK").await;
    let path = format!("/api/v1/drones/{}", ok["id"].as_str().unwrap());
    let bad_status = app
        .patch(&path, &org.operator, &json!({"status": "flying"}))
        .await;
    let p = problem(
        bad_status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["status"]);
}

async fn lists_filter_by_status_model_and_search(app: TestApp) {
    let org = app.org("drones").await;
    for (serial, name, model, status) in [
        ("AA-1", "Hawk", "Alpha", "active"),
        ("AA-2", "Falcon", "Alpha", "grounded"),
        ("BB-1", "Hawkeye", "Beta", "active"),
        ("BB-2", "Osprey", "Beta", "retired"),
    ] {
        let mut b = drone_body(serial);
        b["name"] = json!(name);
        b["model"] = json!(model);
        b["status"] = json!(status);
        assert_eq!(
            app.post("/api/v1/drones", &org.operator, &b).await.status(),
            StatusCode::CREATED
        );
    }
    let serials = |v: Value| -> Vec<String> {
        let mut s: Vec<String> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["serial"].as_str().unwrap().to_owned())
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        serials(body(app.get("/api/v1/drones?status=active", &org.viewer).await).await),
        ["AA-1", "BB-1"]
    );
    assert_eq!(
        serials(body(app.get("/api/v1/drones?model=Beta", &org.viewer).await).await),
        ["BB-1", "BB-2"]
    );
    assert_eq!(
        serials(body(app.get("/api/v1/drones?q=hawk", &org.viewer).await).await),
        ["AA-1", "BB-1"]
    );
    assert_eq!(
        serials(body(app.get("/api/v1/drones?q=bb-", &org.viewer).await).await),
        ["BB-1", "BB-2"]
    );
    assert_eq!(
        serials(
            body(
                app.get(
                    "/api/v1/drones?q=hawk&status=active&model=Beta",
                    &org.viewer
                )
                .await
            )
            .await
        ),
        ["BB-1"]
    );
    assert!(serials(body(app.get("/api/v1/drones?q=%25", &org.viewer).await).await).is_empty());
}

async fn bad_list_parameters_are_400(app: TestApp) {
    let org = app.org("drones").await;
    for (query, code) in [
        ("limit=0", "invalid_query"),
        ("limit=501", "invalid_query"),
        ("limit=abc", "invalid_query"),
        ("status=flying", "invalid_query"),
        ("cursor=!!!", "invalid_cursor"),
        ("cursor=AAAA", "invalid_cursor"),
    ] {
        let res = app
            .get(&format!("/api/v1/drones?{query}"), &org.viewer)
            .await;
        problem(res, StatusCode::BAD_REQUEST, code).await;
    }
}

async fn roles_decide_who_may_change_the_fleet(app: TestApp) {
    let org = app.org("drones").await;
    problem(
        app.post("/api/v1/drones", &org.viewer, &drone_body("V-1"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let drone = app.drone(&org.operator, "R-1").await;
    let path = format!("/api/v1/drones/{}", drone["id"].as_str().unwrap());
    problem(
        app.patch(&path, &org.viewer, &json!({"name": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        app.delete(&path, &org.viewer).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        app.delete(&path, &org.operator).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(app.get(&path, &org.viewer).await.status(), StatusCode::OK);
}

async fn pagination_walks_a_1200_drone_fleet_over_two_shards_exactly_once(app: TestApp) {
    let org = app.org("fleet").await;
    let mut created = HashSet::new();
    let creates = (0..1200).map(|i| {
        let app = &app;
        let token = &org.operator;
        async move {
            body(
                app.post(
                    "/api/v1/drones",
                    token,
                    &drone_body(&format!("FLEET-{i:04}")),
                )
                .await,
            )
            .await
        }
    });
    for chunk in futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
    {
        created.insert(chunk["id"].as_str().expect("created").to_owned());
    }
    assert_eq!(created.len(), 1200);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/drones?limit=500&cursor={c}"),
            None => "/api/v1/drones?limit=500".to_owned(),
        };
        let page = body(app.get(&path, &org.viewer).await).await;
        assert_eq!(page["incomplete"], false);
        pages += 1;
        for d in page["items"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 1200, "duplicates or missing drones");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages are in id order");
}

use futures::StreamExt;

both_backends!(
    a_registered_drone_can_be_read_updated_and_deleted,
    if_match_guards_updates_and_if_none_match_saves_a_download,
    a_serial_is_unique_per_organisation_across_shards,
    an_invalid_drone_lists_every_bad_field,
    lists_filter_by_status_model_and_search,
    bad_list_parameters_are_400,
    roles_decide_who_may_change_the_fleet,
    pagination_walks_a_1200_drone_fleet_over_two_shards_exactly_once,
);
