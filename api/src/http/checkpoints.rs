//! Checkpoints of the event log: published for anyone to keep, exported as JSON, and checked
//! against the stored history on request (`docs/tamper-evidence.md`).

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::audit::StreamHead;
use uuid::Uuid;

use super::access::BearerAuth;
use super::types::{ApiTags, Created};
use crate::commands::checkpoints::{self as cmd, KeptCheckpoint};
use crate::error::{ApiError, ApiResult, Lang};
use crate::signing;
use crate::state::AppState;
use crate::store::checkpoints::{decode_heads, latest, recent};
use crate::store::entities::checkpoint;

/// One stream's head in a checkpoint.
#[derive(Debug, Clone, Object)]
pub struct CheckpointHead {
    /// The chain (`item/<id>`, `organisation/<id>`…).
    #[oai(validator(max_length = 200))]
    pub stream: String,
    /// Its last sequence number then.
    pub seq: i64,
    /// The hash of that event.
    #[oai(validator(max_length = 128))]
    pub hash: String,
}

/// A signed checkpoint: keep this document as it is, and give it back to
/// `POST /v1/checkpoints/verify` (or `reemploi checkpoint verify FILE`) to check that the
/// history still extends it.
#[derive(Debug, Clone, Object)]
pub struct CheckpointDocument {
    pub id: Uuid,
    /// When it was taken (RFC 3339 UTC, microseconds, as signed).
    #[oai(validator(max_length = 40))]
    pub taken_at: String,
    /// How many streams it covers.
    pub streams: u32,
    /// The Merkle root (hex SHA-256, RFC 6962 tree) over every head, in stream order.
    #[oai(validator(max_length = 128))]
    pub merkle_root: String,
    /// `ed25519`.
    #[oai(validator(max_length = 20))]
    pub algorithm: String,
    /// The service's public key (hex).
    #[oai(validator(max_length = 128))]
    pub public_key: String,
    /// The signature (hex) of `reemploi-checkpoint-v1\n{id}\n{taken_at}\n{streams}\n{merkle_root}\n`.
    #[oai(validator(max_length = 256))]
    pub signature: String,
    /// Every stream's head.
    #[oai(validator(max_items = 10000000))]
    pub heads: Vec<CheckpointHead>,
}

impl From<checkpoint::Model> for CheckpointDocument {
    fn from(m: checkpoint::Model) -> Self {
        Self {
            id: m.id,
            taken_at: m.taken_at,
            streams: u32::try_from(m.streams).unwrap_or(0),
            merkle_root: m.merkle_root,
            algorithm: m.algorithm,
            public_key: m.public_key,
            signature: m.signature,
            heads: decode_heads(&m.heads)
                .into_iter()
                .map(|h| CheckpointHead {
                    stream: h.stream,
                    seq: h.seq,
                    hash: h.hash,
                })
                .collect(),
        }
    }
}

/// A checkpoint without its heads.
#[derive(Debug, Clone, Object)]
pub struct CheckpointSummary {
    pub id: Uuid,
    pub taken_at: String,
    pub streams: u32,
    pub merkle_root: String,
    pub signature: String,
}

/// The newest checkpoints.
#[derive(Debug, Clone, Object)]
pub struct CheckpointList {
    pub items: Vec<CheckpointSummary>,
}

/// The key checkpoints are signed with.
#[derive(Debug, Clone, Object)]
pub struct SigningKey {
    /// `ed25519`.
    pub algorithm: String,
    /// The public key (hex, 32 bytes).
    pub public_key: String,
}

/// One thing found when checking the history against a checkpoint.
#[derive(Debug, Clone, Object)]
pub struct CheckpointProblem {
    /// The chain it is about.
    pub stream: String,
    /// `stream_missing`, `shortened`, `rewritten`, or why the chain itself breaks (`gap`,
    /// `hash_mismatch`, `truncated`…).
    pub code: String,
    /// What a person reads.
    pub message: String,
}

/// The result of checking the stored history against a kept checkpoint.
#[derive(Debug, Clone, Object)]
pub struct CheckpointVerification {
    /// Authentic checkpoint, and the history extends it unchanged.
    pub valid: bool,
    /// The signature matches the checkpoint's content and public key.
    pub signature_valid: bool,
    /// The public key is the one the service signs with now.
    pub key_is_current: bool,
    /// The heads hash to the Merkle root given.
    pub root_valid: bool,
    pub streams_checked: u64,
    /// A summary a person reads.
    pub message: String,
    pub problems: Vec<CheckpointProblem>,
}

pub struct CheckpointsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Events")]
impl CheckpointsApi {
    /// List the newest checkpoints
    ///
    /// Signed checkpoints of the event log, newest first (one a day, and any the operator
    /// took). Public: anyone may keep them.
    #[oai(
        path = "/checkpoints",
        method = "get",
        operation_id = "list_checkpoints"
    )]
    async fn list_checkpoints(
        &self,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CheckpointList>> {
        let rows = recent(&self.state.db, u64::from(limit.0.unwrap_or(30))).await?;
        Ok(Json(CheckpointList {
            items: rows
                .into_iter()
                .map(|m| CheckpointSummary {
                    id: m.id,
                    taken_at: m.taken_at,
                    streams: u32::try_from(m.streams).unwrap_or(0),
                    merkle_root: m.merkle_root,
                    signature: m.signature,
                })
                .collect(),
        }))
    }

    /// The newest checkpoint, to keep
    ///
    /// The whole signed document (every stream's head), as `reemploi checkpoint export` writes
    /// it. 404 before the first checkpoint.
    #[oai(
        path = "/checkpoints/latest",
        method = "get",
        operation_id = "get_latest_checkpoint"
    )]
    async fn get_latest_checkpoint(&self) -> ApiResult<Json<CheckpointDocument>> {
        let m = latest(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        Ok(Json(m.into()))
    }

    /// The key checkpoints are signed with
    ///
    /// The service's Ed25519 public key. Compare it with the one published out of band (the
    /// operator's site, a registry) before trusting a checkpoint.
    #[oai(
        path = "/checkpoints/key",
        method = "get",
        operation_id = "get_checkpoint_key"
    )]
    async fn get_checkpoint_key(&self) -> ApiResult<Json<SigningKey>> {
        Ok(Json(SigningKey {
            algorithm: signing::ALGORITHM.to_owned(),
            public_key: self.state.signer.public_key_hex().to_owned(),
        }))
    }

    /// One checkpoint, to keep
    ///
    /// The whole signed document of a checkpoint.
    #[oai(
        path = "/checkpoints/:id",
        method = "get",
        operation_id = "get_checkpoint"
    )]
    async fn get_checkpoint(&self, id: Path<Uuid>) -> ApiResult<Json<CheckpointDocument>> {
        use sea_orm::EntityTrait;
        let m = checkpoint::Entity::find_by_id(id.0)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        Ok(Json(m.into()))
    }

    /// Take a checkpoint now (operator)
    ///
    /// Signs every stream's head now, besides the daily checkpoint the worker takes.
    #[oai(
        path = "/checkpoints",
        method = "post",
        operation_id = "take_checkpoint"
    )]
    async fn take_checkpoint(&self, auth: BearerAuth) -> ApiResult<Created<CheckpointDocument>> {
        auth.0.authorize("take_checkpoint", None)?;
        let m = cmd::take(&self.state.db, &self.state.signer, auth.0.actor_ref()).await?;
        let location = format!("/v1/checkpoints/{}", m.id);
        Ok(Created::Created(Json(m.into()), location))
    }

    /// Check the history against a kept checkpoint
    ///
    /// Give back a checkpoint document kept earlier: checks its signature and Merkle root, then
    /// that every stream it names still holds the event it recorded, with the same hash, and
    /// still verifies. A chain deleted, shortened or rewritten since (even consistently,
    /// heads included) shows, with a sentence a person reads (French by default, English with
    /// `Accept-Language: en`). Reads only.
    #[oai(
        path = "/checkpoints/verify",
        method = "post",
        operation_id = "verify_checkpoint"
    )]
    async fn verify_checkpoint(
        &self,
        req: &poem::Request,
        body: Json<CheckpointDocument>,
    ) -> ApiResult<Json<CheckpointVerification>> {
        let lang = Lang::from_accept_language(req.header("accept-language"));
        // A document that is not one (a date that is not a date) is bad input, not a
        // checkpoint that fails to verify.
        if chrono::DateTime::parse_from_rfc3339(&body.0.taken_at).is_err() {
            return Err(ApiError::field(
                "taken_at",
                reemploi_domain::Invalid::InvalidFormat,
            ));
        }
        let kept = body.0.kept();
        let c = cmd::check(&self.state.db, &self.state.signer, &kept).await?;
        Ok(Json(verification(&kept, &c, lang)))
    }
}

impl CheckpointDocument {
    /// What the check compares.
    pub fn kept(self) -> KeptCheckpoint {
        let d = self;
        KeptCheckpoint {
            id: d.id,
            taken_at: d.taken_at,
            merkle_root: d.merkle_root,
            public_key: d.public_key,
            signature: d.signature,
            heads: d
                .heads
                .into_iter()
                .map(|h| StreamHead {
                    stream: h.stream,
                    seq: h.seq,
                    hash: h.hash,
                })
                .collect(),
        }
    }
}

/// The answer for a check, shared with the CLI.
pub fn verification(
    kept: &KeptCheckpoint,
    c: &cmd::CheckpointCheck,
    lang: Lang,
) -> CheckpointVerification {
    let fr = matches!(lang, Lang::Fr);
    let problems: Vec<CheckpointProblem> = c
        .findings
        .iter()
        .map(|f| CheckpointProblem {
            stream: f.stream().to_owned(),
            code: f.code().to_owned(),
            message: if fr {
                f.message_fr(&kept.taken_at)
            } else {
                f.message_en(&kept.taken_at)
            },
        })
        .collect();
    let message = match (c.signature_valid, c.root_valid, problems.len()) {
        (false, _, _) if fr => "La signature de ce point de contrôle n'est pas valide : il n'a pas été émis par le service, ou il a été modifié.".to_owned(),
        (false, _, _) => "This checkpoint's signature is not valid: the service did not issue it, or it was changed.".to_owned(),
        (true, false, _) if fr => "Les têtes de ce point de contrôle ne donnent pas sa racine de Merkle : il a été modifié.".to_owned(),
        (true, false, _) => "This checkpoint's heads do not hash to its Merkle root: it was changed.".to_owned(),
        (true, true, 0) if fr => format!("L'historique actuel prolonge sans modification le point de contrôle du {} ({} historiques vérifiés).", kept.taken_at, c.streams_checked),
        (true, true, 0) => format!("The current history extends the checkpoint of {} unchanged ({} histories checked).", kept.taken_at, c.streams_checked),
        (true, true, n) if fr => format!("L'historique a été altéré depuis le point de contrôle du {} : {n} historique(s) en cause.", kept.taken_at),
        (true, true, n) => format!("The history was altered since the checkpoint of {}: {n} history(ies) affected.", kept.taken_at),
    };
    CheckpointVerification {
        valid: c.valid(),
        signature_valid: c.signature_valid,
        key_is_current: c.key_is_current,
        root_valid: c.root_valid,
        streams_checked: c.streams_checked as u64,
        message,
        problems,
    }
}
