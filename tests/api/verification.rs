//! Evidence-based verification: the checklist, proofs uploaded as PDFs, the operator's decision
//! per item, eligibility on proven facts only, a changed category back to pending, ESUS expiry
//! warnings and the suspension of claims (not of reading), and the SIRENE / RNA registers.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::demand::service_item;
use crate::helpers::{
    Org, TestApp, chain_at, registration, spawn_app, spawn_instance_of, unique_email,
};

const STATUTES: &[u8] = b"%PDF-1.4\n% Statuts de l'association, article 2 : objet\n";
const DECREE: &[u8] = b"%PDF-1.4\n% Decret portant reconnaissance d'utilite publique\n";

fn verification_path(org: &Org) -> String {
    format!("/v1/organisations/{}/verification", org.id)
}

async fn upload(app: &TestApp, org: &Org, item: &str, pdf: &[u8]) -> crate::helpers::Resp {
    app.post_bytes(
        &format!(
            "/v1/organisations/{}/verification/documents?item={item}&file_name=preuve.pdf",
            org.id
        ),
        Some(&org.token),
        pdf.to_vec(),
        "application/pdf",
    )
    .await
}

async fn decide(app: &TestApp, operator: &str, org: &Org, body: Value) -> crate::helpers::Resp {
    app.post(
        &format!("/v1/organisations/{}/verification/decisions", org.id),
        Some(operator),
        body,
    )
    .await
}

fn item<'a>(verification: &'a Value, name: &str) -> &'a Value {
    verification["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["item"] == name))
        .unwrap_or_else(|| panic!("no item {name} in {verification}"))
}

async fn status(app: &TestApp, org: &Org) -> String {
    app.get(&format!("/v1/organisations/{}", org.id), Some(&org.token))
        .await
        .body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_association_claiming_two_categories_proves_one_and_eligibility_allows_only_that() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let operator = &chain.operator;
    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!("soutien_scolaire");
            b["public_utility"] = json!(true);
            b["statutory_purpose"] = json!("Soutien scolaire des collégiens du Blésois.");
        })
        .await;
    let v = app.get(&verification_path(&asso), Some(&asso.token)).await;
    assert_eq!(v.status, 200, "{}", v.text);
    let items: Vec<&str> = v.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["item"].as_str())
        .collect();
    assert_eq!(
        items,
        [
            "identifier",
            "statutes",
            "beneficiary_category",
            "public_utility"
        ]
    );
    assert!(
        v.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["state"] == "pending")
    );
    assert_eq!(v.body["proven_category"], "other");
    assert!(
        item(&v.body, "public_utility")["proof_expected"]
            .as_str()
            .is_some_and(|p| p.contains("utilité publique"))
    );

    // The proofs, as PDFs, hashed.
    let up = upload(&app, &asso, "statutes", STATUTES).await;
    assert_eq!(up.status, 201, "{}", up.text);
    assert_eq!(up.body["sha256"], hex::encode(Sha256::digest(STATUTES)));
    assert_eq!(up.body["bytes"], STATUTES.len());
    let location = up.header("location").expect("location");
    let file = app
        .client
        .get(app.url(&location))
        .bearer_auth(operator)
        .send()
        .await
        .expect("download");
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), STATUTES);
    upload(&app, &asso, "public_utility", DECREE).await;

    // Item by item: identity first (the association becomes verified), then the categories.
    for it in ["identifier", "statutes"] {
        let r = decide(
            &app,
            operator,
            &asso,
            json!({ "item": it, "outcome": "accepted", "decided_on": "2026-11-28" }),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(status(&app, &asso).await, "verified");
    decide(
        &app,
        operator,
        &asso,
        json!({ "item": "beneficiary_category", "outcome": "accepted" }),
    )
    .await;
    let refused = decide(
        &app,
        operator,
        &asso,
        json!({ "item": "public_utility", "outcome": "refused",
                "reason": "Aucun décret de reconnaissance d'utilité publique au Journal officiel." }),
    )
    .await;
    assert_eq!(refused.status, 200, "{}", refused.text);
    assert_eq!(refused.body["proven_category"], "soutien_scolaire");
    let arup = item(&refused.body, "public_utility");
    assert_eq!(arup["state"], "refused");
    assert!(
        arup["decision"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Journal officiel"))
    );
    assert_eq!(arup["documents"][0]["file_name"], "preuve.pdf");
    // The association reads the same (the reason is for it).
    let own = app.get(&verification_path(&asso), Some(&asso.token)).await;
    assert_eq!(item(&own.body, "public_utility")["state"], "refused");

    // Eligibility: the proven category (tutoring) gives the device, without resale; the
    // refused public utility would have allowed a capped solidarity price.
    let device = service_item(&app, &chain, 15_000).await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": [device] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let terms = r.body["resale_terms"].as_str().unwrap_or_default();
    assert!(terms.contains("ne pas le revendre"), "{}", r.text);
    assert!(!terms.contains("prix"), "{}", r.text);

    // An association whose public utility is proven gets the solidarity price.
    let arup_asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!("soutien_scolaire");
            b["public_utility"] = json!(true);
        })
        .await;
    app.verify(operator, &arup_asso).await;
    let device = service_item(&app, &chain, 15_000).await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&arup_asso.token),
            json!({ "item_ids": [device] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.body["resale_terms"]
            .as_str()
            .is_some_and(|t| t.contains("180")),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn a_change_of_category_goes_back_to_pending_and_eligibility_with_it() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!("soutien_scolaire");
        })
        .await;
    app.verify(&chain.operator, &asso).await;
    let path = format!("/v1/organisations/{}", asso.id);
    let mut profile = app.get(&path, Some(&asso.token)).await.body;
    let events_before = app.count("events").await;
    for k in [
        "id",
        "kind",
        "siren",
        "departement",
        "status",
        "status_reason",
        "version",
        "created_at",
        "updated_at",
    ] {
        profile.as_object_mut().expect("object").remove(k);
    }
    profile["beneficiary_category"] = json!("etudiants");
    let r = app.patch(&path, Some(&asso.token), profile.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Only that part goes back to pending: the association stays verified.
    assert_eq!(r.body["status"], "verified");
    let v = app.get(&verification_path(&asso), Some(&asso.token)).await;
    let cat = item(&v.body, "beneficiary_category");
    assert_eq!(cat["state"], "pending", "{}", v.text);
    assert_eq!(cat["decision"]["applies"], false);
    assert_eq!(item(&v.body, "statutes")["state"], "accepted");
    assert_eq!(v.body["proven_category"], "other");
    assert!(app.count("events").await > events_before);
    // Eligibility now sees no proven category: the public body may not give.
    let device = service_item(&app, &chain, 15_000).await;
    app.post(
        "/v1/reservations",
        Some(&asso.token),
        json!({ "item_ids": [device.clone()] }),
    )
    .await
    .assert_problem(422, "not_eligible");
    // The operator accepts the new category's proof: allowed again.
    decide(
        &app,
        &chain.operator,
        &asso,
        json!({ "item": "beneficiary_category", "outcome": "accepted" }),
    )
    .await;
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": [device] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A changed legal identifier sends the identity back to pending: the whole organisation.
    profile["beneficiary_category"] = json!("etudiants");
    profile["rna"] = json!(crate::helpers::unique_rna());
    let r = app.patch(&path, Some(&asso.token), profile).await;
    assert_eq!(r.body["status"], "pending", "{}", r.text);
    let v = app.get(&verification_path(&asso), Some(&asso.token)).await;
    assert_eq!(item(&v.body, "identifier")["state"], "pending");
}

#[tokio::test]
async fn refused_roles_and_bad_decisions_change_nothing() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let asso = app.register("association").await;
    let (agent, _) = app.add_member(&asso, "agent").await;
    let other = app.register("association").await;
    // Only an admin uploads; another organisation may not, nor read.
    let before = app.count("verification_documents").await;
    app.post_bytes(
        &format!(
            "/v1/organisations/{}/verification/documents?item=statutes",
            asso.id
        ),
        Some(&agent),
        STATUTES.to_vec(),
        "application/pdf",
    )
    .await
    .assert_problem(403, "forbidden");
    upload(&app, &other, "statutes", STATUTES).await;
    app.post_bytes(
        &format!(
            "/v1/organisations/{}/verification/documents?item=statutes",
            asso.id
        ),
        Some(&other.token),
        STATUTES.to_vec(),
        "application/pdf",
    )
    .await
    .assert_problem(403, "forbidden");
    app.get(&verification_path(&asso), Some(&other.token))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get(&verification_path(&asso), Some(&agent))
            .await
            .status,
        200
    );
    // Not a PDF; an item of another kind's checklist.
    upload(&app, &asso, "statutes", b"GIF89a not a pdf")
        .await
        .assert_problem(415, "unsupported_media_type");
    upload(&app, &asso, "esus_accreditation", STATUTES)
        .await
        .assert_problem(422, "validation_failed");
    upload(&app, &asso, "nonsense", STATUTES)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.count("verification_documents").await, before + 1);

    // Only the operator decides.
    for token in [&asso.token, &agent] {
        decide(
            &app,
            token,
            &asso,
            json!({ "item": "statutes", "outcome": "accepted" }),
        )
        .await
        .assert_problem(403, "forbidden");
    }
    let decisions = app.count("verification_decisions").await;
    let r = decide(
        &app,
        &operator,
        &asso,
        json!({ "item": "statutes", "outcome": "refused" }),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.problem_fields(), ["reason"]);
    let r = decide(
        &app,
        &operator,
        &asso,
        json!({ "item": "statutes", "outcome": "accepted", "decided_on": "2027-01-01",
                "expires_on": "2028-01-01" }),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.problem_fields(), ["decided_on", "expires_on"]);
    decide(
        &app,
        &operator,
        &asso,
        json!({ "item": "esus_accreditation", "outcome": "accepted" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(app.count("verification_decisions").await, decisions);
    assert_eq!(status(&app, &asso).await, "pending");

    // A refused identity item: `verify` does not override it.
    decide(
        &app,
        &operator,
        &asso,
        json!({ "item": "identifier", "outcome": "refused", "reason": "RNA inconnu du greffe." }),
    )
    .await;
    app.post(
        &format!("/v1/organisations/{}/verify", asso.id),
        Some(&operator),
        json!({}),
    )
    .await
    .assert_problem(422, "verification_incomplete");
    assert_eq!(status(&app, &asso).await, "pending");
}

/// Mails queued in the outbox about the ESUS accreditation, oldest first: (to, subject).
async fn esus_mails(app: &TestApp) -> Vec<(String, String)> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT payload FROM outbox WHERE topic = 'mail' ORDER BY id".to_owned(),
        ))
        .await
        .expect("outbox");
    rows.iter()
        .filter_map(|r| r.try_get::<String>("", "payload").ok())
        .filter_map(|p| serde_json::from_str::<Value>(&p).ok())
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains("ESUS")))
        .map(|m| {
            (
                m["to"].as_str().unwrap_or_default().to_owned(),
                m["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn wait_for_esus_mails(app: &TestApp, n: usize) -> Vec<(String, String)> {
    for _ in 0..400 {
        let mails = esus_mails(app).await;
        if mails.len() >= n {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    esus_mails(app).await
}

#[tokio::test]
async fn an_esus_expiry_warns_the_admins_then_suspends_claims_but_not_reading() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    app.verify(&operator, &town).await;
    // Today is 2026-11-29 (the test settings): 52 days before the expiry.
    let atelier = app
        .register_with("refurbisher", |b| {
            b["esus_expires_on"] = json!("2027-01-20");
        })
        .await;
    let r = app
        .post(
            &format!("/v1/organisations/{}/verify", atelier.id),
            Some(&operator),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = app
        .get(&verification_path(&atelier), Some(&atelier.token))
        .await;
    let esus = item(&v.body, "esus_accreditation");
    assert_eq!(
        (esus["state"].as_str(), esus["valid_until"].as_str()),
        (Some("accepted"), Some("2027-01-20"))
    );

    // The worker's scan: the 60-day warning, once, to the admins.
    let mails = wait_for_esus_mails(&app, 1).await;
    assert_eq!(
        mails,
        [(
            atelier.admin_email.clone(),
            "Votre agrément ESUS expire le 20/01/2027".to_owned()
        )]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(esus_mails(&app).await.len(), 1, "sent once");

    // A lot for refurbishers, published before the expiry.
    let site = app.site(&town, 47.61, 1.33).await;
    let items = app.items(&town, "laptop", 2).await;
    let lot = app
        .post(
            "/v1/lots",
            Some(&town.token),
            json!({
                "title": "Portables de la médiathèque", "pickup_site_id": site,
                "pickup_from": "2027-01-15", "pickup_until": "2027-02-15",
                "allocation_policy": "first_come", "auto_accept": false,
                "visibility": "all_verified", "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    assert_eq!(lot.status, 201, "{}", lot.text);
    let lot_id = lot.body["id"].as_str().expect("lot id").to_owned();
    app.post(
        &format!("/v1/lots/{lot_id}/items"),
        Some(&town.token),
        json!({ "item_ids": items }),
    )
    .await;
    let p = app
        .post(
            &format!("/v1/lots/{lot_id}/publish"),
            Some(&town.token),
            json!({}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);

    // Ten days before: the 15-day warning (the date is the instance's REEMPLOI_TODAY).
    let later = spawn_instance_of(&app, &[("REEMPLOI_TODAY", "2027-01-10")]).await;
    let mails = wait_for_esus_mails(&app, 2).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(mails[1].1, "Votre agrément ESUS expire le 20/01/2027");
    drop(later);

    // The day after the last valid day: the expiry mail, and claims are refused.
    let after = spawn_instance_of(&app, &[("REEMPLOI_TODAY", "2027-01-21")]).await;
    let mails = wait_for_esus_mails(&app, 3).await;
    assert_eq!(
        mails.get(2).map(|m| m.1.as_str()),
        Some("Votre agrément ESUS a expiré le 20/01/2027"),
        "{mails:?}"
    );
    after
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&atelier.token),
            json!({}),
        )
        .await
        .assert_problem(422, "esus_expired");
    // Reading, and writes that need no accreditation, still work: only the right is suspended.
    let me = after
        .get(
            &format!("/v1/organisations/{}", atelier.id),
            Some(&atelier.token),
        )
        .await;
    assert_eq!(
        (me.status, me.body["status"].as_str()),
        (200, Some("verified"))
    );
    let v = after
        .get(&verification_path(&atelier), Some(&atelier.token))
        .await;
    assert_eq!(item(&v.body, "esus_accreditation")["state"], "expired");
    assert_eq!(
        after
            .get("/v1/lots/open", Some(&atelier.token))
            .await
            .status,
        200
    );
    let site = after
        .post(
            &format!("/v1/organisations/{}/sites", atelier.id),
            Some(&atelier.token),
            json!({
                "name": "Atelier", "kind": "workshop", "address": "12 rue des Artisans",
                "postcode": "41000", "city": "Blois", "insee_code": "41018",
                "latitude": 47.59, "longitude": 1.33
            }),
        )
        .await;
    assert_eq!(site.status, 201, "{}", site.text);
    let expired_events = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM events WHERE kind = 'verification_item_expired'".to_owned(),
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get::<i64>("", "n")
        .expect("n");
    assert_eq!(expired_events, 1);

    // A renewed accreditation, checked by the operator, restores the right.
    let path = format!("/v1/organisations/{}", atelier.id);
    let mut profile = after.get(&path, Some(&atelier.token)).await.body;
    for k in [
        "id",
        "kind",
        "siren",
        "departement",
        "status",
        "status_reason",
        "version",
        "created_at",
        "updated_at",
    ] {
        profile.as_object_mut().expect("object").remove(k);
    }
    profile["esus_reference"] = json!("ESUS-41-2027-003");
    profile["esus_expires_on"] = json!("2032-01-20");
    let r = after.patch(&path, Some(&atelier.token), profile).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = decide(
        &after,
        &operator,
        &atelier,
        json!({ "item": "esus_accreditation", "outcome": "accepted", "decided_on": "2027-01-21",
                "expires_on": "2032-01-20", "reason": "Arrêté préfectoral du 18/01/2027" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let claim = after
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.status, 201, "{}", claim.text);
}

#[tokio::test]
async fn registration_is_checked_against_the_loaded_sirene_and_rna_stocks() {
    let app = spawn_app().await;
    // Offline checks only until a register is loaded.
    let first = app
        .post(
            "/v1/organisations",
            None,
            registration("refurbisher", &unique_email("a")),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/registers");
    let sirene = std::fs::File::open(dir.join("StockEtablissement_extrait.csv")).expect("fixture");
    let done =
        reemploi_api::registers::import(&app.db, reemploi_api::registers::Register::Sirene, sirene)
            .await
            .expect("sirene import");
    assert_eq!((done.rows, done.active, done.skipped), (4, 3, 0));
    let rna = std::fs::File::open(dir.join("rna_waldec_extrait.csv")).expect("fixture");
    let done =
        reemploi_api::registers::import(&app.db, reemploi_api::registers::Register::Rna, rna)
            .await
            .expect("rna import");
    assert_eq!((done.rows, done.active), (2, 1));
    // Loading it again replaces, never duplicates.
    let sirene = std::fs::File::open(dir.join("StockEtablissement_extrait.csv")).expect("fixture");
    reemploi_api::registers::import(&app.db, reemploi_api::registers::Register::Sirene, sirene)
        .await
        .expect("again");
    assert_eq!(app.count("register_entries").await, 6);

    let with = |kind: &str, siret: &str, rna: Option<&str>| {
        let mut body = registration(kind, &unique_email("b"));
        body["siret"] = json!(siret);
        if let Some(rna) = rna {
            body["rna"] = json!(rna);
        }
        body
    };
    // A valid SIRET that the stock does not list; a closed establishment.
    let orgs = app.count("organisations").await;
    for siret in [crate::helpers::unique_siret(), "81234567600017".to_owned()] {
        let r = app
            .post("/v1/organisations", None, with("refurbisher", &siret, None))
            .await;
        r.assert_problem(422, "identifier_not_registered");
        assert_eq!(r.problem_fields(), ["siret"]);
    }
    // A dissolved association.
    let r = app
        .post(
            "/v1/organisations",
            None,
            with("association", "86012904804798", Some("W412001234")),
        )
        .await;
    r.assert_problem(422, "identifier_not_registered");
    assert_eq!(r.problem_fields(), ["rna"]);
    assert_eq!(app.count("organisations").await, orgs, "nothing written");
    // Listed and active: registered.
    let r = app
        .post(
            "/v1/organisations",
            None,
            with("refurbisher", "48337887362325", None),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/v1/organisations",
            None,
            with("association", "86012904804798", Some("W412003456")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}
