//! Sites: the places of an organisation (pickup points, workshops, delivery addresses).
//! Archived rather than deleted, since lots and handovers will refer to them.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::geo::{Coordinates, Postcode};
use reemploi_domain::ids::InseeCode;
use reemploi_domain::text::{Address, LongText, Name};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::access::BearerAuth;
use super::organisations::{find_organisation, org_event};
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Str, Versioned, check_if_match, etag};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::site;
use crate::store::{self, begin_write};

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

    fn parse(s: &str) -> SiteKind {
        match s {
            "pickup" => SiteKind::Pickup,
            "workshop" => SiteKind::Workshop,
            "delivery" => SiteKind::Delivery,
            _ => SiteKind::Office,
        }
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

impl From<site::Model> for SiteResponse {
    fn from(m: site::Model) -> Self {
        Self {
            id: m.id,
            organisation_id: m.organisation_id,
            name: m.name,
            kind: SiteKind::parse(&m.kind),
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
        }
    }
}

/// Parses a site into the columns to write.
fn parse_site(req: &SiteRequest) -> Result<site::ActiveModel, FieldErrors> {
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
        Some(site::ActiveModel {
            name: Set(name?.into_inner()),
            kind: Set(req.kind.as_str().to_owned()),
            address: Set(address?.into_inner()),
            postcode: Set(postcode?.as_str().to_owned()),
            city: Set(city?.into_inner()),
            insee_code: Set(insee?.as_str().to_owned()),
            latitude: Set(coordinates.map(|c| c.latitude())),
            longitude: Set(coordinates.map(|c| c.longitude())),
            access_notes: Set(notes?.map(|n| n.into_inner())),
            ..Default::default()
        })
    })
}

async fn find_site<C: ConnectionTrait>(db: &C, org: Uuid, id: Uuid) -> ApiResult<site::Model> {
    site::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|s| s.organisation_id == org && s.archived_at.is_none())
        .ok_or_else(ApiError::not_found)
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
        let select = site::Entity::find()
            .filter(site::Column::OrganisationId.eq(id.0))
            .filter(site::Column::ArchivedAt.is_null());
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, site::Column::Id, |m| m.id)
            .await?;
        Ok(Json(SitePage {
            items: rows.into_iter().map(Into::into).collect(),
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
        auth.0.authorize("create_site", Some(id.0))?;
        let mut am = parse_site(&body.0)?;
        let now = store::now();
        let site_id = store::new_id();
        am.id = Set(site_id);
        am.organisation_id = Set(id.0);
        am.version = Set(1);
        am.created_at = Set(now);
        am.updated_at = Set(now);
        am.archived_at = Set(None);
        let txn = begin_write(&self.state.db).await?;
        find_organisation(&txn, id.0).await?;
        site::Entity::insert(am)
            .exec_without_returning(&txn)
            .await?;
        let created = find_site(&txn, id.0, site_id).await?;
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "site_created",
            serde_json::json!({ "site_id": site_id, "name": created.name, "kind": created.kind }),
        )
        .await?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(created.into()),
            format!("/v1/organisations/{}/sites/{site_id}", id.0),
        ))
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
        Ok(Versioned::Ok(Json(s.into()), tag))
    }

    /// Update a site
    ///
    /// Replaces the site. With `If-Match`, answers 412 if someone changed it since you read it.
    #[oai(
        path = "/organisations/:id/sites/:site_id",
        method = "put",
        operation_id = "update_site"
    )]
    async fn update_site(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        site_id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<SiteRequest>,
    ) -> ApiResult<Versioned<SiteResponse>> {
        auth.0.authorize("update_site", Some(id.0))?;
        let mut am = parse_site(&body.0)?;
        let txn = begin_write(&self.state.db).await?;
        let current = find_site(&txn, id.0, site_id.0).await?;
        check_if_match(if_match.0.as_deref(), current.version)?;
        am.version = Set(current.version + 1);
        am.updated_at = Set(store::now());
        let done = site::Entity::update_many()
            .set(am)
            .filter(site::Column::Id.eq(current.id))
            .filter(site::Column::Version.eq(current.version))
            .exec(&txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::PreconditionFailed));
        }
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "site_updated",
            serde_json::json!({ "site_id": current.id, "version": current.version + 1 }),
        )
        .await?;
        let updated = find_site(&txn, id.0, site_id.0).await?;
        txn.commit().await?;
        let tag = etag(updated.version);
        Ok(Versioned::Ok(Json(updated.into()), tag))
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
        auth.0.authorize("archive_site", Some(id.0))?;
        let txn = begin_write(&self.state.db).await?;
        let current = find_site(&txn, id.0, site_id.0).await?;
        site::Entity::update_many()
            .col_expr(site::Column::ArchivedAt, Expr::value(Some(store::now())))
            .filter(site::Column::Id.eq(current.id))
            .exec(&txn)
            .await?;
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "site_archived",
            serde_json::json!({ "site_id": current.id }),
        )
        .await?;
        txn.commit().await?;
        Ok(NoContent::NoContent)
    }
}
