//! Writes on impact reporting: publishing a factor set (the operator, or the default set at the
//! first start). Each publication appends `factor_set_published` to the `impact/factor_sets`
//! stream.

use reemploi_domain::impact::{self, FactorSet};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use uuid::Uuid;

use super::{By, write};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::entities::impact_factor_set;
use crate::store::events::NewEvent;
use crate::store::{self, impact as factors, is_unique_violation};

/// The stream of the factor sets' publications.
pub const FACTOR_SETS_STREAM: &str = "impact/factor_sets";

/// Publishes `set` (validated by `domain::impact`); 409 when its version exists already.
pub async fn publish_factor_set(
    db: &DatabaseConnection,
    by: &By,
    set: &FactorSet,
) -> ApiResult<()> {
    if let Err(problems) = set.validate() {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .detail(problems.join(" ; "), problems.join("; ")));
    }
    insert_factor_set(db, by, set).await
}

/// Stores a factor set and appends its publication.
async fn insert_factor_set(db: &DatabaseConnection, by: &By, set: &FactorSet) -> ApiResult<()> {
    let organisation_id = (by.organisation_id != Uuid::nil()).then_some(by.organisation_id);
    let (actor, set) = (by.actor_ref.clone(), set.clone());
    write(db, async move |tx| {
        impact_factor_set::Entity::insert(impact_factor_set::ActiveModel {
            id: Set(store::new_id()),
            version: Set(set.version.clone()),
            published_on: Set(set.published_on),
            factors: Set(serde_json::to_string(&set.factors).unwrap_or_default()),
            created_by: Set(actor.clone()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::new(ErrorCode::Conflict).detail(
                    "Cette version de facteurs existe déjà.",
                    "This factor set version already exists.",
                )
            } else {
                e.into()
            }
        })?;
        tx.event(NewEvent {
            stream: FACTOR_SETS_STREAM.to_owned(),
            organisation_id,
            actor: actor.clone(),
            kind: "factor_set_published",
            payload: serde_json::json!({
                "version": set.version,
                "published_on": set.published_on,
                "categories": set.factors.len(),
            }),
        })
        .await?;
        Ok(())
    })
    .await
}

/// Publishes the default factor set when none is published yet (at start); a concurrent start
/// that published it first is not an error.
pub async fn ensure_default_factor_set(db: &DatabaseConnection) -> ApiResult<()> {
    if factors::any_published(db).await? {
        return Ok(());
    }
    match insert_factor_set(db, &By::system(Uuid::nil()), &impact::default_factor_set()).await {
        Err(e) if matches!(e.code, ErrorCode::Conflict) => Ok(()),
        other => other,
    }
}
