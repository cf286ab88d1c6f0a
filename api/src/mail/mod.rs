//! The mail port. The embedded default logs the recipient and subject of what would be sent
//! (never the body: it may carry a one-time link); with `SMTP_URL` set, [`smtp::SmtpMailer`]
//! delivers it; tests capture mails in memory. Mails are written by [`messages`] and sent by the
//! outbox worker, with retries.

pub mod messages;
pub mod smtp;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// A mail to send: a plain-text and an HTML part of the same message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// The plain-text part.
    pub body: String,
    /// The HTML part (derived from the text when a message has no HTML of its own).
    #[serde(default)]
    pub html: String,
    /// What the mail is (`invitation`, `password_reset`…), kept for the audit after delivery.
    #[serde(default)]
    pub kind: String,
}

impl Mail {
    /// A mail written as plain text only; its HTML part is the same text, escaped.
    pub fn text(kind: &str, to: String, subject: String, body: String) -> Mail {
        let html = messages::html_of_text(&subject, &body);
        Mail {
            to,
            subject,
            body,
            html,
            kind: kind.to_owned(),
        }
    }

    /// What the outbox keeps once the mail is delivered: enough for the audit (who was mailed
    /// what, when), nothing of the body, so no link or token.
    pub fn delivered_record(&self, at: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind,
            "to": self.to,
            "subject": self.subject,
            "delivered_at": at,
        })
    }
}

/// Something that delivers mails. Errors are retried by the outbox worker.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, from: &str, mail: &Mail) -> Result<(), MailError>;

    /// Whether mails can leave now (readiness): the SMTP server answers. Mailers that keep
    /// mails in the process are always ready.
    async fn check(&self) -> Result<(), MailError> {
        Ok(())
    }

    /// What the readiness report names this mailer.
    fn kind(&self) -> &'static str {
        "log"
    }
}

/// A delivery failure.
#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

/// Writes the recipient and subject of mails to the log instead of sending them (embedded
/// mode). The body is never logged: it may carry a one-time link.
#[derive(Debug, Default)]
pub struct LogMailer;

#[async_trait::async_trait]
impl Mailer for LogMailer {
    async fn send(&self, from: &str, mail: &Mail) -> Result<(), MailError> {
        tracing::info!(
            mail.from = from,
            mail.to = %mail.to,
            mail.subject = %mail.subject,
            mail.kind = %mail.kind,
            "mail not sent (log mailer: set SMTP_URL to deliver mails)"
        );
        Ok(())
    }
}

/// Keeps mails in memory, for tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryMailer {
    sent: Arc<Mutex<Vec<Mail>>>,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<Mail> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, _from: &str, mail: &Mail) -> Result<(), MailError> {
        self.sent
            .lock()
            .map_err(|_| MailError("mailbox poisoned".into()))?
            .push(mail.clone());
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
