//! Importing the GLPI sample and its real-world variants.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Org, TestApp, spawn_app, spawn_app_with};

const SAMPLE: &[u8] = include_bytes!("../fixtures/glpi-ordinateurs.csv");
const EXPECTED: &str = include_str!("../fixtures/glpi-ordinateurs.expected.json");

async fn import(
    app: &TestApp,
    org: &Org,
    query: &str,
    body: Vec<u8>,
    content_type: &str,
) -> crate::helpers::Resp {
    app.post_raw(
        &format!("/v1/items/import{query}"),
        &org.token,
        body,
        content_type,
    )
    .await
}

fn expected() -> Value {
    serde_json::from_str(EXPECTED).expect("expected outcome")
}

async fn inventory_numbers(app: &TestApp, org: &Org) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(&format!("/v1/items?limit=200{cursor}"), Some(&org.token))
            .await;
        for i in r.body["items"].as_array().expect("items") {
            numbers.push(
                i["inventory_number"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    numbers.sort();
    numbers
}

fn rejected_lines(report: &Value) -> Vec<(u64, String)> {
    report["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap_or_default(),
                r["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

const EXPECTED_CODES: [(u64, &str); 7] = [
    (7, "missing_inventory_number"),
    (13, "duplicate_in_file"),
    (19, "invalid_date"),
    (25, "negative_value"),
    (31, "unknown_type"),
    (37, "inventory_number_too_long"),
    (43, "future_date"),
];

#[tokio::test]
async fn the_glpi_sample_imports_exactly_the_expected_devices_and_again_changes_nothing() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    let r = import(&app, &town, "?partial=true", SAMPLE.to_vec(), "text/csv").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rows"], expected()["rows"]);
    assert_eq!(r.body["created"], 73);
    assert_eq!(r.body["committed"], true);
    let lines = rejected_lines(&r.body);
    assert_eq!(
        lines,
        EXPECTED_CODES
            .iter()
            .map(|(l, c)| (*l, (*c).to_owned()))
            .collect::<Vec<_>>()
    );
    for rejected in r.body["rejected"].as_array().expect("rejected") {
        assert!(rejected["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(rejected["column"].is_string(), "{rejected}");
    }
    let mut valid: Vec<String> = expected()["valid"]
        .as_array()
        .expect("valid")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    valid.sort();
    assert_eq!(inventory_numbers(&app, &town).await, valid);

    let again = import(
        &app,
        &town,
        "?partial=true",
        SAMPLE.to_vec(),
        "text/csv; charset=utf-8",
    )
    .await;
    assert_eq!(
        (
            again.body["created"].as_u64(),
            again.body["updated"].as_u64(),
            again.body["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(73))
    );
    assert_eq!(app.count("items").await, 73);
}

#[tokio::test]
async fn fixing_two_rows_and_reimporting_creates_two() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    import(&app, &town, "?partial=true", SAMPLE.to_vec(), "text/csv").await;
    let text = String::from_utf8(SAMPLE.to_vec()).expect("utf-8");
    let fixed = text
        .replace(";;2015-03-15;634,10;", ";INV-2021-01005;2015-03-15;634,10;")
        .replace("2021-13-45", "2021-12-15");
    let r = import(&app, &town, "?partial=true", fixed.into_bytes(), "text/csv").await;
    assert_eq!(r.body["created"], 2, "{}", r.text);
    assert_eq!(r.body["updated"], 0);
    assert_eq!(r.body["rejected"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn without_partial_the_import_is_all_or_nothing_and_a_dry_run_writes_nothing() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    // Registration, sign-in and the default factor set at start.
    let events_before = app.count("events").await;
    let all_or_nothing = import(&app, &town, "", SAMPLE.to_vec(), "text/csv").await;
    assert_eq!(all_or_nothing.status, 200);
    assert_eq!(all_or_nothing.body["committed"], false);
    assert_eq!(
        all_or_nothing.body["created"], 73,
        "what would have been created"
    );
    let dry = import(
        &app,
        &town,
        "?partial=true&dry_run=true",
        SAMPLE.to_vec(),
        "text/csv",
    )
    .await;
    assert_eq!(dry.body["committed"], false);
    assert_eq!(dry.body["dry_run"], true);
    assert_eq!(app.count("items").await, 0);
    assert_eq!(
        app.count("events").await,
        events_before,
        "neither import appended an event"
    );
}

/// The sample as an English GLPI export: `,`, Windows-1252, DD/MM/YYYY, decimal point.
fn english_variant() -> Vec<u8> {
    let text = String::from_utf8(SAMPLE[3..].to_vec()).expect("utf-8");
    let mut out = String::new();
    for (i, line) in text.split("\r\n").enumerate() {
        if line.is_empty() {
            continue;
        }
        let cells: Vec<String> = line.split(';').map(str::to_owned).collect();
        let cells: Vec<String> = if i == 0 {
            [
                "Name",
                "Entity",
                "Status",
                "Manufacturer",
                "Serial number",
                "Type",
                "Model",
                "Location",
                "Inventory number",
                "Date of purchase",
                "Value",
                "Comments",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
        } else {
            cells
                .iter()
                .enumerate()
                .map(|(j, c)| match j {
                    9 => match c.split('-').collect::<Vec<_>>().as_slice() {
                        [y, m, d] => format!("{d}/{m}/{y}"),
                        _ => c.clone(),
                    },
                    10 => c.replace([' ', '\u{a0}'], "").replace(',', "."),
                    _ => c.clone(),
                })
                .collect()
        };
        out.push_str(
            &cells
                .iter()
                .map(|c| {
                    if c.contains(',') {
                        format!("\"{c}\"")
                    } else {
                        c.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    // Windows-1252: every character of the sample is in Latin-1 or the 0x80–0x9F table.
    out.chars()
        .map(|c| match c {
            '€' => 0x80,
            '’' => 0x92,
            c if (c as u32) < 256 => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

#[tokio::test]
async fn an_english_comma_windows_1252_export_with_french_dates_imports_the_same() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    let r = import(
        &app,
        &town,
        "?partial=true",
        english_variant(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["created"], 73, "{}", r.text);
    let codes: Vec<String> = rejected_lines(&r.body)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(
        codes,
        EXPECTED_CODES
            .iter()
            .map(|(_, c)| (*c).to_owned())
            .collect::<Vec<_>>()
    );
    let items = app.get("/v1/items?q=01031", Some(&town.token)).await;
    assert_eq!(
        items.body["items"][0]["location"], "Médiathèque Simone-Veil",
        "accents survive Windows-1252"
    );
}

#[tokio::test]
async fn an_unrecognised_header_or_empty_file_is_refused() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    import(&app, &town, "", b"foo;bar\n1;2\n".to_vec(), "text/csv")
        .await
        .assert_problem(422, "import_header_invalid");
    import(&app, &town, "", Vec::new(), "text/csv")
        .await
        .assert_problem(422, "import_header_invalid");
    import(&app, &town, "", b"{}".to_vec(), "application/json")
        .await
        .assert_problem(415, "unsupported_media_type");
    let asso = app.register("association").await;
    import(&app, &asso, "", SAMPLE.to_vec(), "text/csv")
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.count("items").await, 0);
}

#[tokio::test]
async fn our_template_round_trips_and_updates_by_inventory_number() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    let template = app.get("/v1/items/import/template", None).await;
    assert_eq!(template.status, 200);
    assert!(
        template
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    let r = import(
        &app,
        &town,
        "",
        template.text.clone().into_bytes(),
        "text/csv",
    )
    .await;
    assert_eq!(r.body["created"], 1, "{}", r.text);
    let items = app.get("/v1/items", Some(&town.token)).await;
    assert_eq!(items.body["items"][0]["specs"]["ram_gb"], 8);
    assert_eq!(items.body["items"][0]["acquisition_value_cents"], 94861);
    let changed = template.text.replace("Batterie faible", "Batterie neuve");
    let r = import(&app, &town, "", changed.into_bytes(), "text/csv").await;
    assert_eq!(
        (r.body["created"].as_u64(), r.body["updated"].as_u64()),
        (Some(0), Some(1)),
        "{}",
        r.text
    );
    let id = items.body["items"][0]["id"].as_str().expect("id");
    let events = app
        .get(&format!("/v1/items/{id}/events"), Some(&town.token))
        .await;
    assert_eq!(events.body["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_large_file_is_imported_as_a_job_with_progress() {
    let app = spawn_app_with(&[("REEMPLOI_IMPORT_SYNC_MAX_BYTES", "1024")]).await;
    let town = app.register_verified("public_body").await;
    let mut csv =
        String::from("inventory_number;category;brand;model;acquisition_date;acquisition_value\n");
    for i in 0..3000 {
        csv.push_str(&format!(
            "INV-JOB-{i:05};laptop;Dell;Latitude 5490;2020-01-15;899,00\n"
        ));
    }
    let r = import(&app, &town, "", csv.into_bytes(), "text/csv").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let location = r.header("location").expect("Location");
    let mut last = Value::Null;
    for _ in 0..600 {
        last = app.get(&location, Some(&town.token)).await.body;
        if last["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["report"]["created"], 3000);
    assert_eq!(last["processed"], 3000);
    assert_eq!(app.count("items").await, 3000);
    let stranger = app.register_verified("public_body").await;
    app.get(&location, Some(&stranger.token))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn every_committed_import_leaves_one_inventory_imported_event_with_its_counts() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    let template = app.get("/v1/items/import/template", None).await;
    let csv = template.text.into_bytes();
    let first = import(&app, &town, "", csv.clone(), "text/csv").await;
    assert_eq!(first.body["created"], 1, "{}", first.text);
    // Importing the same file again changes nothing, and still commits with its trace.
    let again = import(&app, &town, "", csv.clone(), "text/csv").await;
    assert_eq!(again.body["unchanged"], 1, "{}", again.text);
    assert_eq!(again.body["committed"], true, "{}", again.text);
    // A dry run writes nothing, its event neither.
    let dry = import(&app, &town, "?dry_run=true", csv, "text/csv").await;
    assert_eq!(dry.body["committed"], false, "{}", dry.text);
    let events = app
        .get(
            &format!("/v1/organisations/{}/events?limit=200", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    let imported: Vec<&serde_json::Value> = events.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "inventory_imported")
        .collect();
    assert_eq!(imported.len(), 2, "{}", events.text);
    assert_eq!(
        imported[0]["stream"],
        format!("organisation/{}", town.id).as_str()
    );
    assert_eq!(
        (
            imported[0]["payload"]["created"].as_u64(),
            imported[1]["payload"]["created"].as_u64(),
            imported[1]["payload"]["unchanged"].as_u64(),
        ),
        (Some(1), Some(0), Some(1))
    );
    // The chain of the body still verifies with the import's events in it.
    let verified = app
        .get(
            &format!("/v1/organisations/{}/events/verify", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text);
}

/// A device registered by hand while a large import of the same number runs: whichever comes
/// second is refused, and one device holds the number. On SQLite the import's rows are staged
/// without the write lock, so the hand-made device goes first and the import, meeting it in its
/// final step, writes nothing; on PostgreSQL the registration waits on the import's row and is
/// refused.
#[tokio::test]
async fn a_device_registered_during_a_large_import_of_its_number_leaves_one_device() {
    let app = spawn_app_with(&[("REEMPLOI_IMPORT_SYNC_MAX_BYTES", "1024")]).await;
    let town = app.register_verified("public_body").await;
    let rows = 8000;
    let mut csv =
        String::from("inventory_number;category;brand;model;acquisition_date;acquisition_value\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "INV-RACE-{i:05};laptop;Dell;Latitude 5490;2020-01-15;899,00\n"
        ));
    }
    let r = import(&app, &town, "", csv.into_bytes(), "text/csv").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let location = r.header("location").expect("Location");
    for _ in 0..600 {
        let job = app.get(&location, Some(&town.token)).await.body;
        if job["processed"].as_u64().unwrap_or(0) > 0 || job["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let number = format!("INV-RACE-{:05}", rows - 1);
    let by_hand = app
        .post(
            "/v1/items",
            Some(&town.token),
            serde_json::json!({ "inventory_number": number, "category": "laptop", "brand": "Dell" }),
        )
        .await;
    let job = crate::hostile::finished_job(&app, &town.token, &location).await;
    eprintln!(
        "registered during the import: {}; import {}",
        by_hand.status, job.body["status"]
    );
    let holders = inventory_numbers(&app, &town)
        .await
        .into_iter()
        .filter(|n| *n == number)
        .count();
    assert_eq!(holders, 1, "one device holds {number}");
    match by_hand.status {
        201 => {
            assert_eq!(job.body["status"], "failed", "{}", job.text);
            assert!(
                job.body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("relancez l'import")),
                "{}",
                job.text
            );
            assert_eq!(app.count("items").await, 1, "the import wrote nothing");
        }
        409 => {
            assert_eq!(job.body["status"], "succeeded", "{}", job.text);
            assert_eq!(app.count("items").await, rows as i64);
        }
        other => panic!("registration answered {other}: {}", by_hand.text),
    }
}
