//! Free text as users type it: trimmed, bounded, never empty when required, and free of control
//! characters. Two kinds:
//! - [`Text`] is one line (names of people, organisations and sites, cities, addresses, titles,
//!   codes): no control character at all, a line break or a tab included, since these values
//!   land in CSV cells, document tables and labels, where a line break would inject a row.
//! - [`FreeText`] may span lines (notes, descriptions, reasons, messages, a statutory purpose):
//!   line breaks and tabs are kept (a `\r\n` becomes `\n`), any other control character is
//!   refused.

use crate::error::Invalid;

/// A trimmed, non-empty, single-line text of at most `MAX` characters (names, titles, addresses).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text<const MAX: usize>(String);

/// A trimmed, non-empty text of at most `MAX` characters that may span lines (notes, reasons).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FreeText<const MAX: usize>(String);

/// Trims `raw` and checks its length and characters; `multiline` allows `\n` and `\t`.
fn parse_text(raw: &str, max: usize, multiline: bool) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Invalid::Required);
    }
    let text = if multiline && trimmed.contains('\r') {
        trimmed.replace("\r\n", "\n")
    } else {
        trimmed.to_owned()
    };
    if text.chars().count() > max {
        return Err(Invalid::TooLong);
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t');
    if text.chars().any(|c| is_forbidden(c) && !allowed(c)) {
        return Err(Invalid::ControlCharacter);
    }
    Ok(text)
}

/// Control characters (C0, DEL, C1) and the Unicode line and paragraph separators, which some
/// readers also break lines on.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Whether `s` holds a character no single-line text may hold.
pub fn has_forbidden(s: &str) -> bool {
    s.chars().any(is_forbidden)
}

impl<const MAX: usize> Text<MAX> {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_text(raw, MAX, false).map(Self)
    }

    /// Parses an optional text: absent or blank gives `None`.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, Invalid> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => Self::parse(s).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<const MAX: usize> FreeText<MAX> {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_text(raw, MAX, true).map(Self)
    }

    /// Parses an optional text: absent or blank gives `None`.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, Invalid> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => Self::parse(s).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Names of people and organisations, cities, site names: one line.
pub type Name = Text<200>;
/// Postal address lines: one line.
pub type Address = Text<300>;
/// Longer free text (statutory purpose, notes, descriptions, reasons): may span lines.
pub type LongText = FreeText<2000>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("  Mairie  ").map(Text::into_inner),
            Ok("Mairie".into())
        );
        assert_eq!(Name::parse("   "), Err(Invalid::Required));
        assert_eq!(Text::<3>::parse("abcd"), Err(Invalid::TooLong));
        assert_eq!(
            Text::<3>::parse("éèà").map(Text::into_inner),
            Ok("éèà".into())
        );
        assert_eq!(Name::parse("a\u{0}b"), Err(Invalid::ControlCharacter));
        assert_eq!(Name::parse_optional(Some("  ")), Ok(None));
    }

    #[test]
    fn a_single_line_text_refuses_line_breaks_and_tabs() {
        for raw in [
            "Mairie\nde Test",
            "Mairie\r\nde Test",
            "Mairie\rde Test",
            "Mairie\tde Test",
            "Mairie\u{2028}de Test",
            "Mairie\u{85}de Test",
            "Mairie\u{7f}",
        ] {
            assert_eq!(Name::parse(raw), Err(Invalid::ControlCharacter), "{raw:?}");
        }
        // A formula is text like any other: it is neutralised where CSV is written.
        assert!(Name::parse("=HYPERLINK(\"http://evil.example\",\"Mairie\")").is_ok());
    }

    #[test]
    fn free_text_keeps_its_lines_and_tabs_but_no_other_control() {
        assert_eq!(
            LongText::parse(" ligne 1\r\nligne 2\n\tretrait ").map(FreeText::into_inner),
            Ok("ligne 1\nligne 2\n\tretrait".into())
        );
        assert_eq!(
            LongText::parse("a\u{1b}[31m"),
            Err(Invalid::ControlCharacter)
        );
        assert_eq!(LongText::parse("a\rb"), Err(Invalid::ControlCharacter));
        assert_eq!(LongText::parse_optional(Some(" \n ")), Ok(None));
    }

    proptest::proptest! {
        #[test]
        fn no_parsed_single_line_text_holds_a_control_character(s in "[a-z][a-zé ]{0,50}[\\x00-\\x1f\\x7f\\x{80}-\\x{9f}][a-zé ]{0,50}[a-z]") {
            proptest::prop_assert!(Name::parse(&s).is_err());
        }
    }
}
