//! Searching published lots (refurbishers) and the catalogue of available devices (associations).
//!
//! The engine finds candidates; every hit is then read from the database and checked again
//! (still published and visible to the caller, still available), so a lagging index may show
//! fewer hits but never one the caller may not see.

use base64::Engine;
use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::Invalid;
use reemploi_domain::item as dom;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::{Category, ItemSpecs};
use super::lots::{CessionMode, LotResponse};
use super::types::ApiTags;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::search::{self as engine, Filter, GeoPoint, IndexName, SearchError, Sort};
use crate::state::AppState;
use crate::store::entities::{item, organisation, photo};

/// Hits per page when the client does not say, and at most.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
/// Deepest a client may page (engines answer at most this many hits).
const MAX_OFFSET: usize = engine::meili::MAX_TOTAL_HITS;

/// Order of search hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SearchSort {
    /// Best text match first (newest first when there is no text).
    Relevance,
    /// Nearest to `lat`/`lon` first.
    Distance,
    /// Most recently published first.
    Newest,
}

/// Value counts of a facet: `{"laptop": 12, "desktop": 3}`.
pub type FacetCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// A published lot found by search.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LotHit {
    pub lot: LotResponse,
    /// Distance from the query point to the pickup site, in km.
    pub distance_km: Option<f64>,
}

/// A page of lots found by search.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LotSearchPage {
    pub items: Vec<LotHit>,
    /// Counts per facet (`categories`, `departement`, `cession_mode`) over every match.
    pub facets: FacetCounts,
    /// How many lots match (an estimate with Meilisearch).
    pub estimated_total: u64,
    pub next_cursor: Option<String>,
}

/// The refurbisher offering a device.
#[derive(Debug, Clone, Object)]
pub struct CatalogueHolder {
    pub id: Uuid,
    pub name: String,
    pub city: String,
    pub departement: String,
}

/// An available device in the catalogue (summary; details at `GET /v1/catalogue/items/{id}`).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CatalogueItem {
    pub id: Uuid,
    pub public_code: String,
    pub category: Category,
    pub brand: Option<String>,
    pub model: Option<String>,
    /// A (as new), B (signs of use) or C (works, visible wear).
    pub grade: Option<super::workshop::Grade>,
    pub specs: ItemSpecs,
    pub refurbisher: CatalogueHolder,
    /// Distance from the query point to the refurbisher, in km.
    pub distance_km: Option<f64>,
    /// Expiring signed URL of the first photo's thumbnail.
    pub thumbnail_url: Option<String>,
    pub available_since: DateTime<Utc>,
}

/// A page of the catalogue.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CatalogueSearchPage {
    pub items: Vec<CatalogueItem>,
    /// Counts per facet (`category`, `grade`, `brand`, `departement`) over every match.
    pub facets: FacetCounts,
    /// How many devices match (an estimate with Meilisearch).
    pub estimated_total: u64,
    pub next_cursor: Option<String>,
}

const CURSOR_PREFIX: &str = "s1:";

fn encode_offset(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{offset}"))
}

fn decode_offset(cursor: Option<&str>) -> Result<usize, ApiError> {
    let Some(c) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(0);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix(CURSOR_PREFIX)?.parse::<usize>().ok())
        .filter(|o| *o <= MAX_OFFSET)
        .ok_or_else(|| ApiError::field("cursor", Invalid::InvalidFormat))
}

/// The common parameters of both searches, validated together (every refusal reported at once).
struct Common {
    text: Option<String>,
    near: Option<GeoPoint>,
    within_km: Option<f64>,
    sort: Sort,
    offset: usize,
    limit: usize,
}

#[allow(clippy::too_many_arguments)]
fn common(
    q: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    within_km: Option<f64>,
    sort: Option<SearchSort>,
    cursor: Option<&str>,
    limit: Option<u32>,
    errors: &mut Vec<(String, Invalid)>,
) -> Common {
    let text = q.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let near = match (lat, lon) {
        (None, None) => None,
        (Some(la), Some(lo)) if (-90.0..=90.0).contains(&la) && (-180.0..=180.0).contains(&lo) => {
            Some(GeoPoint { lat: la, lon: lo })
        }
        (Some(la), Some(_)) if !(-90.0..=90.0).contains(&la) => {
            errors.push(("lat".into(), Invalid::OutOfRange));
            None
        }
        (Some(_), Some(_)) => {
            errors.push(("lon".into(), Invalid::OutOfRange));
            None
        }
        (None, Some(_)) => {
            errors.push(("lat".into(), Invalid::Required));
            None
        }
        (Some(_), None) => {
            errors.push(("lon".into(), Invalid::Required));
            None
        }
    };
    if let Some(km) = within_km {
        if !(km > 0.0 && km <= 1000.0) {
            errors.push(("within_km".into(), Invalid::OutOfRange));
        } else if lat.is_none() && lon.is_none() {
            errors.push(("lat".into(), Invalid::Required));
        }
    }
    let sort = match sort.unwrap_or(SearchSort::Relevance) {
        SearchSort::Relevance => Sort::Relevance,
        SearchSort::Newest => Sort::Newest,
        SearchSort::Distance => {
            if lat.is_none() && lon.is_none() {
                errors.push(("lat".into(), Invalid::Required));
            }
            Sort::Distance
        }
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.push(("limit".into(), Invalid::OutOfRange));
    }
    let offset = match decode_offset(cursor) {
        Ok(o) => o,
        Err(_) => {
            errors.push(("cursor".into(), Invalid::InvalidFormat));
            0
        }
    };
    Common {
        text,
        near,
        within_km,
        sort,
        offset,
        limit: limit as usize,
    }
}

/// Devices of any of these categories, on the keyword `field`.
fn category_filter(field: &'static str, categories: &[Category]) -> Option<Filter> {
    (!categories.is_empty()).then(|| {
        Filter::AnyOf(
            field,
            categories
                .iter()
                .map(|c| dom::Category::from(*c).as_str().to_owned())
                .collect(),
        )
    })
}

fn fail(errors: Vec<(String, Invalid)>) -> ApiResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let mut e = ApiError::new(ErrorCode::ValidationFailed);
    e.fields = errors;
    Err(e)
}

fn search_error(e: SearchError) -> ApiError {
    match e {
        SearchError::Unavailable(msg) => {
            tracing::warn!(error = %msg, "search engine unavailable");
            ApiError::new(ErrorCode::SearchUnavailable)
        }
        SearchError::Internal(msg) => {
            tracing::error!(error = %msg, "search engine failure");
            ApiError::new(ErrorCode::SearchUnavailable)
        }
    }
}

/// A département code as written in INSEE codes: 2 digits, 2A/2B, or 3 digits overseas.
fn departement_ok(d: &str) -> bool {
    let d = d.trim();
    matches!(d.len(), 2 | 3) && d.chars().all(|c| c.is_ascii_alphanumeric())
}

fn keyword_values(
    field: &'static str,
    values: Vec<String>,
    check: impl Fn(&str) -> bool,
    errors: &mut Vec<(String, Invalid)>,
) -> Option<Filter> {
    if values.is_empty() {
        return None;
    }
    if values.len() > 20 || values.iter().any(|v| !check(v)) {
        errors.push((field.into(), Invalid::InvalidFormat));
        return None;
    }
    Some(Filter::AnyOf(
        field,
        values
            .into_iter()
            .map(|v| v.trim().to_uppercase())
            .collect(),
    ))
}

/// Search endpoints.
pub struct SearchApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Search")]
impl SearchApi {
    /// Search published lots
    ///
    /// For refurbishers: free text in French (accents folded, stemming, typos tolerated, the last
    /// word as a prefix), filters, facet counts and distance from a point. Only lots the caller's
    /// refurbisher may claim appear (all verified refurbishers, the body's partners, or within the
    /// lot's radius). Example: `GET /v1/lots/search?q=ordinatuer%20portable&category=laptop&lat=47.59&lon=1.33&within_km=50&sort=distance`.
    #[oai(path = "/lots/search", method = "get", operation_id = "search_lots")]
    #[allow(clippy::too_many_arguments)]
    async fn search_lots(
        &self,
        auth: BearerAuth,
        /// Free text: title, description, public body, commune, categories.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// Lots holding devices of any of these categories.
        category: Query<Vec<Category>>,
        /// Département codes of the pickup site (`41`, `2A`, `971`).
        departement: Query<Vec<String>>,
        cession_mode: Query<Option<CessionMode>>,
        /// Latitude of the point distances are measured from.
        lat: Query<Option<f64>>,
        lon: Query<Option<f64>>,
        /// Keep lots within this many km of `lat`/`lon` (1 000 at most).
        within_km: Query<Option<f64>>,
        sort: Query<Option<SearchSort>>,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<LotSearchPage>> {
        let acting = auth.0.acting_as("search_lots", organisation_id.0)?;
        acting.require_verified()?;
        let mut errors = Vec::new();
        let c = common(
            q.0,
            lat.0,
            lon.0,
            within_km.0,
            sort.0,
            cursor.0.as_deref(),
            limit.0,
            &mut errors,
        );
        let filters = lot_filters(
            &category.0,
            departement.0,
            cession_mode.0,
            acting.organisation_id,
            &mut errors,
        );
        fail(errors)?;
        let state = &self.state;
        let viewer = crate::store::lots::viewer(&state.db, acting.organisation_id).await?;
        let viewer = &viewer;
        let mut out = Vec::new();
        let found = collect_hits(
            state,
            IndexName::Lots,
            &c,
            filters,
            vec!["categories", "departement", "cession_mode"],
            |hits| lot_hits(state, hits, viewer),
            &mut out,
        )
        .await?;
        Ok(Json(LotSearchPage {
            items: out,
            facets: found.facets,
            estimated_total: found.total,
            next_cursor: found.next_cursor,
        }))
    }

    /// Search the catalogue
    ///
    /// Available refurbished devices, for associations (and refurbishers) of verified
    /// organisations: free text in French (accents folded, stemming, typos tolerated, the last
    /// word as a prefix), filters on category, grade, brand, département, refurbisher and minimum
    /// specs, facet counts, distance from a point. Reserved or withdrawn devices never appear.
    /// Example: `GET /v1/catalogue/search?q=ordinateur%20portable&min_ram_gb=8&lat=47.59&lon=1.33&within_km=30&sort=distance`.
    #[oai(
        path = "/catalogue/search",
        method = "get",
        operation_id = "search_catalogue"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn search_catalogue(
        &self,
        auth: BearerAuth,
        /// Free text: category, brand, model, processor, refurbisher, commune.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        category: Query<Vec<Category>>,
        /// Grades `A`, `B` or `C`.
        grade: Query<Vec<super::workshop::Grade>>,
        /// Brands, as written in the facet counts.
        brand: Query<Vec<String>>,
        /// Département codes of the refurbisher (`41`, `2A`, `971`).
        departement: Query<Vec<String>>,
        refurbisher_id: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "0"), maximum(value = "4096")))] min_ram_gb: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))] min_storage_gb: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "0"), maximum(value = "200")))] min_screen_inches: Query<
            Option<f64>,
        >,
        lat: Query<Option<f64>>,
        lon: Query<Option<f64>>,
        /// Keep devices within this many km of `lat`/`lon` (1 000 at most).
        within_km: Query<Option<f64>>,
        sort: Query<Option<SearchSort>>,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CatalogueSearchPage>> {
        let acting = auth.0.acting_as("search_catalogue", organisation_id.0)?;
        acting.require_verified()?;
        let mut errors = Vec::new();
        let c = common(
            q.0,
            lat.0,
            lon.0,
            within_km.0,
            sort.0,
            cursor.0.as_deref(),
            limit.0,
            &mut errors,
        );
        let wanted = CatalogueFilters {
            category: category.0,
            grade: grade.0.iter().map(|g| g.as_str().to_owned()).collect(),
            brand: brand.0,
            departement: departement.0,
            refurbisher_id: refurbisher_id.0,
            min_ram_gb: min_ram_gb.0,
            min_storage_gb: min_storage_gb.0,
            min_screen_inches: min_screen_inches.0,
        };
        let filters = wanted.filters(&mut errors);
        fail(errors)?;
        let state = &self.state;
        let mut out = Vec::new();
        let found = collect_hits(
            state,
            IndexName::Catalogue,
            &c,
            filters,
            vec!["category", "grade", "brand", "departement"],
            |hits| catalogue_hits(state, hits),
            &mut out,
        )
        .await?;
        Ok(Json(CatalogueSearchPage {
            items: out,
            facets: found.facets,
            estimated_total: found.total,
            next_cursor: found.next_cursor,
        }))
    }
}

/// The engine filters of a lot search, with the coarse visibility of `org` (the exact rule is
/// applied to each hit by [`lot_hit`]).
fn lot_filters(
    category: &[Category],
    departement: Vec<String>,
    cession_mode: Option<CessionMode>,
    org: Uuid,
    errors: &mut Vec<(String, Invalid)>,
) -> Vec<Filter> {
    let mut filters: Vec<Filter> = category_filter("categories", category)
        .into_iter()
        .collect();
    filters.extend(keyword_values(
        "departement",
        departement,
        departement_ok,
        errors,
    ));
    if let Some(m) = cession_mode {
        let mode = reemploi_domain::lot::CessionMode::from(m);
        filters.push(Filter::AnyOf(
            "cession_mode",
            vec![mode.as_str().to_owned()],
        ));
    }
    filters.push(Filter::Or(vec![
        Filter::AnyOf(
            "visibility",
            vec!["all_verified".into(), "radius_km".into()],
        ),
        Filter::AnyOf("partner_ids", vec![org.to_string()]),
    ]));
    filters
}

/// A page of lot hits as the database sees it now, in the engine's order: a lot is kept only
/// while still published and visible to `viewer`. The lots and their pickup sites are read in one
/// query each; the answer of each kept lot is then built as `GET /v1/lots/{id}` builds it.
async fn lot_hits(
    state: &AppState,
    hits: Vec<Hit>,
    viewer: &crate::store::lots::LotViewer,
) -> ApiResult<Vec<Option<LotHit>>> {
    let db = &state.db;
    let ids: Vec<Uuid> = hits.iter().map(|h| h.0).collect();
    let mut lots: HashMap<Uuid, crate::store::entities::lot::Model> =
        crate::store::lots::find_published_many(db, &ids)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
    let site_ids: Vec<Uuid> = lots.values().map(|l| l.pickup_site_id).collect();
    let sites = crate::store::lots::sites_by_id(db, &site_ids).await?;
    let mut out = Vec::with_capacity(hits.len());
    for (id, distance) in hits {
        let shown = match lots.remove(&id) {
            Some(l) if viewer.sees(&l, sites.get(&l.pickup_site_id))? => Some(LotHit {
                lot: super::lots::lot_response(db, l, false).await?,
                distance_km: distance,
            }),
            _ => None,
        };
        out.push(shown);
    }
    Ok(out)
}

/// What a catalogue search filters on, as the client asked.
struct CatalogueFilters {
    category: Vec<Category>,
    grade: Vec<String>,
    brand: Vec<String>,
    departement: Vec<String>,
    refurbisher_id: Option<Uuid>,
    min_ram_gb: Option<u32>,
    min_storage_gb: Option<u32>,
    min_screen_inches: Option<f64>,
}

impl CatalogueFilters {
    /// The engine filters, or the offending fields in `errors`.
    fn filters(self, errors: &mut Vec<(String, Invalid)>) -> Vec<Filter> {
        let mut filters: Vec<Filter> = category_filter("category", &self.category)
            .into_iter()
            .collect();
        filters.extend(keyword_values(
            "grade",
            self.grade,
            |g| matches!(g.trim().to_uppercase().as_str(), "A" | "B" | "C"),
            errors,
        ));
        if !self.brand.is_empty() {
            if self.brand.len() > 20
                || self
                    .brand
                    .iter()
                    .any(|b| b.trim().is_empty() || b.len() > 100)
            {
                errors.push(("brand".into(), Invalid::InvalidFormat));
            } else {
                let brands = self.brand.iter().map(|b| b.trim().to_owned()).collect();
                filters.push(Filter::AnyOf("brand", brands));
            }
        }
        filters.extend(keyword_values(
            "departement",
            self.departement,
            departement_ok,
            errors,
        ));
        if let Some(r) = self.refurbisher_id {
            filters.push(Filter::AnyOf("refurbisher_id", vec![r.to_string()]));
        }
        if let Some(v) = self.min_ram_gb {
            filters.push(Filter::AtLeast("ram_gb", f64::from(v)));
        }
        if let Some(v) = self.min_storage_gb {
            filters.push(Filter::AtLeast("storage_gb", f64::from(v)));
        }
        if let Some(v) = self.min_screen_inches {
            filters.push(Filter::AtLeast("screen_inches", v));
        }
        filters
    }
}

/// A page of catalogue hits as the database sees it now, in the engine's order: a device is kept
/// only while still available. Devices, their refurbishers and their first photos are read in
/// three queries, whatever the page size.
async fn catalogue_hits(state: &AppState, hits: Vec<Hit>) -> ApiResult<Vec<Option<CatalogueItem>>> {
    let db = &state.db;
    let ids: Vec<Uuid> = hits.iter().map(|h| h.0).collect();
    let mut items: HashMap<Uuid, item::Model> = crate::store::items::find_available_many(db, &ids)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    let mut holder_ids: Vec<Uuid> = items.values().map(|i| i.custodian_id).collect();
    holder_ids.sort_unstable();
    holder_ids.dedup();
    let holders = crate::store::organisations::organisations_by_id(db, &holder_ids).await?;
    let item_ids: Vec<Uuid> = items.keys().copied().collect();
    let thumbs = crate::store::items::first_photos(db, &item_ids).await?;
    let mut out = Vec::with_capacity(hits.len());
    for (id, distance) in hits {
        let shown = match items.remove(&id) {
            Some(i) => {
                let holder = holders
                    .get(&i.custodian_id)
                    .ok_or_else(ApiError::not_found)?;
                let thumb = thumbs.get(&i.id);
                Some(catalogue_item(state, i, holder, distance, thumb).await?)
            }
            None => None,
        };
        out.push(shown);
    }
    Ok(out)
}

/// The summary of an available device held by `holder`.
/// `thumb` is its first photo, if it has one.
pub async fn catalogue_item(
    state: &AppState,
    i: item::Model,
    holder: &organisation::Model,
    distance_km: Option<f64>,
    thumb: Option<&photo::Model>,
) -> ApiResult<CatalogueItem> {
    let thumbnail_url = match thumb {
        Some(p) => Some(
            state
                .blobs
                .signed_url(&p.thumbnail_key, state.settings.blob_url_ttl_secs)
                .await
                .map_err(super::photos::blob_error)?,
        ),
        None => None,
    };
    Ok(CatalogueItem {
        id: i.id,
        public_code: i.public_code,
        category: dom::Category::parse(&i.category)
            .unwrap_or(dom::Category::Other)
            .into(),
        brand: i.brand,
        model: i.model,
        grade: super::workshop::Grade::from_stored(i.grade.as_deref()),
        specs: ItemSpecs {
            cpu: i.cpu,
            ram_gb: i.ram_gb,
            storage_gb: i.storage_gb,
            storage_kind: i
                .storage_kind
                .as_deref()
                .and_then(dom::StorageKind::parse)
                .map(Into::into),
            screen_inches: i.screen_inches,
            battery_health_percent: i.battery_health_percent,
            cpu_cores: i.cpu_cores,
            cpu_mhz: i.cpu_mhz,
            battery_design_mwh: i.battery_design_mwh,
            battery_full_mwh: i.battery_full_mwh,
        },
        refurbisher: CatalogueHolder {
            id: holder.id,
            name: holder.name.clone(),
            city: holder.city.clone(),
            departement: holder.departement.clone(),
        },
        distance_km: distance_km.map(|d| (d * 10.0).round() / 10.0),
        thumbnail_url,
        available_since: i.updated_at,
    })
}

struct Collected {
    facets: FacetCounts,
    total: u64,
    next_cursor: Option<String>,
}

/// An engine hit: the document's id and its distance from the query point, in km.
type Hit = (Uuid, Option<f64>);

/// Pages through the engine's hits from `c.offset`, keeping those `check` accepts, until `c.limit`
/// are kept or the hits run out. `check` judges one engine page at a time (a few queries per
/// page, not per hit) and answers, hit by hit in order, what to show or `None`. The cursor names
/// the engine position after the last hit used.
async fn collect_hits<T, F, Fut>(
    state: &AppState,
    index: IndexName,
    c: &Common,
    filters: Vec<Filter>,
    facets: Vec<&'static str>,
    check: F,
    out: &mut Vec<T>,
) -> ApiResult<Collected>
where
    F: Fn(Vec<Hit>) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Vec<Option<T>>>>,
{
    let mut query = engine::Query {
        text: c.text.clone(),
        filters,
        near: c.near,
        within_km: c.within_km,
        sort: c.sort,
        facets,
        offset: c.offset,
        limit: c.limit,
    };
    let mut first: Option<(FacetCounts, u64)> = None;
    let mut next_cursor = None;
    // A few rounds at most: hits refused by the database are rare (an index lagging a write).
    for _ in 0..5 {
        let found = state
            .search
            .search(index, &query)
            .await
            .map_err(search_error)?;
        if first.is_none() {
            first = Some((found.facets.clone(), found.total));
            query.facets = Vec::new();
        }
        let n = found.hits.len();
        // The exact radius: an engine may filter on the circle's bounding box (Meilisearch).
        let inside = |h: &engine::Hit| match (c.within_km, h.distance_km) {
            (Some(km), Some(d)) => d <= km,
            _ => true,
        };
        let hits: Vec<Hit> = found
            .hits
            .iter()
            .filter(|h| inside(h))
            .map(|h| (h.id, h.distance_km))
            .collect();
        let mut checked = check(hits).await?.into_iter();
        let judged = found.hits.iter().map(|h| {
            if inside(h) {
                checked.next().flatten()
            } else {
                None
            }
        });
        let mut used = 0;
        for shown in judged {
            if out.len() == c.limit {
                break;
            }
            used += 1;
            if let Some(t) = shown {
                out.push(t);
            }
        }
        let position = query.offset + used;
        let more = (position as u64) < found.total && position < MAX_OFFSET;
        next_cursor = more.then(|| encode_offset(position));
        if out.len() == c.limit || n < query.limit || !more {
            break;
        }
        query.offset = position;
    }
    let (facets, total) = first.unwrap_or_default();
    Ok(Collected {
        facets,
        total,
        next_cursor,
    })
}
