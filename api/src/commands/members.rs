//! Writes on an organisation's membership: roles, removals, and invitations (with their mail).
//! Every change locks the organisation's row first, so that two admins demoting each other
//! cannot leave it without an admin.

use chrono::TimeDelta;
use reemploi_domain::email::Email;
use reemploi_domain::organisation as dom;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{By, write};
use crate::commands::credentials;
use crate::error::Lang;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::messages::{self, Contact};
use crate::security;
use crate::state::AppState;
use crate::store::entities::{api_key, invitation, membership};
use crate::store::organisations::{
    admin_count, find_invitation, find_membership, find_user, lock_organisation, org_event,
    user_by_email,
};
use crate::store::outbox::{self, Topic};
use crate::store::{self, tx::Tx};

/// Refuses a change that would leave the organisation without an admin (422 `last_admin`).
async fn keep_an_admin(
    tx: &Tx,
    org: Uuid,
    m: &membership::Model,
    stays_admin: bool,
) -> ApiResult<()> {
    if m.role == dom::Role::Admin.as_str() && !stays_admin && admin_count(tx, org).await? <= 1 {
        return Err(ApiError::new(ErrorCode::LastAdmin));
    }
    Ok(())
}

/// Changes a member's role.
pub async fn update_member(
    cx: &AppState,
    by: &By,
    org: Uuid,
    user_id: Uuid,
    role: dom::Role,
) -> ApiResult<membership::Model> {
    let by = by.clone();
    write(&cx.db, async move |tx| {
        lock_organisation(tx, org).await?;
        let m = find_membership(tx, org, user_id).await?;
        keep_an_admin(tx, org, &m, role == dom::Role::Admin).await?;
        membership::Entity::update_many()
            .col_expr(membership::Column::Role, Expr::value(role.as_str()))
            .filter(membership::Column::Id.eq(m.id))
            .exec(tx)
            .await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "member_role_changed",
            serde_json::json!({ "user_id": user_id, "from": m.role, "to": role.as_str() }),
        )
        .await?;
        find_membership(tx, org, user_id).await
    })
    .await
}

/// Removes a member; the last admin cannot be removed.
pub async fn remove_member(cx: &AppState, by: &By, org: Uuid, user_id: Uuid) -> ApiResult<()> {
    let by = by.clone();
    write(&cx.db, async move |tx| {
        lock_organisation(tx, org).await?;
        let m = find_membership(tx, org, user_id).await?;
        keep_an_admin(tx, org, &m, false).await?;
        membership::Entity::delete_by_id(m.id).exec(tx).await?;
        // At once: the person's sessions, and the keys they created for this organisation.
        let sessions_revoked =
            crate::commands::credentials::revoke_sessions(tx, user_id, None).await?;
        let api_keys_revoked = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(store::now())))
            .filter(api_key::Column::OrganisationId.eq(org))
            .filter(api_key::Column::CreatedBy.eq(user_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(tx)
            .await?
            .rows_affected;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "member_removed",
            serde_json::json!({
                "user_id": user_id,
                "role": m.role,
                "sessions_revoked": sessions_revoked,
                "api_keys_revoked": api_keys_revoked,
            }),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Invites `email` with `role`, replacing a pending invitation to the same address, and queues
/// the mail carrying the one-time token (the token is in no event).
pub async fn create_invitation(
    cx: &AppState,
    by: &By,
    org: Uuid,
    inviter: Uuid,
    email: &Email,
    role: dom::Role,
    language: Option<Lang>,
) -> ApiResult<invitation::Model> {
    let token = security::new_token(security::INVITATION_PREFIX);
    let ttl = i64::from(cx.settings.invitation_ttl_hours);
    let public_url = cx.settings.public_url.clone();
    let (by, email) = (by.clone(), email.clone());
    write(&cx.db, async move |tx| {
        let organisation = lock_organisation(tx, org).await?;
        let existing = user_by_email(tx, email.as_str()).await?;
        if let Some(existing) = &existing
            && find_membership(tx, org, existing.id).await.is_ok()
        {
            return Err(ApiError::new(ErrorCode::AlreadyMember));
        }
        // The language asked for, else the one the person chose, else French.
        let lang = language
            .or_else(|| existing.as_ref().map(|u| messages::lang_of(&u.language)))
            .unwrap_or(Lang::Fr);
        let inviter_name = find_user(tx, inviter)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_else(|| organisation.name.clone());
        let now = store::now();
        invitation::Entity::update_many()
            .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
            .filter(invitation::Column::OrganisationId.eq(org))
            .filter(invitation::Column::Email.eq(email.as_str()))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .exec(tx)
            .await?;
        let id = store::new_id();
        let expires_at = now + TimeDelta::hours(ttl);
        invitation::Entity::insert(invitation::ActiveModel {
            id: Set(id),
            organisation_id: Set(org),
            email: Set(email.as_str().to_owned()),
            role: Set(role.as_str().to_owned()),
            token_hash: Set(security::token_hash(&token)),
            invited_by: Set(inviter),
            created_at: Set(now),
            expires_at: Set(expires_at),
            accepted_at: Set(None),
            revoked_at: Set(None),
            language: Set(Some(credentials::lang_code(lang).to_owned())),
        })
        .exec_without_returning(tx)
        .await?;
        let mail = messages::invitation(messages::Invitation {
            lang,
            to: email.as_str(),
            organisation: &organisation.name,
            inviter: &inviter_name,
            admin: role == dom::Role::Admin,
            link: credentials::link(&public_url, credentials::paths::INVITATION, &token, lang),
            expires_at,
            contact: Contact::of(&organisation),
        });
        outbox::enqueue(tx, Topic::Mail, &mail).await?;
        // The address stays out of the hashed payload: the event refers to a person record.
        let invitee =
            store::people::record(tx, None, Some(org), None, Some(email.as_str())).await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "invitation_created",
            serde_json::json!({ "invitation_id": id, "invitee": invitee, "role": role.as_str() }),
        )
        .await?;
        find_invitation(tx, org, id).await
    })
    .await
}

/// Revokes a pending invitation; revoking a revoked one again changes nothing, an accepted one
/// cannot be revoked (remove the member instead).
pub async fn revoke_invitation(cx: &AppState, by: &By, org: Uuid, id: Uuid) -> ApiResult<()> {
    let inv = find_invitation(&cx.db, org, id).await?;
    refuse_accepted(&inv)?;
    if inv.revoked_at.is_some() {
        // Revoked stays revoked: nothing to write.
        return Ok(());
    }
    let by = by.clone();
    write(&cx.db, async move |tx| {
        let inv = find_invitation(tx, org, id).await?;
        refuse_accepted(&inv)?;
        let done = invitation::Entity::update_many()
            .col_expr(
                invitation::Column::RevokedAt,
                Expr::value(Some(store::now())),
            )
            .filter(invitation::Column::Id.eq(inv.id))
            .filter(invitation::Column::RevokedAt.is_null())
            .filter(invitation::Column::AcceptedAt.is_null())
            .exec(tx)
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::Conflict));
        }
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "invitation_revoked",
            serde_json::json!({ "invitation_id": inv.id }),
        )
        .await?;
        Ok(())
    })
    .await
}

fn refuse_accepted(inv: &invitation::Model) -> ApiResult<()> {
    if inv.accepted_at.is_some() {
        return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
            "Cette invitation a déjà été acceptée.",
            "This invitation was already accepted.",
        ));
    }
    Ok(())
}
