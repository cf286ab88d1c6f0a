//! Pages for people: the verification page a document's QR code opens, a device's public
//! history page, their HTML error pages and rate limit, and the QR label sheets (read back with
//! `pdftotext`, and one QR code decoded with `zbarimg` after `pdftoppm`).

use serde_json::{Value, json};

use crate::helpers::{Chain, Resp, TestApp, chain_at, pdf_text, spawn_app, spawn_app_with};

const BLOIS: (f64, f64) = (47.5861, 1.3359);

/// Two laptops all the way to the catalogue at `chain`'s refurbisher; their ids and the lot.
async fn published(app: &TestApp, chain: &Chain) -> (Vec<String>, String) {
    let ids = app
        .make_available(
            chain,
            &[
                json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "serial_number": "SN-PAGE-1", "net_book_value_cents": 12000 }),
                json!({ "category": "laptop", "brand": "Lenovo", "model": "ThinkPad T480", "serial_number": "SN-PAGE-2", "net_book_value_cents": 0 }),
            ],
        )
        .await;
    let item = app
        .get(&format!("/v1/items/{}", ids[0]), Some(&chain.town.token))
        .await;
    let lot = item.body["lot_id"].as_str().expect("lot").to_owned();
    app.settle().await;
    (ids, lot)
}

async fn page(app: &TestApp, path: &str, lang: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = lang.map(|l| ("accept-language", l)).into_iter().collect();
    app.send(reqwest::Method::GET, path, None, None, &headers)
        .await
}

#[track_caller]
fn is_page(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8"),
        "{}",
        r.text
    );
    assert!(r.text.starts_with("<!DOCTYPE html>"), "{}", r.text);
    assert!(!r.text.contains("<script"), "no JavaScript");
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    for landmark in ["<header>", "<main", "<footer>", "<h1>"] {
        assert!(r.text.contains(landmark), "{landmark} missing");
    }
}

#[track_caller]
fn has_all(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "« {n} » missing from:\n{text}");
    }
}

#[track_caller]
fn in_order(text: &str, needles: &[&str]) {
    let mut at = 0;
    for n in needles {
        match text[at..].find(n) {
            Some(i) => at += i + n.len(),
            None => panic!("« {n} » missing or out of order in:\n{text}"),
        }
    }
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

fn display(code: &str) -> String {
    format!("{}-{}", &code[..5], &code[5..])
}

async fn upload(app: &TestApp, path: &str, file: Option<Vec<u8>>) -> Resp {
    let mut form = reqwest::multipart::Form::new().text("note", "x");
    if let Some(bytes) = file {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("document.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    }
    let r = app
        .client
        .post(app.url(path))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    Resp::read(r).await
}

#[tokio::test]
async fn the_verification_page_shows_parties_signatures_and_the_current_version_in_french_and_english()
 {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (_, lot) = published(&app, &chain).await;
    let list = app
        .get(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
        )
        .await;
    let v1 = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|d| d["kind"] == "convention_cession")
        .expect("a convention")
        .clone();
    let v1_code = s(&v1["code"]);
    // The printed link and the QR code open the page.
    let url = format!("{}/v/{v1_code}", app.base);
    assert_eq!(s(&v1["verify_url"]), url);
    let text = pdf_text(&app.pdf(&s(&v1["id"]), &chain.town.token).await);
    assert!(text.contains(&url), "{text}");

    let v2 = app
        .post(
            &format!("/v1/documents/{}/signatures", s(&v1["id"])),
            Some(&chain.town.token),
            json!({ "signer_name": "Claire Martin", "signer_role": "Maire adjointe" }),
        )
        .await;
    assert_eq!(v2.status, 201, "{}", v2.text);
    let v2_code = s(&v2.body["code"]);

    // The old version says it was replaced, and links to the current one.
    let old = page(&app, &format!("/v/{v1_code}"), None).await;
    is_page(&old, 200);
    has_all(
        &old.text,
        &[
            "<html lang=\"fr\">",
            "Vérification d'un document",
            "Code vérifié",
            &display(&v1_code),
            "Convention de cession",
            "Ville de Saint-Ouen-sur-Loire",
            "Atelier Solidaire du Val",
            "Version remplacée",
            &format!("href=\"/v/{v2_code}\""),
            s(&v1["sha256"]).as_str(),
            "enctype=\"multipart/form-data\"",
            "<label for=\"fichier\">",
        ],
    );
    // The current one: one party signed, the other not yet; organisations only, no person.
    let current = page(&app, &format!("/v/{v2_code}"), None).await;
    is_page(&current, 200);
    in_order(
        &current.text,
        &[
            "Ville de Saint-Ouen-sur-Loire",
            "Signé électroniquement le",
            "Atelier Solidaire du Val",
            "Pas encore signé",
        ],
    );
    assert!(!current.text.contains("Version remplacée"));
    assert!(
        !current.text.contains("Claire Martin"),
        "no person is named"
    );
    // In English, by header or by the page's language link.
    for en in [
        page(&app, &format!("/v/{v2_code}"), Some("en-GB,en;q=0.9")).await,
        page(&app, &format!("/v/{v2_code}?lang=en"), None).await,
    ] {
        is_page(&en, 200);
        has_all(
            &en.text,
            &[
                "<html lang=\"en\">",
                "Document verification",
                "Signed electronically on",
                "Not signed yet",
                "Parties and signatures",
            ],
        );
    }

    // The form checks a file: the genuine PDF, a changed byte, nothing.
    let pdf = app.pdf(&s(&v2.body["id"]), &chain.town.token).await;
    let genuine = upload(&app, &format!("/v/{v2_code}"), Some(pdf.clone())).await;
    is_page(&genuine, 200);
    assert!(
        genuine.text.contains("Fichier authentique"),
        "{}",
        genuine.text
    );
    let mut changed = pdf;
    let middle = changed.len() / 2;
    changed[middle] ^= 1;
    let forged = upload(&app, &format!("/v/{v2_code}"), Some(changed)).await;
    is_page(&forged, 200);
    assert!(
        forged.text.contains("Fichier non conforme"),
        "{}",
        forged.text
    );
    let empty = upload(&app, &format!("/v/{v2_code}"), None).await;
    is_page(&empty, 400);
    assert!(empty.text.contains("Aucun fichier n'a été reçu"));
}

#[tokio::test]
async fn the_history_page_lists_the_steps_in_order_with_their_labels_and_no_serial_or_person() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (ids, _) = published(&app, &chain).await;
    let item = app
        .get(&format!("/v1/items/{}", ids[0]), Some(&chain.town.token))
        .await;
    let code = s(&item.body["public_code"]);

    let fr = page(&app, &format!("/p/{code}"), None).await;
    is_page(&fr, 200);
    has_all(
        &fr.text,
        &[
            "Historique d'un équipement",
            &display(&code),
            "Historique vérifié",
            "Ordinateur portable",
            "Dell Latitude 5490",
            "Disponible au catalogue",
            "alt=\"Code QR de cette page",
        ],
    );
    in_order(
        &fr.text,
        &[
            "Inscrit à l'inventaire",
            "Ville de Saint-Ouen-sur-Loire",
            "Proposé dans un lot publié",
            "Attribué à un reconditionneur",
            "Enlevé par le reconditionneur",
            "Atelier Solidaire du Val",
            "Effacement des données enregistré",
            "Testé et reconditionné",
            "Publié au catalogue",
        ],
    );
    for hidden in [
        "SN-PAGE-1",
        "Inès Bernard",
        "Claire Martin",
        "sanitisation_recorded",
        ">collect<",
        "item_registered",
    ] {
        assert!(!fr.text.contains(hidden), "« {hidden} » is shown");
    }
    // A code as a person types it (lower case, dash) opens the same page.
    let typed = page(&app, &format!("/p/{}", display(&code).to_lowercase()), None).await;
    is_page(&typed, 200);

    let en = page(&app, &format!("/p/{code}"), Some("en")).await;
    is_page(&en, 200);
    has_all(
        &en.text,
        &[
            "<html lang=\"en\">",
            "History of a device",
            "History verified",
            "Laptop",
            "Available in the catalogue",
        ],
    );
    in_order(
        &en.text,
        &[
            "Entered in the inventory",
            "Offered in a published lot",
            "Collected by the refurbisher",
            "Data erasure recorded",
            "Published in the catalogue",
        ],
    );

    // The JSON answer for API clients labels its steps the same way, in either language.
    let json_fr = app.get(&format!("/v1/public/items/{code}"), None).await;
    assert_eq!(json_fr.status, 200, "{}", json_fr.text);
    let json_en = page(&app, &format!("/v1/public/items/{code}"), Some("en")).await;
    let steps = |r: &Resp| -> Vec<(String, String)> {
        r.body["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|h| (s(&h["step"]), s(&h["label"])))
            .collect()
    };
    for (step, label) in steps(&json_fr).into_iter().chain(steps(&json_en)) {
        assert_ne!(step, label, "a raw event name is shown");
    }
    assert_eq!(
        json_fr.body["history"][0]["label"],
        "Inscrit à l'inventaire"
    );
    assert_eq!(
        json_en.body["history"][0]["label"],
        "Entered in the inventory"
    );
    assert_eq!(json_en.body["category_label"], "Laptop");
}

#[tokio::test]
async fn unknown_and_malformed_codes_answer_plain_html_error_pages() {
    let app = spawn_app().await;
    let cases = [
        (
            "/v/ZZZZZZZZZZ",
            None,
            404,
            "Aucun document ne porte ce code",
        ),
        (
            "/v/ZZZZZZZZZZ",
            Some("en"),
            404,
            "No document has this code",
        ),
        ("/v/abc", None, 400, "Ce code n'est pas valide"),
        (
            "/p/ZZZZZZZZZZ",
            None,
            404,
            "Aucun équipement ne porte ce code",
        ),
        ("/p/%21%21%21", Some("en"), 400, "This code is not valid"),
        (
            "/p/ZZZZZZZZZZ?lang=en",
            None,
            404,
            "No device has this code",
        ),
    ];
    for (path, lang, status, text) in cases {
        let r = page(&app, path, lang).await;
        is_page(&r, status);
        assert!(r.text.contains(text), "{path}: {}", r.text);
        assert!(r.text.contains("role=\"alert\""));
    }
    let long = page(&app, &format!("/p/{}", "7".repeat(5000)), None).await;
    is_page(&long, 400);
    // A method the page does not take is an HTML page too, and the JSON API is unchanged.
    let r = app
        .send(reqwest::Method::DELETE, "/p/ZZZZZZZZZZ", None, None, &[])
        .await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert!(r.text.contains("<html"), "{}", r.text);
    app.get("/v1/verify/ZZZZZZZZZZ", None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn pages_count_against_the_anonymous_limit_and_answer_an_html_429() {
    let app = spawn_app_with(&[("REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        assert_eq!(page(&app, "/p/ZZZZZZZZZZ", None).await.status, 404);
    }
    let limited = page(&app, "/p/ZZZZZZZZZZ", None).await;
    is_page(&limited, 429);
    assert!(
        limited.text.contains("Trop de consultations"),
        "{}",
        limited.text
    );
    assert!(limited.text.contains("Réessayez dans"));
    let wait: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait));
    let en = page(&app, "/v/ZZZZZZZZZZ", Some("en")).await;
    is_page(&en, 429);
    assert!(en.text.contains("Too many requests"));
    // The same limiter counts the JSON API, which keeps its problem answer.
    app.get("/v1/meta/problems", None)
        .await
        .assert_problem(429, "rate_limited");
}

async fn labels(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Vec<u8>, String) {
    let mut req = match &body {
        Some(b) => app.client.post(app.url(path)).json(b),
        None => app.client.get(app.url(path)),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("sent");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, r.bytes().await.expect("body").to_vec(), ct)
}

/// The QR codes `zbarimg` reads on the first page of a PDF, or `None` without the tools.
fn decode_qr_codes(pdf: &[u8]) -> Option<Vec<String>> {
    let have = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok()
    };
    if !have("zbarimg") || !have("pdftoppm") {
        return None;
    }
    let dir = tempfile::tempdir().expect("dir");
    let input = dir.path().join("labels.pdf");
    std::fs::write(&input, pdf).expect("write");
    let prefix = dir.path().join("page");
    let ok = std::process::Command::new("pdftoppm")
        .args(["-r", "300", "-f", "1", "-l", "1", "-png", "-singlefile"])
        .arg(&input)
        .arg(&prefix)
        .status()
        .expect("pdftoppm");
    assert!(ok.success(), "pdftoppm failed");
    let out = std::process::Command::new("zbarimg")
        .args(["-q", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(dir.path().join("page.png"))
        .output()
        .expect("zbarimg");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

#[tokio::test]
async fn a_lot_s_label_sheet_carries_each_public_code_and_a_qr_code_of_its_history_page() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (ids, lot) = published(&app, &chain).await;
    let mut codes = Vec::new();
    let mut inventory = Vec::new();
    for id in &ids {
        let item = app
            .get(&format!("/v1/items/{id}"), Some(&chain.town.token))
            .await;
        codes.push(s(&item.body["public_code"]));
        inventory.push(s(&item.body["inventory_number"]));
    }
    for (who, layout) in [(&chain.town, "a4_3x8"), (&chain.atelier, "a4_4x10")] {
        let (status, pdf, ct) = labels(
            &app,
            &format!("/v1/lots/{lot}/labels?layout={layout}"),
            Some(&who.token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
        assert_eq!(ct, "application/pdf");
        let text = pdf_text(&pdf);
        for (code, inv) in codes.iter().zip(&inventory) {
            assert!(text.contains(&display(code)), "{code} missing from: {text}");
            assert!(text.contains(inv.as_str()), "{inv} missing from: {text}");
        }
        // The body's name may wrap at a hyphen, which pdftotext then drops.
        assert!(
            text.replace('-', "").contains("Ville de SaintOuensurLoire"),
            "{text}"
        );
        assert!(!text.contains("SN-PAGE-1"), "no serial number on a label");

        match decode_qr_codes(&pdf) {
            None => eprintln!("SKIPPED: QR decoding of a label (zbarimg or pdftoppm missing)"),
            Some(decoded) => {
                for code in &codes {
                    let url = format!("{}/p/{code}", app.base);
                    assert!(decoded.contains(&url), "{url} not among {decoded:?}");
                }
                // And that address is the device's page.
                let r = app.get(&decoded[0].replace(&app.base, ""), None).await;
                assert_eq!(r.status, 200);
                assert!(r.text.contains("Historique d'un équipement"));
            }
        }
    }
    // A selection, in the order given, duplicates once.
    let (status, pdf, _) = labels(
        &app,
        "/v1/items/labels",
        Some(&chain.town.token),
        Some(json!({ "item_ids": [ids[1], ids[0], ids[1]], "layout": "a4_4x10" })),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    let text = pdf_text(&pdf);
    in_order(&text, &[&display(&codes[1]), &display(&codes[0])]);
    assert_eq!(text.matches(&display(&codes[1])).count(), 1);
    // A sheet is a read: an Idempotency-Key keeps no copy of the PDF.
    let before = app.count("idempotency_keys").await;
    let again = app
        .send(
            reqwest::Method::POST,
            "/v1/items/labels",
            Some(&chain.town.token),
            Some(json!({ "item_ids": [ids[0]] })),
            &[("idempotency-key", "labels-1")],
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(app.count("idempotency_keys").await, before);
}

#[tokio::test]
async fn labels_are_printed_only_by_the_public_body_and_the_refurbisher_holding_the_devices() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let (ids, lot) = published(&app, &chain).await;
    let rival = app.register("refurbisher").await;
    app.verify(&chain.operator, &rival).await;
    let other_town = app.register("public_body").await;
    let asso = app.register("association").await;
    let lot_path = format!("/v1/lots/{lot}/labels");
    let selection = json!({ "item_ids": [ids[0]] });

    assert_eq!(labels(&app, &lot_path, None, None).await.0, 401);
    for outsider in [&rival, &other_town, &asso] {
        let (status, body, _) = labels(&app, &lot_path, Some(&outsider.token), None).await;
        assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
        let (status, _, _) = labels(
            &app,
            "/v1/items/labels",
            Some(&outsider.token),
            Some(selection.clone()),
        )
        .await;
        assert!([403, 404].contains(&status), "got {status}");
    }
    // An association is not a kind that prints labels; a rival refurbisher sees nothing.
    let r = app
        .post("/v1/items/labels", Some(&asso.token), selection.clone())
        .await;
    r.assert_problem(403, "forbidden");
    let r = app
        .post("/v1/items/labels", Some(&rival.token), selection.clone())
        .await;
    r.assert_problem(404, "not_found");
    // The holder prints its devices; the body prints them too.
    for who in [&chain.town, &chain.atelier] {
        let (status, _, ct) = labels(
            &app,
            "/v1/items/labels",
            Some(&who.token),
            Some(selection.clone()),
        )
        .await;
        assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    }
    // Bad input.
    app.get(
        &format!("{lot_path}?layout=a4_9x9"),
        Some(&chain.town.token),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/items/labels",
        Some(&chain.town.token),
        json!({ "item_ids": [] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let too_many: Vec<String> = (0..1001)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    app.post(
        "/v1/items/labels",
        Some(&chain.town.token),
        json!({ "item_ids": too_many }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/items/labels",
        Some(&chain.town.token),
        json!({ "item_ids": [ids[0], uuid::Uuid::now_v7()] }),
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/lots/{}/labels", uuid::Uuid::now_v7()),
        Some(&chain.town.token),
    )
    .await
    .assert_problem(404, "not_found");
}
