//! The public history page a device label's QR code opens: category, brand and model, the
//! steps in order with their label, organisation and date, and whether the chain verifies. The
//! same view as the JSON answer of `GET /v1/public/items/{code}`: no serial number, no person.

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use reemploi_domain::item::PublicCode;

use super::{PageError, error_page, html_response, layout, long_date, qr_data_uri, t};
use crate::error::{ErrorCode, Lang};
use crate::http::items::PublicItem;
use crate::state::AppState;

fn page(item: &PublicItem, lang: Lang, path: &str, url: &str) -> Markup {
    let title = t(lang, "Historique d'un équipement", "History of a device");
    let brand_model = [item.brand.as_deref(), item.model.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let main = html! {
        h1 { (title) }
        p { (t(lang, "Code de l'équipement : ", "Device code: ")) span.code { (item.public_code) } }
        @if item.history_verified {
            div.status.ok role="status" {
                p { strong { (t(lang, "Historique vérifié : ", "History verified: ")) }
                    (t(lang, "chaque étape est scellée par une empreinte qui dépend des précédentes, et la chaîne est intacte.",
                             "each step is sealed by a fingerprint that depends on the previous ones, and the chain is intact.")) }
            }
        } @else {
            div.status.bad role="alert" {
                p { strong { (t(lang, "Historique non vérifié : ", "History not verified: ")) }
                    (t(lang, "la chaîne d'empreintes de cet historique est rompue ; il a pu être altéré.",
                             "the fingerprint chain of this history is broken; it may have been altered.")) }
                @if let Some(problem) = &item.history_problem {
                    p { (problem) }
                }
            }
        }
        dl {
            dt { (t(lang, "Catégorie", "Category")) }
            dd { (item.category_label) }
            dt { (t(lang, "Marque et modèle", "Brand and model")) }
            dd { @if brand_model.is_empty() { (t(lang, "non renseignés", "not given")) } @else { (brand_model) } }
            dt { (t(lang, "État actuel", "Current state")) }
            dd { (item.status_label) }
            @if let Some(g) = &item.grade {
                dt { (t(lang, "Grade après reconditionnement", "Grade after refurbishment")) }
                dd { (g.as_str()) }
            }
        }
        h2 { (t(lang, "Étapes", "Steps")) }
        ol.steps {
            @for s in &item.history {
                li {
                    strong { (s.label) }
                    @if let Some(at) = chrono::DateTime::parse_from_rfc3339(&s.at).ok() {
                        " — " time datetime=(s.at) { (long_date(at.date_naive(), lang)) }
                    }
                    @if let Some(o) = &s.organisation {
                        br; span.muted { (t(lang, "Par ", "By ")) (o) }
                    }
                    @if let Some(o) = &s.to_organisation {
                        br; span.muted { (t(lang, "Vers ", "To ")) (o) }
                    }
                }
            }
        }
        @if let Some(src) = qr_data_uri(url) {
            p.qr {
                img src=(src) alt={ (t(lang, "Code QR de cette page : ", "QR code of this page: ")) (url) } width="128" height="128";
            }
        }
    };
    layout(lang, title, path, main)
}

/// `GET /p/{public_code}`.
#[handler]
pub async fn history_page(
    req: &Request,
    Path(code): Path<String>,
    state: Data<&AppState>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    let Some(code) = (code.len() <= 40)
        .then(|| PublicCode::parse(&code).ok())
        .flatten()
    else {
        return error_page(PageError::MalformedCode, lang, &path);
    };
    match PublicItem::load(&state.db, &code, lang).await {
        Ok(item) => {
            let url = format!(
                "{}{}",
                state.settings.public_url,
                super::history_path(code.as_str())
            );
            html_response(StatusCode::OK, page(&item, lang, &path, &url))
        }
        Err(e) if e.code == ErrorCode::NotFound => {
            error_page(PageError::UnknownDevice, lang, &path)
        }
        Err(e) => error_page(PageError::from_status(e.code.status(), None), lang, &path),
    }
}
