//! Backups: taken while the service runs, restored into a fresh data directory, and served
//! again by a second service with the same data, blobs, signatures and verifiable histories.

use reemploi_api::backup;
use reemploi_api::config::Settings;
use serde_json::{Value, json};

use crate::helpers::{TestApp, chain_at, spawn_app, spawn_app_with};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

/// Settings naming a SQLite deployment in `dir`, as `reemploi restore` would read them.
fn sqlite_in(dir: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("REEMPLOI_DATA_DIR".into(), dir.display().to_string()),
        (
            "DATABASE_URL".into(),
            format!("sqlite://{}?mode=rwc", dir.join("reemploi.db").display()),
        ),
    ]
}

fn settings_of(vars: &[(String, String)]) -> Settings {
    Settings::from_vars(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .expect("settings")
}

async fn item_history(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .get(&format!("/v1/items/{id}/events/verify"), Some(token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[tokio::test]
async fn a_backup_taken_while_running_restores_into_a_service_that_serves_and_verifies_the_same_data()
 {
    let app = spawn_app().await;
    let taken = tempfile::tempdir().expect("temp dir");
    let to = taken.path().join("backup");
    if app.backend != "sqlite" {
        // The database is not ours to copy: the backup says so, and still keeps the key and blobs.
        let manifest = backup::backup(&app.settings, &to)
            .await
            .expect("backup on PostgreSQL");
        assert!(!manifest.included.contains(&"database".to_owned()));
        assert!(
            manifest
                .not_included
                .iter()
                .any(|n| n.starts_with("database:") && n.contains("pg_dump")),
            "{:?}",
            manifest.not_included
        );
        assert!(manifest.included.contains(&"checkpoint_key".to_owned()));
        eprintln!("SKIPPED: the restore round trip runs on SQLite only (PostgreSQL: pg_dump)");
        return;
    }
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let devices: Vec<Value> = (1..=3)
        .map(|n| json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "serial_number": format!("SN-BAK-{n}"), "has_data_storage": true }))
        .collect();
    let ids = app.make_available(&chain, &devices).await;
    app.settle().await;
    let lot = app
        .get(&format!("/v1/items/{}", ids[0]), Some(&chain.town.token))
        .await
        .body["lot_id"]
        .as_str()
        .expect("lot")
        .to_owned();
    let documents = app
        .get(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
        )
        .await;
    let convention = documents.body["items"]
        .as_array()
        .and_then(|l| l.iter().find(|d| d["kind"] == "convention_cession"))
        .cloned()
        .expect("a convention");
    // Both parties sign: the legal document whose PDF is a blob.
    let (half, signed) = app
        .sign_by_both(&chain, convention["id"].as_str().expect("id"))
        .await;
    assert_eq!(half.status, 201, "{}", half.text);
    assert_eq!(signed.body["signed"], true, "{}", signed.text);
    let signed_id = signed.body["id"].as_str().expect("id").to_owned();
    let code = signed.body["code"].as_str().expect("code").to_owned();
    let pdf = app.pdf(&signed_id, &chain.town.token).await;
    let checkpoint = app
        .post("/v1/checkpoints", Some(&chain.operator), json!({}))
        .await;
    assert_eq!(checkpoint.status, 201, "{}", checkpoint.text);
    let item = app
        .get(&format!("/v1/items/{}", ids[0]), Some(&chain.town.token))
        .await
        .body;
    let history = item_history(&app, &chain.town.token, &ids[0]).await;
    assert_eq!(history["valid"], true, "{history}");
    let events = app.count("events").await;
    let blobs_on_disk = walk(&app.settings.data_dir.join("blobs"));

    // Taken while the service runs, and it keeps serving.
    let started = std::time::Instant::now();
    let manifest = backup::backup(&app.settings, &to).await.expect("backup");
    eprintln!(
        "backup: {} files, {} bytes in {:?}",
        manifest.files.len(),
        manifest.total_bytes,
        started.elapsed()
    );
    assert_eq!(
        manifest.included,
        ["database", "blobs", "checkpoint_key"].map(str::to_owned)
    );
    assert_eq!(app.get("/health/live", None).await.status, 200);
    let in_backup: Vec<String> = manifest
        .files
        .iter()
        .filter_map(|f| f.path.strip_prefix("blobs/").map(str::to_owned))
        .collect();
    assert_eq!(in_backup, blobs_on_disk, "every blob file, and only them");
    assert!(
        blobs_on_disk.iter().any(|b| b.ends_with(".pdf")),
        "{blobs_on_disk:?}"
    );
    assert!(manifest.summary().contains("NOT included: search index"));
    let again = backup::backup(&app.settings, &to).await;
    assert!(
        again
            .expect_err("refused")
            .to_string()
            .contains("is not empty"),
        "a non-empty directory is refused"
    );

    // A tampered copy is refused before anything is written.
    let tampered = taken.path().join("tampered");
    copy_dir(&to, &tampered);
    let pdf_in_backup = manifest
        .files
        .iter()
        .find(|f| f.path.ends_with(".pdf"))
        .expect("a PDF in the backup");
    let path = tampered.join(&pdf_in_backup.path);
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).expect("tamper");
    let fresh = tempfile::tempdir().expect("temp dir");
    let refused = backup::restore(&settings_of(&sqlite_in(fresh.path())), &tampered, false)
        .expect_err("a tampered backup is refused");
    assert!(
        refused.to_string().contains(&pdf_in_backup.path)
            && refused.to_string().contains("does not match the manifest"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_dir(fresh.path()).map(|d| d.count()).ok(),
        Some(0)
    );

    // Restored into a fresh directory; a second restore over it needs --force.
    let restored = tempfile::tempdir().expect("temp dir");
    let vars = sqlite_in(restored.path());
    backup::restore(&settings_of(&vars), &to, false).expect("restore");
    let twice = backup::restore(&settings_of(&vars), &to, false).expect_err("refused");
    assert!(twice.to_string().contains("--force"), "{twice}");
    backup::restore(&settings_of(&vars), &to, true).expect("forced restore");
    assert_eq!(walk(&restored.path().join("blobs")), blobs_on_disk);

    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let second = spawn_app_with(&vars).await;
    assert_eq!(second.count("events").await, events);
    let read_back = second
        .get(&format!("/v1/items/{}", ids[0]), Some(&chain.town.token))
        .await;
    assert_eq!(
        read_back.status, 200,
        "sessions are restored too: {}",
        read_back.text
    );
    assert_eq!(read_back.body, item);
    assert_eq!(second.pdf(&signed_id, &chain.town.token).await, pdf);
    let public = second.get(&format!("/v1/verify/{code}"), None).await;
    assert_eq!(public.status, 200, "{}", public.text);
    assert_eq!(public.body["signed"], true);
    assert_eq!(public.body["sha256"], signed.body["sha256"]);
    assert_eq!(
        item_history(&second, &chain.town.token, &ids[0]).await,
        history
    );
    // The restored key is the service's key: the checkpoint verifies as its own.
    let check = second
        .post("/v1/checkpoints/verify", None, checkpoint.body.clone())
        .await;
    assert_eq!(check.status, 200, "{}", check.text);
    assert_eq!(check.body["valid"], true, "{}", check.text);
    assert_eq!(check.body["key_is_current"], true, "{}", check.text);
    let key = second.get("/v1/checkpoints/key", None).await;
    assert_eq!(key.body["public_key"], checkpoint.body["public_key"]);
}

/// Files under `dir`, relative, sorted.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("inside");
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for rel in walk(from) {
        let target = to.join(&rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from.join(&rel), target).expect("copy");
    }
}
