//! The verification page a document's QR code opens: what the document is, its parties and
//! their signatures, whether a newer version replaced it, its SHA-256, and a form to check a
//! file against it.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Multipart, Path};
use poem::{Request, Response, handler};
use reemploi_domain::item::PublicCode;
use sha2::{Digest, Sha256};

use super::{PageError, error_page, html_response, layout, long_date, t};
use crate::documents::{Kind, Method};
use crate::error::{ApiResult, ErrorCode, Lang};
use crate::state::AppState;
use crate::store::documents as docs;
use crate::store::entities::document;

/// A party as the page shows it: the organisation, how it signs, and whether it signed.
#[derive(Debug, Clone)]
pub struct PartyView {
    pub name: String,
    /// How the party signs («Pour le cédant»), as printed on the document.
    pub role: String,
    pub signature: SignatureView,
}

/// A party's signature on the edition (content) of the version shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureView {
    /// Signed electronically (or by recording the handover), at this time when it is known,
    /// else on the day printed.
    Electronic(Option<DateTime<Utc>>, String),
    /// The party's admin attested the uploaded paper copy as its signature.
    Paper,
    /// The party contested this content, for this reason.
    Contested(String),
    NotSigned,
}

/// Everything the verification page shows, read from the store. The page renders only this.
#[derive(Debug, Clone)]
pub struct VerificationView {
    pub code: String,
    pub kind: Kind,
    pub title: String,
    pub version: i32,
    pub issued_at: DateTime<Utc>,
    pub sha256: String,
    pub scan_sha256: Option<String>,
    pub parties: Vec<PartyView>,
    /// Every party signed this edition.
    pub signed: bool,
    /// When a newer version replaced this one: its code and version.
    pub superseded_by: Option<(String, i32)>,
    /// Why the content changed in the version after this one, when it did.
    pub superseded_reason: Option<String>,
}

/// Reads what the page shows about a document: its row, its series' signatures, and the newest
/// version of its series.
pub async fn verification_view<C: sea_orm::ConnectionTrait>(
    db: &C,
    d: &document::Model,
) -> ApiResult<VerificationView> {
    let (states, signed) = crate::documents::edition_state(db, d)
        .await
        .map_err(crate::commands::documents::doc_error)?;
    let out: Vec<PartyView> = states
        .into_iter()
        .map(|p| {
            let signature = match (p.signature, p.contest) {
                (Some(s), _) if s.method == Method::PaperScan => SignatureView::Paper,
                (Some(s), _) => SignatureView::Electronic(s.signed_at, s.signed_on),
                (None, Some((reason, _))) => SignatureView::Contested(reason),
                (None, None) => SignatureView::NotSigned,
            };
            PartyView {
                name: p.name,
                role: p.party.role,
                signature,
            }
        })
        .collect();
    let versions = docs::versions(db, d.series_id).await?;
    let superseded_reason = versions
        .iter()
        .find(|v| v.version == d.version + 1)
        .and_then(|v| v.reason.clone());
    let newest = docs::newest_of_series(db, d.series_id).await?;
    Ok(VerificationView {
        code: d.code.clone(),
        kind: Kind::parse(&d.kind).unwrap_or(Kind::ConventionCession),
        title: d.title.clone(),
        version: d.version,
        issued_at: d.created_at,
        sha256: d.sha256.clone(),
        scan_sha256: d.scan_sha256.clone(),
        parties: out,
        signed,
        superseded_reason,
        superseded_by: newest
            .filter(|n| n.id != d.id && n.version > d.version)
            .map(|n| (n.code, n.version)),
    })
}

/// The kind of a document, in words.
pub fn kind_label(kind: Kind, lang: Lang) -> &'static str {
    match lang {
        Lang::Fr => kind.title_fr(),
        Lang::En => match kind {
            Kind::ConventionCession => "Transfer agreement (convention de cession)",
            Kind::PvEnlevement => "Collection report (procès-verbal d'enlèvement)",
            Kind::PvRemise => "Handover report (procès-verbal de remise)",
            Kind::CertificatEffacement => "Data erasure certificate",
            Kind::CertificatSortie => "Certificate of removal from the asset register",
            Kind::AttestationDon => "Donation certificate (attestation de don)",
            Kind::ProjetDeliberation => "Draft council decision",
        },
    }
}

/// The outcome of checking an uploaded file.
#[derive(Debug, Clone)]
enum Check {
    Genuine,
    NotGenuine { sha256: String },
    NoFile,
}

fn display_code(code: &str) -> String {
    PublicCode::parse(code)
        .map(|c| c.display())
        .unwrap_or_else(|_| code.to_owned())
}

fn page(v: &VerificationView, lang: Lang, path: &str, check: Option<&Check>) -> Markup {
    let title = t(lang, "Vérification d'un document", "Document verification");
    let date = long_date(v.issued_at.date_naive(), lang);
    let main = html! {
        h1 { (title) }
        div.status.ok role="status" {
            p { strong { (t(lang, "Code vérifié : ", "Code verified: ")) }
                (t(lang, "ce document a bien été émis par Réemploi sous le code ", "this document was issued by Réemploi under the code "))
                strong { (display_code(&v.code)) } "." }
        }
        @if let Some((code, version)) = &v.superseded_by {
            div.status.warn role="note" {
                p { strong { (t(lang, "Version remplacée. ", "Superseded version. ")) }
                    @match lang {
                        Lang::Fr => { "Une version plus récente de ce document existe (version " (version) ")." }
                        Lang::En => { "A newer version of this document exists (version " (version) ")." }
                    }
                }
                @if let Some(reason) = &v.superseded_reason {
                    p { (t(lang, "Motif : ", "Reason: ")) (reason) }
                }
                p { a href=(super::verification_path(code)) { (t(lang, "Voir la version en vigueur", "See the current version")) } }
            }
        }
        dl {
            dt { (t(lang, "Type de document", "Kind of document")) }
            dd { (kind_label(v.kind, lang)) }
            dt { (t(lang, "Titre", "Title")) }
            dd { (v.title) }
            dt { (t(lang, "Version", "Version")) }
            dd { (v.version) }
            dt { (t(lang, "Émis le", "Issued on")) }
            dd { time datetime=(v.issued_at.to_rfc3339()) { (date) } }
            dt { (t(lang, "Signature", "Signature")) }
            dd { @if v.signed { (t(lang, "signé par toutes les parties", "signed by every party")) } @else { (t(lang, "pas encore signé par toutes les parties", "not yet signed by every party")) } }
            dt { (t(lang, "Empreinte SHA-256", "SHA-256 fingerprint")) }
            dd.hash { code { (v.sha256) } }
            @if let Some(scan) = &v.scan_sha256 {
                dt { (t(lang, "Copie papier signée (SHA-256)", "Signed paper copy (SHA-256)")) }
                dd.hash { code { (scan) } }
            }
        }
        h2 { (t(lang, "Parties et signatures", "Parties and signatures")) }
        ul.parties {
            @for p in &v.parties {
                li {
                    strong { (p.name) } br;
                    span.muted { (p.role) } br;
                    @match &p.signature {
                        SignatureView::Electronic(Some(at), _) => {
                            (t(lang, "Signé électroniquement le ", "Signed electronically on "))
                            time datetime=(at.to_rfc3339()) { (long_date(at.date_naive(), lang)) }
                        }
                        SignatureView::Electronic(None, on) => {
                            (t(lang, "Signé à la remise, le ", "Signed at the handover, on ")) (on)
                        }
                        SignatureView::Paper => { (t(lang, "Signé sur papier (copie déposée et attestée par la partie)", "Signed on paper (copy uploaded and attested by the party)")) }
                        SignatureView::Contested(reason) => {
                            strong { (t(lang, "Contesté : ", "Contested: ")) } (reason)
                        }
                        SignatureView::NotSigned => { (t(lang, "Pas encore signé", "Not signed yet")) }
                    }
                }
            }
        }
        @if let Some(check) = check {
            section aria-labelledby="resultat" {
                h2 #resultat { (t(lang, "Résultat de la vérification du fichier", "Result of the file check")) }
                @match check {
                    Check::Genuine => div.status.ok role="status" {
                        p { strong { (t(lang, "Fichier authentique. ", "Genuine file. ")) }
                            (t(lang, "Le fichier est identique, octet pour octet, au document émis sous ce code (ou à sa copie signée).",
                                     "The file is identical, byte for byte, to the document issued under this code (or to its signed copy).")) }
                    },
                    Check::NotGenuine { sha256 } => div.status.bad role="alert" {
                        p { strong { (t(lang, "Fichier non conforme. ", "File does not match. ")) }
                            (t(lang, "Ce fichier n'est pas le document émis sous ce code : il a été modifié, ou c'est un autre document.",
                                     "This file is not the document issued under this code: it was changed, or it is another document.")) }
                        p { (t(lang, "Empreinte du fichier reçu : ", "Fingerprint of the file received: ")) code.hash { (sha256) } }
                    },
                    Check::NoFile => div.status.bad role="alert" {
                        p { (t(lang, "Aucun fichier n'a été reçu : choisissez le fichier PDF à vérifier.", "No file was received: choose the PDF file to check.")) }
                    },
                }
            }
        }
        h2 { (t(lang, "Vérifier un fichier", "Check a file")) }
        form method="post" action=(path) enctype="multipart/form-data" {
            label for="fichier" { (t(lang, "Fichier PDF du document", "The document's PDF file")) }
            input #fichier type="file" name="file" accept="application/pdf,.pdf" required;
            p.muted { (t(lang, "Le fichier est comparé à l'empreinte ci-dessus ; il n'est pas conservé.", "The file is compared with the fingerprint above; it is not kept.")) }
            button type="submit" { (t(lang, "Vérifier le fichier", "Check the file")) }
        }
    };
    layout(lang, title, path, main)
}

/// Finds the document of a code as typed or scanned, or the error page to show.
async fn find(state: &AppState, raw: &str) -> Result<document::Model, PageError> {
    let code = (raw.len() <= 40)
        .then(|| PublicCode::parse(raw).ok())
        .flatten()
        .ok_or(PageError::MalformedCode)?;
    match docs::by_code(&state.db, code.as_str()).await {
        Ok(d) => Ok(d),
        Err(e) if e.code == ErrorCode::NotFound => Err(PageError::UnknownDocument),
        Err(e) => Err(PageError::from_status(e.code.status(), None)),
    }
}

/// `GET /v/{code}`.
#[handler]
pub async fn verification_page(
    req: &Request,
    Path(code): Path<String>,
    state: Data<&AppState>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    let d = match find(&state, &code).await {
        Ok(d) => d,
        Err(e) => return error_page(e, lang, &path),
    };
    match verification_view(&state.db, &d).await {
        Ok(v) => html_response(StatusCode::OK, page(&v, lang, &path, None)),
        Err(e) => error_page(PageError::from_status(e.code.status(), None), lang, &path),
    }
}

/// `POST /v/{code}`: a file from the form, compared with the document's SHA-256.
#[handler]
pub async fn check_file(
    req: &Request,
    Path(code): Path<String>,
    state: Data<&AppState>,
    multipart: poem::Result<Multipart>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    let d = match find(&state, &code).await {
        Ok(d) => d,
        Err(e) => return error_page(e, lang, &path),
    };
    let Ok(mut multipart) = multipart else {
        return error_page(PageError::BadRequest, lang, &path);
    };
    let mut file: Option<Vec<u8>> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                Ok(b) => file = Some(b),
                Err(e) => return error_page(read_error(&e.to_string()), lang, &path),
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return error_page(read_error(&e.to_string()), lang, &path),
        }
    }
    let check = match file.filter(|f| !f.is_empty()) {
        None => Check::NoFile,
        Some(bytes) => {
            let sha = hex::encode(Sha256::digest(&bytes));
            if sha == d.sha256 || d.scan_sha256.as_deref() == Some(sha.as_str()) {
                Check::Genuine
            } else {
                Check::NotGenuine { sha256: sha }
            }
        }
    };
    let status = if matches!(check, Check::NoFile) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match verification_view(&state.db, &d).await {
        Ok(v) => html_response(status, page(&v, lang, &path, Some(&check))),
        Err(e) => error_page(PageError::from_status(e.code.status(), None), lang, &path),
    }
}

/// A body over the upload limit reads as an IO error with this message.
fn read_error(message: &str) -> PageError {
    if message.contains(crate::http::limits::TOO_LARGE) {
        PageError::TooLarge
    } else {
        PageError::BadRequest
    }
}
