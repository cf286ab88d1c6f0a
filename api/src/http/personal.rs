//! A person's rights over their data: the export of everything held about the caller, and
//! erasure, by the caller or by the operator (`docs/personal-data.md`).

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::access::BearerAuth;
use super::types::ApiTags;
use crate::commands::personal::{self as cmd, ErasedBy, Erasure};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The account as stored.
#[derive(Debug, Clone, Object)]
pub struct ExportAccount {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A membership, with its organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportMembership {
    pub organisation_id: Uuid,
    pub organisation_name: Option<String>,
    pub organisation_kind: Option<String>,
    pub role: String,
    pub since: String,
}

/// A sign-in session (its secret is never stored in clear, nor exported).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportSession {
    pub id: Uuid,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// A record naming the person that events refer to (`person/<id>`): as a signatory, an
/// invitee…
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportPerson {
    /// The reference written in events.
    pub reference: String,
    pub organisation_id: Option<Uuid>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub recorded_at: String,
}

/// A signature the person gave for an organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportSignature {
    pub document_id: Option<Uuid>,
    pub organisation_id: Uuid,
    pub signer_name: String,
    pub signer_role: String,
    pub signed_at: String,
}

/// A workshop record the person entered (a wipe, a refurbishment).
#[derive(Debug, Clone, Object)]
pub struct ExportWorkshopRecord {
    /// `sanitisation` or `refurbishment`.
    pub record_type: String,
    pub id: Uuid,
    pub item_id: Uuid,
    pub organisation_id: Uuid,
    /// The operator or technician named on it.
    pub operator_name: String,
    pub created_at: String,
}

/// An action recorded in the person's name (an event of the audit log).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportAction {
    pub event_id: Uuid,
    pub stream: String,
    pub seq: i64,
    pub kind: String,
    /// What it means, in French.
    pub label: String,
    pub organisation_id: Option<Uuid>,
    pub occurred_at: String,
    pub payload: serde_json::Value,
}

/// Everything the service holds about the caller (RGPD art. 15 and 20).
#[derive(Debug, Clone, Object)]
pub struct PersonalDataExport {
    pub generated_at: String,
    pub account: ExportAccount,
    pub memberships: Vec<ExportMembership>,
    pub sessions: Vec<ExportSession>,
    pub people: Vec<ExportPerson>,
    pub signatures: Vec<ExportSignature>,
    pub workshop_records: Vec<ExportWorkshopRecord>,
    pub actions: Vec<ExportAction>,
}

/// What an erasure changed.
#[derive(Debug, Clone, Object)]
pub struct ErasureResponse {
    pub user_id: Uuid,
    /// Memberships ended.
    pub memberships: u64,
    /// Sessions ended.
    pub sessions: u64,
    /// Person records blanked.
    pub person_records: u64,
    /// Other rows whose text named the person, blanked.
    pub rows: u64,
    /// Signatures on acts of a public body that keep the name (`docs/personal-data.md`).
    pub kept_signatures: u64,
}

impl ErasureResponse {
    fn of(user_id: Uuid, e: Erasure) -> Self {
        Self {
            user_id,
            memberships: e.memberships as u64,
            sessions: e.sessions as u64,
            person_records: e.person_records as u64,
            rows: e.rows as u64,
            kept_signatures: e.kept_signatures as u64,
        }
    }
}

/// `DELETE /v1/me`, declared in [`super::accounts`] beside `GET /v1/me` (one path, one
/// `#[OpenApi]` impl).
pub async fn erase_me(state: &AppState, auth: &BearerAuth) -> ApiResult<ErasureResponse> {
    auth.0.authorize("erase_me", None)?;
    let user_id = auth.0.user_id().ok_or_else(ApiError::forbidden)?;
    let e = cmd::erase(state, auth.0.actor_ref(), user_id, ErasedBy::Themselves).await?;
    Ok(ErasureResponse::of(user_id, e))
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub struct PersonalDataApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Accounts")]
impl PersonalDataApi {
    /// Export my personal data
    ///
    /// Everything the service holds about the signed-in user, as JSON: the account, its
    /// memberships, its sessions (without their secrets), the records that name it (signatures,
    /// workshop records, person records that events refer to) and every action recorded in its
    /// name. A user's sign-in only (not an API key).
    #[oai(path = "/me/export", method = "get", operation_id = "export_me")]
    async fn export_me(&self, auth: BearerAuth) -> ApiResult<Json<PersonalDataExport>> {
        auth.0.authorize("export_me", None)?;
        let user_id = auth.0.user_id().ok_or_else(ApiError::forbidden)?;
        let x = cmd::export(&self.state, user_id).await?;
        let mut workshop_records: Vec<ExportWorkshopRecord> = x
            .sanitisations
            .into_iter()
            .map(|r| ExportWorkshopRecord {
                record_type: "sanitisation".to_owned(),
                id: r.id,
                item_id: r.item_id,
                organisation_id: r.organisation_id,
                operator_name: r.operator_name,
                created_at: time(r.created_at),
            })
            .collect();
        workshop_records.extend(x.refurbishments.into_iter().map(|r| ExportWorkshopRecord {
            record_type: "refurbishment".to_owned(),
            id: r.id,
            item_id: r.item_id,
            organisation_id: r.organisation_id,
            operator_name: r.technician_name,
            created_at: time(r.created_at),
        }));
        Ok(Json(PersonalDataExport {
            generated_at: time(crate::store::now()),
            account: ExportAccount {
                id: x.user.id,
                email: x.user.email,
                display_name: x.user.display_name,
                created_at: time(x.user.created_at),
                updated_at: time(x.user.updated_at),
            },
            memberships: x
                .memberships
                .into_iter()
                .map(|(m, o)| ExportMembership {
                    organisation_id: m.organisation_id,
                    organisation_name: o.as_ref().map(|o| o.name.clone()),
                    organisation_kind: o.map(|o| o.kind),
                    role: m.role,
                    since: time(m.created_at),
                })
                .collect(),
            sessions: x
                .sessions
                .into_iter()
                .map(|s| ExportSession {
                    id: s.id,
                    created_at: time(s.created_at),
                    expires_at: time(s.expires_at),
                    revoked_at: s.revoked_at.map(time),
                })
                .collect(),
            people: x
                .people
                .into_iter()
                .map(|p| ExportPerson {
                    reference: crate::store::people::reference(p.id),
                    organisation_id: p.organisation_id,
                    name: p.name,
                    email: p.email,
                    recorded_at: time(p.created_at),
                })
                .collect(),
            signatures: x
                .signatures
                .into_iter()
                .map(|s| ExportSignature {
                    document_id: s.document_id,
                    organisation_id: s.organisation_id,
                    signer_name: s.signer_name,
                    signer_role: s.signer_role,
                    signed_at: time(s.signed_at),
                })
                .collect(),
            workshop_records,
            actions: x
                .actions
                .into_iter()
                .map(|e| ExportAction {
                    label: reemploi_domain::labels::event_label_or_default(&e.kind)
                        .fr
                        .to_owned(),
                    payload: serde_json::from_str(&e.payload)
                        .unwrap_or(serde_json::Value::String(e.payload.clone())),
                    event_id: e.id,
                    stream: e.stream,
                    seq: e.seq,
                    kind: e.kind,
                    organisation_id: e.organisation_id,
                    occurred_at: e.occurred_at,
                })
                .collect(),
        }))
    }

    /// Erase a user's personal data (operator)
    ///
    /// The same erasure as `DELETE /v1/me`, done by the platform operator (a request received
    /// by other means, or an account left unused). 409 when already erased.
    #[oai(path = "/users/:id", method = "delete", operation_id = "erase_user")]
    async fn erase_user(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ErasureResponse>> {
        auth.0.authorize("erase_user", None)?;
        let e = cmd::erase(&self.state, auth.0.actor_ref(), id.0, ErasedBy::Operator).await?;
        Ok(Json(ErasureResponse::of(id.0, e)))
    }
}
