//! The append-only, hash-chained event log (`docs/architecture.md`). Each stream (`organisation/<id>`,
//! `item/<id>`, `user/<id>`…) is a chain: an event carries the hash of the previous one; a device's
//! events also attest the state they left it in, and checkpoints anchor every head outside the
//! database (`docs/tamper-evidence.md`).
//!
//! Appends of one stream are serialised by updating its row in `event_streams` first: on
//! PostgreSQL the update takes a row lock held until commit, on SQLite the write transaction
//! already holds the database lock.

use reemploi_domain::audit::{
    ChainBreak, ChainedEvent, CheckpointFinding, DeviceState, GENESIS_HASH, HASH_VERSION, Head,
    StreamHead, canonical_json, check_state, compare_head, event_hash, verify_chain,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::entities::{event, event_stream, item};

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
    let state = match item_of_stream(&new.stream) {
        Some(id) => device_state(db, id).await?.map(|s| s.to_json()),
        None => None,
    };
    let org = new.organisation_id.map(|o| o.to_string());
    let hash = event_hash(&ChainedEvent {
        version: HASH_VERSION,
        stream: &new.stream,
        seq: head.last_seq,
        kind: new.kind,
        occurred_at: &occurred_at,
        actor: &new.actor,
        organisation_id: org.as_deref(),
        payload: &new.payload,
        state: state.as_ref(),
        prev_hash: &head.last_hash,
    });
    let model = event::ActiveModel {
        id: Set(super::new_id()),
        stream: Set(new.stream.clone()),
        seq: Set(head.last_seq),
        organisation_id: Set(new.organisation_id),
        actor: Set(new.actor),
        kind: Set(new.kind.to_owned()),
        payload: Set(canonical_json(&new.payload)),
        occurred_at: Set(occurred_at),
        prev_hash: Set(head.last_hash),
        hash: Set(hash.clone()),
        hash_version: Set(HASH_VERSION),
        state: Set(state.as_ref().map(canonical_json)),
    };
    let inserted = event::Entity::insert(model).exec_with_returning(db).await?;

    set_head_hash(db, &new.stream, hash).await?;
    // Webhook deliveries are queued here, beside the event, so that no write can skip them.
    super::webhooks::fan_out(db, &inserted).await?;
    Ok(inserted)
}

async fn set_head_hash<C: ConnectionTrait>(
    db: &C,
    stream: &str,
    hash: String,
) -> Result<(), DbErr> {
    let set_hash = Query::update()
        .table(event_stream::Entity)
        .value(event_stream::Column::LastHash, hash)
        .and_where(event_stream::Column::Stream.eq(stream))
        .to_owned();
    db.execute(&set_hash).await?;
    Ok(())
}

/// The device a stream is the history of (`item/<id>`).
pub fn item_of_stream(stream: &str) -> Option<Uuid> {
    stream.strip_prefix("item/").and_then(|id| id.parse().ok())
}

/// A device's current state as its row says it.
pub async fn device_state<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<DeviceState>, DbErr> {
    Ok(item::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|m| DeviceState {
            status: m.status,
            owner_id: m.owner_id.to_string(),
            custodian_id: m.custodian_id.to_string(),
        }))
}

/// Before a write commits: makes the last event of a device's stream attest the state the
/// transaction leaves the device in, for commands that change the row after appending the
/// event. The event is the stream's head (nothing chains on it yet), so rehashing it is safe;
/// a state that did not change leaves it untouched.
pub(super) async fn seal_device_stream<C: ConnectionTrait>(
    db: &C,
    stream: &str,
) -> Result<(), DbErr> {
    let Some(id) = item_of_stream(stream) else {
        return Ok(());
    };
    let Some(current) = device_state(db, id).await? else {
        return Ok(());
    };
    let Some(last) = event::Entity::find()
        .filter(event::Column::Stream.eq(stream))
        .order_by_desc(event::Column::Seq)
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let state = current.to_json();
    let encoded = canonical_json(&state);
    if last.hash_version != HASH_VERSION || last.state.as_deref() == Some(encoded.as_str()) {
        return Ok(());
    }
    let payload: serde_json::Value = serde_json::from_str(&last.payload)
        .unwrap_or(serde_json::Value::String(last.payload.clone()));
    let org = last.organisation_id.map(|o| o.to_string());
    let hash = event_hash(&ChainedEvent {
        version: last.hash_version,
        stream: &last.stream,
        seq: last.seq,
        kind: &last.kind,
        occurred_at: &last.occurred_at,
        actor: &last.actor,
        organisation_id: org.as_deref(),
        payload: &payload,
        state: Some(&state),
        prev_hash: &last.prev_hash,
    });
    let update = Query::update()
        .table(event::Entity)
        .value(event::Column::State, encoded)
        .value(event::Column::Hash, hash.clone())
        .and_where(event::Column::Id.eq(last.id))
        .to_owned();
    db.execute(&update).await?;
    set_head_hash(db, stream, hash).await
}

/// The outcome of recomputing a stream's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The stream where the break is (the one verified, or for an organisation's log, another
    /// stream holding one of its events).
    pub stream: String,
    pub events: usize,
    pub broken: Option<ChainBreak>,
}

fn parsed_payload(r: &event::Model) -> serde_json::Value {
    serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::String(r.payload.clone()))
}

fn parsed_state(r: &event::Model) -> Option<serde_json::Value> {
    r.state
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
}

/// Recomputes one stored event's own hash (not its link to the previous one).
pub fn row_hash_holds(r: &event::Model) -> bool {
    let payload = parsed_payload(r);
    let state = parsed_state(r);
    let org = r.organisation_id.map(|o| o.to_string());
    event_hash(&chained(r, &payload, state.as_ref(), org.as_deref())) == r.hash
}

fn chained<'a>(
    r: &'a event::Model,
    payload: &'a serde_json::Value,
    state: Option<&'a serde_json::Value>,
    org: Option<&'a str>,
) -> ChainedEvent<'a> {
    ChainedEvent {
        version: r.hash_version,
        stream: &r.stream,
        seq: r.seq,
        kind: &r.kind,
        occurred_at: &r.occurred_at,
        actor: &r.actor,
        organisation_id: org,
        payload,
        state,
        prev_hash: &r.prev_hash,
    }
}

/// Recomputes a stream's chain from the stored rows, compares its end with the head that
/// `event_streams` records and, for a device, its current row with what the last event attests.
pub async fn verify_stream<C: ConnectionTrait>(
    db: &C,
    stream: &str,
) -> Result<Verification, DbErr> {
    let rows = event::Entity::find()
        .filter(event::Column::Stream.eq(stream))
        .order_by_asc(event::Column::Seq)
        .all(db)
        .await?;
    let head = event_stream::Entity::find_by_id(stream.to_owned())
        .one(db)
        .await?;
    let payloads: Vec<serde_json::Value> = rows.iter().map(parsed_payload).collect();
    let states: Vec<Option<serde_json::Value>> = rows.iter().map(parsed_state).collect();
    let orgs: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.organisation_id.map(|o| o.to_string()))
        .collect();
    let result = verify_chain(
        rows.iter().enumerate().map(|(i, r)| {
            (
                chained(r, &payloads[i], states[i].as_ref(), orgs[i].as_deref()),
                r.hash.as_str(),
            )
        }),
        head.as_ref().map(|h| Head {
            last_seq: h.last_seq,
            last_hash: &h.last_hash,
        }),
    );
    let mut broken = result.err();
    if broken.is_none()
        && let (Some(id), Some(last)) = (item_of_stream(stream), rows.last())
        && let Some(current) = device_state(db, id).await?
    {
        let recorded = parsed_state(last).as_ref().and_then(DeviceState::from_json);
        broken = check_state(last.seq, recorded.as_ref(), &current).err();
    }
    Ok(Verification {
        stream: stream.to_owned(),
        events: rows.len(),
        broken,
    })
}

/// Verifies an organisation's log: its own chain, and every event listed under it that lives
/// in another stream (devices, users…), whose own hash must hold, so that an event moved into
/// this organisation's log shows.
pub async fn verify_organisation_log<C: ConnectionTrait>(
    db: &C,
    organisation_id: Uuid,
) -> Result<Verification, DbErr> {
    let stream = organisation_stream(organisation_id);
    let own = verify_stream(db, &stream).await?;
    if own.broken.is_some() {
        return Ok(own);
    }
    let others = event::Entity::find()
        .filter(event::Column::OrganisationId.eq(organisation_id))
        .filter(event::Column::Stream.ne(stream.clone()))
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?;
    for r in &others {
        if !row_hash_holds(r) {
            return Ok(Verification {
                stream: r.stream.clone(),
                events: own.events + others.len(),
                broken: Some(ChainBreak::HashMismatch { seq: r.seq }),
            });
        }
    }
    Ok(Verification {
        stream,
        events: own.events + others.len(),
        broken: None,
    })
}

/// Every stream's head, in stream order.
pub async fn all_heads<C: ConnectionTrait>(db: &C) -> Result<Vec<StreamHead>, DbErr> {
    Ok(event_stream::Entity::find()
        .order_by_asc(event_stream::Column::Stream)
        .all(db)
        .await?
        .into_iter()
        .map(|h| StreamHead {
            stream: h.stream,
            seq: h.last_seq,
            hash: h.last_hash,
        })
        .collect())
}

/// Compares the stored history with heads kept in a checkpoint: each stream must still hold
/// the event the checkpoint names, with the same hash, and still verify.
pub async fn check_against<C: ConnectionTrait>(
    db: &C,
    kept: &[StreamHead],
) -> Result<Vec<CheckpointFinding>, DbErr> {
    let mut findings = Vec::new();
    for k in kept {
        let last = event::Entity::find()
            .filter(event::Column::Stream.eq(k.stream.clone()))
            .order_by_desc(event::Column::Seq)
            .one(db)
            .await?;
        let head = event_stream::Entity::find_by_id(k.stream.clone())
            .one(db)
            .await?;
        let now_seq = match (&last, &head) {
            (None, None) => None,
            (Some(l), _) => Some(l.seq),
            (None, Some(_)) => Some(0),
        };
        let at = event::Entity::find()
            .filter(event::Column::Stream.eq(k.stream.clone()))
            .filter(event::Column::Seq.eq(k.seq))
            .one(db)
            .await?;
        if let Some(f) = compare_head(k, now_seq, at.as_ref().map(|e| e.hash.as_str())) {
            findings.push(f);
            continue;
        }
        if let Some(b) = verify_stream(db, &k.stream).await?.broken {
            findings.push(CheckpointFinding::Broken {
                stream: k.stream.clone(),
                at: b,
            });
        }
    }
    Ok(findings)
}
