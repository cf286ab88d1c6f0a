use serde_json::json;

use crate::helpers::spawn_app;

fn laptop(number: &str) -> serde_json::Value {
    json!({
        "inventory_number": number,
        "category": "laptop",
        "brand": "Dell",
        "model": "Latitude 7400",
        "serial_number": "SDMNVV9PU4",
        "specs": { "cpu": "Intel Core i5-8365U", "ram_gb": 8, "storage_gb": 256, "storage_kind": "ssd", "screen_inches": 14.0 },
        "acquisition_date": "2019-06-01",
        "acquisition_value_cents": 113681,
        "net_book_value_cents": 0
    })
}

#[tokio::test]
async fn a_public_body_registers_a_device_and_reads_it() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = app
        .post("/v1/items", Some(&town.token), laptop("INV-2019-01003"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "inventoried");
    assert_eq!(r.body["has_data_storage"], true);
    assert_eq!(r.body["owner_id"], town.id.as_str());
    assert_eq!(r.body["public_code"].as_str().map(str::len), Some(10));
    let id = r.body["id"].as_str().expect("id");
    let read = app.get(&format!("/v1/items/{id}"), Some(&town.token)).await;
    assert_eq!(read.body["specs"]["ram_gb"], 8);
    assert_eq!(read.header("etag").as_deref(), Some("\"1\""));
    // The same number again is refused, in this body only.
    app.post("/v1/items", Some(&town.token), laptop("INV-2019-01003"))
        .await
        .assert_problem(409, "inventory_number_taken");
    let other = app.register("public_body").await;
    assert_eq!(
        app.post("/v1/items", Some(&other.token), laptop("INV-2019-01003"))
            .await
            .status,
        201
    );
    assert_eq!(app.count("items").await, 2);
}

#[tokio::test]
async fn bad_devices_are_refused_with_their_fields_and_nothing_is_written() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let mut monitor = laptop("INV-1");
    monitor["category"] = json!("monitor");
    let r = app.post("/v1/items", Some(&town.token), monitor).await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.problem_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "specs.cpu",
            "specs.ram_gb",
            "specs.storage_gb",
            "specs.storage_kind"
        ]
    );
    let mut future = laptop("INV-2");
    future["acquisition_date"] = json!("2030-01-01");
    assert_eq!(
        app.post("/v1/items", Some(&town.token), future)
            .await
            .problem_fields(),
        ["acquisition_date"]
    );
    app.post("/v1/items", Some(&town.token), laptop(&"X".repeat(26)))
        .await
        .assert_problem(422, "validation_failed");
    app.post("/v1/items", Some(&town.token), laptop("   "))
        .await
        .assert_problem(422, "validation_failed");
    let mut negative = laptop("INV-3");
    negative["acquisition_value_cents"] = json!(-5);
    app.post("/v1/items", Some(&town.token), negative)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.count("items").await, 0);
}

#[tokio::test]
async fn only_public_bodies_register_devices() {
    let app = spawn_app().await;
    for kind in ["refurbisher", "association"] {
        let org = app.register(kind).await;
        app.post("/v1/items", Some(&org.token), laptop("INV-9"))
            .await
            .assert_problem(403, "forbidden");
    }
    app.post("/v1/items", None, laptop("INV-9"))
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(app.count("items").await, 0);
}

#[tokio::test]
async fn devices_are_listed_with_filters_and_free_text() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    app.post("/v1/items", Some(&town.token), laptop("INV-A-1"))
        .await;
    let mut screen = laptop("INV-B-2");
    screen["category"] = json!("monitor");
    screen["brand"] = json!("Iiyama");
    screen["specs"] = json!({ "screen_inches": 24.0 });
    app.post("/v1/items", Some(&town.token), screen).await;
    let all = app.get("/v1/items", Some(&town.token)).await;
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(2));
    let monitors = app
        .get("/v1/items?category=monitor", Some(&town.token))
        .await;
    assert_eq!(monitors.body["items"][0]["brand"], "Iiyama");
    let text = app.get("/v1/items?q=iIYaMa", Some(&town.token)).await;
    assert_eq!(text.body["items"].as_array().map(Vec::len), Some(1));
    let by_number = app.get("/v1/items?q=a-1", Some(&town.token)).await;
    assert_eq!(by_number.body["items"][0]["inventory_number"], "INV-A-1");
    let wildcard = app.get("/v1/items?q=%25", Some(&town.token)).await;
    assert_eq!(wildcard.body["items"].as_array().map(Vec::len), Some(0));
    let none = app.get("/v1/items?status=donated", Some(&town.token)).await;
    assert_eq!(none.body["items"].as_array().map(Vec::len), Some(0));
    // Another body sees none of them, and cannot read one.
    let other = app.register("public_body").await;
    assert_eq!(
        app.get("/v1/items", Some(&other.token)).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let id = all.body["items"][0]["id"].as_str().expect("id");
    app.get(&format!("/v1/items/{id}"), Some(&other.token))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_device_is_updated_with_if_match_but_its_inventory_number_never_changes() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = app
        .post("/v1/items", Some(&town.token), laptop("INV-7"))
        .await;
    let path = format!("/v1/items/{}", r.body["id"].as_str().expect("id"));
    let mut changed = laptop("INV-7");
    changed["condition_notes"] = json!("Écran rayé");
    let ok = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&town.token),
            Some(changed.clone()),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["condition_notes"], "Écran rayé");
    app.send(
        reqwest::Method::PATCH,
        &path,
        Some(&town.token),
        Some(changed.clone()),
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412, "precondition_failed");
    app.patch(&path, Some(&town.token), laptop("INV-8"))
        .await
        .assert_problem(422, "validation_failed");
    let other = app.register("public_body").await;
    app.patch(&path, Some(&other.token), changed)
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn a_device_history_is_chained_and_editing_an_event_breaks_it() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = app
        .post("/v1/items", Some(&town.token), laptop("INV-5"))
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    let mut changed = laptop("INV-5");
    changed["location"] = json!("Mairie > Accueil");
    app.patch(&format!("/v1/items/{id}"), Some(&town.token), changed)
        .await;
    let events = app
        .get(&format!("/v1/items/{id}/events"), Some(&town.token))
        .await;
    let kinds: Vec<_> = events.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("item_registered"), json!("item_updated")]);
    let verify = app
        .get(&format!("/v1/items/{id}/events/verify"), Some(&town.token))
        .await;
    assert_eq!(verify.body["valid"], true);
    use sea_orm::ConnectionTrait;
    app.db
        .execute_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("UPDATE events SET occurred_at = '2020-01-01T00:00:00.000000Z' WHERE stream = 'item/{id}' AND seq = 1"),
        ))
        .await
        .expect("tamper");
    let broken = app
        .get(&format!("/v1/items/{id}/events/verify"), Some(&town.token))
        .await;
    assert_eq!(broken.body["valid"], false);
    assert_eq!(broken.body["broken_at_seq"], 1);
}

#[tokio::test]
async fn anyone_reads_the_public_history_by_the_label_code() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = app
        .post("/v1/items", Some(&town.token), laptop("INV-6"))
        .await;
    let code = r.body["public_code"].as_str().expect("code").to_lowercase();
    let typed = format!("{}-{}", &code[..5], &code[5..]);
    let public = app.get(&format!("/v1/public/items/{typed}"), None).await;
    assert_eq!(public.status, 200, "{}", public.text);
    assert_eq!(public.body["status"], "inventoried");
    assert_eq!(
        public.body["history"][0]["organisation"],
        "Ville de Saint-Ouen-sur-Loire"
    );
    assert_eq!(public.body["history_verified"], true);
    assert!(
        !public.text.contains("SDMNVV9PU4"),
        "no serial number on the public page"
    );
    assert!(!public.text.contains(&town.admin_email), "nothing personal");
    app.get("/v1/public/items/ZZZZZ-ZZZZZ", None)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/public/items/not-a-code!", None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn the_lifecycle_table_is_published_with_its_diagram() {
    let app = spawn_app().await;
    let r = app.get("/v1/meta/lifecycle", None).await;
    assert_eq!(r.status, 200);
    let publish = r.body["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .find(|t| t["name"] == "publish")
        .expect("publish");
    assert_eq!(publish["from"], json!(["refurbished"]));
    assert_eq!(
        publish["preconditions"],
        json!([
            "grade_recorded",
            "storage_media_declared",
            "storage_sanitised",
            "at_most_ten_years_old"
        ])
    );
    assert!(
        r.body["mermaid"]
            .as_str()
            .is_some_and(|m| m.starts_with("stateDiagram-v2"))
    );
}
