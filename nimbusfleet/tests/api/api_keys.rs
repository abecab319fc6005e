use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{body, problem, TestApp};

async fn a_key_is_shown_once_and_acts_for_its_own_drone_only(app: TestApp) {
    let org = app.org("keys").await;
    let drone = app.drone(&org.operator, "KEY-1").await;
    let other = app.drone(&org.operator, "KEY-2").await;
    let id = drone["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/api/v1/drones/{id}/api-keys"),
            &org.admin,
            &json!({"name": "autopilot"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created = body(res).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("nfk_{}_", created["prefix"].as_str().unwrap())));

    let list = body(
        app.get(&format!("/api/v1/drones/{id}/api-keys"), &org.admin)
            .await,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "autopilot");
    assert!(items[0].get("secret").is_none());
    assert!(!list.to_string().contains(&secret[secret.len() - 10..]));

    // As a bearer token and as X-API-Key.
    assert_eq!(
        app.get(&format!("/api/v1/drones/{id}"), &secret)
            .await
            .status(),
        StatusCode::OK
    );
    let by_header = app
        .client
        .get(app.url(&format!("/api/v1/drones/{id}")))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    let other_path = format!("/api/v1/drones/{}", other["id"].as_str().unwrap());
    problem(
        app.get(&other_path, &secret).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        app.get("/api/v1/drones", &secret).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        app.get("/api/v1/auth/me", &secret).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        app.patch(
            &format!("/api/v1/drones/{id}"),
            &secret,
            &json!({"name": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let key_id = created["id"].as_str().unwrap();
    let res = app
        .delete(
            &format!("/api/v1/drones/{id}/api-keys/{key_id}"),
            &org.admin,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    problem(
        app.get(&format!("/api/v1/drones/{id}"), &secret).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    problem(
        app.delete(
            &format!("/api/v1/drones/{id}/api-keys/{key_id}"),
            &org.admin,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn a_wrong_secret_for_a_real_key_is_401(app: TestApp) {
    let org = app.org("keys").await;
    let drone = app.drone(&org.operator, "KEY-3").await;
    let id = drone["id"].as_str().unwrap();
    let created = body(
        app.post(
            &format!("/api/v1/drones/{id}/api-keys"),
            &org.admin,
            &json!({}),
        )
        .await,
    )
    .await;
    let forged = format!(
        "nfk_{}_{}",
        created["prefix"].as_str().unwrap(),
        "A".repeat(32)
    );
    problem(
        app.get(&format!("/api/v1/drones/{id}"), &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn deleting_a_drone_revokes_its_keys(app: TestApp) {
    let org = app.org("keys").await;
    let drone = app.drone(&org.operator, "KEY-4").await;
    let id = drone["id"].as_str().unwrap();
    let created = body(
        app.post(
            &format!("/api/v1/drones/{id}/api-keys"),
            &org.admin,
            &json!({}),
        )
        .await,
    )
    .await;
    app.delete(&format!("/api/v1/drones/{id}"), &org.admin)
        .await;
    let secret = created["secret"].as_str().unwrap();
    problem(
        app.get(&format!("/api/v1/drones/{id}"), secret).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn only_admins_manage_keys(app: TestApp) {
    let org = app.org("keys").await;
    let drone = app.drone(&org.operator, "KEY-5").await;
    let path = format!("/api/v1/drones/{}/api-keys", drone["id"].as_str().unwrap());
    for token in [&org.operator, &org.viewer] {
        problem(
            app.post(&path, token, &json!({})).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        problem(
            app.get(&path, token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let res = app
            .request(
                Method::DELETE,
                &format!("{path}/{}", uuid::Uuid::new_v4()),
                Some(token),
            )
            .send()
            .await
            .unwrap();
        problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

both_backends!(
    a_key_is_shown_once_and_acts_for_its_own_drone_only,
    a_wrong_secret_for_a_real_key_is_401,
    deleting_a_drone_revokes_its_keys,
    only_admins_manage_keys,
);
