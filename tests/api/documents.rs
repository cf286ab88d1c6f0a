//! Cession paperwork: documents produced by the flows, read back with `pdftotext`, signed,
//! versioned, and verified by anyone.

use serde_json::{Value, json};

use crate::helpers::{Chain, Org, TestApp, chain_at, pdf_text, spawn_app};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

async fn docs(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let r = app.get(path, Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn of_kind<'a>(list: &'a [Value], kind: &str) -> &'a Value {
    list.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {list:?}"))
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[track_caller]
fn has_all(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "« {n} » missing from:\n{text}");
    }
}

/// Two laptops all the way to the catalogue; returns their ids and the lot.
async fn published(app: &TestApp, chain: &Chain) -> (Vec<String>, String) {
    let ids = app
        .make_available(
            chain,
            &[
                json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "serial_number": "SN-DOC-1", "acquisition_value_cents": 94861, "net_book_value_cents": 12000 }),
                json!({ "category": "laptop", "brand": "Lenovo", "model": "ThinkPad T480", "serial_number": "SN-DOC-2", "acquisition_value_cents": 110000, "net_book_value_cents": 0 }),
            ],
        )
        .await;
    let item = app
        .get(&format!("/v1/items/{}", ids[0]), Some(&chain.town.token))
        .await;
    let lot = item.body["lot_id"].as_str().expect("lot").to_owned();
    app.settle().await;
    (ids, lot)
}

#[tokio::test]
async fn a_lot_s_paperwork_is_produced_in_french_signed_by_both_parties_and_verifiable() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (ids, lot) = published(&app, &chain).await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let convention = of_kind(&list, "convention_cession");
    let pv = of_kind(&list, "pv_enlevement");
    let exit = of_kind(&list, "certificat_sortie");
    let erasure = of_kind(&list, "certificat_effacement");
    assert_eq!(
        erasure["item_id"].as_str(),
        Some(ids[0].as_str()).or(erasure["item_id"].as_str())
    );
    for d in [convention, pv, exit, erasure] {
        assert_eq!(d["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(d["code"].as_str().map(str::len), Some(10));
    }

    // The convention: parties, legal basis, devices, values, commitments, typography.
    let pdf = app.pdf(&id(convention), &chain.town.token).await;
    let text = pdf_text(&pdf);
    has_all(
        &text,
        &[
            "Convention de cession à titre gratuit de matériel informatique",
            "Ville de Saint-Ouen-sur-Loire",
            "Atelier Solidaire du Val",
            "SIRET",
            "Agrément ESUS",
            "L3212-2",
            "SN-DOC-1",
            "Dell Latitude 5490",
            "Ordinateur portable",
            "948,61",
            "1 100,00",
            "120,00",
            "Total : 2 équipement(s)",
            "2 048,61",
            "« purge »",
            "NIST SP 800-88",
            "œuvre",
            "reçu",
            "à titre gratuit",
            "procès-verbal",
            "Services techniques",
            convention["code"].as_str().expect("code"),
        ],
    );
    // The procès-verbal d'enlèvement carries only the recorder's own signature (the other
    // party confirms with its own account).
    let text = pdf_text(&app.pdf(&id(pv), &chain.atelier.token).await);
    has_all(
        &text,
        &[
            "Procès-verbal d'enlèvement de matériel informatique",
            "Signé par Inès Bernard, Responsable d'atelier",
            "La propriété et la garde du matériel sont transférées",
        ],
    );
    assert!(!text.contains("Claire Martin"), "{text}");
    assert_eq!(pv["signed"], false, "{pv}");
    // The certificat de sortie d'inventaire, for the public accountant.
    let text = pdf_text(&app.pdf(&id(exit), &chain.town.token).await);
    has_all(
        &text,
        &[
            "Certificat administratif de sortie d'inventaire",
            "comptable public",
            "valeur nette comptable de 120,00",
            "ne seront pas réattribués",
        ],
    );
    // The certificat d'effacement: every NIST field of the medium.
    let text = pdf_text(&app.pdf(&id(erasure), &chain.atelier.token).await);
    has_all(
        &text,
        &[
            "Certificat d'effacement des données",
            "NIST SP 800-88",
            "Purge",
            "nwipe 0.35",
            "Relecture complète",
            "Réussi",
            "Inès Bernard",
            "1 support(s) déclaré(s) : MED-",
        ],
    );

    // Signing: an agent may not; the town's admin signs, then the refurbisher's admin.
    let (agent, _) = app.add_member(&chain.town, "agent").await;
    let sign = json!({ "signer_name": "Claire Martin", "signer_role": "Maire adjointe" });
    app.post(
        &format!("/v1/documents/{}/signatures", id(convention)),
        Some(&agent),
        sign.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    let asso = app.register("association").await;
    app.post(
        &format!("/v1/documents/{}/signatures", id(convention)),
        Some(&asso.token),
        sign.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    let v2 = app
        .post(
            &format!("/v1/documents/{}/signatures", id(convention)),
            Some(&chain.town.token),
            sign.clone(),
        )
        .await;
    assert_eq!(v2.status, 201, "{}", v2.text);
    assert_eq!(
        v2.body["version"],
        convention["version"].as_i64().expect("v") + 1
    );
    assert_eq!(v2.body["signed"], false, "one party of two");
    app.post(
        &format!("/v1/documents/{}/signatures", id(&v2.body)),
        Some(&chain.town.token),
        sign,
    )
    .await
    .assert_problem(409, "conflict");
    let v3 = app
        .post(
            &format!("/v1/documents/{}/signatures", id(&v2.body)),
            Some(&chain.atelier.token),
            json!({ "signer_name": "Inès Bernard", "signer_role": "Directrice" }),
        )
        .await;
    assert_eq!(v3.body["signed"], true, "{}", v3.text);
    let text = pdf_text(&app.pdf(&id(&v3.body), &chain.atelier.token).await);
    has_all(
        &text,
        &[
            "Signé électroniquement par Claire Martin, Maire adjointe",
            "Inès Bernard, Directrice",
        ],
    );

    // Anyone verifies: the new version, the old one (superseded), and a changed byte.
    let code = v3.body["code"].as_str().expect("code");
    let public = app.get(&format!("/v1/verify/{code}"), None).await;
    assert_eq!(public.status, 200, "{}", public.text);
    assert_eq!(public.body["signed"], true);
    assert_eq!(public.body["kind"], "convention_cession");
    assert_eq!(public.body["sha256"], v3.body["sha256"]);
    assert!(
        public.body["parties"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("Ville de Saint-Ouen-sur-Loire")))
    );
    assert!(
        !public.text.contains("Claire"),
        "no person named publicly: {}",
        public.text
    );
    let old = app
        .get(
            &format!("/v1/verify/{}", convention["code"].as_str().expect("c")),
            None,
        )
        .await;
    assert_eq!(
        old.body["superseded_by_code"], v3.body["code"],
        "the newest version"
    );
    let genuine = app
        .post_bytes(
            &format!("/v1/verify/{}", convention["code"].as_str().expect("c")),
            None,
            pdf.clone(),
            "application/pdf",
        )
        .await;
    assert_eq!(genuine.body["genuine"], true, "{}", genuine.text);
    let mut tampered = pdf.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    let fake = app
        .post_bytes(
            &format!("/v1/verify/{}", convention["code"].as_str().expect("c")),
            None,
            tampered,
            "application/pdf",
        )
        .await;
    assert_eq!(fake.body["genuine"], false, "{}", fake.text);
    app.get("/v1/verify/ZZZZZZZZZZ", None)
        .await
        .assert_problem(404, "not_found");

    // Rendering is deterministic: asking again without a change returns the same version.
    let again = app
        .post(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
            json!({ "kind": "pv_enlevement" }),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["id"], pv["id"]);
    assert_eq!(again.body["sha256"], pv["sha256"]);
    // A kind that is never about a lot (the attestation de don is a handover's) is bad input.
    let wrong = app
        .post(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
            json!({ "kind": "attestation_don" }),
        )
        .await;
    wrong.assert_problem(422, "validation_failed");
    assert_eq!(
        wrong.body["errors"][0]["pointer"], "/kind",
        "{}",
        wrong.text
    );
}

#[tokio::test]
async fn the_deciding_act_and_the_draft_deliberation_are_printed() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (_, lot) = published(&app, &chain).await;
    app.put(
        &format!("/v1/lots/{lot}/decision"),
        Some(&chain.atelier.token),
        json!({ "kind": "deliberation", "reference": "2026-112", "date": "2026-11-20" }),
    )
    .await
    .assert_problem(403, "forbidden");
    let bad = app
        .put(
            &format!("/v1/lots/{lot}/decision"),
            Some(&chain.town.token),
            json!({ "kind": "deliberation", "reference": "  ", "date": "2030-01-01" }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let set = app
        .put(
            &format!("/v1/lots/{lot}/decision"),
            Some(&chain.town.token),
            json!({ "kind": "deliberation", "reference": "2026-112", "date": "2026-11-20" }),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let convention = of_kind(
        set.body["items"].as_array().expect("items"),
        "convention_cession",
    );
    let text = pdf_text(&app.pdf(&id(convention), &chain.town.token).await);
    has_all(&text, &["la délibération n° 2026-112 du 20 novembre 2026"]);
    let draft = app
        .post(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
            json!({ "kind": "projet_deliberation" }),
        )
        .await;
    assert_eq!(draft.status, 201, "{}", draft.text);
    let text = pdf_text(&app.pdf(&id(&draft.body), &chain.town.token).await);
    has_all(
        &text,
        &[
            "Projet à adapter",
            "L3212-2",
            "décret n° 2022-791",
            "DÉCIDE",
        ],
    );
    let plain = app
        .get(
            &format!("/v1/lots/{lot}/deliberation"),
            Some(&chain.town.token),
        )
        .await;
    assert!(
        plain
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    for needle in [
        "L3212-2",
        "DÉCIDE",
        "Dell Latitude 5490",
        "Total : 2 équipement(s)",
    ] {
        assert!(
            plain.text.contains(needle),
            "« {needle} » missing from: {}",
            plain.text
        );
    }
    let asso = app.register("association").await;
    app.get(&format!("/v1/lots/{lot}/deliberation"), Some(&asso.token))
        .await
        .assert_problem(404, "not_found");
    // A kind that never applies to a lot is bad input (422), not a state of the lot (409).
    app.post(
        &format!("/v1/lots/{lot}/documents"),
        Some(&chain.town.token),
        json!({ "kind": "attestation_don" }),
    )
    .await
    .assert_problem(422, "validation_failed");
}

async fn association(app: &TestApp, operator: &str) -> Org {
    let asso = app.register("association").await;
    app.verify(operator, &asso).await;
    asso
}

fn handover() -> Value {
    json!({
        "mode": "pickup", "occurred_on": "2026-11-29",
        "association_signatory": { "name": "Théo Lambert", "role": "Président" },
        "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
        "commitment_no_resale": true, "commitment_reuse": true
    })
}

#[tokio::test]
async fn a_handover_produces_the_pv_de_remise_and_the_attestation_de_don() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (ids, _) = published(&app, &chain).await;
    let asso = association(&app, &chain.operator).await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": ids }),
        )
        .await;
    let rid = r.body["id"].as_str().expect("id").to_owned();
    let done = app
        .post(
            &format!("/v1/reservations/{rid}/handover"),
            Some(&chain.atelier.token),
            handover(),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    app.settle().await;
    let list = docs(
        &app,
        &format!("/v1/reservations/{rid}/documents"),
        &asso.token,
    )
    .await;
    assert_eq!(list.len(), 2, "{list:?}");
    let text = pdf_text(&app.pdf(&id(of_kind(&list, "pv_remise")), &asso.token).await);
    has_all(
        &text,
        &[
            "Procès-verbal de remise de matériel informatique",
            "Signé par Inès Bernard",
            "retrait",
            "Les Petits Débrouillards du Blésois",
            "Total : 2 équipement(s)",
        ],
    );
    let text = pdf_text(
        &app.pdf(&id(of_kind(&list, "attestation_don")), &asso.token)
            .await,
    );
    has_all(
        &text,
        &[
            "Attestation de don",
            "Atelier Solidaire du Val",
            "29 novembre 2026",
            "réemployer",
        ],
    );
    // Another association sees none of it.
    let other = association(&app, &chain.operator).await;
    app.get(
        &format!("/v1/reservations/{rid}/documents"),
        Some(&other.token),
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/documents/{}", id(&list[0])),
        Some(&other.token),
    )
    .await
    .assert_problem(404, "not_found");
    // The signed paper copy, uploaded beside the attestation.
    let att = id(of_kind(&list, "attestation_don"));
    app.post_bytes(
        &format!("/v1/documents/{att}/scan"),
        Some(&asso.token),
        b"not a pdf".to_vec(),
        "application/pdf",
    )
    .await
    .assert_problem(422, "validation_failed");
    let scan = b"%PDF-1.4\n% scan of the signed paper copy\n".to_vec();
    let up = app
        .post_bytes(
            &format!("/v1/documents/{att}/scan"),
            Some(&asso.token),
            scan.clone(),
            "application/pdf",
        )
        .await;
    assert_eq!(
        up.body["signed"], false,
        "a scan alone signs nothing: {}",
        up.text
    );
    let attested = app
        .post(
            &format!("/v1/documents/{att}/scan/attestations"),
            Some(&chain.atelier.token),
            json!({ "signer_name": "Inès Bernard", "signer_role": "Directrice" }),
        )
        .await;
    assert_eq!(attested.body["signed"], true, "{}", attested.text);
    let code = up.body["code"].as_str().expect("code");
    let check = app
        .post_bytes(&format!("/v1/verify/{code}"), None, scan, "application/pdf")
        .await;
    assert_eq!(
        check.body["genuine"], true,
        "the scan is recognised: {}",
        check.text
    );
}

#[tokio::test]
async fn a_long_item_table_runs_over_pages_with_its_header_repeated() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let items = app.items(&chain.town, "laptop", 90).await;
    let lot = app
        .post(
            "/v1/lots",
            Some(&chain.town.token),
            json!({
                "title": "Grand lot", "pickup_site_id": chain.site, "pickup_from": "2026-11-20",
                "pickup_until": "2026-12-20", "allocation_policy": "first_come",
                "visibility": "all_verified", "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    let lot = lot.body["id"].as_str().expect("lot").to_owned();
    app.post(
        &format!("/v1/lots/{lot}/items"),
        Some(&chain.town.token),
        json!({ "item_ids": items }),
    )
    .await;
    app.post(
        &format!("/v1/lots/{lot}/publish"),
        Some(&chain.town.token),
        json!({}),
    )
    .await;
    let claim = app
        .post(
            &format!("/v1/lots/{lot}/claims"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted");
    app.settle().await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let text = pdf_text(
        &app.pdf(&id(of_kind(&list, "convention_cession")), &chain.town.token)
            .await,
    );
    let pages = text.matches("Page ").count().max(1);
    assert!(pages >= 3, "{pages} pages");
    let headers = text.matches("N° d'inventaire").count();
    assert!(
        headers >= pages - 1,
        "header on every page of the table: {headers} for {pages} pages"
    );
    assert!(text.contains("Total : 90 équipement(s)"));
}
