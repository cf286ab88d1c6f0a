//! Writes on accounts: opening a session (sign-in), closing it (sign-out), and accepting an
//! invitation. Session events go to the user's stream `user/<id>` and never carry the token.

use chrono::{DateTime, TimeDelta, Utc};
use reemploi_domain::FieldErrors;
use reemploi_domain::email::Email;
use reemploi_domain::organisation::check_password;
use reemploi_domain::text::Name;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::write;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::security;
use crate::state::AppState;
use crate::store::entities::{invitation, membership, session, user};
use crate::store::events::NewEvent;
use crate::store::organisations::{invitation_by_token_hash, org_event, user_by_email};
use crate::store::tx::Tx;
use crate::store::{self, is_unique_violation};

/// The stream of a user's own events (sessions).
pub fn user_stream(id: Uuid) -> String {
    format!("user/{id}")
}

/// Makes `user_id` a member as the (already consumed) invitation `inv` says, and appends
/// `member_added`; 409 `already_member` when they already are. `via` names a sign-in other than
/// the password one (`oidc`).
pub(crate) async fn add_invited_member(
    tx: &Tx,
    user_id: Uuid,
    inv: &invitation::Model,
    now: DateTime<Utc>,
    via: Option<&str>,
) -> ApiResult<()> {
    membership::Entity::insert(membership::ActiveModel {
        id: Set(store::new_id()),
        user_id: Set(user_id),
        organisation_id: Set(inv.organisation_id),
        role: Set(inv.role.clone()),
        created_at: Set(now),
    })
    .exec_without_returning(tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::new(ErrorCode::AlreadyMember)
        } else {
            e.into()
        }
    })?;
    let mut payload =
        serde_json::json!({ "user_id": user_id, "role": inv.role, "invitation_id": inv.id });
    if let Some(via) = via {
        payload["via"] = via.into();
    }
    org_event(
        tx,
        inv.organisation_id,
        format!("user/{user_id}"),
        "member_added",
        payload,
    )
    .await?;
    Ok(())
}

/// A session opened: the token to hand to the client, once.
pub struct OpenedSession {
    pub user_id: Uuid,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

async fn check_password_of(password: &str, hash: Option<String>) -> bool {
    let hash = hash.unwrap_or_else(|| security::dummy_hash().to_owned());
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || security::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Inserts a session for `user_id` and appends `session_opened` (with how it was opened).
pub(crate) async fn open_session_in(
    tx: &Tx,
    ttl_hours: u32,
    user_id: Uuid,
    token: &str,
    via: &str,
) -> ApiResult<(Uuid, DateTime<Utc>)> {
    let now = store::now();
    let expires_at = now + TimeDelta::hours(i64::from(ttl_hours));
    let id = store::new_id();
    session::Entity::insert(session::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        token_hash: Set(security::token_hash(token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    })
    .exec_without_returning(tx)
    .await?;
    tx.event(NewEvent {
        stream: user_stream(user_id),
        organisation_id: None,
        actor: format!("user/{user_id}"),
        kind: "session_opened",
        payload: serde_json::json!({ "session_id": id, "via": via, "expires_at": expires_at }),
    })
    .await?;
    Ok((id, expires_at))
}

/// Signs in with an e-mail and password: 401 `invalid_credentials` for an unknown address or a
/// wrong password alike (the password is checked against a dummy hash then, in the same time).
pub async fn login(cx: &AppState, email: &str, password: &str) -> ApiResult<OpenedSession> {
    let found = match Email::parse(email) {
        Ok(email) => user_by_email(&cx.db, email.as_str()).await?,
        Err(_) => None,
    };
    let valid = check_password_of(
        password,
        found.as_ref().and_then(|u| u.password_hash.clone()),
    )
    .await;
    let Some(user) = found.filter(|u| valid && u.password_hash.is_some()) else {
        return Err(ApiError::new(ErrorCode::InvalidCredentials));
    };
    store::oidc::refuse_password_sign_in(&cx.db, user.id).await?;
    let token = security::new_token(security::SESSION_PREFIX);
    let ttl = cx.settings.session_ttl_hours;
    let (user_id, session_token) = (user.id, token.clone());
    let (_, expires_at) = write(&cx.db, async move |tx| {
        open_session_in(tx, ttl, user_id, &session_token, "password").await
    })
    .await?;
    tracing::info!(user.id = %user.id, "signed in");
    Ok(OpenedSession {
        user_id: user.id,
        token,
        expires_at,
    })
}

/// Revokes a session of `user_id` (sign-out) and appends `session_closed`.
pub async fn logout(cx: &AppState, user_id: Uuid, session_id: Uuid) -> ApiResult<()> {
    write(&cx.db, async move |tx| {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Some(store::now())))
            .filter(session::Column::Id.eq(session_id))
            .filter(session::Column::UserId.eq(user_id))
            .exec(tx)
            .await?;
        tx.event(NewEvent {
            stream: user_stream(user_id),
            organisation_id: None,
            actor: format!("user/{user_id}"),
            kind: "session_closed",
            payload: serde_json::json!({ "session_id": session_id }),
        })
        .await?;
        Ok(())
    })
    .await
}

/// What accepting an invitation needs besides its token.
pub struct Acceptance {
    pub token: String,
    pub display_name: String,
    pub password: String,
}

/// Accepts an invitation: creates the account (or checks the existing account's password), adds
/// the membership, consumes the token, and opens a session.
pub async fn accept_invitation(cx: &AppState, input: Acceptance) -> ApiResult<OpenedSession> {
    let invalid = || ApiError::new(ErrorCode::InvitationInvalid);
    let now = store::now();
    let token_hash = security::token_hash(input.token.trim());
    let inv = invitation_by_token_hash(&cx.db, &token_hash)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
        .ok_or_else(invalid)?;
    let existing = user_by_email(&cx.db, &inv.email).await?;
    // Hashing is slow: done once, before the transaction (which may run again).
    let new_user = match &existing {
        Some(u) => {
            if !check_password_of(&input.password, u.password_hash.clone()).await {
                return Err(ApiError::new(ErrorCode::InvalidCredentials));
            }
            None
        }
        None => {
            let mut errors = FieldErrors::new();
            let name = errors.check("display_name", Name::parse(&input.display_name));
            if let Err(reason) = check_password(&input.password) {
                errors.push("password", reason);
            }
            let Some(name) = name.filter(|_| errors.is_empty()) else {
                return Err(errors.into());
            };
            let password = input.password.clone();
            let hash = tokio::task::spawn_blocking(move || security::hash_password(&password))
                .await
                .map_err(anyhow::Error::from)??;
            Some((name.into_inner(), hash))
        }
    };
    let token = security::new_token(security::SESSION_PREFIX);
    let ttl = cx.settings.session_ttl_hours;
    let session_token = token.clone();
    let (user_id, expires_at) = write(&cx.db, async move |tx| {
        let now = store::now();
        // Consume the token first: of two concurrent acceptances only one updates the row.
        let consumed = invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
            .filter(invitation::Column::Id.eq(inv.id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(now))
            .exec(tx)
            .await?;
        if consumed.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::InvitationInvalid));
        }
        let user_id = match (&existing, &new_user) {
            (Some(u), _) => {
                user::Entity::update_many()
                    .col_expr(user::Column::EmailVerifiedAt, Expr::value(Some(now)))
                    .filter(user::Column::Id.eq(u.id))
                    .filter(user::Column::EmailVerifiedAt.is_null())
                    .exec(tx)
                    .await?;
                u.id
            }
            (None, Some((display_name, hash))) => {
                let id = store::new_id();
                user::Entity::insert(user::ActiveModel {
                    id: Set(id),
                    email: Set(inv.email.clone()),
                    display_name: Set(display_name.clone()),
                    password_hash: Set(Some(hash.clone())),
                    created_at: Set(now),
                    updated_at: Set(now),
                    language: Set(inv.language.clone().unwrap_or_else(|| "fr".to_owned())),
                    // The invitation link was read at this address.
                    email_verified_at: Set(Some(now)),
                })
                .exec_without_returning(tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        ApiError::new(ErrorCode::EmailTaken)
                    } else {
                        e.into()
                    }
                })?;
                id
            }
            (None, None) => return Err(ApiError::new(ErrorCode::InvitationInvalid)),
        };
        add_invited_member(tx, user_id, &inv, now, None).await?;
        let (_, expires_at) =
            open_session_in(tx, ttl, user_id, &session_token, "invitation").await?;
        Ok((user_id, expires_at))
    })
    .await?;
    Ok(OpenedSession {
        user_id,
        token,
        expires_at,
    })
}
