//! Evidence-based verification of an organisation: what each kind must prove (its checklist),
//! the operator's decision on each item, and what follows from those decisions — whether the
//! organisation is verified, which beneficiary category eligibility may use, whether the ESUS
//! accreditation still grants claims, and when its admins are warned of an expiry.
//!
//! A decision is about one claimed value (the SIRET, the category…): when the organisation
//! changes that value, the old decision no longer applies and the item is pending again.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{FieldErrors, Invalid};
use crate::organisation::{BeneficiaryCategory, OrganisationKind, PublicBodyType};

/// One thing an organisation must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckItem {
    /// SIREN/SIRET (public bodies, refurbishers), RNA or SIRET (associations).
    Identifier,
    /// The type of public body (commune, EPCI…).
    PublicBodyType,
    /// The ESUS accreditation: prefecture decision, its date and expiry.
    EsusAccreditation,
    /// An association's statutes.
    Statutes,
    /// The association's declared beneficiary category (CG3P L3212-2 3°).
    BeneficiaryCategory,
    /// Recognition as of public utility (ARUP decree).
    PublicUtility,
}

impl CheckItem {
    pub const ALL: [CheckItem; 6] = [
        CheckItem::Identifier,
        CheckItem::PublicBodyType,
        CheckItem::EsusAccreditation,
        CheckItem::Statutes,
        CheckItem::BeneficiaryCategory,
        CheckItem::PublicUtility,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckItem::Identifier => "identifier",
            CheckItem::PublicBodyType => "public_body_type",
            CheckItem::EsusAccreditation => "esus_accreditation",
            CheckItem::Statutes => "statutes",
            CheckItem::BeneficiaryCategory => "beneficiary_category",
            CheckItem::PublicUtility => "public_utility",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the organisation is verified only once this item is accepted. The others grant
    /// a right (claims under ESUS, a beneficiary category) without conditioning the identity.
    pub fn conditions_identity(self) -> bool {
        match self {
            CheckItem::Identifier | CheckItem::PublicBodyType | CheckItem::Statutes => true,
            CheckItem::EsusAccreditation
            | CheckItem::BeneficiaryCategory
            | CheckItem::PublicUtility => false,
        }
    }

    /// Whether an acceptance must say until when it holds.
    pub fn expires(self) -> bool {
        match self {
            CheckItem::EsusAccreditation => true,
            CheckItem::Identifier
            | CheckItem::PublicBodyType
            | CheckItem::Statutes
            | CheckItem::BeneficiaryCategory
            | CheckItem::PublicUtility => false,
        }
    }

    /// What is to be proven, in French.
    pub fn label_fr(self) -> &'static str {
        match self {
            CheckItem::Identifier => "Identifiant légal (SIREN/SIRET, ou RNA)",
            CheckItem::PublicBodyType => "Nature de l'organisme public",
            CheckItem::EsusAccreditation => "Agrément « entreprise solidaire d'utilité sociale »",
            CheckItem::Statutes => "Statuts de l'association",
            CheckItem::BeneficiaryCategory => "Catégorie de bénéficiaire déclarée",
            CheckItem::PublicUtility => "Reconnaissance d'utilité publique",
        }
    }
}

/// The proof an operator expects for a beneficiary category, in French.
pub fn category_proof_fr(category: BeneficiaryCategory) -> &'static str {
    match category {
        BeneficiaryCategory::ParentsEleves => {
            "Statuts faisant apparaître l'objet d'association de parents d'élèves"
        }
        BeneficiaryCategory::SoutienScolaire => {
            "Statuts dont l'objet statutaire est le soutien scolaire"
        }
        BeneficiaryCategory::Etudiants => "Statuts d'association étudiante",
        BeneficiaryCategory::UtilitePublique => {
            "Décret de reconnaissance d'utilité publique (Journal officiel)"
        }
        BeneficiaryCategory::InteretGeneralPrecarite => {
            "Rescrit fiscal d'intérêt général, ou statuts dont l'objet est d'équiper, former et \
             accompagner des personnes en situation de précarité"
        }
        BeneficiaryCategory::Other => "Aucune preuve : cette catégorie n'ouvre pas de droit",
    }
}

/// The proof an operator expects for an item, in French.
pub fn proof_fr(item: CheckItem, category: Option<BeneficiaryCategory>) -> &'static str {
    match item {
        CheckItem::Identifier => {
            "Avis de situation au répertoire SIRENE, ou récépissé de déclaration (RNA)"
        }
        CheckItem::PublicBodyType => "Avis de situation SIRENE (catégorie juridique)",
        CheckItem::EsusAccreditation => {
            "Décision préfectorale d'agrément ESUS, avec sa date et sa durée de validité"
        }
        CheckItem::Statutes => "Statuts à jour, datés et signés",
        CheckItem::BeneficiaryCategory => {
            category.map_or("Preuve de la catégorie déclarée", category_proof_fr)
        }
        CheckItem::PublicUtility => "Décret de reconnaissance d'utilité publique",
    }
}

/// What an organisation claims, as the checklist reads it.
#[derive(Debug, Clone, Default)]
pub struct Claims<'a> {
    pub siret: Option<&'a str>,
    pub rna: Option<&'a str>,
    pub public_body_type: Option<PublicBodyType>,
    pub esus_reference: Option<&'a str>,
    pub esus_expires_on: Option<NaiveDate>,
    pub beneficiary_category: Option<BeneficiaryCategory>,
    pub public_utility: bool,
}

/// An item of the checklist with the value it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub item: CheckItem,
    /// The claimed value a decision is about (`siret:…`, a category…).
    pub subject: String,
}

/// What `kind` must prove given what it claims, in a stable order.
pub fn checklist(kind: OrganisationKind, c: &Claims<'_>) -> Vec<Claimed> {
    let mut out = Vec::new();
    let mut push = |item, subject: String| out.push(Claimed { item, subject });
    let siret = c.siret.map(|s| format!("siret:{s}"));
    match kind {
        OrganisationKind::PublicBody => {
            push(CheckItem::Identifier, siret.unwrap_or_default());
            push(
                CheckItem::PublicBodyType,
                c.public_body_type
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
            );
        }
        OrganisationKind::Refurbisher => {
            push(CheckItem::Identifier, siret.unwrap_or_default());
            if let Some(r) = c.esus_reference.filter(|r| !r.trim().is_empty()) {
                let expiry = c.esus_expires_on.map(|d| d.to_string()).unwrap_or_default();
                push(CheckItem::EsusAccreditation, format!("{r}|{expiry}"));
            }
        }
        OrganisationKind::Association => {
            let ids: Vec<String> = c
                .rna
                .map(|r| format!("rna:{r}"))
                .into_iter()
                .chain(siret)
                .collect();
            push(CheckItem::Identifier, ids.join("|"));
            push(CheckItem::Statutes, "statuts".to_owned());
            if let Some(cat) = c.beneficiary_category {
                push(CheckItem::BeneficiaryCategory, cat.as_str().to_owned());
            }
            if c.public_utility {
                push(CheckItem::PublicUtility, "arup".to_owned());
            }
        }
        OrganisationKind::Operator => {}
    }
    out
}

/// The operator's finding on an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Outcome::Accepted, Outcome::Refused]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A recorded decision, as the rules read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub item: CheckItem,
    pub subject: String,
    pub outcome: Outcome,
    pub decided_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
}

/// Where an item of the checklist stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    /// Not decided for the value claimed now.
    Pending,
    Accepted {
        expires_on: Option<NaiveDate>,
    },
    Refused,
    /// Accepted, but its validity ended before `today` (the right it grants is suspended).
    Expired {
        on: NaiveDate,
    },
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Accepted { .. } => "accepted",
            ItemState::Refused => "refused",
            ItemState::Expired { .. } => "expired",
        }
    }

    pub fn is_accepted(self) -> bool {
        matches!(self, ItemState::Accepted { .. })
    }
}

/// The state of `claimed` given the latest decision on its item (any value), on `today`. A
/// decision about another value than the one claimed now does not count. Evidence that expires
/// on a day is still valid that day.
pub fn state_of(claimed: &Claimed, latest: Option<&Decision>, today: NaiveDate) -> ItemState {
    match latest {
        Some(d) if d.item == claimed.item && d.subject == claimed.subject => match d.outcome {
            Outcome::Refused => ItemState::Refused,
            Outcome::Accepted => match d.expires_on {
                Some(on) if on < today => ItemState::Expired { on },
                expires_on => ItemState::Accepted { expires_on },
            },
        },
        _ => ItemState::Pending,
    }
}

/// Whether every item that conditions the identity is accepted (the organisation is verified).
pub fn identity_proven(states: &[(CheckItem, ItemState)]) -> bool {
    let identity: Vec<_> = states
        .iter()
        .filter(|(i, _)| i.conditions_identity())
        .collect();
    !identity.is_empty() && identity.iter().all(|(_, s)| s.is_accepted())
}

/// The beneficiary category eligibility may use: public utility when its decree was accepted
/// (it opens the solidarity resale), else the declared category when its proof was accepted,
/// else `Other` (not an eligible beneficiary). Never a category that was only declared.
pub fn proven_category(
    declared: Option<BeneficiaryCategory>,
    states: &[(CheckItem, ItemState)],
) -> BeneficiaryCategory {
    let accepted = |item| states.iter().any(|(i, s)| *i == item && s.is_accepted());
    if accepted(CheckItem::PublicUtility) {
        BeneficiaryCategory::UtilitePublique
    } else if let Some(cat) = declared.filter(|_| accepted(CheckItem::BeneficiaryCategory)) {
        cat
    } else {
        BeneficiaryCategory::Other
    }
}

/// A decision as the operator submits it, before checks.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub item: CheckItem,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub decided_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
}

/// Checks a decision: the item must be on the checklist, a refusal needs its reason, the date
/// cannot be in the future, an acceptance of expiring evidence needs its expiry (after the
/// decision), and evidence that does not expire takes none.
pub fn check_decision(
    list: &[Claimed],
    d: &DecisionInput,
    today: NaiveDate,
) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    if !list.iter().any(|c| c.item == d.item) {
        errors.push("item", Invalid::NotAllowedForKind);
    }
    let reason = d.reason.as_deref().map(str::trim).unwrap_or_default();
    if d.outcome == Outcome::Refused && reason.is_empty() {
        errors.push("reason", Invalid::Required);
    }
    if reason.chars().count() > 1000 {
        errors.push("reason", Invalid::TooLong);
    }
    if d.decided_on > today {
        errors.push("decided_on", Invalid::OutOfRange);
    }
    match (d.item.expires(), d.outcome, d.expires_on) {
        (true, Outcome::Accepted, None) => errors.push("expires_on", Invalid::Required),
        (_, _, Some(e)) if e <= d.decided_on => errors.push("expires_on", Invalid::OutOfRange),
        (false, _, Some(_)) => errors.push("expires_on", Invalid::NotAllowedForKind),
        _ => {}
    }
    errors.finish(|| Some(()))
}

/// A mail sent to an organisation's admins about expiring evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExpiryNotice {
    /// 60 days ahead.
    SixtyDays,
    /// 15 days ahead.
    FifteenDays,
    /// The day after the last valid day: the right it granted is suspended.
    Expired,
}

impl ExpiryNotice {
    pub const ALL: [ExpiryNotice; 3] = [
        ExpiryNotice::SixtyDays,
        ExpiryNotice::FifteenDays,
        ExpiryNotice::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryNotice::SixtyDays => "60_days",
            ExpiryNotice::FifteenDays => "15_days",
            ExpiryNotice::Expired => "expired",
        }
    }

    /// Days before the expiry date from which the notice is due (negative: after it).
    fn due_from(self) -> i64 {
        match self {
            ExpiryNotice::SixtyDays => 60,
            ExpiryNotice::FifteenDays => 15,
            ExpiryNotice::Expired => -1,
        }
    }
}

/// The notice to send now for evidence valid until `expires_on`, given those already sent: only
/// the most urgent one that is due (a scan that missed the 60-day mark after 15 days does not
/// send both).
pub fn notice_due(
    expires_on: NaiveDate,
    today: NaiveDate,
    sent: &[ExpiryNotice],
) -> Option<ExpiryNotice> {
    let left = (expires_on - today).num_days();
    let due = ExpiryNotice::ALL
        .into_iter()
        .rev()
        .find(|n| left <= n.due_from())?;
    // Once a more urgent notice went out, a less urgent one is never due again.
    if sent.iter().any(|s| *s >= due) {
        None
    } else {
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn association(cat: BeneficiaryCategory, arup: bool) -> Vec<Claimed> {
        checklist(
            OrganisationKind::Association,
            &Claims {
                rna: Some("W412003456"),
                beneficiary_category: Some(cat),
                public_utility: arup,
                ..Claims::default()
            },
        )
    }

    fn accepted(c: &Claimed) -> Decision {
        Decision {
            item: c.item,
            subject: c.subject.clone(),
            outcome: Outcome::Accepted,
            decided_on: day(2026, 11, 1),
            expires_on: None,
        }
    }

    #[test]
    fn each_kind_has_its_checklist() {
        let items = |kind, c: &Claims| -> Vec<&str> {
            checklist(kind, c).iter().map(|c| c.item.as_str()).collect()
        };
        assert_eq!(
            items(OrganisationKind::PublicBody, &Claims::default()),
            ["identifier", "public_body_type"]
        );
        assert_eq!(
            items(
                OrganisationKind::Refurbisher,
                &Claims {
                    esus_reference: Some("ESUS-41"),
                    ..Claims::default()
                }
            ),
            ["identifier", "esus_accreditation"]
        );
        assert_eq!(
            items(OrganisationKind::Refurbisher, &Claims::default()),
            ["identifier"]
        );
        let a: Vec<_> = association(BeneficiaryCategory::SoutienScolaire, true)
            .iter()
            .map(|c| c.item.as_str())
            .collect();
        assert_eq!(
            a,
            [
                "identifier",
                "statutes",
                "beneficiary_category",
                "public_utility"
            ]
        );
        assert!(items(OrganisationKind::Operator, &Claims::default()).is_empty());
    }

    #[test]
    fn eligibility_sees_only_proven_categories() {
        let list = association(BeneficiaryCategory::SoutienScolaire, true);
        let today = day(2026, 11, 29);
        let states = |decisions: &[Option<Decision>]| -> Vec<(CheckItem, ItemState)> {
            list.iter()
                .zip(decisions)
                .map(|(c, d)| (c.item, state_of(c, d.as_ref(), today)))
                .collect()
        };
        let declared = Some(BeneficiaryCategory::SoutienScolaire);
        assert_eq!(
            proven_category(declared, &states(&[None, None, None, None])),
            BeneficiaryCategory::Other
        );
        let mut refused = accepted(&list[3]);
        refused.outcome = Outcome::Refused;
        let s = states(&[
            Some(accepted(&list[0])),
            Some(accepted(&list[1])),
            Some(accepted(&list[2])),
            Some(refused),
        ]);
        assert!(identity_proven(&s));
        assert_eq!(
            proven_category(declared, &s),
            BeneficiaryCategory::SoutienScolaire
        );
        let s = states(&[None, None, None, Some(accepted(&list[3]))]);
        assert!(!identity_proven(&s));
        assert_eq!(
            proven_category(declared, &s),
            BeneficiaryCategory::UtilitePublique
        );
    }

    #[test]
    fn a_decision_on_another_value_leaves_the_item_pending() {
        let before = association(BeneficiaryCategory::SoutienScolaire, false);
        let after = association(BeneficiaryCategory::Etudiants, false);
        let d = accepted(&before[2]);
        let today = day(2026, 11, 29);
        assert!(state_of(&before[2], Some(&d), today).is_accepted());
        assert_eq!(state_of(&after[2], Some(&d), today), ItemState::Pending);
    }

    #[test]
    fn accepted_evidence_expires_after_its_last_day() {
        let list = checklist(
            OrganisationKind::Refurbisher,
            &Claims {
                siret: Some("48337887362325"),
                esus_reference: Some("ESUS-41"),
                esus_expires_on: Some(day(2027, 1, 20)),
                ..Claims::default()
            },
        );
        let d = Decision {
            expires_on: Some(day(2027, 1, 20)),
            ..accepted(&list[1])
        };
        assert!(state_of(&list[1], Some(&d), day(2027, 1, 20)).is_accepted());
        assert_eq!(
            state_of(&list[1], Some(&d), day(2027, 1, 21)),
            ItemState::Expired {
                on: day(2027, 1, 20)
            }
        );
    }

    #[test]
    fn decisions_are_checked() {
        let list = association(BeneficiaryCategory::Etudiants, false);
        let today = day(2026, 11, 29);
        let input = |item, outcome, reason: Option<&str>, expires_on| DecisionInput {
            item,
            outcome,
            reason: reason.map(str::to_owned),
            decided_on: today,
            expires_on,
        };
        let fields = |r: Result<(), FieldErrors>| -> Vec<String> {
            r.err()
                .map(|e| e.0.into_iter().map(|f| f.field).collect())
                .unwrap_or_default()
        };
        assert!(
            check_decision(
                &list,
                &input(CheckItem::Statutes, Outcome::Accepted, None, None),
                today
            )
            .is_ok()
        );
        assert_eq!(
            fields(check_decision(
                &list,
                &input(CheckItem::Statutes, Outcome::Refused, Some("  "), None),
                today
            )),
            ["reason"]
        );
        assert_eq!(
            fields(check_decision(
                &list,
                &input(CheckItem::EsusAccreditation, Outcome::Accepted, None, None),
                today
            )),
            ["item", "expires_on"]
        );
        assert_eq!(
            fields(check_decision(
                &list,
                &input(
                    CheckItem::Statutes,
                    Outcome::Accepted,
                    None,
                    Some(day(2030, 1, 1))
                ),
                today
            )),
            ["expires_on"]
        );
        let future = DecisionInput {
            decided_on: day(2026, 12, 1),
            ..input(CheckItem::Statutes, Outcome::Accepted, None, None)
        };
        assert_eq!(
            fields(check_decision(&list, &future, today)),
            ["decided_on"]
        );
    }

    #[test]
    fn expiry_notices_go_out_at_60_and_15_days_then_at_expiry_once_each() {
        let exp = day(2027, 1, 31);
        assert_eq!(notice_due(exp, day(2026, 11, 1), &[]), None);
        assert_eq!(
            notice_due(exp, day(2026, 12, 2), &[]),
            Some(ExpiryNotice::SixtyDays)
        );
        assert_eq!(
            notice_due(exp, day(2026, 12, 2), &[ExpiryNotice::SixtyDays]),
            None
        );
        assert_eq!(
            notice_due(exp, day(2027, 1, 16), &[ExpiryNotice::SixtyDays]),
            Some(ExpiryNotice::FifteenDays)
        );
        // A scan that missed the first mark sends only the most urgent notice.
        assert_eq!(
            notice_due(exp, day(2027, 1, 20), &[]),
            Some(ExpiryNotice::FifteenDays)
        );
        assert_eq!(
            notice_due(exp, day(2027, 1, 31), &[ExpiryNotice::FifteenDays]),
            None
        );
        assert_eq!(
            notice_due(exp, day(2027, 2, 1), &[ExpiryNotice::FifteenDays]),
            Some(ExpiryNotice::Expired)
        );
        assert_eq!(
            notice_due(exp, day(2027, 3, 1), &[ExpiryNotice::Expired]),
            None
        );
    }
}
