//! Exits back to the body's own inventory tool: the devices that left its inventory (ceded,
//! given, recycled), as CSV that GLPI's Data Injection plugin or Snipe-IT's importer reads
//! (mapping in `docs/inventory-exports.md`). Written with the shared [`CsvOut`].

use chrono::NaiveDate;
use poem_openapi::param::Query;
use poem_openapi::payload::PlainText;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::access::BearerAuth;
use super::types::ApiTags;
use crate::csv_out::{CsvOut, Dialect};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::exits::{self, Exit};

/// A CSV export.
#[derive(ApiResponse)]
pub enum CsvExport {
    /// The CSV document.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

/// The verification page of a document code.
fn verify_link(public_url: &str, code: &str) -> String {
    format!("{}/v/{code}", public_url.trim_end_matches('/'))
}

/// `kind:CODE` of each document, space-separated.
fn document_numbers(e: &Exit) -> String {
    e.documents
        .iter()
        .map(|(k, c)| format!("{k}:{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sentence written in the inventory tool's comment field.
fn comment_fr(e: &Exit, link: &str) -> String {
    let mut s = format!(
        "Sortie d'inventaire le {} ({}) : {}.",
        e.at.format("%d/%m/%Y"),
        e.kind.label_fr().to_lowercase(),
        if e.destination.is_empty() {
            "destinataire non renseigné"
        } else {
            &e.destination
        },
    );
    if let Some(code) = &e.pv_code {
        s.push_str(&format!(" Procès-verbal {code}, vérifiable sur {link}."));
    }
    if !e.documents.is_empty() {
        s.push_str(&format!(" Documents : {}.", document_numbers(e)));
    }
    s
}

fn glpi_csv(exits: &[Exit], public_url: &str) -> String {
    let mut out = CsvOut::new(
        Dialect::Data(b';'),
        &[
            "Numéro d'inventaire",
            "Numéro de série",
            "Nom",
            "Statut",
            "Date de réforme",
            "Destination",
            "Code de vérification PV",
            "Lien de vérification PV",
            "Numéros de documents",
            "Commentaires",
        ],
    );
    for e in exits {
        let link = e
            .pv_code
            .as_deref()
            .map(|c| verify_link(public_url, c))
            .unwrap_or_default();
        out.text(&e.item.inventory_number)
            .text(e.item.serial_number.as_deref().unwrap_or(""))
            .text(e.item.name.as_deref().unwrap_or(""))
            .text(e.kind.label_fr())
            .num(e.at.format("%Y-%m-%d"))
            .text(&e.destination)
            .text(e.pv_code.as_deref().unwrap_or(""))
            .text(&link)
            .text(&document_numbers(e))
            .text(&comment_fr(e, &link))
            .end_row();
    }
    out.finish()
}

fn snipeit_csv(exits: &[Exit], public_url: &str) -> String {
    let mut out = CsvOut::new(
        Dialect::Data(b','),
        &[
            "Asset Tag",
            "Serial",
            "Asset Name",
            "Status",
            "Decommission Date",
            "Destination",
            "PV Code",
            "PV Link",
            "Documents",
            "Notes",
        ],
    );
    for e in exits {
        let link = e
            .pv_code
            .as_deref()
            .map(|c| verify_link(public_url, c))
            .unwrap_or_default();
        out.text(&e.item.inventory_number)
            .text(e.item.serial_number.as_deref().unwrap_or(""))
            .text(e.item.name.as_deref().unwrap_or(""))
            // Snipe-IT's undeployable status for assets that left.
            .text("Archived")
            .num(e.at.format("%Y-%m-%d"))
            .text(&e.destination)
            .text(e.pv_code.as_deref().unwrap_or(""))
            .text(&link)
            .text(&document_numbers(e))
            .text(&comment_fr(e, &link))
            .end_row();
    }
    out.finish()
}

pub struct ExportsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Items")]
impl ExportsApi {
    /// Exits for GLPI
    ///
    /// The devices that left the body's inventory on or after `since` (ceded to the
    /// refurbisher at collection, given to an association, ceded directly, recycled), one row
    /// each: inventory number, serial, decommission date, status, destination, the
    /// procès-verbal's verification code and link, the document numbers, and a comment. CSV
    /// with `;`, UTF-8, for GLPI's Data Injection plugin (`docs/inventory-exports.md`).
    #[oai(
        path = "/items/export/glpi",
        method = "get",
        operation_id = "export_exits_glpi"
    )]
    async fn export_exits_glpi(
        &self,
        auth: BearerAuth,
        /// Exits on or after this day.
        since: Query<Option<NaiveDate>>,
        organisation_id: Query<Option<Uuid>>,
    ) -> ApiResult<CsvExport> {
        let acting = auth.0.acting_as("export_exits_glpi", organisation_id.0)?;
        let rows = exits::exits(&self.state.db, acting.organisation_id, since.0).await?;
        Ok(CsvExport::Csv(PlainText(glpi_csv(
            &rows,
            &self.state.settings.public_url,
        ))))
    }

    /// Exits for Snipe-IT
    ///
    /// The same rows as `GET /v1/items/export/glpi`, with Snipe-IT's importer headers
    /// (`Asset Tag`, `Serial`, `Status`, `Notes`…), comma-separated.
    #[oai(
        path = "/items/export/snipeit",
        method = "get",
        operation_id = "export_exits_snipeit"
    )]
    async fn export_exits_snipeit(
        &self,
        auth: BearerAuth,
        /// Exits on or after this day.
        since: Query<Option<NaiveDate>>,
        organisation_id: Query<Option<Uuid>>,
    ) -> ApiResult<CsvExport> {
        let acting = auth
            .0
            .acting_as("export_exits_snipeit", organisation_id.0)?;
        let rows = exits::exits(&self.state.db, acting.organisation_id, since.0).await?;
        Ok(CsvExport::Csv(PlainText(snipeit_csv(
            &rows,
            &self.state.settings.public_url,
        ))))
    }
}
