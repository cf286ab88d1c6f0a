//! Every event kind this crate can append has a label in `reemploi_domain::labels`.
//!
//! The kinds are read from the source itself, so a new kind without a label fails here: the
//! `kind: "…"` field of a [`super::events::NewEvent`], the `kind` argument of every helper whose
//! signature takes `kind: &'static str` (found by reading the signatures, so a new helper is
//! covered too), `let kind = …;` bindings, and the device life-cycle transitions (whose names are
//! the kinds `commands::transitions::fire` appends).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read source dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs")
            // This file's own snippets are test data, not kinds.
            && p.file_name().is_none_or(|n| n != "event_kinds.rs")
        {
            let text = std::fs::read_to_string(&p).expect("read source");
            out.push((p.display().to_string(), text));
        }
    }
}

/// The text between the `(` at `open` and its matching `)`, split at top-level commas.
fn arguments(s: &str, open: usize) -> Vec<String> {
    let mut depth = 0usize;
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let mut chars = s[open..].chars();
    while let Some(c) = chars.next() {
        if in_string {
            current.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                current.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > 1 {
                    current.push(c);
                }
            }
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    args.push(std::mem::take(&mut current));
                    return args;
                }
                current.push(c);
            }
            ',' if depth == 1 => args.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    args
}

/// The snake_case string literals of `s`.
fn literals(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let lit = &after[..end];
        if !lit.is_empty() && lit.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            out.push(lit.to_owned());
        }
        rest = &after[end + 1..];
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Functions taking `kind: &'static str`, with the position of that parameter.
fn kind_helpers(files: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut helpers = BTreeMap::new();
    for (_, text) in files {
        let mut at = 0;
        while let Some(i) = text[at..].find("fn ") {
            let start = at + i + 3;
            at = start;
            let name: String = text[start..].chars().take_while(|c| is_ident(*c)).collect();
            if name.is_empty() {
                continue;
            }
            let Some(open) = text[start..].find('(').map(|o| start + o) else {
                continue;
            };
            for (pos, param) in arguments(text, open).iter().enumerate() {
                let param = param.trim();
                if param.starts_with("kind:") && param.contains("&'static str") {
                    helpers.insert(name.clone(), pos);
                }
            }
        }
    }
    helpers
}

/// Every event kind the given sources can append (transition names aside).
fn appended_kinds(files: &[(String, String)]) -> BTreeSet<String> {
    let helpers = kind_helpers(files);
    let mut kinds = BTreeSet::new();
    for (_, text) in files {
        // `kind: "…"` fields.
        let field = concat!("kind", ": \"");
        let mut at = 0;
        while let Some(i) = text[at..].find(field) {
            let start = at + i + field.len() - 1;
            kinds.extend(literals(&text[start..]).into_iter().take(1));
            at = start + 1;
        }
        // `let kind = …;` bindings.
        let binding = concat!("let kind", " = ");
        let mut at = 0;
        while let Some(i) = text[at..].find(binding) {
            let start = at + i + binding.len();
            let end = text[start..].find(';').map_or(text.len(), |e| start + e);
            kinds.extend(literals(&text[start..end]));
            at = end;
        }
        // Calls of helpers taking a kind.
        for (name, pos) in &helpers {
            let mut at = 0;
            while let Some(i) = text[at..].find(name.as_str()) {
                let start = at + i;
                at = start + name.len();
                let before = text[..start].chars().next_back();
                if before.is_some_and(|c| is_ident(c) || c == '.') {
                    continue;
                }
                if !text[at..].starts_with('(') {
                    continue;
                }
                if let Some(arg) = arguments(text, at).get(*pos) {
                    kinds.extend(literals(arg));
                }
            }
        }
    }
    kinds
}

#[test]
fn every_event_kind_the_code_can_append_has_a_french_and_an_english_label() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut kinds = appended_kinds(&files);
    kinds.extend(
        reemploi_domain::lifecycle::TRANSITIONS
            .iter()
            .map(|t| t.name.to_owned()),
    );
    // The scan must keep finding what it found when written, through each of its paths.
    for known in [
        "document_issued",       // a `kind:` field
        "organisation_verified", // a `let kind` binding
        "claim_withdrawn",       // an argument of a helper that forwards its kind
        "lot_published",         // an argument of a helper
        "collect",               // a transition
    ] {
        assert!(kinds.contains(known), "the scan lost `{known}`: {kinds:?}");
    }
    assert!(kinds.len() >= 70, "only {} kinds found", kinds.len());
    let missing: Vec<&String> = kinds
        .iter()
        .filter(|k| reemploi_domain::labels::event_label(k).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "event kinds without a label in domain/src/labels.rs: {missing:?}"
    );
}

#[test]
fn the_scan_finds_a_kind_added_in_any_of_its_shapes() {
    let q = '"';
    let snippet = format!(
        "async fn notify_it(tx: &Tx, kind: &'static str, body: Value) {{}}\n\
         fn a() {{ tx.event(NewEvent {{ kind{c} {q}brand_new_field{q}, payload }}) }}\n\
         fn b() {{ let kind{e} if x {{ {q}brand_new_let{q} }} else {{ {q}brand_new_else{q} }}; }}\n\
         fn c() {{ notify_it(&tx, {q}brand_new_call{q}, json!({{ {q}a{q}: 1 }})).await; }}\n",
        c = ':',
        e = " =",
    );
    let kinds = appended_kinds(&[("snippet.rs".into(), snippet)]);
    for k in [
        "brand_new_field",
        "brand_new_let",
        "brand_new_else",
        "brand_new_call",
    ] {
        assert!(kinds.contains(k), "{k} not found in {kinds:?}");
    }
    assert!(!kinds.contains("a"), "a JSON key is not a kind: {kinds:?}");
    assert!(reemploi_domain::labels::event_label("brand_new_call").is_none());
}
