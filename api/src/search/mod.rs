//! The search port: two indexes (`lots`, `catalogue`), one query and one answer shape, and two
//! engines behind it — tantivy embedded under `<data dir>/search` (the default) and Meilisearch
//! when `MEILI_URL` is set.
//!
//! The database stays the source of truth. Documents are derived from it by [`documents`] when
//! the outbox worker performs an `index` message, so a write never waits on the engine, and
//! answers are checked against the database again by the HTTP layer (a lagging index can show
//! fewer hits, never a forbidden one).

pub mod documents;
pub mod embedded;
pub mod indexer;
pub mod meili;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The two indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexName {
    /// Published lots, browsed by refurbishers.
    Lots,
    /// Available refurbished devices, browsed by associations.
    Catalogue,
}

impl IndexName {
    pub const ALL: [IndexName; 2] = [IndexName::Lots, IndexName::Catalogue];

    pub fn as_str(self) -> &'static str {
        match self {
            IndexName::Lots => "lots",
            IndexName::Catalogue => "catalogue",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// Keyword fields: exact-match filters and facets.
    pub fn keyword_fields(self) -> &'static [&'static str] {
        match self {
            IndexName::Lots => &[
                "categories",
                "departement",
                "commune",
                "organisation_id",
                "cession_mode",
                "visibility",
                "partner_ids",
            ],
            IndexName::Catalogue => &[
                "category",
                "grade",
                "brand",
                "departement",
                "commune",
                "refurbisher_id",
            ],
        }
    }

    /// Numeric fields: range filters.
    pub fn number_fields(self) -> &'static [&'static str] {
        match self {
            IndexName::Lots => &["item_count"],
            IndexName::Catalogue => &["ram_gb", "storage_gb", "screen_inches"],
        }
    }
}

/// One document as every engine receives it: free text in two weights, keywords, numbers, an
/// optional position and a date for "newest first".
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: Uuid,
    /// The most telling words (a lot's title; a device's category, brand and model).
    pub title: String,
    /// Everything else worth finding by text (description, organisation, commune, specs).
    pub body: String,
    pub keywords: Vec<(&'static str, Vec<String>)>,
    pub numbers: Vec<(&'static str, f64)>,
    pub location: Option<GeoPoint>,
    /// Milliseconds since the epoch: when it was published.
    pub published_ts: i64,
}

/// A position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// Great-circle distance in kilometres.
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        const EARTH_KM: f64 = 6371.0088;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_KM * a.sqrt().min(1.0).asin()
    }
}

/// A filter on one index.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The keyword field holds one of these values.
    AnyOf(&'static str, Vec<String>),
    /// The number field is at least this.
    AtLeast(&'static str, f64),
    /// Any of these filters holds.
    Or(Vec<Filter>),
}

/// How hits are ordered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sort {
    /// Best text match first (newest first without text).
    Relevance,
    /// Nearest to the query's point first.
    Distance,
    /// Most recently published first.
    Newest,
}

/// A search on one index.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub text: Option<String>,
    pub filters: Vec<Filter>,
    /// A point to measure distances from, and an optional radius around it.
    pub near: Option<GeoPoint>,
    pub within_km: Option<f64>,
    pub sort: Sort,
    /// Keyword fields whose value counts are wanted.
    pub facets: Vec<&'static str>,
    pub offset: usize,
    pub limit: usize,
}

impl Query {
    /// Everything in the index, relevance order, no facets.
    pub fn all(limit: usize) -> Self {
        Query {
            text: None,
            filters: Vec::new(),
            near: None,
            within_km: None,
            sort: Sort::Relevance,
            facets: Vec::new(),
            offset: 0,
            limit,
        }
    }
}

/// One hit: the document id and, when a point was given, its distance.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: Uuid,
    pub distance_km: Option<f64>,
}

/// What a search answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hits {
    pub hits: Vec<Hit>,
    /// How many documents match (exact for the embedded engine, an estimate for Meilisearch).
    pub total: u64,
    /// Value counts per requested facet.
    pub facets: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Why the engine could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search engine unavailable: {0}")]
    Unavailable(String),
    #[error("search engine failure: {0}")]
    Internal(String),
}

/// The configured engine.
#[derive(Clone)]
pub enum Search {
    Embedded(Arc<embedded::Embedded>),
    Meili(Arc<meili::Meili>),
}

impl Search {
    /// The engine named by the settings: Meilisearch when `MEILI_URL` is set, else tantivy.
    pub async fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        match &settings.meili_url {
            Some(url) => {
                let meili = Arc::new(
                    meili::Meili::new(
                        url,
                        settings.meili_api_key.as_deref(),
                        &settings.meili_prefix,
                    )
                    .await?,
                );
                let prepare = meili.clone();
                tokio::spawn(async move { prepare.prepare().await });
                Ok(Search::Meili(meili))
            }
            None => Ok(Search::Embedded(Arc::new(embedded::Embedded::open(
                &settings.data_dir.join("search"),
            )?))),
        }
    }

    /// Whether the engine answers now (readiness).
    pub async fn check(&self) -> Result<(), SearchError> {
        match self {
            Search::Embedded(_) => Ok(()),
            Search::Meili(m) => m.check().await,
        }
    }

    pub fn engine_name(&self) -> &'static str {
        match self {
            Search::Embedded(_) => "tantivy",
            Search::Meili(_) => "meilisearch",
        }
    }

    /// Adds or replaces documents, and removes the ids in `delete`; visible to searches on return.
    pub async fn apply(
        &self,
        index: IndexName,
        upsert: Vec<Document>,
        delete: Vec<Uuid>,
    ) -> Result<(), SearchError> {
        if upsert.is_empty() && delete.is_empty() {
            return Ok(());
        }
        match self {
            Search::Embedded(e) => {
                let e = e.clone();
                tokio::task::spawn_blocking(move || e.apply(index, &upsert, &delete))
                    .await
                    .map_err(|err| SearchError::Internal(err.to_string()))?
            }
            Search::Meili(m) => m.apply(index, &upsert, &delete).await,
        }
    }

    /// Empties an index (before a rebuild).
    pub async fn clear(&self, index: IndexName) -> Result<(), SearchError> {
        match self {
            Search::Embedded(e) => {
                let e = e.clone();
                tokio::task::spawn_blocking(move || e.clear(index))
                    .await
                    .map_err(|err| SearchError::Internal(err.to_string()))?
            }
            Search::Meili(m) => m.clear(index).await,
        }
    }

    /// Starts a bulk load of documents (a rebuild's batches): the embedded engine writes them at
    /// once; Meilisearch queues them and answers without waiting (it batches queued additions
    /// itself). [`Search::settle`] then waits for everything started.
    pub async fn load(
        &self,
        index: IndexName,
        upsert: Vec<Document>,
        pending: &mut Vec<u32>,
    ) -> Result<(), SearchError> {
        match self {
            Search::Embedded(_) => self.apply(index, upsert, Vec::new()).await,
            Search::Meili(m) => {
                pending.extend(m.enqueue(index, &upsert).await?);
                Ok(())
            }
        }
    }

    /// Waits until the loads started by [`Search::load`] are visible to searches, and fails if
    /// any of them failed. The embedded engine also merges the index's segments, so that an
    /// index served after a rebuild is the one the search bench measures.
    pub async fn settle(&self, index: IndexName, pending: &[u32]) -> Result<(), SearchError> {
        match self {
            Search::Embedded(e) => {
                let e = e.clone();
                tokio::task::spawn_blocking(move || e.optimise(index))
                    .await
                    .map_err(|err| SearchError::Internal(err.to_string()))?
            }
            Search::Meili(m) => m.settle(pending).await,
        }
    }

    pub async fn search(&self, index: IndexName, query: &Query) -> Result<Hits, SearchError> {
        match self {
            Search::Embedded(e) => {
                let (e, query) = (e.clone(), query.clone());
                tokio::task::spawn_blocking(move || e.search(index, &query))
                    .await
                    .map_err(|err| SearchError::Internal(err.to_string()))?
            }
            Search::Meili(m) => m.search(index, query).await,
        }
    }
}

/// Splits free text into the words a query matches, lower-cased (engines fold accents).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How many typos a query word tolerates (Meilisearch's defaults, used by both engines).
pub fn typos_allowed(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_great_circle_kilometres() {
        let blois = GeoPoint {
            lat: 47.5861,
            lon: 1.3359,
        };
        let tours = GeoPoint {
            lat: 47.3941,
            lon: 0.6848,
        };
        let d = blois.distance_km(tours);
        assert!((d - 53.0).abs() < 2.0, "{d}");
        assert_eq!(blois.distance_km(blois), 0.0);
    }

    #[test]
    fn typo_budget_grows_with_word_length() {
        assert_eq!(typos_allowed("pc"), 0);
        assert_eq!(typos_allowed("ecran"), 1);
        assert_eq!(typos_allowed("ordinatuer"), 2);
    }
}
