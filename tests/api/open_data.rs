//! Open data that others can ingest: the Table Schema and Data Package served are the committed
//! ones, the CSV follows its schema (checked by `frictionless validate` on data the scenario
//! produced), and each territory's yearly snapshot has a stable address.

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// The environment variable naming the `frictionless` command (set by infra/scripts/test.sh).
const FRICTIONLESS_VAR: &str = "REEMPLOI_TEST_FRICTIONLESS";

fn committed(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/open-data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Validates the served open data (the whole table) with `frictionless validate` against the
/// served Data Package and schema, and answers the CSV. Says SKIPPED when frictionless is not
/// configured.
pub async fn validate_open_data(app: &TestApp) -> String {
    let csv = app.get("/v1/open-data/impact.csv", None).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let Some(frictionless) = std::env::var(FRICTIONLESS_VAR)
        .ok()
        .filter(|p| !p.trim().is_empty())
    else {
        eprintln!(
            "SKIPPED: validation of the open-data CSV with frictionless ({FRICTIONLESS_VAR} is not set; infra/scripts/test.sh sets it)"
        );
        return csv.text;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, body) in [
        (
            "datapackage.json",
            app.get("/v1/open-data/datapackage.json", None).await.text,
        ),
        (
            "impact.schema.json",
            app.get("/v1/open-data/impact.schema.json", None).await.text,
        ),
        ("impact.csv", csv.text.clone()),
    ] {
        std::fs::write(dir.path().join(name), body).expect("write");
    }
    let out = std::process::Command::new(&frictionless)
        .current_dir(dir.path())
        .args(["validate", "datapackage.json", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{frictionless}: {e}"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        report["valid"],
        true,
        "frictionless refused the open data: {}\n{}\nCSV:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        csv.text
    );
    let rows = report["tasks"][0]["stats"]["rows"].as_u64().unwrap_or(0);
    assert_eq!(
        rows as usize,
        csv.text.lines().count() - 1,
        "every row was checked"
    );
    csv.text
}

#[tokio::test]
async fn the_served_schema_and_data_package_are_the_committed_ones() {
    let app = spawn_app().await;
    for (path, file) in [
        ("/v1/open-data/impact.schema.json", "impact.schema.json"),
        ("/v1/open-data/datapackage.json", "datapackage.json"),
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(
            r.text,
            committed(file),
            "{path} differs from docs/open-data/{file}"
        );
    }
    let package: Value = serde_json::from_str(&committed("datapackage.json")).expect("json");
    assert_eq!(package["licenses"][0]["name"], "etalab-2.0");
    let resource = &package["resources"][0];
    assert_eq!(
        (resource["path"].as_str(), resource["schema"].as_str()),
        (Some("impact.csv"), Some("impact.schema.json"))
    );
    assert_eq!(resource["dialect"]["delimiter"], ",");
    // The schema names exactly the CSV's columns, in order, each described in French.
    let schema: Value = serde_json::from_str(&committed("impact.schema.json")).expect("json");
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    let csv = app.get("/v1/open-data/impact.csv", None).await;
    let header: Vec<&str> = csv
        .text
        .lines()
        .next()
        .unwrap_or_default()
        .split(',')
        .collect();
    assert_eq!(fields, header);
    for f in schema["fields"].as_array().expect("fields") {
        assert!(
            f["description"].as_str().is_some_and(|d| d.len() > 20),
            "{f}"
        );
    }
    let code = schema["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == "code"))
        .expect("code field");
    assert_eq!(code["type"], "string", "INSEE codes are strings");
}

#[tokio::test]
async fn a_territorys_yearly_snapshot_has_a_stable_address() {
    let app = spawn_app().await;
    let r = app
        .get("/v1/open-data/impact/departement/41/2026", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.text.lines().next(),
        Some(
            "niveau,code,nom,annee,donnes,recycles,co2e_evite_kg,kg_reemployes,kg_recycles,version_facteurs"
        )
    );
    assert!(
        r.header("content-disposition")
            .is_some_and(|d| d.contains("reemploi-impact-departement-41-2026.csv"))
    );
    app.get("/v1/open-data/impact/canton/41/2026", None)
        .await
        .assert_problem(422, "validation_failed");
    app.get("/v1/open-data/impact/departement/41/1900", None)
        .await
        .assert_problem(422, "validation_failed");
}
