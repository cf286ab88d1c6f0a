//! Compression negotiated with `Accept-Encoding`, and CORS: off by default, on for the origins
//! listed in `REEMPLOI_CORS_ORIGINS`.

use tokio::io::AsyncReadExt;

use crate::helpers::*;

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.client.request(method, app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "br" => async_compression::tokio::bufread::BrotliDecoder::new(body)
            .read_to_end(&mut out)
            .await
            .expect("brotli"),
        "gzip" => async_compression::tokio::bufread::GzipDecoder::new(body)
            .read_to_end(&mut out)
            .await
            .expect("gzip"),
        other => panic!("unexpected coding {other}"),
    };
    out
}

#[tokio::test]
async fn answers_are_compressed_as_the_client_accepts_and_small_ones_are_not() {
    let app = spawn_app().await;
    let (_, plain_headers, plain) = raw(&app, reqwest::Method::GET, "/openapi.json", &[]).await;
    assert!(header(&plain_headers, "content-encoding").is_none());
    assert!(plain.len() > 100_000, "{}", plain.len());
    for (accept, coding) in [
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip;q=0.9", "gzip"),
    ] {
        let (status, headers, body) = raw(
            &app,
            reqwest::Method::GET,
            "/openapi.json",
            &[("accept-encoding", accept)],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, "content-encoding"),
            Some(coding),
            "{accept}"
        );
        assert!(
            header(&headers, "vary").is_some_and(|v| v.contains("Accept-Encoding")),
            "{headers:?}"
        );
        assert!(
            body.len() * 5 < plain.len(),
            "{coding}: {} bytes",
            body.len()
        );
        assert_eq!(decode(coding, &body).await, plain, "{coding}");
    }
    // An API answer too (the catalogue a phone reads on a weak network).
    let (_, headers, body) = raw(
        &app,
        reqwest::Method::GET,
        "/v1/meta/problems",
        &[("accept-encoding", "br")],
    )
    .await;
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    let problems: serde_json::Value =
        serde_json::from_slice(&decode("br", &body).await).expect("json");
    assert!(problems.is_object() || problems.is_array());
    // Refused codings and tiny answers go as they are.
    for accept in ["identity", "gzip;q=0, br;q=0", "zstd"] {
        let (_, headers, _) = raw(
            &app,
            reqwest::Method::GET,
            "/openapi.json",
            &[("accept-encoding", accept)],
        )
        .await;
        assert!(header(&headers, "content-encoding").is_none(), "{accept}");
    }
    let (_, headers, body) = raw(
        &app,
        reqwest::Method::GET,
        "/health/live",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert!(header(&headers, "content-encoding").is_none());
    assert!(!body.is_empty());
    // A compressed request body is not expanded: it is refused like any body that is not JSON.
    let (status, _, _) = {
        let resp = app
            .client
            .post(app.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3])
            .send()
            .await
            .expect("sent");
        (resp.status().as_u16(), (), ())
    };
    assert!(status == 400 || status == 415, "{status}");
}

#[tokio::test]
async fn without_configured_origins_no_cors_header_is_sent() {
    let app = spawn_app().await;
    let (_, headers, _) = raw(
        &app,
        reqwest::Method::GET,
        "/v1/meta/problems",
        &[("origin", "https://app.example.org")],
    )
    .await;
    assert!(header(&headers, "access-control-allow-origin").is_none());
    let (status, headers, _) = raw(
        &app,
        reqwest::Method::OPTIONS,
        "/v1/catalogue/search",
        &[
            ("origin", "https://app.example.org"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_ne!(status, 204);
    assert!(header(&headers, "access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_and_its_answers_and_another_gets_nothing() {
    let app = spawn_app_with(&[(
        "REEMPLOI_CORS_ORIGINS",
        "https://app.example.org, http://localhost:5173",
    )])
    .await;
    let (status, headers, body) = raw(
        &app,
        reqwest::Method::OPTIONS,
        "/v1/reservations",
        &[
            ("origin", "https://app.example.org"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            ),
        ],
    )
    .await;
    assert_eq!(status, 204);
    assert!(body.is_empty());
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://app.example.org")
    );
    assert!(header(&headers, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    let allowed = header(&headers, "access-control-allow-headers").unwrap_or_default();
    for h in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    assert!(header(&headers, "access-control-allow-credentials").is_none());
    // The answer itself: readable by the page, with the headers a client needs.
    let town = app.register("public_body").await;
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/organisations/{}", town.id),
            Some(&town.token),
            None,
            &[("origin", "http://localhost:5173")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap_or_default();
    for h in ["etag", "location", "retry-after"] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }
    assert!(r.header("vary").is_some_and(|v| v.contains("Origin")));
    // Another site's page: no header, so its browser keeps the answer from it.
    let (_, headers, _) = raw(
        &app,
        reqwest::Method::GET,
        "/v1/meta/problems",
        &[("origin", "https://evil.example.org")],
    )
    .await;
    assert!(header(&headers, "access-control-allow-origin").is_none());
    let (status, headers, _) = raw(
        &app,
        reqwest::Method::OPTIONS,
        "/v1/reservations",
        &[
            ("origin", "https://evil.example.org"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await;
    assert_ne!(status, 204);
    assert!(header(&headers, "access-control-allow-origin").is_none());
}
