//! Lots from creation to collection, claims under concurrency, visibility and eligibility.

use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, spawn_app};

const BLOIS: (f64, f64) = (47.5861, 1.3359);
const TOULOUSE: (f64, f64) = (43.6045, 1.4440);

struct World {
    town: Org,
    atelier: Org,
    operator: String,
    site: String,
}

async fn world(app: &TestApp) -> World {
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    let atelier = app.register("refurbisher").await;
    app.verify(&operator, &town).await;
    app.verify(&operator, &atelier).await;
    app.site(&atelier, BLOIS.0, BLOIS.1).await;
    let site = app.site(&town, BLOIS.0 + 0.05, BLOIS.1).await;
    World {
        town,
        atelier,
        operator,
        site,
    }
}

fn lot(site: &str, policy: &str, visibility: &str, mode: &str) -> Value {
    let mut body = json!({
        "title": "Parc informatique mairie 2026 — 30 postes",
        "description": "Portables, fixes et écrans réformés.",
        "pickup_site_id": site,
        "pickup_from": "2026-12-01",
        "pickup_until": "2026-12-14",
        "allocation_policy": policy,
        "visibility": visibility,
        "cession_mode": mode,
    });
    if policy == "selection" {
        body["claim_deadline"] = json!("2026-12-05");
    }
    if visibility == "radius_km" {
        body["radius_km"] = json!(50);
    }
    body
}

/// A published lot of `n` laptops.
async fn published(
    app: &TestApp,
    w: &World,
    n: usize,
    policy: &str,
    visibility: &str,
    mode: &str,
) -> (String, Vec<String>) {
    let items = app.items(&w.town, "laptop", n).await;
    let created = app
        .post(
            "/v1/lots",
            Some(&w.town.token),
            lot(&w.site, policy, visibility, mode),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("lot id").to_owned();
    let added = app
        .post(
            &format!("/v1/lots/{id}/items"),
            Some(&w.town.token),
            json!({ "item_ids": items }),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let r = app
        .post(
            &format!("/v1/lots/{id}/publish"),
            Some(&w.town.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (id, items)
}

async fn status_of(app: &TestApp, token: &str, item: &str) -> String {
    app.get(&format!("/v1/items/{item}"), Some(token))
        .await
        .body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The same service started again over the same database on a later day (`REEMPLOI_TODAY`):
/// its base URL. Claims are received until a `selection` lot's deadline and chosen after it.
async fn on_day(app: &TestApp, today: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let vars = [
        ("REEMPLOI_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "REEMPLOI_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("DATABASE_URL".to_owned(), app.database_url.clone()),
        ("REEMPLOI_OUTBOX_POLL_MS".to_owned(), "50".to_owned()),
        ("REEMPLOI_DB_MAX_CONNECTIONS".to_owned(), "5".to_owned()),
        ("REEMPLOI_TODAY".to_owned(), today.to_owned()),
    ];
    let settings = reemploi_api::config::Settings::from_vars(|k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("settings");
    let mailer = reemploi_api::mail::MemoryMailer::default();
    let running = reemploi_api::app::spawn(settings, std::sync::Arc::new(mailer))
        .await
        .expect("service starts");
    // The data directory lives as long as the test process.
    std::mem::forget(dir);
    format!("http://{}", running.addr)
}

/// Posts an empty body to `path` on the service at `base`: status and body.
async fn post_at(app: &TestApp, base: &str, path: &str, token: &str) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .expect("request sent");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_lot_goes_from_draft_to_collection_with_one_missing_device() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (lot_id, items) = published(&app, &w, 5, "first_come", "radius_km", "to_refurbisher").await;
    for i in &items {
        assert_eq!(status_of(&app, &w.town.token, i).await, "listed");
    }
    let open = app.get("/v1/lots/open", Some(&w.atelier.token)).await;
    assert_eq!(
        open.body["items"][0]["id"],
        lot_id.as_str(),
        "{}",
        open.text
    );
    assert_eq!(open.body["items"][0]["categories"][0]["count"], 5);

    let claim = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&w.atelier.token),
            json!({ "message": "Nous passons mardi." }),
        )
        .await;
    assert_eq!(claim.status, 201, "{}", claim.text);
    assert_eq!(claim.body["status"], "accepted");
    // The claim reads where `Location` says, for its refurbisher and the lot's body only.
    let location = claim.header("location").expect("location");
    for token in [&w.atelier.token, &w.town.token] {
        let r = app.get(&location, Some(token)).await;
        assert_eq!(r.body["id"], claim.body["id"], "{}", r.text);
    }
    let stranger = app.register("refurbisher").await;
    app.get(&location, Some(&stranger.token))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(status_of(&app, &w.town.token, &items[0]).await, "awarded");
    let lot_now = app
        .get(&format!("/v1/lots/{lot_id}"), Some(&w.atelier.token))
        .await;
    assert_eq!(lot_now.body["status"], "awarded");

    let collection = json!({
        "occurred_on": "2026-11-28",
        "missing_item_ids": [items[4]],
        "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
        "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
    });
    let r = app
        .post(
            &format!("/v1/lots/{lot_id}/collection"),
            Some(&w.atelier.token),
            collection.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["collected"], 4);
    assert_eq!(r.body["missing"], 1);
    assert_eq!(r.body["ownership_transferred"], true);
    let collected = app
        .get(&format!("/v1/items/{}", items[0]), Some(&w.atelier.token))
        .await;
    assert_eq!(collected.body["status"], "collected");
    assert_eq!(collected.body["owner_id"], w.atelier.id.as_str());
    assert_eq!(collected.body["custodian_id"], w.atelier.id.as_str());
    let missing = app
        .get(&format!("/v1/items/{}", items[4]), Some(&w.town.token))
        .await;
    assert_eq!(missing.body["status"], "inventoried");
    assert!(missing.body["lot_id"].is_null());
    // The refurbisher now lists the devices in its custody.
    let custody = app
        .get("/v1/items?status=collected", Some(&w.atelier.token))
        .await;
    assert_eq!(custody.body["items"].as_array().map(Vec::len), Some(4));
    // A second collection of the same lot is refused.
    app.post(
        &format!("/v1/lots/{lot_id}/collection"),
        Some(&w.atelier.token),
        collection,
    )
    .await
    .assert_problem(409, "invalid_transition");

    let code = collected.body["public_code"].as_str().expect("code");
    let public = app.get(&format!("/v1/public/items/{code}"), None).await;
    let steps: Vec<_> = public.body["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["step"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(steps, ["item_registered", "list", "award", "collect"]);
    assert_eq!(
        public.body["history"][3]["to_organisation"],
        "Atelier Solidaire du Val"
    );
    assert_eq!(public.body["history_verified"], true);
}

#[tokio::test]
async fn fifty_refurbishers_claiming_a_first_come_lot_at_once_get_exactly_one_acceptance() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (lot_id, _) = published(&app, &w, 3, "first_come", "all_verified", "service").await;
    let mut refurbishers = Vec::new();
    for _ in 0..49 {
        let r = app.register("refurbisher").await;
        app.verify(&w.operator, &r).await;
        refurbishers.push(r);
    }
    refurbishers.push(w.atelier.clone());
    let path = format!("/v1/lots/{lot_id}/claims");
    let claims = refurbishers
        .iter()
        .map(|r| app.post(&path, Some(&r.token), json!({})));
    let answers = futures::future::join_all(claims).await;
    let accepted: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        accepted.len(),
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(accepted[0].body["status"], "accepted");
    for r in answers.iter().filter(|r| r.status != 201) {
        r.assert_problem(409, "lot_already_awarded");
    }
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM claims WHERE status = 'accepted'".to_owned(),
        ))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.try_get::<i64>("", "n").expect("n"), 1);
    assert_eq!(
        app.count("claims").await,
        1,
        "refused claims leave nothing behind"
    );
}

#[tokio::test]
async fn the_database_itself_refuses_a_second_accepted_claim() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (lot_id, _) = published(&app, &w, 1, "selection", "all_verified", "service").await;
    let other = app.register("refurbisher").await;
    app.verify(&w.operator, &other).await;
    let a = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&w.atelier.token),
            json!({}),
        )
        .await;
    let b = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&other.token),
            json!({}),
        )
        .await;
    assert_eq!(
        (a.body["status"].as_str(), b.body["status"].as_str()),
        (Some("pending"), Some("pending"))
    );
    use reemploi_api::store::entities::claim;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let mut accepted = 0;
    for body in [&a.body, &b.body] {
        let id: uuid::Uuid = body["id"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .expect("uuid");
        let done = claim::Entity::update_many()
            .col_expr(claim::Column::Status, Expr::value("accepted"))
            .filter(claim::Column::Id.eq(id))
            .exec(&app.db)
            .await;
        if done.is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 1,
        "the unique partial index allows one accepted claim per lot"
    );
}

#[tokio::test]
async fn with_selection_the_body_accepts_one_claim_and_the_others_are_rejected() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (lot_id, items) = published(&app, &w, 2, "selection", "all_verified", "service").await;
    let other = app.register("refurbisher").await;
    app.verify(&w.operator, &other).await;
    let a = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&w.atelier.token),
            json!({ "proposed_pickup_date": "2026-12-08" }),
        )
        .await;
    let b = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&other.token),
            json!({}),
        )
        .await;
    app.post(
        &format!("/v1/lots/{lot_id}/claims"),
        Some(&other.token),
        json!({}),
    )
    .await
    .assert_problem(409, "already_claimed");
    let claims = app
        .get(&format!("/v1/lots/{lot_id}/claims"), Some(&w.town.token))
        .await;
    assert_eq!(claims.body["items"].as_array().map(Vec::len), Some(2));
    let a_id = a.body["id"].as_str().expect("id");
    // Refurbishers cannot accept.
    app.post(
        &format!("/v1/claims/{a_id}/accept"),
        Some(&other.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    // The body chooses once the claim deadline (2026-12-05) has passed.
    let later = on_day(&app, "2026-12-06").await;
    let (status, accepted) = post_at(
        &app,
        &later,
        &format!("/v1/claims/{a_id}/accept"),
        &w.town.token,
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    let b_id = b.body["id"].as_str().expect("id");
    let mine = app.get("/v1/claims", Some(&other.token)).await;
    assert_eq!(mine.body["items"][0]["status"], "rejected");
    // Rejected, it no longer reads the awarded lot.
    app.get(&format!("/v1/lots/{lot_id}"), Some(&other.token))
        .await
        .assert_problem(404, "not_found");
    app.post(
        &format!("/v1/claims/{b_id}/accept"),
        Some(&w.town.token),
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    app.post(
        &format!("/v1/claims/{a_id}/withdraw"),
        Some(&w.atelier.token),
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    assert_eq!(status_of(&app, &w.town.token, &items[0]).await, "awarded");
}

#[tokio::test]
async fn a_refurbisher_outside_the_visibility_neither_sees_nor_claims() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let far = app.register("refurbisher").await;
    app.verify(&w.operator, &far).await;
    app.site(&far, TOULOUSE.0, TOULOUSE.1).await;
    let (radius_lot, _) = published(&app, &w, 1, "first_come", "radius_km", "service").await;
    let (partner_lot, _) = published(&app, &w, 1, "first_come", "partners", "service").await;
    assert_eq!(
        app.get("/v1/lots/open", Some(&far.token)).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    for lot_id in [&radius_lot, &partner_lot] {
        app.get(&format!("/v1/lots/{lot_id}"), Some(&far.token))
            .await
            .assert_problem(404, "not_found");
        app.post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&far.token),
            json!({}),
        )
        .await
        .assert_problem(404, "not_found");
    }
    // The atelier is near but not a partner yet.
    app.get(&format!("/v1/lots/{partner_lot}"), Some(&w.atelier.token))
        .await
        .assert_problem(404, "not_found");
    let refurbishers = app.get("/v1/refurbishers", Some(&w.town.token)).await;
    assert_eq!(refurbishers.body["items"].as_array().map(Vec::len), Some(2));
    let p = app
        .post(
            "/v1/partnerships",
            Some(&w.town.token),
            json!({ "refurbisher_id": w.atelier.id }),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    // Both parties read it where `Location` says; a third refurbisher does not.
    let location = p.header("location").expect("location");
    for token in [&w.town.token, &w.atelier.token] {
        let r = app.get(&location, Some(token)).await;
        assert_eq!(
            r.body["refurbisher_id"],
            w.atelier.id.as_str(),
            "{}",
            r.text
        );
    }
    app.get(&location, Some(&far.token))
        .await
        .assert_problem(404, "not_found");
    // The body's partnerships come page by page.
    let second = app
        .post(
            "/v1/partnerships",
            Some(&w.town.token),
            json!({ "refurbisher_id": far.id }),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let first_page = app
        .get("/v1/partnerships?limit=1", Some(&w.town.token))
        .await;
    assert_eq!(
        first_page.body["items"][0]["refurbisher_id"],
        w.atelier.id.as_str()
    );
    let cursor = first_page.body["next_cursor"]
        .as_str()
        .expect("a second page");
    let next = app
        .get(
            &format!("/v1/partnerships?limit=1&cursor={cursor}"),
            Some(&w.town.token),
        )
        .await;
    assert_eq!(
        next.body["items"][0]["refurbisher_id"],
        far.id.as_str(),
        "{}",
        next.text
    );
    assert!(next.body["next_cursor"].is_null(), "{}", next.text);
    app.delete(
        &format!(
            "/v1/partnerships/{}",
            second.body["id"].as_str().expect("id")
        ),
        Some(&w.town.token),
    )
    .await;
    app.post(
        "/v1/partnerships",
        Some(&w.town.token),
        json!({ "refurbisher_id": w.atelier.id }),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        "/v1/partnerships",
        Some(&w.town.token),
        json!({ "refurbisher_id": w.town.id }),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(
        app.get(&format!("/v1/lots/{partner_lot}"), Some(&w.atelier.token))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/v1/lots/open", Some(&w.atelier.token)).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(app.count("claims").await, 0);
}

#[tokio::test]
async fn unverified_or_unaccredited_organisations_are_refused() {
    let app = spawn_app().await;
    let w = world(&app).await;
    // An unverified public body prepares a lot but cannot publish it.
    let pending_town = app.register("public_body").await;
    let site = app.site(&pending_town, BLOIS.0, BLOIS.1).await;
    let items = app.items(&pending_town, "desktop", 1).await;
    let l = app
        .post(
            "/v1/lots",
            Some(&pending_town.token),
            lot(&site, "first_come", "all_verified", "service"),
        )
        .await;
    let lot_id = l.body["id"].as_str().expect("id");
    app.post(
        &format!("/v1/lots/{lot_id}/items"),
        Some(&pending_town.token),
        json!({ "item_ids": items }),
    )
    .await;
    app.post(
        &format!("/v1/lots/{lot_id}/publish"),
        Some(&pending_town.token),
        json!({}),
    )
    .await
    .assert_problem(403, "organisation_not_verified");

    let (to_refurbisher, _) =
        published(&app, &w, 1, "first_come", "all_verified", "to_refurbisher").await;
    let unverified = app.register("refurbisher").await;
    app.get("/v1/lots/open", Some(&unverified.token))
        .await
        .assert_problem(403, "organisation_not_verified");
    app.post(
        &format!("/v1/lots/{to_refurbisher}/claims"),
        Some(&unverified.token),
        json!({}),
    )
    .await
    .assert_problem(403, "organisation_not_verified");
    // A verified refurbisher without ESUS accreditation cannot receive devices ceded to it.
    let mut body =
        crate::helpers::registration("refurbisher", &crate::helpers::unique_email("sans-esus"));
    let obj = body.as_object_mut().expect("object");
    obj.remove("esus_reference");
    obj.remove("esus_expires_on");
    let r = app.post("/v1/organisations", None, body.clone()).await;
    let no_esus_id = r.body["organisation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(
        &format!("/v1/organisations/{no_esus_id}/verify"),
        Some(&w.operator),
        json!({}),
    )
    .await;
    let token = app
        .login(
            body["admin"]["email"].as_str().unwrap_or_default(),
            crate::helpers::PASSWORD,
        )
        .await;
    let refused = app
        .post(
            &format!("/v1/lots/{to_refurbisher}/claims"),
            Some(&token),
            json!({}),
        )
        .await;
    refused.assert_problem(422, "esus_required");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("ESUS"))
    );
    assert_eq!(app.count("claims").await, 0);
}

#[tokio::test]
async fn lots_are_managed_by_their_public_body_only() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let asso = app.register("association").await;
    app.post(
        "/v1/lots",
        Some(&asso.token),
        lot(&w.site, "first_come", "all_verified", "service"),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        "/v1/lots",
        Some(&w.atelier.token),
        lot(&w.site, "first_come", "all_verified", "service"),
    )
    .await
    .assert_problem(403, "forbidden");
    // Another body cannot use this body's site.
    let other = app.register("public_body").await;
    let r = app
        .post(
            "/v1/lots",
            Some(&other.token),
            lot(&w.site, "first_come", "all_verified", "service"),
        )
        .await;
    assert_eq!(r.problem_fields(), ["pickup_site_id"]);
    let (lot_id, _) = published(&app, &w, 1, "first_come", "all_verified", "service").await;
    app.post(
        &format!("/v1/lots/{lot_id}/withdraw"),
        Some(&other.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("/v1/lots/{lot_id}/publish"),
        Some(&w.atelier.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    // An agent of the body may act.
    let (agent, _) = app.add_member(&w.town, "agent").await;
    let draft = app
        .post(
            "/v1/lots",
            Some(&agent),
            lot(&w.site, "first_come", "all_verified", "service"),
        )
        .await;
    assert_eq!(draft.status, 201, "{}", draft.text);
    // A draft changes by merge patch: the title alone, the rest as it was; not by another body.
    let path = format!("/v1/lots/{}", draft.body["id"].as_str().expect("id"));
    let renamed = app
        .patch(
            &path,
            Some(&agent),
            json!({ "title": "Écrans du service culturel" }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["title"], "Écrans du service culturel");
    assert_eq!(renamed.body["pickup_site"]["id"], w.site.as_str());
    assert_eq!(renamed.body["cession_mode"], draft.body["cession_mode"]);
    assert_eq!(renamed.body["pickup_until"], draft.body["pickup_until"]);
    app.patch(&path, Some(&other.token), json!({ "title": "Pirate" }))
        .await
        .assert_problem(403, "forbidden");
    app.patch(&path, Some(&agent), json!({ "title": null }))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn bad_lots_are_refused_with_every_field() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let mut bad = lot(&w.site, "selection", "radius_km", "service");
    bad["title"] = json!(" ");
    bad["pickup_until"] = json!("2026-11-01");
    bad.as_object_mut()
        .expect("object")
        .remove("claim_deadline");
    bad.as_object_mut().expect("object").remove("radius_km");
    let r = app.post("/v1/lots", Some(&w.town.token), bad).await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.problem_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["claim_deadline", "pickup_until", "radius_km", "title"]
    );
    let mut wrong_enum = lot(&w.site, "first_come", "all_verified", "service");
    wrong_enum["cession_mode"] = json!("vente");
    app.post("/v1/lots", Some(&w.town.token), wrong_enum)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.count("lots").await, 0);
}

#[tokio::test]
async fn withdrawing_a_lot_returns_its_devices_to_the_inventory_and_wrong_moves_get_409() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (lot_id, items) = published(&app, &w, 2, "selection", "all_verified", "service").await;
    app.post(
        &format!("/v1/lots/{lot_id}/publish"),
        Some(&w.town.token),
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let claim = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&w.atelier.token),
            json!({}),
        )
        .await;
    let listed = app
        .patch(
            &format!("/v1/items/{}", items[0]),
            Some(&w.town.token),
            json!({ "inventory_number": "x", "category": "laptop" }),
        )
        .await;
    assert!(
        listed.status == 422 || listed.status == 409,
        "{}",
        listed.text
    );
    app.post(
        &format!("/v1/lots/{lot_id}/collection"),
        Some(&w.town.token),
        json!({
            "occurred_on": "2026-11-28",
            "public_body_signatory": { "name": "A", "role": "B" },
            "refurbisher_signatory": { "name": "C", "role": "D" }
        }),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let r = app
        .post(
            &format!("/v1/lots/{lot_id}/withdraw"),
            Some(&w.town.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "withdrawn");
    for i in &items {
        assert_eq!(status_of(&app, &w.town.token, i).await, "inventoried");
    }
    let claim_id = claim.body["id"].as_str().expect("id");
    let mine = app.get("/v1/claims", Some(&w.atelier.token)).await;
    assert_eq!(mine.body["items"][0]["id"], claim_id);
    assert_eq!(mine.body["items"][0]["status"], "rejected");
    app.post(
        &format!("/v1/lots/{lot_id}/withdraw"),
        Some(&w.town.token),
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    // Withdrawn devices can join another lot.
    let again = app
        .post(
            "/v1/lots",
            Some(&w.town.token),
            lot(&w.site, "first_come", "all_verified", "service"),
        )
        .await;
    let again_id = again.body["id"].as_str().expect("id");
    let added = app
        .post(
            &format!("/v1/lots/{again_id}/items"),
            Some(&w.town.token),
            json!({ "item_ids": items }),
        )
        .await;
    assert_eq!(added.body["item_count"], 2);
}

#[tokio::test]
async fn a_published_lot_can_lose_and_gain_devices_and_an_empty_lot_is_not_published() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let empty = app
        .post(
            "/v1/lots",
            Some(&w.town.token),
            lot(&w.site, "first_come", "all_verified", "service"),
        )
        .await;
    let empty_id = empty.body["id"].as_str().expect("id");
    app.post(
        &format!("/v1/lots/{empty_id}/publish"),
        Some(&w.town.token),
        json!({}),
    )
    .await
    .assert_problem(422, "lot_empty");
    let (lot_id, items) = published(&app, &w, 2, "selection", "all_verified", "service").await;
    assert_eq!(
        app.delete(
            &format!("/v1/lots/{lot_id}/items/{}", items[0]),
            Some(&w.town.token)
        )
        .await
        .status,
        204
    );
    assert_eq!(
        status_of(&app, &w.town.token, &items[0]).await,
        "inventoried"
    );
    let extra = app.items(&w.town, "monitor", 1).await;
    let r = app
        .post(
            &format!("/v1/lots/{lot_id}/items"),
            Some(&w.town.token),
            json!({ "item_ids": extra }),
        )
        .await;
    assert_eq!(r.body["item_count"], 2);
    assert_eq!(status_of(&app, &w.town.token, &extra[0]).await, "listed");
    // A device of another lot, or of another body, cannot be added.
    let other = app.register("public_body").await;
    let foreign = app.items(&other, "laptop", 1).await;
    let r = app
        .post(
            &format!("/v1/lots/{lot_id}/items"),
            Some(&w.town.token),
            json!({ "item_ids": foreign }),
        )
        .await;
    assert_eq!(r.problem_fields(), ["item_ids[0]"]);
    let second = app
        .post(
            "/v1/lots",
            Some(&w.town.token),
            lot(&w.site, "first_come", "all_verified", "service"),
        )
        .await;
    let second_id = second.body["id"].as_str().expect("id");
    app.post(
        &format!("/v1/lots/{second_id}/items"),
        Some(&w.town.token),
        json!({ "item_ids": [items[1]] }),
    )
    .await
    .assert_problem(409, "item_not_editable");
}

#[tokio::test]
async fn a_selection_claim_cannot_be_accepted_before_the_claim_deadline() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (lot_id, items) = published(&app, &w, 1, "selection", "all_verified", "service").await;
    let claim = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&w.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.status, 201, "{}", claim.text);
    let claim_id = claim.body["id"].as_str().expect("id");
    let accept = format!("/v1/claims/{claim_id}/accept");
    // Today (2026-11-29) and on the deadline itself, claims are still being received.
    app.post(&accept, Some(&w.town.token), json!({}))
        .await
        .assert_problem(409, "claim_deadline_not_passed");
    let deadline_day = on_day(&app, "2026-12-05").await;
    let (status, body) = post_at(&app, &deadline_day, &accept, &w.town.token).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("claim_deadline_not_passed"))
    );
    let lot = app
        .get(&format!("/v1/lots/{lot_id}"), Some(&w.town.token))
        .await;
    assert_eq!(lot.body["status"], "published");
    assert_eq!(status_of(&app, &w.town.token, &items[0]).await, "listed");
    let mine = app.get("/v1/claims", Some(&w.atelier.token)).await;
    assert_eq!(mine.body["items"][0]["status"], "pending");
    // The day after, the body chooses.
    let after = on_day(&app, "2026-12-06").await;
    let (status, body) = post_at(&app, &after, &accept, &w.town.token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(status_of(&app, &w.town.token, &items[0]).await, "awarded");
}

#[tokio::test]
async fn a_refurbisher_whose_claim_was_rejected_or_withdrawn_no_longer_reads_the_lot() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let rejected = app.register("refurbisher").await;
    app.verify(&w.operator, &rejected).await;
    // A lot awarded to the atelier: the other claimant is rejected.
    let (awarded, _) = published(&app, &w, 1, "first_come", "all_verified", "service").await;
    app.post(
        &format!("/v1/lots/{awarded}/claims"),
        Some(&w.atelier.token),
        json!({}),
    )
    .await;
    let (selection, _) = published(&app, &w, 1, "selection", "all_verified", "service").await;
    let a = app
        .post(
            &format!("/v1/lots/{selection}/claims"),
            Some(&w.atelier.token),
            json!({}),
        )
        .await;
    let b = app
        .post(
            &format!("/v1/lots/{selection}/claims"),
            Some(&rejected.token),
            json!({}),
        )
        .await;
    let b_id = b.body["id"].as_str().expect("id");
    let r = app
        .post(
            &format!("/v1/claims/{b_id}/reject"),
            Some(&w.town.token),
            json!({}),
        )
        .await;
    assert_eq!(r.body["status"], "rejected", "{}", r.text);
    let a_id = a.body["id"].as_str().expect("id");
    let r = app
        .post(
            &format!("/v1/claims/{a_id}/withdraw"),
            Some(&w.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(r.body["status"], "withdrawn", "{}", r.text);
    // While the lot is published and visible, both still see it, as every verified refurbisher.
    for token in [&w.atelier.token, &rejected.token] {
        let seen = app.get(&format!("/v1/lots/{selection}"), Some(token)).await;
        assert_eq!(seen.status, 200, "{}", seen.text);
    }
    // Withdrawn by the body: a rejected or withdrawn claim is no tie to it any more.
    app.post(
        &format!("/v1/lots/{selection}/withdraw"),
        Some(&w.town.token),
        json!({}),
    )
    .await;
    for token in [&w.atelier.token, &rejected.token] {
        app.get(&format!("/v1/lots/{selection}"), Some(token))
            .await
            .assert_problem(404, "not_found");
    }
    // A lot awarded to someone else is not readable by a refurbisher without a live claim.
    let late = app
        .post(
            &format!("/v1/lots/{awarded}/claims"),
            Some(&rejected.token),
            json!({}),
        )
        .await;
    late.assert_problem(409, "lot_already_awarded");
    app.get(&format!("/v1/lots/{awarded}"), Some(&rejected.token))
        .await
        .assert_problem(404, "not_found");
    // The winner keeps reading its lot and its devices.
    let won = app
        .get(&format!("/v1/lots/{awarded}"), Some(&w.atelier.token))
        .await;
    assert_eq!(won.status, 200, "{}", won.text);
    assert_eq!(won.body["items"].as_array().map(Vec::len), Some(1));
}
