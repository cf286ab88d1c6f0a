//! Cession paperwork: documents derived from the database, rendered as PDF by [`render`], stored
//! in blob storage with their SHA-256 and a short verification code printed (with its QR code) on
//! every page.
//!
//! A document is a series of versions. Generating a document whose data did not change returns
//! the current version; changed data (a signature, a decision entered, devices missing at
//! collection) makes a new version with its own code, and old versions stay verifiable.

pub mod labels;
pub mod render;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use reemploi_domain::eligibility::{self, Beneficiary, Cession, Decision, Giver, ItemFacts};
use reemploi_domain::item::Category;
use reemploi_domain::lot::CessionMode;
use reemploi_domain::organisation::{OrganisationKind, PublicBodyType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::blobs::Blobs;
use crate::store::entities::{
    direct_cession, direct_cession_item, document, document_contest, document_signature, handover,
    handover_item, item, lot, organisation, reservation, reservation_item, sanitisation_record,
    site,
};
use crate::store::events::NewEvent;
use crate::store::tx::Tx;
use crate::store::{self, is_unique_violation};

/// The stream of a document series' events (its versions, signatures and scans).
pub fn document_stream(series_id: Uuid) -> String {
    format!("document/{series_id}")
}

/// The kinds of documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Convention de cession (public body → refurbisher, or → association in `service` mode).
    ConventionCession,
    /// Procès-verbal d'enlèvement (collection at the public body).
    PvEnlevement,
    /// Procès-verbal de remise (handover to the association).
    PvRemise,
    /// Certificat d'effacement des données (one device, every medium).
    CertificatEffacement,
    /// Certificat administratif de sortie d'inventaire, for the public accountant.
    CertificatSortie,
    /// Attestation de don (refurbisher → association).
    AttestationDon,
    /// Projet de délibération (or décision), for the public body to adapt.
    ProjetDeliberation,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::ConventionCession,
        Kind::PvEnlevement,
        Kind::PvRemise,
        Kind::CertificatEffacement,
        Kind::CertificatSortie,
        Kind::AttestationDon,
        Kind::ProjetDeliberation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConventionCession => "convention_cession",
            Kind::PvEnlevement => "pv_enlevement",
            Kind::PvRemise => "pv_remise",
            Kind::CertificatEffacement => "certificat_effacement",
            Kind::CertificatSortie => "certificat_sortie",
            Kind::AttestationDon => "attestation_don",
            Kind::ProjetDeliberation => "projet_deliberation",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn title_fr(self) -> &'static str {
        match self {
            Kind::ConventionCession => "Convention de cession",
            Kind::PvEnlevement => "Procès-verbal d'enlèvement",
            Kind::PvRemise => "Procès-verbal de remise",
            Kind::CertificatEffacement => "Certificat d'effacement des données",
            Kind::CertificatSortie => "Certificat administratif de sortie d'inventaire",
            Kind::AttestationDon => "Attestation de don",
            Kind::ProjetDeliberation => "Projet de délibération",
        }
    }

    /// The template of this kind of document about `subject`: a direct cession (5°, 11°) has
    /// its own convention and procès-verbal, whose beneficiary may be a person.
    fn template_for(self, subject: Subject) -> &'static str {
        match (self, subject) {
            (Kind::ConventionCession, Subject::DirectCession(_)) => {
                include_str!("../../templates/convention_cession_directe.typ")
            }
            (Kind::PvRemise, Subject::DirectCession(_)) => {
                include_str!("../../templates/pv_remise_directe.typ")
            }
            _ => self.template(),
        }
    }

    fn template(self) -> &'static str {
        match self {
            Kind::ConventionCession => include_str!("../../templates/convention_cession.typ"),
            Kind::PvEnlevement | Kind::PvRemise => {
                include_str!("../../templates/proces_verbal.typ")
            }
            Kind::CertificatEffacement => include_str!("../../templates/certificat_effacement.typ"),
            Kind::CertificatSortie => include_str!("../../templates/certificat_sortie.typ"),
            Kind::AttestationDon => include_str!("../../templates/attestation_don.typ"),
            Kind::ProjetDeliberation => include_str!("../../templates/projet_deliberation.typ"),
        }
    }
}

/// What a document is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "id")]
pub enum Subject {
    Lot(Uuid),
    Reservation(Uuid),
    Item(Uuid),
    /// A public body's cession to its staff (5°) or to another public body (11°).
    DirectCession(Uuid),
    /// A handover to an association (one or several reservations): its procès-verbal de remise
    /// and attestation de don.
    Handover(Uuid),
}

/// The payload of a `document` outbox message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DocumentJob {
    pub kind: Kind,
    pub subject: Subject,
}

/// A party to a document and the role it signs in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Party {
    pub organisation_id: Uuid,
    /// How the party is named on the signature block («Pour le cédant»).
    pub role: String,
}

/// Why a document could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("not applicable: {0}")]
    NotApplicable(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error("rendering failed: {0}")]
    Render(String),
    #[error("storage failed: {0}")]
    Blob(String),
    /// The public URL printed in documents is not a public address (see [`Documents`]).
    #[error("public URL refused: {0}")]
    PublicUrl(String),
}

/// What generating documents needs.
#[derive(Clone)]
pub struct Documents {
    pub renderer: Arc<render::Renderer>,
    pub blobs: Blobs,
    pub public_url: String,
    /// Why no document may be issued with this public URL (a loopback address outside test
    /// mode): documents printed for real would carry it in their QR code forever.
    pub public_url_refused: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// French formatting.

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// `29 novembre 2026`.
pub fn long_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    let day = if d.day() == 1 {
        "1er".to_owned()
    } else {
        d.day().to_string()
    };
    format!("{day} {} {}", MONTHS[d.month0() as usize], d.year())
}

/// `29/11/2026`.
pub fn short_date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

fn instant(t: DateTime<Utc>) -> String {
    t.format("%d/%m/%Y à %H:%M (UTC)").to_string()
}

/// `1 234,56 €` (thin spaces as thousands separators, as French typography wants).
pub fn euros(cents: i64) -> String {
    let negative = cents < 0;
    let cents = cents.unsigned_abs();
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push('\u{202F}');
        }
        grouped.push(c);
    }
    format!(
        "{}{grouped},{:02}\u{00A0}€",
        if negative { "-" } else { "" },
        cents % 100
    )
}

fn opt_euros(cents: Option<i64>) -> String {
    cents.map(euros).unwrap_or_else(|| "non renseignée".into())
}

fn grouped_digits(s: &str, groups: &[usize]) -> String {
    let mut out = String::new();
    let mut rest = s;
    for g in groups {
        if rest.len() <= *g {
            break;
        }
        let (a, b) = rest.split_at(*g);
        out.push_str(a);
        out.push(' ');
        rest = b;
    }
    out.push_str(rest);
    out
}

fn party_json(o: &organisation::Model) -> Value {
    let mut ids = Vec::new();
    if let Some(s) = &o.siret {
        ids.push(format!("SIRET {}", grouped_digits(s, &[3, 3, 3])));
    } else if let Some(s) = &o.siren {
        ids.push(format!("SIREN {}", grouped_digits(s, &[3, 3])));
    }
    if let Some(r) = &o.rna {
        ids.push(format!("RNA {r}"));
    }
    if let Some(e) = &o.esus_reference {
        ids.push(match o.esus_expires_on {
            Some(d) => format!("Agrément ESUS {e}, valable jusqu'au {}", short_date(d)),
            None => format!("Agrément ESUS {e}"),
        });
    }
    let kind_label = match OrganisationKind::parse(&o.kind) {
        Some(OrganisationKind::PublicBody) => o
            .public_body_type
            .as_deref()
            .and_then(PublicBodyType::parse)
            .map(|t| public_body_label(t).to_owned()),
        Some(OrganisationKind::Refurbisher) => {
            Some("structure de l'économie sociale et solidaire".into())
        }
        Some(OrganisationKind::Association) => Some("association".into()),
        _ => None,
    };
    json!({
        "name": o.name,
        "kind_label": kind_label,
        "identifiers": ids,
        "address": format!("{}, {} {}", o.address, o.postcode, o.city),
    })
}

fn public_body_label(t: PublicBodyType) -> &'static str {
    match t {
        PublicBodyType::Commune => "commune",
        PublicBodyType::Epci => "établissement public de coopération intercommunale",
        PublicBodyType::Departement => "département",
        PublicBodyType::Region => "région",
        PublicBodyType::EtablissementPublic => "établissement public",
        PublicBodyType::Etat => "service de l'État",
    }
}

fn item_row(i: &item::Model) -> Value {
    let category = Category::parse(&i.category).unwrap_or(Category::Other);
    let brand_model = [i.brand.as_deref(), i.model.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "inventory_number": i.inventory_number,
        "serial": i.serial_number.clone().unwrap_or_else(|| "—".into()),
        "category": category.label_fr(),
        "brand_model": brand_model,
        "acquisition_date": i.acquisition_date.map(short_date).unwrap_or_else(|| "—".into()),
        "acquisition_value": opt_euros(i.acquisition_value_cents),
        "net_book_value": opt_euros(i.net_book_value_cents),
    })
}

/// A total over the known values only, saying how many are unknown: `1 234,00 €`, or
/// `1 234,00 € (total des valeurs connues ; 3 valeur(s) non renseignée(s))`, or
/// `non calculé : 29 valeur(s) non renseignée(s)` — never a sum that passes unknowns for zero.
pub fn total_line(values: impl IntoIterator<Item = Option<i64>>) -> String {
    let (mut sum, mut known, mut unknown) = (0i64, 0usize, 0usize);
    for v in values {
        match v {
            Some(v) => {
                sum = sum.saturating_add(v);
                known += 1;
            }
            None => unknown += 1,
        }
    }
    match (known, unknown) {
        (_, 0) => euros(sum),
        (0, n) => format!("non calculé : {n} valeur(s) non renseignée(s)"),
        (_, n) => format!(
            "{} (total des valeurs connues ; {n} valeur(s) non renseignée(s))",
            euros(sum)
        ),
    }
}

fn totals(items: &[item::Model]) -> Value {
    json!({
        "count": items.len(),
        "acquisition_value": total_line(items.iter().map(|i| i.acquisition_value_cents)),
        "net_book_value": total_line(items.iter().map(|i| i.net_book_value_cents)),
    })
}

/// The value each device is judged on when it is not the inventory's net book value (a value
/// the body confirmed), and the operator's overrides of the ceiling: one row per such device.
fn valuations(items: &[item::Model]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|i| {
            let valued = i.net_book_value_cents.is_none() && i.valuation_cents.is_some();
            let how = if valued {
                let when = i.valuation_at.map(|t| short_date(t.date_naive())).unwrap_or_default();
                Some(format!(
                    "{} — {}, confirmée par {} le {when}",
                    opt_euros(i.valuation_cents),
                    i.valuation_note.clone().unwrap_or_default(),
                    i.valuation_by.clone().unwrap_or_default()
                ))
            } else {
                None
            };
            let exception = i.ceiling_override_reason.as_ref().map(|reason| {
                let when = i
                    .ceiling_override_at
                    .map(|t| short_date(t.date_naive()))
                    .unwrap_or_default();
                format!(
                    "dérogation au plafond accordée par l'opérateur ({}) le {when} : {reason}",
                    i.ceiling_override_by.clone().unwrap_or_default()
                )
            });
            if how.is_none() && exception.is_none() {
                return None;
            }
            Some(json!({
                "inventory_number": i.inventory_number,
                "value": how.unwrap_or_else(|| format!("{} (valeur nette comptable de l'inventaire)", opt_euros(crate::store::items::ceiling_value_cents(i)))),
                "exception": exception,
            }))
        })
        .collect()
}

const ERASURE: &str = "Avant tout réemploi, les données de chaque support de stockage sont \
effacées par le reconditionneur selon une méthode « purge », « effacement cryptographique » ou \
« destruction » au sens de la norme NIST SP 800-88 et des recommandations de l'ANSSI (2023) ; un \
certificat d'effacement est établi pour chaque équipement. Un équipement dont l'effacement n'a \
pas réussi n'est pas remis en circulation.";

const REUSE: &str = "Le bénéficiaire s'engage à réemployer le matériel, conformément à \
l'article 16 de la loi n° 2021-1485 du 15 novembre 2021 (REEN) et au décret n° 2023-266, et à en \
justifier à la demande du cédant, qui peut contrôler la mise en œuvre de cet engagement.";

// ---------------------------------------------------------------------------------------------
// Loading.

async fn org<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<organisation::Model, DocError> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DocError::NotApplicable("organisation not found".into()))
}

/// The ESUS expiry the operator accepted for `refurbisher` (`None`: not accepted).
async fn verified_esus_expiry<C: ConnectionTrait>(
    db: &C,
    refurbisher: &organisation::Model,
    today: chrono::NaiveDate,
) -> Result<Option<chrono::NaiveDate>, DocError> {
    let facts = crate::store::verification::verified_facts(db, refurbisher, today)
        .await
        .map_err(|e| DocError::Db(sea_orm::DbErr::Custom(format!("{:?}", e.code))))?;
    Ok(facts.esus.and_then(|(_, expires_on)| expires_on))
}

async fn items_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: Vec<Uuid>,
) -> Result<Vec<item::Model>, DocError> {
    Ok(item::Entity::find()
        .filter(item::Column::Id.is_in(ids))
        .order_by_asc(item::Column::InventoryNumber)
        .all(db)
        .await?)
}

fn decision_text(l: &lot::Model) -> Option<String> {
    let reference = l.decision_reference.as_ref()?;
    let date = l.decision_date.map(long_date).unwrap_or_default();
    Some(match l.decision_kind.as_deref() {
        Some("decision") => format!("la décision n° {reference} du {date}"),
        _ => format!("la délibération n° {reference} du {date}"),
    })
}

/// What a convention prints of the law: the legal basis once, whatever the number of devices;
/// the resale terms, each distinct one once.
pub struct Printed {
    pub basis: String,
    pub resale: String,
}

/// The legal basis of a cession from a public body to `beneficiary`, as printed: each distinct
/// basis once (the route's paragraph, then one paragraph for the operator's overrides), and,
/// when the law refuses the cession as it now stands, one « Cession à vérifier » paragraph whose
/// item reasons are grouped by reason with the devices they concern — never once per device.
pub fn legal_basis(
    giver: &organisation::Model,
    beneficiary: Beneficiary,
    mode: CessionMode,
    items: &[item::Model],
    date: NaiveDate,
) -> Printed {
    let facts: Vec<ItemFacts> = items
        .iter()
        .map(crate::store::items::eligibility_facts)
        .collect();
    let giver = Giver::PublicBody(
        giver
            .public_body_type
            .as_deref()
            .and_then(PublicBodyType::parse)
            .unwrap_or(PublicBodyType::Commune),
    );
    let reference = |i: Option<usize>| {
        i.and_then(|i| items.get(i))
            .map(|m| m.inventory_number.clone())
    };
    match eligibility::check(&Cession {
        giver,
        beneficiary,
        mode,
        items: &facts,
        date,
    }) {
        Decision::Allowed {
            legal_basis,
            terms,
            notices,
        } => {
            let overridden: Vec<String> = notices
                .iter()
                .filter(|n| n.code == eligibility::ReasonCode::CeilingOverrideApplied)
                .filter_map(|n| reference(n.item))
                .collect();
            let mut basis = legal_basis.text_fr;
            if !overridden.is_empty() {
                basis.push_str(&format!(
                    " Par dérogation motivée de l'opérateur de la plateforme, le plafond ne \
                     s'oppose pas à la cession de {} bien(s) : {} (motifs ci-après).",
                    overridden.len(),
                    overridden.join(", ")
                ));
            }
            Printed {
                basis,
                resale: distinct(terms.into_iter().map(|t| t.text_fr)).join(" "),
            }
        }
        Decision::Refused { reasons } => Printed {
            basis: format!(
                "Cession à vérifier : {}",
                grouped_reasons(&reasons, &reference)
            ),
            resale: "Le bénéficiaire s'interdit toute revente du matériel.".into(),
        },
    }
}

/// Each distinct string once, in order of first appearance.
fn distinct(texts: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in texts {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The reasons of a refusal as one paragraph: cession-wide reasons as they are, item reasons
/// once per reason with the devices it concerns.
fn grouped_reasons(
    reasons: &[eligibility::Reason],
    reference: &dyn Fn(Option<usize>) -> Option<String>,
) -> String {
    use eligibility::ReasonCode as C;
    let mut out: Vec<String> = distinct(
        reasons
            .iter()
            .filter(|r| r.item.is_none())
            .map(|r| r.message_fr.clone()),
    );
    let mut codes: Vec<C> = Vec::new();
    for r in reasons.iter().filter(|r| r.item.is_some()) {
        if !codes.contains(&r.code) {
            codes.push(r.code);
        }
    }
    for code in codes {
        let of: Vec<&eligibility::Reason> = reasons
            .iter()
            .filter(|r| r.item.is_some() && r.code == code)
            .collect();
        let refs: Vec<String> = of.iter().filter_map(|r| reference(r.item)).collect();
        let label = match code {
            C::NetBookValueUnknown => Some(
                "valeur non renseignée : le respect du plafond de 300 € par bien (décret n° \
                 2022-791 du 6 mai 2022) ne peut pas être vérifié",
            ),
            C::NetBookValueAboveCeiling => Some(
                "valeur supérieure au plafond de 300 € par bien (décret n° 2022-791 du 6 mai \
                 2022) : cession gratuite impossible",
            ),
            C::OverTenYearsOld => Some(
                "plus de 10 ans à la date de la cession : orientation vers le recyclage (loi n° \
                 2021-1485 du 15 novembre 2021, article 16 ; décret n° 2023-266)",
            ),
            _ => None,
        };
        match label {
            Some(label) => out.push(format!(
                "{} bien(s), {label} : {}.",
                refs.len(),
                refs.join(", ")
            )),
            None => out.extend(distinct(of.iter().map(|r| r.message_fr.clone()))),
        }
    }
    out.join(" ")
}

/// The data, parties, title and links of a document, or why it does not apply.
pub struct Built {
    /// The document's content. A procès-verbal carries the signature its recorder gave by
    /// recording the handover under `recorded_signature` (a [`Recorded`]).
    pub data: Value,
    pub parties: Vec<Party>,
    pub title: String,
    pub lot_id: Option<Uuid>,
    pub reservation_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub direct_cession_id: Option<Uuid>,
    pub handover_id: Option<Uuid>,
}

/// Derives a document's data from the database as it is now.
pub async fn build<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    subject: Subject,
    today: NaiveDate,
) -> Result<Built, DocError> {
    match (kind, subject) {
        (Kind::ConventionCession, Subject::Lot(id))
        | (Kind::PvEnlevement, Subject::Lot(id))
        | (Kind::CertificatSortie, Subject::Lot(id))
        | (Kind::ProjetDeliberation, Subject::Lot(id)) => lot_document(db, kind, id, today).await,
        (Kind::ConventionCession, Subject::Reservation(id))
        | (Kind::CertificatSortie, Subject::Reservation(id)) => {
            reservation_document(db, kind, id, today).await
        }
        (Kind::PvRemise, Subject::Handover(id)) | (Kind::AttestationDon, Subject::Handover(id)) => {
            handover_document(db, kind, id, today).await
        }
        (Kind::CertificatEffacement, Subject::Item(id)) => erasure_document(db, id, today).await,
        (Kind::ConventionCession, Subject::DirectCession(id))
        | (Kind::PvRemise, Subject::DirectCession(id)) => {
            direct_cession_document(db, kind, id, today).await
        }
        _ => Err(DocError::NotApplicable(format!(
            "no {} for this subject",
            kind.as_str()
        ))),
    }
}

async fn lot_document<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    id: Uuid,
    today: NaiveDate,
) -> Result<Built, DocError> {
    let l = lot::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DocError::NotApplicable("lot not found".into()))?;
    let body = org(db, l.organisation_id).await?;
    let mode = CessionMode::parse(&l.cession_mode).unwrap_or(CessionMode::ToRefurbisher);
    let collection = handover::Entity::find()
        .filter(handover::Column::LotId.eq(l.id))
        .filter(handover::Column::Kind.eq("collection"))
        .one(db)
        .await?;
    // The devices: those collected once collected, else those of the lot.
    let (items, missing) = match &collection {
        Some(h) => {
            let rows = handover_item::Entity::find()
                .filter(handover_item::Column::HandoverId.eq(h.id))
                .all(db)
                .await?;
            let present = items_by_ids(
                db,
                rows.iter()
                    .filter(|r| r.present)
                    .map(|r| r.item_id)
                    .collect(),
            )
            .await?;
            let missing = items_by_ids(
                db,
                rows.iter()
                    .filter(|r| !r.present)
                    .map(|r| r.item_id)
                    .collect(),
            )
            .await?;
            (present, missing)
        }
        None => (
            item::Entity::find()
                .filter(item::Column::LotId.eq(l.id))
                .order_by_asc(item::Column::InventoryNumber)
                .all(db)
                .await?,
            Vec::new(),
        ),
    };
    if items.is_empty() {
        return Err(DocError::NotApplicable("the lot holds no device".into()));
    }
    let winner = match l.accepted_claim_id {
        Some(c) => crate::store::entities::claim::Entity::find_by_id(c)
            .one(db)
            .await?
            .map(|c| c.refurbisher_id),
        None => None,
    };
    let pickup = site::Entity::find_by_id(l.pickup_site_id).one(db).await?;
    let place = pickup
        .as_ref()
        .map(|s| {
            format!(
                "à l'adresse {} ({}, {} {})",
                s.name, s.address, s.postcode, s.city
            )
        })
        .unwrap_or_default();
    let base = |title: &str| {
        json!({
            "title": title,
            "date": long_date(today),
            "items": items.iter().map(item_row).collect::<Vec<_>>(),
            "totals": totals(&items),
            "decision": decision_text(&l),
        })
    };
    let mut data;
    let parties: Vec<Party>;
    match kind {
        Kind::ProjetDeliberation => {
            let title = format!("Projet de délibération — {}", l.title);
            data = base(&title);
            let beneficiary = match winner {
                Some(w) => org(db, w).await?.name,
                None => "les bénéficiaires éligibles désignés par l'exécutif".into(),
            };
            let n = items.len();
            let total = total_line(items.iter().map(|i| i.net_book_value_cents));
            data["heading"] = json!(format!(
                "Cession gratuite de matériel informatique réformé — {}",
                body.name
            ));
            data["paragraphs"] = json!([
                format!("Vu le code général de la propriété des personnes publiques, notamment ses articles L3212-2 (3°) et L3212-3 ; vu le décret n° 2022-791 du 6 mai 2022 fixant à 300 € par bien la valeur unitaire maximale des biens cédés ; vu la loi n° 2021-1485 du 15 novembre 2021 visant à réduire l'empreinte environnementale du numérique, notamment son article 16, et le décret n° 2023-266 du 12 avril 2023 ;"),
                format!("Considérant que {} n'a plus l'emploi des {n} équipements informatiques désignés ci-après, d'une valeur nette comptable totale de {total}, et que ces équipements fonctionnent ou peuvent être reconditionnés ;", body.name),
                format!("Considérant que leur cession gratuite à {beneficiary} permet leur réemploi au profit de publics qui en sont éloignés, après effacement certifié des données ;"),
                "L'assemblée délibérante, après en avoir délibéré, DÉCIDE : de céder à titre gratuit les équipements désignés ci-après ; d'autoriser l'exécutif à signer la convention de cession et tout document s'y rapportant ; de prononcer la sortie de ces biens de l'inventaire à leur valeur nette comptable.".to_owned(),
            ]);
            parties = vec![Party {
                organisation_id: body.id,
                role: "Pour la collectivité".into(),
            }];
        }
        Kind::ConventionCession => {
            if mode != CessionMode::ToRefurbisher {
                return Err(DocError::NotApplicable(
                    "in service mode the convention is made with each association".into(),
                ));
            }
            let w =
                winner.ok_or_else(|| DocError::NotApplicable("the lot is not awarded".into()))?;
            let refurbisher = org(db, w).await?;
            let esus_expires_on = verified_esus_expiry(db, &refurbisher, today).await?;
            let Printed { basis, resale } = legal_basis(
                &body,
                Beneficiary::Refurbisher { esus_expires_on },
                mode,
                &items,
                today,
            );
            let title = format!("Convention de cession — {}", l.title);
            data = base(&title);
            data["giver"] = party_json(&body);
            data["beneficiary"] = party_json(&refurbisher);
            data["legal_basis"] = json!(basis);
            data["valuations"] = json!(valuations(&items));
            data["removal"] = json!({
                "place": place,
                "deadline": format!("entre le {} et le {}", long_date(l.pickup_from), long_date(l.pickup_until)),
            });
            data["erasure_statement"] = json!(ERASURE);
            data["resale"] = json!(resale);
            data["reuse"] = json!(REUSE);
            data["transfer"] = json!(
                "La propriété du matériel est transférée au bénéficiaire lors de son enlèvement, constaté par un procès-verbal."
            );
            parties = vec![
                Party {
                    organisation_id: body.id,
                    role: "Pour le cédant".into(),
                },
                Party {
                    organisation_id: refurbisher.id,
                    role: "Pour le bénéficiaire".into(),
                },
            ];
        }
        Kind::PvEnlevement => {
            let h = collection
                .ok_or_else(|| DocError::NotApplicable("the lot is not collected".into()))?;
            let to = org(db, h.to_organisation_id).await?;
            let title = format!("Procès-verbal d'enlèvement — {}", l.title);
            data = base(&title);
            data["heading"] = json!("Procès-verbal d'enlèvement de matériel informatique");
            data["from_label"] = json!("Le cédant");
            data["from"] = party_json(&body);
            data["to_label"] = json!("L'enlèveur");
            data["to"] = party_json(&to);
            data["statement"] = json!(format!(
                "Le {}, {} a enlevé {place} les équipements ci-dessous, en présence des signataires. {}",
                long_date(h.occurred_on),
                to.name,
                if h.ownership_transferred {
                    "La propriété et la garde du matériel sont transférées à l'enlèveur."
                } else {
                    "La garde du matériel est confiée à l'enlèveur ; le cédant en reste propriétaire jusqu'à sa remise au bénéficiaire final."
                }
            ));
            data["missing"] = json!(
                missing
                    .iter()
                    .map(|i| format!(
                        "{} — {}",
                        i.inventory_number,
                        Category::parse(&i.category)
                            .unwrap_or(Category::Other)
                            .label_fr()
                    ))
                    .collect::<Vec<_>>()
            );
            data["notes"] = json!(h.notes);
            data["recorded_signature"] = recorded_signature(&h, "l'enlèvement");
            parties = vec![
                Party {
                    organisation_id: body.id,
                    role: "Pour le cédant".into(),
                },
                Party {
                    organisation_id: to.id,
                    role: "Pour l'enlèveur".into(),
                },
            ];
        }
        Kind::CertificatSortie => {
            if mode != CessionMode::ToRefurbisher || collection.is_none() {
                return Err(DocError::NotApplicable(
                    "devices leave the inventory at collection only when given to the refurbisher"
                        .into(),
                ));
            }
            let w =
                winner.ok_or_else(|| DocError::NotApplicable("the lot is not awarded".into()))?;
            let refurbisher = org(db, w).await?;
            let esus_expires_on = verified_esus_expiry(db, &refurbisher, today).await?;
            let Printed { basis, .. } = legal_basis(
                &body,
                Beneficiary::Refurbisher { esus_expires_on },
                mode,
                &items,
                today,
            );
            let title = format!("Certificat de sortie d'inventaire — {}", l.title);
            data = base(&title);
            exit_certificate(&mut data, &body, &refurbisher, &basis, &items);
            parties = vec![Party {
                organisation_id: body.id,
                role: "L'ordonnateur".into(),
            }];
        }
        _ => return Err(not_for_subject(kind)),
    }
    Ok(Built {
        title: data["title"].as_str().unwrap_or_default().to_owned(),
        data,
        parties,
        lot_id: Some(l.id),
        reservation_id: None,
        item_id: None,
        direct_cession_id: None,
        handover_id: None,
    })
}

fn not_for_subject(kind: Kind) -> DocError {
    DocError::NotApplicable(format!("{} is not made for this subject", kind.as_str()))
}

fn exit_certificate(
    data: &mut Value,
    body: &organisation::Model,
    beneficiary: &organisation::Model,
    basis: &str,
    items: &[item::Model],
) {
    let nbv = total_line(items.iter().map(|i| i.net_book_value_cents));
    let acquisition = total_line(items.iter().map(|i| i.acquisition_value_cents));
    data["body"] = party_json(body);
    data["beneficiary"] = party_json(beneficiary);
    data["beneficiary_identifiers"] = json!(
        party_json(beneficiary)["identifiers"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    data["legal_basis"] = json!(basis);
    data["accounting"] = json!(format!(
        "Sortie de l'actif de {} bien(s) pour une valeur d'acquisition de {} et une valeur nette comptable de {} ; cession à titre gratuit sans contrepartie (écritures de cession à la valeur nette comptable, instructions budgétaires et comptables M57 ou M14).",
        items.len(),
        acquisition,
        nbv
    ));
}

async fn reservation_document<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    id: Uuid,
    today: NaiveDate,
) -> Result<Built, DocError> {
    let r = reservation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DocError::NotApplicable("reservation not found".into()))?;
    let ids: Vec<Uuid> = reservation_item::Entity::find()
        .filter(reservation_item::Column::ReservationId.eq(r.id))
        .all(db)
        .await?
        .into_iter()
        .map(|ri| ri.item_id)
        .collect();
    let items = items_by_ids(db, ids).await?;
    let association = org(db, r.association_id).await?;
    let refurbisher = org(db, r.refurbisher_id).await?;
    let giver = org(db, r.giver_id).await?;
    let service = r.cession_mode == CessionMode::Service.as_str();
    let h = match r.handover_id {
        Some(h) => handover::Entity::find_by_id(h).one(db).await?,
        None => None,
    };
    let mut data = json!({
        "date": long_date(today),
        "items": items.iter().map(item_row).collect::<Vec<_>>(),
        "totals": totals(&items),
    });
    let title;
    let parties;
    let resale = r
        .resale_terms
        .clone()
        .unwrap_or_else(|| "Le bénéficiaire s'interdit toute revente du matériel.".into());
    match kind {
        Kind::ConventionCession => {
            if !service {
                return Err(DocError::NotApplicable(
                    "the refurbisher's gift is attested by an attestation de don".into(),
                ));
            }
            title = format!("Convention de cession — {}", association.name);
            data["giver"] = party_json(&giver);
            data["beneficiary"] = party_json(&association);
            data["legal_basis"] = json!(r.legal_basis.clone().unwrap_or_default());
            let lot = match items.first().and_then(|i| i.lot_id) {
                Some(l) => lot::Entity::find_by_id(l).one(db).await?,
                None => None,
            };
            data["decision"] = json!(lot.as_ref().and_then(decision_text));
            data["removal"] = json!({
                "place": format!("auprès de {} ({}, {} {}), qui a reconditionné le matériel pour le compte du cédant", refurbisher.name, refurbisher.address, refurbisher.postcode, refurbisher.city),
                "deadline": format!("au plus tard le {}", long_date(r.expires_at.date_naive())),
            });
            data["erasure_statement"] = json!(ERASURE);
            data["resale"] = json!(resale);
            data["reuse"] = json!(REUSE);
            data["transfer"] = json!(
                "La propriété du matériel est transférée au bénéficiaire lors de sa remise, constatée par un procès-verbal."
            );
            parties = vec![
                Party {
                    organisation_id: giver.id,
                    role: "Pour le cédant".into(),
                },
                Party {
                    organisation_id: association.id,
                    role: "Pour le bénéficiaire".into(),
                },
            ];
        }
        Kind::CertificatSortie => {
            if !service || h.is_none() {
                return Err(DocError::NotApplicable(
                    "in this mode devices left the inventory at collection".into(),
                ));
            }
            title = format!("Certificat de sortie d'inventaire — {}", association.name);
            let basis = r.legal_basis.clone().unwrap_or_default();
            exit_certificate(&mut data, &giver, &association, &basis, &items);
            parties = vec![Party {
                organisation_id: giver.id,
                role: "L'ordonnateur".into(),
            }];
        }
        _ => return Err(not_for_subject(kind)),
    }
    data["title"] = json!(title);
    Ok(Built {
        title,
        data,
        parties,
        lot_id: items.first().and_then(|i| i.lot_id),
        reservation_id: Some(r.id),
        item_id: None,
        direct_cession_id: None,
        handover_id: None,
    })
}

/// The beneficiary of a direct cession as a party block: the registered public body, or the
/// person or body named in the cession.
fn direct_beneficiary(
    c: &direct_cession::Model,
    registered: Option<&organisation::Model>,
) -> Value {
    if let Some(o) = registered {
        let mut p = party_json(o);
        if let Some(role) = &c.beneficiary_role {
            p["represented_by"] = json!(role);
        }
        return p;
    }
    let staff = c.route == "staff";
    let mut ids = Vec::new();
    if let Some(s) = &c.beneficiary_siret {
        ids.push(format!("SIRET {}", grouped_digits(s, &[3, 3, 3])));
    }
    if staff && let Some(role) = &c.beneficiary_role {
        ids.push(format!("Fonction : {role}"));
    }
    json!({
        "name": c.beneficiary_name,
        "kind_label": if staff { "membre du personnel" } else { "personne publique" },
        "identifiers": ids,
        "address": c.beneficiary_address.clone().unwrap_or_default(),
        "represented_by": if staff { None } else { c.beneficiary_role.clone() },
    })
}

/// The convention and the procès-verbal de remise of a direct cession (5° to staff, 11° to
/// another public body): the act that transfers the devices on the day of the remise.
async fn direct_cession_document<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    id: Uuid,
    today: NaiveDate,
) -> Result<Built, DocError> {
    let c = direct_cession::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DocError::NotApplicable("cession not found".into()))?;
    let ids: Vec<Uuid> = direct_cession_item::Entity::find()
        .filter(direct_cession_item::Column::DirectCessionId.eq(c.id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.item_id)
        .collect();
    let items = items_by_ids(db, ids).await?;
    let giver = org(db, c.organisation_id).await?;
    let registered = match c.beneficiary_organisation_id {
        Some(o) => Some(org(db, o).await?),
        None => None,
    };
    let beneficiary = direct_beneficiary(&c, registered.as_ref());
    let staff = c.route == "staff";
    let mut parties = vec![Party {
        organisation_id: giver.id,
        role: "Pour le cédant".into(),
    }];
    if let Some(o) = &registered {
        parties.push(Party {
            organisation_id: o.id,
            role: "Pour le bénéficiaire".into(),
        });
    }
    // A person, or a body not registered in the service, signs on paper.
    let paper = if registered.is_none() {
        vec![json!({ "party": format!("Pour le bénéficiaire — {}", c.beneficiary_name) })]
    } else {
        Vec::new()
    };
    let route = if staff {
        "cession à un membre du personnel (article L3212-2, 5°)"
    } else {
        "cession à une autre personne publique (article L3212-2, 11°)"
    };
    let mut data = json!({
        "date": long_date(today),
        "items": items.iter().map(item_row).collect::<Vec<_>>(),
        "totals": totals(&items),
        "giver": party_json(&giver),
        "beneficiary": beneficiary,
        "legal_basis": c.legal_basis,
        "valuations": valuations(&items),
        "handover_date": long_date(c.handed_over_on),
        "resale": c.resale_terms,
        "reuse": REUSE,
        "erasure_statement": ERASURE,
        "paper_signatures": paper,
        "notes": c.notes,
        "route": route,
    });
    let title = match kind {
        Kind::ConventionCession => format!("Convention de cession — {}", c.beneficiary_name),
        Kind::PvRemise => format!("Procès-verbal de remise — {}", c.beneficiary_name),
        _ => return Err(not_for_subject(kind)),
    };
    if kind == Kind::PvRemise {
        data["statement"] = json!(format!(
            "Le {}, {} a remis à {} les équipements ci-dessous, qui lui sont cédés à titre gratuit \
             ({route}). La propriété du matériel est transférée au bénéficiaire à la remise.",
            long_date(c.handed_over_on),
            giver.name,
            c.beneficiary_name,
        ));
    }
    data["title"] = json!(title);
    Ok(Built {
        title,
        data,
        parties,
        lot_id: None,
        reservation_id: None,
        item_id: None,
        direct_cession_id: Some(c.id),
        handover_id: None,
    })
}

/// The signature a handover's recorder gave by recording it (an admin of its party), as stored
/// in a procès-verbal's content; `null` when the recorder was not an admin.
fn recorded_signature(h: &handover::Model, occasion: &str) -> Value {
    let Some(o) = h.signed_by_organisation_id else {
        return Value::Null;
    };
    let (name, role) = if o == h.from_organisation_id {
        (&h.from_signatory_name, &h.from_signatory_role)
    } else {
        (&h.to_signatory_name, &h.to_signatory_role)
    };
    serde_json::to_value(Recorded {
        organisation_id: o,
        name: name.clone(),
        role: role.clone(),
        signed_on: long_date(h.occurred_on),
        occasion: occasion.to_owned(),
    })
    .unwrap_or(Value::Null)
}

/// The procès-verbal de remise or the attestation de don of a handover to an association, over
/// every reservation it covers.
async fn handover_document<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    id: Uuid,
    today: NaiveDate,
) -> Result<Built, DocError> {
    let h = handover::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|h| h.kind != "collection")
        .ok_or_else(|| DocError::NotApplicable("handover not found".into()))?;
    let reservations = reservation::Entity::find()
        .filter(reservation::Column::HandoverId.eq(h.id))
        .order_by_asc(reservation::Column::Id)
        .all(db)
        .await?;
    if reservations.is_empty() {
        return Err(DocError::NotApplicable(
            "the handover covers no reservation".into(),
        ));
    }
    let refurbisher = org(db, h.from_organisation_id).await?;
    let association = org(db, h.to_organisation_id).await?;
    let mut items = Vec::new();
    let mut given = Vec::new();
    let mut givers: Vec<String> = Vec::new();
    let mut resale: Vec<String> = Vec::new();
    for r in &reservations {
        let ids: Vec<Uuid> = reservation_item::Entity::find()
            .filter(reservation_item::Column::ReservationId.eq(r.id))
            .all(db)
            .await?
            .into_iter()
            .map(|ri| ri.item_id)
            .collect();
        let these = items_by_ids(db, ids).await?;
        if r.cession_mode == CessionMode::Service.as_str() {
            let giver = org(db, r.giver_id).await?.name;
            if !givers.contains(&giver) {
                givers.push(giver);
            }
        } else {
            given.extend(these.iter().cloned());
        }
        let terms = r
            .resale_terms
            .clone()
            .unwrap_or_else(|| "Le bénéficiaire s'interdit toute revente du matériel.".into());
        if !resale.contains(&terms) {
            resale.push(terms);
        }
        items.extend(these);
    }
    items.sort_by(|a, b| a.inventory_number.cmp(&b.inventory_number));
    given.sort_by(|a, b| a.inventory_number.cmp(&b.inventory_number));
    let title;
    let parties;
    let mut data = json!({ "date": long_date(today) });
    match kind {
        Kind::PvRemise => {
            title = format!("Procès-verbal de remise — {}", association.name);
            data["items"] = json!(items.iter().map(item_row).collect::<Vec<_>>());
            data["totals"] = totals(&items);
            data["heading"] = json!("Procès-verbal de remise de matériel informatique");
            data["from_label"] = json!("Le remettant");
            data["from"] = party_json(&refurbisher);
            data["to_label"] = json!("Le bénéficiaire");
            data["to"] = party_json(&association);
            let ownership = if givers.is_empty() {
                "La propriété est transférée au bénéficiaire à la remise.".to_owned()
            } else {
                format!(
                    "{} ; la propriété est transférée au bénéficiaire à la remise.",
                    if given.is_empty() {
                        format!("Le matériel est cédé par {}", givers.join(", "))
                    } else {
                        format!(
                            "Une partie du matériel est cédée par {}, le reste est donné par {}",
                            givers.join(", "),
                            refurbisher.name
                        )
                    }
                )
            };
            data["statement"] = json!(format!(
                "Le {}, {} a remis à {} ({}) les équipements ci-dessous, reconditionnés et dont les données ont été effacées, au titre de {} réservation(s). {}",
                long_date(h.occurred_on),
                refurbisher.name,
                association.name,
                if h.kind == "delivery" {
                    "livraison"
                } else {
                    "retrait"
                },
                reservations.len(),
                ownership
            ));
            let mut commitments = resale.clone();
            commitments.push(REUSE.to_owned());
            data["commitments"] = json!(commitments);
            data["notes"] = json!(h.notes);
            data["recorded_signature"] = recorded_signature(&h, "la remise");
            parties = vec![
                Party {
                    organisation_id: refurbisher.id,
                    role: "Pour le remettant".into(),
                },
                Party {
                    organisation_id: association.id,
                    role: "Pour le bénéficiaire".into(),
                },
            ];
        }
        Kind::AttestationDon => {
            if given.is_empty() {
                return Err(DocError::NotApplicable(
                    "in service mode the public body gives, by convention".into(),
                ));
            }
            title = format!("Attestation de don — {}", association.name);
            data["items"] = json!(given.iter().map(item_row).collect::<Vec<_>>());
            data["totals"] = totals(&given);
            data["giver"] = party_json(&refurbisher);
            data["beneficiary"] = party_json(&association);
            data["handover_date"] = json!(long_date(h.occurred_on));
            data["resale"] = json!(resale.join(" "));
            data["reuse"] = json!(REUSE);
            parties = vec![Party {
                organisation_id: refurbisher.id,
                role: "Pour le donateur".into(),
            }];
        }
        _ => return Err(not_for_subject(kind)),
    }
    data["title"] = json!(title);
    Ok(Built {
        title,
        data,
        parties,
        lot_id: items.first().and_then(|i| i.lot_id),
        reservation_id: None,
        item_id: None,
        handover_id: Some(h.id),
        direct_cession_id: None,
    })
}

async fn erasure_document<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    today: NaiveDate,
) -> Result<Built, DocError> {
    let i = item::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DocError::NotApplicable("device not found".into()))?;
    let records = sanitisation_record::Entity::find()
        .filter(sanitisation_record::Column::ItemId.eq(i.id))
        .order_by_asc(sanitisation_record::Column::Id)
        .all(db)
        .await?;
    if records.is_empty() {
        return Err(DocError::NotApplicable("no sanitisation recorded".into()));
    }
    let refurbisher = org(db, records[0].organisation_id).await?;
    let origin = org(db, i.organisation_id).await?;
    let method_label = |m: &str| match m {
        "clear" => "Effacement simple (clear)",
        "purge" => "Purge",
        "crypto_erase" => "Effacement cryptographique (cryptographic erase)",
        "destroy" => "Destruction",
        _ => "Autre",
    };
    let media: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "serial": r.medium_serial,
                "medium_type": r.medium_type.to_uppercase(),
                "method": method_label(&r.method),
                "tool": format!("{} {}", r.tool, r.tool_version),
                "verification": r.verification_method,
                "result": if r.success { "Réussi" } else { "Échec (un nouvel effacement est requis)" },
                "started_at": instant(r.started_at),
                "ended_at": instant(r.ended_at),
                "operator": r.operator_name,
            })
        })
        .collect();
    let declared = crate::store::items::storage_media(db, i.id).await?;
    let declared_media = if declared.is_empty() {
        "Aucun support déclaré.".to_owned()
    } else {
        let serials: Vec<&str> = declared.iter().map(|m| m.serial.as_str()).collect();
        format!(
            "{} support(s) déclaré(s) : {}. Chacun doit avoir un dernier effacement réussi.",
            declared.len(),
            serials.join(", ")
        )
    };
    let category = Category::parse(&i.category).unwrap_or(Category::Other);
    let title = format!("Certificat d'effacement — {}", i.public_code);
    let data = json!({
        "title": title,
        "date": long_date(today),
        "refurbisher": party_json(&refurbisher),
        "origin": origin.name,
        "item": {
            "public_code": i.public_code,
            "inventory_number": i.inventory_number,
            "serial": i.serial_number.clone().unwrap_or_else(|| "—".into()),
            "category": category.label_fr(),
            "brand_model": format!("{} {}", i.brand.clone().unwrap_or_default(), i.model.clone().unwrap_or_default()).trim().to_owned(),
        },
        "media": media,
        "declared_media": declared_media,
        "statement": "Le signataire certifie que les opérations ci-dessus ont été réalisées et vérifiées selon la méthode indiquée (NIST SP 800-88 rév. 1), et que seul un effacement réussi de type purge, effacement cryptographique ou destruction permet le réemploi de l'équipement.",
    });
    Ok(Built {
        title,
        data,
        parties: vec![Party {
            organisation_id: refurbisher.id,
            role: "Pour le reconditionneur".into(),
        }],
        lot_id: i.lot_id,
        reservation_id: None,
        item_id: Some(i.id),
        direct_cession_id: None,
        handover_id: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Generation.

/// The latest version of a series of `kind` about `subject`.
pub async fn latest<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    subject: Subject,
) -> Result<Option<document::Model>, DocError> {
    let mut q = document::Entity::find().filter(document::Column::Kind.eq(kind.as_str()));
    q = match subject {
        Subject::Lot(id) => q
            .filter(document::Column::LotId.eq(id))
            .filter(document::Column::ReservationId.is_null())
            .filter(document::Column::ItemId.is_null()),
        Subject::Reservation(id) => q.filter(document::Column::ReservationId.eq(id)),
        Subject::Item(id) => q.filter(document::Column::ItemId.eq(id)),
        Subject::DirectCession(id) => q.filter(document::Column::DirectCessionId.eq(id)),
        Subject::Handover(id) => q.filter(document::Column::HandoverId.eq(id)),
    };
    Ok(q.order_by_desc(document::Column::Version).one(db).await?)
}

/// The signature a procès-verbal's recorder gave by recording the handover (its own name and
/// role, typed by itself), kept in the document's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub organisation_id: Uuid,
    pub name: String,
    pub role: String,
    /// The day of the handover, as printed.
    pub signed_on: String,
    /// «l'enlèvement», «la remise».
    pub occasion: String,
}

/// How a party signed an edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// By its own account, on Réemploi.
    Electronic,
    /// By hand on the paper copy, whose scan an admin of the party attested.
    PaperScan,
    /// By recording the collection or handover (the recorder's own signature).
    AtHandover,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Electronic => "electronic",
            Method::PaperScan => "paper_scan",
            Method::AtHandover => "at_handover",
        }
    }

    fn parse(s: Option<&str>) -> Method {
        match s {
            Some("paper_scan") => Method::PaperScan,
            _ => Method::Electronic,
        }
    }
}

/// Where a party stands on one edition of a document.
#[derive(Debug, Clone)]
pub struct PartyState {
    pub party: Party,
    pub name: String,
    /// Its signature: signer's name and role (from the signer's own act), when, how.
    pub signature: Option<GivenSignature>,
    /// Its contest: reason and when.
    pub contest: Option<(String, DateTime<Utc>)>,
}

/// A signature given on an edition.
#[derive(Debug, Clone)]
pub struct GivenSignature {
    pub signer_name: String,
    pub signer_role: String,
    /// Exact time, except for a signature at handover (its day, as printed).
    pub signed_at: Option<DateTime<Utc>>,
    pub signed_on: String,
    pub method: Method,
}

/// The edition of a stored version (older rows: the version itself).
pub fn edition_of(d: &document::Model) -> i32 {
    d.edition.unwrap_or(d.version)
}

/// Where each party of `d` stands on `d`'s edition: the signatures and contests given on any
/// version of that edition, and for a procès-verbal the recorder's signature. `signed` is true
/// exactly when every party signed.
pub async fn edition_state<C: ConnectionTrait>(
    db: &C,
    d: &document::Model,
) -> Result<(Vec<PartyState>, bool), DocError> {
    let parties: Vec<Party> = serde_json::from_str(&d.parties).unwrap_or_default();
    let data: Value = serde_json::from_str(&d.data).unwrap_or(Value::Null);
    parties_state(db, d.series_id, Some(edition_of(d)), &parties, &data).await
}

async fn parties_state<C: ConnectionTrait>(
    db: &C,
    series: Uuid,
    edition: Option<i32>,
    parties: &[Party],
    data: &Value,
) -> Result<(Vec<PartyState>, bool), DocError> {
    let (signatures, contests) = match edition {
        Some(e) => (
            document_signature::Entity::find()
                .filter(document_signature::Column::SeriesId.eq(series))
                .filter(document_signature::Column::Edition.eq(e))
                .all(db)
                .await?,
            document_contest::Entity::find()
                .filter(document_contest::Column::SeriesId.eq(series))
                .filter(document_contest::Column::Edition.eq(e))
                .all(db)
                .await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let recorded: Option<Recorded> = data
        .get("recorded_signature")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let mut out = Vec::with_capacity(parties.len());
    for p in parties {
        let name = org(db, p.organisation_id).await?.name;
        let signature = match (
            recorded
                .as_ref()
                .filter(|r| r.organisation_id == p.organisation_id),
            signatures
                .iter()
                .find(|s| s.organisation_id == p.organisation_id),
        ) {
            (Some(r), _) => Some(GivenSignature {
                signer_name: r.name.clone(),
                signer_role: r.role.clone(),
                signed_at: None,
                signed_on: r.signed_on.clone(),
                method: Method::AtHandover,
            }),
            (None, Some(s)) => Some(GivenSignature {
                signer_name: s.signer_name.clone(),
                signer_role: s.signer_role.clone(),
                signed_at: Some(s.signed_at),
                signed_on: instant(s.signed_at),
                method: Method::parse(s.method.as_deref()),
            }),
            (None, None) => None,
        };
        let contest = contests
            .iter()
            .find(|c| c.organisation_id == p.organisation_id)
            .map(|c| (c.reason.clone(), c.contested_at));
        out.push(PartyState {
            party: p.clone(),
            name,
            signature,
            contest,
        });
    }
    let signed = !out.is_empty() && out.iter().all(|p| p.signature.is_some());
    Ok((out, signed))
}

/// The printed signature blocks: only the signatures actually given on the edition.
fn signature_blocks(states: &[PartyState]) -> Vec<Value> {
    states
        .iter()
        .map(|p| {
            let party = format!("{} — {}", p.party.role, p.name);
            match &p.signature {
                Some(s) => {
                    let (statement, method) = match s.method {
                        Method::Electronic => (
                            format!("Signé électroniquement par {}, {}, le {}.", s.signer_name, s.signer_role, s.signed_on),
                            "Signature électronique simple, donnée depuis le compte de la partie sur Réemploi".to_owned(),
                        ),
                        Method::PaperScan => (
                            format!("Signé sur la copie papier par {}, {} ; signature attestée le {}.", s.signer_name, s.signer_role, s.signed_on),
                            "Copie papier signée déposée sur Réemploi, attestée depuis le compte de la partie".to_owned(),
                        ),
                        Method::AtHandover => (
                            format!("Signé par {}, {}, le {}.", s.signer_name, s.signer_role, s.signed_on),
                            "Signature donnée en enregistrant le procès-verbal, depuis le compte de la partie".to_owned(),
                        ),
                    };
                    json!({ "party": party, "organisation_id": p.party.organisation_id, "statement": statement, "method": method })
                }
                None => json!({
                    "party": party, "organisation_id": p.party.organisation_id,
                    "contest": p.contest.as_ref().map(|(reason, at)| format!("Contesté le {} : {reason}", instant(*at))),
                }),
            }
        })
        .collect()
}

/// A document's content: what its parties sign (everything but the day it was printed and the
/// signature blocks).
fn content(data: &Value) -> Value {
    let mut c = data.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("date");
        o.remove("signatures");
    }
    c
}

/// Why a new edition was issued, from what changed in its content.
fn change_reason(before: &Value, now: &Value) -> String {
    let inventory = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["inventory_number"].as_str().map(str::to_owned))
            .collect()
    };
    let mut why = Vec::new();
    let (was, is) = (inventory(before), inventory(now));
    if was != is {
        let gone: Vec<&String> = was.iter().filter(|i| !is.contains(i)).collect();
        let added: Vec<&String> = is.iter().filter(|i| !was.contains(i)).collect();
        let mut s = format!(
            "liste des équipements modifiée ({} → {} équipement(s)",
            was.len(),
            is.len()
        );
        if !gone.is_empty() {
            s.push_str(&format!(
                " ; retirés : {}",
                gone.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !added.is_empty() {
            s.push_str(&format!(
                " ; ajoutés : {}",
                added
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        s.push(')');
        why.push(s);
    }
    if before["decision"] != now["decision"] {
        match now["decision"].as_str() {
            Some(d) => why.push(format!("acte de décision enregistré ({d})")),
            None => why.push("acte de décision modifié".to_owned()),
        }
    }
    if why.is_empty() {
        let mut keys: Vec<&str> = now
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| {
                before.get(k.as_str()) != Some(*v)
                    && k.as_str() != "items"
                    && k.as_str() != "totals"
            })
            .map(|(k, _)| k.as_str())
            .collect();
        keys.sort_unstable();
        why.push(format!("mentions modifiées : {}", keys.join(", ")));
    }
    let mut s = why.join(" ; ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    format!("{s}. Les signatures de la version précédente ne valent pas pour ce contenu.")
}

/// Why a version of the same content was issued: the signatures it prints that the previous
/// one did not.
fn signature_reason(before: &Value, states: &[PartyState]) -> String {
    let printed: Vec<Uuid> = before["signatures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b.get("statement").is_some_and(|s| !s.is_null()))
        .filter_map(|b| b["organisation_id"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    let new: Vec<&str> = states
        .iter()
        .filter(|p| p.signature.is_some() && !printed.contains(&p.party.organisation_id))
        .map(|p| p.name.as_str())
        .collect();
    if new.is_empty() {
        "Blocs de signature mis à jour (même contenu).".to_owned()
    } else {
        format!("Signature de {} imprimée (même contenu).", new.join(", "))
    }
}

/// Makes (or returns, when nothing changed) the current version of a document.
///
/// A version whose content equals the previous one's belongs to the same edition and shares
/// its signatures (it is issued only to print a new signature). A changed content starts a new
/// edition with no signature at all; the version says why it was issued, and the previous one
/// stays verifiable and says it was superseded.
pub async fn generate(
    db: &DatabaseConnection,
    docs: &Documents,
    kind: Kind,
    subject: Subject,
    today: NaiveDate,
    created_by: &str,
) -> Result<document::Model, DocError> {
    if let Some(why) = &docs.public_url_refused {
        return Err(DocError::PublicUrl(why.clone()));
    }
    // A concurrent version of the same series (two parties signing at once) makes this one
    // start again from the database as it is then, so that the newest version prints every
    // signature given before it.
    for _ in 0..5 {
        if let Some(done) = generate_once(db, docs, kind, subject, today, created_by).await? {
            return Ok(done);
        }
    }
    latest(db, kind, subject)
        .await?
        .ok_or_else(|| DocError::Render("no free verification code".into()))
}

/// One attempt of [`generate`]: `None` when a concurrent version took its number.
async fn generate_once(
    db: &DatabaseConnection,
    docs: &Documents,
    kind: Kind,
    subject: Subject,
    today: NaiveDate,
    created_by: &str,
) -> Result<Option<document::Model>, DocError> {
    let built = build(db, kind, subject, today).await?;
    let previous = latest(db, kind, subject).await?;
    let series = previous.as_ref().map(|p| p.series_id);
    let mut data = built.data;
    if let Some(o) = data.as_object_mut() {
        o.remove("signatures");
    }
    let before: Option<Value> = previous
        .as_ref()
        .map(|p| serde_json::from_str(&p.data).unwrap_or(Value::Null));
    let same_content = before
        .as_ref()
        .is_some_and(|b| content(b) == content(&data));
    let version = previous.as_ref().map_or(1, |p| p.version + 1);
    let edition = match (&previous, same_content) {
        (Some(p), true) => edition_of(p),
        _ => version,
    };
    let (states, signed) = parties_state(
        db,
        series.unwrap_or_default(),
        same_content.then_some(edition),
        &built.parties,
        &data,
    )
    .await?;
    data["signatures"] = json!(signature_blocks(&states));
    let reason = match (&previous, &before) {
        (Some(p), Some(b)) => {
            // The printed date is the day of generation: compare without it.
            let (mut was, mut now) = (b.clone(), data.clone());
            was["date"] = Value::Null;
            now["date"] = Value::Null;
            if was == now {
                return Ok(Some(p.clone()));
            }
            Some(if same_content {
                signature_reason(b, &states)
            } else {
                change_reason(b, &data)
            })
        }
        _ => None,
    };
    let id = store::new_id();
    let series_id = series.unwrap_or(id);
    for _ in 0..5 {
        let code = crate::store::items::new_public_code();
        // The QR code and the printed link open the verification page for people.
        let verify_url = format!("{}/v/{code}", docs.public_url);
        let mut full = data.clone();
        full["code"] = json!(code);
        full["verify_url"] = json!(verify_url);
        full["version"] = json!(version);
        let qr = render::qr_svg(&verify_url).map_err(DocError::Render)?;
        let renderer = docs.renderer.clone();
        let template = kind.template_for(subject);
        let ident = code.clone();
        let pdf =
            tokio::task::spawn_blocking(move || renderer.render(template, &full, &qr, &ident))
                .await
                .map_err(|e| DocError::Render(e.to_string()))?
                .map_err(DocError::Render)?;
        let sha256 = hex::encode(Sha256::digest(&pdf));
        let blob_key = format!("documents/{series_id}/{id}.pdf");
        let bytes = pdf.len() as i64;
        docs.blobs
            .put(&blob_key, pdf, "application/pdf")
            .await
            .map_err(|e| DocError::Blob(e.to_string()))?;
        // The row and its `document_issued` event commit together.
        let tx = Tx::begin(db).await?;
        let inserted = document::Entity::insert(document::ActiveModel {
            id: Set(id),
            series_id: Set(series_id),
            version: Set(version),
            kind: Set(kind.as_str().to_owned()),
            code: Set(code.clone()),
            title: Set(built.title.clone()),
            lot_id: Set(built.lot_id),
            reservation_id: Set(built.reservation_id),
            item_id: Set(built.item_id),
            direct_cession_id: Set(built.direct_cession_id),
            handover_id: Set(built.handover_id),
            parties: Set(serde_json::to_string(&built.parties).unwrap_or_default()),
            data: Set(serde_json::to_string(&data).unwrap_or_default()),
            sha256: Set(sha256.clone()),
            blob_key: Set(blob_key),
            bytes: Set(bytes),
            signed: Set(signed),
            scan_blob_key: Set(None),
            scan_sha256: Set(None),
            scan_uploaded_by: Set(None),
            scan_organisation_id: Set(None),
            scan_uploaded_at: Set(None),
            edition: Set(Some(edition)),
            reason: Set(reason.clone()),
            created_by: Set(created_by.to_owned()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(&tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.event(NewEvent {
                    stream: document_stream(series_id),
                    organisation_id: built.parties.first().map(|p| p.organisation_id),
                    actor: created_by.to_owned(),
                    kind: "document_issued",
                    payload: json!({
                        "document_id": id, "series_id": series_id, "version": version,
                        "edition": edition, "reason": reason,
                        "kind": kind.as_str(), "code": code, "sha256": sha256, "signed": signed,
                        "lot_id": built.lot_id, "reservation_id": built.reservation_id,
                        "item_id": built.item_id, "direct_cession_id": built.direct_cession_id,
                        "item_id": built.item_id, "handover_id": built.handover_id,
                    }),
                })
                .await?;
                tx.commit()
                    .await
                    .map_err(|e| DocError::Db(sea_orm::DbErr::Custom(e.to_string())))?;
                return document::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .map(Some)
                    .ok_or_else(|| DocError::NotApplicable("document vanished".into()));
            }
            // A code drawn twice: try another; a concurrent version of the same series: start
            // again from what is now stored.
            Err(e) if is_unique_violation(&e) => {
                tx.rollback()
                    .await
                    .map_err(|e| DocError::Db(sea_orm::DbErr::Custom(e.to_string())))?;
                if latest(db, kind, subject)
                    .await?
                    .is_some_and(|now| now.version >= version)
                {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(DocError::Render("no free verification code".into()))
}

/// Writes `signed` on every version of `d`'s edition (they share their signatures), inside the
/// transaction that changed them.
pub async fn refresh_signed<C: ConnectionTrait>(
    db: &C,
    d: &document::Model,
) -> Result<bool, DocError> {
    let (_, signed) = edition_state(db, d).await?;
    document::Entity::update_many()
        .col_expr(
            document::Column::Signed,
            sea_orm::sea_query::Expr::value(signed),
        )
        .filter(document::Column::SeriesId.eq(d.series_id))
        .filter(document::Column::Edition.eq(edition_of(d)))
        .exec(db)
        .await?;
    Ok(signed)
}

/// Asks for documents to be generated after the write commits.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    jobs: &[(Kind, Subject)],
) -> Result<(), sea_orm::DbErr> {
    for (kind, subject) in jobs {
        crate::store::outbox::enqueue(
            db,
            crate::store::outbox::Topic::Document,
            &DocumentJob {
                kind: *kind,
                subject: *subject,
            },
        )
        .await?;
    }
    Ok(())
}

/// Performs a `document` outbox message: a document that does not apply (yet) is not an error.
pub async fn perform(
    db: &DatabaseConnection,
    docs: &Documents,
    job: &DocumentJob,
    today: NaiveDate,
) -> anyhow::Result<()> {
    match generate(db, docs, job.kind, job.subject, today, "system").await {
        Ok(_) => Ok(()),
        Err(DocError::NotApplicable(why)) => {
            tracing::info!(kind = job.kind.as_str(), reason = %why, "document not applicable");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_dates_are_written_the_french_way() {
        assert_eq!(euros(0), "0,00\u{00A0}€");
        assert_eq!(euros(94861), "948,61\u{00A0}€");
        assert_eq!(euros(123456789), "1\u{202F}234\u{202F}567,89\u{00A0}€");
        assert_eq!(euros(-1500), "-15,00\u{00A0}€");
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        assert_eq!(long_date(d), "1er novembre 2026");
        assert_eq!(short_date(d), "01/11/2026");
        assert_eq!(
            grouped_digits("39825979619074", &[3, 3, 3]),
            "398 259 796 19074"
        );
    }

    #[test]
    fn a_refusal_of_29_devices_prints_each_reason_once_with_its_devices() {
        use eligibility::{Reason, ReasonCode};
        let mut reasons = vec![Reason {
            code: ReasonCode::EsusAccreditationExpired,
            item: None,
            message_fr: "L'agrément ESUS a expiré.".into(),
            message_en: String::new(),
        }];
        for i in 0..29 {
            reasons.push(Reason {
                code: if i < 27 {
                    ReasonCode::NetBookValueUnknown
                } else {
                    ReasonCode::OverTenYearsOld
                },
                item: Some(i),
                message_fr: format!("Le bien INV-{i} …"),
                message_en: String::new(),
            });
        }
        let reference = |i: Option<usize>| i.map(|i| format!("INV-{i}"));
        let text = grouped_reasons(&reasons, &reference);
        assert_eq!(text.matches("L'agrément ESUS a expiré.").count(), 1);
        assert_eq!(text.matches("valeur non renseignée").count(), 1, "{text}");
        assert!(text.contains("27 bien(s), valeur non renseignée"), "{text}");
        assert!(text.contains("2 bien(s), plus de 10 ans"), "{text}");
        assert!(text.contains("INV-0, INV-1") && text.contains("INV-27, INV-28"));
        assert!(!text.contains("Le bien INV-"), "{text}");
    }

    #[test]
    fn totals_count_only_known_values_and_say_how_many_are_missing() {
        assert_eq!(total_line([Some(100), Some(23_300)]), "234,00\u{00A0}€");
        assert_eq!(
            total_line([Some(123_400), None, None, None]),
            "1\u{202F}234,00\u{00A0}€ (total des valeurs connues ; 3 valeur(s) non renseignée(s))"
        );
        assert_eq!(
            total_line([None, None]),
            "non calculé : 2 valeur(s) non renseignée(s)"
        );
        assert_eq!(total_line([]), "0,00\u{00A0}€");
    }

    #[test]
    fn every_kind_has_a_stable_name_and_a_template() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert!(k.template().contains("#show: setup.with(d)"));
        }
    }
}
