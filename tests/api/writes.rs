//! Every write appends its event: one walk through the service calls each write operation of
//! the published spec once (or more) and checks that the audit log grew with each call.
//!
//! The list of operations comes from the live spec, so a new write operation that this walk does
//! not exercise fails the test until it is added here, with its event.

use std::collections::BTreeSet;
use std::future::Future;

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    Org, PASSWORD, Receiver, Resp, TestApp, pdf_text, registration, spawn_app_with, unique_email,
};

/// POST operations that read: they must not append anything.
const READS_BY_POST: &[&str] = &[
    "verify_document_file",
    "print_item_labels",
    "verify_checkpoint",
];

struct Walk<'a> {
    app: &'a TestApp,
    seen: BTreeSet<String>,
    silent: Vec<String>,
}

impl<'a> Walk<'a> {
    /// Events written on behalf of someone (the background worker's own events are `system`).
    async fn events(&self) -> i64 {
        self.app.settle().await;
        let row = self
            .app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.app.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM events WHERE actor <> 'system'".to_owned(),
            ))
            .await
            .expect("count events")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    }

    /// Runs one call of `op`, which must succeed and append at least one event.
    async fn op(&mut self, op: &str, call: impl Future<Output = Resp>) -> Resp {
        let before = self.events().await;
        let r = call.await;
        assert!(r.status < 300, "{op} failed: {} {}", r.status, r.text);
        let after = self.events().await;
        if after <= before {
            self.silent.push(op.to_owned());
        }
        self.seen.insert(op.to_owned());
        r
    }

    async fn register(&mut self, kind: &str, edit: impl FnOnce(&mut Value)) -> Org {
        let app = self.app;
        let email = unique_email("admin");
        let mut body = registration(kind, &email);
        edit(&mut body);
        let r = self
            .op(
                "register_organisation",
                app.post("/v1/organisations", None, body),
            )
            .await;
        let login = self
            .op(
                "login",
                app.post(
                    "/v1/auth/login",
                    None,
                    json!({ "email": email, "password": PASSWORD }),
                ),
            )
            .await;
        Org {
            id: s(&r.body["organisation"]["id"]),
            admin_email: email,
            admin_id: s(&r.body["admin_user_id"]),
            token: s(&login.body["token"]),
        }
    }
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

fn wipe(serial: &str) -> Value {
    json!({
        "medium_serial": serial, "medium_type": "ssd", "method": "purge",
        "tool": "nwipe", "tool_version": "0.35", "verification_method": "Relecture complète",
        "success": true, "operator_name": "Inès Bernard",
        "started_at": "2026-11-28T10:00:00Z", "ended_at": "2026-11-28T10:30:00Z"
    })
}

fn bench() -> Value {
    json!({
        "tests": [{ "name": "démarrage", "passed": true }],
        "parts_replaced": [], "operating_system": "Ubuntu 24.04 LTS", "grade": "A",
        "minutes_spent": 30, "technician_name": "Inès Bernard"
    })
}

fn lot_body(site: &str) -> Value {
    json!({
        "title": "Postes de la médiathèque", "pickup_site_id": site,
        "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
        "allocation_policy": "first_come", "auto_accept": false, "visibility": "all_verified",
        "cession_mode": "to_refurbisher"
    })
}

fn small_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 12, |x, y| {
        image::Rgb([(x * 9) as u8, (y * 11) as u8, 90])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode");
    out
}

async fn multipart(
    app: &TestApp,
    path: &str,
    token: &str,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> Resp {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .expect("mime");
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("sent");
    Resp::read(r).await
}

/// The token of the last mail to `to` with a link under `path`.
async fn mailed_token(app: &TestApp, to: &str, path: &str) -> String {
    for _ in 0..200 {
        if let Some(mail) = app
            .mailer
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.to == to && m.body.contains(path))
        {
            let start = mail.body.find(path).expect("link") + path.len();
            return mail.body[start..]
                .split(|c: char| c.is_whitespace() || c == '?')
                .next()
                .expect("token")
                .to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no mail to {to} with a link to {path}");
}

/// The write operations of the live spec (POST, PUT, PATCH, DELETE).
async fn write_operations(app: &TestApp) -> BTreeSet<String> {
    let spec = app.get("/openapi.json", None).await;
    let mut ops = BTreeSet::new();
    for item in spec.body["paths"].as_object().expect("paths").values() {
        for (method, op) in item.as_object().expect("path item") {
            if ["post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.insert(s(&op["operationId"]));
            }
        }
    }
    ops
}

#[tokio::test]
async fn every_write_operation_of_the_spec_appends_an_event() {
    let app = spawn_app_with(&[("REEMPLOI_WEBHOOK_ALLOW", "127.0.0.1")]).await;
    let mut w = Walk {
        app: &app,
        seen: BTreeSet::new(),
        silent: Vec::new(),
    };
    let operator = app.operator().await;

    // Organisations, verification, profiles.
    let town = w.register("public_body", |_| {}).await;
    let atelier = w.register("refurbisher", |_| {}).await;
    let rival = w.register("refurbisher", |_| {}).await;
    let asso = w.register("association", |_| {}).await;
    // Verification with evidence: a proof uploaded, one item decided, the rest by `verify`.
    w.op(
        "upload_verification_document",
        app.post_bytes(
            &format!(
                "/v1/organisations/{}/verification/documents?item=statutes",
                asso.id
            ),
            Some(&asso.token),
            b"%PDF-1.4\n% statuts\n".to_vec(),
            "application/pdf",
        ),
    )
    .await;
    w.op(
        "decide_verification_item",
        app.post(
            &format!("/v1/organisations/{}/verification/decisions", asso.id),
            Some(&operator),
            json!({ "item": "statutes", "outcome": "accepted" }),
        ),
    )
    .await;
    for org in [&town, &atelier, &rival, &asso] {
        w.op(
            "verify_organisation",
            app.post(
                &format!("/v1/organisations/{}/verify", org.id),
                Some(&operator),
                json!({}),
            ),
        )
        .await;
    }
    let org_path = format!("/v1/organisations/{}", town.id);
    let mut profile = app.get(&org_path, Some(&town.token)).await.body;
    for k in [
        "id",
        "kind",
        "siren",
        "departement",
        "status",
        "status_reason",
        "version",
        "created_at",
        "updated_at",
    ] {
        profile.as_object_mut().expect("profile").remove(k);
    }
    profile["phone"] = json!("02 54 00 00 00");
    profile
        .as_object_mut()
        .expect("profile")
        .retain(|_, v| !v.is_null());
    w.op(
        "update_organisation",
        app.patch(&org_path, Some(&town.token), profile),
    )
    .await;

    // Members, invitations, API keys.
    let karim_email = unique_email("agent");
    w.op(
        "create_invitation",
        app.post(
            &format!("{org_path}/invitations"),
            Some(&town.token),
            json!({ "email": karim_email, "role": "agent" }),
        ),
    )
    .await;
    let token = app.invitation_token(&karim_email).await;
    let joined = w
        .op(
            "accept_invitation",
            app.post(
                "/v1/invitations/accept",
                None,
                json!({ "token": token, "display_name": "Karim", "password": PASSWORD }),
            ),
        )
        .await;
    let karim = s(&joined.body["user"]["user_id"]);
    w.op(
        "update_member",
        app.put(
            &format!("{org_path}/members/{karim}"),
            Some(&town.token),
            json!({ "role": "admin" }),
        ),
    )
    .await;
    w.op(
        "remove_member",
        app.delete(&format!("{org_path}/members/{karim}"), Some(&town.token)),
    )
    .await;
    let invitation = w
        .op(
            "create_invitation",
            app.post(
                &format!("{org_path}/invitations"),
                Some(&town.token),
                json!({ "email": unique_email("x"), "role": "agent" }),
            ),
        )
        .await;
    w.op(
        "revoke_invitation",
        app.delete(
            &format!("{org_path}/invitations/{}", s(&invitation.body["id"])),
            Some(&town.token),
        ),
    )
    .await;
    let key = w
        .op(
            "create_api_key",
            app.post(
                &format!("{org_path}/api-keys"),
                Some(&town.token),
                json!({ "name": "GLPI" }),
            ),
        )
        .await;
    w.op(
        "revoke_api_key",
        app.delete(
            &format!("{org_path}/api-keys/{}", s(&key.body["api_key"]["id"])),
            Some(&town.token),
        ),
    )
    .await;

    // Webhooks: the subscription receives its own `webhook.*` events, which gives a delivery
    // to redeliver by hand.
    let receiver = Receiver::start(&[]).await;
    let hook = w
        .op(
            "create_webhook",
            app.post(
                &format!("{org_path}/webhooks"),
                Some(&town.token),
                json!({ "url": receiver.url, "event_types": ["webhook.*"] }),
            ),
        )
        .await;
    let hook_path = format!("{org_path}/webhooks/{}", s(&hook.body["webhook"]["id"]));
    w.op(
        "update_webhook",
        app.send(
            reqwest::Method::PATCH,
            &hook_path,
            Some(&town.token),
            Some(json!({ "event_types": ["webhook.*", "lot.published"] })),
            &[],
        ),
    )
    .await;
    w.op(
        "rotate_webhook_secret",
        app.post(
            &format!("{hook_path}/rotate-secret"),
            Some(&town.token),
            json!({}),
        ),
    )
    .await;
    receiver.wait_for(1, 10).await;
    let mut delivered = None;
    for _ in 0..200 {
        let log = app
            .get(&format!("{hook_path}/deliveries"), Some(&town.token))
            .await;
        delivered = log.body["items"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["status"] == "succeeded"))
            .map(|d| s(&d["id"]));
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let delivered = delivered.expect("a webhook delivery succeeded");
    w.op(
        "redeliver_webhook",
        app.post(
            &format!("{hook_path}/deliveries/{delivered}/redeliver"),
            Some(&town.token),
            json!({}),
        ),
    )
    .await;
    w.op("delete_webhook", app.delete(&hook_path, Some(&town.token)))
        .await;

    // Sites.
    let site_body = json!({
        "name": "Services techniques", "kind": "pickup", "address": "5 rue des Ateliers",
        "postcode": "41000", "city": "Saint-Ouen-sur-Loire", "insee_code": "41230",
        "latitude": 47.61, "longitude": 1.33
    });
    let site = s(&w
        .op(
            "create_site",
            app.post(
                &format!("{org_path}/sites"),
                Some(&town.token),
                site_body.clone(),
            ),
        )
        .await
        .body["id"]);
    let mut renamed = site_body.clone();
    renamed["name"] = json!("Centre technique municipal");
    w.op(
        "update_site",
        app.patch(
            &format!("{org_path}/sites/{site}"),
            Some(&town.token),
            renamed,
        ),
    )
    .await;
    let spare = s(&w
        .op(
            "create_site",
            app.post(&format!("{org_path}/sites"), Some(&town.token), site_body),
        )
        .await
        .body["id"]);
    w.op(
        "archive_site",
        app.delete(&format!("{org_path}/sites/{spare}"), Some(&town.token)),
    )
    .await;

    // Inventory.
    let mut items = Vec::new();
    for n in 0..6 {
        let r = w
            .op(
                "create_item",
                app.post(
                    "/v1/items",
                    Some(&town.token),
                    json!({
                        "inventory_number": format!("WALK-{n}-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]),
                        "category": "laptop", "brand": "Dell", "model": "Latitude 5490",
                        "serial_number": format!("SN{n}"), "has_data_storage": true,
                        "acquisition_date": "2020-03-15", "acquisition_value_cents": 94861,
                        "net_book_value_cents": 0
                    }),
                ),
            )
            .await;
        items.push(s(&r.body["id"]));
    }
    let item0 = app
        .get(&format!("/v1/items/{}", items[0]), Some(&town.token))
        .await
        .body;
    w.op(
        "update_item",
        app.patch(
            &format!("/v1/items/{}", items[0]),
            Some(&town.token),
            json!({
                "inventory_number": item0["inventory_number"], "category": "laptop", "brand": "Dell",
                "model": "Latitude 5490", "serial_number": "SN0", "has_data_storage": true,
                "acquisition_date": "2020-03-15", "acquisition_value_cents": 94861,
                "net_book_value_cents": 0, "location": "Réserve du 2e étage"
            }),
        ),
    )
    .await;
    let template = app.get("/v1/items/import/template", None).await;
    w.op(
        "import_items",
        app.post_raw(
            "/v1/items/import",
            &town.token,
            template.text.into_bytes(),
            "text/csv",
        ),
    )
    .await;
    let photo = w
        .op(
            "upload_photo",
            multipart(
                &app,
                &format!("/v1/items/{}/photos", items[5]),
                &town.token,
                "photo.png",
                "image/png",
                small_png(),
            ),
        )
        .await;
    w.op(
        "delete_photo",
        app.delete(
            &format!("/v1/items/{}/photos/{}", items[5], s(&photo.body["id"])),
            Some(&town.token),
        ),
    )
    .await;

    // The ceiling: a value the body confirms, the operator's override; a direct cession (5°).
    let unvalued = s(&w
        .op(
            "create_item",
            app.post(
                "/v1/items",
                Some(&town.token),
                json!({
                    "inventory_number": format!("WALK-V-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]),
                    "category": "monitor", "has_data_storage": false, "acquisition_date": "2023-01-10"
                }),
            ),
        )
        .await
        .body["id"]);
    w.op(
        "confirm_item_valuation",
        app.post(
            &format!("/v1/items/{unvalued}/valuation"),
            Some(&town.token),
            json!({ "method": "estimate" }),
        ),
    )
    .await;
    w.op(
        "override_item_ceiling",
        app.post(
            &format!("/v1/items/{unvalued}/ceiling-override"),
            Some(&operator),
            json!({ "reason": "Écran rayé, sans valeur de revente" }),
        ),
    )
    .await;
    w.op(
        "create_direct_cession",
        app.post(
            "/v1/cessions",
            Some(&town.token),
            json!({
                "route": "staff", "staff": { "name": "Camille Durand", "position": "Agente d'accueil" },
                "item_ids": [unvalued], "handed_over_on": "2026-11-28", "commitment_reuse": true
            }),
        ),
    )
    .await;

    // Partnerships.
    let partnership = w
        .op(
            "create_partnership",
            app.post(
                "/v1/partnerships",
                Some(&town.token),
                json!({ "refurbisher_id": atelier.id }),
            ),
        )
        .await;
    w.op(
        "delete_partnership",
        app.delete(
            &format!("/v1/partnerships/{}", s(&partnership.body["id"])),
            Some(&town.token),
        ),
    )
    .await;

    // A lot from draft to collection, with a rejected claim.
    let lot = s(&w
        .op(
            "create_lot",
            app.post("/v1/lots", Some(&town.token), lot_body(&site)),
        )
        .await
        .body["id"]);
    let mut changed = lot_body(&site);
    changed["description"] = json!("Portables reformés en 2026.");
    w.op(
        "update_lot",
        app.patch(&format!("/v1/lots/{lot}"), Some(&town.token), changed),
    )
    .await;
    w.op(
        "add_lot_items",
        app.post(
            &format!("/v1/lots/{lot}/items"),
            Some(&town.token),
            json!({ "item_ids": items[..4] }),
        ),
    )
    .await;
    w.op(
        "remove_lot_item",
        app.delete(
            &format!("/v1/lots/{lot}/items/{}", items[3]),
            Some(&town.token),
        ),
    )
    .await;
    w.op(
        "publish_lot",
        app.post(
            &format!("/v1/lots/{lot}/publish"),
            Some(&town.token),
            json!({}),
        ),
    )
    .await;
    let ours = w
        .op(
            "claim_lot",
            app.post(
                &format!("/v1/lots/{lot}/claims"),
                Some(&atelier.token),
                json!({}),
            ),
        )
        .await;
    let theirs = w
        .op(
            "claim_lot",
            app.post(
                &format!("/v1/lots/{lot}/claims"),
                Some(&rival.token),
                json!({}),
            ),
        )
        .await;
    w.op(
        "reject_claim",
        app.post(
            &format!("/v1/claims/{}/reject", s(&theirs.body["id"])),
            Some(&town.token),
            json!({}),
        ),
    )
    .await;
    w.op(
        "accept_claim",
        app.post(
            &format!("/v1/claims/{}/accept", s(&ours.body["id"])),
            Some(&town.token),
            json!({}),
        ),
    )
    .await;

    // A second lot, claimed then withdrawn by both sides.
    let other = s(&w
        .op(
            "create_lot",
            app.post("/v1/lots", Some(&town.token), lot_body(&site)),
        )
        .await
        .body["id"]);
    w.op(
        "add_lot_items",
        app.post(
            &format!("/v1/lots/{other}/items"),
            Some(&town.token),
            json!({ "item_ids": [items[4]] }),
        ),
    )
    .await;
    w.op(
        "publish_lot",
        app.post(
            &format!("/v1/lots/{other}/publish"),
            Some(&town.token),
            json!({}),
        ),
    )
    .await;
    let claim = w
        .op(
            "claim_lot",
            app.post(
                &format!("/v1/lots/{other}/claims"),
                Some(&rival.token),
                json!({}),
            ),
        )
        .await;
    w.op(
        "withdraw_claim",
        app.post(
            &format!("/v1/claims/{}/withdraw", s(&claim.body["id"])),
            Some(&rival.token),
            json!({}),
        ),
    )
    .await;
    w.op(
        "withdraw_lot",
        app.post(
            &format!("/v1/lots/{other}/withdraw"),
            Some(&town.token),
            json!({}),
        ),
    )
    .await;

    // Paperwork of the first lot: deciding act, a document on demand, signature, signed scan.
    w.op(
        "set_lot_decision",
        app.put(
            &format!("/v1/lots/{lot}/decision"),
            Some(&town.token),
            json!({ "kind": "deliberation", "reference": "2026-112", "date": "2026-11-20" }),
        ),
    )
    .await;
    w.op(
        "generate_lot_document",
        app.post(
            &format!("/v1/lots/{lot}/documents"),
            Some(&town.token),
            json!({ "kind": "projet_deliberation" }),
        ),
    )
    .await;
    app.settle().await;
    let docs = app
        .get(&format!("/v1/lots/{lot}/documents"), Some(&town.token))
        .await;
    let convention = docs.body["items"]
        .as_array()
        .expect("documents")
        .iter()
        .rev()
        .find(|d| d["kind"] == "convention_cession")
        .unwrap_or_else(|| panic!("no convention: {}", docs.text))
        .clone();
    let doc_id = s(&convention["id"]);
    w.op(
        "sign_document",
        app.post(
            &format!("/v1/documents/{doc_id}/signatures"),
            Some(&town.token),
            json!({ "signer_name": "Claire Martin", "signer_role": "Maire adjointe" }),
        ),
    )
    .await;
    let pdf = app.pdf(&doc_id, &town.token).await;
    assert!(pdf_text(&pdf).contains(&s(&convention["code"])));
    w.op(
        "upload_signed_scan",
        app.post_bytes(
            &format!("/v1/documents/{doc_id}/scan"),
            Some(&town.token),
            b"%PDF-1.4\n% copie papier signee\n".to_vec(),
            "application/pdf",
        ),
    )
    .await;
    w.op(
        "attest_signed_scan",
        app.post(
            &format!("/v1/documents/{doc_id}/scan/attestations"),
            Some(&atelier.token),
            json!({ "signer_name": "Inès Bernard", "signer_role": "Directrice" }),
        ),
    )
    .await;

    // Collection, then the workshop.
    w.op(
        "record_collection",
        app.post(
            &format!("/v1/lots/{lot}/collection"),
            Some(&atelier.token),
            json!({
                "occurred_on": "2026-11-28",
                "signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
            }),
        ),
    )
    .await;
    app.settle().await;
    let papers = app
        .get(&format!("/v1/lots/{lot}/documents"), Some(&town.token))
        .await;
    let pv = papers.body["items"]
        .as_array()
        .expect("documents")
        .iter()
        .find(|d| d["kind"] == "pv_enlevement")
        .unwrap_or_else(|| panic!("no pv: {}", papers.text))
        .clone();
    w.op(
        "contest_document",
        app.post(
            &format!("/v1/documents/{}/contest", s(&pv["id"])),
            Some(&town.token),
            json!({ "reason": "Un équipement manquait." }),
        ),
    )
    .await;
    for (n, id) in items[..2].iter().enumerate() {
        let base = format!("/v1/items/{id}");
        w.op(
            "declare_storage_media",
            app.put(
                &format!("{base}/storage-media"),
                Some(&atelier.token),
                json!({ "storage_media": [{ "serial": format!("DISK-{n}"), "medium_type": "ssd" }] }),
            ),
        )
        .await;
        let record = w
            .op(
                "record_sanitisation",
                app.post(
                    &format!("{base}/sanitisations"),
                    Some(&atelier.token),
                    wipe(&format!("DISK-{n}")),
                ),
            )
            .await;
        if n == 0 {
            w.op(
                "attach_sanitisation_report",
                multipart(
                    &app,
                    &format!("{base}/sanitisations/{}/report", s(&record.body["id"])),
                    &atelier.token,
                    "nwipe.log",
                    "text/plain",
                    b"nwipe 0.35: /dev/sda PRNG stream, verify last pass: SUCCESS\n".to_vec(),
                ),
            )
            .await;
            w.op(
                "override_item_age",
                app.post(
                    &format!("{base}/age-override"),
                    Some(&operator),
                    json!({ "reason": "Poste en parfait état, demandé par un atelier numérique" }),
                ),
            )
            .await;
        }
        w.op(
            "record_refurbishment",
            app.post(
                &format!("{base}/refurbishments"),
                Some(&atelier.token),
                bench(),
            ),
        )
        .await;
        w.op(
            "publish_item",
            app.post(&format!("{base}/publish"), Some(&atelier.token), json!({})),
        )
        .await;
    }
    w.op(
        "unpublish_item",
        app.post(
            &format!("/v1/items/{}/unpublish", items[1]),
            Some(&atelier.token),
            json!({}),
        ),
    )
    .await;
    w.op(
        "publish_item",
        app.post(
            &format!("/v1/items/{}/publish", items[1]),
            Some(&atelier.token),
            json!({}),
        ),
    )
    .await;
    w.op(
        "dispose_item",
        app.post(
            &format!("/v1/items/{}/disposal", items[2]),
            Some(&atelier.token),
            json!({ "channel": "eco_organisme", "recycler_name": "ecosystem", "weight_kg": 2.1, "disposed_on": "2026-11-29" }),
        ),
    )
    .await;

    // Demand: a request, a reservation cancelled then made again, a proposal declined then one
    // accepted, a handover and its receipt, a cancelled request, the fair share.
    w.op(
        "set_fair_share",
        app.put(
            &format!("/v1/organisations/{}/fair-share", atelier.id),
            Some(&atelier.token),
            json!({ "max_items_per_association": 20 }),
        ),
    )
    .await;
    let request = |quantity: u32| {
        app.post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Atelier d'inclusion numérique", "beneficiaries": 12, "needed_by": "2027-01-31",
                "lines": [{ "category": "laptop", "quantity": quantity }]
            }),
        )
    };
    let req = s(&w.op("create_request", request(2)).await.body["id"]);
    let first = w
        .op(
            "create_reservation",
            app.post(
                "/v1/reservations",
                Some(&asso.token),
                json!({ "item_ids": [items[0]] }),
            ),
        )
        .await;
    w.op(
        "cancel_reservation",
        app.post(
            &format!("/v1/reservations/{}/cancel", s(&first.body["id"])),
            Some(&asso.token),
            json!({}),
        ),
    )
    .await;
    let reservation = s(&w
        .op(
            "create_reservation",
            app.post(
                "/v1/reservations",
                Some(&asso.token),
                json!({ "item_ids": [items[0]], "request_id": req, "line": 1 }),
            ),
        )
        .await
        .body["id"]);
    let proposal = w
        .op(
            "propose_items",
            app.post(
                &format!("/v1/requests/{req}/proposals"),
                Some(&atelier.token),
                json!({ "line": 1, "item_ids": [items[1]] }),
            ),
        )
        .await;
    w.op(
        "decline_proposal",
        app.post(
            &format!("/v1/reservations/{}/decline", s(&proposal.body["id"])),
            Some(&asso.token),
            json!({}),
        ),
    )
    .await;
    // The device declined above comes back in the matching view; the refurbisher confirms it.
    let view = app
        .get(
            &format!("/v1/organisations/{}/matching", atelier.id),
            Some(&atelier.token),
        )
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    let confirmed = w
        .op(
            "confirm_proposals",
            app.post(
                &format!("/v1/organisations/{}/matching/proposals", atelier.id),
                Some(&atelier.token),
                json!({ "proposals": [{ "request_id": req, "line": 1, "item_ids": [items[1]] }] }),
            ),
        )
        .await;
    let proposal = Resp {
        body: confirmed.body["items"][0].clone(),
        ..confirmed
    };
    w.op(
        "accept_proposal",
        app.post(
            &format!("/v1/reservations/{}/accept", s(&proposal.body["id"])),
            Some(&asso.token),
            json!({}),
        ),
    )
    .await;
    w.op(
        "schedule_handover",
        app.post(
            &format!("/v1/reservations/{reservation}/schedule"),
            Some(&atelier.token),
            json!({ "mode": "pickup", "planned_on": "2026-12-03" }),
        ),
    )
    .await;
    w.op(
        "record_handover",
        app.post(
            &format!("/v1/reservations/{reservation}/handover"),
            Some(&atelier.token),
            json!({
                "mode": "pickup", "occurred_on": "2026-11-29",
                "association_signatory": { "name": "Théo Lambert", "role": "Président" },
                "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
                "commitment_no_resale": true, "commitment_reuse": true
            }),
        ),
    )
    .await;
    w.op(
        "record_handovers",
        app.post(
            "/v1/handovers",
            Some(&atelier.token),
            json!({
                "reservation_ids": [s(&proposal.body["id"])], "mode": "delivery", "occurred_on": "2026-11-29",
                "signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" },
                "commitment_no_resale": true, "commitment_reuse": true
            }),
        ),
    )
    .await;
    w.op(
        "confirm_receipt",
        app.post(
            &format!("/v1/reservations/{reservation}/receipt"),
            Some(&asso.token),
            json!({}),
        ),
    )
    .await;
    let spare_request = s(&w.op("create_request", request(1)).await.body["id"]);
    w.op(
        "cancel_request",
        app.post(
            &format!("/v1/requests/{spare_request}/cancel"),
            Some(&asso.token),
            json!({}),
        ),
    )
    .await;

    // Reference data and moderation.
    w.op(
        "publish_factor_set",
        app.post(
            "/v1/impact/factor-sets",
            Some(&operator),
            json!({
                "version": "walk-2027.1", "published_on": "2026-11-30",
                "factors": [{ "category": "laptop", "co2e_kg": 200.0, "weight_kg": 2.0, "source": "Étude test" }]
            }),
        ),
    )
    .await;
    // The workshop's tools and batches, on a lot of their own.
    {
        let chain = crate::helpers::Chain {
            operator: operator.clone(),
            town: town.clone(),
            atelier: atelier.clone(),
            site: site.clone(),
        };
        let desktop = json!({ "category": "desktop", "serial_number": "5CG8XQ2" });
        let (_, tools) = app.collect_lot(&chain, &[desktop.clone(), desktop]).await;
        let report: Value =
            serde_json::from_str(include_str!("../fixtures/lshw-desktop-two-disks.json"))
                .expect("fixture");
        w.op(
            "submit_hardware_report",
            app.post(
                &format!("/v1/items/{}/hardware-report", tools[0]),
                Some(&atelier.token),
                report.clone(),
            ),
        )
        .await;
        let other = report
            .to_string()
            .replace("Z9AEXQ4R", "Z9AEOTHR")
            .replace("S3Z9NB0K612345X", "S3Z9NB0KOTHER");
        w.op(
            "submit_hardware_reports",
            app.post(
                "/v1/workshop/hardware-reports",
                Some(&atelier.token),
                json!({ "reports": [{ "item_id": tools[1], "report": serde_json::from_str::<Value>(&other).expect("json") }] }),
            ),
        )
        .await;
        w.op(
            "correct_item_specs",
            app.send(
                reqwest::Method::PATCH,
                &format!("/v1/items/{}/specs", tools[0]),
                Some(&atelier.token),
                Some(json!({ "ram_gb": 32 })),
                &[],
            ),
        )
        .await;
        let log = crate::workshop_tools::nwipe_log(&[
            ("sda", "Samsung SSD 860", "S3Z9NB0K612345X", true),
            ("sdb", "ST1000DM010-2EP1", "Z9AEXQ4R", true),
        ]);
        w.op(
            "submit_wipe_report",
            app.post_raw(
                &format!("/v1/items/{}/wipe-report", tools[0]),
                &atelier.token,
                log.into_bytes(),
                "text/plain",
            ),
        )
        .await;
        let log = crate::workshop_tools::nwipe_log(&[
            ("sda", "Samsung SSD 860", "S3Z9NB0KOTHER", true),
            ("sdb", "ST1000DM010-2EP1", "Z9AEOTHR", true),
        ]);
        w.op(
            "submit_batch_wipe_report",
            app.post_raw(
                &format!("/v1/workshop/wipe-report?item_id={}", tools[1]),
                &atelier.token,
                log.into_bytes(),
                "text/plain",
            ),
        )
        .await;
        w.op(
            "record_batch_refurbishments",
            app.post(
                "/v1/workshop/refurbishments",
                Some(&atelier.token),
                json!({ "item_ids": tools, "refurbishment": bench() }),
            ),
        )
        .await;
        // The SSDs were only overwritten (`clear`): publication is refused on each, which
        // writes nothing; a crypto erase then lets the first one through.
        let refused = app
            .post(
                "/v1/workshop/publications",
                Some(&atelier.token),
                json!({ "item_ids": tools }),
            )
            .await;
        assert_eq!(refused.body["failed"], 2, "{}", refused.text);
        app.post(
            &format!("/v1/items/{}/sanitisations", tools[0]),
            Some(&atelier.token),
            {
                let mut c = wipe("S3Z9NB0K612345X");
                c["method"] = json!("crypto_erase");
                c["started_at"] = json!("2026-11-28T12:00:00Z");
                c["ended_at"] = json!("2026-11-28T12:05:00Z");
                c
            },
        )
        .await;
        let published = w
            .op(
                "publish_items",
                app.post(
                    "/v1/workshop/publications",
                    Some(&atelier.token),
                    json!({ "item_ids": [tools[0]] }),
                ),
            )
            .await;
        assert_eq!(published.body["succeeded"], 1, "{}", published.text);
    }
    w.op(
        "suspend_organisation",
        app.post(
            &format!("/v1/organisations/{}/suspend", rival.id),
            Some(&operator),
            json!({ "reason": "Agrément retiré" }),
        ),
    )
    .await;
    // The OIDC requirement may be lifted from any admin session (requiring it needs an OIDC
    // session: tests/api/oidc.rs). Starting and finishing an OIDC sign-in are GETs (a browser's
    // redirects) and need the provider: tests/api/oidc.rs checks their events.
    w.op(
        "set_oidc_policy",
        app.put(
            &format!("/v1/organisations/{}/oidc-policy", town.id),
            Some(&town.token),
            json!({ "required": false }),
        ),
    )
    .await;
    let spare = app.login(&town.admin_email, PASSWORD).await;
    w.op(
        "logout_oidc",
        app.post("/v1/auth/oidc/logout", Some(&spare), json!({})),
    )
    .await;
    // A person's own account: profile, address, password.
    w.op(
        "update_me",
        app.send(
            reqwest::Method::PATCH,
            "/v1/me",
            Some(&asso.token),
            Some(json!({ "language": "en" })),
            &[],
        ),
    )
    .await;
    w.op(
        "request_email_verification",
        app.post("/v1/me/email-verification", Some(&asso.token), json!({})),
    )
    .await;
    let verification = mailed_token(&app, &asso.admin_email, "/compte/adresse/").await;
    w.op(
        "verify_email",
        app.post(
            "/v1/auth/verify-email",
            None,
            json!({ "token": verification }),
        ),
    )
    .await;
    let changed = "une autre phrase de passe";
    w.op(
        "change_password",
        app.post(
            "/v1/me/password",
            Some(&asso.token),
            json!({ "current_password": PASSWORD, "new_password": changed }),
        ),
    )
    .await;
    w.op(
        "request_password_reset",
        app.post(
            "/v1/auth/password-reset",
            None,
            json!({ "email": asso.admin_email }),
        ),
    )
    .await;
    let reset = mailed_token(&app, &asso.admin_email, "/compte/mot-de-passe/").await;
    w.op(
        "reset_password",
        app.post(
            "/v1/auth/password-reset/confirm",
            None,
            json!({ "token": reset, "password": PASSWORD }),
        ),
    )
    .await;
    let asso_token = app.login(&asso.admin_email, PASSWORD).await;
    let spare = app.login(&asso.admin_email, PASSWORD).await;
    w.op(
        "logout",
        app.post("/v1/auth/logout", Some(&asso_token), json!({})),
    )
    .await;
    w.op(
        "logout_everywhere",
        app.post("/v1/auth/logout-everywhere", Some(&spare), json!({})),
    )
    .await;

    // Checkpoints of the event log, and erasure of personal data.
    let checkpoint = w
        .op(
            "take_checkpoint",
            app.post("/v1/checkpoints", Some(&operator), json!({})),
        )
        .await;
    // The association's admin signed out above: sign in again to invite.
    let asso = Org {
        token: app.login(&asso.admin_email, PASSWORD).await,
        id: asso.id.clone(),
        admin_email: asso.admin_email.clone(),
        admin_id: asso.admin_id.clone(),
    };
    let (_, erased) = app.add_member(&asso, "agent").await;
    w.op(
        "erase_user",
        app.delete(&format!("/v1/users/{erased}"), Some(&operator)),
    )
    .await;
    let (leaving, _) = app.add_member(&asso, "agent").await;
    w.op("erase_me", app.delete("/v1/me", Some(&leaving))).await;

    // Checking a kept checkpoint reads: it appends nothing.
    let before = w.events().await;
    let check = app
        .post("/v1/checkpoints/verify", None, checkpoint.body.clone())
        .await;
    assert_eq!(check.body["valid"], true, "{}", check.text);
    assert_eq!(w.events().await, before, "verify_checkpoint must not write");

    // After every write of the spec, every chain still verifies, heads and device states
    // included.
    let heads = reemploi_api::store::events::all_heads(&app.db)
        .await
        .expect("heads");
    assert!(heads.len() > 10);
    for h in heads {
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

    // A verification by upload reads: it appends nothing.
    let before = w.events().await;
    let code = s(&convention["code"]);
    let check = app
        .post_bytes(&format!("/v1/verify/{code}"), None, pdf, "application/pdf")
        .await;
    assert_eq!(check.status, 200, "{}", check.text);
    assert_eq!(
        w.events().await,
        before,
        "verify_document_file must not write"
    );

    // Printing labels reads too.
    let before = w.events().await;
    let labels = app
        .client
        .post(app.url("/v1/items/labels"))
        .bearer_auth(&town.token)
        .json(&json!({ "item_ids": [items[0]] }))
        .send()
        .await
        .expect("labels");
    assert_eq!(labels.status(), 200);
    assert_eq!(w.events().await, before, "print_item_labels must not write");

    let spec = write_operations(&app).await;
    let mut walked = w.seen.clone();
    walked.extend(READS_BY_POST.iter().map(|s| (*s).to_owned()));
    let missing: Vec<&String> = spec.difference(&walked).collect();
    assert!(
        missing.is_empty(),
        "write operations this walk does not exercise: {missing:?}"
    );
    let unknown: Vec<&String> = walked.difference(&spec).collect();
    assert!(
        unknown.is_empty(),
        "walked operations not in the spec: {unknown:?}"
    );
    w.silent.sort();
    w.silent.dedup();
    assert!(
        w.silent.is_empty(),
        "write operations that appended no event: {:?}",
        w.silent
    );
}
