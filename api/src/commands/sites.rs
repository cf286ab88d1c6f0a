//! Writes on sites: creating, replacing (under optimistic concurrency) and archiving them.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{By, write};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store;
use crate::store::entities::site;
use crate::store::organisations::{find_site, lock_organisation, lock_site, org_event};

/// A parsed site.
#[derive(Debug, Clone)]
pub struct SiteInput {
    pub name: String,
    /// `pickup`, `workshop`, `delivery` or `office`.
    pub kind: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub insee_code: String,
    pub coordinates: Option<(f64, f64)>,
    pub access_notes: Option<String>,
}

impl SiteInput {
    fn columns(&self) -> site::ActiveModel {
        site::ActiveModel {
            name: Set(self.name.clone()),
            kind: Set(self.kind.clone()),
            address: Set(self.address.clone()),
            postcode: Set(self.postcode.clone()),
            city: Set(self.city.clone()),
            insee_code: Set(self.insee_code.clone()),
            latitude: Set(self.coordinates.map(|c| c.0)),
            longitude: Set(self.coordinates.map(|c| c.1)),
            access_notes: Set(self.access_notes.clone()),
            ..Default::default()
        }
    }
}

/// Creates a site of `org`.
pub async fn create_site(
    cx: &AppState,
    by: &By,
    org: Uuid,
    input: &SiteInput,
) -> ApiResult<site::Model> {
    let (by, input) = (by.clone(), input.clone());
    write(&cx.db, async move |tx| {
        lock_organisation(tx, org).await?;
        let now = store::now();
        let id = store::new_id();
        let mut am = input.columns();
        am.id = Set(id);
        am.organisation_id = Set(org);
        am.version = Set(1);
        am.created_at = Set(now);
        am.updated_at = Set(now);
        am.archived_at = Set(None);
        site::Entity::insert(am).exec_without_returning(tx).await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "site_created",
            serde_json::json!({ "site_id": id, "name": input.name, "kind": input.kind }),
        )
        .await?;
        find_site(tx, org, id).await
    })
    .await
}

/// Replaces a site; `if_match` checks the version read under lock (412 when it moved on).
pub async fn update_site(
    cx: &AppState,
    by: &By,
    org: Uuid,
    id: Uuid,
    input: &SiteInput,
    if_match: impl Fn(i32) -> ApiResult<()>,
) -> ApiResult<site::Model> {
    let (by, input) = (by.clone(), input.clone());
    write(&cx.db, async move |tx| {
        let current = lock_site(tx, org, id).await?;
        if_match(current.version)?;
        let mut am = input.columns();
        am.version = Set(current.version + 1);
        am.updated_at = Set(store::now());
        let done = site::Entity::update_many()
            .set(am)
            .filter(site::Column::Id.eq(current.id))
            .filter(site::Column::Version.eq(current.version))
            .exec(tx)
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::PreconditionFailed));
        }
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "site_updated",
            serde_json::json!({ "site_id": current.id, "version": current.version + 1 }),
        )
        .await?;
        find_site(tx, org, id).await
    })
    .await
}

/// Archives a site: it leaves the lists, records that refer to it keep it.
pub async fn archive_site(cx: &AppState, by: &By, org: Uuid, id: Uuid) -> ApiResult<()> {
    let by = by.clone();
    write(&cx.db, async move |tx| {
        let current = lock_site(tx, org, id).await?;
        site::Entity::update_many()
            .col_expr(site::Column::ArchivedAt, Expr::value(Some(store::now())))
            .filter(site::Column::Id.eq(current.id))
            .exec(tx)
            .await?;
        org_event(
            tx,
            org,
            by.actor_ref.clone(),
            "site_archived",
            serde_json::json!({ "site_id": current.id }),
        )
        .await?;
        Ok(())
    })
    .await
}
