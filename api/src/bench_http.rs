//! `reemploi bench http`: the request path under load, against a bare poem-openapi handler
//! measured in the same run.
//!
//! The service runs in this process (embedded defaults on a throwaway SQLite file, or a fresh
//! PostgreSQL database), with one verified public body and one device. A child process
//! (`reemploi bench http-load`) drives authenticated `GET /v1/items/{id}` with a fixed number of
//! keep-alive connections; the same child drives a bare poem-openapi JSON handler served by this
//! process, in alternating runs. The load comes from another process so that this process's CPU
//! time (`/proc/self/stat`) is the server's alone: CPU-µs per request is that time over the
//! requests answered.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use poem_openapi::{OpenApi, param, payload::Json};
use serde_json::{Value, json};

/// Seconds of CPU this process has used (user + system), from `/proc/self/stat` (Linux; in
/// USER_HZ ticks, 100 per second on every Linux ABI).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces, inside parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A handler as bare as poem-openapi makes one: a path parameter in, a JSON object out.
struct Bare {
    body: Value,
}

#[OpenApi]
impl Bare {
    #[oai(path = "/bare/:id", method = "get")]
    async fn get(&self, id: param::Path<String>) -> Json<Value> {
        let mut body = self.body.clone();
        body["id"] = Value::String(id.0);
        Json(body)
    }
}

/// Serves the bare handler on a free loopback port.
async fn spawn_bare(body: Value) -> anyhow::Result<std::net::SocketAddr> {
    use poem::listener::{Acceptor, Listener};
    let service = poem_openapi::OpenApiService::new(Bare { body }, "bare", "1");
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await?;
    let addr = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .context("no local address")?;
    tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run(poem::Route::new().nest("/", service))
            .await
            .ok();
    });
    Ok(addr)
}

/// One run of the load child against `url`.
struct Run {
    requests: u64,
    errors: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_request: f64,
}

impl Run {
    fn json(&self, target: &str, round: usize) -> Value {
        json!({
            "target": target,
            "round": round,
            "requests": self.requests,
            "errors": self.errors,
            "req_per_s": (self.requests as f64 / self.seconds).round(),
            "p50_ms": round3(self.p50_ms),
            "p99_ms": round3(self.p99_ms),
            "cpu_us_per_request": round3(self.cpu_us_per_request),
        })
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

async fn drive(
    url: &str,
    token: Option<&str>,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<Run> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["bench", "http-load", "--url", url])
        .args(["--connections", &connections.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    if let Some(token) = token {
        cmd.env("REEMPLOI_BENCH_TOKEN", token);
    }
    let cpu = cpu_seconds();
    let out = cmd.output().await.context("running the load child")?;
    let cpu = cpu_seconds() - cpu;
    anyhow::ensure!(out.status.success(), "the load child failed");
    // Its report is its last line (anything else it printed is a log line).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    let report: Value = serde_json::from_str(last).context("the load child's report")?;
    let requests = report["requests"].as_u64().unwrap_or(0);
    Ok(Run {
        requests,
        errors: report["errors"].as_u64().unwrap_or(0),
        seconds: report["seconds"].as_f64().unwrap_or(seconds),
        p50_ms: report["p50_ms"].as_f64().unwrap_or(0.0),
        p99_ms: report["p99_ms"].as_f64().unwrap_or(0.0),
        cpu_us_per_request: cpu * 1e6 / requests.max(1) as f64,
    })
}

/// A fresh PostgreSQL database on the server at `server` (a URL naming any database there).
async fn fresh_postgres(server: &str) -> anyhow::Result<(String, String)> {
    use sea_orm::ConnectionTrait;
    let name = format!("reemploi_bench_{}", uuid::Uuid::now_v7().simple());
    let admin = sea_orm::Database::connect(server.to_owned()).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await.ok();
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    Ok((format!("{base}/{name}"), name))
}

/// Registers and verifies a public body, signs its admin in, and creates one device; returns
/// the token and the device's id.
async fn seed(base: &str, db: &sea_orm::DatabaseConnection) -> anyhow::Result<(String, String)> {
    use sea_orm::ConnectionTrait;
    let client = reqwest::Client::new();
    let email = "bench@ville-blois.fr";
    let password = "Mairie-Blois-2026!";
    let r = client
        .post(format!("{base}/v1/organisations"))
        .json(&json!({
            "kind": "public_body", "name": "Ville de Blois", "siret": "21410018200010",
            "public_body_type": "commune", "insee_code": "41018", "address": "9 place Saint-Louis",
            "postcode": "41000", "city": "Blois",
            "admin": {"email": email, "display_name": "Banc d'essai", "password": password}
        }))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().as_u16() == 201,
        "registration: {}",
        r.text().await?
    );
    db.execute_unprepared("UPDATE organisations SET status = 'verified'")
        .await?;
    let login: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().context("no token")?.to_owned();
    let item: Value = client
        .post(format!("{base}/v1/items"))
        .bearer_auth(&token)
        .json(&json!({
            "inventory_number": "BENCH-0001", "category": "laptop", "brand": "Dell",
            "model": "Latitude 5490", "serial_number": "1954RGQKK9",
            "acquisition_date": "2019-03-15", "acquisition_value_cents": 94861,
            "net_book_value_cents": 0
        }))
        .send()
        .await?
        .json()
        .await?;
    let id = item["id"].as_str().context("no item id")?.to_owned();
    let r = client
        .get(format!("{base}/v1/items/{id}"))
        .bearer_auth(&token)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 200, "GET item: {}", r.status());
    Ok((token, id))
}

/// The medians of repeated runs of one target: req/s, p50, p99 and CPU-µs per request.
fn summary(runs: &[Run]) -> serde_json::Value {
    json!({
        "req_per_s": median(runs.iter().map(|r| r.requests as f64 / r.seconds).collect()).round(),
        "p50_ms": round3(median(runs.iter().map(|r| r.p50_ms).collect())),
        "p99_ms": round3(median(runs.iter().map(|r| r.p99_ms).collect())),
        "cpu_us_per_request": round3(median(runs.iter().map(|r| r.cpu_us_per_request).collect())),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `reemploi bench http`.
pub async fn run(
    connections: usize,
    seconds: f64,
    rounds: usize,
    postgres: Option<String>,
    output: &Path,
) -> anyhow::Result<()> {
    let bench = Bench::start(postgres).await?;
    let (base, backend) = (bench.base.clone(), bench.backend);
    let (token, id) = seed(&base, &bench.running.state.db).await?;
    let sample: Value = reqwest::Client::new()
        .get(format!("{base}/v1/items/{id}"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    // The bare handler answers an object of the same size as the service's.
    let bare = spawn_bare(sample).await?;
    let item_url = format!("{base}/v1/items/{id}");
    let bare_url = format!("http://{bare}/bare/{id}");
    let r = reqwest::Client::new().get(&bare_url).send().await?;
    anyhow::ensure!(
        r.status().is_success(),
        "the bare handler answers {}: {}",
        r.status(),
        r.text().await?
    );
    println!("warming up");
    drive(&bare_url, None, connections, 2.0).await?;
    drive(&item_url, Some(&token), connections, 2.0).await?;
    let mut runs = Vec::new();
    let (mut bare_runs, mut item_runs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let b = drive(&bare_url, None, connections, seconds).await?;
        let s = drive(&item_url, Some(&token), connections, seconds).await?;
        println!(
            "round {round}: bare {:.0} req/s, p99 {:.2} ms, {:.0} CPU-µs/req; service {:.0} req/s, p99 {:.2} ms, {:.0} CPU-µs/req",
            b.requests as f64 / b.seconds,
            b.p99_ms,
            b.cpu_us_per_request,
            s.requests as f64 / s.seconds,
            s.p99_ms,
            s.cpu_us_per_request
        );
        anyhow::ensure!(
            s.errors == 0 && b.errors == 0,
            "errors during the run: service {}, bare {}",
            s.errors,
            b.errors
        );
        runs.push(b.json("bare", round));
        runs.push(s.json("get_item", round));
        bare_runs.push(b);
        item_runs.push(s);
    }
    let bare_summary = summary(&bare_runs);
    let item_summary = summary(&item_runs);
    let share = item_summary["req_per_s"].as_f64().unwrap_or(0.0)
        / bare_summary["req_per_s"].as_f64().unwrap_or(1.0).max(1.0);
    let report = json!({
        "bench": "http_get_item",
        "backend": backend,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "connections": connections,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "median": {
            "bare": bare_summary,
            "get_item": item_summary,
            "get_item_share_of_bare": round3(share),
        },
        "runs": runs,
    });
    write_report(output, &report)?;
    println!(
        "GET item at {:.1} % of the bare handler's req/s ({backend}); written to {}",
        share * 100.0,
        output.display()
    );
    bench.stop().await
}

/// `reemploi bench http-load`: the load child. Drives GETs of `url` over `connections`
/// keep-alive connections for `seconds`, each connection sending its next request when the last
/// answer is read (a closed loop), and prints the count and latencies as JSON.
pub async fn load(url: String, connections: usize, seconds: f64) -> anyhow::Result<()> {
    let token = std::env::var("REEMPLOI_BENCH_TOKEN").ok();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        // One client per connection: each keeps its own connection alive.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let (url, token) = (url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut request = client.get(&url);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                match request.send().await {
                    Ok(r) if r.status().is_success() => {
                        if r.bytes().await.is_err() {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let at = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{}",
        json!({
            "requests": all.len(),
            "errors": errors,
            "seconds": elapsed,
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
        })
    );
    Ok(())
}

/// The service started for a bench, on a throwaway SQLite file or a fresh PostgreSQL database.
struct Bench {
    running: crate::app::Running,
    base: String,
    dir: std::path::PathBuf,
    backend: &'static str,
    postgres: Option<(String, String)>,
}

impl Bench {
    async fn start(postgres: Option<String>) -> anyhow::Result<Bench> {
        let dir =
            std::env::temp_dir().join(format!("reemploi-bench-http-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let (url, backend, pg) = match postgres {
            Some(server) => {
                let (url, name) = fresh_postgres(&server).await?;
                (url, "postgres", Some((server, name)))
            }
            None => (
                format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
                "sqlite",
                None,
            ),
        };
        let overrides = [
            ("REEMPLOI_ADDR", "127.0.0.1:0".to_owned()),
            ("REEMPLOI_DATA_DIR", dir.display().to_string()),
            ("DATABASE_URL", url),
        ];
        let settings = crate::config::Settings::from_vars(|k| {
            overrides
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(k).ok())
        })?;
        let running =
            crate::app::spawn(settings, std::sync::Arc::new(crate::mail::LogMailer)).await?;
        let base = format!("http://{}", running.addr);
        Ok(Bench {
            running,
            base,
            dir,
            backend,
            postgres: pg,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.running.server.abort();
        self.running.worker.abort();
        self.running.jobs.abort();
        self.running.state.db.clone().close().await.ok();
        if let Some((server, name)) = &self.postgres {
            use sea_orm::ConnectionTrait;
            let admin = sea_orm::Database::connect(server.clone()).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        std::fs::remove_dir_all(&self.dir).ok();
        Ok(())
    }
}

fn write_report(output: &Path, report: &Value) -> anyhow::Result<()> {
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, serde_json::to_string_pretty(report)? + "\n")?;
    Ok(())
}

/// Makes `items` available devices held by the bench's organisation (turned into a refurbisher
/// seated in Blois, so that it may browse the catalogue), copies of the seeded device with
/// varied category, brand, grade and specs, and rebuilds the catalogue index from them as
/// `reemploi reindex` does.
async fn seed_catalogue(
    db: &sea_orm::DatabaseConnection,
    search: &crate::search::Search,
    template: uuid::Uuid,
    items: u64,
) -> anyhow::Result<f64> {
    use crate::store::entities::item;
    use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel};
    db.execute_unprepared(
        "UPDATE organisations SET kind = 'refurbisher', latitude = 47.5861, longitude = 1.3359",
    )
    .await?;
    let t = item::Entity::find_by_id(template)
        .one(db)
        .await?
        .context("the seeded device")?;
    // Lengths 7, 6 and 3 (with k / 7): every combination of category, brand and RAM occurs.
    let categories = [
        "laptop",
        "desktop",
        "monitor",
        "tablet",
        "laptop",
        "smartphone",
        "laptop",
    ];
    let brands = [
        ("Dell", "Latitude 5490"),
        ("HP", "EliteBook 840 G5"),
        ("Lenovo", "ThinkPad T480"),
        ("Apple", "MacBook Air 2017"),
        ("Fujitsu", "Esprimo D538"),
        ("Acer", "TravelMate P2"),
    ];
    let mut done = 0u64;
    let mut bar = crate::search::indexer::progress_bar("devices");
    while done < items {
        let n = 500.min(items - done);
        let rows: Vec<item::ActiveModel> = (done..done + n)
            .map(|k| {
                let (brand, model) = brands[(k % brands.len() as u64) as usize];
                let mut m = t.clone();
                m.id = crate::store::new_id();
                m.public_code = crate::store::items::new_public_code();
                m.inventory_number = format!("BENCH-C{k:07}");
                m.serial_number = Some(format!("SN{k:010}"));
                m.category = categories[(k % categories.len() as u64) as usize].to_owned();
                m.brand = Some(brand.to_owned());
                m.model = Some(model.to_owned());
                m.status = "available".to_owned();
                m.grade = Some(["A", "B", "C"][(k % 3) as usize].to_owned());
                m.ram_gb = Some([4, 8, 16][(k / 7 % 3) as usize]);
                m.storage_gb = Some([128, 256, 512][(k / 3 % 3) as usize]);
                m.cpu = Some("Intel Core i5-8350U".to_owned());
                m.into_active_model().reset_all()
            })
            .collect();
        item::Entity::insert_many(rows).exec(db).await?;
        done += n;
        bar(done, items);
    }
    let started = Instant::now();
    crate::search::indexer::rebuild(
        db,
        search,
        crate::search::IndexName::Catalogue,
        crate::search::indexer::progress_bar("catalogue"),
    )
    .await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Latencies of `query` sent straight to the engine by `connections` concurrent tasks for
/// `seconds`: the engine alone, as the service calls it.
async fn drive_engine(
    search: &crate::search::Search,
    query: &crate::search::Query,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<Run> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let cpu = cpu_seconds();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (search, query) = (search.clone(), query.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                search
                    .search(crate::search::IndexName::Catalogue, &query)
                    .await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let cpu = cpu_seconds() - cpu;
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let at = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(Run {
        requests: all.len() as u64,
        errors: 0,
        seconds: elapsed,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        cpu_us_per_request: cpu * 1e6 / all.len().max(1) as f64,
    })
}

/// The catalogue queries of the search bench: the HTTP query string, and the engine query the
/// service makes of it (the same text, filters, point, sort, facets and page).
fn catalogue_queries() -> Vec<(&'static str, &'static str, crate::search::Query)> {
    use crate::search::{Filter, GeoPoint, Query, Sort};
    let facets = vec!["category", "grade", "brand", "departement"];
    vec![
        (
            "text+filter+facets: ordinateur portable dell, >= 8 GB",
            "q=ordinateur%20portable%20dell&min_ram_gb=8",
            Query {
                text: Some("ordinateur portable dell".into()),
                filters: vec![Filter::AtLeast("ram_gb", 8.0)],
                near: None,
                within_km: None,
                sort: Sort::Relevance,
                facets: facets.clone(),
                offset: 0,
                limit: 20,
            },
        ),
        (
            "filter+distance sort: laptops within 50 km of Blois, nearest first",
            "category=laptop&lat=47.59&lon=1.33&within_km=50&sort=distance",
            Query {
                text: None,
                filters: vec![Filter::AnyOf("category", vec!["laptop".into()])],
                near: Some(GeoPoint {
                    lat: 47.59,
                    lon: 1.33,
                }),
                within_km: Some(50.0),
                sort: Sort::Distance,
                facets,
                offset: 0,
                limit: 20,
            },
        ),
    ]
}

/// `reemploi bench search-http`: catalogue search through `GET /v1/catalogue/search` against
/// the engine alone, with the same query, at 1 and 4 concurrent clients, in alternating runs.
pub async fn search(
    items: u64,
    seconds: f64,
    rounds: usize,
    postgres: Option<String>,
    output: &Path,
) -> anyhow::Result<()> {
    let bench = Bench::start(postgres).await?;
    let (token, template) = seed(&bench.base, &bench.running.state.db).await?;
    let template: uuid::Uuid = template.parse()?;
    let state = bench.running.state.clone();
    let index_seconds = seed_catalogue(&state.db, &state.search, template, items).await?;
    let mut cases = Vec::new();
    let mut worst_ratio: f64 = 0.0;
    for (name, params, query) in catalogue_queries() {
        let url = format!("{}/v1/catalogue/search?{params}", bench.base);
        let probe: Value = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let shown = probe["items"].as_array().map_or(0, Vec::len);
        let total = probe["estimated_total"].as_u64().unwrap_or(0);
        anyhow::ensure!(shown == 20, "{name}: {shown} hits shown of {total}");
        for connections in [1usize, 4] {
            drive_engine(&state.search, &query, connections, 1.0).await?;
            drive(&url, Some(&token), connections, 1.0).await?;
            let (mut engine_runs, mut http_runs) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                engine_runs.push(drive_engine(&state.search, &query, connections, seconds).await?);
                let h = drive(&url, Some(&token), connections, seconds).await?;
                anyhow::ensure!(h.errors == 0, "{name}: {} errors over HTTP", h.errors);
                http_runs.push(h);
            }
            let (e, h) = (summary(&engine_runs), summary(&http_runs));
            let ratio =
                h["p99_ms"].as_f64().unwrap_or(0.0) / e["p99_ms"].as_f64().unwrap_or(1.0).max(1e-3);
            worst_ratio = worst_ratio.max(ratio);
            println!(
                "{name}, {connections} client(s): engine p99 {} ms, HTTP p99 {} ms ({ratio:.2}×)",
                e["p99_ms"], h["p99_ms"]
            );
            cases.push(json!({
                "query": name,
                "matching_documents": total,
                "connections": connections,
                "engine_alone": e,
                "http": h,
                "http_p99_over_engine_p99": round3(ratio),
            }));
        }
    }
    let report = json!({
        "bench": "http_catalogue_search",
        "backend": bench.backend,
        "engine": state.search.engine_name(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "catalogue_devices": items,
        "index_seconds": round3(index_seconds),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "worst_http_p99_over_engine_p99": round3(worst_ratio),
        "target_ratio": 2.0,
        "cases": cases,
    });
    write_report(output, &report)?;
    println!(
        "worst HTTP p99 / engine p99: {worst_ratio:.2} ({}); written to {}",
        bench.backend,
        output.display()
    );
    bench.stop().await
}
