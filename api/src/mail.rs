//! The mail port. The embedded default logs what would be sent; tests capture mails in memory.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// A mail to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Something that delivers mails. Errors are retried by the outbox worker.
pub trait Mailer: Send + Sync + 'static {
    fn send(&self, from: &str, mail: &Mail) -> Result<(), MailError>;
}

/// A delivery failure.
#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

/// Writes mails to the log instead of sending them (embedded mode).
#[derive(Debug, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send(&self, from: &str, mail: &Mail) -> Result<(), MailError> {
        tracing::info!(
            mail.from = from,
            mail.to = %mail.to,
            mail.subject = %mail.subject,
            mail.body = %mail.body,
            "mail not sent (log mailer)"
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

impl Mailer for MemoryMailer {
    fn send(&self, _from: &str, mail: &Mail) -> Result<(), MailError> {
        self.sent
            .lock()
            .map_err(|_| MailError("mailbox poisoned".into()))?
            .push(mail.clone());
        Ok(())
    }
}
