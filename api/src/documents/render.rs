//! Rendering documents with typst used as a library: a template (`api/templates/*.typ`), its data
//! as `data.json`, the page's QR code as `qr.svg`, and only the fonts bundled with typst — nothing
//! is read from the system, so the same data gives the same bytes on every machine.

use std::collections::HashMap;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

/// The shared layout: page, header, footer with verification code and QR code, signature blocks.
const COMMON: &str = include_str!("../../templates/common.typ");

/// Fonts and the standard library, loaded once per process.
pub struct Renderer {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("fonts", &self.fonts.len())
            .finish()
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

fn file_id(path: &str) -> FileId {
    let vpath = VirtualPath::new(path).unwrap_or_else(|_| panic!("valid virtual path {path}"));
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

impl Renderer {
    pub fn new() -> Self {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        Renderer {
            library: LazyHash::new(Library::default()),
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    }

    /// Renders `template` with `data` and the QR code `qr_svg`; `ident` makes the PDF identifier
    /// stable. Errors are typst's diagnostics, as text.
    pub fn render(
        &self,
        template: &str,
        data: &serde_json::Value,
        qr_svg: &str,
        ident: &str,
    ) -> Result<Vec<u8>, String> {
        self.render_pages(template, data, qr_svg, ident)
            .map(|(pdf, _)| pdf)
    }

    /// Like [`Renderer::render`], also telling the number of pages.
    pub fn render_pages(
        &self,
        template: &str,
        data: &serde_json::Value,
        qr_svg: &str,
        ident: &str,
    ) -> Result<(Vec<u8>, usize), String> {
        self.render_with(
            template,
            data,
            vec![("/qr.svg".to_owned(), qr_svg.as_bytes().to_vec())],
            ident,
        )
    }

    /// Renders `template` with `data` and these extra files (path in the template's world,
    /// bytes): a sheet of labels brings one QR code per label.
    pub fn render_with(
        &self,
        template: &str,
        data: &serde_json::Value,
        extra: Vec<(String, Vec<u8>)>,
        ident: &str,
    ) -> Result<(Vec<u8>, usize), String> {
        let main = file_id("/main.typ");
        let mut files = HashMap::new();
        files.insert(
            file_id("/data.json"),
            Bytes::new(serde_json::to_vec(data).map_err(|e| e.to_string())?),
        );
        for (path, bytes) in extra {
            let vpath = VirtualPath::new(&path).map_err(|_| format!("bad path {path}"))?;
            files.insert(
                RootedPath::new(VirtualRoot::Project, vpath).intern(),
                Bytes::new(bytes),
            );
        }
        let world = DocWorld {
            renderer: self,
            main: Source::new(main, template.to_owned()),
            common: Source::new(file_id("/common.typ"), COMMON.to_owned()),
            files,
        };
        let document: PagedDocument = typst::compile(&world)
            .output
            .map_err(|diags| diagnostics(&diags))?;
        let options = typst_pdf::PdfOptions {
            ident: Smart::Custom(ident.to_owned()),
            creator: Smart::Custom(Some("Réemploi".to_owned())),
            timestamp: None,
            ..Default::default()
        };
        let pages = document.pages().len();
        typst_pdf::pdf(&document, &options)
            .map(|pdf| (pdf, pages))
            .map_err(|diags| diagnostics(&diags))
    }
}

fn diagnostics(diags: &[typst::diag::SourceDiagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

struct DocWorld<'a> {
    renderer: &'a Renderer,
    main: Source,
    common: Source,
    files: HashMap<FileId, Bytes>,
}

impl World for DocWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.renderer.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.renderer.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else if id == self.common.id() {
            Ok(self.common.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if let Some(b) = self.files.get(&id) {
            return Ok(b.clone());
        }
        self.source(id)
            .map(|s| Bytes::from_string(s.text().to_owned()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.renderer.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        // Documents print their own dates from their data; a fixed "today" keeps them stable.
        Datetime::from_ymd(2000, 1, 1)
    }
}

/// The QR code of `text` as an SVG image.
pub fn qr_svg(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(120, 120)
        .quiet_zone(false)
        .build())
}

/// A convention de cession of `n` devices with made-up parties (tests and the benchmark).
pub fn sample_convention(n: usize) -> serde_json::Value {
    let items: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "inventory_number": format!("INV-2019-{i:05}"), "serial": "1954RGQKK9",
                    "category": "Ordinateur portable", "brand_model": "Dell Latitude 5490",
                    "acquisition_date": "15/03/2019", "acquisition_value": "948,61 €", "net_book_value": "0,00 €"
                })
            })
            .collect();
    serde_json::json!({
        "code": "K7M2QX9TAB", "verify_url": "http://127.0.0.1:8080/v1/verify/K7M2QX9TAB",
        "title": "Convention de cession", "date": "29 novembre 2026", "version": 1,
        "giver": { "name": "Ville de Saint-Ouen-sur-Loire", "kind_label": "commune", "identifiers": ["SIRET 398 259 796 19074"], "address": "1 place de la Mairie, 41000 Saint-Ouen-sur-Loire" },
        "beneficiary": { "name": "Atelier Solidaire du Val", "identifiers": ["SIRET 483 378 873 62325", "Agrément ESUS ESUS-41-2024-017"], "address": "12 rue des Artisans, 41000 Blois" },
        "legal_basis": "Article L3212-2, 3° du code général de la propriété des personnes publiques.",
        "decision": "la délibération n° 2026-112 du conseil municipal du 20 novembre 2026",
        "items": items,
        "totals": { "count": n, "acquisition_value": "1 234,56 €", "net_book_value": "0,00 €" },
        "removal": { "place": "aux Services techniques, 5 rue des Ateliers", "deadline": "au plus tard le 13 décembre 2026" },
        "erasure_statement": "Les données sont effacées selon la méthode « purge » (NIST SP 800-88) avant tout réemploi.",
        "resale": "Ne pas revendre le matériel, sauf au prix solidaire plafonné.",
        "reuse": "Réemployer le matériel, œuvre d'intérêt général ; en justifier à la demande.",
        "transfer": "La propriété est transférée au bénéficiaire à l'enlèvement.",
        "signatures": [
            { "party": "Pour le cédant" },
            { "party": "Pour le bénéficiaire", "statement": "Signé électroniquement par Inès Bernard, Responsable d'atelier, le 29/11/2026 à 10:30 (UTC).", "method": "Signature électronique simple" }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> serde_json::Value {
        sample_convention(n)
    }

    #[test]
    fn renders_the_same_bytes_for_the_same_data_and_paginates_long_tables() {
        let r = Renderer::new();
        let template = include_str!("../../templates/convention_cession.typ");
        let qr = qr_svg("http://127.0.0.1:8080/v1/verify/K7M2QX9TAB").expect("qr");
        let a = r
            .render(template, &sample(3), &qr, "K7M2QX9TAB")
            .expect("render");
        let b = r
            .render(template, &sample(3), &qr, "K7M2QX9TAB")
            .expect("render");
        assert!(a.starts_with(b"%PDF"));
        assert_eq!(a, b, "deterministic");
        let long = r
            .render(template, &sample(120), &qr, "K7M2QX9TAB")
            .expect("render");
        assert!(long.len() > a.len());
        if std::env::var("REEMPLOI_KEEP_PDF").is_ok() {
            std::fs::write("/tmp/convention.pdf", &long).expect("write");
        }
    }
}
