//! Free text as users type it: trimmed, bounded, never empty when required.

use crate::error::Invalid;

/// A trimmed, non-empty text of at most `MAX` characters (names, titles, addresses).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Invalid::Required);
        }
        if trimmed.chars().count() > MAX {
            return Err(Invalid::TooLong);
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(Invalid::InvalidFormat);
        }
        Ok(Self(trimmed.to_owned()))
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

/// Names of people and organisations.
pub type Name = Text<200>;
/// Postal address lines.
pub type Address = Text<300>;
/// Longer descriptions (statutory purpose).
pub type LongText = Text<2000>;

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
        assert_eq!(Name::parse("a\u{0}b"), Err(Invalid::InvalidFormat));
        assert_eq!(Name::parse_optional(Some("  ")), Ok(None));
    }
}
