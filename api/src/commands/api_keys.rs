//! Writes on API keys: creating one (only its SHA-256 is kept, the key is answered once) and
//! revoking it.

use chrono::{DateTime, Utc};
use reemploi_domain::organisation as dom;
use reemploi_domain::text::Name;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{By, write};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::security;
use crate::state::AppState;
use crate::store;
use crate::store::entities::api_key;
use crate::store::organisations::{find_api_key, lock_organisation, org_event};

/// Creates a key acting as an agent of `org`; answers the key (shown once) and its row.
pub async fn create_api_key(
    cx: &AppState,
    by: &By,
    org: Uuid,
    creator: Uuid,
    name: &Name,
    expires_at: Option<DateTime<Utc>>,
) -> ApiResult<(String, api_key::Model)> {
    if expires_at.is_some_and(|e| e <= store::now()) {
        return Err(ApiError::field(
            "expires_at",
            reemploi_domain::Invalid::OutOfRange,
        ));
    }
    let key = security::new_token(security::API_KEY_PREFIX);
    let (by, name, secret) = (by.clone(), name.clone(), key.clone());
    let model = write(&cx.db, async move |tx| {
        lock_organisation(tx, org).await?;
        let id = store::new_id();
        api_key::Entity::insert(api_key::ActiveModel {
            id: Set(id),
            organisation_id: Set(org),
            name: Set(name.as_str().to_owned()),
            role: Set(dom::Role::Agent.as_str().to_owned()),
            prefix: Set(secret.chars().take(10).collect()),
            token_hash: Set(security::token_hash(&secret)),
            created_by: Set(creator),
            created_at: Set(store::now()),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            last_used_at: Set(None),
        })
        .exec_without_returning(tx)
        .await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "api_key_created",
            serde_json::json!({ "api_key_id": id, "name": name.as_str(), "expires_at": expires_at }),
        )
        .await?;
        find_api_key(tx, org, id).await
    })
    .await?;
    Ok((key, model))
}

/// Revokes a key; revoking a revoked key again changes nothing.
pub async fn revoke_api_key(cx: &AppState, by: &By, org: Uuid, id: Uuid) -> ApiResult<()> {
    if find_api_key(&cx.db, org, id).await?.revoked_at.is_some() {
        // Revoked stays revoked: nothing to write.
        return Ok(());
    }
    let by = by.clone();
    write(&cx.db, async move |tx| {
        let key = find_api_key(tx, org, id).await?;
        let done = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(store::now())))
            .filter(api_key::Column::Id.eq(key.id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(tx)
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::Conflict));
        }
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "api_key_revoked",
            serde_json::json!({ "api_key_id": key.id }),
        )
        .await?;
        Ok(())
    })
    .await
}
