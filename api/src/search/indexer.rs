//! Keeping the indexes in step with the database through the outbox.
//!
//! A write appends an `index` message naming what changed (ids, or an organisation whose
//! documents all mention it) in its own transaction. The worker later re-derives those documents
//! from the database as it is then, so messages may be late, repeated or out of order without
//! leaving a wrong document behind.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use reemploi_domain::lifecycle::ItemStatus;
use reemploi_domain::lot::LotStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{IndexName, Search, documents};
use crate::store::entities::{item, lot};
use crate::store::outbox::{self, Topic};

/// The payload of an `index` outbox message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexJob {
    pub index: IndexName,
    /// Documents to refresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<Uuid>,
    /// Refresh every document of this organisation (its lots, or the devices it holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<Uuid>,
}

/// Asks for the catalogue documents of these devices to be refreshed.
pub async fn items_changed<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<(), DbErr> {
    enqueue_ids(db, IndexName::Catalogue, ids).await
}

/// Asks for the documents of these lots to be refreshed.
pub async fn lots_changed<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<(), DbErr> {
    enqueue_ids(db, IndexName::Lots, ids).await
}

/// Asks for every document mentioning an organisation (name, place, partners) to be refreshed.
pub async fn organisation_changed<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<(), DbErr> {
    for index in IndexName::ALL {
        outbox::enqueue(
            db,
            Topic::Index,
            &IndexJob {
                index,
                ids: Vec::new(),
                organisation_id: Some(id),
            },
        )
        .await?;
    }
    Ok(())
}

async fn enqueue_ids<C: ConnectionTrait>(
    db: &C,
    index: IndexName,
    ids: &[Uuid],
) -> Result<(), DbErr> {
    for chunk in ids.chunks(500) {
        outbox::enqueue(
            db,
            Topic::Index,
            &IndexJob {
                index,
                ids: chunk.to_vec(),
                organisation_id: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// The ids of an organisation's documents: its published lots, or the available devices it holds.
async fn organisation_ids<C: ConnectionTrait>(
    db: &C,
    index: IndexName,
    org: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    match index {
        IndexName::Lots => {
            lot::Entity::find()
                .select_only()
                .column(lot::Column::Id)
                .filter(lot::Column::OrganisationId.eq(org))
                .filter(lot::Column::Status.eq(LotStatus::Published.as_str()))
                .into_tuple()
                .all(db)
                .await
        }
        IndexName::Catalogue => {
            item::Entity::find()
                .select_only()
                .column(item::Column::Id)
                .filter(item::Column::CustodianId.eq(org))
                .filter(item::Column::Status.eq(ItemStatus::Available.as_str()))
                .into_tuple()
                .all(db)
                .await
        }
    }
}

/// Performs a batch of index jobs: one derivation and one engine write per index.
pub async fn perform<C: ConnectionTrait>(
    db: &C,
    search: &Search,
    jobs: &[IndexJob],
) -> anyhow::Result<()> {
    let mut wanted: BTreeMap<IndexName, BTreeSet<Uuid>> = BTreeMap::new();
    for job in jobs {
        let set = wanted.entry(job.index).or_default();
        set.extend(job.ids.iter().copied());
        if let Some(org) = job.organisation_id {
            set.extend(organisation_ids(db, job.index, org).await?);
        }
    }
    for (index, ids) in wanted {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        for chunk in ids.chunks(1000) {
            let (docs, delete) = documents::build(db, index, chunk).await?;
            search.apply(index, docs, delete).await?;
        }
    }
    Ok(())
}

/// Rebuilds an index from the database: empties it, then indexes every searchable row in
/// batches, reporting `(done, total)` to `progress`.
pub async fn rebuild<C: ConnectionTrait>(
    db: &C,
    search: &Search,
    index: IndexName,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    const BATCH: u64 = 2000;
    let total = match index {
        IndexName::Lots => {
            lot::Entity::find()
                .filter(lot::Column::Status.eq(LotStatus::Published.as_str()))
                .count(db)
                .await?
        }
        IndexName::Catalogue => {
            item::Entity::find()
                .filter(item::Column::Status.eq(ItemStatus::Available.as_str()))
                .count(db)
                .await?
        }
    };
    search.clear(index).await?;
    let mut pending = Vec::new();
    let mut after: Option<Uuid> = None;
    let mut done = 0u64;
    progress(0, total);
    loop {
        let ids: Vec<Uuid> = match index {
            IndexName::Lots => {
                let mut q = lot::Entity::find()
                    .select_only()
                    .column(lot::Column::Id)
                    .filter(lot::Column::Status.eq(LotStatus::Published.as_str()))
                    .order_by_asc(lot::Column::Id)
                    .limit(BATCH);
                if let Some(a) = after {
                    q = q.filter(lot::Column::Id.gt(a));
                }
                q.into_tuple().all(db).await?
            }
            IndexName::Catalogue => {
                let mut q = item::Entity::find()
                    .select_only()
                    .column(item::Column::Id)
                    .filter(item::Column::Status.eq(ItemStatus::Available.as_str()))
                    .order_by_asc(item::Column::Id)
                    .limit(BATCH);
                if let Some(a) = after {
                    q = q.filter(item::Column::Id.gt(a));
                }
                q.into_tuple().all(db).await?
            }
        };
        let Some(last) = ids.last().copied() else {
            break;
        };
        after = Some(last);
        let (docs, _) = documents::build(db, index, &ids).await?;
        done += docs.len() as u64;
        search.load(index, docs, &mut pending).await?;
        progress(done.min(total.max(done)), total.max(done));
    }
    search.settle(index, &pending).await?;
    Ok(done)
}

/// A text progress bar on standard error: `lots [#####.....] 50% 1000/2000`.
pub fn progress_bar(label: &'static str) -> impl FnMut(u64, u64) {
    move |done, total| {
        let width = 30usize;
        let filled = if total == 0 {
            width
        } else {
            ((done as f64 / total as f64) * width as f64).round() as usize
        };
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{label:<10} [{}{}] {pct:>3}% {done}/{total}",
            "#".repeat(filled.min(width)),
            ".".repeat(width - filled.min(width)),
        );
        if done >= total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}
