//! Checkpoints of the event log: every stream's head at one moment, their Merkle root and the
//! service's signature of it (`docs/tamper-evidence.md`).

use reemploi_domain::audit::{StreamHead, checkpoint_message, merkle_root};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::entities::checkpoint;

/// The stream of checkpoint events.
pub const STREAM: &str = "platform/checkpoints";

/// The heads stored as JSON: `[[stream, seq, hash], …]`.
pub fn encode_heads(heads: &[StreamHead]) -> String {
    serde_json::Value::Array(
        heads
            .iter()
            .map(|h| serde_json::json!([h.stream, h.seq, h.hash]))
            .collect(),
    )
    .to_string()
}

/// Reads heads back; a malformed entry is skipped (the root then no longer matches).
pub fn decode_heads(text: &str) -> Vec<StreamHead> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| {
                    Some(StreamHead {
                        stream: h.get(0)?.as_str()?.to_owned(),
                        seq: h.get(1)?.as_i64()?,
                        hash: h.get(2)?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The message signed for a checkpoint.
pub fn message(id: Uuid, taken_at: &str, heads: &[StreamHead]) -> (String, String) {
    let root = merkle_root(heads);
    let msg = checkpoint_message(&id.to_string(), taken_at, heads.len(), &root);
    (root, msg)
}

/// The newest checkpoint.
pub async fn latest<C: ConnectionTrait>(db: &C) -> Result<Option<checkpoint::Model>, DbErr> {
    checkpoint::Entity::find()
        .order_by_desc(checkpoint::Column::TakenAt)
        .order_by_desc(checkpoint::Column::Id)
        .one(db)
        .await
}

/// The newest checkpoints, newest first.
pub async fn recent<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<checkpoint::Model>, DbErr> {
    checkpoint::Entity::find()
        .order_by_desc(checkpoint::Column::TakenAt)
        .order_by_desc(checkpoint::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
