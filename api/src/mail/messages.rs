//! The mails the service writes to people, in their language (French by default, English), each
//! as plain text and HTML: what happened, one link to the service's page where they act (never
//! a bare token to paste into an API), and whom to answer (the sending organisation's address
//! and phone).

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, html};

use crate::error::Lang;

/// Whom a person can answer: the sending organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    /// Street, postcode and city on one line.
    pub address: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl Contact {
    /// The contact of an organisation row.
    pub fn of(org: &crate::store::entities::organisation::Model) -> Contact {
        Contact {
            name: org.name.clone(),
            address: format!("{}, {} {}", org.address, org.postcode, org.city),
            phone: org.phone.clone(),
            email: org.contact_email.clone(),
        }
    }
}

/// The language stored for a person (`fr` unless `en`).
pub fn lang_of(code: &str) -> Lang {
    if code == "en" { Lang::En } else { Lang::Fr }
}

/// A message before it is laid out as text and HTML.
struct Letter {
    lang: Lang,
    category: &'static str,
    to: String,
    subject: String,
    before: Vec<String>,
    action: Option<(String, String)>,
    after: Vec<String>,
    contact: Option<Contact>,
}

fn t(lang: Lang, fr: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Fr => fr,
        Lang::En => en,
    }
}

fn when(at: DateTime<Utc>, lang: Lang) -> String {
    match lang {
        Lang::Fr => at.format("%d/%m/%Y à %H:%M (UTC)").to_string(),
        Lang::En => at.format("%-d %B %Y at %H:%M (UTC)").to_string(),
    }
}

fn contact_lines(c: &Contact, lang: Lang) -> Vec<String> {
    let mut lines = vec![
        t(
            lang,
            "Une question ? Écrivez ou téléphonez à :",
            "A question? Write to or call:",
        )
        .to_owned(),
        c.name.clone(),
        c.address.clone(),
    ];
    if let Some(p) = &c.phone {
        lines.push(format!("{} {p}", t(lang, "Téléphone :", "Phone:")));
    }
    if let Some(e) = &c.email {
        lines.push(format!("{} {e}", t(lang, "Courriel :", "E-mail:")));
    }
    lines
}

impl Letter {
    fn render(self) -> super::Mail {
        let lang = self.lang;
        let greeting = t(lang, "Bonjour,", "Hello,");
        let signature = t(lang, "L'équipe Réemploi", "The Réemploi team");
        let mut text = format!("{greeting}\n\n");
        for p in &self.before {
            text.push_str(p);
            text.push_str("\n\n");
        }
        if let Some((label, url)) = &self.action {
            text.push_str(&format!("{label} :\n{url}\n\n"));
        }
        for p in &self.after {
            text.push_str(p);
            text.push_str("\n\n");
        }
        text.push_str(signature);
        text.push('\n');
        let contact = self.contact.as_ref().map(|c| contact_lines(c, lang));
        if let Some(lines) = &contact {
            text.push_str("\n-- \n");
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
        }
        let code = match lang {
            Lang::Fr => "fr",
            Lang::En => "en",
        };
        let html = html! {
            (DOCTYPE)
            html lang=(code) {
                head { meta charset="utf-8"; title { (self.subject) } }
                body style="font-family:sans-serif;line-height:1.5;color:#1a1a1a;max-width:40rem" {
                    p { (greeting) }
                    @for p in &self.before { p { (p) } }
                    @if let Some((label, url)) = &self.action {
                        p {
                            a href=(url) style="display:inline-block;background:#000091;color:#fff;padding:.5rem 1rem;border-radius:4px;text-decoration:none" { (label) }
                        }
                        p style="font-size:.9em;color:#3a3a3a" {
                            (t(lang, "Si le bouton ne fonctionne pas, copiez cette adresse dans votre navigateur :", "If the button does not work, copy this address into your browser:"))
                            br;
                            (url)
                        }
                    }
                    @for p in &self.after { p { (p) } }
                    p { (signature) }
                    @if let Some(lines) = &contact {
                        hr;
                        p style="font-size:.9em;color:#3a3a3a" {
                            @for (i, l) in lines.iter().enumerate() {
                                @if i > 0 { br; }
                                (l)
                            }
                        }
                    }
                }
            }
        };
        super::Mail {
            to: self.to,
            subject: self.subject,
            body: text,
            html: html.into_string(),
            kind: self.category.to_owned(),
        }
    }
}

/// The HTML part of a mail written as plain text: each paragraph escaped.
pub fn html_of_text(subject: &str, body: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head { meta charset="utf-8"; title { (subject) } }
            body style="font-family:sans-serif;line-height:1.5;max-width:40rem" {
                @for para in body.split("\n\n") {
                    p {
                        @for (i, line) in para.lines().enumerate() {
                            @if i > 0 { br; }
                            (line)
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

/// An invitation to join an organisation, with the link to the page that accepts it.
pub struct Invitation<'a> {
    pub lang: Lang,
    pub to: &'a str,
    pub organisation: &'a str,
    pub inviter: &'a str,
    pub admin: bool,
    pub link: String,
    pub expires_at: DateTime<Utc>,
    pub contact: Contact,
}

pub fn invitation(i: Invitation<'_>) -> super::Mail {
    let lang = i.lang;
    let role = match (lang, i.admin) {
        (Lang::Fr, true) => "administrateur ou administratrice",
        (Lang::Fr, false) => "agent",
        (Lang::En, true) => "administrator",
        (Lang::En, false) => "agent",
    };
    let (subject, invite, expiry) = match lang {
        Lang::Fr => (
            format!("Invitation à rejoindre {} sur Réemploi", i.organisation),
            format!(
                "{} vous invite à rejoindre « {} » sur Réemploi, en tant que {role}.",
                i.inviter, i.organisation
            ),
            format!(
                "Ce lien ne sert qu'une fois et expire le {}. Si vous n'attendiez pas cette invitation, ignorez ce message : aucun compte ne sera créé.",
                when(i.expires_at, lang)
            ),
        ),
        Lang::En => (
            format!("Invitation to join {} on Réemploi", i.organisation),
            format!(
                "{} invites you to join \"{}\" on Réemploi, as {role}.",
                i.inviter, i.organisation
            ),
            format!(
                "This link works once and expires on {}. If you did not expect this invitation, ignore this message: no account will be created.",
                when(i.expires_at, lang)
            ),
        ),
    };
    Letter {
        lang,
        category: "invitation",
        to: i.to.to_owned(),
        subject,
        before: vec![invite],
        action: Some((
            t(
                lang,
                "Accepter l'invitation (choisir votre nom et votre mot de passe)",
                "Accept the invitation (choose your name and password)",
            )
            .to_owned(),
            i.link,
        )),
        after: vec![expiry],
        contact: Some(i.contact),
    }
    .render()
}

/// The link to choose a new password.
pub fn password_reset(
    lang: Lang,
    to: &str,
    link: String,
    minutes: u64,
    contact: Option<Contact>,
) -> super::Mail {
    let (subject, before, after) = match lang {
        Lang::Fr => (
            "Réinitialisation de votre mot de passe Réemploi".to_owned(),
            "Une réinitialisation du mot de passe de votre compte Réemploi a été demandée."
                .to_owned(),
            format!(
                "Ce lien ne sert qu'une fois et expire dans {minutes} minutes. Une fois le mot de passe changé, toutes vos sessions ouvertes sont fermées. Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas."
            ),
        ),
        Lang::En => (
            "Resetting your Réemploi password".to_owned(),
            "A reset of the password of your Réemploi account was asked for.".to_owned(),
            format!(
                "This link works once and expires in {minutes} minutes. Once the password is changed, all your open sessions are signed out. If you asked for nothing, ignore this message: your password does not change."
            ),
        ),
    };
    Letter {
        lang,
        category: "password_reset",
        to: to.to_owned(),
        subject,
        before: vec![before],
        action: Some((
            t(
                lang,
                "Choisir un nouveau mot de passe",
                "Choose a new password",
            )
            .to_owned(),
            link,
        )),
        after: vec![after],
        contact,
    }
    .render()
}

/// The link that proves the person reads mail at this address.
pub fn email_verification(
    lang: Lang,
    to: &str,
    link: String,
    expires_at: DateTime<Utc>,
    contact: Option<Contact>,
) -> super::Mail {
    let (subject, before, after) = match lang {
        Lang::Fr => (
            "Confirmez votre adresse e-mail sur Réemploi".to_owned(),
            "Pour confirmer que cette adresse est bien la vôtre, ouvrez le lien ci-dessous."
                .to_owned(),
            format!(
                "Ce lien expire le {}. Si vous n'avez pas de compte Réemploi, ignorez ce message.",
                when(expires_at, lang)
            ),
        ),
        Lang::En => (
            "Confirm your e-mail address on Réemploi".to_owned(),
            "To confirm that this address is yours, open the link below.".to_owned(),
            format!(
                "This link expires on {}. If you have no Réemploi account, ignore this message.",
                when(expires_at, lang)
            ),
        ),
    };
    Letter {
        lang,
        category: "email_verification",
        to: to.to_owned(),
        subject,
        before: vec![before],
        action: Some((
            t(lang, "Confirmer mon adresse", "Confirm my address").to_owned(),
            link,
        )),
        after: vec![after],
        contact,
    }
    .render()
}

/// Told to the owner of an address that someone tried to register with: nothing was created.
pub fn registration_attempt(
    lang: Lang,
    to: &str,
    organisation: &str,
    forgot_link: String,
    contact: Option<Contact>,
) -> super::Mail {
    let (subject, before, after) = match lang {
        Lang::Fr => (
            "Inscription demandée avec votre adresse sur Réemploi".to_owned(),
            format!(
                "Quelqu'un, peut-être vous, a demandé à inscrire « {organisation} » sur Réemploi avec cette adresse, qui a déjà un compte. Rien n'a été créé."
            ),
            "Si c'était vous : inscrivez-la à nouveau avec le mot de passe actuel de votre compte (elle vous aura alors pour administrateur), ou connectez-vous simplement. Mot de passe oublié ? Choisissez-en un nouveau avec le lien ci-dessus. Sinon, ignorez ce message.".to_owned(),
        ),
        Lang::En => (
            "Registration asked for with your address on Réemploi".to_owned(),
            format!(
                "Someone, perhaps you, asked to register \"{organisation}\" on Réemploi with this address, which already has an account. Nothing was created."
            ),
            "If it was you: register it again with your account's current password (you will then be its administrator), or simply sign in. Forgot your password? Choose a new one with the link above. Otherwise, ignore this message.".to_owned(),
        ),
    };
    Letter {
        lang,
        category: "registration_attempt",
        to: to.to_owned(),
        subject,
        before: vec![before],
        action: Some((
            t(lang, "Mot de passe oublié", "Forgot password").to_owned(),
            forgot_link,
        )),
        after: vec![after],
        contact,
    }
    .render()
}

/// What an ESUS notice announces: the accreditation expires on a date, or has expired.
pub enum EsusNotice {
    Expires,
    Expired,
}

/// Told to a refurbisher's admins 60 and 15 days before its ESUS accreditation expires, and on
/// its expiry (claims on lots reserved to accredited structures are then suspended).
pub fn esus_expiry(
    lang: Lang,
    to: &str,
    organisation: &str,
    notice: EsusNotice,
    on: chrono::NaiveDate,
) -> super::Mail {
    let date = match lang {
        Lang::Fr => on.format("%d/%m/%Y").to_string(),
        Lang::En => on.format("%-d %B %Y").to_string(),
    };
    let (subject, before, after) = match (notice, lang) {
        (EsusNotice::Expires, Lang::Fr) => (
            format!("Votre agrément ESUS expire le {date}"),
            format!("L'agrément « entreprise solidaire d'utilité sociale » de {organisation} expire le {date}."),
            "Déposez la décision préfectorale de renouvellement dans l'espace « Vérification » de votre organisation : sans agrément valide, votre structure ne pourra plus candidater aux lots cédés aux structures agréées.".to_owned(),
        ),
        (EsusNotice::Expires, Lang::En) => (
            format!("Your ESUS accreditation expires on {date}"),
            format!("The ESUS (solidarity enterprise of social utility) accreditation of {organisation} expires on {date}."),
            "Upload the prefecture's renewal decision in your organisation's \"Verification\" space: without a valid accreditation, your organisation can no longer claim lots given to accredited structures.".to_owned(),
        ),
        (EsusNotice::Expired, Lang::Fr) => (
            format!("Votre agrément ESUS a expiré le {date}"),
            format!("L'agrément « entreprise solidaire d'utilité sociale » de {organisation} a expiré le {date}."),
            "Les candidatures aux lots cédés aux structures agréées sont suspendues jusqu'à la vérification d'un nouvel agrément ; le reste de votre compte reste accessible.".to_owned(),
        ),
        (EsusNotice::Expired, Lang::En) => (
            format!("Your ESUS accreditation expired on {date}"),
            format!("The ESUS (solidarity enterprise of social utility) accreditation of {organisation} expired on {date}."),
            "Claims on lots given to accredited structures are suspended until a new accreditation is verified; the rest of your account stays available.".to_owned(),
        ),
    };
    Letter {
        lang,
        category: "verification_expiry",
        to: to.to_owned(),
        subject,
        before: vec![before],
        action: None,
        after: vec![after],
        contact: None,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_esus_notice_is_in_the_admins_language_and_names_the_date() {
        let on = chrono::NaiveDate::from_ymd_opt(2027, 2, 1).expect("date");
        let fr = esus_expiry(Lang::Fr, "a@x.fr", "Atelier", EsusNotice::Expires, on);
        assert_eq!(fr.subject, "Votre agrément ESUS expire le 01/02/2027");
        assert!(fr.body.contains("Atelier") && fr.html.contains("lang=\"fr\""));
        let en = esus_expiry(Lang::En, "b@x.fr", "Atelier", EsusNotice::Expired, on);
        assert_eq!(
            en.subject,
            "Your ESUS accreditation expired on 1 February 2027"
        );
        assert!(en.body.contains("suspended") && en.kind == "verification_expiry");
    }

    #[test]
    fn mails_follow_the_recipients_language_and_escape_html() {
        let c = Contact {
            name: "Mairie <de> Blois".into(),
            address: "1 place, 41000 Blois".into(),
            phone: Some("02 54 00 00 00".into()),
            email: None,
        };
        let fr = password_reset(
            Lang::Fr,
            "a@exemple.fr",
            "https://x/compte/mot-de-passe/rmr_1".into(),
            60,
            Some(c.clone()),
        );
        assert!(fr.body.starts_with("Bonjour,"));
        assert!(fr.body.contains("https://x/compte/mot-de-passe/rmr_1\n"));
        assert!(fr.body.contains("02 54 00 00 00"));
        assert!(fr.html.contains("Mairie &lt;de&gt; Blois"), "{}", fr.html);
        let en = password_reset(Lang::En, "a@exemple.fr", "https://x/y".into(), 60, Some(c));
        assert!(en.body.starts_with("Hello,"));
        assert!(en.subject.contains("password"));
    }
}
