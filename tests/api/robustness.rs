//! Regression tests for each class of failure the spec-driven fuzzing found.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn absent_optional_fields_are_omitted_rather_than_null() {
    // The spec declares optional response fields as absent-or-typed: `null` broke the schema.
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = app
        .get(&format!("/v1/organisations/{}", town.id), Some(&town.token))
        .await;
    let obj = r.body.as_object().expect("object");
    assert!(obj.values().all(|v| !v.is_null()), "{}", r.text);
    assert!(!obj.contains_key("rna") && !obj.contains_key("public_utility"));
}

#[tokio::test]
async fn a_method_the_path_does_not_accept_gets_405_with_allow() {
    let app = spawn_app().await;
    let r = app
        .send(reqwest::Method::PATCH, "/v1/meta/problems", None, None, &[])
        .await;
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    let r = app
        .send(
            reqwest::Method::DELETE,
            "/v1/organisations",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD, POST"));
}

#[tokio::test]
async fn a_body_without_content_type_is_a_documented_415() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 415);
    let spec = app.get("/openapi.json", None).await;
    assert!(spec.body["paths"]["/v1/auth/login"]["post"]["responses"]["415"].is_object());
}

#[tokio::test]
async fn a_blank_if_match_is_ignored_and_null_optionals_are_accepted() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let base = format!("/v1/organisations/{}/sites", town.id);
    let site = json!({
        "name": "Mairie", "kind": "office", "address": "1 place", "postcode": "41000",
        "city": "Saint-Ouen", "insee_code": "41230", "latitude": null, "longitude": null, "access_notes": null
    });
    let created = app.post(&base, Some(&town.token), site.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("id");
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("{base}/{id}"),
            Some(&town.token),
            Some(site.clone()),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "without If-Match: {}", r.text);
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("{base}/{id}"),
            Some(&town.token),
            Some(site),
            &[("If-Match", " ")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn every_problem_lists_its_errors_even_when_empty() {
    let app = spawn_app().await;
    let r = app.get("/v1/me", None).await;
    r.assert_problem(401, "unauthenticated");
    assert_eq!(r.body["errors"], json!([]));
}

#[tokio::test]
async fn an_undeclared_or_unnamed_query_parameter_is_malformed() {
    let app = crate::helpers::spawn_app().await;
    app.get("/v1/open-data/impact?year=2026&=null", None)
        .await
        .assert_problem(422, "validation_failed");
    let typo = app
        .get("/v1/open-data/impact?year=2026&levle=region", None)
        .await;
    typo.assert_problem(422, "validation_failed");
    assert_eq!(typo.body["errors"][0]["field"], "levle", "{}", typo.text);
    assert_eq!(typo.body["errors"][0]["code"], "unknown_field");
    assert_eq!(typo.body["errors"][0]["in"], "query");
    let ok = app
        .get("/v1/open-data/impact?year=2026&level=region&", None)
        .await;
    assert_eq!(ok.status, 200, "declared parameters pass: {}", ok.text);
    // An undeclared method still answers 405, whatever its query.
    let r = app
        .send(reqwest::Method::PUT, "/v1/lots/search?q=x", None, None, &[])
        .await;
    assert_eq!(r.status, 405, "{}", r.text);
}

/// PostgreSQL connections send without Nagle's delay (`TCP_NODELAY`, which sqlx 0.9.0 stopped
/// setting and 0.9.1 sets again): a statement of a few TCP segments used to wait for the
/// server's delayed ACK on every call. Measured here with 0.9.0, a 70 KB statement took
/// 42.7–44.4 ms every time (and a 500-row INSERT 48–93 ms); with the option set, about 1 ms. The
/// median of seven stays far below the stall on a loaded machine.
#[tokio::test]
async fn large_postgres_statements_do_not_wait_for_delayed_acks() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    if app.backend != "postgres" {
        eprintln!("skipped: TCP_NODELAY applies to PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let big = "x".repeat(70 * 1024);
    let mut times = Vec::new();
    for _ in 0..7 {
        let started = std::time::Instant::now();
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT length($1) AS n",
                [big.clone().into()],
            ))
            .await
            .expect("statement")
            .expect("row");
        times.push(started.elapsed());
        assert_eq!(row.try_get::<i32>("", "n").expect("n"), 70 * 1024);
    }
    times.sort();
    assert!(
        times[3] < std::time::Duration::from_millis(25),
        "70 KB statements took {times:?}: Nagle's algorithm is on (TCP_NODELAY unset)"
    );
}
