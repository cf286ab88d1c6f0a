//! The demand side: reservations (one holder per device, under concurrency), eligibility in
//! `service` mode, fair share, expiry, requests and proposals, handover, roles and bad input.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Chain, Org, TestApp, chain_at, spawn_app};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

async fn association(app: &TestApp, operator: &str, category: &str) -> Org {
    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!(category);
        })
        .await;
    app.verify(operator, &asso).await;
    asso
}

fn laptops(n: usize) -> Vec<Value> {
    (0..n)
        .map(|_| json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "specs": { "ram_gb": 8 } }))
        .collect()
}

fn handover() -> Value {
    json!({
        "mode": "delivery", "occurred_on": "2026-11-29",
        "association_signatory": { "name": "Théo Lambert", "role": "Président" },
        "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
        "commitment_no_resale": true, "commitment_reuse": true
    })
}

async fn status(app: &TestApp, chain: &Chain, id: &str) -> String {
    let r = app
        .get(&format!("/v1/items/{id}"), Some(&chain.atelier.token))
        .await;
    r.body["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn fifty_associations_reserving_one_device_at_once_leave_exactly_one_holder() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let item = app.make_available(&chain, &laptops(1)).await.remove(0);
    let mut tokens = Vec::new();
    for _ in 0..50 {
        tokens.push(
            association(&app, &chain.operator, "interet_general_precarite")
                .await
                .token,
        );
    }
    let attempts = tokens.iter().map(|t| {
        app.post(
            "/v1/reservations",
            Some(t),
            json!({ "item_ids": [item.clone()] }),
        )
    });
    let answers = futures::future::join_all(attempts).await;
    let won = answers.iter().filter(|r| r.status == 201).count();
    let lost = answers
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "item_not_available")
        .count();
    assert_eq!(
        (won, lost),
        (1, 49),
        "{:?}",
        answers
            .iter()
            .filter(|r| r.status != 201 && r.status != 409)
            .map(|r| &r.text)
            .collect::<Vec<_>>()
    );
    assert_eq!(app.count("item_holds").await, 1);
    assert_eq!(app.count("reservations").await, 1);
    assert_eq!(status(&app, &chain, &item).await, "reserved");
}

#[tokio::test]
async fn a_reservation_records_its_legal_basis_and_can_be_cancelled() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(2)).await;
    let asso = association(&app, &chain.operator, "parents_eleves").await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": items }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["cession_mode"], "to_refurbisher");
    assert!(
        r.body["legal_basis"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        r.body["resale_terms"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(r.body["refurbisher"]["id"], chain.atelier.id.as_str());
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    assert!(r.header("location").is_some());
    let id = r.body["id"].as_str().expect("id");
    // Reserved devices leave the catalogue at once.
    let search = app.get("/v1/catalogue/search", Some(&asso.token)).await;
    assert_eq!(
        search.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        search.text
    );
    // Another association may not read or cancel it; the public body may not either.
    let other = association(&app, &chain.operator, "etudiants").await;
    app.get(&format!("/v1/reservations/{id}"), Some(&other.token))
        .await
        .assert_problem(404, "not_found");
    app.post(
        &format!("/v1/reservations/{id}/cancel"),
        Some(&other.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("/v1/reservations/{id}/cancel"),
        Some(&chain.town.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let list = app
        .get("/v1/reservations", Some(&chain.atelier.token))
        .await;
    assert_eq!(list.body["items"][0]["id"], id);
    let cancelled = app
        .post(
            &format!("/v1/reservations/{id}/cancel"),
            Some(&asso.token),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.text);
    for i in &items {
        assert_eq!(status(&app, &chain, i).await, "available");
    }
    assert_eq!(app.count("item_holds").await, 0);
    app.post(
        &format!("/v1/reservations/{id}/cancel"),
        Some(&asso.token),
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
}

/// A device of a `service`-mode lot: the public body stays owner and gives to the association.
pub(crate) async fn service_item(
    app: &TestApp,
    chain: &Chain,
    net_book_value_cents: i64,
) -> String {
    let r = app
        .post(
            "/v1/items",
            Some(&chain.town.token),
            json!({
                "inventory_number": format!("INV-S-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
                "category": "laptop", "brand": "HP", "model": "EliteBook 840 G5",
                "acquisition_date": "2021-09-01", "acquisition_value_cents": 112000,
                "net_book_value_cents": net_book_value_cents
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let lot = app
        .post(
            "/v1/lots",
            Some(&chain.town.token),
            json!({
                "title": "Portables en prestation", "pickup_site_id": chain.site,
                "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
                "allocation_policy": "first_come", "visibility": "all_verified", "cession_mode": "service"
            }),
        )
        .await;
    let lot_id = lot.body["id"].as_str().expect("lot").to_owned();
    app.post(
        &format!("/v1/lots/{lot_id}/items"),
        Some(&chain.town.token),
        json!({ "item_ids": [id] }),
    )
    .await;
    app.post(
        &format!("/v1/lots/{lot_id}/publish"),
        Some(&chain.town.token),
        json!({}),
    )
    .await;
    let claim = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted", "{}", claim.text);
    let c = app
        .post(
            &format!("/v1/lots/{lot_id}/collection"),
            Some(&chain.atelier.token),
            json!({
                "occurred_on": "2026-11-28",
                "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
                "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
            }),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    let base = format!("/v1/items/{id}");
    app.post(
        &format!("{base}/sanitisations"),
        Some(&chain.atelier.token),
        json!({
            "medium_serial": "SSD-1", "medium_type": "ssd", "method": "purge", "tool": "nwipe",
            "tool_version": "0.35", "verification_method": "Relecture", "success": true,
            "operator_name": "Inès Bernard", "started_at": "2026-11-28T10:00:00Z", "ended_at": "2026-11-28T10:30:00Z"
        }),
    )
    .await;
    app.post(
        &format!("{base}/refurbishments"),
        Some(&chain.atelier.token),
        json!({ "tests": [{ "name": "boot", "passed": true }], "parts_replaced": [], "operating_system": "Ubuntu 24.04 LTS", "grade": "A", "minutes_spent": 20, "technician_name": "Inès Bernard", "storage_media": [{ "serial": "SSD-1", "medium_type": "ssd" }] }),
    )
    .await;
    let p = app
        .post(
            &format!("{base}/publish"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(p.body["status"], "available", "{}", p.text);
    id
}

#[tokio::test]
async fn in_service_mode_the_law_refuses_ineligible_associations_and_devices_over_300_euros() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let cheap = service_item(&app, &chain, 15000).await;
    let dear = service_item(&app, &chain, 35000).await;
    let other = association(&app, &chain.operator, "other").await;
    let refused = app
        .post(
            "/v1/reservations",
            Some(&other.token),
            json!({ "item_ids": [cheap] }),
        )
        .await;
    refused.assert_problem(422, "not_eligible");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("L3212-2")),
        "{}",
        refused.text
    );
    let eligible = association(&app, &chain.operator, "soutien_scolaire").await;
    let refused = app
        .post(
            "/v1/reservations",
            Some(&eligible.token),
            json!({ "item_ids": [dear] }),
        )
        .await;
    refused.assert_problem(422, "not_eligible");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("300")),
        "{}",
        refused.text
    );
    assert_eq!(
        app.count("reservations").await,
        0,
        "a refusal writes nothing"
    );
    assert_eq!(status(&app, &chain, &dear).await, "available");
    let ok = app
        .post(
            "/v1/reservations",
            Some(&eligible.token),
            json!({ "item_ids": [cheap] }),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.body["cession_mode"], "service");
    assert_eq!(ok.body["giver_id"], chain.town.id.as_str());
    assert!(
        ok.body["legal_basis"]
            .as_str()
            .is_some_and(|t| t.contains("L3212-2")),
        "{}",
        ok.text
    );
    // Handover: the device becomes the association's.
    let id = ok.body["id"].as_str().expect("id");
    let done = app
        .post(
            &format!("/v1/reservations/{id}/handover"),
            Some(&chain.atelier.token),
            handover(),
        )
        .await;
    assert_eq!(done.body["status"], "handed_over", "{}", done.text);
    let item = app
        .get(&format!("/v1/items/{cheap}"), Some(&eligible.token))
        .await;
    assert_eq!(item.body["status"], "donated");
    assert_eq!(item.body["owner_id"], eligible.id.as_str());
    // In service mode the public body gives: its convention with the association and its
    // certificat de sortie d'inventaire, beside the procès-verbal de remise.
    app.settle().await;
    let docs = app
        .get(
            &format!("/v1/reservations/{id}/documents"),
            Some(&chain.town.token),
        )
        .await;
    let mut kinds: Vec<String> = docs.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec!["certificat_sortie", "convention_cession", "pv_remise"],
        "{}",
        docs.text
    );
    let convention = docs.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|d| d["kind"] == "convention_cession")
        .expect("convention");
    let parties: Vec<&str> = convention["parties"]
        .as_array()
        .expect("parties")
        .iter()
        .filter_map(|p| p["organisation_id"].as_str())
        .collect();
    assert_eq!(parties, vec![chain.town.id.as_str(), eligible.id.as_str()]);
    let text = crate::helpers::pdf_text(
        &app.pdf(convention["id"].as_str().expect("id"), &eligible.token)
            .await,
    );
    assert!(text.contains("L3212-2"), "{text}");
}

#[tokio::test]
async fn a_replayed_reservation_returns_the_first_answer_and_reserves_once() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(1)).await;
    let asso = association(&app, &chain.operator, "etudiants").await;
    let send = || {
        app.send(
            reqwest::Method::POST,
            "/v1/reservations",
            Some(&asso.token),
            Some(json!({ "item_ids": items })),
            &[("Idempotency-Key", "reserve-theo-1")],
        )
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send().await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(app.count("reservations").await, 1);
}

#[tokio::test]
async fn the_fair_share_cap_limits_what_one_association_holds() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(3)).await;
    let asso = association(&app, &chain.operator, "utilite_publique").await;
    app.put(
        &format!("/v1/organisations/{}/fair-share", chain.atelier.id),
        Some(&asso.token),
        json!({ "max_items_per_association": 2 }),
    )
    .await
    .assert_problem(403, "forbidden");
    let set = app
        .put(
            &format!("/v1/organisations/{}/fair-share", chain.atelier.id),
            Some(&chain.atelier.token),
            json!({ "max_items_per_association": 2 }),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": items }),
        )
        .await;
    r.assert_problem(422, "fair_share_exceeded");
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": items[..2] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.post(
        "/v1/reservations",
        Some(&asso.token),
        json!({ "item_ids": [items[2]] }),
    )
    .await
    .assert_problem(422, "fair_share_exceeded");
}

fn chrono_hours(h: i64) -> reemploi_api::store::Timestamp {
    reemploi_api::store::now() + reemploi_api::store::TimeDelta::hours(h)
}

/// Moves a reservation's expiry (time passing, without waiting days).
async fn set_expiry(app: &TestApp, id: &str, at: reemploi_api::store::Timestamp) {
    use reemploi_api::store::entities::reservation;
    reservation::Entity::update_many()
        .col_expr(reservation::Column::ExpiresAt, Expr::value(at))
        .filter(reservation::Column::Id.eq(uuid::Uuid::parse_str(id).expect("uuid")))
        .exec(&app.db)
        .await
        .expect("update");
}

#[tokio::test]
async fn an_expired_reservation_returns_its_devices_to_the_catalogue() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(1)).await;
    let asso = association(&app, &chain.operator, "etudiants").await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": items }),
        )
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    // Time passes: the reservation is due within the day, then past its expiry.
    set_expiry(&app, &id, chrono_hours(2)).await;
    let mut reminded = false;
    for _ in 0..100 {
        if app
            .mailer
            .sent()
            .iter()
            .any(|m| m.subject.contains("expire bientôt"))
        {
            reminded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        reminded,
        "the association is told before its reservation expires"
    );
    set_expiry(&app, &id, chrono_hours(-1)).await;
    let mut expired = false;
    for _ in 0..100 {
        let r = app
            .get(&format!("/v1/reservations/{id}"), Some(&asso.token))
            .await;
        if r.body["status"] == "expired" {
            expired = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(expired);
    assert_eq!(status(&app, &chain, &items[0]).await, "available");
    assert_eq!(app.count("item_holds").await, 0);
}

#[tokio::test]
async fn refurbishers_propose_devices_against_requests_and_fulfil_them() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app
        .make_available(
            &chain,
            &[
                json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "specs": { "ram_gb": 8 } }),
                json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "specs": { "ram_gb": 8 } }),
                json!({ "category": "laptop", "brand": "Acer", "model": "TravelMate", "specs": { "ram_gb": 4 } }),
                json!({ "category": "monitor", "brand": "Iiyama", "model": "ProLite" }),
            ],
        )
        .await;
    let asso = association(&app, &chain.operator, "interet_general_precarite").await;
    let request = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Cours d'informatique pour seniors", "beneficiaries": 12,
                "needed_by": "2027-02-15",
                "lines": [{ "category": "laptop", "quantity": 3, "min_ram_gb": 8 }]
            }),
        )
        .await;
    assert_eq!(request.status, 201, "{}", request.text);
    assert_eq!(request.body["status"], "open");
    let rid = request.body["id"].as_str().expect("id").to_owned();
    let open = app
        .get("/v1/requests/open", Some(&chain.atelier.token))
        .await;
    assert_eq!(open.body["items"][0]["id"], rid.as_str(), "{}", open.text);
    app.get("/v1/requests/open", Some(&asso.token))
        .await
        .assert_problem(403, "forbidden");
    // Nearest first, page by page: with two open requests and `limit=1`, the cursor reaches the
    // second, and the last page has none.
    let second = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Aide aux devoirs", "beneficiaries": 5, "needed_by": "2027-03-01",
                "lines": [{ "category": "monitor", "quantity": 1 }]
            }),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let first_page = app
        .get("/v1/requests/open?limit=1", Some(&chain.atelier.token))
        .await;
    assert_eq!(first_page.body["items"].as_array().map(Vec::len), Some(1));
    let cursor = first_page.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second_page = app
        .get(
            &format!("/v1/requests/open?limit=1&cursor={cursor}"),
            Some(&chain.atelier.token),
        )
        .await;
    assert_eq!(second_page.body["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(
        second_page.body["items"][0]["id"], first_page.body["items"][0]["id"],
        "{}",
        second_page.text
    );
    assert!(
        second_page.body["next_cursor"].is_null(),
        "{}",
        second_page.text
    );
    app.get(
        "/v1/requests/open?cursor=bm90LWEtY3Vyc29y",
        Some(&chain.atelier.token),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        &format!(
            "/v1/requests/{}/cancel",
            second.body["id"].as_str().expect("id")
        ),
        Some(&asso.token),
        json!({}),
    )
    .await;
    // A device that does not match the line (4 GB, or a screen) is refused.
    for wrong in [&items[2], &items[3]] {
        let r = app
            .post(
                &format!("/v1/requests/{rid}/proposals"),
                Some(&chain.atelier.token),
                json!({ "line": 1, "item_ids": [wrong] }),
            )
            .await;
        r.assert_problem(422, "validation_failed");
    }
    // A line the request does not have is out of range, named by its pointer.
    let no_line = app
        .post(
            &format!("/v1/requests/{rid}/proposals"),
            Some(&chain.atelier.token),
            json!({ "line": 9, "item_ids": [items[0]] }),
        )
        .await;
    no_line.assert_problem(422, "validation_failed");
    assert_eq!(
        no_line.body["errors"][0]["pointer"], "/line",
        "{}",
        no_line.text
    );
    assert_eq!(
        no_line.body["errors"][0]["code"], "out_of_range",
        "{}",
        no_line.text
    );
    app.post(
        &format!("/v1/requests/{rid}/proposals"),
        Some(&asso.token),
        json!({ "line": 1, "item_ids": [items[0]] }),
    )
    .await
    .assert_problem(403, "forbidden");
    let first = app
        .post(
            &format!("/v1/requests/{rid}/proposals"),
            Some(&chain.atelier.token),
            json!({ "line": 1, "item_ids": [items[0]] }),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["status"], "proposed");
    assert_eq!(status(&app, &chain, &items[0]).await, "reserved");
    let second = app
        .post(
            &format!("/v1/requests/{rid}/proposals"),
            Some(&chain.atelier.token),
            json!({ "line": 1, "item_ids": [items[1]] }),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    // The association is told of each proposal.
    let mut told = 0;
    for _ in 0..100 {
        told = app
            .mailer
            .sent()
            .iter()
            .filter(|m| m.to == asso.admin_email && m.subject.contains("Proposition"))
            .count();
        if told == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(told, 2);
    let (p1, p2) = (
        first.body["id"].as_str().expect("id"),
        second.body["id"].as_str().expect("id"),
    );
    let declined = app
        .post(
            &format!("/v1/reservations/{p2}/decline"),
            Some(&asso.token),
            json!({}),
        )
        .await;
    assert_eq!(declined.body["status"], "declined", "{}", declined.text);
    assert_eq!(status(&app, &chain, &items[1]).await, "available");
    // A proposal must be accepted before it is handed over.
    app.post(
        &format!("/v1/reservations/{p1}/handover"),
        Some(&chain.atelier.token),
        handover(),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let accepted = app
        .post(
            &format!("/v1/reservations/{p1}/accept"),
            Some(&asso.token),
            json!({}),
        )
        .await;
    assert_eq!(accepted.body["status"], "active", "{}", accepted.text);
    let planned = app
        .post(
            &format!("/v1/reservations/{p1}/schedule"),
            Some(&chain.atelier.token),
            json!({ "mode": "delivery", "planned_on": "2026-12-03", "message": "Livraison le matin" }),
        )
        .await;
    assert_eq!(
        planned.body["handover_on"], "2026-12-03",
        "{}",
        planned.text
    );
    app.post(
        &format!("/v1/reservations/{p1}/schedule"),
        Some(&asso.token),
        json!({ "mode": "delivery", "planned_on": "2026-12-03" }),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("/v1/reservations/{p1}/schedule"),
        Some(&chain.atelier.token),
        json!({ "mode": "delivery", "planned_on": "2020-12-03" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let mut scheduled = false;
    for _ in 0..100 {
        if app
            .mailer
            .sent()
            .iter()
            .any(|m| m.to == asso.admin_email && m.subject.contains("programmée"))
        {
            scheduled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        scheduled,
        "the association is told when the handover is scheduled"
    );
    let done = app
        .post(
            &format!("/v1/reservations/{p1}/handover"),
            Some(&chain.atelier.token),
            handover(),
        )
        .await;
    assert_eq!(done.body["status"], "handed_over", "{}", done.text);
    let r = app
        .get(&format!("/v1/requests/{rid}"), Some(&asso.token))
        .await;
    assert_eq!(r.body["status"], "partially_fulfilled", "{}", r.text);
    assert_eq!(r.body["lines"][0]["fulfilled"], 1);
    let mine = app.get("/v1/requests", Some(&asso.token)).await;
    assert_eq!(mine.body["items"][0]["id"], rid.as_str());
    let cancelled = app
        .post(
            &format!("/v1/requests/{rid}/cancel"),
            Some(&asso.token),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.text);
    app.post(
        &format!("/v1/requests/{rid}/proposals"),
        Some(&chain.atelier.token),
        json!({ "line": 1, "item_ids": [items[1]] }),
    )
    .await
    .assert_problem(409, "invalid_transition");
}

#[tokio::test]
async fn the_wrong_organisations_are_refused_and_bad_input_changes_nothing() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(1)).await;
    let asso = association(&app, &chain.operator, "etudiants").await;
    let unverified = app.register("association").await;
    let body = json!({ "item_ids": items });
    app.post("/v1/reservations", None, body.clone())
        .await
        .assert_problem(401, "unauthenticated");
    app.post("/v1/reservations", Some(&chain.town.token), body.clone())
        .await
        .assert_problem(403, "forbidden");
    app.post("/v1/reservations", Some(&chain.atelier.token), body.clone())
        .await
        .assert_problem(403, "forbidden");
    app.post("/v1/reservations", Some(&unverified.token), body.clone())
        .await
        .assert_problem(403, "organisation_not_verified");
    let bad = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": [] }),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    app.post(
        "/v1/reservations",
        Some(&asso.token),
        json!({ "item_ids": [uuid::Uuid::now_v7()] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let r = app.post("/v1/reservations", Some(&asso.token), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().expect("id");
    // Handover without commitments, with a future date: every field named, nothing written.
    let mut h = handover();
    h["commitment_no_resale"] = json!(false);
    h["commitment_reuse"] = json!(false);
    h["occurred_on"] = json!("2030-01-01");
    h["refurbisher_signatory"]["name"] = json!("  ");
    let refused = app
        .post(
            &format!("/v1/reservations/{id}/handover"),
            Some(&chain.atelier.token),
            h,
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    let mut fields = refused.problem_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "commitment_no_resale",
            "commitment_reuse",
            "occurred_on",
            "refurbisher_signatory.name"
        ]
    );
    assert_eq!(status(&app, &chain, &items[0]).await, "reserved");
    app.post(
        &format!("/v1/reservations/{id}/receipt"),
        Some(&asso.token),
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let req = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({ "purpose": " ", "beneficiaries": 3, "needed_by": "2020-01-01", "lines": [{ "category": "laptop", "quantity": 1 }] }),
        )
        .await;
    req.assert_problem(422, "validation_failed");
    let mut fields = req.problem_fields();
    fields.sort();
    assert_eq!(fields, vec!["needed_by", "purpose"]);
    assert_eq!(app.count("requests").await, 0);
    app.post(
        "/v1/requests",
        Some(&chain.atelier.token),
        json!({ "purpose": "x", "beneficiaries": 3, "needed_by": "2027-01-01", "lines": [{ "category": "laptop", "quantity": 1 }] }),
    )
    .await
    .assert_problem(403, "forbidden");
    // The catalogue detail shows the refurbisher's contact; a device reserved by another
    // association is not in it.
    let rival = association(&app, &chain.operator, "parents_eleves").await;
    let other = app.make_available(&chain, &laptops(1)).await;
    let detail = app
        .get(
            &format!("/v1/catalogue/items/{}", other[0]),
            Some(&asso.token),
        )
        .await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert_eq!(detail.body["refurbisher_contact"]["city"], "Blois");
    assert_eq!(detail.body["item"]["category"], "laptop");
    app.get(
        &format!("/v1/catalogue/items/{}", items[0]),
        Some(&rival.token),
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/catalogue/items/{}", other[0]),
        Some(&chain.town.token),
    )
    .await
    .assert_problem(403, "forbidden");
}

async fn open_request(app: &TestApp, asso: &Org, quantity: i32) -> String {
    let r = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Atelier numérique", "beneficiaries": 8, "needed_by": "2027-02-15",
                "lines": [{ "category": "laptop", "quantity": quantity }]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_proposal_beyond_what_the_request_line_still_needs_is_refused_with_422() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(4)).await;
    let asso = association(&app, &chain.operator, "interet_general_precarite").await;
    let rid = open_request(&app, &asso, 2).await;
    let path = format!("/v1/requests/{rid}/proposals");
    let propose = |ids: &[String]| {
        app.post(
            &path,
            Some(&chain.atelier.token),
            json!({ "line": 1, "item_ids": ids }),
        )
    };
    let refused = propose(&items[..3]).await;
    refused.assert_problem(422, "request_line_exceeded");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains('2')),
        "{}",
        refused.text
    );
    let first = propose(&items[..1]).await;
    assert_eq!(first.status, 201, "{}", first.text);
    // One device is pending on the line: one more fits, two do not.
    propose(&items[1..3])
        .await
        .assert_problem(422, "request_line_exceeded");
    // The association's own reservation against the line is capped the same way.
    app.post(
        "/v1/reservations",
        Some(&asso.token),
        json!({ "item_ids": items[1..3], "request_id": rid, "line": 1 }),
    )
    .await
    .assert_problem(422, "request_line_exceeded");
    let second = propose(&items[1..2]).await;
    assert_eq!(second.status, 201, "{}", second.text);
    propose(&items[2..3])
        .await
        .assert_problem(422, "request_line_exceeded");
    // A declined proposal frees its place on the line.
    let p2 = second.body["id"].as_str().expect("id");
    app.post(
        &format!("/v1/reservations/{p2}/decline"),
        Some(&asso.token),
        json!({}),
    )
    .await;
    let third = propose(&items[2..3]).await;
    assert_eq!(third.status, 201, "{}", third.text);
    assert_eq!(app.count("item_holds").await, 2);
}

#[tokio::test]
async fn every_demand_write_appends_its_event_on_the_reservation_or_request_stream() {
    use reemploi_api::store::entities::event;
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(2)).await;
    let asso = association(&app, &chain.operator, "interet_general_precarite").await;
    let rid = open_request(&app, &asso, 2).await;
    let p = app
        .post(
            &format!("/v1/requests/{rid}/proposals"),
            Some(&chain.atelier.token),
            json!({ "line": 1, "item_ids": [items[0]] }),
        )
        .await;
    let pid = p.body["id"].as_str().expect("id").to_owned();
    for (path, token) in [
        (format!("/v1/reservations/{pid}/accept"), &asso.token),
        (
            format!("/v1/reservations/{pid}/handover"),
            &chain.atelier.token,
        ),
        (format!("/v1/reservations/{pid}/receipt"), &asso.token),
    ] {
        let body = if path.ends_with("handover") {
            handover()
        } else {
            json!({})
        };
        let r = app.post(&path, Some(token), body).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    app.post(
        &format!("/v1/requests/{rid}/cancel"),
        Some(&asso.token),
        json!({}),
    )
    .await;
    app.put(
        &format!("/v1/organisations/{}/fair-share", chain.atelier.id),
        Some(&chain.atelier.token),
        json!({ "max_items_per_association": 3 }),
    )
    .await;
    let kinds = |stream: String| {
        let db = app.db.clone();
        async move {
            event::Entity::find()
                .filter(event::Column::Stream.eq(stream))
                .all(&db)
                .await
                .expect("events")
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        kinds(format!("reservation/{pid}")).await,
        [
            "items_proposed",
            "proposal_accepted",
            "handover_recorded",
            "receipt_confirmed"
        ]
    );
    assert_eq!(
        kinds(format!("request/{rid}")).await,
        [
            "request_created",
            "request_partly_fulfilled",
            "request_cancelled"
        ]
    );
    assert!(
        kinds(format!("organisation/{}", chain.atelier.id))
            .await
            .contains(&"fair_share_set".to_owned())
    );
}

#[tokio::test]
async fn a_reservation_whose_stored_status_is_unknown_is_an_error_not_a_handover() {
    use reemploi_api::store::entities::reservation;
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(1)).await;
    let asso = association(&app, &chain.operator, "etudiants").await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": items }),
        )
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value("archived"))
        .filter(reservation::Column::Id.eq(uuid::Uuid::parse_str(&id).expect("uuid")))
        .exec(&app.db)
        .await
        .expect("update");
    app.get(&format!("/v1/reservations/{id}"), Some(&asso.token))
        .await
        .assert_problem(500, "internal");
    app.post(
        &format!("/v1/reservations/{id}/receipt"),
        Some(&asso.token),
        json!({}),
    )
    .await
    .assert_problem(500, "internal");
}

#[tokio::test]
async fn fifty_associations_reserving_two_devices_in_opposite_orders_leave_one_holder_per_device() {
    use reemploi_api::store::entities::item_hold;
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let mut tokens = Vec::new();
    for _ in 0..50 {
        tokens.push(
            association(&app, &chain.operator, "interet_general_precarite")
                .await
                .token,
        );
    }
    for round in 0..3 {
        let pair = app.make_available(&chain, &laptops(2)).await;
        let (d1, d2) = (pair[0].clone(), pair[1].clone());
        let attempts = tokens.iter().enumerate().map(|(i, t)| {
            let ids = if i % 2 == 0 {
                json!([d1, d2])
            } else {
                json!([d2, d1])
            };
            app.post("/v1/reservations", Some(t), json!({ "item_ids": ids }))
        });
        let answers = futures::future::join_all(attempts).await;
        let unexpected: Vec<&str> = answers
            .iter()
            .filter(|r| r.status != 201 && r.status != 409)
            .map(|r| r.text.as_str())
            .collect();
        assert!(unexpected.is_empty(), "round {round}: {unexpected:?}");
        let won: Vec<&crate::helpers::Resp> = answers.iter().filter(|r| r.status == 201).collect();
        assert_eq!(won.len(), 1, "round {round}");
        // Devices are locked in one order: a loser waits for the winner, then finds them
        // reserved (never a deadlock, so never `write_conflict`).
        let lost: Vec<&str> = answers
            .iter()
            .filter(|r| r.status == 409)
            .map(|r| r.body["code"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(lost.len(), 49, "round {round}");
        assert!(
            lost.iter().all(|c| *c == "item_not_available"),
            "round {round}: {lost:?}"
        );
        let winner = won[0].body["id"].as_str().expect("id");
        for d in [&d1, &d2] {
            let holds = item_hold::Entity::find()
                .filter(item_hold::Column::ItemId.eq(uuid::Uuid::parse_str(d).expect("uuid")))
                .all(&app.db)
                .await
                .expect("holds");
            assert_eq!(holds.len(), 1, "round {round}");
            assert_eq!(holds[0].reservation_id.to_string(), winner);
            assert_eq!(status(&app, &chain, d).await, "reserved");
        }
    }
    assert_eq!(app.count("item_holds").await, 6);
    assert_eq!(app.count("reservations").await, 3);
}

#[tokio::test]
async fn cancelling_a_request_while_devices_are_proposed_and_reserved_against_it_leaves_none_attached()
 {
    use reemploi_api::store::entities::{item_hold, reservation};
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let asso = association(&app, &chain.operator, "interet_general_precarite").await;
    for round in 0..3 {
        let items = app.make_available(&chain, &laptops(6)).await;
        let rid = open_request(&app, &asso, 6).await;
        let propose = format!("/v1/requests/{rid}/proposals");
        let cancel = format!("/v1/requests/{rid}/cancel");
        let mut calls = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let call = if i % 2 == 0 {
                app.post(
                    &propose,
                    Some(&chain.atelier.token),
                    json!({ "line": 1, "item_ids": [item] }),
                )
            } else {
                app.post(
                    "/v1/reservations",
                    Some(&asso.token),
                    json!({ "item_ids": [item], "request_id": rid, "line": 1 }),
                )
            };
            calls.push(Box::pin(call));
            if i == 2 {
                calls.push(Box::pin(app.post(&cancel, Some(&asso.token), json!({}))));
            }
        }
        let answers = futures::future::join_all(calls).await;
        for a in &answers {
            assert!(a.status < 500, "round {round}: {} {}", a.status, a.text);
        }
        let request = app
            .get(&format!("/v1/requests/{rid}"), Some(&asso.token))
            .await;
        assert_eq!(request.body["status"], "cancelled", "{}", request.text);
        let attached = reservation::Entity::find()
            .filter(reservation::Column::RequestId.eq(uuid::Uuid::parse_str(&rid).expect("uuid")))
            .all(&app.db)
            .await
            .expect("reservations");
        for r in &attached {
            assert!(
                r.status != "proposed" && r.status != "active",
                "round {round}: reservation {} is {} on a cancelled request",
                r.id,
                r.status
            );
        }
        for item in &items {
            let held = item_hold::Entity::find_by_id(uuid::Uuid::parse_str(item).expect("uuid"))
                .one(&app.db)
                .await
                .expect("hold");
            assert!(held.is_none(), "round {round}: {item} still held");
            assert_eq!(status(&app, &chain, item).await, "available");
        }
    }
}

#[tokio::test]
async fn the_association_holding_a_device_reads_it_with_its_photos_and_condition() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app
        .make_available(
            &chain,
            &[json!({
                "category": "laptop", "brand": "Dell", "model": "Latitude 5490",
                "condition_notes": "Rayure sur le capot"
            })],
        )
        .await;
    let photo = crate::photos::upload(
        &app,
        Some(&chain.atelier.token),
        &items[0],
        crate::photos::jpeg_with_exif(),
        "image/jpeg",
    )
    .await;
    assert_eq!(photo.status, 201, "{}", photo.text);
    let asso = association(&app, &chain.operator, "parents_eleves").await;
    let other = association(&app, &chain.operator, "etudiants").await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": items }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The reservation shows each device as the catalogue did: condition and photos.
    let reserved = &r.body["items"][0];
    assert_eq!(
        reserved["condition_notes"], "Rayure sur le capot",
        "{}",
        r.text
    );
    assert_eq!(reserved["photos"].as_array().map(Vec::len), Some(1));
    assert!(
        reserved["photos"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains("signature="))
    );
    // Out of the catalogue, it still reads for its holder, from both device endpoints.
    let detail = app
        .get(
            &format!("/v1/catalogue/items/{}", items[0]),
            Some(&asso.token),
        )
        .await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert_eq!(detail.body["photos"].as_array().map(Vec::len), Some(1));
    let device = app
        .get(&format!("/v1/items/{}", items[0]), Some(&asso.token))
        .await;
    assert_eq!(device.status, 200, "{}", device.text);
    assert_eq!(device.body["condition_notes"], "Rayure sur le capot");
    // Another association does not.
    for path in [
        format!("/v1/catalogue/items/{}", items[0]),
        format!("/v1/items/{}", items[0]),
    ] {
        app.get(&path, Some(&other.token))
            .await
            .assert_problem(404, "not_found");
    }
    // Once cancelled, the device is back in the catalogue for everyone and no longer held.
    let id = r.body["id"].as_str().expect("id");
    app.post(
        &format!("/v1/reservations/{id}/cancel"),
        Some(&asso.token),
        json!({}),
    )
    .await;
    app.get(&format!("/v1/items/{}", items[0]), Some(&asso.token))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get(
            &format!("/v1/catalogue/items/{}", items[0]),
            Some(&other.token)
        )
        .await
        .status,
        200
    );
}
