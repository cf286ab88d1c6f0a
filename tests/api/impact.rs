//! Impact and compliance: every figure of a fixed fixture against hand-computed values, the legal
//! re-use rate with its proofs, open data without personal data, the yearly PDF.

use serde_json::{Value, json};

use crate::helpers::{Chain, Org, TestApp, chain_at, pdf_text, spawn_app};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

/// The fixture: the town gives 2 laptops, 1 screen and 1 printer, and 1 more laptop; the Atelier
/// donates 2 laptops, the screen and the printer to an association (handover 29/11/2026) and
/// recycles the last laptop (weighed 2.5 kg, 28/11/2026); the lot's convention is signed by both.
struct Fixture {
    chain: Chain,
    asso: Org,
    laptops: Vec<String>,
    recycled: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let chain = chain_at(app, BLOIS.0, BLOIS.1).await;
    let ids = app
        .make_available(
            &chain,
            &[
                json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490" }),
                json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490" }),
                json!({ "category": "monitor", "brand": "Iiyama", "model": "ProLite" }),
                json!({ "category": "printer", "brand": "Brother", "model": "HL-L2350DW" }),
                json!({ "category": "laptop", "brand": "HP", "model": "EliteBook" }),
            ],
        )
        .await;
    let asso = app.register("association").await;
    app.verify(&chain.operator, &asso).await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": ids[..4] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rid = r.body["id"].as_str().expect("id");
    let done = app
        .post(
            &format!("/v1/reservations/{rid}/handover"),
            Some(&chain.atelier.token),
            json!({
                "mode": "pickup", "occurred_on": "2026-11-29",
                "association_signatory": { "name": "Théo Lambert", "role": "Président" },
                "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
                "commitment_no_resale": true, "commitment_reuse": true
            }),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let base = format!("/v1/items/{}", ids[4]);
    app.post(
        &format!("{base}/unpublish"),
        Some(&chain.atelier.token),
        json!({}),
    )
    .await;
    let disposed = app
        .post(
            &format!("{base}/disposal"),
            Some(&chain.atelier.token),
            json!({ "channel": "eco_organisme", "recycler_name": "ecosystem", "weight_kg": 2.5, "disposed_on": "2026-11-28" }),
        )
        .await;
    assert_eq!(disposed.status, 201, "{}", disposed.text);
    app.settle().await;
    // Both parties sign the lot's convention: the Atelier's prior commitment to re-use.
    let item = app
        .get(&format!("/v1/items/{}", ids[0]), Some(&chain.town.token))
        .await;
    let lot = item.body["lot_id"].as_str().expect("lot").to_owned();
    let docs = app
        .get(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
        )
        .await;
    let convention = docs.body["items"]
        .as_array()
        .expect("docs")
        .iter()
        .find(|d| d["kind"] == "convention_cession")
        .expect("convention")
        .clone();
    let (_, v3) = app
        .sign_by_both(&chain, convention["id"].as_str().expect("id"))
        .await;
    assert_eq!(v3.body["signed"], true, "{}", v3.text);
    Fixture {
        chain,
        asso,
        laptops: ids[..2].to_vec(),
        recycled: ids[4].clone(),
    }
}

fn close(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or(f64::NAN);
    assert!((got - expected).abs() < 1e-6, "{got} != {expected}");
}

#[tokio::test]
async fn every_report_figure_equals_its_hand_computed_value() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    // Donated: 2 laptops (170.3 + 12.3 = 182.6 kg CO2e, 1.59 kg each), 1 screen (64.6 + 1.3 =
    // 65.9, 5.5 kg), 1 printer (no confirmed CO2e: left out; 10.32 kg).
    // CO2e = 2 × 182.6 + 65.9 = 431.1; re-used kg = 2 × 1.59 + 5.5 + 10.32 = 19.0.
    // Recycled: 1 laptop, weighed 2.5 kg.
    for (who, token, id) in [
        ("town", &f.chain.town.token, &f.chain.town.id),
        ("atelier", &f.chain.atelier.token, &f.chain.atelier.id),
    ] {
        let r = app
            .get(
                &format!("/v1/organisations/{id}/impact?year=2026"),
                Some(token),
            )
            .await;
        assert_eq!(r.status, 200, "{who}: {}", r.text);
        let o = &r.body["overall"];
        assert_eq!(
            (o["donated"].as_u64(), o["recycled"].as_u64()),
            (Some(4), Some(1)),
            "{who}"
        );
        close(&o["co2e_avoided_kg"], 431.1);
        assert_eq!(o["items_without_co2e_factor"], 1);
        close(&o["reused_kg"], 19.0);
        close(&o["recycled_kg"], 2.5);
        assert_eq!(r.body["factor_set_version"], "ademe-arcep-2022.1");
        assert_eq!(r.body["method"], "reemploi-impact-v1");
        let laptop = r.body["by_category"]
            .as_array()
            .expect("categories")
            .iter()
            .find(|c| c["category"] == "laptop")
            .expect("laptops");
        assert_eq!(
            (laptop["donated"].as_u64(), laptop["recycled"].as_u64()),
            (Some(2), Some(1))
        );
        close(&laptop["co2e_avoided_kg"], 365.2);
        let november = &r.body["by_month"][10];
        assert_eq!(
            (
                november["month"].as_u64(),
                november["donated"].as_u64(),
                november["recycled"].as_u64()
            ),
            (Some(11), Some(4), Some(1))
        );
    }
    // The association received the 4 donated devices and recycled nothing.
    let r = app
        .get(
            &format!("/v1/organisations/{}/impact?year=2026", f.asso.id),
            Some(&f.asso.token),
        )
        .await;
    assert_eq!(r.body["overall"]["donated"], 4, "{}", r.text);
    assert_eq!(r.body["overall"]["recycled"], 0);
    // Another year is empty; CSV carries the same total.
    let r = app
        .get(
            &format!("/v1/organisations/{}/impact?year=2025", f.chain.town.id),
            Some(&f.chain.town.token),
        )
        .await;
    assert_eq!(r.body["overall"]["donated"], 0);
    let csv = app
        .get(
            &format!(
                "/v1/organisations/{}/impact?year=2026&format=csv",
                f.chain.town.id
            ),
            Some(&f.chain.town.token),
        )
        .await;
    assert!(
        csv.header("content-type")
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    // For a French spreadsheet: the byte-order mark, `;` and decimal commas.
    assert!(
        csv.text.starts_with("\u{feff}organisation;annee;"),
        "{}",
        csv.text
    );
    assert!(
        csv.text
            .contains(";2026;total;4;1;431,1;19;2,5;ademe-arcep-2022.1"),
        "{}",
        csv.text
    );
    // Another organisation may not read it; bad years are refused.
    app.get(
        &format!("/v1/organisations/{}/impact?year=2026", f.chain.town.id),
        Some(&f.asso.token),
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/organisations/{}/impact?year=1800", f.chain.town.id),
        Some(&f.chain.town.token),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn the_legal_reuse_rate_counts_only_devices_with_a_commitment_and_a_proof() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let r = app
        .get(
            &format!("/v1/organisations/{}/reuse-rate?year=2026", f.chain.town.id),
            Some(&f.chain.town.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Parted with in 2026 (collection 28/11): 5 devices in scope, under 10 years old; 4 re-used
    // with the signed convention and a procès-verbal de remise; 1 recycled.
    assert_eq!(
        (r.body["numerator"].as_u64(), r.body["denominator"].as_u64()),
        (Some(4), Some(5))
    );
    close(&r.body["rate"], 0.8);
    close(&r.body["target"], 0.5);
    assert_eq!(r.body["meets_target"], true);
    let counted: Vec<&str> = r.body["counted"]
        .as_array()
        .expect("counted")
        .iter()
        .filter_map(|i| i["item_id"].as_str())
        .collect();
    for l in &f.laptops {
        assert!(counted.contains(&l.as_str()));
    }
    assert!(
        r.body["counted"][0]["proof_code"]
            .as_str()
            .is_some_and(|c| c.len() == 10)
    );
    let excluded = &r.body["excluded"][0];
    assert_eq!(excluded["item_id"], f.recycled.as_str());
    assert_eq!(excluded["reason"], "not_reused");
    // Only public bodies have a legal rate; only their members read it.
    app.get(
        &format!(
            "/v1/organisations/{}/reuse-rate?year=2026",
            f.chain.atelier.id
        ),
        Some(&f.chain.atelier.token),
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/organisations/{}/reuse-rate?year=2026", f.chain.town.id),
        Some(&f.chain.atelier.token),
    )
    .await
    .assert_problem(404, "not_found");

    // The yearly report shows the rate against the target, with its chart and conventions.
    let pdf = app
        .client
        .get(app.url(&format!(
            "/v1/organisations/{}/yearly-report?year=2026",
            f.chain.town.id
        )))
        .bearer_auth(&f.chain.town.token)
        .send()
        .await
        .expect("report");
    assert_eq!(pdf.status().as_u16(), 200);
    let text = pdf_text(&pdf.bytes().await.expect("bytes"));
    for needle in [
        "Rapport annuel de réemploi 2026",
        "Taux de réemploi 2026 : 80 %",
        "Objectif réglementaire 2026 : 50 %",
        "objectif atteint",
        "431,1 kg CO2e",
        "nov.",
        "Conventions de cession de l'année",
        "signée",
    ] {
        assert!(text.contains(needle), "« {needle} » missing from: {text}");
    }
}

#[tokio::test]
async fn open_data_has_the_same_totals_per_territory_and_no_personal_data() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    for (level, code, name) in [
        ("commune", "41230", "Saint-Ouen-sur-Loire"),
        ("departement", "41", "Loir-et-Cher"),
        ("region", "24", "Centre-Val de Loire"),
    ] {
        let r = app
            .get(
                &format!("/v1/open-data/impact?year=2026&level={level}"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let row = &r.body["items"][0];
        assert_eq!(
            (row["code"].as_str(), row["name"].as_str()),
            (Some(code), Some(name)),
            "{}",
            r.text
        );
        assert_eq!(
            (row["donated"].as_u64(), row["recycled"].as_u64()),
            (Some(4), Some(1))
        );
        close(&row["co2e_avoided_kg"], 431.1);
        close(&row["reused_kg"], 19.0);
    }
    let filtered = app
        .get(
            "/v1/open-data/impact?year=2026&level=departement&code=37",
            None,
        )
        .await;
    assert_eq!(filtered.body["items"].as_array().map(Vec::len), Some(0));
    let csv = app
        .get(
            "/v1/open-data/impact?year=2026&level=departement&format=csv",
            None,
        )
        .await;
    // For programs (its Table Schema): `,`, decimal points, no byte-order mark.
    assert!(csv.text.starts_with("niveau,code,"), "{}", csv.text);
    assert!(
        csv.text
            .contains("departement,41,Loir-et-Cher,2026,4,1,431.1,19,2.5,"),
        "{}",
        csv.text
    );
    // No person's name, e-mail, phone number or street address in any form of it.
    let json = app
        .get("/v1/open-data/impact?year=2026&level=commune", None)
        .await;
    for text in [&json.text, &csv.text] {
        assert!(!text.contains('@'), "an e-mail address: {text}");
        for person in [
            "Claire",
            "Martin",
            "Inès",
            "Bernard",
            "Théo",
            "Lambert",
            "place de la Mairie",
            "rue",
        ] {
            assert!(!text.contains(person), "personal data « {person} »: {text}");
        }
        let digits_run = text
            .split(|c: char| !c.is_ascii_digit() && c != ' ' && c != '.')
            .any(|s| s.chars().filter(char::is_ascii_digit).count() >= 10);
        assert!(!digits_run, "a phone-like number: {text}");
        assert!(
            !text.contains(&f.asso.id),
            "an organisation identifier of a private body"
        );
    }
    app.get("/v1/open-data/impact?year=abc", None)
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn the_operator_publishes_a_new_factor_set_that_reports_then_use() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let sets = app.get("/v1/impact/factor-sets", None).await;
    let first = &sets.body["items"][0];
    assert_eq!(first["version"], "ademe-arcep-2022.1");
    let printer = first["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .find(|x| x["category"] == "printer")
        .expect("printer");
    assert!(
        printer.get("co2e_kg").is_none(),
        "no invented figure: {printer}"
    );
    let new_set = json!({
        "version": "test-2027.1", "published_on": "2026-11-30",
        "factors": [
            { "category": "laptop", "co2e_kg": 200.0, "weight_kg": 2.0, "source": "Étude test" },
            { "category": "monitor", "co2e_kg": 70.0, "weight_kg": 5.0, "source": "Étude test" }
        ]
    });
    app.post(
        "/v1/impact/factor-sets",
        Some(&f.chain.town.token),
        new_set.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    let mut bad = new_set.clone();
    bad["factors"][1]["category"] = json!("laptop");
    app.post("/v1/impact/factor-sets", Some(&f.chain.operator), bad)
        .await
        .assert_problem(422, "validation_failed");
    let ok = app
        .post(
            "/v1/impact/factor-sets",
            Some(&f.chain.operator),
            new_set.clone(),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    app.post("/v1/impact/factor-sets", Some(&f.chain.operator), new_set)
        .await
        .assert_problem(409, "conflict");
    // 2 × 200 + 70 = 470; the printer has no factor in this set.
    let r = app
        .get(
            &format!("/v1/organisations/{}/impact?year=2026", f.chain.town.id),
            Some(&f.chain.town.token),
        )
        .await;
    assert_eq!(r.body["factor_set_version"], "test-2027.1");
    close(&r.body["overall"]["co2e_avoided_kg"], 470.0);
    assert_eq!(r.body["overall"]["items_without_co2e_factor"], 1);
}

/// The publications recorded on the factor sets' stream.
async fn factor_set_events(app: &TestApp) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM events WHERE stream = 'impact/factor_sets' \
             AND kind = 'factor_set_published'",
        ))
        .await
        .expect("count query")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("count value")
}

#[tokio::test]
async fn publishing_a_factor_set_appends_its_event_and_the_default_set_is_published_once() {
    let app = spawn_app().await;
    assert_eq!(factor_set_events(&app).await, 1, "the default set at start");
    let operator = app.operator().await;
    let new_set = json!({
        "version": "test-2027.1", "published_on": "2026-11-30",
        "factors": [
            { "category": "laptop", "co2e_kg": 200.0, "weight_kg": 2.0, "source": "Étude test" }
        ]
    });
    let ok = app
        .post("/v1/impact/factor-sets", Some(&operator), new_set.clone())
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    app.post("/v1/impact/factor-sets", Some(&operator), new_set)
        .await
        .assert_problem(409, "conflict");
    assert_eq!(factor_set_events(&app).await, 2);
    let sets = app.get("/v1/impact/factor-sets", None).await;
    assert_eq!(sets.body["items"].as_array().map(Vec::len), Some(2));
    // A second start on the same database publishes nothing more.
    reemploi_api::commands::impact::ensure_default_factor_set(&app.db)
        .await
        .expect("default set");
    assert_eq!(factor_set_events(&app).await, 2);
}
