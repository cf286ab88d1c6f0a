//! `spawn_app()` and typed helpers: each test gets its own service on `127.0.0.1:0`, its own
//! database (a SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set) and
//! an in-memory mailbox.

use std::sync::Arc;
use std::time::Duration;

use reemploi_api::config::Settings;
use reemploi_api::mail::MemoryMailer;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};

/// A running service under test.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub mailer: MemoryMailer,
    pub db: DatabaseConnection,
    pub backend: &'static str,
    pub database_url: String,
    /// The settings it runs with (its data directory among them).
    pub settings: Settings,
    _dir: tempfile::TempDir,
}

/// An HTTP answer: status, headers and body parsed as JSON (or `Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status, body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "not a problem document: {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()));
        self
    }

    /// The fields listed in a validation problem.
    pub fn problem_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Completes `prefix` with its Luhn check digit.
pub fn luhn_complete(prefix: &str) -> String {
    (0..10)
        .map(|d| format!("{prefix}{d}"))
        .find(|s| {
            let sum: u32 = s
                .bytes()
                .rev()
                .enumerate()
                .map(|(i, b)| {
                    let d = u32::from(b - b'0');
                    if i % 2 == 1 {
                        if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
                    } else {
                        d
                    }
                })
                .sum();
            sum.is_multiple_of(10)
        })
        .unwrap_or_default()
}

/// A valid, unique SIRET for tests.
pub fn unique_siret() -> String {
    let n = uuid::Uuid::now_v7().as_u128() % 100_000_000;
    let siren = luhn_complete(&format!("{:08}", 10_000_000 + n % 89_999_999));
    luhn_complete(&format!("{siren}0001"))
}

/// A valid, unique RNA number for tests.
pub fn unique_rna() -> String {
    format!("W{:09}", uuid::Uuid::now_v7().as_u128() % 1_000_000_000)
}

/// A unique e-mail address.
pub fn unique_email(who: &str) -> String {
    format!("{who}.{}@exemple.fr", uuid::Uuid::now_v7().simple())
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A registered organisation with a signed-in admin.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub admin_email: String,
    pub admin_id: String,
    pub token: String,
}

async fn test_database_url(dir: &std::path::Path) -> (String, &'static str) {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(server) => {
            let name = format!("reemploi_test_{}", uuid::Uuid::now_v7().simple());
            let admin = sea_orm::Database::connect(server.clone())
                .await
                .expect("connect to TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let base = server
                .rsplit_once('/')
                .map_or(server.as_str(), |(b, _)| b)
                .to_owned();
            (format!("{base}/{name}"), "postgres")
        }
        None => (
            format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            "sqlite",
        ),
    }
}

/// Starts a fresh service.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a fresh service with extra settings.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, backend) = test_database_url(dir.path()).await;
    start(dir, url, backend, vars).await
}

/// Starts a second service instance on `app`'s database (its own data directory, mailbox and
/// outbox worker), as a deployment with several instances behind a load balancer runs.
pub async fn spawn_instance_of(app: &TestApp, vars: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    start(dir, app.database_url.clone(), app.backend, vars).await
}

/// Starts an instance on the database at `url` (of `backend`, "sqlite" or "postgres"), as
/// another process of a deployment does.
pub async fn spawn_on(url: &str, backend: &str, vars: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = if backend == "postgres" {
        "postgres"
    } else {
        "sqlite"
    };
    start(dir, url.to_owned(), backend, vars).await
}

async fn start(
    dir: tempfile::TempDir,
    url: String,
    backend: &'static str,
    vars: &[(&str, &str)],
) -> TestApp {
    let data_dir = dir.path().display().to_string();
    // Settings given by the test win over the defaults below.
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.extend([
        ("REEMPLOI_ADDR".into(), "127.0.0.1:0".into()),
        ("REEMPLOI_DATA_DIR".into(), data_dir),
        ("DATABASE_URL".into(), url.clone()),
        ("REEMPLOI_OUTBOX_POLL_MS".into(), "50".into()),
        ("REEMPLOI_DB_MAX_CONNECTIONS".into(), "5".into()),
        // Races send 50 requests at once to 5 connections of a debug build on two cores: they
        // may wait longer for a connection than the 3 s a deployment answers 503 after.
        ("REEMPLOI_DB_ACQUIRE_TIMEOUT_SECS".into(), "30".into()),
        // The sample inventory has a purchase date in 2027 that must stay "in the future".
        ("REEMPLOI_TODAY".into(), "2026-11-29".into()),
    ]);
    let settings =
        Settings::from_vars(|k| all.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .expect("test settings");
    let mailer = MemoryMailer::default();
    let running = reemploi_api::app::spawn(settings, Arc::new(mailer.clone()))
        .await
        .expect("service starts");
    TestApp {
        base: format!("http://{}", running.addr),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // Drop idle connections before the service closes them (as a proxy must), so that
            // no request is sent on a connection the service is closing.
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        mailer,
        db: running.state.db.clone(),
        backend,
        database_url: url,
        settings: (*running.state.settings).clone(),
        _dir: dir,
    }
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names in lowercase.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
    pub at: std::time::Instant,
}

/// A webhook receiver on loopback: a small HTTP/1.1 server that records every request and
/// answers the statuses of its script in turn (200 once the script is used up).
pub struct Receiver {
    pub url: String,
    got: Arc<std::sync::Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Starts a receiver answering `script` first, then 200.
    pub async fn start(script: &[u16]) -> Receiver {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let got: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<std::sync::Mutex<std::collections::VecDeque<u16>>> =
            Arc::new(std::sync::Mutex::new(script.iter().copied().collect()));
        let (g, sc) = (got.clone(), script);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (g, sc) = (g.clone(), Arc::clone(&sc));
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut headers = std::collections::BTreeMap::new();
                    for line in head.lines().skip(1) {
                        if let Some((k, v)) = line.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                    let status = sc
                        .lock()
                        .ok()
                        .and_then(|mut s| s.pop_front())
                        .unwrap_or(200);
                    if let Ok(mut g) = g.lock() {
                        g.push(Received {
                            headers,
                            body,
                            at: std::time::Instant::now(),
                        });
                    }
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    sock.write_all(answer.as_bytes()).await.ok();
                    sock.shutdown().await.ok();
                });
            }
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            got,
            task,
        }
    }

    /// What it got so far.
    pub fn got(&self) -> Vec<Received> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Waits until it got at least `n` requests (at most `secs` seconds).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The search engines the search tests run against: the embedded one always, Meilisearch too
/// when `MEILI_URL` is set (each test on its own index prefix). Says so when it is skipped.
pub fn search_engines() -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    match std::env::var("MEILI_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let mut vars = vec![
                ("MEILI_URL".to_owned(), url),
                (
                    "MEILI_INDEX_PREFIX".to_owned(),
                    format!("t{}_", uuid::Uuid::now_v7().simple()),
                ),
            ];
            if let Ok(key) = std::env::var("MEILI_API_KEY") {
                vars.push(("MEILI_API_KEY".to_owned(), key));
            }
            out.push(vars);
        }
        _ => eprintln!("SKIPPED: Meilisearch adapter not tested here: MEILI_URL is not set"),
    }
    out
}

/// Starts a service with these owned settings.
pub async fn spawn_app_owned(vars: &[(String, String)]) -> TestApp {
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with(&borrowed).await
}

/// A verified public body and a verified refurbisher, with the body's pickup site.
pub struct Chain {
    pub operator: String,
    pub town: Org,
    pub atelier: Org,
    pub site: String,
}

/// Registers a verified public body and refurbisher (the refurbisher seated in Blois at
/// `lat`/`lon`).
pub async fn chain_at(app: &TestApp, lat: f64, lon: f64) -> Chain {
    chain_in(app, ("Blois", "41018", "41000"), lat, lon).await
}

/// Like [`chain_at`], the refurbisher seated in `(city, INSEE code, postcode)`.
pub async fn chain_in(app: &TestApp, place: (&str, &str, &str), lat: f64, lon: f64) -> Chain {
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    let atelier = app
        .register_with("refurbisher", |b| {
            b["latitude"] = json!(lat);
            b["longitude"] = json!(lon);
            b["city"] = json!(place.0);
            b["insee_code"] = json!(place.1);
            b["postcode"] = json!(place.2);
        })
        .await;
    app.verify(&operator, &town).await;
    app.verify(&operator, &atelier).await;
    let site = app.site(&town, 47.61, 1.33).await;
    Chain {
        operator,
        town,
        atelier,
        site,
    }
}

impl TestApp {
    /// The same deployment reached at `base`: another instance, in its own process.
    pub fn reached_at(&self, base: String) -> TestApp {
        TestApp {
            base,
            client: self.client.clone(),
            mailer: self.mailer.clone(),
            db: self.db.clone(),
            backend: self.backend,
            database_url: self.database_url.clone(),
            settings: self.settings.clone(),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Registers an organisation of `kind` after `edit` changed its registration body.
    pub async fn register_with(&self, kind: &str, edit: impl FnOnce(&mut Value)) -> Org {
        let email = unique_email("admin");
        let mut body = registration(kind, &email);
        edit(&mut body);
        let r = self.post("/v1/organisations", None, body).await;
        assert_eq!(r.status, 201, "registration failed: {}", r.text);
        let token = self.login(&email, PASSWORD).await;
        Org {
            id: r.body["organisation"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
            admin_email: email,
            admin_id: r.body["admin_user_id"]
                .as_str()
                .expect("admin id")
                .to_owned(),
            token,
        }
    }

    /// Registers `devices` (item fields; an inventory number, acquisition date and book value
    /// are made up when missing, an optional `grade` is left out) at `chain`'s town, offers
    /// them in one `to_refurbisher` lot, and has the refurbisher claim and collect it: the
    /// devices are `collected` in its workshop. Returns the lot and the devices, in order.
    pub async fn collect_lot(&self, chain: &Chain, devices: &[Value]) -> (String, Vec<String>) {
        let mut ids = Vec::new();
        for d in devices {
            let mut body = d.clone();
            if body.get("inventory_number").is_none() {
                body["inventory_number"] = json!(format!(
                    "INV-{}",
                    &uuid::Uuid::now_v7().simple().to_string()[16..]
                ));
            }
            if body.get("acquisition_date").is_none() {
                body["acquisition_date"] = json!("2020-03-15");
            }
            if body.get("net_book_value_cents").is_none() {
                body["net_book_value_cents"] = json!(0);
            }
            if let Some(o) = body.as_object_mut() {
                o.remove("grade");
            }
            let r = self.post("/v1/items", Some(&chain.town.token), body).await;
            assert_eq!(r.status, 201, "item: {}", r.text);
            ids.push(r.body["id"].as_str().expect("id").to_owned());
        }
        let lot = self
            .post(
                "/v1/lots",
                Some(&chain.town.token),
                json!({
                    "title": "Lot de la mairie", "pickup_site_id": chain.site,
                    "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
                    "allocation_policy": "first_come", "visibility": "all_verified",
                    "cession_mode": "to_refurbisher"
                }),
            )
            .await;
        assert_eq!(lot.status, 201, "lot: {}", lot.text);
        let lot_id = lot.body["id"].as_str().expect("lot").to_owned();
        let steps = [
            (
                format!("/v1/lots/{lot_id}/items"),
                &chain.town.token,
                json!({ "item_ids": ids }),
            ),
            (
                format!("/v1/lots/{lot_id}/publish"),
                &chain.town.token,
                json!({}),
            ),
            (
                format!("/v1/lots/{lot_id}/claims"),
                &chain.atelier.token,
                json!({}),
            ),
            (
                format!("/v1/lots/{lot_id}/collection"),
                &chain.atelier.token,
                json!({
                    "occurred_on": "2026-11-28",
                    "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
                    "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
                }),
            ),
        ];
        for (path, token, body) in steps {
            let r = self.post(&path, Some(token), body).await;
            assert!(r.status < 300, "{path}: {}", r.text);
        }
        (lot_id, ids)
    }

    /// Takes devices described by `devices` (item fields without an inventory number, plus an
    /// optional `grade`) all the way to `available` at `chain`'s refurbisher, through HTTP:
    /// register, lot, publish, claim, collection, wipe, bench, publish. Returns their ids.
    pub async fn make_available(&self, chain: &Chain, devices: &[Value]) -> Vec<String> {
        let (_, ids) = self.collect_lot(chain, devices).await;
        for (id, d) in ids.iter().zip(devices) {
            let base = format!("/v1/items/{id}");
            let item = self.get(&base, Some(&chain.atelier.token)).await;
            if item.body["has_data_storage"] == true {
                let r = self
                    .post(
                        &format!("{base}/sanitisations"),
                        Some(&chain.atelier.token),
                        json!({
                            "medium_serial": format!("MED-{id}"), "medium_type": "ssd", "method": "purge",
                            "tool": "nwipe", "tool_version": "0.35", "verification_method": "Relecture complète",
                            "success": true, "operator_name": "Inès Bernard",
                            "started_at": "2026-11-28T10:00:00Z", "ended_at": "2026-11-28T10:30:00Z"
                        }),
                    )
                    .await;
                assert_eq!(r.status, 201, "wipe: {}", r.text);
            }
            let mut bench = json!({
                "tests": [{ "name": "boot", "passed": true }],
                "parts_replaced": [], "operating_system": "Ubuntu 24.04 LTS",
                "grade": d.get("grade").and_then(Value::as_str).unwrap_or("A"),
                "minutes_spent": 30, "technician_name": "Inès Bernard"
            });
            if item.body["has_data_storage"] == true {
                bench["storage_media"] =
                    json!([{ "serial": format!("MED-{id}"), "medium_type": "ssd" }]);
            }
            let r = self
                .post(
                    &format!("{base}/refurbishments"),
                    Some(&chain.atelier.token),
                    bench,
                )
                .await;
            assert_eq!(r.status, 201, "bench: {}", r.text);
            let r = self
                .post(
                    &format!("{base}/publish"),
                    Some(&chain.atelier.token),
                    json!({}),
                )
                .await;
            assert_eq!(r.status, 200, "publish item: {}", r.text);
        }
        ids
    }

    /// Waits until the outbox has no search or document work left (documents are then
    /// searchable, and generated PDFs exist).
    pub async fn settle(&self) {
        for _ in 0..500 {
            let pending = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(
                    self.db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM outbox WHERE topic IN ('index', 'document') AND done_at IS NULL"
                        .to_owned(),
                ))
                .await
                .expect("outbox query")
                .expect("a row")
                .try_get::<i64>("", "n")
                .expect("count");
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the outbox did not catch up (search index or documents)");
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every `Location` the suite is given must be readable by whoever was given it, as a
    /// client following it would: checked on each creation of every test.
    async fn follow_location(
        &self,
        path: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        token: Option<&str>,
    ) {
        let (201 | 202, Some(location), Some(token)) = (
            status,
            headers.get("location").and_then(|l| l.to_str().ok()),
            token,
        ) else {
            return;
        };
        let followed = self
            .client
            .get(self.url(location))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        assert_eq!(
            followed.status().as_u16(),
            200,
            "{path} answered {status} with Location {location}, which answers {}",
            followed.status()
        );
    }

    /// Sends a request with optional token and JSON body and extra headers.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.follow_location(path, status, &headers, token).await;
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// Posts a raw body (a CSV file) with its content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Resp {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.follow_location(path, status, &headers, Some(token))
            .await;
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(reqwest::Method::GET, path, token, None, &[])
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, token, Some(body), &[])
            .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, token, Some(body), &[])
            .await
    }

    /// A JSON Merge Patch (`application/merge-patch+json`).
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        let bytes = serde_json::to_vec(&body).expect("json");
        let mut req = self
            .client
            .patch(self.url(path))
            .header("content-type", "application/merge-patch+json")
            .body(bytes);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Resp::read(req.send().await.expect("request sent")).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(reqwest::Method::DELETE, path, token, None, &[])
            .await
    }

    /// Counts the rows of a table (to prove that a refused request wrote nothing).
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count value")
    }

    /// Signs in and returns the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/v1/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.body["token"].as_str().expect("token").to_owned()
    }

    /// Registers an organisation of `kind` with valid identifiers and signs its admin in.
    pub async fn register(&self, kind: &str) -> Org {
        self.register_with(kind, |_| {}).await
    }

    /// Registers an organisation of `kind` and has the operator verify it.
    pub async fn register_verified(&self, kind: &str) -> Org {
        let operator = self.operator().await;
        let org = self.register(kind).await;
        self.verify(&operator, &org).await;
        org
    }

    /// Verifies an organisation as the operator.
    pub async fn verify(&self, operator: &str, org: &Org) {
        let r = self
            .post(
                &format!("/v1/organisations/{}/verify", org.id),
                Some(operator),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "verification failed: {}", r.text);
    }

    /// Creates a site for `org` at the given coordinates.
    pub async fn site(&self, org: &Org, lat: f64, lon: f64) -> String {
        let r = self
            .post(
                &format!("/v1/organisations/{}/sites", org.id),
                Some(&org.token),
                json!({
                    "name": "Services techniques", "kind": "pickup", "address": "5 rue des Ateliers",
                    "postcode": "41000", "city": "Saint-Ouen-sur-Loire", "insee_code": "41230",
                    "latitude": lat, "longitude": lon
                }),
            )
            .await;
        assert_eq!(r.status, 201, "site: {}", r.text);
        r.body["id"].as_str().expect("site id").to_owned()
    }

    /// Registers `n` devices of `category` in `org` and returns their ids.
    /// The town's mayor's deputy, then the refurbisher's director, sign document `doc`: the
    /// answers of the two signatures (the second names the version signed by both).
    pub async fn sign_by_both(&self, chain: &Chain, doc: &str) -> (Resp, Resp) {
        let path = format!("/v1/documents/{doc}/signatures");
        let half = self
            .post(
                &path,
                Some(&chain.town.token),
                json!({ "signer_name": "Claire Martin", "signer_role": "Maire adjointe" }),
            )
            .await;
        let half_id = half.body["id"].as_str().unwrap_or(doc).to_owned();
        let signed = self
            .post(
                &format!("/v1/documents/{half_id}/signatures"),
                Some(&chain.atelier.token),
                json!({ "signer_name": "Inès Bernard", "signer_role": "Directrice" }),
            )
            .await;
        (half, signed)
    }

    pub async fn items(&self, org: &Org, category: &str, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let r = self
                .post(
                    "/v1/items",
                    Some(&org.token),
                    json!({
                        "inventory_number": format!("INV-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
                        "category": category,
                        "brand": "Dell",
                        "model": "Latitude 5490",
                        "serial_number": "1954RGQKK9",
                        "acquisition_date": "2019-03-15",
                        "acquisition_value_cents": 94861,
                        "net_book_value_cents": 0
                    }),
                )
                .await;
            assert_eq!(r.status, 201, "item: {}", r.text);
            ids.push(r.body["id"].as_str().expect("item id").to_owned());
        }
        ids
    }

    /// Bootstraps the platform operator and signs it in.
    pub async fn operator(&self) -> String {
        let email = unique_email("operateur");
        reemploi_api::admin::create_operator(&self.db, &email, "Opératrice", Some(PASSWORD.into()))
            .await
            .expect("operator created");
        self.login(&email, PASSWORD).await
    }

    /// Invites `email` into `org` with `role`, accepts the invitation and returns the new token.
    pub async fn add_member(&self, org: &Org, role: &str) -> (String, String) {
        let email = unique_email(role);
        let r = self
            .post(
                &format!("/v1/organisations/{}/invitations", org.id),
                Some(&org.token),
                json!({ "email": email, "role": role }),
            )
            .await;
        assert_eq!(r.status, 201, "invitation failed: {}", r.text);
        let token = self.invitation_token(&email).await;
        let r = self
            .post(
                "/v1/invitations/accept",
                None,
                json!({ "token": token, "display_name": "Karim", "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 200, "acceptance failed: {}", r.text);
        let user_id = r.body["user"]["user_id"]
            .as_str()
            .expect("user id")
            .to_owned();
        (r.body["token"].as_str().expect("token").to_owned(), user_id)
    }

    /// Waits for the invitation mail to `email` and reads its token.
    pub async fn invitation_token(&self, email: &str) -> String {
        for _ in 0..200 {
            if let Some(mail) = self
                .mailer
                .sent()
                .into_iter()
                .rev()
                .find(|m| m.to == email && m.body.contains("rmi_"))
            {
                let start = mail.body.find("rmi_").expect("token in mail");
                return mail.body[start..]
                    .split(|c: char| c.is_whitespace() || c == '?')
                    .next()
                    .expect("token")
                    .to_owned();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no invitation mail to {email}");
    }
}

impl Resp {
    /// Reads a response sent without the helpers above (multipart uploads).
    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }
}

/// A valid registration body for `kind` (the scenario's organisations, with unique identifiers).
pub fn registration(kind: &str, email: &str) -> Value {
    let admin = json!({ "email": email, "display_name": "Claire Martin", "password": PASSWORD });
    match kind {
        "public_body" => json!({
            "kind": "public_body",
            "name": "Ville de Saint-Ouen-sur-Loire",
            "siret": unique_siret(),
            "insee_code": "41230",
            "address": "1 place de la Mairie",
            "postcode": "41000",
            "city": "Saint-Ouen-sur-Loire",
            "latitude": 47.61,
            "longitude": 1.33,
            "public_body_type": "commune",
            "admin": admin,
        }),
        "refurbisher" => json!({
            "kind": "refurbisher",
            "name": "Atelier Solidaire du Val",
            "siret": unique_siret(),
            "insee_code": "41018",
            "address": "12 rue des Artisans",
            "postcode": "41000",
            "city": "Blois",
            "esus_reference": "ESUS-41-2024-017",
            "esus_expires_on": "2029-06-30",
            "admin": admin,
        }),
        "association" => json!({
            "kind": "association",
            "name": "Les Petits Débrouillards du Blésois",
            "rna": unique_rna(),
            "siret": unique_siret(),
            "insee_code": "41018",
            "address": "3 allée des Sciences",
            "postcode": "41000",
            "city": "Blois",
            "beneficiary_category": "interet_general_precarite",
            "statutory_purpose": "Équiper, former et accompagner des personnes en situation de précarité.",
            "admin": admin,
        }),
        other => panic!("unknown kind {other}"),
    }
}

/// The text of a PDF, as `pdftotext` reads it (installed by the test script).
pub fn pdf_text(pdf: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is installed by infra/scripts/test.sh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pdf)
        .expect("write pdf");
    let out = child.wait_with_output().expect("pdftotext output");
    assert!(out.status.success(), "pdftotext failed");
    // One line of text: whitespace collapsed, typographic apostrophes as typed ones.
    String::from_utf8(out.stdout)
        .expect("utf-8 text")
        .replace('\u{2019}', "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl TestApp {
    /// Downloads a document's PDF.
    pub async fn pdf(&self, id: &str, token: &str) -> Vec<u8> {
        let r = self
            .client
            .get(self.url(&format!("/v1/documents/{id}/pdf")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        if status != 200 {
            panic!(
                "PDF of {id}: {status} {}",
                r.text().await.unwrap_or_default()
            );
        }
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/pdf")
        );
        r.bytes().await.expect("body").to_vec()
    }

    /// POSTs raw bytes with a content type (optionally signed in).
    pub async fn post_bytes(
        &self,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
        content_type: &str,
    ) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.follow_location(path, status, &headers, token).await;
        Resp {
            status,
            headers,
            body,
            text,
        }
    }
}
