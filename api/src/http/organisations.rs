//! Organisations: self-registration with a first admin, profile, and the operator's verification.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::FieldErrors;
use reemploi_domain::email::Email;
use reemploi_domain::organisation::{
    self as dom, ProfileInput, VerificationAction, check_password, parse_profile,
};
use reemploi_domain::text::Name;
use uuid::Uuid;

use super::access::BearerAuth;
use super::merge_patch::{self, MergePatch};
use super::pagination::PageRequest;
use super::types::{
    ApiTags, BeneficiaryCategory, Created, OrganisationKind, PublicBodyType, RegistrableKind, Str,
    VerificationStatus, Versioned, etag,
};
use crate::commands::organisations::{self, FirstAdmin};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::organisation;
use crate::store::organisations::organisations_select;

/// An organisation's profile as sent by a client (registration or update).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OrganisationProfile {
    /// Legal name.
    #[oai(validator(max_length = 200))]
    pub name: Str,
    /// SIRET (14 digits, Luhn). Required for public bodies and refurbishers.
    #[oai(validator(max_length = 20))]
    #[oai(nullable)]
    pub siret: Option<Str>,
    /// RNA number (`W` + 9 digits). Required for associations.
    #[oai(validator(max_length = 12))]
    #[oai(nullable)]
    pub rna: Option<Str>,
    /// INSEE code of the commune of the seat (5 characters; 2A/2B for Corsica).
    #[oai(validator(max_length = 5))]
    pub insee_code: Str,
    /// Street address of the seat.
    #[oai(validator(max_length = 300))]
    pub address: Str,
    /// Postcode of the seat.
    #[oai(validator(max_length = 5))]
    pub postcode: Str,
    /// City of the seat.
    #[oai(validator(max_length = 200))]
    pub city: Str,
    /// Latitude of the seat (WGS 84), with `longitude`.
    #[oai(nullable)]
    pub latitude: Option<f64>,
    /// Longitude of the seat (WGS 84), with `latitude`.
    #[oai(nullable)]
    pub longitude: Option<f64>,
    /// Contact e-mail of the organisation.
    #[oai(validator(max_length = 254))]
    #[oai(nullable)]
    pub contact_email: Option<Str>,
    /// Contact phone number.
    #[oai(validator(max_length = 30))]
    #[oai(nullable)]
    pub phone: Option<Str>,
    /// Public bodies only: the type of body.
    #[oai(nullable)]
    pub public_body_type: Option<PublicBodyType>,
    /// Refurbishers only: reference of the ESUS accreditation, with its expiry.
    #[oai(validator(max_length = 100))]
    #[oai(nullable)]
    pub esus_reference: Option<Str>,
    /// Refurbishers only: expiry date of the ESUS accreditation.
    #[oai(nullable)]
    pub esus_expires_on: Option<NaiveDate>,
    /// Associations only: beneficiary category (CG3P L3212-2 3°).
    #[oai(nullable)]
    pub beneficiary_category: Option<BeneficiaryCategory>,
    /// Associations only: recognised as of public utility.
    #[oai(nullable)]
    pub public_utility: Option<bool>,
    /// Associations only: statutory purpose.
    #[oai(validator(max_length = 2000))]
    #[oai(nullable)]
    pub statutory_purpose: Option<Str>,
}

impl OrganisationProfile {
    fn to_input(&self) -> ProfileInput {
        ProfileInput {
            name: self.name.to_string(),
            siret: self.siret.as_deref().map(str::to_owned),
            rna: self.rna.as_deref().map(str::to_owned),
            insee_code: self.insee_code.to_string(),
            address: self.address.to_string(),
            postcode: self.postcode.to_string(),
            city: self.city.to_string(),
            latitude: self.latitude,
            longitude: self.longitude,
            contact_email: self.contact_email.as_deref().map(str::to_owned),
            phone: self.phone.as_deref().map(str::to_owned),
            public_body_type: self.public_body_type.map(Into::into),
            esus_reference: self.esus_reference.as_deref().map(str::to_owned),
            esus_expires_on: self.esus_expires_on,
            beneficiary_category: self.beneficiary_category.map(Into::into),
            public_utility: self.public_utility,
            statutory_purpose: self.statutory_purpose.as_deref().map(str::to_owned),
        }
    }
}

/// The first administrator, created with the organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewAdmin {
    /// E-mail address, used to sign in. Must not belong to an existing account.
    #[oai(validator(max_length = 254))]
    pub email: Str,
    /// Name shown to other members.
    #[oai(validator(max_length = 200))]
    pub display_name: Str,
    /// At least 12 varied characters.
    #[oai(validator(max_length = 256))]
    pub password: Str,
}

/// Registration of a public body, refurbisher or association.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegisterOrganisationRequest {
    pub kind: RegistrableKind,
    #[oai(flatten)]
    pub profile: OrganisationProfile,
    pub admin: NewAdmin,
}

/// An organisation as its members and the operator see it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OrganisationResponse {
    pub id: Uuid,
    pub kind: OrganisationKind,
    pub name: String,
    pub siren: Option<String>,
    pub siret: Option<String>,
    pub rna: Option<String>,
    pub insee_code: String,
    /// Département code derived from the INSEE code.
    pub departement: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub contact_email: Option<String>,
    pub phone: Option<String>,
    pub status: VerificationStatus,
    /// Why the operator suspended it, if it is suspended.
    pub status_reason: Option<String>,
    pub public_body_type: Option<PublicBodyType>,
    pub esus_reference: Option<String>,
    pub esus_expires_on: Option<NaiveDate>,
    pub beneficiary_category: Option<BeneficiaryCategory>,
    /// Associations only: recognised as of public utility.
    pub public_utility: Option<bool>,
    pub statutory_purpose: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<organisation::Model> for OrganisationResponse {
    fn from(m: organisation::Model) -> Self {
        Self {
            id: m.id,
            kind: dom::OrganisationKind::parse(&m.kind)
                .unwrap_or(dom::OrganisationKind::Association)
                .into(),
            name: m.name,
            siren: m.siren,
            siret: m.siret,
            rna: m.rna,
            insee_code: m.insee_code,
            departement: m.departement,
            address: m.address,
            postcode: m.postcode,
            city: m.city,
            latitude: m.latitude,
            longitude: m.longitude,
            contact_email: m.contact_email,
            phone: m.phone,
            status: dom::VerificationStatus::parse(&m.status)
                .unwrap_or(dom::VerificationStatus::Pending)
                .into(),
            status_reason: m.status_reason,
            public_body_type: m
                .public_body_type
                .as_deref()
                .and_then(dom::PublicBodyType::parse)
                .map(Into::into),
            esus_reference: m.esus_reference,
            esus_expires_on: m.esus_expires_on,
            beneficiary_category: m
                .beneficiary_category
                .as_deref()
                .and_then(dom::BeneficiaryCategory::parse)
                .map(Into::into),
            public_utility: (m.kind == dom::OrganisationKind::Association.as_str())
                .then_some(m.public_utility),
            statutory_purpose: m.statutory_purpose,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The registered organisation and its first admin.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegisteredOrganisation {
    pub organisation: OrganisationResponse,
    /// The first administrator's user id; they sign in with their e-mail and password.
    pub admin_user_id: Uuid,
}

/// A page of organisations.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OrganisationPage {
    pub items: Vec<OrganisationResponse>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Why the operator suspends an organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SuspendRequest {
    /// Reason, shown to the organisation's members.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Str,
}

/// Kept here for the handlers of other resources that still import them from `http`.
pub use crate::store::organisations::{find_organisation, org_event};

/// Parses a registration, collecting every refused field (the profile's and the admin's).
fn parse_registration(
    body: &RegisterOrganisationRequest,
) -> ApiResult<(dom::OrganisationKind, dom::Profile, FirstAdmin)> {
    let kind: dom::OrganisationKind = body.kind.into();
    let mut errors = FieldErrors::new();
    let profile = match parse_profile(kind, &body.profile.to_input()) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.0.extend(e.0);
            None
        }
    };
    let email = errors.check("admin.email", Email::parse(&body.admin.email));
    let display_name = errors.check("admin.display_name", Name::parse(&body.admin.display_name));
    if let Err(reason) = check_password(&body.admin.password) {
        errors.push("admin.password", reason);
    }
    let (Some(profile), Some(email), Some(display_name), true) =
        (profile, email, display_name, errors.is_empty())
    else {
        return Err(errors.into());
    };

    let admin = FirstAdmin {
        email,
        display_name,
        password: body.admin.password.to_string(),
    };
    Ok((kind, profile, admin))
}

pub struct OrganisationsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Organisations")]
impl OrganisationsApi {
    /// Register an organisation
    ///
    /// Creates a public body, refurbisher or association as `pending`, with its first
    /// administrator. Identifiers are checked (SIRET Luhn, RNA, INSEE code) and each kind's own
    /// fields are required. The platform operator then verifies it; until then its members can
    /// sign in and edit the profile but not publish, claim or reserve.
    #[oai(
        path = "/organisations",
        method = "post",
        operation_id = "register_organisation"
    )]
    async fn register_organisation(
        &self,
        body: Json<RegisterOrganisationRequest>,
    ) -> ApiResult<Created<RegisteredOrganisation>> {
        let (kind, profile, admin) = parse_registration(&body.0)?;
        let (org, admin_user_id) =
            organisations::register_organisation(&self.state, kind, &profile, admin).await?;
        tracing::info!(organisation.id = %org.id, organisation.kind = kind.as_str(), "organisation registered");
        let location = format!("/v1/organisations/{}", org.id);
        Ok(Created::Created(
            Json(RegisteredOrganisation {
                organisation: org.into(),
                admin_user_id,
            }),
            location,
        ))
    }

    /// Read an organisation
    ///
    /// Its members and the platform operator read the whole profile; anyone else gets 404.
    /// `ETag` carries the version to send back in `If-Match` when updating.
    #[oai(
        path = "/organisations/:id",
        method = "get",
        operation_id = "get_organisation"
    )]
    async fn get_organisation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Versioned<OrganisationResponse>> {
        auth.0.authorize("get_organisation", Some(id.0))?;
        let org = find_organisation(&self.state.db, id.0).await?;
        let tag = etag(org.version);
        Ok(Versioned::Ok(Json(org.into()), tag))
    }

    /// Update an organisation's profile
    ///
    /// A JSON Merge Patch of the profile: the fields sent change, the others keep their value,
    /// `null` clears one (the kind never changes). A refurbisher changing its phone keeps its
    /// coordinates. Changing the SIRET or RNA number of a verified organisation returns it to
    /// `pending` until the operator checks it again. Send `If-Match` with the `ETag` you read
    /// to be refused (412) rather than change a profile someone else changed since.
    #[oai(
        path = "/organisations/:id",
        method = "patch",
        operation_id = "update_organisation"
    )]
    async fn update_organisation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: MergePatch<OrganisationProfile>,
    ) -> ApiResult<Versioned<OrganisationResponse>> {
        let actor = auth.0.authorize("update_organisation", Some(id.0))?;
        let by = organisations::by_member(&auth.0, id.0, actor);
        let (state, by) = (&self.state, &by);
        let org = merge_patch::apply(
            &body,
            if_match.0.as_deref(),
            || async move {
                let current = find_organisation(&state.db, id.0).await?;
                let version = current.version;
                Ok((
                    OrganisationResponse::from(current)
                        .to_json()
                        .unwrap_or_default(),
                    version,
                ))
            },
            |full: OrganisationProfile, version| async move {
                let current = find_organisation(&state.db, id.0).await?;
                let kind =
                    dom::OrganisationKind::parse(&current.kind).ok_or_else(ApiError::not_found)?;
                let profile = parse_profile(kind, &full.to_input())?;
                organisations::update_organisation(
                    state,
                    by,
                    id.0,
                    &profile,
                    merge_patch::at_version(version),
                )
                .await
            },
        )
        .await?;
        let tag = etag(org.version);
        Ok(Versioned::Ok(Json(org.into()), tag))
    }

    /// List organisations (operator)
    ///
    /// For the platform operator: every organisation, filtered by kind and status, oldest first.
    #[oai(
        path = "/organisations",
        method = "get",
        operation_id = "list_organisations"
    )]
    async fn list_organisations(
        &self,
        auth: BearerAuth,
        kind: Query<Option<OrganisationKind>>,
        status: Query<Option<VerificationStatus>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<OrganisationPage>> {
        auth.0.authorize("list_organisations", None)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select = organisations_select(kind.0.map(Into::into), status.0.map(Into::into));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, organisation::Column::Id, |m| m.id)
            .await?;
        Ok(Json(OrganisationPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Verify an organisation (operator)
    ///
    /// Defined over the verification records: the operator accepts, dated today, every item of
    /// the checklist still pending (the ESUS accreditation until the expiry the organisation
    /// declared), and the organisation is verified (a suspension is lifted). Items decided one
    /// by one (`decide_verification_item`) keep their decision; a refused item that conditions
    /// the verification answers 422 `verification_incomplete`. 409 `invalid_transition` when
    /// already verified with nothing pending.
    #[oai(
        path = "/organisations/:id/verify",
        method = "post",
        operation_id = "verify_organisation"
    )]
    async fn verify_organisation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<OrganisationResponse>> {
        auth.0.authorize("verify_organisation", None)?;
        let by = organisations::by_member(&auth.0, id.0, None);
        let org = crate::commands::verification::verify_all(&self.state, &by, id.0).await?;
        Ok(Json(org.into()))
    }

    /// Suspend an organisation (operator)
    ///
    /// Suspends a pending or verified organisation, with a reason its members can read.
    #[oai(
        path = "/organisations/:id/suspend",
        method = "post",
        operation_id = "suspend_organisation"
    )]
    async fn suspend_organisation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SuspendRequest>,
    ) -> ApiResult<Json<OrganisationResponse>> {
        auth.0.authorize("suspend_organisation", None)?;
        let reason = reemploi_domain::text::Text::<1000>::parse(&body.0.reason)
            .map_err(|r| ApiError::field("reason", r))?;
        self.change_status(
            &auth.0,
            id.0,
            VerificationAction::Suspend,
            Some(reason.into_inner()),
        )
        .await
    }
}

impl OrganisationsApi {
    async fn change_status(
        &self,
        caller: &super::access::Caller,
        id: Uuid,
        action: VerificationAction,
        reason: Option<String>,
    ) -> ApiResult<Json<OrganisationResponse>> {
        let by = organisations::by_member(caller, id, None);
        let org = organisations::change_status(&self.state, &by, id, action, reason).await?;
        Ok(Json(org.into()))
    }
}
