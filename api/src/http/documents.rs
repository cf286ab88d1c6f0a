//! Documents over HTTP: lists per lot, reservation and device, generation on demand, the PDF,
//! electronic signatures and signed scans, the deciding act of a lot, and public verification.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiRequest, ApiResponse, Enum, Object, OpenApi};
use reemploi_domain::Invalid;
use reemploi_domain::text::{Name, Text};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::access::BearerAuth;
use super::photos::blob_error;
use super::types::{ApiTags, Created};
use crate::commands::By;
use crate::commands::documents as commands;
use crate::documents::{self, Kind, Method, Party, Subject};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::documents as docs;
use crate::store::entities::{document, lot};

/// A kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
///
/// Who signs each kind (each party by an admin of its own organisation, electronically or by
/// attesting the scan of the signed paper copy); `signed` is true exactly when every party
/// signed the version's edition:
/// - `convention_cession`: the public body (cédant) and the beneficiary, the refurbisher (lot,
///   `to_refurbisher` mode) or the association (reservation, `service` mode);
/// - `pv_enlevement`: the public body and the refurbisher; the one that records the collection
///   signs by recording it (as an admin), the other confirms (`sign_document`) or contests;
/// - `pv_remise`: the refurbisher, by recording the handover (as an admin), and the association,
///   which confirms (`sign_document`) or contests;
/// - `attestation_don`, `certificat_effacement`: the refurbisher;
/// - `certificat_sortie`, `projet_deliberation`: the public body.
pub enum DocumentKind {
    /// Signed by the public body (cédant) and the beneficiary: the refurbisher (lot, to
    /// refurbisher mode) or the association (reservation, service mode).
    ConventionCession,
    /// Signed by the public body and the refurbisher: the one that records the collection signs
    /// by recording it (as an admin), the other confirms (`sign_document`) or contests.
    PvEnlevement,
    /// Signed by the refurbisher and the association: the refurbisher signs by recording the
    /// handover (as an admin), the association confirms (`sign_document`) or contests.
    PvRemise,
    /// Signed by the refurbisher.
    CertificatEffacement,
    /// Signed by the public body (l'ordonnateur).
    CertificatSortie,
    /// Signed by the refurbisher (the donor).
    AttestationDon,
    /// Signed by the public body (a draft for its own act).
    ProjetDeliberation,
}

impl From<DocumentKind> for Kind {
    fn from(k: DocumentKind) -> Kind {
        match k {
            DocumentKind::ConventionCession => Kind::ConventionCession,
            DocumentKind::PvEnlevement => Kind::PvEnlevement,
            DocumentKind::PvRemise => Kind::PvRemise,
            DocumentKind::CertificatEffacement => Kind::CertificatEffacement,
            DocumentKind::CertificatSortie => Kind::CertificatSortie,
            DocumentKind::AttestationDon => Kind::AttestationDon,
            DocumentKind::ProjetDeliberation => Kind::ProjetDeliberation,
        }
    }
}

impl From<Kind> for DocumentKind {
    fn from(k: Kind) -> DocumentKind {
        match k {
            Kind::ConventionCession => DocumentKind::ConventionCession,
            Kind::PvEnlevement => DocumentKind::PvEnlevement,
            Kind::PvRemise => DocumentKind::PvRemise,
            Kind::CertificatEffacement => DocumentKind::CertificatEffacement,
            Kind::CertificatSortie => DocumentKind::CertificatSortie,
            Kind::AttestationDon => DocumentKind::AttestationDon,
            Kind::ProjetDeliberation => DocumentKind::ProjetDeliberation,
        }
    }
}

/// How a party signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SignatureMethod {
    /// From the party's own account on Réemploi.
    Electronic,
    /// By hand on the paper copy, whose uploaded scan the party's admin attested.
    PaperScan,
    /// By recording the collection or handover (the recorder's own signature).
    AtHandover,
}

/// A party to a document and where it stands on this version's edition.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DocumentParty {
    pub organisation_id: Uuid,
    pub name: String,
    /// How the party signs («Pour le cédant»).
    pub role: String,
    /// This party signed this version's edition (its own act: name and role typed by its signer).
    pub signed: bool,
    pub signer_name: Option<String>,
    pub signer_role: Option<String>,
    /// When it signed (a signature at handover carries its day in `signed_on`).
    pub signed_at: Option<DateTime<Utc>>,
    /// The date of the signature as printed.
    pub signed_on: Option<String>,
    pub method: Option<SignatureMethod>,
    /// This party contested this edition instead of signing it.
    pub contested: bool,
    pub contest_reason: Option<String>,
    pub contested_at: Option<DateTime<Utc>>,
}

/// The scan of the signed paper copy kept beside a version. It counts as a party's signature
/// only once an admin of that party attests it.
#[derive(Debug, Clone, Object)]
pub struct SignedScan {
    pub sha256: String,
    /// «Copie papier signée, déposée par … le …».
    pub label: String,
    pub uploaded_by_organisation_id: Option<Uuid>,
    pub uploaded_at: Option<DateTime<Utc>>,
    /// The parties whose admin attested it as their signature.
    pub attested_by: Vec<Uuid>,
}

/// One version of a series, in a list.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DocumentVersion {
    pub id: Uuid,
    pub version: i32,
    pub edition: i32,
    pub code: String,
    pub signed: bool,
    pub current: bool,
    /// Why it was issued.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A document (one version).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DocumentResponse {
    pub id: Uuid,
    pub series_id: Uuid,
    pub version: i32,
    pub kind: DocumentKind,
    pub title: String,
    /// Printed with a QR code on every page; `GET /v1/verify/{code}` answers publicly.
    /// `verify_url` is the page people open (`/v/{code}`, HTML).
    pub code: String,
    pub verify_url: String,
    pub sha256: String,
    pub bytes: i64,
    pub lot_id: Option<Uuid>,
    pub reservation_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub handover_id: Option<Uuid>,
    pub parties: Vec<DocumentParty>,
    /// Exactly: every party signed this version's edition (see `DocumentKind` for who signs).
    /// A scan alone signs nothing.
    pub signed: bool,
    /// The content signed: versions of one edition differ only by the signatures they print,
    /// and share the signatures given on any of them. A changed content is a new edition that
    /// starts unsigned.
    pub edition: i32,
    /// This is the newest version of its series.
    pub current: bool,
    /// Why this version was issued (a change of content, or a signature to print).
    pub reason: Option<String>,
    /// SHA-256 of the uploaded scan of the signed paper copy.
    pub scan_sha256: Option<String>,
    pub scan: Option<SignedScan>,
    /// The newest version of the series when this one is superseded.
    pub superseded_by: Option<Uuid>,
    /// Why: the reason of the version that followed this one.
    pub superseded_reason: Option<String>,
    /// In lists: every version of the series, oldest first, saying which is current and which
    /// is signed.
    pub versions: Option<Vec<DocumentVersion>>,
    pub created_at: DateTime<Utc>,
}

/// Documents.
#[derive(Debug, Clone, Object)]
pub struct DocumentList {
    pub items: Vec<DocumentResponse>,
}

/// Generate a document now.
#[derive(Debug, Clone, Object)]
pub struct GenerateRequest {
    pub kind: DocumentKind,
}

/// A party's contest of a document's edition.
#[derive(Debug, Clone, Object)]
pub struct ContestRequest {
    /// The party contesting, when the caller belongs to several.
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    /// Why (shown to every party, and printed on the next version's signature block).
    #[oai(validator(max_length = 2000))]
    pub reason: String,
}

/// An electronic signature by an authorised member of a party (also: its attestation of the
/// signed paper copy). Name and role are the signer's own, typed by the signer.
#[derive(Debug, Clone, Object)]
pub struct SignatureRequest {
    /// The party signing, when the caller belongs to several.
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    #[oai(validator(max_length = 200))]
    pub signer_name: String,
    #[oai(validator(max_length = 200))]
    pub signer_role: String,
}

/// Kind of deciding act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Délibération of the council.
    Deliberation,
    /// Décision of the executive by delegation (CGCT L2122-22 10°).
    Decision,
}

/// The act by which the public body decided the cession, printed on the documents.
#[derive(Debug, Clone, Object)]
pub struct DecisionRequest {
    pub kind: DecisionKind,
    #[oai(validator(max_length = 60))]
    pub reference: String,
    pub date: NaiveDate,
}

/// What anyone learns from a verification code.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Verification {
    pub code: String,
    pub kind: DocumentKind,
    pub title: String,
    pub version: i32,
    /// The organisations party to it (no person is named).
    pub parties: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub sha256: String,
    /// Every party signed this version's edition.
    pub signed: bool,
    /// The organisations that signed it, and those that contested it.
    pub signed_by: Vec<String>,
    pub contested_by: Vec<String>,
    /// This is the newest version of its series.
    pub current: bool,
    /// When a newer version exists, its code, and why it was issued.
    pub superseded_by_code: Option<String>,
    pub superseded_reason: Option<String>,
    /// «Copie papier signée, déposée par …», when a scan was uploaded.
    pub scan: Option<String>,
}

/// Whether an uploaded file is the genuine document.
#[derive(Debug, Clone, Object)]
pub struct VerificationResult {
    pub code: String,
    /// The file's bytes are exactly those of the document (or of its signed scan).
    pub genuine: bool,
    pub sha256: String,
    pub expected_sha256: String,
}

/// Largest PDF accepted (a signed scan, or a document to verify).
pub const MAX_PDF_BYTES: usize = 25 * 1024 * 1024;

/// A PDF file.
#[derive(ApiRequest)]
pub enum PdfUpload {
    #[oai(content_type = "application/pdf")]
    Pdf(Binary<Vec<u8>>),
    /// The same bytes, from clients that do not name the type.
    #[oai(content_type = "application/octet-stream")]
    Octets(Binary<Vec<u8>>),
}

impl PdfUpload {
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        match self {
            PdfUpload::Pdf(Binary(b)) | PdfUpload::Octets(Binary(b)) => b,
        }
    }
}

/// A PDF.
#[derive(ApiResponse)]
pub enum PdfFile {
    /// The document.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

async fn response(state: &AppState, d: document::Model) -> ApiResult<DocumentResponse> {
    let db = &state.db;
    let (states, signed) = documents::edition_state(db, &d)
        .await
        .map_err(commands::doc_error)?;
    let out: Vec<DocumentParty> = states
        .iter()
        .map(|p| DocumentParty {
            organisation_id: p.party.organisation_id,
            name: p.name.clone(),
            role: p.party.role.clone(),
            signed: p.signature.is_some(),
            signer_name: p.signature.as_ref().map(|s| s.signer_name.clone()),
            signer_role: p.signature.as_ref().map(|s| s.signer_role.clone()),
            signed_at: p.signature.as_ref().and_then(|s| s.signed_at),
            signed_on: p.signature.as_ref().map(|s| s.signed_on.clone()),
            method: p.signature.as_ref().map(|s| match s.method {
                Method::Electronic => SignatureMethod::Electronic,
                Method::PaperScan => SignatureMethod::PaperScan,
                Method::AtHandover => SignatureMethod::AtHandover,
            }),
            contested: p.contest.is_some(),
            contest_reason: p.contest.as_ref().map(|c| c.0.clone()),
            contested_at: p.contest.as_ref().map(|c| c.1),
        })
        .collect();
    let versions = docs::versions(db, d.series_id).await?;
    let newest = versions.last().cloned();
    let next = versions.iter().find(|v| v.version == d.version + 1);
    let scan = match &d.scan_sha256 {
        Some(sha) => {
            let by = match d.scan_organisation_id {
                Some(o) => docs::organisation_name(db, o).await?,
                None => String::new(),
            };
            let when = d
                .scan_uploaded_at
                .map(|t| format!(" le {}", t.format("%d/%m/%Y à %H:%M (UTC)")))
                .unwrap_or_default();
            Some(SignedScan {
                sha256: sha.clone(),
                label: format!("Copie papier signée, déposée par {by}{when}"),
                uploaded_by_organisation_id: d.scan_organisation_id,
                uploaded_at: d.scan_uploaded_at,
                attested_by: states
                    .iter()
                    .filter(|p| {
                        p.signature
                            .as_ref()
                            .is_some_and(|s| s.method == Method::PaperScan)
                    })
                    .map(|p| p.party.organisation_id)
                    .collect(),
            })
        }
        None => None,
    };
    Ok(DocumentResponse {
        verify_url: format!("{}/v/{}", state.settings.public_url, d.code),
        current: newest.as_ref().is_none_or(|n| n.id == d.id),
        superseded_by: newest.filter(|n| n.id != d.id).map(|n| n.id),
        superseded_reason: next.and_then(|n| n.reason.clone()),
        edition: documents::edition_of(&d),
        reason: d.reason.clone(),
        id: d.id,
        series_id: d.series_id,
        version: d.version,
        kind: Kind::parse(&d.kind)
            .unwrap_or(Kind::ConventionCession)
            .into(),
        title: d.title,
        code: d.code,
        sha256: d.sha256,
        bytes: d.bytes,
        lot_id: d.lot_id,
        reservation_id: d.reservation_id,
        item_id: d.item_id,
        handover_id: d.handover_id,
        parties: out,
        signed,
        scan_sha256: d.scan_sha256,
        scan,
        versions: None,
        created_at: d.created_at,
    })
}

/// The newest version of each series among `docs`, each with the list of its versions.
async fn newest_of(state: &AppState, docs: Vec<document::Model>) -> ApiResult<DocumentList> {
    let mut latest: Vec<document::Model> = Vec::new();
    for d in docs {
        match latest.iter_mut().find(|l| l.series_id == d.series_id) {
            Some(l) if l.version < d.version => *l = d,
            Some(_) => {}
            None => latest.push(d),
        }
    }
    latest.sort_by_key(|d| d.created_at);
    let mut items = Vec::with_capacity(latest.len());
    for d in latest {
        let series = d.series_id;
        let mut r = response(state, d).await?;
        let all = docs::versions(&state.db, series).await?;
        let newest = all.last().map(|n| n.id);
        let mut versions = Vec::with_capacity(all.len());
        for v in all {
            let (_, signed) = documents::edition_state(&state.db, &v)
                .await
                .map_err(commands::doc_error)?;
            versions.push(DocumentVersion {
                id: v.id,
                version: v.version,
                edition: documents::edition_of(&v),
                code: v.code.clone(),
                signed,
                current: Some(v.id) == newest,
                reason: v.reason.clone(),
                created_at: v.created_at,
            });
        }
        r.versions = Some(versions);
        items.push(r);
    }
    Ok(DocumentList { items })
}

async fn lot_parties(state: &AppState, id: Uuid) -> ApiResult<(lot::Model, Vec<Uuid>)> {
    docs::lot_parties(&state.db, id).await
}

async fn find_document(state: &AppState, id: Uuid) -> ApiResult<document::Model> {
    docs::find(&state.db, id).await
}

/// Who may read a document: its parties and the parties of what it is about (an association
/// reads the attestation de don the refurbisher signs).
async fn readers(state: &AppState, d: &document::Model) -> ApiResult<Vec<Uuid>> {
    let mut orgs = document_orgs(d);
    if let Some(h) = d.handover_id {
        orgs.extend(docs::handover_parties(&state.db, h).await?);
    } else if let Some(r) = d.reservation_id
        && let Some(r) = docs::find_reservation(&state.db, r).await?
    {
        orgs.extend([r.association_id, r.refurbisher_id, r.giver_id]);
    } else if let Some(l) = d.lot_id {
        orgs.extend(lot_parties(state, l).await?.1);
    }
    if let Some(i) = d.item_id
        && let Some(m) = docs::find_item(&state.db, i).await?
    {
        orgs.extend(super::items::related_orgs(&m));
    }
    Ok(orgs)
}

fn document_orgs(d: &document::Model) -> Vec<Uuid> {
    serde_json::from_str::<Vec<Party>>(&d.parties)
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.organisation_id)
        .collect()
}

/// Document endpoints.
pub struct DocumentsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Documents")]
impl DocumentsApi {
    /// List a lot's documents
    ///
    /// The newest version of each document about the lot: convention de cession, procès-verbal
    /// d'enlèvement, certificat de sortie d'inventaire, projet de délibération, and the
    /// certificats d'effacement and handover papers of its devices.
    #[oai(
        path = "/lots/:id/documents",
        method = "get",
        operation_id = "list_lot_documents"
    )]
    async fn list_lot_documents(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DocumentList>> {
        let (l, related) = lot_parties(&self.state, id.0).await?;
        auth.0.authorize_related("list_lot_documents", &related)?;
        let found = docs::of_lot(&self.state.db, l.id).await?;
        Ok(Json(newest_of(&self.state, found).await?))
    }

    /// Generate a lot's document
    ///
    /// Makes the current version of a document about the lot now (`convention_cession`,
    /// `pv_enlevement`, `certificat_sortie`, `projet_deliberation`); when its data did not change
    /// since the last version, that version is returned.
    #[oai(
        path = "/lots/:id/documents",
        method = "post",
        operation_id = "generate_lot_document"
    )]
    async fn generate_lot_document(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<GenerateRequest>,
    ) -> ApiResult<Created<DocumentResponse>> {
        let (l, related) = lot_parties(&self.state, id.0).await?;
        let acting = auth
            .0
            .authorize_related("generate_lot_document", &related)?
            .ok_or_else(ApiError::forbidden)?;
        // A kind that is never about a lot is a bad request (422), not a state (409).
        if !matches!(
            body.0.kind,
            DocumentKind::ConventionCession
                | DocumentKind::PvEnlevement
                | DocumentKind::CertificatSortie
                | DocumentKind::ProjetDeliberation
        ) {
            return Err(ApiError::field("kind", Invalid::InvalidEnum));
        }
        let by = By::acting(&auth.0, &acting);
        let d =
            commands::generate(&self.state, &by, body.0.kind.into(), Subject::Lot(l.id)).await?;
        let location = format!("/v1/documents/{}", d.id);
        Ok(Created::Created(
            Json(response(&self.state, d).await?),
            location,
        ))
    }

    /// The draft délibération as plain text
    ///
    /// The same draft as the `projet_deliberation` PDF, as text the public body pastes into its
    /// own template and adapts.
    #[oai(
        path = "/lots/:id/deliberation",
        method = "get",
        operation_id = "get_deliberation_text"
    )]
    async fn get_deliberation_text(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::PlainText<String>> {
        let (l, related) = lot_parties(&self.state, id.0).await?;
        auth.0
            .authorize_related("get_deliberation_text", &related)?;
        let built = documents::build(
            &self.state.db,
            Kind::ProjetDeliberation,
            Subject::Lot(l.id),
            self.state.settings.today(),
        )
        .await
        .map_err(commands::doc_error)?;
        let d = &built.data;
        let mut out = format!(
            "{}\n\n(Projet à adapter par la collectivité avant son inscription à l'ordre du jour.)\n\n",
            d["heading"].as_str().unwrap_or_default()
        );
        for p in d["paragraphs"].as_array().into_iter().flatten() {
            out.push_str(p.as_str().unwrap_or_default());
            out.push_str("\n\n");
        }
        out.push_str("Équipements cédés (n° d'inventaire — catégorie — marque et modèle — valeur nette comptable) :\n");
        for i in d["items"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "- {} — {} — {} — {}\n",
                i["inventory_number"].as_str().unwrap_or_default(),
                i["category"].as_str().unwrap_or_default(),
                i["brand_model"].as_str().unwrap_or_default(),
                i["net_book_value"].as_str().unwrap_or_default()
            ));
        }
        out.push_str(&format!(
            "\nTotal : {} équipement(s), valeur nette comptable {}.\n",
            d["totals"]["count"],
            d["totals"]["net_book_value"].as_str().unwrap_or_default()
        ));
        Ok(poem_openapi::payload::PlainText(out))
    }

    /// Record the deciding act
    ///
    /// The délibération (or décision by delegation) that decided the cession, printed on the
    /// convention and the certificat de sortie d'inventaire, which are regenerated.
    #[oai(
        path = "/lots/:id/decision",
        method = "put",
        operation_id = "set_lot_decision"
    )]
    async fn set_lot_decision(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<DecisionRequest>,
    ) -> ApiResult<Json<DocumentList>> {
        let (l, _) = lot_parties(&self.state, id.0).await?;
        let acting = auth
            .0
            .authorize_related("set_lot_decision", &[l.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        let reference =
            Text::<60>::parse(&body.0.reference).map_err(|r| ApiError::field("reference", r))?;
        let decision = commands::Decision {
            kind: match body.0.kind {
                DecisionKind::Deliberation => "deliberation",
                DecisionKind::Decision => "decision",
            },
            reference: reference.into_inner(),
            date: body.0.date,
        };
        let by = By::acting(&auth.0, &acting);
        commands::set_lot_decision(&self.state, &by, l.id, decision).await?;
        let found = docs::of_lot(&self.state.db, l.id).await?;
        Ok(Json(newest_of(&self.state, found).await?))
    }

    /// List a reservation's documents
    ///
    /// Procès-verbal de remise, attestation de don (or, in `service` mode, the convention with
    /// the public body and its certificat de sortie d'inventaire).
    #[oai(
        path = "/reservations/:id/documents",
        method = "get",
        operation_id = "list_reservation_documents"
    )]
    async fn list_reservation_documents(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DocumentList>> {
        let r = docs::find_reservation(&self.state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        auth.0.authorize_related(
            "list_reservation_documents",
            &[r.association_id, r.refurbisher_id, r.giver_id],
        )?;
        let mut found = docs::of_reservation(&self.state.db, r.id).await?;
        if let Some(h) = r.handover_id {
            found.extend(docs::of_handover(&self.state.db, h).await?);
        }
        Ok(Json(newest_of(&self.state, found).await?))
    }

    /// List a handover's documents
    ///
    /// Its one procès-verbal de remise and its attestation de don, whatever the number of
    /// reservations it covers.
    #[oai(
        path = "/handovers/:id/documents",
        method = "get",
        operation_id = "list_handover_documents"
    )]
    async fn list_handover_documents(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DocumentList>> {
        let parties = docs::handover_parties(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("list_handover_documents", &parties)?;
        let found = docs::of_handover(&self.state.db, id.0).await?;
        Ok(Json(newest_of(&self.state, found).await?))
    }

    /// List a device's documents
    ///
    /// Its certificat d'effacement des données.
    #[oai(
        path = "/items/:id/documents",
        method = "get",
        operation_id = "list_item_documents"
    )]
    async fn list_item_documents(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DocumentList>> {
        let m = docs::find_item(&self.state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        auth.0
            .authorize_related("list_item_documents", &super::items::related_orgs(&m))?;
        let found = docs::of_item(&self.state.db, m.id).await?;
        Ok(Json(newest_of(&self.state, found).await?))
    }

    /// Read a document
    #[oai(path = "/documents/:id", method = "get", operation_id = "get_document")]
    async fn get_document(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DocumentResponse>> {
        let d = find_document(&self.state, id.0).await?;
        auth.0
            .authorize_related("get_document", &readers(&self.state, &d).await?)?;
        Ok(Json(response(&self.state, d).await?))
    }

    /// Download a document's PDF
    #[oai(
        path = "/documents/:id/pdf",
        method = "get",
        operation_id = "get_document_pdf"
    )]
    async fn get_document_pdf(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<PdfFile> {
        let d = find_document(&self.state, id.0).await?;
        auth.0
            .authorize_related("get_document_pdf", &readers(&self.state, &d).await?)?;
        let bytes = self
            .state
            .blobs
            .get(&d.blob_key)
            .await
            .map_err(blob_error)?;
        Ok(PdfFile::Ok(
            Binary(bytes),
            format!(
                "inline; filename=\"{}-v{}-{}.pdf\"",
                d.kind, d.version, d.code
            ),
        ))
    }

    /// Sign a document electronically
    ///
    /// An admin of a party signs for its own organisation (name and role as typed by the signer,
    /// time and account recorded) the edition of this version, which must be current (409
    /// `document_superseded` otherwise). The version printing the signature is issued (same
    /// edition): the answer. Procès-verbaux too: the party that did not record the collection
    /// or handover confirms it this way. `signed` becomes true once every party signed.
    #[oai(
        path = "/documents/:id/signatures",
        method = "post",
        operation_id = "sign_document"
    )]
    async fn sign_document(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SignatureRequest>,
    ) -> ApiResult<Created<DocumentResponse>> {
        let d = find_document(&self.state, id.0).await?;
        let by = party_acting(&auth, "sign_document", &d, body.0.organisation_id)?;
        let signature = parse_signature(&body.0)?;
        let signed = commands::sign_document(&self.state, &by, &d, signature).await?;
        let location = format!("/v1/documents/{}", signed.id);
        Ok(Created::Created(
            Json(response(&self.state, signed).await?),
            location,
        ))
    }

    /// Upload the signed paper copy
    ///
    /// The human channel: a scan (PDF) of the printed document signed by hand, kept beside the
    /// version with its SHA-256 (verifiable at `/v1/verify/{code}`) and shown as «copie papier
    /// signée, déposée par …». A scan signs nothing by itself: each party's admin attests it
    /// (`attest_signed_scan`), the uploading party included. One scan per version (409 again).
    #[oai(
        path = "/documents/:id/scan",
        method = "post",
        operation_id = "upload_signed_scan"
    )]
    async fn upload_signed_scan(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: PdfUpload,
    ) -> ApiResult<Json<DocumentResponse>> {
        let d = find_document(&self.state, id.0).await?;
        let acting = auth
            .0
            .authorize_related("upload_signed_scan", &readers(&self.state, &d).await?)?
            .ok_or_else(ApiError::forbidden)?;
        let by = By::acting(&auth.0, &acting);
        let d = commands::upload_signed_scan(&self.state, &by, &d, body.into_bytes()).await?;
        Ok(Json(response(&self.state, d).await?))
    }

    /// Contest a document
    ///
    /// An admin of a party refuses to sign the edition of this version (current only), with its
    /// reason: recorded, shown on the document's parties and at verification, and the party
    /// stays unsigned. A party that signed may not contest (409), nor contest twice.
    #[oai(
        path = "/documents/:id/contest",
        method = "post",
        operation_id = "contest_document"
    )]
    async fn contest_document(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ContestRequest>,
    ) -> ApiResult<Json<DocumentResponse>> {
        let d = find_document(&self.state, id.0).await?;
        let by = party_acting(&auth, "contest_document", &d, body.0.organisation_id)?;
        let reason = reemploi_domain::text::LongText::parse(&body.0.reason)
            .map_err(|r| ApiError::field("reason", r))?;
        let d = commands::contest_document(&self.state, &by, d.id, reason.into_inner()).await?;
        Ok(Json(response(&self.state, d).await?))
    }

    /// Attest the signed paper copy
    ///
    /// An admin of a party attests that the uploaded scan of this version bears its signature
    /// (signer's name and role, typed by the signer): from then on it counts as that party's
    /// signature of the edition, and the version printing it is issued (the answer).
    #[oai(
        path = "/documents/:id/scan/attestations",
        method = "post",
        operation_id = "attest_signed_scan"
    )]
    async fn attest_signed_scan(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SignatureRequest>,
    ) -> ApiResult<Created<DocumentResponse>> {
        let d = find_document(&self.state, id.0).await?;
        let by = party_acting(&auth, "attest_signed_scan", &d, body.0.organisation_id)?;
        let signature = parse_signature(&body.0)?;
        let done = commands::attest_signed_scan(&self.state, &by, d.id, signature).await?;
        let location = format!("/v1/documents/{}", done.id);
        Ok(Created::Created(
            Json(response(&self.state, done).await?),
            location,
        ))
    }

    /// Verify a document by its code
    ///
    /// Public: what the document is, its parties (organisations only), which signed or
    /// contested it, date, SHA-256, whether it is signed, whether a newer version exists and why,
    /// and the signed paper copy uploaded beside it.
    #[oai(
        path = "/verify/:code",
        method = "get",
        operation_id = "verify_document"
    )]
    async fn verify_document(
        &self,
        #[oai(validator(max_length = 20))] code: Path<String>,
    ) -> ApiResult<Json<Verification>> {
        let d = by_code(&self.state, &code.0).await?;
        let r = response(&self.state, d.clone()).await?;
        let superseded_by_code = match r.superseded_by {
            Some(id) => Some(find_document(&self.state, id).await?.code),
            None => None,
        };
        Ok(Json(Verification {
            code: d.code,
            kind: r.kind,
            title: r.title,
            version: r.version,
            signed_by: r
                .parties
                .iter()
                .filter(|p| p.signed)
                .map(|p| p.name.clone())
                .collect(),
            contested_by: r
                .parties
                .iter()
                .filter(|p| p.contested)
                .map(|p| p.name.clone())
                .collect(),
            parties: r.parties.into_iter().map(|p| p.name).collect(),
            issued_at: d.created_at,
            sha256: d.sha256,
            signed: r.signed,
            current: r.current,
            superseded_by_code,
            superseded_reason: r.superseded_reason,
            scan: r.scan.map(|s| s.label),
        }))
    }

    /// Check a PDF against its code
    ///
    /// Public: upload the file; the answer says whether it is exactly the document issued under
    /// this code (or its signed scan). One changed byte makes it not genuine.
    #[oai(
        path = "/verify/:code",
        method = "post",
        operation_id = "verify_document_file"
    )]
    async fn verify_document_file(
        &self,
        #[oai(validator(max_length = 20))] code: Path<String>,
        body: PdfUpload,
    ) -> ApiResult<Json<VerificationResult>> {
        let d = by_code(&self.state, &code.0).await?;
        let bytes = body.into_bytes();
        let sha = hex::encode(Sha256::digest(&bytes));
        let genuine = sha == d.sha256 || d.scan_sha256.as_deref() == Some(sha.as_str());
        Ok(Json(VerificationResult {
            code: d.code,
            genuine,
            sha256: sha,
            expected_sha256: d.sha256,
        }))
    }
}

/// The party of `d` the caller acts for (`requested` when it belongs to several), as allowed
/// by `op` (an admin): only a party signs, contests or attests.
fn party_acting(
    auth: &BearerAuth,
    op: &str,
    d: &document::Model,
    requested: Option<Uuid>,
) -> ApiResult<By> {
    let parties = document_orgs(d);
    let candidates: Vec<Uuid> = match requested {
        Some(o) if parties.contains(&o) => vec![o],
        Some(_) => return Err(ApiError::forbidden()),
        None => parties,
    };
    let acting = auth
        .0
        .authorize_related(op, &candidates)?
        .ok_or_else(ApiError::forbidden)?;
    Ok(By::acting(&auth.0, &acting))
}

fn parse_signature(body: &SignatureRequest) -> ApiResult<commands::Signature> {
    let name = Name::parse(&body.signer_name).map_err(|r| ApiError::field("signer_name", r));
    let role = Name::parse(&body.signer_role).map_err(|r| ApiError::field("signer_role", r));
    match (name, role) {
        (Ok(n), Ok(r)) => Ok(commands::Signature {
            signer_name: n.into_inner(),
            signer_role: r.into_inner(),
        }),
        (Err(mut a), Err(b)) => {
            a.fields.extend(b.fields);
            Err(a)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

async fn by_code(state: &AppState, code: &str) -> ApiResult<document::Model> {
    docs::by_code(&state.db, code).await
}
