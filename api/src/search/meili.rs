//! The Meilisearch engine (`MEILI_URL`): one Meilisearch index per [`IndexName`], named
//! `<MEILI_INDEX_PREFIX><name>`, whose settings (searchable, filterable and sortable attributes,
//! typo tolerance, French) are applied before first use — lazily, so the service starts and
//! writes succeed while the server is down.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use meilisearch_sdk::client::Client;
use meilisearch_sdk::errors::{Error as MeiliError, ErrorCode};
use meilisearch_sdk::search::{MatchingStrategies, Selectors};
use meilisearch_sdk::settings::{
    FacetingSettings, LocalizedAttributes, MinWordSizeForTypos, PaginationSetting, Settings,
    TypoToleranceSettings,
};
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::Task;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Document, Filter, GeoPoint, Hit, Hits, IndexName, Query, SearchError, Sort};

/// Most hits a query can page through.
pub const MAX_TOTAL_HITS: usize = 10_000;
const TASK_POLL: Duration = Duration::from_millis(50);
const TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// A task's id, as the SDK takes it.
struct TaskId(u32);

impl AsRef<u32> for TaskId {
    fn as_ref(&self) -> &u32 {
        &self.0
    }
}

/// Meilisearch's ranking rules, `sort` moved first (see [`Meili::settings`]).
const RANKING_RULES: [&str; 6] = [
    "sort",
    "words",
    "typo",
    "proximity",
    "attribute",
    "exactness",
];

/// A Meilisearch server and its two indexes.
pub struct Meili {
    client: Client<TimedClient>,
    prefix: String,
    ready: [AtomicBool; 2],
}

fn error(err: MeiliError) -> SearchError {
    match err {
        MeiliError::HttpError(e) => SearchError::Unavailable(e.to_string()),
        MeiliError::MeilisearchCommunication(e) if e.status_code >= 500 => {
            SearchError::Unavailable(e.to_string())
        }
        MeiliError::Timeout => SearchError::Unavailable("a task did not finish in time".into()),
        other => SearchError::Internal(other.to_string()),
    }
}

fn slot(index: IndexName) -> usize {
    match index {
        IndexName::Lots => 0,
        IndexName::Catalogue => 1,
    }
}

/// A quoted filter value, escaped as Meilisearch's filter grammar wants.
fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn filter_expr(f: &Filter) -> String {
    match f {
        Filter::AnyOf(field, values) => format!(
            "{field} IN [{}]",
            values
                .iter()
                .map(|v| quote(v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Filter::AtLeast(field, min) => format!("{field} >= {min}"),
        Filter::Or(any) => format!(
            "({})",
            any.iter().map(filter_expr).collect::<Vec<_>>().join(" OR ")
        ),
    }
}

/// The JSON Meilisearch stores for a document.
fn to_json(d: &Document) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(d.id));
    m.insert("title".into(), json!(d.title));
    m.insert("body".into(), json!(d.body));
    for (k, v) in &d.keywords {
        m.insert((*k).into(), json!(v));
    }
    for (k, v) in &d.numbers {
        m.insert((*k).into(), json!(v));
    }
    if let Some(p) = d.location {
        m.insert("_geo".into(), json!({ "lat": p.lat, "lng": p.lon }));
    }
    m.insert("published_ts".into(), json!(d.published_ts));
    Value::Object(m)
}

#[derive(Deserialize)]
struct MeiliHit {
    id: Uuid,
    #[serde(rename = "_geo")]
    geo: Option<MeiliGeo>,
}

#[derive(Deserialize)]
struct MeiliGeo {
    lat: f64,
    lng: f64,
}

/// Longest a request to Meilisearch may take, connection included (a search takes
/// milliseconds; a batch of documents is only queued).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The SDK's HTTP client under a deadline per request: a Meilisearch that accepts connections but
/// never answers cannot hold a search, a write or the readiness probe (the SDK's client has no
/// timeout of its own).
#[derive(Clone)]
pub struct TimedClient {
    inner: meilisearch_sdk::reqwest::ReqwestClient,
    timeout: Duration,
}

#[async_trait::async_trait]
impl meilisearch_sdk::request::HttpClient for TimedClient {
    async fn stream_request<
        Q: serde::Serialize + Send + Sync,
        B: futures_io::AsyncRead + Send + Sync + 'static,
        O: serde::de::DeserializeOwned + 'static,
    >(
        &self,
        url: &str,
        method: meilisearch_sdk::request::Method<Q, B>,
        content_type: &str,
        expected_status_code: u16,
    ) -> Result<O, MeiliError> {
        let call = self
            .inner
            .stream_request(url, method, content_type, expected_status_code);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(MeiliError::Other(
                format!("Meilisearch did not answer within {:?}", self.timeout).into(),
            )),
        }
    }

    fn is_tokio(&self) -> bool {
        true
    }
}

impl Meili {
    pub async fn new(url: &str, key: Option<&str>, prefix: &str) -> anyhow::Result<Self> {
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            anyhow::bail!("MEILI_INDEX_PREFIX may hold only letters, digits, - and _");
        }
        let http = TimedClient {
            inner: meilisearch_sdk::reqwest::ReqwestClient::new(key)?,
            timeout: REQUEST_TIMEOUT,
        };
        let client = Client::new_with_client(url, key, http);
        Ok(Meili {
            client,
            prefix: prefix.to_owned(),
            ready: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    /// Applies the index settings, in the background of start (which never waits on the
    /// engine): until they are, each use applies them first.
    pub async fn prepare(&self) {
        for index in IndexName::ALL {
            if let Err(err) = self.ensure_settings(index).await {
                tracing::warn!(index = index.as_str(), error = %err, "Meilisearch not ready yet; settings will be applied when it answers");
            }
        }
    }

    /// Whether the engine answers its health route (readiness).
    pub async fn check(&self) -> Result<(), SearchError> {
        self.client.health().await.map(|_| ()).map_err(error)
    }

    fn uid(&self, index: IndexName) -> String {
        format!("{}{}", self.prefix, index.as_str())
    }

    async fn wait(&self, task: TaskInfo) -> Result<(), SearchError> {
        match task
            .wait_for_completion(&self.client, Some(TASK_POLL), Some(TASK_TIMEOUT))
            .await
            .map_err(error)?
        {
            Task::Failed { content } => Err(SearchError::Internal(format!(
                "Meilisearch task failed: {}",
                content.error
            ))),
            _ => Ok(()),
        }
    }

    fn settings(index: IndexName) -> Settings {
        let mut filterable: Vec<&str> = index.keyword_fields().to_vec();
        filterable.extend(index.number_fields());
        filterable.push("_geo");
        Settings::new()
            // `sort` first: a sorted query (newest, nearest) is ordered by what the client asked,
            // text relevance breaking ties; an unsorted query has no sort rule to apply, so the
            // text rules rank it as before.
            .with_ranking_rules(RANKING_RULES)
            .with_searchable_attributes(["title", "body"])
            .with_filterable_attributes(filterable)
            .with_sortable_attributes(["published_ts", "_geo"])
            .with_typo_tolerance(TypoToleranceSettings {
                enabled: Some(true),
                disable_on_attributes: None,
                disable_on_words: None,
                min_word_size_for_typos: Some(MinWordSizeForTypos {
                    one_typo: Some(5),
                    two_typos: Some(9),
                }),
                disable_on_numbers: None,
            })
            .with_localized_attributes([LocalizedAttributes {
                locales: vec!["fra".into()],
                attribute_patterns: vec!["title".into(), "body".into()],
            }])
            .with_pagination(PaginationSetting {
                max_total_hits: MAX_TOTAL_HITS,
            })
            .with_faceting(FacetingSettings {
                max_values_per_facet: 200,
                sort_facet_values_by: None,
            })
    }

    /// Creates the index if it is missing, and applies its settings when the server's differ
    /// from [`Meili::settings`] (once per process: a restart against an index already set up
    /// sends nothing and waits for nothing).
    async fn ensure_settings(&self, index: IndexName) -> Result<(), SearchError> {
        if self.ready[slot(index)].load(Ordering::Acquire) {
            return Ok(());
        }
        let uid = self.uid(index);
        let wanted = Self::settings(index);
        let current = match self.client.index(&uid).get_settings().await {
            Ok(current) => Some(current),
            Err(MeiliError::Meilisearch(e)) if e.error_code == ErrorCode::IndexNotFound => None,
            Err(e) => return Err(error(e)),
        };
        if current.is_none() {
            match self.client.create_index(&uid, Some("id")).await {
                Ok(task) => self.wait(task).await.or_else(|e| match e {
                    // Created meanwhile by another instance: fine.
                    SearchError::Internal(m) if m.contains("already exists") => Ok(()),
                    other => Err(other),
                })?,
                Err(e) => return Err(error(e)),
            }
        }
        let differs = match &current {
            Some(current) => settings_differ(&wanted, current),
            None => true,
        };
        if differs {
            let task = self
                .client
                .index(&uid)
                .set_settings(&wanted)
                .await
                .map_err(error)?;
            self.wait(task).await?;
            tracing::info!(index = %uid, "Meilisearch index settings applied");
        }
        self.ready[slot(index)].store(true, Ordering::Release);
        Ok(())
    }

    /// Queues documents for addition without waiting; answers the task's id for
    /// [`Meili::settle`].
    pub async fn enqueue(
        &self,
        index: IndexName,
        upsert: &[Document],
    ) -> Result<Option<u32>, SearchError> {
        if upsert.is_empty() {
            return Ok(None);
        }
        self.ensure_settings(index).await?;
        let docs: Vec<Value> = upsert.iter().map(to_json).collect();
        let task = self
            .client
            .index(self.uid(index))
            .add_or_replace(&docs, Some("id"))
            .await
            .map_err(error)?;
        Ok(Some(task.task_uid))
    }

    /// Waits for the last of these tasks (Meilisearch runs an index's tasks in order), then
    /// fails if any of them failed.
    pub async fn settle(&self, tasks: &[u32]) -> Result<(), SearchError> {
        let Some(last) = tasks.last() else {
            return Ok(());
        };
        // A bulk load may queue hundreds of batches: allow a minute per hundred.
        let timeout = TASK_TIMEOUT * (1 + tasks.len() as u32 / 100);
        self.client
            .wait_for_task(TaskId(*last), Some(TASK_POLL * 4), Some(timeout))
            .await
            .map_err(error)?;
        for uid in tasks {
            let task = self.client.get_task(TaskId(*uid)).await.map_err(error)?;
            if let Task::Failed { content } = task {
                return Err(SearchError::Internal(format!(
                    "Meilisearch task {uid} failed: {}",
                    content.error
                )));
            }
        }
        Ok(())
    }

    pub async fn apply(
        &self,
        index: IndexName,
        upsert: &[Document],
        delete: &[Uuid],
    ) -> Result<(), SearchError> {
        self.ensure_settings(index).await?;
        let idx = self.client.index(self.uid(index));
        if !delete.is_empty() {
            let task = idx.delete_documents(delete).await.map_err(error)?;
            self.wait(task).await?;
        }
        if !upsert.is_empty() {
            let docs: Vec<Value> = upsert.iter().map(to_json).collect();
            let task = idx.add_or_replace(&docs, Some("id")).await.map_err(error)?;
            self.wait(task).await?;
        }
        Ok(())
    }

    pub async fn clear(&self, index: IndexName) -> Result<(), SearchError> {
        self.ensure_settings(index).await?;
        let task = self
            .client
            .index(self.uid(index))
            .delete_all_documents()
            .await
            .map_err(error)?;
        self.wait(task).await
    }

    pub async fn search(&self, index: IndexName, query: &Query) -> Result<Hits, SearchError> {
        self.ensure_settings(index).await?;
        let idx = self.client.index(self.uid(index));
        let mut filters: Vec<String> = query.filters.iter().map(filter_expr).collect();
        if let (Some(p), Some(km)) = (query.near, query.within_km) {
            filters.push(radius_filter(p, km));
        }
        let filter = filters.join(" AND ");
        let scored = query
            .text
            .as_deref()
            .is_some_and(|t| !super::words(t).is_empty());
        let sort_spec: Vec<String> = match (query.sort, query.near) {
            (Sort::Distance, Some(p)) => vec![format!("_geoPoint({}, {}):asc", p.lat, p.lon)],
            (Sort::Relevance, _) if scored => Vec::new(),
            _ => vec!["published_ts:desc".into()],
        };
        let sort: Vec<&str> = sort_spec.iter().map(String::as_str).collect();
        let facets: Vec<&str> = query.facets.clone();
        let retrieve = ["id", "_geo"];
        let text = query.text.clone().unwrap_or_default();
        let mut q = idx.search();
        q.with_query(&text)
            .with_offset(query.offset)
            .with_limit(query.limit)
            .with_matching_strategy(MatchingStrategies::ALL)
            .with_attributes_to_retrieve(Selectors::Some(&retrieve));
        if !filter.is_empty() {
            q.with_filter(&filter);
        }
        if !sort.is_empty() {
            q.with_sort(&sort);
        }
        if !facets.is_empty() {
            q.with_facets(Selectors::Some(&facets));
        }
        let res = q.execute::<MeiliHit>().await.map_err(error)?;
        let mut out_facets: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for f in &query.facets {
            out_facets.insert((*f).to_owned(), BTreeMap::new());
        }
        let dist: HashMap<String, HashMap<String, usize>> =
            res.facet_distribution.unwrap_or_default();
        for (name, values) in dist {
            out_facets.insert(
                name,
                values.into_iter().map(|(v, n)| (v, n as u64)).collect(),
            );
        }
        Ok(Hits {
            total: res
                .estimated_total_hits
                .or(res.total_hits)
                .unwrap_or(res.hits.len()) as u64,
            hits: res
                .hits
                .into_iter()
                .map(|h| Hit {
                    id: h.result.id,
                    distance_km: match (query.near, h.result.geo) {
                        (Some(p), Some(g)) => Some(p.distance_km(GeoPoint {
                            lat: g.lat,
                            lon: g.lng,
                        })),
                        _ => None,
                    },
                })
                .collect(),
            facets: out_facets,
        })
    }
}

/// Whether the server's settings differ from `wanted` in anything `wanted` sets. The server
/// answers every setting (defaults included), so only the ones we set are compared; lists of
/// attributes whose order means nothing (filterable, sortable) are compared as sets.
fn settings_differ(wanted: &Settings, current: &Settings) -> bool {
    let (Ok(Value::Object(w)), Ok(Value::Object(c))) =
        (serde_json::to_value(wanted), serde_json::to_value(current))
    else {
        return true;
    };
    w.iter().any(|(k, v)| {
        let unordered = matches!(k.as_str(), "filterableAttributes" | "sortableAttributes");
        !subset_equal(v, c.get(k).unwrap_or(&Value::Null), unordered)
    })
}

/// Whether `current` holds `wanted`: objects key by key (keys `wanted` lacks are ignored),
/// arrays element by element (or as sets when `unordered`), the rest by equality.
fn subset_equal(wanted: &Value, current: &Value, unordered: bool) -> bool {
    match (wanted, current) {
        (Value::Object(w), Value::Object(c)) => w
            .iter()
            .all(|(k, v)| subset_equal(v, c.get(k).unwrap_or(&Value::Null), false)),
        (Value::Array(w), Value::Array(c)) if unordered => {
            w.len() == c.len() && w.iter().all(|x| c.contains(x))
        }
        (Value::Array(w), Value::Array(c)) => {
            w.len() == c.len() && w.iter().zip(c).all(|(a, b)| subset_equal(a, b, false))
        }
        (Value::Null, _) => true,
        (w, c) => w == c,
    }
}

/// The filter keeping documents within `km` of `p`: the bounding box of that circle, which
/// Meilisearch answers from its geo index without decoding it whole as `_geoRadius` does. The
/// box's corners lie outside the circle: the exact distance of each hit is checked after the
/// engine (see `collect_hits`). Near a pole or across the antimeridian, where a box is not one
/// rectangle of latitudes and longitudes, the radius filter itself.
fn radius_filter(p: GeoPoint, km: f64) -> String {
    const KM_PER_DEGREE: f64 = 111.32;
    let dlat = km / KM_PER_DEGREE;
    let (north, south) = (p.lat + dlat, p.lat - dlat);
    let cos = north.abs().max(south.abs()).to_radians().cos();
    if north >= 89.0 || south <= -89.0 || cos <= 0.01 {
        return format!(
            "_geoRadius({}, {}, {})",
            p.lat,
            p.lon,
            (km * 1000.0).round()
        );
    }
    let dlon = km / (KM_PER_DEGREE * cos);
    let (west, east) = (p.lon - dlon, p.lon + dlon);
    if west < -180.0 || east > 180.0 {
        return format!(
            "_geoRadius({}, {}, {})",
            p.lat,
            p.lon,
            (km * 1000.0).round()
        );
    }
    format!("_geoBoundingBox([{north:.6}, {west:.6}], [{south:.6}, {east:.6}])")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_radius_becomes_the_bounding_box_of_its_circle() {
        // 30 km around Blois: ±0.2695° of latitude, and more of longitude (cos 47.86°).
        let f = radius_filter(
            GeoPoint {
                lat: 47.59,
                lon: 1.33,
            },
            30.0,
        );
        assert!(f.starts_with("_geoBoundingBox([47.859"), "{f}");
        // The box holds the circle: a point 30 km due north, east, south or west is inside.
        let bx: Vec<f64> = f
            .trim_start_matches("_geoBoundingBox([")
            .trim_end_matches("])")
            .split([',', ']', '['])
            .filter_map(|t| t.trim().parse().ok())
            .collect();
        let (north, west, south, east) = (bx[0], bx[1], bx[2], bx[3]);
        let centre = GeoPoint {
            lat: 47.59,
            lon: 1.33,
        };
        for (lat, lon) in [(north, 1.33), (south, 1.33), (47.59, west), (47.59, east)] {
            assert!(centre.distance_km(GeoPoint { lat, lon }) >= 29.9);
        }
        // Across the antimeridian or near a pole: the exact radius.
        assert!(
            radius_filter(
                GeoPoint {
                    lat: -17.5,
                    lon: 179.9
                },
                50.0
            )
            .starts_with("_geoRadius(")
        );
        assert!(
            radius_filter(
                GeoPoint {
                    lat: 89.5,
                    lon: 0.0
                },
                100.0
            )
            .starts_with("_geoRadius(")
        );
    }

    #[test]
    fn settings_are_sent_only_when_the_servers_differ() -> Result<(), serde_json::Error> {
        let wanted = Meili::settings(IndexName::Catalogue);
        // The server answers every setting, defaults included, and filterable attributes in
        // its own order.
        let mut server = serde_json::to_value(&wanted)?;
        server["displayedAttributes"] = json!(["*"]);
        server["stopWords"] = json!([]);
        server["typoTolerance"]["disableOnWords"] = json!([]);
        if let Some(filterable) = server["filterableAttributes"].as_array_mut() {
            filterable.reverse();
        }
        let same: Settings = serde_json::from_value(server.clone())?;
        assert!(!settings_differ(&wanted, &same));
        // Another ranking order, or a searchable attribute less, is a difference.
        let mut other = server.clone();
        other["rankingRules"] = json!([
            "words",
            "typo",
            "proximity",
            "attribute",
            "sort",
            "exactness"
        ]);
        assert!(settings_differ(&wanted, &serde_json::from_value(other)?));
        let mut other = server;
        other["searchableAttributes"] = json!(["title"]);
        assert!(settings_differ(&wanted, &serde_json::from_value(other)?));
        Ok(())
    }

    #[test]
    fn filters_are_written_in_meilisearch_grammar() {
        let f = Filter::Or(vec![
            Filter::AnyOf("visibility", vec!["all_verified".into()]),
            Filter::AnyOf("partner_ids", vec!["a\"b".into(), "c".into()]),
            Filter::AtLeast("ram_gb", 8.0),
        ]);
        assert_eq!(
            filter_expr(&f),
            r#"(visibility IN ["all_verified"] OR partner_ids IN ["a\"b", "c"] OR ram_gb >= 8)"#
        );
    }
}
