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

/// Inserts a verified public body for a benchmark.
async fn bench_organisation(
    db: &sea_orm::DatabaseConnection,
    name: &str,
) -> anyhow::Result<uuid::Uuid> {
    let org = crate::store::new_id();
    let now = crate::store::now();
    organisation::Entity::insert(organisation::ActiveModel {
        id: Set(org),
        kind: Set(OrganisationKind::PublicBody.as_str().into()),
        name: Set(name.into()),
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
        fair_share_cap: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(org)
}

/// Latencies of one kind of concurrent request during an import, in ms.
#[derive(Default)]
struct Waits(Vec<f64>);

impl Waits {
    fn summary(mut self) -> serde_json::Value {
        self.0.sort_by(f64::total_cmp);
        serde_json::json!({
            "requests": self.0.len(),
            "p50_ms": round3(percentile(&self.0, 50.0)),
            "p99_ms": round3(percentile(&self.0, 99.0)),
            "worst_ms": round3(self.0.last().copied().unwrap_or_default()),
        })
    }
}

/// Imports the file for `org` while a writer (a write transaction on another body's row, as any
/// command takes) and a reader (a page of another body's devices) run every 20 ms; returns the
/// import's seconds and both sides' waits.
async fn import_under_load(
    db: &sea_orm::DatabaseConnection,
    blobs: &crate::blobs::Blobs,
    file: &Path,
    opts: &ImportOptions,
    neighbour: uuid::Uuid,
) -> anyhow::Result<(f64, serde_json::Value, serde_json::Value)> {
    use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect};
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let pause = std::time::Duration::from_millis(20);
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut waits = Waits::default();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let tx = crate::store::tx::Tx::begin(&db).await?;
                tx.execute_raw(sea_orm::Statement::from_sql_and_values(
                    db.get_database_backend(),
                    match db.get_database_backend() {
                        sea_orm::DbBackend::Postgres => {
                            "UPDATE organisations SET version = version + 1 WHERE id = $1"
                        }
                        _ => "UPDATE organisations SET version = version + 1 WHERE id = ?",
                    },
                    [neighbour.into()],
                ))
                .await?;
                tx.event(crate::store::events::NewEvent {
                    stream: crate::store::events::organisation_stream(neighbour),
                    organisation_id: Some(neighbour),
                    actor: "system".into(),
                    kind: "profile_updated",
                    payload: serde_json::json!({ "organisation_id": neighbour }),
                })
                .await?;
                tx.commit().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
                waits.0.push(t.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(pause).await;
            }
            Ok::<_, anyhow::Error>(waits)
        })
    };
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut waits = Waits::default();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                crate::store::entities::item::Entity::find()
                    .filter(crate::store::entities::item::Column::OrganisationId.eq(neighbour))
                    .limit(20)
                    .all(&db)
                    .await?;
                waits.0.push(t.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(pause).await;
            }
            Ok::<_, anyhow::Error>(waits)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let start = Instant::now();
    let report = importer::run(db, blobs, file, opts, &|_, _| {}, None).await;
    let seconds = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await??;
    let reads = reader.await??;
    let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        report.committed && report.created == opts.max_rows,
        "import did not create every row: {report:?}"
    );
    Ok((seconds, writes.summary(), reads.summary()))
}

/// The tables an import writes, in the order it writes them, each with a query of the rows it
/// wrote for a body: `{src}` is the source database's prefix, `{org}` the body's id (a bound
/// parameter on SQLite, a literal on PostgreSQL's `COPY`, which takes none).
const IMPORTED_ROWS: [(&str, &str); 4] = [
    (
        "items",
        "SELECT * FROM {src}items WHERE organisation_id = {org}",
    ),
    (
        "events",
        "SELECT * FROM {src}events WHERE organisation_id = {org} AND kind = 'item_registered'",
    ),
    (
        "event_streams",
        "SELECT * FROM {src}event_streams WHERE stream IN \
         (SELECT stream FROM {src}events WHERE organisation_id = {org} AND kind = 'item_registered')",
    ),
    (
        "storage_media",
        "SELECT * FROM {src}storage_media WHERE item_id IN \
         (SELECT id FROM {src}items WHERE organisation_id = {org})",
    ),
];

/// The bulk baseline of an import: the very rows it wrote for `org` (devices, the first events
/// of their chains, the chain heads and storage media) written again, in one transaction, into
/// a fresh database of the same schema (indexes, constraints and foreign keys included), the
/// fastest way the database offers: `COPY … FROM STDIN` on PostgreSQL, `INSERT … SELECT` from
/// staged tables on SQLite. Reading the rows and staging them is not timed. Returns the seconds
/// of the timed write and the rows it wrote.
async fn bulk_baseline(
    db: &sea_orm::DatabaseConnection,
    org: uuid::Uuid,
    dir: &Path,
) -> anyhow::Result<(f64, u64)> {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => copy_baseline(db, org).await,
        _ => insert_select_baseline(db, org, dir).await,
    }
}

async fn insert_select_baseline(
    db: &sea_orm::DatabaseConnection,
    org: uuid::Uuid,
    dir: &Path,
) -> anyhow::Result<(f64, u64)> {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let source = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let path = dir.join(format!("baseline-{}.db", crate::store::new_id()));
    // One connection: the attached database and the staged tables belong to it.
    let fresh = crate::store::connect_url(&format!("sqlite://{}?mode=rwc", path.display()), 1)
        .await
        .context("opening the baseline database")?;
    crate::store::migrate(&fresh).await?;
    let quoted = source.display().to_string().replace('\'', "''");
    fresh
        .execute_unprepared(&format!("ATTACH DATABASE '{quoted}' AS src"))
        .await?;
    fresh
        .execute_unprepared("INSERT INTO main.organisations SELECT * FROM src.organisations")
        .await?;
    for (table, select) in IMPORTED_ROWS {
        let select = select.replace("{src}", "src.").replace("{org}", "?");
        let binds = select.matches('?').count();
        fresh
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                format!("CREATE TEMP TABLE \"staged_{table}\" AS {select}"),
                std::iter::repeat_n(sea_orm::Value::from(org), binds),
            ))
            .await?;
    }
    fresh.execute_unprepared("DETACH DATABASE src").await?;
    let start = Instant::now();
    let txn = fresh.begin().await?; // baseline copy: the rows carry their events already
    let mut rows = 0;
    for (table, _) in IMPORTED_ROWS {
        rows += txn
            .execute_unprepared(&format!(
                "INSERT INTO main.\"{table}\" SELECT * FROM temp.\"staged_{table}\""
            ))
            .await?
            .rows_affected();
    }
    txn.commit().await?;
    let seconds = start.elapsed().as_secs_f64();
    fresh.close().await.ok();
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
    }
    Ok((seconds, rows))
}

async fn copy_baseline(
    db: &sea_orm::DatabaseConnection,
    org: uuid::Uuid,
) -> anyhow::Result<(f64, u64)> {
    use sea_orm::ConnectionTrait;
    use sea_orm::sqlx::Connection;
    let pool = db.get_postgres_connection_pool();
    // The rows, as `COPY` text, read from the database the import wrote.
    let mut copied: Vec<(&str, Vec<u8>)> = Vec::new();
    {
        let mut conn = pool.acquire().await?;
        let select = |sql: &str| {
            sql.replace("{src}", "")
                .replace("{org}", &format!("'{org}'"))
        };
        let mut tables = vec![("organisations", "SELECT * FROM organisations".to_owned())];
        tables.extend(IMPORTED_ROWS.iter().map(|(t, s)| (*t, select(s))));
        for (table, select) in tables {
            let mut out = Vec::new();
            let mut stream = conn
                .copy_out_raw(&format!("COPY ({select}) TO STDOUT"))
                .await?;
            while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                out.extend_from_slice(&chunk?);
            }
            copied.push((table, out));
        }
    }
    // A fresh database of the same schema, dropped afterwards.
    let name = format!(
        "reemploi_bench_baseline_{}",
        crate::store::new_id().simple()
    );
    db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    let measured = async {
        let opts = (*pool.connect_options()).clone().database(&name);
        let fresh_pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        let fresh = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(fresh_pool.clone());
        crate::store::migrate(&fresh).await?;
        let mut conn = fresh_pool.acquire().await?;
        let (_, organisations) = &copied[0];
        let mut copy = conn.copy_in_raw("COPY organisations FROM STDIN").await?;
        copy.send(organisations.as_slice()).await?;
        copy.finish().await?;
        let start = Instant::now();
        let mut tx = conn.begin().await?; // baseline copy: the rows carry their events already
        let mut rows = 0;
        for (table, data) in &copied[1..] {
            let mut copy = tx
                .copy_in_raw(&format!("COPY \"{table}\" FROM STDIN"))
                .await?;
            copy.send(data.as_slice()).await?;
            rows += copy.finish().await?;
        }
        tx.commit().await?;
        let seconds = start.elapsed().as_secs_f64();
        drop(conn);
        fresh_pool.close().await;
        Ok::<_, anyhow::Error>((seconds, rows))
    }
    .await;
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    measured
}

/// Imports `rows` generated devices into a fresh database, while a writer and a reader run, and
/// writes the throughput and their worst waits to `output`. On SQLite the import is run twice,
/// each on a fresh file: as it is (staged), then written in one transaction, the way it was
/// before staging, as the baseline.
pub async fn import(rows: u64, database_url: Option<String>, output: &Path) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("reemploi-bench-{}", crate::store::new_id()));
    std::fs::create_dir_all(&dir)?;
    let backend = match &database_url {
        Some(url) if !url.starts_with("sqlite:") => "postgres",
        _ => "sqlite",
    };
    let file = dir.join("inventory.csv");
    let bytes = generate(&file, rows)?;
    let blobs = crate::blobs::Blobs::Local(crate::blobs::LocalBlobs::new(
        &dir.join("blobs"),
        "http://127.0.0.1",
    )?);
    let runs: &[bool] = if backend == "sqlite" {
        &[false, true]
    } else {
        &[false]
    };
    let mut measured = Vec::new();
    let mut bulk = None;
    for (n, &one_transaction) in runs.iter().enumerate() {
        let url = database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("bench-{n}.db")).display()
            )
        });
        let db = crate::store::connect_url(&url, 5)
            .await
            .context("connecting")?;
        crate::store::migrate(&db).await.context("migrating")?;
        let org = bench_organisation(&db, "Banc d'essai").await?;
        let neighbour = bench_organisation(&db, "Commune voisine").await?;
        let opts = ImportOptions {
            organisation_id: org,
            actor_ref: "system".into(),
            dry_run: false,
            partial: false,
            today: chrono::Utc::now().date_naive(),
            max_rows: rows,
            one_transaction,
        };
        let (seconds, writer, reader) =
            import_under_load(&db, &blobs, &file, &opts, neighbour).await?;
        if n == 0 {
            let (bulk_seconds, bulk_rows) = bulk_baseline(&db, org, &dir).await?;
            bulk = Some(serde_json::json!({
                "write": if backend == "postgres" { "COPY … FROM STDIN, one transaction" } else { "INSERT … SELECT from staged tables, one transaction" },
                "seconds": round3(bulk_seconds),
                "table_rows": bulk_rows,
                "rows_per_second": (rows as f64 / bulk_seconds).round(),
                "import_over_bulk": round3(bulk_seconds / seconds),
            }));
        }
        measured.push(serde_json::json!({
            "write": if one_transaction { "one transaction (baseline)" } else if backend == "sqlite" { "staged" } else { "one transaction" },
            "seconds": round3(seconds),
            "rows_per_second": (rows as f64 / seconds).round(),
            "concurrent_writer": writer,
            "concurrent_reader": reader,
        }));
        db.close().await.ok();
    }
    let main = measured.first().cloned().unwrap_or_default();
    let result = serde_json::json!({
        "benchmark": "item_import",
        "database": backend,
        "rows": rows,
        "file_bytes": bytes,
        "seconds": main["seconds"],
        "rows_per_second": main["rows_per_second"],
        "concurrent_writer_worst_ms": main["concurrent_writer"]["worst_ms"],
        "concurrent_reader_worst_ms": main["concurrent_reader"]["worst_ms"],
        "runs": measured,
        "bulk_baseline": bulk.clone(),
        "import_over_bulk": bulk.as_ref().map(|b| b["import_over_bulk"].clone()),
        "target_import_over_bulk": 0.5,
        "peak_rss_mib": peak_rss_kib().map(|k| k / 1024),
        "target_rows_per_second": 10000,
        "target_worst_wait_ms": 1000,
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// A small deterministic generator (SplitMix64), so every run indexes the same documents.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// French towns (name, département, latitude, longitude) the generated devices are spread around.
const TOWNS: &[(&str, &str, f64, f64)] = &[
    ("Blois", "41", 47.5861, 1.3359),
    ("Tours", "37", 47.3941, 0.6848),
    ("Orléans", "45", 47.9030, 1.9093),
    ("Paris", "75", 48.8566, 2.3522),
    ("Lyon", "69", 45.7640, 4.8357),
    ("Marseille", "13", 43.2965, 5.3698),
    ("Lille", "59", 50.6292, 3.0573),
    ("Nantes", "44", 47.2184, -1.5536),
    ("Bordeaux", "33", 44.8378, -0.5792),
    ("Toulouse", "31", 43.6047, 1.4442),
    ("Strasbourg", "67", 48.5734, 7.7521),
    ("Rennes", "35", 48.1173, -1.6778),
    ("Ajaccio", "2A", 41.9192, 8.7386),
    ("Limoges", "87", 45.8336, 1.2611),
    ("Dijon", "21", 47.3220, 5.0415),
];

/// A generated catalogue device.
fn bench_document(g: &mut Mix) -> crate::search::Document {
    use crate::search::{Document, GeoPoint};
    use reemploi_domain::item::Category;
    // (category, (brand, model) choices, RAM GB, storage GB, screen inches); 0 means none.
    type Kind = (
        Category,
        &'static [(&'static str, &'static str)],
        f64,
        f64,
        f64,
    );
    let kinds: &[Kind] = &[
        (
            Category::Laptop,
            &[
                ("Dell", "Latitude 5490"),
                ("Lenovo", "ThinkPad T480"),
                ("HP", "EliteBook 840 G5"),
            ],
            8.0,
            256.0,
            14.0,
        ),
        (
            Category::Desktop,
            &[
                ("HP", "ProDesk 600 G4"),
                ("Dell", "OptiPlex 7060"),
                ("Lenovo", "ThinkCentre M720q"),
            ],
            16.0,
            512.0,
            0.0,
        ),
        (
            Category::Monitor,
            &[
                ("Iiyama", "ProLite XU2492HSU"),
                ("Dell", "P2419H"),
                ("Samsung", "S24F350"),
            ],
            0.0,
            0.0,
            24.0,
        ),
        (
            Category::Tablet,
            &[
                ("Apple", "iPad 7e génération"),
                ("Samsung", "Galaxy Tab A7"),
            ],
            3.0,
            32.0,
            10.2,
        ),
        (
            Category::Smartphone,
            &[("Samsung", "Galaxy A52"), ("Apple", "iPhone 8")],
            6.0,
            128.0,
            6.5,
        ),
        (
            Category::Printer,
            &[("Brother", "HL-L2350DW"), ("HP", "LaserJet Pro M404")],
            0.0,
            0.0,
            0.0,
        ),
    ];
    let (category, models, ram, storage, screen) = g.pick(kinds);
    let (brand, model) = g.pick(models);
    let (town, dep, lat, lon) = g.pick(TOWNS);
    let grade = *g.pick(&["A", "B", "C"]);
    let mut numbers = Vec::new();
    if *ram > 0.0 {
        numbers.push(("ram_gb", ram * (1 + g.next() % 2) as f64));
    }
    if *storage > 0.0 {
        numbers.push(("storage_gb", storage * (1 + g.next() % 2) as f64));
    }
    if *screen > 0.0 {
        numbers.push(("screen_inches", *screen));
    }
    let refurbisher = format!("00000000-0000-7000-8000-{:012}", g.next() % 200);
    Document {
        id: uuid::Uuid::from_u64_pair(g.next(), g.next()),
        title: format!("{} {brand} {model}", category.label_fr()),
        body: format!("Atelier solidaire de {town}"),
        keywords: vec![
            ("category", vec![category.as_str().to_owned()]),
            ("grade", vec![grade.to_owned()]),
            ("brand", vec![(*brand).to_owned()]),
            ("departement", vec![(*dep).to_owned()]),
            ("commune", vec![(*town).to_owned()]),
            ("refurbisher_id", vec![refurbisher]),
        ],
        numbers,
        location: Some(GeoPoint {
            lat: lat + (g.unit() - 0.5) * 0.6,
            lon: lon + (g.unit() - 0.5) * 0.8,
        }),
        published_ts: 1_760_000_000 + (g.next() % 10_000_000) as i64,
    }
}

/// The fixed query mix: text with typos and prefixes, facets, numeric filters and distance.
fn query_mix() -> Vec<(&'static str, crate::search::Query)> {
    use crate::search::{Filter, GeoPoint, Query, Sort};
    let facets = vec!["category", "grade", "brand", "departement"];
    let blois = GeoPoint {
        lat: 47.5861,
        lon: 1.3359,
    };
    let lyon = GeoPoint {
        lat: 45.7640,
        lon: 4.8357,
    };
    vec![
        (
            "text+facets+distance: ordinateur portable, 30 km of Blois",
            Query {
                text: Some("ordinateur portable".into()),
                near: Some(blois),
                within_km: Some(30.0),
                sort: Sort::Distance,
                facets: facets.clone(),
                ..Query::all(20)
            },
        ),
        (
            "typo+filter+distance: ordinatuer, >= 16 GB, 50 km of Lyon",
            Query {
                text: Some("ordinatuer".into()),
                filters: vec![Filter::AtLeast("ram_gb", 16.0)],
                near: Some(lyon),
                within_km: Some(50.0),
                sort: Sort::Relevance,
                facets: facets.clone(),
                ..Query::all(20)
            },
        ),
        (
            "accent-folded text+facets: ecran dell",
            Query {
                text: Some("ecran dell".into()),
                facets: facets.clone(),
                ..Query::all(20)
            },
        ),
        (
            "prefix text: lati, grade A, newest",
            Query {
                text: Some("lati".into()),
                filters: vec![Filter::AnyOf("grade", vec!["A".into()])],
                sort: Sort::Newest,
                facets: facets.clone(),
                ..Query::all(20)
            },
        ),
        (
            "filters+distance sort: tablets in 37 or 41, nearest to Blois",
            Query {
                filters: vec![
                    Filter::AnyOf("category", vec!["tablet".into()]),
                    Filter::AnyOf("departement", vec!["37".into(), "41".into()]),
                ],
                near: Some(blois),
                sort: Sort::Distance,
                facets: facets.clone(),
                ..Query::all(20)
            },
        ),
    ]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Loads `items` generated documents into `search` and times `queries` queries of the mix.
async fn bench_engine(
    search: &crate::search::Search,
    items: u64,
    queries: u64,
) -> anyhow::Result<serde_json::Value> {
    use crate::search::IndexName;
    let mut g = Mix(20261130);
    search.clear(IndexName::Catalogue).await?;
    let start = Instant::now();
    let batch = 50_000u64;
    let mut done = 0u64;
    let mut bar = crate::search::indexer::progress_bar("catalogue");
    while done < items {
        let n = batch.min(items - done);
        let docs: Vec<_> = (0..n).map(|_| bench_document(&mut g)).collect();
        search.apply(IndexName::Catalogue, docs, Vec::new()).await?;
        done += n;
        bar(done, items);
    }
    if let crate::search::Search::Embedded(e) = search {
        let e = e.clone();
        tokio::task::spawn_blocking(move || e.optimise(IndexName::Catalogue)).await??;
    }
    let index_seconds = start.elapsed().as_secs_f64();
    let mix = query_mix();
    // Warm-up: every query once per 10 timed rounds.
    for (_, q) in &mix {
        search.search(IndexName::Catalogue, q).await?;
    }
    let mut all = Vec::with_capacity(queries as usize);
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); mix.len()];
    let mut hits: Vec<u64> = vec![0; mix.len()];
    for i in 0..queries {
        let k = (i % mix.len() as u64) as usize;
        let t = Instant::now();
        let found = search.search(IndexName::Catalogue, &mix[k].1).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        hits[k] = found.total;
        all.push(ms);
        per[k].push(ms);
    }
    all.sort_by(f64::total_cmp);
    let queries_json: Vec<serde_json::Value> = mix
        .iter()
        .zip(per.iter_mut())
        .zip(hits)
        .map(|(((name, _), times), total)| {
            times.sort_by(f64::total_cmp);
            serde_json::json!({
                "query": name,
                "matching_documents": total,
                "p50_ms": round3(percentile(times, 50.0)),
                "p99_ms": round3(percentile(times, 99.0)),
            })
        })
        .collect();
    Ok(serde_json::json!({
        "engine": search.engine_name(),
        "items": items,
        "index_seconds": round3(index_seconds),
        "queries": queries,
        "p50_ms": round3(percentile(&all, 50.0)),
        "p95_ms": round3(percentile(&all, 95.0)),
        "p99_ms": round3(percentile(&all, 99.0)),
        "max_ms": round3(all.last().copied().unwrap_or(0.0)),
        "target_p99_ms": 15,
        "per_query": queries_json,
    }))
}

/// `reemploi bench search`: the embedded engine always, Meilisearch when `MEILI_URL` is set.
pub async fn search(
    settings: &crate::config::Settings,
    items: u64,
    queries: u64,
    output: &Path,
) -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("reemploi-bench-search-{}", crate::store::new_id()));
    std::fs::create_dir_all(&dir)?;
    let embedded = crate::search::Search::Embedded(std::sync::Arc::new(
        crate::search::embedded::Embedded::open(&dir)?,
    ));
    let mut engines = vec![bench_engine(&embedded, items, queries).await?];
    let index_bytes: u64 = std::fs::read_dir(dir.join("catalogue"))?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    if let Some(obj) = engines[0].as_object_mut() {
        obj.insert("index_mib".into(), (index_bytes / (1024 * 1024)).into());
        obj.insert(
            "peak_rss_mib".into(),
            peak_rss_kib().map(|k| k / 1024).into(),
        );
    }
    drop(embedded);
    std::fs::remove_dir_all(&dir).ok();
    if let Some(url) = &settings.meili_url {
        let meili = crate::search::Search::Meili(std::sync::Arc::new(
            crate::search::meili::Meili::new(url, settings.meili_api_key.as_deref(), "bench_")
                .await?,
        ));
        engines.push(bench_engine(&meili, items, queries).await?);
    } else {
        println!("MEILI_URL is not set: Meilisearch not measured");
    }
    let result = serde_json::json!({
        "benchmark": "catalogue_search",
        "engines": engines,
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// `reemploi bench documents`: renders a convention de cession of `items` devices `runs` times.
pub fn documents(items: usize, runs: usize, output: &Path) -> anyhow::Result<()> {
    let renderer = crate::documents::render::Renderer::new();
    let template = include_str!("../templates/convention_cession.typ");
    let data = crate::documents::render::sample_convention(items);
    let qr = crate::documents::render::qr_svg("https://reemploi.example/v1/verify/K7M2QX9TAB")
        .map_err(|e| anyhow::anyhow!(e))?;
    // The same data twice gives the same bytes.
    let (first, pages) = renderer
        .render_pages(template, &data, &qr, "K7M2QX9TAB")
        .map_err(|e| anyhow::anyhow!(e))?;
    let again = renderer
        .render(template, &data, &qr, "K7M2QX9TAB")
        .map_err(|e| anyhow::anyhow!(e))?;
    anyhow::ensure!(again == first, "rendering is not deterministic");
    // Timed runs: each a different document (other code, other devices), as in real use, so
    // typst's memoisation cannot reuse a previous layout.
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let mut varied = data.clone();
        if let Some(items) = varied["items"].as_array_mut() {
            for (i, it) in items.iter_mut().enumerate() {
                it["inventory_number"] = serde_json::json!(format!("INV-R{run:02}-{i:05}"));
                it["serial"] = serde_json::json!(format!("SN{run:02}{i:08}"));
            }
        }
        let code = format!("RUN{run:07}");
        varied["code"] = serde_json::json!(code);
        let start = Instant::now();
        let pdf = renderer
            .render(template, &varied, &qr, &code)
            .map_err(|e| anyhow::anyhow!(e))?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(pdf.starts_with(b"%PDF"), "not a PDF");
    }
    times.sort_by(f64::total_cmp);
    let result = serde_json::json!({
        "benchmark": "convention_rendering",
        "items": items,
        "pages": pages,
        "pdf_bytes": first.len(),
        "runs": runs,
        "median_ms": round3(percentile(&times, 50.0)),
        "p95_ms": round3(percentile(&times, 95.0)),
        "max_ms": round3(times.last().copied().unwrap_or(0.0)),
        "target_ms": 1000,
        "deterministic": true,
        "peak_rss_mib": peak_rss_kib().map(|k| k / 1024),
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// A small deterministic generator (xorshift64*), so every run matches the same data.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `reemploi bench matching`: matches `lines` open request lines against `devices` devices
/// (three in five published, the rest in refurbishers' pipelines) with the rules of
/// `domain::matching`, as the matching view does for each refurbisher: each line's expected
/// supply from every refurbisher within reach, then each refurbisher's plan (its published
/// devices in the fair order, then where its expected devices would go). In memory: it
/// measures the rules, not the queries that load their input.
pub fn matching(lines: usize, devices: usize, output: &Path) -> anyhow::Result<()> {
    use std::collections::{BTreeMap, HashMap};

    use reemploi_domain::demand::{DeviceSpec, LineSpec};
    use reemploi_domain::item::Category;
    use reemploi_domain::matching::{
        self as m, Device, Outcomes, Standing, WaitingLine, expected_for_line,
    };

    const REFURBISHERS: usize = 20;
    const ASSOCIATIONS: u64 = 2_000;
    // Each line is within reach of three refurbishers.
    const REACH: [usize; 3] = [0, 7, 13];
    let cats = [
        Category::Laptop,
        Category::Desktop,
        Category::Monitor,
        Category::Tablet,
        Category::Smartphone,
    ];
    let mut rng = Xorshift(0x5EED_CAFE_F00D_0001);
    let rams = [None, Some(4), Some(8), Some(16)];
    let mut published: Vec<Vec<Device>> = vec![Vec::new(); REFURBISHERS];
    let mut pipeline: Vec<Vec<Device>> = vec![Vec::new(); REFURBISHERS];
    for i in 0..devices {
        let device = Device {
            id: i as u128,
            spec: DeviceSpec {
                category: Some(cats[rng.below(cats.len() as u64) as usize]),
                ram_gb: rams[1 + rng.below(3) as usize],
                storage_gb: Some(128 << rng.below(3)),
                screen_inches: Some(10.0 + rng.below(15) as f64),
            },
        };
        let r = i % REFURBISHERS;
        if i % 5 < 3 {
            published[r].push(device);
        } else {
            pipeline[r].push(device);
        }
    }
    let mut waiting: Vec<WaitingLine> = (0..lines)
        .map(|i| {
            let quantity = 1 + rng.below(12) as u32;
            WaitingLine {
                request: (i / 2) as u128,
                position: (i % 2) as i32 + 1,
                association: u128::from(rng.below(ASSOCIATIONS)),
                spec: LineSpec {
                    category: cats[rng.below(cats.len() as u64) as usize],
                    min_ram_gb: rams[rng.below(4) as usize],
                    min_storage_gb: None,
                    min_screen_inches: None,
                },
                wanted: quantity,
                beneficiaries: 1 + rng.below(60) as u32,
                devices_asked: quantity * 2,
                days_waiting: rng.below(200) as u32,
            }
        })
        .collect();
    let histories: Vec<BTreeMap<Category, Outcomes>> = (0..REFURBISHERS)
        .map(|r| {
            // A quarter of the refurbishers are new: the prior alone.
            let mut h = BTreeMap::new();
            if r % 4 != 0 {
                for c in cats {
                    h.insert(
                        c,
                        Outcomes {
                            available: rng.below(400),
                            recycled: rng.below(150),
                        },
                    );
                }
            }
            h
        })
        .collect();
    let in_reach = |line: usize, r: usize| REACH.iter().any(|k| (line + k) % REFURBISHERS == r);
    let start = Instant::now();
    // Each line's expected supply: the estimate of every refurbisher within reach.
    let mut expected = vec![0u64; waiting.len()];
    for r in 0..REFURBISHERS {
        let mut by_cat: HashMap<Category, Vec<DeviceSpec>> = HashMap::new();
        for d in &pipeline[r] {
            if let Some(c) = d.spec.category {
                by_cat.entry(c).or_default().push(d.spec);
            }
        }
        for (i, l) in waiting.iter().enumerate() {
            if in_reach(i, r) {
                let e = m::estimate(&histories[r], l.spec.category);
                let specs = by_cat.get(&l.spec.category).map_or(&[][..], Vec::as_slice);
                expected[i] += expected_for_line(&l.spec, specs, &e);
            }
        }
    }
    let expected_seconds = start.elapsed().as_secs_f64();
    // Each refurbisher's plan, in turn, each taking what the previous ones left.
    let mut standing: HashMap<u128, Standing> = HashMap::new();
    let (mut proposals, mut forecast) = (0usize, 0usize);
    for r in 0..REFURBISHERS {
        let idx: Vec<usize> = (0..waiting.len())
            .filter(|i| in_reach(*i, r) && waiting[*i].wanted > 0)
            .collect();
        let here: Vec<WaitingLine> = idx.iter().map(|i| waiting[*i].clone()).collect();
        let at: HashMap<(u128, i32), usize> = idx
            .iter()
            .map(|i| ((waiting[*i].request, waiting[*i].position), *i))
            .collect();
        let plan = m::plan(
            &published[r],
            &pipeline[r],
            &histories[r],
            &here,
            &standing,
            10,
        );
        proposals += plan.now.len();
        forecast += plan.expected.len();
        for a in plan.now.iter().chain(&plan.expected) {
            if let Some(i) = at.get(&(a.request, a.position)) {
                waiting[*i].wanted -= 1;
            }
            standing
                .entry(a.association)
                .or_default()
                .received_this_year += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let result = serde_json::json!({
        "benchmark": "matching",
        "open_lines": lines,
        "devices": devices,
        "published_devices": published.iter().map(Vec::len).sum::<usize>(),
        "pipeline_devices": pipeline.iter().map(Vec::len).sum::<usize>(),
        "refurbishers": REFURBISHERS,
        "associations": ASSOCIATIONS,
        "lines_with_expected_supply": expected.iter().filter(|e| **e > 0).count(),
        "proposals": proposals,
        "forecast_allocations": forecast,
        "expected_supply_seconds": (expected_seconds * 1000.0).round() / 1000.0,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "target_seconds": 1.0,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "peak_rss_mib": peak_rss_kib().map(|k| k / 1024),
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
