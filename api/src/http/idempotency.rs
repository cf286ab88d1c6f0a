//! `Idempotency-Key` on POST (`docs/architecture.md`): a mobile client that retries a request it is unsure
//! reached us gets the first answer again instead of acting twice. Keys are scoped by caller
//! (the credentials, or the address of an anonymous caller), kept 24 hours, and bound to the
//! request they first came with. An answer that carries a credential (a session token, an API
//! key) is never stored: its key stays taken, and a replay answers 409 `idempotency_key_reused`
//! saying why.

use chrono::TimeDelta;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::store::entities::idempotency_key;
use crate::store::{self, is_unique_violation};

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// How long a key is remembered.
const RETENTION: TimeDelta = TimeDelta::hours(24);

fn sha(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn scope_of(req: &Request) -> String {
    match req.headers().get(header::AUTHORIZATION) {
        Some(auth) => sha(&[b"auth", auth.as_bytes()]),
        None => {
            let addr = super::log::client_ip(req).0;
            sha(&[b"anonymous", addr.as_bytes()])
        }
    }
}

fn replay(row: &idempotency_key::Model) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(row.status.unwrap_or(200) as u16).unwrap_or(StatusCode::OK))
        .body(Body::from(row.body.clone().unwrap_or_default()));
    let headers = resp.headers_mut();
    if let Some(ct) = row
        .content_type
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(loc) = row
        .location
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::LOCATION, loc);
    }
    headers.insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    resp
}

/// Whether an answer holds a secret: one of the service's token prefixes followed by the
/// random part of a token (at least 40 URL-safe characters).
pub fn carries_credential(body: &[u8]) -> bool {
    let url_safe = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    crate::security::TOKEN_PREFIXES.iter().any(|prefix| {
        let p = prefix.as_bytes();
        body.windows(p.len())
            .enumerate()
            .filter(|(_, w)| *w == p)
            .any(|(i, _)| {
                body[i + p.len()..]
                    .iter()
                    .take_while(|b| url_safe(b))
                    .take(40)
                    .count()
                    == 40
            })
    })
}

fn withheld() -> ApiError {
    ApiError::new(ErrorCode::IdempotencyKeyReused).detail(
        "La première réponse à cette clé contenait un secret (jeton de connexion, clé d'API), \
         qui n'est jamais conservé : elle ne peut pas être rejouée. La première requête a abouti ; \
         vérifiez son effet (GET /v1/me, la liste des clés) ou recommencez avec une autre clé.",
        "The first answer to this key held a secret (sign-in token, API key), which is never \
         kept: it cannot be replayed. The first request succeeded; check its effect (GET /v1/me, \
         the list of keys) or start again with another key.",
    )
}

/// Applies idempotency to POST requests that carry the header (streamed uploads excepted).
pub async fn apply<E: Endpoint>(
    next: E,
    mut req: Request,
    db: &DatabaseConnection,
    skip: &[&str],
    routes: &super::problem::AllowedMethods,
) -> Result<Response> {
    let key = match req.headers().get(HEADER) {
        Some(v) if req.method() == Method::POST => {
            v.to_str().ok().map(str::trim).map(str::to_owned)
        }
        _ => return next.call(req).await.map(IntoResponse::into_response),
    };
    let path = req.uri().path().to_owned();
    // Unknown routes and methods are left to the router (404, 405).
    let routed = routes
        .lookup(&path)
        .is_some_and(|methods| methods.split(", ").any(|m| m == "POST"));
    if !routed || skip.iter().any(|s| path == *s || path.ends_with(s)) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    // A key that is not 1 to 200 visible ASCII characters is ignored (documented in the spec),
    // so that authentication and validation answer first.
    let Some(key) =
        key.filter(|k| (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
    else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let body = req.take_body().into_bytes().await?;
    let query = req.uri().query().unwrap_or_default().to_owned();
    let request_hash = sha(&[path.as_bytes(), query.as_bytes(), &body]);
    req.set_body(Body::from(body));
    let scope = scope_of(&req);
    let now = store::now();

    let claim = idempotency_key::ActiveModel {
        id: Set(store::new_id()),
        scope: Set(scope.clone()),
        key: Set(key.clone()),
        request_hash: Set(request_hash.clone()),
        status: Set(None),
        content_type: Set(None),
        location: Set(None),
        body: Set(None),
        body_withheld: Set(false),
        created_at: Set(now),
    };
    let mut inserted = idempotency_key::Entity::insert(claim.clone())
        .exec_without_returning(db)
        .await;
    if let Err(e) = &inserted {
        if !is_unique_violation(e) {
            return Err(ApiError::from(sea_orm::DbErr::Custom(e.to_string())).into());
        }
        let existing = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::Scope.eq(scope.clone()))
            .filter(idempotency_key::Column::Key.eq(key.clone()))
            .one(db)
            .await
            .map_err(ApiError::from)?;
        match existing {
            Some(row) if row.created_at + RETENTION < now => {
                // Expired: forget it and take the key again.
                idempotency_key::Entity::delete_by_id(row.id)
                    .exec(db)
                    .await
                    .map_err(ApiError::from)?;
                inserted = idempotency_key::Entity::insert(claim)
                    .exec_without_returning(db)
                    .await;
                if inserted.is_err() {
                    return Err(ApiError::new(ErrorCode::IdempotencyInProgress).into());
                }
            }
            Some(row) if row.request_hash != request_hash => {
                return Err(ApiError::new(ErrorCode::IdempotencyKeyReused).into());
            }
            Some(row) if row.body_withheld => return Err(withheld().into()),
            Some(row) if row.status.is_some() => return Ok(replay(&row)),
            Some(_) | None => return Err(ApiError::new(ErrorCode::IdempotencyInProgress).into()),
        }
    }

    let forget = || async {
        let _ = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::Scope.eq(scope.clone()))
            .filter(idempotency_key::Column::Key.eq(key.clone()))
            .exec(db)
            .await;
    };
    let resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => {
            // Failures are not remembered: a retry runs again.
            forget().await;
            return Err(e);
        }
    };
    if !resp.status().is_success() {
        forget().await;
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await?;
    let header_str = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // A credential (session token, API key…) is never stored: the key stays taken, so the
    // request is not acted on twice, but its replay is refused.
    let withheld = carries_credential(&bytes);
    let saved = idempotency_key::Entity::update_many()
        .col_expr(
            idempotency_key::Column::Status,
            sea_orm::sea_query::Expr::value(Some(i32::from(parts.status.as_u16()))),
        )
        .col_expr(
            idempotency_key::Column::ContentType,
            sea_orm::sea_query::Expr::value(header_str(header::CONTENT_TYPE)),
        )
        .col_expr(
            idempotency_key::Column::Location,
            sea_orm::sea_query::Expr::value(header_str(header::LOCATION)),
        )
        .col_expr(
            idempotency_key::Column::Body,
            sea_orm::sea_query::Expr::value((!withheld).then(|| bytes.to_vec())),
        )
        .col_expr(
            idempotency_key::Column::BodyWithheld,
            sea_orm::sea_query::Expr::value(withheld),
        )
        .filter(idempotency_key::Column::Scope.eq(scope.clone()))
        .filter(idempotency_key::Column::Key.eq(key.clone()))
        .exec(db)
        .await;
    if let Err(e) = saved {
        tracing::warn!(error = %e, "idempotency answer not recorded");
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
