use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{body, drone_body, fields, problem, TestApp, PASSWORD};

async fn admins_create_read_list_update_and_delete_users(app: TestApp) {
    let org = app.org("users").await;
    let res = app
        .post(
            "/api/v1/users",
            &org.admin,
            &json!({"email": "New.Pilot@Example.test", "name": "New Pilot", "role": "viewer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let user = body(res).await;
    assert_eq!(user["email"], "new.pilot@example.test");
    assert!(location.ends_with(user["id"].as_str().unwrap()));
    let id = user["id"].as_str().unwrap();

    let fetched = app.get(&format!("/api/v1/users/{id}"), &org.admin).await;
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    assert_eq!(body(fetched).await["name"], "New Pilot");

    let list = body(app.get("/api/v1/users?limit=2", &org.admin).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let next = list["next_cursor"].as_str().unwrap();
    let rest = body(
        app.get(&format!("/api/v1/users?limit=2&cursor={next}"), &org.admin)
            .await,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());
    let viewers = body(app.get("/api/v1/users?role=viewer", &org.admin).await).await;
    assert_eq!(viewers["items"].as_array().unwrap().len(), 2);

    let updated = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &org.admin,
            &json!({"role": "operator"}),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let updated = body(updated).await;
    assert_eq!(updated["role"], "operator");
    assert_eq!(updated["version"], 2);

    assert_eq!(
        app.delete(&format!("/api/v1/users/{id}"), &org.admin)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.get(&format!("/api/v1/users/{id}"), &org.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn a_role_change_ends_the_users_sessions(app: TestApp) {
    let org = app.org("users").await;
    let me = body(app.get("/api/v1/auth/me", &org.operator).await).await;
    let id = me["user"]["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/users/{id}"),
        &org.admin,
        &json!({"role": "viewer"}),
    )
    .await;
    problem(
        app.get("/api/v1/drones", &org.operator).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

/// An address is unique within an organisation only, so that creating a user tells an
/// admin nothing about other organisations' accounts; a login names the organisation when
/// the same credentials open accounts in several.
async fn an_email_is_unique_within_its_organisation_only(app: TestApp) {
    let org = app.org("users").await;
    let other = app.org("users").await;
    let email = format!("dup-{}@example.test", org.id);
    let body = json!({"email": email, "name": "A", "role": "viewer", "password": PASSWORD});
    assert_eq!(
        app.post("/api/v1/users", &org.admin, &body).await.status(),
        StatusCode::CREATED
    );
    problem(
        app.post("/api/v1/users", &org.admin, &body).await,
        StatusCode::CONFLICT,
        "duplicate_email",
    )
    .await;
    assert_eq!(
        app.post("/api/v1/users", &other.admin, &body)
            .await
            .status(),
        StatusCode::CREATED,
        "another organisation's account with the address is no business of this admin"
    );

    // Same address, same password in two organisations: the login must say which.
    let res = app.login(&email, PASSWORD).await;
    let refused = problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(refused["detail"].as_str().unwrap().contains("organization"));
    let name = crate::helpers::body(app.get("/api/v1/organization", &other.admin).await).await
        ["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD, "organization": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = crate::helpers::body(res).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = crate::helpers::body(app.get("/api/v1/auth/me", &token).await).await;
    assert_eq!(me["organization"]["name"], name.as_str());
}

async fn an_invalid_user_lists_every_bad_field(app: TestApp) {
    let org = app.org("users").await;
    let res = app
        .post(
            "/api/v1/users",
            &org.admin,
            &json!({"email": "nope", "name": " ", "role": "viewer", "password": "short"}),
        )
        .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&p), ["email", "name", "password"]);
    let res = app
        .post(
            "/api/v1/users",
            &org.admin,
            &json!({"email": "a@b.test", "name": "A", "role": "pilot", "password": PASSWORD}),
        )
        .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&p), ["role"]);
}

async fn only_admins_manage_users(app: TestApp) {
    let org = app.org("users").await;
    let me = body(app.get("/api/v1/auth/me", &org.admin).await).await;
    let admin_id = me["user"]["id"].as_str().unwrap().to_owned();
    let new_user =
        json!({"email": "x@example.test", "name": "X", "role": "admin", "password": PASSWORD});
    for token in [&org.operator, &org.viewer] {
        problem(
            app.get("/api/v1/users", token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        problem(
            app.post("/api/v1/users", token, &new_user).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let path = format!("/api/v1/users/{admin_id}");
        problem(
            app.get(&path, token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        problem(
            app.patch(&path, token, &json!({"name": "x"})).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        problem(
            app.delete(&path, token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
}

async fn the_last_admin_can_be_neither_demoted_nor_deleted(app: TestApp) {
    let org = app.org("users").await;
    let me = body(app.get("/api/v1/auth/me", &org.admin).await).await;
    let path = format!("/api/v1/users/{}", me["user"]["id"].as_str().unwrap());
    problem(
        app.patch(&path, &org.admin, &json!({"role": "viewer"}))
            .await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
    problem(
        app.delete(&path, &org.admin).await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
}

async fn a_stale_if_match_on_a_user_is_412(app: TestApp) {
    let org = app.org("users").await;
    let me = body(app.get("/api/v1/auth/me", &org.viewer).await).await;
    let path = format!("/api/v1/users/{}", me["user"]["id"].as_str().unwrap());
    let res = app
        .request(Method::PATCH, &path, Some(&org.admin))
        .header("if-match", "\"7\"")
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
}

/// A display name is optional: without one, the email's local part is used.
async fn a_user_created_without_a_name_is_named_after_the_email(app: TestApp) {
    let org = app.org("unnamed").await;
    let res = app
        .post(
            "/api/v1/users",
            &org.admin,
            &json!({"email": "Grace.Hopper@Example.test", "role": "operator", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user = body(res).await;
    assert_eq!(user["name"], "grace.hopper");
    let blank = app
        .post(
            "/api/v1/users",
            &org.admin,
            &json!({"email": "blank@example.test", "name": " ", "role": "viewer", "password": PASSWORD}),
        )
        .await;
    let problem = problem(blank, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&problem), ["name"]);
}

/// Removing admins while the catalog takes other writes (drones reserve their serials
/// there): every removal answers 204 or 409, never 500. On SQLite a transaction that read
/// first could not become a writer after another connection's write ("database is locked").
async fn admins_are_removed_while_the_catalog_takes_other_writes(app: TestApp) {
    let org = app.org("busy").await;
    let mut admins = Vec::new();
    for i in 0..20 {
        let res = app
            .post(
                "/api/v1/users",
                &org.admin,
                &json!({"email": format!("admin{i}@busy.test"), "role": "admin", "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        admins.push(body(res).await["id"].as_str().unwrap().to_owned());
    }
    let writes = |stream: usize| {
        let (app, token) = (&app, &org.admin);
        async move {
            for i in 0..40 {
                let serial = format!("BUSY-{stream}-{i}");
                let res = app
                    .post("/api/v1/drones", token, &drone_body(&serial))
                    .await;
                assert_eq!(res.status(), StatusCode::CREATED);
            }
        }
    };
    let (app_ref, token) = (&app, &org.admin);
    let removals = futures::future::join_all(admins.iter().map(|id| async move {
        app_ref
            .delete(&format!("/api/v1/users/{id}"), token)
            .await
            .status()
    }));
    let ((), (), statuses) = tokio::join!(writes(0), writes(1), removals);
    assert!(
        statuses.iter().all(|s| *s == StatusCode::NO_CONTENT),
        "every removal answered 204 (the calling admin stays): {statuses:?}"
    );
}

both_backends!(
    a_user_created_without_a_name_is_named_after_the_email,
    admins_create_read_list_update_and_delete_users,
    a_role_change_ends_the_users_sessions,
    an_email_is_unique_within_its_organisation_only,
    an_invalid_user_lists_every_bad_field,
    only_admins_manage_users,
    the_last_admin_can_be_neither_demoted_nor_deleted,
    a_stale_if_match_on_a_user_is_412,
    admins_are_removed_while_the_catalog_takes_other_writes,
);
