//! One validation error shape: every unreadable or invalid body field, query or path parameter
//! answers 422 `validation_failed`, each bad value listed by JSON pointer with a stable reason
//! code and a message in the caller's language; only a body that is not JSON stays 400.

use serde_json::{Value, json};

use crate::helpers::{TestApp, registration, spawn_app, unique_email};

/// The kinds of bad body a form can send, as (what to change, the field, its reason code).
type Mutation = (fn(&mut Value), &'static str, &'static str);

async fn send(app: &TestApp, path: &str, token: Option<&str>, body: Value, lang: &str) -> Value {
    let r = app
        .send(
            reqwest::Method::POST,
            path,
            token,
            Some(body),
            &[("Accept-Language", lang)],
        )
        .await;
    r.assert_problem(422, "validation_failed");
    r.body
}

/// Sends each mutation of `valid` to `path` in French and in English, and checks the one
/// refused field, its pointer, reason and message.
async fn refuses_each(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    valid: &Value,
    mutations: &[Mutation],
) {
    for (mutate, pointer, code) in mutations {
        let mut body = valid.clone();
        mutate(&mut body);
        let fr = send(app, path, token, body.clone(), "fr").await;
        let en = send(app, path, token, body.clone(), "en").await;
        for (problem, lang) in [(&fr, "fr"), (&en, "en")] {
            let errors = problem["errors"].as_array().expect("errors");
            assert_eq!(errors.len(), 1, "{path} {pointer} ({lang}): {problem}");
            let e = &errors[0];
            assert_eq!(e["pointer"], *pointer, "{path} ({lang}): {problem}");
            assert_eq!(e["code"], *code, "{path} {pointer} ({lang}): {problem}");
            assert_eq!(e["in"], "body");
            let message = e["message"].as_str().expect("message");
            assert!(!message.is_empty());
            // Never a library's internals.
            for internal in ["Expected input type", "occurred while parsing", "serde"] {
                assert!(!message.contains(internal), "{message}");
                assert!(
                    !problem["detail"].as_str().unwrap_or("").contains(internal),
                    "{problem}"
                );
            }
        }
        assert_eq!(fr["title"], "Certains champs sont invalides");
        assert_eq!(en["title"], "Some fields are invalid");
        assert_ne!(
            fr["errors"][0]["message"], en["errors"][0]["message"],
            "{path} {pointer}: the message follows Accept-Language"
        );
    }
}

#[tokio::test]
async fn every_kind_of_bad_body_is_a_422_naming_its_field_by_pointer_in_both_languages() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let site = app.site(&town, 47.59, 1.33).await;

    // A device.
    let device = json!({
        "inventory_number": "INV-2019-01003",
        "category": "laptop",
        "brand": "Dell",
        "specs": { "cpu": "Intel Core i5-8365U", "ram_gb": 8, "storage_gb": 256, "storage_kind": "ssd" },
        "acquisition_date": "2019-06-01",
        "net_book_value_cents": 0
    });
    refuses_each(
        &app,
        "/v1/items",
        Some(&town.token),
        &device,
        &[
            (
                |b| drop(b.as_object_mut().map(|o| o.remove("category"))),
                "/category",
                "required",
            ),
            (
                |b| b["inventory_number"] = json!(12),
                "/inventory_number",
                "invalid_type",
            ),
            (
                |b| b["category"] = json!("spaceship"),
                "/category",
                "invalid_enum",
            ),
            (
                |b| b["acquisition_date"] = json!("2019-02-30"),
                "/acquisition_date",
                "invalid_date",
            ),
            (|b| b["colour"] = json!("grey"), "/colour", "unknown_field"),
            (
                |b| b["specs"]["ram_gb"] = json!("eight"),
                "/specs/ram_gb",
                "invalid_type",
            ),
        ],
    )
    .await;

    // A lot.
    let lot = json!({
        "title": "Parc informatique mairie 2026",
        "pickup_site_id": site,
        "pickup_from": "2026-12-01",
        "pickup_until": "2026-12-14",
        "allocation_policy": "first_come",
        "visibility": "all_verified",
        "cession_mode": "to_refurbisher",
    });
    refuses_each(
        &app,
        "/v1/lots",
        Some(&town.token),
        &lot,
        &[
            (
                |b| drop(b.as_object_mut().map(|o| o.remove("title"))),
                "/title",
                "required",
            ),
            (
                |b| b["auto_accept"] = json!("yes"),
                "/auto_accept",
                "invalid_type",
            ),
            (
                |b| b["cession_mode"] = json!("gift"),
                "/cession_mode",
                "invalid_enum",
            ),
            (
                |b| b["pickup_from"] = json!("01/12/2026"),
                "/pickup_from",
                "invalid_date",
            ),
            (|b| b["colour"] = json!("grey"), "/colour", "unknown_field"),
        ],
    )
    .await;

    // A registration (public: no credentials).
    let org = registration("association", &unique_email("asso"));
    refuses_each(
        &app,
        "/v1/organisations",
        None,
        &org,
        &[
            (
                |b| drop(b.as_object_mut().map(|o| o.remove("city"))),
                "/city",
                "required",
            ),
            (|b| b["name"] = json!(false), "/name", "invalid_type"),
            (|b| b["kind"] = json!("spaceship"), "/kind", "invalid_enum"),
            (
                |b| b["esus_expires_on"] = json!("2027-13-01"),
                "/esus_expires_on",
                "invalid_date",
            ),
            (|b| b["colour"] = json!("grey"), "/colour", "unknown_field"),
            (
                |b| b["admin"]["email"] = json!(null),
                "/admin/email",
                "required",
            ),
        ],
    )
    .await;

    // Every bad field at once, each listed.
    let mut all = device.clone();
    all["category"] = json!("spaceship");
    all["acquisition_date"] = json!("yesterday");
    all["colour"] = json!("grey");
    let problem = send(&app, "/v1/items", Some(&town.token), all, "fr").await;
    let mut pointers: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    pointers.sort();
    assert_eq!(pointers, ["/acquisition_date", "/category", "/colour"]);

    // Nothing was written.
    assert_eq!(app.count("items").await, 0);
    assert_eq!(app.count("lots").await, 0);
}

#[tokio::test]
async fn parameters_answer_the_same_shape_and_only_a_body_that_is_not_json_stays_400() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let asso = app.register_verified("association").await;
    // An out-of-range limit is the same 422 on a list and on a search.
    for (path, token) in [
        ("/v1/items?limit=1000", &town.token),
        ("/v1/catalogue/search?limit=1000", &asso.token),
    ] {
        let r = app.get(path, Some(token)).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "limit", "{path}: {}", r.text);
        assert_eq!(r.body["errors"][0]["in"], "query");
        assert_eq!(r.body["errors"][0]["code"], "out_of_range");
        assert!(r.body["errors"][0].get("pointer").is_none(), "{}", r.text);
    }
    // A malformed id in the path, and an undeclared query parameter.
    let r = app
        .get("/v1/items/not-a-uuid?colour=grey", Some(&town.token))
        .await;
    r.assert_problem(422, "validation_failed");
    let mut got: Vec<(String, String, String)> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["in"].as_str().unwrap_or("").to_owned(),
                e["field"].as_str().unwrap_or("").to_owned(),
                e["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("path".into(), "id".into(), "invalid_format".into()),
            ("query".into(), "colour".into(), "unknown_field".into()),
        ]
    );
    // Without credentials, a protected operation answers 401 before looking at its input.
    let r = app.post("/v1/items", None, json!({ "colour": 1 })).await;
    r.assert_problem(401, "unauthenticated");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        r.headers
    );
    // A body that is not JSON at all.
    let r = app
        .client
        .post(app.url("/v1/items"))
        .bearer_auth(&town.token)
        .header("content-type", "application/json")
        .header("accept-language", "en")
        .body("{\"category\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("problem");
    assert_eq!(body["code"], "malformed_request");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("line 1")),
        "{body}"
    );
    assert_eq!(app.count("items").await, 0);
}
