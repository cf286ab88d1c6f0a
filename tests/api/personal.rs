//! Personal data: the export of what the service holds about the caller, and erasure (by the
//! person or the operator), after which no table holds their name or address, every hash chain
//! still verifies and other people's exports are unchanged.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{Chain, Org, PASSWORD, TestApp, chain_at, spawn_app, unique_email};

const BLOIS: (f64, f64) = (47.5861, 1.3359);
const NAME: &str = "Zélie Marchetti-Quintal";

/// Every row of every table, as text (one line per row).
async fn dump(app: &TestApp) -> String {
    let db = &app.db;
    let backend = db.get_database_backend();
    let rows = |sql: String| async move {
        db.query_all_raw(Statement::from_string(backend, sql))
            .await
            .expect("dump query")
    };
    let tables: Vec<String> = match backend {
        DbBackend::Postgres => rows("SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'".to_owned()).await,
        _ => rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'".to_owned()).await,
    }
    .iter()
    .map(|r| r.try_get::<String>("", "name").expect("table name"))
    .collect();
    assert!(tables.len() > 20, "{tables:?}");
    let mut out = String::new();
    for t in tables {
        let columns: Vec<(String, String)> = match backend {
            DbBackend::Postgres => rows(format!("SELECT column_name::text AS name, data_type::text AS ty FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{t}'")).await,
            _ => rows(format!("SELECT name, type AS ty FROM pragma_table_info('{t}')")).await,
        }
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "name").expect("column"),
                r.try_get::<String>("", "ty").expect("type"),
            )
        })
        .collect();
        // Blobs (UUIDs on SQLite, replayed answers) come out as X'hex', decoded below.
        let exprs: Vec<String> = columns
            .iter()
            .map(|(c, ty)| match backend {
                DbBackend::Postgres if ty == "bytea" => {
                    format!(
                        "COALESCE('X' || chr(39) || upper(encode(\"{c}\", 'hex')) || chr(39), '')"
                    )
                }
                DbBackend::Postgres => format!("COALESCE(\"{c}\"::text, '')"),
                _ => format!("quote(\"{c}\")"),
            })
            .collect();
        let sql = format!("SELECT ({}) AS r FROM \"{t}\"", exprs.join(" || '|' || "));
        for r in rows(sql).await {
            out.push_str(&t);
            out.push(':');
            out.push_str(&unhex_blobs(&r.try_get::<String>("", "r").expect("row")));
            out.push('\n');
        }
    }
    out
}

/// Replaces each `X'…'` hex literal by the text its bytes hold (lossily).
fn unhex_blobs(row: &str) -> String {
    let mut out = String::new();
    let mut rest = row;
    while let Some(at) = rest.find("X'") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('\'').unwrap_or(after.len());
        let hex = &after[..end];
        if hex.chars().all(|c| c.is_ascii_hexdigit()) && hex.len().is_multiple_of(2) {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect();
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            out.push_str(&rest[at..at + 2 + end]);
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// The lines of `dump` that mention `needle`, ignoring case.
fn mentions(dump: &str, needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase();
    dump.lines()
        .filter(|l| l.to_lowercase().contains(&needle))
        .map(|l| l.chars().take(300).collect())
        .collect()
}

/// Invites `email` into `org` and accepts (a new account, or the existing one's password).
async fn join(app: &TestApp, org: &Org, email: &str, role: &str) -> Value {
    let before = app.mailer.sent().iter().filter(|m| m.to == email).count();
    let r = app
        .post(
            &format!("/v1/organisations/{}/invitations", org.id),
            Some(&org.token),
            json!({ "email": email, "role": role }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut token = None;
    for _ in 0..400 {
        let mails: Vec<_> = app
            .mailer
            .sent()
            .into_iter()
            .filter(|m| m.to == email)
            .collect();
        if mails.len() > before {
            let body = &mails[mails.len() - 1].body;
            let start = body.find("rmi_").expect("token in mail");
            token = body[start..].split_whitespace().next().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let r = app
        .post(
            "/v1/invitations/accept",
            None,
            json!({ "token": token.expect("invitation mail"), "display_name": NAME, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// A person who is an agent of the refurbisher and an admin of the association: she signs the
/// collection for the workshop, wipes and benches the device, is named on the handover,
/// confirms receipt for the association and signs its procès-verbal de remise.
struct Story {
    chain: Chain,
    asso: Org,
    email: String,
    user_id: String,
    token: String,
    item: String,
}

async fn story(app: &TestApp) -> Story {
    let chain = chain_at(app, BLOIS.0, BLOIS.1).await;
    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!("parents_eleves");
        })
        .await;
    app.verify(&chain.operator, &asso).await;
    let email = unique_email("zelie");
    let joined = join(app, &chain.atelier, &email, "agent").await;
    let user_id = joined["user"]["user_id"].as_str().expect("user").to_owned();
    join(app, &asso, &email, "admin").await;
    let token = app.login(&email, PASSWORD).await;

    let town = &chain.town.token;
    let atelier = &chain.atelier.token;
    let r = app
        .post(
            "/v1/items",
            Some(town),
            json!({
                "category": "laptop", "brand": "Dell", "model": "Latitude 5490",
                "has_data_storage": true, "inventory_number": format!("INV-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
                "acquisition_date": "2020-03-15", "net_book_value_cents": 0
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let item = r.body["id"].as_str().expect("id").to_owned();
    let lot = app
        .post(
            "/v1/lots",
            Some(town),
            json!({
                "title": "Lot de la mairie", "pickup_site_id": chain.site,
                "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
                "allocation_policy": "first_come", "visibility": "all_verified",
                "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    let lot = lot.body["id"].as_str().expect("lot").to_owned();
    for (path, token) in [
        (format!("/v1/lots/{lot}/items"), town),
        (format!("/v1/lots/{lot}/publish"), town),
        (format!("/v1/lots/{lot}/claims"), atelier),
    ] {
        let body = if path.ends_with("/items") {
            json!({ "item_ids": [item] })
        } else {
            json!({})
        };
        let r = app.post(&path, Some(token), body).await;
        assert!(r.status < 300, "{path}: {}", r.text);
    }
    let r = app
        .post(
            &format!("/v1/lots/{lot}/collection"),
            Some(atelier),
            json!({
                "occurred_on": "2026-11-28",
                "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
                "refurbisher_signatory": { "name": NAME, "role": "Technicienne" }
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let base = format!("/v1/items/{item}");
    let r = app
        .post(
            &format!("{base}/sanitisations"),
            Some(&token),
            json!({
                "medium_serial": "MED-ZMQ-1", "medium_type": "ssd", "method": "purge",
                "tool": "nwipe", "tool_version": "0.35", "verification_method": "Relecture complète",
                "success": true, "operator_name": NAME,
                "started_at": "2026-11-28T10:00:00Z", "ended_at": "2026-11-28T10:30:00Z"
            }),
        )
        .await;
    assert_eq!(r.status, 201, "wipe: {}", r.text);
    let r = app
        .post(
            &format!("{base}/refurbishments"),
            Some(&token),
            json!({
                "tests": [{ "name": "démarrage", "passed": true }],
                "parts_replaced": [], "operating_system": "Ubuntu 24.04 LTS", "grade": "A",
                "minutes_spent": 30, "technician_name": NAME,
                "storage_media": [{ "serial": "MED-ZMQ-1", "medium_type": "ssd" }]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "bench: {}", r.text);
    let r = app
        .post(&format!("{base}/publish"), Some(atelier), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/v1/reservations",
            Some(&asso.token),
            json!({ "item_ids": [item] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let reservation = r.body["id"].as_str().expect("reservation").to_owned();
    let r = app
        .post(
            &format!("/v1/reservations/{reservation}/handover"),
            Some(atelier),
            json!({
                "mode": "delivery", "occurred_on": "2026-11-29",
                "association_signatory": { "name": NAME, "role": "Présidente" },
                "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
                "commitment_no_resale": true, "commitment_reuse": true
            }),
        )
        .await;
    assert_eq!(r.body["status"], "handed_over", "{}", r.text);
    let r = app
        .post(
            &format!("/v1/reservations/{reservation}/receipt"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "receipt: {}", r.text);
    app.settle().await;
    let docs = app
        .get(
            &format!("/v1/reservations/{reservation}/documents"),
            Some(&token),
        )
        .await;
    let pv = docs.body["items"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["kind"] == "pv_remise"))
        .unwrap_or_else(|| panic!("no pv_remise: {}", docs.text));
    let r = app
        .post(
            &format!(
                "/v1/documents/{}/signatures",
                pv["id"].as_str().expect("doc")
            ),
            Some(&token),
            json!({ "signer_name": NAME, "signer_role": "Présidente", "organisation_id": asso.id }),
        )
        .await;
    assert!(r.status < 300, "sign: {}", r.text);
    app.settle().await;
    Story {
        chain,
        asso,
        email,
        user_id,
        token,
        item,
    }
}

async fn export(app: &TestApp, token: &str) -> Value {
    let r = app.get("/v1/me/export", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut body = r.body;
    body.as_object_mut().expect("export").remove("generated_at");
    body
}

async fn every_chain_verifies(app: &TestApp) -> usize {
    let heads = reemploi_api::store::events::all_heads(&app.db)
        .await
        .expect("heads");
    for h in &heads {
        let v = reemploi_api::store::events::verify_stream(&app.db, &h.stream)
            .await
            .expect("verify");
        assert_eq!(
            v.broken,
            None,
            "{}: {}",
            h.stream,
            v.broken
                .as_ref()
                .map(|b| b.message_fr())
                .unwrap_or_default()
        );
    }
    heads.len()
}

#[tokio::test]
async fn an_erased_signatory_operator_and_recipient_is_in_no_table_and_every_chain_still_verifies()
{
    let app = spawn_app().await;
    let s = story(&app).await;

    // Before: the name is where the story put it, and the export says so.
    let before = dump(&app).await;
    assert!(
        mentions(&before, NAME).len() >= 5,
        "{:?}",
        mentions(&before, NAME)
    );
    assert!(!mentions(&before, &s.email).is_empty());
    // No event payload holds a name or address: they refer to person records.
    assert!(
        mentions(&before, NAME)
            .iter()
            .all(|l| !l.starts_with("events:")),
        "{:?}",
        mentions(&before, NAME)
    );
    let mine = export(&app, &s.token).await;
    assert_eq!(mine["account"]["display_name"], NAME);
    assert_eq!(mine["account"]["email"], s.email.as_str());
    assert_eq!(
        mine["memberships"].as_array().map(Vec::len),
        Some(2),
        "{mine}"
    );
    assert!(!mine["sessions"].as_array().expect("sessions").is_empty());
    assert!(!mine.to_string().contains("token_hash"));
    assert_eq!(mine["signatures"][0]["signer_name"], NAME, "{mine}");
    let records = mine["workshop_records"].as_array().expect("records");
    assert_eq!(records.len(), 2, "{mine}");
    assert!(records.iter().all(|r| r["operator_name"] == NAME));
    let kinds: Vec<&str> = mine["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    for k in [
        "sanitisation_recorded",
        "confirm_receipt",
        "document_signed",
    ] {
        assert!(
            kinds
                .iter()
                .any(|x| x.contains(k.split('_').next().unwrap_or(k))),
            "{k} in {kinds:?}"
        );
    }
    assert!(
        mine["people"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == NAME)),
        "{mine}"
    );
    let other_before = export(&app, &s.asso.token).await;
    let town_before = export(&app, &s.chain.town.token).await;

    // Only the operator erases someone else.
    let path = format!("/v1/users/{}", s.user_id);
    app.delete(&path, None)
        .await
        .assert_problem(401, "unauthenticated");
    app.delete(&path, Some(&s.asso.token))
        .await
        .assert_problem(403, "forbidden");
    app.delete(
        &format!("/v1/users/{}", uuid::Uuid::now_v7()),
        Some(&s.chain.operator),
    )
    .await
    .assert_problem(404, "not_found");
    let r = app.delete(&path, Some(&s.chain.operator)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["memberships"], 2, "{}", r.text);
    assert!(
        r.body["rows"].as_u64().is_some_and(|n| n >= 5),
        "{}",
        r.text
    );
    app.delete(&path, Some(&s.chain.operator))
        .await
        .assert_problem(409, "conflict");

    // After: no table holds the name or the address.
    app.settle().await;
    let after = dump(&app).await;
    assert_eq!(mentions(&after, NAME), Vec::<String>::new());
    assert_eq!(mentions(&after, &s.email), Vec::<String>::new());
    assert_eq!(mentions(&after, "Marchetti"), Vec::<String>::new());
    assert!(!mentions(&after, "Personne effacée").is_empty());
    // The account no longer signs in, and its sessions are gone.
    app.get("/v1/me", Some(&s.token))
        .await
        .assert_problem(401, "unauthenticated");
    let login = app
        .post(
            "/v1/auth/login",
            None,
            json!({ "email": s.email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, 401, "{}", login.text);
    // Every chain still verifies, the device's included, through HTTP too.
    assert!(every_chain_verifies(&app).await > 5);
    let v = app
        .get(
            &format!("/v1/items/{}/events/verify", s.item),
            Some(&s.asso.token),
        )
        .await;
    assert_eq!(v.body["valid"], true, "{}", v.text);
    for org in [&s.asso, &s.chain.atelier] {
        let v = app
            .get(
                &format!("/v1/organisations/{}/events/verify", org.id),
                Some(&org.token),
            )
            .await;
        assert_eq!(v.body["valid"], true, "{}", v.text);
    }
    // Other people's exports are unaffected.
    assert_eq!(export(&app, &s.asso.token).await, other_before);
    assert_eq!(export(&app, &s.chain.town.token).await, town_before);
    // The erasure is in the audit log, without the name.
    let erased = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT payload FROM events WHERE stream = 'user/{}' AND kind = 'user_erased'",
                s.user_id
            ),
        ))
        .await
        .expect("query")
        .expect("erasure event");
    let payload: String = erased.try_get("", "payload").expect("payload");
    assert!(payload.contains("\"by\":\"operator\""), "{payload}");
}

#[tokio::test]
async fn a_member_erases_themselves_but_the_last_admin_must_first_name_another() {
    let app = spawn_app().await;
    let asso = app.register("association").await;
    let email = unique_email("leaving");
    let joined = join(&app, &asso, &email, "agent").await;
    let token = joined["token"].as_str().expect("token").to_owned();
    app.delete("/v1/me", None)
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/v1/me/export", None)
        .await
        .assert_problem(401, "unauthenticated");
    let mine = export(&app, &token).await;
    assert_eq!(mine["account"]["email"], email.as_str());
    assert_eq!(mine["memberships"][0]["role"], "agent");

    // The association's only admin is refused, and nothing changes.
    let members = app.count("memberships").await;
    app.delete("/v1/me", Some(&asso.token))
        .await
        .assert_problem(422, "last_admin");
    assert_eq!(app.count("memberships").await, members);
    assert_eq!(
        export(&app, &asso.token).await["account"]["email"],
        asso.admin_email.as_str()
    );

    let r = app.delete("/v1/me", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["memberships"], 1);
    assert_eq!(app.count("memberships").await, members - 1);
    app.get("/v1/me/export", Some(&token))
        .await
        .assert_problem(401, "unauthenticated");
    let after = dump(&app).await;
    assert_eq!(mentions(&after, &email), Vec::<String>::new());
    every_chain_verifies(&app).await;
    let log = app
        .get(
            &format!("/v1/organisations/{}/events?types=member.*", asso.id),
            Some(&asso.token),
        )
        .await;
    assert!(log.text.contains("erasure"), "{}", log.text);
}
