//! `Idempotency-Key`: a retried POST gets its first answer instead of acting twice.

use serde_json::json;

use crate::helpers::spawn_app;

fn site(name: &str) -> serde_json::Value {
    json!({ "name": name, "kind": "office", "address": "1 place", "postcode": "41000", "city": "Saint-Ouen", "insee_code": "41230" })
}

#[tokio::test]
async fn a_retried_post_with_the_same_key_is_answered_again_without_acting_twice() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let path = format!("/v1/organisations/{}/sites", town.id);
    let send = |body: serde_json::Value, key: &'static str| {
        let app = &app;
        let path = path.clone();
        let token = town.token.clone();
        async move {
            app.send(
                reqwest::Method::POST,
                &path,
                Some(&token),
                Some(body),
                &[("Idempotency-Key", key)],
            )
            .await
        }
    };
    let first = send(site("Mairie"), "cle-1").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send(site("Mairie"), "cle-1").await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(app.count("sites").await, 1);
    send(site("Autre"), "cle-1")
        .await
        .assert_problem(409, "idempotency_key_reused");
    // Another key acts again; a failed request is not remembered.
    assert_eq!(send(site("Annexe"), "cle-2").await.status, 201);
    send(site(" "), "cle-3")
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(send(site("Gymnase"), "cle-3").await.status, 201);
    assert_eq!(app.count("sites").await, 3);
    // Keys belong to their caller.
    let other = app.register("public_body").await;
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/organisations/{}/sites", other.id),
            Some(&other.token),
            Some(site("Mairie")),
            &[("Idempotency-Key", "cle-1")],
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.header("idempotent-replayed").is_none());
    // A malformed key is ignored: the request is processed, and processed again.
    for _ in 0..2 {
        let r = app
            .send(
                reqwest::Method::POST,
                &path,
                Some(&town.token),
                Some(site("X")),
                &[("Idempotency-Key", "é")],
            )
            .await;
        assert_eq!(r.status, 201);
        assert!(r.header("idempotent-replayed").is_none());
    }
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_resource() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let path = format!("/v1/organisations/{}/sites", town.id);
    let attempts = (0..6).map(|_| {
        app.send(
            reqwest::Method::POST,
            &path,
            Some(&town.token),
            Some(site("Mairie")),
            &[("Idempotency-Key", "course")],
        )
    });
    let answers = futures::future::join_all(attempts).await;
    assert!(
        answers.iter().all(|r| r.status == 201 || r.status == 409),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(answers.iter().any(|r| r.status == 201));
    assert_eq!(app.count("sites").await, 1);
}
