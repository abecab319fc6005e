use chrono::Utc;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{body, problem, TestApp, JWT_SECRET, PASSWORD};

async fn logging_in_returns_a_bearer_token_that_me_accepts(app: TestApp) {
    let org = app.org("auth").await;
    let res = app.login(&org.admin_email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = body(res).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 86400);
    let me = body(
        app.get("/api/v1/auth/me", token["access_token"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(me["user"]["email"], org.admin_email.to_lowercase());
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["organization"]["id"], org.id.to_string());
    assert!(me["user"].get("password_hash").is_none());
}

async fn a_wrong_password_or_unknown_email_is_401(app: TestApp) {
    let org = app.org("auth").await;
    let wrong = app.login(&org.admin_email, "not the password").await;
    problem(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = app.login("nobody@nowhere.test", PASSWORD).await;
    let p = problem(unknown, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(p["detail"], "wrong email or password");
}

async fn a_login_without_a_password_is_422_naming_the_field(app: TestApp) {
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "a@b.test"}))
        .send()
        .await
        .unwrap();
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{p}"
    );
}

fn forge(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn missing_expired_tampered_unsigned_and_foreign_tokens_are_401(app: TestApp) {
    let org = app.org("auth").await;
    let me = body(app.get("/api/v1/auth/me", &org.admin).await).await;
    let user = me["user"]["id"].as_str().unwrap().to_owned();
    let now = Utc::now().timestamp();
    // A real session id makes the forged tokens fail on the signature or expiry alone.
    let claims = |exp: i64| {
        let payload = org.admin.split('.').nth(1).unwrap();
        use base64::Engine;
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let mut real: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        real["exp"] = json!(exp);
        real["sub"] = json!(user);
        real
    };
    let expired = forge(claims(now - 3600), JWT_SECRET);
    let wrong_key = forge(
        claims(now + 3600),
        "another-secret-that-is-also-long-enough",
    );
    let mut parts: Vec<String> = org.admin.split('.').map(str::to_owned).collect();
    parts[1] = {
        use base64::Engine;
        let mut c = claims(now + 3600);
        c["role"] = json!("admin");
        c["org"] = json!(uuid::Uuid::new_v4());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
    };
    let tampered = parts.join(".");
    let unsigned = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = engine.encode(serde_json::to_vec(&claims(now + 3600)).unwrap());
        format!("{header}.{payload}.")
    };
    for (case, token) in [
        ("expired", Some(expired)),
        ("wrong key", Some(wrong_key)),
        ("tampered", Some(tampered)),
        ("alg none", Some(unsigned)),
        ("garbage", Some("not.a.jwt".to_owned())),
        ("missing", None),
    ] {
        let res = app
            .request(Method::GET, "/api/v1/drones", token.as_deref())
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{case} token was not refused"
        );
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

async fn a_token_is_refused_at_once_after_logout(app: TestApp) {
    let org = app.org("auth").await;
    assert_eq!(
        app.get("/api/v1/drones", &org.operator).await.status(),
        StatusCode::OK
    );
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&org.operator))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let after = app.get("/api/v1/drones", &org.operator).await;
    problem(after, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Other sessions are untouched.
    assert_eq!(
        app.get("/api/v1/drones", &org.admin).await.status(),
        StatusCode::OK
    );
}

async fn the_organisation_is_visible_to_every_role(app: TestApp) {
    let org = app.org("auth").await;
    for token in [&org.admin, &org.operator, &org.viewer] {
        let json = body(app.get("/api/v1/organization", token).await).await;
        assert_eq!(json["id"], org.id.to_string());
        assert_eq!(
            json["plan"], "enterprise",
            "test organisations get a quota they never reach"
        );
    }
}

/// A credential that was sent but cannot be used is named as such, never "missing".
async fn a_malformed_or_doubled_credential_says_what_is_wrong(app: TestApp) {
    let org = app.org("creds").await;
    let drone = app.drone(&org.operator, "CRED-1").await;
    let path = format!("/api/v1/drones/{}", drone["id"].as_str().unwrap());
    let send = |header: &'static str, value: &'static [u8]| {
        app.request(Method::GET, &path, None)
            .header(
                header,
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .send()
    };
    let cases: [(&str, &[u8], &str); 5] = [
        ("x-api-key", "nfk_…".as_bytes(), "not an API key"),
        // The README's placeholder, pasted as it is.
        ("x-api-key", b"<the key>", "not an API key"),
        ("x-api-key", b"nfk_only-a-prefix", "malformed API key"),
        (
            "x-api-key",
            b"nfk_abcdefghijkl_wrongwrongwrongwrongwrongwrongwr",
            "unknown or revoked API key",
        ),
        ("authorization", b"Token abc", "Bearer <token>"),
    ];
    for (header, value, says) in cases {
        let json = problem(
            send(header, value).await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        let detail = json["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{header}: {detail}");
        assert!(!detail.contains("missing"), "{header}: {detail}");
    }
    let both = app
        .request(Method::GET, &path, Some(&org.viewer))
        .header("x-api-key", "nfk_abcdefghijkl_secret")
        .send()
        .await
        .unwrap();
    let json = problem(both, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        json["detail"].as_str().unwrap().contains("one credential"),
        "{json}"
    );
}

both_backends!(
    a_malformed_or_doubled_credential_says_what_is_wrong,
    logging_in_returns_a_bearer_token_that_me_accepts,
    a_wrong_password_or_unknown_email_is_401,
    a_login_without_a_password_is_422_naming_the_field,
    missing_expired_tampered_unsigned_and_foreign_tokens_are_401,
    a_token_is_refused_at_once_after_logout,
    the_organisation_is_visible_to_every_role,
);
