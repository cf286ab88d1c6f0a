//! Organisations: self-registration with a first admin, profile, and the operator's verification.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::FieldErrors;
use reemploi_domain::email::Email;
use reemploi_domain::organisation::{
    self as dom, ProfileInput, VerificationAction, check_password, parse_profile,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::access::BearerAuth;
use super::pagination::PageRequest;
use super::types::{
    ApiTags, BeneficiaryCategory, Created, OrganisationKind, PublicBodyType, RegistrableKind, Str,
    VerificationStatus, Versioned, check_if_match, etag,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{membership, organisation, user};
use crate::store::events::{self, NewEvent, organisation_stream};
use crate::store::{self, begin_write, is_unique_violation, unique_violation_detail};

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

/// Maps a unique violation of a registration to its conflict code.
fn conflict_of(err: &sea_orm::DbErr) -> ApiError {
    let detail = unique_violation_detail(err).unwrap_or_default();
    if detail.contains("email") {
        ApiError::new(ErrorCode::EmailTaken)
    } else if detail.contains("siret") {
        ApiError::new(ErrorCode::SiretTaken)
    } else if detail.contains("rna") {
        ApiError::new(ErrorCode::RnaTaken)
    } else {
        ApiError::new(ErrorCode::Conflict)
    }
}

fn profile_columns(am: &mut organisation::ActiveModel, p: &dom::Profile) {
    am.name = Set(p.name.as_str().to_owned());
    am.siren = Set(p.siren.as_ref().map(|s| s.as_str().to_owned()));
    am.siret = Set(p.siret.as_ref().map(|s| s.as_str().to_owned()));
    am.rna = Set(p.rna.as_ref().map(|s| s.as_str().to_owned()));
    am.insee_code = Set(p.insee_code.as_str().to_owned());
    am.departement = Set(p.insee_code.departement().to_owned());
    am.address = Set(p.address.as_str().to_owned());
    am.postcode = Set(p.postcode.as_str().to_owned());
    am.city = Set(p.city.as_str().to_owned());
    am.latitude = Set(p.coordinates.map(|c| c.latitude()));
    am.longitude = Set(p.coordinates.map(|c| c.longitude()));
    am.contact_email = Set(p.contact_email.as_ref().map(|e| e.as_str().to_owned()));
    am.phone = Set(p.phone.as_ref().map(|t| t.as_str().to_owned()));
    am.public_body_type = Set(p.public_body_type.map(|t| t.as_str().to_owned()));
    am.esus_reference = Set(p.esus_reference.as_ref().map(|t| t.as_str().to_owned()));
    am.esus_expires_on = Set(p.esus_expires_on);
    am.beneficiary_category = Set(p.beneficiary_category.map(|c| c.as_str().to_owned()));
    am.public_utility = Set(p.public_utility);
    am.statutory_purpose = Set(p.statutory_purpose.as_ref().map(|t| t.as_str().to_owned()));
}

/// Loads an organisation or answers 404.
pub async fn find_organisation<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Appends an event to an organisation's stream.
pub async fn org_event(
    txn: &crate::store::tx::Tx,
    organisation_id: Uuid,
    actor: String,
    kind: &'static str,
    payload: serde_json::Value,
) -> ApiResult<()> {
    events::append(
        txn,
        NewEvent {
            stream: organisation_stream(organisation_id),
            organisation_id: Some(organisation_id),
            actor,
            kind,
            payload,
        },
    )
    .await?;
    Ok(())
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
        let body = body.0;
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
        let display_name = errors.check(
            "admin.display_name",
            reemploi_domain::text::Name::parse(&body.admin.display_name),
        );
        if let Err(reason) = check_password(&body.admin.password) {
            errors.push("admin.password", reason);
        }
        let (Some(profile), Some(email), Some(display_name), true) =
            (profile, email, display_name, errors.is_empty())
        else {
            return Err(errors.into());
        };

        let state = &self.state;
        if user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&state.db)
            .await?
            .is_some()
        {
            return Err(ApiError::new(ErrorCode::EmailTaken));
        }
        let password = body.admin.password.clone();
        let password_hash =
            tokio::task::spawn_blocking(move || crate::security::hash_password(&password))
                .await
                .map_err(anyhow::Error::from)??;

        let now = store::now();
        let org_id = store::new_id();
        let user_id = store::new_id();
        let txn = begin_write(&state.db).await?;
        // The user first: concurrent registrations with one e-mail conflict on it.
        let inserted_user = user::Entity::insert(user::ActiveModel {
            id: Set(user_id),
            email: Set(email.as_str().to_owned()),
            display_name: Set(display_name.as_str().to_owned()),
            password_hash: Set(Some(password_hash)),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await;
        if let Err(err) = inserted_user {
            return Err(if is_unique_violation(&err) {
                conflict_of(&err)
            } else {
                err.into()
            });
        }
        let mut am = organisation::ActiveModel {
            id: Set(org_id),
            kind: Set(kind.as_str().to_owned()),
            status: Set(dom::VerificationStatus::Pending.as_str().to_owned()),
            status_reason: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        profile_columns(&mut am, &profile);
        if let Err(err) = organisation::Entity::insert(am)
            .exec_without_returning(&txn)
            .await
        {
            return Err(if is_unique_violation(&err) {
                conflict_of(&err)
            } else {
                err.into()
            });
        }
        membership::Entity::insert(membership::ActiveModel {
            id: Set(store::new_id()),
            user_id: Set(user_id),
            organisation_id: Set(org_id),
            role: Set(dom::Role::Admin.as_str().to_owned()),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        let actor = format!("user/{user_id}");
        org_event(
            &txn,
            org_id,
            actor.clone(),
            "organisation_registered",
            serde_json::json!({
                "kind": kind.as_str(),
                "name": profile.name.as_str(),
                "siret": profile.siret.as_ref().map(|s| s.as_str()),
                "rna": profile.rna.as_ref().map(|s| s.as_str()),
                "insee_code": profile.insee_code.as_str(),
            }),
        )
        .await?;
        org_event(
            &txn,
            org_id,
            actor,
            "member_added",
            serde_json::json!({ "user_id": user_id, "role": "admin" }),
        )
        .await?;
        txn.commit().await?;
        let org = find_organisation(&state.db, org_id).await?;
        tracing::info!(organisation.id = %org_id, organisation.kind = kind.as_str(), "organisation registered");
        Ok(Created::Created(
            Json(RegisteredOrganisation {
                organisation: org.into(),
                admin_user_id: user_id,
            }),
            format!("/v1/organisations/{org_id}"),
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
    /// Replaces the profile (the kind never changes). Changing the SIRET or RNA number of a
    /// verified organisation returns it to `pending` until the operator checks it again.
    /// Send `If-Match` with the `ETag` you read to avoid overwriting someone else's change.
    #[oai(
        path = "/organisations/:id",
        method = "put",
        operation_id = "update_organisation"
    )]
    async fn update_organisation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<OrganisationProfile>,
    ) -> ApiResult<Versioned<OrganisationResponse>> {
        auth.0.authorize("update_organisation", Some(id.0))?;
        let current = find_organisation(&self.state.db, id.0).await?;
        let kind = dom::OrganisationKind::parse(&current.kind).ok_or_else(ApiError::not_found)?;
        let profile = parse_profile(kind, &body.0.to_input())?;
        check_if_match(if_match.0.as_deref(), current.version)?;

        let txn = begin_write(&self.state.db).await?;
        let current = find_organisation(&txn, id.0).await?;
        check_if_match(if_match.0.as_deref(), current.version)?;
        let identifiers_changed = profile.siret.as_ref().map(|s| s.as_str())
            != current.siret.as_deref()
            || profile.rna.as_ref().map(|s| s.as_str()) != current.rna.as_deref();
        let back_to_pending =
            identifiers_changed && current.status == dom::VerificationStatus::Verified.as_str();
        let mut am: organisation::ActiveModel = Default::default();
        profile_columns(&mut am, &profile);
        am.updated_at = Set(store::now());
        am.version = Set(current.version + 1);
        if back_to_pending {
            am.status = Set(dom::VerificationStatus::Pending.as_str().to_owned());
        }
        let result = organisation::Entity::update_many()
            .set(am)
            .filter(organisation::Column::Id.eq(id.0))
            .filter(organisation::Column::Version.eq(current.version))
            .exec(&txn)
            .await;
        match result {
            Ok(r) if r.rows_affected == 1 => {}
            Ok(_) => return Err(ApiError::new(ErrorCode::PreconditionFailed)),
            Err(err) if is_unique_violation(&err) => return Err(conflict_of(&err)),
            Err(err) => return Err(err.into()),
        }
        crate::search::indexer::organisation_changed(&txn, id.0).await?;
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "organisation_updated",
            serde_json::json!({
                "name": profile.name.as_str(),
                "siret": profile.siret.as_ref().map(|s| s.as_str()),
                "rna": profile.rna.as_ref().map(|s| s.as_str()),
                "back_to_pending": back_to_pending,
            }),
        )
        .await?;
        txn.commit().await?;
        let org = find_organisation(&self.state.db, id.0).await?;
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
        let mut select = organisation::Entity::find();
        if let Some(kind) = kind.0 {
            select = select
                .filter(organisation::Column::Kind.eq(dom::OrganisationKind::from(kind).as_str()));
        }
        if let Some(status) = status.0 {
            select = select.filter(
                organisation::Column::Status.eq(dom::VerificationStatus::from(status).as_str()),
            );
        }
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
    /// The operator has checked the organisation's identifiers and documents. Allowed from
    /// `pending` and `suspended`; 409 `invalid_transition` otherwise.
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
        self.change_status(&auth.0, id.0, VerificationAction::Verify, None)
            .await
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
        let txn = begin_write(&self.state.db).await?;
        let current = find_organisation(&txn, id).await?;
        if current.kind == dom::OrganisationKind::Operator.as_str() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                "L'opérateur de la plateforme n'est pas soumis à vérification.",
                "The platform operator is not subject to verification.",
            ));
        }
        let from =
            dom::VerificationStatus::parse(&current.status).ok_or_else(ApiError::not_found)?;
        let Some(to) = from.apply(action) else {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!("Impossible depuis le statut « {} ».", from.as_str()),
                format!("Not possible from status `{}`.", from.as_str()),
            ));
        };
        let updated = organisation::Entity::update_many()
            .col_expr(organisation::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                organisation::Column::StatusReason,
                Expr::value(reason.clone()),
            )
            .col_expr(
                organisation::Column::Version,
                Expr::value(current.version + 1),
            )
            .col_expr(organisation::Column::UpdatedAt, Expr::value(store::now()))
            .filter(organisation::Column::Id.eq(id))
            .filter(organisation::Column::Version.eq(current.version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::Conflict));
        }
        crate::search::indexer::organisation_changed(&txn, id).await?;
        let kind = match action {
            VerificationAction::Verify => "organisation_verified",
            VerificationAction::Suspend => "organisation_suspended",
        };
        org_event(
            &txn,
            id,
            caller.actor_ref(),
            kind,
            serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason }),
        )
        .await?;
        txn.commit().await?;
        let org = find_organisation(&self.state.db, id).await?;
        Ok(Json(org.into()))
    }
}
