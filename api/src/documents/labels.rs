//! Sheets of QR labels for devices (`api/templates/etiquettes.typ`), rendered by the same typst
//! pipeline as the documents: each label carries the public code in large print, the QR code of
//! the device's public history page, its inventory number and its public body's name.

use reemploi_domain::item::PublicCode;
use serde_json::json;

use super::render::Renderer;

/// A sheet format for A4 label paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// 3 columns × 8 rows of 70 × 37 mm labels (24 a sheet).
    A4_3x8,
    /// 4 columns × 10 rows of 52.5 × 29.6 mm labels (40 a sheet).
    A4_4x10,
}

impl Layout {
    /// Columns and rows of a sheet.
    pub fn grid(self) -> (usize, usize) {
        match self {
            Layout::A4_3x8 => (3, 8),
            Layout::A4_4x10 => (4, 10),
        }
    }

    fn geometry(self) -> serde_json::Value {
        let (columns, rows) = self.grid();
        match self {
            Layout::A4_3x8 => json!({
                "columns": columns, "rows": rows, "width_mm": 70.0, "height_mm": 37.0,
                "top_mm": 0.5, "left_mm": 0.0, "gap_x_mm": 0.0, "gap_y_mm": 0.0,
                "padding_mm": 3.0, "qr_mm": 27.0, "code_pt": 14.0, "text_pt": 7.5,
            }),
            Layout::A4_4x10 => json!({
                "columns": columns, "rows": rows, "width_mm": 52.5, "height_mm": 29.6,
                "top_mm": 0.5, "left_mm": 0.0, "gap_x_mm": 0.0, "gap_y_mm": 0.0,
                "padding_mm": 2.0, "qr_mm": 21.0, "code_pt": 10.0, "text_pt": 6.0,
            }),
        }
    }
}

/// One label.
#[derive(Debug, Clone)]
pub struct LabelRow {
    pub public_code: String,
    pub inventory_number: String,
    /// The public body the device comes from.
    pub body: String,
}

/// The address a label's QR code opens.
pub fn history_url(public_url: &str, public_code: &str) -> String {
    format!("{public_url}/p/{public_code}")
}

/// Renders a sheet (as many pages as needed). Returns the PDF and its number of pages.
pub fn render(
    renderer: &Renderer,
    public_url: &str,
    layout: Layout,
    rows: &[LabelRow],
) -> Result<(Vec<u8>, usize), String> {
    let mut files = Vec::with_capacity(rows.len());
    let mut labels = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let path = format!("/qr/{i}.svg");
        let svg = label_qr(&history_url(public_url, &r.public_code))?;
        files.push((path.clone(), svg.into_bytes()));
        labels.push(json!({
            "qr": path,
            "code": PublicCode::parse(&r.public_code).map(|c| c.display()).unwrap_or_else(|_| r.public_code.clone()),
            "inventory_number": r.inventory_number,
            "body": r.body,
        }));
    }
    let data = json!({
        "title": "Étiquettes Réemploi",
        "layout": layout.geometry(),
        "labels": labels,
    });
    renderer.render_with(
        include_str!("../../templates/etiquettes.typ"),
        &data,
        files,
        "etiquettes",
    )
}

/// A label's QR code, with the quiet zone scanners need around it.
fn label_qr(url: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(120, 120)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheet_holds_its_grid_and_overflows_onto_new_pages() {
        let r = Renderer::new();
        let rows: Vec<LabelRow> = (0..25)
            .map(|i| LabelRow {
                public_code: PublicCode::from_random(i * 7919 + 11).as_str().to_owned(),
                inventory_number: format!("INV-2019-LONG-NUMBER-{i:04}"),
                body: "Communauté d'agglomération de Saint-Ouen-sur-Loire".into(),
            })
            .collect();
        let (_, pages) = render(&r, "http://x", Layout::A4_3x8, &rows[..24]).expect("render");
        assert_eq!(pages, 1, "24 labels fill one 3×8 sheet");
        let (_, pages) = render(&r, "http://x", Layout::A4_3x8, &rows).expect("render");
        assert_eq!(pages, 2, "the 25th starts a second sheet");
        let (pdf, pages) = render(&r, "http://x", Layout::A4_4x10, &rows).expect("render");
        assert_eq!(pages, 1, "25 labels fit one 4×10 sheet");
        if std::env::var("REEMPLOI_KEEP_PDF").is_ok() {
            std::fs::write("/tmp/labels-4x10.pdf", &pdf).expect("write");
            let (pdf, _) = render(&r, "http://x", Layout::A4_3x8, &rows).expect("render");
            std::fs::write("/tmp/labels-3x8.pdf", &pdf).expect("write");
        }
    }
}
