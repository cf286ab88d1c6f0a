//! The one place where a device's status changes: commands ask the life-cycle table of `domain`,
//! and this module writes the new status and the hash-chained event in their transaction.

use reemploi_domain::lifecycle::{self, Facts, ItemStatus, Refusal};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store;
use crate::store::entities::item;
use crate::store::events::{self, NewEvent};
use crate::store::tx::Tx;

pub use super::By;

/// The stream of a device's events.
pub fn item_stream(id: Uuid) -> String {
    format!("item/{id}")
}

/// Maps a refusal of the table to the API error a client sees.
pub fn refusal_error(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unknown => ApiError::new(ErrorCode::Internal),
        Refusal::NotFromHere { transition, from } => ApiError::new(ErrorCode::InvalidTransition)
            .detail(
                format!(
                    "La transition « {transition} » n'est pas possible depuis l'état « {} ».",
                    from.as_str()
                ),
                format!(
                    "Transition `{transition}` is not possible from status `{}`.",
                    from.as_str()
                ),
            ),
        Refusal::NotAllowed { transition } => ApiError::forbidden().detail(
            format!("Votre organisation ne peut pas effectuer la transition « {transition} »."),
            format!("Your organisation may not perform transition `{transition}`."),
        ),
        Refusal::Unmet {
            transition,
            preconditions,
        } => {
            let codes: Vec<&str> = preconditions.iter().map(|p| p.code()).collect();
            ApiError::new(ErrorCode::PreconditionsUnmet).detail(
                format!(
                    "« {transition} » : conditions non remplies : {}.",
                    codes.join(", ")
                ),
                format!("`{transition}`: unmet preconditions: {}.", codes.join(", ")),
            )
        }
    }
}

/// Fires `name` on `current` inside `txn`: checks the table, writes the status (with any `extra`
/// column changes) under optimistic concurrency, and appends the device's event.
pub async fn fire(
    txn: &Tx,
    current: &item::Model,
    name: &'static str,
    by: &By,
    facts: &Facts,
    extra: Vec<(item::Column, sea_orm::sea_query::SimpleExpr)>,
    payload: serde_json::Value,
) -> ApiResult<ItemStatus> {
    let from = ItemStatus::parse(&current.status).ok_or_else(|| {
        tracing::error!(item.id = %current.id, status = %current.status, "unknown stored status");
        ApiError::new(ErrorCode::Internal)
    })?;
    let to = lifecycle::fire(name, from, by.actor, facts).map_err(refusal_error)?;
    let mut update = item::Entity::update_many()
        .col_expr(item::Column::Status, Expr::value(to.as_str()))
        .col_expr(item::Column::Version, Expr::value(current.version + 1))
        .col_expr(item::Column::UpdatedAt, Expr::value(store::now()));
    for (col, value) in extra {
        update = update.col_expr(col, value);
    }
    let done = update
        .filter(item::Column::Id.eq(current.id))
        .filter(item::Column::Version.eq(current.version))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ApiError::new(ErrorCode::Conflict).detail(
            "L'équipement a été modifié en même temps ; réessayez.",
            "The device was changed concurrently; try again.",
        ));
    }
    crate::search::indexer::items_changed(txn, &[current.id]).await?;
    let mut body = serde_json::json!({
        "transition": name,
        "from": from.as_str(),
        "to": to.as_str(),
        "organisation_id": by.organisation_id,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (body.as_object_mut(), payload) {
        obj.extend(extra);
    }
    events::append(
        txn,
        NewEvent {
            stream: item_stream(current.id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: name,
            payload: body,
        },
    )
    .await?;
    Ok(to)
}
