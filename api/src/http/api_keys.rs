//! API keys of an organisation, for integrations (an inventory system pushing devices, say).
//! A key acts as an `agent` of its organisation; only its SHA-256 is stored, so it is shown once.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::organisation as dom;
use reemploi_domain::text::Name;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::access::BearerAuth;
use super::organisations::{find_organisation, org_event};
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Role, Str};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::security;
use crate::state::AppState;
use crate::store::entities::api_key;
use crate::store::{self, begin_write};

/// A key to create.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateApiKeyRequest {
    /// What the key is for ("GLPI de la mairie").
    #[oai(validator(max_length = 200))]
    pub name: Str,
    /// Optional expiry; without it the key lives until revoked.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key's metadata.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyResponse {
    pub id: Uuid,
    pub name: String,
    /// Keys act as agents of their organisation.
    pub role: Role,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key: `key` is shown this once and never again.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreatedApiKey {
    pub key: String,
    pub api_key: ApiKeyResponse,
}

/// A page of API keys.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyPage {
    pub items: Vec<ApiKeyResponse>,
    pub next_cursor: Option<String>,
}

impl From<api_key::Model> for ApiKeyResponse {
    fn from(m: api_key::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            role: dom::Role::parse(&m.role).unwrap_or(dom::Role::Agent).into(),
            prefix: m.prefix,
            created_by: m.created_by,
            created_at: m.created_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
        }
    }
}

pub struct ApiKeysApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::ApiKeys")]
impl ApiKeysApi {
    /// Create an API key
    ///
    /// The key is in the response and nowhere else: store it now. It authenticates as
    /// `Authorization: Bearer <key>` and acts as an agent of the organisation.
    #[oai(
        path = "/organisations/:id/api-keys",
        method = "post",
        operation_id = "create_api_key"
    )]
    async fn create_api_key(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CreateApiKeyRequest>,
    ) -> ApiResult<Created<CreatedApiKey>> {
        auth.0.authorize("create_api_key", Some(id.0))?;
        let name = Name::parse(&body.0.name).map_err(|r| ApiError::field("name", r))?;
        let now = store::now();
        if body.0.expires_at.is_some_and(|e| e <= now) {
            return Err(ApiError::field(
                "expires_at",
                reemploi_domain::Invalid::OutOfRange,
            ));
        }
        let creator = auth.0.user_id().ok_or_else(ApiError::forbidden)?;
        let key = security::new_token(security::API_KEY_PREFIX);
        let key_id = store::new_id();
        let txn = begin_write(&self.state.db).await?;
        find_organisation(&txn, id.0).await?;
        api_key::Entity::insert(api_key::ActiveModel {
            id: Set(key_id),
            organisation_id: Set(id.0),
            name: Set(name.as_str().to_owned()),
            role: Set(dom::Role::Agent.as_str().to_owned()),
            prefix: Set(key.chars().take(10).collect()),
            token_hash: Set(security::token_hash(&key)),
            created_by: Set(creator),
            created_at: Set(now),
            expires_at: Set(body.0.expires_at),
            revoked_at: Set(None),
            last_used_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "api_key_created",
            serde_json::json!({ "api_key_id": key_id, "name": name.as_str() }),
        )
        .await?;
        let model = api_key::Entity::find_by_id(key_id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(CreatedApiKey {
                key,
                api_key: model.into(),
            }),
            format!("/v1/organisations/{}/api-keys/{key_id}", id.0),
        ))
    }

    /// List API keys
    ///
    /// Metadata of the organisation's keys, revoked ones included; never the keys themselves.
    #[oai(
        path = "/organisations/:id/api-keys",
        method = "get",
        operation_id = "list_api_keys"
    )]
    async fn list_api_keys(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ApiKeyPage>> {
        auth.0.authorize("list_api_keys", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        find_organisation(&self.state.db, id.0).await?;
        let select = api_key::Entity::find().filter(api_key::Column::OrganisationId.eq(id.0));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, api_key::Column::Id, |m| m.id)
            .await?;
        Ok(Json(ApiKeyPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Revoke an API key
    ///
    /// The key stops working at once. Revoking twice is harmless.
    #[oai(
        path = "/organisations/:id/api-keys/:key_id",
        method = "delete",
        operation_id = "revoke_api_key"
    )]
    async fn revoke_api_key(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        key_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        auth.0.authorize("revoke_api_key", Some(id.0))?;
        let txn = begin_write(&self.state.db).await?;
        let key = api_key::Entity::find_by_id(key_id.0)
            .one(&txn)
            .await?
            .filter(|k| k.organisation_id == id.0)
            .ok_or_else(ApiError::not_found)?;
        if key.revoked_at.is_none() {
            let done = api_key::Entity::update_many()
                .col_expr(api_key::Column::RevokedAt, Expr::value(Some(store::now())))
                .filter(api_key::Column::Id.eq(key.id))
                .filter(api_key::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            if done.rows_affected != 1 {
                return Err(ApiError::new(ErrorCode::Conflict));
            }
            org_event(
                &txn,
                id.0,
                auth.0.actor_ref(),
                "api_key_revoked",
                serde_json::json!({ "api_key_id": key.id }),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(NoContent::NoContent)
    }
}
