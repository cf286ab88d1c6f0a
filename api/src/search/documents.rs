//! Search documents derived from the database, in batches (one query per table, not per row).
//!
//! A row that should not be searchable (a lot no longer published, a device no longer
//! available) yields no document: the indexer deletes it from the index.

use std::collections::{BTreeMap, HashMap, HashSet};

use reemploi_domain::ids::InseeCode;
use reemploi_domain::item::Category;
use reemploi_domain::lifecycle::ItemStatus;
use reemploi_domain::lot::LotStatus;
use reemploi_domain::organisation::VerificationStatus;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{Document, GeoPoint, IndexName};
use crate::store::entities::{item, lot, organisation, partnership, site};

/// Documents for `ids` of `index`: `(documents, ids to delete)`.
pub async fn build<C: ConnectionTrait>(
    db: &C,
    index: IndexName,
    ids: &[Uuid],
) -> Result<(Vec<Document>, Vec<Uuid>), DbErr> {
    let docs = match index {
        IndexName::Lots => lot_documents(db, ids).await?,
        IndexName::Catalogue => catalogue_documents(db, ids).await?,
    };
    let present: HashSet<Uuid> = docs.iter().map(|d| d.id).collect();
    let delete = ids
        .iter()
        .filter(|id| !present.contains(id))
        .copied()
        .collect();
    Ok((docs, delete))
}

async fn organisations<C: ConnectionTrait>(
    db: &C,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, organisation::Model>, DbErr> {
    let ids: Vec<Uuid> = ids
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(organisation::Entity::find()
        .filter(organisation::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect())
}

fn point(lat: Option<f64>, lon: Option<f64>) -> Option<GeoPoint> {
    Some(GeoPoint {
        lat: lat?,
        lon: lon?,
    })
}

fn departement(insee: &str) -> String {
    InseeCode::parse(insee)
        .map(|c| c.departement().to_owned())
        .unwrap_or_default()
}

async fn lot_documents<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<Vec<Document>, DbErr> {
    let lots = lot::Entity::find()
        .filter(lot::Column::Id.is_in(ids.to_vec()))
        .filter(lot::Column::Status.eq(LotStatus::Published.as_str()))
        .all(db)
        .await?;
    if lots.is_empty() {
        return Ok(Vec::new());
    }
    let lot_ids: Vec<Uuid> = lots.iter().map(|l| l.id).collect();
    let bodies = organisations(db, lots.iter().map(|l| l.organisation_id)).await?;
    let sites: HashMap<Uuid, site::Model> = site::Entity::find()
        .filter(site::Column::Id.is_in(lots.iter().map(|l| l.pickup_site_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut categories: HashMap<Uuid, BTreeMap<String, u64>> = HashMap::new();
    let rows: Vec<(Option<Uuid>, String)> = item::Entity::find()
        .select_only()
        .column(item::Column::LotId)
        .column(item::Column::Category)
        .filter(item::Column::LotId.is_in(lot_ids))
        .into_tuple()
        .all(db)
        .await?;
    for (lot_id, category) in rows {
        if let Some(l) = lot_id {
            *categories
                .entry(l)
                .or_default()
                .entry(category)
                .or_default() += 1;
        }
    }
    let mut partners: HashMap<Uuid, Vec<String>> = HashMap::new();
    for p in partnership::Entity::find()
        .filter(partnership::Column::PublicBodyId.is_in(bodies.keys().copied()))
        .all(db)
        .await?
    {
        partners
            .entry(p.public_body_id)
            .or_default()
            .push(p.refurbisher_id.to_string());
    }
    let mut out = Vec::with_capacity(lots.len());
    for l in lots {
        let body = bodies.get(&l.organisation_id);
        // A suspended body's lots are not offered.
        if body.is_some_and(|b| b.status != VerificationStatus::Verified.as_str()) {
            continue;
        }
        let s = sites.get(&l.pickup_site_id);
        let cats = categories.remove(&l.id).unwrap_or_default();
        let labels: Vec<&str> = cats
            .keys()
            .filter_map(|c| Category::parse(c))
            .map(Category::label_fr)
            .collect();
        let count: u64 = cats.values().sum();
        let mut body_text = vec![
            format!("Lot de {count} équipements"),
            l.description.clone().unwrap_or_default(),
        ];
        body_text.extend(body.map(|b| b.name.clone()));
        body_text.extend(s.map(|s| s.city.clone()));
        body_text.extend(
            s.and_then(|s| reemploi_domain::geo::departement_name(&departement(&s.insee_code)))
                .map(str::to_owned),
        );
        body_text.push(labels.join(" "));
        out.push(Document {
            id: l.id,
            title: l.title.clone(),
            body: body_text.join(" \n"),
            keywords: vec![
                ("categories", cats.keys().cloned().collect()),
                (
                    "departement",
                    s.map(|s| vec![departement(&s.insee_code)])
                        .unwrap_or_default(),
                ),
                (
                    "commune",
                    s.map(|s| vec![s.city.clone()]).unwrap_or_default(),
                ),
                ("organisation_id", vec![l.organisation_id.to_string()]),
                ("cession_mode", vec![l.cession_mode.clone()]),
                ("visibility", vec![l.visibility.clone()]),
                (
                    "partner_ids",
                    partners
                        .get(&l.organisation_id)
                        .cloned()
                        .unwrap_or_default(),
                ),
            ],
            numbers: vec![("item_count", cats.values().sum::<u64>() as f64)],
            location: s.and_then(|s| point(s.latitude, s.longitude)),
            published_ts: l.published_at.unwrap_or(l.updated_at).timestamp_millis(),
        });
    }
    Ok(out)
}

async fn catalogue_documents<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<Document>, DbErr> {
    let items = item::Entity::find()
        .filter(item::Column::Id.is_in(ids.to_vec()))
        .filter(item::Column::Status.eq(ItemStatus::Available.as_str()))
        .all(db)
        .await?;
    let holders = organisations(db, items.iter().map(|i| i.custodian_id)).await?;
    // A refurbisher without coordinates on its seat is placed at its first located site.
    let mut places: HashMap<Uuid, GeoPoint> = HashMap::new();
    for s in site::Entity::find()
        .filter(site::Column::OrganisationId.is_in(holders.keys().copied()))
        .filter(site::Column::ArchivedAt.is_null())
        .all(db)
        .await?
    {
        if let Some(p) = point(s.latitude, s.longitude) {
            places.entry(s.organisation_id).or_insert(p);
        }
    }
    Ok(items
        .into_iter()
        // A suspended refurbisher's devices are not offered.
        .filter(|i| {
            holders
                .get(&i.custodian_id)
                .is_some_and(|h| h.status == VerificationStatus::Verified.as_str())
        })
        .map(|i| {
            let holder = holders.get(&i.custodian_id);
            let site = places.get(&i.custodian_id).copied();
            catalogue_document(i, holder, site)
        })
        .collect())
}

/// The catalogue document of an available device held by `holder` (its refurbisher), located
/// at the refurbisher's seat.
pub fn catalogue_document(
    i: item::Model,
    holder: Option<&organisation::Model>,
    site: Option<GeoPoint>,
) -> Document {
    let category = Category::parse(&i.category).unwrap_or(Category::Other);
    let brand = i.brand.clone().unwrap_or_default();
    let model = i.model.clone().unwrap_or_default();
    let title = [category.label_fr(), brand.trim(), model.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut body = Vec::new();
    body.extend(i.name.clone());
    body.extend(i.cpu.clone());
    if let Some(v) = i.ram_gb {
        body.push(format!("{v} Go de RAM"));
    }
    if let Some(v) = i.storage_gb {
        body.push(format!(
            "{v} Go {}",
            i.storage_kind.as_deref().unwrap_or_default().to_uppercase()
        ));
    }
    if let Some(v) = i.screen_inches {
        body.push(format!("{v} pouces"));
    }
    if let Some(h) = holder {
        body.push(h.name.clone());
        body.push(h.city.clone());
    }
    let mut numbers = Vec::new();
    if let Some(v) = i.ram_gb {
        numbers.push(("ram_gb", f64::from(v)));
    }
    if let Some(v) = i.storage_gb {
        numbers.push(("storage_gb", f64::from(v)));
    }
    if let Some(v) = i.screen_inches {
        numbers.push(("screen_inches", v));
    }
    Document {
        id: i.id,
        title,
        body: body.join(" \n"),
        keywords: vec![
            ("category", vec![i.category.clone()]),
            ("grade", i.grade.iter().cloned().collect()),
            (
                "brand",
                (!brand.trim().is_empty())
                    .then(|| brand.trim().to_owned())
                    .into_iter()
                    .collect(),
            ),
            (
                "departement",
                holder
                    .map(|h| vec![h.departement.clone()])
                    .unwrap_or_default(),
            ),
            (
                "commune",
                holder.map(|h| vec![h.city.clone()]).unwrap_or_default(),
            ),
            ("refurbisher_id", vec![i.custodian_id.to_string()]),
        ],
        numbers,
        location: holder.and_then(|h| point(h.latitude, h.longitude)).or(site),
        published_ts: i.updated_at.timestamp_millis(),
    }
}
