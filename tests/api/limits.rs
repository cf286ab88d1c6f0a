//! Limits that protect the service from what clients send: sizes, shapes and rates.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn deeply_nested_json_is_refused_before_parsing() {
    let app = spawn_app().await;
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.expect("problem");
    assert_eq!(body["code"], "malformed_request");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("imbriqué")),
        "{body}"
    );
}

#[tokio::test]
async fn an_overlong_json_string_is_refused() {
    let app = spawn_app_with(&[("REEMPLOI_MAX_JSON_STRING_BYTES", "1000")]).await;
    let r = app
        .post(
            "/v1/auth/login",
            None,
            json!({ "email": "a".repeat(2000), "password": "x" }),
        )
        .await;
    r.assert_problem(400, "malformed_request");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413() {
    let app = spawn_app_with(&[("REEMPLOI_MAX_BODY_BYTES", "2048")]).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 413);
}

#[tokio::test]
async fn anonymous_calls_are_rate_limited_per_address_but_health_checks_are_not() {
    let app = spawn_app_with(&[("REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE", "5")]).await;
    let town = app.register("public_body").await; // 2 anonymous calls: register and login
    for _ in 0..3 {
        assert_eq!(app.get("/v1/meta/problems", None).await.status, 200);
    }
    let limited = app.get("/v1/meta/problems", None).await;
    limited.assert_problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
    for _ in 0..10 {
        assert_eq!(app.get("/health/ready", None).await.status, 200);
    }
    // Signed-in callers are not counted as anonymous.
    assert_eq!(app.get("/v1/me", Some(&town.token)).await.status, 200);
}
