use serde_json::{Value, json};

use crate::helpers::{PASSWORD, registration, spawn_app, unique_email};

#[tokio::test]
async fn each_kind_registers_as_pending_with_its_admin() {
    let app = spawn_app().await;
    for kind in ["public_body", "refurbisher", "association"] {
        let email = unique_email("admin");
        let r = app
            .post("/v1/organisations", None, registration(kind, &email))
            .await;
        assert_eq!(r.status, 201, "{kind}: {}", r.text);
        let org = &r.body["organisation"];
        assert_eq!(org["kind"], kind);
        assert_eq!(org["status"], "pending");
        assert_eq!(org["departement"], "41");
        assert_eq!(
            r.header("location").as_deref(),
            Some(
                format!(
                    "/v1/organisations/{}",
                    org["id"].as_str().unwrap_or_default()
                )
                .as_str()
            )
        );
        let token = app.login(&email, PASSWORD).await;
        let me = app.get("/v1/me", Some(&token)).await;
        assert_eq!(me.body["memberships"][0]["role"], "admin");
        assert_eq!(me.body["memberships"][0]["kind"], kind);
    }
}

#[tokio::test]
async fn the_scenario_identifiers_register() {
    let app = spawn_app().await;
    let mut town = registration("public_body", &unique_email("claire"));
    town["siret"] = json!("398 259 796 19074");
    let r = app.post("/v1/organisations", None, town).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["organisation"]["siren"], "398259796");
    assert_eq!(r.body["organisation"]["siret"], "39825979619074");

    let mut atelier = registration("refurbisher", &unique_email("ines"));
    atelier["siret"] = json!("48337887362325");
    assert_eq!(
        app.post("/v1/organisations", None, atelier).await.status,
        201
    );

    let mut asso = registration("association", &unique_email("theo"));
    asso["siret"] = json!("86012904804798");
    asso["rna"] = json!("w412003456");
    let r = app.post("/v1/organisations", None, asso).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["organisation"]["rna"], "W412003456");
}

#[tokio::test]
async fn each_invalid_identifier_is_a_422_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    // The start published the default factor set (its one event); nothing after it.
    let events = app.count("events").await;
    let cases: Vec<(&str, &str, serde_json::Value, &str, &str)> = vec![
        (
            "public_body",
            "siret",
            json!("39825979619075"),
            "siret",
            "invalid_siret",
        ),
        (
            "public_body",
            "siret",
            json!("3982597961907"),
            "siret",
            "invalid_siret",
        ),
        (
            "public_body",
            "insee_code",
            json!("20001"),
            "insee_code",
            "invalid_insee_code",
        ),
        (
            "public_body",
            "insee_code",
            json!("2C001"),
            "insee_code",
            "invalid_insee_code",
        ),
        (
            "public_body",
            "postcode",
            json!("4100"),
            "postcode",
            "invalid_postcode",
        ),
        (
            "public_body",
            "latitude",
            json!(123.0),
            "latitude",
            "out_of_range",
        ),
        (
            "association",
            "rna",
            json!("W41200345"),
            "rna",
            "invalid_rna",
        ),
        (
            "association",
            "rna",
            json!("412003456"),
            "rna",
            "invalid_rna",
        ),
        (
            "association",
            "siret",
            json!("86012904804799"),
            "siret",
            "invalid_siret",
        ),
        (
            "refurbisher",
            "siret",
            json!("48337887362326"),
            "siret",
            "invalid_siret",
        ),
    ];
    for (kind, key, value, field, code) in cases {
        let mut body = registration(kind, &unique_email("x"));
        body[key] = value.clone();
        let r = app.post("/v1/organisations", None, body).await;
        r.assert_problem(422, "validation_failed");
        let err = r.body["errors"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["field"] == field))
            .unwrap_or_else(|| panic!("{kind}.{key}={value}: no error on {field}: {}", r.text));
        assert_eq!(err["code"], code, "{kind}.{key}={value}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(app.count("organisations").await, 0);
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("events").await, events);
}

#[tokio::test]
async fn a_missing_kind_specific_field_is_named() {
    let app = spawn_app().await;
    let cases = [
        ("public_body", "public_body_type"),
        ("public_body", "siret"),
        ("refurbisher", "siret"),
        ("association", "rna"),
        ("association", "beneficiary_category"),
    ];
    for (kind, field) in cases {
        let mut body = registration(kind, &unique_email("x"));
        body.as_object_mut().expect("object").remove(field);
        let r = app.post("/v1/organisations", None, body).await;
        r.assert_problem(422, "validation_failed");
        assert!(
            r.problem_fields().contains(&field.to_owned()),
            "{kind}/{field}: {}",
            r.text
        );
    }
    let mut refurbisher = registration("refurbisher", &unique_email("x"));
    refurbisher
        .as_object_mut()
        .expect("object")
        .remove("esus_expires_on");
    let r = app.post("/v1/organisations", None, refurbisher).await;
    assert_eq!(r.problem_fields(), ["esus_expires_on"]);
    assert_eq!(app.count("organisations").await, 0);
}

#[tokio::test]
async fn a_field_of_another_kind_is_refused_and_the_operator_kind_cannot_register() {
    let app = spawn_app().await;
    let mut body = registration("refurbisher", &unique_email("x"));
    body["beneficiary_category"] = json!("etudiants");
    let r = app.post("/v1/organisations", None, body).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "not_allowed_for_kind");

    let mut body = registration("public_body", &unique_email("x"));
    body["kind"] = json!("operator");
    app.post("/v1/organisations", None, body)
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn a_weak_password_or_bad_email_is_refused() {
    let app = spawn_app().await;
    let mut body = registration("public_body", "pas-un-email");
    body["admin"]["password"] = json!("court");
    let r = app.post("/v1/organisations", None, body).await;
    r.assert_problem(422, "validation_failed");
    let fields = r.problem_fields();
    assert!(
        fields.contains(&"admin.email".to_owned()) && fields.contains(&"admin.password".to_owned()),
        "{fields:?}"
    );
}

#[tokio::test]
async fn a_second_registration_with_the_same_siret_or_email_conflicts() {
    let app = spawn_app().await;
    let first = registration("public_body", &unique_email("a"));
    assert_eq!(
        app.post("/v1/organisations", None, first.clone())
            .await
            .status,
        201
    );
    let mut same_siret = registration("public_body", &unique_email("b"));
    same_siret["siret"] = first["siret"].clone();
    app.post("/v1/organisations", None, same_siret)
        .await
        .assert_problem(409, "siret_taken");
    // The address of an existing account is not revealed (docs/accounts.md): with another
    // password the answer looks like a success and nothing is created.
    let mut same_email = registration(
        "association",
        first["admin"]["email"].as_str().unwrap_or_default(),
    );
    same_email["admin"]["password"] = json!("une tout autre phrase de passe");
    assert_eq!(
        app.post("/v1/organisations", None, same_email).await.status,
        201
    );
    assert_eq!(app.count("organisations").await, 1);
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn twenty_concurrent_registrations_with_one_email_make_exactly_one_account_and_reveal_nothing()
 {
    let app = spawn_app().await;
    let email = unique_email("course");
    let requests = (0..20).map(|_| {
        let body = registration("association", &email);
        let app = &app;
        async move { app.post("/v1/organisations", None, body).await }
    });
    let answers = futures::future::join_all(requests).await;
    // Every answer alike: the first creates the account, the others (the same person, with
    // the same password) register their organisation under it.
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("organisations").await, 20);
    assert_eq!(app.count("memberships").await, 20);
}

#[tokio::test]
async fn members_read_their_organisation_and_outsiders_get_404() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let other = app.register("association").await;
    let path = format!("/v1/organisations/{}", town.id);
    let own = app.get(&path, Some(&town.token)).await;
    assert_eq!(own.status, 200);
    assert_eq!(own.header("etag").as_deref(), Some("\"1\""));
    app.get(&path, Some(&other.token))
        .await
        .assert_problem(404, "not_found");
    app.get(&path, None)
        .await
        .assert_problem(401, "unauthenticated");
    let operator = app.operator().await;
    assert_eq!(app.get(&path, Some(&operator)).await.status, 200);
}

fn profile_of(org: &serde_json::Value) -> serde_json::Value {
    let mut p = org.clone();
    let obj = p.as_object_mut().expect("object");
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
        obj.remove(k);
    }
    obj.retain(|_, v| !v.is_null());
    p
}

#[tokio::test]
async fn an_admin_updates_the_profile_with_if_match_and_a_stale_tag_gets_412() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let path = format!("/v1/organisations/{}", town.id);
    let current = app.get(&path, Some(&town.token)).await;
    let mut profile = profile_of(&current.body);
    profile["name"] = json!("Mairie de Saint-Ouen-sur-Loire");
    profile["phone"] = json!("+33 2 54 00 00 00");
    let r = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&town.token),
            Some(profile.clone()),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Mairie de Saint-Ouen-sur-Loire");
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
    let stale = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&town.token),
            Some(profile.clone()),
            &[("If-Match", "\"1\"")],
        )
        .await;
    stale.assert_problem(412, "precondition_failed");

    let mut bad = profile.clone();
    bad["insee_code"] = json!("99999");
    app.patch(&path, Some(&town.token), bad)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.get(&path, Some(&town.token)).await.body["version"], 2);

    let (agent, _) = app.add_member(&town, "agent").await;
    app.patch(&path, Some(&agent), profile.clone())
        .await
        .assert_problem(403, "forbidden");
    let stranger = app.register("refurbisher").await;
    app.patch(&path, Some(&stranger.token), profile)
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn changing_the_siret_of_a_verified_organisation_returns_it_to_pending() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    let path = format!("/v1/organisations/{}", town.id);
    assert_eq!(
        app.post(&format!("{path}/verify"), Some(&operator), json!({}))
            .await
            .status,
        200
    );
    let mut profile = profile_of(&app.get(&path, Some(&town.token)).await.body);
    profile["siret"] = json!(crate::helpers::unique_siret());
    let r = app.patch(&path, Some(&town.token), profile).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "pending");
}

#[tokio::test]
async fn the_operator_verifies_and_suspends_and_nobody_else_can() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let asso = app.register("association").await;
    let town = app.register("public_body").await;
    let verify = format!("/v1/organisations/{}/verify", asso.id);
    let suspend = format!("/v1/organisations/{}/suspend", asso.id);

    app.post(&verify, Some(&asso.token), json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&verify, Some(&town.token), json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&verify, None, json!({}))
        .await
        .assert_problem(401, "unauthenticated");

    let r = app.post(&verify, Some(&operator), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "verified");
    app.post(&verify, Some(&operator), json!({}))
        .await
        .assert_problem(409, "invalid_transition");

    app.post(&suspend, Some(&operator), json!({ "reason": "  " }))
        .await
        .assert_problem(422, "validation_failed");
    let r = app
        .post(
            &suspend,
            Some(&operator),
            json!({ "reason": "Statuts à fournir" }),
        )
        .await;
    assert_eq!(r.body["status"], "suspended");
    assert_eq!(r.body["status_reason"], "Statuts à fournir");
    app.post(&suspend, Some(&operator), json!({ "reason": "encore" }))
        .await
        .assert_problem(409, "invalid_transition");
    app.post(
        "/v1/organisations/00000000-0000-0000-0000-000000000000/verify",
        Some(&operator),
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");

    let me = app.get("/v1/me", Some(&asso.token)).await;
    assert_eq!(me.body["memberships"][0]["status"], "suspended");
}

#[tokio::test]
async fn only_the_operator_lists_organisations_with_filters_and_pages() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    for _ in 0..3 {
        app.register("association").await;
    }
    app.get("/v1/organisations", Some(&town.token))
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .get(
            "/v1/organisations?kind=association&limit=2",
            Some(&operator),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    let cursor = r.body["next_cursor"].as_str().expect("next page");
    let r2 = app
        .get(
            &format!("/v1/organisations?kind=association&limit=2&cursor={cursor}"),
            Some(&operator),
        )
        .await;
    assert_eq!(r2.body["items"].as_array().map(Vec::len), Some(1));
    assert!(r2.body["next_cursor"].is_null());
    let pending = app
        .get("/v1/organisations?status=pending", Some(&operator))
        .await;
    assert_eq!(pending.body["items"].as_array().map(Vec::len), Some(4));
    app.get("/v1/organisations?limit=500", Some(&operator))
        .await
        .assert_problem(422, "validation_failed");
    app.get("/v1/organisations?cursor=n%27importe", Some(&operator))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn a_refurbisher_whose_esus_accreditation_already_expired_is_refused_422_naming_the_field_and_nothing_is_written()
 {
    let app = spawn_app().await;
    let (orgs, users, events) = (
        app.count("organisations").await,
        app.count("users").await,
        app.count("events").await,
    );
    let mut body = registration("refurbisher", &unique_email("admin"));
    body["esus_expires_on"] = json!("2020-01-31");
    let r = app.post("/v1/organisations", None, body).await;
    r.assert_problem(422, "esus_expired");
    assert_eq!(r.problem_fields(), vec!["esus_expires_on".to_owned()]);
    assert_eq!(app.count("organisations").await, orgs);
    assert_eq!(app.count("users").await, users);
    assert_eq!(app.count("events").await, events);
}

/// Suspends `org` as the operator, with a reason.
async fn suspend(app: &crate::helpers::TestApp, operator: &str, org: &crate::helpers::Org) {
    let r = app
        .post(
            &format!("/v1/organisations/{}/suspend", org.id),
            Some(operator),
            json!({ "reason": "Pièces justificatives à renouveler" }),
        )
        .await;
    assert_eq!(r.status, 200, "suspension: {}", r.text);
}

#[tokio::test]
async fn a_suspended_public_body_can_no_longer_create_an_item_a_site_a_key_or_an_invitation_but_still_reads_its_organisation_and_events()
 {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    app.verify(&operator, &town).await;
    suspend(&app, &operator, &town).await;
    let written = (
        app.count("items").await,
        app.count("sites").await,
        app.count("api_keys").await,
        app.count("invitations").await,
        app.count("events").await,
    );

    let item = json!({
        "inventory_number": "INV-2026-0001", "category": "laptop", "brand": "Dell",
        "model": "Latitude 5490", "serial_number": "1954RGQKK9", "acquisition_date": "2019-03-15",
        "acquisition_value_cents": 94861, "net_book_value_cents": 0
    });
    app.post("/v1/items", Some(&town.token), item)
        .await
        .assert_problem(403, "organisation_suspended");
    let site = json!({
        "name": "Services techniques", "kind": "pickup", "address": "5 rue des Ateliers",
        "postcode": "41000", "city": "Saint-Ouen-sur-Loire", "insee_code": "41230"
    });
    app.post(
        &format!("/v1/organisations/{}/sites", town.id),
        Some(&town.token),
        site,
    )
    .await
    .assert_problem(403, "organisation_suspended");
    app.post(
        &format!("/v1/organisations/{}/api-keys", town.id),
        Some(&town.token),
        json!({ "name": "GLPI de la mairie" }),
    )
    .await
    .assert_problem(403, "organisation_suspended");
    app.post(
        &format!("/v1/organisations/{}/invitations", town.id),
        Some(&town.token),
        json!({ "email": unique_email("agent"), "role": "agent" }),
    )
    .await
    .assert_problem(403, "organisation_suspended");
    assert_eq!(
        (
            app.count("items").await,
            app.count("sites").await,
            app.count("api_keys").await,
            app.count("invitations").await,
            app.count("events").await,
        ),
        written,
        "a refused write wrote something"
    );

    let org = app
        .get(&format!("/v1/organisations/{}", town.id), Some(&town.token))
        .await;
    assert_eq!(org.status, 200, "{}", org.text);
    assert_eq!(org.body["status"], "suspended");
    assert_eq!(
        org.body["status_reason"],
        "Pièces justificatives à renouveler"
    );
    let events = app
        .get(
            &format!("/v1/organisations/{}/events", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    let kinds: Vec<&str> = events.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.last(), Some(&"organisation_suspended"), "{kinds:?}");
}

#[tokio::test]
async fn a_suspended_refurbisher_can_no_longer_publish_a_device_in_its_custody() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let town = app.register("public_body").await;
    let atelier = app.register("refurbisher").await;
    app.verify(&operator, &town).await;
    app.verify(&operator, &atelier).await;
    let item = app.items(&town, "laptop", 1).await.remove(0);
    // The device is put in the refurbisher's custody directly, so that this test of the access
    // layer does not depend on the whole chain of cession (lots.rs and workshop.rs walk it).
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let (item_id, atelier_id): (uuid::Uuid, uuid::Uuid) = (
        item.parse().expect("item id"),
        atelier.id.parse().expect("atelier id"),
    );
    let custody = Query::update()
        .table(Alias::new("items"))
        .value(Alias::new("custodian_id"), atelier_id)
        .and_where(Expr::col(Alias::new("id")).eq(item_id))
        .to_owned();
    app.db.execute(&custody).await.expect("custody set");
    suspend(&app, &operator, &atelier).await;
    let events = app.count("events").await;
    app.post(
        &format!("/v1/items/{item}/publish"),
        Some(&atelier.token),
        json!({}),
    )
    .await
    .assert_problem(403, "organisation_suspended");
    assert_eq!(app.count("events").await, events);
    let own = app
        .get(
            &format!("/v1/organisations/{}", atelier.id),
            Some(&atelier.token),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(own.body["status"], "suspended");
}

#[tokio::test]
async fn a_merge_patch_changes_only_the_fields_sent_and_concurrent_patches_keep_each_other() {
    let app = spawn_app().await;
    let atelier = app
        .register_with("refurbisher", |b| {
            b["latitude"] = json!(47.5861);
            b["longitude"] = json!(1.3359);
        })
        .await;
    let path = format!("/v1/organisations/{}", atelier.id);
    // Only the phone: the coordinates (on which lot visibility depends) stay.
    let r = app
        .patch(
            &path,
            Some(&atelier.token),
            json!({ "phone": "+33 2 54 11 22 33" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["phone"], "+33 2 54 11 22 33");
    assert_eq!(r.body["latitude"], 47.5861);
    assert_eq!(r.body["longitude"], 1.3359);
    assert_eq!(r.body["esus_reference"], "ESUS-41-2024-017");
    // `null` clears a field that may be empty, and is refused on one that may not.
    let cleared = app
        .patch(&path, Some(&atelier.token), json!({ "phone": null }))
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert!(
        cleared.body.get("phone").is_none_or(Value::is_null),
        "{}",
        cleared.text
    );
    let refused = app
        .patch(
            &path,
            Some(&atelier.token),
            json!({ "name": null, "city": null }),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    let pointers: Vec<&str> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/name") && pointers.contains(&"/city"),
        "{}",
        refused.text
    );
    // A mistyped or unknown field is refused like any invalid body, and changes nothing.
    app.patch(&path, Some(&atelier.token), json!({ "latitude": "nord" }))
        .await
        .assert_problem(422, "validation_failed");
    app.patch(
        &path,
        Some(&atelier.token),
        json!({ "kind": "association" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let version = app.get(&path, Some(&atelier.token)).await.body["version"].clone();
    // Six patches at once, each of another field or value: none is lost, none fails.
    let cities = [("Blois", "41018", "41000"), ("Vendôme", "41269", "41100")];
    let patches = (0..6).map(|i| {
        let body = if i % 2 == 0 {
            json!({ "contact_email": format!("contact{i}@atelier.test") })
        } else {
            let (city, insee, postcode) = cities[(i / 2) % 2];
            json!({ "city": city, "insee_code": insee, "postcode": postcode })
        };
        let (app, path, token) = (&app, &path, &atelier.token);
        async move { app.patch(path, Some(token), body).await }
    });
    let answers = futures::future::join_all(patches).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let after = app.get(&path, Some(&atelier.token)).await;
    assert_eq!(
        after.body["version"].as_i64(),
        version.as_i64().map(|v| v + 6),
        "every patch was applied: {}",
        after.text
    );
    assert_eq!(after.body["latitude"], 47.5861);
    assert!(
        after.body["contact_email"]
            .as_str()
            .is_some_and(|e| e.ends_with("@atelier.test"))
    );
    // A body that is not a merge patch's media type is refused.
    let plain = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&atelier.token)
        .header("content-type", "text/plain")
        .body("phone=1")
        .send()
        .await
        .expect("sent");
    assert_eq!(plain.status().as_u16(), 415);
}
