//! French administrative identifiers: SIREN, SIRET, RNA and INSEE commune codes.
//!
//! SIREN and SIRET carry a Luhn check digit, except the establishments of La Poste
//! (SIREN 356 000 000) whose SIRET digits instead add up to a multiple of 5.

use crate::error::Invalid;

/// SIREN of La Poste, whose establishments do not follow the Luhn rule.
const LA_POSTE_SIREN: &str = "356000000";

fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Removes the spaces and dots people type in identifiers ("398 259 796").
fn compact(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '\u{a0}')
        .collect()
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// A company or public-body identifier (9 digits, Luhn).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siren(String);

impl Siren {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = compact(raw);
        if s.is_empty() {
            return Err(Invalid::Required);
        }
        if !all_digits(&s, 9) {
            return Err(Invalid::InvalidSiren);
        }
        if !luhn_valid(&s) {
            return Err(Invalid::InvalidSiren);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An establishment identifier: SIREN + 5-digit NIC, Luhn over all 14 digits
/// (La Poste: digit sum multiple of 5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siret(String);

impl Siret {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = compact(raw);
        if s.is_empty() {
            return Err(Invalid::Required);
        }
        if !all_digits(&s, 14) {
            return Err(Invalid::InvalidSiret);
        }
        let siren = &s[..9];
        let valid = if siren == LA_POSTE_SIREN {
            // The head office (…00048) is Luhn-valid; the other establishments are not.
            luhn_valid(&s)
                || s.bytes()
                    .map(|b| u32::from(b - b'0'))
                    .sum::<u32>()
                    .is_multiple_of(5)
        } else {
            luhn_valid(siren) && luhn_valid(&s)
        };
        if valid {
            Ok(Self(s))
        } else {
            Err(Invalid::InvalidSiret)
        }
    }

    /// The SIREN of the organisation this establishment belongs to.
    pub fn siren(&self) -> Siren {
        Siren(self.0[..9].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An association's number in the Répertoire national des associations: `W` + 9 characters,
/// digits except the Corsican departments (`W2A…`, `W2B…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rna(String);

impl Rna {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = compact(raw).to_uppercase();
        if s.is_empty() {
            return Err(Invalid::Required);
        }
        let Some(rest) = s.strip_prefix('W') else {
            return Err(Invalid::InvalidRna);
        };
        let ok = all_digits(rest, 9)
            || (rest.len() == 9
                && (rest.starts_with("2A") || rest.starts_with("2B"))
                && rest[2..].bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(s))
        } else {
            Err(Invalid::InvalidRna)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The INSEE code of a commune (code officiel géographique): 5 characters, the first two or
/// three being the département (`2A`/`2B` for Corsica, `971`…`978`, `984`…`989` overseas).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InseeCode(String);

impl InseeCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_uppercase();
        if s.is_empty() {
            return Err(Invalid::Required);
        }
        let b = s.as_bytes();
        if b.len() != 5 || !b[2..].iter().all(u8::is_ascii_digit) {
            return Err(Invalid::InvalidInseeCode);
        }
        let valid = match (b[0], b[1]) {
            (b'2', b'A' | b'B') => true,
            (d0, d1) if d0.is_ascii_digit() && d1.is_ascii_digit() => {
                let dep = (d0 - b'0') * 10 + (d1 - b'0');
                match dep {
                    0 | 20 | 96 | 99 => false,
                    97 => (b'1'..=b'8').contains(&b[2]),
                    98 => (b'4'..=b'9').contains(&b[2]),
                    _ => true,
                }
            }
            _ => false,
        };
        // The commune number within a département is never 000.
        if valid && &s[s.len() - 3..] != "000" {
            Ok(Self(s))
        } else {
            Err(Invalid::InvalidInseeCode)
        }
    }

    /// The département code (`41`, `2A`, `974`).
    pub fn departement(&self) -> &str {
        if self.0.starts_with("97") || self.0.starts_with("98") {
            &self.0[..3]
        } else {
            &self.0[..2]
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scenario_identifiers_are_valid() {
        for siren in ["398259796", "483378873", "860129048"] {
            assert!(Siren::parse(siren).is_ok(), "{siren}");
        }
        for siret in ["39825979619074", "48337887362325", "86012904804798"] {
            let parsed = Siret::parse(siret).expect(siret);
            assert_eq!(parsed.siren().as_str(), &siret[..9]);
        }
        assert!(Siret::parse("398 259 796 19074").is_ok());
        assert!(Rna::parse("W412003456").is_ok());
        assert!(InseeCode::parse("41230").is_ok());
    }

    #[test]
    fn la_poste_establishments_follow_their_own_rule() {
        // The head office is Luhn-valid; 3+5+6+4+9+8+3+7 = 45 is a multiple of 5.
        assert!(Siret::parse("35600000000048").is_ok());
        assert!(Siret::parse("35600000049837").is_ok());
        assert_eq!(Siret::parse("35600000049838"), Err(Invalid::InvalidSiret));
    }

    #[test]
    fn wrong_check_digits_are_refused() {
        assert_eq!(Siren::parse("398259797"), Err(Invalid::InvalidSiren));
        assert_eq!(Siret::parse("39825979619075"), Err(Invalid::InvalidSiret));
        assert_eq!(Siret::parse("3982597961907"), Err(Invalid::InvalidSiret));
        assert_eq!(Siret::parse("3982597961907A"), Err(Invalid::InvalidSiret));
        assert_eq!(Siret::parse(""), Err(Invalid::Required));
    }

    #[test]
    fn rna_numbers_are_w_and_nine_characters() {
        assert_eq!(
            Rna::parse("w412003456").map(|r| r.0),
            Ok("W412003456".into())
        );
        assert!(Rna::parse("W2A1000123").is_ok());
        for bad in [
            "412003456",
            "W41200345",
            "W4120034567",
            "WABCDEFGHI",
            "X412003456",
        ] {
            assert_eq!(Rna::parse(bad), Err(Invalid::InvalidRna), "{bad}");
        }
    }

    #[test]
    fn insee_codes_know_corsica_and_overseas() {
        assert_eq!(
            InseeCode::parse("2a004").map(|c| c.departement().to_owned()),
            Ok("2A".into())
        );
        assert_eq!(
            InseeCode::parse("97411").map(|c| c.departement().to_owned()),
            Ok("974".into())
        );
        assert_eq!(
            InseeCode::parse("41230").map(|c| c.departement().to_owned()),
            Ok("41".into())
        );
        for bad in [
            "20004", "2C004", "00123", "96001", "99999", "97901", "4123", "412300", "41000",
            "4I230",
        ] {
            assert_eq!(
                InseeCode::parse(bad),
                Err(Invalid::InvalidInseeCode),
                "{bad}"
            );
        }
    }

    fn luhn_complete(prefix: &str) -> String {
        (0..10)
            .map(|d| format!("{prefix}{d}"))
            .find(|s| luhn_valid(s))
            .unwrap_or_default()
    }

    proptest! {
        #[test]
        fn any_luhn_completed_siren_parses(prefix in "[0-9]{8}") {
            let siren = luhn_complete(&prefix);
            prop_assert!(Siren::parse(&siren).is_ok());
        }

        #[test]
        fn changing_one_digit_breaks_a_siret(prefix in "[1-9][0-9]{7}", nic in "[0-9]{4}", pos in 0usize..14, delta in 1u8..10) {
            let siren = luhn_complete(&prefix);
            prop_assume!(siren != LA_POSTE_SIREN);
            let siret = luhn_complete(&format!("{siren}{nic}"));
            prop_assert!(Siret::parse(&siret).is_ok());
            let mut bytes = siret.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let broken = String::from_utf8(bytes).unwrap_or_default();
            prop_assume!(!broken.starts_with(LA_POSTE_SIREN));
            prop_assert!(Siret::parse(&broken).is_err());
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,20}") {
            let _ = Siren::parse(&s);
            let _ = Siret::parse(&s);
            let _ = Rna::parse(&s);
            let _ = InseeCode::parse(&s);
        }
    }
}
