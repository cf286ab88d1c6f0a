//! Settings of accounts and mail: the SMTP server, sign-in delays, and how long what outlived
//! its purpose is kept before the worker's purge removes it.

use std::fmt;

use crate::config::ConfigError;

/// Mail delivery and account settings (`SMTP_URL`, `REEMPLOI_LOGIN_*`, `REEMPLOI_RETENTION_*`).
#[derive(Clone)]
pub struct AccountSettings {
    /// `SMTP_URL`: `smtp://[user:password@]host[:port][?tls=required|opportunistic]` (STARTTLS)
    /// or `smtps://…` (TLS). Unset: mails go to the log. Holds a password: never logged.
    pub smtp_url: Option<String>,
    /// `REEMPLOI_SMTP_TIMEOUT_SECS`: connect and I/O timeout of one SMTP conversation.
    pub smtp_timeout_secs: u64,
    /// `REEMPLOI_PASSWORD_RESET_TTL_MINUTES`: lifetime of a password reset link.
    pub password_reset_ttl_minutes: u64,
    /// `REEMPLOI_EMAIL_VERIFICATION_TTL_HOURS`: lifetime of an address verification link.
    pub email_verification_ttl_hours: u64,
    /// `REEMPLOI_LOGIN_FREE_FAILURES`: failures of one account from one address before delays.
    pub login_free_failures: u32,
    /// `REEMPLOI_LOGIN_MAX_DELAY_SECS`: the longest delay imposed between two attempts.
    pub login_max_delay_secs: u64,
    /// `REEMPLOI_RETENTION_IDEMPOTENCY_HOURS`: idempotency keys.
    pub retention_idempotency_hours: u64,
    /// `REEMPLOI_RETENTION_SESSIONS_DAYS`: expired or revoked sessions, used or expired account
    /// tokens, expired or revoked invitations, kept this long after they stopped working.
    pub retention_expired_days: u64,
    /// `REEMPLOI_RETENTION_MAIL_DAYS`: delivered mails (already reduced to recipient and
    /// subject) and mails given up on.
    pub retention_mail_days: u64,
    /// `REEMPLOI_PURGE_INTERVAL_SECS`: how often the worker purges.
    pub purge_interval_secs: u64,
}

impl fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountSettings")
            .field("smtp", &self.smtp_url.as_deref().map(redact_url))
            .field("smtp_timeout_secs", &self.smtp_timeout_secs)
            .field("login_free_failures", &self.login_free_failures)
            .field("login_max_delay_secs", &self.login_max_delay_secs)
            .finish_non_exhaustive()
    }
}

/// The URL without its credentials (`smtp://***@host:587`).
pub fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &url[at..]),
        _ => url.to_owned(),
    }
}

pub(crate) fn account_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<AccountSettings, ConfigError> {
    let ranged = |var: &'static str, default: u64, min: u64, max: u64| {
        crate::config::ranged_var(get, var, default, min, max)
    };
    let smtp_url = match get("SMTP_URL").filter(|v| !v.trim().is_empty()) {
        None => None,
        Some(v) => {
            let v = v.trim().to_owned();
            if !(v.starts_with("smtp://") || v.starts_with("smtps://")) {
                return Err(ConfigError {
                    var: "SMTP_URL",
                    message: "must be an smtp:// (STARTTLS with ?tls=required) or smtps:// URL"
                        .into(),
                });
            }
            Some(v)
        }
    };
    Ok(AccountSettings {
        smtp_url,
        smtp_timeout_secs: ranged("REEMPLOI_SMTP_TIMEOUT_SECS", 10, 1, 300)?,
        password_reset_ttl_minutes: ranged("REEMPLOI_PASSWORD_RESET_TTL_MINUTES", 60, 5, 1440)?,
        email_verification_ttl_hours: ranged("REEMPLOI_EMAIL_VERIFICATION_TTL_HOURS", 72, 1, 720)?,
        login_free_failures: ranged("REEMPLOI_LOGIN_FREE_FAILURES", 5, 1, 1_000_000)? as u32,
        login_max_delay_secs: ranged("REEMPLOI_LOGIN_MAX_DELAY_SECS", 900, 1, 86_400)?,
        retention_idempotency_hours: ranged("REEMPLOI_RETENTION_IDEMPOTENCY_HOURS", 24, 1, 720)?,
        retention_expired_days: ranged("REEMPLOI_RETENTION_SESSIONS_DAYS", 30, 0, 3650)?,
        retention_mail_days: ranged("REEMPLOI_RETENTION_MAIL_DAYS", 30, 0, 3650)?,
        purge_interval_secs: ranged("REEMPLOI_PURGE_INTERVAL_SECS", 3600, 1, 86_400)?,
    })
}
