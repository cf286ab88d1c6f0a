use crate::helpers::spawn_app;

#[tokio::test]
async fn readiness_answers_200_when_the_database_answers() {
    let app = spawn_app().await;
    let r = app.get("/health/ready", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["database"], app.backend);
    assert_eq!(app.get("/health/live", None).await.status, 200);
}

#[tokio::test]
async fn the_docs_and_the_spec_are_served() {
    let app = spawn_app().await;
    let docs = app.get("/docs", None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger"), "not Swagger UI");
    let json = app.get("/openapi.json", None).await;
    assert_eq!(json.status, 200);
    assert_eq!(json.body["info"]["title"], "Réemploi");
    let yaml = app.get("/openapi.yaml", None).await;
    assert_eq!(yaml.status, 200);
    assert!(yaml.text.contains("openapi: 3"));
}

#[tokio::test]
async fn an_unknown_route_is_a_french_problem_by_default_and_english_on_request() {
    let app = spawn_app().await;
    let fr = app.get("/v1/nulle-part", None).await;
    fr.assert_problem(404, "not_found");
    assert_eq!(fr.body["title"], "Ressource introuvable");
    let en = app
        .send(
            reqwest::Method::GET,
            "/v1/nulle-part",
            None,
            None,
            &[("Accept-Language", "en-GB,en;q=0.9")],
        )
        .await;
    en.assert_problem(404, "not_found");
    assert_eq!(en.body["title"], "Resource not found");
}

#[tokio::test]
async fn reads_carry_an_etag_and_if_none_match_answers_304() {
    let app = spawn_app().await;
    let first = app.get("/v1/meta/problems", None).await;
    let tag = first.header("etag").expect("etag");
    let again = app
        .send(
            reqwest::Method::GET,
            "/v1/meta/problems",
            None,
            None,
            &[("If-None-Match", &tag)],
        )
        .await;
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());
}

#[tokio::test]
async fn every_error_code_is_listed_with_both_titles() {
    let app = spawn_app().await;
    let r = app.get("/v1/meta/problems", None).await;
    let rows = r.body.as_array().expect("array");
    assert!(
        rows.iter()
            .any(|p| p["code"] == "validation_failed" && p["status"] == 422)
    );
    assert!(
        rows.iter()
            .all(|p| p["title_fr"].as_str().is_some_and(|t| !t.is_empty())
                && p["title_en"].as_str().is_some_and(|t| !t.is_empty()))
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = crate::helpers::spawn_app_with(&[("REEMPLOI_MAX_BODY_BYTES", "2048")]).await;
    let big = "x".repeat(4096);
    let r = app
        .post(
            "/v1/auth/login",
            None,
            serde_json::json!({ "email": big, "password": "x" }),
        )
        .await;
    r.assert_problem(413, "payload_too_large");
}

#[tokio::test]
async fn unreadable_json_is_a_400_problem_and_not_a_500() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/v1/organisations"))
        .header("content-type", "application/json")
        .body("{\"kind\": \"public_body\", \"name\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let wrong_type = app
        .post(
            "/v1/auth/login",
            None,
            serde_json::json!({ "email": 12, "password": [] }),
        )
        .await;
    wrong_type.assert_problem(422, "validation_failed");
    // poem-openapi would coerce these to strings; the API refuses them.
    let boolean_name = app
        .post(
            "/v1/organisations",
            None,
            serde_json::json!({ "kind": "association", "name": false }),
        )
        .await;
    boolean_name.assert_problem(422, "validation_failed");
    assert_eq!(app.count("organisations").await, 0);
}

#[tokio::test]
async fn every_answer_says_it_varies_by_language() {
    let app = spawn_app().await;
    let code = "ZZZZZ-ZZZZZ";
    let problem = app.get(&format!("/v1/public/items/{code}"), None).await;
    assert!(problem.status >= 400, "{}", problem.text);
    let page = app
        .send(reqwest::Method::GET, &format!("/p/{code}"), None, None, &[])
        .await;
    let live = app.get("/health/live", None).await;
    for r in [&problem, &page, &live] {
        assert_eq!(
            r.header("vary").as_deref(),
            Some("Accept-Language, Accept-Encoding"),
            "{}",
            r.text
        );
    }
}
