//! The one error table of the service, and the `application/problem+json` (RFC 9457) response.
//!
//! Policy, in three lines:
//! 1. Every failure a client can see is one row of [`ErrorCode`]: a stable snake_case code, one
//!    HTTP status, a French and an English title. Bad input is a 4xx that changed nothing.
//! 2. Handlers return [`ApiError`]; the problem middleware renders it in the caller's language,
//!    and turns poem's own errors (parsing, routing, auth) into the same shape.
//! 3. Unexpected failures are logged once, with their context, and answer 500 `internal` (or 503
//!    `unavailable` when the database is unreachable) without leaking details.

use poem::http::StatusCode;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::DbErr;

/// The language of a response, from `Accept-Language` (French unless English is preferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// Picks the best of French and English from an `Accept-Language` header.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else {
            return Lang::Fr;
        };
        let mut best = (Lang::Fr, -1.0f32);
        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag == "fr" || tag.starts_with("fr-") {
                Lang::Fr
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }
}

macro_rules! error_table {
    ($( $variant:ident => ($code:literal, $status:literal, $fr:literal, $en:literal), )*) => {
        /// Every error a client can receive. The code is stable: clients may switch on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $( $variant, )* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            pub fn code(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            pub fn status(self) -> StatusCode {
                let status = match self { $( ErrorCode::$variant => $status, )* };
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }

            pub fn title(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $( (ErrorCode::$variant, Lang::Fr) => $fr, (ErrorCode::$variant, Lang::En) => $en, )*
                }
            }
        }
    };
}

error_table! {
    MalformedRequest => ("malformed_request", 400, "Requête mal formée", "Malformed request"),
    Unauthenticated => ("unauthenticated", 401, "Authentification requise", "Authentication required"),
    InvalidCredentials => ("invalid_credentials", 401, "Identifiants incorrects", "Invalid credentials"),
    Forbidden => ("forbidden", 403, "Action non autorisée", "Action not allowed"),
    NotFound => ("not_found", 404, "Ressource introuvable", "Resource not found"),
    MethodNotAllowed => ("method_not_allowed", 405, "Méthode non autorisée", "Method not allowed"),
    EmailTaken => ("email_taken", 409, "Cette adresse e-mail est déjà utilisée", "This e-mail address is already in use"),
    SiretTaken => ("siret_taken", 409, "Une organisation avec ce SIRET existe déjà", "An organisation with this SIRET already exists"),
    RnaTaken => ("rna_taken", 409, "Une association avec ce numéro RNA existe déjà", "An association with this RNA number already exists"),
    AlreadyMember => ("already_member", 409, "Cette personne est déjà membre de l'organisation", "This person is already a member of the organisation"),
    InvalidTransition => ("invalid_transition", 409, "Ce changement d'état n'est pas possible", "This state change is not possible"),
    Conflict => ("conflict", 409, "Conflit avec l'état actuel de la ressource", "Conflict with the current state of the resource"),
    PreconditionFailed => ("precondition_failed", 412, "La ressource a changé depuis votre lecture (If-Match)", "The resource changed since you read it (If-Match)"),
    PayloadTooLarge => ("payload_too_large", 413, "Requête trop volumineuse", "Request body too large"),
    RequestTimeout => ("request_timeout", 408, "Corps de la requête trop lent", "Request body too slow"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "Type de contenu non pris en charge", "Unsupported content type"),
    ValidationFailed => ("validation_failed", 422, "Certains champs sont invalides", "Some fields are invalid"),
    LastAdmin => ("last_admin", 422, "Une organisation doit garder au moins un administrateur", "An organisation must keep at least one administrator"),
    InvitationInvalid => ("invitation_invalid", 422, "Invitation invalide, expirée ou déjà utilisée", "Invitation invalid, expired or already used"),
    PreconditionsUnmet => ("preconditions_unmet", 422, "Les conditions préalables de cette étape ne sont pas remplies", "The preconditions of this step are not met"),
    OrganisationNotVerified => ("organisation_not_verified", 403, "Votre organisation doit d'abord être vérifiée par l'opérateur", "Your organisation must first be verified by the operator"),
    InventoryNumberTaken => ("inventory_number_taken", 409, "Ce numéro d'inventaire existe déjà (il n'est jamais réutilisé)", "This inventory number already exists (it is never reused)"),
    ItemNotEditable => ("item_not_editable", 409, "Cet équipement ne peut plus être modifié à ce stade", "This device can no longer be changed at this stage"),
    LotNotEditable => ("lot_not_editable", 409, "Ce lot ne peut plus être modifié dans son état actuel", "This lot can no longer be changed in its current state"),
    LotEmpty => ("lot_empty", 422, "Un lot doit contenir au moins un équipement pour être publié", "A lot needs at least one device to be published"),
    AlreadyClaimed => ("already_claimed", 409, "Votre organisation a déjà candidaté pour ce lot", "Your organisation already claimed this lot"),
    LotAlreadyAwarded => ("lot_already_awarded", 409, "Ce lot a déjà été attribué", "This lot was already awarded"),
    EsusRequired => ("esus_required", 422, "Seule une structure de réemploi agréée ESUS peut recevoir ce lot", "Only an ESUS-accredited re-use organisation may receive this lot"),
    EsusExpired => ("esus_expired", 422, "L'agrément ESUS de votre structure a expiré", "Your organisation's ESUS accreditation has expired"),
    ClaimDeadlinePassed => ("claim_deadline_passed", 422, "La date limite de candidature est passée", "The claim deadline has passed"),
    TooOldForReuse => ("too_old_for_reuse", 422, "Équipement de plus de 10 ans : filière de recyclage", "Device over 10 years old: recycling route"),
    ReportUnreadable => ("report_unreadable", 422, "Ce rapport d'outil n'est pas lisible (lshw -json ou journal nwipe attendu)", "This tool report cannot be read (lshw -json or an nwipe log expected)"),
    WipeLogUnmatched => ("wipe_log_unmatched", 422, "Aucun disque du journal d'effacement ne correspond à un support déclaré", "No disk of the wipe log matches a declared medium"),
    ImportHeaderInvalid => ("import_header_invalid", 422, "L'en-tête du fichier importé n'est pas reconnu", "The header of the imported file is not recognised"),
    IdempotencyKeyReused => ("idempotency_key_reused", 409, "Cette clé d'idempotence a déjà servi", "This idempotency key was already used"),
    IdempotencyInProgress => ("idempotency_in_progress", 409, "Une requête avec cette clé d'idempotence est en cours", "A request with this idempotency key is in progress"),
    // Accounts (issue 16).
    TokenInvalid => ("token_invalid", 422, "Lien invalide, expiré ou déjà utilisé", "Link invalid, expired or already used"),
    WrongPassword => ("wrong_password", 422, "Le mot de passe actuel est incorrect", "The current password is wrong"),
    EmailAlreadyVerified => ("email_already_verified", 409, "Cette adresse e-mail est déjà vérifiée", "This e-mail address is already verified"),
    RateLimited => ("rate_limited", 429, "Trop de tentatives, réessayez plus tard", "Too many attempts, try again later"),
    Internal => ("internal", 500, "Erreur interne", "Internal error"),
    Unavailable => ("unavailable", 503, "Service momentanément indisponible", "Service temporarily unavailable"),
    ItemNotAvailable => ("item_not_available", 409, "Cet équipement n'est plus disponible", "This device is no longer available"),
    NotEligible => ("not_eligible", 422, "Cession non autorisée par la loi", "Cession not allowed by law"),
    FairShareExceeded => ("fair_share_exceeded", 422, "Nombre maximal d'équipements réservés atteint chez ce reconditionneur", "Most devices one association may hold at this refurbisher reached"),
    MixedReservation => ("mixed_reservation", 422, "Une réservation porte sur les équipements d'un seul reconditionneur et d'un seul mode de cession", "A reservation covers the devices of one refurbisher and one cession mode"),
    SearchUnavailable => ("search_unavailable", 503, "La recherche est momentanément indisponible", "Search is temporarily unavailable"),
    OrganisationSuspended => ("organisation_suspended", 403, "Votre organisation est suspendue : elle ne peut que consulter et exporter ses données", "Your organisation is suspended: it may only read and export its data"),
    WriteConflict => ("write_conflict", 409, "Une autre opération modifiait les mêmes données ; réessayez", "Another operation was changing the same data; try again"),
    // Demand side.
    PhotoLimitReached => ("photo_limit_reached", 422, "Nombre maximal de photos atteint pour cet équipement", "Most photos a device may have reached"),
    RequestLineExceeded => ("request_line_exceeded", 422, "Plus d'équipements que ce qu'il reste à pourvoir sur cette ligne de la demande", "More devices than the request line still needs"),
    // Matching (issue 22).
    DuplicateDevice => ("duplicate_device", 422, "Le même équipement figure deux fois dans les propositions", "The same device appears twice in the proposals"),
    // Lots, claims, collection (issue 13).
    ClaimDeadlineNotPassed => ("claim_deadline_not_passed", 409, "Les candidatures sont encore ouvertes : le choix se fait après la date limite", "Claims are still open: the choice is made after the claim deadline"),
    // The ceiling in every mode, cessions 5° and 11° (issue 14).
    CeilingExceeded => ("ceiling_exceeded", 422, "Valeur unitaire supérieure au plafond de 300 € ou non renseignée (décret n° 2022-791)", "Unit value above the 300 € ceiling or unknown (décret n° 2022-791)"),
    NoValueEstimate => ("no_value_estimate", 422, "La valeur de cet équipement ne peut pas être estimée (date d'acquisition ou catégorie manquante) : indiquez sa valeur nette comptable", "This device's value cannot be estimated (acquisition date or category missing): give its net book value"),
    // Webhooks (issue 18).
    WebhookTargetRefused => ("webhook_target_refused", 422, "Cette adresse ne peut pas recevoir de webhooks (HTTPS obligatoire ; adresses privées, locales ou de lien local refusées)", "This address may not receive webhooks (HTTPS required; private, loopback and link-local addresses refused)"),
    WebhookInactive => ("webhook_inactive", 409, "Ce webhook est en pause ou désactivé : réactivez-le d'abord", "This webhook is paused or disabled: resume it first"),
    // Signatures and handovers (issue 14).
    DocumentSuperseded => ("document_superseded", 409, "Cette version du document a été remplacée par une version au contenu différent : signez, contestez ou attestez la version en cours", "This version of the document was superseded by one with a different content: sign, contest or attest the current version"),
    MixedHandover => ("mixed_handover", 422, "Une remise porte sur des réservations d'une seule association chez un seul reconditionneur", "A handover covers reservations of one association at one refurbisher"),
    // Hostile input (issue 23).
    ImportTooManyRows => ("import_too_many_rows", 413, "Le fichier importé contient trop de lignes", "The imported file has too many rows"),
    ImageTooLarge => ("image_too_large", 413, "Image trop grande : trop de pixels", "Image too large: too many pixels"),
    PublicUrlNotPublic => ("public_url_not_public", 503, "L'adresse publique du service (REEMPLOI_PUBLIC_URL) est une adresse locale : aucun document n'est émis", "The service's public address (REEMPLOI_PUBLIC_URL) is a local address: no document is issued"),
    // Evidence-based verification (issue 25).
    VerificationIncomplete => ("verification_incomplete", 422, "Une pièce qui conditionne la vérification a été refusée : elle doit être acceptée d'abord", "An item the verification depends on was refused: it must be accepted first"),
    IdentifierNotRegistered => ("identifier_not_registered", 422, "Cet identifiant n'est pas au répertoire chargé par l'opérateur, ou l'établissement est fermé", "This identifier is not in the register the operator loaded, or the establishment is closed"),
    // OpenID Connect sign-in (issue 17).
    OidcProviderUnknown => ("oidc_provider_unknown", 404, "Ce fournisseur d'identité n'est pas configuré", "This identity provider is not configured"),
    OidcProviderUnavailable => ("oidc_provider_unavailable", 503, "Le fournisseur d'identité est momentanément injoignable", "The identity provider cannot be reached at the moment"),
    OidcProviderRefused => ("oidc_provider_refused", 401, "Le fournisseur d'identité n'a pas authentifié la personne", "The identity provider did not authenticate the person"),
    OidcStateInvalid => ("oidc_state_invalid", 401, "Cette connexion est inconnue, expirée ou déjà terminée : recommencez-la", "This sign-in is unknown, expired or already finished: start again"),
    OidcCodeRejected => ("oidc_code_rejected", 401, "Le fournisseur d'identité a refusé le code de connexion (déjà utilisé ou expiré)", "The identity provider refused the sign-in code (already used or expired)"),
    OidcTokenInvalid => ("oidc_token_invalid", 401, "Le jeton d'identité du fournisseur est invalide", "The provider's ID token is invalid"),
    OidcSignatureInvalid => ("oidc_signature_invalid", 401, "Le jeton d'identité n'est pas signé par une clé et un algorithme acceptés", "The ID token is not signed with an accepted key and algorithm"),
    OidcTokenExpired => ("oidc_token_expired", 401, "Le jeton d'identité a expiré", "The ID token has expired"),
    OidcNonceMismatch => ("oidc_nonce_mismatch", 401, "Le jeton d'identité ne correspond pas à cette connexion (nonce)", "The ID token does not belong to this sign-in (nonce)"),
    OidcAudienceMismatch => ("oidc_audience_mismatch", 401, "Le jeton d'identité est destiné à un autre service", "The ID token is meant for another service"),
    OidcIssuerMismatch => ("oidc_issuer_mismatch", 401, "Le jeton d'identité vient d'un autre émetteur", "The ID token comes from another issuer"),
    OidcEmailUnverified => ("oidc_email_unverified", 403, "Le fournisseur d'identité ne garantit pas cette adresse e-mail : elle ne peut pas être rattachée à un compte", "The identity provider does not vouch for this e-mail address: it cannot be linked to an account"),
    OidcSignInRequired => ("oidc_sign_in_required", 403, "Votre organisation exige la connexion par un fournisseur d'identité (ProConnect…)", "Your organisation requires signing in through an identity provider (ProConnect…)"),
}

/// A localised message for a field refusal.
pub fn field_message(reason: Invalid, lang: Lang) -> &'static str {
    match (reason, lang) {
        (Invalid::Required, Lang::Fr) => "Ce champ est obligatoire.",
        (Invalid::Required, Lang::En) => "This field is required.",
        (Invalid::TooLong, Lang::Fr) => "Ce texte est trop long.",
        (Invalid::TooLong, Lang::En) => "This text is too long.",
        (Invalid::InvalidFormat, Lang::Fr) => "Format invalide.",
        (Invalid::InvalidFormat, Lang::En) => "Invalid format.",
        (Invalid::ControlCharacter, Lang::Fr) => {
            "Caractère interdit : ce champ tient sur une ligne (ni retour à la ligne, ni tabulation, ni caractère de contrôle)."
        }
        (Invalid::ControlCharacter, Lang::En) => {
            "Character not allowed: this field is one line (no line break, tab or control character)."
        }
        (Invalid::InvalidChecksum, Lang::Fr) => "Clé de contrôle invalide.",
        (Invalid::InvalidChecksum, Lang::En) => "Invalid check digit.",
        (Invalid::InvalidEmail, Lang::Fr) => "Adresse e-mail invalide.",
        (Invalid::InvalidEmail, Lang::En) => "Invalid e-mail address.",
        (Invalid::InvalidSiren, Lang::Fr) => {
            "SIREN invalide : 9 chiffres avec une clé de Luhn valide."
        }
        (Invalid::InvalidSiren, Lang::En) => {
            "Invalid SIREN: 9 digits with a valid Luhn check digit."
        }
        (Invalid::InvalidSiret, Lang::Fr) => {
            "SIRET invalide : 14 chiffres avec une clé de Luhn valide."
        }
        (Invalid::InvalidSiret, Lang::En) => {
            "Invalid SIRET: 14 digits with a valid Luhn check digit."
        }
        (Invalid::SiretSirenMismatch, Lang::Fr) => "Le SIRET ne correspond pas au SIREN.",
        (Invalid::SiretSirenMismatch, Lang::En) => "The SIRET does not match the SIREN.",
        (Invalid::InvalidRna, Lang::Fr) => "Numéro RNA invalide : W suivi de 9 chiffres.",
        (Invalid::InvalidRna, Lang::En) => "Invalid RNA number: W followed by 9 digits.",
        (Invalid::InvalidInseeCode, Lang::Fr) => {
            "Code INSEE de commune invalide (5 caractères, 2A/2B pour la Corse)."
        }
        (Invalid::InvalidInseeCode, Lang::En) => {
            "Invalid INSEE commune code (5 characters, 2A/2B for Corsica)."
        }
        (Invalid::InvalidPostcode, Lang::Fr) => "Code postal invalide (5 chiffres).",
        (Invalid::InvalidPostcode, Lang::En) => "Invalid postcode (5 digits).",
        (Invalid::OutOfRange, Lang::Fr) => "Valeur hors des limites permises.",
        (Invalid::OutOfRange, Lang::En) => "Value out of the allowed range.",
        (Invalid::NotAllowedForKind, Lang::Fr) => {
            "Ce champ ne s'applique pas à ce type d'organisation."
        }
        (Invalid::NotAllowedForKind, Lang::En) => {
            "This field does not apply to this kind of organisation."
        }
        (Invalid::WeakPassword, Lang::Fr) => {
            "Mot de passe trop faible : au moins 12 caractères variés."
        }
        (Invalid::WeakPassword, Lang::En) => "Password too weak: at least 12 varied characters.",
        (Invalid::Duplicate, Lang::Fr) => "Valeur en double.",
        (Invalid::Duplicate, Lang::En) => "Duplicate value.",
        (Invalid::InvalidType, Lang::Fr) => "Type de valeur incorrect.",
        (Invalid::InvalidType, Lang::En) => "Wrong type of value.",
        (Invalid::InvalidEnum, Lang::Fr) => "Valeur hors de la liste des choix permis.",
        (Invalid::InvalidEnum, Lang::En) => "Value not among the allowed choices.",
        (Invalid::InvalidDate, Lang::Fr) => {
            "Date invalide : AAAA-MM-JJ (ou horodatage RFC 3339), un jour qui existe."
        }
        (Invalid::InvalidDate, Lang::En) => {
            "Invalid date: YYYY-MM-DD (or an RFC 3339 timestamp), a day that exists."
        }
        (Invalid::UnknownField, Lang::Fr) => "Champ inconnu de cette opération.",
        (Invalid::UnknownField, Lang::En) => "Field unknown to this operation.",
        (Invalid::TooShort, Lang::Fr) => "Trop court : pas assez de caractères ou d'éléments.",
        (Invalid::TooShort, Lang::En) => "Too short: not enough characters or entries.",
        (Invalid::TooMany, Lang::Fr) => "Trop d'éléments dans cette liste.",
        (Invalid::TooMany, Lang::En) => "Too many entries in this list.",
    }
}

/// Where a refused value was in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldLocation {
    Body,
    Query,
    Path,
}

impl FieldLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldLocation::Body => "body",
            FieldLocation::Query => "query",
            FieldLocation::Path => "path",
        }
    }
}

/// The RFC 6901 pointer of a body field written as a path (`lines[0].quantity` →
/// `/lines/0/quantity`).
pub fn pointer_of(field: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in field.chars() {
        match c {
            '.' | '[' => start = true,
            ']' => {}
            c => {
                if start {
                    out.push('/');
                    start = false;
                }
                match c {
                    '~' => out.push_str("~0"),
                    '/' => out.push_str("~1"),
                    c => out.push(c),
                }
            }
        }
    }
    out
}

/// One offending field in a problem body.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProblemField {
    /// Path of the field in the request (`admin.email`, `lines[0].quantity`), or the name of
    /// the query or path parameter.
    pub field: String,
    /// For a body field, its RFC 6901 JSON pointer into the body (`/lines/0/quantity`).
    pub pointer: Option<String>,
    /// Where the value was: `body`, `query` or `path`.
    #[oai(rename = "in")]
    pub location: Option<String>,
    /// Stable reason code (`invalid_siret`).
    pub code: String,
    /// Human-readable message in the response language.
    pub message: String,
}

/// One device a rule refused, in a problem body.
#[derive(Debug, Clone, Object)]
pub struct ProblemItem {
    pub item_id: uuid::Uuid,
    pub inventory_number: String,
    /// Stable reason code (`net_book_value_above_ceiling`, `net_book_value_unknown`).
    pub code: String,
    /// Why, in the response language.
    pub message: String,
}

/// A device a rule refused, in both languages (see [`ProblemItem`]).
#[derive(Debug, Clone)]
pub struct RefusedItem {
    pub item_id: uuid::Uuid,
    pub inventory_number: String,
    pub code: &'static str,
    pub message_fr: String,
    pub message_en: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// URI of the problem type; `/v1/meta/problems` documents each code.
    #[oai(rename = "type")]
    pub ty: String,
    /// Short summary of the problem type, in the response language.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// Stable machine-readable code, one of `/v1/meta/problems`.
    pub code: String,
    /// The request path.
    #[oai(skip_serializing_if_is_none)]
    pub instance: Option<String>,
    /// Offending fields, for validation errors (empty otherwise).
    pub errors: Vec<ProblemField>,
    /// The devices a rule refused, each with its reason (`ceiling_exceeded`; absent otherwise).
    #[oai(default, skip_serializing_if_is_empty)]
    pub items: Vec<ProblemItem>,
    /// The request's id, as in its `X-Request-Id` answer header and the service's log lines:
    /// quote it when reporting a problem.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

/// A failure of a handler or command. Rendered as problem+json by [`render`] (the HTTP layer's
/// problem middleware picks the caller's language).
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", code.code(), detail.as_deref().unwrap_or(""))]
pub struct ApiError {
    pub code: ErrorCode,
    /// Detail in French and English, when there is more to say than the title.
    pub detail: Option<String>,
    pub detail_en: Option<String>,
    pub fields: Vec<(String, Invalid)>,
    /// Refused values whose place in the request is known (request validation).
    /// Boxed: most errors have none, and every handler's `Result` carries this type.
    pub located: Option<Box<Vec<(FieldLocation, String, Invalid)>>>,
    /// Devices refused by a rule, each with its reason.
    pub items: Vec<RefusedItem>,
    /// Seconds to wait, for 429 and 503 (`Retry-After`).
    pub retry_after: Option<u32>,
    /// The database refused the write because of a concurrent one (serialization failure,
    /// deadlock, busy database): [`crate::commands::write`] retries it.
    pub retryable: bool,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: None,
            detail_en: None,
            fields: Vec::new(),
            located: None,
            items: Vec::new(),
            retry_after: None,
            retryable: false,
        }
    }

    /// Adds an explanation (French first, then English).
    pub fn detail(mut self, fr: impl Into<String>, en: impl Into<String>) -> Self {
        self.detail = Some(fr.into());
        self.detail_en = Some(en.into());
        self
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden)
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated)
    }

    /// A validation failure on one field.
    pub fn field(field: impl Into<String>, reason: Invalid) -> Self {
        let mut e = Self::new(ErrorCode::ValidationFailed);
        e.fields.push((field.into(), reason));
        e
    }

    /// Renders this error as a problem document in `lang`.
    pub fn to_problem(&self, lang: Lang, instance: Option<String>) -> Problem {
        let detail = match lang {
            Lang::Fr => self.detail.clone(),
            Lang::En => self.detail_en.clone().or_else(|| self.detail.clone()),
        };
        Problem {
            ty: format!("/v1/meta/problems#{}", self.code.code()),
            title: self.code.title(lang).to_owned(),
            status: self.code.status().as_u16(),
            detail,
            code: self.code.code().to_owned(),
            instance,
            errors: self
                .fields
                .iter()
                .map(|(field, reason)| (None, field, reason))
                .chain(
                    self.located
                        .iter()
                        .flat_map(|l| l.iter())
                        .map(|(location, field, reason)| (Some(*location), field, reason)),
                )
                .map(|(location, field, reason)| ProblemField {
                    field: field.clone(),
                    pointer: matches!(location, None | Some(FieldLocation::Body))
                        .then(|| pointer_of(field)),
                    location: location.map(|l| l.as_str().to_owned()),
                    code: reason.code().to_owned(),
                    message: field_message(*reason, lang).to_owned(),
                })
                .collect(),
            items: self
                .items
                .iter()
                .map(|i| ProblemItem {
                    item_id: i.item_id,
                    inventory_number: i.inventory_number.clone(),
                    code: i.code.to_owned(),
                    message: match lang {
                        Lang::Fr => i.message_fr.clone(),
                        Lang::En => i.message_en.clone(),
                    },
                })
                .collect(),
            request_id: None,
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        let mut e = Self::new(ErrorCode::ValidationFailed);
        e.fields = errors.0.into_iter().map(|f| (f.field, f.reason)).collect();
        e
    }
}

/// Whether the database refused a statement only because a concurrent transaction got there
/// first: PostgreSQL's serialization failure (40001) or deadlock (40P01), SQLite's busy or
/// locked database. Such a write is safe to run again from the start.
pub fn is_retryable(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::Exec(e) | DbErr::Query(e) | DbErr::Conn(e) => e,
        _ => return false,
    };
    let sea_orm::RuntimeErr::SqlxError(sqlx) = runtime else {
        return false;
    };
    let Some(db) = sqlx.as_database_error() else {
        return false;
    };
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517")
    )
}

/// `Retry-After` of a 503 answered while the database is unreachable or saturated.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 5;

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if is_retryable(&err) {
            tracing::debug!(error = %err, "concurrent write refused by the database");
            let mut e = Self::new(ErrorCode::WriteConflict);
            e.retryable = true;
            return e;
        }
        let unavailable = matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_));
        if unavailable {
            tracing::error!(error = %err, "database unavailable");
            let mut e = Self::new(ErrorCode::Unavailable);
            e.retry_after = Some(UNAVAILABLE_RETRY_AFTER_SECS);
            e
        } else {
            tracing::error!(error = %err, "database error");
            Self::new(ErrorCode::Internal)
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        tracing::error!(error = format!("{err:#}"), "internal error");
        Self::new(ErrorCode::Internal)
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.code.status()
    }

    fn as_response(&self) -> poem::Response {
        // Normally rendered by the problem middleware, which knows the language; this is the
        // fallback used if the error escapes it.
        render(&self.to_problem(Lang::Fr, None), self.retry_after)
    }
}

/// The `application/problem+json` response of a problem document.
pub fn render(problem: &Problem, retry_after: Option<u32>) -> poem::Response {
    use poem::http::{HeaderValue, header};
    let body =
        serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(problem)).unwrap_or_default();
    let mut resp = poem::Response::builder()
        .status(StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/problem+json")
        .body(body);
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if problem.status == 401 {
        // RFC 9110 §11.6.1: a 401 names the scheme that would succeed.
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"reemploi\""),
        );
    }
    resp
}

/// Statuses an operation may answer with, as documented in the spec.
const DOCUMENTED: &[(u16, &str)] = &[
    (
        400,
        "The body is not JSON at all (or nests too deeply, or holds a string too long to read).",
    ),
    (401, "Authentication required or failed."),
    (
        403,
        "The caller's organisation kind or role may not take this action.",
    ),
    (404, "Not found, or not visible to the caller."),
    (
        409,
        "Conflict with the current state or with a uniqueness rule.",
    ),
    (412, "`If-Match` does not match the current version."),
    (413, "Request body too large."),
    (
        415,
        "The body is not of a supported content type (send `application/json`).",
    ),
    (
        422,
        "`validation_failed`: a body field, query or path parameter is missing, of the wrong type, \
         out of range or unknown; `errors` lists each by `field`, JSON `pointer` (body) and `in`, \
         with a stable reason `code`. Other codes: a business rule refused the request.",
    ),
    (429, "Rate limited; see `Retry-After`."),
    (503, "A dependency (the database) is unavailable."),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/problem+json",
                        schema: Problem::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// The result of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_french_unless_english_wins() {
        assert_eq!(Lang::from_accept_language(None), Lang::Fr);
        assert_eq!(Lang::from_accept_language(Some("en")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::from_accept_language(Some("fr-FR,fr;q=0.9,en;q=0.8")),
            Lang::Fr
        );
        assert_eq!(Lang::from_accept_language(Some("de, en;q=0.5")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("de")), Lang::Fr);
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.code()), "duplicate {}", code.code());
            assert!(
                code.code()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }
}
