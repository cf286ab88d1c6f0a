//! Direct cessions of a public body's own devices: to a member of its staff (CG3P L3212-2 5°) or
//! to another public body (11°), registered in the service or named in the act. One call
//! records the convention, the re-use commitment and the remise; the convention and the
//! procès-verbal de remise follow.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::ids::Siret;
use reemploi_domain::text::{Address, LongText, Name};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::access::BearerAuth;
use super::types::{ApiTags, Created, Str};
use crate::commands::By;
use crate::commands::cessions::{self as cmd, NewDirectCession, Recipient};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::{direct_cession, direct_cession_item, document};

/// The legal route of a direct cession.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DirectRoute {
    /// To a member of the body's staff (L3212-2 5°).
    Staff,
    /// To another public body (L3212-2 11°).
    PublicBody,
}

/// The staff member who receives the devices.
#[derive(Debug, Clone, Object)]
pub struct StaffMember {
    #[oai(validator(max_length = 200))]
    pub name: Str,
    /// Their post.
    #[oai(validator(max_length = 200))]
    pub position: Option<Str>,
}

/// The public body that receives the devices: registered in the service (`organisation_id`), or
/// named (`name`, `address`, optional `siret`).
#[derive(Debug, Clone, Object)]
pub struct ReceivingBody {
    pub organisation_id: Option<Uuid>,
    #[oai(validator(max_length = 200))]
    pub name: Option<Str>,
    #[oai(validator(max_length = 20))]
    pub siret: Option<Str>,
    #[oai(validator(max_length = 300))]
    pub address: Option<Str>,
    /// Who represents it (name and title).
    #[oai(validator(max_length = 200))]
    pub representative: Option<Str>,
}

/// A direct cession to record.
#[derive(Debug, Clone, Object)]
pub struct DirectCessionRequest {
    /// The public body giving, when the caller belongs to several.
    pub organisation_id: Option<Uuid>,
    pub route: DirectRoute,
    /// With `staff`.
    pub staff: Option<StaffMember>,
    /// With `public_body`.
    pub public_body: Option<ReceivingBody>,
    /// The body's devices, from its inventory or refurbished for it (1 to 500).
    #[oai(validator(min_items = 1, max_items = 500))]
    pub item_ids: Vec<Uuid>,
    /// The day of the remise (not in the future).
    pub handed_over_on: NaiveDate,
    /// The beneficiary's commitment to re-use the devices and not resell them: must be `true`
    /// (décret n° 2023-266 counts a device only with a prior commitment).
    pub commitment_reuse: bool,
    #[oai(validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// One document of a direct cession.
#[derive(Debug, Clone, Object)]
pub struct DirectCessionDocument {
    pub id: Uuid,
    /// `convention_cession` or `pv_remise`.
    pub kind: String,
    pub code: String,
    pub version: i32,
    pub signed: bool,
}

/// A recorded direct cession.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DirectCessionResponse {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub route: DirectRoute,
    pub beneficiary_organisation_id: Option<Uuid>,
    pub beneficiary_name: String,
    pub beneficiary_role: Option<String>,
    /// As printed on the convention (route, L3212-3, ceiling article).
    pub legal_basis: String,
    pub resale_terms: String,
    pub commitment_reuse: bool,
    pub handed_over_on: NaiveDate,
    pub item_ids: Vec<Uuid>,
    /// The newest version of each document (generated after the call returns).
    pub documents: Vec<DirectCessionDocument>,
    pub created_at: DateTime<Utc>,
}

fn text<T>(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&Str>,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Option<T> {
    value.and_then(|v| errors.check(field, parse(v)))
}

impl DirectCessionRequest {
    fn parse(&self, today: NaiveDate) -> Result<NewDirectCession, FieldErrors> {
        let mut errors = FieldErrors::new();
        if !self.commitment_reuse {
            errors.push("commitment_reuse", Invalid::Required);
        }
        if self.handed_over_on > today {
            errors.push("handed_over_on", Invalid::OutOfRange);
        }
        let notes = text(&mut errors, "notes", self.notes.as_ref(), LongText::parse);
        let recipient = match (self.route, &self.staff, &self.public_body) {
            (DirectRoute::Staff, Some(s), None) => {
                let name = text(&mut errors, "staff.name", Some(&s.name), Name::parse);
                let post = text(
                    &mut errors,
                    "staff.position",
                    s.position.as_ref(),
                    Name::parse,
                );
                name.map(|n| Recipient::Staff {
                    name: n.into_inner(),
                    post: post.map(|p| p.into_inner()),
                })
            }
            (DirectRoute::PublicBody, None, Some(b)) => {
                let representative = text(
                    &mut errors,
                    "public_body.representative",
                    b.representative.as_ref(),
                    Name::parse,
                )
                .map(|r| r.into_inner());
                match (b.organisation_id, &b.name) {
                    (Some(id), None) => Some(Recipient::RegisteredBody {
                        organisation_id: id,
                        representative,
                    }),
                    (None, Some(name)) => {
                        let name = text(&mut errors, "public_body.name", Some(name), Name::parse);
                        let address = match &b.address {
                            Some(a) => {
                                text(&mut errors, "public_body.address", Some(a), Address::parse)
                            }
                            None => {
                                errors.push("public_body.address", Invalid::Required);
                                None
                            }
                        };
                        let siret = text(
                            &mut errors,
                            "public_body.siret",
                            b.siret.as_ref(),
                            Siret::parse,
                        );
                        match (name, address) {
                            (Some(name), Some(address)) => Some(Recipient::NamedBody {
                                name: name.into_inner(),
                                siret: siret.map(|s| s.as_str().to_owned()),
                                address: address.into_inner(),
                                representative,
                            }),
                            _ => None,
                        }
                    }
                    _ => {
                        errors.push("public_body.organisation_id", Invalid::Required);
                        None
                    }
                }
            }
            (DirectRoute::Staff, _, _) => {
                errors.push("staff", Invalid::Required);
                None
            }
            (DirectRoute::PublicBody, _, _) => {
                errors.push("public_body", Invalid::Required);
                None
            }
        };
        let item_ids = self.item_ids.clone();
        let handed_over_on = self.handed_over_on;
        errors.finish(|| {
            Some(NewDirectCession {
                recipient: recipient?,
                item_ids,
                handed_over_on,
                notes: notes.map(|n| n.into_inner()),
            })
        })
    }
}

async fn response(state: &AppState, c: direct_cession::Model) -> ApiResult<DirectCessionResponse> {
    let item_ids = direct_cession_item::Entity::find()
        .filter(direct_cession_item::Column::DirectCessionId.eq(c.id))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| r.item_id)
        .collect();
    let mut documents: Vec<DirectCessionDocument> = Vec::new();
    for d in document::Entity::find()
        .filter(document::Column::DirectCessionId.eq(c.id))
        .order_by_desc(document::Column::Version)
        .all(&state.db)
        .await?
    {
        if documents.iter().any(|x| x.kind == d.kind) {
            continue;
        }
        documents.push(DirectCessionDocument {
            id: d.id,
            kind: d.kind,
            code: d.code,
            version: d.version,
            signed: d.signed,
        });
    }
    Ok(DirectCessionResponse {
        id: c.id,
        organisation_id: c.organisation_id,
        route: if c.route == "staff" {
            DirectRoute::Staff
        } else {
            DirectRoute::PublicBody
        },
        beneficiary_organisation_id: c.beneficiary_organisation_id,
        beneficiary_name: c.beneficiary_name,
        beneficiary_role: c.beneficiary_role,
        legal_basis: c.legal_basis,
        resale_terms: c.resale_terms,
        commitment_reuse: c.commitment_reuse,
        handed_over_on: c.handed_over_on,
        item_ids,
        documents,
        created_at: c.created_at,
    })
}

/// Direct cession endpoints.
pub struct CessionsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Cessions")]
impl CessionsApi {
    /// Cede devices to a staff member or another public body
    ///
    /// A public body gives devices it owns (from its inventory, not in a lot, or refurbished for
    /// it and not reserved) to a member of its staff (CG3P L3212-2 5°) or to another public body
    /// (11°), registered in the service or named. The law is checked in the same transaction
    /// (`domain::eligibility`): 300 € per device at most on its net book value or confirmed
    /// value (D3212-4, D3212-5; 422 `ceiling_exceeded` listing each device), at most 10 years
    /// old (422 `not_eligible`), data storage wiped (422 `preconditions_unmet`). The beneficiary's
    /// re-use commitment is required. The devices become `donated`; the convention de cession and
    /// the procès-verbal de remise are generated and listed on the cession. Admins and agents
    /// of the giving body only.
    #[oai(
        path = "/cessions",
        method = "post",
        operation_id = "create_direct_cession"
    )]
    async fn create_direct_cession(
        &self,
        auth: BearerAuth,
        body: Json<DirectCessionRequest>,
    ) -> ApiResult<Created<DirectCessionResponse>> {
        let acting = auth
            .0
            .acting_as("create_direct_cession", body.0.organisation_id)?;
        acting.require_verified()?;
        let new = body.0.parse(self.state.settings.today())?;
        let by = By::acting(&auth.0, &acting);
        let c = cmd::create_direct_cession(&self.state, &by, &new).await?;
        let location = format!("/v1/cessions/{}", c.id);
        Ok(Created::Created(
            Json(response(&self.state, c).await?),
            location,
        ))
    }

    /// Read a direct cession
    ///
    /// For the giving body and a registered receiving body (and the operator), with its
    /// documents.
    #[oai(
        path = "/cessions/:id",
        method = "get",
        operation_id = "get_direct_cession"
    )]
    async fn get_direct_cession(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DirectCessionResponse>> {
        let c = direct_cession::Entity::find_by_id(id.0)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let mut related = vec![c.organisation_id];
        related.extend(c.beneficiary_organisation_id);
        auth.0.authorize_related("get_direct_cession", &related)?;
        Ok(Json(response(&self.state, c).await?))
    }
}
