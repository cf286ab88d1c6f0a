//! Organisations, their kinds and members' roles, the operator's verification life cycle, and the
//! registration rules per kind (DESIGN §1 and §3).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::email::Email;
use crate::error::{FieldErrors, Invalid};
use crate::geo::{Coordinates, Postcode};
use crate::ids::{InseeCode, Rna, Siren, Siret};
use crate::text::{Address, LongText, Name, Text};

/// What an organisation is; decides, with the member's role, what its members may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    PublicBody,
    Refurbisher,
    Association,
    Operator,
}

impl OrganisationKind {
    pub const ALL: [OrganisationKind; 4] = [
        OrganisationKind::PublicBody,
        OrganisationKind::Refurbisher,
        OrganisationKind::Association,
        OrganisationKind::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::PublicBody => "public_body",
            OrganisationKind::Refurbisher => "refurbisher",
            OrganisationKind::Association => "association",
            OrganisationKind::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether an organisation of this kind may register itself (the operator is bootstrapped).
    pub fn self_registers(self) -> bool {
        match self {
            OrganisationKind::PublicBody
            | OrganisationKind::Refurbisher
            | OrganisationKind::Association => true,
            OrganisationKind::Operator => false,
        }
    }
}

/// A member's role within one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages members, keys and settings of the organisation, and does the work.
    Admin,
    /// Does the work.
    Agent,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Admin, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who acts: the kind of the organisation a caller acts through, and its role there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub kind: OrganisationKind,
    pub role: Role,
}

/// A declaration of which actors may do something: organisation kinds and roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    pub kinds: &'static [OrganisationKind],
    pub roles: &'static [Role],
}

impl Allowed {
    pub fn permits(&self, actor: Actor) -> bool {
        self.kinds.contains(&actor.kind) && self.roles.contains(&actor.role)
    }
}

/// The kinds of public body (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicBodyType {
    Commune,
    Epci,
    Departement,
    Region,
    EtablissementPublic,
    Etat,
}

impl PublicBodyType {
    pub const ALL: [PublicBodyType; 6] = [
        PublicBodyType::Commune,
        PublicBodyType::Epci,
        PublicBodyType::Departement,
        PublicBodyType::Region,
        PublicBodyType::EtablissementPublic,
        PublicBodyType::Etat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PublicBodyType::Commune => "commune",
            PublicBodyType::Epci => "epci",
            PublicBodyType::Departement => "departement",
            PublicBodyType::Region => "region",
            PublicBodyType::EtablissementPublic => "etablissement_public",
            PublicBodyType::Etat => "etat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An association's category among the beneficiaries of CG3P L3212-2 3°, or `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeneficiaryCategory {
    ParentsEleves,
    SoutienScolaire,
    Etudiants,
    UtilitePublique,
    InteretGeneralPrecarite,
    Other,
}

impl BeneficiaryCategory {
    pub const ALL: [BeneficiaryCategory; 6] = [
        BeneficiaryCategory::ParentsEleves,
        BeneficiaryCategory::SoutienScolaire,
        BeneficiaryCategory::Etudiants,
        BeneficiaryCategory::UtilitePublique,
        BeneficiaryCategory::InteretGeneralPrecarite,
        BeneficiaryCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BeneficiaryCategory::ParentsEleves => "parents_eleves",
            BeneficiaryCategory::SoutienScolaire => "soutien_scolaire",
            BeneficiaryCategory::Etudiants => "etudiants",
            BeneficiaryCategory::UtilitePublique => "utilite_publique",
            BeneficiaryCategory::InteretGeneralPrecarite => "interet_general_precarite",
            BeneficiaryCategory::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The operator's verification of an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    Pending,
    Verified,
    Suspended,
}

/// What the operator can do to an organisation's verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationAction {
    Verify,
    Suspend,
}

impl VerificationStatus {
    pub const ALL: [VerificationStatus; 3] = [
        VerificationStatus::Pending,
        VerificationStatus::Verified,
        VerificationStatus::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Pending => "pending",
            VerificationStatus::Verified => "verified",
            VerificationStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The status after `action`, or `None` when the action makes no sense from here.
    pub fn apply(self, action: VerificationAction) -> Option<VerificationStatus> {
        match (self, action) {
            (
                VerificationStatus::Pending | VerificationStatus::Suspended,
                VerificationAction::Verify,
            ) => Some(VerificationStatus::Verified),
            (
                VerificationStatus::Pending | VerificationStatus::Verified,
                VerificationAction::Suspend,
            ) => Some(VerificationStatus::Suspended),
            (VerificationStatus::Verified, VerificationAction::Verify)
            | (VerificationStatus::Suspended, VerificationAction::Suspend) => None,
        }
    }
}

/// An organisation's profile as submitted (registration or full update), before parsing.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub name: String,
    pub siret: Option<String>,
    pub rna: Option<String>,
    pub insee_code: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub contact_email: Option<String>,
    pub phone: Option<String>,
    pub public_body_type: Option<PublicBodyType>,
    pub esus_reference: Option<String>,
    pub esus_expires_on: Option<NaiveDate>,
    pub beneficiary_category: Option<BeneficiaryCategory>,
    pub public_utility: Option<bool>,
    pub statutory_purpose: Option<String>,
}

/// A phone number as people write it: digits with optional leading `+` and separators.
pub type Phone = Text<30>;

/// A parsed, consistent organisation profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: Name,
    pub siren: Option<Siren>,
    pub siret: Option<Siret>,
    pub rna: Option<Rna>,
    pub insee_code: InseeCode,
    pub address: Address,
    pub postcode: Postcode,
    pub city: Name,
    pub coordinates: Option<Coordinates>,
    pub contact_email: Option<Email>,
    pub phone: Option<Phone>,
    pub public_body_type: Option<PublicBodyType>,
    pub esus_reference: Option<Text<100>>,
    pub esus_expires_on: Option<NaiveDate>,
    pub beneficiary_category: Option<BeneficiaryCategory>,
    pub public_utility: bool,
    pub statutory_purpose: Option<LongText>,
}

fn parse_phone(raw: &str) -> Result<Phone, Invalid> {
    let phone = Phone::parse(raw)?;
    let digits = phone.as_str().chars().filter(char::is_ascii_digit).count();
    let shape_ok = phone
        .as_str()
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " .-()".contains(c) || (i == 0 && c == '+'));
    if shape_ok && (6..=15).contains(&digits) {
        Ok(phone)
    } else {
        Err(Invalid::InvalidFormat)
    }
}

/// Parses a profile for an organisation of `kind`, collecting every refused field.
///
/// Rules per kind: a public body needs a SIRET and its type; a refurbisher needs a SIRET and, if it
/// holds the ESUS accreditation, both its reference and expiry; an association needs its RNA number
/// and beneficiary category (SIRET optional). Fields of another kind are refused, not ignored.
pub fn parse_profile(kind: OrganisationKind, input: &ProfileInput) -> Result<Profile, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = errors.check("name", Name::parse(&input.name));
    let insee_code = errors.check("insee_code", InseeCode::parse(&input.insee_code));
    let address = errors.check("address", Address::parse(&input.address));
    let postcode = errors.check("postcode", Postcode::parse(&input.postcode));
    let city = errors.check("city", Name::parse(&input.city));
    let coordinates = match (input.latitude, input.longitude) {
        (None, None) => None,
        (Some(lat), Some(lon)) => errors.check("latitude", Coordinates::parse(lat, lon)),
        (None, Some(_)) => {
            errors.push("latitude", Invalid::Required);
            None
        }
        (Some(_), None) => {
            errors.push("longitude", Invalid::Required);
            None
        }
    };
    let contact_email = match input.contact_email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => errors.check("contact_email", Email::parse(raw)),
    };
    let phone = match input.phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => errors.check("phone", parse_phone(raw)),
    };
    let present = |s: &Option<String>| s.as_deref().is_some_and(|v| !v.trim().is_empty());

    let siret_required = matches!(
        kind,
        OrganisationKind::PublicBody | OrganisationKind::Refurbisher
    );
    let siret = if present(&input.siret) {
        errors.check(
            "siret",
            Siret::parse(input.siret.as_deref().unwrap_or_default()),
        )
    } else {
        if siret_required {
            errors.push("siret", Invalid::Required);
        }
        None
    };

    let mut rna = None;
    let mut public_body_type = None;
    let mut esus_reference = None;
    let mut esus_expires_on = None;
    let mut beneficiary_category = None;
    let mut statutory_purpose = None;
    let mut public_utility = false;

    match kind {
        OrganisationKind::PublicBody => {
            public_body_type = input.public_body_type;
            if public_body_type.is_none() {
                errors.push("public_body_type", Invalid::Required);
            }
        }
        OrganisationKind::Refurbisher => {
            esus_reference = errors
                .check(
                    "esus_reference",
                    Text::<100>::parse_optional(input.esus_reference.as_deref()),
                )
                .flatten();
            esus_expires_on = input.esus_expires_on;
            match (&esus_reference, esus_expires_on) {
                (Some(_), None) => errors.push("esus_expires_on", Invalid::Required),
                (None, Some(_)) if !present(&input.esus_reference) => {
                    errors.push("esus_reference", Invalid::Required)
                }
                _ => {}
            }
        }
        OrganisationKind::Association => {
            rna = if present(&input.rna) {
                errors.check("rna", Rna::parse(input.rna.as_deref().unwrap_or_default()))
            } else {
                errors.push("rna", Invalid::Required);
                None
            };
            beneficiary_category = input.beneficiary_category;
            if beneficiary_category.is_none() {
                errors.push("beneficiary_category", Invalid::Required);
            }
            public_utility = input.public_utility.unwrap_or(false);
            statutory_purpose = errors
                .check(
                    "statutory_purpose",
                    LongText::parse_optional(input.statutory_purpose.as_deref()),
                )
                .flatten();
        }
        OrganisationKind::Operator => {}
    }

    // Fields that belong to another kind are refused so that a client notices its mistake.
    if kind != OrganisationKind::Association {
        for (field, given) in [
            ("rna", present(&input.rna)),
            ("beneficiary_category", input.beneficiary_category.is_some()),
            ("public_utility", input.public_utility == Some(true)),
            ("statutory_purpose", present(&input.statutory_purpose)),
        ] {
            if given {
                errors.push(field, Invalid::NotAllowedForKind);
            }
        }
    }
    if kind != OrganisationKind::PublicBody && input.public_body_type.is_some() {
        errors.push("public_body_type", Invalid::NotAllowedForKind);
    }
    if kind != OrganisationKind::Refurbisher {
        for (field, given) in [
            ("esus_reference", present(&input.esus_reference)),
            ("esus_expires_on", input.esus_expires_on.is_some()),
        ] {
            if given {
                errors.push(field, Invalid::NotAllowedForKind);
            }
        }
    }

    errors.finish(|| {
        Some(Profile {
            name: name?,
            siren: siret.as_ref().map(Siret::siren),
            siret,
            rna,
            insee_code: insee_code?,
            address: address?,
            postcode: postcode?,
            city: city?,
            coordinates,
            contact_email,
            phone,
            public_body_type,
            esus_reference,
            esus_expires_on,
            beneficiary_category,
            public_utility,
            statutory_purpose,
        })
    })
}

/// Minimum rules for a password chosen by a person: long enough, not only one character class.
pub fn check_password(password: &str) -> Result<(), Invalid> {
    let len = password.chars().count();
    if len < 12 {
        return Err(Invalid::WeakPassword);
    }
    if len > 256 {
        return Err(Invalid::TooLong);
    }
    let distinct = password
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < 5 {
        return Err(Invalid::WeakPassword);
    }
    Ok(())
}

/// Why a registration is refused although every field parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationRefusal {
    /// The ESUS accreditation given (Code du travail L3332-17-1) has already expired: an
    /// expired accreditation is no accreditation, so it cannot be recorded as held.
    EsusExpired,
}

impl RegistrationRefusal {
    /// The field of the request the refusal is about.
    pub fn field(self) -> &'static str {
        match self {
            RegistrationRefusal::EsusExpired => "esus_expires_on",
        }
    }
}

/// Rules of a registration beyond the syntax of its fields, on `today`'s date. An accreditation
/// that expires today is still valid today.
pub fn check_registration(profile: &Profile, today: NaiveDate) -> Result<(), RegistrationRefusal> {
    match profile.esus_expires_on {
        Some(expires_on) if expires_on < today => Err(RegistrationRefusal::EsusExpired),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refurbisher_with_esus(expires_on: NaiveDate) -> Profile {
        let input = ProfileInput {
            public_body_type: None,
            esus_reference: Some("ESUS-41-2024-017".into()),
            esus_expires_on: Some(expires_on),
            ..base()
        };
        parse_profile(OrganisationKind::Refurbisher, &input).expect("valid profile")
    }

    #[test]
    fn an_expired_esus_accreditation_is_refused_at_registration() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        let expired = refurbisher_with_esus(NaiveDate::from_ymd_opt(2026, 11, 30).expect("date"));
        assert_eq!(
            check_registration(&expired, today),
            Err(RegistrationRefusal::EsusExpired)
        );
        assert_eq!(RegistrationRefusal::EsusExpired.field(), "esus_expires_on");
        let last_day = refurbisher_with_esus(today);
        assert_eq!(check_registration(&last_day, today), Ok(()));
    }

    fn base() -> ProfileInput {
        ProfileInput {
            name: "Ville de Saint-Ouen-sur-Loire".into(),
            siret: Some("39825979619074".into()),
            insee_code: "41230".into(),
            address: "1 place de la Mairie".into(),
            postcode: "41000".into(),
            city: "Saint-Ouen-sur-Loire".into(),
            public_body_type: Some(PublicBodyType::Commune),
            ..ProfileInput::default()
        }
    }

    fn fields(err: FieldErrors) -> Vec<(String, Invalid)> {
        err.0.into_iter().map(|e| (e.field, e.reason)).collect()
    }

    #[test]
    fn a_commune_registers_with_siret_and_type() {
        let p = parse_profile(OrganisationKind::PublicBody, &base()).expect("valid");
        assert_eq!(
            p.siren.map(|s| s.as_str().to_owned()),
            Some("398259796".into())
        );
    }

    #[test]
    fn a_public_body_without_type_is_refused() {
        let input = ProfileInput {
            public_body_type: None,
            ..base()
        };
        let err = parse_profile(OrganisationKind::PublicBody, &input).expect_err("refused");
        assert_eq!(
            fields(err),
            vec![("public_body_type".into(), Invalid::Required)]
        );
    }

    #[test]
    fn an_association_needs_rna_and_category_and_refuses_foreign_fields() {
        let input = ProfileInput {
            siret: None,
            public_body_type: Some(PublicBodyType::Commune),
            ..base()
        };
        let err = parse_profile(OrganisationKind::Association, &input).expect_err("refused");
        assert_eq!(
            fields(err),
            vec![
                ("rna".into(), Invalid::Required),
                ("beneficiary_category".into(), Invalid::Required),
                ("public_body_type".into(), Invalid::NotAllowedForKind),
            ]
        );
    }

    #[test]
    fn an_esus_reference_needs_its_expiry() {
        let input = ProfileInput {
            public_body_type: None,
            esus_reference: Some("ESUS-41-2024-017".into()),
            ..base()
        };
        let err = parse_profile(OrganisationKind::Refurbisher, &input).expect_err("refused");
        assert_eq!(
            fields(err),
            vec![("esus_expires_on".into(), Invalid::Required)]
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let input = ProfileInput {
            name: " ".into(),
            siret: Some("39825979619075".into()),
            insee_code: "20001".into(),
            postcode: "1".into(),
            latitude: Some(95.0),
            longitude: Some(1.0),
            ..base()
        };
        let err = parse_profile(OrganisationKind::PublicBody, &input).expect_err("refused");
        let names: Vec<_> = fields(err).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            names,
            ["name", "insee_code", "postcode", "latitude", "siret"]
        );
    }

    #[test]
    fn verification_moves_only_where_it_makes_sense() {
        use VerificationAction::*;
        use VerificationStatus::*;
        assert_eq!(Pending.apply(Verify), Some(Verified));
        assert_eq!(Verified.apply(Suspend), Some(Suspended));
        assert_eq!(Suspended.apply(Verify), Some(Verified));
        assert_eq!(Verified.apply(Verify), None);
        assert_eq!(Suspended.apply(Suspend), None);
    }

    #[test]
    fn passwords_must_be_long_and_varied() {
        assert_eq!(check_password("short"), Err(Invalid::WeakPassword));
        assert_eq!(
            check_password("aaaaaaaaaaaaaaaa"),
            Err(Invalid::WeakPassword)
        );
        assert_eq!(check_password("correct horse battery"), Ok(()));
    }
}
