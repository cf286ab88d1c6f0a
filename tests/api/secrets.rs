//! Secrets at rest: after signing in, creating an API key and accepting an invitation with an
//! `Idempotency-Key`, no row of any table holds the token (a dump of the whole database is
//! searched), nor does the service's log at `RUST_LOG=trace` (captured: the test runs again in
//! a child process of this binary whose global subscriber writes every level to a buffer); a
//! replay of those answers is refused with the reason. And the purge removes what
//! outlived its purpose.

use std::io::Write;
use std::sync::{Arc, Mutex};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with, unique_email};

/// Every table of the database, each row as one line of text (blobs read as text).
async fn dump(app: &TestApp) -> String {
    let backend = app.db.get_database_backend();
    let tables_sql = match app.backend {
        "postgres" => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let tables: Vec<String> = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(backend, tables_sql))
        .await
        .expect("tables")
        .into_iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect();
    assert!(tables.len() > 20, "{tables:?}");
    let mut out = String::new();
    for t in tables {
        let sql = match app.backend {
            // Text of the row, bytea written in hex (searched for too).
            "postgres" => format!("SELECT row_to_json(x)::text AS line FROM \"{t}\" x"),
            _ => {
                let cols: Vec<String> = app
                    .db
                    .query_all_raw(sea_orm::Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{t}')"),
                    ))
                    .await
                    .expect("columns")
                    .into_iter()
                    .map(|r| r.try_get::<String>("", "name").expect("column"))
                    .collect();
                let cells: Vec<String> = cols
                    .iter()
                    .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                    .collect();
                format!("SELECT {} AS line FROM \"{t}\"", cells.join(" || '|' || "))
            }
        };
        for row in app
            .db
            .query_all_raw(sea_orm::Statement::from_string(backend, sql))
            .await
            .expect("rows")
        {
            out.push_str(&t);
            out.push(':');
            out.push_str(&row.try_get::<String>("", "line").unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[track_caller]
fn assert_absent(haystack: &str, token: &str, what: &str) {
    assert!(token.len() > 40, "{token}");
    assert!(!haystack.contains(token), "{what} holds the token {token}");
    assert!(
        !haystack.contains(&hex(token)),
        "{what} holds the token {token} in hex"
    );
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was written so far.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

async fn post_keyed(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Value,
    key: &str,
) -> crate::helpers::Resp {
    app.send(
        reqwest::Method::POST,
        path,
        token,
        Some(body),
        &[("Idempotency-Key", key)],
    )
    .await
}

/// Set in the process a log test runs in (its own, so that its subscriber is the global one).
const CHILD: &str = "REEMPLOI_TEST_TRACE_CHILD";

/// Runs the test `name` of this binary alone in a child process with `RUST_LOG=trace`
/// captured, and asserts it passed.
pub fn in_own_process(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .env("RUST_LOG", "trace")
        .output()
        .expect("child test runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed in its own process:\n{stdout}\n{stderr}"
    );
}

/// Whether this process is the child a log test runs in.
pub fn in_child() -> bool {
    std::env::var(CHILD).is_ok()
}

/// The global subscriber of a child process: every level, into a buffer.
fn capture() -> Option<Captured> {
    if !in_child() {
        return None;
    }
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    Some(log)
}

/// The same at `info`, as JSON lines (the format deployments use).
pub fn capture_json() -> Option<Captured> {
    if !in_child() {
        return None;
    }
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(log.clone())
        .with_ansi(false)
        .json()
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    Some(log)
}

#[test]
fn no_table_and_no_trace_log_holds_the_tokens_of_idempotent_sign_in_api_key_and_invitation() {
    if std::env::var(CHILD).is_err() {
        in_own_process("secrets::tokens_of_idempotent_answers_in_a_child_process");
    }
}

#[test]
fn the_page_of_a_mailed_link_is_logged_without_its_token() {
    if std::env::var(CHILD).is_err() {
        in_own_process("secrets::mailed_link_page_log_in_a_child_process");
    }
}

/// The scenario of the test above; does nothing unless run by it in its own process.
#[tokio::test]
async fn tokens_of_idempotent_answers_in_a_child_process() {
    let Some(log) = capture() else {
        return;
    };

    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let login = post_keyed(
        &app,
        "/v1/auth/login",
        None,
        json!({ "email": town.admin_email, "password": PASSWORD }),
        "connexion-1",
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let session = login.body["token"].as_str().expect("token").to_owned();
    let key = post_keyed(
        &app,
        &format!("/v1/organisations/{}/api-keys", town.id),
        Some(&session),
        json!({ "name": "GLPI de la mairie" }),
        "cle-1",
    )
    .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let api_key = key.body["token"]
        .as_str()
        .or_else(|| key.body["key"].as_str())
        .expect("the key is answered once")
        .to_owned();
    let email = unique_email("karim");
    let r = app
        .post(
            &format!("/v1/organisations/{}/invitations", town.id),
            Some(&session),
            json!({ "email": email, "role": "agent" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let invitation = app.invitation_token(&email).await;
    let joined = post_keyed(
        &app,
        "/v1/invitations/accept",
        None,
        json!({ "token": invitation, "display_name": "Karim", "password": PASSWORD }),
        "accepte-1",
    )
    .await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    let colleague = joined.body["token"].as_str().expect("token").to_owned();
    // The answers' secrets still work: they were handed out, only not kept.
    assert_eq!(app.get("/v1/me", Some(&api_key)).await.status, 200);
    assert_eq!(app.get("/v1/me", Some(&colleague)).await.status, 200);

    // A replay is refused, saying why; the request is not acted on twice.
    let again = post_keyed(
        &app,
        &format!("/v1/organisations/{}/api-keys", town.id),
        Some(&session),
        json!({ "name": "GLPI de la mairie" }),
        "cle-1",
    )
    .await;
    again.assert_problem(409, "idempotency_key_reused");
    assert!(
        again.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("secret")),
        "{}",
        again.text
    );
    assert_eq!(app.count("api_keys").await, 1);
    post_keyed(
        &app,
        "/v1/auth/login",
        None,
        json!({ "email": town.admin_email, "password": PASSWORD }),
        "connexion-1",
    )
    .await
    .assert_problem(409, "idempotency_key_reused");

    // The mails were delivered: their payloads lost the links.
    for _ in 0..200 {
        if app
            .count("outbox WHERE topic = 'mail' AND done_at IS NULL")
            .await
            == 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        app.count("outbox WHERE topic = 'mail' AND done_at IS NULL")
            .await,
        0
    );
    let dump = dump(&app).await;
    assert!(
        dump.contains("idempotency_keys:"),
        "the keys are in the dump"
    );
    for (token, what) in [
        (&session, "sign-in token"),
        (&api_key, "API key"),
        (&invitation, "invitation token"),
        (&colleague, "colleague's sign-in token"),
    ] {
        assert_absent(&dump, token, &format!("the database ({what})"));
    }
    let log = log.text();
    assert!(
        log.contains("/v1/invitations/accept") && log.contains("TRACE"),
        "the service's trace log was captured: {} bytes",
        log.len()
    );
    for (token, what) in [
        (&session, "sign-in token"),
        (&api_key, "API key"),
        (&invitation, "invitation token"),
        (&colleague, "colleague's sign-in token"),
    ] {
        assert_absent(&log, token, &format!("the trace log ({what})"));
    }
}

/// The scenario of the test above; does nothing unless run by it in its own process.
#[tokio::test]
async fn mailed_link_page_log_in_a_child_process() {
    let Some(log) = capture() else {
        return;
    };
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let email = unique_email("karim");
    app.post(
        &format!("/v1/organisations/{}/invitations", town.id),
        Some(&town.token),
        json!({ "email": email, "role": "agent" }),
    )
    .await;
    let token = app.invitation_token(&email).await;
    let page = app
        .client
        .get(app.url(&format!("/compte/invitation/{token}")))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let log = log.text();
    assert!(log.contains("/compte/invitation/rmi_…"), "{log}");
    assert_absent(&log, &token, "the trace log");
}

#[tokio::test]
async fn the_purge_removes_old_idempotency_keys_dead_sessions_tokens_and_delivered_mails() {
    let app = spawn_app_with(&[
        ("REEMPLOI_PURGE_INTERVAL_SECS", "1"),
        ("REEMPLOI_RETENTION_SESSIONS_DAYS", "0"),
        ("REEMPLOI_RETENTION_MAIL_DAYS", "0"),
    ])
    .await;
    let town = app.register("public_body").await;
    let r = post_keyed(
        &app,
        &format!("/v1/organisations/{}/sites", town.id),
        Some(&town.token),
        json!({
            "name": "Services techniques", "kind": "pickup", "address": "5 rue des Ateliers",
            "postcode": "41000", "city": "Saint-Ouen-sur-Loire", "insee_code": "41230",
            "latitude": 47.6, "longitude": 1.3
        }),
        "site-1",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let spare = app.login(&town.admin_email, PASSWORD).await;
    assert_eq!(
        app.post("/v1/auth/logout", Some(&spare), json!({}))
            .await
            .status,
        204
    );
    // Ages the key past its 24 hours.
    app.db
        .execute_unprepared("UPDATE idempotency_keys SET created_at = '2020-01-01 00:00:00+00:00'")
        .await
        .expect("age the key");
    for _ in 0..100 {
        if app.count("idempotency_keys").await == 0
            && app.count("sessions WHERE revoked_at IS NOT NULL").await == 0
            && app.count("outbox WHERE topic = 'mail'").await == 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("idempotency_keys").await, 0, "the key is purged");
    assert_eq!(
        app.count("sessions WHERE revoked_at IS NOT NULL").await,
        0,
        "the closed session is purged"
    );
    assert_eq!(
        app.count("outbox WHERE topic = 'mail'").await,
        0,
        "the delivered verification mail is purged"
    );
    // The open session stays.
    assert_eq!(app.get("/v1/me", Some(&town.token)).await.status, 200);
}
