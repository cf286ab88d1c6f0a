//! Webhook subscriptions and deliveries: the fan-out that queues one delivery per matching
//! subscription in the transaction that appends the event, the public shape of an event (type,
//! subject, link, versioned payload), and the queries of the event feed.

use reemploi_domain::webhooks::{
    self as rules, PAYLOAD_VERSION, Subject, TypePattern, event_type, subject_of,
};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Select,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::entities::{event, webhook_attempt, webhook_delivery, webhook_subscription as sub};
use super::outbox::{self, Topic};

/// Subscription statuses.
pub const ACTIVE: &str = "active";
pub const PAUSED: &str = "paused";
pub const DISABLED: &str = "disabled";

/// Delivery statuses.
pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
pub const ABANDONED: &str = "abandoned";

/// What an outbox message of topic `webhook` names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub delivery_id: Uuid,
}

/// An event as the outside world sees it: in the feed and in webhook bodies.
#[derive(Debug, Clone, Serialize)]
pub struct PublicEvent {
    pub id: Uuid,
    /// `lot.published`, `item.publish`…
    #[serde(rename = "type")]
    pub event_type: String,
    /// The internal kind (`lot_published`).
    pub kind: String,
    /// What it is about: `lot/<id>`, `item/<id>`, `site/<id>`, `organisation/<id>`…
    pub subject: String,
    /// Path of the resource in this API, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// The organisation in whose log it is.
    pub organisation_id: Option<Uuid>,
    /// Who did it: `user/<id>`, `api_key/<id>`, `system`.
    pub actor: String,
    pub stream: String,
    pub seq: i64,
    pub occurred_at: String,
    /// The facts of the event.
    pub facts: serde_json::Value,
}

impl PublicEvent {
    /// The public view of a stored event.
    pub fn of(m: &event::Model) -> PublicEvent {
        let facts: serde_json::Value =
            serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null);
        let subject = subject_of(&m.stream, &facts);
        PublicEvent {
            id: m.id,
            event_type: event_type(&m.stream, &m.kind),
            kind: m.kind.clone(),
            href: href_of(&subject, m.organisation_id, &facts),
            subject,
            organisation_id: m.organisation_id,
            actor: m.actor.clone(),
            stream: m.stream.clone(),
            seq: m.seq,
            occurred_at: m.occurred_at.clone(),
            facts,
        }
    }

    /// The webhook body (Standard Webhooks shape: `type`, `timestamp`, `data`), version
    /// [`PAYLOAD_VERSION`].
    pub fn body(&self) -> String {
        serde_json::json!({
            "type": self.event_type,
            "timestamp": self.occurred_at,
            "version": PAYLOAD_VERSION,
            "data": self,
        })
        .to_string()
    }
}

fn href_of(subject: &str, org: Option<Uuid>, facts: &serde_json::Value) -> Option<String> {
    let (kind, id) = subject.split_once('/')?;
    Some(match kind {
        "lot" => format!("/v1/lots/{id}"),
        "item" => format!("/v1/items/{id}"),
        "reservation" => format!("/v1/reservations/{id}"),
        "request" => format!("/v1/requests/{id}"),
        "organisation" => format!("/v1/organisations/{id}"),
        "site" => format!("/v1/organisations/{}/sites/{id}", org?),
        "document" => format!("/v1/documents/{}", facts.get("document_id")?.as_str()?),
        _ => return None,
    })
}

/// The type patterns of a subscription.
pub fn patterns_of(s: &sub::Model) -> Vec<TypePattern> {
    serde_json::from_str::<Vec<String>>(&s.event_types)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| TypePattern::parse(p).ok())
        .collect()
}

/// Whether a subscription wants an event.
pub fn wants(s: &sub::Model, e: &PublicEvent) -> bool {
    if !patterns_of(s).iter().any(|p| p.matches(&e.event_type)) {
        return false;
    }
    match s.subject.as_deref().map(Subject::parse) {
        None => true,
        Some(Ok(subject)) => subject.concerns(&e.stream, &e.facts),
        Some(Err(_)) => false,
    }
}

/// Queues one delivery per active subscription of the event's organisation that wants it, in
/// the transaction that appended the event (called by the append itself, so every write is
/// covered).
pub async fn fan_out<C: ConnectionTrait>(db: &C, e: &event::Model) -> Result<(), DbErr> {
    let Some(org) = e.organisation_id else {
        return Ok(());
    };
    let subs = sub::Entity::find()
        .filter(sub::Column::OrganisationId.eq(org))
        .filter(sub::Column::Status.eq(ACTIVE))
        .order_by_asc(sub::Column::Id)
        .all(db)
        .await?;
    if subs.is_empty() {
        return Ok(());
    }
    let public = PublicEvent::of(e);
    let now = super::now();
    for s in subs.iter().filter(|s| wants(s, &public)) {
        let id = super::new_id();
        webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
            id: Set(id),
            subscription_id: Set(s.id),
            event_id: Set(e.id),
            event_type: Set(public.event_type.clone()),
            subject: Set(public.subject.clone()),
            body: Set(public.body()),
            status: Set(PENDING.to_owned()),
            attempts: Set(0),
            last_status_code: Set(None),
            last_latency_ms: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            delivered_at: Set(None),
            next_attempt_at: Set(None),
        })
        .exec_without_returning(db)
        .await?;
        outbox::enqueue(db, Topic::Webhook, &DeliveryJob { delivery_id: id }).await?;
    }
    Ok(())
}

/// A subscription of an organisation, or none.
pub async fn find_subscription<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    id: Uuid,
) -> Result<Option<sub::Model>, DbErr> {
    sub::Entity::find_by_id(id)
        .filter(sub::Column::OrganisationId.eq(org))
        .one(db)
        .await
}

/// An organisation's subscriptions.
pub fn subscriptions_select(org: Uuid) -> Select<sub::Entity> {
    sub::Entity::find().filter(sub::Column::OrganisationId.eq(org))
}

/// A subscription's deliveries.
pub fn deliveries_select(subscription: Uuid) -> Select<webhook_delivery::Entity> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::SubscriptionId.eq(subscription))
}

/// The attempts of some deliveries, oldest first.
pub async fn attempts_of<C: ConnectionTrait>(
    db: &C,
    deliveries: &[Uuid],
) -> Result<Vec<webhook_attempt::Model>, DbErr> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(deliveries.to_vec()))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await
}

/// The earliest delivery of the same subscription and subject, queued before this one, that
/// has not gone out yet (deliveries of one subject go out in order).
pub async fn earlier_pending<C: ConnectionTrait>(
    db: &C,
    d: &webhook_delivery::Model,
) -> Result<Option<webhook_delivery::Model>, DbErr> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::SubscriptionId.eq(d.subscription_id))
        .filter(webhook_delivery::Column::Subject.eq(d.subject.clone()))
        .filter(webhook_delivery::Column::Status.eq(PENDING))
        .filter(webhook_delivery::Column::Id.lt(d.id))
        .order_by_asc(webhook_delivery::Column::Id)
        .one(db)
        .await
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn like(col: event::Column, pattern: String) -> sea_orm::sea_query::SimpleExpr {
    Expr::col(col).like(LikeExpr::new(pattern).escape('\\'))
}

/// The condition on `events` that selects the types matching one pattern; the SQL twin of
/// [`TypePattern::matches`] over [`event_type`].
fn type_condition(p: &TypePattern) -> Condition {
    // A kind that names a resource takes its type from the kind; any other from its stream.
    let names_a_resource = rules::resource_words()
        .iter()
        .fold(Condition::any(), |c, r| {
            c.add(like(event::Column::Kind, format!("{}\\_%", escape_like(r))))
        });
    let on_stream = |resource: &str| {
        Condition::all()
            .add(like(
                event::Column::Stream,
                format!("{}/%", escape_like(resource)),
            ))
            .add(names_a_resource.clone().not())
    };
    match p {
        TypePattern::All => Condition::all(),
        TypePattern::Resource(r) => {
            let mut c = Condition::any().add(on_stream(r));
            if rules::resource_words().contains(&r.as_str()) {
                // `lot.*` is every kind `lot_…` — but not `lot_item…` read as another resource:
                // no resource word starts with another followed by `_`, so none is.
                c = c.add(like(event::Column::Kind, format!("{}\\_%", escape_like(r))));
            }
            c
        }
        TypePattern::Exact { resource, action } => {
            let mut c = Condition::any()
                .add(on_stream(resource).add(event::Column::Kind.eq(action.clone())));
            if rules::resource_words().contains(&resource.as_str()) {
                c = c.add(event::Column::Kind.eq(format!("{resource}_{action}")));
            }
            c
        }
    }
}

/// A filter of the event feed.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    /// Types (any of them).
    pub types: Vec<TypePattern>,
    /// Events strictly after this one.
    pub after: Option<Uuid>,
    /// Events at or after this time (`occurred_at`, RFC 3339 UTC).
    pub since_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Events about this subject.
    pub subject: Option<Subject>,
}

/// The events of an organisation's log that pass a filter.
pub fn feed_select(org: Uuid, f: &FeedFilter) -> Select<event::Entity> {
    let mut q = event::Entity::find().filter(event::Column::OrganisationId.eq(org));
    if !f.types.is_empty() {
        q = q.filter(
            f.types
                .iter()
                .fold(Condition::any(), |c, p| c.add(type_condition(p))),
        );
    }
    if let Some(after) = f.after {
        q = q.filter(event::Column::Id.gt(after));
    }
    if let Some(t) = f.since_time {
        // Stored as `%Y-%m-%dT%H:%M:%S%.6fZ`, which sorts as text in time order.
        q = q.filter(event::Column::OccurredAt.gte(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()));
    }
    if let Some(s) = &f.subject {
        let mut c = Condition::any().add(event::Column::Stream.eq(s.as_string()));
        for field in s.fields() {
            // Payloads are stored in canonical JSON: no spaces, so the pair reads exactly so.
            c = c.add(like(
                event::Column::Payload,
                format!("%{}%", escape_like(&format!("\"{field}\":\"{}\"", s.id))),
            ));
        }
        q = q.filter(c);
    }
    q
}
