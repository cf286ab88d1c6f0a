//! The outbox: work that must happen after a write commits (send a mail, index a document),
//! appended in the write's own transaction and drained by [`crate::worker`] with retries.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use serde::Serialize;

use super::entities::outbox;

/// What a message asks the worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Deliver a mail through the configured mailer.
    Mail,
    /// Refresh search documents ([`crate::search::indexer::IndexJob`]).
    Index,
    /// Generate a document ([`crate::documents::DocumentJob`]).
    Document,
    /// Deliver one event to one webhook subscription ([`super::webhooks::DeliveryJob`]).
    Webhook,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Mail => "mail",
            Topic::Index => "index",
            Topic::Document => "document",
            Topic::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        match s {
            "mail" => Some(Topic::Mail),
            "index" => Some(Topic::Index),
            "document" => Some(Topic::Document),
            "webhook" => Some(Topic::Webhook),
            _ => None,
        }
    }
}

/// Appends a message in the caller's transaction.
pub async fn enqueue<C: ConnectionTrait, P: Serialize>(
    db: &C,
    topic: Topic,
    payload: &P,
) -> Result<(), DbErr> {
    let now = super::now();
    let payload = serde_json::to_string(payload).map_err(|e| DbErr::Json(e.to_string()))?;
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(super::new_id()),
        topic: Set(topic.as_str().to_owned()),
        payload: Set(payload),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        done_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
