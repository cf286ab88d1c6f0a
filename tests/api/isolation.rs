//! A member of organisation A can neither read nor change B's private resources: reads answer
//! 404, actions 403, and nothing changes.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

fn site_body() -> serde_json::Value {
    json!({
        "name": "Services techniques",
        "kind": "pickup",
        "address": "5 rue des Ateliers",
        "postcode": "41000",
        "city": "Saint-Ouen-sur-Loire",
        "insee_code": "41230",
        "latitude": 47.61,
        "longitude": 1.33
    })
}

async fn setup(
    app: &TestApp,
) -> (
    crate::helpers::Org,
    crate::helpers::Org,
    String,
    String,
    String,
) {
    let a = app.register("public_body").await;
    let b = app.register("refurbisher").await;
    let site = app
        .post(
            &format!("/v1/organisations/{}/sites", b.id),
            Some(&b.token),
            site_body(),
        )
        .await;
    let key = app
        .post(
            &format!("/v1/organisations/{}/api-keys", b.id),
            Some(&b.token),
            json!({ "name": "ERP" }),
        )
        .await;
    let inv = app
        .post(
            &format!("/v1/organisations/{}/invitations", b.id),
            Some(&b.token),
            json!({ "email": crate::helpers::unique_email("z"), "role": "agent" }),
        )
        .await;
    (
        a,
        b,
        site.body["id"].as_str().expect("site").to_owned(),
        key.body["api_key"]["id"].as_str().expect("key").to_owned(),
        inv.body["id"].as_str().expect("invitation").to_owned(),
    )
}

#[tokio::test]
async fn a_member_of_another_organisation_reads_nothing_private() {
    let app = spawn_app().await;
    let (a, b, site, _, _) = setup(&app).await;
    let reads = [
        format!("/v1/organisations/{}", b.id),
        format!("/v1/organisations/{}/sites", b.id),
        format!("/v1/organisations/{}/sites/{site}", b.id),
        format!("/v1/organisations/{}/members", b.id),
        format!("/v1/organisations/{}/invitations", b.id),
        format!("/v1/organisations/{}/api-keys", b.id),
        format!("/v1/organisations/{}/events", b.id),
        format!("/v1/organisations/{}/events/verify", b.id),
    ];
    for path in reads {
        app.get(&path, Some(&a.token))
            .await
            .assert_problem(404, "not_found");
        // The owner reads it.
        assert_eq!(app.get(&path, Some(&b.token)).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn a_member_of_another_organisation_changes_nothing() {
    let app = spawn_app().await;
    let (a, b, site, key, inv) = setup(&app).await;
    let events_before = app.count("events").await;
    let org = format!("/v1/organisations/{}", b.id);
    let writes: Vec<(reqwest::Method, String, Option<serde_json::Value>)> = vec![
        (
            reqwest::Method::PATCH,
            org.clone(),
            Some(
                json!({"name": "Pirate", "insee_code": "41230", "address": "x", "postcode": "41000", "city": "x", "siret": crate::helpers::unique_siret()}),
            ),
        ),
        (
            reqwest::Method::POST,
            format!("{org}/sites"),
            Some(site_body()),
        ),
        (
            reqwest::Method::PATCH,
            format!("{org}/sites/{site}"),
            Some(site_body()),
        ),
        (reqwest::Method::DELETE, format!("{org}/sites/{site}"), None),
        (
            reqwest::Method::PUT,
            format!("{org}/members/{}", b.admin_id),
            Some(json!({ "role": "agent" })),
        ),
        (
            reqwest::Method::DELETE,
            format!("{org}/members/{}", b.admin_id),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("{org}/invitations"),
            Some(json!({ "email": "pirate@exemple.fr", "role": "admin" })),
        ),
        (
            reqwest::Method::DELETE,
            format!("{org}/invitations/{inv}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("{org}/api-keys"),
            Some(json!({ "name": "pirate" })),
        ),
        (
            reqwest::Method::DELETE,
            format!("{org}/api-keys/{key}"),
            None,
        ),
    ];
    for (method, path, body) in writes {
        let r = app
            .send(method.clone(), &path, Some(&a.token), body, &[])
            .await;
        r.assert_problem(403, "forbidden");
    }
    assert_eq!(app.count("events").await, events_before);
    assert_eq!(app.count("sites").await, 1);
    assert_eq!(app.count("api_keys").await, 1);
    assert_eq!(app.count("memberships").await, 2);
}

#[tokio::test]
async fn the_operator_reads_other_organisations_but_does_not_act_in_them() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let (_, b, site, _, _) = setup(&app).await;
    assert_eq!(
        app.get(
            &format!("/v1/organisations/{}/sites/{site}", b.id),
            Some(&operator)
        )
        .await
        .status,
        200
    );
    app.post(
        &format!("/v1/organisations/{}/sites", b.id),
        Some(&operator),
        site_body(),
    )
    .await
    .assert_problem(403, "forbidden");
}
