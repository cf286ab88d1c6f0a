//! Mail for real: the service talks SMTP to the aiosmtpd server `infra/scripts/test.sh` starts
//! (`REEMPLOI_TEST_SMTP_URL`), whose handler writes each message as JSON into
//! `REEMPLOI_TEST_MAIL_DIR`; the tests read what people would receive and follow its links to
//! the pages. Without those variables they print SKIPPED and pass.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with, unique_email};

/// The SMTP server of the test script, or `None` (said so on stderr).
fn smtp(test: &str) -> Option<(String, PathBuf)> {
    match (
        std::env::var("REEMPLOI_TEST_SMTP_URL").ok(),
        std::env::var("REEMPLOI_TEST_MAIL_DIR").ok(),
    ) {
        (Some(url), Some(dir)) if !url.is_empty() && !dir.is_empty() => Some((url, dir.into())),
        _ => {
            eprintln!(
                "SKIPPED: {test} (set REEMPLOI_TEST_SMTP_URL and REEMPLOI_TEST_MAIL_DIR, as infra/scripts/test.sh does)"
            );
            None
        }
    }
}

/// The messages in `dir` addressed to `to`, oldest first.
fn messages_to(dir: &Path, to: &str) -> Vec<Value> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(|m| {
            m["rcpt_to"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r.as_str() == Some(to)))
        })
        .collect()
}

/// Waits for the `n`-th message to `to` (1-based) and answers it.
async fn wait_for_mail(dir: &Path, to: &str, n: usize, secs: u64) -> Value {
    for _ in 0..secs * 20 {
        let got = messages_to(dir, to);
        if got.len() >= n {
            return got[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail #{n} to {to} within {secs} s");
}

/// The first link of a message's text part under `path`.
fn link_in(mail: &Value, path: &str) -> String {
    let text = mail["text"].as_str().expect("a text part");
    text.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .unwrap_or_else(|| panic!("no link to {path} in: {text}"))
        .to_owned()
}

/// The path and query of a link to the app under test.
fn local(app: &TestApp, link: &str) -> String {
    link.strip_prefix(&app.base)
        .unwrap_or_else(|| panic!("{link} does not point to {}", app.base))
        .to_owned()
}

async fn get_page(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.client.get(app.url(path)).send().await.expect("page");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("form");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Asserts what every mail of the service has: both parts, in the sender's name, with whom to
/// call, and no API address to paste a token into.
fn assert_well_formed(mail: &Value) {
    assert_eq!(
        mail["content_type"], "multipart/alternative",
        "{}",
        mail["raw"]
    );
    let (text, html) = (
        mail["text"].as_str().expect("text part"),
        mail["html"].as_str().expect("html part"),
    );
    assert!(html.contains("<a href=\""), "{html}");
    assert!(!text.contains("/v1/"), "no API URL in a mail: {text}");
    assert!(
        mail["from"]
            .as_str()
            .is_some_and(|f| f.contains("Réemploi"))
    );
}

#[tokio::test]
async fn an_invitation_mail_arrives_over_smtp_and_the_colleague_joins_through_its_link() {
    let Some((url, dir)) = smtp("an_invitation_mail_arrives_over_smtp") else {
        return;
    };
    let app = spawn_app_with(&[("SMTP_URL", &url)]).await;
    let town = app
        .register_with("public_body", |b| b["phone"] = json!("02 54 44 50 00"))
        .await;
    let email = unique_email("karim");
    let r = app
        .post(
            &format!("/v1/organisations/{}/invitations", town.id),
            Some(&town.token),
            json!({ "email": email, "role": "agent" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mail = wait_for_mail(&dir, &email, 1, 20).await;
    assert_well_formed(&mail);
    let text = mail["text"].as_str().unwrap_or_default();
    assert!(
        mail["subject"]
            .as_str()
            .is_some_and(|s| s.contains("Invitation à rejoindre Ville de Saint-Ouen-sur-Loire")),
        "{}",
        mail["subject"]
    );
    assert!(text.starts_with("Bonjour"), "{text}");
    assert!(text.contains("Claire Martin vous invite"), "{text}");
    // Whom to answer: the inviting organisation's address and phone.
    let org = app
        .get(&format!("/v1/organisations/{}", town.id), Some(&town.token))
        .await;
    assert_eq!(org.body["phone"], "02 54 44 50 00", "{}", org.text);
    assert!(text.contains("02 54 44 50 00"), "{text}");
    assert!(
        text.contains(org.body["address"].as_str().unwrap_or("?")),
        "{text}"
    );

    // The link opens the page, whose form joins the organisation.
    let link = link_in(&mail, "/compte/invitation/");
    let path = local(&app, &link);
    let (status, page) = get_page(&app, &path).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Ville de Saint-Ouen-sur-Loire"), "{page}");
    assert!(page.contains(&email), "{page}");
    let (status, page) = post_form(
        &app,
        &path,
        &[("display_name", "Karim"), ("password", "court")],
    )
    .await;
    assert_eq!(status, 422, "a weak password is refused in words: {page}");
    assert!(page.contains("Mot de passe"), "{page}");
    let (status, page) = post_form(
        &app,
        &path,
        &[("display_name", "Karim Benali"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Vous avez rejoint"), "{page}");
    let token = app.login(&email, PASSWORD).await;
    let me = app.get("/v1/me", Some(&token)).await;
    assert_eq!(
        me.body["memberships"][0]["organisation_id"],
        town.id.as_str()
    );
    assert_eq!(me.body["display_name"], "Karim Benali");
    assert_eq!(
        me.body["email_verified"], true,
        "the link proved the address"
    );
    // The link worked once.
    let (status, page) = post_form(
        &app,
        &path,
        &[("display_name", "Karim"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("Ce lien ne fonctionne plus"), "{page}");
}

#[tokio::test]
async fn a_password_reset_goes_from_the_mail_to_the_page_and_its_link_works_once() {
    let Some((url, dir)) = smtp("a_password_reset_goes_from_the_mail_to_the_page") else {
        return;
    };
    let app = spawn_app_with(&[("SMTP_URL", &url)]).await;
    let town = app.register("public_body").await;
    let known = app
        .post(
            "/v1/auth/password-reset",
            None,
            json!({ "email": town.admin_email }),
        )
        .await;
    let unknown_email = unique_email("personne");
    let unknown = app
        .post(
            "/v1/auth/password-reset",
            None,
            json!({ "email": unknown_email }),
        )
        .await;
    // The same answer whether the address has an account or not.
    assert_eq!(known.status, 202, "{}", known.text);
    assert_eq!((unknown.status, &unknown.text), (known.status, &known.text));

    // Registration mailed a verification link first; the reset link comes second.
    let mail = wait_for_mail(&dir, &town.admin_email, 2, 20).await;
    assert_well_formed(&mail);
    assert!(
        mail["subject"]
            .as_str()
            .is_some_and(|s| s.contains("mot de passe")),
        "{}",
        mail["subject"]
    );
    let text = mail["text"].as_str().unwrap_or_default();
    assert!(text.contains("60 minutes"), "{text}");
    let path = local(&app, &link_in(&mail, "/compte/mot-de-passe/"));
    let (status, page) = get_page(&app, &path).await;
    assert_eq!(status, 200, "{page}");
    let new_password = "une toute nouvelle phrase secrète";
    let (status, page) = post_form(
        &app,
        &path,
        &[
            ("password", new_password),
            ("confirmation", "autre chose encore"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    let (status, page) = post_form(
        &app,
        &path,
        &[("password", new_password), ("confirmation", new_password)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Mot de passe changé"), "{page}");
    // Every session was signed out; the new password works, the old one no more.
    app.get("/v1/me", Some(&town.token))
        .await
        .assert_problem(401, "unauthenticated");
    app.login(&town.admin_email, new_password).await;
    app.post(
        "/v1/auth/login",
        None,
        json!({ "email": town.admin_email, "password": PASSWORD }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let (status, page) = post_form(
        &app,
        &path,
        &[("password", PASSWORD), ("confirmation", PASSWORD)],
    )
    .await;
    assert_eq!(status, 422, "single use: {page}");
    assert!(page.contains("Ce lien ne fonctionne plus"), "{page}");
    // Nothing was ever sent to the unknown address.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(messages_to(&dir, &unknown_email).is_empty());
}

#[tokio::test]
async fn a_mail_to_a_french_and_to_an_english_user_is_in_their_language() {
    let Some((url, dir)) = smtp("a_mail_to_a_french_and_to_an_english_user") else {
        return;
    };
    let app = spawn_app_with(&[("SMTP_URL", &url)]).await;
    let town = app.register("public_body").await;
    let asso = app.register("association").await;
    let r = app
        .send(
            reqwest::Method::PATCH,
            "/v1/me",
            Some(&asso.token),
            Some(json!({ "language": "en" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["language"], "en");
    for who in [&town.admin_email, &asso.admin_email] {
        let r = app
            .post("/v1/auth/password-reset", None, json!({ "email": who }))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let fr = wait_for_mail(&dir, &town.admin_email, 2, 20).await;
    let en = wait_for_mail(&dir, &asso.admin_email, 2, 20).await;
    let (fr_text, en_text) = (
        fr["text"].as_str().unwrap_or_default(),
        en["text"].as_str().unwrap_or_default(),
    );
    assert!(fr_text.starts_with("Bonjour"), "{fr_text}");
    assert!(
        fr["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("Réinitialisation")
    );
    assert!(
        fr["html"]
            .as_str()
            .unwrap_or_default()
            .contains("<html lang=\"fr\">")
    );
    assert!(en_text.starts_with("Hello"), "{en_text}");
    assert!(
        en["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("Resetting your")
    );
    assert!(
        en["html"]
            .as_str()
            .unwrap_or_default()
            .contains("<html lang=\"en\">")
    );
    // The English link opens the page in English.
    let link = link_in(&en, "/compte/mot-de-passe/");
    assert!(link.ends_with("?lang=en"), "{link}");
    let (status, page) = get_page(&app, &local(&app, &link)).await;
    assert_eq!(status, 200);
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("Choose a new password"), "{page}");
}

/// The outbox row of the mail to `to`: (attempts, delivered, last error).
async fn outbox_mail_state(app: &TestApp, to: &str) -> Option<(i32, bool, Option<String>)> {
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            app.db.get_database_backend(),
            match app.backend {
                "postgres" => "SELECT attempts, done_at IS NOT NULL AS done, last_error FROM outbox WHERE topic = 'mail' AND payload LIKE $1",
                _ => "SELECT attempts, done_at IS NOT NULL AS done, last_error FROM outbox WHERE topic = 'mail' AND payload LIKE ?",
            },
            [format!("%{to}%").into()],
        ))
        .await
        .expect("outbox query")?;
    let done: bool = row
        .try_get::<bool>("", "done")
        .or_else(|_| row.try_get::<i32>("", "done").map(|d| d != 0))
        .expect("done");
    Some((
        row.try_get("", "attempts").expect("attempts"),
        done,
        row.try_get("", "last_error").expect("last_error"),
    ))
}

/// Kills the SMTP server a test started, whatever happens.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn when_the_smtp_server_is_down_the_write_succeeds_and_the_mail_goes_out_when_it_returns() {
    let (Ok(python), Ok(handler_dir)) = (
        std::env::var("REEMPLOI_TEST_SMTP_PYTHON"),
        std::env::var("REEMPLOI_TEST_SMTP_HANDLER_DIR"),
    ) else {
        eprintln!(
            "SKIPPED: when_the_smtp_server_is_down (set REEMPLOI_TEST_SMTP_PYTHON and REEMPLOI_TEST_SMTP_HANDLER_DIR, as infra/scripts/test.sh does)"
        );
        return;
    };
    // A port nobody listens on, yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(&[
        ("SMTP_URL", &url),
        ("REEMPLOI_OUTBOX_MAX_BACKOFF_SECS", "1"),
        ("REEMPLOI_SMTP_TIMEOUT_SECS", "2"),
    ])
    .await;
    let town = app.register("public_body").await;
    let email = unique_email("patiente");
    let r = app
        .post(
            &format!("/v1/organisations/{}/invitations", town.id),
            Some(&town.token),
            json!({ "email": email, "role": "agent" }),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the write does not wait for the mail: {}",
        r.text
    );
    // The worker tries, fails and keeps the mail.
    let mut failed = false;
    for _ in 0..100 {
        let row = outbox_mail_state(&app, &email).await;
        if let Some((attempts, done, error)) = row {
            assert!(!done);
            if attempts >= 1 && error.is_some() {
                failed = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failed, "the delivery was attempted and failed");

    // The server comes up on that port: the mail goes out.
    let dir = tempfile::tempdir().expect("dir");
    let server = Child(
        std::process::Command::new(python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "reemploi_smtp_sink.Sink",
            ])
            .arg(dir.path())
            .env("PYTHONPATH", handler_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts"),
    );
    let mail = wait_for_mail(dir.path(), &email, 1, 30).await;
    assert!(link_in(&mail, "/compte/invitation/").contains("rmi_"));
    drop(server);
    // Delivered: the outbox keeps who was mailed what, and no longer the link.
    for _ in 0..100 {
        if let Some((_, true, _)) = outbox_mail_state(&app, &email).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the delivered mail was not recorded done");
}
