//! Errors of value parsing: a stable machine code per reason, attached to the field it concerns.

use serde::Serialize;

/// Why a value was refused. Each variant has a stable snake_case code; the HTTP layer turns it
/// into a localised message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Invalid {
    #[error("required")]
    Required,
    #[error("too_long")]
    TooLong,
    #[error("invalid_format")]
    InvalidFormat,
    #[error("invalid_checksum")]
    InvalidChecksum,
    #[error("invalid_email")]
    InvalidEmail,
    #[error("invalid_siren")]
    InvalidSiren,
    #[error("invalid_siret")]
    InvalidSiret,
    #[error("siret_siren_mismatch")]
    SiretSirenMismatch,
    #[error("invalid_rna")]
    InvalidRna,
    #[error("invalid_insee_code")]
    InvalidInseeCode,
    #[error("invalid_postcode")]
    InvalidPostcode,
    #[error("out_of_range")]
    OutOfRange,
    #[error("not_allowed_for_kind")]
    NotAllowedForKind,
    #[error("weak_password")]
    WeakPassword,
    #[error("duplicate")]
    Duplicate,
    /// A line break, tab or other control character where only one line of text is allowed.
    #[error("control_character")]
    ControlCharacter,
    /// A value of the wrong JSON type (a number for a string, `null` for a list…).
    #[error("invalid_type")]
    InvalidType,
    /// A value outside the declared list of choices.
    #[error("invalid_enum")]
    InvalidEnum,
    /// Not a date (`YYYY-MM-DD`) or a timestamp (RFC 3339), or not a real day.
    #[error("invalid_date")]
    InvalidDate,
    /// A field the operation does not know: a typo must not be silently dropped.
    #[error("unknown_field")]
    UnknownField,
    /// Too few characters or list entries.
    #[error("too_short")]
    TooShort,
    /// Too many list entries.
    #[error("too_many")]
    TooMany,
}

impl Invalid {
    /// The stable code of this reason, as printed in API errors.
    pub fn code(self) -> &'static str {
        match self {
            Invalid::Required => "required",
            Invalid::TooLong => "too_long",
            Invalid::InvalidFormat => "invalid_format",
            Invalid::ControlCharacter => "control_character",
            Invalid::InvalidChecksum => "invalid_checksum",
            Invalid::InvalidEmail => "invalid_email",
            Invalid::InvalidSiren => "invalid_siren",
            Invalid::InvalidSiret => "invalid_siret",
            Invalid::SiretSirenMismatch => "siret_siren_mismatch",
            Invalid::InvalidRna => "invalid_rna",
            Invalid::InvalidInseeCode => "invalid_insee_code",
            Invalid::InvalidPostcode => "invalid_postcode",
            Invalid::OutOfRange => "out_of_range",
            Invalid::NotAllowedForKind => "not_allowed_for_kind",
            Invalid::WeakPassword => "weak_password",
            Invalid::Duplicate => "duplicate",
            Invalid::InvalidType => "invalid_type",
            Invalid::InvalidEnum => "invalid_enum",
            Invalid::InvalidDate => "invalid_date",
            Invalid::UnknownField => "unknown_field",
            Invalid::TooShort => "too_short",
            Invalid::TooMany => "too_many",
        }
    }
}

/// One refused field: its path in the request (`admin.email`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: Invalid,
}

/// Every refused field of one input, collected so that a client can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, reason: Invalid) {
        self.0.push(FieldError {
            field: field.into(),
            reason,
        });
    }

    /// Parses `value` and records its error under `field`, returning the parsed value if any.
    pub fn check<T>(&mut self, field: &str, value: Result<T, Invalid>) -> Option<T> {
        match value {
            Ok(v) => Some(v),
            Err(reason) => {
                self.push(field, reason);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was refused, else every error.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, FieldErrors> {
        if self.0.is_empty() {
            // All parsed parts are present when no error was recorded.
            value().ok_or(self)
        } else {
            Err(self)
        }
    }
}
