//! Bulk import of devices from a spreadsheet (GLPI export or our template): decoding, header
//! mapping, cell parsers and per-row checks. The caller splits the CSV; everything here is pure.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;

use crate::error::{FieldErrors, Invalid};
use crate::item::{Category, InventoryNumber, SpecField, Specs, StorageKind};

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Windows-1252 bytes 0x80–0x9F. The five bytes the code page leaves undefined (0x81, 0x8D,
/// 0x8F, 0x90, 0x9D) map to the C1 control of the same value, as the WHATWG Encoding Standard
/// (and so every browser) does: nothing is lost, and the control characters are refused later
/// wherever a value must be printable.
const WINDOWS_1252_80_9F: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// The character a Windows-1252 byte stands for. 0xA0–0xFF are Latin-1, i.e. the code point of
/// the same value.
pub fn windows_1252(byte: u8) -> char {
    match byte {
        0x80..=0x9F => WINDOWS_1252_80_9F[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

/// Decodes an uploaded file as text.
///
/// - UTF-8 with a byte-order mark: the mark is dropped; the file declared itself UTF-8, so any
///   invalid sequence becomes U+FFFD rather than being re-read in another encoding.
/// - UTF-16 with a byte-order mark (Excel's "Unicode text"): decoded, bad units as U+FFFD.
/// - Otherwise valid UTF-8 is borrowed as is, and anything else is read as Windows-1252, the
///   encoding of Excel's "CSV (séparateur : point-virgule)" on French Windows.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return Cow::Owned(decode_utf16(rest, u16::from_le_bytes));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return Cow::Owned(decode_utf16(rest, u16::from_be_bytes));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().copied().map(windows_1252).collect()),
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let chunks = bytes.chunks_exact(2);
    let odd_byte = !chunks.remainder().is_empty();
    let mut text: String = char::decode_utf16(chunks.map(|pair| unit([pair[0], pair[1]])))
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if odd_byte {
        text.push(char::REPLACEMENT_CHARACTER);
    }
    text
}

/// Drops a leading byte-order mark (U+FEFF), which some tools leave in the first header cell.
pub fn strip_bom(s: &str) -> &str {
    s.strip_prefix('\u{FEFF}').unwrap_or(s)
}

/// Guesses the field delimiter from the header line: whichever of `;`, `,` and tab occurs most
/// outside double quotes. Ties and a line without any go to `;`, the French spreadsheet default
/// (then `,`). Only the first line is looked at, should the caller pass more.
pub fn detect_delimiter(header_line: &str) -> u8 {
    let (mut semicolons, mut commas, mut tabs) = (0usize, 0usize, 0usize);
    let mut quoted = false;
    for c in header_line.chars() {
        match c {
            // A doubled quote inside a quoted field toggles twice: no net change, as wanted.
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            '\t' if !quoted => tabs += 1,
            _ => {}
        }
    }
    if commas > semicolons && commas >= tabs {
        b','
    } else if tabs > semicolons && tabs > commas {
        b'\t'
    } else {
        b';'
    }
}

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

/// A column the import understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Name,
    Entity,
    Status,
    Manufacturer,
    Serial,
    Type,
    Model,
    Location,
    InventoryNumber,
    PurchaseDate,
    Value,
    NetBookValue,
    Comments,
    RamGb,
    StorageGb,
    StorageKind,
    ScreenInches,
    Cpu,
    HasDataStorage,
    StorageMedia,
}

/// The header of our own import template, in order.
pub const TEMPLATE_HEADER: &[&str] = &[
    "inventory_number",
    "category",
    "brand",
    "model",
    "serial_number",
    "name",
    "location",
    "acquisition_date",
    "acquisition_value",
    "net_book_value",
    "ram_gb",
    "storage_gb",
    "storage_kind",
    "screen_inches",
    "cpu",
    "has_data_storage",
    "condition_notes",
    "storage_media",
];

/// Known header names, folded (see [`fold`]: lower case, no accents, `_` read as a space).
const HEADER_NAMES: &[(&str, Column)] = &[
    // GLPI, French.
    ("nom", Column::Name),
    ("entite", Column::Entity),
    ("statut", Column::Status),
    ("fabricant", Column::Manufacturer),
    ("numero de serie", Column::Serial),
    ("type", Column::Type),
    ("modele", Column::Model),
    ("lieu", Column::Location),
    ("numero d'inventaire", Column::InventoryNumber),
    ("date d'achat", Column::PurchaseDate),
    ("valeur", Column::Value),
    ("valeur nette comptable", Column::NetBookValue),
    ("commentaires", Column::Comments),
    // GLPI, English.
    ("name", Column::Name),
    ("entity", Column::Entity),
    ("status", Column::Status),
    ("manufacturer", Column::Manufacturer),
    ("serial number", Column::Serial),
    ("model", Column::Model),
    ("location", Column::Location),
    ("inventory number", Column::InventoryNumber),
    ("date of purchase", Column::PurchaseDate),
    ("value", Column::Value),
    ("net book value", Column::NetBookValue),
    ("comments", Column::Comments),
    // Snipe-IT's asset export (its own English headers).
    ("asset tag", Column::InventoryNumber),
    ("asset name", Column::Name),
    ("serial", Column::Serial),
    ("purchase date", Column::PurchaseDate),
    ("purchase cost", Column::Value),
    ("notes", Column::Comments),
    // Our template; inventory_number, model, serial_number, name, location and net_book_value
    // fold to the GLPI English names above.
    ("category", Column::Type),
    ("brand", Column::Manufacturer),
    ("acquisition date", Column::PurchaseDate),
    ("acquisition value", Column::Value),
    ("ram gb", Column::RamGb),
    ("storage gb", Column::StorageGb),
    ("storage kind", Column::StorageKind),
    ("screen inches", Column::ScreenInches),
    ("cpu", Column::Cpu),
    ("has data storage", Column::HasDataStorage),
    ("condition notes", Column::Comments),
    ("storage media", Column::StorageMedia),
    ("supports de stockage", Column::StorageMedia),
];

/// Folds a label for comparison: lower case, accents removed, typographic apostrophes made
/// straight, `-` and `_` read as spaces, runs of white space collapsed and ends trimmed. Labels
/// come from hand-made spreadsheets: "Numéro d’inventaire", "NUMERO D'INVENTAIRE" and
/// "numero_d_inventaire" are one intent.
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let piece = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'œ' => "oe",
            'æ' => "ae",
            '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' | '´' => "'",
            '-' | '_' | '\u{2010}' | '\u{2011}' | '\u{2013}' => " ",
            c if c.is_whitespace() => " ",
            c => {
                out.push(c);
                continue;
            }
        };
        if piece != " " {
            out.push_str(piece);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Recognises a header cell: GLPI's French or English column names, or our template's. Case,
/// accents, surrounding spaces and quotes, and a byte-order mark are ignored.
pub fn map_header(h: &str) -> Option<Column> {
    let h = h.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '\u{FEFF}' | '«' | '»' | '“' | '”')
    });
    let key = fold(h);
    HEADER_NAMES
        .iter()
        .find(|(name, _)| *name == key)
        .map(|&(_, column)| column)
}

/// Why a header line cannot be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// No column holds the inventory number, which identifies each device.
    MissingInventoryNumberColumn,
    /// No column holds the type (category) of the device.
    MissingTypeColumn,
}

impl HeaderError {
    /// The stable code of this error.
    pub fn code(self) -> &'static str {
        match self {
            HeaderError::MissingInventoryNumberColumn => "missing_inventory_number_column",
            HeaderError::MissingTypeColumn => "missing_type_column",
        }
    }

    /// The message shown to French readers.
    pub fn message_fr(self) -> &'static str {
        match self {
            HeaderError::MissingInventoryNumberColumn => {
                "Aucune colonne « Numéro d'inventaire » (ou inventory_number) dans l'en-tête du fichier."
            }
            HeaderError::MissingTypeColumn => {
                "Aucune colonne « Type » (ou category) dans l'en-tête du fichier."
            }
        }
    }

    /// The message shown to English readers.
    pub fn message_en(self) -> &'static str {
        match self {
            HeaderError::MissingInventoryNumberColumn => {
                "The file's header has no “Inventory number” (or inventory_number) column."
            }
            HeaderError::MissingTypeColumn => {
                "The file's header has no “Type” (or category) column."
            }
        }
    }
}

/// The French message, the product's default language.
impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message_fr())
    }
}

impl std::error::Error for HeaderError {}

/// Where each recognised column sits in the file, and its header as written there (so that
/// errors name the column the way the user sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMap {
    found: HashMap<Column, (usize, String)>,
    ignored: Vec<String>,
}

impl HeaderMap {
    /// Maps a header line. Unknown columns are ignored (see [`HeaderMap::ignored`]); when a
    /// column appears twice, the first one is used and the later one ignored. The inventory
    /// number and the type are required.
    pub fn from_headers(headers: &[&str]) -> Result<HeaderMap, HeaderError> {
        let mut found = HashMap::new();
        let mut ignored = Vec::new();
        for (index, raw) in headers.iter().enumerate() {
            let written = strip_bom(raw).trim().to_owned();
            match map_header(raw) {
                Some(column) if !found.contains_key(&column) => {
                    found.insert(column, (index, written));
                }
                Some(_) | None => ignored.push(written),
            }
        }
        if !found.contains_key(&Column::InventoryNumber) {
            return Err(HeaderError::MissingInventoryNumberColumn);
        }
        if !found.contains_key(&Column::Type) {
            return Err(HeaderError::MissingTypeColumn);
        }
        Ok(HeaderMap { found, ignored })
    }

    /// The position of `column` in each record, if the file has it.
    pub fn index(&self, column: Column) -> Option<usize> {
        self.found.get(&column).map(|(index, _)| *index)
    }

    /// The header of `column` as written in the file (trimmed), if the file has it.
    pub fn header(&self, column: Column) -> Option<&str> {
        self.found.get(&column).map(|(_, header)| header.as_str())
    }

    /// Headers that were not recognised, or repeated a recognised column, in file order.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

/// Why a row was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowRejection {
    MissingInventoryNumber,
    InventoryNumberTooLong,
    /// An earlier row of the same file has this inventory number.
    DuplicateInFile {
        first_line: u64,
    },
    MissingType,
    /// The type, as written, matches no category.
    UnknownType(String),
    InvalidDate,
    FutureDate,
    NegativeValue,
    InvalidAmount,
    /// Not a number (or, for the inventory number, control characters in it).
    InvalidNumber,
    ValueTooLong,
    /// A control character (line break, tab…) in a one-line text, or another control character
    /// in the comments.
    InvalidText,
    /// A specification out of range, not applicable to the category, or not understood.
    InvalidSpec,
}

impl RowRejection {
    /// The stable snake_case code of this reason.
    pub fn code(&self) -> &'static str {
        match self {
            RowRejection::MissingInventoryNumber => "missing_inventory_number",
            RowRejection::InventoryNumberTooLong => "inventory_number_too_long",
            RowRejection::DuplicateInFile { .. } => "duplicate_in_file",
            RowRejection::MissingType => "missing_type",
            RowRejection::UnknownType(_) => "unknown_type",
            RowRejection::InvalidDate => "invalid_date",
            RowRejection::FutureDate => "future_date",
            RowRejection::NegativeValue => "negative_value",
            RowRejection::InvalidAmount => "invalid_amount",
            RowRejection::InvalidNumber => "invalid_number",
            RowRejection::ValueTooLong => "value_too_long",
            RowRejection::InvalidText => "invalid_text",
            RowRejection::InvalidSpec => "invalid_spec",
        }
    }

    /// The sentence shown to French readers.
    pub fn message_fr(&self) -> String {
        match self {
            RowRejection::MissingInventoryNumber => "Numéro d'inventaire manquant.".into(),
            RowRejection::InventoryNumberTooLong => {
                "Numéro d'inventaire trop long (25 caractères au plus).".into()
            }
            RowRejection::DuplicateInFile { first_line } => format!(
                "Numéro d'inventaire en double dans le fichier (déjà à la ligne {first_line})."
            ),
            RowRejection::MissingType => "Type d'appareil manquant.".into(),
            RowRejection::UnknownType(t) => format!("Type « {t} » inconnu."),
            RowRejection::InvalidDate => {
                "Date invalide (formats acceptés : AAAA-MM-JJ ou JJ/MM/AAAA).".into()
            }
            RowRejection::FutureDate => "Date d'achat dans le futur.".into(),
            RowRejection::NegativeValue => "Montant négatif.".into(),
            RowRejection::InvalidAmount => "Montant invalide (exemple : 1 234,56).".into(),
            RowRejection::InvalidNumber => "Nombre ou numéro invalide.".into(),
            RowRejection::ValueTooLong => "Valeur trop longue.".into(),
            RowRejection::InvalidText => {
                "Caractère de contrôle interdit (retour à la ligne ou tabulation hors commentaires).".into()
            }
            RowRejection::InvalidSpec => {
                "Caractéristique invalide, ou sans objet pour ce type d'appareil.".into()
            }
        }
    }

    /// The sentence shown to English readers.
    pub fn message_en(&self) -> String {
        match self {
            RowRejection::MissingInventoryNumber => "Missing inventory number.".into(),
            RowRejection::InventoryNumberTooLong => {
                "Inventory number too long (25 characters at most).".into()
            }
            RowRejection::DuplicateInFile { first_line } => {
                format!("Inventory number repeated in the file (already on line {first_line}).")
            }
            RowRejection::MissingType => "Missing device type.".into(),
            RowRejection::UnknownType(t) => format!("Unknown type “{t}”."),
            RowRejection::InvalidDate => {
                "Invalid date (accepted formats: YYYY-MM-DD or DD/MM/YYYY).".into()
            }
            RowRejection::FutureDate => "Purchase date in the future.".into(),
            RowRejection::NegativeValue => "Negative amount.".into(),
            RowRejection::InvalidAmount => "Invalid amount (example: 1,234.56).".into(),
            RowRejection::InvalidNumber => "Invalid number.".into(),
            RowRejection::ValueTooLong => "Value too long.".into(),
            RowRejection::InvalidText => {
                "Control character not allowed (a line break or tab outside the comments).".into()
            }
            RowRejection::InvalidSpec => {
                "Invalid specification, or one that does not apply to this kind of device.".into()
            }
        }
    }
}

/// The French message.
impl fmt::Display for RowRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_fr())
    }
}

/// A refused row: its line in the file (the header is line 1), the column at fault as headed in
/// the file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: Option<String>,
    pub reason: RowRejection,
}

/// In French: `ligne 7, colonne « Numéro d'inventaire » : Numéro d'inventaire manquant.`
impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ligne {}", self.line)?;
        if let Some(column) = &self.column {
            write!(f, ", colonne « {column} »")?;
        }
        write!(f, " : {}", self.reason)
    }
}

impl std::error::Error for RowError {}

// ---------------------------------------------------------------------------------------------
// Cell parsers
// ---------------------------------------------------------------------------------------------

/// Reads a date written `YYYY-MM-DD`, `DD/MM/YYYY`, `D/M/YYYY` or `DD-MM-YYYY`. Dates that do
/// not exist (2021-13-45, 31/02/2020) are refused.
pub fn parse_date(s: &str) -> Result<NaiveDate, RowRejection> {
    let s = s.trim();
    // Snipe-IT and GLPI may add a time of day ("2021-03-15 00:00:00"): the date is what counts.
    let s = match s.split_once(' ') {
        Some((date, time)) if time.trim().bytes().all(|b| b.is_ascii_digit() || b == b':') => date,
        _ => s,
    };
    let separator = if s.contains('/') { '/' } else { '-' };
    let parts: Vec<&str> = s.split(separator).collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(RowRejection::InvalidDate);
    };
    let digits = |p: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    let (year, month, day) = if digits(a, 4..=4) && digits(b, 1..=2) && digits(c, 1..=2) {
        (*a, *b, *c)
    } else if digits(a, 1..=2) && digits(b, 1..=2) && digits(c, 4..=4) {
        (*c, *b, *a)
    } else {
        return Err(RowRejection::InvalidDate);
    };
    // Each part is 1 to 4 ASCII digits, so these parses cannot fail.
    let (Ok(year), Ok(month), Ok(day)) = (year.parse(), month.parse(), day.parse()) else {
        return Err(RowRejection::InvalidDate);
    };
    NaiveDate::from_ymd_opt(year, month, day).ok_or(RowRejection::InvalidDate)
}

/// Characters that separate groups of thousands whatever the locale: spaces (including the
/// no-break and narrow no-break spaces French typography and Excel use) and apostrophes (Swiss).
fn is_group_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{00A0}' | '\u{202F}' | '\u{2009}' | '\'' | '\u{2019}'
    )
}

/// Drops one leading or trailing `€` or `EUR` (any case) and the spaces around it; says whether
/// it did.
fn strip_currency(s: &str) -> (&str, bool) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('€').or_else(|| s.strip_suffix('€')) {
        return (rest.trim(), true);
    }
    let eur = |part: Option<&str>| part.is_some_and(|p| p.eq_ignore_ascii_case("eur"));
    if eur(s.get(..3)) {
        (s[3..].trim(), true)
    } else if s.len() >= 3 && eur(s.get(s.len() - 3..)) {
        (s[..s.len() - 3].trim(), true)
    } else {
        (s, false)
    }
}

/// An integer written with optional thousands separators (group spaces, and `punct` if given):
/// `1 136`, `1.136.810`. Groups after the first must have three digits, and a grouped number
/// cannot start with 0.
fn grouped_integer(s: &str, punct: Option<char>) -> Option<i64> {
    let groups: Vec<&str> = s
        .split(|c: char| is_group_space(c) || Some(c) == punct)
        .collect();
    let well_formed = groups
        .iter()
        .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return None;
    }
    if let [first, rest @ ..] = groups.as_slice()
        && !rest.is_empty()
        && (first.len() > 3 || first.starts_with('0') || rest.iter().any(|g| g.len() != 3))
    {
        return None;
    }
    groups
        .iter()
        .flat_map(|g| g.bytes())
        .try_fold(0i64, |acc, b| {
            acc.checked_mul(10)?.checked_add(i64::from(b - b'0'))
        })
}

/// An amount without sign or currency, in cents.
fn unsigned_cents(s: &str) -> Option<i64> {
    let dots = s.matches('.').count();
    let commas = s.matches(',').count();
    let (int_part, fraction, thousands) = match (dots, commas) {
        (0, 0) => (s, None, None),
        (1.., 1..) => {
            // Both marks: the last one is the decimal separator, the other groups thousands
            // (1,136.81 in English, 1.136,81 in French).
            let (decimal, thousands) = if s.rfind('.') > s.rfind(',') {
                ('.', ',')
            } else {
                (',', '.')
            };
            if s.matches(decimal).count() > 1 {
                return None;
            }
            let (int_part, fraction) = s.rsplit_once(decimal)?;
            (int_part, Some(fraction), Some(thousands))
        }
        _ => {
            let mark = if dots > 0 { '.' } else { ',' };
            if dots + commas > 1 {
                // Repeated, the mark can only group thousands (1.136.810).
                (s, None, Some(mark))
            } else {
                // Alone, it is the decimal mark. "1,136" is thus refused (three decimals)
                // rather than guessed: English thousands or French decimals, a wrong guess
                // would be off by a factor of 1000 without anyone noticing.
                let (int_part, fraction) = s.split_once(mark)?;
                (int_part, Some(fraction), None)
            }
        }
    };
    let units = grouped_integer(int_part, thousands)?;
    let fraction_cents = match fraction.map(str::as_bytes) {
        None => 0,
        Some(&[d]) if d.is_ascii_digit() => i64::from(d - b'0') * 10,
        Some(&[d1, d2]) if d1.is_ascii_digit() && d2.is_ascii_digit() => {
            i64::from(d1 - b'0') * 10 + i64::from(d2 - b'0')
        }
        // No digit, or more than two: cents are the finest unit of an amount.
        Some(_) => return None,
    };
    units.checked_mul(100)?.checked_add(fraction_cents)
}

/// Reads an amount in euros and returns it in cents: decimal comma or point; spaces, no-break
/// spaces or apostrophes between thousands; `1,136.81` and `1.136,81` both understood; an
/// optional `€` or `EUR`. At most two decimals, so a lone mark before three digits (`1,136`) is
/// refused. A negative amount is `NegativeValue`, anything unreadable `InvalidAmount`; `-0` is
/// zero.
pub fn parse_amount(s: &str) -> Result<i64, RowRejection> {
    let (s, had_currency) = strip_currency(s);
    let (negative, rest) = match s.strip_prefix(['-', '\u{2212}']) {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    // The currency may also follow the sign: "-€ 50" (but only one currency per amount).
    let rest = if had_currency {
        rest.trim()
    } else {
        strip_currency(rest).0
    };
    let cents = unsigned_cents(rest).ok_or(RowRejection::InvalidAmount)?;
    if negative && cents > 0 {
        Err(RowRejection::NegativeValue)
    } else {
        Ok(cents)
    }
}

/// GLPI type names and common synonyms, folded (see [`fold`]).
const TYPE_NAMES: &[(&str, Category)] = &[
    ("portable", Category::Laptop),
    ("ordinateur portable", Category::Laptop),
    ("pc portable", Category::Laptop),
    ("laptop", Category::Laptop),
    ("notebook", Category::Laptop),
    ("ordinateur de bureau", Category::Desktop),
    ("ordinateur", Category::Desktop),
    ("unite centrale", Category::Desktop),
    ("poste fixe", Category::Desktop),
    ("pc fixe", Category::Desktop),
    ("station de travail", Category::Desktop),
    ("desktop", Category::Desktop),
    ("computer", Category::Desktop),
    ("workstation", Category::Desktop),
    ("tout en un", Category::AllInOne),
    ("all in one", Category::AllInOne),
    ("ecran", Category::Monitor),
    ("moniteur", Category::Monitor),
    ("monitor", Category::Monitor),
    ("screen", Category::Monitor),
    ("tablette", Category::Tablet),
    ("tablet", Category::Tablet),
    ("telephone", Category::Smartphone),
    ("telephone mobile", Category::Smartphone),
    ("telephone portable", Category::Smartphone),
    ("smartphone", Category::Smartphone),
    ("mobile", Category::Smartphone),
    ("phone", Category::Smartphone),
    ("imprimante", Category::Printer),
    ("printer", Category::Printer),
    ("imprimante multifonction", Category::MultifunctionPrinter),
    ("imprimante multifonctions", Category::MultifunctionPrinter),
    ("multifonction", Category::MultifunctionPrinter),
    ("multifonctions", Category::MultifunctionPrinter),
    ("copieur", Category::MultifunctionPrinter),
    ("photocopieur", Category::MultifunctionPrinter),
    ("mfp", Category::MultifunctionPrinter),
    ("multifunction printer", Category::MultifunctionPrinter),
    ("videoprojecteur", Category::Projector),
    ("video projecteur", Category::Projector),
    ("projecteur", Category::Projector),
    ("projector", Category::Projector),
    ("switch", Category::Network),
    ("commutateur", Category::Network),
    ("routeur", Category::Network),
    ("borne wifi", Category::Network),
    ("borne wi fi", Category::Network),
    ("equipement reseau", Category::Network),
    ("network equipment", Category::Network),
    ("router", Category::Network),
    ("serveur", Category::Server),
    ("server", Category::Server),
    ("peripherique", Category::Peripheral),
    ("clavier", Category::Peripheral),
    ("souris", Category::Peripheral),
    ("station d'accueil", Category::Peripheral),
    ("peripheral", Category::Peripheral),
    ("keyboard", Category::Peripheral),
    ("mouse", Category::Peripheral),
    ("docking station", Category::Peripheral),
    // Snipe-IT's default category names (plural, English).
    ("laptops", Category::Laptop),
    ("notebooks", Category::Laptop),
    ("desktops", Category::Desktop),
    ("computers", Category::Desktop),
    ("workstations", Category::Desktop),
    ("all in ones", Category::AllInOne),
    ("monitors", Category::Monitor),
    ("displays", Category::Monitor),
    ("tablets", Category::Tablet),
    ("mobile phones", Category::Smartphone),
    ("smartphones", Category::Smartphone),
    ("phones", Category::Smartphone),
    ("printers", Category::Printer),
    ("multifunction printers", Category::MultifunctionPrinter),
    ("projectors", Category::Projector),
    ("networking", Category::Network),
    ("network", Category::Network),
    ("switches", Category::Network),
    ("servers", Category::Server),
    ("peripherals", Category::Peripheral),
    ("keyboards", Category::Peripheral),
    ("docking stations", Category::Peripheral),
];

/// Maps a GLPI type (or our category name, or our French label) to a category, ignoring case
/// and accents. `None` for anything else: the row is refused rather than filed as "other",
/// since a vacuum cleaner in a computer export is a mistake to show, not a device to keep.
pub fn map_type(s: &str) -> Option<Category> {
    let key = fold(s);
    if key.is_empty() {
        return None;
    }
    TYPE_NAMES
        .iter()
        .find(|(name, _)| *name == key)
        .map(|&(_, category)| category)
        .or_else(|| Category::parse(&key.replace(' ', "_")))
        .or_else(|| {
            Category::ALL
                .into_iter()
                .find(|c| fold(c.label_fr()) == key)
        })
}

/// Splits a trailing unit (letters and quote marks) off a number: `512 Go` → (`512`, `go`).
fn split_unit(s: &str) -> (&str, String) {
    let s = s.trim();
    let at = s
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphabetic() || matches!(c, '"' | '\'' | '”' | '″' | '’'))
        .last()
        .map_or(s.len(), |(i, _)| i);
    (s[..at].trim_end(), fold(&s[at..]))
}

/// Reads a size in gigabytes: `8`, `8 Go`, `8GB`, `512 Go`, `1 To` (terabytes count as 1000
/// GB, as drives are sold). `InvalidNumber` otherwise.
pub fn parse_gigabytes(s: &str) -> Result<i32, RowRejection> {
    let (number, unit) = split_unit(s);
    let factor = match unit.as_str() {
        "" | "g" | "go" | "gb" | "gio" | "gib" => 1,
        "t" | "to" | "tb" | "tio" | "tib" => 1000,
        _ => return Err(RowRejection::InvalidNumber),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RowRejection::InvalidNumber);
    }
    number
        .parse::<i32>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or(RowRejection::InvalidNumber)
}

/// Reads a screen diagonal in inches: `23,8`, `23.8`, `24"`, `24 pouces`, `24 in`.
pub fn parse_inches(s: &str) -> Result<f64, RowRejection> {
    let (number, unit) = split_unit(s);
    if !matches!(
        unit.as_str(),
        "" | "\"" | "''" | "”" | "″" | "po" | "pouce" | "pouces" | "in" | "inch" | "inches"
    ) {
        return Err(RowRejection::InvalidNumber);
    }
    // Checked by hand so that f64's own syntax ("inf", "1e3", "NaN") is not accepted.
    let (whole, fraction) = number
        .split_once([',', '.'])
        .map_or((number, None), |(w, f)| (w, Some(f)));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !fraction.is_none_or(digits) {
        return Err(RowRejection::InvalidNumber);
    }
    let text = match fraction {
        Some(fraction) => format!("{whole}.{fraction}"),
        None => whole.to_owned(),
    };
    text.parse().map_err(|_| RowRejection::InvalidNumber)
}

/// Reads a storage kind: `hdd`, `ssd`, `nvme`, `emmc`, `flash` in any case, and a few French
/// and English spellings ("disque dur", "SSD NVMe"). `InvalidSpec` otherwise.
pub fn parse_storage_kind(s: &str) -> Result<StorageKind, RowRejection> {
    let key = fold(s);
    match key.as_str() {
        "disque dur" | "hard disk" | "hard drive" => Ok(StorageKind::Hdd),
        "ssd nvme" | "nvme ssd" | "m.2 nvme" => Ok(StorageKind::Nvme),
        "memoire flash" | "flash memory" => Ok(StorageKind::Flash),
        _ => StorageKind::parse(&key).ok_or(RowRejection::InvalidSpec),
    }
}

/// Reads a yes/no cell: oui/non, yes/no, true/false, vrai/faux, 1/0, o/n, y/n. `InvalidSpec`
/// otherwise (the only boolean imported is whether the device holds data).
pub fn parse_bool(s: &str) -> Result<bool, RowRejection> {
    match fold(s).as_str() {
        "oui" | "o" | "yes" | "y" | "true" | "vrai" | "1" => Ok(true),
        "non" | "n" | "no" | "false" | "faux" | "0" => Ok(false),
        _ => Err(RowRejection::InvalidSpec),
    }
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/// One importable device, as read from one row.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// Line in the file; the header is line 1.
    pub line: u64,
    pub inventory_number: InventoryNumber,
    pub category: Category,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    /// The donor's own status label (GLPI "Statut": "À réformer", "En stock"…), kept as text.
    pub donor_status: Option<String>,
    pub acquisition_date: Option<NaiveDate>,
    pub acquisition_value_cents: Option<i64>,
    pub net_book_value_cents: Option<i64>,
    pub condition_notes: Option<String>,
    pub has_data_storage: bool,
    pub specs: Specs,
    /// The storage media the row declares (`None` when the file has no such cell).
    pub storage_media: Option<Vec<ImportMedium>>,
}

/// One storage medium declared in an import cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportMedium {
    pub serial: String,
    pub medium_type: Option<StorageKind>,
}

/// Reads a storage-media cell: media separated by `|` or `,`, each a serial optionally
/// prefixed by its kind (`ssd:S3Z9NB0K | hdd:WD-WCC4E1234567`). At most
/// [`crate::workshop::MAX_MEDIA`] media, no serial twice, each at most 100 characters.
pub fn parse_media(s: &str) -> Result<Vec<ImportMedium>, RowRejection> {
    let mut media: Vec<ImportMedium> = Vec::new();
    for piece in s.split(['|', ',']) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let (medium_type, serial) = match piece.split_once(':') {
            Some((kind, serial)) => match StorageKind::parse(&kind.trim().to_lowercase()) {
                Some(k) => (Some(k), serial.trim()),
                None => (None, piece),
            },
            None => (None, piece),
        };
        if serial.is_empty() || serial.chars().count() > 100 || serial.chars().any(char::is_control)
        {
            return Err(RowRejection::InvalidSpec);
        }
        let key = crate::workshop::medium_key(serial);
        if media
            .iter()
            .any(|m| crate::workshop::medium_key(&m.serial) == key)
        {
            return Err(RowRejection::InvalidSpec);
        }
        media.push(ImportMedium {
            serial: serial.to_owned(),
            medium_type,
        });
        if media.len() > crate::workshop::MAX_MEDIA {
            return Err(RowRejection::InvalidSpec);
        }
    }
    Ok(media)
}

/// Upper bounds, in characters, of the free-text cells; they match the item's own fields.
const MAX_BRAND: usize = 100;
const MAX_MODEL: usize = 200;
const MAX_SERIAL: usize = 100;
const MAX_NAME: usize = 200;
const MAX_LOCATION: usize = 200;
/// Not in the brief's list; bounded like a name so that no cell is unbounded.
const MAX_DONOR_STATUS: usize = 200;
const MAX_NOTES: usize = 2000;

/// The cells of one record, seen through the header map.
struct Cells<'a, 'r, 's> {
    headers: &'a HeaderMap,
    record: &'r [&'s str],
    line: u64,
}

impl<'s> Cells<'_, '_, 's> {
    /// The trimmed cell of `column`; `None` when the file has no such column, the record is
    /// short, or the cell is blank.
    fn get(&self, column: Column) -> Option<&'s str> {
        let index = self.headers.index(column)?;
        let cell: &'s str = self.record.get(index)?;
        let cell = cell.trim();
        (!cell.is_empty()).then_some(cell)
    }

    fn reject(&self, column: Column, reason: RowRejection) -> RowError {
        RowError {
            line: self.line,
            column: self.headers.header(column).map(str::to_owned),
            reason,
        }
    }

    /// Parses the cell of `column` if present, blaming that column on failure.
    fn parse<T>(
        &self,
        column: Column,
        parse: impl FnOnce(&str) -> Result<T, RowRejection>,
    ) -> Result<Option<T>, RowError> {
        self.get(column)
            .map(parse)
            .transpose()
            .map_err(|reason| self.reject(column, reason))
    }

    /// The one-line text of `column`, at most `max` characters.
    fn text(&self, column: Column, max: usize) -> Result<Option<String>, RowError> {
        self.parse(column, |s| {
            if s.chars().count() > max {
                Err(RowRejection::ValueTooLong)
            } else if crate::text::has_forbidden(s) {
                Err(RowRejection::InvalidText)
            } else {
                Ok(s.to_owned())
            }
        })
    }

    /// The free text of `column` (comments): line breaks and tabs kept, other controls refused.
    fn free_text(&self, column: Column, max: usize) -> Result<Option<String>, RowError> {
        self.parse(column, |s| {
            let s = s.replace("\r\n", "\n");
            if s.chars().count() > max {
                Err(RowRejection::ValueTooLong)
            } else if s
                .chars()
                .any(|c| crate::text::is_forbidden(c) && c != '\n' && c != '\t')
            {
                Err(RowRejection::InvalidText)
            } else {
                Ok(s)
            }
        })
    }
}

/// The import column of a specification field, to blame it when `Specs::check` refuses it.
fn spec_column(field: &str) -> Option<Column> {
    [
        (SpecField::Cpu, Column::Cpu),
        (SpecField::RamGb, Column::RamGb),
        (SpecField::StorageGb, Column::StorageGb),
        (SpecField::StorageKind, Column::StorageKind),
        (SpecField::ScreenInches, Column::ScreenInches),
    ]
    .into_iter()
    .find(|(spec, _)| spec.name() == field)
    .map(|(_, column)| column)
}

/// Reads one record (`line` counts the header as 1). A record may be shorter than the header:
/// missing cells are blank. Checks run in a fixed order and the first failure is reported:
/// inventory number, type, purchase date (and not after `today`), value, net book value,
/// free texts, then specifications.
pub fn parse_row(
    headers: &HeaderMap,
    record: &[&str],
    line: u64,
    today: NaiveDate,
) -> Result<ImportRow, RowError> {
    let cells = Cells {
        headers,
        record,
        line,
    };

    let inventory_number = cells
        .get(Column::InventoryNumber)
        .ok_or_else(|| {
            cells.reject(
                Column::InventoryNumber,
                RowRejection::MissingInventoryNumber,
            )
        })
        .and_then(|raw| {
            InventoryNumber::parse(raw).map_err(|invalid| {
                let reason = match invalid {
                    Invalid::Required => RowRejection::MissingInventoryNumber,
                    Invalid::TooLong => RowRejection::InventoryNumberTooLong,
                    // Anything else is a malformed number (control characters).
                    _ => RowRejection::InvalidNumber,
                };
                cells.reject(Column::InventoryNumber, reason)
            })
        })?;

    let raw_type = cells
        .get(Column::Type)
        .ok_or_else(|| cells.reject(Column::Type, RowRejection::MissingType))?;
    let category = map_type(raw_type).ok_or_else(|| {
        // Echoed in the report: cut, so that a row costs the report a bounded size.
        let shown: String = raw_type.chars().take(40).collect();
        cells.reject(Column::Type, RowRejection::UnknownType(shown))
    })?;

    let acquisition_date = cells.parse(Column::PurchaseDate, |s| {
        let date = parse_date(s)?;
        if date > today {
            Err(RowRejection::FutureDate)
        } else {
            Ok(date)
        }
    })?;
    let acquisition_value_cents = cells.parse(Column::Value, parse_amount)?;
    let net_book_value_cents = cells.parse(Column::NetBookValue, parse_amount)?;

    let brand = cells.text(Column::Manufacturer, MAX_BRAND)?;
    let model = cells.text(Column::Model, MAX_MODEL)?;
    let serial = cells.text(Column::Serial, MAX_SERIAL)?;
    let name = cells.text(Column::Name, MAX_NAME)?;
    let location = cells.text(Column::Location, MAX_LOCATION)?;
    let donor_status = cells.text(Column::Status, MAX_DONOR_STATUS)?;
    let condition_notes = cells.free_text(Column::Comments, MAX_NOTES)?;

    let specs = Specs {
        // Its length is bounded by `Specs::check` below.
        cpu: cells.text(Column::Cpu, usize::MAX)?,
        ram_gb: cells.parse(Column::RamGb, parse_gigabytes)?,
        storage_gb: cells.parse(Column::StorageGb, parse_gigabytes)?,
        storage_kind: cells.parse(Column::StorageKind, parse_storage_kind)?,
        screen_inches: cells.parse(Column::ScreenInches, parse_inches)?,
        battery_health_percent: None,
        ..Specs::default()
    };
    let has_data_storage = cells
        .parse(Column::HasDataStorage, parse_bool)?
        .unwrap_or_else(|| category.has_data_storage_by_default());
    let storage_media = cells.parse(Column::StorageMedia, parse_media)?;
    if storage_media.as_ref().is_some_and(|m| !m.is_empty()) && !has_data_storage {
        return Err(cells.reject(Column::StorageMedia, RowRejection::InvalidSpec));
    }

    let mut errors = FieldErrors::new();
    specs.check(category, "", &mut errors);
    if let Some(first) = errors.0.first() {
        return Err(RowError {
            line,
            column: spec_column(&first.field)
                .and_then(|column| headers.header(column))
                .map(str::to_owned),
            reason: RowRejection::InvalidSpec,
        });
    }

    Ok(ImportRow {
        line,
        inventory_number,
        category,
        brand,
        model,
        serial,
        name,
        location,
        donor_status,
        acquisition_date,
        acquisition_value_cents,
        net_book_value_cents,
        condition_notes,
        has_data_storage,
        specs,
        storage_media,
    })
}

/// Refuses an inventory number seen earlier in the same file. Feed it only rows that
/// [`parse_row`] accepted, in file order: the first occurrence is kept.
#[derive(Debug, Clone)]
pub struct DuplicateTracker {
    first_lines: HashMap<InventoryNumber, u64>,
    column: Option<String>,
}

impl DuplicateTracker {
    /// A tracker for a file with these headers (to name the inventory-number column in errors).
    pub fn new(headers: &HeaderMap) -> Self {
        Self {
            first_lines: HashMap::new(),
            column: headers.header(Column::InventoryNumber).map(str::to_owned),
        }
    }

    /// Records `row`, or refuses it if an earlier row had the same inventory number.
    pub fn check(&mut self, row: &ImportRow) -> Result<(), RowError> {
        match self.first_lines.get(&row.inventory_number) {
            Some(&first_line) => Err(RowError {
                line: row.line,
                column: self.column.clone(),
                reason: RowRejection::DuplicateInFile { first_line },
            }),
            None => {
                self.first_lines
                    .insert(row.inventory_number.clone(), row.line);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../../tests/fixtures/glpi-ordinateurs.csv");
    const EXPECTED: &str = include_str!("../../tests/fixtures/glpi-ordinateurs.expected.json");

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn today() -> NaiveDate {
        date("2026-11-29")
    }

    /// Splits one CSV line: quoted fields with doubled quotes, as spreadsheets write them.
    fn split_record(line: &str, delimiter: u8) -> Vec<String> {
        let delimiter = char::from(delimiter);
        let mut fields = vec![String::new()];
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            let field = fields.last_mut().expect("at least one field");
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                c if c == delimiter && !quoted => fields.push(String::new()),
                c => field.push(c),
            }
        }
        fields
    }

    /// What the api does with a file: the valid inventory numbers, and each refused line with
    /// its error.
    fn import(bytes: &[u8]) -> (Vec<String>, BTreeMap<u64, RowError>, usize) {
        let text = decode(bytes);
        let mut lines = text.lines();
        let header_line = lines.next().expect("header line");
        let delimiter = detect_delimiter(header_line);
        let header_cells = split_record(header_line, delimiter);
        let header_refs: Vec<&str> = header_cells.iter().map(String::as_str).collect();
        let headers = HeaderMap::from_headers(&header_refs).expect("known headers");
        let mut tracker = DuplicateTracker::new(&headers);
        let (mut valid, mut rejected, mut rows) = (Vec::new(), BTreeMap::new(), 0);
        for (line, record) in (2u64..).zip(lines) {
            if record.trim().is_empty() {
                continue;
            }
            rows += 1;
            let cells = split_record(record, delimiter);
            let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
            let outcome = parse_row(&headers, &refs, line, today())
                .and_then(|row| tracker.check(&row).map(|()| row));
            match outcome {
                Ok(row) => valid.push(row.inventory_number.as_str().to_owned()),
                Err(error) => {
                    rejected.insert(line, error);
                }
            }
        }
        (valid, rejected, rows)
    }

    /// The expected outcome of the sample, with reasons turned into our codes.
    fn expected() -> (Vec<String>, BTreeMap<u64, &'static str>, usize) {
        let json: serde_json::Value = serde_json::from_str(EXPECTED).expect("expected JSON");
        let valid = json["valid"]
            .as_array()
            .expect("valid list")
            .iter()
            .map(|v| v.as_str().expect("inventory number").to_owned())
            .collect();
        let rejected = json["rejected"]
            .as_object()
            .expect("rejected map")
            .iter()
            .map(|(line, reason)| {
                let code = match reason.as_str().expect("reason") {
                    "missing inventory number" => "missing_inventory_number",
                    "duplicate inventory number in file" => "duplicate_in_file",
                    "invalid purchase date" => "invalid_date",
                    "negative value" => "negative_value",
                    "unknown type" => "unknown_type",
                    "inventory number longer than 25 characters" => "inventory_number_too_long",
                    "purchase date in the future" => "future_date",
                    other => panic!("unexpected reason in the fixture: {other}"),
                };
                (line.parse().expect("line number"), code)
            })
            .collect();
        let rows = json["rows"].as_u64().expect("row count");
        (valid, rejected, usize::try_from(rows).expect("small"))
    }

    const SNIPEIT: &[u8] = include_bytes!("../../tests/fixtures/snipeit-assets.csv");
    const SNIPEIT_EXPECTED: &str =
        include_str!("../../tests/fixtures/snipeit-assets.expected.json");

    #[test]
    fn the_snipeit_asset_export_imports_as_it_is() {
        let (valid, rejected, rows) = import(SNIPEIT);
        let expected: serde_json::Value =
            serde_json::from_str(SNIPEIT_EXPECTED).expect("expected outcome");
        let expected_valid: Vec<String> = expected["valid"]
            .as_array()
            .expect("valid")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(valid, expected_valid);
        let codes: BTreeMap<String, String> = rejected
            .iter()
            .map(|(line, e)| (line.to_string(), e.reason.code().to_owned()))
            .collect();
        let expected_codes: BTreeMap<String, String> = expected["rejected"]
            .as_object()
            .expect("rejected")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(codes, expected_codes);
        assert_eq!(rows, 12);
        assert_eq!(
            rejected[&7].reason,
            RowRejection::UnknownType("Cables".into())
        );
        // Snipe-IT's headers name the columns in the report.
        assert_eq!(rejected[&11].column.as_deref(), Some("Purchase Date"));
        let header = decode(SNIPEIT)
            .lines()
            .next()
            .map(str::to_owned)
            .unwrap_or_default();
        let cells = split_record(&header, b',');
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let headers = HeaderMap::from_headers(&refs).expect("headers");
        for (h, c) in [
            ("Asset Tag", Column::InventoryNumber),
            ("Serial", Column::Serial),
            ("Model", Column::Model),
            ("Category", Column::Type),
            ("Manufacturer", Column::Manufacturer),
            ("Purchase Date", Column::PurchaseDate),
            ("Purchase Cost", Column::Value),
            ("Status", Column::Status),
            ("Location", Column::Location),
            ("Asset Name", Column::Name),
            ("Notes", Column::Comments),
        ] {
            assert_eq!(headers.header(c), Some(h));
        }
        assert_eq!(parse_amount("1,049.00"), Ok(104_900));
        assert_eq!(parse_date("2019-02-04 00:00:00"), Ok(date("2019-02-04")));
    }

    fn assert_same_outcome_as_expected(bytes: &[u8]) {
        let (valid, rejected, rows) = import(bytes);
        let (expected_valid, expected_rejected, expected_rows) = expected();
        assert_eq!(valid, expected_valid);
        let codes: BTreeMap<u64, &str> = rejected
            .iter()
            .map(|(line, error)| (*line, error.reason.code()))
            .collect();
        assert_eq!(codes, expected_rejected);
        assert_eq!(rows, expected_rows);
        // The duplicate points at the first occurrence, the unknown type keeps its text.
        assert_eq!(
            rejected[&13].reason,
            RowRejection::DuplicateInFile { first_line: 5 }
        );
        assert_eq!(
            rejected[&31].reason,
            RowRejection::UnknownType("Aspirateur".into())
        );
    }

    fn row_of(pairs: &[(&str, &str)]) -> Result<ImportRow, RowError> {
        let header: Vec<&str> = pairs.iter().map(|(h, _)| *h).collect();
        let record: Vec<&str> = pairs.iter().map(|(_, v)| *v).collect();
        let headers = HeaderMap::from_headers(&header).expect("headers");
        parse_row(&headers, &record, 2, today())
    }

    fn reason_of(pairs: &[(&str, &str)]) -> (Option<String>, &'static str) {
        let error = row_of(pairs).expect_err("row should be refused");
        (error.column, error.reason.code())
    }

    // --- Decoding -------------------------------------------------------------------------

    #[test]
    fn utf8_is_borrowed_and_its_bom_dropped() {
        assert!(matches!(decode("Écran".as_bytes()), Cow::Borrowed("Écran")));
        assert_eq!(decode(b"\xEF\xBB\xBFNom;Type"), "Nom;Type");
        assert_eq!(strip_bom("\u{FEFF}Nom"), "Nom");
        assert_eq!(strip_bom("Nom"), "Nom");
    }

    #[test]
    fn invalid_utf8_is_read_as_windows_1252() {
        let cases: &[(&[u8], &str)] = &[
            (b"\xC9cran", "Écran"),
            (b"Num\xE9ro d\x92inventaire", "Numéro d’inventaire"),
            (b"12,50 \x80", "12,50 €"),
            (b"\x9Cuvre \x8C \x85 \x96 \x97", "œuvre Œ … – —"),
            (b"\xFF\xA0", "ÿ\u{A0}"),
            // Undefined bytes keep their value, as C1 controls.
            (
                b"\xE9\x81\x8D\x8F\x90\x9D",
                "é\u{81}\u{8D}\u{8F}\u{90}\u{9D}",
            ),
        ];
        for (bytes, text) in cases {
            assert_eq!(decode(bytes), *text, "{bytes:?}");
        }
    }

    #[test]
    fn utf16_with_a_bom_is_decoded() {
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Nom\tÉcran".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("Nom\tÉcran".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(&le), "Nom\tÉcran");
        assert_eq!(decode(&be), "Nom\tÉcran");
    }

    #[test]
    fn the_delimiter_is_the_most_frequent_outside_quotes() {
        let cases = [
            ("Nom;Type;Lieu", b';'),
            ("Name,Type,Location", b','),
            ("Name\tType\tLocation", b'\t'),
            ("\"a;b;c\",Type,Lieu", b','),
            ("\"Nom, prénom\";Type", b';'),
            ("Nom", b';'),
            ("", b';'),
            ("a;b,c", b';'),
            ("a,b;c\nx,y,z,w,v", b';'),
        ];
        for (line, delimiter) in cases {
            assert_eq!(detect_delimiter(line), delimiter, "{line:?}");
        }
    }

    // --- Headers --------------------------------------------------------------------------

    #[test]
    fn glpi_and_template_headers_are_recognised_whatever_their_case_and_accents() {
        let cases = [
            ("Nom", Column::Name),
            ("Entité", Column::Entity),
            ("Statut", Column::Status),
            ("Fabricant", Column::Manufacturer),
            ("Numéro de série", Column::Serial),
            ("Type", Column::Type),
            ("Modèle", Column::Model),
            ("Lieu", Column::Location),
            ("Numéro d'inventaire", Column::InventoryNumber),
            ("Numéro d’inventaire", Column::InventoryNumber),
            ("NUMERO D'INVENTAIRE", Column::InventoryNumber),
            ("  \"Numéro d'inventaire\" ", Column::InventoryNumber),
            ("\u{FEFF}Nom", Column::Name),
            ("Date d'achat", Column::PurchaseDate),
            ("Valeur", Column::Value),
            ("Commentaires", Column::Comments),
            ("Valeur nette comptable", Column::NetBookValue),
            ("Name", Column::Name),
            ("Entity", Column::Entity),
            ("Status", Column::Status),
            ("Manufacturer", Column::Manufacturer),
            ("Serial number", Column::Serial),
            ("Model", Column::Model),
            ("Location", Column::Location),
            ("Inventory number", Column::InventoryNumber),
            ("Date of purchase", Column::PurchaseDate),
            ("Value", Column::Value),
            ("Comments", Column::Comments),
            ("Net book value", Column::NetBookValue),
        ];
        for (header, column) in cases {
            assert_eq!(map_header(header), Some(column), "{header:?}");
        }
        for unknown in ["", "Couleur", "Numéro", "Date", "inventory"] {
            assert_eq!(map_header(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn the_template_header_maps_to_every_template_column() {
        let columns: Vec<Option<Column>> = TEMPLATE_HEADER.iter().map(|h| map_header(h)).collect();
        assert_eq!(
            columns,
            [
                Column::InventoryNumber,
                Column::Type,
                Column::Manufacturer,
                Column::Model,
                Column::Serial,
                Column::Name,
                Column::Location,
                Column::PurchaseDate,
                Column::Value,
                Column::NetBookValue,
                Column::RamGb,
                Column::StorageGb,
                Column::StorageKind,
                Column::ScreenInches,
                Column::Cpu,
                Column::HasDataStorage,
                Column::Comments,
                Column::StorageMedia,
            ]
            .map(Some)
        );
        let headers = HeaderMap::from_headers(TEMPLATE_HEADER).expect("template");
        assert!(headers.ignored().is_empty());
        assert_eq!(headers.index(Column::Comments), Some(16));
        assert_eq!(headers.header(Column::Type), Some("category"));
    }

    #[test]
    fn a_header_map_remembers_positions_and_original_text() {
        let headers = HeaderMap::from_headers(&[
            "\u{FEFF}Nom ",
            "Couleur",
            "Type",
            "Numéro d’inventaire",
            "Nom",
        ])
        .expect("headers");
        assert_eq!(headers.index(Column::Name), Some(0));
        assert_eq!(headers.header(Column::Name), Some("Nom"));
        assert_eq!(headers.index(Column::InventoryNumber), Some(3));
        assert_eq!(
            headers.header(Column::InventoryNumber),
            Some("Numéro d’inventaire")
        );
        assert_eq!(headers.index(Column::Value), None);
        assert_eq!(headers.ignored(), ["Couleur", "Nom"]);
    }

    #[test]
    fn a_header_without_inventory_number_or_type_is_refused() {
        let cases: &[(&[&str], HeaderError)] = &[
            (&["Nom", "Type"], HeaderError::MissingInventoryNumberColumn),
            (&[], HeaderError::MissingInventoryNumberColumn),
            (
                &["Numéro d'inventaire", "Nom"],
                HeaderError::MissingTypeColumn,
            ),
        ];
        for (headers, error) in cases {
            assert_eq!(HeaderMap::from_headers(headers), Err(*error), "{headers:?}");
        }
        assert_eq!(HeaderError::MissingTypeColumn.code(), "missing_type_column");
        assert!(HeaderError::MissingTypeColumn.to_string().contains("Type"));
        assert!(
            HeaderError::MissingInventoryNumberColumn
                .message_en()
                .contains("Inventory number")
        );
    }

    // --- Cell parsers ---------------------------------------------------------------------

    #[test]
    fn dates_are_read_in_iso_and_french_order() {
        let good = [
            ("2020-07-03", "2020-07-03"),
            ("03/07/2020", "2020-07-03"),
            ("3/7/2020", "2020-07-03"),
            ("03-07-2020", "2020-07-03"),
            (" 29/02/2024 ", "2024-02-29"),
            ("2020/07/03", "2020-07-03"),
        ];
        for (raw, iso) in good {
            assert_eq!(parse_date(raw), Ok(date(iso)), "{raw:?}");
        }
        let bad = [
            "",
            "2021-13-45",
            "45/13/2021",
            "29/02/2023",
            "31/04/2020",
            "2020-07",
            "20-07-03",
            "03/07/20",
            "2020-07-03T00:00",
            "2020-07/03",
            "+2020-07-03",
            "a/b/cdef",
            "٣/٧/٢٠٢٠",
        ];
        for raw in bad {
            assert_eq!(parse_date(raw), Err(RowRejection::InvalidDate), "{raw:?}");
        }
    }

    #[test]
    fn amounts_are_read_in_french_and_english_styles_as_cents() {
        let good = [
            ("1 136,81", 113_681),
            ("1\u{A0}136,81", 113_681),
            ("1\u{202F}136,81", 113_681),
            ("1'136.81", 113_681),
            ("185,00", 18_500),
            ("1136.81", 113_681),
            ("1,136.81", 113_681),
            ("1.136,81", 113_681),
            ("1 136,81 €", 113_681),
            ("€1,136.81", 113_681),
            ("12 EUR", 1_200),
            ("eur 12,5", 1_250),
            ("0", 0),
            ("0,05", 5),
            ("-0,00", 0),
            ("+12", 1_200),
            ("1.234.567", 123_456_700),
            ("1,234,567.89", 123_456_789),
            ("1 234 567,89", 123_456_789),
            ("007", 700),
        ];
        for (raw, cents) in good {
            assert_eq!(parse_amount(raw), Ok(cents), "{raw:?}");
        }
        let negative = ["-50,00", "-1", "−12,00", "- 3 €", "-€ 3"];
        for raw in negative {
            assert_eq!(
                parse_amount(raw),
                Err(RowRejection::NegativeValue),
                "{raw:?}"
            );
        }
        let invalid = [
            "",
            "€",
            "abc",
            "12,345",
            "1,136",
            "1.136",
            "0,125",
            "1,2,3",
            "1 2",
            "12,",
            ",50",
            "1.136.81,5.0",
            "1,136,81",
            "12 €€",
            "12 34,00",
            "1e3",
            "NaN",
            "99999999999999999999",
            "-abc",
            "12.3.4",
            "1..2",
            "١٢",
        ];
        for raw in invalid {
            assert_eq!(
                parse_amount(raw),
                Err(RowRejection::InvalidAmount),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn glpi_types_map_to_categories() {
        let cases = [
            ("Portable", Category::Laptop),
            ("Ordinateur portable", Category::Laptop),
            ("Laptop", Category::Laptop),
            ("Notebook", Category::Laptop),
            ("Ordinateur de bureau", Category::Desktop),
            ("Ordinateur", Category::Desktop),
            ("Unité centrale", Category::Desktop),
            ("Poste fixe", Category::Desktop),
            ("Desktop", Category::Desktop),
            ("Computer", Category::Desktop),
            ("Tout-en-un", Category::AllInOne),
            ("All-in-one", Category::AllInOne),
            ("Écran", Category::Monitor),
            ("ECRAN", Category::Monitor),
            ("Moniteur", Category::Monitor),
            ("Monitor", Category::Monitor),
            ("Screen", Category::Monitor),
            ("Tablette", Category::Tablet),
            ("Tablet", Category::Tablet),
            ("Téléphone", Category::Smartphone),
            ("Téléphone mobile", Category::Smartphone),
            ("Smartphone", Category::Smartphone),
            ("Mobile", Category::Smartphone),
            ("Phone", Category::Smartphone),
            ("Imprimante", Category::Printer),
            ("Printer", Category::Printer),
            ("Imprimante multifonction", Category::MultifunctionPrinter),
            ("Multifonction", Category::MultifunctionPrinter),
            ("Copieur", Category::MultifunctionPrinter),
            ("MFP", Category::MultifunctionPrinter),
            ("Multifunction printer", Category::MultifunctionPrinter),
            ("Vidéoprojecteur", Category::Projector),
            ("Projecteur", Category::Projector),
            ("Projector", Category::Projector),
            ("Switch", Category::Network),
            ("Routeur", Category::Network),
            ("Borne wifi", Category::Network),
            ("Équipement réseau", Category::Network),
            ("Network equipment", Category::Network),
            ("Router", Category::Network),
            ("Serveur", Category::Server),
            ("Server", Category::Server),
            ("Périphérique", Category::Peripheral),
            ("Clavier", Category::Peripheral),
            ("Souris", Category::Peripheral),
            ("Station d'accueil", Category::Peripheral),
            ("Station d’accueil", Category::Peripheral),
            ("Peripheral", Category::Peripheral),
            ("Keyboard", Category::Peripheral),
            ("Mouse", Category::Peripheral),
            ("Docking station", Category::Peripheral),
            ("  portable  ", Category::Laptop),
        ];
        for (raw, category) in cases {
            assert_eq!(map_type(raw), Some(category), "{raw:?}");
        }
        for unknown in ["Aspirateur", "", "   ", "Machine à café", "ordinateurs"] {
            assert_eq!(map_type(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn our_category_names_and_labels_map_to_themselves() {
        for category in Category::ALL {
            assert_eq!(map_type(category.as_str()), Some(category));
            assert_eq!(map_type(category.label_fr()), Some(category));
        }
    }

    #[test]
    fn sizes_are_read_in_gigabytes() {
        let good = [
            ("8", 8),
            ("8 Go", 8),
            ("8GB", 8),
            ("8 gb", 8),
            ("512 Go", 512),
            ("16 Gio", 16),
            ("1 To", 1000),
            ("2TB", 2000),
        ];
        for (raw, gb) in good {
            assert_eq!(parse_gigabytes(raw), Ok(gb), "{raw:?}");
        }
        let bad = [
            "",
            "Go",
            "huit",
            "8,5",
            "-8",
            "+8",
            "8 Mo",
            "8 G o",
            "99999999999",
            "3000000 To",
        ];
        for raw in bad {
            assert_eq!(
                parse_gigabytes(raw),
                Err(RowRejection::InvalidNumber),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn screen_sizes_are_read_in_inches() {
        let good = [
            ("23,8", 23.8),
            ("23.8", 23.8),
            ("24\"", 24.0),
            ("24 \"", 24.0),
            ("24''", 24.0),
            ("24 pouces", 24.0),
            ("15,6 po", 15.6),
            ("27 in", 27.0),
        ];
        for (raw, inches) in good {
            assert_eq!(parse_inches(raw), Ok(inches), "{raw:?}");
        }
        let bad = [
            "", "\"", "inf", "NaN", "1e3", "24 cm", "23,8,1", ",5", "24,", "-24", "vingt",
        ];
        for raw in bad {
            assert_eq!(
                parse_inches(raw),
                Err(RowRejection::InvalidNumber),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn storage_kinds_are_read_in_any_case() {
        let good = [
            ("hdd", StorageKind::Hdd),
            ("HDD", StorageKind::Hdd),
            ("Disque dur", StorageKind::Hdd),
            ("SSD", StorageKind::Ssd),
            ("NVMe", StorageKind::Nvme),
            ("SSD NVMe", StorageKind::Nvme),
            ("eMMC", StorageKind::Emmc),
            ("flash", StorageKind::Flash),
        ];
        for (raw, kind) in good {
            assert_eq!(parse_storage_kind(raw), Ok(kind), "{raw:?}");
        }
        for raw in ["", "disquette", "ssd2"] {
            assert_eq!(
                parse_storage_kind(raw),
                Err(RowRejection::InvalidSpec),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn booleans_are_read_in_french_and_english() {
        let good = [
            ("oui", true),
            ("Oui", true),
            ("yes", true),
            ("TRUE", true),
            ("1", true),
            ("non", false),
            ("No", false),
            ("false", false),
            ("0", false),
        ];
        for (raw, value) in good {
            assert_eq!(parse_bool(raw), Ok(value), "{raw:?}");
        }
        for raw in ["", "peut-être", "2", "ouii"] {
            assert_eq!(parse_bool(raw), Err(RowRejection::InvalidSpec), "{raw:?}");
        }
    }

    // --- Rows -----------------------------------------------------------------------------

    #[test]
    fn a_full_template_row_is_read_into_an_import_row() {
        let row = row_of(&[
            ("inventory_number", " INV-1 "),
            ("category", "laptop"),
            ("brand", "Dell"),
            ("model", "Latitude 7400"),
            ("serial_number", "SN1"),
            ("name", "POR-1"),
            ("location", "Mairie"),
            ("acquisition_date", "14/07/2019"),
            ("acquisition_value", "1 136,81"),
            ("net_book_value", "0"),
            ("ram_gb", "16 Go"),
            ("storage_gb", "512 Go"),
            ("storage_kind", "NVMe"),
            ("screen_inches", "14\""),
            ("cpu", "Core i5-8365U"),
            ("has_data_storage", "non"),
            ("condition_notes", "Batterie faible"),
        ])
        .expect("valid row");
        assert_eq!(
            row,
            ImportRow {
                line: 2,
                inventory_number: InventoryNumber::parse("INV-1").expect("valid"),
                category: Category::Laptop,
                brand: Some("Dell".into()),
                model: Some("Latitude 7400".into()),
                serial: Some("SN1".into()),
                name: Some("POR-1".into()),
                location: Some("Mairie".into()),
                donor_status: None,
                acquisition_date: Some(date("2019-07-14")),
                acquisition_value_cents: Some(113_681),
                net_book_value_cents: Some(0),
                condition_notes: Some("Batterie faible".into()),
                has_data_storage: false,
                specs: Specs {
                    cpu: Some("Core i5-8365U".into()),
                    ram_gb: Some(16),
                    storage_gb: Some(512),
                    storage_kind: Some(StorageKind::Nvme),
                    screen_inches: Some(14.0),
                    battery_health_percent: None,
                    ..Specs::default()
                },
                storage_media: None,
            }
        );
    }

    #[test]
    fn a_storage_media_cell_declares_each_medium_with_its_kind() {
        assert_eq!(
            parse_media("ssd:S3Z9NB0K | hdd: WD-1234, NOKIND-9"),
            Ok(vec![
                ImportMedium {
                    serial: "S3Z9NB0K".into(),
                    medium_type: Some(StorageKind::Ssd)
                },
                ImportMedium {
                    serial: "WD-1234".into(),
                    medium_type: Some(StorageKind::Hdd)
                },
                ImportMedium {
                    serial: "NOKIND-9".into(),
                    medium_type: None
                },
            ])
        );
        // A prefix that is no kind is part of the serial.
        assert_eq!(
            parse_media("ABC:123").map(|m| m[0].serial.clone()),
            Ok("ABC:123".to_owned())
        );
        assert_eq!(parse_media("S1|s1 "), Err(RowRejection::InvalidSpec));
        assert_eq!(
            parse_media(&"X".repeat(101)),
            Err(RowRejection::InvalidSpec)
        );
        let many: Vec<String> = (0..=crate::workshop::MAX_MEDIA)
            .map(|i| format!("S{i}"))
            .collect();
        assert_eq!(parse_media(&many.join("|")), Err(RowRejection::InvalidSpec));
        assert_eq!(parse_media(" | "), Ok(vec![]));
        assert_eq!(
            map_header("Supports de stockage"),
            Some(Column::StorageMedia)
        );
    }

    #[test]
    fn blank_and_missing_cells_are_none_and_data_storage_follows_the_category() {
        let headers =
            HeaderMap::from_headers(&["Numéro d'inventaire", "Type", "Fabricant", "Date d'achat"])
                .expect("headers");
        // Shorter than the header: the missing cells are blank.
        let row = parse_row(&headers, &["INV-9", "Écran", "  "], 4, today()).expect("valid");
        assert_eq!(row.line, 4);
        assert_eq!(row.brand, None);
        assert_eq!(row.acquisition_date, None);
        assert!(!row.has_data_storage);
        let row = parse_row(&headers, &["INV-9", "Tablette"], 4, today()).expect("valid");
        assert!(row.has_data_storage);
        assert_eq!(row.specs, Specs::default());
    }

    #[test]
    fn a_row_is_refused_for_its_first_fault_in_a_fixed_order() {
        let inv = "Numéro d'inventaire";
        let some = |s: &str| Some(s.to_owned());
        let long = "x".repeat(101);
        let long_notes = "x".repeat(2001);
        let long_inventory = "X".repeat(26);
        /// The cells of a row, the column blamed, and the code.
        type Case<'a> = (Vec<(&'a str, &'a str)>, Option<String>, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![(inv, ""), ("Type", "Aspirateur"), ("Date d'achat", "bad")],
                some(inv),
                "missing_inventory_number",
            ),
            (
                vec![(inv, long_inventory.as_str()), ("Type", "")],
                some(inv),
                "inventory_number_too_long",
            ),
            (
                vec![(inv, "INV\u{7}1"), ("Type", "Écran")],
                some(inv),
                "invalid_number",
            ),
            (
                vec![(inv, "INV-1"), ("Type", " "), ("Valeur", "-5")],
                some("Type"),
                "missing_type",
            ),
            (
                vec![(inv, "INV-1"), ("Type", "Aspirateur"), ("Valeur", "-5")],
                some("Type"),
                "unknown_type",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Écran"),
                    ("Date d'achat", "2021-13-45"),
                ],
                some("Date d'achat"),
                "invalid_date",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Écran"),
                    ("Date d'achat", "2026-11-30"),
                ],
                some("Date d'achat"),
                "future_date",
            ),
            (
                vec![(inv, "INV-1"), ("Type", "Écran"), ("Valeur", "-50,00")],
                some("Valeur"),
                "negative_value",
            ),
            (
                vec![(inv, "INV-1"), ("Type", "Écran"), ("Valeur", "beaucoup")],
                some("Valeur"),
                "invalid_amount",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Écran"),
                    ("Valeur nette comptable", "-1"),
                ],
                some("Valeur nette comptable"),
                "negative_value",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Écran"),
                    ("Fabricant", long.as_str()),
                ],
                some("Fabricant"),
                "value_too_long",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Écran"),
                    ("Commentaires", long_notes.as_str()),
                ],
                some("Commentaires"),
                "value_too_long",
            ),
            (
                vec![(inv, "INV-1"), ("Type", "Portable"), ("ram_gb", "huit")],
                some("ram_gb"),
                "invalid_number",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Portable"),
                    ("storage_kind", "disquette"),
                ],
                some("storage_kind"),
                "invalid_spec",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Écran"),
                    ("has_data_storage", "peut-être"),
                ],
                some("has_data_storage"),
                "invalid_spec",
            ),
            (
                vec![
                    (inv, "INV-1"),
                    ("Type", "Écran"),
                    ("screen_inches", "24"),
                    ("ram_gb", "8"),
                ],
                some("ram_gb"),
                "invalid_spec",
            ),
            (
                vec![(inv, "INV-1"), ("Type", "Portable"), ("ram_gb", "0")],
                some("ram_gb"),
                "invalid_spec",
            ),
            (
                vec![(inv, "INV-1"), ("Type", "Portable"), ("cpu", long.as_str())],
                some("cpu"),
                "invalid_spec",
            ),
        ];
        for (pairs, column, code) in cases {
            assert_eq!(reason_of(&pairs), (column, code), "{pairs:?}");
        }
    }

    #[test]
    fn text_cells_are_trimmed_and_bounded_per_column() {
        let at_limit = "x".repeat(100);
        let row = row_of(&[
            ("inventory_number", "INV-1"),
            ("category", "monitor"),
            ("brand", &format!("  {at_limit}  ")),
            ("model", &"é".repeat(200)),
        ])
        .expect("at the limits");
        assert_eq!(row.brand.as_deref(), Some(at_limit.as_str()));
        let limits = [
            ("serial_number", 100),
            ("name", 200),
            ("location", 200),
            ("model", 200),
            ("Statut", 200),
        ];
        for (header, max) in limits {
            let (column, code) = reason_of(&[
                ("inventory_number", "INV-1"),
                ("category", "monitor"),
                (header, &"y".repeat(max + 1)),
            ]);
            assert_eq!((column.as_deref(), code), (Some(header), "value_too_long"));
        }
    }

    #[test]
    fn a_repeated_inventory_number_is_refused_after_its_first_occurrence() {
        let headers = HeaderMap::from_headers(&["Numéro d'inventaire", "Type"]).expect("headers");
        let mut tracker = DuplicateTracker::new(&headers);
        let row = |line, inv| parse_row(&headers, &[inv, "Écran"], line, today()).expect("valid");
        assert_eq!(tracker.check(&row(2, "A")), Ok(()));
        assert_eq!(tracker.check(&row(3, "B")), Ok(()));
        assert_eq!(
            tracker.check(&row(7, "A")),
            Err(RowError {
                line: 7,
                column: Some("Numéro d'inventaire".into()),
                reason: RowRejection::DuplicateInFile { first_line: 2 },
            })
        );
        // Still the first line, not the last duplicate.
        assert_eq!(
            tracker.check(&row(9, "A")).map_err(|e| e.reason),
            Err(RowRejection::DuplicateInFile { first_line: 2 })
        );
    }

    #[test]
    fn rejections_have_distinct_codes_and_readable_messages() {
        let all = [
            RowRejection::MissingInventoryNumber,
            RowRejection::InventoryNumberTooLong,
            RowRejection::DuplicateInFile { first_line: 5 },
            RowRejection::MissingType,
            RowRejection::UnknownType("Aspirateur".into()),
            RowRejection::InvalidDate,
            RowRejection::FutureDate,
            RowRejection::NegativeValue,
            RowRejection::InvalidAmount,
            RowRejection::InvalidNumber,
            RowRejection::ValueTooLong,
            RowRejection::InvalidSpec,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(RowRejection::code).collect();
        assert_eq!(codes.len(), all.len());
        for reason in &all {
            assert!(reason.message_fr().ends_with('.'), "{reason:?}");
            assert!(reason.message_en().ends_with('.'), "{reason:?}");
        }
        assert_eq!(
            all[2].message_fr(),
            "Numéro d'inventaire en double dans le fichier (déjà à la ligne 5)."
        );
        assert_eq!(all[4].message_fr(), "Type « Aspirateur » inconnu.");
        assert_eq!(all[4].message_en(), "Unknown type “Aspirateur”.");
        assert_eq!(all[6].message_fr(), "Date d'achat dans le futur.");
        let error = RowError {
            line: 7,
            column: Some("Numéro d'inventaire".into()),
            reason: RowRejection::MissingInventoryNumber,
        };
        assert_eq!(
            error.to_string(),
            "ligne 7, colonne « Numéro d'inventaire » : Numéro d'inventaire manquant."
        );
    }

    // --- The sample file ------------------------------------------------------------------

    #[test]
    fn the_glpi_sample_gives_the_expected_outcome() {
        assert_same_outcome_as_expected(SAMPLE);
        let (_, rejected, _) = import(SAMPLE);
        assert!(
            rejected
                .values()
                .all(|e| e.column.as_deref().is_some_and(|c| !c.is_empty()))
        );
        assert_eq!(rejected[&13].column.as_deref(), Some("Numéro d'inventaire"));
    }

    #[test]
    fn the_glpi_sample_rows_are_read_faithfully() {
        let text = decode(SAMPLE);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(';').collect();
        let headers = HeaderMap::from_headers(&header).expect("headers");
        // GLPI's "Entité" is recognised though not imported: the donor is the uploader.
        assert!(headers.ignored().is_empty());
        assert_eq!(headers.index(Column::Entity), Some(1));
        let rows: Vec<ImportRow> = lines
            .zip(2u64..)
            .filter_map(|(line, n)| {
                let record: Vec<&str> = line.split(';').collect();
                parse_row(&headers, &record, n, today()).ok()
            })
            .collect();
        let first = &rows[0];
        assert_eq!(first.inventory_number.as_str(), "INV-2016-01000");
        assert_eq!(first.category, Category::Monitor);
        assert_eq!(first.brand.as_deref(), Some("Iiyama"));
        assert_eq!(first.name.as_deref(), Some("ÉCR-0000"));
        assert_eq!(first.donor_status.as_deref(), Some("À réformer"));
        assert_eq!(first.acquisition_date, Some(date("2020-07-03")));
        assert_eq!(first.acquisition_value_cents, Some(42_805));
        assert_eq!(first.condition_notes, None);
        assert!(!first.has_data_storage);
        let third = &rows[2];
        assert_eq!(third.category, Category::Smartphone);
        assert_eq!(third.acquisition_value_cents, Some(113_681));
        assert!(third.has_data_storage);
    }

    /// Encodes text as Windows-1252, as Excel would save it.
    fn encode_windows_1252(text: &str) -> Vec<u8> {
        text.chars()
            .map(|c| match u8::try_from(u32::from(c)) {
                Ok(b) if !(0x80..=0x9F).contains(&b) => b,
                _ => {
                    let i = WINDOWS_1252_80_9F
                        .iter()
                        .position(|&x| x == c)
                        .expect("character in Windows-1252");
                    0x80 + u8::try_from(i).expect("small")
                }
            })
            .collect()
    }

    /// Quotes a field for a comma-separated file when it needs it.
    fn quote(field: &str) -> String {
        if field.contains([',', '"']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.to_owned()
        }
    }

    #[test]
    fn the_sample_saved_by_an_english_excel_gives_the_same_outcome() {
        fn english(h: &str) -> &str {
            match h {
                "Nom" => "Name",
                "Entité" => "Entity",
                "Statut" => "Status",
                "Fabricant" => "Manufacturer",
                "Numéro de série" => "Serial number",
                "Modèle" => "Model",
                "Lieu" => "Location",
                "Numéro d'inventaire" => "Inventory number",
                "Date d'achat" => "Date of purchase",
                "Valeur" => "Value",
                "Commentaires" => "Comments",
                other => other,
            }
        }
        let text = decode(SAMPLE);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(';').collect();
        let date_at = header
            .iter()
            .position(|h| *h == "Date d'achat")
            .expect("date");
        let value_at = header.iter().position(|h| *h == "Valeur").expect("value");
        let mut out = header
            .iter()
            .map(|h| english(h))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str("\r\n");
        for line in lines {
            let fields: Vec<String> = line
                .split(';')
                .enumerate()
                .map(|(i, field)| {
                    if i == date_at {
                        // YYYY-MM-DD → DD/MM/YYYY, impossible dates included.
                        let parts: Vec<&str> = field.split('-').collect();
                        match parts.as_slice() {
                            [y, m, d] => format!("{d}/{m}/{y}"),
                            _ => field.to_owned(),
                        }
                    } else if i == value_at {
                        // "1 136,81" → "1,136.81"
                        field.replace(',', ".").replace(' ', ",")
                    } else {
                        field.to_owned()
                    }
                })
                .collect();
            out.push_str(
                &fields
                    .iter()
                    .map(|f| quote(f))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        assert!(out.contains("\"1,136.81\"") && out.contains("45/13/2021"));
        let bytes = encode_windows_1252(&out);
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "must need Windows-1252"
        );
        assert_same_outcome_as_expected(&bytes);
    }

    // --- Properties -----------------------------------------------------------------------

    /// Groups the digits of `n` by three with `separator`.
    fn grouped(n: i64, separator: &str) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(separator);
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #[test]
        fn no_parser_panics_on_arbitrary_text(s in "\\PC{0,30}") {
            let _ = parse_date(&s);
            let _ = parse_amount(&s);
            let _ = parse_gigabytes(&s);
            let _ = parse_inches(&s);
            let _ = parse_storage_kind(&s);
            let _ = parse_bool(&s);
            let _ = map_type(&s);
            let _ = map_header(&s);
            let _ = detect_delimiter(&s);
        }

        #[test]
        fn no_parser_panics_on_number_like_text(s in "[-+ 0-9.,'€EUR\u{A0}\u{202F}/\"a-zA-Z]{0,20}") {
            let _ = parse_date(&s);
            let _ = parse_amount(&s);
            let _ = parse_gigabytes(&s);
            let _ = parse_inches(&s);
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn parse_row_never_panics(cells in proptest::collection::vec("\\PC{0,12}", 0..20)) {
            let headers = HeaderMap::from_headers(TEMPLATE_HEADER).expect("template");
            let record: Vec<&str> = cells.iter().map(String::as_str).collect();
            let _ = parse_row(&headers, &record, 2, today());
        }

        #[test]
        fn french_amounts_round_trip(
            cents in 0i64..=10_000_000,
            separator in prop_oneof![Just(" "), Just("\u{A0}"), Just("\u{202F}")],
        ) {
            let text = format!("{},{:02}", grouped(cents / 100, separator), cents % 100);
            prop_assert_eq!(parse_amount(&text), Ok(cents), "{}", text);
        }

        #[test]
        fn english_amounts_round_trip(cents in 0i64..=10_000_000) {
            let text = format!("{}.{:02}", grouped(cents / 100, ","), cents % 100);
            prop_assert_eq!(parse_amount(&text), Ok(cents), "{}", text);
        }
    }
}
