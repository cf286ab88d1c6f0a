//! Running it for real: the anonymous limit and forwarded addresses, connection and body
//! timeouts, the database acquire timeout, request ids, the log line, `/metrics` and readiness
//! per dependency.

use std::time::{Duration, Instant};

use sea_orm::EntityTrait;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn host_port(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> crate::helpers::Resp {
    app.send(reqwest::Method::GET, path, None, None, headers)
        .await
}

// ---------------------------------------------------------------------------------------------
// Who the client is

#[tokio::test]
async fn an_invented_token_is_counted_as_anonymous_and_a_valid_one_is_not() {
    let app = spawn_app_with(&[("REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE", "4")]).await;
    let town = app.register("public_body").await; // 2 anonymous calls: register and sign-in
    let junk = "rms_0000000000000000000000000000000000000000000";
    for _ in 0..2 {
        app.get("/v1/me", Some(junk))
            .await
            .assert_problem(401, "unauthenticated");
    }
    // The bucket is spent: with or without an invented token, 429.
    for token in [None, Some(junk), Some("not even a token")] {
        let r = app.get("/v1/me", token).await;
        r.assert_problem(429, "rate_limited");
        assert!(r.header("retry-after").is_some());
    }
    // A valid credential is not counted and not limited.
    for _ in 0..5 {
        assert_eq!(app.get("/v1/me", Some(&town.token)).await.status, 200);
    }
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let behind = spawn_app_with(&[
        ("REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE", "2"),
        ("REEMPLOI_TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    for _ in 0..2 {
        assert_eq!(
            get_with(&behind, "/v1/meta/problems", &from("198.51.100.1"))
                .await
                .status,
            200
        );
    }
    get_with(&behind, "/v1/meta/problems", &from("198.51.100.1"))
        .await
        .assert_problem(429, "rate_limited");
    // Another client behind the same proxy has its own bucket.
    assert_eq!(
        get_with(&behind, "/v1/meta/problems", &from("198.51.100.2"))
            .await
            .status,
        200
    );
    // A client that writes the header itself does not choose its address: the proxy appends
    // the real one, which is the one counted.
    get_with(
        &behind,
        "/v1/meta/problems",
        &[("X-Forwarded-For", "203.0.113.77, 198.51.100.1")],
    )
    .await
    .assert_problem(429, "rate_limited");
    // `Forwarded` is read the same way.
    get_with(
        &behind,
        "/v1/meta/problems",
        &[("Forwarded", "for=198.51.100.1;proto=https")],
    )
    .await
    .assert_problem(429, "rate_limited");

    // Without trusted proxies, the header is ignored: every call is the socket peer's.
    let direct = spawn_app_with(&[("REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE", "2")]).await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(
            get_with(&direct, "/v1/meta/problems", &from(ip))
                .await
                .status,
            200
        );
    }
    get_with(&direct, "/v1/meta/problems", &from("198.51.100.3"))
        .await
        .assert_problem(429, "rate_limited");
}

// ---------------------------------------------------------------------------------------------
// Connections and bodies

/// Whether the service closed `sock` (end of stream or reset) within `within`.
async fn closed_within(sock: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(within, sock.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_flood_of_idle_and_trickling_sockets_does_not_starve_the_health_check() {
    let app = spawn_app_with(&[
        ("REEMPLOI_MAX_CONNECTIONS", "64"),
        ("REEMPLOI_HEADER_TIMEOUT_SECS", "1"),
        ("REEMPLOI_IDLE_TIMEOUT_SECS", "2"),
    ])
    .await;
    let addr = host_port(&app);
    let mut flood = Vec::new();
    for i in 0..300 {
        let mut sock = TcpStream::connect(&addr).await.expect("connect");
        // A third trickle a request head that never ends; the others say nothing.
        if i % 3 == 0 {
            let _ = sock
                .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
                .await;
        }
        flood.push(sock);
    }
    // The health check gets through within a few seconds: connections past the cap are closed
    // at once, and the silent or trickling ones lose their slot after their timeout.
    let started = Instant::now();
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let answered = loop {
        if let Ok(r) = fresh.get(app.url("/health/live")).send().await
            && r.status() == 200
        {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "health never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        answered < Duration::from_secs(5),
        "health answered after {answered:?}"
    );
    // Every flooding socket was closed by the service, none of them answered.
    let mut closed = 0;
    for sock in &mut flood {
        if closed_within(sock, Duration::from_secs(4)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 300, "{closed} of 300 flooding sockets closed");

    // A request that takes its time is not cut by the idle timeout, and a kept-alive
    // connection is closed once idle.
    let mut sock = TcpStream::connect(&addr).await.expect("connect");
    sock.write_all(b"GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("sent");
    let mut buf = vec![0u8; 4096];
    let n = sock.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut sock, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_and_changes_nothing() {
    let app = spawn_app_with(&[("REEMPLOI_BODY_TIMEOUT_SECS", "1")]).await;
    let town = app.register("public_body").await;
    let before = app.count("items").await;
    let mut sock = TcpStream::connect(host_port(&app)).await.expect("connect");
    let head = format!(
        "POST /v1/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"category\":",
        town.token
    );
    sock.write_all(head.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n")
                        && String::from_utf8_lossy(&answer).contains("request_timeout")
                    {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert_eq!(app.count("items").await, before);
}

#[tokio::test]
async fn a_saturated_database_answers_503_with_retry_after_within_the_acquire_timeout() {
    let app = spawn_app_with(&[
        ("REEMPLOI_DB_MAX_CONNECTIONS", "1"),
        ("REEMPLOI_DB_ACQUIRE_TIMEOUT_SECS", "1"),
        // The worker would compete for the only connection.
        ("REEMPLOI_OUTBOX_POLL_MS", "600000"),
    ])
    .await;
    assert_eq!(app.get("/v1/meta/problems", None).await.status, 200);
    // Hold the only connection of the service's pool.
    let held = match app.backend {
        "postgres" => {
            let c = app.db.get_postgres_connection_pool().acquire().await;
            (Some(c.expect("connection")), None)
        }
        _ => {
            let c = app.db.get_sqlite_connection_pool().acquire().await;
            (None, Some(c.expect("connection")))
        }
    };
    let started = Instant::now();
    let r = app
        .post(
            "/v1/auth/login",
            None,
            serde_json::json!({"email": "personne@exemple.fr", "password": "x"}),
        )
        .await;
    let waited = started.elapsed();
    r.assert_problem(503, "unavailable");
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    drop(held);
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
}

// ---------------------------------------------------------------------------------------------
// Request ids, the log line

#[tokio::test]
async fn a_request_id_is_kept_or_made_returned_and_written_in_problems() {
    let app = spawn_app().await;
    let r = get_with(&app, "/v1/nulle-part", &[("X-Request-Id", "lb-7f3a.42")]).await;
    r.assert_problem(404, "not_found");
    assert_eq!(r.header("x-request-id").as_deref(), Some("lb-7f3a.42"));
    assert_eq!(r.body["request_id"], "lb-7f3a.42");
    // An unusable one is replaced.
    let r = get_with(&app, "/v1/nulle-part", &[("X-Request-Id", "<script>")]).await;
    let made = r.header("x-request-id").expect("request id");
    assert_eq!(made.len(), 32);
    assert_eq!(r.body["request_id"], made.as_str());
    // Successes carry it too, in the header only.
    let ok = app.get("/health/live", None).await;
    assert_eq!(ok.header("x-request-id").map(|h| h.len()), Some(32));
    assert!(ok.body.get("request_id").is_none());
}

#[test]
fn the_log_line_of_a_request_has_its_id_route_status_latency_and_organisation() {
    if !crate::secrets::in_child() {
        crate::secrets::in_own_process("operations::log_line_in_a_child_process");
    }
}

#[test]
fn log_line_in_a_child_process() {
    let Some(log) = crate::secrets::capture_json() else {
        return;
    };
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let app = spawn_app().await;
            let town = app.register("public_body").await;
            let item = app.items(&town, "laptop", 1).await.remove(0);
            let r = app
                .send(
                    reqwest::Method::GET,
                    &format!("/v1/items/{item}?secretvalue=hunter2"),
                    Some(&town.token),
                    None,
                    &[("X-Request-Id", "trace-me-1")],
                )
                .await;
            // An undeclared query parameter is refused, and still logged without its value.
            assert_eq!(r.status, 422, "{}", r.text);
            let r = app
                .send(
                    reqwest::Method::GET,
                    &format!("/v1/items/{item}"),
                    Some(&town.token),
                    None,
                    &[("X-Request-Id", "trace-me-2")],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let text = log.text();
            assert!(!text.contains("hunter2"), "a query value was logged");
            assert!(
                !text.contains("\u{1b}["),
                "colours in a log that is not a terminal"
            );
            let line = |id: &str| -> serde_json::Value {
                text.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find(|v| v["fields"]["message"] == "response" && v["span"]["request_id"] == id)
                    .unwrap_or_else(|| panic!("no response line for {id} in:\n{text}"))
            };
            let refused = line("trace-me-1");
            assert_eq!(refused["fields"]["status"], 422);
            assert!(
                refused["fields"]["uri"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("?secretvalue=…")),
                "{refused}"
            );
            let ok = line("trace-me-2");
            assert_eq!(ok["fields"]["status"], 200, "{ok}");
            assert!(ok["fields"]["latency_ms"].as_f64().is_some(), "{ok}");
            assert_eq!(ok["span"]["route"], "/v1/items/{id}", "{ok}");
            assert_eq!(ok["span"]["method"], "GET", "{ok}");
            assert_eq!(ok["fields"]["org"], town.id.as_str(), "{ok}");
        });
}

// ---------------------------------------------------------------------------------------------
// Metrics and readiness

const METRICS_TOKEN: &str = "metrics-token-for-the-tests";

#[tokio::test]
async fn metrics_need_their_token_and_count_requests_per_route_and_the_outbox() {
    let off = spawn_app().await;
    off.get("/metrics", None)
        .await
        .assert_problem(404, "not_found");

    let app = spawn_app_with(&[("REEMPLOI_METRICS_TOKEN", METRICS_TOKEN)]).await;
    let town = app.register("public_body").await;
    let item = app.items(&town, "laptop", 1).await.remove(0);
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/v1/items/{item}"), Some(&town.token))
                .await
                .status,
            200
        );
    }
    app.get("/v1/nulle/part/du/tout", None).await;
    app.get("/metrics", None)
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/metrics", Some("metrics-token-for-the-testz"))
        .await
        .assert_problem(401, "unauthenticated");
    let r = app.get("/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4"))
    );
    let m = &r.text;
    let has = |needle: &str| assert!(m.contains(needle), "no `{needle}` in:\n{m}");
    // Three reads, and the one the test helper makes of the creation's `Location`.
    has("reemploi_http_requests_total{route=\"/v1/items/{id}\",method=\"GET\",status=\"200\"} 4");
    has(
        "reemploi_http_request_duration_seconds_bucket{route=\"/v1/items/{id}\",method=\"GET\",status=\"200\",le=\"+Inf\"} 4",
    );
    has("route=\"unmatched\",method=\"GET\",status=\"404\"");
    // Paths are never labels: the unknown path above is not a series of its own.
    assert!(!m.contains("nulle"), "{m}");
    has("# TYPE reemploi_outbox_pending gauge");
    has("# TYPE reemploi_outbox_oldest_age_seconds gauge");
    has("reemploi_search_index_lag_seconds ");
    has("# TYPE reemploi_jobs gauge");
    has("reemploi_db_pool_connections{state=\"in_use\"}");
    has("reemploi_db_pool_max_connections 5");
    // The worker's heartbeat: set once its first pass is over (which, on a busy machine, may
    // come after the requests above).
    let beat = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("reemploi_outbox_worker_last_pass_timestamp_seconds "))
            .and_then(|v| v.parse::<f64>().ok())
            .expect("worker heartbeat")
    };
    let mut worker_beat = beat(m);
    let started = Instant::now();
    while worker_beat <= 0.0 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        worker_beat = beat(&app.get("/metrics", Some(METRICS_TOKEN)).await.text);
    }
    assert!(worker_beat > 0.0, "the worker never finished a pass");
}

#[tokio::test]
async fn readiness_reports_each_dependency_and_fails_only_on_the_required_ones() {
    // A mail server that is not there: reported, and fatal only when required.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let smtp = format!("smtp://127.0.0.1:{port}");
    let lenient = spawn_app_with(&[
        ("SMTP_URL", &smtp),
        ("REEMPLOI_DEPENDENCY_TIMEOUT_MS", "500"),
    ])
    .await;
    let r = lenient.get("/health/ready", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let deps = |r: &crate::helpers::Resp| -> Vec<(String, String, String, bool)> {
        r.body["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap_or_default().to_owned(),
                    d["kind"].as_str().unwrap_or_default().to_owned(),
                    d["status"].as_str().unwrap_or_default().to_owned(),
                    d["required"].as_bool().unwrap_or_default(),
                )
            })
            .collect()
    };
    let got = deps(&r);
    let names: Vec<&str> = got.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(names, ["database", "search", "blobs", "mail", "outbox"]);
    assert_eq!(
        got[0],
        ("database".into(), lenient.backend.into(), "ok".into(), true)
    );
    assert_eq!(got[2], ("blobs".into(), "local".into(), "ok".into(), false));
    assert_eq!(
        got[3],
        ("mail".into(), "smtp".into(), "unavailable".into(), false)
    );

    let strict = spawn_app_with(&[
        ("SMTP_URL", &smtp),
        ("REEMPLOI_DEPENDENCY_TIMEOUT_MS", "500"),
        ("REEMPLOI_READY_REQUIRES", "database,mail"),
    ])
    .await;
    let r = strict.get("/health/ready", None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["status"], "unavailable");
    assert_eq!(
        deps(&r)[3],
        ("mail".into(), "smtp".into(), "unavailable".into(), true)
    );
    // Nothing of the reason (a host, a port) is answered.
    assert!(!r.text.contains(&port.to_string()), "{}", r.text);
}

#[tokio::test]
async fn an_s3_store_that_never_answers_delays_neither_start_nor_readiness() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            open.push(sock);
        }
    });
    let started = Instant::now();
    let app = spawn_app_with(&[
        ("S3_ENDPOINT", &endpoint),
        ("S3_BUCKET", "reemploi"),
        ("S3_ACCESS_KEY", "key"),
        ("S3_SECRET_KEY", "secret"),
        ("REEMPLOI_DEPENDENCY_TIMEOUT_MS", "500"),
        ("REEMPLOI_READY_REQUIRES", "database,blobs"),
    ])
    .await;
    let start = started.elapsed();
    assert!(start < Duration::from_secs(10), "start took {start:?}");
    let asked = Instant::now();
    let r = app.get("/health/ready", None).await;
    let answered = asked.elapsed();
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(
        answered < Duration::from_secs(3),
        "readiness took {answered:?}"
    );
    let blobs = r.body["dependencies"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "blobs"))
        .cloned()
        .expect("blobs");
    assert_eq!(blobs["kind"], "s3");
    assert_eq!(blobs["status"], "unavailable");
    hold.abort();
}

// ---------------------------------------------------------------------------------------------
// Jobs across instances

/// A running job row, as an instance writes it when it starts an import.
async fn running_job(app: &TestApp, organisation: &str, lease_secs: i64) -> String {
    let id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    reemploi_api::store::entities::job::Entity::insert(
        reemploi_api::store::entities::job::ActiveModel {
            id: sea_orm::Set(id),
            organisation_id: sea_orm::Set(organisation.parse().expect("uuid")),
            kind: sea_orm::Set("item_import".into()),
            status: sea_orm::Set("running".into()),
            total: sea_orm::Set(1000),
            processed: sea_orm::Set(400),
            result: sea_orm::Set(None),
            error: sea_orm::Set(None),
            created_by: sea_orm::Set("user/test".into()),
            created_at: sea_orm::Set(now),
            updated_at: sea_orm::Set(now),
            lease_until: sea_orm::Set(Some(now + chrono::TimeDelta::seconds(lease_secs))),
            input_key: sea_orm::Set(None),
            options: sea_orm::Set(None),
            attempt: sea_orm::Set(1),
        },
    )
    .exec_without_returning(&app.db)
    .await
    .expect("job row");
    id.to_string()
}

#[tokio::test]
async fn a_new_instance_fails_only_the_jobs_whose_instance_stopped_and_reads_live_progress() {
    let a = spawn_app().await;
    let town = a.register("public_body").await;
    // One job of an instance that was killed (its lease ran out), one of a live instance.
    let dead = running_job(&a, &town.id, -5).await;
    let live = running_job(&a, &town.id, 60).await;
    let b = crate::helpers::spawn_instance_of(&a, &[]).await;
    let job = |id: &str| format!("/v1/jobs/{id}");
    let r = b.get(&job(&dead), Some(&town.token)).await;
    assert_eq!(r.body["status"], "failed", "{}", r.text);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("relancez")),
        "{}",
        r.text
    );
    // The live job is left alone, and its progress is read from the database on either
    // instance.
    for app in [&a, &b] {
        let r = app.get(&job(&live), Some(&town.token)).await;
        assert_eq!(r.body["status"], "running", "{}", r.text);
        assert_eq!(r.body["processed"], 400, "{}", r.text);
        assert_eq!(r.body["total"], 1000, "{}", r.text);
    }
    // Once its lease runs out without renewal, a worker fails it, within a few passes.
    reemploi_api::store::entities::job::Entity::update_many()
        .col_expr(
            reemploi_api::store::entities::job::Column::LeaseUntil,
            sea_orm::sea_query::Expr::value(Some(
                chrono::Utc::now() - chrono::TimeDelta::seconds(1),
            )),
        )
        .exec(&a.db)
        .await
        .expect("lease ran out");
    let started = Instant::now();
    loop {
        let r = b.get(&job(&live), Some(&town.token)).await;
        if r.body["status"] == "failed" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_background_import_renews_its_lease_and_ends_with_none() {
    let app = spawn_app_with(&[("REEMPLOI_IMPORT_SYNC_MAX_BYTES", "1024")]).await;
    let town = app.register_verified("public_body").await;
    let mut csv =
        String::from("inventory_number;category;brand;model;acquisition_date;acquisition_value\n");
    for i in 0..200 {
        csv.push_str(&format!(
            "INV-LEASE-{i:05};laptop;Dell;Latitude 5490;2020-01-15;899,00\n"
        ));
    }
    let r = app
        .post_raw(
            "/v1/items/import",
            &town.token,
            csv.into_bytes(),
            "text/csv",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().expect("job id").to_owned();
    let done = crate::hostile::finished_job(&app, &town.token, &format!("/v1/jobs/{id}")).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.text);
    let row = reemploi_api::store::entities::job::Entity::find_by_id(
        id.parse::<uuid::Uuid>().expect("uuid"),
    )
    .one(&app.db)
    .await
    .expect("read")
    .expect("job");
    assert_eq!(row.lease_until, None);
}
