//! Searching lots and the catalogue: the same suite against the embedded engine and, when
//! `MEILI_URL` is set, against Meilisearch; visibility; bad input; the engine being down.

use serde_json::{Value, json};

use crate::helpers::{
    Chain, TestApp, chain_at, chain_in, search_engines, spawn_app, spawn_app_owned,
};

const BLOIS: (f64, f64) = (47.5861, 1.3359);
const LYON: (f64, f64) = (45.7640, 4.8357);

fn ids(r: &Value) -> Vec<String> {
    r["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["id"].as_str().or(i["lot"]["id"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn association(app: &TestApp, operator: &str) -> crate::helpers::Org {
    let asso = app.register("association").await;
    app.verify(operator, &asso).await;
    asso
}

struct Catalogue {
    chain: Chain,
    far: Chain,
    laptop: String,
    screen: String,
    desktop: String,
    lyon_laptop: String,
}

/// A laptop, a screen and a desktop at a refurbisher in Blois; a laptop at one in Lyon.
async fn catalogue(app: &TestApp) -> Catalogue {
    let chain = chain_at(app, BLOIS.0, BLOIS.1).await;
    let ids = app
        .make_available(
            &chain,
            &[
                json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490", "specs": { "ram_gb": 8, "storage_gb": 256, "screen_inches": 14.0 }, "grade": "A" }),
                json!({ "category": "monitor", "brand": "Dell", "model": "P2419H", "specs": { "screen_inches": 24.0 }, "grade": "B" }),
                json!({ "category": "desktop", "brand": "HP", "model": "ProDesk 600 G4", "specs": { "ram_gb": 16, "storage_gb": 512 }, "grade": "A" }),
            ],
        )
        .await;
    let far = chain_in(app, ("Lyon", "69123", "69001"), LYON.0, LYON.1).await;
    let lyon = app
        .make_available(
            &far,
            &[json!({ "category": "laptop", "brand": "Lenovo", "model": "ThinkPad T480", "specs": { "ram_gb": 16 }, "grade": "B" })],
        )
        .await;
    app.settle().await;
    Catalogue {
        chain,
        far,
        laptop: ids[0].clone(),
        screen: ids[1].clone(),
        desktop: ids[2].clone(),
        lyon_laptop: lyon[0].clone(),
    }
}

#[tokio::test]
async fn the_catalogue_forgives_typos_and_accents_and_filters_by_specs_and_distance() {
    for engine in search_engines() {
        let app = spawn_app_owned(&engine).await;
        let c = catalogue(&app).await;
        let asso = association(&app, &c.chain.operator).await;
        let search = |q: &str| {
            let (app, token) = (&app, asso.token.clone());
            let q = q.to_owned();
            async move {
                app.get(&format!("/v1/catalogue/search?{q}"), Some(&token))
                    .await
            }
        };
        let all = search("").await;
        assert_eq!(all.body["estimated_total"], 4, "{}", all.text);
        let r = search("q=ordinatuer%20portable").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            sorted(ids(&r.body)),
            sorted(vec![c.laptop.clone(), c.lyon_laptop.clone()]),
            "{engine:?}: {}",
            r.text
        );
        let r = search("q=ecran").await;
        assert_eq!(
            ids(&r.body),
            vec![c.screen.clone()],
            "{engine:?}: {}",
            r.text
        );
        let item = &r.body["items"][0];
        assert_eq!(item["category"], "monitor");
        assert_eq!(item["grade"], "B");
        assert_eq!(item["refurbisher"]["id"], c.chain.atelier.id.as_str());

        // Within 50 km of Blois: the Lyon laptop is out; nearest first with distances.
        let r = search(&format!(
            "lat={}&lon={}&within_km=50&sort=distance&category=laptop",
            BLOIS.0, BLOIS.1
        ))
        .await;
        assert_eq!(
            ids(&r.body),
            vec![c.laptop.clone()],
            "{engine:?}: {}",
            r.text
        );
        assert!(
            r.body["items"][0]["distance_km"]
                .as_f64()
                .is_some_and(|d| d < 1.0)
        );
        let r = search(&format!(
            "lat={}&lon={}&sort=distance&category=laptop",
            LYON.0, LYON.1
        ))
        .await;
        assert_eq!(
            ids(&r.body),
            vec![c.lyon_laptop.clone(), c.laptop.clone()],
            "{engine:?}: {}",
            r.text
        );

        // Minimum specs and grade; facets count every match.
        let r = search("min_ram_gb=16").await;
        assert_eq!(
            sorted(ids(&r.body)),
            sorted(vec![c.desktop.clone(), c.lyon_laptop.clone()]),
            "{engine:?}: {}",
            r.text
        );
        let r = search("grade=A").await;
        assert_eq!(
            sorted(ids(&r.body)),
            sorted(vec![c.laptop.clone(), c.desktop.clone()])
        );
        assert_eq!(r.body["facets"]["category"]["laptop"], 1, "{}", r.text);
        assert_eq!(r.body["facets"]["category"]["desktop"], 1);
        assert_eq!(r.body["facets"]["grade"]["A"], 2);
        assert_eq!(r.body["estimated_total"], 2);
        let r = search(&format!("refurbisher_id={}", c.far.atelier.id)).await;
        assert_eq!(ids(&r.body), vec![c.lyon_laptop.clone()]);
        let r = search("departement=41").await;
        assert_eq!(
            r.body["items"].as_array().map(Vec::len),
            Some(3),
            "{}",
            r.text
        );

        // Pagination: two pages of two, newest first, nothing repeated.
        let first = search("sort=newest&limit=2").await;
        assert_eq!(ids(&first.body).len(), 2);
        let cursor = first.body["next_cursor"]
            .as_str()
            .expect("cursor")
            .to_owned();
        let second = search(&format!("sort=newest&limit=2&cursor={cursor}")).await;
        assert_eq!(ids(&second.body).len(), 2, "{}", second.text);
        assert!(second.body.get("next_cursor").is_none(), "{}", second.text);
        let mut all = ids(&first.body);
        all.extend(ids(&second.body));
        assert_eq!(
            sorted(all),
            sorted(vec![c.laptop, c.screen, c.desktop, c.lyon_laptop])
        );
    }
}

#[tokio::test]
async fn devices_leave_the_catalogue_when_they_are_no_longer_available() {
    for engine in search_engines() {
        let app = spawn_app_owned(&engine).await;
        let c = catalogue(&app).await;
        let asso = association(&app, &c.chain.operator).await;
        let r = app
            .post(
                &format!("/v1/items/{}/unpublish", c.laptop),
                Some(&c.chain.atelier.token),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Even before the index catches up, the answer is checked against the database.
        let r = app
            .get("/v1/catalogue/search?category=laptop", Some(&asso.token))
            .await;
        assert_eq!(ids(&r.body), vec![c.lyon_laptop.clone()], "{}", r.text);
        app.settle().await;
        let r = app
            .get("/v1/catalogue/search?category=laptop", Some(&asso.token))
            .await;
        assert_eq!(ids(&r.body), vec![c.lyon_laptop.clone()]);
        assert_eq!(
            r.body["estimated_total"], 1,
            "the index dropped it: {}",
            r.text
        );
    }
}

async fn lot(app: &TestApp, chain: &Chain, title: &str, visibility: Value) -> String {
    let items = app.items(&chain.town, "laptop", 2).await;
    let mut body = json!({
        "title": title, "description": "Postes de l'accueil, chargeurs fournis.",
        "pickup_site_id": chain.site, "pickup_from": "2026-11-20", "pickup_until": "2026-12-20",
        "allocation_policy": "selection", "claim_deadline": "2026-12-10", "cession_mode": "to_refurbisher"
    });
    if let (Some(b), Some(v)) = (body.as_object_mut(), visibility.as_object()) {
        b.extend(v.clone());
    }
    let r = app.post("/v1/lots", Some(&chain.town.token), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_owned();
    app.post(
        &format!("/v1/lots/{id}/items"),
        Some(&chain.town.token),
        json!({ "item_ids": items }),
    )
    .await;
    let r = app
        .post(
            &format!("/v1/lots/{id}/publish"),
            Some(&chain.town.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

#[tokio::test]
async fn refurbishers_find_only_the_lots_they_may_claim() {
    for engine in search_engines() {
        let app = spawn_app_owned(&engine).await;
        // The town is near Blois; one refurbisher is in Blois, the other in Lyon.
        let near = chain_at(&app, BLOIS.0, BLOIS.1).await;
        let far = app
            .register_with("refurbisher", |b| {
                b["latitude"] = json!(LYON.0);
                b["longitude"] = json!(LYON.1);
            })
            .await;
        app.verify(&near.operator, &far).await;
        let open = lot(
            &app,
            &near,
            "Ordinateurs portables de l'accueil",
            json!({ "visibility": "all_verified" }),
        )
        .await;
        let partners = lot(
            &app,
            &near,
            "Portables réservés aux partenaires",
            json!({ "visibility": "partners" }),
        )
        .await;
        let radius = lot(
            &app,
            &near,
            "Portables à moins de 30 km",
            json!({ "visibility": "radius_km", "radius_km": 30 }),
        )
        .await;
        let r = app
            .post(
                "/v1/partnerships",
                Some(&near.town.token),
                json!({ "refurbisher_id": near.atelier.id }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        app.settle().await;

        let r = app
            .get(
                "/v1/lots/search?q=reserves%20partenair",
                Some(&near.atelier.token),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            ids(&r.body),
            vec![partners.clone()],
            "{engine:?}: {}",
            r.text
        );
        let r = app
            .get(
                "/v1/lots/search?q=ordinatuer%20portabl",
                Some(&near.atelier.token),
            )
            .await;
        assert_eq!(ids(&r.body).len(), 3, "{engine:?}: {}", r.text);
        let r = app.get("/v1/lots/search", Some(&near.atelier.token)).await;
        assert_eq!(
            sorted(ids(&r.body)),
            sorted(vec![open.clone(), partners.clone(), radius.clone()]),
            "{engine:?}: {}",
            r.text
        );
        assert_eq!(r.body["facets"]["categories"]["laptop"], 3, "{}", r.text);
        let r = app.get("/v1/lots/search", Some(&far.token)).await;
        assert_eq!(ids(&r.body), vec![open.clone()], "{engine:?}: {}", r.text);
        let r = app
            .get(
                &format!(
                    "/v1/lots/search?lat={}&lon={}&within_km=5&sort=distance",
                    BLOIS.0, BLOIS.1
                ),
                Some(&near.atelier.token),
            )
            .await;
        assert_eq!(ids(&r.body).len(), 3, "{}", r.text);
        assert!(r.body["items"][0]["distance_km"].as_f64().is_some());

        // A withdrawn lot disappears.
        let w = app
            .post(
                &format!("/v1/lots/{open}/withdraw"),
                Some(&near.town.token),
                json!({}),
            )
            .await;
        assert_eq!(w.status, 200, "{}", w.text);
        app.settle().await;
        let r = app.get("/v1/lots/search", Some(&far.token)).await;
        assert!(ids(&r.body).is_empty(), "{}", r.text);
        let r = app.get("/v1/lots/search", Some(&near.atelier.token)).await;
        assert_eq!(
            sorted(ids(&r.body)),
            sorted(vec![partners.clone(), radius.clone()])
        );
        assert_eq!(
            r.body["estimated_total"], 2,
            "the index dropped it: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn search_is_refused_to_the_wrong_organisations() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let asso = association(&app, &chain.operator).await;
    let unverified = app.register("refurbisher").await;
    let unverified_asso = app.register("association").await;
    app.get("/v1/lots/search", None)
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/v1/lots/search", Some(&asso.token))
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/lots/search", Some(&chain.town.token))
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/lots/search", Some(&unverified.token))
        .await
        .assert_problem(403, "organisation_not_verified");
    app.get("/v1/catalogue/search", Some(&chain.town.token))
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/catalogue/search", Some(&unverified_asso.token))
        .await
        .assert_problem(403, "organisation_not_verified");
    app.get("/v1/catalogue/search", Some(&chain.operator))
        .await
        .assert_problem(403, "forbidden");
    let ok = app
        .get("/v1/catalogue/search", Some(&chain.atelier.token))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[tokio::test]
async fn bad_search_parameters_are_refused_with_the_fields_named() {
    let app = spawn_app().await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let asso = association(&app, &chain.operator).await;
    let cases: &[(&str, &[&str])] = &[
        ("lat=47.5", &["lon"]),
        ("lon=1.3", &["lat"]),
        ("lat=91&lon=1", &["lat"]),
        ("lat=45&lon=181", &["lon"]),
        ("within_km=10", &["lat"]),
        ("lat=45&lon=1&within_km=0", &["within_km"]),
        ("lat=45&lon=1&within_km=5000", &["within_km"]),
        ("sort=distance", &["lat"]),
        ("cursor=not-a-cursor", &["cursor"]),
        ("limit=0", &["limit"]),
        ("limit=101", &["limit"]),
        ("departement=ABCD", &["departement"]),
        ("grade=Z", &["grade"]),
        ("lat=91&lon=1&limit=0", &["lat", "limit"]),
    ];
    for (query, fields) in cases {
        let r = app
            .get(&format!("/v1/catalogue/search?{query}"), Some(&asso.token))
            .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            sorted(r.problem_fields()),
            sorted(fields.iter().map(|f| (*f).to_owned()).collect()),
            "{query}: {}",
            r.text
        );
    }
    for query in [
        "category=spaceship",
        "sort=best",
        "min_ram_gb=-1",
        "lat=north&lon=1",
    ] {
        let r = app
            .get(&format!("/v1/catalogue/search?{query}"), Some(&asso.token))
            .await;
        assert_eq!(r.status, 422, "{query}: {}", r.text);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json")
        );
    }
    let r = app
        .get(
            "/v1/lots/search?departement=%2F%2F&lat=1",
            Some(&chain.atelier.token),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(sorted(r.problem_fields()), vec!["departement", "lon"]);
}

#[tokio::test]
async fn writes_succeed_while_the_search_engine_is_down() {
    // Nothing listens on this port: Meilisearch is "down".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}");
    let mut vars = vec![
        ("MEILI_URL".to_owned(), url),
        (
            "REEMPLOI_OUTBOX_MAX_BACKOFF_SECS".to_owned(),
            "1".to_owned(),
        ),
        (
            "MEILI_INDEX_PREFIX".to_owned(),
            format!("t{}_", uuid::Uuid::now_v7().simple()),
        ),
    ];
    if let Ok(key) = std::env::var("MEILI_API_KEY") {
        vars.push(("MEILI_API_KEY".to_owned(), key));
    }
    let app = spawn_app_owned(&vars).await;
    let chain = chain_at(&app, BLOIS.0, BLOIS.1).await;
    let made = app
        .make_available(
            &chain,
            &[json!({ "category": "laptop", "brand": "Dell", "model": "Latitude 5490" })],
        )
        .await;
    assert_eq!(made.len(), 1);
    let asso = association(&app, &chain.operator).await;
    app.get("/v1/catalogue/search?q=portable", Some(&asso.token))
        .await
        .assert_problem(503, "search_unavailable");
    // The index work waits in the outbox with its error, to be retried.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pending = app
        .count("outbox WHERE topic = 'index' AND done_at IS NULL")
        .await;
    assert!(pending > 0);
    let failed = app
        .count("outbox WHERE topic = 'index' AND done_at IS NULL AND last_error IS NOT NULL")
        .await;
    assert!(failed > 0, "the worker tried and recorded the failure");
    // When a real Meilisearch is available, it comes back on that port and the index catches up.
    if let Ok(real) = std::env::var("MEILI_URL") {
        let real = real
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the port is free again");
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let real = real.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(real).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        let mut found = Vec::new();
        for _ in 0..200 {
            let r = app
                .get("/v1/catalogue/search?q=portable", Some(&asso.token))
                .await;
            if r.status == 200 {
                found = ids(&r.body);
                if !found.is_empty() {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(found, made, "the catalogue caught up without a reindex");
    } else {
        eprintln!("SKIPPED: engine recovery not tested here: MEILI_URL is not set");
    }
}

#[tokio::test]
async fn reindex_rebuilds_an_index_from_the_database() {
    let app = spawn_app().await;
    let c = catalogue(&app).await;
    // A second engine (another data directory) over the same database, rebuilt by the command.
    let dir = tempfile::tempdir().expect("dir");
    let vars = [
        (
            "REEMPLOI_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("DATABASE_URL".to_owned(), app.database_url.clone()),
    ];
    let settings = reemploi_api::config::Settings::from_vars(|k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("settings");
    reemploi_api::cli::run(
        settings,
        reemploi_api::cli::Command::Reindex {
            index: Some("catalogue".into()),
        },
    )
    .await
    .expect("reindex");
    let engine =
        reemploi_api::search::embedded::Embedded::open(&dir.path().join("search")).expect("open");
    let found = engine
        .search(
            reemploi_api::search::IndexName::Catalogue,
            &reemploi_api::search::Query::all(10),
        )
        .expect("search");
    let got: Vec<String> = found.hits.iter().map(|h| h.id.to_string()).collect();
    assert_eq!(
        sorted(got),
        sorted(vec![c.laptop, c.screen, c.desktop, c.lyon_laptop])
    );
}

/// The path of a signed URL (its signature and expiry aside).
fn url_path(v: &Value) -> Option<String> {
    v.as_str()
        .map(|u| u.split('?').next().unwrap_or(u).to_owned())
}

#[tokio::test]
async fn a_page_of_hits_shows_each_device_with_its_refurbisher_and_first_photo() {
    // The page is checked against the database in a few queries for all its hits: each hit must
    // still get its own refurbisher and its own first photo.
    let app = spawn_app().await;
    let c = catalogue(&app).await;
    let asso = association(&app, &c.chain.operator).await;
    let jpeg = crate::photos::jpeg_with_exif();
    let mut thumbs = std::collections::HashMap::new();
    for (item, n) in [(&c.laptop, 2), (&c.lyon_laptop, 1)] {
        let holder = if item == &c.laptop {
            &c.chain.atelier
        } else {
            &c.far.atelier
        };
        for _ in 0..n {
            let r =
                crate::photos::upload(&app, Some(&holder.token), item, jpeg.clone(), "image/jpeg")
                    .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let list = app
            .get(&format!("/v1/items/{item}/photos"), Some(&holder.token))
            .await;
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(n));
        thumbs.insert(
            item.clone(),
            url_path(&list.body["items"][0]["thumbnail_url"]),
        );
    }
    let r = app
        .get("/v1/catalogue/search?sort=newest", Some(&asso.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        sorted(ids(&r.body)),
        sorted(vec![
            c.laptop.clone(),
            c.screen.clone(),
            c.desktop.clone(),
            c.lyon_laptop.clone()
        ])
    );
    for hit in r.body["items"].as_array().expect("hits") {
        let id = hit["id"].as_str().expect("id").to_owned();
        let holder = if id == c.lyon_laptop {
            &c.far.atelier
        } else {
            &c.chain.atelier
        };
        assert_eq!(hit["refurbisher"]["id"], holder.id.as_str(), "{hit}");
        let expected = thumbs.get(&id).cloned().flatten();
        assert_eq!(url_path(&hit["thumbnail_url"]), expected, "{hit}");
    }
    // One page of two, then the rest: the cursor carries on after the hits shown.
    let first = app
        .get(
            "/v1/catalogue/search?sort=newest&limit=2",
            Some(&asso.token),
        )
        .await;
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    let rest = app
        .get(
            &format!("/v1/catalogue/search?sort=newest&limit=2&cursor={cursor}"),
            Some(&asso.token),
        )
        .await;
    let mut all = ids(&first.body);
    all.extend(ids(&rest.body));
    assert_eq!(sorted(all), sorted(ids(&r.body)));
    assert!(rest.body["next_cursor"].is_null(), "{}", rest.text);
}
