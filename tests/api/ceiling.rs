//! The 300 € ceiling in every mode (décret n° 2022-791): `to_refurbisher` lots checked when
//! devices are added and at publish, values confirmed by the body or overridden by the
//! operator, printed once on the convention; totals over known values only; and the direct
//! cessions to staff (5°) and to other public bodies (11°).

use serde_json::{Value, json};

use crate::helpers::{Chain, Org, TestApp, chain_at, pdf_text, spawn_app};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

fn inventory_number() -> String {
    format!("INV-{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// Registers one device of `org` with the given extra fields; returns (id, inventory number).
async fn device(app: &TestApp, org: &Org, extra: Value) -> (String, String) {
    let number = inventory_number();
    let mut body = json!({
        "inventory_number": number, "category": "laptop", "brand": "Dell",
        "model": "Latitude 5490", "serial_number": "SN-CEIL", "acquisition_date": "2022-01-15"
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let r = app.post("/v1/items", Some(&org.token), body).await;
    assert_eq!(r.status, 201, "item: {}", r.text);
    (s(&r.body["id"]), number)
}

async fn lot(app: &TestApp, chain: &Chain, mode: &str) -> String {
    let r = app
        .post(
            "/v1/lots",
            Some(&chain.town.token),
            json!({
                "title": "Portables de la médiathèque", "pickup_site_id": chain.site,
                "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
                "allocation_policy": "first_come", "visibility": "all_verified",
                "cession_mode": mode
            }),
        )
        .await;
    assert_eq!(r.status, 201, "lot: {}", r.text);
    s(&r.body["id"])
}

async fn lot_items(app: &TestApp, chain: &Chain, lot: &str) -> usize {
    let r = app
        .get(&format!("/v1/items?lot_id={lot}"), Some(&chain.town.token))
        .await;
    r.body["items"].as_array().map_or(0, Vec::len)
}

/// The refused devices of a `ceiling_exceeded` problem, as (inventory number, code).
fn refused(r: &crate::helpers::Resp) -> Vec<(String, String)> {
    r.assert_problem(422, "ceiling_exceeded");
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (s(&i["inventory_number"]), s(&i["code"])))
        .collect()
}

async fn convention_text(app: &TestApp, chain: &Chain, lot: &str) -> String {
    app.settle().await;
    let r = app
        .get(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body["items"].as_array().expect("items");
    let convention = list
        .iter()
        .find(|d| d["kind"] == "convention_cession")
        .unwrap_or_else(|| panic!("no convention in {list:?}"));
    pdf_text(&app.pdf(&s(&convention["id"]), &chain.town.token).await)
}

#[tokio::test]
async fn a_to_refurbisher_lot_refuses_devices_over_300_euros_or_of_unknown_value_when_added() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (dear, dear_n) = device(&app, &chain.town, json!({ "net_book_value_cents": 45_000 })).await;
    let (unknown, unknown_n) = device(&app, &chain.town, json!({})).await;
    let (fine, _) = device(&app, &chain.town, json!({ "net_book_value_cents": 30_000 })).await;
    let l = lot(&app, &chain, "to_refurbisher").await;
    // The sequence that was accepted: add a device over 300 € and one of unknown value.
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": [dear, unknown, fine] }),
        )
        .await;
    assert_eq!(
        refused(&r),
        [
            (dear_n.clone(), "net_book_value_above_ceiling".to_owned()),
            (unknown_n.clone(), "net_book_value_unknown".to_owned())
        ]
    );
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("300 €"))
    );
    assert!(
        r.body["items"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("450 €") && m.contains("D3212-3"))
    );
    let en = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            Some(json!({ "item_ids": [dear] })),
            &[("accept-language", "en")],
        )
        .await;
    assert!(
        en.body["items"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ceiling")),
        "{}",
        en.text
    );
    // Nothing was written: the 300 € device is not in the lot either.
    assert_eq!(lot_items(&app, &chain, &l).await, 0);
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": [fine] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            &format!("/v1/lots/{l}/publish"),
            Some(&chain.town.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Published: a device of unknown value is refused too.
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": [unknown] }),
        )
        .await;
    assert_eq!(
        refused(&r),
        [(unknown_n, "net_book_value_unknown".to_owned())]
    );
    // In service mode the cession is judged at handover, against the association.
    let service = lot(&app, &chain, "service").await;
    let r = app
        .post(
            &format!("/v1/lots/{service}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": [dear] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn publishing_a_lot_turned_to_refurbisher_checks_every_device_against_the_ceiling() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (dear, dear_n) = device(&app, &chain.town, json!({ "net_book_value_cents": 30_001 })).await;
    let l = lot(&app, &chain, "service").await;
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": [dear] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(
            &format!("/v1/lots/{l}"),
            Some(&chain.town.token),
            json!({
                "title": "Portables de la médiathèque", "pickup_site_id": chain.site,
                "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
                "allocation_policy": "first_come", "visibility": "all_verified",
                "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            &format!("/v1/lots/{l}/publish"),
            Some(&chain.town.token),
            json!({}),
        )
        .await;
    assert_eq!(
        refused(&r),
        [(dear_n, "net_book_value_above_ceiling".to_owned())]
    );
    let r = app
        .get(&format!("/v1/lots/{l}"), Some(&chain.town.token))
        .await;
    assert_eq!(r.body["status"], "draft");
}

#[tokio::test]
async fn a_device_of_unknown_value_passes_once_its_body_confirms_a_value_and_the_convention_prints_how()
 {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    // Acquired 15/01/2022: 58 months of a 60-month life, 900 € new → 30 €.
    let (old, old_n) = device(&app, &chain.town, json!({})).await;
    // Acquired 01/06/2024: 29 months → 465 €, above the ceiling.
    let (recent, recent_n) = device(
        &app,
        &chain.town,
        json!({ "acquisition_date": "2024-06-01" }),
    )
    .await;
    let (undated, _) = device(&app, &chain.town, json!({ "acquisition_date": null })).await;
    let (booked, booked_n) = device(&app, &chain.town, json!({})).await;
    let (known, _) = device(&app, &chain.town, json!({ "net_book_value_cents": 0 })).await;
    let valuation = |id: &str| format!("/v1/items/{id}/valuation");

    // Bad input and other callers change nothing.
    for (body, code) in [
        (json!({ "method": "net_book_value" }), "validation_failed"),
        (
            json!({ "method": "estimate", "value_cents": 100 }),
            "validation_failed",
        ),
        (
            json!({ "method": "net_book_value", "value_cents": -1 }),
            "validation_failed",
        ),
    ] {
        let r = app
            .post(&valuation(&old), Some(&chain.town.token), body)
            .await;
        assert_eq!(r.body["code"], code, "{}", r.text);
    }
    let r = app
        .post(
            &valuation(&undated),
            Some(&chain.town.token),
            json!({ "method": "estimate" }),
        )
        .await;
    r.assert_problem(422, "no_value_estimate");
    let r = app
        .post(
            &valuation(&known),
            Some(&chain.town.token),
            json!({ "method": "estimate" }),
        )
        .await;
    r.assert_problem(409, "conflict");
    let r = app
        .post(
            &valuation(&old),
            Some(&chain.atelier.token),
            json!({ "method": "estimate" }),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let other = app.register("public_body").await;
    let r = app
        .post(
            &valuation(&old),
            Some(&other.token),
            json!({ "method": "estimate" }),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let r = app
        .post(
            &format!("/v1/items/{recent}/ceiling-override"),
            Some(&chain.town.token),
            json!({ "reason": "x" }),
        )
        .await;
    r.assert_problem(403, "forbidden");

    // The body confirms values; the estimate of the recent laptop stays above the ceiling.
    let r = app
        .post(
            &valuation(&old),
            Some(&chain.town.token),
            json!({ "method": "estimate" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["valuation"]["value_cents"], 3_000);
    assert_eq!(r.body["valuation"]["method"], "estimate");
    let r = app
        .post(
            &valuation(&recent),
            Some(&chain.town.token),
            json!({ "method": "estimate" }),
        )
        .await;
    assert_eq!(r.body["valuation"]["value_cents"], 46_500, "{}", r.text);
    let r = app
        .post(
            &valuation(&booked),
            Some(&chain.town.token),
            json!({ "method": "net_book_value", "value_cents": 15_000 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let l = lot(&app, &chain, "to_refurbisher").await;
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": [old, recent, booked] }),
        )
        .await;
    assert_eq!(
        refused(&r),
        [(recent_n.clone(), "net_book_value_above_ceiling".to_owned())]
    );
    // The operator overrides the ceiling for it, with a reason.
    let r = app
        .post(
            &format!("/v1/items/{recent}/ceiling-override"),
            Some(&chain.operator),
            json!({ "reason": "Poste endommagé, valeur réelle nulle selon le service informatique" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["ceiling_override"]["granted_at"].is_string());
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": [old, recent, booked] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.post(
        &format!("/v1/lots/{l}/publish"),
        Some(&chain.town.token),
        json!({}),
    )
    .await;
    let claim = app
        .post(
            &format!("/v1/lots/{l}/claims"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted", "{}", claim.text);
    let text = convention_text(&app, &chain, &l).await;
    for needle in [
        "Valeur retenue pour le plafond de 300 €",
        &old_n,
        "30,00 € — estimation : prix de référence d'un équipement neuf de la catégorie de 900 € amortie linéairement sur 60 mois, 58 mois écoulés",
        &booked_n,
        "150,00 € — valeur nette comptable communiquée par la personne publique",
        "dérogation au plafond accordée par l'opérateur",
        "Poste endommagé, valeur réelle nulle",
        "Opératrice",
    ] {
        assert!(text.contains(needle), "« {needle} » missing from:\n{text}");
    }
    assert_eq!(
        text.matches("Par dérogation motivée de l'opérateur")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("Valeur unitaire de chaque bien plafonnée")
            .count(),
        1
    );
    assert!(!text.contains("Cession à vérifier"), "{text}");
}

#[tokio::test]
async fn a_29_device_convention_prints_its_legal_basis_once_and_totals_only_known_values() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let mut ids = Vec::new();
    for n in 0..29 {
        // 26 devices valued 10 € in the inventory, 3 without a net book value.
        let extra = if n < 26 {
            json!({ "net_book_value_cents": 1_000, "acquisition_value_cents": 50_000 })
        } else {
            json!({ "acquisition_value_cents": null })
        };
        ids.push(device(&app, &chain.town, extra).await.0);
    }
    let l = lot(&app, &chain, "to_refurbisher").await;
    // The failing sequence: the three devices of unknown value went into the lot, and the
    // convention printed « Cession à vérifier » once per device.
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": ids }),
        )
        .await;
    assert_eq!(refused(&r).len(), 3);
    for id in &ids[26..] {
        let r = app
            .post(
                &format!("/v1/items/{id}/valuation"),
                Some(&chain.town.token),
                json!({ "method": "net_book_value", "value_cents": 5_000 }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app
        .post(
            &format!("/v1/lots/{l}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": ids }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.post(
        &format!("/v1/lots/{l}/publish"),
        Some(&chain.town.token),
        json!({}),
    )
    .await;
    let claim = app
        .post(
            &format!("/v1/lots/{l}/claims"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted", "{}", claim.text);
    let text = convention_text(&app, &chain, &l).await;
    assert_eq!(
        text.matches("Valeur unitaire de chaque bien plafonnée à 300 €")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("L3212-2, 3°").count(), 1, "{text}");
    assert!(!text.contains("Cession à vérifier"), "{text}");
    assert!(text.contains("Total : 29 équipement(s)"), "{text}");
    // Acquisition values: 26 known; net book values: 26 known, 3 confirmed outside the
    // inventory (listed with the value retained).
    assert!(
        text.contains("13 000,00 € (total des valeurs connues ; 3 valeur(s) non renseignée(s))"),
        "{text}"
    );
    assert!(
        text.contains("260,00 € (total des valeurs connues ; 3 valeur(s) non renseignée(s))"),
        "{text}"
    );
    assert!(!text.contains("Total : 29 équipement(s) 0,00"), "{text}");
    assert_eq!(
        text.matches("50,00 € — valeur nette comptable communiquée")
            .count(),
        3
    );
}

// ---------------------------------------------------------------------------------------------
// Direct cessions: 5° (staff) and 11° (other public bodies).

fn staff_cession(ids: &[&str]) -> Value {
    json!({
        "route": "staff",
        "staff": { "name": "Camille Durand", "position": "Agente d'accueil" },
        "item_ids": ids, "handed_over_on": "2026-11-28", "commitment_reuse": true
    })
}

async fn cession_docs(app: &TestApp, id: &str, token: &str) -> (String, String) {
    app.settle().await;
    let r = app.get(&format!("/v1/cessions/{id}"), Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let docs = r.body["documents"].as_array().expect("documents");
    let of = |kind: &str| {
        s(&docs
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {docs:?}"))["id"])
    };
    let convention = pdf_text(&app.pdf(&of("convention_cession"), token).await);
    let pv = pdf_text(&app.pdf(&of("pv_remise"), token).await);
    (convention, pv)
}

#[tokio::test]
async fn a_public_body_cedes_devices_to_a_staff_member_under_alinea_5_with_its_convention_and_pv() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let screen =
        json!({ "category": "monitor", "net_book_value_cents": 2_500, "has_data_storage": false });
    let (a, a_n) = device(&app, &chain.town, screen.clone()).await;
    let (b, _) = device(&app, &chain.town, screen.clone()).await;
    let (dear, dear_n) = device(
        &app,
        &chain.town,
        json!({ "category": "monitor", "net_book_value_cents": 40_000, "has_data_storage": false }),
    )
    .await;
    let (wiped_not, _) = device(
        &app,
        &chain.town,
        json!({ "net_book_value_cents": 0, "has_data_storage": true }),
    )
    .await;

    // Other callers are refused; bad input changes nothing.
    let asso = app.register("association").await;
    app.verify(&chain.operator, &asso).await;
    for token in [&chain.atelier.token, &asso.token] {
        let r = app
            .post("/v1/cessions", Some(token), staff_cession(&[&a]))
            .await;
        r.assert_problem(403, "forbidden");
    }
    let other = app.register("public_body").await;
    app.verify(&chain.operator, &other).await;
    let r = app
        .post("/v1/cessions", Some(&other.token), staff_cession(&[&a]))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.problem_fields(), ["item_ids[0]"]);
    let mut no_commitment = staff_cession(&[&a]);
    no_commitment["commitment_reuse"] = json!(false);
    let r = app
        .post("/v1/cessions", Some(&chain.town.token), no_commitment)
        .await;
    assert_eq!(r.problem_fields(), ["commitment_reuse"]);
    let mut future = staff_cession(&[&a]);
    future["handed_over_on"] = json!("2026-12-25");
    let r = app
        .post("/v1/cessions", Some(&chain.town.token), future)
        .await;
    assert_eq!(r.problem_fields(), ["handed_over_on"]);
    let r = app
        .post("/v1/cessions", Some(&chain.town.token), json!({ "route": "staff", "item_ids": [a], "handed_over_on": "2026-11-28", "commitment_reuse": true }))
        .await;
    assert_eq!(r.problem_fields(), ["staff"]);
    // The law: 300 € per device (D3212-4), storage wiped.
    let r = app
        .post(
            "/v1/cessions",
            Some(&chain.town.token),
            staff_cession(&[&a, &dear]),
        )
        .await;
    assert_eq!(
        refused(&r),
        [(dear_n, "net_book_value_above_ceiling".to_owned())]
    );
    assert!(
        r.body["items"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("D3212-4"))
    );
    let r = app
        .post(
            "/v1/cessions",
            Some(&chain.town.token),
            staff_cession(&[&wiped_not]),
        )
        .await;
    r.assert_problem(422, "preconditions_unmet");
    assert_eq!(app.count("direct_cessions").await, 0);

    let r = app
        .post(
            "/v1/cessions",
            Some(&chain.town.token),
            staff_cession(&[&a, &b]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = s(&r.body["id"]);
    let basis = s(&r.body["legal_basis"]);
    assert!(
        basis.contains("L3212-2, 5°") && basis.contains("D3212-4"),
        "{basis}"
    );
    let item = app
        .get(&format!("/v1/items/{a}"), Some(&chain.town.token))
        .await;
    assert_eq!(item.body["status"], "donated");
    // A device leaves once.
    let r = app
        .post(
            "/v1/cessions",
            Some(&chain.town.token),
            staff_cession(&[&a]),
        )
        .await;
    r.assert_problem(409, "item_not_available");
    // Only the body (and the operator) read it.
    let r = app
        .get(&format!("/v1/cessions/{id}"), Some(&chain.atelier.token))
        .await;
    r.assert_problem(404, "not_found");

    let (convention, pv) = cession_docs(&app, &id, &chain.town.token).await;
    for needle in [
        "Convention de cession à titre gratuit de matériel informatique",
        "cession à un membre du personnel (article L3212-2, 5°)",
        "Camille Durand",
        "Fonction : Agente d'accueil",
        "L3212-2, 5°",
        "D3212-4",
        &a_n,
        "25,00",
        "Total : 2 équipement(s)",
        "Pour le bénéficiaire — Camille Durand",
        "Pour le cédant",
    ] {
        assert!(
            convention.contains(needle),
            "« {needle} » missing from:\n{convention}"
        );
    }
    assert_eq!(
        convention
            .matches("Valeur unitaire de chaque bien plafonnée")
            .count(),
        1
    );
    for needle in [
        "Procès-verbal de remise de matériel informatique",
        "a remis à Camille Durand",
        "28 novembre 2026",
        "Pour le bénéficiaire — Camille Durand",
    ] {
        assert!(pv.contains(needle), "« {needle} » missing from:\n{pv}");
    }
    // Counted in the re-use rate: the convention's commitment, the PV's proof.
    let r = app
        .get(
            &format!("/v1/organisations/{}/reuse-rate?year=2026", chain.town.id),
            Some(&chain.town.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let counted: Vec<String> = r.body["counted"]
        .as_array()
        .expect("counted")
        .iter()
        .map(|i| s(&i["item_id"]))
        .collect();
    assert!(counted.contains(&a) && counted.contains(&b), "{}", r.text);
}

#[tokio::test]
async fn a_public_body_cedes_devices_to_another_public_body_under_alinea_11() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let other = app.register("public_body").await;
    app.verify(&chain.operator, &other).await;
    let screen =
        json!({ "category": "monitor", "net_book_value_cents": 0, "has_data_storage": false });
    let (a, _) = device(&app, &chain.town, screen.clone()).await;
    let (b, _) = device(&app, &chain.town, screen.clone()).await;
    let (c, _) = device(&app, &chain.town, screen.clone()).await;
    let body = |ids: &[&str], to: Value| {
        json!({
            "route": "public_body", "public_body": to, "item_ids": ids,
            "handed_over_on": "2026-11-27", "commitment_reuse": true
        })
    };
    // To itself, or to an organisation that is not a public body: refused.
    let r = app
        .post(
            "/v1/cessions",
            Some(&chain.town.token),
            body(&[&a], json!({ "organisation_id": chain.town.id })),
        )
        .await;
    assert_eq!(r.problem_fields(), ["public_body.organisation_id"]);
    let r = app
        .post(
            "/v1/cessions",
            Some(&chain.town.token),
            body(&[&a], json!({ "organisation_id": chain.atelier.id })),
        )
        .await;
    assert_eq!(r.problem_fields(), ["public_body.organisation_id"]);

    // Two cessions of the same device at once: one wins, the other finds it gone.
    let to = json!({ "organisation_id": other.id, "representative": "Paul Leroy, directeur général des services" });
    let (x, y) = tokio::join!(
        app.post(
            "/v1/cessions",
            Some(&chain.town.token),
            body(&[&a, &b], to.clone())
        ),
        app.post(
            "/v1/cessions",
            Some(&chain.town.token),
            body(&[&b, &a], to.clone())
        ),
    );
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", x.text, y.text);
    let won = if x.status == 201 { x } else { y };
    let id = s(&won.body["id"]);
    assert!(s(&won.body["legal_basis"]).contains("L3212-2, 11°"));
    assert!(s(&won.body["legal_basis"]).contains("D3212-5"));
    let item = app.get(&format!("/v1/items/{a}"), Some(&other.token)).await;
    assert_eq!(item.body["owner_id"], json!(other.id), "{}", item.text);
    // The receiving body reads the cession and its papers, and is a party to them.
    let (convention, pv) = cession_docs(&app, &id, &other.token).await;
    for needle in [
        "cession à une autre personne publique (article L3212-2, 11°)",
        "L3212-2, 11°",
        "D3212-5",
        "Représenté(e) par Paul Leroy",
        "Pour le bénéficiaire",
    ] {
        assert!(
            convention.contains(needle),
            "« {needle} » missing from:\n{convention}"
        );
    }
    assert!(pv.contains("Procès-verbal de remise"), "{pv}");

    // A public body named in the act, not registered in the service.
    let r = app
        .post(
            "/v1/cessions",
            Some(&chain.town.token),
            body(&[&c], json!({ "name": "Syndicat intercommunal des écoles", "address": "2 place de la Mairie, 41000 Blois" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (convention, _) = cession_docs(&app, &s(&r.body["id"]), &chain.town.token).await;
    assert!(
        convention.contains("Syndicat intercommunal des écoles"),
        "{convention}"
    );
    assert!(convention.contains("Pour le bénéficiaire — Syndicat intercommunal des écoles"));
}
