//! Sites: the places of an organisation (pickup points, workshops, delivery addresses).
//! Archived rather than deleted, since lots and handovers will refer to them.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::geo::{Coordinates, Postcode};
use reemploi_domain::ids::InseeCode;
use reemploi_domain::text::{Address, LongText, Name};
use reemploi_domain::{FieldErrors, Invalid};
use uuid::Uuid;

use super::access::BearerAuth;
use super::merge_patch::MergePatch;
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Str, Versioned, etag};
use crate::commands::organisations::by_member;
use crate::commands::sites::{self, SiteInput};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::site;
use crate::store::organisations::{find_organisation, find_site, sites_select};

/// What a site is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SiteKind {
    /// Where devices are collected from a public body.
    Pickup,
    /// A refurbisher's workshop.
    Workshop,
    /// Where an association receives devices.
    Delivery,
    /// Offices and other places.
    Office,
}

impl SiteKind {
    fn as_str(self) -> &'static str {
        match self {
            SiteKind::Pickup => "pickup",
            SiteKind::Workshop => "workshop",
            SiteKind::Delivery => "delivery",
            SiteKind::Office => "office",
        }
    }

    /// The kind stored in the database; an unknown one is an error, never a default.
    fn parse(s: &str) -> ApiResult<SiteKind> {
        [
            SiteKind::Pickup,
            SiteKind::Workshop,
            SiteKind::Delivery,
            SiteKind::Office,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            tracing::error!(site.kind = s, "unknown stored site kind");
            ApiError::new(crate::error::ErrorCode::Internal)
        })
    }
}

/// A site as sent by a client.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SiteRequest {
    #[oai(validator(max_length = 200))]
    pub name: Str,
    pub kind: SiteKind,
    #[oai(validator(max_length = 300))]
    pub address: Str,
    #[oai(validator(max_length = 5))]
    pub postcode: Str,
    #[oai(validator(max_length = 200))]
    pub city: Str,
    /// INSEE code of the commune (5 characters; 2A/2B for Corsica).
    #[oai(validator(max_length = 5))]
    pub insee_code: Str,
    #[oai(nullable)]
    pub latitude: Option<f64>,
    #[oai(nullable)]
    pub longitude: Option<f64>,
    /// Opening hours, access codes, who to ask for.
    #[oai(validator(max_length = 2000))]
    #[oai(nullable)]
    pub access_notes: Option<Str>,
}

/// A site.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SiteResponse {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub name: String,
    pub kind: SiteKind,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub insee_code: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub access_notes: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of sites.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SitePage {
    pub items: Vec<SiteResponse>,
    pub next_cursor: Option<String>,
}

impl TryFrom<site::Model> for SiteResponse {
    type Error = ApiError;

    fn try_from(m: site::Model) -> ApiResult<Self> {
        Ok(Self {
            id: m.id,
            organisation_id: m.organisation_id,
            name: m.name,
            kind: SiteKind::parse(&m.kind)?,
            address: m.address,
            postcode: m.postcode,
            city: m.city,
            insee_code: m.insee_code,
            latitude: m.latitude,
            longitude: m.longitude,
            access_notes: m.access_notes,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// Parses a site, collecting every refused field.
fn parse_site(req: &SiteRequest) -> Result<SiteInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = errors.check("name", Name::parse(&req.name));
    let address = errors.check("address", Address::parse(&req.address));
    let postcode = errors.check("postcode", Postcode::parse(&req.postcode));
    let city = errors.check("city", Name::parse(&req.city));
    let insee = errors.check("insee_code", InseeCode::parse(&req.insee_code));
    let coordinates = match (req.latitude, req.longitude) {
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
    let notes = errors.check(
        "access_notes",
        LongText::parse_optional(req.access_notes.as_deref()),
    );
    errors.finish(|| {
        Some(SiteInput {
            name: name?.into_inner(),
            kind: req.kind.as_str().to_owned(),
            address: address?.into_inner(),
            postcode: postcode?.as_str().to_owned(),
            city: city?.into_inner(),
            insee_code: insee?.as_str().to_owned(),
            coordinates: coordinates.map(|c| (c.latitude(), c.longitude())),
            access_notes: notes?.map(|n| n.into_inner()),
        })
    })
}

pub struct SitesApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Sites")]
impl SitesApi {
    /// List sites
    ///
    /// The organisation's sites that are not archived, oldest first.
    #[oai(
        path = "/organisations/:id/sites",
        method = "get",
        operation_id = "list_sites"
    )]
    async fn list_sites(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<SitePage>> {
        auth.0.authorize("list_sites", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        find_organisation(&self.state.db, id.0).await?;
        let select = sites_select(id.0);
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, site::Column::Id, |m| m.id)
            .await?;
        Ok(Json(SitePage {
            items: rows
                .into_iter()
                .map(SiteResponse::try_from)
                .collect::<ApiResult<_>>()?,
            next_cursor,
        }))
    }

    /// Create a site
    #[oai(
        path = "/organisations/:id/sites",
        method = "post",
        operation_id = "create_site"
    )]
    async fn create_site(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SiteRequest>,
    ) -> ApiResult<Created<SiteResponse>> {
        let actor = auth.0.authorize("create_site", Some(id.0))?;
        let input = parse_site(&body.0)?;
        let by = by_member(&auth.0, id.0, actor);
        let created = sites::create_site(&self.state, &by, id.0, &input).await?;
        let location = format!("/v1/organisations/{}/sites/{}", id.0, created.id);
        Ok(Created::Created(Json(created.try_into()?), location))
    }

    /// Read a site
    ///
    /// `ETag` carries the version to send back in `If-Match`.
    #[oai(
        path = "/organisations/:id/sites/:site_id",
        method = "get",
        operation_id = "get_site"
    )]
    async fn get_site(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        site_id: Path<Uuid>,
    ) -> ApiResult<Versioned<SiteResponse>> {
        auth.0.authorize("get_site", Some(id.0))?;
        let s = find_site(&self.state.db, id.0, site_id.0).await?;
        let tag = etag(s.version);
        Ok(Versioned::Ok(Json(s.try_into()?), tag))
    }

    /// Update a site
    ///
    /// A JSON Merge Patch of the site: the fields sent change, the others keep their value,
    /// `null` clears one. With `If-Match`, answers 412 if someone changed it since you read it.
    #[oai(
        path = "/organisations/:id/sites/:site_id",
        method = "patch",
        operation_id = "update_site"
    )]
    async fn update_site(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        site_id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: MergePatch<SiteRequest>,
    ) -> ApiResult<Versioned<SiteResponse>> {
        let actor = auth.0.authorize("update_site", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        let (state, by) = (&self.state, &by);
        let updated = super::merge_patch::apply(
            &body,
            if_match.0.as_deref(),
            || async move {
                let current = find_site(&state.db, id.0, site_id.0).await?;
                let version = current.version;
                let answer: SiteResponse = current.try_into()?;
                Ok((answer.to_json().unwrap_or_default(), version))
            },
            |full: SiteRequest, version| async move {
                let input = parse_site(&full)?;
                sites::update_site(
                    state,
                    by,
                    id.0,
                    site_id.0,
                    &input,
                    super::merge_patch::at_version(version),
                )
                .await
            },
        )
        .await?;
        let tag = etag(updated.version);
        Ok(Versioned::Ok(Json(updated.try_into()?), tag))
    }

    /// Archive a site
    ///
    /// The site disappears from lists; records that refer to it keep it.
    #[oai(
        path = "/organisations/:id/sites/:site_id",
        method = "delete",
        operation_id = "archive_site"
    )]
    async fn archive_site(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        site_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let actor = auth.0.authorize("archive_site", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        sites::archive_site(&self.state, &by, id.0, site_id.0).await?;
        Ok(NoContent::NoContent)
    }
}
