//! Every CSV the service writes goes through [`CsvOut`]: one place for the separator, quoting
//! and the neutralisation of formula cells (OWASP "CSV injection": a text cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, so a spreadsheet shows
//! it as text instead of running it). Embedded separators, quotes and newlines are quoted.
//! Numbers are written as they are: only text cells may carry a formula.

use std::borrow::Cow;

/// A CSV document built row by row in memory (the exports are small aggregates).
pub struct CsvOut {
    writer: csv::Writer<Vec<u8>>,
    row: Vec<String>,
}

/// A text cell as a spreadsheet may open it safely.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

impl CsvOut {
    /// A document with `separator` (`b';'` or `b','`) and its header row.
    pub fn new(separator: u8, headers: &[&str]) -> Self {
        let mut out = Self {
            writer: csv::WriterBuilder::new()
                .delimiter(separator)
                .quote_style(csv::QuoteStyle::Necessary)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new()),
            row: Vec::with_capacity(headers.len()),
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

    /// A number or another value whose text cannot start a formula other than a minus sign.
    pub fn num(&mut self, cell: impl std::fmt::Display) -> &mut Self {
        self.row.push(cell.to_string());
        self
    }

    /// Ends the current row.
    pub fn end_row(&mut self) -> &mut Self {
        // Writing into a Vec cannot fail.
        let _ = self.writer.write_record(&self.row);
        self.row.clear();
        self
    }

    /// The finished document, UTF-8.
    pub fn finish(self) -> String {
        let bytes = self.writer.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_newlines_quoted() {
        let mut c = CsvOut::new(b';', &["nom", "n"]);
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
            .map(|x| x.unwrap().iter().map(str::to_owned).collect())
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
    fn plain_cells_are_untouched() {
        assert_eq!(neutralise("Mairie de Test"), "Mairie de Test");
        assert_eq!(neutralise(""), "");
    }
}
