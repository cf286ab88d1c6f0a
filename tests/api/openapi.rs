//! The committed spec matches the code, and every operation declares who may call it.

use std::collections::BTreeSet;

use crate::helpers::spawn_app_with;

fn committed_spec_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.yaml")
}

fn generated_spec() -> String {
    let settings = reemploi_api::config::Settings::from_vars(|_| None).expect("default settings");
    let state = reemploi_api::state::AppState::new(
        sea_orm::DatabaseConnection::default(),
        settings,
        reemploi_api::blobs::Blobs::Local(reemploi_api::blobs::LocalBlobs::detached()),
        reemploi_api::search::Search::Embedded(std::sync::Arc::new(
            reemploi_api::search::embedded::Embedded::in_ram().expect("in-memory search"),
        )),
    );
    reemploi_api::http::spec_yaml(&reemploi_api::http::service(&state))
}

#[test]
fn the_committed_spec_matches_the_code() {
    let generated = generated_spec();
    let committed = std::fs::read_to_string(committed_spec_path()).unwrap_or_default();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(committed_spec_path(), &generated).expect("write spec");
        return;
    }
    assert!(
        committed == generated,
        "openapi/openapi.yaml is out of date: run `cargo run -p reemploi-api -- openapi --output openapi/openapi.yaml` \
         (or UPDATE_OPENAPI=1 cargo test the_committed_spec_matches_the_code)"
    );
}

#[test]
fn every_operation_has_an_id_summary_tag_and_access_declaration() {
    let spec: serde_yaml::Value = serde_yaml::from_str(&generated_spec()).expect("yaml");
    let paths = spec["paths"].as_mapping().expect("paths");
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_mapping().expect("path item") {
            let where_ = format!("{method:?} {path:?}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{where_} has no operationId"));
            assert!(ids.insert(id.to_owned()), "{id} is used twice");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id} has no summary"
            );
            assert!(
                op["tags"].as_sequence().is_some_and(|t| !t.is_empty()),
                "{id} has no tag"
            );
            assert!(
                op["x-access"].is_mapping(),
                "{id} declares no access rule in api/src/http/access.rs"
            );
            let public = op["x-access"]["public"].as_bool().unwrap_or(false);
            let secured = op["security"].as_sequence().is_some_and(|s| !s.is_empty());
            assert_eq!(
                public, !secured,
                "{id}: public operations take no token, others require one"
            );
        }
    }
    // Every rule of the table belongs to an existing operation.
    for (op, _) in reemploi_api::http::access::RULES {
        assert!(ids.contains(*op), "access rule for unknown operation {op}");
    }
}

#[tokio::test]
async fn anonymous_callers_get_401_on_every_operation_that_is_not_public() {
    // More operations than the default anonymous budget of a minute: raise it for this walk.
    let app = spawn_app_with(&[("REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE", "1000")]).await;
    let spec: serde_json::Value = app.get("/openapi.json", None).await.body;
    let nil = "00000000-0000-0000-0000-000000000000";
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if op["x-access"]["public"] == true {
                continue;
            }
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { nil } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = matches!(method, reqwest::Method::POST | reqwest::Method::PUT)
                .then(|| serde_json::json!({}));
            let r = app.send(method.clone(), &concrete, None, body, &[]).await;
            assert_eq!(r.status, 401, "{method} {path} answered {}", r.text);
            r.assert_problem(401, "unauthenticated");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations checked");
}

/// What generated clients read: filters that may be left out are optional, the idempotency
/// header is offered only where it acts (POST), and Redocly's rules on `nullable` hold.
#[test]
fn optional_filters_the_idempotency_header_and_nullable_references_say_what_the_service_does() {
    let spec: serde_yaml::Value = serde_yaml::from_str(&generated_spec()).expect("yaml");
    let mut required = std::collections::BTreeMap::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        for (method, op) in item.as_mapping().expect("path item") {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(op["security"].is_sequence(), "{id} declares its security");
            for p in op["parameters"].as_sequence().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or_default();
                if name.eq_ignore_ascii_case("idempotency-key") {
                    assert_eq!(
                        method.as_str(),
                        Some("post"),
                        "{id} ({path:?}) offers Idempotency-Key"
                    );
                }
                required.insert(
                    (id.clone(), name.to_owned()),
                    p["required"].as_bool().unwrap_or(false),
                );
            }
        }
    }
    for (op, name) in [
        ("search_catalogue", "category"),
        ("search_catalogue", "grade"),
        ("search_catalogue", "brand"),
        ("search_catalogue", "departement"),
        ("search_lots", "category"),
        ("search_lots", "departement"),
    ] {
        assert_eq!(
            required.get(&(op.to_owned(), name.to_owned())),
            Some(&false),
            "{op}: {name} is optional"
        );
    }
    assert_eq!(
        required.get(&("submit_batch_wipe_report".to_owned(), "item_id".to_owned())),
        Some(&true),
        "the batch wipe report needs its devices"
    );
    // Every `nullable` has a `type` beside it (OpenAPI 3.0), none hides inside an `allOf`.
    fn walk(v: &serde_yaml::Value, at: &str) {
        if let Some(map) = v.as_mapping() {
            if map.contains_key("nullable") {
                assert!(map.contains_key("type"), "{at}: nullable without type");
            }
            for (k, child) in map {
                walk(child, &format!("{at}/{}", k.as_str().unwrap_or("?")));
            }
        } else if let Some(items) = v.as_sequence() {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{at}/{i}"));
            }
        }
    }
    walk(&spec, "#");
}

/// Each operation declares the media types it serves: JSON and CSV where `format` chooses,
/// `application/pdf` for every PDF (the HTTP tests check the served `Content-Type`).
#[test]
fn operations_declare_the_media_types_they_serve() {
    let spec: serde_yaml::Value = serde_yaml::from_str(&generated_spec()).expect("yaml");
    let mut media = std::collections::BTreeMap::new();
    for (_, item) in spec["paths"].as_mapping().expect("paths") {
        for (_, op) in item.as_mapping().expect("path item") {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            let types: Vec<String> = op["responses"]["200"]["content"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.as_str().map(str::to_owned))
                .collect();
            media.insert(id, types);
        }
    }
    for id in ["get_impact_report", "get_open_data"] {
        let types = &media[id];
        assert!(
            types.iter().any(|t| t.starts_with("application/json"))
                && types.iter().any(|t| t.starts_with("text/csv")),
            "{id}: {types:?}"
        );
    }
    for id in [
        "get_document_pdf",
        "print_item_labels",
        "get_lot_labels",
        "get_verification_document",
        "get_yearly_report",
    ] {
        assert_eq!(media[id], vec!["application/pdf".to_owned()], "{id}");
    }
    for schema in ["ImpactReport", "OpenData"] {
        assert!(
            spec["components"]["schemas"][schema].is_mapping(),
            "{schema} is declared"
        );
    }
}

/// Partial updates are one way across the API: `PATCH` with a JSON Merge Patch whose schema
/// requires nothing, and no `PUT` replaces a profile, a site, a device or a lot.
#[test]
fn profiles_sites_and_devices_are_updated_by_merge_patch() {
    let spec: serde_yaml::Value = serde_yaml::from_str(&generated_spec()).expect("yaml");
    for (path, schema) in [
        ("/v1/organisations/{id}", "OrganisationProfilePatch"),
        ("/v1/organisations/{id}/sites/{site_id}", "SiteRequestPatch"),
        ("/v1/items/{id}", "ItemRequestPatch"),
        ("/v1/lots/{id}", "LotRequestPatch"),
    ] {
        let item = &spec["paths"][path];
        assert!(item["put"].is_null(), "{path} has no PUT");
        let content = &item["patch"]["requestBody"]["content"];
        for media in ["application/merge-patch+json", "application/json"] {
            assert_eq!(
                content[media]["schema"]["$ref"].as_str(),
                Some(format!("#/components/schemas/{schema}").as_str()),
                "{path} {media}"
            );
        }
        let declared = &spec["components"]["schemas"][schema];
        assert!(declared["properties"].is_mapping(), "{schema}");
        assert!(declared["required"].is_null(), "{schema} requires nothing");
    }
}

/// Every operation shows what it answers, every JSON body and every path or query parameter
/// what it takes, and each example fits its schema (checked by the service's own validator, so
/// an example cannot drift from the schema it illustrates).
#[test]
fn every_operation_has_examples_that_fit_their_schemas() {
    let spec: serde_json::Value = serde_yaml::from_str(&generated_spec()).expect("yaml");
    let missing = reemploi_api::http::examples::missing(&spec);
    assert!(
        missing.is_empty(),
        "fields without an example value (api/src/http/examples.rs): {missing:?}"
    );
    let validator = reemploi_api::http::validation::Operations::from_spec(&spec);
    let mut checked = 0;
    let mut fits = |what: &str, example: &serde_json::Value, schema: &serde_json::Value| {
        let wrong = validator.check_value(example, schema);
        assert!(
            wrong.is_empty(),
            "{what}: the example does not fit: {wrong:?}\n{example}"
        );
        checked += 1;
    };
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = format!("{method} {path} ({})", op["operationId"]);
            for p in op["parameters"].as_array().into_iter().flatten() {
                if matches!(p["in"].as_str(), Some("path" | "query")) {
                    let name = &p["name"];
                    assert!(
                        !p["example"].is_null(),
                        "{id}: parameter {name} has no example"
                    );
                    fits(&format!("{id} {name}"), &p["example"], &p["schema"]);
                }
            }
            for (media_type, media) in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if media_type.contains("json") {
                    assert!(
                        !media["example"].is_null(),
                        "{id}: {media_type} body has no example"
                    );
                    fits(&format!("{id} body"), &media["example"], &media["schema"]);
                }
            }
            let mut answered = 0;
            for (status, response) in op["responses"].as_object().expect("responses") {
                for (media_type, media) in response["content"].as_object().into_iter().flatten() {
                    let what = format!("{id} {status} {media_type}");
                    if !media["example"].is_null() {
                        fits(&what, &media["example"], &media["schema"]);
                        answered += 1;
                    }
                    for named in media["examples"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|e| e.1)
                    {
                        let reference = named["$ref"].as_str().expect("a shared example");
                        let shared = spec
                            .pointer(&reference.replacen('#', "", 1))
                            .unwrap_or_else(|| panic!("{what}: {reference} is not declared"));
                        fits(&what, &shared["value"], &media["schema"]);
                        answered += 1;
                    }
                    if media_type.contains("json") {
                        assert!(
                            !media["example"].is_null() || media["examples"].is_object(),
                            "{what} has no example"
                        );
                    }
                }
            }
            assert!(answered > 0, "{id} shows no example answer");
        }
    }
    assert!(checked > 500, "only {checked} examples checked");
}

/// The examples are ones the service takes: the registration example registers a body.
#[tokio::test]
async fn the_registration_example_is_accepted_as_it_stands() {
    let app = crate::helpers::spawn_app().await;
    let spec: serde_json::Value = app.get("/openapi.json", None).await.body;
    let example = spec["paths"]["/v1/organisations"]["post"]["requestBody"]["content"]
        ["application/json"]["example"]
        .clone();
    assert!(example.is_object(), "{example}");
    let r = app.post("/v1/organisations", None, example).await;
    assert_eq!(r.status, 201, "{}", r.text);
}
