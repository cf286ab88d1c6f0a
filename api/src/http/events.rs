//! The audit log of an organisation: its events, and a check that their hash chain holds.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::access::BearerAuth;
use super::pagination::PageRequest;
use super::types::ApiTags;
use crate::error::{ApiError, ApiResult, Lang};
use crate::state::AppState;
use crate::store::entities::event;
use crate::store::events::verify_organisation_log;
use crate::store::organisations::find_organisation;
use crate::store::webhooks::{FeedFilter, PublicEvent, feed_select};
use reemploi_domain::Invalid;
use reemploi_domain::webhooks::{Subject, TypePattern};

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
    /// Its public type, which webhooks and the `types` filter use (`lot.published`,
    /// `item.publish`…; `docs/webhooks.md`).
    #[oai(rename = "type")]
    pub event_type: String,
    /// What it is about: `lot/<id>`, `item/<id>`, `site/<id>`, `organisation/<id>`…
    pub subject: String,
    /// Path of that resource in this API, when it has one.
    pub href: Option<String>,
    /// The organisation in whose log it is.
    pub organisation_id: Option<Uuid>,
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
    /// The chain verified, or, when the break is in another chain holding one of the
    /// organisation's events, that chain.
    pub stream: String,
    /// Whether every event's hash matches its content and predecessor, the last one is the
    /// head the service recorded, and (for a device) its current row matches its last event.
    pub valid: bool,
    /// Number of events checked.
    pub events: u64,
    /// Sequence number of the first event where the chain breaks.
    pub broken_at_seq: Option<i64>,
    /// Why it breaks: `gap`, `prev_hash_mismatch`, `hash_mismatch`, `truncated`, `beyond_head`,
    /// `head_mismatch`, `missing_head`, `state_mismatch` or `unknown_hash_version`.
    pub reason: Option<String>,
    /// The same, as a sentence a person reads (French by default, English with
    /// `Accept-Language: en`).
    pub message: Option<String>,
}

impl ChainVerification {
    /// The answer for a recomputed stream.
    pub fn from_verification(v: crate::store::events::Verification, lang: Lang) -> Self {
        let (broken_at_seq, reason, message) = match &v.broken {
            None => (None, None, None),
            Some(b) => (
                b.seq(),
                Some(b.code().to_owned()),
                Some(match lang {
                    Lang::Fr => b.message_fr(),
                    Lang::En => b.message_en(),
                }),
            ),
        };
        Self {
            stream: v.stream,
            valid: v.broken.is_none(),
            events: v.events as u64,
            broken_at_seq,
            reason,
            message,
        }
    }
}

impl From<event::Model> for EventResponse {
    fn from(m: event::Model) -> Self {
        let public = PublicEvent::of(&m);
        Self {
            event_type: public.event_type,
            subject: public.subject,
            href: public.href,
            organisation_id: m.organisation_id,
            payload: public.facts,
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

/// Parses the feed's filters.
fn feed_filter(
    types: Option<&str>,
    since: Option<&str>,
    subject: Option<&str>,
) -> ApiResult<FeedFilter> {
    let mut f = FeedFilter::default();
    if let Some(types) = types.map(str::trim).filter(|t| !t.is_empty()) {
        for t in types.split(',') {
            let p = TypePattern::parse(t).map_err(|r| ApiError::field("types", r))?;
            if !f.types.contains(&p) {
                f.types.push(p);
            }
        }
        if f.types.len() > 50 {
            return Err(ApiError::field("types", Invalid::OutOfRange));
        }
    }
    if let Some(since) = since.map(str::trim).filter(|s| !s.is_empty()) {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(since) {
            f.since_time = Some(t.with_timezone(&chrono::Utc));
        } else if let Ok(id) = since.parse::<Uuid>() {
            f.after = Some(id);
        } else {
            f.after = PageRequest::parse(Some(since), None)
                .map_err(|_| ApiError::field("since", Invalid::InvalidFormat))?
                .after;
        }
    }
    if let Some(subject) = subject.map(str::trim).filter(|s| !s.is_empty()) {
        f.subject = Some(Subject::parse(subject).map_err(|r| ApiError::field("subject", r))?);
    }
    Ok(f)
}

pub struct EventsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// List an organisation's events
    ///
    /// The event feed of the organisation (its lots, claims, devices, reservations, documents,
    /// members, sites…), oldest first, for all its members and the operator: what happened
    /// (`type`), to what (`subject`, `href`), when, by whom. Filters: `types` (comma-separated,
    /// wildcards such as `lot.*`), `since` (an event id or a cursor: the events after it; or an
    /// RFC 3339 time: the events from then on) and `subject` (`lot/<id>`, `site/<id>`…: the
    /// events about it). Poll with `since` set to the last id seen.
    #[oai(
        path = "/organisations/:id/events",
        method = "get",
        operation_id = "list_organisation_events"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "poem-openapi takes each query parameter as an argument"
    )]
    async fn list_organisation_events(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        /// Comma-separated types, with wildcards: `lot.*,claim.accepted`.
        #[oai(validator(max_length = 1000))]
        types: Query<Option<String>>,
        /// An event id or cursor (events after it), or an RFC 3339 time (events from then on).
        #[oai(validator(max_length = 200))]
        since: Query<Option<String>>,
        /// `lot/<id>`, `site/<id>`, `item/<id>`, `reservation/<id>`, `request/<id>`,
        /// `document/<id>`: only the events about it.
        #[oai(validator(max_length = 100))]
        subject: Query<Option<String>>,
    ) -> ApiResult<Json<EventPage>> {
        auth.0.authorize("list_organisation_events", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let filter = feed_filter(types.0.as_deref(), since.0.as_deref(), subject.0.as_deref())?;
        find_organisation(&self.state.db, id.0).await?;
        let select = feed_select(id.0, &filter);
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
    /// Recomputes every hash of the organisation's chain, compares its end with the head the
    /// service recorded, and checks every event listed in the organisation's log that lives in
    /// another chain; says whether it holds, or where an edited, removed, inserted or moved event
    /// breaks it, with a sentence a person reads.
    #[oai(
        path = "/organisations/:id/events/verify",
        method = "get",
        operation_id = "verify_organisation_events"
    )]
    async fn verify_organisation_events(
        &self,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ChainVerification>> {
        auth.0.authorize("verify_organisation_events", Some(id.0))?;
        find_organisation(&self.state.db, id.0).await?;
        let v = verify_organisation_log(&self.state.db, id.0).await?;
        let lang = Lang::from_accept_language(req.header("accept-language"));
        Ok(Json(ChainVerification::from_verification(v, lang)))
    }
}
