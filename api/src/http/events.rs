//! The audit log of an organisation: its events, and a check that their hash chain holds.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::audit::ChainBreak;
use uuid::Uuid;

use super::access::BearerAuth;
use super::pagination::PageRequest;
use super::types::ApiTags;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::entities::event;
use crate::store::events::{organisation_stream, verify_stream};
use crate::store::organisations::{find_organisation, organisation_events_select};

/// One event of the audit log.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventResponse {
    pub id: Uuid,
    /// The chain it belongs to (`organisation/<id>`).
    pub stream: String,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// What happened (`organisation_registered`, `member_added`…).
    pub kind: String,
    /// Who did it (`user/<id>`, `api_key/<id>`, `system`).
    pub actor: String,
    /// Facts of the event.
    pub payload: serde_json::Value,
    /// When, RFC 3339 UTC.
    pub occurred_at: String,
    /// Hash of the previous event of the chain.
    pub prev_hash: String,
    /// SHA-256 of this event, chained to the previous one.
    pub hash: String,
}

/// A page of events.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventPage {
    pub items: Vec<EventResponse>,
    pub next_cursor: Option<String>,
}

/// The result of recomputing a chain.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChainVerification {
    pub stream: String,
    /// Whether every event's hash matches its content and predecessor.
    pub valid: bool,
    /// Number of events checked.
    pub events: u64,
    /// Sequence number of the first event where the chain breaks.
    pub broken_at_seq: Option<i64>,
    /// Why it breaks: `gap`, `prev_hash_mismatch` or `hash_mismatch`.
    pub reason: Option<String>,
}

impl ChainVerification {
    /// The answer for a recomputed stream.
    pub fn from_verification(stream: String, v: crate::store::events::Verification) -> Self {
        let (broken_at_seq, reason) = match v.broken {
            None => (None, None),
            Some(ChainBreak::Gap { seq, .. }) => (Some(seq), Some("gap".to_owned())),
            Some(ChainBreak::PrevHashMismatch { seq }) => {
                (Some(seq), Some("prev_hash_mismatch".to_owned()))
            }
            Some(ChainBreak::HashMismatch { seq }) => (Some(seq), Some("hash_mismatch".to_owned())),
        };
        Self {
            stream,
            valid: broken_at_seq.is_none(),
            events: v.events as u64,
            broken_at_seq,
            reason,
        }
    }
}

impl From<event::Model> for EventResponse {
    fn from(m: event::Model) -> Self {
        Self {
            payload: serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null),
            id: m.id,
            stream: m.stream,
            seq: m.seq,
            kind: m.kind,
            actor: m.actor,
            occurred_at: m.occurred_at,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

pub struct EventsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// List an organisation's events
    ///
    /// The audit log of the organisation (registration, profile, members, keys, sites…), oldest
    /// first. For its admins and the operator.
    #[oai(
        path = "/organisations/:id/events",
        method = "get",
        operation_id = "list_organisation_events"
    )]
    async fn list_organisation_events(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<EventPage>> {
        auth.0.authorize("list_organisation_events", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        find_organisation(&self.state.db, id.0).await?;
        let select = organisation_events_select(id.0);
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, event::Column::Id, |m| m.id)
            .await?;
        Ok(Json(EventPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Verify an organisation's event chain
    ///
    /// Recomputes every hash of the organisation's chain and says whether it holds, or where an
    /// edited, removed or inserted event breaks it.
    #[oai(
        path = "/organisations/:id/events/verify",
        method = "get",
        operation_id = "verify_organisation_events"
    )]
    async fn verify_organisation_events(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ChainVerification>> {
        auth.0.authorize("verify_organisation_events", Some(id.0))?;
        find_organisation(&self.state.db, id.0).await?;
        let stream = organisation_stream(id.0);
        let v = verify_stream(&self.state.db, &stream).await?;
        Ok(Json(ChainVerification::from_verification(stream, v)))
    }
}
