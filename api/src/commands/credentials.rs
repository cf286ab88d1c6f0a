//! Writes on a person's credentials and profile: changing the password (with the current one),
//! resetting it through a mailed single-use link, verifying the e-mail address, signing out
//! everywhere, and the profile (name, language). Events go to the user's stream `user/<id>` and
//! never carry a token; mails carry a link to the service's pages.

use chrono::TimeDelta;
use reemploi_domain::email::Email;
use reemploi_domain::organisation::check_password;
use reemploi_domain::text::Name;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::accounts::user_stream;
use super::write;
use crate::error::{ApiError, ApiResult, ErrorCode, Lang};
use crate::mail::messages::{self, Contact};
use crate::security;
use crate::state::AppState;
use crate::store::entities::{account_token, organisation, session, user};
use crate::store::events::NewEvent;
use crate::store::organisations::{find_user, user_by_email};
use crate::store::outbox::{self, Topic};
use crate::store::{self, tx::Tx};

/// Purpose of a password reset token.
pub const PASSWORD_RESET: &str = "password_reset";
/// Purpose of an address verification token.
pub const EMAIL_VERIFICATION: &str = "email_verification";

/// Paths of the pages people land on from mails (under `REEMPLOI_PUBLIC_URL`).
pub mod paths {
    pub const INVITATION: &str = "/compte/invitation";
    pub const RESET: &str = "/compte/mot-de-passe";
    pub const VERIFY: &str = "/compte/adresse";
    pub const FORGOT: &str = "/compte/mot-de-passe-oublie";
}

/// The link to a page, with a token as the last path segment, in the reader's language.
pub fn link(public_url: &str, path: &str, token: &str, lang: Lang) -> String {
    let base = public_url.trim_end_matches('/');
    match lang {
        Lang::Fr => format!("{base}{path}/{token}"),
        Lang::En => format!("{base}{path}/{token}?lang=en"),
    }
}

/// The contact printed in the platform's own mails: the operator organisation's.
pub async fn platform_contact<C: ConnectionTrait>(db: &C) -> ApiResult<Option<Contact>> {
    Ok(organisation::Entity::find()
        .filter(organisation::Column::Kind.eq("operator"))
        .one(db)
        .await?
        .map(|o| Contact::of(&o)))
}

async fn hash(password: &str) -> ApiResult<String> {
    let password = password.to_owned();
    Ok(
        tokio::task::spawn_blocking(move || security::hash_password(&password))
            .await
            .map_err(anyhow::Error::from)??,
    )
}

async fn verify(password: &str, hash: Option<String>) -> bool {
    let hash = hash.unwrap_or_else(|| security::dummy_hash().to_owned());
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || security::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

fn weak(field: &str, password: &str) -> ApiResult<()> {
    check_password(password).map_err(|r| ApiError::field(field, r))
}

async fn user_event(
    tx: &Tx,
    user_id: Uuid,
    actor: String,
    kind: &'static str,
    payload: serde_json::Value,
) -> ApiResult<()> {
    tx.event(NewEvent {
        stream: user_stream(user_id),
        organisation_id: None,
        actor,
        kind,
        payload,
    })
    .await?;
    Ok(())
}

/// Revokes the open sessions of `user_id` but `keep`; answers how many.
pub async fn revoke_sessions(tx: &Tx, user_id: Uuid, keep: Option<Uuid>) -> ApiResult<u64> {
    let mut q = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(store::now())))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        q = q.filter(session::Column::Id.ne(keep));
    }
    Ok(q.exec(tx).await?.rows_affected)
}

/// Inserts a single-use token for `user_id` and answers it (only its hash is stored).
async fn new_account_token(
    tx: &Tx,
    user_id: Uuid,
    purpose: &str,
    ttl: TimeDelta,
) -> ApiResult<(String, chrono::DateTime<chrono::Utc>)> {
    let prefix = if purpose == PASSWORD_RESET {
        security::RESET_PREFIX
    } else {
        security::VERIFICATION_PREFIX
    };
    let token = security::new_token(prefix);
    let now = store::now();
    let expires_at = now + ttl;
    account_token::Entity::insert(account_token::ActiveModel {
        id: Set(store::new_id()),
        user_id: Set(user_id),
        purpose: Set(purpose.to_owned()),
        token_hash: Set(security::token_hash(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(tx)
    .await?;
    Ok((token, expires_at))
}

/// Consumes a token of `purpose`: answers its user, or 422 `token_invalid` when it is unknown,
/// expired or already used (of two concurrent uses, one wins).
async fn consume(tx: &Tx, token: &str, purpose: &str) -> ApiResult<Uuid> {
    let invalid = || ApiError::new(ErrorCode::TokenInvalid);
    let now = store::now();
    let row = account_token::Entity::find()
        .filter(account_token::Column::TokenHash.eq(security::token_hash(token.trim())))
        .filter(account_token::Column::Purpose.eq(purpose))
        .one(tx)
        .await?
        .ok_or_else(invalid)?;
    let done = account_token::Entity::update_many()
        .col_expr(account_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(account_token::Column::Id.eq(row.id))
        .filter(account_token::Column::UsedAt.is_null())
        .filter(account_token::Column::ExpiresAt.gt(now))
        .exec(tx)
        .await?;
    if done.rows_affected != 1 {
        return Err(invalid());
    }
    Ok(row.user_id)
}

/// Changes the password of `user_id` after checking the current one; the other sessions are
/// signed out (the one used for the call stays open).
pub async fn change_password(
    cx: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    current: &str,
    new: &str,
) -> ApiResult<()> {
    weak("new_password", new)?;
    let u = find_user(&cx.db, user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    if !verify(current, u.password_hash.clone()).await || u.password_hash.is_none() {
        return Err(ApiError::new(ErrorCode::WrongPassword));
    }
    let hashed = hash(new).await?;
    write(&cx.db, async move |tx| {
        user::Entity::update_many()
            .col_expr(
                user::Column::PasswordHash,
                Expr::value(Some(hashed.clone())),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(store::now()))
            .filter(user::Column::Id.eq(user_id))
            .exec(tx)
            .await?;
        let revoked = revoke_sessions(tx, user_id, Some(session_id)).await?;
        user_event(
            tx,
            user_id,
            format!("user/{user_id}"),
            "password_changed",
            serde_json::json!({ "sessions_revoked": revoked }),
        )
        .await
    })
    .await
}

/// Mails a reset link to `email` if it has an account; answers the same either way.
pub async fn request_password_reset(cx: &AppState, email: &str) -> ApiResult<()> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let Some(u) = user_by_email(&cx.db, email.as_str()).await? else {
        tracing::info!("password reset asked for an address without an account");
        return Ok(());
    };
    let minutes = cx.settings.accounts.password_reset_ttl_minutes;
    let public_url = cx.settings.public_url.clone();
    write(&cx.db, async move |tx| {
        let ttl = TimeDelta::minutes(i64::try_from(minutes).unwrap_or(60));
        let (token, expires_at) = new_account_token(tx, u.id, PASSWORD_RESET, ttl).await?;
        let lang = messages::lang_of(&u.language);
        let mail = messages::password_reset(
            lang,
            &u.email,
            link(&public_url, paths::RESET, &token, lang),
            minutes,
            platform_contact(tx).await?,
        );
        outbox::enqueue(tx, Topic::Mail, &mail).await?;
        user_event(
            tx,
            u.id,
            "anonymous".to_owned(),
            "password_reset_requested",
            serde_json::json!({ "expires_at": expires_at }),
        )
        .await
    })
    .await
}

/// Sets a new password with a reset token; every session of the account is signed out, and the
/// address counts as verified (the link was read there).
pub async fn reset_password(cx: &AppState, token: &str, new: &str) -> ApiResult<()> {
    weak("password", new)?;
    let hashed = hash(new).await?;
    let token = token.to_owned();
    write(&cx.db, async move |tx| {
        let user_id = consume(tx, &token, PASSWORD_RESET).await?;
        let now = store::now();
        user::Entity::update_many()
            .col_expr(
                user::Column::PasswordHash,
                Expr::value(Some(hashed.clone())),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .exec(tx)
            .await?;
        mark_verified(tx, user_id, now).await?;
        let revoked = revoke_sessions(tx, user_id, None).await?;
        user_event(
            tx,
            user_id,
            format!("user/{user_id}"),
            "password_reset",
            serde_json::json!({ "sessions_revoked": revoked }),
        )
        .await
    })
    .await
}

async fn mark_verified(
    tx: &Tx,
    user_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    user::Entity::update_many()
        .col_expr(user::Column::EmailVerifiedAt, Expr::value(Some(now)))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::EmailVerifiedAt.is_null())
        .exec(tx)
        .await?;
    Ok(())
}

/// Queues the mail with the link that verifies the address of `user_id` (in the same
/// transaction as the caller's write).
pub async fn queue_verification(
    tx: &Tx,
    public_url: &str,
    ttl_hours: u64,
    user_id: Uuid,
    email: &str,
    language: &str,
) -> ApiResult<()> {
    let ttl = TimeDelta::hours(i64::try_from(ttl_hours).unwrap_or(72));
    let (token, expires_at) = new_account_token(tx, user_id, EMAIL_VERIFICATION, ttl).await?;
    let lang = messages::lang_of(language);
    let mail = messages::email_verification(
        lang,
        email,
        link(public_url, paths::VERIFY, &token, lang),
        expires_at,
        platform_contact(tx).await?,
    );
    outbox::enqueue(tx, Topic::Mail, &mail).await?;
    Ok(())
}

/// Mails `user_id` a link to verify its address (again).
pub async fn request_email_verification(cx: &AppState, user_id: Uuid) -> ApiResult<()> {
    let u = find_user(&cx.db, user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    if u.email_verified_at.is_some() {
        return Err(ApiError::new(ErrorCode::EmailAlreadyVerified));
    }
    let public_url = cx.settings.public_url.clone();
    let ttl = cx.settings.accounts.email_verification_ttl_hours;
    write(&cx.db, async move |tx| {
        queue_verification(tx, &public_url, ttl, u.id, &u.email, &u.language).await?;
        user_event(
            tx,
            u.id,
            format!("user/{}", u.id),
            "email_verification_requested",
            serde_json::json!({}),
        )
        .await
    })
    .await
}

/// Verifies an address with the mailed token.
pub async fn verify_email(cx: &AppState, token: &str) -> ApiResult<()> {
    let token = token.to_owned();
    write(&cx.db, async move |tx| {
        let user_id = consume(tx, &token, EMAIL_VERIFICATION).await?;
        mark_verified(tx, user_id, store::now()).await?;
        user_event(
            tx,
            user_id,
            format!("user/{user_id}"),
            "email_verified",
            serde_json::json!({}),
        )
        .await
    })
    .await
}

/// Signs `user_id` out of every session, the current one included; answers how many.
pub async fn logout_everywhere(cx: &AppState, user_id: Uuid) -> ApiResult<u64> {
    write(&cx.db, async move |tx| {
        let revoked = revoke_sessions(tx, user_id, None).await?;
        user_event(
            tx,
            user_id,
            format!("user/{user_id}"),
            "sessions_revoked",
            serde_json::json!({ "sessions_revoked": revoked }),
        )
        .await?;
        Ok(revoked)
    })
    .await
}

/// Changes what a person says about themselves: the name shown to others, and the language of
/// their mails.
pub async fn update_profile(
    cx: &AppState,
    user_id: Uuid,
    display_name: Option<Name>,
    language: Option<Lang>,
) -> ApiResult<user::Model> {
    write(&cx.db, async move |tx| {
        let mut q = user::Entity::update_many()
            .col_expr(user::Column::UpdatedAt, Expr::value(store::now()))
            .filter(user::Column::Id.eq(user_id));
        let mut changed = Vec::new();
        if let Some(n) = &display_name {
            q = q.col_expr(user::Column::DisplayName, Expr::value(n.as_str()));
            changed.push("display_name");
        }
        if let Some(l) = language {
            q = q.col_expr(user::Column::Language, Expr::value(lang_code(l)));
            changed.push("language");
        }
        q.exec(tx).await?;
        user_event(
            tx,
            user_id,
            format!("user/{user_id}"),
            "profile_updated",
            serde_json::json!({ "changed": changed, "language": language.map(lang_code) }),
        )
        .await?;
        find_user(tx, user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)
    })
    .await
}

/// `fr` or `en`.
pub fn lang_code(l: Lang) -> &'static str {
    match l {
        Lang::Fr => "fr",
        Lang::En => "en",
    }
}
