//! The pages people land on from the service's mails: accept an invitation (choose a name and a
//! password, and join), choose a new password, confirm an e-mail address, and ask for a reset
//! link. Each form posts back to its page, which calls the same command as the API; the token
//! is the last segment of the path (the request log redacts it, and `Referrer-Policy:
//! no-referrer` keeps it from leaving). A GET never changes anything: mail scanners that open
//! links do not consume them.

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};

use crate::http::log::ClientIp;
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::{html_response, layout_with_footer, t};
use crate::commands::{accounts, credentials};
use crate::error::{ApiError, ErrorCode, Lang, field_message};
use crate::security;
use crate::state::AppState;
use crate::store::entities::organisation;
use crate::store::organisations::{invitation_by_token_hash, user_by_email};

const FOOTER_FR: &str = "Réemploi suit les équipements informatiques réformés des organismes publics, de l'inventaire au don à une association. Cette page ne garde rien de ce que vous saisissez hors de votre compte.";
const FOOTER_EN: &str = "Réemploi tracks decommissioned public IT equipment from the inventory to its donation to an association. This page keeps nothing you type outside your account.";

fn page(lang: Lang, status: StatusCode, title: &str, path: &str, main: Markup) -> Response {
    html_response(
        status,
        layout_with_footer(lang, title, path, main, t(lang, FOOTER_FR, FOOTER_EN)),
    )
}

/// Where a form posts: its own page, keeping the language.
/// A page that says an action went through: its title, then `message` as a status.
fn done(lang: Lang, path: &str, title: &str, message: Markup) -> Response {
    page(
        lang,
        StatusCode::OK,
        title,
        path,
        html! {
            h1 { (title) }
            div.status.ok role="status" { (message) }
        },
    )
}

fn action(path: &str, lang: Lang) -> String {
    match lang {
        Lang::Fr => path.to_owned(),
        Lang::En => format!("{path}?lang=en"),
    }
}

/// The messages of a refused command, in plain words.
fn problems(err: &ApiError, lang: Lang) -> Vec<String> {
    let mut out: Vec<String> = err
        .fields
        .iter()
        .map(|(field, reason)| {
            let label = match (field.as_str(), lang) {
                ("display_name", Lang::Fr) => "Nom",
                ("display_name", Lang::En) => "Name",
                (_, Lang::Fr) => "Mot de passe",
                (_, Lang::En) => "Password",
            };
            format!("{label} : {}", field_message(*reason, lang))
        })
        .collect();
    if out.is_empty() {
        let detail = match lang {
            Lang::Fr => err.detail.clone(),
            Lang::En => err.detail_en.clone().or_else(|| err.detail.clone()),
        };
        out.push(detail.unwrap_or_else(|| err.code.title(lang).to_owned()));
    }
    out
}

fn alert(messages: &[String]) -> Markup {
    html! {
        @if !messages.is_empty() {
            div.status.bad role="alert" {
                @for m in messages { p { (m) } }
            }
        }
    }
}

fn invalid_link(lang: Lang, path: &str) -> Response {
    let title = t(
        lang,
        "Ce lien ne fonctionne plus",
        "This link no longer works",
    );
    page(
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        title,
        path,
        html! {
            h1 { (title) }
            div.status.bad role="alert" {
                p { (t(lang,
                    "Le lien est invalide, a expiré ou a déjà servi (chaque lien ne sert qu'une fois). Demandez-en un nouveau : à l'administrateur de votre organisation pour une invitation, ou ci-dessous pour un mot de passe.",
                    "The link is invalid, expired or already used (each link works once). Ask for a new one: from your organisation's administrator for an invitation, or below for a password."))
                }
            }
            p { a href={ (credentials::paths::FORGOT) @if lang == Lang::En { "?lang=en" } } { (t(lang, "Recevoir un nouveau lien de mot de passe", "Get a new password link")) } }
        },
    )
}

fn rate_limited(lang: Lang, path: &str, wait: u64) -> Response {
    super::error_page(
        super::PageError::RateLimited(Some(u32::try_from(wait).unwrap_or(u32::MAX))),
        lang,
        path,
    )
}

// --- Invitation ---------------------------------------------------------------------------

/// What the invitation form sends.
#[derive(Debug, Deserialize)]
pub struct InvitationForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

struct PendingInvitation {
    organisation: String,
    email: String,
    existing_account: bool,
}

async fn pending_invitation(state: &AppState, token: &str) -> Option<PendingInvitation> {
    let inv = invitation_by_token_hash(&state.db, &security::token_hash(token.trim()))
        .await
        .ok()
        .flatten()
        .filter(|i| {
            i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > crate::store::now()
        })?;
    use sea_orm::EntityTrait;
    let org = organisation::Entity::find_by_id(inv.organisation_id)
        .one(&state.db)
        .await
        .ok()
        .flatten()?;
    let existing_account = user_by_email(&state.db, &inv.email)
        .await
        .ok()
        .flatten()
        .is_some();
    Some(PendingInvitation {
        organisation: org.name,
        email: inv.email,
        existing_account,
    })
}

fn invitation_form(
    lang: Lang,
    path: &str,
    inv: &PendingInvitation,
    name: &str,
    messages: &[String],
) -> Response {
    let title = t(lang, "Rejoindre une organisation", "Join an organisation");
    let status = if messages.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        lang,
        status,
        title,
        path,
        html! {
            h1 { (title) }
            p {
                (t(lang, "Vous êtes invité·e à rejoindre ", "You are invited to join "))
                strong { (inv.organisation) }
                (t(lang, " sur Réemploi, avec l'adresse ", " on Réemploi, with the address "))
                strong { (inv.email) } "."
            }
            (alert(messages))
            form method="post" action=(action(path, lang)) {
                @if inv.existing_account {
                    p { (t(lang, "Cette adresse a déjà un compte : saisissez son mot de passe pour rejoindre l'organisation.", "This address already has an account: type its password to join the organisation.")) }
                    input type="hidden" name="display_name" value="";
                    label for="password" { (t(lang, "Mot de passe de votre compte", "Your account's password")) }
                    input #password type="password" name="password" required autocomplete="current-password";
                } @else {
                    label for="display_name" { (t(lang, "Votre nom (vu par les autres membres)", "Your name (seen by other members)")) }
                    input #display_name type="text" name="display_name" value=(name) required maxlength="200" autocomplete="name";
                    label for="password" { (t(lang, "Choisissez un mot de passe (12 caractères au moins, variés)", "Choose a password (at least 12 varied characters)")) }
                    input #password type="password" name="password" required minlength="12" maxlength="256" autocomplete="new-password";
                }
                button type="submit" { (t(lang, "Rejoindre", "Join")) }
            }
        },
    )
}

/// `GET /compte/invitation/{token}`: the form to accept an invitation.
#[handler]
pub async fn invitation_page(
    req: &Request,
    Path(token): Path<String>,
    state: Data<&AppState>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    match pending_invitation(&state, &token).await {
        Some(inv) => invitation_form(lang, &path, &inv, "", &[]),
        None => invalid_link(lang, &path),
    }
}

/// `POST /compte/invitation/{token}`: accepts it (the same command as `accept_invitation`).
#[handler]
pub async fn accept_invitation(
    req: &Request,
    remote: ClientIp,
    Path(token): Path<String>,
    state: Data<&AppState>,
    form: poem::Result<Form<InvitationForm>>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    if let Err(wait) = state.login_per_ip.hit(&remote.0) {
        return rate_limited(lang, &path, wait);
    }
    let Some(inv) = pending_invitation(&state, &token).await else {
        return invalid_link(lang, &path);
    };
    let Ok(Form(form)) = form else {
        return super::error_page(super::PageError::BadRequest, lang, &path);
    };
    let outcome = accounts::accept_invitation(
        &state,
        accounts::Acceptance {
            token: token.clone(),
            display_name: form.display_name.clone(),
            password: form.password.clone(),
        },
    )
    .await;
    match outcome {
        Ok(_) => {
            let title = t(lang, "Bienvenue", "Welcome");
            done(
                lang,
                &path,
                title,
                html! {
                    p {
                        (t(lang, "Vous avez rejoint ", "You joined "))
                        strong { (inv.organisation) }
                        "."
                    }
                    p { (t(lang, "Connectez-vous à l'application Réemploi avec votre adresse e-mail et votre mot de passe.", "Sign in to the Réemploi app with your e-mail address and password.")) }
                },
            )
        }
        Err(e) if e.code == ErrorCode::InvitationInvalid => invalid_link(lang, &path),
        Err(e) if e.code.status().is_client_error() => {
            invitation_form(lang, &path, &inv, &form.display_name, &problems(&e, lang))
        }
        Err(_) => super::error_page(
            super::PageError::Other(StatusCode::SERVICE_UNAVAILABLE),
            lang,
            &path,
        ),
    }
}

// --- Password reset -----------------------------------------------------------------------

/// What the new-password form sends.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

fn reset_form(lang: Lang, path: &str, messages: &[String]) -> Response {
    let title = t(
        lang,
        "Choisir un nouveau mot de passe",
        "Choose a new password",
    );
    let status = if messages.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        lang,
        status,
        title,
        path,
        html! {
            h1 { (title) }
            (alert(messages))
            form method="post" action=(action(path, lang)) {
                label for="password" { (t(lang, "Nouveau mot de passe (12 caractères au moins, variés)", "New password (at least 12 varied characters)")) }
                input #password type="password" name="password" required minlength="12" maxlength="256" autocomplete="new-password";
                label for="confirmation" { (t(lang, "Le même, une seconde fois", "The same, once more")) }
                input #confirmation type="password" name="confirmation" required minlength="12" maxlength="256" autocomplete="new-password";
                button type="submit" { (t(lang, "Enregistrer", "Save")) }
            }
            p.muted { (t(lang, "Une fois le mot de passe changé, toutes vos sessions ouvertes sont fermées.", "Once the password is changed, all your open sessions are signed out.")) }
        },
    )
}

/// `GET /compte/mot-de-passe/{token}`: the new-password form.
#[handler]
pub async fn reset_page(req: &Request) -> Response {
    let lang = super::lang(req);
    reset_form(lang, req.uri().path(), &[])
}

/// `POST /compte/mot-de-passe/{token}`: sets it (the same command as `reset_password`).
#[handler]
pub async fn reset_password(
    req: &Request,
    remote: ClientIp,
    Path(token): Path<String>,
    state: Data<&AppState>,
    form: poem::Result<Form<ResetForm>>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    if let Err(wait) = state.login_per_ip.hit(&remote.0) {
        return rate_limited(lang, &path, wait);
    }
    let Ok(Form(form)) = form else {
        return super::error_page(super::PageError::BadRequest, lang, &path);
    };
    if form.password != form.confirmation {
        return reset_form(
            lang,
            &path,
            &[t(
                lang,
                "Les deux mots de passe saisis diffèrent.",
                "The two passwords typed differ.",
            )
            .to_owned()],
        );
    }
    match credentials::reset_password(&state, &token, &form.password).await {
        Ok(()) => {
            let title = t(lang, "Mot de passe changé", "Password changed");
            done(
                lang,
                &path,
                title,
                html! {
                    p { (t(lang, "Votre nouveau mot de passe est enregistré, et vos sessions ouvertes ont été fermées. Connectez-vous avec lui dans l'application Réemploi.", "Your new password is saved, and your open sessions were signed out. Sign in with it in the Réemploi app.")) }
                },
            )
        }
        Err(e) if e.code == ErrorCode::TokenInvalid => invalid_link(lang, &path),
        Err(e) if e.code.status().is_client_error() => reset_form(lang, &path, &problems(&e, lang)),
        Err(_) => super::error_page(
            super::PageError::Other(StatusCode::SERVICE_UNAVAILABLE),
            lang,
            &path,
        ),
    }
}

// --- Address verification -----------------------------------------------------------------

/// `GET /compte/adresse/{token}`: a button that confirms the address.
#[handler]
pub async fn verify_page(req: &Request) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    let title = t(
        lang,
        "Confirmer votre adresse e-mail",
        "Confirm your e-mail address",
    );
    page(
        lang,
        StatusCode::OK,
        title,
        &path,
        html! {
            h1 { (title) }
            form method="post" action=(action(&path, lang)) {
                p { (t(lang, "Confirmez que vous lisez bien les messages envoyés à cette adresse.", "Confirm that you read the messages sent to this address.")) }
                button type="submit" { (t(lang, "Confirmer mon adresse", "Confirm my address")) }
            }
        },
    )
}

/// `POST /compte/adresse/{token}`: verifies it (the same command as `verify_email`).
#[handler]
pub async fn verify_address(
    req: &Request,
    remote: ClientIp,
    Path(token): Path<String>,
    state: Data<&AppState>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    if let Err(wait) = state.login_per_ip.hit(&remote.0) {
        return rate_limited(lang, &path, wait);
    }
    match credentials::verify_email(&state, &token).await {
        Ok(()) => {
            let title = t(lang, "Adresse confirmée", "Address confirmed");
            done(
                lang,
                &path,
                title,
                html! {
                    p { (t(lang, "Merci : votre adresse e-mail est confirmée.", "Thank you: your e-mail address is confirmed.")) }
                },
            )
        }
        Err(e) if e.code == ErrorCode::TokenInvalid => invalid_link(lang, &path),
        Err(_) => super::error_page(
            super::PageError::Other(StatusCode::SERVICE_UNAVAILABLE),
            lang,
            &path,
        ),
    }
}

// --- Forgotten password -------------------------------------------------------------------

/// What the forgotten-password form sends.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// `GET /compte/mot-de-passe-oublie`: asks for the address to mail a reset link to.
#[handler]
pub async fn forgot_page(req: &Request) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    let title = t(lang, "Mot de passe oublié", "Forgot password");
    page(
        lang,
        StatusCode::OK,
        title,
        &path,
        html! {
            h1 { (title) }
            form method="post" action=(action(&path, lang)) {
                label for="email" { (t(lang, "Votre adresse e-mail", "Your e-mail address")) }
                input #email type="email" name="email" required maxlength="254" autocomplete="email";
                button type="submit" { (t(lang, "Recevoir un lien", "Get a link")) }
            }
        },
    )
}

/// `POST /compte/mot-de-passe-oublie`: the same answer whether the address has an account.
#[handler]
pub async fn forgot(
    req: &Request,
    remote: ClientIp,
    state: Data<&AppState>,
    form: poem::Result<Form<ForgotForm>>,
) -> Response {
    let lang = super::lang(req);
    let path = req.uri().path().to_owned();
    if let Err(wait) = state.login_per_ip.hit(&remote.0) {
        return rate_limited(lang, &path, wait);
    }
    let Ok(Form(form)) = form else {
        return super::error_page(super::PageError::BadRequest, lang, &path);
    };
    if credentials::request_password_reset(&state, &form.email)
        .await
        .is_err()
    {
        return super::error_page(
            super::PageError::Other(StatusCode::SERVICE_UNAVAILABLE),
            lang,
            &path,
        );
    }
    let title = t(lang, "Vérifiez votre messagerie", "Check your mailbox");
    done(
        lang,
        &path,
        title,
        html! {
            p { (t(lang, "Si un compte Réemploi utilise cette adresse, un lien pour choisir un nouveau mot de passe vient d'y être envoyé. Il est valable une heure.", "If a Réemploi account uses this address, a link to choose a new password was just sent to it. It is valid for one hour.")) }
        },
    )
}
