//! Queries of matching: what `domain::matching` needs to know about one refurbisher (its
//! history per category, its published devices, its pipeline, the open lines within reach and
//! the standing of their associations), loaded into one [`Snapshot`].

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use reemploi_domain::demand::{
    self as dom, DeviceSpec, LineSpec, RequestStatus, ReservationStatus,
};
use reemploi_domain::item::Category;
use reemploi_domain::lifecycle::ItemStatus;
use reemploi_domain::matching::{self as m, Outcomes, Standing, WaitingLine};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::store::demand as q;
use crate::store::entities::{
    claim, event, item, lot, organisation, request, request_line, reservation, reservation_item,
};

/// How far from the refurbisher's seat a request is within reach when the caller names no
/// distance, in km.
pub const DEFAULT_REACH_KM: f64 = 100.0;

/// An open request line within reach, with what it still takes.
#[derive(Debug, Clone)]
pub struct OpenLine {
    pub request: request::Model,
    pub line: request_line::Model,
    /// Devices asked in all the request's lines.
    pub devices_asked: i32,
    pub wanted: u64,
    pub distance_km: Option<f64>,
}

impl OpenLine {
    /// The line as `domain::demand` compares it with a device.
    pub fn spec(&self) -> LineSpec {
        line_spec(&self.line)
    }
}

/// What the matching of one refurbisher is computed from.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub refurbisher: organisation::Model,
    pub cap: u64,
    pub history: BTreeMap<Category, Outcomes>,
    /// Its available devices (not held), by id.
    pub published: Vec<item::Model>,
    /// Devices awarded to it, collected or in its workshop, by id.
    pub pipeline: Vec<item::Model>,
    /// Open lines within reach, by request then position.
    pub lines: Vec<OpenLine>,
    pub standing: HashMap<Uuid, Standing>,
}

/// The line as `domain::demand` sees it.
pub fn line_spec(line: &request_line::Model) -> LineSpec {
    LineSpec {
        category: Category::parse(&line.category).unwrap_or(Category::Other),
        min_ram_gb: line.min_ram_gb,
        min_storage_gb: line.min_storage_gb,
        min_screen_inches: line.min_screen_inches,
    }
}

/// The device as `domain::demand` sees it (its specs from import, edit or hardware report).
pub fn device_spec(m: &item::Model) -> DeviceSpec {
    DeviceSpec {
        category: Category::parse(&m.category),
        ram_gb: m.ram_gb,
        storage_gb: m.storage_gb,
        screen_inches: m.screen_inches,
    }
}

/// The refurbisher's history: per category, the devices it published (`available` reached) and
/// those it sent to recycling without ever publishing them, from the device events it appended.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    refurbisher: Uuid,
) -> ApiResult<BTreeMap<Category, Outcomes>> {
    let rows = event::Entity::find()
        .filter(event::Column::OrganisationId.eq(refurbisher))
        .filter(event::Column::Kind.is_in(["publish", "recycle"]))
        .filter(event::Column::Stream.starts_with("item/"))
        .all(db)
        .await?;
    let mut published = HashSet::new();
    let mut recycled = HashSet::new();
    for e in rows {
        let Some(id) = e
            .stream
            .strip_prefix("item/")
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        if e.kind == "publish" {
            published.insert(id);
        } else {
            recycled.insert(id);
        }
    }
    let ids: Vec<Uuid> = published.union(&recycled).copied().collect();
    let mut out: BTreeMap<Category, Outcomes> = BTreeMap::new();
    for chunk in ids.chunks(500) {
        for it in item::Entity::find()
            .filter(item::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            let Some(c) = Category::parse(&it.category) else {
                continue;
            };
            let o = out.entry(c).or_default();
            if published.contains(&it.id) {
                o.available += 1;
            } else {
                o.recycled += 1;
            }
        }
    }
    Ok(out)
}

/// The refurbisher's lead times: for each device it collected then published, the whole days
/// between the two, from the device events it appended.
pub async fn lead_times<C: ConnectionTrait>(db: &C, refurbisher: Uuid) -> ApiResult<Vec<i64>> {
    let rows = event::Entity::find()
        .filter(event::Column::OrganisationId.eq(refurbisher))
        .filter(event::Column::Kind.is_in(["collect", "publish"]))
        .filter(event::Column::Stream.starts_with("item/"))
        .order_by_asc(event::Column::OccurredAt)
        .all(db)
        .await?;
    let mut collected: HashMap<String, chrono::DateTime<chrono::FixedOffset>> = HashMap::new();
    let mut out = Vec::new();
    for e in rows {
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(&e.occurred_at) else {
            continue;
        };
        if e.kind == "collect" {
            collected.entry(e.stream).or_insert(at);
        } else if let Some(from) = collected.remove(&e.stream) {
            out.push((at - from).num_days());
        }
    }
    Ok(out)
}

/// Devices awarded to `refurbisher` (through the accepted claim of their lot), collected by it
/// or on its bench, by id.
pub async fn pipeline<C: ConnectionTrait>(
    db: &C,
    refurbisher: Uuid,
) -> ApiResult<Vec<item::Model>> {
    let mut found = item::Entity::find()
        .filter(item::Column::CustodianId.eq(refurbisher))
        .filter(item::Column::Status.is_in([
            ItemStatus::Collected.as_str(),
            ItemStatus::Refurbished.as_str(),
        ]))
        .all(db)
        .await?;
    let lots = awarded_lots(db, refurbisher).await?;
    if !lots.is_empty() {
        found.extend(
            item::Entity::find()
                .filter(item::Column::LotId.is_in(lots))
                .filter(item::Column::Status.eq(ItemStatus::Awarded.as_str()))
                .all(db)
                .await?,
        );
    }
    found.sort_by_key(|m| m.id);
    Ok(found)
}

/// The lots whose accepted claim is `refurbisher`'s.
async fn awarded_lots<C: ConnectionTrait>(db: &C, refurbisher: Uuid) -> ApiResult<Vec<Uuid>> {
    let claims: Vec<Uuid> = claim::Entity::find()
        .filter(claim::Column::RefurbisherId.eq(refurbisher))
        .filter(claim::Column::Status.eq("accepted"))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.lot_id)
        .collect();
    Ok(claims)
}

/// The refurbisher whose claim on the lot was accepted, if any.
pub async fn lot_refurbisher<C: ConnectionTrait>(
    db: &C,
    l: &lot::Model,
) -> ApiResult<Option<Uuid>> {
    let Some(cid) = l.accepted_claim_id else {
        return Ok(None);
    };
    Ok(claim::Entity::find_by_id(cid)
        .one(db)
        .await?
        .map(|c| c.refurbisher_id))
}

/// The devices of a lot still on their way to the catalogue (awarded, collected, refurbished).
pub async fn lot_pipeline<C: ConnectionTrait>(db: &C, lot_id: Uuid) -> ApiResult<Vec<item::Model>> {
    Ok(item::Entity::find()
        .filter(item::Column::LotId.eq(lot_id))
        .filter(item::Column::Status.is_in([
            ItemStatus::Awarded.as_str(),
            ItemStatus::Collected.as_str(),
            ItemStatus::Refurbished.as_str(),
        ]))
        .order_by_asc(item::Column::Id)
        .all(db)
        .await?)
}

/// The refurbisher's available devices, by id (an available device is held by nobody).
pub async fn published<C: ConnectionTrait>(
    db: &C,
    refurbisher: Uuid,
) -> ApiResult<Vec<item::Model>> {
    Ok(item::Entity::find()
        .filter(item::Column::CustodianId.eq(refurbisher))
        .filter(item::Column::Status.eq(ItemStatus::Available.as_str()))
        .order_by_asc(item::Column::Id)
        .all(db)
        .await?)
}

/// The open lines of open requests within `within_km` of `point` that still take devices, by
/// request then position.
pub async fn open_lines<C: ConnectionTrait>(
    db: &C,
    point: Option<(f64, f64)>,
    within_km: f64,
) -> ApiResult<Vec<OpenLine>> {
    let mut out = Vec::new();
    for (_, r, distance_km) in
        q::open_requests_near(db, point, Some(within_km), None, usize::MAX).await?
    {
        out.extend(lines_of(db, r, distance_km).await?);
    }
    out.sort_by(|a, b| {
        a.request
            .id
            .cmp(&b.request.id)
            .then(a.line.position.cmp(&b.line.position))
    });
    Ok(out)
}

/// The lines of one request with what each still takes (those that take nothing included).
pub async fn lines_of<C: ConnectionTrait>(
    db: &C,
    r: request::Model,
    distance_km: Option<f64>,
) -> ApiResult<Vec<OpenLine>> {
    let lines = q::lines(db, r.id).await?;
    let asked: i32 = lines.iter().map(|l| l.quantity).sum();
    let mut out = Vec::new();
    for l in lines {
        let pending = q::pending_on_line(db, r.id, l.position).await?;
        let wanted = dom::remaining(l.quantity, l.fulfilled, pending);
        out.push(OpenLine {
            request: r.clone(),
            line: l,
            devices_asked: asked,
            wanted,
            distance_km,
        });
    }
    Ok(out)
}

/// Devices the association received this year: those of its reservations handed over since
/// 1 January of `today`'s year.
async fn received_this_year<C: ConnectionTrait>(
    db: &C,
    association: Uuid,
    today: NaiveDate,
) -> ApiResult<u64> {
    let since = NaiveDate::from_ymd_opt(today.year(), 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default();
    let ids: Vec<Uuid> = reservation::Entity::find()
        .filter(reservation::Column::AssociationId.eq(association))
        .filter(reservation::Column::Status.eq(ReservationStatus::HandedOver.as_str()))
        .filter(reservation::Column::UpdatedAt.gte(since))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    use sea_orm::PaginatorTrait;
    Ok(reservation_item::Entity::find()
        .filter(reservation_item::Column::ReservationId.is_in(ids))
        .count(db)
        .await?)
}

/// Everything the matching of `refurbisher` needs, within `within_km` of its seat.
pub async fn snapshot<C: ConnectionTrait>(
    db: &C,
    refurbisher: Uuid,
    within_km: f64,
    today: NaiveDate,
) -> ApiResult<Snapshot> {
    let me = q::organisation(db, refurbisher).await?;
    let cap = u64::try_from(me.fair_share_cap.unwrap_or(dom::DEFAULT_FAIR_SHARE)).unwrap_or(0);
    let lines: Vec<OpenLine> = open_lines(db, me.latitude.zip(me.longitude), within_km)
        .await?
        .into_iter()
        .filter(|l| RequestStatus::parse(&l.request.status).is_some_and(|s| s.accepts_proposals()))
        .collect();
    let mut standing = HashMap::new();
    for l in &lines {
        let a = l.request.association_id;
        if standing.contains_key(&a) {
            continue;
        }
        standing.insert(
            a,
            Standing {
                held_here: q::held_count(db, refurbisher, a).await?,
                received_this_year: received_this_year(db, a, today).await?,
            },
        );
    }
    Ok(Snapshot {
        history: history(db, refurbisher).await?,
        published: published(db, refurbisher).await?,
        pipeline: pipeline(db, refurbisher).await?,
        refurbisher: me,
        cap,
        lines,
        standing,
    })
}

impl Snapshot {
    /// The lines as the allocation sees them, waiting counted in whole days to `today`.
    pub fn waiting(&self, today: NaiveDate) -> Vec<WaitingLine> {
        self.lines
            .iter()
            .map(|l| WaitingLine {
                request: l.request.id.as_u128(),
                position: l.line.position,
                association: l.request.association_id.as_u128(),
                spec: l.spec(),
                wanted: u32::try_from(l.wanted).unwrap_or(u32::MAX),
                beneficiaries: u32::try_from(l.request.beneficiaries).unwrap_or(0),
                devices_asked: u32::try_from(l.devices_asked).unwrap_or(0),
                days_waiting: u32::try_from((today - l.request.created_at.date_naive()).num_days())
                    .unwrap_or(0),
            })
            .collect()
    }

    /// The proposals the fair order makes of the published devices, in rank order.
    pub fn proposals(&self, today: NaiveDate) -> Vec<m::Allocation> {
        let devices: Vec<m::Device> = self
            .published
            .iter()
            .map(|d| m::Device {
                id: d.id.as_u128(),
                spec: device_spec(d),
            })
            .collect();
        let standing: HashMap<u128, Standing> = self
            .standing
            .iter()
            .map(|(k, v)| (k.as_u128(), *v))
            .collect();
        m::allocate(&devices, &self.waiting(today), &standing, self.cap)
    }

    /// The published devices now, then where the expected devices of the pipeline would go.
    pub fn plan(&self, today: NaiveDate) -> m::Plan {
        let as_devices = |list: &[item::Model]| -> Vec<m::Device> {
            list.iter()
                .map(|d| m::Device {
                    id: d.id.as_u128(),
                    spec: device_spec(d),
                })
                .collect()
        };
        let standing: HashMap<u128, Standing> = self
            .standing
            .iter()
            .map(|(k, v)| (k.as_u128(), *v))
            .collect();
        m::plan(
            &as_devices(&self.published),
            &as_devices(&self.pipeline),
            &self.history,
            &self.waiting(today),
            &standing,
            self.cap,
        )
    }

    /// The specs of the pipeline's devices, as far as they are known.
    pub fn pipeline_specs(&self) -> Vec<DeviceSpec> {
        self.pipeline.iter().map(device_spec).collect()
    }
}

/// Where a request's devices go: its delivery site, or the association's seat.
pub async fn request_place<C: ConnectionTrait>(
    db: &C,
    r: &request::Model,
) -> ApiResult<Option<(f64, f64)>> {
    use crate::store::entities::site;
    Ok(match r.delivery_site_id {
        Some(s) => site::Entity::find_by_id(s)
            .one(db)
            .await?
            .and_then(|s| s.latitude.zip(s.longitude)),
        None => {
            let a = q::organisation(db, r.association_id).await?;
            a.latitude.zip(a.longitude)
        }
    })
}

/// Great-circle distance between two `(lat, lon)` points, in km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    crate::search::GeoPoint { lat: a.0, lon: a.1 }
        .distance_km(crate::search::GeoPoint { lat: b.0, lon: b.1 })
}
