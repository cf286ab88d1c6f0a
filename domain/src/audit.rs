//! The tamper-evident event log: each event of a stream (an organisation, a device, a user…)
//! carries the SHA-256 of the previous one, so that editing or removing an event breaks the chain.
//!
//! The hash covers a canonical encoding: fields in a fixed order, separated by a unit separator,
//! and the payload as JSON with sorted keys and no insignificant white space.
//!
//! Two hash versions exist. Version 1 (events written before migration 14) covers the stream,
//! sequence, kind, time, actor and payload. Version 2 adds the organisation in whose log the event
//! is and, for devices, the state the event left the device in (status, owner, custodian), so
//! that moving an event to another organisation or editing a device's row shows. Each event says
//! its version and is verified with its own rule.
//!
//! Names and e-mail addresses of people never enter a version-2 payload: it holds an opaque
//! reference (`person/<id>`) to a person record that erasure blanks (`docs/personal-data.md`).
//!
//! Heads are anchored outside the database by checkpoints: a Merkle root over every stream's
//! (stream, last sequence, last hash), signed by the service (`docs/tamper-evidence.md`).

use sha2::{Digest, Sha256};
/// The hash that stands before the first event of every stream.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash version of new events.
pub const HASH_VERSION: i32 = 2;

/// What is hashed for one event.
#[derive(Debug, Clone, Copy)]
pub struct ChainedEvent<'a> {
    /// Which rule hashes it (1 or 2).
    pub version: i32,
    pub stream: &'a str,
    pub seq: i64,
    pub kind: &'a str,
    /// RFC 3339 UTC timestamp with microseconds, as stored.
    pub occurred_at: &'a str,
    pub actor: &'a str,
    /// The organisation in whose log the event is (hashed from version 2).
    pub organisation_id: Option<&'a str>,
    pub payload: &'a serde_json::Value,
    /// The device's state after the event (item streams, hashed from version 2).
    pub state: Option<&'a serde_json::Value>,
    pub prev_hash: &'a str,
}

/// The state of a device that its chain attests: what its last event left it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    pub status: String,
    pub owner_id: String,
    pub custodian_id: String,
}

impl DeviceState {
    /// The JSON stored with (and hashed into) the event.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status,
            "owner_id": self.owner_id,
            "custodian_id": self.custodian_id,
        })
    }

    /// Reads the stored JSON back; `None` when it is not a device state.
    pub fn from_json(v: &serde_json::Value) -> Option<DeviceState> {
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Some(DeviceState {
            status: field("status")?,
            owner_id: field("owner_id")?,
            custodian_id: field("custodian_id")?,
        })
    }
}

/// Serialises JSON canonically: object keys sorted, no white space.
pub fn canonical_json(value: &serde_json::Value) -> String {
    // serde_json's Map is ordered by key unless the `preserve_order` feature is enabled, which
    // this workspace does not enable; re-sorting keeps the encoding stable either way.
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// The hex SHA-256 of an event, chaining it to its predecessor, by the rule of its version.
/// `None` for a version this code does not know.
pub fn event_hash_checked(event: &ChainedEvent<'_>) -> Option<String> {
    let mut h = Sha256::new();
    let seq = event.seq.to_string();
    let payload = canonical_json(event.payload);
    match event.version {
        1 => {
            for part in [
                event.prev_hash,
                event.stream,
                &seq,
                event.kind,
                event.occurred_at,
                event.actor,
                &payload,
            ] {
                h.update(part.as_bytes());
                h.update([0x1f]);
            }
        }
        2 => {
            let state = event.state.map(canonical_json).unwrap_or_default();
            for part in [
                "v2",
                event.prev_hash,
                event.stream,
                &seq,
                event.kind,
                event.occurred_at,
                event.actor,
                event.organisation_id.unwrap_or(""),
                &payload,
                &state,
            ] {
                h.update(part.as_bytes());
                h.update([0x1f]);
            }
        }
        _ => return None,
    }
    Some(hex::encode(h.finalize()))
}

/// The hex SHA-256 of an event by the rule of its version (an unknown version hashes to a value
/// no stored hash can have).
pub fn event_hash(event: &ChainedEvent<'_>) -> String {
    event_hash_checked(event).unwrap_or_else(|| "unknown-hash-version".to_owned())
}

/// The head of a stream as `event_streams` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'a> {
    pub last_seq: i64,
    pub last_hash: &'a str,
}

/// Where a stream's chain is broken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The event's sequence number is not the one expected (an event was removed or inserted).
    Gap { seq: i64, expected: i64 },
    /// The event does not point at the hash of its predecessor.
    PrevHashMismatch { seq: i64 },
    /// The stored hash does not match the event's content (the event was edited, or moved to
    /// another organisation).
    HashMismatch { seq: i64 },
    /// The event says a hash version this code does not know.
    UnknownVersion { seq: i64, version: i32 },
    /// The stream's head says it has more events than are stored: the last ones were removed.
    Truncated { last_seq: i64, head_seq: i64 },
    /// More events are stored than the head says: some were added outside the service.
    BeyondHead { seq: i64, head_seq: i64 },
    /// The last event is not the one the head records.
    HeadMismatch { seq: i64 },
    /// Events are stored but the stream has no head.
    MissingHead,
    /// The device's row does not say what its last event attests.
    StateMismatch {
        seq: i64,
        field: &'static str,
        recorded: String,
        current: String,
    },
}

impl ChainBreak {
    /// The sequence number where the chain breaks, when there is one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            ChainBreak::Gap { seq, .. }
            | ChainBreak::PrevHashMismatch { seq }
            | ChainBreak::HashMismatch { seq }
            | ChainBreak::UnknownVersion { seq, .. }
            | ChainBreak::BeyondHead { seq, .. }
            | ChainBreak::HeadMismatch { seq }
            | ChainBreak::StateMismatch { seq, .. } => Some(*seq),
            ChainBreak::Truncated { last_seq, .. } => Some(last_seq + 1),
            ChainBreak::MissingHead => None,
        }
    }

    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ChainBreak::Gap { .. } => "gap",
            ChainBreak::PrevHashMismatch { .. } => "prev_hash_mismatch",
            ChainBreak::HashMismatch { .. } => "hash_mismatch",
            ChainBreak::UnknownVersion { .. } => "unknown_hash_version",
            ChainBreak::Truncated { .. } => "truncated",
            ChainBreak::BeyondHead { .. } => "beyond_head",
            ChainBreak::HeadMismatch { .. } => "head_mismatch",
            ChainBreak::MissingHead => "missing_head",
            ChainBreak::StateMismatch { .. } => "state_mismatch",
        }
    }

    /// What a person reads, in French.
    pub fn message_fr(&self) -> String {
        match self {
            ChainBreak::Gap { seq, expected } => format!(
                "L'événement n° {expected} manque : l'historique passe directement au n° {seq}. Un événement a été supprimé ou inséré."
            ),
            ChainBreak::PrevHashMismatch { seq } => format!(
                "L'événement n° {seq} ne désigne pas l'empreinte de l'événement qui le précède : l'historique a été modifié avant lui."
            ),
            ChainBreak::HashMismatch { seq } => format!(
                "Le contenu de l'événement n° {seq} ne correspond plus à son empreinte : il a été modifié (ou rattaché à une autre organisation) après son enregistrement."
            ),
            ChainBreak::UnknownVersion { seq, version } => format!(
                "L'événement n° {seq} annonce une version d'empreinte inconnue ({version})."
            ),
            ChainBreak::Truncated { last_seq, head_seq } => {
                let missing = head_seq - last_seq;
                if missing == 1 {
                    format!(
                        "Le dernier événement (n° {head_seq}) a été supprimé : l'historique s'arrête au n° {last_seq}."
                    )
                } else {
                    format!(
                        "Les {missing} derniers événements (n° {} à {head_seq}) ont été supprimés : l'historique s'arrête au n° {last_seq}.",
                        last_seq + 1
                    )
                }
            }
            ChainBreak::BeyondHead { seq, head_seq } => format!(
                "L'événement n° {seq} a été ajouté hors du service : l'historique enregistré s'arrête au n° {head_seq}."
            ),
            ChainBreak::HeadMismatch { seq } => format!(
                "Le dernier événement (n° {seq}) n'est pas celui que le service a enregistré : il a été remplacé."
            ),
            ChainBreak::MissingHead => {
                "L'historique n'a pas de tête enregistrée : il a été créé ou altéré hors du service."
                    .to_owned()
            }
            ChainBreak::StateMismatch {
                seq,
                field,
                recorded,
                current,
            } => format!(
                "L'état actuel de l'équipement ne correspond pas à son historique : {} vaut « {current} », alors que le dernier événement (n° {seq}) indique « {recorded} ».",
                field_fr(field)
            ),
        }
    }

    /// What a person reads, in English.
    pub fn message_en(&self) -> String {
        match self {
            ChainBreak::Gap { seq, expected } => format!(
                "Event #{expected} is missing: the history jumps to #{seq}. An event was removed or inserted."
            ),
            ChainBreak::PrevHashMismatch { seq } => format!(
                "Event #{seq} does not point at the hash of the event before it: the history was changed before it."
            ),
            ChainBreak::HashMismatch { seq } => format!(
                "The content of event #{seq} no longer matches its hash: it was edited (or moved to another organisation) after it was recorded."
            ),
            ChainBreak::UnknownVersion { seq, version } => {
                format!("Event #{seq} says an unknown hash version ({version}).")
            }
            ChainBreak::Truncated { last_seq, head_seq } => format!(
                "The last {} event(s) (up to #{head_seq}) were removed: the history stops at #{last_seq}.",
                head_seq - last_seq
            ),
            ChainBreak::BeyondHead { seq, head_seq } => format!(
                "Event #{seq} was added outside the service: the recorded history stops at #{head_seq}."
            ),
            ChainBreak::HeadMismatch { seq } => format!(
                "The last event (#{seq}) is not the one the service recorded: it was replaced."
            ),
            ChainBreak::MissingHead => {
                "The history has no recorded head: it was created or altered outside the service."
                    .to_owned()
            }
            ChainBreak::StateMismatch {
                seq,
                field,
                recorded,
                current,
            } => format!(
                "The device's current state does not match its history: {field} is `{current}`, while the last event (#{seq}) says `{recorded}`."
            ),
        }
    }
}

fn field_fr(field: &str) -> &'static str {
    match field {
        "status" => "le statut",
        "owner_id" => "le propriétaire",
        "custodian_id" => "le détenteur",
        _ => "un champ",
    }
}

/// Recomputes a stream's chain. `events` must be the whole stream in sequence order, each with
/// its stored hash; `head` is what `event_streams` records (`None` when it has no row). Returns
/// the number of events checked.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = (ChainedEvent<'a>, &'a str)>,
    head: Option<Head<'_>>,
) -> Result<usize, ChainBreak> {
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut count = 0usize;
    let mut last_seq = 0i64;
    for (i, (event, stored_hash)) in events.into_iter().enumerate() {
        let expected_seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if event.seq != expected_seq {
            return Err(ChainBreak::Gap {
                seq: event.seq,
                expected: expected_seq,
            });
        }
        if event.prev_hash != expected_prev {
            return Err(ChainBreak::PrevHashMismatch { seq: event.seq });
        }
        let Some(computed) = event_hash_checked(&event) else {
            return Err(ChainBreak::UnknownVersion {
                seq: event.seq,
                version: event.version,
            });
        };
        if computed != stored_hash {
            return Err(ChainBreak::HashMismatch { seq: event.seq });
        }
        if let Some(h) = head
            && event.seq > h.last_seq
        {
            return Err(ChainBreak::BeyondHead {
                seq: event.seq,
                head_seq: h.last_seq,
            });
        }
        expected_prev = computed;
        last_seq = event.seq;
        count += 1;
    }
    match head {
        None if count > 0 => Err(ChainBreak::MissingHead),
        None => Ok(0),
        Some(h) if h.last_seq > last_seq => Err(ChainBreak::Truncated {
            last_seq,
            head_seq: h.last_seq,
        }),
        Some(h) if count > 0 && h.last_hash != expected_prev => {
            Err(ChainBreak::HeadMismatch { seq: last_seq })
        }
        Some(_) => Ok(count),
    }
}

/// Compares a device's current row with the state its last event attests (`recorded`, absent
/// for events written before hash version 2, which attest nothing).
pub fn check_state(
    seq: i64,
    recorded: Option<&DeviceState>,
    current: &DeviceState,
) -> Result<(), ChainBreak> {
    let Some(recorded) = recorded else {
        return Ok(());
    };
    for (field, r, c) in [
        ("status", &recorded.status, &current.status),
        ("owner_id", &recorded.owner_id, &current.owner_id),
        (
            "custodian_id",
            &recorded.custodian_id,
            &current.custodian_id,
        ),
    ] {
        if r != c {
            return Err(ChainBreak::StateMismatch {
                seq,
                field,
                recorded: r.clone(),
                current: c.clone(),
            });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: a Merkle root over every stream's head, signed outside this crate.

/// One stream's head as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    pub stream: String,
    pub seq: i64,
    pub hash: String,
}

/// The leaf of a head: SHA-256 of `0x00 ‖ stream ‖ 0x1f ‖ seq ‖ 0x1f ‖ hash` (RFC 6962 style,
/// so that a leaf can never pass for an inner node).
pub fn merkle_leaf(head: &StreamHead) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(head.stream.as_bytes());
    h.update([0x1f]);
    h.update(head.seq.to_string().as_bytes());
    h.update([0x1f]);
    h.update(head.hash.as_bytes());
    h.finalize().into()
}

fn merkle_node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn merkle_of(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest(b"").into(),
        [one] => *one,
        _ => {
            // Split at the largest power of two smaller than the length (RFC 6962, 2.1).
            let mut k = 1usize;
            while k * 2 < leaves.len() {
                k *= 2;
            }
            merkle_node(&merkle_of(&leaves[..k]), &merkle_of(&leaves[k..]))
        }
    }
}

/// The hex Merkle root over heads, taken in stream-name order (the order given does not
/// matter).
pub fn merkle_root(heads: &[StreamHead]) -> String {
    let mut sorted: Vec<&StreamHead> = heads.iter().collect();
    sorted.sort_by(|a, b| a.stream.cmp(&b.stream));
    let leaves: Vec<[u8; 32]> = sorted.into_iter().map(merkle_leaf).collect();
    hex::encode(merkle_of(&leaves))
}

/// The exact bytes the service signs for a checkpoint.
pub fn checkpoint_message(id: &str, taken_at: &str, streams: usize, root: &str) -> String {
    format!("reemploi-checkpoint-v1\n{id}\n{taken_at}\n{streams}\n{root}\n")
}

/// What verifying the current history against a kept checkpoint found for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointFinding {
    /// The stream no longer exists.
    StreamMissing { stream: String, kept_seq: i64 },
    /// The stream now has fewer events than when the checkpoint was taken.
    Shortened {
        stream: String,
        kept_seq: i64,
        now_seq: i64,
    },
    /// The event at the checkpoint's position has another hash now: the chain was rewritten.
    Rewritten { stream: String, seq: i64 },
    /// The stream's own chain is broken now.
    Broken { stream: String, at: ChainBreak },
}

impl CheckpointFinding {
    /// The stream it is about.
    pub fn stream(&self) -> &str {
        match self {
            CheckpointFinding::StreamMissing { stream, .. }
            | CheckpointFinding::Shortened { stream, .. }
            | CheckpointFinding::Rewritten { stream, .. }
            | CheckpointFinding::Broken { stream, .. } => stream,
        }
    }

    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointFinding::StreamMissing { .. } => "stream_missing",
            CheckpointFinding::Shortened { .. } => "shortened",
            CheckpointFinding::Rewritten { .. } => "rewritten",
            CheckpointFinding::Broken { at, .. } => at.code(),
        }
    }

    /// What a person reads, in French.
    pub fn message_fr(&self, taken_at: &str) -> String {
        match self {
            CheckpointFinding::StreamMissing { stream, kept_seq } => format!(
                "L'historique « {stream} » ({kept_seq} événements au point de contrôle du {taken_at}) a disparu de la base."
            ),
            CheckpointFinding::Shortened {
                stream,
                kept_seq,
                now_seq,
            } => format!(
                "L'historique « {stream} » comptait {kept_seq} événements au point de contrôle du {taken_at} ; il n'en compte plus que {now_seq}."
            ),
            CheckpointFinding::Rewritten { stream, seq } => format!(
                "L'historique « {stream} » a été réécrit : l'événement n° {seq} n'a plus l'empreinte enregistrée au point de contrôle du {taken_at}."
            ),
            CheckpointFinding::Broken { stream, at } => {
                format!("Historique « {stream} » : {}", at.message_fr())
            }
        }
    }

    /// What a person reads, in English.
    pub fn message_en(&self, taken_at: &str) -> String {
        match self {
            CheckpointFinding::StreamMissing { stream, kept_seq } => format!(
                "History `{stream}` ({kept_seq} events at the checkpoint of {taken_at}) is gone from the database."
            ),
            CheckpointFinding::Shortened {
                stream,
                kept_seq,
                now_seq,
            } => format!(
                "History `{stream}` had {kept_seq} events at the checkpoint of {taken_at}; it now has {now_seq}."
            ),
            CheckpointFinding::Rewritten { stream, seq } => format!(
                "History `{stream}` was rewritten: event #{seq} no longer has the hash recorded at the checkpoint of {taken_at}."
            ),
            CheckpointFinding::Broken { stream, at } => {
                format!("History `{stream}`: {}", at.message_en())
            }
        }
    }
}

/// Compares one kept head with the stream as stored now: `now_seq` its current length (`None`
/// when it is gone) and `hash_at_kept_seq` the hash of its event at the kept position.
pub fn compare_head(
    kept: &StreamHead,
    now_seq: Option<i64>,
    hash_at_kept_seq: Option<&str>,
) -> Option<CheckpointFinding> {
    let Some(now_seq) = now_seq else {
        return Some(CheckpointFinding::StreamMissing {
            stream: kept.stream.clone(),
            kept_seq: kept.seq,
        });
    };
    if now_seq < kept.seq {
        return Some(CheckpointFinding::Shortened {
            stream: kept.stream.clone(),
            kept_seq: kept.seq,
            now_seq,
        });
    }
    if hash_at_kept_seq != Some(kept.hash.as_str()) {
        return Some(CheckpointFinding::Rewritten {
            stream: kept.stream.clone(),
            seq: kept.seq,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Owned {
        seq: i64,
        org: String,
        payload: serde_json::Value,
        prev: String,
        hash: String,
    }

    fn ev<'a>(e: &'a Owned) -> ChainedEvent<'a> {
        ChainedEvent {
            version: HASH_VERSION,
            stream: "organisation/1",
            seq: e.seq,
            kind: "k",
            occurred_at: "2026-01-01T00:00:00.000000Z",
            actor: "user/1",
            organisation_id: Some(&e.org),
            payload: &e.payload,
            state: None,
            prev_hash: &e.prev,
        }
    }

    fn chain(payloads: &[serde_json::Value]) -> Vec<Owned> {
        let mut prev = GENESIS_HASH.to_owned();
        let mut out = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let mut e = Owned {
                seq: i as i64 + 1,
                org: "1".to_owned(),
                payload: p.clone(),
                prev: prev.clone(),
                hash: String::new(),
            };
            e.hash = event_hash(&ev(&e));
            prev = e.hash.clone();
            out.push(e);
        }
        out
    }

    fn head(events: &[Owned]) -> (i64, String) {
        events
            .last()
            .map(|e| (e.seq, e.hash.clone()))
            .unwrap_or((0, GENESIS_HASH.to_owned()))
    }

    fn verify_with(events: &[Owned], head: (i64, &str)) -> Result<usize, ChainBreak> {
        verify_chain(
            events.iter().map(|e| (ev(e), e.hash.as_str())),
            Some(Head {
                last_seq: head.0,
                last_hash: head.1,
            }),
        )
    }

    fn verify(events: &[Owned]) -> Result<usize, ChainBreak> {
        let (seq, hash) = head(events);
        verify_with(events, (seq, &hash))
    }

    #[test]
    fn canonical_json_sorts_keys() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": {"d": 2, "c": [3]}})),
            r#"{"a":{"c":[3],"d":2},"b":1}"#
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        assert_eq!(verify(&events), Ok(3));
    }

    #[test]
    fn version_one_events_keep_their_rule() {
        let payload = json!({"a": 1});
        let e = ChainedEvent {
            version: 1,
            stream: "organisation/1",
            seq: 1,
            kind: "k",
            occurred_at: "2026-01-01T00:00:00.000000Z",
            actor: "user/1",
            organisation_id: Some("ignored by v1"),
            payload: &payload,
            state: None,
            prev_hash: GENESIS_HASH,
        };
        let mut h = Sha256::new();
        for part in [
            GENESIS_HASH,
            "organisation/1",
            "1",
            "k",
            "2026-01-01T00:00:00.000000Z",
            "user/1",
            r#"{"a":1}"#,
        ] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        assert_eq!(event_hash(&e), hex::encode(h.finalize()));
        assert_eq!(event_hash_checked(&ChainedEvent { version: 9, ..e }), None);
    }

    #[test]
    fn an_edited_payload_breaks_the_chain_at_that_event() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        events[1].payload = json!({"b": 3});
        assert_eq!(verify(&events), Err(ChainBreak::HashMismatch { seq: 2 }));
    }

    #[test]
    fn an_event_moved_to_another_organisation_breaks_the_chain() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2})]);
        events[0].org = "2".to_owned();
        assert_eq!(verify(&events), Err(ChainBreak::HashMismatch { seq: 1 }));
    }

    #[test]
    fn a_removed_event_is_a_gap() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        let (seq, hash) = head(&events);
        events.remove(1);
        assert_eq!(
            verify_with(&events, (seq, &hash)),
            Err(ChainBreak::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn removing_the_last_events_is_caught_by_the_head() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        let (seq, hash) = head(&events);
        events.pop();
        let one = verify_with(&events, (seq, &hash)).expect_err("the chain breaks");
        assert_eq!(
            one,
            ChainBreak::Truncated {
                last_seq: 2,
                head_seq: 3
            }
        );
        assert!(
            one.message_fr()
                .contains("Le dernier événement (n° 3) a été supprimé")
        );
        events.pop();
        let two = verify_with(&events, (seq, &hash)).expect_err("the chain breaks");
        assert!(
            two.message_fr()
                .contains("Les 2 derniers événements (n° 2 à 3)"),
            "{}",
            two.message_fr()
        );
        events.pop();
        assert_eq!(
            verify_with(&events, (seq, &hash)),
            Err(ChainBreak::Truncated {
                last_seq: 0,
                head_seq: 3
            })
        );
    }

    #[test]
    fn a_head_that_names_another_last_event_is_caught() {
        let events = chain(&[json!({"a": 1})]);
        assert_eq!(
            verify_with(&events, (1, GENESIS_HASH)),
            Err(ChainBreak::HeadMismatch { seq: 1 })
        );
        assert_eq!(
            verify_chain(events.iter().map(|e| (ev(e), e.hash.as_str())), None),
            Err(ChainBreak::MissingHead)
        );
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link_to_the_next_event() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        events[1].payload = json!({"b": 3});
        events[1].hash = event_hash(&ev(&events[1]));
        assert_eq!(
            verify(&events),
            Err(ChainBreak::PrevHashMismatch { seq: 3 })
        );
    }

    #[test]
    fn a_device_row_that_disagrees_with_its_last_event_is_caught() {
        let recorded = DeviceState {
            status: "available".into(),
            owner_id: "o".into(),
            custodian_id: "c".into(),
        };
        assert_eq!(
            DeviceState::from_json(&recorded.to_json()),
            Some(recorded.clone())
        );
        assert_eq!(check_state(4, Some(&recorded), &recorded), Ok(()));
        let edited = DeviceState {
            status: "donated".into(),
            ..recorded.clone()
        };
        let err = check_state(4, Some(&recorded), &edited).expect_err("the state differs");
        assert_eq!(err.code(), "state_mismatch");
        assert!(err.message_fr().contains("le statut vaut « donated »"));
        assert_eq!(check_state(4, None, &edited), Ok(()));
    }

    fn heads(n: usize) -> Vec<StreamHead> {
        (0..n)
            .map(|i| StreamHead {
                stream: format!("item/{i}"),
                seq: i as i64 + 1,
                hash: format!("{i:064}"),
            })
            .collect()
    }

    #[test]
    fn the_merkle_root_covers_every_head_in_any_order() {
        for n in 0..9 {
            let hs = heads(n);
            let mut reversed = hs.clone();
            reversed.reverse();
            assert_eq!(merkle_root(&hs), merkle_root(&reversed));
            for i in 0..n {
                let mut changed = hs.clone();
                changed[i].seq += 1;
                assert_ne!(merkle_root(&hs), merkle_root(&changed), "n={n} i={i}");
            }
        }
        assert_eq!(
            merkle_root(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_kept_head_finds_truncation_rewrite_and_loss() {
        let kept = StreamHead {
            stream: "item/1".into(),
            seq: 3,
            hash: "abc".into(),
        };
        assert_eq!(compare_head(&kept, Some(5), Some("abc")), None);
        assert_eq!(
            compare_head(&kept, Some(3), Some("abd")).map(|f| f.code()),
            Some("rewritten")
        );
        assert_eq!(
            compare_head(&kept, Some(2), None).map(|f| f.code()),
            Some("shortened")
        );
        let gone = compare_head(&kept, None, None).expect("a difference");
        assert!(gone.message_fr("2026-12-01").contains("a disparu"));
    }
}
