use serde_json::json;

use crate::helpers::spawn_app;

fn site() -> serde_json::Value {
    json!({
        "name": "Services techniques",
        "kind": "pickup",
        "address": "5 rue des Ateliers",
        "postcode": "41000",
        "city": "Saint-Ouen-sur-Loire",
        "insee_code": "41230",
        "latitude": 47.61,
        "longitude": 1.33,
        "access_notes": "Portail bleu, demander M. Petit."
    })
}

#[tokio::test]
async fn members_create_read_update_and_list_sites() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let (agent, _) = app.add_member(&town, "agent").await;
    let base = format!("/v1/organisations/{}/sites", town.id);
    let created = app.post(&base, Some(&agent), site()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.header("location"), Some(format!("{base}/{id}")));
    let read = app.get(&format!("{base}/{id}"), Some(&town.token)).await;
    assert_eq!(
        read.body["access_notes"],
        "Portail bleu, demander M. Petit."
    );
    assert_eq!(read.header("etag").as_deref(), Some("\"1\""));

    let mut changed = site();
    changed["name"] = json!("Centre technique municipal");
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("{base}/{id}"),
            Some(&agent),
            Some(changed.clone()),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2);
    app.send(
        reqwest::Method::PATCH,
        &format!("{base}/{id}"),
        Some(&agent),
        Some(changed),
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412, "precondition_failed");

    for _ in 0..3 {
        app.post(&base, Some(&town.token), site()).await;
    }
    let page = app.get(&format!("{base}?limit=3"), Some(&agent)).await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(3));
    assert!(page.body["next_cursor"].is_string());
}

#[tokio::test]
async fn a_bad_site_is_refused_with_every_field_and_nothing_written() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let base = format!("/v1/organisations/{}/sites", town.id);
    let mut bad = site();
    bad["name"] = json!("   ");
    bad["postcode"] = json!("ABCDE");
    bad["insee_code"] = json!("00000");
    bad.as_object_mut().expect("object").remove("longitude");
    let r = app.post(&base, Some(&town.token), bad).await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.problem_fields();
    fields.sort();
    assert_eq!(fields, ["insee_code", "longitude", "name", "postcode"]);
    let mut unknown_kind = site();
    unknown_kind["kind"] = json!("garage");
    app.post(&base, Some(&town.token), unknown_kind)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.count("sites").await, 0);
}

#[tokio::test]
async fn only_admins_archive_and_archived_sites_disappear() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let (agent, _) = app.add_member(&town, "agent").await;
    let base = format!("/v1/organisations/{}/sites", town.id);
    let id = app.post(&base, Some(&town.token), site()).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.delete(&format!("{base}/{id}"), Some(&agent))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.delete(&format!("{base}/{id}"), Some(&town.token))
            .await
            .status,
        204
    );
    app.get(&format!("{base}/{id}"), Some(&town.token))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get(&base, Some(&town.token)).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

#[tokio::test]
async fn concurrent_updates_with_the_same_if_match_let_exactly_one_win() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let base = format!("/v1/organisations/{}/sites", town.id);
    let id = app.post(&base, Some(&town.token), site()).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("{base}/{id}");
    let attempts = (0..8).map(|i| {
        let mut body = site();
        body["name"] = json!(format!("Nom {i}"));
        let app = &app;
        let path = path.clone();
        let token = town.token.clone();
        async move {
            app.send(
                reqwest::Method::PATCH,
                &path,
                Some(&token),
                Some(body),
                &[("If-Match", "\"1\"")],
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 1);
    assert!(
        answers
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.status == 412)
    );
    assert_eq!(app.get(&path, Some(&town.token)).await.body["version"], 2);
}
