//! Every CSV the service writes goes through [`CsvOut`]: one place for the separator, quoting
//! and the neutralisation of formula cells (OWASP "CSV injection": a text cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, so a spreadsheet shows
//! it as text instead of running it). Embedded separators, quotes and newlines are quoted.
//! Numbers are written as they are: only text cells may carry a formula.
//!
//! Two dialects. A CSV a person opens in a French spreadsheet (the impact report, the import
//! template, an import's rejections) uses `;`, the decimal comma and a UTF-8 byte-order mark,
//! without which Excel reads the accents as Windows-1252. A CSV a program reads (the open data,
//! following its Table Schema; the GLPI and Snipe-IT exits, re-imported by those tools) keeps its
//! separator, the decimal point and no mark.

use std::borrow::Cow;
use std::io::Write;

/// A CSV document written row by row: in memory by default (the exports are small aggregates),
/// or streamed into any writer (the full list of an import's rejections, written to a file).
pub struct CsvOut<W: Write = Vec<u8>> {
    writer: csv::Writer<W>,
    dialect: Dialect,
    row: Vec<String>,
    /// The first write error, reported by [`CsvOut::into_inner`].
    failed: Option<std::io::Error>,
}

/// Who reads the CSV (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A person, in a French spreadsheet: `;`, decimal comma, UTF-8 byte-order mark.
    Spreadsheet,
    /// A program: this separator, decimal point, no byte-order mark.
    Data(u8),
}

/// The UTF-8 byte-order mark a spreadsheet CSV starts with.
pub const BOM: &str = "\u{feff}";

/// A text cell as a spreadsheet may open it safely.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

impl CsvOut<Vec<u8>> {
    /// A document in memory in `dialect`, with its header row.
    pub fn new(dialect: Dialect, headers: &[&str]) -> Self {
        Self::to_writer(Vec::new(), dialect, headers)
    }

    /// The finished document, UTF-8.
    pub fn finish(self) -> String {
        let bytes = self.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }
}

impl<W: Write> CsvOut<W> {
    /// A document streamed into `writer` in `dialect`, with its header row.
    pub fn to_writer(mut writer: W, dialect: Dialect, headers: &[&str]) -> Self {
        let (separator, bom) = match dialect {
            Dialect::Spreadsheet => (b';', writer.write_all(BOM.as_bytes()).err()),
            Dialect::Data(separator) => (separator, None),
        };
        let mut out = Self {
            dialect,
            writer: csv::WriterBuilder::new()
                .delimiter(separator)
                .quote_style(csv::QuoteStyle::Necessary)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(writer),
            row: Vec::with_capacity(headers.len()),
            failed: bom,
        };
        for h in headers {
            out.text(h);
        }
        out.end_row();
        out
    }

    /// A free-text cell (names, codes, labels): neutralised.
    pub fn text(&mut self, cell: &str) -> &mut Self {
        self.row.push(neutralise(cell).into_owned());
        self
    }

    /// A number or another value whose text cannot start a formula other than a minus sign
    /// (a date): in a spreadsheet CSV, a decimal point becomes a comma.
    pub fn num(&mut self, cell: impl std::fmt::Display) -> &mut Self {
        let cell = cell.to_string();
        self.row.push(match self.dialect {
            Dialect::Spreadsheet => cell.replace('.', ","),
            Dialect::Data(_) => cell,
        });
        self
    }

    /// Ends the current row.
    pub fn end_row(&mut self) -> &mut Self {
        if let Err(e) = self.writer.write_record(&self.row)
            && self.failed.is_none()
        {
            self.failed = Some(e.into());
        }
        self.row.clear();
        self
    }

    /// The writer once everything is flushed, or the first error met while writing.
    pub fn into_inner(mut self) -> std::io::Result<W> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_newlines_quoted() {
        let mut c = CsvOut::new(Dialect::Data(b';'), &["nom", "n"]);
        c.text("=HYPERLINK(\"http://evil.example\",\"Mairie\")")
            .num(-3)
            .end_row();
        c.text("Mairie\nde Test").num(2).end_row();
        c.text("@SUM(A1)").text("+1").end_row();
        let out = c.finish();
        let mut r = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(out.as_bytes());
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|x| x.expect("a record").iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(
            rows[0][0],
            "'=HYPERLINK(\"http://evil.example\",\"Mairie\")"
        );
        assert_eq!(rows[0][1], "-3");
        assert_eq!(rows[1][0], "Mairie\nde Test");
        assert_eq!(rows[2], vec!["'@SUM(A1)", "'+1"]);
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn a_spreadsheet_csv_starts_with_the_bom_and_writes_decimal_commas() {
        let mut c = CsvOut::new(Dialect::Spreadsheet, &["catégorie", "kg", "n"]);
        c.text("Écran").num(12.5).num(3).end_row();
        let out = c.finish();
        assert_eq!(out, "\u{feff}catégorie;kg;n\nÉcran;12,5;3\n");
        let mut d = CsvOut::new(Dialect::Data(b','), &["kg"]);
        d.num(12.5).end_row();
        assert_eq!(d.finish(), "kg\n12.5\n");
    }

    #[test]
    fn plain_cells_are_untouched() {
        assert_eq!(neutralise("Mairie de Test"), "Mairie de Test");
        assert_eq!(neutralise(""), "");
    }
}
