//! Pages for people: what a document's QR code opens (`/v/{code}`), what a device label's QR
//! code opens (`/p/{public_code}`), and their error pages. Server-rendered HTML (maud: the
//! templates are Rust expressions checked by the compiler, escaped by default), French by
//! default and English with `Accept-Language: en` or `?lang=en`, no JavaScript, no external
//! request (the CSS is inline and allowed by its hash), printable, readable at 320 px.
//!
//! The account pages (`/compte/…`, [`account`]) are where people land from the service's mails:
//! accept an invitation, choose a new password, confirm an address.
//!
//! The JSON endpoints (`/v1/verify/{code}`, `/v1/public/items/{code}`) stay as they are for API
//! clients; these pages are not part of the API spec. Errors on these paths (unknown or
//! malformed code, rate limit, body too large) are HTML pages too: see [`is_page_path`].

mod account;
mod history;
mod verify;

use std::sync::LazyLock;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Request, Response, Route, get};
use sha2::{Digest, Sha256};

use crate::error::Lang;

pub use verify::{VerificationView, verification_view};

/// Adds the pages to the application's routes.
pub fn mount(route: Route) -> Route {
    route
        .at(
            "/v/:code",
            get(verify::verification_page).post(verify::check_file),
        )
        .at("/p/:code", get(history::history_page))
        .at(
            "/compte/invitation/:token",
            get(account::invitation_page).post(account::accept_invitation),
        )
        .at(
            "/compte/mot-de-passe/:token",
            get(account::reset_page).post(account::reset_password),
        )
        .at(
            "/compte/adresse/:token",
            get(account::verify_page).post(account::verify_address),
        )
        .at(
            "/compte/mot-de-passe-oublie",
            get(account::forgot_page).post(account::forgot),
        )
}

/// The path of a verification page (printed on documents and in their QR code).
pub fn verification_path(code: &str) -> String {
    format!("/v/{code}")
}

/// The path of a device's public history page (in the QR code of its label).
pub fn history_path(public_code: &str) -> String {
    format!("/p/{public_code}")
}

/// Whether a request path is one of the pages (its errors are HTML, not problem+json).
pub fn is_page_path(path: &str) -> bool {
    path.starts_with("/v/") || path.starts_with("/p/") || path.starts_with("/compte/")
}

/// The language of a page: `?lang=fr|en` first (a link on every page), else `Accept-Language`.
pub fn lang(req: &Request) -> Lang {
    let asked = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| match pair {
            "lang=en" => Some(Lang::En),
            "lang=fr" => Some(Lang::Fr),
            _ => None,
        });
    asked.unwrap_or_else(|| Lang::from_accept_language(req.header("accept-language")))
}

/// French or English text.
pub(crate) fn t(lang: Lang, fr: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Fr => fr,
        Lang::En => en,
    }
}

const CSS: &str = r#"
*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;font-size:100%;line-height:1.5;color:#1a1a1a;background:#fff}
body{margin:0}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem;z-index:1}
.skip:focus{left:.5rem}
header,main,footer{max-width:48rem;margin:0 auto;padding:1rem}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.5rem;border-bottom:3px solid #000091}
.brand{font-weight:700;font-size:1.25rem;margin:0;color:#000091}
a{color:#000091}
a:focus,button:focus,input:focus{outline:3px solid #0a76f6;outline-offset:2px}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.25rem;margin:1.5rem 0 .5rem}
dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.25rem 1rem;margin:0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
@media (max-width:30rem){dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}}
.status{border-left:6px solid;padding:.75rem 1rem;margin:1rem 0;background:#f6f6f6}
.ok{border-color:#18753c;background:#e8f5ec}
.warn{border-color:#b34000;background:#fff1e8}
.bad{border-color:#ce0500;background:#ffe9e9}
.status p{margin:.25rem 0}
.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1.6rem;font-weight:700;letter-spacing:.05em}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere;word-break:break-all}
ol.steps{padding-left:1.5rem}
ol.steps li{margin:.5rem 0;padding-left:.25rem}
.muted{color:#3a3a3a}
ul.parties{list-style:none;padding:0}
ul.parties li{border:1px solid #929292;border-radius:4px;padding:.5rem .75rem;margin:.5rem 0}
form{border:1px solid #929292;border-radius:4px;padding:1rem;margin:1rem 0}
label{display:block;font-weight:600;margin-bottom:.5rem}
input[type=file]{max-width:100%;margin-bottom:1rem}
input[type=text],input[type=email],input[type=password]{display:block;font:inherit;width:100%;max-width:24rem;padding:.4rem;margin-bottom:1rem;border:1px solid #666;border-radius:4px}
button{font:inherit;background:#000091;color:#fff;border:0;border-radius:4px;padding:.5rem 1rem;cursor:pointer}
.qr img{width:8rem;height:8rem}
footer{border-top:1px solid #929292;font-size:.9rem;color:#3a3a3a}
@media print{header nav,form,.skip{display:none}a{color:#000;text-decoration:none}main a[href]::after{content:" (" attr(href) ")";font-size:.8em}.status{border:1px solid #000}}
"#;

/// The Content-Security-Policy of every page: nothing but the inline CSS (by its hash), images
/// inlined as data, and forms posted back to the service.
static CSP: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
});

/// A whole page: landmarks, language, title, inline CSS, a link to the other language.
pub(crate) fn layout(lang: Lang, title: &str, path: &str, main: Markup) -> Markup {
    layout_with_footer(
        lang,
        title,
        path,
        main,
        t(
            lang,
            "Réemploi suit les équipements informatiques réformés des organismes publics, de l'inventaire au don à une association. Cette page ne montre que des organisations : aucune personne, aucun numéro de série.",
            "Réemploi tracks decommissioned public IT equipment from the inventory to its donation to an association. This page shows organisations only: no person, no serial number.",
        ),
    )
}

/// [`layout`] with another footer text.
pub(crate) fn layout_with_footer(
    lang: Lang,
    title: &str,
    path: &str,
    main: Markup,
    footer: &str,
) -> Markup {
    let (code, other, other_code, other_name) = match lang {
        Lang::Fr => ("fr", "en", "en", "English"),
        Lang::En => ("en", "fr", "fr", "Français"),
    };
    html! {
        (DOCTYPE)
        html lang=(code) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " — Réemploi" }
                style { (PreEscaped(CSS)) }
            }
            body {
                a.skip href="#contenu" { (t(lang, "Aller au contenu", "Skip to content")) }
                header {
                    p.brand { "Réemploi" }
                    nav aria-label=(t(lang, "Langue", "Language")) {
                        a href={ (path) "?lang=" (other) } hreflang=(other_code) lang=(other_code) { (other_name) }
                    }
                }
                main #contenu tabindex="-1" {
                    (main)
                }
                footer {
                    p { (footer) }
                }
            }
        }
    }
}

/// An HTML answer with the pages' headers.
pub(crate) fn html_response(status: StatusCode, page: Markup) -> Response {
    let mut resp = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::VARY, "Accept-Language")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(page.into_string());
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// What went wrong, for an error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    /// The code is not of the printed form.
    MalformedCode,
    /// No document has this verification code.
    UnknownDocument,
    /// No device has this public code.
    UnknownDevice,
    /// Over the anonymous rate limit; retry after so many seconds.
    RateLimited(Option<u32>),
    /// The uploaded file is too large.
    TooLarge,
    /// The request could not be read.
    BadRequest,
    /// Another status (method not allowed, unavailable…).
    Other(StatusCode),
}

impl PageError {
    fn status(self) -> StatusCode {
        match self {
            PageError::MalformedCode | PageError::BadRequest => StatusCode::BAD_REQUEST,
            PageError::UnknownDocument | PageError::UnknownDevice => StatusCode::NOT_FOUND,
            PageError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::Other(s) => s,
        }
    }

    /// The error a status means on a page path.
    pub fn from_status(status: StatusCode, retry_after: Option<u32>) -> PageError {
        match status.as_u16() {
            400 => PageError::BadRequest,
            404 => PageError::Other(StatusCode::NOT_FOUND),
            413 => PageError::TooLarge,
            429 => PageError::RateLimited(retry_after),
            _ => PageError::Other(status),
        }
    }
}

/// The error page, in plain words.
pub fn error_page(err: PageError, lang: Lang, path: &str) -> Response {
    let (title, text): (&str, String) = match err {
        PageError::MalformedCode => (
            t(lang, "Ce code n'est pas valide", "This code is not valid"),
            t(lang,
              "Un code Réemploi compte 10 caractères, chiffres et lettres (par exemple 7K3M9-QXA2B). Vérifiez ce que vous avez saisi, ou scannez à nouveau le code QR.",
              "A Réemploi code has 10 characters, digits and letters (for example 7K3M9-QXA2B). Check what you typed, or scan the QR code again.").to_owned(),
        ),
        PageError::UnknownDocument => (
            t(lang, "Aucun document ne porte ce code", "No document has this code"),
            t(lang,
              "Ce code ne correspond à aucun document émis par Réemploi. Vérifiez qu'il a été recopié sans erreur ; si c'est le cas, le document n'est pas authentique.",
              "This code matches no document issued by Réemploi. Check that it was copied without a mistake; if it was, the document is not genuine.").to_owned(),
        ),
        PageError::UnknownDevice => (
            t(lang, "Aucun équipement ne porte ce code", "No device has this code"),
            t(lang,
              "Ce code ne correspond à aucun équipement suivi par Réemploi. Vérifiez qu'il a été recopié sans erreur.",
              "This code matches no device tracked by Réemploi. Check that it was copied without a mistake.").to_owned(),
        ),
        PageError::RateLimited(wait) => (
            t(lang, "Trop de consultations", "Too many requests"),
            match (lang, wait) {
                (Lang::Fr, Some(s)) => format!("Trop de pages ont été demandées depuis votre connexion en peu de temps. Réessayez dans {s} seconde(s)."),
                (Lang::En, Some(s)) => format!("Too many pages were asked for from your connection in a short time. Try again in {s} second(s)."),
                (Lang::Fr, None) => "Trop de pages ont été demandées depuis votre connexion en peu de temps. Réessayez dans une minute.".to_owned(),
                (Lang::En, None) => "Too many pages were asked for from your connection in a short time. Try again in a minute.".to_owned(),
            },
        ),
        PageError::TooLarge => (
            t(lang, "Fichier trop volumineux", "File too large"),
            t(lang,
              "Le fichier envoyé dépasse 25 Mo : ce n'est pas un document émis par Réemploi.",
              "The file sent is over 25 MB: it is not a document issued by Réemploi.").to_owned(),
        ),
        PageError::BadRequest => (
            t(lang, "Demande illisible", "Unreadable request"),
            t(lang,
              "La demande n'a pas pu être lue. Revenez à la page précédente et réessayez.",
              "The request could not be read. Go back to the previous page and try again.").to_owned(),
        ),
        PageError::Other(s) if s == StatusCode::NOT_FOUND => (
            t(lang, "Page introuvable", "Page not found"),
            t(lang, "Cette adresse ne correspond à aucune page.", "This address matches no page.").to_owned(),
        ),
        PageError::Other(s) if s.is_server_error() => (
            t(lang, "Service momentanément indisponible", "Service temporarily unavailable"),
            t(lang,
              "Le service ne peut pas répondre pour le moment. Réessayez dans quelques minutes.",
              "The service cannot answer right now. Try again in a few minutes.").to_owned(),
        ),
        PageError::Other(_) => (
            t(lang, "Demande refusée", "Request refused"),
            t(lang, "Cette demande ne peut pas être traitée ici.", "This request cannot be handled here.").to_owned(),
        ),
    };
    let main = html! {
        h1 { (title) }
        div.status.bad role="alert" {
            p { (text) }
        }
    };
    let mut resp = html_response(err.status(), layout(lang, title, path, main));
    if let PageError::RateLimited(Some(s)) = err
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// A date as people write it (`29 novembre 2026`, `29 November 2026`).
pub(crate) fn long_date(d: chrono::NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::Fr => crate::documents::long_date(d),
        Lang::En => d.format("%-d %B %Y").to_string(),
    }
}

/// The QR code of `url` as an image people's phones can scan from a printed page.
pub(crate) fn qr_data_uri(url: &str) -> Option<String> {
    use base64::Engine as _;
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(160, 160)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_stylesheet() {
        use base64::Engine as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
        assert!(CSP.contains(&format!("'sha256-{hash}'")));
        assert!(CSP.starts_with("default-src 'none'"));
        let page = layout(Lang::Fr, "Titre", "/p/X", html! { p { "x" } }).into_string();
        assert!(page.contains(&format!("<style>{CSS}</style>")), "{page}");
        assert!(page.contains("<html lang=\"fr\">"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn page_paths_and_languages() {
        assert!(is_page_path("/v/ABC"));
        assert!(is_page_path("/p/ABC"));
        assert!(!is_page_path("/v1/verify/ABC"));
        let req = Request::builder()
            .uri(poem::http::Uri::from_static("/p/X?lang=en"))
            .header("accept-language", "fr")
            .finish();
        assert_eq!(lang(&req), Lang::En);
        let req = Request::builder()
            .uri(poem::http::Uri::from_static("/p/X"))
            .header("accept-language", "en-GB,en;q=0.9")
            .finish();
        assert_eq!(lang(&req), Lang::En);
        assert_eq!(
            long_date(
                chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
                Lang::En
            ),
            "1 November 2026"
        );
    }
}
