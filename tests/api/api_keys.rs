use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_api_key_is_shown_once_acts_as_an_agent_and_stops_when_revoked() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let base = format!("/v1/organisations/{}/api-keys", town.id);
    let created = app
        .post(
            &base,
            Some(&town.token),
            json!({ "name": "GLPI de la mairie" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let key = created.body["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("rmk_"));
    let key_id = created.body["api_key"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // `Location` reads the key's record (never the key), for the organisation's admins only.
    let location = created.header("location").expect("location");
    let one = app.get(&location, Some(&town.token)).await;
    assert_eq!(one.body["id"], key_id.as_str(), "{}", one.text);
    assert!(!one.text.contains(&key));
    app.get(&location, Some(&key))
        .await
        .assert_problem(403, "forbidden");
    let stranger = app.register("public_body").await;
    app.get(&location, Some(&stranger.token))
        .await
        .assert_problem(404, "not_found");

    let listed = app.get(&base, Some(&town.token)).await;
    assert!(!listed.text.contains(&key), "the key is never listed");
    assert_eq!(listed.body["items"][0]["role"], "agent");

    let me = app.get("/v1/me", Some(&key)).await;
    assert_eq!(me.body["api_key_id"], key_id.as_str());
    assert_eq!(me.body["memberships"][0]["role"], "agent");
    assert_eq!(
        app.get(&format!("/v1/organisations/{}/sites", town.id), Some(&key))
            .await
            .status,
        200
    );
    // Agents (and so keys) do not manage keys or members.
    app.post(&base, Some(&key), json!({ "name": "autre" }))
        .await
        .assert_problem(403, "forbidden");

    assert_eq!(
        app.delete(&format!("{base}/{key_id}"), Some(&town.token))
            .await
            .status,
        204
    );
    app.get("/v1/me", Some(&key))
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(
        app.delete(&format!("{base}/{key_id}"), Some(&town.token))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn a_key_needs_a_name_and_a_future_expiry_and_agents_cannot_create_one() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let (agent, _) = app.add_member(&town, "agent").await;
    let base = format!("/v1/organisations/{}/api-keys", town.id);
    app.post(&base, Some(&town.token), json!({ "name": " " }))
        .await
        .assert_problem(422, "validation_failed");
    app.post(
        &base,
        Some(&town.token),
        json!({ "name": "x", "expires_at": "2001-01-01T00:00:00Z" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(&base, Some(&agent), json!({ "name": "x" }))
        .await
        .assert_problem(403, "forbidden");
    app.get(&base, Some(&agent))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.count("api_keys").await, 0);
}
