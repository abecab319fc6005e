//! The dashboard's static files at `/`: long-lived caching for hashed assets, `index.html`
//! for client-side routes, and problems (not HTML) for unknown API paths.

use reqwest::StatusCode;

use crate::helpers::{problem, spawn, spawn_with, test_settings, Backend};

async fn dashboard_app() -> crate::helpers::TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>dashboard</title>",
    )
    .unwrap();
    std::fs::write(dist.join("assets/index-0f1e2d.js"), "console.log(1)").unwrap();
    let mut settings = test_settings(Backend::Sqlite, dir.path()).await;
    settings.server.dashboard_dir = dist;
    spawn_with(Backend::Sqlite, settings, dir).await
}

fn cache_control(res: &reqwest::Response) -> String {
    res.headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year_and_index_is_revalidated() {
    let app = dashboard_app().await;
    let client = reqwest::Client::new();

    let asset = client
        .get(app.url("/assets/index-0f1e2d.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(cache_control(&asset), "public, max-age=31536000, immutable");

    let index = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(cache_control(&index), "no-cache");
    assert!(index
        .text()
        .await
        .unwrap()
        .contains("<title>dashboard</title>"));
}

#[tokio::test]
async fn client_side_routes_get_index_html_but_api_paths_keep_their_problems() {
    let app = dashboard_app().await;
    let client = reqwest::Client::new();

    let route = client.get(app.url("/drones/0193")).send().await.unwrap();
    assert_eq!(route.status(), StatusCode::OK);
    assert!(route
        .text()
        .await
        .unwrap()
        .contains("<title>dashboard</title>"));

    let missing_asset = client
        .get(app.url("/assets/gone-123.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cache_control(&missing_asset),
        "no-cache",
        "a miss must not be cached for a year"
    );
    problem(missing_asset, StatusCode::NOT_FOUND, "not_found").await;

    for path in ["/api/v1/nowhere", "/api/v2/drones", "/health/nowhere"] {
        let res = client.get(app.url(path)).send().await.unwrap();
        problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn without_a_build_the_root_page_says_how_to_build_the_dashboard() {
    let app = spawn(Backend::Sqlite).await;
    let res = reqwest::get(app.url("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("make run") && html.contains("/docs/"),
        "{html}"
    );
}
