//! Checkpoints of the event log: taking one (a write: the row and its `checkpoint_taken`
//! event), and checking the stored history against a checkpoint someone kept (a read).

use reemploi_domain::audit::{CheckpointFinding, StreamHead, merkle_root};
use std::sync::Arc;

use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use uuid::Uuid;

use super::write;
use crate::error::ApiResult;
use crate::signing::{self, Signer};
use crate::store;
use crate::store::checkpoints::{STREAM, encode_heads, message};
use crate::store::entities::checkpoint;
use crate::store::events::{NewEvent, all_heads, check_against};

/// Takes a checkpoint now: every stream's head, their Merkle root, signed with the service's
/// key; appends `checkpoint_taken` to `platform/checkpoints` (whose head the next checkpoint
/// covers).
pub async fn take(
    db: &DatabaseConnection,
    signer: &Arc<Signer>,
    actor_ref: String,
) -> ApiResult<checkpoint::Model> {
    let signer = signer.clone();
    write(db, async move |tx| {
        let heads = all_heads(tx).await?;
        let id = store::new_id();
        let now = store::now();
        let taken_at = now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let (root, msg) = message(id, &taken_at, &heads);
        let model = checkpoint::ActiveModel {
            id: Set(id),
            taken_at: Set(taken_at),
            day: Set(now.date_naive().to_string()),
            streams: Set(i32::try_from(heads.len()).unwrap_or(i32::MAX)),
            merkle_root: Set(root.clone()),
            heads: Set(encode_heads(&heads)),
            algorithm: Set(signing::ALGORITHM.to_owned()),
            public_key: Set(signer.public_key_hex().to_owned()),
            signature: Set(signer.sign(msg.as_bytes())),
        };
        let inserted = checkpoint::Entity::insert(model)
            .exec_with_returning(tx)
            .await?;
        tx.event(NewEvent {
            stream: STREAM.to_owned(),
            organisation_id: None,
            actor: actor_ref.clone(),
            kind: "checkpoint_taken",
            payload: serde_json::json!({
                "checkpoint_id": id, "streams": heads.len(), "merkle_root": root,
            }),
        })
        .await?;
        Ok(inserted)
    })
    .await
}

/// Takes the day's checkpoint unless one was taken today (UTC); the worker calls it.
pub async fn take_daily(
    db: &DatabaseConnection,
    signer: &Arc<Signer>,
) -> ApiResult<Option<checkpoint::Model>> {
    let today = store::now().date_naive().to_string();
    if let Some(last) = store::checkpoints::latest(db).await?
        && last.day >= today
    {
        return Ok(None);
    }
    take(db, signer, "system".to_owned()).await.map(Some)
}

/// A checkpoint as exported (and as given back to be checked).
#[derive(Debug, Clone)]
pub struct KeptCheckpoint {
    pub id: Uuid,
    pub taken_at: String,
    pub merkle_root: String,
    pub public_key: String,
    pub signature: String,
    pub heads: Vec<StreamHead>,
}

/// What checking the history against a kept checkpoint found.
#[derive(Debug, Clone)]
pub struct CheckpointCheck {
    /// The signature is the service's over this checkpoint's id, time, count and root.
    pub signature_valid: bool,
    /// The public key is the one the service signs with now.
    pub key_is_current: bool,
    /// The heads given hash to the root given.
    pub root_valid: bool,
    pub streams_checked: usize,
    pub findings: Vec<CheckpointFinding>,
}

impl CheckpointCheck {
    /// Whether the checkpoint is authentic and the stored history extends it unchanged.
    pub fn valid(&self) -> bool {
        self.signature_valid && self.root_valid && self.findings.is_empty()
    }
}

/// Checks the stored history against `kept` (a read: nothing is written).
pub async fn check(
    db: &DatabaseConnection,
    signer: &Signer,
    kept: &KeptCheckpoint,
) -> ApiResult<CheckpointCheck> {
    let root = merkle_root(&kept.heads);
    let (_, msg) = message(kept.id, &kept.taken_at, &kept.heads);
    let signature_valid = signing::verify(&kept.public_key, msg.as_bytes(), &kept.signature);
    let root_valid = root == kept.merkle_root;
    let findings = check_against(db, &kept.heads).await?;
    Ok(CheckpointCheck {
        signature_valid,
        key_is_current: kept.public_key == signer.public_key_hex(),
        root_valid,
        streams_checked: kept.heads.len(),
        findings,
    })
}
