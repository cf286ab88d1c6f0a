//! Importing an inventory file (GLPI export or our template) and following background jobs.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use poem::{Body, Request};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use reemploi_domain::import::TEMPLATE_HEADER;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::access::BearerAuth;
use super::types::ApiTags;
use crate::csv_out::{CsvOut, Dialect};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::importer::{self, ImportFailure, ImportOptions, Report};
use crate::state::AppState;
use crate::store::entities::job;
use crate::store::{self, items as store_items};

/// Content types accepted for an inventory file.
const CSV_TYPES: &[&str] = &[
    "text/csv",
    "application/csv",
    "text/plain",
    "application/octet-stream",
    "application/vnd.ms-excel",
];

super::raw_body::raw_body!(
    /// A CSV file sent as the request body, streamed (never held whole in memory).
    CsvBody,
    CSV_TYPES,
    "The inventory file: CSV with `;`, `,` or tab, UTF-8 (with or without BOM) or Windows-1252.",
    csv_content_type
);

/// An inventory file must say it is one: 415 for another content type, or none.
fn csv_content_type(request: &Request) -> poem::Result<()> {
    match request.content_type() {
        Some(ct) if super::raw_body::essence_in(ct, CSV_TYPES) => Ok(()),
        Some(ct) => Err(poem_openapi::error::ContentTypeError::NotSupported {
            content_type: ct.to_owned(),
        }
        .into()),
        None => Err(poem_openapi::error::ContentTypeError::ExpectContentType.into()),
    }
}

/// One rejected row of an import.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RejectedRow {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// The column at fault, as named in the file.
    pub column: Option<String>,
    /// Stable reason code (`missing_inventory_number`, `unknown_type`…).
    pub code: String,
    /// The reason, in the response language.
    pub message: String,
}

/// How many rows were rejected for one reason.
#[derive(Debug, Clone, Object)]
pub struct RejectionCount {
    pub code: String,
    pub count: u64,
}

/// The outcome of an import.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// The first 1 000 rejected rows, in file order (`rejected_total` counts them all).
    pub rejected: Vec<RejectedRow>,
    /// How many rows were rejected in all.
    #[oai(default)]
    pub rejected_total: u64,
    /// Rejected rows per reason code, most frequent first.
    #[oai(default)]
    pub rejected_by_code: Vec<RejectionCount>,
    /// When more rows were rejected than listed here: an expiring signed URL of a CSV file
    /// (`;`-separated, columns `ligne;colonne;code;motif`) listing every one of them.
    pub rejections_url: Option<String>,
    /// Whether anything was written: false for a dry run, and when rows were rejected without
    /// `partial=true` (all or nothing).
    pub committed: bool,
    pub dry_run: bool,
}

/// A background job.
/// Where a background job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for an instance to run it.
    Queued,
    /// An instance is running it.
    Running,
    /// Done: its result is in `report`.
    Succeeded,
    /// Done without result: `error` says why.
    Failed,
}

impl JobStatus {
    fn from_stored(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Queued,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JobResponse {
    pub id: Uuid,
    pub kind: String,
    pub status: JobStatus,
    /// Rows processed so far.
    pub processed: u64,
    /// Rows to process (known once the file is validated).
    pub total: u64,
    /// The import report, once the job succeeded.
    pub report: Option<ImportReport>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An import's answer: the report, or a job for large files.
#[derive(ApiResponse)]
pub enum ImportResponse {
    /// The file was processed; see `committed`.
    #[oai(status = 200)]
    Done(Json<ImportReport>),
    /// The file is large: it is imported in the background; follow `Location`.
    #[oai(status = 202)]
    Accepted(Json<JobResponse>, #[oai(header = "Location")] String),
}

/// The CSV template.
#[derive(ApiResponse)]
pub enum TemplateResponse {
    /// The header line of our template, with one example row.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(PlainText<String>),
}

/// The key, in a job's stored result, of the blob listing every rejection.
const REJECTIONS_BLOB: &str = "rejections_blob";

fn report_response(r: &Report, lang: crate::error::Lang) -> ImportReport {
    let mut by_code: Vec<RejectionCount> = r
        .rejected_by_code
        .iter()
        .map(|(code, count)| RejectionCount {
            code: code.clone(),
            count: *count,
        })
        .collect();
    by_code.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    ImportReport {
        rejected_total: r.rejected_total,
        rejected_by_code: by_code,
        rejections_url: None,
        rows: r.rows,
        created: r.created,
        updated: r.updated,
        unchanged: r.unchanged,
        rejected: r
            .rejected
            .iter()
            .map(|x| RejectedRow {
                line: x.line,
                column: x.column.clone(),
                code: x.code.clone(),
                message: match lang {
                    crate::error::Lang::Fr => x.message_fr.clone(),
                    crate::error::Lang::En => x.message_en.clone(),
                },
            })
            .collect(),
        committed: r.committed,
        dry_run: r.dry_run,
    }
}

/// The report a finished job answers with (in French, the job having no request language):
/// at most 1 000 rejections and their counts, with the key of the blob listing them all (signed
/// into a URL when the job is read).
pub(crate) fn job_result(report: &Report) -> Option<String> {
    let mut v =
        poem_openapi::types::ToJSON::to_json(&report_response(report, crate::error::Lang::Fr))?;
    if let (Some(key), Some(map)) = (&report.rejections_blob, v.as_object_mut()) {
        map.insert(
            REJECTIONS_BLOB.to_owned(),
            serde_json::Value::from(key.clone()),
        );
    }
    Some(v.to_string())
}

/// The signed URL of the blob listing every rejection.
async fn rejections_url(state: &AppState, key: &str) -> ApiResult<String> {
    state
        .blobs
        .signed_url(key, state.settings.blob_url_ttl_secs)
        .await
        .map_err(crate::commands::items::blob_error)
}

fn failure_error(f: ImportFailure) -> ApiError {
    match f {
        ImportFailure::Header(h) => {
            ApiError::new(ErrorCode::ImportHeaderInvalid).detail(h.message_fr(), h.message_en())
        }
        ImportFailure::Empty => ApiError::new(ErrorCode::ImportHeaderInvalid)
            .detail("Le fichier est vide.", "The file is empty."),
        ImportFailure::TooManyRows { max } => ApiError::new(ErrorCode::ImportTooManyRows).detail(
            importer::too_many_rows_fr(max),
            importer::too_many_rows_en(max),
        ),
        ImportFailure::RecordTooLong { line } => ApiError::new(ErrorCode::PayloadTooLarge).detail(
            importer::record_too_long_fr(line),
            importer::record_too_long_en(line),
        ),
        ImportFailure::Conflict => ApiError::new(ErrorCode::WriteConflict)
            .detail(importer::CONFLICT_FR, importer::CONFLICT_EN),
        // Only a background job is taken over by another instance.
        ImportFailure::Superseded => ApiError::new(ErrorCode::WriteConflict),
        ImportFailure::Other(e) => ApiError::from(e),
    }
}

/// Streams the body to a temporary file; 413 beyond the upload limit.
async fn spool(state: &AppState, body: Body) -> ApiResult<(PathBuf, u64)> {
    let dir = state.settings.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(anyhow::Error::from)?;
    let path = dir.join(format!("import-{}.csv", store::new_id()));
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(anyhow::Error::from)?;
    let mut reader = body.into_async_read();
    let copied = tokio::io::copy(&mut reader, &mut file).await;
    let size = match copied {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(if e.to_string().contains(super::limits::TOO_LARGE) {
                ApiError::new(ErrorCode::PayloadTooLarge)
            } else {
                ApiError::new(ErrorCode::MalformedRequest).detail(
                    "Le fichier n'a pas pu être lu.",
                    "The file could not be read.",
                )
            });
        }
    };
    file.flush().await.map_err(anyhow::Error::from)?;
    Ok((path, size))
}

async fn job_response(
    state: &AppState,
    m: job::Model,
    live: Option<(u64, u64)>,
) -> ApiResult<JobResponse> {
    let mut stored = m
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
    let blob = stored
        .as_mut()
        .and_then(|v| v.as_object_mut())
        .and_then(|map| map.remove(REJECTIONS_BLOB))
        .and_then(|k| k.as_str().map(str::to_owned));
    let mut report: Option<ImportReport> = stored.and_then(|v| {
        <ImportReport as poem_openapi::types::ParseFromJSON>::parse_from_json(Some(v)).ok()
    });
    if let (Some(r), Some(key)) = (report.as_mut(), blob) {
        r.rejections_url = Some(rejections_url(state, &key).await?);
    }
    let (processed, total) = live.unwrap_or((m.processed.max(0) as u64, m.total.max(0) as u64));
    Ok(JobResponse {
        id: m.id,
        kind: m.kind,
        status: JobStatus::from_stored(&m.status),
        processed,
        total,
        report,
        error: m.error,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub struct ImportsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Items")]
impl ImportsApi {
    /// Import an inventory file
    ///
    /// A GLPI list export as it is (French or English column names) or our template
    /// (`GET /v1/items/import/template`): `;`, `,` or tab, UTF-8 or Windows-1252, dates
    /// `YYYY-MM-DD` or `DD/MM/YYYY`, decimal comma or point. Devices are created or updated by
    /// inventory number; each rejected row is reported with its line, column and reason (the
    /// first 1 000, with counts per reason and, beyond, a signed URL of a CSV listing them all).
    /// All or nothing unless `partial=true`; `dry_run=true` writes nothing. Large files are
    /// imported as a background job (202, follow `Location`). Only a verified organisation
    /// imports (403 `organisation_not_verified`). A file holds at most
    /// `REEMPLOI_IMPORT_MAX_ROWS` rows (100 000 by default; 413 `import_too_many_rows`), a row at
    /// most 64 KB, a file at most `REEMPLOI_IMPORT_MAX_BYTES` (64 MB by default; 413).
    #[oai(path = "/items/import", method = "post", operation_id = "import_items")]
    async fn import_items(
        &self,
        auth: BearerAuth,
        req: &Request,
        organisation_id: Query<Option<Uuid>>,
        /// Validate and report, write nothing.
        dry_run: Query<Option<bool>>,
        /// Import the valid rows even if others are rejected.
        partial: Query<Option<bool>>,
        body: CsvBody,
    ) -> ApiResult<ImportResponse> {
        let acting = auth.0.acting_as("import_items", organisation_id.0)?;
        // A self-registered body imports once the operator has checked who it is.
        acting.require_verified()?;
        let lang = crate::error::Lang::from_accept_language(req.header("accept-language"));
        let state = &self.state;
        let (path, size) = spool(state, body.0).await?;
        let opts = ImportOptions {
            organisation_id: acting.organisation_id,
            actor_ref: auth.0.actor_ref(),
            dry_run: dry_run.0.unwrap_or(false),
            partial: partial.0.unwrap_or(false),
            today: state.settings.today(),
            max_rows: state.settings.import_max_rows,
            one_transaction: false,
        };
        if size as usize <= state.settings.import_sync_max_bytes {
            let result =
                importer::run(&state.db, &state.blobs, &path, &opts, &|_, _| {}, None).await;
            let _ = tokio::fs::remove_file(&path).await;
            let report = result.map_err(failure_error)?;
            let mut answer = report_response(&report, lang);
            if let Some(key) = &report.rejections_blob {
                answer.rejections_url = Some(rejections_url(state, key).await?);
            }
            return Ok(ImportResponse::Done(Json(answer)));
        }

        // The file goes to the blob store first, so that another instance can run the job if
        // this one stops.
        let job = match importer::start_job(state, &path, &opts).await {
            Ok(job) => job,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(e);
            }
        };
        let location = format!("/v1/jobs/{}", job.id);
        let run = store_items::JobRun {
            id: job.id,
            attempt: job.attempt,
        };
        importer::spawn_job(state.clone(), run, path, opts, job_result);
        Ok(ImportResponse::Accepted(
            Json(job_response(state, job, None).await?),
            location,
        ))
    }

    /// Import template
    ///
    /// The header of our CSV template, with an example row. GLPI exports are accepted as they are.
    #[oai(
        path = "/items/import/template",
        method = "get",
        operation_id = "get_import_template"
    )]
    async fn get_import_template(&self) -> TemplateResponse {
        let example = "INV-2024-00042;laptop;Dell;Latitude 5490;1954RGQKK9;POR-0042;Mairie > Accueil;2019-03-15;948,61;0,00;8;256;ssd;14;Intel Core i5-8350U;oui;Batterie faible;";
        let mut out = CsvOut::new(Dialect::Spreadsheet, TEMPLATE_HEADER);
        for cell in example.split(';') {
            out.text(cell);
        }
        out.end_row();
        TemplateResponse::Ok(PlainText(out.finish()))
    }

    /// Follow a job
    ///
    /// Progress of a background job (a large import), then its report.
    #[oai(path = "/jobs/:id", method = "get", operation_id = "get_job")]
    async fn get_job(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<JobResponse>> {
        let m = store_items::find_job(&self.state.db, id.0).await?;
        auth.0.authorize_related("get_job", &[m.organisation_id])?;
        let live = if m.status == "running" {
            self.state
                .job_progress
                .lock()
                .ok()
                .and_then(|p| p.get(&m.id).copied())
        } else {
            None
        };
        Ok(Json(job_response(&self.state, m, live).await?))
    }
}
