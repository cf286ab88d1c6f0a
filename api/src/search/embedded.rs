//! The embedded engine: one tantivy index per [`IndexName`] under `<data dir>/search`.
//!
//! Text is analysed twice: folded and stemmed in French (`title`, `body`) for word forms, and
//! folded only (`title_raw`, `body_raw`) for typo-tolerant and prefix matching. Every query word
//! must match one of them (Meilisearch's `all` strategy); the last word also matches as a prefix.
//! One pass of a custom collector applies the exact distance filter, counts facets and keeps the
//! top hits, reading only columnar (fast) fields.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query as TQuery, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, SimpleTokenizer, Stemmer, TextAnalyzer,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal, SegmentReader,
    TantivyDocument, Term,
};
use uuid::Uuid;

use super::{Document, Filter, GeoPoint, Hit, Hits, IndexName, Query, SearchError, Sort};

/// Bumped when the schema or analysis changes: an index of another version is rebuilt.
const SCHEMA_VERSION: &str = "3";
/// Most dictionary terms one query word expands to (typos and prefix).
const MAX_EXPANSIONS: usize = 64;
/// Grid cells indexed for each position (name, size in degrees), coarse to fine; a distance
/// filter looks up the finest grid whose cells covering the circle stay few.
const GEO_GRIDS: [(&str, f64); 3] = [("a", 1.0), ("b", 0.25), ("c", 0.05)];
const MAX_CELLS: usize = 64;
const STEMMED: &str = "fr_stem";
const FOLDED: &str = "fr_fold";
/// Indexing memory budget of the writer (one thread).
const WRITER_HEAP: usize = 50_000_000;

/// The embedded engine: both indexes, their writers and readers.
pub struct Embedded {
    indexes: HashMap<IndexName, One>,
    /// Whether an index was created empty at open (its content must be rebuilt from the database).
    created: Vec<IndexName>,
}

struct One {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    title_raw: Field,
    body: Field,
    body_raw: Field,
    lat: Field,
    lon: Field,
    geo_cells: Field,
    published_ts: Field,
}

fn internal(err: impl std::fmt::Display) -> SearchError {
    SearchError::Internal(err.to_string())
}

fn schema(name: IndexName) -> Schema {
    let mut b = Schema::builder();
    let text = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
    };
    b.add_text_field("id", STRING | FAST | STORED);
    b.add_text_field("title", text(STEMMED));
    b.add_text_field("title_raw", text(FOLDED));
    b.add_text_field("body", text(STEMMED));
    b.add_text_field("body_raw", text(FOLDED));
    for k in name.keyword_fields() {
        b.add_text_field(k, STRING | FAST);
    }
    for n in name.number_fields() {
        b.add_f64_field(n, INDEXED | FAST);
    }
    b.add_f64_field("lat", FAST);
    b.add_f64_field("lon", FAST);
    b.add_text_field("geo_cells", STRING);
    b.add_i64_field("published_ts", FAST);
    b.build()
}

fn register_analyzers(index: &Index) {
    let folded = || {
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
    };
    index.tokenizers().register(FOLDED, folded().build());
    index.tokenizers().register(
        STEMMED,
        folded().filter(Stemmer::new(Language::French)).build(),
    );
}

impl One {
    fn in_ram(name: IndexName) -> anyhow::Result<One> {
        One::with_index(Index::create_in_ram(schema(name)))
    }

    fn open(dir: &Path, name: IndexName) -> anyhow::Result<(One, bool)> {
        let version_file = dir.join("schema-version");
        let current = std::fs::read_to_string(&version_file).ok();
        let fresh = current.as_deref().map(str::trim) != Some(SCHEMA_VERSION);
        if fresh {
            if dir.exists() {
                tracing::warn!(
                    index = name.as_str(),
                    "search index of another version: rebuilding"
                );
                std::fs::remove_dir_all(dir)?;
            }
            std::fs::create_dir_all(dir)?;
        }
        let index = if fresh {
            Index::create_in_dir(dir, schema(name))?
        } else {
            Index::open_in_dir(dir)?
        };
        if fresh {
            std::fs::write(&version_file, SCHEMA_VERSION)?;
        }
        Ok((One::with_index(index)?, fresh))
    }

    fn with_index(index: Index) -> anyhow::Result<One> {
        register_analyzers(&index);
        let s = index.schema();
        let f = |n: &str| s.get_field(n);
        let fields = Fields {
            id: f("id")?,
            title: f("title")?,
            title_raw: f("title_raw")?,
            body: f("body")?,
            body_raw: f("body_raw")?,
            lat: f("lat")?,
            lon: f("lon")?,
            geo_cells: f("geo_cells")?,
            published_ts: f("published_ts")?,
        };
        let writer = index.writer_with_num_threads(1, WRITER_HEAP)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(One {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    fn to_tantivy(&self, d: &Document) -> Result<TantivyDocument, SearchError> {
        let s = self.index.schema();
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, d.id.to_string());
        doc.add_text(f.title, &d.title);
        doc.add_text(f.title_raw, &d.title);
        doc.add_text(f.body, &d.body);
        doc.add_text(f.body_raw, &d.body);
        for (name, values) in &d.keywords {
            let field = s.get_field(name).map_err(internal)?;
            for v in values {
                doc.add_text(field, v);
            }
        }
        for (name, value) in &d.numbers {
            doc.add_f64(s.get_field(name).map_err(internal)?, *value);
        }
        if let Some(p) = d.location {
            doc.add_f64(f.lat, p.lat);
            doc.add_f64(f.lon, p.lon);
            for (name, size) in GEO_GRIDS {
                doc.add_text(f.geo_cells, cell(name, size, p.lat, p.lon));
            }
        }
        doc.add_i64(f.published_ts, d.published_ts);
        Ok(doc)
    }

    /// The folded (and stemmed) tokens of `text` for the analyzer `name`.
    fn tokens(&self, name: &str, text: &str) -> Vec<String> {
        let Some(mut analyzer) = self.index.tokenizers().get(name) else {
            return Vec::new();
        };
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    /// The dictionary terms of `field` within `typos` of `word` (or starting like it, for the
    /// last word), over every segment: typo tolerance becomes a few exact term lookups.
    fn expand(
        &self,
        searcher: &tantivy::Searcher,
        field: Field,
        word: &str,
        typos: u8,
        prefix: bool,
    ) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        let term = Term::from_field_text(field, word);
        let fuzzy = if prefix {
            FuzzyTermQuery::new_prefix(term, typos, true)
        } else {
            FuzzyTermQuery::new(term, typos, true)
        };
        for reader in searcher.segment_readers() {
            let (Ok(automaton), Ok(inverted)) = (fuzzy.automaton(), reader.inverted_index(field))
            else {
                continue;
            };
            let Ok(mut stream) = inverted.terms().search(automaton).into_stream() else {
                continue;
            };
            while stream.advance() && out.len() < MAX_EXPANSIONS {
                if let Ok(t) = std::str::from_utf8(stream.key()) {
                    out.insert(t.to_owned());
                }
            }
        }
        out.into_iter().collect()
    }

    fn text_query(&self, searcher: &tantivy::Searcher, text: &str) -> Option<Box<dyn TQuery>> {
        let words = super::words(text);
        let f = self.fields;
        let mut musts: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        let last = words.len().saturating_sub(1);
        for (i, w) in words.iter().enumerate() {
            let (Some(raw), Some(stem)) = (
                self.tokens(FOLDED, w).into_iter().next(),
                self.tokens(STEMMED, w).into_iter().next(),
            ) else {
                continue;
            };
            let typos = super::typos_allowed(w);
            let term = |field: Field, t: &str, boost: f32| -> (Occur, Box<dyn TQuery>) {
                let q = TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                );
                (Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost)))
            };
            let mut should = vec![term(f.title, &stem, 2.0), term(f.body, &stem, 1.0)];
            for (field, boost) in [(f.title_raw, 1.5), (f.body_raw, 0.8)] {
                for t in self.expand(searcher, field, &raw, typos, i == last) {
                    should.push(term(field, &t, boost));
                }
            }
            musts.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        (!musts.is_empty()).then(|| Box::new(BooleanQuery::new(musts)) as Box<dyn TQuery>)
    }

    fn filter_query(&self, filter: &Filter) -> Result<Box<dyn TQuery>, SearchError> {
        let s = self.index.schema();
        Ok(match filter {
            Filter::AnyOf(name, values) => {
                let field = s.get_field(name).map_err(internal)?;
                Box::new(BooleanQuery::new(
                    values
                        .iter()
                        .map(|v| {
                            (
                                Occur::Should,
                                Box::new(TermQuery::new(
                                    Term::from_field_text(field, v),
                                    IndexRecordOption::Basic,
                                )) as Box<dyn TQuery>,
                            )
                        })
                        .collect(),
                ))
            }
            Filter::AtLeast(name, min) => {
                let field = s.get_field(name).map_err(internal)?;
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_f64(field, *min)),
                    Bound::Unbounded,
                ))
            }
            Filter::Or(any) => Box::new(BooleanQuery::new(
                any.iter()
                    .map(|f| Ok((Occur::Should, self.filter_query(f)?)))
                    .collect::<Result<Vec<_>, SearchError>>()?,
            )),
        })
    }

    /// The grid cells covering a circle of `km` around `center`, as one should-query; `None`
    /// when the circle is too large for any grid (the exact filter then does all the work).
    fn cells_query(&self, center: GeoPoint, km: f64) -> Option<Box<dyn TQuery>> {
        let dlat = km / 111.0;
        let coslat = center.lat.to_radians().cos().abs().max(0.01);
        let dlon = km / (111.320 * coslat);
        for (name, size) in GEO_GRIDS.iter().rev() {
            let lat0 = ((center.lat - dlat) / size).floor() as i64;
            let lat1 = ((center.lat + dlat) / size).floor() as i64;
            let lon0 = ((center.lon - dlon) / size).floor() as i64;
            let lon1 = ((center.lon + dlon) / size).floor() as i64;
            let count = ((lat1 - lat0 + 1) * (lon1 - lon0 + 1)) as usize;
            if count > MAX_CELLS {
                continue;
            }
            let mut should: Vec<(Occur, Box<dyn TQuery>)> = Vec::with_capacity(count);
            for la in lat0..=lat1 {
                for lo in lon0..=lon1 {
                    should.push((
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(
                                self.fields.geo_cells,
                                &format!("{name}:{la}:{lo}"),
                            ),
                            IndexRecordOption::Basic,
                        )),
                    ));
                }
            }
            return Some(Box::new(BooleanQuery::new(should)));
        }
        None
    }

    fn search(&self, query: &Query) -> Result<Hits, SearchError> {
        let searcher = self.reader.searcher();
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        let text = query
            .text
            .as_deref()
            .and_then(|t| self.text_query(&searcher, t));
        let scored = text.is_some();
        if let Some(t) = text {
            clauses.push((Occur::Must, t));
        }
        for f in &query.filters {
            clauses.push((Occur::Must, self.filter_query(f)?));
        }
        if let (Some(center), Some(km)) = (query.near, query.within_km)
            && let Some(cells) = self.cells_query(center, km)
        {
            clauses.push((Occur::Must, cells));
        }
        let q: Box<dyn TQuery> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let sort = match query.sort {
            Sort::Relevance if !scored => Sort::Newest,
            Sort::Distance if query.near.is_none() => Sort::Newest,
            s => s,
        };
        let collector = TopCollector {
            want: query.offset.saturating_add(query.limit),
            sort,
            near: query.near,
            within_km: query.within_km,
            facets: query.facets.iter().map(|f| (*f).to_owned()).collect(),
        };
        let found = searcher.search(q.as_ref(), &collector).map_err(internal)?;
        Ok(Hits {
            hits: found
                .hits
                .into_iter()
                .skip(query.offset)
                .filter_map(|h| {
                    Some(Hit {
                        id: Uuid::parse_str(&h.id).ok()?,
                        distance_km: h.distance_km,
                    })
                })
                .collect(),
            total: found.total,
            facets: found.facets,
        })
    }
}

impl Embedded {
    /// Opens (or creates) both indexes under `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let mut indexes = HashMap::new();
        let mut created = Vec::new();
        for name in IndexName::ALL {
            let path: PathBuf = dir.join(name.as_str());
            let (one, fresh) = One::open(&path, name)?;
            if fresh {
                created.push(name);
            }
            indexes.insert(name, one);
        }
        Ok(Embedded { indexes, created })
    }

    /// Both indexes in memory (nothing persisted): for commands that never search.
    pub fn in_ram() -> anyhow::Result<Self> {
        let mut indexes = HashMap::new();
        for name in IndexName::ALL {
            indexes.insert(name, One::in_ram(name)?);
        }
        Ok(Embedded {
            indexes,
            created: Vec::new(),
        })
    }

    /// Indexes created empty when opened: their documents must be rebuilt from the database.
    pub fn created_empty(&self) -> &[IndexName] {
        &self.created
    }

    fn one(&self, name: IndexName) -> Result<&One, SearchError> {
        self.indexes
            .get(&name)
            .ok_or_else(|| internal(format!("no index {}", name.as_str())))
    }

    /// Upserts and deletes, committed and visible on return.
    pub fn apply(
        &self,
        name: IndexName,
        upsert: &[Document],
        delete: &[Uuid],
    ) -> Result<(), SearchError> {
        let one = self.one(name)?;
        let mut writer = one.writer.lock().map_err(internal)?;
        for id in delete.iter().chain(upsert.iter().map(|d| &d.id)) {
            writer.delete_term(Term::from_field_text(one.fields.id, &id.to_string()));
        }
        for d in upsert {
            writer.add_document(one.to_tantivy(d)?).map_err(internal)?;
        }
        writer.commit().map_err(internal)?;
        drop(writer);
        one.reader.reload().map_err(internal)
    }

    /// Removes every document of an index.
    pub fn clear(&self, name: IndexName) -> Result<(), SearchError> {
        let one = self.one(name)?;
        let mut writer = one.writer.lock().map_err(internal)?;
        writer.delete_all_documents().map_err(internal)?;
        writer.commit().map_err(internal)?;
        drop(writer);
        one.reader.reload().map_err(internal)
    }

    pub fn search(&self, name: IndexName, query: &Query) -> Result<Hits, SearchError> {
        self.one(name)?.search(query)
    }

    /// Merges segments and waits for merges: the steady state a long-running index reaches.
    pub fn optimise(&self, name: IndexName) -> Result<(), SearchError> {
        let one = self.one(name)?;
        let ids = one.index.searchable_segment_ids().map_err(internal)?;
        let mut writer = one.writer.lock().map_err(internal)?;
        if ids.len() > 1 {
            let _ = futures_lite_block_on(writer.merge(&ids));
        }
        writer.commit().map_err(internal)?;
        drop(writer);
        one.reader.reload().map_err(internal)
    }
}

/// Waits for a tantivy merge future on this (blocking) thread.
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map(|rt| rt.block_on(f))
        .unwrap_or_else(|_| panic!("a current-thread runtime always builds"))
}

/// The name of the grid cell of `size` degrees holding a position.
fn cell(name: &str, size: f64, lat: f64, lon: f64) -> String {
    format!(
        "{name}:{}:{}",
        (lat / size).floor() as i64,
        (lon / size).floor() as i64
    )
}

// ---------------------------------------------------------------------------------------------
// The collector: exact distance filter, facet counts and top hits in one pass.

struct TopCollector {
    want: usize,
    sort: Sort,
    near: Option<GeoPoint>,
    within_km: Option<f64>,
    facets: Vec<String>,
}

/// A hit candidate: bigger key first; ties by id.
#[derive(Debug, Clone)]
struct Ranked {
    key: f64,
    id: String,
    distance_km: Option<f64>,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    /// "Better" is greater: higher key, then smaller id.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| other.id.cmp(&self.id))
    }
}

struct Found {
    hits: Vec<Ranked>,
    total: u64,
    facets: BTreeMap<String, BTreeMap<String, u64>>,
}

struct SegmentTop {
    want: usize,
    sort: Sort,
    center: Option<Center>,
    ids: StrColumn,
    lat: Option<Column<f64>>,
    lon: Option<Column<f64>>,
    published: Option<Column<i64>>,
    /// Per facet: name, column, counts per term ordinal, whether single-valued.
    facets: Vec<(String, Option<StrColumn>, Vec<u64>, bool)>,
    lat_buf: Vec<Option<f64>>,
    lon_buf: Vec<Option<f64>>,
    /// Min-heap (by `Reverse`) of the best `want` candidates: (key, id order, doc). Ties on the
    /// key go to the smaller id (its term ordinal, which sorts like the id), as when segments are
    /// merged: every page of a paginated search cuts the same total order.
    heap: BinaryHeap<std::cmp::Reverse<(OrdF64, std::cmp::Reverse<u64>, DocId)>>,
    distances: HashMap<DocId, f64>,
    total: u64,
}

/// An f64 ordered totally, for the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Collector for TopCollector {
    type Fruit = Found;
    type Child = SegmentTop;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentTop> {
        let ff = reader.fast_fields();
        let ids = ff.str("id")?.ok_or_else(|| {
            tantivy::TantivyError::SchemaError("the id field is not a fast field".into())
        })?;
        let geo = self.near.is_some();
        let mut facets = Vec::new();
        for name in &self.facets {
            let col = ff.str(name)?;
            let n = col.as_ref().map(|c| c.num_terms()).unwrap_or(0);
            let single = col.as_ref().is_some_and(|c| {
                c.ords().get_cardinality() != tantivy::columnar::Cardinality::Multivalued
            });
            facets.push((name.clone(), col, vec![0u64; n], single));
        }
        Ok(SegmentTop {
            want: self.want,
            sort: self.sort,
            center: self.near.map(|p| Center::new(p, self.within_km)),
            ids,
            lat: if geo { Some(ff.f64("lat")?) } else { None },
            lon: if geo { Some(ff.f64("lon")?) } else { None },
            published: if matches!(self.sort, Sort::Newest) {
                Some(ff.i64("published_ts")?)
            } else {
                None
            },
            facets,
            lat_buf: Vec::new(),
            lon_buf: Vec::new(),
            heap: BinaryHeap::new(),
            distances: HashMap::new(),
            total: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        matches!(self.sort, Sort::Relevance)
    }

    fn merge_fruits(&self, fruits: Vec<Found>) -> tantivy::Result<Found> {
        let mut all = Vec::new();
        let mut total = 0;
        let mut facets: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for f in self.facets.iter() {
            facets.insert(f.clone(), BTreeMap::new());
        }
        for fruit in fruits {
            total += fruit.total;
            all.extend(fruit.hits);
            for (name, counts) in fruit.facets {
                let into = facets.entry(name).or_default();
                for (value, n) in counts {
                    *into.entry(value).or_default() += n;
                }
            }
        }
        all.sort_by(|a, b| b.cmp(a));
        all.truncate(self.want);
        Ok(Found {
            hits: all,
            total,
            facets,
        })
    }
}

/// The query point prepared for the haversine formula: distances are compared through
/// `a = sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)`, which grows with distance, so the arc sine is
/// only taken for the hits returned.
#[derive(Debug, Clone, Copy)]
struct Center {
    lat: f64,
    lon: f64,
    cos_lat: f64,
    /// `a` at the radius, when there is one.
    a_max: Option<f64>,
}

const EARTH_KM: f64 = 6371.0088;

impl Center {
    fn new(p: GeoPoint, within_km: Option<f64>) -> Self {
        Center {
            lat: p.lat.to_radians(),
            lon: p.lon.to_radians(),
            cos_lat: p.lat.to_radians().cos(),
            a_max: within_km.map(|km| {
                let half = (km / (2.0 * EARTH_KM)).min(std::f64::consts::FRAC_PI_2);
                half.sin().powi(2)
            }),
        }
    }

    fn a(&self, lat: f64, lon: f64) -> f64 {
        let (p2, l2) = (lat.to_radians(), lon.to_radians());
        let dp = ((p2 - self.lat) / 2.0).sin();
        let dl = ((l2 - self.lon) / 2.0).sin();
        dp * dp + self.cos_lat * p2.cos() * dl * dl
    }

    fn km(a: f64) -> f64 {
        2.0 * EARTH_KM * a.sqrt().min(1.0).asin()
    }
}

impl SegmentTop {
    fn consider(&mut self, doc: DocId, score: Score, position: Option<(f64, f64)>) {
        let mut hav = None;
        if let Some(center) = self.center {
            match position {
                Some((la, lo)) => {
                    let a = center.a(la, lo);
                    if center.a_max.is_some_and(|max| a > max) {
                        return;
                    }
                    hav = Some(a);
                }
                // Without a position a document cannot be within a radius.
                None if center.a_max.is_some() => return,
                None => {}
            }
        }
        self.total += 1;
        for (_, col, counts, single) in &mut self.facets {
            if let Some(col) = col {
                if *single {
                    if let Some(ord) = col.ords().first(doc)
                        && let Some(c) = counts.get_mut(ord as usize)
                    {
                        *c += 1;
                    }
                } else {
                    for ord in col.term_ords(doc) {
                        if let Some(c) = counts.get_mut(ord as usize) {
                            *c += 1;
                        }
                    }
                }
            }
        }
        let key = match self.sort {
            Sort::Relevance => f64::from(score),
            // Documents without a position sort last.
            Sort::Distance => -hav.unwrap_or(f64::MAX),
            Sort::Newest => self
                .published
                .as_ref()
                .and_then(|c| c.first(doc))
                .unwrap_or(0) as f64,
        };
        if self.want == 0 {
            return;
        }
        let rank = (
            OrdF64(key),
            std::cmp::Reverse(self.ids.term_ords(doc).next().unwrap_or(u64::MAX)),
        );
        let entry = std::cmp::Reverse((rank.0, rank.1, doc));
        if self.heap.len() < self.want {
            self.heap.push(entry);
        } else if self.heap.peek().is_some_and(|worst| {
            let std::cmp::Reverse((k, o, _)) = worst;
            rank > (*k, *o)
        }) {
            if let Some(std::cmp::Reverse((_, _, evicted))) = self.heap.pop() {
                self.distances.remove(&evicted);
            }
            self.heap.push(entry);
        } else {
            return;
        }
        if let Some(a) = hav {
            self.distances.insert(doc, a);
        }
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Found;

    fn collect(&mut self, doc: DocId, score: Score) {
        let position = match (&self.lat, &self.lon) {
            (Some(lat), Some(lon)) => lat.first(doc).zip(lon.first(doc)),
            _ => None,
        };
        self.consider(doc, score, position);
    }

    /// Without scores, documents come in blocks: positions are read in batches.
    fn collect_block(&mut self, docs: &[DocId]) {
        if let (Some(lat), Some(lon)) = (&self.lat, &self.lon) {
            self.lat_buf.resize(docs.len(), None);
            self.lon_buf.resize(docs.len(), None);
            lat.first_vals(docs, &mut self.lat_buf);
            lon.first_vals(docs, &mut self.lon_buf);
            for (i, doc) in docs.iter().enumerate() {
                let position = self.lat_buf[i].zip(self.lon_buf[i]);
                self.consider(*doc, 0.0, position);
            }
        } else {
            for doc in docs {
                self.consider(*doc, 0.0, None);
            }
        }
    }

    fn harvest(self) -> Found {
        let mut hits = Vec::with_capacity(self.heap.len());
        let mut buf = String::new();
        for std::cmp::Reverse((OrdF64(key), _, doc)) in self.heap {
            buf.clear();
            let Some(ord) = self.ids.term_ords(doc).next() else {
                continue;
            };
            if !matches!(self.ids.ord_to_str(ord, &mut buf), Ok(true)) {
                continue;
            }
            hits.push(Ranked {
                key,
                id: buf.clone(),
                distance_km: self.distances.get(&doc).map(|a| Center::km(*a)),
            });
        }
        let mut facets = BTreeMap::new();
        for (name, col, counts, _) in self.facets {
            let mut values = BTreeMap::new();
            if let Some(col) = col {
                for (ord, n) in counts.into_iter().enumerate() {
                    if n == 0 {
                        continue;
                    }
                    buf.clear();
                    if matches!(col.ord_to_str(ord as u64, &mut buf), Ok(true)) {
                        values.insert(buf.clone(), n);
                    }
                }
            }
            facets.insert(name, values);
        }
        Found {
            hits,
            total: self.total,
            facets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(title: &str, category: &str, ram: f64, at: (f64, f64), ts: i64) -> Document {
        Document {
            id: Uuid::now_v7(),
            title: title.into(),
            body: "Atelier du Loir-et-Cher".into(),
            keywords: vec![
                ("category", vec![category.into()]),
                ("departement", vec!["41".into()]),
            ],
            numbers: vec![("ram_gb", ram)],
            location: Some(GeoPoint {
                lat: at.0,
                lon: at.1,
            }),
            published_ts: ts,
        }
    }

    fn ids(h: &Hits) -> Vec<Uuid> {
        h.hits.iter().map(|h| h.id).collect()
    }

    #[test]
    fn text_is_folded_stemmed_and_typo_tolerant_and_filters_hold() {
        let dir = tempfile::tempdir().expect("dir");
        let e = Embedded::open(dir.path()).expect("open");
        assert_eq!(e.created_empty().len(), 2);
        let laptop = doc(
            "Ordinateur portable Dell Latitude",
            "laptop",
            8.0,
            (47.59, 1.33),
            1,
        );
        let screen = doc("Écran Dell 24 pouces", "monitor", 0.0, (48.85, 2.35), 2);
        let desktop = doc("Ordinateurs fixes HP", "desktop", 16.0, (47.39, 0.68), 3);
        e.apply(
            IndexName::Catalogue,
            &[laptop.clone(), screen.clone(), desktop.clone()],
            &[],
        )
        .expect("apply");
        let q = |text: &str| Query {
            text: Some(text.into()),
            ..Query::all(10)
        };
        let found = e
            .search(IndexName::Catalogue, &q("ordinatuer portable"))
            .expect("s");
        assert_eq!(ids(&found), vec![laptop.id]);
        let found = e.search(IndexName::Catalogue, &q("ecran")).expect("s");
        assert_eq!(ids(&found), vec![screen.id]);
        // Stemming: the singular finds the plural.
        let found = e
            .search(IndexName::Catalogue, &q("ordinateur fixe"))
            .expect("s");
        assert_eq!(ids(&found), vec![desktop.id]);
        // Prefix of the last word, as typed on a phone.
        let found = e.search(IndexName::Catalogue, &q("lati")).expect("s");
        assert_eq!(ids(&found), vec![laptop.id]);
        // Numeric filter, facets, distance.
        let mut near = Query {
            filters: vec![Filter::AtLeast("ram_gb", 8.0)],
            near: Some(GeoPoint {
                lat: 47.59,
                lon: 1.33,
            }),
            within_km: Some(60.0),
            sort: Sort::Distance,
            facets: vec!["category"],
            ..Query::all(10)
        };
        let found = e.search(IndexName::Catalogue, &near).expect("s");
        assert_eq!(ids(&found), vec![laptop.id, desktop.id]);
        assert_eq!(found.total, 2);
        assert_eq!(found.facets["category"]["laptop"], 1);
        assert_eq!(found.facets["category"]["desktop"], 1);
        assert!(!found.facets["category"].contains_key("monitor"));
        near.within_km = Some(10.0);
        let found = e.search(IndexName::Catalogue, &near).expect("s");
        assert_eq!(ids(&found), vec![laptop.id]);
        // Newest first, pagination, deletion.
        let mut all = Query::all(2);
        all.sort = Sort::Newest;
        let found = e.search(IndexName::Catalogue, &all).expect("s");
        assert_eq!(ids(&found), vec![desktop.id, screen.id]);
        all.offset = 2;
        let found = e.search(IndexName::Catalogue, &all).expect("s");
        assert_eq!(ids(&found), vec![laptop.id]);
        e.apply(IndexName::Catalogue, &[], &[laptop.id])
            .expect("delete");
        let found = e.search(IndexName::Catalogue, &Query::all(10)).expect("s");
        assert_eq!(found.total, 2);
        // Reopening keeps the documents.
        drop(e);
        let e = Embedded::open(dir.path()).expect("reopen");
        assert!(e.created_empty().is_empty());
        let found = e.search(IndexName::Catalogue, &Query::all(10)).expect("s");
        assert_eq!(found.total, 2);
    }

    #[test]
    fn pages_of_tied_documents_cut_one_total_order() {
        let dir = tempfile::tempdir().expect("dir");
        let e = Embedded::open(dir.path()).expect("open");
        let mut all = Vec::new();
        // Five commits (five segments), every document published at the same instant.
        for _ in 0..5 {
            let batch: Vec<Document> = (0..3)
                .map(|_| doc("Ordinateur portable", "laptop", 8.0, (47.59, 1.33), 42))
                .collect();
            all.extend(batch.iter().map(|d| d.id));
            e.apply(IndexName::Catalogue, &batch, &[]).expect("apply");
        }
        let mut seen = Vec::new();
        for offset in 0..all.len() {
            let q = Query {
                sort: Sort::Newest,
                offset,
                ..Query::all(1)
            };
            seen.extend(ids(&e.search(IndexName::Catalogue, &q).expect("search")));
        }
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(seen, expected, "ties ordered by id, each document once");
    }
}
