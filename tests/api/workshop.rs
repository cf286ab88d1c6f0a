//! The refurbisher's bench: sanitisation, refurbishment, publication, recycling, and who may act.

use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, spawn_app};

struct Bench {
    town: Org,
    atelier: Org,
    operator: String,
    /// Collected laptops (acquired 2019) and one collected desktop acquired in 2014.
    laptops: Vec<String>,
    old_desktop: String,
    /// The lot they were collected in.
    lot_id: String,
}

async fn bench(app: &TestApp) -> Bench {
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    let atelier = app.register("refurbisher").await;
    app.verify(&operator, &town).await;
    app.verify(&operator, &atelier).await;
    let site = app.site(&town, 47.6, 1.33).await;
    let laptops = app.items(&town, "laptop", 3).await;
    let old = app
        .post("/v1/items", Some(&town.token), json!({ "inventory_number": "INV-2014-00001", "category": "desktop", "acquisition_date": "2014-05-04", "net_book_value_cents": 0 }))
        .await;
    let old_desktop = old.body["id"].as_str().expect("id").to_owned();
    let mut all = laptops.clone();
    all.push(old_desktop.clone());
    let lot = app
        .post(
            "/v1/lots",
            Some(&town.token),
            json!({
                "title": "Lot atelier", "pickup_site_id": site, "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
                "allocation_policy": "first_come", "visibility": "all_verified", "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    let lot_id = lot.body["id"].as_str().expect("lot").to_owned();
    app.post(
        &format!("/v1/lots/{lot_id}/items"),
        Some(&town.token),
        json!({ "item_ids": all }),
    )
    .await;
    app.post(
        &format!("/v1/lots/{lot_id}/publish"),
        Some(&town.token),
        json!({}),
    )
    .await;
    let claim = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted", "{}", claim.text);
    let collected = app
        .post(
            &format!("/v1/lots/{lot_id}/collection"),
            Some(&atelier.token),
            json!({
                "occurred_on": "2026-11-28",
                "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
                "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
            }),
        )
        .await;
    assert_eq!(collected.status, 200, "{}", collected.text);
    Bench {
        town,
        atelier,
        operator,
        laptops,
        old_desktop,
        lot_id,
    }
}

fn wipe(medium: &str, method: &str, success: bool, minute: u32) -> Value {
    json!({
        "medium_serial": medium,
        "medium_type": "ssd",
        "method": method,
        "tool": "nwipe",
        "tool_version": "0.35",
        "verification_method": "Relecture complète",
        "success": success,
        "operator_name": "Inès Bernard",
        "started_at": format!("2026-11-28T10:{minute:02}:00Z"),
        "ended_at": format!("2026-11-28T10:{:02}:00Z", minute + 1),
    })
}

/// Declares the storage media of a device held by `org`.
async fn declare(app: &TestApp, org: &Org, item: &str, serials: &[&str]) -> Value {
    let media: Vec<Value> = serials
        .iter()
        .map(|s| json!({ "serial": s, "medium_type": "ssd" }))
        .collect();
    let r = app
        .put(
            &format!("/v1/items/{item}/storage-media"),
            Some(&org.token),
            json!({ "storage_media": media }),
        )
        .await;
    assert_eq!(r.status, 200, "declare: {}", r.text);
    r.body
}

/// The state of each declared medium, by serial, as the bench view shows them.
async fn media_states(app: &TestApp, org: &Org, item: &str) -> Vec<(String, String, String)> {
    let view = app
        .get(&format!("/v1/items/{item}/workshop"), Some(&org.token))
        .await;
    view.body["storage_media"]
        .as_array()
        .unwrap_or_else(|| panic!("storage_media: {}", view.text))
        .iter()
        .map(|m| {
            (
                m["serial"].as_str().unwrap_or_default().to_owned(),
                m["state"].as_str().unwrap_or_default().to_owned(),
                m["source"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn bench_result(grade: &str) -> Value {
    json!({
        "tests": [{ "name": "boot", "passed": true }, { "name": "display", "passed": true }, { "name": "battery", "passed": true }],
        "parts_replaced": ["Batterie"],
        "operating_system": "Ubuntu 24.04 LTS",
        "grade": grade,
        "minutes_spent": 45,
        "technician_name": "Inès Bernard"
    })
}

fn disposal() -> Value {
    json!({
        "channel": "eco_organisme",
        "recycler_name": "ecosystem",
        "bsdd_number": "BSD-20261128-0042",
        "weight_kg": 8.77,
        "disposed_on": "2026-11-28"
    })
}

#[tokio::test]
async fn a_device_with_storage_is_published_only_after_a_successful_purge() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let item = &b.laptops[0];
    let base = format!("/v1/items/{item}");
    app.post(
        &format!("{base}/publish"),
        Some(&b.atelier.token),
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let r = app
        .post(
            &format!("{base}/refurbishments"),
            Some(&b.atelier.token),
            bench_result("B"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let read = app.get(&base, Some(&b.atelier.token)).await;
    assert_eq!(
        (read.body["status"].as_str(), read.body["grade"].as_str()),
        (Some("refurbished"), Some("B"))
    );

    let refused = app
        .post(
            &format!("{base}/publish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    refused.assert_problem(422, "preconditions_unmet");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("storage_sanitised")),
        "{}",
        refused.text
    );
    declare(&app, &b.atelier, item, &["S3NXNF0M"]).await;
    // A failed wipe, then a clear: still refused.
    app.post(
        &format!("{base}/sanitisations"),
        Some(&b.atelier.token),
        wipe("S3NXNF0M", "purge", false, 0),
    )
    .await;
    app.post(
        &format!("{base}/sanitisations"),
        Some(&b.atelier.token),
        wipe("S3NXNF0M", "clear", true, 10),
    )
    .await;
    app.post(
        &format!("{base}/publish"),
        Some(&b.atelier.token),
        json!({}),
    )
    .await
    .assert_problem(422, "preconditions_unmet");
    let ok = app
        .post(
            &format!("{base}/sanitisations"),
            Some(&b.atelier.token),
            wipe("S3NXNF0M", "purge", true, 20),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    // The record reads where `Location` says, for the device's organisations only.
    let location = ok.header("location").expect("location");
    assert!(
        location.ends_with(ok.body["id"].as_str().expect("id")),
        "{location}"
    );
    let one = app.get(&location, Some(&b.town.token)).await;
    assert_eq!(one.body["id"], ok.body["id"], "{}", one.text);
    let stranger = app.register("refurbisher").await;
    app.get(&location, Some(&stranger.token))
        .await
        .assert_problem(404, "not_found");
    app.get(
        &format!("{base}/sanitisations/{}", uuid::Uuid::now_v7()),
        Some(&b.town.token),
    )
    .await
    .assert_problem(404, "not_found");
    let records = app
        .get(&format!("{base}/workshop"), Some(&b.town.token))
        .await;
    assert_eq!(records.body["storage_sanitised"], true);
    assert_eq!(
        records.body["sanitisations"].as_array().map(Vec::len),
        Some(3)
    );

    let published = app
        .post(
            &format!("{base}/publish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(published.body["status"], "available", "{}", published.text);
    let workshop = app.get("/v1/workshop", Some(&b.atelier.token)).await;
    assert_eq!(workshop.body["total"], 4);
    assert!(
        workshop.body["by_status"]
            .as_array()
            .expect("counts")
            .contains(&json!({ "status": "available", "count": 1 }))
    );
    let back = app
        .post(
            &format!("{base}/unpublish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(back.body["status"], "refurbished");
    let events = app
        .get(&format!("{base}/events/verify"), Some(&b.atelier.token))
        .await;
    assert_eq!(events.body["valid"], true);
}

#[tokio::test]
async fn a_device_over_ten_years_old_goes_to_recycling_unless_the_operator_allows_it() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let base = format!("/v1/items/{}", b.old_desktop);
    app.post(
        &format!("{base}/refurbishments"),
        Some(&b.atelier.token),
        bench_result("C"),
    )
    .await;
    declare(&app, &b.atelier, &b.old_desktop, &["WD-1"]).await;
    app.post(
        &format!("{base}/sanitisations"),
        Some(&b.atelier.token),
        wipe("WD-1", "purge", true, 0),
    )
    .await;
    let refused = app
        .post(
            &format!("{base}/publish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    refused.assert_problem(422, "too_old_for_reuse");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("recyclage"))
    );
    app.post(
        &format!("{base}/age-override"),
        Some(&b.atelier.token),
        json!({ "reason": "Poste de démonstration" }),
    )
    .await
    .assert_problem(403, "forbidden");
    let allowed = app.post(&format!("{base}/age-override"), Some(&b.operator), json!({ "reason": "Unité centrale en parfait état, demandée par un atelier numérique" })).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    let published = app
        .post(
            &format!("{base}/publish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(published.body["status"], "available", "{}", published.text);
}

#[tokio::test]
async fn devices_are_sent_to_recycling_by_whoever_holds_them() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let base = format!("/v1/items/{}", b.laptops[1]);
    app.post(&format!("{base}/disposal"), Some(&b.town.token), disposal())
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .post(
            &format!("{base}/disposal"),
            Some(&b.atelier.token),
            disposal(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["weight_kg"], 8.77);
    assert_eq!(
        app.get(&base, Some(&b.atelier.token)).await.body["status"],
        "recycled"
    );
    app.post(
        &format!("{base}/disposal"),
        Some(&b.atelier.token),
        disposal(),
    )
    .await
    .assert_problem(409, "invalid_transition");
    // The public body recycles a device of its inventory it will not offer.
    let kept = app.items(&b.town, "printer", 1).await;
    let r = app
        .post(
            &format!("/v1/items/{}/disposal", kept[0]),
            Some(&b.town.token),
            disposal(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.count("disposals").await, 2);
}

#[tokio::test]
async fn recycling_a_collected_device_keeps_it_in_its_lot() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let base = format!("/v1/items/{}", b.laptops[0]);
    let r = app
        .post(
            &format!("{base}/disposal"),
            Some(&b.atelier.token),
            disposal(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let item = app.get(&base, Some(&b.atelier.token)).await;
    assert_eq!(item.body["status"], "recycled", "{}", item.text);
    assert_eq!(item.body["lot_id"], b.lot_id.as_str(), "{}", item.text);
    // The lot still lists all four devices it handed over, the recycled one included.
    let lot = app
        .get(&format!("/v1/lots/{}", b.lot_id), Some(&b.town.token))
        .await;
    assert_eq!(lot.body["item_count"], 4, "{}", lot.text);
    let listed = app
        .get(
            &format!("/v1/items?lot_id={}", b.lot_id),
            Some(&b.atelier.token),
        )
        .await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(ids.contains(&b.laptops[0].as_str()), "{}", listed.text);
}

#[tokio::test]
async fn bad_bench_input_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let base = format!("/v1/items/{}", b.laptops[2]);
    let mut backwards = wipe("S1", "purge", true, 30);
    backwards["ended_at"] = json!("2026-11-28T09:00:00Z");
    backwards["tool"] = json!(" ");
    let r = app
        .post(
            &format!("{base}/sanitisations"),
            Some(&b.atelier.token),
            backwards,
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.problem_fields();
    fields.sort();
    assert_eq!(fields, ["ended_at", "tool"]);
    let mut unknown = wipe("S1", "degauss", true, 0);
    unknown["method"] = json!("degauss");
    app.post(
        &format!("{base}/sanitisations"),
        Some(&b.atelier.token),
        unknown,
    )
    .await
    .assert_problem(422, "validation_failed");
    let mut heavy = disposal();
    heavy["weight_kg"] = json!(5000);
    app.post(&format!("{base}/disposal"), Some(&b.atelier.token), heavy)
        .await
        .assert_problem(422, "validation_failed");
    let mut bad_slip = disposal();
    bad_slip["bsdd_number"] = json!("BSD 2026/11");
    app.post(
        &format!("{base}/disposal"),
        Some(&b.atelier.token),
        bad_slip,
    )
    .await
    .assert_problem(422, "validation_failed");
    let no_tests = json!({ "tests": [], "grade": "A", "technician_name": "Inès" });
    app.post(
        &format!("{base}/refurbishments"),
        Some(&b.atelier.token),
        no_tests,
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(app.count("sanitisation_records").await, 0);
    assert_eq!(app.count("refurbishment_records").await, 0);
    assert_eq!(app.count("disposals").await, 0);
}

#[tokio::test]
async fn every_other_role_is_refused_each_workshop_action() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let other = app.register("refurbisher").await;
    app.verify(&b.operator, &other).await;
    let asso = app.register("association").await;
    let item = &b.laptops[0];
    let actions: Vec<(String, Value)> = vec![
        (
            format!("/v1/items/{item}/sanitisations"),
            wipe("S1", "purge", true, 0),
        ),
        (
            format!("/v1/items/{item}/refurbishments"),
            bench_result("A"),
        ),
        (format!("/v1/items/{item}/publish"), json!({})),
        (format!("/v1/items/{item}/unpublish"), json!({})),
        (format!("/v1/items/{item}/disposal"), disposal()),
    ];
    for (path, body) in &actions {
        for org in [&b.town, &other, &asso] {
            app.post(path, Some(&org.token), body.clone())
                .await
                .assert_problem(403, "forbidden");
        }
        app.post(path, None, body.clone())
            .await
            .assert_problem(401, "unauthenticated");
    }
    app.get("/v1/workshop", Some(&b.town.token))
        .await
        .assert_problem(403, "forbidden");
    app.get(&format!("/v1/items/{item}/workshop"), Some(&other.token))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get(&format!("/v1/items/{item}"), Some(&b.atelier.token))
            .await
            .body["status"],
        "collected"
    );
    assert_eq!(
        app.count("sanitisation_records").await
            + app.count("refurbishment_records").await
            + app.count("disposals").await,
        0
    );
}

#[tokio::test]
async fn a_tool_report_is_attached_to_a_sanitisation_and_served_signed() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let base = format!("/v1/items/{}", b.laptops[0]);
    let record = app
        .post(
            &format!("{base}/sanitisations"),
            Some(&b.atelier.token),
            wipe("S3NXNF0M", "purge", true, 0),
        )
        .await;
    let record_id = record.body["id"].as_str().expect("id");
    let path = format!("{base}/sanitisations/{record_id}/report");
    let log = "nwipe 0.35: /dev/sda (S3NXNF0M) PRNG stream, 1 round, verify last pass: SUCCESS\n"
        .as_bytes()
        .to_vec();
    let send = |token: &str, bytes: Vec<u8>| {
        let part = reqwest::multipart::Part::bytes(bytes).file_name("nwipe.log");
        app.client
            .post(app.url(&path))
            .bearer_auth(token.to_owned())
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
    };
    let refused = send(&b.town.token, log.clone()).await.expect("sent");
    assert_eq!(refused.status().as_u16(), 403);
    let binary = send(&b.atelier.token, vec![0u8, 1, 2, 3])
        .await
        .expect("sent");
    assert_eq!(binary.status().as_u16(), 415);
    let ok = send(&b.atelier.token, log.clone()).await.expect("sent");
    assert_eq!(ok.status().as_u16(), 200);
    let view = app
        .get(&format!("{base}/workshop"), Some(&b.atelier.token))
        .await;
    let url = view.body["sanitisations"][0]["report_url"]
        .as_str()
        .expect("report url");
    let fetched = app.client.get(url).send().await.expect("fetch");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.expect("bytes").to_vec(), log);
}

#[tokio::test]
async fn one_wiped_disk_does_not_pass_a_two_disk_machine() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let item = &b.laptops[0];
    let base = format!("/v1/items/{item}");
    // The failing sequence: one disk wiped, a grade, publish. Before media were declared, this
    // published a machine whose second disk nobody had wiped.
    let wiped = app
        .post(
            &format!("{base}/sanitisations"),
            Some(&b.atelier.token),
            wipe("DISK-A", "purge", true, 0),
        )
        .await;
    assert_eq!(wiped.status, 201, "{}", wiped.text);
    let graded = app
        .post(
            &format!("{base}/refurbishments"),
            Some(&b.atelier.token),
            bench_result("A"),
        )
        .await;
    assert_eq!(graded.status, 201, "{}", graded.text);
    let refused = app
        .post(
            &format!("{base}/publish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    refused.assert_problem(422, "preconditions_unmet");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("storage_media_declared")),
        "{}",
        refused.text
    );

    // The technician opens it and finds two disks.
    let declared = declare(&app, &b.atelier, item, &["DISK-A", "DISK-B"]).await;
    assert_eq!(declared.as_array().map(Vec::len), Some(2), "{declared}");
    assert_eq!(
        media_states(&app, &b.town, item).await,
        [
            (
                "DISK-A".to_owned(),
                "sanitised".to_owned(),
                "bench".to_owned()
            ),
            (
                "DISK-B".to_owned(),
                "not_sanitised".to_owned(),
                "bench".to_owned()
            ),
        ]
    );
    let refused = app
        .post(
            &format!("{base}/publish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    refused.assert_problem(422, "preconditions_unmet");
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("storage_sanitised")
            && !detail.contains("storage_media_declared")
            && detail.contains("DISK-B (aucun effacement enregistré)")
            && !detail.contains("DISK-A"),
        "{}",
        refused.text
    );
    assert_eq!(
        app.get(&base, Some(&b.atelier.token)).await.body["status"],
        "refurbished"
    );

    // The second disk, typed in lower case at the bench, is the same medium.
    let second = app
        .post(
            &format!("{base}/sanitisations"),
            Some(&b.atelier.token),
            wipe("disk-b ", "crypto_erase", true, 5),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let view = app
        .get(&format!("{base}/workshop"), Some(&b.atelier.token))
        .await;
    assert_eq!(view.body["storage_sanitised"], true, "{}", view.text);
    let published = app
        .post(
            &format!("{base}/publish"),
            Some(&b.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(published.body["status"], "available", "{}", published.text);

    // From publication on, the declared media are fixed.
    app.put(
        &format!("{base}/storage-media"),
        Some(&b.atelier.token),
        json!({ "storage_media": [{ "serial": "DISK-A" }] }),
    )
    .await
    .assert_problem(409, "item_not_editable");
    let events = app
        .get(&format!("{base}/events"), Some(&b.atelier.token))
        .await;
    let kinds: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("events: {}", events.text))
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"storage_media_declared"), "{kinds:?}");
    let chain = app
        .get(&format!("{base}/events/verify"), Some(&b.atelier.token))
        .await;
    assert_eq!(chain.body["valid"], true);
}

#[tokio::test]
async fn storage_media_are_declared_by_the_holder_only_and_checked() {
    let app = spawn_app().await;
    let b = bench(&app).await;
    let other = app.register("refurbisher").await;
    app.verify(&b.operator, &other).await;
    let asso = app.register("association").await;
    let item = &b.laptops[1];
    let path = format!("/v1/items/{item}/storage-media");
    let body = json!({ "storage_media": [{ "serial": "S1" }] });
    // The body no longer holds it once collected; nobody else ever did.
    for org in [&b.town, &other, &asso] {
        app.put(&path, Some(&org.token), body.clone())
            .await
            .assert_problem(403, "forbidden");
    }
    app.put(&path, None, body.clone())
        .await
        .assert_problem(401, "unauthenticated");

    let twice = app
        .put(
            &path,
            Some(&b.atelier.token),
            json!({ "storage_media": [{ "serial": "S1" }, { "serial": " s1" }, { "serial": "  " }] }),
        )
        .await;
    twice.assert_problem(422, "validation_failed");
    let mut fields = twice.problem_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["storage_media[1].serial", "storage_media[2].serial"]
    );
    let many: Vec<Value> = (0..25)
        .map(|i| json!({ "serial": format!("S{i}") }))
        .collect();
    app.put(
        &path,
        Some(&b.atelier.token),
        json!({ "storage_media": many }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.put(
        &path,
        Some(&b.atelier.token),
        json!({ "storage_media": [{ "serial": "S1", "capacity_gb": 0 }] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(app.count("storage_media").await, 0);

    // A device without data storage declares none.
    let screen = app
        .post(
            "/v1/items",
            Some(&b.town.token),
            json!({ "inventory_number": "ECR-1", "category": "monitor", "has_data_storage": false }),
        )
        .await;
    assert_eq!(screen.status, 201, "{}", screen.text);
    let screen_id = screen.body["id"].as_str().expect("id");
    app.put(
        &format!("/v1/items/{screen_id}/storage-media"),
        Some(&b.town.token),
        body.clone(),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(app.count("storage_media").await, 0);

    // Replacing the list keeps what stays and drops what went.
    declare(&app, &b.atelier, item, &["S1", "S2"]).await;
    declare(&app, &b.atelier, item, &["S2", "S3"]).await;
    let serials: Vec<String> = media_states(&app, &b.atelier, item)
        .await
        .into_iter()
        .map(|(serial, _, _)| serial)
        .collect();
    assert_eq!(serials.len(), 2);
    assert!(serials.contains(&"S2".to_owned()) && serials.contains(&"S3".to_owned()));
}

#[tokio::test]
async fn the_inventory_form_and_the_import_declare_storage_media() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    let form = app
        .post(
            "/v1/items",
            Some(&town.token),
            json!({
                "inventory_number": "PC-2021-1", "category": "desktop",
                "storage_media": [{ "serial": "SSD-1", "medium_type": "ssd", "capacity_gb": 256 }, { "serial": "HDD-2", "medium_type": "hdd" }]
            }),
        )
        .await;
    assert_eq!(form.status, 201, "{}", form.text);
    let id = form.body["id"].as_str().expect("id");
    assert_eq!(
        media_states(&app, &town, id).await,
        [
            (
                "HDD-2".to_owned(),
                "not_sanitised".to_owned(),
                "form".to_owned()
            ),
            (
                "SSD-1".to_owned(),
                "not_sanitised".to_owned(),
                "form".to_owned()
            ),
        ]
    );
    app.post(
        "/v1/items",
        Some(&town.token),
        json!({ "inventory_number": "ECR-2", "category": "monitor", "has_data_storage": false, "storage_media": [{ "serial": "X" }] }),
    )
    .await
    .assert_problem(422, "validation_failed");

    let csv = "inventory_number;category;storage_media\nINV-1;laptop;ssd:S3Z9NB0K | hdd:WD-1234\nINV-2;laptop;\nINV-3;monitor;S9\n";
    let report = app
        .post_raw(
            "/v1/items/import?partial=true",
            &town.token,
            csv.as_bytes().to_vec(),
            "text/csv",
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["created"], 2, "{}", report.text);
    assert_eq!(report.body["rejected"][0]["line"], 4, "{}", report.text);
    let listed = app.get("/v1/items?q=INV-1", Some(&town.token)).await;
    let imported = listed.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["inventory_number"] == "INV-1"))
        .and_then(|i| i["id"].as_str())
        .unwrap_or_else(|| panic!("INV-1: {}", listed.text))
        .to_owned();
    let states = media_states(&app, &town, &imported).await;
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(
        states
            .iter()
            .all(|(_, state, source)| state == "not_sanitised" && source == "import")
    );
}
