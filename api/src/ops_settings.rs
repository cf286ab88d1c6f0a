//! Settings of the service's edges and operations: which proxies are trusted with the client's
//! address, connection limits and timeouts, the metrics endpoint and what readiness requires.

use std::fmt;

use reemploi_domain::webhooks::AllowEntry;

use crate::config::{ConfigError, ranged_var};

/// A dependency `/health/ready` reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    Database,
    Search,
    Blobs,
    Mail,
    Outbox,
}

impl Dependency {
    pub const ALL: [Dependency; 5] = [
        Dependency::Database,
        Dependency::Search,
        Dependency::Blobs,
        Dependency::Mail,
        Dependency::Outbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Database => "database",
            Dependency::Search => "search",
            Dependency::Blobs => "blobs",
            Dependency::Mail => "mail",
            Dependency::Outbox => "outbox",
        }
    }

    fn parse(raw: &str) -> Option<Dependency> {
        Self::ALL.into_iter().find(|d| d.as_str() == raw)
    }
}

/// `REEMPLOI_TRUSTED_PROXIES`, timeouts, `REEMPLOI_METRICS_TOKEN`, `REEMPLOI_READY_REQUIRES`.
#[derive(Clone)]
pub struct OpsSettings {
    /// `REEMPLOI_TRUSTED_PROXIES`: comma-separated addresses or CIDR networks of the reverse
    /// proxies whose `Forwarded` / `X-Forwarded-For` headers name the client. Empty (the
    /// default): the socket peer is the client and those headers are ignored.
    pub trusted_proxies: Vec<AllowEntry>,
    /// `REEMPLOI_MAX_CONNECTIONS`: open connections served at once; beyond, a new connection is
    /// closed at once (the client retries) rather than queued behind the others.
    pub max_connections: usize,
    /// `REEMPLOI_HEADER_TIMEOUT_SECS`: time a client has, from its first byte, to send a whole
    /// request head. A connection that trickles its headers is closed.
    pub header_timeout_secs: u64,
    /// `REEMPLOI_IDLE_TIMEOUT_SECS`: how long a connection with no request in flight stays
    /// open (kept alive, or opened and silent).
    pub idle_timeout_secs: u64,
    /// `REEMPLOI_BODY_TIMEOUT_SECS`: longest pause while a request body is read (408 beyond).
    pub body_timeout_secs: u64,
    /// `REEMPLOI_DB_ACQUIRE_TIMEOUT_SECS`: how long a request waits for a database connection
    /// before it is answered 503 with `Retry-After`.
    pub db_acquire_timeout_secs: u64,
    /// `REEMPLOI_DEPENDENCY_TIMEOUT_MS`: connect and first-byte timeout of a readiness probe of
    /// the search engine, the blob store and the mail server.
    pub dependency_timeout_ms: u64,
    /// `REEMPLOI_METRICS_TOKEN`: bearer token of `GET /metrics`. Unset: `/metrics` answers 404.
    /// Never logged.
    pub metrics_token: Option<String>,
    /// `REEMPLOI_READY_REQUIRES`: the dependencies whose failure makes `/health/ready` answer
    /// 503 (comma-separated among database, search, blobs, mail, outbox; default `database`).
    /// The others are reported but do not take the instance out of the load balancer.
    pub ready_requires: Vec<Dependency>,
    /// `REEMPLOI_JOB_LEASE_SECS`: how long a background job stays its instance's without a
    /// renewal (renewed four times per lease while it runs). Once it runs out, another instance
    /// takes the job over and runs it again from its kept file.
    pub job_lease_secs: u64,
    /// `REEMPLOI_CORS_ORIGINS`: comma-separated origins (`https://app.example.org`) whose web
    /// pages may call the API from a browser, or `*` for any. Empty (the default): no CORS
    /// header is sent and browsers keep other sites' pages out.
    pub cors_origins: Vec<String>,
}

impl OpsSettings {
    /// The job lease, as a duration.
    pub fn job_lease(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(self.job_lease_secs as i64)
    }
}

impl fmt::Debug for OpsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpsSettings")
            .field("trusted_proxies", &self.trusted_proxies.len())
            .field("max_connections", &self.max_connections)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .field("db_acquire_timeout_secs", &self.db_acquire_timeout_secs)
            .field("metrics", &self.metrics_token.is_some())
            .field("ready_requires", &self.ready_requires)
            .field("job_lease_secs", &self.job_lease_secs)
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

/// `scheme://host[:port]`, http or https, nothing after (a host name or IPv4 address).
fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest
        .split_once(':')
        .map_or((rest, None), |(h, p)| (h, Some(p)));
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
}

pub(crate) fn ops_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<OpsSettings, ConfigError> {
    let mut trusted_proxies = Vec::new();
    for part in get("REEMPLOI_TRUSTED_PROXIES")
        .unwrap_or_default()
        .split(',')
    {
        if part.trim().is_empty() {
            continue;
        }
        match AllowEntry::parse(part) {
            Ok(entry @ AllowEntry::Network { .. }) => trusted_proxies.push(entry),
            _ => {
                return Err(ConfigError {
                    var: "REEMPLOI_TRUSTED_PROXIES",
                    message: format!("`{}` is not an address or a CIDR network", part.trim()),
                });
            }
        }
    }
    let mut ready_requires = Vec::new();
    let raw = get("REEMPLOI_READY_REQUIRES")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "database".into());
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let dep = Dependency::parse(part).ok_or_else(|| ConfigError {
            var: "REEMPLOI_READY_REQUIRES",
            message: format!("`{part}` is none of database, search, blobs, mail, outbox"),
        })?;
        if !ready_requires.contains(&dep) {
            ready_requires.push(dep);
        }
    }
    let metrics_token = get("REEMPLOI_METRICS_TOKEN")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(ConfigError {
            var: "REEMPLOI_METRICS_TOKEN",
            message: "must be at least 16 characters long".into(),
        });
    }
    let mut cors_origins = Vec::new();
    for part in get("REEMPLOI_CORS_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if part != "*" && !is_origin(part) {
            return Err(ConfigError {
                var: "REEMPLOI_CORS_ORIGINS",
                message: format!(
                    "`{part}` is not an origin (`https://host` or `http://host:port`, no path) nor `*`"
                ),
            });
        }
        cors_origins.push(part.trim_end_matches('/').to_ascii_lowercase());
    }
    if cors_origins.len() > 1 && cors_origins.iter().any(|o| o == "*") {
        return Err(ConfigError {
            var: "REEMPLOI_CORS_ORIGINS",
            message: "`*` stands alone".into(),
        });
    }
    Ok(OpsSettings {
        cors_origins,
        trusted_proxies,
        max_connections: ranged_var(get, "REEMPLOI_MAX_CONNECTIONS", 1024, 1, 1_000_000)? as usize,
        header_timeout_secs: ranged_var(get, "REEMPLOI_HEADER_TIMEOUT_SECS", 10, 1, 600)?,
        idle_timeout_secs: ranged_var(get, "REEMPLOI_IDLE_TIMEOUT_SECS", 75, 1, 3600)?,
        body_timeout_secs: ranged_var(get, "REEMPLOI_BODY_TIMEOUT_SECS", 30, 1, 3600)?,
        db_acquire_timeout_secs: ranged_var(get, "REEMPLOI_DB_ACQUIRE_TIMEOUT_SECS", 3, 1, 120)?,
        dependency_timeout_ms: ranged_var(get, "REEMPLOI_DEPENDENCY_TIMEOUT_MS", 2000, 50, 60_000)?,
        metrics_token,
        ready_requires,
        job_lease_secs: ranged_var(get, "REEMPLOI_JOB_LEASE_SECS", 60, 2, 3600)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<OpsSettings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ops_settings(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_trust_no_proxy_and_readiness_needs_the_database() {
        let s = from(&[]).expect("defaults");
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.ready_requires, vec![Dependency::Database]);
        assert_eq!(s.db_acquire_timeout_secs, 3);
        assert!(s.metrics_token.is_none());
        assert_eq!(s.job_lease(), chrono::TimeDelta::seconds(60));
        assert!(s.cors_origins.is_empty());
        let s = from(&[(
            "REEMPLOI_CORS_ORIGINS",
            "https://App.example.org/, http://localhost:5173",
        )])
        .expect("origins");
        assert_eq!(
            s.cors_origins,
            vec!["https://app.example.org", "http://localhost:5173"]
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("REEMPLOI_TRUSTED_PROXIES", "proxy.example.org"),
            ("REEMPLOI_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("REEMPLOI_READY_REQUIRES", "database,redis"),
            ("REEMPLOI_METRICS_TOKEN", "short"),
            ("REEMPLOI_MAX_CONNECTIONS", "0"),
            ("REEMPLOI_JOB_LEASE_SECS", "1"),
            ("REEMPLOI_CORS_ORIGINS", "https://app.example.org/path"),
            ("REEMPLOI_CORS_ORIGINS", "app.example.org"),
            ("REEMPLOI_CORS_ORIGINS", "ftp://app.example.org"),
            ("REEMPLOI_CORS_ORIGINS", "*,https://app.example.org"),
        ] {
            let err = from(&[(var, value)]).expect_err(value);
            assert_eq!(err.var, var);
        }
        let s = from(&[
            ("REEMPLOI_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,fd00::/8"),
            ("REEMPLOI_READY_REQUIRES", "database, blobs,database"),
        ])
        .expect("valid");
        assert_eq!(s.trusted_proxies.len(), 3);
        assert_eq!(
            s.ready_requires,
            vec![Dependency::Database, Dependency::Blobs]
        );
    }
}
