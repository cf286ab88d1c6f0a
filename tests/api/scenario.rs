//! The story of `SCENARIO.md`, through HTTP only, as far as the service tells it today (steps 1 to
//! 5, and the public history of step 9 up to the refurbisher).

use serde_json::{Value, json};

use crate::helpers::{Org, PASSWORD, Resp, TestApp, registration, spawn_app, unique_email};

const SAMPLE: &[u8] = include_bytes!("../fixtures/glpi-ordinateurs.csv");

async fn register(app: &TestApp, kind: &str, edit: impl FnOnce(&mut Value)) -> Org {
    let email = unique_email(kind);
    let mut body = registration(kind, &email);
    edit(&mut body);
    let r = app.post("/v1/organisations", None, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    Org {
        id: r.body["organisation"]["id"]
            .as_str()
            .expect("id")
            .to_owned(),
        admin_email: email.clone(),
        admin_id: r.body["admin_user_id"].as_str().expect("admin").to_owned(),
        token: app.login(&email, PASSWORD).await,
    }
}

async fn import(app: &TestApp, token: &str, body: Vec<u8>) -> Resp {
    app.post_raw("/v1/items/import?partial=true", token, body, "text/csv")
        .await
}

#[tokio::test]
async fn the_town_hall_devices_reach_the_refurbisher_with_a_verifiable_history() {
    let app = spawn_app().await;

    // 1. The three organisations register; the operator verifies them; Claire invites Karim.
    let operator = app.operator().await;
    let town = register(&app, "public_body", |b| {
        b["siret"] = json!("39825979619074");
        b["latitude"] = json!(47.6094);
        b["longitude"] = json!(1.3213);
    })
    .await;
    let atelier = register(&app, "refurbisher", |b| {
        b["siret"] = json!("48337887362325")
    })
    .await;
    let asso = register(&app, "association", |b| {
        b["siret"] = json!("86012904804798");
        b["rna"] = json!("W412003456");
    })
    .await;
    for org in [&town, &atelier, &asso] {
        app.verify(&operator, org).await;
    }
    app.post(
        &format!("/v1/organisations/{}/verify", town.id),
        Some(&town.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let (karim, _) = app.add_member(&town, "agent").await;
    app.site(&atelier, 47.5861, 1.3359).await;

    // 2. Claire imports the GLPI export: 73 in, 7 rejected; she fixes two rows: 2 created.
    let first = import(&app, &town.token, SAMPLE.to_vec()).await;
    assert_eq!(
        (
            first.body["created"].as_u64(),
            first.body["rejected"].as_array().map(Vec::len)
        ),
        (Some(73), Some(7))
    );
    let fixed = String::from_utf8(SAMPLE.to_vec())
        .expect("utf-8")
        .replace(";;2015-03-15;634,10;", ";INV-2021-01005;2015-03-15;634,10;")
        .replace("2021-13-45", "2021-12-15");
    let second = import(&app, &town.token, fixed.into_bytes()).await;
    assert_eq!(
        (
            second.body["created"].as_u64(),
            second.body["updated"].as_u64()
        ),
        (Some(2), Some(0))
    );
    import(&app, &asso.token, SAMPLE.to_vec())
        .await
        .assert_problem(403, "forbidden");

    // 3. Claire builds a lot of 30 laptops, desktops and screens and publishes it.
    let site = app.site(&town, 47.6094, 1.3213).await;
    let mut chosen = Vec::new();
    for category in ["laptop", "desktop", "monitor"] {
        let page = app
            .get(
                &format!("/v1/items?category={category}&limit=200"),
                Some(&town.token),
            )
            .await;
        for item in page.body["items"].as_array().expect("items") {
            chosen.push(item["id"].as_str().expect("id").to_owned());
        }
    }
    chosen.truncate(30);
    assert_eq!(chosen.len(), 30);
    let lot = app
        .post(
            "/v1/lots",
            Some(&town.token),
            json!({
                "title": "Parc informatique mairie 2026 — 30 postes",
                "pickup_site_id": site,
                "pickup_from": "2026-11-30",
                "pickup_until": "2026-12-13",
                "allocation_policy": "first_come",
                "visibility": "radius_km",
                "radius_km": 50,
                "cession_mode": "to_refurbisher"
            }),
        )
        .await;
    assert_eq!(lot.status, 201, "{}", lot.text);
    let lot_id = lot.body["id"].as_str().expect("lot").to_owned();
    // Karim, an agent, adds the devices; the association may not touch the lot.
    let added = app
        .post(
            &format!("/v1/lots/{lot_id}/items"),
            Some(&karim),
            json!({ "item_ids": chosen }),
        )
        .await;
    assert_eq!(added.body["item_count"], 30, "{}", added.text);
    app.post(
        &format!("/v1/lots/{lot_id}/publish"),
        Some(&asso.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(
        app.post(
            &format!("/v1/lots/{lot_id}/publish"),
            Some(&town.token),
            json!({})
        )
        .await
        .status,
        200
    );

    // 4. Inès finds it and claims it; first come, so it is accepted at once.
    let open = app.get("/v1/lots/open", Some(&atelier.token)).await;
    assert_eq!(
        open.body["items"][0]["title"],
        "Parc informatique mairie 2026 — 30 postes"
    );
    app.post(
        &format!("/v1/lots/{lot_id}/claims"),
        Some(&asso.token),
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let claim = app
        .post(
            &format!("/v1/lots/{lot_id}/claims"),
            Some(&atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(claim.body["status"], "accepted", "{}", claim.text);
    let awarded = app
        .get(
            &format!("/v1/items?lot_id={lot_id}&status=awarded&limit=200"),
            Some(&town.token),
        )
        .await;
    assert_eq!(awarded.body["items"].as_array().map(Vec::len), Some(30));

    // 5. Collection day: one laptop is missing; Claire and Inès sign.
    let missing = chosen[0].clone();
    let collection = json!({
        "occurred_on": "2026-11-29",
        "missing_item_ids": [missing],
        "public_body_signatory": { "name": "Claire Martin", "role": "Responsable du patrimoine" },
        "refurbisher_signatory": { "name": "Inès Bernard", "role": "Responsable d'atelier" }
    });
    app.post(
        &format!("/v1/lots/{lot_id}/collection"),
        Some(&asso.token),
        collection.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    let done = app
        .post(
            &format!("/v1/lots/{lot_id}/collection"),
            Some(&town.token),
            collection,
        )
        .await;
    assert_eq!(
        (
            done.body["collected"].as_u64(),
            done.body["missing"].as_u64()
        ),
        (Some(29), Some(1)),
        "{}",
        done.text
    );
    let back = app
        .get(&format!("/v1/items/{missing}"), Some(&town.token))
        .await;
    assert_eq!(back.body["status"], "inventoried");
    let custody = app
        .get("/v1/items?status=collected&limit=200", Some(&atelier.token))
        .await;
    assert_eq!(custody.body["items"].as_array().map(Vec::len), Some(29));
    assert!(
        custody.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["owner_id"] == atelier.id.as_str())
    );

    // 9 (so far). Anyone scanning a collected device's label sees town hall → Atelier, verified.
    let code = custody.body["items"][0]["public_code"]
        .as_str()
        .expect("code");
    let public = app.get(&format!("/v1/public/items/{code}"), None).await;
    let orgs: Vec<_> = public.body["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["organisation"].clone())
        .collect();
    assert_eq!(orgs.first(), Some(&json!("Ville de Saint-Ouen-sur-Loire")));
    assert_eq!(
        public.body["history"]
            .as_array()
            .and_then(|h| h.last())
            .map(|s| s["to_organisation"].clone()),
        Some(json!("Atelier Solidaire du Val"))
    );
    assert_eq!(public.body["history_verified"], true);
    let id = custody.body["items"][0]["id"].as_str().expect("id");
    let verify = app
        .get(
            &format!("/v1/items/{id}/events/verify"),
            Some(&atelier.token),
        )
        .await;
    assert_eq!(verify.body["valid"], true);
    let town_log = app
        .get(
            &format!("/v1/organisations/{}/events/verify", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(town_log.body["valid"], true);
}
