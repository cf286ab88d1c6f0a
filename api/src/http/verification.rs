//! An organisation's verification with evidence: its checklist and where each item stands, the
//! PDFs it uploads as proofs, and the operator's decision on each item.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::organisation::{self as org_dom, BeneficiaryCategory as DomCategory};
use reemploi_domain::verification::{self as dom, ItemState};
use uuid::Uuid;

use super::access::BearerAuth;
use super::documents::{PdfFile, PdfUpload};
use super::types::{ApiTags, BeneficiaryCategory, Created, Str, VerificationStatus, mirror_enum};
use crate::commands::{self, By};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::{organisation, verification_document};
use crate::store::organisations::find_organisation;
use crate::store::verification as q;

mirror_enum!(
    /// An item of the verification checklist.
    VerificationItem <=> dom::CheckItem {
        Identifier, PublicBodyType, EsusAccreditation, Statutes, BeneficiaryCategory, PublicUtility
    }
);
mirror_enum!(
    /// The operator's finding on an item.
    VerificationOutcome <=> dom::Outcome { Accepted, Refused }
);

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum VerificationItemState {
    /// Not decided for the value claimed now (never decided, or the value changed since).
    Pending,
    Accepted,
    Refused,
    /// Accepted, but its validity ended: the right it grants is suspended.
    Expired,
}

impl From<ItemState> for VerificationItemState {
    fn from(s: ItemState) -> Self {
        match s {
            ItemState::Pending => Self::Pending,
            ItemState::Accepted { .. } => Self::Accepted,
            ItemState::Refused => Self::Refused,
            ItemState::Expired { .. } => Self::Expired,
        }
    }
}

/// A proof uploaded by the organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationDocumentResponse {
    pub id: Uuid,
    pub item: VerificationItem,
    pub file_name: Option<String>,
    /// SHA-256 of the file, hexadecimal.
    pub sha256: String,
    pub bytes: i64,
    pub uploaded_at: DateTime<Utc>,
}

impl From<verification_document::Model> for VerificationDocumentResponse {
    fn from(d: verification_document::Model) -> Self {
        Self {
            id: d.id,
            item: dom::CheckItem::parse(&d.item)
                .unwrap_or(dom::CheckItem::Identifier)
                .into(),
            file_name: d.file_name,
            sha256: d.sha256,
            bytes: d.bytes,
            uploaded_at: d.uploaded_at,
        }
    }
}

/// The latest decision on an item.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationDecisionResponse {
    pub outcome: VerificationOutcome,
    pub reason: Option<String>,
    pub decided_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    /// False when the organisation changed the value since: the decision no longer applies.
    pub applies: bool,
}

/// One item of the checklist.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationItemResponse {
    pub item: VerificationItem,
    /// What is to be proven (French).
    pub label: String,
    /// The proof the operator expects (French).
    pub proof_expected: String,
    /// Whether the organisation is verified only once this item is accepted.
    pub conditions_verification: bool,
    pub state: VerificationItemState,
    /// Until when an accepted (or expired) proof holds.
    pub valid_until: Option<NaiveDate>,
    pub decision: Option<VerificationDecisionResponse>,
    pub documents: Vec<VerificationDocumentResponse>,
}

/// An organisation's verification: the sum of the operator's decisions.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationResponse {
    pub organisation_id: Uuid,
    pub status: VerificationStatus,
    /// Associations: the category cessions use — only a proven one (`other` when none is).
    pub proven_category: Option<BeneficiaryCategory>,
    pub items: Vec<VerificationItemResponse>,
}

/// The operator's decision on one item.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DecideVerificationRequest {
    pub item: VerificationItem,
    pub outcome: VerificationOutcome,
    /// Why (required on a refusal; read by the organisation).
    #[oai(validator(max_length = 1000))]
    pub reason: Option<Str>,
    /// The day of the finding (default today; never in the future).
    pub decided_on: Option<NaiveDate>,
    /// Until when the proof holds: required to accept the ESUS accreditation (from the
    /// prefecture decision), refused for evidence that does not expire.
    pub expires_on: Option<NaiveDate>,
}

async fn view(state: &AppState, o: &organisation::Model) -> ApiResult<VerificationResponse> {
    let today = state.settings.today();
    let items = q::items(&state.db, o, today).await?;
    let docs = q::documents(&state.db, o.id).await?;
    let declared = o
        .beneficiary_category
        .as_deref()
        .and_then(DomCategory::parse);
    let proven = (o.kind == org_dom::OrganisationKind::Association.as_str())
        .then(|| dom::proven_category(declared, &q::states(&items)).into());
    let items = items
        .into_iter()
        .map(|i| {
            let valid_until = match i.state {
                ItemState::Accepted { expires_on } => expires_on,
                ItemState::Expired { on } => Some(on),
                ItemState::Pending | ItemState::Refused => None,
            };
            let decision = i.latest.as_ref().and_then(|d| {
                Some(VerificationDecisionResponse {
                    outcome: dom::Outcome::parse(&d.outcome)?.into(),
                    reason: d.reason.clone(),
                    decided_on: d.decided_on,
                    expires_on: d.expires_on,
                    applies: d.subject == i.claimed.subject,
                })
            });
            VerificationItemResponse {
                item: i.claimed.item.into(),
                label: i.claimed.item.label_fr().to_owned(),
                proof_expected: dom::proof_fr(i.claimed.item, declared).to_owned(),
                conditions_verification: i.claimed.item.conditions_identity(),
                state: i.state.into(),
                valid_until,
                decision,
                documents: docs
                    .iter()
                    .filter(|d| d.item == i.claimed.item.as_str())
                    .cloned()
                    .map(Into::into)
                    .collect(),
            }
        })
        .collect();
    Ok(VerificationResponse {
        organisation_id: o.id,
        status: org_dom::VerificationStatus::parse(&o.status)
            .unwrap_or(org_dom::VerificationStatus::Pending)
            .into(),
        proven_category: proven,
        items,
    })
}

pub struct VerificationApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Organisations")]
impl VerificationApi {
    /// Read an organisation's verification
    ///
    /// The checklist of its kind (public body: SIRET and type; refurbisher: SIRET and ESUS
    /// accreditation; association: RNA or SIRET, statutes, and each claimed beneficiary category),
    /// where each item stands, the operator's latest decision, and the proofs uploaded. Members
    /// and the operator read it. Eligibility uses only accepted items: `proven_category`.
    #[oai(
        path = "/organisations/:id/verification",
        method = "get",
        operation_id = "get_verification"
    )]
    async fn get_verification(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<VerificationResponse>> {
        auth.0.authorize("get_verification", Some(id.0))?;
        let o = find_organisation(&self.state.db, id.0).await?;
        Ok(Json(view(&self.state, &o).await?))
    }

    /// Upload a proof (PDF)
    ///
    /// An admin uploads a PDF (at most 10 MiB) as proof of one item of the checklist: the body
    /// is the file, `item` names the item, `file_name` is kept for the operator. Stored with its
    /// SHA-256. 415 when the file is not a PDF, 413 when too large, 422 when the item is not on
    /// the organisation's checklist.
    #[oai(
        path = "/organisations/:id/verification/documents",
        method = "post",
        operation_id = "upload_verification_document"
    )]
    async fn upload_verification_document(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        item: Query<VerificationItem>,
        #[oai(validator(max_length = 200))] file_name: Query<Option<String>>,
        body: PdfUpload,
    ) -> ApiResult<Created<VerificationDocumentResponse>> {
        let actor = auth
            .0
            .authorize("upload_verification_document", Some(id.0))?;
        let by = commands::organisations::by_member(&auth.0, id.0, actor);
        let file_name = file_name
            .0
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty());
        let d = commands::verification::upload_document(
            &self.state,
            &by,
            id.0,
            item.0.into(),
            file_name,
            body.into_bytes(),
        )
        .await?;
        let location = format!("/v1/organisations/{}/verification/documents/{}", id.0, d.id);
        Ok(Created::Created(Json(d.into()), location))
    }

    /// Download a proof
    #[oai(
        path = "/organisations/:id/verification/documents/:document_id",
        method = "get",
        operation_id = "get_verification_document"
    )]
    async fn get_verification_document(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        document_id: Path<Uuid>,
    ) -> ApiResult<PdfFile> {
        auth.0.authorize("get_verification_document", Some(id.0))?;
        let d = q::documents(&self.state.db, id.0)
            .await?
            .into_iter()
            .find(|d| d.id == document_id.0)
            .ok_or_else(ApiError::not_found)?;
        let bytes = self
            .state
            .blobs
            .get(&d.blob_key)
            .await
            .map_err(super::photos::blob_error)?;
        Ok(PdfFile::Ok(
            Binary(bytes),
            format!("inline; filename=\"preuve-{}.pdf\"", d.id),
        ))
    }

    /// Decide on an item (operator)
    ///
    /// The operator records its finding on one item, about the value the organisation claims
    /// now: accepted or refused (a refusal needs its reason), the day of the finding, and for the
    /// ESUS accreditation its expiry. The organisation is verified once every item that
    /// conditions its verification is accepted; a category or the ESUS accreditation grants its
    /// right only while accepted. Answers the verification.
    #[oai(
        path = "/organisations/:id/verification/decisions",
        method = "post",
        operation_id = "decide_verification_item"
    )]
    async fn decide_verification_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<DecideVerificationRequest>,
    ) -> ApiResult<Json<VerificationResponse>> {
        let actor = auth.0.authorize("decide_verification_item", None)?;
        let by = By {
            actor,
            actor_ref: auth.0.actor_ref(),
            organisation_id: id.0,
        };
        let input = dom::DecisionInput {
            item: body.0.item.into(),
            outcome: body.0.outcome.into(),
            reason: body.0.reason.as_deref().map(str::to_owned),
            decided_on: body.0.decided_on.unwrap_or(self.state.settings.today()),
            expires_on: body.0.expires_on,
        };
        let o = commands::verification::decide(&self.state, &by, id.0, input).await?;
        Ok(Json(view(&self.state, &o).await?))
    }
}
