//! Wire types shared by several resources: enums mirrored from `domain`, and response shapes.
//! Domain types never go on the wire; these do, and convert both ways.

use poem_openapi::payload::Json;
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Tags};
use reemploi_domain::organisation as dom;

/// Tags grouping the operations in the documentation.
#[derive(Tags)]
pub enum ApiTags {
    /// Sign-in, sign-out, invitations and the current user.
    Accounts,
    /// Organisations: registration, profile, verification by the operator.
    Organisations,
    /// Members of an organisation and their invitations.
    Members,
    /// API keys of an organisation, for integrations.
    ApiKeys,
    /// Places of an organisation: pickup points, workshops, delivery addresses.
    Sites,
    /// The tamper-evident audit log.
    Events,
    /// Devices of the inventory, their history and public page, and the import.
    Items,
    /// Lots offered to refurbishers, claims, partnerships and collection.
    Lots,
    /// The refurbisher's bench: sanitisation, tests and grade, catalogue, recycling.
    Workshop,
    /// The associations' side: catalogue details, reservations, handover, requests.
    Demand,
    /// Cession paperwork: documents, signatures, public verification.
    Documents,
    /// Impact and compliance: factor sets, reports, the legal re-use rate, open data.
    Impact,
    /// A public body's direct cessions to its staff (5°) or another public body (11°).
    Cessions,
    /// Webhook subscriptions, their delivery log and redelivery (Standard Webhooks).
    Webhooks,
    /// Searching published lots and the catalogue of available devices.
    Search,
    /// Health checks and reference data.
    Meta,
}

/// Declares a wire enum mirroring a `domain` enum variant for variant, with conversions both
/// ways (a variant added to one side breaks the build until added to the other).
macro_rules! mirror_enum {
    ($(#[$m:meta])* $wire:ident <=> $dom:path { $($v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
        #[oai(rename_all = "snake_case")]
        pub enum $wire { $($v),* }

        impl From<$wire> for $dom {
            fn from(v: $wire) -> Self {
                match v { $($wire::$v => <$dom>::$v),* }
            }
        }

        impl From<$dom> for $wire {
            fn from(v: $dom) -> Self {
                match v { $(<$dom>::$v => $wire::$v),* }
            }
        }
    };
}
pub(crate) use mirror_enum;

mirror_enum!(
    /// Kind of organisation.
    OrganisationKind <=> dom::OrganisationKind { PublicBody, Refurbisher, Association, Operator }
);
mirror_enum!(
    /// Role of a member in an organisation.
    Role <=> dom::Role { Admin, Agent }
);
mirror_enum!(
    /// Type of public body.
    PublicBodyType <=> dom::PublicBodyType { Commune, Epci, Departement, Region, EtablissementPublic, Etat }
);
mirror_enum!(
    /// Category of an association among the beneficiaries of CG3P L3212-2 3°, or `other`.
    BeneficiaryCategory <=> dom::BeneficiaryCategory {
        ParentsEleves, SoutienScolaire, Etudiants, UtilitePublique, InteretGeneralPrecarite, Other
    }
);
mirror_enum!(
    /// Verification status of an organisation.
    VerificationStatus <=> dom::VerificationStatus { Pending, Verified, Suspended }
);

/// Kinds of organisation that register themselves (the operator is bootstrapped from the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RegistrableKind {
    PublicBody,
    Refurbisher,
    Association,
}

impl From<RegistrableKind> for dom::OrganisationKind {
    fn from(v: RegistrableKind) -> Self {
        match v {
            RegistrableKind::PublicBody => dom::OrganisationKind::PublicBody,
            RegistrableKind::Refurbisher => dom::OrganisationKind::Refurbisher,
            RegistrableKind::Association => dom::OrganisationKind::Association,
        }
    }
}

/// A resource read with its version in `ETag`, to send back in `If-Match`.
#[derive(ApiResponse)]
pub enum Versioned<T: ToJSON + Type> {
    /// The resource. `ETag` is its current version.
    #[oai(status = 200)]
    Ok(Json<T>, #[oai(header = "ETag")] String),
}

/// A resource just created.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON + Type> {
    /// Created. `Location` is its address.
    #[oai(status = 201)]
    Created(Json<T>, #[oai(header = "Location")] String),
}

/// Done, nothing to return.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// The strong entity tag of a version.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// Checks an `If-Match` header against the current version (`*` matches anything).
pub fn check_if_match(if_match: Option<&str>, version: i32) -> Result<(), crate::error::ApiError> {
    // A blank header is treated as absent.
    let Some(header) = if_match.map(str::trim).filter(|h| !str::is_empty(h)) else {
        return Ok(());
    };
    let current = etag(version);
    let matches = header.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag == current || tag.strip_prefix("W/") == Some(current.as_str())
    });
    if matches {
        Ok(())
    } else {
        Err(crate::error::ApiError::new(
            crate::error::ErrorCode::PreconditionFailed,
        ))
    }
}

/// A JSON string, strictly: unlike poem-openapi's `String`, a number or boolean is refused
/// (400), so that `{"name": false}` is not silently stored as `"false"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Str(pub String);

impl std::ops::Deref for Str {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Type for Str {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> std::borrow::Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl poem_openapi::types::ParseFromJSON for Str {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) => Ok(Str(s)),
            other => Err(poem_openapi::types::ParseError::expected_type(
                other.unwrap_or_default(),
            )),
        }
    }
}

impl ToJSON for Str {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// A response whose variants share a status and differ by media type (JSON, or CSV with
/// `format=csv`). poem-openapi declares each variant as a response of its own, and the last one
/// replaces the others in the spec; this wrapper declares one response per status listing every
/// media type (the first variant's description, which names both, is kept).
pub struct Negotiated<R>(pub R);

impl<R: ApiResponse> ApiResponse for Negotiated<R> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        let mut merged: Vec<poem_openapi::registry::MetaResponse> = Vec::new();
        for response in R::meta().responses {
            match merged
                .iter_mut()
                .find(|m| m.status == response.status && m.status_range == response.status_range)
            {
                Some(m) => {
                    m.content.extend(response.content);
                    for h in response.headers {
                        if !m
                            .headers
                            .iter()
                            .any(|k| k.name.eq_ignore_ascii_case(&h.name))
                        {
                            m.headers.push(h);
                        }
                    }
                }
                None => merged.push(response),
            }
        }
        poem_openapi::registry::MetaResponses { responses: merged }
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        R::register(registry);
    }
}

impl<R: poem::IntoResponse> poem::IntoResponse for Negotiated<R> {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_versions_and_ignores_a_blank_header() {
        assert!(check_if_match(None, 2).is_ok());
        assert!(check_if_match(Some(""), 2).is_ok());
        assert!(check_if_match(Some("  "), 2).is_ok());
        assert!(check_if_match(Some("\"2\""), 2).is_ok());
        assert!(check_if_match(Some("W/\"2\""), 2).is_ok());
        assert!(check_if_match(Some("*"), 2).is_ok());
        assert!(check_if_match(Some("\"1\""), 2).is_err());
    }
}
