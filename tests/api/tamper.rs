//! Tamper evidence: the database edited behind the service's back (through sea-orm, as an
//! attacker with write access would) is detected, with a reason a person reads: the last
//! events deleted, an event moved to another organisation, a device's status edited, and a
//! chain rewritten consistently end to end, caught against a checkpoint kept before.

use reemploi_api::store::entities::{event, event_stream, item};
use reemploi_domain::audit::{ChainedEvent, GENESIS_HASH, canonical_json, event_hash};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{Chain, TestApp, chain_at, spawn_app};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

fn laptops(n: usize) -> Vec<Value> {
    (0..n)
        .map(|_| json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "has_data_storage": true }))
        .collect()
}

async fn stream_events(app: &TestApp, stream: &str) -> Vec<event::Model> {
    event::Entity::find()
        .filter(event::Column::Stream.eq(stream))
        .order_by_asc(event::Column::Seq)
        .all(&app.db)
        .await
        .expect("events")
}

async fn verify_item(app: &TestApp, chain: &Chain, id: &str, lang: Option<&str>) -> Value {
    let headers: Vec<(&str, &str)> = lang.map(|l| ("accept-language", l)).into_iter().collect();
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/items/{id}/events/verify"),
            Some(&chain.atelier.token),
            None,
            &headers,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn public(app: &TestApp, chain: &Chain, id: &str) -> (Value, String) {
    let item = app
        .get(&format!("/v1/items/{id}"), Some(&chain.atelier.token))
        .await;
    let code = item.body["public_code"].as_str().expect("code").to_owned();
    let json = app
        .get(&format!("/v1/public/items/{code}"), None)
        .await
        .body;
    let html = app
        .client
        .get(app.url(&format!("/p/{code}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    (json, html)
}

async fn delete_last(app: &TestApp, stream: &str, n: usize) {
    let events = stream_events(app, stream).await;
    for e in events.iter().rev().take(n) {
        event::Entity::delete_by_id(e.id)
            .exec(&app.db)
            .await
            .expect("delete");
    }
}

/// Rewrites a whole chain consistently: the first event says another model, every hash is
/// recomputed by the service's own rule, and the head is updated to match.
async fn rewrite_consistently(app: &TestApp, stream: &str) {
    let events = stream_events(app, stream).await;
    let mut prev = GENESIS_HASH.to_owned();
    for (i, e) in events.iter().enumerate() {
        let mut payload: Value = serde_json::from_str(&e.payload).expect("payload");
        if i == 0 {
            payload["model"] = json!("Modèle falsifié");
        }
        let state: Option<Value> = e
            .state
            .as_deref()
            .map(|s| serde_json::from_str(s).expect("state"));
        let org = e.organisation_id.map(|o| o.to_string());
        let hash = event_hash(&ChainedEvent {
            version: e.hash_version,
            stream: &e.stream,
            seq: e.seq,
            kind: &e.kind,
            occurred_at: &e.occurred_at,
            actor: &e.actor,
            organisation_id: org.as_deref(),
            payload: &payload,
            state: state.as_ref(),
            prev_hash: &prev,
        });
        event::Entity::update_many()
            .col_expr(
                event::Column::Payload,
                Expr::value(canonical_json(&payload)),
            )
            .col_expr(event::Column::PrevHash, Expr::value(prev.clone()))
            .col_expr(event::Column::Hash, Expr::value(hash.clone()))
            .filter(event::Column::Id.eq(e.id))
            .exec(&app.db)
            .await
            .expect("rewrite");
        prev = hash;
    }
    event_stream::Entity::update_many()
        .col_expr(event_stream::Column::LastHash, Expr::value(prev))
        .filter(event_stream::Column::Stream.eq(stream))
        .exec(&app.db)
        .await
        .expect("head");
}

#[tokio::test]
async fn deleting_the_last_event_or_the_last_two_is_detected_with_a_readable_reason() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let ids = app.make_available(&chain, &laptops(2)).await;

    let intact = verify_item(&app, &chain, &ids[0], None).await;
    assert_eq!(intact["valid"], true, "{intact}");
    let n = intact["events"].as_i64().expect("count");
    assert!(n >= 5, "{intact}");
    assert!(intact.get("reason").is_none());

    delete_last(&app, &format!("item/{}", ids[0]), 1).await;
    let one = verify_item(&app, &chain, &ids[0], None).await;
    assert_eq!(one["valid"], false, "{one}");
    assert_eq!(one["reason"], "truncated");
    assert_eq!(one["broken_at_seq"], n);
    assert_eq!(
        one["message"],
        format!(
            "Le dernier événement (n° {n}) a été supprimé : l'historique s'arrête au n° {}.",
            n - 1
        )
    );
    let en = verify_item(&app, &chain, &ids[0], Some("en")).await;
    assert!(
        en["message"]
            .as_str()
            .is_some_and(|m| m.contains("were removed")),
        "{en}"
    );
    let (page, html) = public(&app, &chain, &ids[0]).await;
    assert_eq!(page["history_verified"], false);
    assert!(
        page["history_problem"]
            .as_str()
            .is_some_and(|m| m.contains("a été supprimé")),
        "{page}"
    );
    assert!(html.contains("Historique non vérifié"));
    assert!(html.contains("a été supprimé"), "{html}");

    delete_last(&app, &format!("item/{}", ids[1]), 2).await;
    let two = verify_item(&app, &chain, &ids[1], None).await;
    assert_eq!(two["valid"], false, "{two}");
    assert_eq!(two["reason"], "truncated");
    assert_eq!(
        two["message"],
        format!(
            "Les 2 derniers événements (n° {} à {n}) ont été supprimés : l'historique s'arrête au n° {}.",
            n - 1,
            n - 2
        )
    );
}

#[tokio::test]
async fn an_event_moved_to_another_organisation_is_detected_in_both_logs() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let ids = app.make_available(&chain, &laptops(1)).await;
    let stranger = app.register("association").await;
    app.verify(&chain.operator, &stranger).await;
    let path = |org: &str| format!("/v1/organisations/{org}/events/verify");
    let before = app.get(&path(&stranger.id), Some(&stranger.token)).await;
    assert_eq!(before.body["valid"], true, "{}", before.text);

    // A device event of the refurbisher now shows in the association's log.
    let stream = format!("item/{}", ids[0]);
    let moved = stream_events(&app, &stream).await[2].clone();
    assert_eq!(
        moved.organisation_id.map(|o| o.to_string()),
        Some(chain.atelier.id.clone())
    );
    let stranger_id: uuid::Uuid = stranger.id.parse().expect("uuid");
    event::Entity::update_many()
        .col_expr(
            event::Column::OrganisationId,
            Expr::value(Some(stranger_id)),
        )
        .filter(event::Column::Id.eq(moved.id))
        .exec(&app.db)
        .await
        .expect("move");
    let feed = app
        .get(
            &format!("/v1/organisations/{}/events", stranger.id),
            Some(&stranger.token),
        )
        .await;
    assert!(
        feed.text.contains(&moved.id.to_string()),
        "the move shows in the feed"
    );
    let after = app.get(&path(&stranger.id), Some(&stranger.token)).await;
    assert_eq!(after.body["valid"], false, "{}", after.text);
    assert_eq!(after.body["reason"], "hash_mismatch");
    assert_eq!(after.body["stream"], stream.as_str());
    assert_eq!(after.body["broken_at_seq"], moved.seq);
    assert!(
        after.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("rattaché à une autre organisation")),
        "{}",
        after.text
    );
    let device = verify_item(&app, &chain, &ids[0], None).await;
    assert_eq!(device["reason"], "hash_mismatch", "{device}");

    // An event of the public body's own chain moved out of it breaks that chain.
    let town_stream = format!("organisation/{}", chain.town.id);
    let own = stream_events(&app, &town_stream).await[1].clone();
    event::Entity::update_many()
        .col_expr(
            event::Column::OrganisationId,
            Expr::value(Some(stranger_id)),
        )
        .filter(event::Column::Id.eq(own.id))
        .exec(&app.db)
        .await
        .expect("move");
    let town = app
        .get(&path(&chain.town.id), Some(&chain.town.token))
        .await;
    assert_eq!(town.body["valid"], false, "{}", town.text);
    assert_eq!(town.body["reason"], "hash_mismatch");
    assert_eq!(town.body["broken_at_seq"], own.seq);
}

#[tokio::test]
async fn a_device_whose_status_owner_or_custodian_is_edited_no_longer_shows_a_verified_history() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let ids = app.make_available(&chain, &laptops(2)).await;
    let (page, _) = public(&app, &chain, &ids[0]).await;
    assert_eq!(page["history_verified"], true, "{page}");

    let id: uuid::Uuid = ids[0].parse().expect("uuid");
    item::Entity::update_many()
        .col_expr(item::Column::Status, Expr::value("donated"))
        .filter(item::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .expect("edit");
    let v = verify_item(&app, &chain, &ids[0], None).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["reason"], "state_mismatch");
    assert!(
        v["message"].as_str().is_some_and(|m| m
            .contains("le statut vaut « donated », alors que le dernier événement")
            && m.contains("« available »")),
        "{v}"
    );
    let (page, html) = public(&app, &chain, &ids[0]).await;
    assert_eq!(page["history_verified"], false, "{page}");
    assert!(
        html.contains("ne correspond pas à son historique"),
        "{html}"
    );

    // The owner too.
    let other: uuid::Uuid = chain.town.id.parse().expect("uuid");
    let id: uuid::Uuid = ids[1].parse().expect("uuid");
    item::Entity::update_many()
        .col_expr(item::Column::OwnerId, Expr::value(other))
        .filter(item::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .expect("edit");
    let v = verify_item(&app, &chain, &ids[1], None).await;
    assert_eq!(v["reason"], "state_mismatch", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("le propriétaire")),
        "{v}"
    );
}

#[tokio::test]
async fn a_chain_rewritten_consistently_passes_alone_but_not_against_a_checkpoint_kept_before() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let ids = app.make_available(&chain, &laptops(1)).await;

    // Only the operator takes a checkpoint on demand; anyone reads and checks them.
    app.post("/v1/checkpoints", None, json!({}))
        .await
        .assert_problem(401, "unauthenticated");
    app.post("/v1/checkpoints", Some(&chain.town.token), json!({}))
        .await
        .assert_problem(403, "forbidden");
    let taken = app
        .post("/v1/checkpoints", Some(&chain.operator), json!({}))
        .await;
    assert_eq!(taken.status, 201, "{}", taken.text);
    let kept = taken.body.clone();
    let stream = format!("item/{}", ids[0]);
    let heads = kept["heads"].as_array().expect("heads");
    assert!(heads.iter().any(|h| h["stream"] == stream.as_str()));
    assert_eq!(kept["streams"].as_u64(), Some(heads.len() as u64));
    let latest = app.get("/v1/checkpoints/latest", None).await;
    assert_eq!(latest.body["id"], kept["id"]);
    let key = app.get("/v1/checkpoints/key", None).await;
    assert_eq!(key.body["public_key"], kept["public_key"]);
    assert_eq!(key.body["algorithm"], "ed25519");
    let list = app.get("/v1/checkpoints", None).await;
    assert_eq!(list.body["items"][0]["id"], kept["id"]);

    // Untouched, the history extends the checkpoint (events appended since change nothing).
    let next = app
        .post("/v1/checkpoints", Some(&chain.operator), json!({}))
        .await;
    assert_eq!(next.status, 201, "{}", next.text);
    let ok = app.post("/v1/checkpoints/verify", None, kept.clone()).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["valid"], true, "{}", ok.text);
    assert_eq!(ok.body["signature_valid"], true);
    assert_eq!(ok.body["key_is_current"], true);

    // A forged checkpoint (its root changed) is refused by its signature.
    let mut forged = kept.clone();
    forged["heads"][0]["seq"] = json!(999);
    let bad = app.post("/v1/checkpoints/verify", None, forged).await;
    assert_eq!(bad.body["valid"], false);
    assert_eq!(bad.body["signature_valid"], false, "{}", bad.text);
    assert!(
        bad.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("signature")),
        "{}",
        bad.text
    );

    // The whole device chain rewritten, heads included: it verifies on its own…
    rewrite_consistently(&app, &stream).await;
    let alone = verify_item(&app, &chain, &ids[0], None).await;
    assert_eq!(
        alone["valid"], true,
        "a consistent rewrite fools the chain alone: {alone}"
    );
    // …but not against the checkpoint kept before.
    let caught = app.post("/v1/checkpoints/verify", None, kept.clone()).await;
    assert_eq!(caught.body["valid"], false, "{}", caught.text);
    assert_eq!(caught.body["signature_valid"], true);
    let problems = caught.body["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{}", caught.text);
    assert_eq!(problems[0]["stream"], stream.as_str());
    assert_eq!(problems[0]["code"], "rewritten");
    assert!(
        problems[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("L'historique « {stream} » a été réécrit"))),
        "{}",
        caught.text
    );
    assert!(
        caught.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("a été altéré")),
        "{}",
        caught.text
    );

    // Deleting a stream kept in the checkpoint shows too.
    let town_stream = format!("organisation/{}", chain.town.id);
    event::Entity::delete_many()
        .filter(event::Column::Stream.eq(town_stream.clone()))
        .exec(&app.db)
        .await
        .expect("delete");
    event_stream::Entity::delete_by_id(town_stream.clone())
        .exec(&app.db)
        .await
        .expect("delete head");
    let gone = app.post("/v1/checkpoints/verify", None, kept).await;
    let problems = gone.body["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p["stream"] == town_stream.as_str() && p["code"] == "stream_missing"),
        "{}",
        gone.text
    );
}

#[tokio::test]
async fn events_hashed_by_the_first_rule_still_verify() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    // Make the public body's chain what a database from before migration 14 holds: version-1
    // hashes, no organisation or state in them.
    let stream = format!("organisation/{}", chain.town.id);
    let mut prev = GENESIS_HASH.to_owned();
    for e in stream_events(&app, &stream).await {
        let payload: Value = serde_json::from_str(&e.payload).expect("payload");
        let hash = event_hash(&ChainedEvent {
            version: 1,
            stream: &e.stream,
            seq: e.seq,
            kind: &e.kind,
            occurred_at: &e.occurred_at,
            actor: &e.actor,
            organisation_id: None,
            payload: &payload,
            state: None,
            prev_hash: &prev,
        });
        event::Entity::update_many()
            .col_expr(event::Column::HashVersion, Expr::value(1))
            .col_expr(event::Column::PrevHash, Expr::value(prev.clone()))
            .col_expr(event::Column::Hash, Expr::value(hash.clone()))
            .filter(event::Column::Id.eq(e.id))
            .exec(&app.db)
            .await
            .expect("v1");
        prev = hash;
    }
    event_stream::Entity::update_many()
        .col_expr(event_stream::Column::LastHash, Expr::value(prev))
        .filter(event_stream::Column::Stream.eq(stream.clone()))
        .exec(&app.db)
        .await
        .expect("head");
    let path = format!("/v1/organisations/{}/events/verify", chain.town.id);
    let v = app.get(&path, Some(&chain.town.token)).await;
    assert_eq!(v.body["valid"], true, "{}", v.text);
    // New events chain on with the second rule.
    app.site(&chain.town, 47.6, 1.3).await;
    let v = app.get(&path, Some(&chain.town.token)).await;
    assert_eq!(v.body["valid"], true, "{}", v.text);
    let last = stream_events(&app, &stream).await.pop().expect("event");
    assert_eq!(last.hash_version, 2);
    // An edit of an old event is still caught by its own rule.
    let first = stream_events(&app, &stream).await[0].clone();
    event::Entity::update_many()
        .col_expr(event::Column::Actor, Expr::value("user/someone-else"))
        .filter(event::Column::Id.eq(first.id))
        .exec(&app.db)
        .await
        .expect("edit");
    let v = app.get(&path, Some(&chain.town.token)).await;
    assert_eq!(v.body["reason"], "hash_mismatch", "{}", v.text);
    assert_eq!(v.body["broken_at_seq"], 1);
}

#[tokio::test]
async fn the_daily_checkpoint_is_taken_once_a_day_and_verifies() {
    let app = spawn_app().await;
    let signer =
        std::sync::Arc::new(reemploi_api::signing::Signer::from_seed(&[5u8; 32]).expect("key"));
    let first = reemploi_api::commands::checkpoints::take_daily(&app.db, &signer)
        .await
        .expect("daily");
    let first = first.expect("none was taken today");
    assert_eq!(first.public_key, signer.public_key_hex());
    let again = reemploi_api::commands::checkpoints::take_daily(&app.db, &signer)
        .await
        .expect("daily");
    assert!(again.is_none(), "one a day");
    let doc = app
        .get(&format!("/v1/checkpoints/{}", first.id), None)
        .await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let check = app.post("/v1/checkpoints/verify", None, doc.body).await;
    assert_eq!(check.body["valid"], true, "{}", check.text);
    // Signed with another key than the service's current one: authentic, but said so.
    assert_eq!(check.body["key_is_current"], false);
    app.get(&format!("/v1/checkpoints/{}", uuid::Uuid::now_v7()), None)
        .await
        .assert_problem(404, "not_found");
}
