//! Writes on webhook subscriptions: create, change (pause, resume), rotate the secret with an
//! overlap, delete, redeliver one delivery by hand, and the worker's disabling of a
//! subscription after a run of failures (its admins are mailed).

use chrono::TimeDelta;
use reemploi_domain::webhooks::{Subject, TypePattern};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::By;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::state::AppState;
use crate::store;
use crate::store::entities::{webhook_attempt, webhook_delivery, webhook_subscription as sub};
use crate::store::organisations::{lock_organisation, org_event};
use crate::store::outbox::{self, Topic};
use crate::store::tx::Tx;
use crate::store::webhooks::{
    ABANDONED, ACTIVE, DISABLED, DeliveryJob, PAUSED, PENDING, find_subscription,
};

/// A checked subscription: a target that passed the SSRF check, type patterns, a subject.
#[derive(Debug, Clone)]
pub struct SubscriptionInput {
    pub url: String,
    pub types: Vec<TypePattern>,
    pub subject: Option<Subject>,
}

/// What a change sets (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct SubscriptionChange {
    pub url: Option<String>,
    pub types: Option<Vec<TypePattern>>,
    /// `Some(None)` removes the subject filter.
    pub subject: Option<Option<Subject>>,
    /// `active` or `paused`.
    pub status: Option<&'static str>,
}

fn types_json(types: &[TypePattern]) -> String {
    serde_json::Value::from(types.iter().map(TypePattern::as_string).collect::<Vec<_>>())
        .to_string()
}

async fn lock_subscription(tx: &Tx, org: Uuid, id: Uuid) -> ApiResult<sub::Model> {
    sub::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .filter(|s| s.organisation_id == org)
        .ok_or_else(ApiError::not_found)
}

async fn reload(tx: &Tx, org: Uuid, id: Uuid) -> ApiResult<sub::Model> {
    find_subscription(tx, org, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Creates an active subscription; answers its secret (shown this once) and its row.
pub async fn create_subscription(
    cx: &AppState,
    by: &By,
    org: Uuid,
    input: &SubscriptionInput,
) -> ApiResult<(String, sub::Model)> {
    let secret = crate::webhooks::new_secret();
    let (by, input, key) = (by.clone(), input.clone(), secret.clone());
    let model = write_tx!(&cx.db, |tx| {
        lock_organisation(tx, org).await?;
        let id = store::new_id();
        let now = store::now();
        sub::Entity::insert(sub::ActiveModel {
            id: Set(id),
            organisation_id: Set(org),
            url: Set(input.url.clone()),
            event_types: Set(types_json(&input.types)),
            subject: Set(input.subject.as_ref().map(Subject::as_string)),
            secret: Set(key.clone()),
            previous_secret: Set(None),
            previous_secret_until: Set(None),
            status: Set(ACTIVE.to_owned()),
            consecutive_failures: Set(0),
            disabled_at: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "webhook_created",
            serde_json::json!({
                "webhook_id": id,
                "event_types": input.types.iter().map(TypePattern::as_string).collect::<Vec<_>>(),
                "subject": input.subject.as_ref().map(Subject::as_string),
            }),
        )
        .await?;
        reload(tx, org, id).await
    })?;
    Ok((secret, model))
}

/// Changes a subscription. Resuming a disabled one (status `active`) clears its failure count.
pub async fn update_subscription(
    cx: &AppState,
    by: &By,
    org: Uuid,
    id: Uuid,
    change: &SubscriptionChange,
) -> ApiResult<sub::Model> {
    let (by, change) = (by.clone(), change.clone());
    write_tx!(&cx.db, |tx| {
        let current = lock_subscription(tx, org, id).await?;
        let mut am = sub::ActiveModel {
            version: Set(current.version + 1),
            updated_at: Set(store::now()),
            ..Default::default()
        };
        let mut changed = Vec::new();
        if let Some(url) = &change.url {
            am.url = Set(url.clone());
            changed.push("url");
        }
        if let Some(types) = &change.types {
            am.event_types = Set(types_json(types));
            changed.push("event_types");
        }
        if let Some(subject) = &change.subject {
            am.subject = Set(subject.as_ref().map(Subject::as_string));
            changed.push("subject");
        }
        if let Some(status) = change.status {
            am.status = Set(status.to_owned());
            if status == ACTIVE {
                am.consecutive_failures = Set(0);
                am.disabled_at = Set(None);
            }
            changed.push("status");
        }
        sub::Entity::update_many()
            .set(am)
            .filter(sub::Column::Id.eq(current.id))
            .exec(tx)
            .await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "webhook_updated",
            serde_json::json!({
                "webhook_id": current.id,
                "changed": changed,
                "status": change.status.unwrap_or(match current.status.as_str() {
                    ACTIVE => ACTIVE,
                    PAUSED => PAUSED,
                    _ => DISABLED,
                }),
            }),
        )
        .await?;
        reload(tx, org, id).await
    })
}

/// Gives a subscription a new secret; the previous one keeps signing too (a second signature)
/// for `overlap`, so receivers can switch without losing a delivery.
pub async fn rotate_secret(
    cx: &AppState,
    by: &By,
    org: Uuid,
    id: Uuid,
    overlap: TimeDelta,
) -> ApiResult<(String, sub::Model)> {
    let secret = crate::webhooks::new_secret();
    let (by, key) = (by.clone(), secret.clone());
    let model = write_tx!(&cx.db, |tx| {
        let current = lock_subscription(tx, org, id).await?;
        let until = store::now() + overlap;
        sub::Entity::update_many()
            .col_expr(sub::Column::Secret, Expr::value(key.clone()))
            .col_expr(
                sub::Column::PreviousSecret,
                Expr::value(Some(current.secret.clone())),
            )
            .col_expr(sub::Column::PreviousSecretUntil, Expr::value(Some(until)))
            .col_expr(sub::Column::Version, Expr::value(current.version + 1))
            .col_expr(sub::Column::UpdatedAt, Expr::value(store::now()))
            .filter(sub::Column::Id.eq(current.id))
            .exec(tx)
            .await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "webhook_secret_rotated",
            serde_json::json!({ "webhook_id": current.id, "previous_secret_valid_until": until }),
        )
        .await?;
        reload(tx, org, id).await
    })?;
    Ok((secret, model))
}

/// Deletes a subscription with its deliveries and their log.
pub async fn delete_subscription(cx: &AppState, by: &By, org: Uuid, id: Uuid) -> ApiResult<()> {
    let by = by.clone();
    write_tx!(&cx.db, |tx| {
        let current = lock_subscription(tx, org, id).await?;
        webhook_attempt::Entity::delete_many()
            .filter(webhook_attempt::Column::SubscriptionId.eq(current.id))
            .exec(tx)
            .await?;
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::SubscriptionId.eq(current.id))
            .exec(tx)
            .await?;
        sub::Entity::delete_many()
            .filter(sub::Column::Id.eq(current.id))
            .exec(tx)
            .await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "webhook_deleted",
            serde_json::json!({ "webhook_id": current.id }),
        )
        .await?;
        Ok(())
    })
}

/// Queues a delivery again (same `webhook-id` and body, a fresh timestamp and signature). The
/// subscription must be active and the delivery not already waiting.
pub async fn redeliver(
    cx: &AppState,
    by: &By,
    org: Uuid,
    id: Uuid,
    delivery: Uuid,
) -> ApiResult<webhook_delivery::Model> {
    let by = by.clone();
    write_tx!(&cx.db, |tx| {
        let s = lock_subscription(tx, org, id).await?;
        let d = webhook_delivery::Entity::find_by_id(delivery)
            .lock_exclusive()
            .one(tx)
            .await?
            .filter(|d| d.subscription_id == s.id)
            .ok_or_else(ApiError::not_found)?;
        if s.status != ACTIVE {
            return Err(ApiError::new(ErrorCode::WebhookInactive));
        }
        if d.status == PENDING {
            return Err(ApiError::new(ErrorCode::Conflict));
        }
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(PENDING))
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(
                webhook_delivery::Column::UpdatedAt,
                Expr::value(store::now()),
            )
            .filter(webhook_delivery::Column::Id.eq(d.id))
            .exec(tx)
            .await?;
        outbox::enqueue(tx, Topic::Webhook, &DeliveryJob { delivery_id: d.id }).await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "webhook_redelivery_requested",
            serde_json::json!({ "webhook_id": s.id, "delivery_id": d.id }),
        )
        .await?;
        webhook_delivery::Entity::find_by_id(d.id)
            .one(tx)
            .await?
            .ok_or_else(ApiError::not_found)
    })
}

/// The worker's decision after `failures` failed tries in a row: the subscription is disabled,
/// its waiting deliveries given up, and its admins mailed. Does nothing if it is no longer active.
pub async fn disable_after_failures(
    db: &DatabaseConnection,
    id: Uuid,
    failures: i32,
) -> ApiResult<()> {
    write_tx!(db, |tx| {
        let Some(s) = sub::Entity::find_by_id(id).lock_exclusive().one(tx).await? else {
            return Ok(false);
        };
        if s.status != ACTIVE {
            return Ok(false);
        }
        let now = store::now();
        sub::Entity::update_many()
            .col_expr(sub::Column::Status, Expr::value(DISABLED))
            .col_expr(sub::Column::DisabledAt, Expr::value(Some(now)))
            .col_expr(sub::Column::Version, Expr::value(s.version + 1))
            .col_expr(sub::Column::UpdatedAt, Expr::value(now))
            .filter(sub::Column::Id.eq(s.id))
            .exec(tx)
            .await?;
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(ABANDONED))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::SubscriptionId.eq(s.id))
            .filter(webhook_delivery::Column::Status.eq(PENDING))
            .exec(tx)
            .await?;
        org_event(
            tx,
            s.organisation_id,
            "system".to_owned(),
            "webhook_disabled",
            serde_json::json!({ "webhook_id": s.id, "consecutive_failures": failures }),
        )
        .await?;
        let host = reqwest::Url::parse(&s.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        for to in store::demand::mail_recipients(tx, s.organisation_id).await? {
            outbox::enqueue(
                tx,
                Topic::Mail,
                &Mail::text(
                    "webhook_disabled",
                    to,
                    "Webhook désactivé après des échecs répétés".to_owned(),
                    format!(
                        "Bonjour,\n\nLe webhook {id} de votre organisation (cible : {host}) a été \
                         désactivé après {failures} échecs de livraison consécutifs.\n\
                         Les événements suivants ne lui sont plus envoyés. Une fois la cible \
                         réparée, réactivez-le (statut « active ») et relancez les livraisons \
                         manquées depuis son journal.\n\nL'équipe Réemploi\n",
                        id = s.id,
                    ),
                ),
            )
            .await?;
        }
        Ok(true)
    })
    .map(|_| ())
}
