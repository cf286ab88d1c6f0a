//! Loading the open registers the operator downloads from data.gouv.fr into `register_entries`:
//! the SIRENE stock of establishments (`StockEtablissement_utf8.csv`: comma-separated, columns
//! `siret`, `etatAdministratifEtablissement` A/F, `denominationUsuelleEtablissement`,
//! `enseigne1Etablissement`…) and the RNA stock (`rna_waldec_*.csv`: semicolon-separated,
//! columns `id` (the W number), `titre`, `position` A/D/S…, historically in Latin-1). Once a
//! register is loaded, registration checks identifiers against it; until then the checks stay
//! offline (checksum and format).

use std::io::Read;

use anyhow::{Context, bail};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};

use crate::store::entities::register_entry;
use crate::store::events::NewEvent;
use crate::store::tx::Tx;
pub use crate::store::verification::Register;

/// Rows written per transaction.
const BATCH: usize = 500;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Imported {
    pub rows: u64,
    pub active: u64,
    /// Rows without a usable identifier.
    pub skipped: u64,
}

impl Register {
    /// Parses `sirene` or `rna`.
    pub fn parse(s: &str) -> Option<Register> {
        match s {
            "sirene" => Some(Register::Sirene),
            "rna" => Some(Register::Rna),
            _ => None,
        }
    }

    /// (identifier column, active column, active value, name columns in order of preference)
    fn columns(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    ) {
        match self {
            Register::Sirene => (
                "siret",
                "etatAdministratifEtablissement",
                "A",
                &["denominationUsuelleEtablissement", "enseigne1Etablissement"],
            ),
            Register::Rna => ("id", "position", "A", &["titre", "titre_court"]),
        }
    }
}

/// A field as text: UTF-8, or Latin-1 (older RNA files) when it is not.
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.trim().to_owned(),
        Err(_) => bytes
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .trim()
            .to_owned(),
    }
}

/// Imports a stock file of `register` (upserting by identifier) and appends one event.
pub async fn import(
    db: &DatabaseConnection,
    register: Register,
    mut input: impl Read,
) -> anyhow::Result<Imported> {
    // The separator is read from the header line: SIRENE uses commas, the RNA semicolons.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while input.read(&mut byte).context("reading the header")? == 1 {
        head.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    let separator = if head.iter().filter(|&&b| b == b';').count()
        > head.iter().filter(|&&b| b == b',').count()
    {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .flexible(true)
        .from_reader(std::io::Cursor::new(head).chain(input));
    let headers: Vec<String> = reader
        .byte_headers()
        .context("reading the header")?
        .iter()
        .map(|h| text(h).trim_start_matches('\u{feff}').to_owned())
        .collect();
    let (id_col, active_col, active_value, name_cols) = register.columns();
    let position = |name: &str| headers.iter().position(|h| h == name);
    let (Some(id_at), Some(active_at)) = (position(id_col), position(active_col)) else {
        bail!(
            "not a {} stock file: columns `{id_col}` and `{active_col}` are required (found: {})",
            register.as_str(),
            headers.join(", ")
        );
    };
    let name_at: Vec<usize> = name_cols.iter().filter_map(|c| position(c)).collect();
    let mut stats = Imported::default();
    let mut batch = Vec::with_capacity(BATCH);
    let now = crate::store::now();
    for record in reader.byte_records() {
        let record = record.context("reading a row")?;
        let identifier = record
            .get(id_at)
            .map(text)
            .unwrap_or_default()
            .replace(' ', "")
            .to_uppercase();
        let valid = match register {
            Register::Sirene => reemploi_domain::ids::Siret::parse(&identifier).is_ok(),
            Register::Rna => reemploi_domain::ids::Rna::parse(&identifier).is_ok(),
        };
        if !valid {
            stats.skipped += 1;
            continue;
        }
        let active = record.get(active_at).map(text).as_deref() == Some(active_value);
        let name = name_at
            .iter()
            .filter_map(|&i| record.get(i).map(text))
            .find(|n| !n.is_empty());
        stats.rows += 1;
        stats.active += u64::from(active);
        batch.push(register_entry::ActiveModel {
            id: Set(crate::store::new_id()),
            register: Set(register.as_str().to_owned()),
            identifier: Set(identifier),
            name: Set(name),
            active: Set(active),
            imported_at: Set(now),
        });
        if batch.len() == BATCH {
            write_batch(db, std::mem::take(&mut batch)).await?;
        }
    }
    write_batch(db, batch).await?;
    let tx = Tx::begin(db).await?;
    tx.event(NewEvent {
        stream: format!("register/{}", register.as_str()),
        organisation_id: None,
        actor: "cli".to_owned(),
        kind: "register_imported",
        payload: serde_json::json!({
            "register": register.as_str(), "rows": stats.rows, "active": stats.active,
            "skipped": stats.skipped,
        }),
    })
    .await?;
    tx.commit()
        .await
        .map_err(|e| anyhow::anyhow!("{:?}", e.code))?;
    Ok(stats)
}

async fn write_batch(
    db: &DatabaseConnection,
    mut rows: Vec<register_entry::ActiveModel>,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // A file may list an identifier twice: the last row wins, as the upsert would decide.
    let mut seen = std::collections::HashSet::new();
    rows.reverse();
    rows.retain(|r| seen.insert(format!("{:?}", r.identifier)));
    // One statement per batch (atomic on its own); the import's event is appended once, in
    // its own transaction, after the last batch.
    register_entry::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                register_entry::Column::Register,
                register_entry::Column::Identifier,
            ])
            .update_columns([
                register_entry::Column::Name,
                register_entry::Column::Active,
                register_entry::Column::ImportedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
