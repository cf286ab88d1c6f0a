//! Delivery over SMTP (`lettre`, rustls): `smtp://host:port` (plain, or STARTTLS with
//! `?tls=required` / `?tls=opportunistic`), `smtps://host:465` (TLS from the first byte),
//! credentials in the URL (`smtp://user:password@host`). One short conversation per mail with
//! a connect and I/O timeout, so a dead server fails fast and the outbox retries later.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Mail, MailError, Mailer};

/// An SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (see the module docs); `timeout` bounds connecting and each reply.
    pub fn from_url(url: &str, timeout: Duration) -> anyhow::Result<SmtpMailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not a usable SMTP URL: {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpMailer { transport })
    }
}

/// The MIME message of a mail: `multipart/alternative` with the text and the HTML part.
pub fn message(from: &str, mail: &Mail) -> Result<Message, MailError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| MailError(format!("MAIL_FROM is not an address: {e}")))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| MailError(format!("recipient is not an address: {e}")))?;
    let html = if mail.html.is_empty() {
        super::messages::html_of_text(&mail.subject, &mail.body)
    } else {
        mail.html.clone()
    };
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    lettre::message::SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(mail.body.clone()),
                )
                .singlepart(
                    lettre::message::SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| MailError(format!("building the message: {e}")))
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, from: &str, mail: &Mail) -> Result<(), MailError> {
        let message = message(from, mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError(format!("SMTP: {e}")))
    }

    async fn check(&self) -> Result<(), MailError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError("SMTP: the server did not answer NOOP".into())),
            Err(e) => Err(MailError(format!("SMTP: {e}"))),
        }
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_has_a_text_and_an_html_part() {
        let mail = Mail::text(
            "test",
            "claire@exemple.fr".into(),
            "Objet é".into(),
            "Bonjour <Claire>,\n\nLigne.".into(),
        );
        let raw = String::from_utf8(
            message("Réemploi <no-reply@exemple.fr>", &mail)
                .expect("message")
                .formatted(),
        )
        .expect("utf-8");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(SmtpMailer::from_url("http://x", Duration::from_secs(1)).is_err());
        assert!(
            SmtpMailer::from_url(
                "smtp://u:p@127.0.0.1:2525?tls=required",
                Duration::from_secs(1)
            )
            .is_ok()
        );
    }
}
