//! Signatures are acts of the signer (issue 14): each party signs one edition of a document with
//! its own account; a changed content starts unsigned and the old version says why; a scan is
//! only a scan until a party attests it; one handover covers several reservations with one
//! procès-verbal de remise and one attestation de don; no document is issued with a loopback
//! public URL outside test mode.

use serde_json::{Value, json};

use crate::helpers::{Chain, Org, TestApp, chain_at, pdf_text, spawn_app, spawn_app_with};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

async fn docs(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let r = app.get(path, Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn of_kind(list: &[Value], kind: &str) -> Value {
    list.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {list:?}"))
        .clone()
}

/// The text of a PDF with every run of blanks (line breaks included) as one space.
fn flat(pdf: &[u8]) -> String {
    pdf_text(pdf)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn party<'a>(doc: &'a Value, org: &Org) -> &'a Value {
    doc["parties"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["organisation_id"] == org.id.as_str()))
        .unwrap_or_else(|| panic!("{} is no party of {doc}", org.id))
}

/// `signed` on the document is exactly «every party signed».
#[track_caller]
fn flags_agree(doc: &Value) {
    let all = doc["parties"]
        .as_array()
        .expect("parties")
        .iter()
        .all(|p| p["signed"] == true);
    assert_eq!(doc["signed"], all, "document flag vs parties: {doc}");
}

/// A lot of `n` laptops published, claimed and awarded to the chain's refurbisher; returns the
/// lot and the devices' ids and inventory numbers.
async fn awarded(app: &TestApp, chain: &Chain, n: usize) -> (String, Vec<String>, Vec<String>) {
    let items = app.items(&chain.town, "laptop", n).await;
    let mut inventory = Vec::new();
    for i in &items {
        let r = app
            .get(&format!("/v1/items/{i}"), Some(&chain.town.token))
            .await;
        inventory.push(r.body["inventory_number"].as_str().expect("inv").to_owned());
    }
    let lot = app
        .post(
            "/v1/lots",
            Some(&chain.town.token),
            json!({
                "title": "Lot signé", "pickup_site_id": chain.site, "pickup_from": "2026-11-20",
                "pickup_until": "2026-12-20", "allocation_policy": "first_come",
                "visibility": "all_verified", "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    assert_eq!(lot.status, 201, "{}", lot.text);
    let lot = id(&lot.body);
    let added = app
        .post(
            &format!("/v1/lots/{lot}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": items }),
        )
        .await;
    assert!(added.status < 300, "{}", added.text);
    let published = app
        .post(
            &format!("/v1/lots/{lot}/publish"),
            Some(&chain.town.token),
            json!({}),
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.text);
    let claim = app
        .post(
            &format!("/v1/lots/{lot}/claims"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted", "{}", claim.text);
    app.settle().await;
    (lot, items, inventory)
}

async fn sign(app: &TestApp, doc: &str, token: &str, name: &str) -> crate::helpers::Resp {
    app.post(
        &format!("/v1/documents/{doc}/signatures"),
        Some(token),
        json!({ "signer_name": name, "signer_role": "Directrice" }),
    )
    .await
}

#[tokio::test]
async fn a_signed_convention_whose_devices_go_missing_at_collection_is_reissued_unsigned_and_says_why()
 {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (lot, items, inventory) = awarded(&app, &chain, 3).await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let v1 = of_kind(&list, "convention_cession");
    assert_eq!(v1["signed"], false);
    flags_agree(&v1);

    // Both parties sign: v3 is signed, for 3 devices.
    let v2 = sign(&app, &id(&v1), &chain.town.token, "Claire Martin").await;
    assert_eq!(v2.status, 201, "{}", v2.text);
    assert_eq!(v2.body["signed"], false, "one party of two");
    flags_agree(&v2.body);
    let v3 = sign(&app, &id(&v2.body), &chain.atelier.token, "Inès Bernard").await;
    assert_eq!(v3.status, 201, "{}", v3.text);
    assert_eq!(v3.body["version"], 3);
    assert_eq!(v3.body["signed"], true, "{}", v3.text);
    assert_eq!(v3.body["edition"], v1["edition"], "same content");
    flags_agree(&v3.body);
    let text = flat(&app.pdf(&id(&v3.body), &chain.town.token).await);
    assert!(
        text.contains("Signé électroniquement par Claire Martin"),
        "{text}"
    );
    assert!(text.contains("Total : 3 équipement(s)"), "{text}");

    // The collection finds one device missing: the content changes.
    let collected = app
        .post(
            &format!("/v1/lots/{lot}/collection"),
            Some(&chain.atelier.token),
            json!({
                "occurred_on": "2026-11-28", "missing_item_ids": [items[2]],
                "signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
            }),
        )
        .await;
    assert_eq!(collected.status, 200, "{}", collected.text);
    app.settle().await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let v4 = of_kind(&list, "convention_cession");
    assert_eq!(v4["version"], 4, "{v4}");
    assert_eq!(v4["current"], true);
    assert_eq!(v4["signed"], false, "nobody signed 2 devices: {v4}");
    assert_eq!(v4["edition"], 4, "a new edition");
    flags_agree(&v4);
    for p in v4["parties"].as_array().expect("parties") {
        assert_eq!(p["signed"], false, "{p}");
        assert!(p.get("signer_name").is_none(), "{p}");
    }
    let reason = v4["reason"].as_str().expect("reason");
    assert!(reason.contains(&inventory[2]), "{reason}");
    assert!(reason.contains("3 → 2"), "{reason}");
    // The list says which version is current and which is signed.
    let versions = v4["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 4);
    assert_eq!(versions[2]["signed"], true);
    assert_eq!(versions[2]["current"], false);
    assert_eq!(versions[3]["signed"], false);
    assert_eq!(versions[3]["current"], true);
    let text = flat(&app.pdf(&id(&v4), &chain.town.token).await);
    assert!(
        !text.contains("Signé"),
        "no signature printed on v4: {text}"
    );
    assert!(text.contains("Total : 2 équipement(s)"), "{text}");
    assert!(!text.contains(&inventory[2]), "{text}");

    // v3 stays verifiable, signed, and says it was superseded and why.
    let old = app
        .get(
            &format!("/v1/documents/{}", id(&v3.body)),
            Some(&chain.town.token),
        )
        .await;
    assert_eq!(old.body["signed"], true);
    assert_eq!(old.body["current"], false);
    assert_eq!(old.body["superseded_by"], v4["id"]);
    assert_eq!(old.body["superseded_reason"].as_str(), Some(reason));
    let code = v3.body["code"].as_str().expect("code");
    let public = app.get(&format!("/v1/verify/{code}"), None).await;
    assert_eq!(public.body["signed"], true);
    assert_eq!(public.body["current"], false);
    assert_eq!(public.body["superseded_by_code"], v4["code"]);
    assert_eq!(public.body["superseded_reason"].as_str(), Some(reason));
    // The pages the QR codes open say the same to a person.
    let page = |code: String| {
        let app = &app;
        async move {
            app.send(reqwest::Method::GET, &format!("/v/{code}"), None, None, &[])
                .await
        }
    };
    let old_page = page(code.to_owned()).await;
    assert!(
        old_page.text.contains("Version remplacée")
            && old_page.text.contains(reason)
            && old_page.text.contains("signé par toutes les parties"),
        "{}",
        old_page.text
    );
    let new_page = page(v4["code"].as_str().expect("code").to_owned()).await;
    assert!(
        new_page
            .text
            .contains("pas encore signé par toutes les parties")
            && !new_page.text.contains("Signé électroniquement"),
        "{}",
        new_page.text
    );
    // Its content is no longer signable; the current one is.
    sign(&app, &id(&v3.body), &chain.town.token, "Claire Martin")
        .await
        .assert_problem(409, "document_superseded");
    let v5 = sign(&app, &id(&v4), &chain.town.token, "Claire Martin").await;
    assert_eq!(v5.status, 201, "{}", v5.text);
    assert_eq!(v5.body["signed"], false);
    assert_eq!(
        v5.body["reason"],
        "Signature de Ville de Saint-Ouen-sur-Loire imprimée (même contenu)."
    );

    // The procès-verbal d'enlèvement carries only the recorder's own signature.
    let pv = of_kind(&list, "pv_enlevement");
    assert_eq!(pv["signed"], false, "{pv}");
    flags_agree(&pv);
    let mine = party(&pv, &chain.atelier);
    assert_eq!(mine["signed"], true, "{pv}");
    assert_eq!(mine["method"], "at_handover");
    assert_eq!(mine["signer_name"], "Inès Bernard");
    assert_eq!(party(&pv, &chain.town)["signed"], false);
    let text = flat(&app.pdf(&id(&pv), &chain.town.token).await);
    assert!(
        text.contains("Signé par Inès Bernard, Responsable d'atelier"),
        "{text}"
    );
    assert_eq!(text.matches("Signé").count(), 1, "{text}");
    // The public body confirms with its own account (an admin, not an agent).
    let (agent, _) = app.add_member(&chain.town, "agent").await;
    sign(&app, &id(&pv), &agent, "Claire Martin")
        .await
        .assert_problem(403, "forbidden");
    let confirmed = sign(&app, &id(&pv), &chain.town.token, "Claire Martin").await;
    assert_eq!(confirmed.status, 201, "{}", confirmed.text);
    assert_eq!(confirmed.body["signed"], true, "{}", confirmed.text);
    flags_agree(&confirmed.body);
    let text = flat(&app.pdf(&id(&confirmed.body), &chain.town.token).await);
    assert!(
        text.contains("Signé électroniquement par Claire Martin"),
        "{text}"
    );
    sign(
        &app,
        &id(&confirmed.body),
        &chain.town.token,
        "Claire Martin",
    )
    .await
    .assert_problem(409, "conflict");
}

#[tokio::test]
async fn the_legacy_collection_fields_never_record_the_other_party_s_signatory_and_an_agent_signs_nothing()
 {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (lot, _, _) = awarded(&app, &chain, 1).await;
    let (agent, _) = app.add_member(&chain.atelier, "agent").await;
    let missing = app
        .post(
            &format!("/v1/lots/{lot}/collection"),
            Some(&agent),
            json!({ "occurred_on": "2026-11-28" }),
        )
        .await;
    missing.assert_problem(422, "validation_failed");
    assert_eq!(missing.problem_fields(), vec!["signatory".to_owned()]);
    let r = app
        .post(
            &format!("/v1/lots/{lot}/collection"),
            Some(&agent),
            json!({
                "occurred_on": "2026-11-28",
                "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
                "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.settle().await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let pv = of_kind(&list, "pv_enlevement");
    assert_eq!(
        party(&pv, &chain.atelier)["signed"],
        false,
        "an agent: {pv}"
    );
    assert_eq!(party(&pv, &chain.town)["signed"], false, "{pv}");
    flags_agree(&pv);
    let text = flat(&app.pdf(&id(&pv), &chain.town.token).await);
    assert!(
        !text.contains("Claire Martin"),
        "typed by the other party: {text}"
    );
    assert!(!text.contains("Signé"), "{text}");
}

#[tokio::test]
async fn a_pdf_scan_does_not_sign_until_each_party_attests_it() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (lot, _, _) = awarded(&app, &chain, 2).await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let convention = of_kind(&list, "convention_cession");
    let (agent, _) = app.add_member(&chain.town, "agent").await;
    let scan = b"%PDF-1.4\n% any file that starts like a PDF\n".to_vec();
    let up = app
        .post_bytes(
            &format!("/v1/documents/{}/scan", id(&convention)),
            Some(&agent),
            scan.clone(),
            "application/pdf",
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(
        up.body["signed"], false,
        "a scan is only a scan: {}",
        up.text
    );
    flags_agree(&up.body);
    assert!(
        up.body["scan"]["label"].as_str().is_some_and(
            |l| l.starts_with("Copie papier signée, déposée par Ville de Saint-Ouen-sur-Loire")
        ),
        "{}",
        up.text
    );
    assert_eq!(up.body["scan"]["attested_by"], json!([]));
    let code = up.body["code"].as_str().expect("code");
    let check = app
        .post_bytes(
            &format!("/v1/verify/{code}"),
            None,
            scan.clone(),
            "application/pdf",
        )
        .await;
    assert_eq!(
        check.body["genuine"], true,
        "stored and hashed: {}",
        check.text
    );
    let public = app.get(&format!("/v1/verify/{code}"), None).await;
    assert_eq!(public.body["signed"], false);
    assert!(
        public.body["scan"]
            .as_str()
            .is_some_and(|s| s.contains("déposée par"))
    );
    // The page a phone opens says the same: a copy, no signature.
    let page = app
        .send(reqwest::Method::GET, &format!("/v/{code}"), None, None, &[])
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text
            .contains("pas encore signé par toutes les parties")
            && !page.text.contains("Signé sur papier"),
        "{}",
        page.text
    );
    app.post_bytes(
        &format!("/v1/documents/{}/scan", id(&convention)),
        Some(&chain.town.token),
        scan,
        "application/pdf",
    )
    .await
    .assert_problem(409, "conflict");

    // Attesting is an admin's act of its own party.
    let attest = |token: String, name: &'static str| {
        let app = &app;
        let doc = id(&convention);
        async move {
            app.post(
                &format!("/v1/documents/{doc}/scan/attestations"),
                Some(&token),
                json!({ "signer_name": name, "signer_role": "Maire adjointe" }),
            )
            .await
        }
    };
    attest(agent.clone(), "Claire Martin")
        .await
        .assert_problem(403, "forbidden");
    let outsider = app.register("association").await;
    attest(outsider.token.clone(), "Claire Martin")
        .await
        .assert_problem(403, "forbidden");
    let bad = attest(chain.town.token.clone(), "  ").await;
    bad.assert_problem(422, "validation_failed");
    let one = attest(chain.town.token.clone(), "Claire Martin").await;
    assert_eq!(one.status, 201, "{}", one.text);
    assert_eq!(one.body["signed"], false, "one party of two: {}", one.text);
    assert_eq!(party(&one.body, &chain.town)["method"], "paper_scan");
    flags_agree(&one.body);
    let both = attest(chain.atelier.token.clone(), "Inès Bernard").await;
    assert_eq!(both.status, 201, "{}", both.text);
    assert_eq!(both.body["signed"], true, "{}", both.text);
    flags_agree(&both.body);
    let text = flat(&app.pdf(&id(&both.body), &chain.town.token).await);
    assert!(
        text.contains("Signé sur la copie papier par Claire Martin"),
        "{text}"
    );
    assert!(
        text.contains("Signé sur la copie papier par Inès Bernard"),
        "{text}"
    );
    let first = app
        .get(
            &format!("/v1/documents/{}", id(&convention)),
            Some(&chain.town.token),
        )
        .await;
    assert_eq!(
        first.body["scan"]["attested_by"].as_array().map(Vec::len),
        Some(2)
    );
    attest(chain.town.token.clone(), "Claire Martin")
        .await
        .assert_problem(409, "conflict");
}

async fn association(app: &TestApp, operator: &str) -> Org {
    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!("interet_general_precarite");
        })
        .await;
    app.verify(operator, &asso).await;
    asso
}

fn handover(ids: &[&str]) -> Value {
    json!({
        "reservation_ids": ids, "mode": "pickup", "occurred_on": "2026-11-29",
        "signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
        "commitment_no_resale": true, "commitment_reuse": true
    })
}

/// One direct reservation and two accepted proposals of `asso` at the chain's refurbisher.
async fn three_reservations(
    app: &TestApp,
    chain: &Chain,
    asso: &Org,
) -> (Vec<String>, Vec<String>) {
    let items = app
        .make_available(
            chain,
            &(1..=3)
                .map(|i| json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "serial_number": format!("SN-PICKUP-{i}") }))
                .collect::<Vec<_>>(),
        )
        .await;
    let direct = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": [items[0]] }),
        )
        .await;
    assert_eq!(direct.status, 201, "{}", direct.text);
    let request = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Atelier d'inclusion numérique", "beneficiaries": 12, "needed_by": "2027-01-31",
                "lines": [{ "category": "laptop", "quantity": 2 }]
            }),
        )
        .await;
    assert_eq!(request.status, 201, "{}", request.text);
    let mut ids = vec![id(&direct.body)];
    for item in &items[1..] {
        let p = app
            .post(
                &format!("/v1/requests/{}/proposals", id(&request.body)),
                Some(&chain.atelier.token),
                json!({ "line": 1, "item_ids": [item] }),
            )
            .await;
        assert!(p.status < 300, "{}", p.text);
        let a = app
            .post(
                &format!("/v1/reservations/{}/accept", id(&p.body)),
                Some(&asso.token),
                json!({}),
            )
            .await;
        assert_eq!(a.body["status"], "active", "{}", a.text);
        ids.push(id(&p.body));
    }
    (ids, items)
}

#[tokio::test]
async fn one_handover_for_three_reservations_yields_one_pv_de_remise_and_one_attestation() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let asso = association(&app, &chain.operator).await;
    let (reservations, items) = three_reservations(&app, &chain, &asso).await;
    let ids: Vec<&str> = reservations.iter().map(String::as_str).collect();
    let done = app
        .post("/v1/handovers", Some(&chain.atelier.token), handover(&ids))
        .await;
    assert_eq!(done.status, 201, "{}", done.text);
    assert_eq!(
        done.body["reservation_ids"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(done.body["item_ids"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        done.body["signed_by_organisation_id"],
        chain.atelier.id.as_str()
    );
    let handover_id = id(&done.body);
    for r in &reservations {
        let got = app
            .get(&format!("/v1/reservations/{r}"), Some(&asso.token))
            .await;
        assert_eq!(got.body["status"], "handed_over", "{}", got.text);
        assert_eq!(got.body["handover_id"], handover_id.as_str());
    }
    for i in &items {
        let got = app.get(&format!("/v1/items/{i}"), Some(&asso.token)).await;
        assert_eq!(got.body["status"], "donated", "{}", got.text);
    }
    app.settle().await;
    let list = docs(
        &app,
        &format!("/v1/handovers/{handover_id}/documents"),
        &asso.token,
    )
    .await;
    let kinds: Vec<&str> = list.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds.contains(&"pv_remise") && kinds.contains(&"attestation_don"),
        "{kinds:?}"
    );
    let pv = of_kind(&list, "pv_remise");
    let attestation = of_kind(&list, "attestation_don");
    // Each reservation lists the same two documents.
    for r in &reservations {
        let mine = docs(
            &app,
            &format!("/v1/reservations/{r}/documents"),
            &asso.token,
        )
        .await;
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert_eq!(of_kind(&mine, "pv_remise")["id"], pv["id"]);
        assert_eq!(of_kind(&mine, "attestation_don")["id"], attestation["id"]);
    }
    let text = flat(&app.pdf(&id(&pv), &asso.token).await);
    for serial in ["SN-PICKUP-1", "SN-PICKUP-2", "SN-PICKUP-3"] {
        assert!(text.contains(serial), "{serial}: {text}");
    }
    assert!(text.contains("Total : 3 équipement(s)"), "{text}");
    assert!(text.contains("3 réservation(s)"), "{text}");
    assert!(text.contains("Signé par Inès Bernard"), "{text}");
    assert_eq!(
        text.matches("Signé").count(),
        1,
        "only the recorder's: {text}"
    );
    assert_eq!(pv["signed"], false);
    assert_eq!(party(&pv, &chain.atelier)["signed"], true);
    assert_eq!(party(&pv, &asso)["signed"], false);
    flags_agree(&pv);
    // The attestation de don is not printed as signed: nobody signed it yet.
    assert_eq!(attestation["signed"], false);
    flags_agree(&attestation);
    let text = flat(&app.pdf(&id(&attestation), &asso.token).await);
    assert!(text.contains("Attestation de don"), "{text}");
    assert!(text.contains("SN-PICKUP-3"), "{text}");
    assert!(!text.contains("Signé"), "{text}");
    let signed = sign(
        &app,
        &id(&attestation),
        &chain.atelier.token,
        "Inès Bernard",
    )
    .await;
    assert_eq!(signed.body["signed"], true, "{}", signed.text);
    let text = flat(&app.pdf(&id(&signed.body), &asso.token).await);
    assert!(
        text.contains("Signé électroniquement par Inès Bernard"),
        "{text}"
    );

    // The association contests the procès-verbal with its own account, visibly.
    app.post(
        &format!("/v1/documents/{}/contest", id(&pv)),
        Some(&asso.token),
        json!({ "reason": "" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let contested = app
        .post(
            &format!("/v1/documents/{}/contest", id(&pv)),
            Some(&asso.token),
            json!({ "reason": "Un chargeur manquait à la remise." }),
        )
        .await;
    assert_eq!(contested.status, 200, "{}", contested.text);
    let p = party(&contested.body, &asso);
    assert_eq!(p["contested"], true);
    assert_eq!(p["contest_reason"], "Un chargeur manquait à la remise.");
    assert_eq!(contested.body["signed"], false);
    let public = app
        .get(
            &format!("/v1/verify/{}", pv["code"].as_str().expect("code")),
            None,
        )
        .await;
    assert!(
        public.body["contested_by"]
            .as_array()
            .is_some_and(|c| c.len() == 1),
        "{}",
        public.text
    );
    sign(&app, &id(&pv), &asso.token, "Théo Lambert")
        .await
        .assert_problem(409, "conflict");
    app.post(
        &format!("/v1/documents/{}/contest", id(&pv)),
        Some(&chain.atelier.token),
        json!({ "reason": "Nous avons signé." }),
    )
    .await
    .assert_problem(409, "conflict");
}

#[tokio::test]
async fn a_handover_refuses_mixed_inactive_duplicate_and_foreign_reservations() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let asso = association(&app, &chain.operator).await;
    let other = association(&app, &chain.operator).await;
    let items = app
        .make_available(
            &chain,
            &(0..3)
                .map(|_| json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490" }))
                .collect::<Vec<_>>(),
        )
        .await;
    let reserve = |token: String, item: String| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/v1/reservations",
                    Some(&token),
                    json!({ "item_ids": [item] }),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            id(&r.body)
        }
    };
    let a = reserve(asso.token.clone(), items[0].clone()).await;
    let b = reserve(other.token.clone(), items[1].clone()).await;
    let c = reserve(asso.token.clone(), items[2].clone()).await;
    let before = app.count("handovers").await;
    app.post(
        "/v1/handovers",
        Some(&chain.atelier.token),
        handover(&[&a, &b]),
    )
    .await
    .assert_problem(422, "mixed_handover");
    let dup = app
        .post(
            "/v1/handovers",
            Some(&chain.atelier.token),
            handover(&[&a, &a]),
        )
        .await;
    assert_eq!(dup.status, 422, "{}", dup.text);
    app.post(
        "/v1/handovers",
        Some(&chain.atelier.token),
        json!({ "reservation_ids": [] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let mut no_sig = handover(&[&a]);
    no_sig["signatory"]["name"] = json!(" ");
    no_sig["commitment_reuse"] = json!(false);
    let bad = app
        .post("/v1/handovers", Some(&chain.atelier.token), no_sig)
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(
        bad.problem_fields(),
        vec!["signatory.name".to_owned(), "commitment_reuse".to_owned()]
    );
    // An association may not record it; another refurbisher does not see the reservations.
    app.post("/v1/handovers", Some(&asso.token), handover(&[&a]))
        .await
        .assert_problem(403, "forbidden");
    let rival = app.register("refurbisher").await;
    app.verify(&chain.operator, &rival).await;
    app.post("/v1/handovers", Some(&rival.token), handover(&[&a]))
        .await
        .assert_problem(404, "not_found");
    app.post(
        "/v1/handovers",
        Some(&chain.atelier.token),
        handover(&["01890000-0000-7000-8000-000000000000"]),
    )
    .await
    .assert_problem(404, "not_found");
    // An inactive reservation.
    let cancelled = app
        .post(
            &format!("/v1/reservations/{c}/cancel"),
            Some(&asso.token),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.text);
    app.post(
        "/v1/handovers",
        Some(&chain.atelier.token),
        handover(&[&a, &c]),
    )
    .await
    .assert_problem(409, "invalid_transition");
    assert_eq!(app.count("handovers").await, before, "nothing written");
    let still = app
        .get(&format!("/v1/reservations/{a}"), Some(&asso.token))
        .await;
    assert_eq!(still.body["status"], "active");
}

#[tokio::test]
async fn of_two_concurrent_handovers_of_overlapping_reservations_one_wins_and_the_other_gets_409() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let asso = association(&app, &chain.operator).await;
    let (reservations, _) = three_reservations(&app, &chain, &asso).await;
    let before = app.count("handovers").await;
    let first = handover(&[&reservations[0], &reservations[1]]);
    let second = handover(&[&reservations[1], &reservations[2]]);
    let (x, y) = tokio::join!(
        app.post("/v1/handovers", Some(&chain.atelier.token), first),
        app.post("/v1/handovers", Some(&chain.atelier.token), second),
    );
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", x.text, y.text);
    let lost = if x.status == 409 { &x } else { &y };
    assert!(
        ["invalid_transition", "write_conflict"]
            .contains(&lost.body["code"].as_str().unwrap_or_default()),
        "{}",
        lost.text
    );
    assert_eq!(app.count("handovers").await, before + 1);
}

async fn deliberation_draft(app: &TestApp) -> (crate::helpers::Resp, String) {
    let chain = chain_at(app, BLOIS.0, BLOIS.1).await;
    let items = app.items(&chain.town, "laptop", 1).await;
    let lot = app
        .post(
            "/v1/lots",
            Some(&chain.town.token),
            json!({
                "title": "Lot", "pickup_site_id": chain.site, "pickup_from": "2026-12-20",
                "pickup_until": "2027-01-20", "allocation_policy": "first_come",
                "visibility": "all_verified", "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    assert_eq!(lot.status, 201, "{}", lot.text);
    let lot = id(&lot.body);
    app.post(
        &format!("/v1/lots/{lot}/items"),
        Some(&chain.town.token),
        json!({ "item_ids": items }),
    )
    .await;
    let r = app
        .post(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
            json!({ "kind": "projet_deliberation" }),
        )
        .await;
    (r, chain.town.token)
}

#[tokio::test]
async fn outside_test_mode_a_loopback_public_url_refuses_to_issue_documents() {
    // The default public URL is derived from the loopback listen address.
    let app = spawn_app_with(&[("REEMPLOI_TODAY", "")]).await;
    let (refused, _) = deliberation_draft(&app).await;
    refused.assert_problem(503, "public_url_not_public");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("REEMPLOI_PUBLIC_URL")),
        "{}",
        refused.text
    );
    assert_eq!(app.count("documents").await, 0);
    let app = spawn_app_with(&[
        ("REEMPLOI_TODAY", ""),
        ("REEMPLOI_PUBLIC_URL", "http://localhost:8080"),
    ])
    .await;
    deliberation_draft(&app)
        .await
        .0
        .assert_problem(503, "public_url_not_public");
    let app = spawn_app_with(&[
        ("REEMPLOI_TODAY", ""),
        ("REEMPLOI_PUBLIC_URL", "https://reemploi.example.org"),
    ])
    .await;
    let (issued, token) = deliberation_draft(&app).await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    assert!(
        issued.body["verify_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://reemploi.example.org/v/")),
        "{}",
        issued.text
    );
    let text = flat(&app.pdf(&id(&issued.body), &token).await);
    assert!(text.contains("reemploi.example.org"), "{text}");
}

#[tokio::test]
async fn two_parties_signing_at_once_leave_a_current_version_signed_by_both_and_printing_both() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (lot, _, _) = awarded(&app, &chain, 1).await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let v1 = id(&of_kind(&list, "convention_cession"));
    let (a, b) = tokio::join!(
        sign(&app, &v1, &chain.town.token, "Claire Martin"),
        sign(&app, &v1, &chain.atelier.token, "Inès Bernard"),
    );
    assert_eq!((a.status, b.status), (201, 201), "{} / {}", a.text, b.text);
    app.settle().await;
    let list = docs(
        &app,
        &format!("/v1/lots/{lot}/documents"),
        &chain.town.token,
    )
    .await;
    let current = of_kind(&list, "convention_cession");
    assert_eq!(current["current"], true);
    assert_eq!(current["signed"], true, "{current}");
    flags_agree(&current);
    let text = flat(&app.pdf(&id(&current), &chain.town.token).await);
    assert!(
        text.contains("Signé électroniquement par Claire Martin"),
        "{text}"
    );
    assert!(
        text.contains("Signé électroniquement par Inès Bernard"),
        "{text}"
    );
}
