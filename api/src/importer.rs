//! The inventory import engine: reads a CSV file from disk in bounded memory (streaming,
//! transcoding Windows-1252 on the fly), validates every row, then writes devices in batches
//! inside one transaction, committed only when the import is all valid (or `partial`) and not a
//! dry run. Used by `POST /v1/items/import` (directly or as a background job) and by the bench.
//!
//! Memory stays flat in the file's size: a record is at most [`MAX_RECORD_BYTES`], a file at most
//! `max_rows` rows, the report keeps the first [`REJECTIONS_SHOWN`] rejections with counts per
//! code, and the full list beyond goes to a CSV file, stored as a blob.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;
use reemploi_domain::audit::{
    ChainedEvent, DeviceState, GENESIS_HASH, HASH_VERSION, canonical_json, event_hash,
};
use reemploi_domain::import::{self as imp, DuplicateTracker, HeaderMap, ImportRow, RowError};
use reemploi_domain::lifecycle::ItemStatus;
use reemploi_domain::workshop::{MediumSource, medium_key};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect,
};
use uuid::Uuid;

use crate::blobs::Blobs;
use crate::commands::transitions::item_stream;
use crate::csv_out::{CsvOut, Dialect};
use crate::store::entities::{event, event_stream, item, storage_medium};
use crate::store::events::{self as store_events, NewEvent};
use crate::store::import_stage as stage;
use crate::store::items::{
    ItemFields, JobOutcome, JobRun, MediumDecl, finish_job, medium_row, new_item,
    registered_payload, replace_storage_media, set_fields, stored_cpu,
};
use crate::store::tx::Tx;
use crate::store::{self, begin_write};

/// Rows written per statement.
const BATCH: usize = 500;

/// Rejections kept in a report (and in a job's result); the full list goes to a blob beyond.
pub const REJECTIONS_SHOWN: usize = 1000;

/// Longest record (one row, its quoted line breaks included), in bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The message of the IO error raised on a record longer than [`MAX_RECORD_BYTES`].
const RECORD_TOO_LONG: &str = "record too long";

/// What to import and how (kept as JSON with a background job, to run it again elsewhere).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImportOptions {
    pub organisation_id: Uuid,
    pub actor_ref: String,
    /// Validate and count, write nothing.
    pub dry_run: bool,
    /// Import the valid rows even when others are rejected.
    pub partial: bool,
    pub today: NaiveDate,
    /// Most data rows a file may hold (`REEMPLOI_IMPORT_MAX_ROWS`).
    pub max_rows: u64,
    /// Write in one transaction even on SQLite, without staging: only the benchmark's
    /// baseline sets it.
    #[serde(default, skip_serializing)]
    pub one_transaction: bool,
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: u64,
    pub column: Option<String>,
    pub code: String,
    pub message_fr: String,
    pub message_en: String,
}

impl From<&RowError> for Rejected {
    fn from(e: &RowError) -> Self {
        Self {
            line: e.line,
            column: e.column.clone(),
            code: e.reason.code().to_owned(),
            message_fr: e.reason.message_fr(),
            message_en: e.reason.message_en(),
        }
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Data rows read (the header excluded, blank lines skipped).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// The first [`REJECTIONS_SHOWN`] rejections, in file order.
    pub rejected: Vec<Rejected>,
    /// How many rows were rejected in all.
    pub rejected_total: u64,
    /// Rejections per reason code.
    pub rejected_by_code: BTreeMap<String, u64>,
    /// The blob holding every rejection as CSV, when there are more than [`REJECTIONS_SHOWN`].
    pub rejections_blob: Option<String>,
    /// Whether the changes were written.
    pub committed: bool,
    pub dry_run: bool,
}

/// Why a whole file is refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error("header: {}", .0.message_en())]
    Header(imp::HeaderError),
    #[error("the file is empty")]
    Empty,
    #[error("more than {max} rows")]
    TooManyRows { max: u64 },
    #[error("line {line}: a record is longer than {MAX_RECORD_BYTES} bytes")]
    RecordTooLong { line: u64 },
    /// Another writer created or changed a device this import writes, while it ran: nothing
    /// was written.
    #[error("the inventory changed during the import")]
    Conflict,
    /// The job's lease ran out and another instance took it over: this run wrote nothing.
    #[error("the job was taken over by another instance")]
    Superseded,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::error::ApiError> for ImportFailure {
    fn from(e: crate::error::ApiError) -> Self {
        ImportFailure::Other(e.into())
    }
}

impl From<sea_orm::DbErr> for ImportFailure {
    fn from(e: sea_orm::DbErr) -> Self {
        ImportFailure::Other(e.into())
    }
}

/// Encodings the reader knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    Windows1252,
}

/// Decides the encoding by scanning the file once in chunks (valid UTF-8 or not).
fn sniff_encoding(path: &Path) -> anyhow::Result<Encoding> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(if carry.is_empty() {
                Encoding::Utf8
            } else {
                Encoding::Windows1252
            });
        }
        let mut chunk = std::mem::take(&mut carry);
        chunk.extend_from_slice(&buf[..n]);
        if first && chunk.starts_with(b"\xEF\xBB\xBF") {
            return Ok(Encoding::Utf8);
        }
        first = false;
        match std::str::from_utf8(&chunk) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => carry = chunk[e.valid_up_to()..].to_vec(),
            Err(_) => return Ok(Encoding::Windows1252),
        }
    }
}

/// A reader yielding UTF-8: the BOM removed, Windows-1252 transcoded byte by byte, and CRLF
/// turned into LF (so that the CSV reader counts lines as people do).
struct Utf8Reader<R> {
    inner: R,
    encoding: Encoding,
    pending: Vec<u8>,
    pos: usize,
    started: bool,
    /// A carriage return held back until we know whether a line feed follows.
    held_cr: bool,
    /// Inside a quoted field (a line feed there does not end the record).
    quoted: bool,
    /// Bytes of the current record so far.
    record: usize,
    /// Line feeds seen, to name the line of a record too long.
    lines: u64,
    /// The line the current record started on.
    record_line: u64,
    /// Set once a record was too long: every later read fails.
    too_long: bool,
}

impl<R> Utf8Reader<R> {
    fn new(inner: R, encoding: Encoding) -> Self {
        Self {
            inner,
            encoding,
            pending: Vec::new(),
            pos: 0,
            started: false,
            held_cr: false,
            quoted: false,
            record: 0,
            lines: 0,
            record_line: 1,
            too_long: false,
        }
    }

    /// Counts `b` into the current record; false once the record is over the limit.
    fn measure(&mut self, b: u8) -> bool {
        match b {
            b'"' => self.quoted = !self.quoted,
            b'\n' => {
                self.lines += 1;
                if !self.quoted {
                    self.record = 0;
                    self.record_line = self.lines + 1;
                    return true;
                }
            }
            _ => {}
        }
        self.record += 1;
        self.record <= MAX_RECORD_BYTES
    }

    fn push(&mut self, b: u8) {
        if self.held_cr {
            self.held_cr = false;
            if b != b'\n' {
                self.pending.push(b'\r');
            }
        }
        if b == b'\r' {
            self.held_cr = true;
        } else {
            self.pending.push(b);
        }
    }
}

impl<R: Read> Read for Utf8Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.too_long {
            return Err(std::io::Error::other(RECORD_TOO_LONG));
        }
        if self.pos >= self.pending.len() {
            let mut raw = [0u8; 16 * 1024];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                if self.held_cr {
                    self.held_cr = false;
                    out[0] = b'\r';
                    return Ok(1);
                }
                return Ok(0);
            }
            let mut raw = &raw[..n];
            if !self.started {
                self.started = true;
                if raw.starts_with(b"\xEF\xBB\xBF") {
                    raw = &raw[3..];
                }
            }
            self.pending.clear();
            self.pos = 0;
            let mut tmp = [0u8; 4];
            for &b in raw {
                match self.encoding {
                    Encoding::Utf8 => self.push(b),
                    Encoding::Windows1252 => {
                        for &u in imp::windows_1252(b).encode_utf8(&mut tmp).as_bytes() {
                            self.push(u);
                        }
                    }
                }
            }
            for i in 0..self.pending.len() {
                if !self.measure(self.pending[i]) {
                    self.too_long = true;
                    return Err(std::io::Error::other(format!(
                        "{RECORD_TOO_LONG} at line {}",
                        self.record_line
                    )));
                }
            }
            if self.pending.is_empty() {
                // Only a held carriage return so far: read on.
                return self.read(out);
            }
        }
        let n = out.len().min(self.pending.len() - self.pos);
        out[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn open_csv(path: &Path) -> anyhow::Result<csv::Reader<Utf8Reader<BufReader<File>>>> {
    let encoding = sniff_encoding(path)?;
    // The delimiter is read from the first line.
    let mut head = Utf8Reader::new(BufReader::new(File::open(path)?), encoding);
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    // Bytes one at a time over a buffered reader: only the first line is read.
    while first.len() < 64 * 1024 && head.read(&mut byte)? == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    let delimiter = imp::detect_delimiter(&String::from_utf8_lossy(&first));
    let reader = Utf8Reader::new(BufReader::new(File::open(path)?), encoding);
    Ok(csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(reader))
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|f| f.trim().is_empty())
}

/// A failed read: a record over [`MAX_RECORD_BYTES`] says so, anything else is internal.
fn read_failure(e: csv::Error, what: &'static str) -> ImportFailure {
    if let csv::ErrorKind::Io(io) = e.kind() {
        let message = io.to_string();
        if let Some(at) = message.strip_prefix(RECORD_TOO_LONG) {
            let line = at
                .trim()
                .trim_start_matches("at line")
                .trim()
                .parse()
                .unwrap_or(0);
            return ImportFailure::RecordTooLong { line };
        }
    }
    ImportFailure::Other(anyhow::Error::from(e).context(what))
}

/// Reads up to the header (the first non-blank record) and maps it.
fn read_header(
    reader: &mut csv::Reader<Utf8Reader<BufReader<File>>>,
    record: &mut csv::StringRecord,
) -> Result<HeaderMap, ImportFailure> {
    loop {
        if !reader
            .read_record(record)
            .map_err(|e| read_failure(e, "reading the header"))?
        {
            return Err(ImportFailure::Empty);
        }
        if !is_blank(record) {
            let fields: Vec<&str> = record.iter().collect();
            return HeaderMap::from_headers(&fields).map_err(ImportFailure::Header);
        }
    }
}

/// Checks the header and counts the data rows, refusing a file of more than `max_rows`.
fn count_rows(path: &Path, max_rows: u64) -> Result<u64, ImportFailure> {
    let mut reader = open_csv(path)?;
    let mut record = csv::StringRecord::new();
    read_header(&mut reader, &mut record)?;
    let mut rows = 0u64;
    while reader
        .read_record(&mut record)
        .map_err(|e| read_failure(e, "reading the file"))?
    {
        if !is_blank(&record) {
            rows += 1;
            if rows > max_rows {
                return Err(ImportFailure::TooManyRows { max: max_rows });
            }
        }
    }
    Ok(rows)
}

/// Reads the header and hands each data row (parsed or rejected) to `each`.
fn scan(
    path: &Path,
    today: NaiveDate,
    mut each: impl FnMut(Result<ImportRow, RowError>) -> anyhow::Result<()>,
) -> Result<u64, ImportFailure> {
    let mut reader = open_csv(path)?;
    let mut record = csv::StringRecord::new();
    let headers = read_header(&mut reader, &mut record)?;
    let mut duplicates = DuplicateTracker::new(&headers);
    let mut rows = 0u64;
    while reader
        .read_record(&mut record)
        .map_err(|e| read_failure(e, "reading the file"))?
    {
        if is_blank(&record) {
            continue;
        }
        rows += 1;
        let line = record.position().map_or(rows + 1, |p| p.line());
        let fields: Vec<&str> = record.iter().collect();
        let parsed = imp::parse_row(&headers, &fields, line, today)
            .and_then(|row| duplicates.check(&row).map(|()| row));
        each(parsed)?;
    }
    Ok(rows)
}

/// Where rejections go, in file order: the first [`REJECTIONS_SHOWN`] into the report, counts
/// per code, and, once there are more, every one of them into a CSV file beside the upload.
struct Rejections {
    shown: Vec<Rejected>,
    total: u64,
    by_code: BTreeMap<String, u64>,
    spill_path: std::path::PathBuf,
    spill: Option<CsvOut<std::io::BufWriter<File>>>,
}

/// The columns of the full list of rejections.
const REJECTION_COLUMNS: &[&str] = &["ligne", "colonne", "code", "motif"];

impl Rejections {
    fn new(spill_path: std::path::PathBuf) -> Self {
        Self {
            shown: Vec::new(),
            total: 0,
            by_code: BTreeMap::new(),
            spill_path,
            spill: None,
        }
    }

    fn write(out: &mut CsvOut<std::io::BufWriter<File>>, r: &Rejected) {
        out.num(r.line)
            .text(r.column.as_deref().unwrap_or_default())
            .text(&r.code)
            .text(&r.message_fr)
            .end_row();
    }

    fn push(&mut self, r: Rejected) -> anyhow::Result<()> {
        self.total += 1;
        match self.by_code.get_mut(&r.code) {
            Some(n) => *n += 1,
            None => {
                self.by_code.insert(r.code.clone(), 1);
            }
        }
        if self.shown.len() < REJECTIONS_SHOWN {
            self.shown.push(r);
            return Ok(());
        }
        if self.spill.is_none() {
            let file = File::create(&self.spill_path).context("creating the rejections file")?;
            let mut out = CsvOut::to_writer(
                std::io::BufWriter::new(file),
                Dialect::Spreadsheet,
                REJECTION_COLUMNS,
            );
            for shown in &self.shown {
                Self::write(&mut out, shown);
            }
            self.spill = Some(out);
        }
        if let Some(out) = self.spill.as_mut() {
            Self::write(out, &r);
        }
        Ok(())
    }

    /// Fills the report's rejections; stores the full list as a blob when it was spilled.
    async fn finish(
        self,
        blobs: &Blobs,
        organisation_id: Uuid,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        report.rejected = self.shown;
        report.rejected_total = self.total;
        report.rejected_by_code = self.by_code;
        let Some(out) = self.spill else {
            return Ok(());
        };
        let flushed = out.into_inner().and_then(|mut w| {
            use std::io::Write;
            w.flush()
        });
        let key = format!(
            "{organisation_id}/imports/{}-rejets.csv",
            crate::store::new_id()
        );
        let stored = match flushed {
            Ok(()) => blobs
                .put_file(&key, &self.spill_path, "text/csv; charset=utf-8")
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e)),
        };
        let _ = tokio::fs::remove_file(&self.spill_path).await;
        stored.context("storing the rejections")?;
        report.rejections_blob = Some(key);
        Ok(())
    }
}

/// What the reading pass hands the writer: a row to write, or a rejection, in file order.
type Entry = Result<(u64, ItemFields), Rejected>;

fn fields_of(row: ImportRow) -> ItemFields {
    ItemFields {
        inventory_number: row.inventory_number,
        category: row.category,
        brand: row.brand,
        model: row.model,
        serial_number: row.serial,
        name: row.name,
        location: row.location,
        donor_status: row.donor_status,
        specs: row.specs,
        has_data_storage: row.has_data_storage,
        acquisition_date: row.acquisition_date,
        acquisition_value_cents: row.acquisition_value_cents,
        net_book_value_cents: row.net_book_value_cents,
        condition_notes: row.condition_notes,
        storage_media: row.storage_media.map(|media| {
            media
                .into_iter()
                .map(|m| MediumDecl {
                    serial: m.serial,
                    medium_type: m.medium_type,
                    capacity_gb: None,
                })
                .collect()
        }),
    }
}

/// Whether the stored media are exactly those `f` declares (or `f` says nothing of them).
fn same_media(stored: &[storage_medium::Model], f: &ItemFields) -> bool {
    let Some(media) = &f.storage_media else {
        return true;
    };
    let mut a: Vec<String> = stored.iter().map(|m| m.serial_key.clone()).collect();
    let mut b: Vec<String> = media.iter().map(|m| medium_key(&m.serial)).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Whether the stored device already holds exactly these fields.
fn same(m: &item::Model, media: &[storage_medium::Model], f: &ItemFields) -> bool {
    let cpu = stored_cpu(f);
    same_media(media, f)
        && m.category == f.category.as_str()
        && m.brand == f.brand
        && m.model == f.model
        && m.serial_number == f.serial_number
        && m.name == f.name
        && m.location == f.location
        && m.donor_status == f.donor_status
        && m.cpu == cpu
        && m.ram_gb == f.specs.ram_gb
        && m.storage_gb == f.specs.storage_gb
        && m.storage_kind.as_deref() == f.specs.storage_kind.map(|k| k.as_str())
        && m.screen_inches == f.specs.screen_inches
        && m.battery_health_percent == f.specs.battery_health_percent
        && m.has_data_storage == f.has_data_storage
        && m.acquisition_date == f.acquisition_date
        && m.acquisition_value_cents == f.acquisition_value_cents
        && m.net_book_value_cents == f.net_book_value_cents
        && m.condition_notes == f.condition_notes
}

/// Writes one batch: new devices in bulk with the first event of their chains; changed devices
/// one by one; devices no longer in the inventory are rejected.
async fn write_batch<R: ConnectionTrait>(
    reader: &R,
    sink: Sink<'_>,
    ctx: &PassContext<'_>,
    batch: Vec<Entry>,
    report: &mut Report,
    rejections: &mut Rejections,
) -> anyhow::Result<()> {
    let PassContext {
        opts,
        known,
        inventory_header,
    } = *ctx;
    // Devices that existed before this import are fetched by primary key: a lookup by number
    // would be planned against statistics that ignore the rows this transaction just wrote.
    let ids: Vec<Uuid> = batch
        .iter()
        .filter_map(|entry| entry.as_ref().ok())
        .filter_map(|(_, f)| known.get(f.inventory_number.as_str()).copied())
        .collect();
    let existing: HashMap<String, item::Model> = if ids.is_empty() {
        HashMap::new()
    } else {
        item::Entity::find()
            .filter(item::Column::Id.is_in(ids))
            .all(reader)
            .await?
            .into_iter()
            .map(|m| (m.inventory_number.clone(), m))
            .collect()
    };
    let mut stored_media: HashMap<Uuid, Vec<storage_medium::Model>> = HashMap::new();
    if !existing.is_empty() {
        for medium in storage_medium::Entity::find()
            .filter(storage_medium::Column::ItemId.is_in(existing.values().map(|m| m.id)))
            .all(reader)
            .await?
        {
            stored_media.entry(medium.item_id).or_default().push(medium);
        }
    }
    let mut new_media = Vec::new();
    let now = store::now();
    let occurred_at = now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let mut new_items = Vec::new();
    let mut new_events = Vec::new();
    let mut new_heads = Vec::new();
    let mut updates = Vec::new();
    for entry in batch {
        let (line, f) = match entry {
            Ok(row) => row,
            Err(rejected) => {
                rejections.push(rejected)?;
                continue;
            }
        };
        match existing.get(f.inventory_number.as_str()) {
            None => {
                let am = new_item(opts.organisation_id, &f, now);
                let id = *am.id.as_ref();
                let stream = item_stream(id);
                let payload = registered_payload(opts.organisation_id, &f, am.public_code.as_ref());
                let state = DeviceState {
                    status: am.status.as_ref().clone(),
                    owner_id: am.owner_id.as_ref().to_string(),
                    custodian_id: am.custodian_id.as_ref().to_string(),
                }
                .to_json();
                let org = opts.organisation_id.to_string();
                let hash = event_hash(&ChainedEvent {
                    version: HASH_VERSION,
                    stream: &stream,
                    seq: 1,
                    kind: "item_registered",
                    occurred_at: &occurred_at,
                    actor: &opts.actor_ref,
                    organisation_id: Some(&org),
                    payload: &payload,
                    state: Some(&state),
                    prev_hash: GENESIS_HASH,
                });
                new_events.push(event::ActiveModel {
                    id: Set(store::new_id()),
                    stream: Set(stream.clone()),
                    seq: Set(1),
                    organisation_id: Set(Some(opts.organisation_id)),
                    actor: Set(opts.actor_ref.clone()),
                    kind: Set("item_registered".to_owned()),
                    payload: Set(canonical_json(&payload)),
                    occurred_at: Set(occurred_at.clone()),
                    prev_hash: Set(GENESIS_HASH.to_owned()),
                    hash: Set(hash.clone()),
                    hash_version: Set(HASH_VERSION),
                    state: Set(Some(canonical_json(&state))),
                });
                new_heads.push(event_stream::ActiveModel { stream: Set(stream), last_seq: Set(1), last_hash: Set(hash) });
                for medium in f.storage_media.iter().flatten() {
                    new_media.push(medium_row(id, medium, MediumSource::Import, &opts.actor_ref, now));
                }
                new_items.push(am);
                report.created += 1;
            }
            Some(m) if same(m, stored_media.get(&m.id).map_or(&[], Vec::as_slice), &f) => {
                report.unchanged += 1
            }
            Some(m) if m.status == ItemStatus::Inventoried.as_str() => {
                match sink {
                    Sink::Direct(txn) => apply_update(txn, opts, m, &f, now).await?,
                    Sink::Staged(_) => updates.push(stage::StagedUpdate {
                        line,
                        id: m.id,
                        version: m.version,
                        fields: f,
                    }),
                }
                report.updated += 1;
            }
            Some(m) => rejections.push(Rejected {
                line,
                column: Some(inventory_header.to_owned()),
                code: "item_not_editable".to_owned(),
                message_fr: format!("L'équipement {} n'est plus à l'inventaire (statut « {} ») : il ne peut pas être modifié.", m.inventory_number, m.status),
                message_en: format!("Device {} is no longer in the inventory (status `{}`): it cannot be changed.", m.inventory_number, m.status),
            })?,
        }
    }
    let txn = match sink {
        Sink::Staged(stage) => {
            return stage
                .batch(new_items, new_events, new_heads, new_media, updates)
                .await;
        }
        Sink::Direct(txn) => txn,
    };
    if !new_items.is_empty() {
        item::Entity::insert_many(new_items)
            .exec_without_returning(txn)
            .await?;
        event::Entity::insert_many(new_events)
            .exec_without_returning(txn)
            .await?;
        event_stream::Entity::insert_many(new_heads)
            .exec_without_returning(txn)
            .await?;
    }
    if !new_media.is_empty() {
        storage_medium::Entity::insert_many(new_media)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Applies the change of an existing device `m` (still in the inventory) to `f`, with its event.
async fn apply_update(
    txn: &Tx,
    opts: &ImportOptions,
    m: &item::Model,
    f: &ItemFields,
    now: store::Timestamp,
) -> anyhow::Result<()> {
    let mut am: item::ActiveModel = Default::default();
    set_fields(&mut am, f);
    am.version = Set(m.version + 1);
    am.updated_at = Set(now);
    item::Entity::update_many()
        .set(am)
        .filter(item::Column::Id.eq(m.id))
        .exec(txn)
        .await?;
    if let Some(media) = &f.storage_media {
        replace_storage_media(txn, m.id, media, MediumSource::Import, &opts.actor_ref, now).await?;
    }
    store_events::append(
        txn,
        NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(opts.organisation_id),
            actor: opts.actor_ref.clone(),
            kind: "item_updated",
            payload: serde_json::json!({ "organisation_id": opts.organisation_id, "version": m.version + 1, "source": "import" }),
        },
    )
    .await?;
    Ok(())
}

/// What every batch of the writing pass reads.
#[derive(Clone, Copy)]
struct PassContext<'a> {
    opts: &'a ImportOptions,
    /// The body's inventory numbers before the import, with their devices.
    known: &'a HashMap<String, Uuid>,
    /// The name the file gives the inventory number column, for rejections.
    inventory_header: &'a str,
}

/// Where the writing pass puts its rows (see [`stage`]).
#[derive(Clone, Copy)]
enum Sink<'a> {
    /// Straight into the import's transaction (PostgreSQL, or an in-memory SQLite database).
    Direct(&'a Tx),
    /// Into the temporary tables of the import's own connection (SQLite).
    Staged(&'a stage::Stage),
}

/// The import's writer, owned by [`run`].
enum Writer {
    Direct(Tx),
    Staged(stage::Stage),
}

impl Writer {
    async fn rollback(self) {
        match self {
            Writer::Direct(txn) => {
                txn.rollback().await.ok();
            }
            Writer::Staged(stage) => stage.close().await,
        }
    }
}

/// The final step of a staged import: copies the staged rows and applies the changes to existing
/// devices, each checked again against the version it was read at, in one write transaction.
async fn publish(stage: &stage::Stage, opts: &ImportOptions) -> Result<Tx, ImportFailure> {
    let txn = match stage.publish().await {
        Ok(txn) => txn,
        Err(stage::Published::Conflict) => return Err(ImportFailure::Conflict),
        Err(stage::Published::Db(e)) => return Err(e.into()),
    };
    let now = store::now();
    let mut after = 0;
    loop {
        let page = stage.updates(&txn, after).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.line;
        let ids: Vec<Uuid> = page.iter().map(|u| u.id).collect();
        let current: HashMap<Uuid, item::Model> = item::Entity::find()
            .filter(item::Column::Id.is_in(ids))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        for u in page {
            let Some(m) = current
                .get(&u.id)
                .filter(|m| m.version == u.version && m.status == ItemStatus::Inventoried.as_str())
            else {
                txn.rollback().await.ok();
                return Err(ImportFailure::Conflict);
            };
            apply_update(&txn, opts, m, &u.fields, now).await?;
        }
    }
    Ok(txn)
}

/// Imports `path` for `opts.organisation_id`. `progress(processed, total)` is called after each
/// batch of the writing pass. The full list of rejections, when longer than the report's, is
/// stored in `blobs`.
pub async fn run(
    db: &DatabaseConnection,
    blobs: &Blobs,
    path: &Path,
    opts: &ImportOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
    job: Option<JobFinish>,
) -> Result<Report, ImportFailure> {
    // Pass 1: check the header, count the rows and refuse a file over the cap, before any
    // transaction is opened.
    let mut report = Report {
        dry_run: opts.dry_run,
        ..Report::default()
    };
    let owned_path = path.to_owned();
    let max_rows = opts.max_rows;
    let rows = tokio::task::spawn_blocking(move || count_rows(&owned_path, max_rows))
        .await
        .context("counting task")??;
    report.rows = rows;
    progress(0, rows);

    // Pass 2: validate and write in batches, in one transaction, rejections in file order.
    let inventory_header = {
        let mut reader = open_csv(path)?;
        let mut record = csv::StringRecord::new();
        read_header(&mut reader, &mut record)?
            .header(imp::Column::InventoryNumber)
            .unwrap_or("inventory_number")
            .to_owned()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Entry>>(4);
    let owned_path = path.to_owned();
    let today = opts.today;
    let reader_task = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        scan(&owned_path, today, |parsed| {
            batch.push(match parsed {
                Ok(row) => Ok((row.line, fields_of(row))),
                Err(e) => Err(Rejected::from(&e)),
            });
            if batch.len() == BATCH {
                tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                    .map_err(|_| anyhow::anyhow!("import writer stopped"))?;
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            tx.blocking_send(batch)
                .map_err(|_| anyhow::anyhow!("import writer stopped"))?;
        }
        Ok::<_, ImportFailure>(())
    });
    let mut rejections = Rejections::new(path.with_extension("rejections.csv"));
    // SQLite holds one writer at a time: the rows are staged where they lock nothing, then
    // made visible in one short final step. PostgreSQL writes them in the transaction.
    let writer = if !opts.one_transaction && stage::applies(db) {
        Writer::Staged(stage::Stage::open(db).await?)
    } else {
        Writer::Direct(begin_write(db).await?)
    };
    // The body's inventory numbers before the import (small next to the file: number and id).
    let known_query = item::Entity::find()
        .select_only()
        .column(item::Column::InventoryNumber)
        .column(item::Column::Id)
        .filter(item::Column::OrganisationId.eq(opts.organisation_id))
        .into_tuple::<(String, Uuid)>();
    let known = match &writer {
        Writer::Direct(txn) => known_query.all(txn).await,
        Writer::Staged(_) => known_query.all(db).await,
    };
    let known: HashMap<String, Uuid> = match known {
        Ok(rows) => rows.into_iter().collect(),
        Err(e) => {
            writer.rollback().await;
            return Err(e.into());
        }
    };
    let ctx = PassContext {
        opts,
        known: &known,
        inventory_header: &inventory_header,
    };
    let mut processed = 0u64;
    let mut failure = None;
    while let Some(batch) = rx.recv().await {
        let n = batch.len() as u64;
        let written = match &writer {
            Writer::Direct(txn) => {
                write_batch(
                    txn,
                    Sink::Direct(txn),
                    &ctx,
                    batch,
                    &mut report,
                    &mut rejections,
                )
                .await
            }
            Writer::Staged(stage) => {
                write_batch(
                    db,
                    Sink::Staged(stage),
                    &ctx,
                    batch,
                    &mut report,
                    &mut rejections,
                )
                .await
            }
        };
        if let Err(e) = written {
            failure = Some(e);
            break;
        }
        processed += n;
        progress(processed, rows);
    }
    drop(rx);
    let read = reader_task.await.context("reading task")?;
    if let Some(e) = failure {
        writer.rollback().await;
        let _ = tokio::fs::remove_file(&rejections.spill_path).await;
        // A number another writer took meanwhile (the import saw it free when it started).
        if e.downcast_ref::<sea_orm::DbErr>()
            .is_some_and(store::is_unique_violation)
        {
            return Err(ImportFailure::Conflict);
        }
        return Err(ImportFailure::Other(e));
    }
    if let Err(e) = read {
        writer.rollback().await;
        let _ = tokio::fs::remove_file(&rejections.spill_path).await;
        return Err(e);
    }
    let commit = !opts.dry_run && (opts.partial || rejections.total == 0);
    let rejected_total = rejections.total;
    report.committed = commit;
    if let Err(e) = rejections
        .finish(blobs, opts.organisation_id, &mut report)
        .await
    {
        writer.rollback().await;
        return Err(ImportFailure::Other(e));
    }
    if !commit {
        writer.rollback().await;
        progress(rows, rows);
        return Ok(report);
    }
    let committed = match writer {
        Writer::Direct(txn) => finish(txn, opts, &report, rejected_total, job).await,
        Writer::Staged(stage) => {
            let published = match publish(&stage, opts).await {
                Ok(txn) => finish(txn, opts, &report, rejected_total, job).await,
                Err(e) => Err(e),
            };
            stage.close().await;
            published
        }
    };
    committed?;
    progress(rows, rows);
    Ok(report)
}

/// Appends the import's fact, records a background job's outcome and commits.
async fn finish(
    txn: Tx,
    opts: &ImportOptions,
    report: &Report,
    rejected_total: u64,
    job: Option<JobFinish>,
) -> Result<(), ImportFailure> {
    // One fact on the body's stream for the whole import, so that an import that only created
    // devices (their first events are written in bulk) or changed nothing still leaves its
    // trace in the log.
    store_events::append(
        &txn,
        NewEvent {
            stream: store_events::organisation_stream(opts.organisation_id),
            organisation_id: Some(opts.organisation_id),
            actor: opts.actor_ref.clone(),
            kind: "inventory_imported",
            payload: serde_json::json!({
                "organisation_id": opts.organisation_id,
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": rejected_total,
                "partial": opts.partial,
            }),
        },
    )
    .await?;
    // A background job records its outcome in the same transaction: the import and its outcome
    // are one fact, so a run taken over by another instance (its lease ran out) cannot commit,
    // and a committed import is never run again.
    if let Some(job) = job
        && !finish_job(&txn, job.run, job.succeeded(report)).await?
    {
        txn.rollback().await.ok();
        return Err(ImportFailure::Superseded);
    }
    txn.commit().await?;
    Ok(())
}

/// The job an import runs for: its run (which must still hold the lease at commit) and how its
/// report is encoded into the job's result.
#[derive(Clone, Copy)]
pub struct JobFinish {
    pub run: JobRun,
    pub encode: fn(&Report) -> Option<String>,
}

impl JobFinish {
    fn succeeded(&self, report: &Report) -> JobOutcome {
        JobOutcome {
            status: "succeeded",
            result: (self.encode)(report),
            error: None,
            processed: report.rows,
            total: report.rows,
        }
    }
}

/// Runs an import in the background as run `attempt` of its job, recording its progress in
/// `state.job_progress` (and with each lease renewal in the job row, where every instance reads
/// it) and its outcome in the job row; `encode` turns the report into the JSON the job answers
/// with. The local file is removed at the end, and the job's input blob once the job is over.
/// A run that loses its lease (another instance took the job over) stops and writes nothing.
pub fn spawn_job(
    state: crate::state::AppState,
    attempt: JobRun,
    path: std::path::PathBuf,
    opts: ImportOptions,
    encode: fn(&Report) -> Option<String>,
) {
    tokio::spawn(async move {
        let job_id = attempt.id;
        let progress_map = state.job_progress.clone();
        let progress = move |done: u64, total: u64| {
            if let Ok(mut m) = progress_map.lock() {
                m.insert(job_id, (done, total));
            }
        };
        let lease = state.settings.ops.job_lease();
        // While it works, the run renews its lease with its progress; once another instance
        // holds the job, the renewal fails and the run stops.
        let heartbeat = {
            let (db, map) = (state.db.clone(), state.job_progress.clone());
            async move {
                let mut tick = tokio::time::interval(state_heartbeat(lease));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let (done, total) = map
                        .lock()
                        .ok()
                        .and_then(|m| m.get(&job_id).copied())
                        .unwrap_or_default();
                    match store::items::renew_job(&db, attempt, lease, done, total).await {
                        Ok(true) => {}
                        // Another run holds the job: this one stops. (When this run just
                        // recorded its own outcome, there is nothing left to renew.)
                        Ok(false) => match store::items::find_job(&db, job_id).await {
                            Ok(j) if j.attempt == attempt.attempt => {
                                std::future::pending::<()>().await
                            }
                            _ => return,
                        },
                        Err(e) => {
                            tracing::warn!(job.id = %job_id, error = %e, "job lease not renewed")
                        }
                    }
                }
            }
        };
        let finish = JobFinish {
            run: attempt,
            encode,
        };
        let result = tokio::select! {
            r = run(&state.db, &state.blobs, &path, &opts, &progress, Some(finish)) => r,
            () = heartbeat => Err(ImportFailure::Superseded),
        };
        let _ = tokio::fs::remove_file(&path).await;
        if let Ok(mut m) = state.job_progress.lock() {
            m.remove(&job_id);
        }
        let failed = JobOutcome::failed;
        let outcome = match result {
            // A committed import recorded its outcome in its own transaction.
            Ok(report) if report.committed => None,
            Ok(report) => Some(finish.succeeded(&report)),
            Err(ImportFailure::Superseded) => {
                tracing::warn!(
                    job.id = %job_id,
                    attempt = attempt.attempt,
                    "job taken over by another instance after this one's lease ran out; this run stopped"
                );
                return;
            }
            Err(ImportFailure::Header(h)) => Some(failed(h.message_fr())),
            Err(ImportFailure::Empty) => Some(failed("Le fichier est vide.")),
            Err(ImportFailure::Conflict) => Some(failed(CONFLICT_FR)),
            Err(ImportFailure::TooManyRows { max }) => Some(failed(&too_many_rows_fr(max))),
            Err(ImportFailure::RecordTooLong { line }) => Some(failed(&record_too_long_fr(line))),
            Err(ImportFailure::Other(e)) => {
                tracing::error!(job.id = %job_id, error = format!("{e:#}"), "import job failed");
                Some(failed("erreur interne"))
            }
        };
        if let Some(outcome) = outcome {
            let status = outcome.status;
            match finish_job(&state.db, attempt, outcome).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(job.id = %job_id, outcome = status, "job outcome not recorded: another instance holds the job");
                    return;
                }
                Err(e) => {
                    tracing::error!(job.id = %job_id, error = %e, "could not record the job outcome");
                    return;
                }
            }
        }
        if let Err(e) = state.blobs.delete(&input_key(job_id)).await {
            tracing::warn!(job.id = %job_id, error = %e, "the job's input file was not deleted");
        }
    });
}

/// How often a run renews its lease: four times per lease, so that one slow renewal does not
/// lose it.
fn state_heartbeat(lease: chrono::TimeDelta) -> std::time::Duration {
    (lease / 4)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(1))
        .max(std::time::Duration::from_millis(250))
}

/// The blob key of a background import's uploaded file, kept until the job is over.
pub fn input_key(job_id: Uuid) -> String {
    format!("jobs/{job_id}/input.csv")
}

/// Stores the uploaded file of a new background import and records the job, its first run
/// held by this instance. The caller then runs it with [`spawn_job`].
pub async fn start_job(
    state: &crate::state::AppState,
    path: &Path,
    opts: &ImportOptions,
) -> crate::error::ApiResult<crate::store::entities::job::Model> {
    let id = store::new_id();
    let key = input_key(id);
    state
        .blobs
        .put_file(&key, path, "text/csv")
        .await
        .map_err(crate::commands::items::blob_error)?;
    let options = serde_json::to_string(opts).map_err(anyhow::Error::from)?;
    let started = store::items::start_import_job(
        &state.db,
        store::items::NewImportJob {
            id,
            organisation_id: opts.organisation_id,
            actor_ref: &opts.actor_ref,
            input_key: &key,
            options,
            lease: state.settings.ops.job_lease(),
        },
    )
    .await;
    if started.is_err() {
        let _ = state.blobs.delete(&key).await;
    }
    started
}

/// Every instance, every few seconds: takes over the jobs whose instance stopped (their lease
/// ran out), running each again from its kept file, or failing it when it cannot be. The first
/// pass is [`reclaim`], run at start.
pub async fn supervise(state: crate::state::AppState, encode: fn(&Report) -> Option<String>) {
    let lease = state.settings.ops.job_lease();
    let every = state_heartbeat(lease).min(std::time::Duration::from_secs(2));
    loop {
        tokio::time::sleep(every).await;
        reclaim(&state, encode).await;
    }
}

/// One pass of [`supervise`]: only database work; a job taken over fetches its file in its own
/// task.
pub async fn reclaim(state: &crate::state::AppState, encode: fn(&Report) -> Option<String>) {
    let lease = state.settings.ops.job_lease();
    let reclaimed = match store::items::reclaim_jobs(&state.db, lease).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "abandoned job scan failed");
            return;
        }
    };
    if reclaimed.failed > 0 {
        tracing::warn!(
            jobs = reclaimed.failed,
            "jobs whose instance stopped were marked failed"
        );
    }
    for key in reclaimed.orphaned_inputs {
        let blobs = state.blobs.clone();
        tokio::spawn(async move { blobs.delete(&key).await });
    }
    for job in reclaimed.resumed {
        let state = state.clone();
        tokio::spawn(async move {
            let run = JobRun {
                id: job.id,
                attempt: job.attempt,
            };
            match resume(&state, &job).await {
                Ok((path, opts)) => {
                    tracing::warn!(job.id = %job.id, attempt = job.attempt, "job whose instance stopped taken over: running it again");
                    spawn_job(state.clone(), run, path, opts, encode);
                }
                Err(e) => {
                    tracing::error!(job.id = %job.id, error = format!("{e:#}"), "job could not be taken over");
                    let failed = JobOutcome::failed(ABANDONED_UNREADABLE);
                    let _ = finish_job(&state.db, run, failed).await;
                    if let Some(key) = &job.input_key {
                        let _ = state.blobs.delete(key).await;
                    }
                }
            }
        });
    }
}

/// The error of a job whose kept file or options could not be read back.
const ABANDONED_UNREADABLE: &str = "interrompu : le fichier de l'import n'a pas pu être relu ; rien n'a été importé, relancez l'import";

/// Brings a taken-over job's file to this instance's disk, with its options.
async fn resume(
    state: &crate::state::AppState,
    job: &crate::store::entities::job::Model,
) -> anyhow::Result<(std::path::PathBuf, ImportOptions)> {
    let opts: ImportOptions = serde_json::from_str(job.options.as_deref().context("no options")?)
        .context("decoding the job's options")?;
    let key = job.input_key.as_deref().context("no input file")?;
    let dir = state.settings.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir).await?;
    let path = dir.join(format!("import-{}.csv", store::new_id()));
    if let Err(e) = state.blobs.get_to_file(key, &path).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(anyhow::Error::from(e).context("fetching the job's input file"));
    }
    Ok((path, opts))
}

/// Why an import that met a concurrent change wrote nothing, in French.
pub const CONFLICT_FR: &str = "L'inventaire a changé pendant l'import (un équipement du fichier a été créé ou modifié en même temps) : rien n'a été importé, relancez l'import.";

/// The same, in English.
pub const CONFLICT_EN: &str = "The inventory changed during the import (a device of the file was created or changed meanwhile): nothing was imported, run the import again.";

/// Why a file over the row cap is refused, in French.
pub fn too_many_rows_fr(max: u64) -> String {
    format!("Le fichier dépasse {max} lignes : découpez-le en plusieurs imports.")
}

/// The same, in English.
pub fn too_many_rows_en(max: u64) -> String {
    format!("The file has more than {max} rows: split it into several imports.")
}

/// Why a file with an overlong record is refused, in French.
pub fn record_too_long_fr(line: u64) -> String {
    format!(
        "Ligne {line} : un enregistrement dépasse {} Ko (un guillemet non fermé ?).",
        MAX_RECORD_BYTES / 1024
    )
}

/// The same, in English.
pub fn record_too_long_en(line: u64) -> String {
    format!(
        "Line {line}: a record is longer than {} KB (an unclosed quote?).",
        MAX_RECORD_BYTES / 1024
    )
}

/// At start: removes the spooled files a stopped process left in `data_dir/tmp` (no job of this
/// process runs yet; a job's file is kept in the blob store, from which whichever instance takes
/// the job over fetches it). Returns how many files were removed.
pub async fn remove_spooled(data_dir: &std::path::Path) -> u64 {
    let mut removed = 0;
    if let Ok(mut dir) = tokio::fs::read_dir(data_dir.join("tmp")).await {
        while let Ok(Some(entry)) = dir.next_entry().await {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("import-")
                && name.ends_with(".csv")
                && tokio::fs::remove_file(entry.path()).await.is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], encoding: Encoding) -> String {
        let mut out = String::new();
        Utf8Reader::new(bytes, encoding)
            .read_to_string(&mut out)
            .expect("read");
        out
    }

    #[test]
    fn crlf_becomes_lf_and_the_bom_goes() {
        assert_eq!(
            read_all(b"\xEF\xBB\xBFa;b\r\nc;d\r\n", Encoding::Utf8),
            "a;b\nc;d\n"
        );
        assert_eq!(read_all(b"a\rb\r", Encoding::Utf8), "a\rb\r");
    }

    #[test]
    fn windows_1252_is_transcoded() {
        assert_eq!(
            read_all(b"\xC9cran;\x80\r\n", Encoding::Windows1252),
            "Écran;€\n"
        );
    }
}
