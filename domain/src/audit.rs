//! The tamper-evident event log: each event of a stream (an organisation, later a device)
//! carries the SHA-256 of the previous one, so that editing or removing an event breaks the chain.
//!
//! The hash covers a canonical encoding: fields in a fixed order, separated by a unit separator,
//! and the payload as JSON with sorted keys and no insignificant white space.

use sha2::{Digest, Sha256};

/// The hash that stands before the first event of every stream.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is hashed for one event.
#[derive(Debug, Clone, Copy)]
pub struct ChainedEvent<'a> {
    pub stream: &'a str,
    pub seq: i64,
    pub kind: &'a str,
    /// RFC 3339 UTC timestamp with microseconds, as stored.
    pub occurred_at: &'a str,
    pub actor: &'a str,
    pub payload: &'a serde_json::Value,
    pub prev_hash: &'a str,
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

/// The hex SHA-256 of an event, chaining it to its predecessor.
pub fn event_hash(event: &ChainedEvent<'_>) -> String {
    let mut h = Sha256::new();
    for part in [
        event.prev_hash,
        event.stream,
        &event.seq.to_string(),
        event.kind,
        event.occurred_at,
        event.actor,
        &canonical_json(event.payload),
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

/// Where a stream's chain is broken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The event's sequence number is not the one expected (an event was removed or inserted).
    Gap { seq: i64, expected: i64 },
    /// The event does not point at the hash of its predecessor.
    PrevHashMismatch { seq: i64 },
    /// The stored hash does not match the event's content (the event was edited).
    HashMismatch { seq: i64 },
}

/// Recomputes a stream's chain. `events` must be the whole stream in sequence order, each with
/// its stored hash.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = (ChainedEvent<'a>, &'a str)>,
) -> Result<usize, ChainBreak> {
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut count = 0usize;
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
        let computed = event_hash(&event);
        if computed != stored_hash {
            return Err(ChainBreak::HashMismatch { seq: event.seq });
        }
        expected_prev = computed;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Owned {
        seq: i64,
        payload: serde_json::Value,
        prev: String,
        hash: String,
    }

    fn chain(payloads: &[serde_json::Value]) -> Vec<Owned> {
        let mut prev = GENESIS_HASH.to_owned();
        let mut out = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let seq = i as i64 + 1;
            let hash = event_hash(&ChainedEvent {
                stream: "organisation/1",
                seq,
                kind: "k",
                occurred_at: "2026-01-01T00:00:00.000000Z",
                actor: "user/1",
                payload: p,
                prev_hash: &prev,
            });
            out.push(Owned {
                seq,
                payload: p.clone(),
                prev: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        out
    }

    fn verify(events: &[Owned]) -> Result<usize, ChainBreak> {
        verify_chain(events.iter().map(|e| {
            (
                ChainedEvent {
                    stream: "organisation/1",
                    seq: e.seq,
                    kind: "k",
                    occurred_at: "2026-01-01T00:00:00.000000Z",
                    actor: "user/1",
                    payload: &e.payload,
                    prev_hash: &e.prev,
                },
                e.hash.as_str(),
            )
        }))
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
    fn an_edited_payload_breaks_the_chain_at_that_event() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        events[1].payload = json!({"b": 3});
        assert_eq!(verify(&events), Err(ChainBreak::HashMismatch { seq: 2 }));
    }

    #[test]
    fn a_removed_event_is_a_gap() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        events.remove(1);
        assert_eq!(
            verify(&events),
            Err(ChainBreak::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link_to_the_next_event() {
        let mut events = chain(&[json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        events[1].payload = json!({"b": 3});
        events[1].hash = event_hash(&ChainedEvent {
            stream: "organisation/1",
            seq: 2,
            kind: "k",
            occurred_at: "2026-01-01T00:00:00.000000Z",
            actor: "user/1",
            payload: &events[1].payload,
            prev_hash: &events[1].prev,
        });
        assert_eq!(
            verify(&events),
            Err(ChainBreak::PrevHashMismatch { seq: 3 })
        );
    }
}
