//! Webhooks with a real receiver on loopback: Standard Webhooks signatures checked by the
//! reference implementation (Python `standardwebhooks`), ordering per subject, back-off,
//! auto-disable with a mail, secret rotation, SSRF refusals, two instances on one database,
//! and the event feed's filters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Chain, Received, Receiver, Resp, TestApp, chain_at, spawn_app_with, spawn_instance_of,
};

/// The environment variable naming a Python with `standardwebhooks` installed (set by
/// `infra/scripts/test.sh`).
const PYTHON_VAR: &str = "REEMPLOI_TEST_STANDARDWEBHOOKS_PYTHON";

const FAST: &[(&str, &str)] = &[
    ("REEMPLOI_WEBHOOK_ALLOW", "127.0.0.1"),
    ("REEMPLOI_WEBHOOK_RETRY_BASE_MS", "300"),
    ("REEMPLOI_WEBHOOK_RETRY_MAX_SECS", "2"),
    ("REEMPLOI_WEBHOOK_TIMEOUT_MS", "2000"),
];

/// Verifies every message with the reference implementation and `secret`; `None` when the
/// Python environment is not configured (said so on stderr).
fn reference_verifies(secret: &str, msgs: &[Received]) -> Option<Result<usize, String>> {
    let Some(python) = std::env::var(PYTHON_VAR)
        .ok()
        .filter(|p| !p.trim().is_empty())
    else {
        eprintln!(
            "SKIPPED: signature check with the reference standardwebhooks library ({PYTHON_VAR} is not set; infra/scripts/test.sh sets it)"
        );
        return None;
    };
    let input = json!({
        "secret": secret,
        "messages": msgs.iter().map(|m| json!({ "body": m.body, "headers": m.headers })).collect::<Vec<_>>(),
    });
    let script = "import json, sys\n\
from standardwebhooks.webhooks import Webhook\n\
d = json.load(sys.stdin)\n\
wh = Webhook(d['secret'])\n\
for m in d['messages']:\n    wh.verify(m['body'], m['headers'])\n\
print(len(d['messages']))\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.to_string().as_bytes())
            .expect("write to python");
    }
    let out = child.wait_with_output().expect("python ends");
    Some(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    })
}

async fn subscribe(app: &TestApp, org: &crate::helpers::Org, url: &str, types: &[&str]) -> Resp {
    app.post(
        &format!("/v1/organisations/{}/webhooks", org.id),
        Some(&org.token),
        json!({ "url": url, "event_types": types }),
    )
    .await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.send(reqwest::Method::PATCH, path, Some(token), Some(body), &[])
        .await
}

fn lot_body(site: &str, title: &str) -> Value {
    json!({
        "title": title, "pickup_site_id": site,
        "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
        "allocation_policy": "first_come", "visibility": "all_verified",
        "cession_mode": "to_refurbisher"
    })
}

/// Creates a lot with one device and publishes it: four lot events (created, items added,
/// published… as the service appends them). Returns the lot id.
async fn lot_with_events(app: &TestApp, chain: &Chain, title: &str) -> String {
    let items = app.items(&chain.town, "laptop", 1).await;
    let lot = app
        .post(
            "/v1/lots",
            Some(&chain.town.token),
            lot_body(&chain.site, title),
        )
        .await;
    assert_eq!(lot.status, 201, "{}", lot.text);
    let id = lot.body["id"].as_str().expect("lot id").to_owned();
    let added = app
        .post(
            &format!("/v1/lots/{id}/items"),
            Some(&chain.town.token),
            json!({ "item_ids": items }),
        )
        .await;
    assert!(added.status < 300, "{}", added.text);
    let published = app
        .post(
            &format!("/v1/lots/{id}/publish"),
            Some(&chain.town.token),
            json!({}),
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.text);
    id
}

/// The feed's events of these types, oldest first.
async fn feed(app: &TestApp, org: &crate::helpers::Org, query: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/organisations/{}/events?limit=200&{query}", org.id),
            Some(&org.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().expect("items").clone()
}

async fn deliveries(app: &TestApp, org: &crate::helpers::Org, hook: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!(
                "/v1/organisations/{}/webhooks/{hook}/deliveries?limit=200",
                org.id
            ),
            Some(&org.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().expect("items").clone()
}

/// Waits until no delivery of the subscription is pending.
async fn settled(app: &TestApp, org: &crate::helpers::Org, hook: &str, secs: u64) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let d = deliveries(app, org, hook).await;
        if d.iter().all(|d| d["status"] != "pending") || std::time::Instant::now() > deadline {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn body_of(m: &Received) -> Value {
    serde_json::from_str(&m.body).expect("a JSON body")
}

#[tokio::test]
async fn every_subscribed_event_arrives_once_in_order_per_subject_signed_per_the_reference_library()
{
    let app = spawn_app_with(FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    let receiver = Receiver::start(&[]).await;
    let created = subscribe(&app, &chain.town, &receiver.url, &["lot.*"]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let hook = created.body["webhook"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let a = lot_with_events(&app, &chain, "Lot A").await;
    let b = lot_with_events(&app, &chain, "Lot B").await;
    // Not subscribed: a site of the town.
    app.site(&chain.town, 47.6, 1.3).await;

    let expected = feed(&app, &chain.town, "types=lot.*").await;
    assert!(expected.len() >= 6, "lot events: {expected:?}");
    let got = receiver.wait_for(expected.len(), 20).await;
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.got();
    assert_eq!(
        got_after.len(),
        expected.len(),
        "every subscribed event once, nothing else"
    );
    assert_eq!(got.len(), got_after.len());

    let ids: BTreeSet<&String> = got_after.iter().map(|m| &m.headers["webhook-id"]).collect();
    assert_eq!(ids.len(), got_after.len(), "each webhook-id once");
    let mut by_subject: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &got_after {
        let body = body_of(m);
        assert_eq!(body["version"], 1);
        assert!(body["type"].as_str().expect("type").starts_with("lot."));
        assert_eq!(body["data"]["organisation_id"], json!(chain.town.id));
        by_subject
            .entry(
                body["data"]["subject"]
                    .as_str()
                    .expect("subject")
                    .to_owned(),
            )
            .or_default()
            .push(body["data"]["id"].as_str().expect("event id").to_owned());
        assert!(m.headers["webhook-signature"].starts_with("v1,"));
        assert_eq!(m.headers["content-type"], "application/json");
    }
    for (subject, lot) in [("A", &a), ("B", &b)] {
        let want: Vec<String> = expected
            .iter()
            .filter(|e| e["subject"] == json!(format!("lot/{lot}")))
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect();
        assert!(want.len() >= 3, "lot {subject}: {want:?}");
        assert_eq!(
            by_subject[&format!("lot/{lot}")],
            want,
            "lot {subject} in order"
        );
    }
    let log = settled(&app, &chain.town, &hook, 10).await;
    assert!(
        log.iter()
            .all(|d| d["status"] == "succeeded" && d["last_status_code"] == 200)
    );
    assert!(
        log.iter()
            .all(|d| d["log"][0]["latency_ms"].as_i64().is_some())
    );

    if let Some(verified) = reference_verifies(&secret, &got_after) {
        assert_eq!(verified, Ok(got_after.len()));
        // A tampered body does not verify: the check can fail.
        let mut tampered = got_after[0].clone();
        tampered.body = tampered.body.replace("lot.", "lit.");
        assert!(
            reference_verifies(&secret, &[tampered])
                .expect("configured")
                .is_err()
        );
    }
}

#[tokio::test]
async fn a_receiver_answering_500_then_200_gets_the_message_again_after_back_off() {
    let app = spawn_app_with(FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    let receiver = Receiver::start(&[500]).await;
    let created = subscribe(&app, &chain.town, &receiver.url, &["site.created"]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let hook = created.body["webhook"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.site(&chain.town, 47.6, 1.3).await;
    let got = receiver.wait_for(2, 15).await;
    assert_eq!(got.len(), 2, "one retry after the 500");
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(250),
        "back-off respected: {waited:?}"
    );
    let log = settled(&app, &chain.town, &hook, 10).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["attempts"], 2);
    assert_eq!(log[0]["log"][0]["status_code"], 500);
    assert_eq!(log[0]["log"][0]["outcome"], "failed");
    assert_eq!(log[0]["log"][1]["status_code"], 200);
    let sub = app
        .get(
            &format!("/v1/organisations/{}/webhooks/{hook}", chain.town.id),
            Some(&chain.town.token),
        )
        .await;
    assert_eq!(sub.body["status"], "active");
    assert_eq!(sub.body["consecutive_failures"], 0);
}

#[tokio::test]
async fn a_receiver_down_for_the_whole_retry_window_ends_disabled_with_a_mail_then_redelivery_works()
 {
    let mut vars = FAST.to_vec();
    vars.extend([
        ("REEMPLOI_WEBHOOK_MAX_ATTEMPTS", "3"),
        ("REEMPLOI_WEBHOOK_DISABLE_AFTER", "3"),
        ("REEMPLOI_WEBHOOK_RETRY_BASE_MS", "50"),
    ]);
    let app = spawn_app_with(&vars).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    // A port nobody listens on.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let created = subscribe(
        &app,
        &chain.town,
        &format!("http://{down}/hook"),
        &["site.*"],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let hook = created.body["webhook"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/v1/organisations/{}/webhooks/{hook}", chain.town.id);
    app.site(&chain.town, 47.6, 1.3).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let sub = loop {
        let s = app.get(&path, Some(&chain.town.token)).await;
        if s.body["status"] == "disabled" || std::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sub.body["status"], "disabled", "{}", sub.text);
    assert_eq!(sub.body["consecutive_failures"], 3);
    let log = deliveries(&app, &chain.town, &hook).await;
    assert_eq!(log.len(), 1);
    assert_ne!(log[0]["status"], "pending");
    assert_eq!(log[0]["attempts"], 3);
    assert!(log[0]["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(
        log[0]["log"]
            .as_array()
            .expect("log")
            .iter()
            .all(|a| a["status_code"].is_null())
    );
    let disabled = feed(&app, &chain.town, "types=webhook.disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["actor"], "system");

    // The admins are mailed (through the outbox).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mails = app.mailer.sent();
        if let Some(m) = mails
            .iter()
            .find(|m| m.subject.contains("Webhook désactivé"))
        {
            assert_eq!(m.to, chain.town.admin_email);
            assert!(m.body.contains(&hook));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no mail: {mails:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A disabled subscription cannot redeliver; fixed and resumed, it can.
    let delivery = log[0]["id"].as_str().expect("delivery id").to_owned();
    let redeliver = format!("{path}/deliveries/{delivery}/redeliver");
    app.post(&redeliver, Some(&chain.town.token), json!({}))
        .await
        .assert_problem(409, "webhook_inactive");
    let receiver = Receiver::start(&[]).await;
    let resumed = patch(
        &app,
        &path,
        &chain.town.token,
        json!({ "url": receiver.url, "status": "active" }),
    )
    .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(resumed.body["consecutive_failures"], 0);
    let again = app
        .post(&redeliver, Some(&chain.town.token), json!({}))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].headers["webhook-id"],
        log[0]["webhook_id"].as_str().expect("id")
    );
    let log = settled(&app, &chain.town, &hook, 10).await;
    assert_eq!(log[0]["status"], "succeeded");
    // A delivery waiting already cannot be queued twice; another organisation's admin gets 403.
    let other = app.register("public_body").await;
    app.post(&redeliver, Some(&other.token), json!({}))
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_previous_one_during_the_overlap() {
    let app = spawn_app_with(FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    let receiver = Receiver::start(&[]).await;
    let created = subscribe(&app, &chain.town, &receiver.url, &["site.created"]).await;
    let old = created.body["secret"].as_str().expect("secret").to_owned();
    let hook = created.body["webhook"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/v1/organisations/{}/webhooks/{hook}", chain.town.id);
    let rotated = app
        .post(
            &format!("{path}/rotate-secret"),
            Some(&chain.town.token),
            json!({ "overlap_hours": 1 }),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.body["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    assert!(rotated.body["webhook"]["previous_secret_valid_until"].is_string());
    app.site(&chain.town, 47.6, 1.3).await;
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["webhook-signature"].split(' ').count(), 2);
    if let Some(v) = reference_verifies(&new, &got) {
        assert_eq!(v, Ok(1), "the new secret verifies");
        assert_eq!(
            reference_verifies(&old, &got),
            Some(Ok(1)),
            "the old one too"
        );
    }

    // Without overlap, only the new secret signs: the previous one no longer verifies.
    let rotated = app
        .post(
            &format!("{path}/rotate-secret"),
            Some(&chain.town.token),
            json!({ "overlap_hours": 0 }),
        )
        .await;
    let newest = rotated.body["secret"].as_str().expect("secret").to_owned();
    app.site(&chain.town, 47.6, 1.3).await;
    let got = receiver.wait_for(2, 10).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].headers["webhook-signature"].split(' ').count(), 1);
    if let Some(v) = reference_verifies(&newest, &got[1..]) {
        assert_eq!(v, Ok(1));
        assert!(
            reference_verifies(&new, &got[1..])
                .expect("configured")
                .is_err()
        );
    }
}

#[tokio::test]
async fn ssrf_targets_and_malformed_subscriptions_are_refused_and_nothing_is_written() {
    let app = spawn_app_with(FAST).await;
    let town = app.register("public_body").await;
    for url in [
        "https://127.0.0.2/hook",
        "https://10.0.0.1/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "http://93.184.216.34/hook",
        "http://127.0.0.2:8080/hook",
    ] {
        subscribe(&app, &town, url, &["lot.*"])
            .await
            .assert_problem(422, "webhook_target_refused");
    }
    for (url, types) in [
        ("ftp://example.org/x", vec!["lot.*"]),
        ("not a url", vec!["lot.*"]),
        ("https://93.184.216.34/hook", vec!["Lot.*"]),
        ("https://93.184.216.34/hook", vec!["lot"]),
    ] {
        let r = subscribe(&app, &town, url, &types).await;
        r.assert_problem(422, "validation_failed");
    }
    let r = app
        .post(
            &format!("/v1/organisations/{}/webhooks", town.id),
            Some(&town.token),
            json!({ "url": "https://93.184.216.34/hook", "event_types": ["lot.*"], "subject": "lot/x" }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.problem_fields(), ["subject"]);
    assert_eq!(app.count("webhook_subscriptions").await, 0);
    // A public HTTPS address is accepted (nothing is sent until an event matches).
    let ok = subscribe(&app, &town, "https://93.184.216.34/hook", &["lot.*"]).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    // Moving it to a private address is refused too.
    let path = format!(
        "/v1/organisations/{}/webhooks/{}",
        town.id,
        ok.body["webhook"]["id"].as_str().expect("id")
    );
    patch(
        &app,
        &path,
        &town.token,
        json!({ "url": "https://10.1.1.1/" }),
    )
    .await
    .assert_problem(422, "webhook_target_refused");
}

#[tokio::test]
async fn webhooks_are_managed_by_admins_only_and_never_show_their_secret_again() {
    let app = spawn_app_with(FAST).await;
    let town = app.register("public_body").await;
    let other = app.register("public_body").await;
    let (agent, _) = app.add_member(&town, "agent").await;
    let base = format!("/v1/organisations/{}/webhooks", town.id);
    let body = json!({ "url": "https://93.184.216.34/hook", "event_types": ["lot.*"] });
    app.post(&base, Some(&agent), body.clone())
        .await
        .assert_problem(403, "forbidden");
    app.post(&base, Some(&other.token), body.clone())
        .await
        .assert_problem(403, "forbidden");
    let created = app.post(&base, Some(&town.token), body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    let id = created.body["webhook"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.get(&base, Some(&agent))
        .await
        .assert_problem(403, "forbidden");
    app.get(&base, Some(&other.token))
        .await
        .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/organisations/{}/webhooks/{id}", other.id),
        Some(&other.token),
    )
    .await
    .assert_problem(404, "not_found");
    let list = app.get(&base, Some(&town.token)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert!(!list.text.contains(&secret));
    let path = format!("{base}/{id}");
    let paused = patch(&app, &path, &town.token, json!({ "status": "paused" })).await;
    assert_eq!(paused.body["status"], "paused", "{}", paused.text);
    patch(&app, &path, &town.token, json!({ "status": "disabled" }))
        .await
        .assert_problem(422, "validation_failed");
    patch(&app, &path, &agent, json!({ "status": "active" }))
        .await
        .assert_problem(403, "forbidden");
    let deleted = app.delete(&path, Some(&town.token)).await;
    assert_eq!(deleted.status, 204);
    app.get(&path, Some(&town.token))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_paused_subscription_gets_nothing_and_its_subject_filter_holds() {
    let app = spawn_app_with(FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    let receiver = Receiver::start(&[]).await;
    let first = lot_with_events(&app, &chain, "Premier").await;
    // Only the events of one lot.
    let r = app
        .post(
            &format!("/v1/organisations/{}/webhooks", chain.town.id),
            Some(&chain.town.token),
            json!({ "url": receiver.url, "event_types": ["lot.*"], "subject": format!("lot/{first}") }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let path = format!(
        "/v1/organisations/{}/webhooks/{}",
        chain.town.id,
        r.body["webhook"]["id"].as_str().expect("id")
    );
    lot_with_events(&app, &chain, "Second").await;
    let withdrawn = app
        .post(
            &format!("/v1/lots/{first}/withdraw"),
            Some(&chain.town.token),
            json!({}),
        )
        .await;
    assert!(withdrawn.status < 300, "{}", withdrawn.text);
    let got = receiver.wait_for(1, 10).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let got_all = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got_all.len(), 1, "only the first lot's event");
    assert_eq!(
        body_of(&got_all[0])["data"]["subject"],
        json!(format!("lot/{first}"))
    );

    patch(
        &app,
        &path,
        &chain.town.token,
        json!({ "status": "paused", "subject": null }),
    )
    .await;
    lot_with_events(&app, &chain, "Troisième").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got().len(), 1, "nothing while paused");
}

#[tokio::test]
async fn two_instances_on_one_database_deliver_each_event_once() {
    let app = spawn_app_with(FAST).await;
    let second = spawn_instance_of(&app, FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    let receiver = Receiver::start(&[]).await;
    let created = subscribe(&app, &chain.town, &receiver.url, &["site.*", "lot.*"]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    // Writes through both instances.
    for i in 0..14 {
        let on = if i % 2 == 0 { &app } else { &second };
        on.site(&chain.town, 47.6, 1.3).await;
    }
    lot_with_events(&second, &chain, "Lot partagé").await;
    // The events after the subscription (the chain's pickup site came before it).
    let subscribed = feed(&app, &chain.town, "types=webhook.created").await;
    let since = subscribed[0]["id"].as_str().expect("id");
    let expected = feed(
        &app,
        &chain.town,
        &format!("types=site.*,lot.*&since={since}"),
    )
    .await;
    assert_eq!(expected.len(), 17);
    let got = receiver.wait_for(expected.len(), 20).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = if receiver.got().len() > got.len() {
        receiver.got()
    } else {
        got
    };
    let ids: Vec<&String> = got.iter().map(|m| &m.headers["webhook-id"]).collect();
    let unique: BTreeSet<&&String> = ids.iter().collect();
    let log = deliveries(
        &app,
        &chain.town,
        created.body["webhook"]["id"].as_str().expect("id"),
    )
    .await;
    assert_eq!(
        got.len(),
        expected.len(),
        "each event delivered once: {ids:?} {log:#?}"
    );
    assert_eq!(unique.len(), ids.len(), "no event twice");
}

#[tokio::test]
async fn the_feed_filters_by_type_since_and_subject_and_agents_read_it() {
    let app = spawn_app_with(FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    let a = lot_with_events(&app, &chain, "Lot A").await;
    let b = lot_with_events(&app, &chain, "Lot B").await;
    let (agent, _) = app.add_member(&chain.town, "agent").await;

    let all = feed(&app, &chain.town, "").await;
    let lots = feed(&app, &chain.town, "types=lot.*").await;
    assert!(!lots.is_empty());
    assert!(
        lots.iter()
            .all(|e| e["type"].as_str().is_some_and(|t| t.starts_with("lot.")))
    );
    let want: Vec<&Value> = all
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("lot.")))
        .collect();
    assert_eq!(
        lots.iter().collect::<Vec<_>>(),
        want,
        "every lot event, in order"
    );
    let published = feed(&app, &chain.town, "types=lot.published").await;
    assert_eq!(published.len(), 2);
    assert!(published.iter().all(|e| e["kind"] == "lot_published"));
    assert_eq!(published[0]["href"], json!(format!("/v1/lots/{a}")));
    let two = feed(&app, &chain.town, "types=lot.published,member.added").await;
    assert!(two.iter().any(|e| e["type"] == "member.added"));
    assert_eq!(
        two.len(),
        2 + all.iter().filter(|e| e["type"] == "member.added").count()
    );
    // Types built from the stream (`item.…`) are not in the town's log for devices: these
    // come from its own organisation stream only when it registers items.
    let items = feed(&app, &chain.town, "types=item.*").await;
    assert!(
        items
            .iter()
            .all(|e| e["type"].as_str().is_some_and(|t| t.starts_with("item.")))
    );
    assert!(
        !items.is_empty(),
        "item registrations are in the town's log"
    );
    assert!(items.iter().all(|e| {
        e["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("item/"))
    }));

    // since: an event id, a cursor, a time.
    let pivot = &all[all.len() / 2];
    let after = feed(
        &app,
        &chain.town,
        &format!("since={}", pivot["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(after.len(), all.len() - all.len() / 2 - 1);
    assert_eq!(after[0], all[all.len() / 2 + 1]);
    let time = pivot["occurred_at"].as_str().expect("time");
    let from = feed(
        &app,
        &chain.town,
        &format!("since={}", time.replace('+', "%2B")),
    )
    .await;
    assert!(
        from.iter()
            .all(|e| e["occurred_at"].as_str().expect("t") >= time)
    );
    assert!(from.iter().any(|e| e["id"] == pivot["id"]));
    assert!(!from.iter().any(|e| e["id"] == all[0]["id"]));
    let future = feed(&app, &chain.town, "since=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());

    // subject: the events about one lot.
    let about_a = feed(&app, &chain.town, &format!("subject=lot/{a}")).await;
    assert!(about_a.len() >= 3);
    // About the lot: its own events, and those of its devices that name it.
    assert!(
        about_a.iter().all(
            |e| e["subject"] == json!(format!("lot/{a}")) || e["payload"]["lot_id"] == json!(a)
        )
    );
    assert!(about_a.iter().any(|e| e["kind"] == "lot_published"));
    assert!(
        !about_a.iter().any(
            |e| e["subject"] == json!(format!("lot/{b}")) || e["payload"]["lot_id"] == json!(b)
        )
    );
    let about_site = feed(&app, &chain.town, &format!("subject=site/{}", chain.site)).await;
    assert!(about_site.iter().any(|e| e["kind"] == "site_created"));
    assert!(
        about_site
            .iter()
            .all(|e| e["subject"] == json!(format!("site/{}", chain.site)))
    );

    // Agents read the feed; they may not verify the chain.
    let r = app
        .get(
            &format!("/v1/organisations/{}/events?types=lot.*", chain.town.id),
            Some(&agent),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(lots.len()));

    // Bad filters.
    for q in [
        "types=lot",
        "types=LOT.*",
        "since=yesterday",
        "subject=lot/12",
        "subject=user/0192f0c4-0000-7000-8000-000000000001",
    ] {
        app.get(
            &format!("/v1/organisations/{}/events?{q}", chain.town.id),
            Some(&chain.town.token),
        )
        .await
        .assert_problem(422, "validation_failed");
    }
}

#[tokio::test]
async fn the_feed_never_shows_another_organisations_events() {
    let app = spawn_app_with(FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    let lot = lot_with_events(&app, &chain, "Lot de la mairie").await;
    // The refurbisher claims it: the claim is in its own log, and the town's own events stay
    // in the town's.
    let claim = app
        .post(
            &format!("/v1/lots/{lot}/claims"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert!(claim.status < 300, "{}", claim.text);
    let mine = feed(&app, &chain.atelier, "").await;
    assert!(!mine.is_empty());
    assert!(
        mine.iter()
            .all(|e| e["organisation_id"] == json!(chain.atelier.id))
    );
    let about = feed(&app, &chain.atelier, &format!("subject=lot/{lot}")).await;
    assert!(
        about
            .iter()
            .all(|e| e["organisation_id"] == json!(chain.atelier.id))
    );
    assert!(
        !about.iter().any(|e| e["kind"] == "lot_created"),
        "the town's events are not here"
    );
    // Reading another organisation's feed answers 404, with any filter.
    for q in ["", "types=lot.*", &format!("subject=lot/{lot}")] {
        app.get(
            &format!("/v1/organisations/{}/events?{q}", chain.town.id),
            Some(&chain.atelier.token),
        )
        .await
        .assert_problem(404, "not_found");
    }
    // A webhook of the refurbisher receives only its own events.
    let receiver = Receiver::start(&[]).await;
    let r = subscribe(&app, &chain.atelier, &receiver.url, &["*"]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    lot_with_events(&app, &chain, "Autre lot").await;
    let got = receiver.wait_for(1, 5).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let got = if receiver.got().len() > got.len() {
        receiver.got()
    } else {
        got
    };
    assert!(
        got.iter()
            .all(|m| body_of(m)["data"]["organisation_id"] == json!(chain.atelier.id))
    );
    assert!(
        !got.iter()
            .any(|m| body_of(m)["data"]["kind"] == "lot_created")
    );
}

#[tokio::test]
async fn deliveries_of_one_subject_wait_behind_a_failed_one() {
    let app = spawn_app_with(FAST).await;
    let chain = chain_at(&app, 47.6, 1.3).await;
    // The first delivery fails twice; the lot's later events must not overtake it.
    let receiver = Receiver::start(&[500, 503]).await;
    let created = subscribe(&app, &chain.town, &receiver.url, &["lot.*"]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let lot = lot_with_events(&app, &chain, "Lot ordonné").await;
    let expected: Vec<String> = feed(&app, &chain.town, &format!("types=lot.*&subject=lot/{lot}"))
        .await
        .iter()
        .filter(|e| e["subject"] == json!(format!("lot/{lot}")))
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(expected.len() >= 3, "{expected:?}");
    let got = receiver.wait_for(expected.len() + 2, 20).await;
    let order: Vec<String> = got
        .iter()
        .map(|m| body_of(m)["data"]["id"].as_str().expect("id").to_owned())
        .collect();
    let mut want = vec![expected[0].clone(), expected[0].clone()];
    want.extend(expected.iter().cloned());
    assert_eq!(
        order, want,
        "the first event three times, then the others in order"
    );
}
