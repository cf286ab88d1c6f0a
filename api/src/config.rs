//! Configuration: one typed settings struct with embedded-mode defaults, every value overridable
//! by an environment variable. An invalid value stops the process with a message naming the
//! variable; secrets never appear in `Debug` output or logs.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use validator::Validate;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of the service. Build it with [`Settings::from_env`] or [`Settings::from_vars`].
#[derive(Clone, Validate)]
pub struct Settings {
    /// `REEMPLOI_ADDR`: listen address.
    pub addr: SocketAddr,
    /// `REEMPLOI_DATA_DIR`: where the embedded SQLite file (and later the search index and blobs) live.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`. May hold a password: never logged.
    pub database_url: String,
    /// `REEMPLOI_PUBLIC_URL`: base URL printed in mails, documents and QR codes.
    pub public_url: String,
    /// `REEMPLOI_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `REEMPLOI_DB_MAX_CONNECTIONS`: size of the database pool.
    #[validate(range(min = 1, max = 1000))]
    pub db_max_connections: u32,
    /// `REEMPLOI_SESSION_TTL_HOURS`: lifetime of a sign-in token.
    #[validate(range(min = 1, max = 8760))]
    pub session_ttl_hours: u32,
    /// `REEMPLOI_INVITATION_TTL_HOURS`: lifetime of an invitation link.
    #[validate(range(min = 1, max = 2160))]
    pub invitation_ttl_hours: u32,
    /// `REEMPLOI_LOGIN_LIMIT_PER_IP`: sign-in attempts allowed per client address and window.
    #[validate(range(min = 1))]
    pub login_limit_per_ip: u32,
    /// `REEMPLOI_LOGIN_LIMIT_WINDOW_SECS`: the rate-limit window.
    #[validate(range(min = 1, max = 86400))]
    pub login_limit_window_secs: u64,
    /// `REEMPLOI_MAX_BODY_BYTES`: largest request body accepted (413 beyond).
    #[validate(range(min = 1024))]
    pub max_body_bytes: usize,
    /// `REEMPLOI_MAX_JSON_DEPTH`: deepest nesting of a JSON body (400 beyond).
    #[validate(range(min = 2, max = 512))]
    pub max_json_depth: usize,
    /// `REEMPLOI_MAX_JSON_STRING_BYTES`: longest string in a JSON body (400 beyond).
    #[validate(range(min = 64))]
    pub max_json_string_bytes: usize,
    /// `REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE`: calls without credentials per client address and
    /// minute (429 beyond; health checks and docs are exempt).
    #[validate(range(min = 1))]
    pub anonymous_limit_per_minute: u32,
    /// `REEMPLOI_OUTBOX_POLL_MS`: how often the outbox worker looks for work.
    #[validate(range(min = 10, max = 600000))]
    pub outbox_poll_ms: u64,
    /// `REEMPLOI_TODAY`: pretend today is this date (tests and demos); unset means the clock.
    pub today: Option<chrono::NaiveDate>,
    /// `REEMPLOI_CHECKPOINT_KEY`: the service's Ed25519 signing key for checkpoints, as the hex
    /// of its 32-byte seed (never logged). Unset: a key generated once and kept in
    /// `$REEMPLOI_DATA_DIR/checkpoint-key`.
    pub checkpoint_key: Option<[u8; 32]>,
    /// `REEMPLOI_IMPORT_MAX_BYTES`: largest inventory file accepted by the import.
    #[validate(range(min = 1024))]
    pub import_max_bytes: usize,
    /// `REEMPLOI_IMPORT_MAX_ROWS`: most data rows an inventory file may hold.
    #[validate(range(min = 1))]
    pub import_max_rows: u64,
    /// `REEMPLOI_IMPORT_SYNC_MAX_BYTES`: files larger than this are imported as a background job.
    pub import_sync_max_bytes: usize,
    /// S3-compatible blob storage; `None` keeps blobs under the data directory.
    pub s3: Option<S3Settings>,
    /// `REEMPLOI_BLOB_URL_TTL_SECS`: lifetime of signed download URLs.
    #[validate(range(min = 10, max = 604800))]
    pub blob_url_ttl_secs: u32,
    /// `MAIL_FROM`: sender of the mails.
    #[validate(length(min = 3))]
    pub mail_from: String,
    /// `MEILI_URL`: a Meilisearch server; unset keeps the embedded (tantivy) search.
    pub meili_url: Option<String>,
    /// `MEILI_API_KEY`: its key (never logged).
    pub meili_api_key: Option<String>,
    /// `MEILI_INDEX_PREFIX`: prefix of the index names, so deployments can share a server.
    #[validate(length(max = 64))]
    pub meili_prefix: String,
    /// `REEMPLOI_OUTBOX_MAX_BACKOFF_SECS`: longest wait between two attempts of an outbox message.
    #[validate(range(min = 1, max = 86400))]
    pub outbox_max_backoff_secs: u64,
    /// `REEMPLOI_RESERVATION_DAYS`: how long a reservation holds items by default.
    #[validate(range(min = 1, max = 90))]
    pub reservation_days: u32,
    /// Webhook delivery: retries, back-off, auto-disable, the SSRF allow-list.
    pub webhooks: WebhookSettings,
    /// Mail delivery, sign-in delays and retention periods.
    pub accounts: crate::account_settings::AccountSettings,
    /// OpenID Connect providers (`REEMPLOI_OIDC_*`).
    pub oidc: crate::oidc::OidcSettings,
    /// Proxies, connection limits and timeouts, metrics, readiness.
    pub ops: crate::ops_settings::OpsSettings,
}

/// How webhooks are delivered (`REEMPLOI_WEBHOOK_*`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `REEMPLOI_WEBHOOK_ALLOW`: comma-separated hosts, addresses or CIDR networks that may be
    /// targets although they are private, loopback or link-local, and may use plain `http://`
    /// (tests, local deployments). Empty by default: only public HTTPS targets.
    pub allow: Vec<reemploi_domain::webhooks::AllowEntry>,
    /// `REEMPLOI_WEBHOOK_MAX_ATTEMPTS`: tries of one delivery before it is given up.
    pub max_attempts: u32,
    /// `REEMPLOI_WEBHOOK_RETRY_BASE_MS`: wait after the first failure, doubled after each.
    pub retry_base_ms: u64,
    /// `REEMPLOI_WEBHOOK_RETRY_MAX_SECS`: longest wait between two tries.
    pub retry_max_secs: u64,
    /// `REEMPLOI_WEBHOOK_DISABLE_AFTER`: failed tries in a row after which a subscription is
    /// disabled and its admins are mailed.
    pub disable_after: u32,
    /// `REEMPLOI_WEBHOOK_TIMEOUT_MS`: how long a receiver has to answer.
    pub timeout_ms: u64,
}

fn webhook_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<WebhookSettings, ConfigError> {
    let mut allow = Vec::new();
    for part in get("REEMPLOI_WEBHOOK_ALLOW").unwrap_or_default().split(',') {
        if part.trim().is_empty() {
            continue;
        }
        allow.push(
            reemploi_domain::webhooks::AllowEntry::parse(part).map_err(|_| ConfigError {
                var: "REEMPLOI_WEBHOOK_ALLOW",
                message: format!(
                    "`{}` is not a host name, an address or a CIDR network",
                    part.trim()
                ),
            })?,
        );
    }
    let ranged = |var: &'static str, default: u64, min: u64, max: u64| {
        ranged_var(get, var, default, min, max)
    };
    Ok(WebhookSettings {
        allow,
        max_attempts: ranged("REEMPLOI_WEBHOOK_MAX_ATTEMPTS", 10, 1, 50)? as u32,
        retry_base_ms: ranged("REEMPLOI_WEBHOOK_RETRY_BASE_MS", 5000, 10, 3_600_000)?,
        retry_max_secs: ranged("REEMPLOI_WEBHOOK_RETRY_MAX_SECS", 3600, 1, 86_400)?,
        disable_after: ranged("REEMPLOI_WEBHOOK_DISABLE_AFTER", 20, 1, 10_000)? as u32,
        timeout_ms: ranged("REEMPLOI_WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000)?,
    })
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database_backend())
            .field("public_url", &self.public_url)
            .field("log_format", &self.log_format)
            .field("db_max_connections", &self.db_max_connections)
            .field("session_ttl_hours", &self.session_ttl_hours)
            .field("s3", &self.s3)
            .field("meili_url", &self.meili_url)
            .field("accounts", &self.accounts)
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
}

/// Where blobs go when an S3-compatible store is configured (`S3_ENDPOINT` set).
#[derive(Clone)]
pub struct S3Settings {
    /// `S3_ENDPOINT`: e.g. `https://s3.fr-par.scw.cloud` or `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// `S3_REGION` (default `us-east-1`).
    pub region: String,
    /// `S3_BUCKET`.
    pub bucket: String,
    /// `S3_ACCESS_KEY`.
    pub access_key: String,
    /// `S3_SECRET_KEY`: never logged.
    pub secret_key: String,
    /// `S3_PATH_STYLE` (default true): bucket in the path rather than the host name.
    pub path_style: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

fn s3_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<S3Settings>, ConfigError> {
    let value = |var: &'static str| {
        get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(endpoint) = value("S3_ENDPOINT") else {
        return Ok(None);
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(ConfigError {
            var: "S3_ENDPOINT",
            message: "must be an http:// or https:// URL".into(),
        });
    }
    let required = |var: &'static str| {
        value(var).ok_or_else(|| ConfigError {
            var,
            message: "required when S3_ENDPOINT is set".into(),
        })
    };
    Ok(Some(S3Settings {
        endpoint,
        region: value("S3_REGION").unwrap_or_else(|| "us-east-1".into()),
        bucket: required("S3_BUCKET")?,
        access_key: required("S3_ACCESS_KEY")?,
        secret_key: required("S3_SECRET_KEY")?,
        path_style: parse_var(get, "S3_PATH_STYLE", true)?,
    }))
}

/// A setting that could not be used, naming its variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn parse_var<T: FromStr>(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match get(var) {
        None => Ok(default),
        Some(raw) if raw.trim().is_empty() => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError {
            var,
            message: e.to_string(),
        }),
    }
}

/// An integer variable within `min..=max`, `default` when unset or empty.
pub(crate) fn ranged_var(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let v: u64 = parse_var(get, var, default)?;
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError {
            var,
            message: format!("out of the allowed range ({min}..={max})"),
        })
    }
}

/// The value of `name`: the variable itself, or the content of the file `name_FILE` names
/// (without its trailing newline). An empty variable counts as unset.
fn value_or_file(
    get: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<String>, ConfigError> {
    let file_var = format!("{name}_FILE");
    let direct = get(name).filter(|v| !v.trim().is_empty());
    let Some(path) = get(&file_var).filter(|v| !v.trim().is_empty()) else {
        return Ok(direct);
    };
    // Error messages name a variable for the life of the process: leaking the few bytes of a
    // name that stops the start is simpler than an owned name in every `ConfigError`.
    let leaked = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    if direct.is_some() {
        return Err(ConfigError {
            var: leaked(name.to_owned()),
            message: format!("set both {name} and {file_var}; give only one"),
        });
    }
    let path = path.trim();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        var: leaked(file_var.clone()),
        message: format!("cannot read {path}: {e}"),
    })?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    Ok(Some(text.to_owned()))
}

/// Maps each validated field to the variable it comes from.
const FIELD_VARS: &[(&str, &str)] = &[
    ("db_max_connections", "REEMPLOI_DB_MAX_CONNECTIONS"),
    ("session_ttl_hours", "REEMPLOI_SESSION_TTL_HOURS"),
    ("invitation_ttl_hours", "REEMPLOI_INVITATION_TTL_HOURS"),
    ("login_limit_per_ip", "REEMPLOI_LOGIN_LIMIT_PER_IP"),
    (
        "login_limit_window_secs",
        "REEMPLOI_LOGIN_LIMIT_WINDOW_SECS",
    ),
    ("max_body_bytes", "REEMPLOI_MAX_BODY_BYTES"),
    ("outbox_poll_ms", "REEMPLOI_OUTBOX_POLL_MS"),
    ("max_json_depth", "REEMPLOI_MAX_JSON_DEPTH"),
    ("max_json_string_bytes", "REEMPLOI_MAX_JSON_STRING_BYTES"),
    (
        "anonymous_limit_per_minute",
        "REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE",
    ),
    ("mail_from", "MAIL_FROM"),
    ("import_max_bytes", "REEMPLOI_IMPORT_MAX_BYTES"),
    ("import_max_rows", "REEMPLOI_IMPORT_MAX_ROWS"),
    ("blob_url_ttl_secs", "REEMPLOI_BLOB_URL_TTL_SECS"),
    ("meili_prefix", "MEILI_INDEX_PREFIX"),
    (
        "outbox_max_backoff_secs",
        "REEMPLOI_OUTBOX_MAX_BACKOFF_SECS",
    ),
    ("reservation_days", "REEMPLOI_RESERVATION_DAYS"),
];

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so that tests can supply their own variables. Every
    /// variable `X` may instead be given as `X_FILE`, the path of a file holding its value
    /// (Docker and systemd secrets; a trailing newline is dropped); giving both is an error.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let failure: std::cell::RefCell<Option<ConfigError>> = std::cell::RefCell::new(None);
        let resolved = |name: &str| match value_or_file(&get, name) {
            Ok(v) => v,
            Err(e) => {
                failure.borrow_mut().get_or_insert(e);
                None
            }
        };
        let settings = Self::from_resolved(&resolved);
        // A file that could not be read explains the rest: report it first.
        match failure.into_inner() {
            Some(e) => Err(e),
            None => settings,
        }
    }

    fn from_resolved(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let addr: SocketAddr = parse_var(
            get,
            "REEMPLOI_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
        )?;
        let data_dir: PathBuf = parse_var(get, "REEMPLOI_DATA_DIR", PathBuf::from("./data"))?;
        let database_url = match get("DATABASE_URL").filter(|v| !v.trim().is_empty()) {
            Some(url) => url.trim().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("reemploi.db").display()
            ),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "DATABASE_URL",
                message: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        let public_url = get("REEMPLOI_PUBLIC_URL")
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{addr}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError {
                var: "REEMPLOI_PUBLIC_URL",
                message: "must be an http:// or https:// URL".into(),
            });
        }
        let log_format = match get("REEMPLOI_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("") | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    var: "REEMPLOI_LOG_FORMAT",
                    message: format!("`{other}` is neither `text` nor `json`"),
                });
            }
        };
        let settings = Settings {
            addr,
            data_dir,
            database_url,
            log_format,
            db_max_connections: parse_var(get, "REEMPLOI_DB_MAX_CONNECTIONS", 10)?,
            session_ttl_hours: parse_var(get, "REEMPLOI_SESSION_TTL_HOURS", 720)?,
            invitation_ttl_hours: parse_var(get, "REEMPLOI_INVITATION_TTL_HOURS", 168)?,
            login_limit_per_ip: parse_var(get, "REEMPLOI_LOGIN_LIMIT_PER_IP", 100)?,
            login_limit_window_secs: parse_var(get, "REEMPLOI_LOGIN_LIMIT_WINDOW_SECS", 900)?,
            max_body_bytes: parse_var(get, "REEMPLOI_MAX_BODY_BYTES", 1024 * 1024)?,
            outbox_poll_ms: parse_var(get, "REEMPLOI_OUTBOX_POLL_MS", 500)?,
            max_json_depth: parse_var(get, "REEMPLOI_MAX_JSON_DEPTH", 32)?,
            max_json_string_bytes: parse_var(get, "REEMPLOI_MAX_JSON_STRING_BYTES", 65536)?,
            anonymous_limit_per_minute: parse_var(get, "REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE", 120)?,
            today: match get("REEMPLOI_TODAY").filter(|v| !v.trim().is_empty()) {
                None => None,
                Some(v) => Some(
                    v.trim()
                        .parse()
                        .map_err(|e: chrono::ParseError| ConfigError {
                            var: "REEMPLOI_TODAY",
                            message: format!("expected YYYY-MM-DD: {e}"),
                        })?,
                ),
            },
            checkpoint_key: match get("REEMPLOI_CHECKPOINT_KEY").filter(|v| !v.trim().is_empty()) {
                None => None,
                Some(v) => Some(
                    hex::decode(v.trim())
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| ConfigError {
                            var: "REEMPLOI_CHECKPOINT_KEY",
                            message: "expected 64 hexadecimal digits (an Ed25519 seed)".to_owned(),
                        })?,
                ),
            },
            import_max_bytes: parse_var(get, "REEMPLOI_IMPORT_MAX_BYTES", 64 * 1024 * 1024)?,
            import_max_rows: parse_var(get, "REEMPLOI_IMPORT_MAX_ROWS", 100_000)?,
            import_sync_max_bytes: parse_var(
                get,
                "REEMPLOI_IMPORT_SYNC_MAX_BYTES",
                2 * 1024 * 1024,
            )?,
            s3: s3_settings(get)?,
            blob_url_ttl_secs: parse_var(get, "REEMPLOI_BLOB_URL_TTL_SECS", 3600)?,
            mail_from: get("MAIL_FROM")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "Réemploi <no-reply@localhost>".into()),
            meili_url: match get("MEILI_URL").filter(|v| !v.trim().is_empty()) {
                None => None,
                Some(v) => {
                    let v = v.trim().trim_end_matches('/').to_owned();
                    if !(v.starts_with("http://") || v.starts_with("https://")) {
                        return Err(ConfigError {
                            var: "MEILI_URL",
                            message: "must be an http:// or https:// URL".into(),
                        });
                    }
                    Some(v)
                }
            },
            meili_api_key: get("MEILI_API_KEY").filter(|v| !v.trim().is_empty()),
            meili_prefix: get("MEILI_INDEX_PREFIX")
                .map(|v| v.trim().to_owned())
                .unwrap_or_default(),
            outbox_max_backoff_secs: parse_var(get, "REEMPLOI_OUTBOX_MAX_BACKOFF_SECS", 300)?,
            reservation_days: parse_var(get, "REEMPLOI_RESERVATION_DAYS", 7)?,
            webhooks: webhook_settings(get)?,
            accounts: crate::account_settings::account_settings(get)?,
            oidc: crate::oidc::settings_from(get, &public_url)?,
            ops: crate::ops_settings::ops_settings(get)?,
            public_url,
        };
        settings.validate().map_err(|errors| {
            let (field, detail) = errors
                .field_errors()
                .into_iter()
                .next()
                .map(|(field, errs)| {
                    (
                        field.to_string(),
                        format!("{:?}", errs.first().map(|e| &e.code)),
                    )
                })
                .unwrap_or_default();
            let var = FIELD_VARS
                .iter()
                .find(|(f, _)| *f == field)
                .map_or("configuration", |(_, v)| v);
            ConfigError {
                var,
                message: format!("out of the allowed range ({detail})"),
            }
        })?;
        Ok(settings)
    }

    /// `sqlite` or `postgres`, for logs.
    pub fn database_backend(&self) -> &'static str {
        if self.database_url.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }

    /// Today's date (UTC), or the configured one.
    pub fn today(&self) -> chrono::NaiveDate {
        self.today
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    /// Why documents may not be issued with this `REEMPLOI_PUBLIC_URL`: outside test mode
    /// (`REEMPLOI_TODAY` unset), a loopback or unspecified host (`localhost`, `127.0.0.1`,
    /// `[::1]`, `0.0.0.0`, and the default derived from a loopback listen address) would be
    /// printed in every QR code, forever. The service runs; issuing a document answers 503
    /// `public_url_not_public` and the queued documents wait until the address is set.
    pub fn public_url_refusal(&self) -> Option<String> {
        if self.today.is_some() || !is_local_url(&self.public_url) {
            return None;
        }
        Some(format!("{} is a local address", self.public_url))
    }

    /// Whether the embedded SQLite database is used.
    pub fn is_sqlite(&self) -> bool {
        self.database_backend() == "sqlite"
    }
}

/// Whether an http(s) URL names a loopback or unspecified host.
pub fn is_local_url(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_public_urls_are_recognised() {
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "https://LOCALHOST",
            "http://app.localhost",
            "http://[::1]:8080",
            "http://0.0.0.0:8080",
            "http://127.3.2.1",
            "http://user@127.0.0.1/x",
        ] {
            assert!(is_local_url(local), "{local}");
        }
        for public in [
            "https://reemploi.example.org",
            "http://192.0.2.10:8080",
            "https://[2001:db8::1]/",
            "https://localhost.example.org",
        ] {
            assert!(!is_local_url(public), "{public}");
        }
        let get = |today: Option<&str>, url: Option<&str>| {
            Settings::from_vars(|k| match k {
                "REEMPLOI_TODAY" => today.map(str::to_owned),
                "REEMPLOI_PUBLIC_URL" => url.map(str::to_owned),
                _ => None,
            })
            .expect("settings")
        };
        assert!(get(None, None).public_url_refusal().is_some(), "default");
        assert!(
            get(Some("2026-11-29"), None).public_url_refusal().is_none(),
            "test mode"
        );
        assert!(
            get(None, Some("https://reemploi.example.org"))
                .public_url_refusal()
                .is_none()
        );
    }
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_mode() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.addr.to_string(), "127.0.0.1:8080");
        assert!(s.database_url.starts_with("sqlite://./data/reemploi.db"));
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = settings(&[("REEMPLOI_ADDR", "nowhere")]).expect_err("refused");
        assert_eq!(err.var, "REEMPLOI_ADDR");
        let err = settings(&[("REEMPLOI_SESSION_TTL_HOURS", "0")]).expect_err("refused");
        assert_eq!(err.var, "REEMPLOI_SESSION_TTL_HOURS");
        let err = settings(&[("DATABASE_URL", "mysql://x")]).expect_err("refused");
        assert_eq!(err.var, "DATABASE_URL");
    }

    #[test]
    fn a_variable_may_come_from_the_file_its_file_variable_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = dir.path().join("database-url");
        std::fs::write(&secret, "postgres://u:from-file@h/db\n").expect("write");
        let path = secret.display().to_string();
        let s = settings(&[("DATABASE_URL_FILE", &path)]).expect("read from the file");
        assert_eq!(s.database_url, "postgres://u:from-file@h/db");
        // Any variable, not only the secrets, and only one trailing newline is dropped.
        let addr = dir.path().join("addr");
        std::fs::write(&addr, "127.0.0.1:9999\n").expect("write");
        let s = settings(&[("REEMPLOI_ADDR_FILE", &addr.display().to_string())]).expect("addr");
        assert_eq!(s.addr.to_string(), "127.0.0.1:9999");
        let key = dir.path().join("key");
        std::fs::write(&key, format!("{}\n", "ab".repeat(32))).expect("write");
        let s =
            settings(&[("REEMPLOI_CHECKPOINT_KEY_FILE", &key.display().to_string())]).expect("key");
        assert_eq!(s.checkpoint_key, Some([0xab; 32]));

        let err = settings(&[
            ("DATABASE_URL", "postgres://u:p@h/db"),
            ("DATABASE_URL_FILE", &path),
        ])
        .expect_err("both refused");
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.to_string().contains("DATABASE_URL_FILE"), "{err}");
        let err = settings(&[("MEILI_API_KEY_FILE", "/nonexistent/secret")])
            .expect_err("unreadable file refused");
        assert_eq!(err.var, "MEILI_API_KEY_FILE");
        assert!(err.to_string().contains("/nonexistent/secret"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_database_url() {
        let s = settings(&[("DATABASE_URL", "postgres://u:secret@h/db")]).expect("valid");
        assert!(!format!("{s:?}").contains("secret"));
    }
}
