//! Personal data rules: what erasure writes in place of a person, which signed documents keep
//! a signatory's name (`docs/personal-data.md`), and how names are blanked inside stored text.

use crate::organisation::OrganisationKind;

/// What an erased person's name becomes wherever a name is required.
pub const ERASED_NAME: &str = "Personne effacée";

/// The placeholder address an erased account keeps (unique, undeliverable: `.invalid` is
/// reserved by RFC 2606).
pub fn erased_email(user_id: &str) -> String {
    format!("erased-{user_id}@erased.invalid")
}

/// Whether a signatory's name stays on a signed document after the person is erased.
///
/// It stays where the document is an act of a public body signed by its agent: the
/// *convention de cession* and the *procès-verbal d'enlèvement* the body signs, its
/// *certificat administratif de sortie d'inventaire* and the *délibération*. An administrative
/// decision must show the first name, name and capacity of its author (CRPA L212-1), and these
/// papers are public archives (Code du patrimoine L211-4, L212-2) that the body must keep; the
/// right to erasure yields to a legal obligation (RGPD art. 17(3)(b)). Every other signatory
/// (association members, refurbisher staff) is erased.
pub fn keeps_signatory_name(document_kind: &str, signed_for: OrganisationKind) -> bool {
    signed_for == OrganisationKind::PublicBody
        && matches!(
            document_kind,
            "convention_cession" | "pv_enlevement" | "certificat_sortie" | "projet_deliberation"
        )
}

/// Replaces every occurrence of each of `needles` in `text` (ignoring case), longest first,
/// by `with`; returns `None` when nothing matched. Needles shorter than 3 characters are
/// ignored, so that an initial never blanks unrelated text.
pub fn redact(text: &str, needles: &[&str], with: &str) -> Option<String> {
    let mut needles: Vec<String> = needles
        .iter()
        .map(|n| n.trim().to_lowercase())
        .filter(|n| n.chars().count() >= 3)
        .collect();
    needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    needles.dedup();
    let mut out = text.to_owned();
    let mut changed = false;
    for needle in &needles {
        let mut from = 0;
        while let Some(range) = find_ignoring_case(&out[from..], needle) {
            let (start, end) = (from + range.start, from + range.end);
            out.replace_range(start..end, with);
            from = start + with.len();
            changed = true;
        }
    }
    changed.then_some(out)
}

/// The byte range of the first match of `needle` (lower case) in `text`, ignoring case, found
/// char by char.
fn find_ignoring_case(text: &str, needle: &str) -> Option<std::ops::Range<usize>> {
    for (start, _) in text.char_indices() {
        let mut matched = String::new();
        for (i, c) in text[start..].char_indices() {
            matched.extend(c.to_lowercase());
            if matched == needle {
                return Some(start..start + i + c.len_utf8());
            }
            if !needle.starts_with(matched.as_str()) {
                break;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_blanked_whatever_their_case() {
        let t = r#"{"operator":"Inès Bernard","mail":"INES@example.org","other":"Paul"}"#;
        let r = redact(t, &["inès bernard", "ines@example.org"], ERASED_NAME).expect("redacted");
        assert_eq!(
            r,
            r#"{"operator":"Personne effacée","mail":"Personne effacée","other":"Paul"}"#
        );
        assert_eq!(redact(t, &["Zoé"], ERASED_NAME), None);
        assert_eq!(redact(t, &["In"], ERASED_NAME), None);
    }

    #[test]
    fn only_public_body_acts_keep_their_signatory() {
        assert!(keeps_signatory_name(
            "convention_cession",
            OrganisationKind::PublicBody
        ));
        assert!(!keeps_signatory_name(
            "convention_cession",
            OrganisationKind::Association
        ));
        assert!(!keeps_signatory_name(
            "pv_remise",
            OrganisationKind::PublicBody
        ));
        assert!(!keeps_signatory_name(
            "attestation_don",
            OrganisationKind::Refurbisher
        ));
        assert!(!keeps_signatory_name(
            "certificat_effacement",
            OrganisationKind::Refurbisher
        ));
    }
}
