//! Benchmarks run from the command line (`reemploi bench …`), writing their results to a file.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use reemploi_domain::organisation::{OrganisationKind, VerificationStatus};
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;

use crate::importer::{self, ImportOptions};
use crate::store::entities::organisation;

/// Peak resident memory of this process, in KiB (Linux), for the results file.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Writes `rows` generated devices in our template format.
fn generate(path: &Path, rows: u64) -> anyhow::Result<u64> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "{}", reemploi_domain::import::TEMPLATE_HEADER.join(";"))?;
    let kinds = [
        ("laptop", "Dell", "Latitude 5490", "8;256;ssd;14"),
        ("desktop", "HP", "ProDesk 600 G4", "16;512;ssd;"),
        ("monitor", "Iiyama", "ProLite XU2492HSU", ";;;24"),
        ("tablet", "Apple", "iPad 7e génération", "3;32;flash;10,2"),
        ("smartphone", "Samsung", "Galaxy A52", "6;128;flash;6,5"),
    ];
    for i in 0..rows {
        let (category, brand, model, specs) = kinds[(i % kinds.len() as u64) as usize];
        let (ram, rest) = specs.split_once(';').unwrap_or(("", ""));
        let (storage, rest) = rest.split_once(';').unwrap_or(("", ""));
        let (kind, screen) = rest.split_once(';').unwrap_or(("", ""));
        writeln!(
            f,
            "BENCH-{i:08};{category};{brand};{model};SN{i:010};POSTE-{i};Mairie > Accueil;20{:02}-{:02}-15;{},{:02};;{ram};{storage};{kind};{screen};;;",
            16 + i % 9,
            1 + i % 12,
            300 + i % 900,
            i % 100,
        )?;
    }
    f.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Imports `rows` generated devices into a fresh database and writes the throughput to `output`.
pub async fn import(rows: u64, database_url: Option<String>, output: &Path) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("reemploi-bench-{}", crate::store::new_id()));
    std::fs::create_dir_all(&dir)?;
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let db = crate::store::connect_url(&url, 5)
        .await
        .context("connecting")?;
    crate::store::migrate(&db).await.context("migrating")?;
    let org = crate::store::new_id();
    let now = crate::store::now();
    organisation::Entity::insert(organisation::ActiveModel {
        id: Set(org),
        kind: Set(OrganisationKind::PublicBody.as_str().into()),
        name: Set("Banc d'essai".into()),
        siren: Set(None),
        siret: Set(None),
        rna: Set(None),
        insee_code: Set("41230".into()),
        departement: Set("41".into()),
        address: Set("1 place".into()),
        postcode: Set("41000".into()),
        city: Set("Saint-Ouen-sur-Loire".into()),
        latitude: Set(None),
        longitude: Set(None),
        contact_email: Set(None),
        phone: Set(None),
        status: Set(VerificationStatus::Verified.as_str().into()),
        status_reason: Set(None),
        public_body_type: Set(Some("commune".into())),
        esus_reference: Set(None),
        esus_expires_on: Set(None),
        beneficiary_category: Set(None),
        public_utility: Set(false),
        statutory_purpose: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&db)
    .await?;
    let file = dir.join("inventory.csv");
    let bytes = generate(&file, rows)?;
    let opts = ImportOptions {
        organisation_id: org,
        actor_ref: "system".into(),
        dry_run: false,
        partial: false,
        today: chrono::Utc::now().date_naive(),
    };
    let start = Instant::now();
    let report = importer::run(&db, &file, &opts, &|_, _| {})
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.committed && report.created == rows,
        "import did not create every row: {report:?}"
    );
    let result = serde_json::json!({
        "benchmark": "item_import",
        "database": backend,
        "rows": rows,
        "file_bytes": bytes,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "rows_per_second": (rows as f64 / seconds).round(),
        "peak_rss_mib": peak_rss_kib().map(|k| k / 1024),
        "target_rows_per_second": 10000,
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    db.close().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
