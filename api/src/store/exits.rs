//! The devices that left a public body's inventory, and how: given with their cession to the
//! refurbisher (at collection, `to_refurbisher` lots), given to an association (`donate`, in
//! `service` lots), ceded directly to staff or another public body (`cede`), or recycled while
//! the body still owned them. Read from each device's event stream and documents.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::entities::{
    claim, direct_cession, direct_cession_item, disposal, document, handover_item, item, lot,
};
use super::items::{organisation_name, stream_history};
use crate::error::ApiResult;

/// How a device left its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Ceded to the refurbisher at collection.
    CededToRefurbisher,
    /// Given to an association at handover.
    Donated,
    /// Ceded directly (staff, another public body).
    DirectCession,
    Recycled,
}

impl ExitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitKind::CededToRefurbisher => "ceded_to_refurbisher",
            ExitKind::Donated => "donated",
            ExitKind::DirectCession => "direct_cession",
            ExitKind::Recycled => "recycled",
        }
    }

    /// The status label written back to the inventory tool.
    pub fn label_fr(self) -> &'static str {
        match self {
            ExitKind::CededToRefurbisher | ExitKind::DirectCession => "Cédé",
            ExitKind::Donated => "Donné",
            ExitKind::Recycled => "Recyclé",
        }
    }
}

/// One device's exit.
#[derive(Debug, Clone)]
pub struct Exit {
    pub item: item::Model,
    pub kind: ExitKind,
    pub at: DateTime<Utc>,
    pub destination: String,
    /// The procès-verbal of the exit (enlèvement or remise), when there is one.
    pub pv_code: Option<String>,
    /// Every document of the device's exit path (kind, code), and the hazardous-waste slip
    /// number of a recycled device.
    pub documents: Vec<(String, String)>,
}

/// The latest version of each document series among `docs`.
fn latest(docs: Vec<document::Model>) -> Vec<document::Model> {
    let mut by_series: BTreeMap<Uuid, document::Model> = BTreeMap::new();
    for d in docs {
        match by_series.get(&d.series_id) {
            Some(kept) if kept.version >= d.version => {}
            _ => {
                by_series.insert(d.series_id, d);
            }
        }
    }
    let mut out: Vec<_> = by_series.into_values().collect();
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.kind.cmp(&b.kind)));
    out
}

/// The devices that left `org`'s inventory on or after `since`, oldest exit first.
pub async fn exits<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    since: Option<NaiveDate>,
) -> ApiResult<Vec<Exit>> {
    let items = item::Entity::find()
        .filter(item::Column::OrganisationId.eq(org))
        .filter(
            Condition::any()
                .add(item::Column::OwnerId.ne(org))
                .add(item::Column::Status.eq("recycled")),
        )
        .order_by_asc(item::Column::InventoryNumber)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for m in items {
        let Some(exit) = exit_of(db, org, m).await? else {
            continue;
        };
        if since.is_some_and(|s| exit.at.date_naive() < s) {
            continue;
        }
        out.push(exit);
    }
    out.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then(a.item.inventory_number.cmp(&b.item.inventory_number))
    });
    Ok(out)
}

async fn exit_of<C: ConnectionTrait>(db: &C, org: Uuid, m: item::Model) -> ApiResult<Option<Exit>> {
    let the_lot = match m.lot_id {
        Some(id) => lot::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let ceded_at_collection = the_lot
        .as_ref()
        .is_some_and(|l| l.cession_mode == "to_refurbisher");
    let events = stream_history(db, &crate::commands::transitions::item_stream(m.id)).await?;
    let owned = m.owner_id == org;
    let exit_event = events.iter().find(|e| match e.kind.as_str() {
        "collect" => !owned && ceded_at_collection,
        "donate" | "cede" => !owned,
        "recycle" | "recycle_inventoried" => owned,
        _ => false,
    });
    let Some(e) = exit_event else {
        return Ok(None);
    };
    let at = DateTime::parse_from_rfc3339(&e.occurred_at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(m.updated_at);
    let kind = match e.kind.as_str() {
        "collect" => ExitKind::CededToRefurbisher,
        "donate" => ExitKind::Donated,
        "cede" => ExitKind::DirectCession,
        _ => ExitKind::Recycled,
    };
    // The documents of the path: the lot's, the device's, its handovers', its direct cession's.
    let handovers: Vec<Uuid> = handover_item::Entity::find()
        .filter(handover_item::Column::ItemId.eq(m.id))
        .all(db)
        .await?
        .into_iter()
        .map(|h| h.handover_id)
        .collect();
    let cession = direct_cession_item::Entity::find()
        .filter(direct_cession_item::Column::ItemId.eq(m.id))
        .one(db)
        .await?;
    let mut cond = Condition::any().add(document::Column::ItemId.eq(m.id));
    if let Some(l) = m.lot_id {
        cond = cond.add(document::Column::LotId.eq(l));
    }
    if !handovers.is_empty() {
        cond = cond.add(document::Column::HandoverId.is_in(handovers.clone()));
    }
    if let Some(c) = &cession {
        cond = cond.add(document::Column::DirectCessionId.eq(c.direct_cession_id));
    }
    let docs = latest(document::Entity::find().filter(cond).all(db).await?);
    let pv_kind = match kind {
        ExitKind::CededToRefurbisher => Some("pv_enlevement"),
        ExitKind::Donated => Some("pv_remise"),
        ExitKind::DirectCession | ExitKind::Recycled => None,
    };
    let pv_code = match kind {
        ExitKind::DirectCession => docs
            .iter()
            .find(|d| d.direct_cession_id.is_some())
            .map(|d| d.code.clone()),
        _ => pv_kind.and_then(|k| {
            docs.iter()
                .rev()
                .find(|d| d.kind == k)
                .map(|d| d.code.clone())
        }),
    };
    let mut documents: Vec<(String, String)> = docs
        .iter()
        .map(|d| (d.kind.clone(), d.code.clone()))
        .collect();
    let destination = match kind {
        ExitKind::CededToRefurbisher => {
            let refurbisher = match the_lot.as_ref().and_then(|l| l.accepted_claim_id) {
                Some(c) => claim::Entity::find_by_id(c)
                    .one(db)
                    .await?
                    .map(|c| c.refurbisher_id),
                None => None,
            };
            match refurbisher {
                Some(r) => organisation_name(db, r).await?.unwrap_or_default(),
                None => String::new(),
            }
        }
        ExitKind::Donated => organisation_name(db, m.owner_id).await?.unwrap_or_default(),
        ExitKind::DirectCession => match &cession {
            Some(c) => direct_cession::Entity::find_by_id(c.direct_cession_id)
                .one(db)
                .await?
                .map(|d| d.beneficiary_name)
                .unwrap_or_default(),
            None => String::new(),
        },
        ExitKind::Recycled => {
            let d = disposal::Entity::find()
                .filter(disposal::Column::ItemId.eq(m.id))
                .one(db)
                .await?;
            match d {
                Some(d) => {
                    if let Some(b) = &d.bsdd_number {
                        documents.push(("bsdd".to_owned(), b.clone()));
                    }
                    format!("{} ({})", d.recycler_name, d.channel)
                }
                None => String::new(),
            }
        }
    };
    Ok(Some(Exit {
        item: m,
        kind,
        at,
        destination,
        pv_code,
        documents,
    }))
}
