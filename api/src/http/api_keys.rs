//! API keys of an organisation, for integrations (an inventory system pushing devices, say).
//! A key acts as an `agent` of its organisation; only its SHA-256 is stored, so it is shown once.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::organisation as dom;
use reemploi_domain::text::Name;
use uuid::Uuid;

use super::access::BearerAuth;
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Role, Str};
use crate::commands::api_keys;
use crate::commands::organisations::by_member;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::api_key;
use crate::store::organisations::{api_keys_select, find_api_key, find_organisation};

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
        let actor = auth.0.authorize("create_api_key", Some(id.0))?;
        let name = Name::parse(&body.0.name).map_err(|r| ApiError::field("name", r))?;
        let creator = auth.0.user_id().ok_or_else(ApiError::forbidden)?;
        let by = by_member(&auth.0, id.0, actor);
        let (key, model) =
            api_keys::create_api_key(&self.state, &by, id.0, creator, &name, body.0.expires_at)
                .await?;
        let location = format!("/v1/organisations/{}/api-keys/{}", id.0, model.id);
        Ok(Created::Created(
            Json(CreatedApiKey {
                key,
                api_key: model.into(),
            }),
            location,
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
        let select = api_keys_select(id.0);
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, api_key::Column::Id, |m| m.id)
            .await?;
        Ok(Json(ApiKeyPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Read an API key
    ///
    /// Its name, expiry, last use and whether it is revoked (never the key itself, shown once at
    /// creation).
    #[oai(
        path = "/organisations/:id/api-keys/:key_id",
        method = "get",
        operation_id = "get_api_key"
    )]
    async fn get_api_key(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        key_id: Path<Uuid>,
    ) -> ApiResult<Json<ApiKeyResponse>> {
        auth.0.authorize("get_api_key", Some(id.0))?;
        let key = find_api_key(&self.state.db, id.0, key_id.0).await?;
        Ok(Json(key.into()))
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
        let actor = auth.0.authorize("revoke_api_key", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        api_keys::revoke_api_key(&self.state, &by, id.0, key_id.0).await?;
        Ok(NoContent::NoContent)
    }
}
