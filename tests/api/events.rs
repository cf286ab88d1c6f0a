use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_write_is_in_the_organisation_audit_log_and_the_chain_verifies() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let base = format!("/v1/organisations/{}", town.id);
    app.post(&format!("{base}/sites"), Some(&town.token), json!({
        "name": "Mairie", "kind": "office", "address": "1 place", "postcode": "41000", "city": "X", "insee_code": "41230"
    })).await;
    app.add_member(&town, "agent").await;
    let events = app.get(&format!("{base}/events"), Some(&town.token)).await;
    let kinds: Vec<_> = events.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "organisation_registered",
            "member_added",
            "site_created",
            "invitation_created",
            "member_added"
        ]
    );
    assert_eq!(
        events.body["items"][1]["prev_hash"],
        events.body["items"][0]["hash"]
    );
    let verify = app
        .get(&format!("{base}/events/verify"), Some(&town.token))
        .await;
    assert_eq!(verify.body["valid"], true, "{}", verify.text);
    assert_eq!(verify.body["events"], 5);
}

#[tokio::test]
async fn editing_one_event_row_in_the_database_breaks_the_chain_there() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    app.add_member(&town, "agent").await;
    let backend = app.db.get_database_backend();
    app.db
        .execute_raw(sea_orm::Statement::from_string(
            backend,
            "UPDATE events SET payload = '{\"role\":\"admin\",\"user_id\":\"pirate\"}' WHERE seq = 2".to_owned(),
        ))
        .await
        .expect("tamper");
    let verify = app
        .get(
            &format!("/v1/organisations/{}/events/verify", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(verify.body["valid"], false, "{}", verify.text);
    assert_eq!(verify.body["broken_at_seq"], 2);
    assert_eq!(verify.body["reason"], "hash_mismatch");
}

#[tokio::test]
async fn agents_read_the_event_feed_but_may_not_verify_the_chain() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let (agent, _) = app.add_member(&town, "agent").await;
    let feed = app
        .get(
            &format!("/v1/organisations/{}/events", town.id),
            Some(&agent),
        )
        .await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    assert_eq!(feed.body["items"][0]["type"], "organisation.registered");
    app.get(
        &format!("/v1/organisations/{}/events/verify", town.id),
        Some(&agent),
    )
    .await
    .assert_problem(403, "forbidden");
}
