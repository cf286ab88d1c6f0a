//! The append-only, hash-chained event log (`docs/architecture.md`). Each stream (`organisation/<id>`,
//! later `item/<id>`) is a chain: an event carries the hash of the previous one.
//!
//! Appends of one stream are serialised by updating its row in `event_streams` first: on
//! PostgreSQL the update takes a row lock held until commit, on SQLite the write transaction
//! already holds the database lock.

use reemploi_domain::audit::{ChainBreak, ChainedEvent, GENESIS_HASH, event_hash, verify_chain};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::entities::{event, event_stream};

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The chain it belongs to, e.g. `organisation/<id>`.
    pub stream: String,
    /// The organisation whose admins may read it.
    pub organisation_id: Option<Uuid>,
    /// Who did it: `user/<id>`, `api_key/<id>`, `system`.
    pub actor: String,
    /// What happened, snake_case (`organisation_registered`).
    pub kind: &'static str,
    /// Facts of the event; never secrets.
    pub payload: serde_json::Value,
}

/// The stream name of an organisation's events.
pub fn organisation_stream(id: Uuid) -> String {
    format!("organisation/{id}")
}

/// Appends an event to its stream inside the caller's write transaction (and counts it there, so
/// that the transaction may commit).
pub async fn append(tx: &super::tx::Tx, new: NewEvent) -> Result<event::Model, DbErr> {
    tx.event(new).await
}

/// The append itself; reached only through [`super::tx::Tx::event`].
pub(super) async fn append_in<C: ConnectionTrait>(
    db: &C,
    new: NewEvent,
) -> Result<event::Model, DbErr> {
    let insert_head = Query::insert()
        .into_table(event_stream::Entity)
        .columns([
            event_stream::Column::Stream,
            event_stream::Column::LastSeq,
            event_stream::Column::LastHash,
        ])
        .values_panic([new.stream.clone().into(), 0i64.into(), GENESIS_HASH.into()])
        .on_conflict(
            OnConflict::column(event_stream::Column::Stream)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert_head).await?;

    let bump = Query::update()
        .table(event_stream::Entity)
        .value(
            event_stream::Column::LastSeq,
            Expr::col(event_stream::Column::LastSeq).add(1),
        )
        .and_where(event_stream::Column::Stream.eq(new.stream.clone()))
        .to_owned();
    db.execute(&bump).await?;

    let head = event_stream::Entity::find_by_id(new.stream.clone())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("event stream {}", new.stream)))?;

    let occurred_at = super::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let hash = event_hash(&ChainedEvent {
        stream: &new.stream,
        seq: head.last_seq,
        kind: new.kind,
        occurred_at: &occurred_at,
        actor: &new.actor,
        payload: &new.payload,
        prev_hash: &head.last_hash,
    });
    let model = event::ActiveModel {
        id: Set(super::new_id()),
        stream: Set(new.stream.clone()),
        seq: Set(head.last_seq),
        organisation_id: Set(new.organisation_id),
        actor: Set(new.actor),
        kind: Set(new.kind.to_owned()),
        payload: Set(reemploi_domain::audit::canonical_json(&new.payload)),
        occurred_at: Set(occurred_at),
        prev_hash: Set(head.last_hash),
        hash: Set(hash.clone()),
    };
    let inserted = event::Entity::insert(model).exec_with_returning(db).await?;

    let set_hash = Query::update()
        .table(event_stream::Entity)
        .value(event_stream::Column::LastHash, hash)
        .and_where(event_stream::Column::Stream.eq(new.stream))
        .to_owned();
    db.execute(&set_hash).await?;
    // Webhook deliveries are queued here, beside the event, so that no write can skip them.
    super::webhooks::fan_out(db, &inserted).await?;
    Ok(inserted)
}

/// The outcome of recomputing a stream's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub events: usize,
    pub broken: Option<ChainBreak>,
}

/// Recomputes a stream's chain from the stored rows.
pub async fn verify_stream<C: ConnectionTrait>(
    db: &C,
    stream: &str,
) -> Result<Verification, DbErr> {
    let rows = event::Entity::find()
        .filter(event::Column::Stream.eq(stream))
        .order_by_asc(event::Column::Seq)
        .all(db)
        .await?;
    let payloads: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::String(r.payload.clone()))
        })
        .collect();
    let result = verify_chain(rows.iter().zip(&payloads).map(|(r, payload)| {
        (
            ChainedEvent {
                stream: &r.stream,
                seq: r.seq,
                kind: &r.kind,
                occurred_at: &r.occurred_at,
                actor: &r.actor,
                payload,
                prev_hash: &r.prev_hash,
            },
            r.hash.as_str(),
        )
    }));
    Ok(match result {
        Ok(n) => Verification {
            events: n,
            broken: None,
        },
        Err(b) => Verification {
            events: rows.len(),
            broken: Some(b),
        },
    })
}
