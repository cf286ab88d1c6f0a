//! The end-to-end story of the service (`docs/scenario.md`), through HTTP only, as far as the service tells it today (steps 1 to
//! 9: from the town hall's inventory to the association, and the device's public history).

use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, pdf_text, spawn_app};

const SAMPLE: &[u8] = include_bytes!("../fixtures/glpi-ordinateurs.csv");

async fn import(app: &TestApp, token: &str, body: Vec<u8>) -> Resp {
    app.post_raw("/v1/items/import?partial=true", token, body, "text/csv")
        .await
}

#[tokio::test]
async fn the_town_hall_devices_reach_an_association_with_a_verifiable_history() {
    let app = spawn_app().await;

    // 1. The three organisations register; the operator verifies them; Claire invites Karim.
    let operator = app.operator().await;
    let town = app
        .register_with("public_body", |b| {
            b["siret"] = json!("39825979619074");
            b["latitude"] = json!(47.6094);
            b["longitude"] = json!(1.3213);
        })
        .await;
    let atelier = app
        .register_with("refurbisher", |b| b["siret"] = json!("48337887362325"))
        .await;
    let asso = app
        .register_with("association", |b| {
            b["siret"] = json!("86012904804798");
            b["rna"] = json!("W412003456");
        })
        .await;
    for org in [&town, &atelier, &asso] {
        app.verify(&operator, org).await;
    }
    app.post(
        &format!("/v1/organisations/{}/verify", town.id),
        Some(&town.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let (karim, _) = app.add_member(&town, "agent").await;
    app.site(&atelier, 47.5861, 1.3359).await;

    // 2. Claire imports the GLPI export: 73 in, 7 rejected; she fixes two rows: 2 created.
    let first = import(&app, &town.token, SAMPLE.to_vec()).await;
    assert_eq!(
        (
            first.body["created"].as_u64(),
            first.body["rejected"].as_array().map(Vec::len)
        ),
        (Some(73), Some(7))
    );
    let fixed = String::from_utf8(SAMPLE.to_vec())
        .expect("utf-8")
        .replace(";;2015-03-15;634,10;", ";INV-2021-01005;2015-03-15;634,10;")
        .replace("2021-13-45", "2021-12-15");
    let second = import(&app, &town.token, fixed.into_bytes()).await;
    assert_eq!(
        (
            second.body["created"].as_u64(),
            second.body["updated"].as_u64()
        ),
        (Some(2), Some(0))
    );
    import(&app, &asso.token, SAMPLE.to_vec())
        .await
        .assert_problem(403, "forbidden");

    // 3. Claire builds a lot of 30 laptops, desktops and screens and publishes it. The GLPI
    // export has no net book values: she confirms the service's estimate of each device (from
    // category and age) and keeps those within the 300 € ceiling of a cession to the refurbisher.
    let site = app.site(&town, 47.6094, 1.3213).await;
    let mut chosen = Vec::new();
    for category in ["laptop", "desktop", "monitor"] {
        let page = app
            .get(
                &format!("/v1/items?category={category}&limit=200"),
                Some(&town.token),
            )
            .await;
        for item in page.body["items"].as_array().expect("items") {
            if chosen.len() == 30 {
                break;
            }
            let id = item["id"].as_str().expect("id").to_owned();
            let valued = app
                .post(
                    &format!("/v1/items/{id}/valuation"),
                    Some(&town.token),
                    json!({ "method": "estimate" }),
                )
                .await;
            if valued.body["valuation"]["value_cents"]
                .as_i64()
                .is_some_and(|v| v <= 30_000)
            {
                chosen.push(id);
            }
        }
    }
    assert_eq!(chosen.len(), 30);
    let lot = app
        .post(
            "/v1/lots",
            Some(&town.token),
            json!({
                "title": "Parc informatique mairie 2026 — 30 postes",
                "pickup_site_id": site,
                "pickup_from": "2026-11-30",
                "pickup_until": "2026-12-13",
                "allocation_policy": "first_come",
                "visibility": "radius_km",
                "radius_km": 50,
                "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    assert_eq!(lot.status, 201, "{}", lot.text);
    let lot_id = lot.body["id"].as_str().expect("lot").to_owned();
    // Karim, an agent, adds the devices; the association may not touch the lot.
    let added = app
        .post(
            &format!("/v1/lots/{lot_id}/items"),
            Some(&karim),
            json!({ "item_ids": chosen }),
        )
        .await;
    assert_eq!(added.body["item_count"], 30, "{}", added.text);
    app.post(
        &format!("/v1/lots/{lot_id}/publish"),
        Some(&asso.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(
        app.post(
            &format!("/v1/lots/{lot_id}/publish"),
            Some(&town.token),
            json!({})
        )
        .await
        .status,
        200
    );

    // 4. Inès finds it by searching with a typo, and claims it; first come, so it is accepted.
    app.settle().await;
    let found = app
        .get(
            "/v1/lots/search?q=lot%20ordinateurs%20portabels%20Loir-et-Cher",
            Some(&atelier.token),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(
        found.body["items"][0]["lot"]["id"].as_str(),
        Some(lot_id.as_str()),
        "{}",
        found.text
    );
    let open = app.get("/v1/lots/open", Some(&atelier.token)).await;
    assert_eq!(
        open.body["items"][0]["title"],
        "Parc informatique mairie 2026 — 30 postes"
    );
    app.post(
        &format!("/v1/lots/{lot_id}/claims"),
        Some(&asso.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let claim = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted", "{}", claim.text);
    let awarded = app
        .get(
            &format!("/v1/items?lot_id={lot_id}&status=awarded&limit=200"),
            Some(&town.token),
        )
        .await;
    assert_eq!(awarded.body["items"].as_array().map(Vec::len), Some(30));

    // 5. Collection day: one laptop is missing; Claire and Inès sign.
    let missing = chosen[0].clone();
    let collection = json!({
        "occurred_on": "2026-11-29",
        "missing_item_ids": [missing],
        "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
        "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
    });
    app.post(
        &format!("/v1/lots/{lot_id}/collection"),
        Some(&asso.token),
        collection.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    let done = app
        .post(
            &format!("/v1/lots/{lot_id}/collection"),
            Some(&town.token),
            collection,
        )
        .await;
    assert_eq!(
        (
            done.body["collected"].as_u64(),
            done.body["missing"].as_u64()
        ),
        (Some(29), Some(1)),
        "{}",
        done.text
    );
    let back = app
        .get(&format!("/v1/items/{missing}"), Some(&town.token))
        .await;
    assert_eq!(back.body["status"], "inventoried");
    let custody = app
        .get("/v1/items?status=collected&limit=200", Some(&atelier.token))
        .await;
    assert_eq!(custody.body["items"].as_array().map(Vec::len), Some(29));
    assert!(
        custody.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["owner_id"] == atelier.id.as_str())
    );

    // 5 (papers). The convention de cession and the procès-verbal d'enlèvement exist and verify.
    app.settle().await;
    let papers = app
        .get(&format!("/v1/lots/{lot_id}/documents"), Some(&town.token))
        .await;
    for kind in ["convention_cession", "pv_enlevement", "certificat_sortie"] {
        let doc = papers.body["items"]
            .as_array()
            .expect("documents")
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {}", papers.text));
        let pdf = app.pdf(doc["id"].as_str().expect("id"), &town.token).await;
        let text = pdf_text(&pdf);
        assert!(
            text.contains("Ville de Saint-Ouen-sur-Loire"),
            "{kind}: {text}"
        );
        let code = doc["code"].as_str().expect("code");
        assert!(text.contains(code), "{kind} prints its code");
        let check = app
            .post_bytes(&format!("/v1/verify/{code}"), None, pdf, "application/pdf")
            .await;
        assert_eq!(check.body["genuine"], true, "{kind}: {}", check.text);
    }

    // 6. At the workshop: a failed wipe then a purge for every device with storage, tests and a
    // grade; devices over 10 years old go to recycling; the rest is published.
    let mut published = Vec::new();
    for (n, item) in custody.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .enumerate()
    {
        let id = item["id"].as_str().expect("id");
        let base = format!("/v1/items/{id}");
        if item["has_data_storage"] == true {
            if n == 0 {
                let failed = app
                    .post(
                        &format!("{base}/sanitisations"),
                        Some(&atelier.token),
                        wipe(id, false),
                    )
                    .await;
                assert_eq!(failed.status, 201, "{}", failed.text);
            }
            let ok = app
                .post(
                    &format!("{base}/sanitisations"),
                    Some(&atelier.token),
                    wipe(id, true),
                )
                .await;
            assert_eq!(ok.status, 201, "{}", ok.text);
        }
        // The technician records the media found in the device with the bench result.
        let mut result = json!({
            "tests": [{ "name": "démarrage", "passed": true }, { "name": "affichage", "passed": true }],
            "parts_replaced": [], "operating_system": "Ubuntu 24.04 LTS", "grade": "B",
            "minutes_spent": 40, "technician_name": "Inès Bernard"
        });
        if item["has_data_storage"] == true {
            result["storage_media"] =
                json!([{ "serial": format!("DISK-{id}"), "medium_type": "ssd" }]);
        }
        let bench = app
            .post(
                &format!("{base}/refurbishments"),
                Some(&atelier.token),
                result,
            )
            .await;
        assert_eq!(bench.status, 201, "{}", bench.text);
        let publish = app
            .post(&format!("{base}/publish"), Some(&atelier.token), json!({}))
            .await;
        if publish.status == 422 && publish.body["code"] == "too_old_for_reuse" {
            let disposed = app
                .post(
                    &format!("{base}/disposal"),
                    Some(&atelier.token),
                    json!({ "channel": "eco_organisme", "recycler_name": "ecosystem", "weight_kg": 4.2, "disposed_on": "2026-11-29" }),
                )
                .await;
            assert_eq!(disposed.status, 201, "{}", disposed.text);
            let gone = app.get(&base, Some(&atelier.token)).await;
            assert_eq!(gone.body["status"], "recycled");
        } else {
            assert_eq!(publish.body["status"], "available", "{}", publish.text);
            published.push((
                id.to_owned(),
                item["category"].as_str().expect("category").to_owned(),
            ));
        }
    }
    let laptops: Vec<String> = published
        .iter()
        .filter(|(_, c)| c == "laptop")
        .map(|(id, _)| id.clone())
        .collect();
    let screens: Vec<String> = published
        .iter()
        .filter(|(_, c)| c == "monitor")
        .map(|(id, _)| id.clone())
        .collect();
    assert!(laptops.len() >= 6, "{} laptops published", laptops.len());

    // 7. Théo searches laptops near Blois, files a request, reserves 4 laptops; Inès proposes
    // more against the request; Théo accepts.
    app.settle().await;
    let near = app
        .get(
            "/v1/catalogue/search?q=ordinateur%20portable&lat=47.59&lon=1.33&within_km=20&limit=100",
            Some(&asso.token),
        )
        .await;
    assert_eq!(near.status, 200, "{}", near.text);
    let mut found: Vec<String> = near.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    found.sort();
    let mut expected = laptops.clone();
    expected.sort();
    assert_eq!(found, expected, "every published laptop, and only them");
    let request = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Atelier d'inclusion numérique pour les habitants du quartier",
                "beneficiaries": 40, "needed_by": "2027-01-31",
                "lines": [{ "category": "laptop", "quantity": 6 }, { "category": "monitor", "quantity": 6 }]
            }),
        )
        .await;
    assert_eq!(request.status, 201, "{}", request.text);
    let request_id = request.body["id"].as_str().expect("request").to_owned();
    let reserved = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": laptops[..4], "request_id": request_id, "line": 1 }),
        )
        .await;
    assert_eq!(reserved.status, 201, "{}", reserved.text);
    assert!(reserved.body["refurbisher"]["name"] == "Atelier Solidaire du Val");
    let fair = app
        .put(
            &format!("/v1/organisations/{}/fair-share", atelier.id),
            Some(&atelier.token),
            json!({ "max_items_per_association": 20 }),
        )
        .await;
    assert_eq!(fair.status, 200, "{}", fair.text);
    let open_requests = app.get("/v1/requests/open", Some(&atelier.token)).await;
    assert_eq!(
        open_requests.body["items"][0]["id"].as_str(),
        Some(request_id.as_str())
    );
    let mut proposals = Vec::new();
    for (line, ids) in [
        (1, laptops[4..6].to_vec()),
        (2, screens.iter().take(6).cloned().collect()),
    ] {
        if ids.is_empty() {
            continue;
        }
        let p = app
            .post(
                &format!("/v1/requests/{request_id}/proposals"),
                Some(&atelier.token),
                json!({ "line": line, "item_ids": ids }),
            )
            .await;
        assert_eq!(p.status, 201, "{}", p.text);
        assert_eq!(p.body["status"], "proposed");
        proposals.push(p.body["id"].as_str().expect("id").to_owned());
    }
    for p in &proposals {
        app.post(
            &format!("/v1/reservations/{p}/accept"),
            Some(&atelier.token),
            json!({}),
        )
        .await
        .assert_problem(403, "forbidden");
        let accepted = app
            .post(
                &format!("/v1/reservations/{p}/accept"),
                Some(&asso.token),
                json!({}),
            )
            .await;
        assert_eq!(accepted.body["status"], "active", "{}", accepted.text);
    }

    // 8. Handover: Théo signs and commits; the devices become the association's.
    let mut reservations = vec![reserved.body["id"].as_str().expect("id").to_owned()];
    reservations.extend(proposals);
    let handover = json!({
        "mode": "pickup", "occurred_on": "2026-11-29",
        "association_signatory": { "name": "Théo Lambert", "role": "Président" },
        "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
        "commitment_no_resale": true, "commitment_reuse": true
    });
    for r in &reservations {
        app.post(
            &format!("/v1/reservations/{r}/handover"),
            Some(&asso.token),
            handover.clone(),
        )
        .await
        .assert_problem(403, "forbidden");
        let done = app
            .post(
                &format!("/v1/reservations/{r}/handover"),
                Some(&atelier.token),
                handover.clone(),
            )
            .await;
        assert_eq!(done.body["status"], "handed_over", "{}", done.text);
        let receipt = app
            .post(
                &format!("/v1/reservations/{r}/receipt"),
                Some(&asso.token),
                json!({}),
            )
            .await;
        assert!(receipt.body["received_at"].is_string(), "{}", receipt.text);
    }
    let request = app
        .get(&format!("/v1/requests/{request_id}"), Some(&asso.token))
        .await;
    assert_eq!(request.body["lines"][0]["fulfilled"], 6, "{}", request.text);
    assert_eq!(
        request.body["lines"][1]["fulfilled"].as_u64(),
        Some(screens.len().min(6) as u64)
    );
    let donated = app
        .get(&format!("/v1/items/{}", laptops[0]), Some(&asso.token))
        .await;
    assert_eq!(donated.body["status"], "donated", "{}", donated.text);
    assert_eq!(donated.body["owner_id"], asso.id.as_str());

    // 8 (papers). The attestation de don and the procès-verbal de remise exist and verify.
    app.settle().await;
    let papers = app
        .get(
            &format!("/v1/reservations/{}/documents", reservations[0]),
            Some(&asso.token),
        )
        .await;
    for kind in ["attestation_don", "pv_remise"] {
        let doc = papers.body["items"]
            .as_array()
            .expect("documents")
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {}", papers.text));
        let pdf = app.pdf(doc["id"].as_str().expect("id"), &asso.token).await;
        let text = pdf_text(&pdf);
        assert!(
            text.contains("Les Petits Débrouillards du Blésois"),
            "{kind}: {text}"
        );
        let check = app
            .post_bytes(
                &format!("/v1/verify/{}", doc["code"].as_str().expect("code")),
                None,
                pdf,
                "application/pdf",
            )
            .await;
        assert_eq!(check.body["genuine"], true, "{kind}: {}", check.text);
    }

    // 9. Anyone scanning a donated laptop's label sees town hall → Atelier → association, verified.
    let code = donated.body["public_code"].as_str().expect("code");
    let public = app.get(&format!("/v1/public/items/{code}"), None).await;
    let history = public.body["history"].as_array().expect("history");
    assert_eq!(
        history.first().map(|s| s["organisation"].clone()),
        Some(json!("Ville de Saint-Ouen-sur-Loire"))
    );
    assert_eq!(
        history.last().map(|s| s["to_organisation"].clone()),
        Some(json!("Les Petits Débrouillards du Blésois")),
        "{}",
        public.text
    );
    assert!(
        history
            .iter()
            .any(|s| s["to_organisation"] == "Atelier Solidaire du Val")
    );
    assert_eq!(public.body["history_verified"], true);
    let verify = app
        .get(
            &format!("/v1/items/{}/events/verify", laptops[0]),
            Some(&asso.token),
        )
        .await;
    assert_eq!(verify.body["valid"], true, "{}", verify.text);
    let town_log = app
        .get(
            &format!("/v1/organisations/{}/events/verify", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(town_log.body["valid"], true);

    // 10 (inventory). Claire records the exits in GLPI: each donated device has its row, with
    // the procès-verbal of its exit (collection: the cession was to the refurbisher).
    let export = app
        .get("/v1/items/export/glpi?since=2026-01-01", Some(&town.token))
        .await;
    assert_eq!(export.status, 200, "{}", export.text);
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(export.text.as_bytes())
        .records()
        .map(|r| r.expect("row").iter().map(str::to_owned).collect())
        .collect();
    let lot_papers = app
        .get(&format!("/v1/lots/{lot_id}/documents"), Some(&town.token))
        .await;
    let pv_codes: Vec<String> = lot_papers.body["items"]
        .as_array()
        .expect("documents")
        .iter()
        .filter(|d| d["kind"] == "pv_enlevement")
        .filter_map(|d| d["code"].as_str().map(str::to_owned))
        .collect();
    let mut donated_count = 0;
    for id in laptops.iter().chain(screens.iter()) {
        let d = app.get(&format!("/v1/items/{id}"), Some(&town.token)).await;
        if d.body["status"] != "donated" {
            continue;
        }
        donated_count += 1;
        let number = d.body["inventory_number"].as_str().expect("number");
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == number).collect();
        assert_eq!(mine.len(), 1, "one row for {number}: {}", export.text);
        assert!(pv_codes.contains(&mine[0][6]), "{:?} {pv_codes:?}", mine[0]);
        assert_eq!(mine[0][5], "Atelier Solidaire du Val");
        let check = app.get(&format!("/v1/verify/{}", mine[0][6]), None).await;
        assert_eq!(check.status, 200, "{}", check.text);
    }
    assert!(donated_count >= 6, "{donated_count} donated");
    // 10. Open data: the CSV follows its Table Schema (frictionless), and the département's
    // yearly snapshot, at its stable address, carries the donations.
    let csv = crate::open_data::validate_open_data(&app).await;
    assert!(csv.contains("\ndepartement,41,Loir-et-Cher,2026,"), "{csv}");
    let snapshot = app
        .get("/v1/open-data/impact/departement/41/2026", None)
        .await;
    assert_eq!(snapshot.text.lines().count(), 2, "{}", snapshot.text);
    assert!(
        csv.contains(snapshot.text.lines().nth(1).unwrap_or("none")),
        "{}",
        snapshot.text
    );
}

fn wipe(item: &str, success: bool) -> Value {
    json!({
        "medium_serial": format!("DISK-{item}"), "medium_type": "ssd", "method": "purge",
        "tool": "nwipe", "tool_version": "0.35", "verification_method": "Relecture complète",
        "success": success, "operator_name": "Inès Bernard",
        "started_at": if success { "2026-11-29T10:30:00Z" } else { "2026-11-29T10:00:00Z" },
        "ended_at": if success { "2026-11-29T10:50:00Z" } else { "2026-11-29T10:20:00Z" }
    })
}
