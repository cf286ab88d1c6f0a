//! Webhook subscriptions of an organisation, managed by its admins: the target, the event
//! types (wildcards such as `lot.*`), an optional subject, a rotatable secret, active or
//! paused; and each subscription's delivery log with manual redelivery. Delivery follows the
//! Standard Webhooks specification (`docs/webhooks.md`).

use chrono::{DateTime, TimeDelta, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::Invalid;
use reemploi_domain::webhooks::{Subject, TypePattern};
use uuid::Uuid;

use super::access::BearerAuth;
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Str};
use crate::commands::organisations::by_member;
use crate::commands::webhooks::{self as cmd, SubscriptionChange, SubscriptionInput};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{webhook_attempt, webhook_delivery, webhook_subscription};
use crate::store::organisations::find_organisation;
use crate::store::webhooks::{
    attempts_of, deliveries_select, find_subscription, patterns_of, subscriptions_select,
};

/// Most type patterns a subscription may list.
const MAX_TYPES: usize = 50;

/// Whether a subscription sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// Events are delivered.
    Active,
    /// Paused by an admin: events are not delivered (nor queued).
    Paused,
    /// Disabled by the platform after a run of failed deliveries; its admins were mailed.
    Disabled,
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next try.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every try failed.
    Failed,
    /// The subscription was paused or disabled before it succeeded.
    Abandoned,
}

impl DeliveryStatus {
    fn from_stored(s: &str) -> Self {
        use crate::store::webhooks as w;
        match s {
            w::SUCCEEDED => Self::Succeeded,
            w::FAILED => Self::Failed,
            w::ABANDONED => Self::Abandoned,
            _ => Self::Pending,
        }
    }
}

/// The status an admin may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SettableWebhookStatus {
    Active,
    Paused,
}

/// A subscription to create.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateWebhookRequest {
    /// Where to POST events: `https://…` (plain `http://` only for allow-listed hosts).
    #[oai(validator(max_length = 2000))]
    pub url: Str,
    /// Event types, with wildcards: `lot.*`, `claim.accepted`, `*`.
    #[oai(validator(min_items = 1, max_items = 50))]
    pub event_types: Vec<String>,
    /// Only events about this subject: `lot/<id>`, `site/<id>`, `item/<id>`…
    #[oai(validator(max_length = 100))]
    pub subject: Option<String>,
}

/// Changes to a subscription; absent fields are kept, `subject: null` removes the filter.
#[derive(Debug, Clone, Object)]
pub struct UpdateWebhookRequest {
    #[oai(validator(max_length = 2000))]
    pub url: Option<Str>,
    #[oai(validator(min_items = 1, max_items = 50))]
    pub event_types: Option<Vec<String>>,
    #[oai(validator(max_length = 100))]
    pub subject: MaybeUndefined<String>,
    /// `paused` stops deliveries; `active` resumes (a disabled subscription too, its failure
    /// count cleared).
    pub status: Option<SettableWebhookStatus>,
}

/// A new secret and how long the previous one keeps signing.
#[derive(Debug, Clone, Object)]
pub struct RotateWebhookSecretRequest {
    /// Hours during which deliveries carry a signature with the previous secret too (0–168,
    /// default 24).
    #[oai(validator(minimum(value = "0"), maximum(value = "168")))]
    pub overlap_hours: Option<u32>,
}

/// A subscription (never its secret).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookResponse {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub subject: Option<String>,
    pub status: WebhookStatus,
    /// Failed tries in a row.
    pub consecutive_failures: i32,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subscription with its secret, answered once (at creation or rotation).
#[derive(Debug, Clone, Object)]
pub struct WebhookWithSecret {
    /// `whsec_<base64>`: verify signatures with it (Standard Webhooks libraries take it as is).
    pub secret: String,
    pub webhook: WebhookResponse,
}

/// A page of subscriptions.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookPage {
    pub items: Vec<WebhookResponse>,
    pub next_cursor: Option<String>,
}

/// One try of a delivery.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookAttemptResponse {
    pub attempt: i32,
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub attempted_at: DateTime<Utc>,
}

/// One event to deliver to the subscription, and how it went.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookDeliveryResponse {
    /// Its `webhook-id` is `msg_` followed by this id without dashes.
    pub id: Uuid,
    pub webhook_id: String,
    pub event_id: Uuid,
    pub event_type: String,
    pub subject: String,
    /// `pending`, `succeeded`, `failed` (tries exhausted) or `abandoned` (the subscription was
    /// paused or disabled first).
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every try, oldest first.
    pub log: Vec<WebhookAttemptResponse>,
}

/// A page of deliveries.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDeliveryResponse>,
    pub next_cursor: Option<String>,
}

impl From<webhook_subscription::Model> for WebhookResponse {
    fn from(m: webhook_subscription::Model) -> Self {
        let now = crate::store::now();
        Self {
            event_types: patterns_of(&m).iter().map(TypePattern::as_string).collect(),
            status: match m.status.as_str() {
                "active" => WebhookStatus::Active,
                "paused" => WebhookStatus::Paused,
                _ => WebhookStatus::Disabled,
            },
            previous_secret_valid_until: m.previous_secret_until.filter(|u| *u > now),
            id: m.id,
            organisation_id: m.organisation_id,
            url: m.url,
            subject: m.subject,
            consecutive_failures: m.consecutive_failures,
            disabled_at: m.disabled_at,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn delivery_response(
    d: webhook_delivery::Model,
    log: &[webhook_attempt::Model],
) -> WebhookDeliveryResponse {
    WebhookDeliveryResponse {
        webhook_id: format!("msg_{}", d.id.simple()),
        log: log
            .iter()
            .filter(|a| a.delivery_id == d.id)
            .map(|a| WebhookAttemptResponse {
                attempt: a.attempt,
                outcome: a.outcome.clone(),
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
                attempted_at: a.attempted_at,
            })
            .collect(),
        id: d.id,
        event_id: d.event_id,
        event_type: d.event_type,
        subject: d.subject,
        status: DeliveryStatus::from_stored(&d.status),
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        last_latency_ms: d.last_latency_ms,
        last_error: d.last_error,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
    }
}

fn parse_types(raw: &[String]) -> ApiResult<Vec<TypePattern>> {
    if raw.is_empty() {
        return Err(ApiError::field("event_types", Invalid::Required));
    }
    if raw.len() > MAX_TYPES {
        return Err(ApiError::field("event_types", Invalid::OutOfRange));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let p =
            TypePattern::parse(t).map_err(|r| ApiError::field(format!("event_types[{i}]"), r))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn parse_subject(raw: &str) -> ApiResult<Subject> {
    Subject::parse(raw).map_err(|r| ApiError::field("subject", r))
}

/// Checks a target against the SSRF rules and the allow-list.
async fn checked_url(state: &AppState, raw: &str) -> ApiResult<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ApiError::field("url", Invalid::Required));
    }
    match crate::webhooks::check_target(raw, &state.settings.webhooks.allow).await {
        Ok(t) => Ok(t.url.to_string()),
        Err(crate::webhooks::TargetError::Malformed) => {
            Err(ApiError::field("url", Invalid::InvalidFormat))
        }
        Err(e) => Err(ApiError::new(ErrorCode::WebhookTargetRefused).detail(
            match e {
                crate::webhooks::TargetError::NotHttps => {
                    "HTTPS obligatoire pour cette adresse".to_owned()
                }
                crate::webhooks::TargetError::Unresolvable => {
                    "Le nom d'hôte ne se résout pas".to_owned()
                }
                crate::webhooks::TargetError::Forbidden(kind) => {
                    format!("L'hôte se résout en une adresse non publique ({kind})")
                }
                crate::webhooks::TargetError::Malformed => String::new(),
            },
            e.to_string(),
        )),
    }
}

async fn load(state: &AppState, org: Uuid, id: Uuid) -> ApiResult<webhook_subscription::Model> {
    find_subscription(&state.db, org, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub struct WebhooksApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Subscribe to events
    ///
    /// Creates an active subscription. Its secret is in the response and nowhere else: store
    /// it now. The target must be HTTPS and resolve to public addresses (allow-listed hosts
    /// excepted, see `REEMPLOI_WEBHOOK_ALLOW`).
    #[oai(
        path = "/organisations/:id/webhooks",
        method = "post",
        operation_id = "create_webhook"
    )]
    async fn create_webhook(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CreateWebhookRequest>,
    ) -> ApiResult<Created<WebhookWithSecret>> {
        let actor = auth.0.authorize("create_webhook", Some(id.0))?;
        let types = parse_types(&body.0.event_types)?;
        let subject = body.0.subject.as_deref().map(parse_subject).transpose()?;
        let url = checked_url(&self.state, &body.0.url).await?;
        let by = by_member(&auth.0, id.0, actor);
        let input = SubscriptionInput {
            url,
            types,
            subject,
        };
        let (secret, model) = cmd::create_subscription(&self.state, &by, id.0, &input).await?;
        let location = format!("/v1/organisations/{}/webhooks/{}", id.0, model.id);
        Ok(Created::Created(
            Json(WebhookWithSecret {
                secret,
                webhook: model.into(),
            }),
            location,
        ))
    }

    /// List webhook subscriptions
    ///
    /// The organisation's subscriptions, oldest first; never their secrets.
    #[oai(
        path = "/organisations/:id/webhooks",
        method = "get",
        operation_id = "list_webhooks"
    )]
    async fn list_webhooks(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<WebhookPage>> {
        auth.0.authorize("list_webhooks", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        find_organisation(&self.state.db, id.0).await?;
        let (rows, next_cursor) = page
            .fetch(
                &self.state.db,
                subscriptions_select(id.0),
                webhook_subscription::Column::Id,
                |m| m.id,
            )
            .await?;
        Ok(Json(WebhookPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Read a webhook subscription
    #[oai(
        path = "/organisations/:id/webhooks/:webhook_id",
        method = "get",
        operation_id = "get_webhook"
    )]
    async fn get_webhook(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        webhook_id: Path<Uuid>,
    ) -> ApiResult<Json<WebhookResponse>> {
        auth.0.authorize("get_webhook", Some(id.0))?;
        Ok(Json(load(&self.state, id.0, webhook_id.0).await?.into()))
    }

    /// Change a webhook subscription
    ///
    /// Changes its target, types or subject, pauses it, or resumes it (a disabled one too).
    #[oai(
        path = "/organisations/:id/webhooks/:webhook_id",
        method = "patch",
        operation_id = "update_webhook"
    )]
    async fn update_webhook(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        webhook_id: Path<Uuid>,
        body: Json<UpdateWebhookRequest>,
    ) -> ApiResult<Json<WebhookResponse>> {
        let actor = auth.0.authorize("update_webhook", Some(id.0))?;
        let b = body.0;
        let types = b.event_types.as_deref().map(parse_types).transpose()?;
        let subject = match &b.subject {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(s) => Some(Some(parse_subject(s)?)),
        };
        let url = match &b.url {
            None => None,
            Some(u) => Some(checked_url(&self.state, u).await?),
        };
        let change = SubscriptionChange {
            url,
            types,
            subject,
            status: b.status.map(|s| match s {
                SettableWebhookStatus::Active => crate::store::webhooks::ACTIVE,
                SettableWebhookStatus::Paused => crate::store::webhooks::PAUSED,
            }),
        };
        let by = by_member(&auth.0, id.0, actor);
        let model = cmd::update_subscription(&self.state, &by, id.0, webhook_id.0, &change).await?;
        Ok(Json(model.into()))
    }

    /// Delete a webhook subscription
    ///
    /// Stops deliveries at once and removes its delivery log.
    #[oai(
        path = "/organisations/:id/webhooks/:webhook_id",
        method = "delete",
        operation_id = "delete_webhook"
    )]
    async fn delete_webhook(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        webhook_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let actor = auth.0.authorize("delete_webhook", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        cmd::delete_subscription(&self.state, &by, id.0, webhook_id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Rotate a webhook secret
    ///
    /// Answers a new secret (shown once). During the overlap every delivery carries two
    /// signatures, with the new and with the previous secret, so receivers switch without
    /// losing a delivery.
    #[oai(
        path = "/organisations/:id/webhooks/:webhook_id/rotate-secret",
        method = "post",
        operation_id = "rotate_webhook_secret"
    )]
    async fn rotate_webhook_secret(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        webhook_id: Path<Uuid>,
        body: Json<RotateWebhookSecretRequest>,
    ) -> ApiResult<Json<WebhookWithSecret>> {
        let actor = auth.0.authorize("rotate_webhook_secret", Some(id.0))?;
        let hours = body.0.overlap_hours.unwrap_or(24);
        if hours > 168 {
            return Err(ApiError::field("overlap_hours", Invalid::OutOfRange));
        }
        let by = by_member(&auth.0, id.0, actor);
        let (secret, model) = cmd::rotate_secret(
            &self.state,
            &by,
            id.0,
            webhook_id.0,
            TimeDelta::hours(i64::from(hours)),
        )
        .await?;
        Ok(Json(WebhookWithSecret {
            secret,
            webhook: model.into(),
        }))
    }

    /// List a webhook's deliveries
    ///
    /// The delivery log, oldest first: status, tries, the receiver's status code and latency.
    #[oai(
        path = "/organisations/:id/webhooks/:webhook_id/deliveries",
        method = "get",
        operation_id = "list_webhook_deliveries"
    )]
    async fn list_webhook_deliveries(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        webhook_id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<WebhookDeliveryPage>> {
        auth.0.authorize("list_webhook_deliveries", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let s = load(&self.state, id.0, webhook_id.0).await?;
        let (rows, next_cursor) = page
            .fetch(
                &self.state.db,
                deliveries_select(s.id),
                webhook_delivery::Column::Id,
                |m| m.id,
            )
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|d| d.id).collect();
        let log = attempts_of(&self.state.db, &ids).await?;
        Ok(Json(WebhookDeliveryPage {
            items: rows
                .into_iter()
                .map(|d| delivery_response(d, &log))
                .collect(),
            next_cursor,
        }))
    }

    /// Redeliver
    ///
    /// Queues a delivery again, with the same `webhook-id` and body. The subscription must be
    /// active (409 `webhook_inactive`) and the delivery not already waiting (409 `conflict`).
    #[oai(
        path = "/organisations/:id/webhooks/:webhook_id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliver_webhook"
    )]
    async fn redeliver_webhook(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        webhook_id: Path<Uuid>,
        delivery_id: Path<Uuid>,
    ) -> ApiResult<Json<WebhookDeliveryResponse>> {
        let actor = auth.0.authorize("redeliver_webhook", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        let d = cmd::redeliver(&self.state, &by, id.0, webhook_id.0, delivery_id.0).await?;
        let log = attempts_of(&self.state.db, &[d.id]).await?;
        Ok(Json(delivery_response(d, &log)))
    }
}
