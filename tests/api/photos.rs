//! Photos through the blob storage port: the local store with signed URLs always, a real
//! S3-compatible server when the test script started one (`TEST_S3_ENDPOINT`), and a store that
//! is down.

use crate::helpers::{Org, Resp, TestApp, spawn_app, spawn_app_with};

/// A small JPEG carrying an EXIF block with a GPS tag, as phones write them.
pub(crate) fn jpeg_with_exif() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 128])
    });
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut plain),
            image::ImageFormat::Jpeg,
        )
        .expect("encode");
    let exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 47.6094 N GPSLongitude 1.3213 E";
    let len = (exif.len() + 2) as u16;
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(exif);
    out.extend_from_slice(&plain[2..]);
    out
}

pub(crate) async fn upload(
    app: &TestApp,
    token: Option<&str>,
    item: &str,
    bytes: Vec<u8>,
    declared: &str,
) -> Resp {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("photo.jpg")
        .mime_str(declared)
        .expect("mime");
    let form = reqwest::multipart::Form::new().part("file", part);
    let mut req = app
        .client
        .post(app.url(&format!("/v1/items/{item}/photos")))
        .multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("sent");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        text,
    }
}

async fn one_item(app: &TestApp) -> (Org, String) {
    let town = app.register("public_body").await;
    let item = app.items(&town, "laptop", 1).await.remove(0);
    (town, item)
}

#[tokio::test]
async fn a_photo_is_stored_without_its_location_and_served_by_a_signed_url() {
    let app = spawn_app().await;
    let (town, item) = one_item(&app).await;
    let original = jpeg_with_exif();
    assert!(original.windows(11).any(|w| w == b"GPSLatitude"));
    let r = upload(&app, Some(&town.token), &item, original, "image/jpeg").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["width"].as_u64(), r.body["height"].as_u64()),
        (Some(64), Some(48))
    );
    // `Location` is the photo; another organisation cannot read it.
    let location = r.header("location").expect("location");
    let one = app.get(&location, Some(&town.token)).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["id"], r.body["id"]);
    let stranger = app.register("public_body").await;
    app.get(&location, Some(&stranger.token))
        .await
        .assert_problem(404, "not_found");
    let list = app
        .get(&format!("/v1/items/{item}/photos"), Some(&town.token))
        .await;
    let url = list.body["items"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let fetched = app.client.get(&url).send().await.expect("fetch");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(
        fetched
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    let bytes = fetched.bytes().await.expect("bytes");
    assert!(bytes.starts_with(&[0xFF, 0xD8]));
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "metadata removed");
    assert!(!bytes.windows(11).any(|w| w == b"GPSLatitude"));
    let thumb = app
        .client
        .get(
            list.body["items"][0]["thumbnail_url"]
                .as_str()
                .expect("thumb"),
        )
        .send()
        .await
        .expect("thumb");
    assert_eq!(thumb.status().as_u16(), 200);
    // A tampered or expired signature reveals nothing.
    let tampered = url.replace("signature=", "signature=0");
    assert_eq!(
        app.client
            .get(&tampered)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16(),
        404
    );
    let expired =
        url.split("&expires=").next().expect("path").to_owned() + "&expires=1000&signature=00";
    assert_eq!(
        app.client
            .get(&expired)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16(),
        404
    );
    // Deleting removes the row and the file.
    let id = list.body["items"][0]["id"].as_str().expect("id");
    assert_eq!(
        app.delete(&format!("/v1/items/{item}/photos/{id}"), Some(&town.token))
            .await
            .status,
        204
    );
    assert_eq!(
        app.client
            .get(&url)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16(),
        404
    );
    assert_eq!(app.count("photos").await, 0);
}

#[tokio::test]
async fn a_non_image_or_an_oversized_upload_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (town, item) = one_item(&app).await;
    upload(
        &app,
        Some(&town.token),
        &item,
        b"bonjour, je ne suis pas une image".to_vec(),
        "image/png",
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
    fake.extend_from_slice(&[0u8; 100]);
    upload(&app, Some(&town.token), &item, fake, "image/png")
        .await
        .assert_problem(415, "unsupported_media_type");
    let huge = vec![0xFFu8; 50 * 1024 * 1024];
    let r = upload(&app, Some(&town.token), &item, huge, "image/jpeg").await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(app.count("photos").await, 0);
}

#[tokio::test]
async fn only_the_holder_of_a_device_adds_or_removes_its_photos() {
    let app = spawn_app().await;
    let (town, item) = one_item(&app).await;
    let other = app.register("refurbisher").await;
    let asso = app.register("association").await;
    for org in [&other, &asso] {
        upload(
            &app,
            Some(&org.token),
            &item,
            jpeg_with_exif(),
            "image/jpeg",
        )
        .await
        .assert_problem(403, "forbidden");
        app.get(&format!("/v1/items/{item}/photos"), Some(&org.token))
            .await
            .assert_problem(404, "not_found");
    }
    upload(&app, None, &item, jpeg_with_exif(), "image/jpeg")
        .await
        .assert_problem(401, "unauthenticated");
    let r = upload(
        &app,
        Some(&town.token),
        &item,
        jpeg_with_exif(),
        "image/jpeg",
    )
    .await;
    let id = r.body["id"].as_str().expect("id");
    app.delete(&format!("/v1/items/{item}/photos/{id}"), Some(&other.token))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.count("photos").await, 1);
}

#[tokio::test]
async fn with_the_file_store_down_an_upload_answers_503_and_leaves_no_row() {
    let app = spawn_app_with(&[
        ("S3_ENDPOINT", "http://127.0.0.1:9"),
        ("S3_BUCKET", "reemploi-down"),
        ("S3_ACCESS_KEY", "x"),
        ("S3_SECRET_KEY", "y"),
    ])
    .await;
    let (town, item) = one_item(&app).await;
    let r = upload(
        &app,
        Some(&town.token),
        &item,
        jpeg_with_exif(),
        "image/jpeg",
    )
    .await;
    r.assert_problem(503, "unavailable");
    assert_eq!(app.count("photos").await, 0);
}

pub(crate) fn s3_env() -> Option<(String, String, String)> {
    let endpoint = std::env::var("TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    match endpoint {
        Some(e) => Some((
            e,
            std::env::var("TEST_S3_ACCESS_KEY").unwrap_or_default(),
            std::env::var("TEST_S3_SECRET_KEY").unwrap_or_default(),
        )),
        None => {
            eprintln!(
                "SKIPPED: S3 adapter tests need TEST_S3_ENDPOINT (infra/scripts/test.sh starts s3s-fs)"
            );
            None
        }
    }
}

#[tokio::test]
async fn the_s3_adapter_stores_presigns_fetches_and_deletes() {
    let Some((endpoint, access, secret)) = s3_env() else {
        return;
    };
    let bucket = format!(
        "reemploi-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let app = spawn_app_with(&[
        ("S3_ENDPOINT", &endpoint),
        ("S3_BUCKET", &bucket),
        ("S3_ACCESS_KEY", &access),
        ("S3_SECRET_KEY", &secret),
    ])
    .await;
    let (town, item) = one_item(&app).await;
    let r = upload(
        &app,
        Some(&town.token),
        &item,
        jpeg_with_exif(),
        "image/jpeg",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.body["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&endpoint),
        "a presigned URL of the store: {url}"
    );
    let fetched = app.client.get(&url).send().await.expect("fetch");
    assert_eq!(fetched.status().as_u16(), 200);
    let bytes = fetched.bytes().await.expect("bytes");
    assert!(bytes.starts_with(&[0xFF, 0xD8]) && !bytes.windows(4).any(|w| w == b"Exif"));
    let id = r.body["id"].as_str().expect("id");
    assert_eq!(
        app.delete(&format!("/v1/items/{item}/photos/{id}"), Some(&town.token))
            .await
            .status,
        204
    );
    let gone = app.client.get(&url).send().await.expect("fetch");
    assert_eq!(gone.status().as_u16(), 404, "deleted from the store");
}

#[tokio::test]
async fn wrong_s3_credentials_answer_503_and_leave_no_row() {
    let Some((endpoint, access, _)) = s3_env() else {
        return;
    };
    let app = spawn_app_with(&[
        ("S3_ENDPOINT", &endpoint),
        ("S3_BUCKET", "reemploi-wrong-credentials"),
        ("S3_ACCESS_KEY", &access),
        ("S3_SECRET_KEY", "not-the-secret"),
    ])
    .await;
    let (town, item) = one_item(&app).await;
    upload(
        &app,
        Some(&town.token),
        &item,
        jpeg_with_exif(),
        "image/jpeg",
    )
    .await
    .assert_problem(503, "unavailable");
    assert_eq!(app.count("photos").await, 0);
}

#[tokio::test]
async fn a_device_keeps_at_most_twelve_photos_even_when_uploads_race() {
    let app = spawn_app().await;
    let (town, item) = one_item(&app).await;
    for _ in 0..10 {
        let r = upload(
            &app,
            Some(&town.token),
            &item,
            jpeg_with_exif(),
            "image/jpeg",
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // Six uploads at once for the last two places: two pass, four are refused, none fails.
    let racing = futures::future::join_all((0..6).map(|_| {
        upload(
            &app,
            Some(&town.token),
            &item,
            jpeg_with_exif(),
            "image/jpeg",
        )
    }))
    .await;
    let created = racing.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        2,
        "{:?}",
        racing.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in racing.iter().filter(|r| r.status != 201) {
        r.assert_problem(422, "photo_limit_reached");
    }
    assert_eq!(app.count("photos").await, 12);
    let list = app
        .get(&format!("/v1/items/{item}/photos"), Some(&town.token))
        .await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(12));
}
