//! Matching: a season (expected supply from each refurbisher's history, the fair order of
//! proposals, their confirmation and edit, who may see and do what, bad input), and the
//! fair-share cap under concurrency (reservations and proposals racing) and per refurbisher.

use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, chain_at, chain_in, spawn_app};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

async fn association(app: &TestApp, operator: &str, category: &str) -> Org {
    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!(category);
            b["latitude"] = json!(BLOIS.0 + 0.01);
            b["longitude"] = json!(BLOIS.1);
        })
        .await;
    app.verify(operator, &asso).await;
    asso
}

fn laptops(n: usize) -> Vec<Value> {
    laptops_with(n, 8)
}

fn laptops_with(n: usize, ram_gb: i32) -> Vec<Value> {
    (0..n)
        .map(|_| json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "specs": { "ram_gb": ram_gb } }))
        .collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// An open request of `asso`: one line of `quantity` laptops (with at least `min_ram_gb`).
async fn request(
    app: &TestApp,
    asso: &Org,
    beneficiaries: i32,
    quantity: i32,
    min_ram_gb: Option<i32>,
) -> String {
    let mut line = json!({ "category": "laptop", "quantity": quantity });
    if let Some(r) = min_ram_gb {
        line["min_ram_gb"] = json!(r);
    }
    let r = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Atelier numérique", "beneficiaries": beneficiaries,
                "needed_by": "2027-02-15", "lines": [line]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s(&r.body["id"])
}

/// `(request, line, association, items, ranks, scores)` of one proposal of a matching view.
type Proposed = (String, i64, String, Vec<String>, Vec<i64>, Vec<i64>);

/// Each proposal of a matching view.
fn proposals(view: &Value) -> Vec<Proposed> {
    view["proposals"]
        .as_array()
        .expect("proposals")
        .iter()
        .map(|p| {
            let devices = p["devices"].as_array().expect("devices");
            (
                s(&p["request_id"]),
                p["line"].as_i64().expect("line"),
                s(&p["association_id"]),
                p["item_ids"]
                    .as_array()
                    .expect("ids")
                    .iter()
                    .map(s)
                    .collect(),
                devices
                    .iter()
                    .map(|d| d["rank"].as_i64().expect("rank"))
                    .collect(),
                devices
                    .iter()
                    .map(|d| d["score"].as_i64().expect("score"))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_season_of_matching_estimates_supply_proposes_in_the_fair_order_and_refuses_what_it_must()
{
    let app = spawn_app().await;
    let a = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let b = chain_in(&app, ("Vendôme", "41269", "41100"), 47.7929, 1.0656).await;
    let op = &a.operator;
    let asso1 = association(&app, op, "interet_general_precarite").await;
    let asso2 = association(&app, op, "parents_eleves").await;
    let asso3 = association(&app, op, "utilite_publique").await;
    // Need points: 20 people for 2 laptops → 1000; 8 for 2 → 400; 3 for 2 → 150.
    let r1 = request(&app, &asso1, 20, 2, None).await;
    let r2 = request(&app, &asso2, 8, 2, None).await;
    let r3 = request(&app, &asso3, 3, 2, Some(16)).await;

    // Wave 1: A publishes 4 laptops (8 GB); it also collected 3 more and recycled one of them.
    let d = app.make_available(&a, &laptops(4)).await;
    let (lot_a, pipe_a) = app.collect_lot(&a, &laptops(3)).await;
    let r = app
        .post(
            &format!("/v1/items/{}/disposal", pipe_a[0]),
            Some(&a.atelier.token),
            json!({ "channel": "eco_organisme", "recycler_name": "ecosystem", "weight_kg": 2.1, "disposed_on": "2026-11-29" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // B is new: 3 laptops of 16 GB collected, nothing finished yet.
    let (lot_b, _) = app.collect_lot(&b, &laptops_with(3, 16)).await;

    // Each collection made expected supply, and the associations its forecast serves were
    // told: asso1 twice (A's first lot, 2 of its 4 devices expected, while nothing was
    // published yet; then B's lot), nobody for A's second lot (A's published devices serve r1
    // and r2, and its 8 GB laptops do not fit r3).
    async fn told(app: &TestApp, who: &Org) -> i64 {
        app.count(&format!(
            "outbox WHERE topic = 'mail' AND payload LIKE '%attendus pour votre demande%' AND payload LIKE '%{}%'",
            who.admin_email
        ))
        .await
    }
    assert_eq!(told(&app, &asso1).await, 2);
    assert_eq!(told(&app, &asso2).await, 0);
    assert_eq!(told(&app, &asso3).await, 0);

    // Expected yield of A's lot: (4 published + 7) / (5 finished + 10) = 733 ‰ of 2 → 1.
    let y = app
        .get(
            &format!("/v1/lots/{lot_a}/expected-yield"),
            Some(&a.town.token),
        )
        .await;
    assert_eq!(y.status, 200, "{}", y.text);
    let c = &y.body["categories"][0];
    assert_eq!(
        (
            c["category"].clone(),
            c["in_pipeline"].clone(),
            c["expected"].clone(),
            c["rate_permille"].clone()
        ),
        (json!("laptop"), json!(2), json!(1), json!(733)),
        "{}",
        y.text
    );
    assert_eq!(
        c["basis"],
        json!({ "available": 4, "recycled": 1, "prior_available": 7, "prior_recycled": 3, "prior_only": false })
    );
    // A collected and published its first 4 devices the same day: 0 days outweigh the prior.
    assert_eq!(y.body["lead_time_days"], 0);
    assert!(y.body["expected_by"].is_string(), "{}", y.text);
    // B's lot: the prior alone, 70 % of 3 → 2.
    let y = app
        .get(
            &format!("/v1/lots/{lot_b}/expected-yield"),
            Some(&b.atelier.token),
        )
        .await;
    assert_eq!(y.status, 200, "{}", y.text);
    assert_eq!(y.body["categories"][0]["expected"], 2);
    assert_eq!(y.body["categories"][0]["rate_permille"], 700);
    assert_eq!(y.body["categories"][0]["basis"]["prior_only"], true);
    assert_eq!(y.body["lead_time_days"], 21);

    // Each line's supply: A's 4 published fit r1 and r2 now; A's pipeline adds 1, B's 2.
    let supply = app
        .get(&format!("/v1/requests/{r1}/supply"), Some(&asso1.token))
        .await;
    assert_eq!(supply.status, 200, "{}", supply.text);
    let l = &supply.body["lines"][0];
    assert_eq!(
        (l["available_now"].clone(), l["expected"].clone()),
        (json!(4), json!(3)),
        "{}",
        supply.text
    );
    // r3 wants 16 GB: nothing now, about 2 at B.
    let supply = app
        .get(&format!("/v1/requests/{r3}/supply"), Some(&asso3.token))
        .await;
    let l = &supply.body["lines"][0];
    assert_eq!(
        (l["available_now"].clone(), l["expected"].clone()),
        (json!(0), json!(2)),
        "{}",
        supply.text
    );
    assert_eq!(l["refurbishers"][0]["refurbisher_id"], json!(b.atelier.id));
    // B has no history: the lead time is the prior's 21 days.
    assert_eq!(l["refurbishers"][0]["lead_time_days"], 21);
    let by = s(&l["refurbishers"][0]["expected_by"]);
    let ymd: Vec<&str> = by.split('-').collect();
    assert_eq!(ymd.len(), 3, "{by}");
    let summary = format!(
        "0 disponible(s) maintenant, environ 2 attendu(s) d'ici le {}/{}/{} chez ",
        ymd[2], ymd[1], ymd[0]
    );
    assert!(s(&l["summary"]).starts_with(&summary), "{}", l["summary"]);
    // A collected and published the same day: 4 samples of 0 days outweigh the prior.
    let supply = app
        .get(&format!("/v1/requests/{r1}/supply"), Some(&asso1.token))
        .await;
    let from_a: Vec<&Value> = supply.body["lines"][0]["refurbishers"]
        .as_array()
        .expect("refurbishers")
        .iter()
        .filter(|x| x["refurbisher_id"] == json!(a.atelier.id))
        .collect();
    assert_eq!(from_a[0]["lead_time_days"], 0, "{}", supply.text);

    // A's view: its pipeline, and the fair order of its 4 devices.
    let view_path = format!("/v1/organisations/{}/matching", a.atelier.id);
    let view = app.get(&view_path, Some(&a.atelier.token)).await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["cap"], 10);
    assert_eq!(view.body["pipeline"][0]["expected"], 1);
    // 1000 → 950 for asso1 (its received points grow), then asso2 at 400 → 350; asso3's line
    // wants 16 GB and gets none.
    assert_eq!(
        proposals(&view.body),
        vec![
            (
                r1.clone(),
                1,
                asso1.id.clone(),
                vec![d[0].clone(), d[1].clone()],
                vec![1, 2],
                vec![1000, 950]
            ),
            (
                r2.clone(),
                1,
                asso2.id.clone(),
                vec![d[2].clone(), d[3].clone()],
                vec![3, 4],
                vec![400, 350]
            ),
        ]
    );
    let served: Vec<String> = view.body["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| s(&l["request_id"]))
        .collect();
    assert_eq!(served, vec![r1.clone(), r2.clone()]);
    // B has nothing published; its 2 expected devices (70 % of 3) would go to asso1 first.
    let view_b = app
        .get(
            &format!("/v1/organisations/{}/matching", b.atelier.id),
            Some(&b.atelier.token),
        )
        .await;
    assert_eq!(view_b.status, 200, "{}", view_b.text);
    assert_eq!(proposals(&view_b.body), vec![]);
    let forecast: Vec<(String, i64, Vec<i64>)> = view_b.body["expected_proposals"]
        .as_array()
        .expect("forecast")
        .iter()
        .map(|p| {
            (
                s(&p["request_id"]),
                p["item_ids"].as_array().map_or(0, |a| a.len() as i64),
                p["devices"]
                    .as_array()
                    .expect("devices")
                    .iter()
                    .map(|d| d["score"].as_i64().expect("score"))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(forecast, vec![(r1.clone(), 2, vec![1000, 950])]);
    // The same state gives the same view.
    assert_eq!(
        app.get(&view_path, Some(&a.atelier.token)).await.body,
        view.body
    );

    // Who may see and do what.
    let confirm_path = format!("/v1/organisations/{}/matching/proposals", a.atelier.id);
    let good = json!({ "proposals": [{ "request_id": r1, "line": 1, "item_ids": [d[0]] }] });
    app.get(&view_path, Some(&asso1.token))
        .await
        .assert_problem(404, "not_found");
    app.get(&view_path, Some(&b.atelier.token))
        .await
        .assert_problem(404, "not_found");
    app.get(&view_path, Some(&a.town.token))
        .await
        .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/organisations/{}/matching", asso1.id),
        Some(&asso1.token),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(&confirm_path, Some(&asso1.token), good.clone())
        .await
        .assert_problem(403, "forbidden");
    app.post(&confirm_path, Some(&b.atelier.token), good.clone())
        .await
        .assert_problem(403, "forbidden");
    app.get(&format!("/v1/requests/{r1}/supply"), Some(&asso2.token))
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/requests/{r1}/supply"), Some(&a.atelier.token))
        .await
        .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/lots/{lot_a}/expected-yield"),
        Some(&asso1.token),
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/lots/{lot_a}/expected-yield"),
        Some(&b.atelier.token),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(app.get(&view_path, None).await.status, 401);

    // Bad input: problem+json, nothing written.
    let before = app.count("reservations").await;
    let dup = json!({ "proposals": [
        { "request_id": r1, "line": 1, "item_ids": [d[0]] },
        { "request_id": r2, "line": 1, "item_ids": [d[0]] }
    ] });
    app.post(&confirm_path, Some(&a.atelier.token), dup)
        .await
        .assert_problem(422, "duplicate_device");
    let r = app
        .post(
            &confirm_path,
            Some(&a.atelier.token),
            json!({ "proposals": [] }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let r = app
        .get(&format!("{view_path}?within_km=0"), Some(&a.atelier.token))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let unknown = json!({ "proposals": [{ "request_id": uuid::Uuid::now_v7(), "line": 1, "item_ids": [d[0]] }] });
    app.post(&confirm_path, Some(&a.atelier.token), unknown)
        .await
        .assert_problem(404, "not_found");
    // All or none: the second proposal does not fit its line (8 GB for 16), so the first is
    // not made either.
    let half = json!({ "proposals": [
        { "request_id": r1, "line": 1, "item_ids": [d[0]] },
        { "request_id": r3, "line": 1, "item_ids": [d[1]] }
    ] });
    app.post(&confirm_path, Some(&a.atelier.token), half)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.count("reservations").await, before);
    assert_eq!(app.count("item_holds").await, 0);

    // A confirms with an edit: d[0] and d[2] for asso1, d[1] and d[3] for asso2.
    let mails_before = app
        .count("outbox WHERE topic = 'mail' AND payload LIKE '%Pourquoi vous%'")
        .await;
    let confirmed = app
        .post(
            &confirm_path,
            Some(&a.atelier.token),
            json!({ "proposals": [
                { "request_id": r1, "line": 1, "item_ids": [d[0], d[2]], "note": "Le poste le plus léger pour les visites à domicile" },
                { "request_id": r2, "line": 1, "item_ids": [d[1], d[3]] }
            ] }),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let made = confirmed.body["items"].as_array().expect("items");
    assert_eq!(made.len(), 2);
    assert!(made.iter().all(|r| r["status"] == "proposed"));
    let reason1 = s(&made[0]["proposal_reason"]);
    assert!(
        reason1.contains("Rang 1 ") && reason1.contains("= 1000 pts"),
        "{reason1}"
    );
    assert!(
        reason1
            .contains("1 équipement(s) choisi(s) par le reconditionneur : Le poste le plus léger"),
        "{reason1}"
    );
    let reason2 = s(&made[1]["proposal_reason"]);
    assert!(
        reason2.contains("Rang 4 ") && reason2.contains("choisi(s) par le reconditionneur"),
        "{reason2}"
    );
    assert!(
        app.count("outbox WHERE topic = 'mail' AND payload LIKE '%Pourquoi vous%'")
            .await
            >= mails_before + 2
    );
    // The association accepts or declines as today.
    let acc = app
        .post(
            &format!("/v1/reservations/{}/accept", s(&made[0]["id"])),
            Some(&asso1.token),
            json!({}),
        )
        .await;
    assert_eq!(acc.status, 200, "{}", acc.text);
    let dec = app
        .post(
            &format!("/v1/reservations/{}/decline", s(&made[1]["id"])),
            Some(&asso2.token),
            json!({}),
        )
        .await;
    assert_eq!(dec.status, 200, "{}", dec.text);
    let cancel = app
        .post(
            &format!("/v1/requests/{r2}/cancel"),
            Some(&asso2.token),
            json!({}),
        )
        .await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);

    // Wave 2: B publishes 2 laptops of 16 GB; its cap is 1. asso3 is the only line left that
    // they fit, and gets one.
    let e = app.make_available(&b, &laptops_with(2, 16)).await;
    let set = app
        .put(
            &format!("/v1/organisations/{}/fair-share", b.atelier.id),
            Some(&b.atelier.token),
            json!({ "max_items_per_association": 1 }),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let view = app
        .get(
            &format!("/v1/organisations/{}/matching", b.atelier.id),
            Some(&b.atelier.token),
        )
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["cap"], 1);
    assert_eq!(
        proposals(&view.body),
        vec![(
            r3.clone(),
            1,
            asso3.id.clone(),
            vec![e[0].clone()],
            vec![1],
            vec![150]
        )]
    );
    // A's view has nothing left to propose: asso1 is served, asso2 cancelled, asso3 wants 16 GB.
    let view = app.get(&view_path, Some(&a.atelier.token)).await;
    assert_eq!(proposals(&view.body), vec![]);
}

/// How many devices `association` holds at `refurbisher`, read from the database.
async fn held(app: &TestApp, refurbisher: &str, association: &str) -> u64 {
    use reemploi_api::store::entities::item_hold;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let id = |s: &str| uuid::Uuid::parse_str(s).expect("uuid");
    item_hold::Entity::find()
        .filter(item_hold::Column::RefurbisherId.eq(id(refurbisher)))
        .filter(item_hold::Column::AssociationId.eq(id(association)))
        .count(&app.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn fifty_concurrent_reservations_and_proposals_never_break_the_cap_and_a_raised_cap_holds_too()
 {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.make_available(&chain, &laptops(50)).await;
    let asso = association(&app, &chain.operator, "interet_general_precarite").await;
    let request = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Atelier numérique", "beneficiaries": 40, "needed_by": "2027-02-15",
                "lines": [{ "category": "laptop", "quantity": 50 }]
            }),
        )
        .await;
    assert_eq!(request.status, 201, "{}", request.text);
    let rid = request.body["id"].as_str().expect("id").to_owned();
    let proposals = format!("/v1/requests/{rid}/proposals");
    // A third of the devices are reserved by the association, a third proposed by hand and a
    // third through a confirmation of the matching view, all at once: all count against the
    // same cap (10 by default).
    let confirm = format!("/v1/organisations/{}/matching/proposals", chain.atelier.id);
    let attempts = items.iter().enumerate().map(|(i, id)| match i % 3 {
        0 => app.post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": [id] }),
        ),
        1 => app.post(
            &proposals,
            Some(&chain.atelier.token),
            json!({ "line": 1, "item_ids": [id] }),
        ),
        _ => app.post(
            &confirm,
            Some(&chain.atelier.token),
            json!({ "proposals": [{ "request_id": rid, "line": 1, "item_ids": [id] }] }),
        ),
    });
    let answers = futures::future::join_all(attempts).await;
    // A reservation or a proposal by hand answers 201, a confirmation 200.
    let won = answers
        .iter()
        .filter(|r| r.status == 201 || r.status == 200)
        .count();
    let capped = answers
        .iter()
        .filter(|r| r.status == 422 && r.body["code"] == "fair_share_exceeded")
        .count();
    assert_eq!(
        (won, capped),
        (10, 40),
        "{:?}",
        answers
            .iter()
            .filter(|r| r.status != 201 && r.status != 200 && r.status != 422)
            .map(|r| &r.text)
            .collect::<Vec<_>>()
    );
    assert_eq!(held(&app, &chain.atelier.id, &asso.id).await, 10);
    assert_eq!(app.count("reservations").await, 10);

    // The refurbisher's admin raises its cap to 13: of 40 more racing reservations, 3 win.
    let set = app
        .put(
            &format!("/v1/organisations/{}/fair-share", chain.atelier.id),
            Some(&chain.atelier.token),
            json!({ "max_items_per_association": 13 }),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let free: Vec<&String> = {
        let mut free = Vec::new();
        for id in &items {
            let r = app
                .get(&format!("/v1/items/{id}"), Some(&chain.atelier.token))
                .await;
            if r.body["status"] == "available" {
                free.push(id);
            }
        }
        free
    };
    assert_eq!(free.len(), 40);
    let again = free.iter().map(|id| {
        app.post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": [id] }),
        )
    });
    let answers = futures::future::join_all(again).await;
    let won = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(won, 3);
    assert!(
        answers
            .iter()
            .all(|r| r.status == 201 || r.body["code"] == "fair_share_exceeded")
    );
    assert_eq!(held(&app, &chain.atelier.id, &asso.id).await, 13);
}
