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
const SCHEMA_VERSION: &str = "1";
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
    b.add_f64_field("lat", INDEXED | FAST);
    b.add_f64_field("lon", INDEXED | FAST);
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

    fn text_query(&self, text: &str) -> Option<Box<dyn TQuery>> {
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
            let mut should: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
            for (field, boost) in [(f.title, 2.0), (f.body, 1.0)] {
                let q = TermQuery::new(
                    Term::from_field_text(field, &stem),
                    IndexRecordOption::WithFreqs,
                );
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
            for (field, boost) in [(f.title_raw, 1.5), (f.body_raw, 0.8)] {
                let term = Term::from_field_text(field, &raw);
                let fuzzy = if i == last {
                    FuzzyTermQuery::new_prefix(term, typos, true)
                } else {
                    FuzzyTermQuery::new(term, typos, true)
                };
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(fuzzy), boost)),
                ));
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

    /// A bounding box around `center` large enough to hold a circle of `km`.
    fn bbox(&self, center: GeoPoint, km: f64) -> Vec<(Occur, Box<dyn TQuery>)> {
        let dlat = km / 111.0;
        let coslat = center.lat.to_radians().cos().abs().max(0.01);
        let dlon = (km / (111.320 * coslat)).min(180.0);
        let range = |field: Field, lo: f64, hi: f64| -> Box<dyn TQuery> {
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_f64(field, lo)),
                Bound::Included(Term::from_field_f64(field, hi)),
            ))
        };
        let mut out = vec![(
            Occur::Must,
            range(self.fields.lat, center.lat - dlat, center.lat + dlat),
        )];
        // Near the antimeridian the longitude band wraps: leave it to the exact filter.
        if center.lon - dlon >= -180.0 && center.lon + dlon <= 180.0 {
            out.push((
                Occur::Must,
                range(self.fields.lon, center.lon - dlon, center.lon + dlon),
            ));
        }
        out
    }

    fn search(&self, query: &Query) -> Result<Hits, SearchError> {
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        let text = query.text.as_deref().and_then(|t| self.text_query(t));
        let scored = text.is_some();
        if let Some(t) = text {
            clauses.push((Occur::Must, t));
        }
        for f in &query.filters {
            clauses.push((Occur::Must, self.filter_query(f)?));
        }
        if let (Some(center), Some(km)) = (query.near, query.within_km) {
            clauses.extend(self.bbox(center, km));
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
        let searcher = self.reader.searcher();
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
    near: Option<GeoPoint>,
    within_km: Option<f64>,
    ids: StrColumn,
    lat: Option<Column<f64>>,
    lon: Option<Column<f64>>,
    published: Option<Column<i64>>,
    facets: Vec<(String, Option<StrColumn>, Vec<u64>)>,
    /// Min-heap (by `Reverse`) of the best `want` candidates: (key, doc, distance).
    heap: BinaryHeap<std::cmp::Reverse<(OrdF64, DocId)>>,
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
            facets.push((name.clone(), col, vec![0u64; n]));
        }
        Ok(SegmentTop {
            want: self.want,
            sort: self.sort,
            near: self.near,
            within_km: self.within_km,
            ids,
            lat: if geo { Some(ff.f64("lat")?) } else { None },
            lon: if geo { Some(ff.f64("lon")?) } else { None },
            published: if matches!(self.sort, Sort::Newest) {
                Some(ff.i64("published_ts")?)
            } else {
                None
            },
            facets,
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

impl SegmentCollector for SegmentTop {
    type Fruit = Found;

    fn collect(&mut self, doc: DocId, score: Score) {
        let mut distance = None;
        if let (Some(center), Some(lat), Some(lon)) = (self.near, &self.lat, &self.lon) {
            match (lat.first(doc), lon.first(doc)) {
                (Some(la), Some(lo)) => {
                    let d = center.distance_km(GeoPoint { lat: la, lon: lo });
                    if self.within_km.is_some_and(|km| d > km) {
                        return;
                    }
                    distance = Some(d);
                }
                // Without a position a document cannot be within a radius.
                _ if self.within_km.is_some() => return,
                _ => {}
            }
        }
        self.total += 1;
        for (_, col, counts) in &mut self.facets {
            if let Some(col) = col {
                for ord in col.term_ords(doc) {
                    if let Some(c) = counts.get_mut(ord as usize) {
                        *c += 1;
                    }
                }
            }
        }
        let key = match self.sort {
            Sort::Relevance => f64::from(score),
            // Documents without a position sort last.
            Sort::Distance => -distance.unwrap_or(f64::MAX),
            Sort::Newest => self
                .published
                .as_ref()
                .and_then(|c| c.first(doc))
                .unwrap_or(0) as f64,
        };
        if self.want == 0 {
            return;
        }
        let entry = std::cmp::Reverse((OrdF64(key), doc));
        if self.heap.len() < self.want {
            self.heap.push(entry);
        } else if self.heap.peek().is_some_and(|worst| {
            let std::cmp::Reverse((k, _)) = worst;
            OrdF64(key) > *k
        }) {
            if let Some(std::cmp::Reverse((_, evicted))) = self.heap.pop() {
                self.distances.remove(&evicted);
            }
            self.heap.push(entry);
        } else {
            return;
        }
        if let Some(d) = distance {
            self.distances.insert(doc, d);
        }
    }

    fn harvest(self) -> Found {
        let mut hits = Vec::with_capacity(self.heap.len());
        let mut buf = String::new();
        for std::cmp::Reverse((OrdF64(key), doc)) in self.heap {
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
                distance_km: self.distances.get(&doc).copied(),
            });
        }
        let mut facets = BTreeMap::new();
        for (name, col, counts) in self.facets {
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
}
