//! Whether a free cession of devices is lawful (CG3P L3212-2, `docs/legal.md`): from who gives, to whom, what and in
//! which cession mode, [`check`] returns the legal basis to print on the documents and what the
//! beneficiary may do with each item, or every reason for refusal. Pure: the caller gathers facts.
//!
//! Rules encoded (sources in `docs/legal.md`):
//! - a public body may give IT equipment it no longer uses only as CG3P L3212-2 lists: 3° (six
//!   kinds of beneficiary), 5° (its staff), 11° (other public bodies); L3212-3 applies this to
//!   local authorities, their groupings and their public establishments;
//! - 300 € per item at most, compared with the net book value (D3212-3 for 3° and D3212-5 for 11°,
//!   as written by décret n° 2022-791; D3212-4 for 5°);
//! - no resale, except by public-utility and general-interest associations at a solidarity price
//!   capped per kind of device (décret n° 2022-1413);
//! - devices over 10 years old go to recycling, not re-use (loi REEN art. 16, décret 2023-266).
//!
//! Every cession date is judged by these rules, as in force since 9 November 2022.

use chrono::NaiveDate;

use crate::item::Category;
use crate::lifecycle::over_ten_years;
use crate::lot::CessionMode;
use crate::organisation::{BeneficiaryCategory, PublicBodyType};

/// Who gives the items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Giver {
    /// A public body, owner of the items (a free cession under CG3P L3212-2).
    PublicBody(PublicBodyType),
    /// A refurbisher that became owner at collection (`to_refurbisher` mode) and now gives to an
    /// association: a private gift, outside the CG3P.
    Refurbisher,
}

/// Who receives the items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beneficiary {
    /// An association, by its category; only [`BeneficiaryCategory::Other`] is outside L3212-2 3°.
    Association(BeneficiaryCategory),
    /// A re-use organisation; eligible under L3212-2 3° only while its ESUS accreditation is valid.
    /// `esus_expires_on` is `None` when it holds no accreditation; an accreditation is valid up to
    /// and including its expiry day.
    Refurbisher { esus_expires_on: Option<NaiveDate> },
    /// A member of the giving body's staff (L3212-2 5°).
    Staff,
    /// Another public body (L3212-2 11°).
    OtherPublicBody,
}

/// What is known of one item of the cession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFacts {
    /// How messages name the item: its inventory number or public code (`n° 3` when blank).
    pub reference: String,
    pub category: Category,
    /// The value judged against the ceiling, in euro cents: the net book value, or when the
    /// inventory has none the value the body confirmed (`crate::valuation`); `None` when unknown.
    pub net_book_value_cents: Option<i64>,
    /// `None` when unknown: the item is then not refused on its age (see [`check`]).
    pub acquisition_date: Option<NaiveDate>,
    /// The operator allowed re-use of this item although it is over 10 years old, with a reason
    /// (the same override as the life-cycle table's).
    pub age_override: bool,
    /// The operator allowed the cession of this item although its value is unknown or above the
    /// ceiling, with a reason recorded and printed: a notice instead of a refusal.
    pub ceiling_override: bool,
}

/// A cession to judge.
#[derive(Debug, Clone, Copy)]
pub struct Cession<'a> {
    pub giver: Giver,
    pub beneficiary: Beneficiary,
    pub mode: CessionMode,
    pub items: &'a [ItemFacts],
    /// The day ownership passes: collection in `to_refurbisher` mode, handover in `service` mode.
    pub date: NaiveDate,
}

/// The verdict on a cession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        legal_basis: LegalBasis,
        /// What the beneficiary may do with each item, in the order of the items.
        terms: Vec<ItemTerms>,
        /// Facts worth printing or logging that do not block the cession.
        notices: Vec<Reason>,
    },
    Refused {
        /// Every reason, cession-wide ones first, then item by item in the order of the items.
        reasons: Vec<Reason>,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// Why the cession is lawful, structured and as a French sentence for the documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalBasis {
    pub route: Route,
    /// Whether L3212-2 applies through L3212-3 (the giver is a local authority, a grouping of
    /// them, or a public establishment, assumed local).
    pub through_l3212_3: bool,
    /// The ceiling per item, for routes that have one.
    pub ceiling: Option<Ceiling>,
    /// E.g. « Cession à titre gratuit au profit d'une association de parents d'élèves, sur le
    /// fondement de l'article L3212-2, 3° du code général de la propriété des personnes publiques,
    /// rendu applicable aux collectivités territoriales par l'article L3212-3 du même code. … »
    pub text_fr: String,
}

/// The legal route of a cession.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// CG3P L3212-2 3°: IT equipment to the listed associations and ESUS re-use organisations.
    Alinea3,
    /// CG3P L3212-2 5°: IT equipment to the body's staff.
    Alinea5,
    /// CG3P L3212-2 11°: movable goods to other public bodies.
    Alinea11,
    /// A refurbisher's gift of items it owns: private law, no CG3P ceiling.
    PrivateGift,
}

/// A ceiling per item and the text that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling {
    pub cents: i64,
    /// Article of the CG3P, e.g. `D3212-3`.
    pub article: &'static str,
    /// The décret that wrote it, when worth citing.
    pub decree: Option<&'static str>,
}

/// The value ceiling of every free cession by a public body, in cents: 300 €.
pub const CEILING_CENTS: i64 = 30_000;

const DECREE_2022_791: &str = "décret n° 2022-791 du 6 mai 2022";
const CG3P: &str = "code général de la propriété des personnes publiques";

impl Route {
    pub const ALL: [Route; 4] = [
        Route::Alinea3,
        Route::Alinea5,
        Route::Alinea11,
        Route::PrivateGift,
    ];

    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Route::Alinea3 => "cg3p_l3212_2_3",
            Route::Alinea5 => "cg3p_l3212_2_5",
            Route::Alinea11 => "cg3p_l3212_2_11",
            Route::PrivateGift => "private_gift",
        }
    }

    /// The alinéa of L3212-2, for the CG3P routes.
    pub fn alinea(self) -> Option<u8> {
        match self {
            Route::Alinea3 => Some(3),
            Route::Alinea5 => Some(5),
            Route::Alinea11 => Some(11),
            Route::PrivateGift => None,
        }
    }

    /// The ceiling per item of this route.
    pub fn ceiling(self) -> Option<Ceiling> {
        let at = |article, decree| Ceiling {
            cents: CEILING_CENTS,
            article,
            decree,
        };
        match self {
            Route::Alinea3 => Some(at("D3212-3", Some(DECREE_2022_791))),
            Route::Alinea5 => Some(at("D3212-4", None)),
            Route::Alinea11 => Some(at("D3212-5", Some(DECREE_2022_791))),
            Route::PrivateGift => None,
        }
    }
}

impl Ceiling {
    /// « l'article D3212-3 du code général de la propriété des personnes publiques (décret …) ».
    pub fn citation_fr(&self) -> String {
        match self.decree {
            Some(decree) => format!("l'article {} du {CG3P} ({decree})", self.article),
            None => format!("l'article {} du {CG3P}", self.article),
        }
    }

    fn citation_en(&self) -> String {
        match self.decree {
            Some(decree) => format!("CG3P article {}, {decree}", self.article),
            None => format!("CG3P article {}", self.article),
        }
    }
}

/// What the beneficiary may do with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemTerms {
    /// Index of the item in [`Cession::items`].
    pub item: usize,
    pub resale: Resale,
    /// The beneficiary's commitment, in French, for the convention or attestation.
    pub text_fr: String,
}

/// Whether the beneficiary may resell an item. Every beneficiary commits to re-use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resale {
    /// No resale for money.
    Forbidden,
    /// Resale only to people in precarity or to associations helping them, at most `cap_cents`
    /// tax included (L3212-2 3°, décret n° 2022-1413).
    SolidarityPrice { cap_cents: i64 },
    /// The beneficiary could resell at a solidarity price, but décret n° 2022-1413 sets no price
    /// for this kind of device: no resale.
    NoSolidarityPrice,
}

/// One reason for refusal (or one notice), for machines and for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    /// Index of the item concerned in [`Cession::items`], if the reason is about one item.
    pub item: Option<usize>,
    /// Citing the legal reason, ready to show to users.
    pub message_fr: String,
    pub message_en: String,
}

/// Every reason the engine gives, each with a stable snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    NoItems,
    /// The beneficiary does not fit the cession mode (or a refurbisher gives to a non-association).
    WrongBeneficiaryForMode,
    /// A refurbisher tries to give items it does not own (`service` mode).
    RefurbisherNotOwner,
    /// An association outside the categories of L3212-2 3°.
    BeneficiaryNotEligible,
    EsusAccreditationMissing,
    EsusAccreditationExpired,
    NetBookValueUnknown,
    NetBookValueAboveCeiling,
    OverTenYearsOld,
    /// Notice: the age of an item could not be checked.
    AcquisitionDateUnknown,
    /// Notice: an item over 10 years old is re-used by the operator's override.
    AgeOverrideApplied,
    /// Notice: an item of unknown value or above the ceiling is ceded by the operator's override.
    CeilingOverrideApplied,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 12] = [
        ReasonCode::NoItems,
        ReasonCode::WrongBeneficiaryForMode,
        ReasonCode::RefurbisherNotOwner,
        ReasonCode::BeneficiaryNotEligible,
        ReasonCode::EsusAccreditationMissing,
        ReasonCode::EsusAccreditationExpired,
        ReasonCode::NetBookValueUnknown,
        ReasonCode::NetBookValueAboveCeiling,
        ReasonCode::OverTenYearsOld,
        ReasonCode::AcquisitionDateUnknown,
        ReasonCode::AgeOverrideApplied,
        ReasonCode::CeilingOverrideApplied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NoItems => "no_items",
            ReasonCode::WrongBeneficiaryForMode => "wrong_beneficiary_for_mode",
            ReasonCode::RefurbisherNotOwner => "refurbisher_not_owner",
            ReasonCode::BeneficiaryNotEligible => "beneficiary_not_eligible",
            ReasonCode::EsusAccreditationMissing => "esus_accreditation_missing",
            ReasonCode::EsusAccreditationExpired => "esus_accreditation_expired",
            ReasonCode::NetBookValueUnknown => "net_book_value_unknown",
            ReasonCode::NetBookValueAboveCeiling => "net_book_value_above_ceiling",
            ReasonCode::OverTenYearsOld => "over_ten_years_old",
            ReasonCode::AcquisitionDateUnknown => "acquisition_date_unknown",
            ReasonCode::AgeOverrideApplied => "age_override_applied",
            ReasonCode::CeilingOverrideApplied => "ceiling_override_applied",
        }
    }

    /// Whether this is a notice, which never blocks a cession.
    pub fn is_notice(self) -> bool {
        match self {
            ReasonCode::AcquisitionDateUnknown
            | ReasonCode::AgeOverrideApplied
            | ReasonCode::CeilingOverrideApplied => true,
            ReasonCode::NoItems
            | ReasonCode::WrongBeneficiaryForMode
            | ReasonCode::RefurbisherNotOwner
            | ReasonCode::BeneficiaryNotEligible
            | ReasonCode::EsusAccreditationMissing
            | ReasonCode::EsusAccreditationExpired
            | ReasonCode::NetBookValueUnknown
            | ReasonCode::NetBookValueAboveCeiling
            | ReasonCode::OverTenYearsOld => false,
        }
    }
}

/// One row of the beneficiary table.
struct BeneficiaryRule {
    /// The route a public body's cession takes; `None`: no free cession is possible.
    route: Option<Route>,
    /// May resell at a solidarity price (L3212-2 3°, last sentence).
    solidarity_resale: bool,
    /// With its indefinite article (`un`/`une`), so that « au profit d'… » reads well.
    designation_fr: &'static str,
    designation_en: &'static str,
}

impl Beneficiary {
    /// The beneficiary table: route, resale and designation of each kind of beneficiary.
    fn rule(self) -> BeneficiaryRule {
        use BeneficiaryCategory as C;
        let row = |route, solidarity_resale, designation_fr, designation_en| BeneficiaryRule {
            route,
            solidarity_resale,
            designation_fr,
            designation_en,
        };
        match self {
            Beneficiary::Association(C::ParentsEleves) => row(
                Some(Route::Alinea3),
                false,
                "une association de parents d'élèves",
                "a parent-teacher association",
            ),
            Beneficiary::Association(C::SoutienScolaire) => row(
                Some(Route::Alinea3),
                false,
                "une association de soutien scolaire",
                "a tutoring association",
            ),
            Beneficiary::Association(C::Etudiants) => row(
                Some(Route::Alinea3),
                false,
                "une association d'étudiants",
                "a student association",
            ),
            Beneficiary::Association(C::UtilitePublique) => row(
                Some(Route::Alinea3),
                true,
                "une association reconnue d'utilité publique",
                "an association recognised as of public utility",
            ),
            Beneficiary::Association(C::InteretGeneralPrecarite) => row(
                Some(Route::Alinea3),
                true,
                "une association d'intérêt général dont l'objet statutaire est d'équiper, de \
                 former et d'accompagner des personnes en situation de précarité",
                "a general-interest association whose statutory purpose is to equip, train and \
                 support people in precarity",
            ),
            Beneficiary::Association(C::Other) => {
                row(None, false, "une association", "an association")
            }
            Beneficiary::Refurbisher { .. } => row(
                Some(Route::Alinea3),
                false,
                "un organisme de réutilisation et de réemploi agréé « entreprise solidaire \
                 d'utilité sociale »",
                "an ESUS-accredited re-use organisation",
            ),
            Beneficiary::Staff => row(
                Some(Route::Alinea5),
                false,
                "un membre du personnel de la personne publique",
                "a member of the public body's staff",
            ),
            Beneficiary::OtherPublicBody => row(
                Some(Route::Alinea11),
                false,
                "une autre personne publique",
                "another public body",
            ),
        }
    }

    fn is_association(self) -> bool {
        match self {
            Beneficiary::Association(_) => true,
            Beneficiary::Refurbisher { .. } | Beneficiary::Staff | Beneficiary::OtherPublicBody => {
                false
            }
        }
    }
}

/// To whom L3212-3 extends L3212-2, for a giver of this type; `None` for the State, to which
/// L3212-2 applies directly. A public establishment is assumed local (a school, a CCAS): the
/// platform serves local authorities, and for a State establishment the clause is superfluous but
/// not false.
fn l3212_3_extends_to(giver: PublicBodyType) -> Option<&'static str> {
    match giver {
        PublicBodyType::Commune | PublicBodyType::Departement | PublicBodyType::Region => {
            Some("aux collectivités territoriales")
        }
        PublicBodyType::Epci => Some("aux groupements de collectivités territoriales"),
        PublicBodyType::EtablissementPublic => {
            Some("aux établissements publics des collectivités territoriales")
        }
        PublicBodyType::Etat => None,
    }
}

/// One row of décret n° 2022-1413: a kind of device, our categories that fall in it, its cap.
struct SolidarityPrice {
    label_fr: &'static str,
    categories: &'static [Category],
    cap_cents: i64,
}

/// Maximum solidarity resale prices, tax included, of décret n° 2022-1413. The desktop cap is for
/// a desktop with screen, keyboard and mouse; an all-in-one is one.
const SOLIDARITY_PRICES: &[SolidarityPrice] = &[
    SolidarityPrice {
        label_fr: "ordinateur portable",
        categories: &[Category::Laptop],
        cap_cents: 18_000,
    },
    SolidarityPrice {
        label_fr: "ordinateur fixe avec un écran, un clavier et une souris",
        categories: &[Category::Desktop, Category::AllInOne],
        cap_cents: 15_000,
    },
    SolidarityPrice {
        label_fr: "tablette",
        categories: &[Category::Tablet],
        cap_cents: 10_000,
    },
    SolidarityPrice {
        label_fr: "smartphone",
        categories: &[Category::Smartphone],
        cap_cents: 10_000,
    },
    SolidarityPrice {
        label_fr: "écran",
        categories: &[Category::Monitor],
        cap_cents: 3_000,
    },
    SolidarityPrice {
        label_fr: "imprimante individuelle",
        categories: &[Category::Printer],
        cap_cents: 3_000,
    },
    SolidarityPrice {
        label_fr: "appareil multifonctions (impression, scan, copie)",
        categories: &[Category::MultifunctionPrinter],
        cap_cents: 17_000,
    },
];

fn solidarity_price(category: Category) -> Option<&'static SolidarityPrice> {
    SOLIDARITY_PRICES
        .iter()
        .find(|row| row.categories.contains(&category))
}

/// The maximum solidarity resale price of a device of `category`, tax included, in cents
/// (décret n° 2022-1413); `None` when the décret sets none, so that resale is not allowed.
pub fn resale_cap_cents(category: Category) -> Option<i64> {
    solidarity_price(category).map(|row| row.cap_cents)
}

/// Judges a cession, listing every reason for refusal.
///
/// Choices where the texts leave room:
/// - unknown net book value: refused whenever the giver is a public body, since the 300 € ceiling
///   cannot be checked (a refurbisher's private gift has no ceiling);
/// - unknown acquisition date: allowed, with an `acquisition_date_unknown` notice. The CG3P sets
///   no age condition; loi REEN art. 16 and décret 2023-266 send to recycling the items *known*
///   to be over 10 years old, and the life-cycle table does not refuse an unknown age either;
/// - "over 10 years" is counted to the day ([`over_ten_years`]): an item acquired on 29/11/2016
///   may still be given on 29/11/2026, not on 30/11/2026; the operator's override lifts it;
/// - a refurbisher's gift is a private gift: any association may receive it, no ceiling or age
///   rule applies (the catalogue's `publish` step already keeps old devices out), and the
///   association commits to re-use and not to resell, as the attestation de don records;
/// - `to_refurbisher` mode from a public body goes to a refurbisher only, `service` mode to the
///   final beneficiary only (association, staff or another public body);
/// - an ESUS accreditation is valid up to and including its expiry day.
pub fn check(cession: &Cession<'_>) -> Decision {
    let mut reasons = Vec::new();
    let mut notices = Vec::new();
    let rule = cession.beneficiary.rule();
    if cession.items.is_empty() {
        reasons.push(Reason {
            code: ReasonCode::NoItems,
            item: None,
            message_fr: "La cession ne porte sur aucun bien.".into(),
            message_en: "The cession lists no item.".into(),
        });
    }
    let (route, body) = match cession.giver {
        Giver::Refurbisher => {
            refurbisher_gift_reasons(cession, &rule, &mut reasons);
            (Route::PrivateGift, None)
        }
        Giver::PublicBody(body) => {
            public_cession_reasons(cession, &rule, &mut reasons);
            let ceiling = rule
                .route
                .and_then(Route::ceiling)
                .or(Route::Alinea3.ceiling());
            if let Some(ceiling) = ceiling {
                for (i, item) in cession.items.iter().enumerate() {
                    item_reasons(i, item, cession.date, &ceiling, &mut reasons, &mut notices);
                }
            }
            (rule.route.unwrap_or(Route::Alinea3), Some(body))
        }
    };
    if !reasons.is_empty() {
        return Decision::Refused { reasons };
    }
    let legal_basis = LegalBasis {
        route,
        through_l3212_3: body.and_then(l3212_3_extends_to).is_some(),
        ceiling: route.ceiling(),
        text_fr: legal_text(body, route, &rule),
    };
    let terms = cession
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let resale = match route {
                Route::PrivateGift => Resale::Forbidden,
                Route::Alinea3 | Route::Alinea5 | Route::Alinea11 if rule.solidarity_resale => {
                    resale_cap_cents(item.category).map_or(Resale::NoSolidarityPrice, |cap| {
                        Resale::SolidarityPrice { cap_cents: cap }
                    })
                }
                Route::Alinea3 | Route::Alinea5 | Route::Alinea11 => Resale::Forbidden,
            };
            ItemTerms {
                item: i,
                resale,
                text_fr: terms_text(item.category, resale),
            }
        })
        .collect();
    Decision::Allowed {
        legal_basis,
        terms,
        notices,
    }
}

/// Reasons of a refurbisher's gift: it must own the items and give to an association.
fn refurbisher_gift_reasons(cession: &Cession<'_>, rule: &BeneficiaryRule, out: &mut Vec<Reason>) {
    match cession.mode {
        CessionMode::Service => out.push(Reason {
            code: ReasonCode::RefurbisherNotOwner,
            item: None,
            message_fr: "En prestation, la personne publique reste propriétaire des biens jusqu'à \
                         leur remise : le reconditionneur ne peut pas les donner, c'est la \
                         personne publique qui les cède."
                .into(),
            message_en: "In service mode the public body owns the items until handover: the \
                         refurbisher cannot give them; the public body cedes them."
                .into(),
        }),
        CessionMode::ToRefurbisher => {}
    }
    if !cession.beneficiary.is_association() {
        out.push(Reason {
            code: ReasonCode::WrongBeneficiaryForMode,
            item: None,
            message_fr: format!(
                "Un reconditionneur ne peut donner ces biens qu'à une association, pas à {}.",
                rule.designation_fr
            ),
            message_en: format!(
                "A refurbisher may give these items to associations only, not to {}.",
                rule.designation_en
            ),
        });
    }
}

/// Cession-wide reasons of a public body's cession: mode, beneficiary, ESUS accreditation.
fn public_cession_reasons(cession: &Cession<'_>, rule: &BeneficiaryRule, out: &mut Vec<Reason>) {
    let to_refurbisher = matches!(cession.beneficiary, Beneficiary::Refurbisher { .. });
    match (cession.mode, to_refurbisher) {
        (CessionMode::ToRefurbisher, false) => out.push(Reason {
            code: ReasonCode::WrongBeneficiaryForMode,
            item: None,
            message_fr: format!(
                "En cession au reconditionneur, la personne publique cède les biens au \
                 reconditionneur agréé ESUS lors de l'enlèvement ; elle ne peut pas, dans ce \
                 mode, les céder directement à {}.",
                rule.designation_fr
            ),
            message_en: format!(
                "In to_refurbisher mode the public body cedes the items to the ESUS-accredited \
                 refurbisher at collection; it cannot cede them directly to {} in this mode.",
                rule.designation_en
            ),
        }),
        (CessionMode::Service, true) => out.push(Reason {
            code: ReasonCode::WrongBeneficiaryForMode,
            item: None,
            message_fr: "En prestation, le reconditionneur travaille pour la personne publique, \
                         qui reste propriétaire des biens jusqu'à leur remise : la cession se \
                         fait au bénéficiaire final, pas au reconditionneur."
                .into(),
            message_en: "In service mode the refurbisher works for the public body, which owns \
                         the items until handover: the cession is to the final beneficiary, not \
                         to the refurbisher."
                .into(),
        }),
        (CessionMode::ToRefurbisher, true) | (CessionMode::Service, false) => {}
    }
    if rule.route.is_none() {
        out.push(Reason {
            code: ReasonCode::BeneficiaryNotEligible,
            item: None,
            message_fr: format!(
                "Cette association ne relève d'aucune des catégories de bénéficiaires de \
                 l'article L3212-2, 3° du {CG3P} (associations de parents d'élèves, de soutien \
                 scolaire ou d'étudiants, associations reconnues d'utilité publique, \
                 associations d'intérêt général œuvrant pour les personnes en situation de \
                 précarité, organismes de réemploi agréés ESUS) : la personne publique ne peut \
                 pas lui céder gratuitement ces biens."
            ),
            message_en: "This association is in none of the beneficiary categories of CG3P \
                         article L3212-2, 3° (parent-teacher, tutoring or student associations, \
                         associations recognised as of public utility, general-interest \
                         associations for people in precarity, ESUS-accredited re-use \
                         organisations): the public body cannot give it these items."
                .into(),
        });
    }
    if let Beneficiary::Refurbisher { esus_expires_on } = cession.beneficiary {
        match esus_expires_on {
            None => out.push(Reason {
                code: ReasonCode::EsusAccreditationMissing,
                item: None,
                message_fr: format!(
                    "Le reconditionneur ne dispose pas de l'agrément « entreprise solidaire \
                     d'utilité sociale » (ESUS, article L3332-17-1 du code du travail) : seuls \
                     les organismes de réutilisation et de réemploi agréés ESUS peuvent recevoir \
                     ces biens au titre de l'article L3212-2, 3° du {CG3P}."
                ),
                message_en: "The refurbisher holds no ESUS accreditation (Code du travail \
                             L3332-17-1): only ESUS-accredited re-use organisations may receive \
                             these items under CG3P article L3212-2, 3°."
                    .into(),
            }),
            Some(expiry) if expiry < cession.date => out.push(Reason {
                code: ReasonCode::EsusAccreditationExpired,
                item: None,
                message_fr: format!(
                    "L'agrément « entreprise solidaire d'utilité sociale » (ESUS) du \
                     reconditionneur a expiré le {} : il doit être en cours de validité à la \
                     date de la cession ({}) pour recevoir ces biens au titre de l'article \
                     L3212-2, 3° du {CG3P}.",
                    date_fr(expiry),
                    date_fr(cession.date)
                ),
                message_en: format!(
                    "The refurbisher's ESUS accreditation expired on {expiry}: it must be valid \
                     on the cession date ({}) to receive these items under CG3P article \
                     L3212-2, 3°.",
                    cession.date
                ),
            }),
            Some(_) => {}
        }
    }
}

/// Reasons and notices about one item of a public body's cession: value and age.
fn item_reasons(
    i: usize,
    item: &ItemFacts,
    date: NaiveDate,
    ceiling: &Ceiling,
    reasons: &mut Vec<Reason>,
    notices: &mut Vec<Reason>,
) {
    value_reasons(i, item, ceiling, reasons, notices);
    age_reasons(i, item, date, reasons, notices);
}

/// Judges each item's value against the ceiling of `route` (none for a private gift): the
/// refusals (`net_book_value_unknown`, `net_book_value_above_ceiling`) and the notices of the
/// operator's overrides. This is the part of [`check`] that does not depend on the beneficiary,
/// so a public body's lot is checked when devices are added and when it is published, before
/// any refurbisher is known.
pub fn ceiling_check(route: Route, items: &[ItemFacts]) -> (Vec<Reason>, Vec<Reason>) {
    let mut reasons = Vec::new();
    let mut notices = Vec::new();
    if let Some(ceiling) = route.ceiling() {
        for (i, item) in items.iter().enumerate() {
            value_reasons(i, item, &ceiling, &mut reasons, &mut notices);
        }
    }
    (reasons, notices)
}

/// The value part of [`item_reasons`].
fn value_reasons(
    i: usize,
    item: &ItemFacts,
    ceiling: &Ceiling,
    reasons: &mut Vec<Reason>,
    notices: &mut Vec<Reason>,
) {
    let (name_fr, name_en) = item_names(i, item);
    let beyond = item.net_book_value_cents.is_none_or(|v| v > ceiling.cents);
    if beyond && item.ceiling_override {
        notices.push(Reason {
            code: ReasonCode::CeilingOverrideApplied,
            item: Some(i),
            message_fr: format!(
                "Le bien {name_fr}, de valeur {} au regard du plafond de {} par bien fixé par {}, \
                 est cédé par une dérogation motivée de l'opérateur de la plateforme.",
                match item.net_book_value_cents {
                    Some(v) => format!("{} (supérieure)", euros_fr(v)),
                    None => "non renseignée".to_owned(),
                },
                euros_fr(ceiling.cents),
                ceiling.citation_fr()
            ),
            message_en: format!(
                "Item {name_en}, of unknown value or above the {} ceiling per item ({}), is ceded \
                 by the platform operator's reasoned exception.",
                euros_en(ceiling.cents),
                ceiling.citation_en()
            ),
        });
    }
    match item.net_book_value_cents {
        _ if item.ceiling_override => {}
        None => reasons.push(Reason {
            code: ReasonCode::NetBookValueUnknown,
            item: Some(i),
            message_fr: format!(
                "La valeur nette comptable du bien {name_fr} n'est pas renseignée : le respect \
                 du plafond de {} par bien fixé par {} ne peut pas être vérifié.",
                euros_fr(ceiling.cents),
                ceiling.citation_fr()
            ),
            message_en: format!(
                "Item {name_en} has no net book value: the {} ceiling per item ({}) cannot be \
                 checked.",
                euros_en(ceiling.cents),
                ceiling.citation_en()
            ),
        }),
        Some(value) if value > ceiling.cents => reasons.push(Reason {
            code: ReasonCode::NetBookValueAboveCeiling,
            item: Some(i),
            message_fr: format!(
                "Le bien {name_fr} a une valeur nette comptable de {}, supérieure au plafond de \
                 {} par bien fixé par {} : il ne peut pas être cédé gratuitement.",
                euros_fr(value),
                euros_fr(ceiling.cents),
                ceiling.citation_fr()
            ),
            message_en: format!(
                "Item {name_en} has a net book value of {}, above the {} ceiling per item ({}): \
                 it cannot be given away.",
                euros_en(value),
                euros_en(ceiling.cents),
                ceiling.citation_en()
            ),
        }),
        Some(_) => {}
    }
}

/// The age part of [`item_reasons`].
fn age_reasons(
    i: usize,
    item: &ItemFacts,
    date: NaiveDate,
    reasons: &mut Vec<Reason>,
    notices: &mut Vec<Reason>,
) {
    let (name_fr, name_en) = item_names(i, item);
    match item.acquisition_date {
        None => notices.push(Reason {
            code: ReasonCode::AcquisitionDateUnknown,
            item: Some(i),
            message_fr: format!(
                "La date d'acquisition du bien {name_fr} n'est pas renseignée : il n'a pas pu \
                 être vérifié qu'il a 10 ans au plus (loi n° 2021-1485 du 15 novembre 2021 dite \
                 « REEN », article 16)."
            ),
            message_en: format!(
                "Item {name_en} has no acquisition date: it could not be checked to be at most \
                 10 years old (loi REEN n° 2021-1485, art. 16)."
            ),
        }),
        Some(acquired) if over_ten_years(acquired, date) && item.age_override => {
            notices.push(Reason {
                code: ReasonCode::AgeOverrideApplied,
                item: Some(i),
                message_fr: format!(
                    "Le bien {name_fr}, acquis le {}, a plus de 10 ans ; son réemploi a été \
                     autorisé par une dérogation motivée de l'opérateur de la plateforme.",
                    date_fr(acquired)
                ),
                message_en: format!(
                    "Item {name_en}, acquired on {acquired}, is over 10 years old; its re-use \
                     was allowed by the platform operator's reasoned exception."
                ),
            })
        }
        Some(acquired) if over_ten_years(acquired, date) => reasons.push(Reason {
            code: ReasonCode::OverTenYearsOld,
            item: Some(i),
            message_fr: format!(
                "Le bien {name_fr}, acquis le {}, a plus de 10 ans à la date de la cession ({}) : \
                 il doit être orienté vers le recyclage et non vers le réemploi (loi n° 2021-1485 \
                 du 15 novembre 2021 dite « REEN », article 16 ; décret n° 2023-266 du 12 avril \
                 2023).",
                date_fr(acquired),
                date_fr(date)
            ),
            message_en: format!(
                "Item {name_en}, acquired on {acquired}, is over 10 years old on the cession \
                 date ({date}): it must go to recycling, not re-use (loi REEN n° 2021-1485, \
                 art. 16; décret n° 2023-266)."
            ),
        }),
        Some(_) => {}
    }
}

fn legal_text(body: Option<PublicBodyType>, route: Route, rule: &BeneficiaryRule) -> String {
    let designation = rule.designation_fr;
    match (route.alinea(), route.ceiling()) {
        (Some(alinea), Some(ceiling)) => {
            let through = body
                .and_then(l3212_3_extends_to)
                .map(|whom| format!(", rendu applicable {whom} par l'article L3212-3 du même code"))
                .unwrap_or_default();
            format!(
                "Cession à titre gratuit au profit d'{designation}, sur le fondement de l'article \
                 L3212-2, {alinea}° du {CG3P}{through}. Valeur unitaire de chaque bien plafonnée \
                 à {} par {}.",
                euros_fr(ceiling.cents),
                ceiling.citation_fr()
            )
        }
        (None, _) | (_, None) => format!(
            "Don de biens meubles par le reconditionneur, qui en est propriétaire depuis leur \
             cession par la personne publique, au profit d'{designation}. Il ne s'agit pas d'une \
             cession de biens publics : le plafond de valeur du {CG3P} ne s'applique pas."
        ),
    }
}

fn terms_text(category: Category, resale: Resale) -> String {
    match resale {
        Resale::Forbidden => {
            "Le bénéficiaire s'engage à réemployer ce bien et à ne pas le revendre.".into()
        }
        Resale::SolidarityPrice { cap_cents } => {
            let kind = solidarity_price(category).map_or("", |row| row.label_fr);
            format!(
                "Le bénéficiaire s'engage à réemployer ce bien ; il ne peut le revendre qu'à des \
                 personnes en situation de précarité ou à des associations œuvrant en leur \
                 faveur, à un prix solidaire n'excédant pas {} TTC ({kind}, décret n° 2022-1413 \
                 du 7 novembre 2022).",
                euros_fr(cap_cents)
            )
        }
        Resale::NoSolidarityPrice => format!(
            "Le bénéficiaire s'engage à réemployer ce bien et à ne pas le revendre : le décret \
             n° 2022-1413 du 7 novembre 2022 ne fixe pas de prix solidaire pour cette catégorie \
             de bien ({}).",
            category.label_fr().to_lowercase()
        ),
    }
}

/// How messages name an item, in French (with its category) and in English.
fn item_names(i: usize, item: &ItemFacts) -> (String, String) {
    let reference = match item.reference.trim() {
        "" => format!("n° {}", i + 1),
        r => r.to_owned(),
    };
    let category = item.category.label_fr().to_lowercase();
    (format!("{reference} ({category})"), reference)
}

fn date_fr(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// `30001` → `300,01 €`, `150000` → `1 500 €`.
/// `1 500 €`, `300,01 €`: an amount as the legal texts write it.
pub fn euros_fr(cents: i64) -> String {
    let (sign, units, fraction) = split_cents(cents);
    let units = group_thousands(units, ' ');
    match fraction {
        0 => format!("{sign}{units} €"),
        f => format!("{sign}{units},{f:02} €"),
    }
}

/// `30001` → `€300.01`, `150000` → `€1,500`.
fn euros_en(cents: i64) -> String {
    let (sign, units, fraction) = split_cents(cents);
    let units = group_thousands(units, ',');
    match fraction {
        0 => format!("{sign}€{units}"),
        f => format!("{sign}€{units}.{f:02}"),
    }
}

fn split_cents(cents: i64) -> (&'static str, u64, u64) {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    (sign, abs / 100, abs % 100)
}

fn group_thousands(n: u64, separator: char) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use BeneficiaryCategory as C;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    /// The cession date of most tests.
    fn today() -> NaiveDate {
        day(2026, 11, 29)
    }

    fn item(category: Category, nbv_cents: Option<i64>) -> ItemFacts {
        ItemFacts {
            reference: "INV-2021-0042".into(),
            category,
            net_book_value_cents: nbv_cents,
            acquisition_date: Some(day(2021, 3, 15)),
            age_override: false,
            ceiling_override: false,
        }
    }

    fn laptop() -> ItemFacts {
        item(Category::Laptop, Some(0))
    }

    const COMMUNE: Giver = Giver::PublicBody(PublicBodyType::Commune);
    const VALID_ESUS: Beneficiary = Beneficiary::Refurbisher {
        esus_expires_on: NaiveDate::from_ymd_opt(2027, 12, 31),
    };

    fn decide(
        giver: Giver,
        beneficiary: Beneficiary,
        mode: CessionMode,
        items: &[ItemFacts],
    ) -> Decision {
        check(&Cession {
            giver,
            beneficiary,
            mode,
            items,
            date: today(),
        })
    }

    /// The mode a public body uses to reach `beneficiary` lawfully.
    fn natural_mode(beneficiary: Beneficiary) -> CessionMode {
        match beneficiary {
            Beneficiary::Refurbisher { .. } => CessionMode::ToRefurbisher,
            Beneficiary::Association(_) | Beneficiary::Staff | Beneficiary::OtherPublicBody => {
                CessionMode::Service
            }
        }
    }

    fn codes(decision: &Decision) -> Vec<(&'static str, Option<usize>)> {
        match decision {
            Decision::Allowed { .. } => vec![],
            Decision::Refused { reasons } => {
                reasons.iter().map(|r| (r.code.as_str(), r.item)).collect()
            }
        }
    }

    fn allowed(decision: &Decision) -> (&LegalBasis, &[ItemTerms], &[Reason]) {
        match decision {
            Decision::Allowed {
                legal_basis,
                terms,
                notices,
            } => (legal_basis, terms, notices),
            Decision::Refused { reasons } => panic!("refused: {reasons:#?}"),
        }
    }

    #[test]
    fn each_beneficiary_kind_gets_its_route_or_its_refusal() {
        use Resale::{Forbidden, SolidarityPrice};
        let laptop_cap = SolidarityPrice { cap_cents: 18_000 };
        /// A beneficiary and its route and resale terms, or the codes of its refusal.
        type Case = (
            Beneficiary,
            Result<(Route, Resale), &'static [&'static str]>,
        );
        let cases: &[Case] = &[
            (
                Beneficiary::Association(C::ParentsEleves),
                Ok((Route::Alinea3, Forbidden)),
            ),
            (
                Beneficiary::Association(C::SoutienScolaire),
                Ok((Route::Alinea3, Forbidden)),
            ),
            (
                Beneficiary::Association(C::Etudiants),
                Ok((Route::Alinea3, Forbidden)),
            ),
            (
                Beneficiary::Association(C::UtilitePublique),
                Ok((Route::Alinea3, laptop_cap)),
            ),
            (
                Beneficiary::Association(C::InteretGeneralPrecarite),
                Ok((Route::Alinea3, laptop_cap)),
            ),
            (VALID_ESUS, Ok((Route::Alinea3, Forbidden))),
            (
                Beneficiary::Association(C::Other),
                Err(&["beneficiary_not_eligible"]),
            ),
            (
                Beneficiary::Refurbisher {
                    esus_expires_on: None,
                },
                Err(&["esus_accreditation_missing"]),
            ),
            (Beneficiary::Staff, Ok((Route::Alinea5, Forbidden))),
            (
                Beneficiary::OtherPublicBody,
                Ok((Route::Alinea11, Forbidden)),
            ),
        ];
        for (beneficiary, expected) in cases {
            let decision = decide(
                COMMUNE,
                *beneficiary,
                natural_mode(*beneficiary),
                &[laptop()],
            );
            match expected {
                Ok((route, resale)) => {
                    let (basis, terms, notices) = allowed(&decision);
                    assert_eq!(basis.route, *route, "{beneficiary:?}");
                    assert!(basis.through_l3212_3, "{beneficiary:?}");
                    assert_eq!(terms.len(), 1);
                    assert_eq!(terms[0].resale, *resale, "{beneficiary:?}");
                    assert!(notices.is_empty());
                    let designation = beneficiary.rule().designation_fr;
                    assert!(basis.text_fr.contains(designation), "{}", basis.text_fr);
                }
                Err(expected_codes) => {
                    let got: Vec<_> = codes(&decision).into_iter().map(|(c, _)| c).collect();
                    assert_eq!(got, *expected_codes, "{beneficiary:?}");
                }
            }
        }
    }

    #[test]
    fn the_legal_basis_reads_as_the_documents_print_it() {
        let decision = decide(
            COMMUNE,
            Beneficiary::Association(C::ParentsEleves),
            CessionMode::Service,
            &[laptop()],
        );
        let (basis, _, _) = allowed(&decision);
        assert_eq!(
            basis.text_fr,
            "Cession à titre gratuit au profit d'une association de parents d'élèves, sur le \
             fondement de l'article L3212-2, 3° du code général de la propriété des personnes \
             publiques, rendu applicable aux collectivités territoriales par l'article L3212-3 \
             du même code. Valeur unitaire de chaque bien plafonnée à 300 € par l'article \
             D3212-3 du code général de la propriété des personnes publiques (décret n° 2022-791 \
             du 6 mai 2022)."
        );
        assert_eq!(
            basis.ceiling,
            Some(Ceiling {
                cents: 30_000,
                article: "D3212-3",
                decree: Some("décret n° 2022-791 du 6 mai 2022"),
            })
        );
    }

    #[test]
    fn l3212_3_is_cited_for_local_bodies_and_not_for_the_state() {
        let cases = [
            (
                PublicBodyType::Commune,
                Some("aux collectivités territoriales"),
            ),
            (
                PublicBodyType::Departement,
                Some("aux collectivités territoriales"),
            ),
            (
                PublicBodyType::Region,
                Some("aux collectivités territoriales"),
            ),
            (PublicBodyType::Epci, Some("aux groupements")),
            (
                PublicBodyType::EtablissementPublic,
                Some("aux établissements"),
            ),
            (PublicBodyType::Etat, None),
        ];
        for (body, clause) in cases {
            let decision = decide(
                Giver::PublicBody(body),
                Beneficiary::Association(C::Etudiants),
                CessionMode::Service,
                &[laptop()],
            );
            let (basis, _, _) = allowed(&decision);
            assert_eq!(basis.through_l3212_3, clause.is_some(), "{body:?}");
            assert_eq!(
                basis.text_fr.contains("L3212-3"),
                clause.is_some(),
                "{body:?}"
            );
            if let Some(clause) = clause {
                assert!(
                    basis.text_fr.contains(clause),
                    "{body:?}: {}",
                    basis.text_fr
                );
            }
        }
    }

    #[test]
    fn staff_and_other_public_bodies_take_alineas_5_and_11_with_their_own_ceiling_articles() {
        let cases = [
            (Beneficiary::Staff, "L3212-2, 5°", "D3212-4"),
            (Beneficiary::OtherPublicBody, "L3212-2, 11°", "D3212-5"),
        ];
        for (beneficiary, alinea, article) in cases {
            let decision = decide(
                Giver::PublicBody(PublicBodyType::Etat),
                beneficiary,
                CessionMode::Service,
                &[laptop()],
            );
            let (basis, terms, _) = allowed(&decision);
            assert!(basis.text_fr.contains(alinea), "{}", basis.text_fr);
            assert!(basis.text_fr.contains(article), "{}", basis.text_fr);
            assert_eq!(basis.ceiling.map(|c| c.article), Some(article));
            assert_eq!(terms[0].resale, Resale::Forbidden);

            let over = decide(
                Giver::PublicBody(PublicBodyType::Etat),
                beneficiary,
                CessionMode::Service,
                &[item(Category::Laptop, Some(30_001))],
            );
            let Decision::Refused { reasons } = over else {
                panic!("above the ceiling must be refused");
            };
            assert!(reasons[0].message_fr.contains(article), "{reasons:#?}");
        }
    }

    #[test]
    fn the_ceiling_is_300_euros_inclusive() {
        let cases = [
            (Some(0), vec![]),
            (Some(29_999), vec![]),
            (Some(30_000), vec![]),
            (
                Some(30_001),
                vec![("net_book_value_above_ceiling", Some(0))],
            ),
            (
                Some(250_000),
                vec![("net_book_value_above_ceiling", Some(0))],
            ),
            (None, vec![("net_book_value_unknown", Some(0))]),
        ];
        for (nbv, expected) in cases {
            for (beneficiary, mode) in [
                (
                    Beneficiary::Association(C::SoutienScolaire),
                    CessionMode::Service,
                ),
                (VALID_ESUS, CessionMode::ToRefurbisher),
            ] {
                let decision = decide(COMMUNE, beneficiary, mode, &[item(Category::Desktop, nbv)]);
                assert_eq!(codes(&decision), expected, "{nbv:?} {mode:?}");
                assert_eq!(decision.is_allowed(), expected.is_empty());
            }
        }
    }

    #[test]
    fn the_ceiling_refusal_cites_the_decree_and_the_amount() {
        let decision = decide(
            COMMUNE,
            Beneficiary::Association(C::ParentsEleves),
            CessionMode::Service,
            &[item(Category::Laptop, Some(30_001))],
        );
        let Decision::Refused { reasons } = decision else {
            panic!("refused");
        };
        assert_eq!(
            reasons[0].message_fr,
            "Le bien INV-2021-0042 (ordinateur portable) a une valeur nette comptable de \
             300,01 €, supérieure au plafond de 300 € par bien fixé par l'article D3212-3 du code \
             général de la propriété des personnes publiques (décret n° 2022-791 du 6 mai 2022) : \
             il ne peut pas être cédé gratuitement."
        );
        assert_eq!(
            reasons[0].message_en,
            "Item INV-2021-0042 has a net book value of €300.01, above the €300 ceiling per item \
             (CG3P article D3212-3, décret n° 2022-791 du 6 mai 2022): it cannot be given away."
        );
    }

    #[test]
    fn ten_years_are_counted_to_the_day_of_the_cession() {
        let cases = [
            (day(2016, 11, 30), today(), true),
            (day(2016, 11, 29), today(), true),
            (day(2016, 11, 28), today(), false),
            // A leap day's tenth anniversary falls on 28 February.
            (day(2016, 2, 29), day(2026, 2, 28), true),
            (day(2016, 2, 29), day(2026, 3, 1), false),
        ];
        for (acquired, date, allowed_) in cases {
            let items = [ItemFacts {
                acquisition_date: Some(acquired),
                ..laptop()
            }];
            let decision = check(&Cession {
                giver: COMMUNE,
                beneficiary: Beneficiary::Association(C::Etudiants),
                mode: CessionMode::Service,
                items: &items,
                date,
            });
            let expected = if allowed_ {
                vec![]
            } else {
                vec![("over_ten_years_old", Some(0))]
            };
            assert_eq!(codes(&decision), expected, "{acquired} on {date}");
        }
    }

    #[test]
    fn unknown_or_overridden_age_is_allowed_with_a_notice() {
        let items = [
            ItemFacts {
                acquisition_date: None,
                ..laptop()
            },
            ItemFacts {
                acquisition_date: Some(day(2012, 1, 1)),
                age_override: true,
                ..laptop()
            },
            laptop(),
        ];
        let decision = decide(
            COMMUNE,
            Beneficiary::Association(C::Etudiants),
            CessionMode::Service,
            &items,
        );
        let (_, terms, notices) = allowed(&decision);
        assert_eq!(terms.len(), 3);
        let got: Vec<_> = notices.iter().map(|n| (n.code, n.item)).collect();
        assert_eq!(
            got,
            [
                (ReasonCode::AcquisitionDateUnknown, Some(0)),
                (ReasonCode::AgeOverrideApplied, Some(1)),
            ]
        );
        assert!(notices[0].message_fr.contains("REEN"));
        assert!(notices[1].message_fr.contains("01/01/2012"));
    }

    #[test]
    fn the_old_item_refusal_sends_it_to_recycling_citing_reen_and_the_decree() {
        let items = [ItemFacts {
            acquisition_date: Some(day(2015, 3, 1)),
            ..item(Category::Monitor, Some(0))
        }];
        let decision = decide(
            COMMUNE,
            Beneficiary::Association(C::Etudiants),
            CessionMode::Service,
            &items,
        );
        let Decision::Refused { reasons } = decision else {
            panic!("refused");
        };
        assert_eq!(
            reasons[0].message_fr,
            "Le bien INV-2021-0042 (écran), acquis le 01/03/2015, a plus de 10 ans à la date de \
             la cession (29/11/2026) : il doit être orienté vers le recyclage et non vers le \
             réemploi (loi n° 2021-1485 du 15 novembre 2021 dite « REEN », article 16 ; décret \
             n° 2023-266 du 12 avril 2023)."
        );
    }

    #[test]
    fn every_resale_cap_of_the_decree() {
        let expected = [
            (Category::Laptop, Some(18_000)),
            (Category::Desktop, Some(15_000)),
            (Category::AllInOne, Some(15_000)),
            (Category::Monitor, Some(3_000)),
            (Category::Tablet, Some(10_000)),
            (Category::Smartphone, Some(10_000)),
            (Category::Printer, Some(3_000)),
            (Category::MultifunctionPrinter, Some(17_000)),
            (Category::Projector, None),
            (Category::Network, None),
            (Category::Server, None),
            (Category::Peripheral, None),
            (Category::Other, None),
        ];
        assert_eq!(expected.len(), Category::ALL.len());
        for (category, cap) in expected {
            assert_eq!(resale_cap_cents(category), cap, "{category:?}");
            let rows = SOLIDARITY_PRICES
                .iter()
                .filter(|r| r.categories.contains(&category))
                .count();
            assert!(rows <= 1, "{category:?} in {rows} rows");
        }
        // The same caps reach the terms of a public-utility association, with their wording.
        let items: Vec<_> = expected.iter().map(|(c, _)| item(*c, Some(100))).collect();
        for beneficiary in [C::UtilitePublique, C::InteretGeneralPrecarite] {
            let decision = decide(
                COMMUNE,
                Beneficiary::Association(beneficiary),
                CessionMode::Service,
                &items,
            );
            let (_, terms, _) = allowed(&decision);
            for ((category, cap), terms) in expected.iter().zip(terms) {
                match cap {
                    Some(cap) => {
                        assert_eq!(terms.resale, Resale::SolidarityPrice { cap_cents: *cap });
                        assert!(terms.text_fr.contains("TTC"), "{}", terms.text_fr);
                        assert!(terms.text_fr.contains("2022-1413"), "{}", terms.text_fr);
                    }
                    None => {
                        assert_eq!(terms.resale, Resale::NoSolidarityPrice, "{category:?}");
                        assert!(terms.text_fr.contains("ne pas le revendre"));
                        assert!(terms.text_fr.contains("ne fixe pas de prix solidaire"));
                    }
                }
            }
        }
    }

    #[test]
    fn the_solidarity_price_terms_read_as_printed() {
        assert_eq!(
            terms_text(
                Category::Desktop,
                Resale::SolidarityPrice { cap_cents: 15_000 }
            ),
            "Le bénéficiaire s'engage à réemployer ce bien ; il ne peut le revendre qu'à des \
             personnes en situation de précarité ou à des associations œuvrant en leur faveur, à \
             un prix solidaire n'excédant pas 150 € TTC (ordinateur fixe avec un écran, un \
             clavier et une souris, décret n° 2022-1413 du 7 novembre 2022)."
        );
        assert_eq!(
            terms_text(Category::Projector, Resale::NoSolidarityPrice),
            "Le bénéficiaire s'engage à réemployer ce bien et à ne pas le revendre : le décret \
             n° 2022-1413 du 7 novembre 2022 ne fixe pas de prix solidaire pour cette catégorie \
             de bien (vidéoprojecteur)."
        );
    }

    #[test]
    fn the_operators_ceiling_override_turns_the_refusal_into_a_printed_notice() {
        let items = [
            ItemFacts {
                ceiling_override: true,
                ..item(Category::Laptop, Some(45_000))
            },
            ItemFacts {
                ceiling_override: true,
                ..item(Category::Monitor, None)
            },
            ItemFacts {
                ceiling_override: true,
                ..laptop()
            },
        ];
        let decision = decide(COMMUNE, VALID_ESUS, CessionMode::ToRefurbisher, &items);
        let (_, _, notices) = allowed(&decision);
        let got: Vec<_> = notices.iter().map(|n| (n.code.as_str(), n.item)).collect();
        assert_eq!(
            got,
            [
                ("ceiling_override_applied", Some(0)),
                ("ceiling_override_applied", Some(1))
            ]
        );
        assert!(notices[0].message_fr.contains("450 € (supérieure)"));
        assert!(notices[1].message_fr.contains("non renseignée"));
        assert!(notices[0].message_fr.contains("dérogation motivée"));
    }

    #[test]
    fn every_reason_is_listed_at_once() {
        let items = [
            item(Category::Laptop, Some(45_000)),
            item(Category::Monitor, None),
            ItemFacts {
                acquisition_date: Some(day(2010, 6, 1)),
                ..item(Category::Desktop, Some(31_000))
            },
            laptop(),
        ];
        let decision = decide(
            COMMUNE,
            Beneficiary::Association(C::Other),
            CessionMode::ToRefurbisher,
            &items,
        );
        assert_eq!(
            codes(&decision),
            [
                ("wrong_beneficiary_for_mode", None),
                ("beneficiary_not_eligible", None),
                ("net_book_value_above_ceiling", Some(0)),
                ("net_book_value_unknown", Some(1)),
                ("net_book_value_above_ceiling", Some(2)),
                ("over_ten_years_old", Some(2)),
            ]
        );
        assert!(!decide(COMMUNE, Beneficiary::Staff, CessionMode::Service, &[]).is_allowed());
        assert_eq!(
            codes(&decide(
                COMMUNE,
                Beneficiary::Staff,
                CessionMode::Service,
                &[]
            )),
            [("no_items", None)]
        );
    }

    #[test]
    fn modes_decide_who_cedes_to_whom() {
        let association = Beneficiary::Association(C::InteretGeneralPrecarite);
        let old_unvalued = [ItemFacts {
            net_book_value_cents: None,
            acquisition_date: Some(day(2012, 1, 1)),
            ..laptop()
        }];
        type Case<'a> = (
            Giver,
            Beneficiary,
            CessionMode,
            &'a [ItemFacts],
            &'a [&'a str],
        );
        let cases: &[Case] = &[
            // The public body cedes to the ESUS refurbisher at collection...
            (
                COMMUNE,
                VALID_ESUS,
                CessionMode::ToRefurbisher,
                &[laptop()],
                &[],
            ),
            // ...who later gives to any association, without ceiling or age rule.
            (
                Giver::Refurbisher,
                association,
                CessionMode::ToRefurbisher,
                &old_unvalued,
                &[],
            ),
            (
                Giver::Refurbisher,
                Beneficiary::Association(C::Other),
                CessionMode::ToRefurbisher,
                &[laptop()],
                &[],
            ),
            (
                Giver::Refurbisher,
                Beneficiary::Staff,
                CessionMode::ToRefurbisher,
                &[laptop()],
                &["wrong_beneficiary_for_mode"],
            ),
            // In service mode the body cedes to the association; the refurbisher owns nothing.
            (COMMUNE, association, CessionMode::Service, &[laptop()], &[]),
            (
                COMMUNE,
                VALID_ESUS,
                CessionMode::Service,
                &[laptop()],
                &["wrong_beneficiary_for_mode"],
            ),
            (
                COMMUNE,
                association,
                CessionMode::ToRefurbisher,
                &[laptop()],
                &["wrong_beneficiary_for_mode"],
            ),
            (
                Giver::Refurbisher,
                association,
                CessionMode::Service,
                &[laptop()],
                &["refurbisher_not_owner"],
            ),
            (
                COMMUNE,
                association,
                CessionMode::Service,
                &old_unvalued,
                &["net_book_value_unknown", "over_ten_years_old"],
            ),
        ];
        for (giver, beneficiary, mode, items, expected) in cases {
            let decision = decide(*giver, *beneficiary, *mode, items);
            let got: Vec<_> = codes(&decision).into_iter().map(|(c, _)| c).collect();
            assert_eq!(got, *expected, "{giver:?} → {beneficiary:?} in {mode:?}");
        }
    }

    #[test]
    fn a_refurbishers_gift_is_private_and_forbids_resale() {
        let decision = decide(
            Giver::Refurbisher,
            Beneficiary::Association(C::UtilitePublique),
            CessionMode::ToRefurbisher,
            &[item(Category::Laptop, Some(90_000))],
        );
        let (basis, terms, notices) = allowed(&decision);
        assert_eq!(basis.route, Route::PrivateGift);
        assert_eq!(basis.ceiling, None);
        assert!(!basis.through_l3212_3);
        assert!(
            basis
                .text_fr
                .starts_with("Don de biens meubles par le reconditionneur")
        );
        assert!(basis.text_fr.contains("ne s'applique pas"));
        assert_eq!(terms[0].resale, Resale::Forbidden);
        assert!(notices.is_empty());
    }

    #[test]
    fn the_esus_accreditation_must_be_valid_on_the_cession_date() {
        let cases = [
            (Some(day(2026, 11, 28)), vec!["esus_accreditation_expired"]),
            (Some(today()), vec![]),
            (Some(day(2030, 1, 1)), vec![]),
            (None, vec!["esus_accreditation_missing"]),
        ];
        for (expires, expected) in cases {
            let decision = decide(
                COMMUNE,
                Beneficiary::Refurbisher {
                    esus_expires_on: expires,
                },
                CessionMode::ToRefurbisher,
                &[laptop()],
            );
            let got: Vec<_> = codes(&decision).into_iter().map(|(c, _)| c).collect();
            assert_eq!(got, expected, "{expires:?}");
        }
        let decision = decide(
            COMMUNE,
            Beneficiary::Refurbisher {
                esus_expires_on: Some(day(2026, 11, 28)),
            },
            CessionMode::ToRefurbisher,
            &[laptop()],
        );
        let Decision::Refused { reasons } = decision else {
            panic!("refused");
        };
        assert!(reasons[0].message_fr.contains("a expiré le 28/11/2026"));
        assert!(reasons[0].message_fr.contains("(29/11/2026)"));
    }

    #[test]
    fn codes_are_unique_snake_case_and_notices_are_marked() {
        let mut seen = std::collections::HashSet::new();
        for code in ReasonCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
        }
        let notices: Vec<_> = ReasonCode::ALL
            .into_iter()
            .filter(|c| c.is_notice())
            .collect();
        assert_eq!(
            notices,
            [
                ReasonCode::AcquisitionDateUnknown,
                ReasonCode::AgeOverrideApplied,
                ReasonCode::CeilingOverrideApplied
            ]
        );
        let routes: std::collections::HashSet<_> = Route::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(routes.len(), Route::ALL.len());
    }

    #[test]
    fn designations_take_an_indefinite_article() {
        let mut all: Vec<Beneficiary> = BeneficiaryCategory::ALL
            .into_iter()
            .map(Beneficiary::Association)
            .collect();
        all.extend([VALID_ESUS, Beneficiary::Staff, Beneficiary::OtherPublicBody]);
        for b in all {
            let rule = b.rule();
            assert!(
                rule.designation_fr.starts_with("un ") || rule.designation_fr.starts_with("une "),
                "{b:?}"
            );
            assert!(!rule.designation_en.is_empty());
        }
    }

    #[test]
    fn amounts_are_written_the_french_and_the_english_way() {
        assert_eq!(euros_fr(30_001), "300,01 €");
        assert_eq!(euros_fr(30_000), "300 €");
        assert_eq!(euros_fr(150_000), "1 500 €");
        assert_eq!(euros_fr(123_456_789), "1 234 567,89 €");
        assert_eq!(euros_fr(-5), "-0,05 €");
        assert_eq!(euros_en(30_001), "€300.01");
        assert_eq!(euros_en(150_000), "€1,500");
    }

    #[test]
    fn a_blank_reference_is_replaced_by_the_items_position() {
        let items = [
            laptop(),
            ItemFacts {
                reference: "  ".into(),
                ..item(Category::Tablet, None)
            },
        ];
        let decision = decide(
            COMMUNE,
            Beneficiary::Association(C::Etudiants),
            CessionMode::Service,
            &items,
        );
        let Decision::Refused { reasons } = decision else {
            panic!("refused");
        };
        assert!(
            reasons[0].message_fr.contains("du bien n° 2 (tablette)"),
            "{}",
            reasons[0].message_fr
        );
    }

    fn arb_giver() -> impl Strategy<Value = Giver> {
        prop_oneof![
            (0..PublicBodyType::ALL.len()).prop_map(|i| Giver::PublicBody(PublicBodyType::ALL[i])),
            Just(Giver::Refurbisher),
        ]
    }

    fn arb_beneficiary() -> impl Strategy<Value = Beneficiary> {
        prop_oneof![
            (0..BeneficiaryCategory::ALL.len())
                .prop_map(|i| Beneficiary::Association(BeneficiaryCategory::ALL[i])),
            prop::option::of(-400i64..400).prop_map(|offset| Beneficiary::Refurbisher {
                esus_expires_on: offset.map(|d| today() + chrono::Duration::days(d)),
            }),
            Just(Beneficiary::Staff),
            Just(Beneficiary::OtherPublicBody),
        ]
    }

    fn arb_item() -> impl Strategy<Value = ItemFacts> {
        (
            0..Category::ALL.len(),
            prop::option::of(0i64..60_000),
            prop::option::of(0i64..6_000),
            any::<bool>(),
            prop::bool::weighted(0.2),
        )
            .prop_map(
                |(c, nbv, age_days, age_override, ceiling_override)| ItemFacts {
                    reference: String::new(),
                    category: Category::ALL[c],
                    net_book_value_cents: nbv,
                    acquisition_date: age_days.map(|d| today() - chrono::Duration::days(d)),
                    age_override,
                    ceiling_override,
                },
            )
    }

    proptest! {
        /// A public body never gives away an item above the ceiling or of unknown value, and each
        /// such item has its own reason.
        #[test]
        fn no_public_cession_passes_an_item_above_the_ceiling(
            giver in arb_giver(),
            beneficiary in arb_beneficiary(),
            to_refurbisher in any::<bool>(),
            items in prop::collection::vec(arb_item(), 0..8),
        ) {
            let mode = if to_refurbisher { CessionMode::ToRefurbisher } else { CessionMode::Service };
            let decision = check(&Cession { giver, beneficiary, mode, items: &items, date: today() });
            let bad: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, it)| !it.ceiling_override)
                .filter(|(_, it)| it.net_book_value_cents.is_none_or(|v| v > CEILING_CENTS))
                .map(|(i, _)| i)
                .collect();
            match (giver, &decision) {
                (Giver::PublicBody(_), Decision::Refused { reasons }) => {
                    let flagged: Vec<usize> = reasons
                        .iter()
                        .filter(|r| matches!(
                            r.code,
                            ReasonCode::NetBookValueAboveCeiling | ReasonCode::NetBookValueUnknown
                        ))
                        .filter_map(|r| r.item)
                        .collect();
                    prop_assert_eq!(flagged, bad);
                }
                (Giver::PublicBody(_), Decision::Allowed { .. }) => prop_assert!(bad.is_empty()),
                (Giver::Refurbisher, _) => {}
            }
        }

        /// Whatever the input: refusals have reasons (never notices) pointing at real items;
        /// allowed cessions have terms for every item, consistent with the caps.
        #[test]
        fn decisions_are_well_formed(
            giver in arb_giver(),
            beneficiary in arb_beneficiary(),
            to_refurbisher in any::<bool>(),
            items in prop::collection::vec(arb_item(), 0..8),
        ) {
            let mode = if to_refurbisher { CessionMode::ToRefurbisher } else { CessionMode::Service };
            match check(&Cession { giver, beneficiary, mode, items: &items, date: today() }) {
                Decision::Refused { reasons } => {
                    prop_assert!(!reasons.is_empty());
                    for r in &reasons {
                        prop_assert!(!r.code.is_notice());
                        prop_assert!(r.item.is_none_or(|i| i < items.len()));
                        prop_assert!(!r.message_fr.is_empty() && !r.message_en.is_empty());
                    }
                }
                Decision::Allowed { legal_basis, terms, notices } => {
                    prop_assert!(!items.is_empty());
                    prop_assert!(notices.iter().all(|n| n.code.is_notice()));
                    prop_assert_eq!(terms.len(), items.len());
                    prop_assert!(!legal_basis.text_fr.is_empty());
                    for (i, t) in terms.iter().enumerate() {
                        prop_assert_eq!(t.item, i);
                        if let Resale::SolidarityPrice { cap_cents } = t.resale {
                            prop_assert_eq!(Some(cap_cents), resale_cap_cents(items[i].category));
                        }
                    }
                }
            }
        }
    }
}
