//! Reads for impact reporting: the published factor sets, the recorded outcomes of devices in a
//! year, and the reformed devices of a public body with what proves their re-use.

use chrono::NaiveDate;
use reemploi_domain::Invalid;
use reemploi_domain::impact::{self, FactorSet, Outcome, ReformedItem};
use reemploi_domain::item::Category as DomCategory;
use reemploi_domain::lot::CessionMode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::entities::{
    direct_cession, direct_cession_item, disposal, document, handover, handover_item,
    impact_factor_set, item, lot, organisation, reservation, reservation_item,
};
use crate::error::{ApiError, ApiResult};

/// Whether any factor set was published.
pub async fn any_published<C: ConnectionTrait>(db: &C) -> ApiResult<bool> {
    Ok(impact_factor_set::Entity::find().one(db).await?.is_some())
}

/// Every published factor set, newest first.
pub async fn factor_sets<C: ConnectionTrait>(db: &C) -> ApiResult<Vec<impact_factor_set::Model>> {
    Ok(impact_factor_set::Entity::find()
        .order_by_desc(impact_factor_set::Column::PublishedOn)
        .order_by_desc(impact_factor_set::Column::CreatedAt)
        .all(db)
        .await?)
}

/// The factor set of `version`, or 404.
pub async fn factor_set<C: ConnectionTrait>(
    db: &C,
    version: &str,
) -> ApiResult<impact_factor_set::Model> {
    impact_factor_set::Entity::find()
        .filter(impact_factor_set::Column::Version.eq(version))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The factor set reports use: the latest published.
pub async fn current_set<C: ConnectionTrait>(db: &C) -> ApiResult<FactorSet> {
    let m = impact_factor_set::Entity::find()
        .order_by_desc(impact_factor_set::Column::PublishedOn)
        .order_by_desc(impact_factor_set::Column::CreatedAt)
        .one(db)
        .await?;
    Ok(match m {
        Some(m) => FactorSet {
            version: m.version,
            published_on: m.published_on,
            factors: serde_json::from_str(&m.factors).unwrap_or_default(),
        },
        None => impact::default_factor_set(),
    })
}

/// A recorded outcome of a device.
pub struct Row {
    pub item: item::Model,
    pub outcome: Outcome,
    pub on: NaiveDate,
    pub weight_kg: Option<f64>,
    /// Who handed it over or disposed of it.
    pub actor: Uuid,
    /// The association that received it.
    pub association: Option<Uuid>,
}

/// Every outcome dated in `year`.
pub async fn outcomes<C: ConnectionTrait>(db: &C, year: i32) -> ApiResult<Vec<Row>> {
    let from = NaiveDate::from_ymd_opt(year, 1, 1)
        .ok_or_else(|| ApiError::field("year", Invalid::OutOfRange))?;
    let to = NaiveDate::from_ymd_opt(year, 12, 31)
        .ok_or_else(|| ApiError::field("year", Invalid::OutOfRange))?;
    let mut rows = Vec::new();
    for r in reservation::Entity::find()
        .filter(reservation::Column::Status.eq("handed_over"))
        .filter(reservation::Column::HandoverOn.gte(from))
        .filter(reservation::Column::HandoverOn.lte(to))
        .all(db)
        .await?
    {
        let ids: Vec<Uuid> = reservation_item::Entity::find()
            .filter(reservation_item::Column::ReservationId.eq(r.id))
            .all(db)
            .await?
            .into_iter()
            .map(|ri| ri.item_id)
            .collect();
        for m in item::Entity::find()
            .filter(item::Column::Id.is_in(ids))
            .all(db)
            .await?
        {
            rows.push(Row {
                item: m,
                outcome: Outcome::Donated,
                on: r.handover_on.unwrap_or(from),
                weight_kg: None,
                actor: r.refurbisher_id,
                association: Some(r.association_id),
            });
        }
    }
    for c in direct_cession::Entity::find()
        .filter(direct_cession::Column::HandedOverOn.gte(from))
        .filter(direct_cession::Column::HandedOverOn.lte(to))
        .all(db)
        .await?
    {
        let ids: Vec<Uuid> = direct_cession_item::Entity::find()
            .filter(direct_cession_item::Column::DirectCessionId.eq(c.id))
            .all(db)
            .await?
            .into_iter()
            .map(|r| r.item_id)
            .collect();
        for m in item::Entity::find()
            .filter(item::Column::Id.is_in(ids))
            .all(db)
            .await?
        {
            rows.push(Row {
                item: m,
                outcome: Outcome::Donated,
                on: c.handed_over_on,
                weight_kg: None,
                actor: c.organisation_id,
                association: None,
            });
        }
    }
    for d in disposal::Entity::find()
        .filter(disposal::Column::DisposedOn.gte(from))
        .filter(disposal::Column::DisposedOn.lte(to))
        .all(db)
        .await?
    {
        if let Some(m) = item::Entity::find_by_id(d.item_id).one(db).await? {
            rows.push(Row {
                item: m,
                outcome: Outcome::Recycled,
                on: d.disposed_on,
                weight_kg: Some(d.weight_grams as f64 / 1000.0),
                actor: d.organisation_id,
                association: None,
            });
        }
    }
    Ok(rows)
}

pub async fn org<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The reformed items of a public body for the re-use rate, with their proof codes.
pub async fn reformed<C: ConnectionTrait>(
    db: &C,
    body: Uuid,
) -> ApiResult<Vec<(ReformedItem, item::Model, Option<String>)>> {
    let mut out = Vec::new();
    for m in item::Entity::find()
        .filter(item::Column::OrganisationId.eq(body))
        .all(db)
        .await?
    {
        let category = DomCategory::parse(&m.category).unwrap_or(DomCategory::Other);
        let mode = match m.lot_id {
            Some(l) => lot::Entity::find_by_id(l)
                .one(db)
                .await?
                .map(|l| (l.id, CessionMode::parse(&l.cession_mode))),
            None => None,
        };
        // The association handover, with its procès-verbal de remise, proves re-use.
        let mut handed: Option<(reservation::Model, Option<String>)> = None;
        for ri in reservation_item::Entity::find()
            .filter(reservation_item::Column::ItemId.eq(m.id))
            .all(db)
            .await?
        {
            if let Some(r) = reservation::Entity::find_by_id(ri.reservation_id)
                .one(db)
                .await?
                .filter(|r| r.status == "handed_over")
            {
                // The procès-verbal is the handover's (older ones: the reservation's).
                let mut of =
                    sea_orm::Condition::any().add(document::Column::ReservationId.eq(r.id));
                if let Some(h) = r.handover_id {
                    of = of.add(document::Column::HandoverId.eq(h));
                }
                let pv = document::Entity::find()
                    .filter(of)
                    .filter(document::Column::Kind.eq("pv_remise"))
                    .one(db)
                    .await?
                    .map(|d| d.code);
                handed = Some((r, pv));
            }
        }
        let disposal = disposal::Entity::find()
            .filter(disposal::Column::ItemId.eq(m.id))
            .one(db)
            .await?;
        // A direct cession to staff (5°) or another public body (11°), routes décret n° 2023-266
        // counts: its convention carries the commitment, its procès-verbal de remise proves it.
        let direct = match direct_cession_item::Entity::find_by_id(m.id)
            .one(db)
            .await?
        {
            Some(dci) => match direct_cession::Entity::find_by_id(dci.direct_cession_id)
                .one(db)
                .await?
            {
                Some(c) => {
                    let pv = document::Entity::find()
                        .filter(document::Column::DirectCessionId.eq(c.id))
                        .filter(document::Column::Kind.eq("pv_remise"))
                        .one(db)
                        .await?
                        .map(|d| d.code);
                    Some((c, pv))
                }
                None => None,
            },
            None => None,
        };
        // When the body parted with it: at collection when given to the refurbisher, at the
        // association's handover in service mode, at disposal when recycled from its hands.
        let collected_on = match mode {
            Some((lot_id, Some(CessionMode::ToRefurbisher))) => {
                let mut on = None;
                for h in handover::Entity::find()
                    .filter(handover::Column::LotId.eq(lot_id))
                    .filter(handover::Column::Kind.eq("collection"))
                    .all(db)
                    .await?
                {
                    let present = handover_item::Entity::find()
                        .filter(handover_item::Column::HandoverId.eq(h.id))
                        .filter(handover_item::Column::ItemId.eq(m.id))
                        .filter(handover_item::Column::Present.eq(true))
                        .one(db)
                        .await?
                        .is_some();
                    if present {
                        on = Some(h.occurred_on);
                    }
                }
                on
            }
            _ => None,
        };
        // A direct cession is its own parting: the day of its remise.
        let direct_on = direct.as_ref().map(|(c, _)| c.handed_over_on);
        let parted_on = match (direct_on, collected_on, &handed, &disposal) {
            (Some(on), _, _, _) | (None, Some(on), _, _) => on,
            (None, None, Some((r, _)), _) => r.handover_on.unwrap_or(r.updated_at.date_naive()),
            (None, None, None, Some(d)) => d.disposed_on,
            (None, None, None, None) => continue,
        };
        // The taker's commitment before the cession: the convention signed by both parties when
        // the refurbisher took the devices, the association's recorded commitment otherwise.
        let prior_commitment = match (collected_on, mode) {
            _ if direct.is_some() => direct.as_ref().is_some_and(|(c, _)| c.commitment_reuse),
            (Some(_), Some((lot_id, _))) => document::Entity::find()
                .filter(document::Column::LotId.eq(lot_id))
                .filter(document::Column::Kind.eq("convention_cession"))
                .filter(document::Column::ReservationId.is_null())
                .filter(document::Column::Signed.eq(true))
                .one(db)
                .await?
                .is_some(),
            _ => handed.as_ref().is_some_and(|(r, _)| r.commitment_reuse),
        };
        let proof = match &direct {
            Some((_, pv)) => pv.clone(),
            None => handed.as_ref().and_then(|(_, pv)| pv.clone()),
        };
        out.push((
            ReformedItem {
                id: m.id.to_string(),
                category,
                acquisition_date: m.acquisition_date,
                parted_on,
                reused: handed.is_some() || direct.is_some(),
                prior_commitment,
                proof_of_reuse: proof.is_some(),
            },
            m,
            proof,
        ));
    }
    Ok(out)
}
