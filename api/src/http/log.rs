//! The edge of every request: who the client is (the socket peer, or the address a trusted
//! proxy forwarded), its request id (accepted or generated, returned in `X-Request-Id`, carried
//! by every log line of the request and by problem bodies), then one log line and one metrics
//! observation per answer.
//!
//! The log line carries the method, the route template, the numeric status, the latency in
//! milliseconds, the caller's organisations and the path with its tokens redacted. Query string
//! values are never written (signed blob URLs carry their signature there; searches carry what
//! people typed), only their names.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use poem::http::{HeaderMap, HeaderValue};
use poem::{
    Endpoint, FromRequest, IntoResponse, Middleware, Request, RequestBody, Response, Result,
};
use reemploi_domain::webhooks::AllowEntry;
use tracing::{Instrument, Level};

use super::problem::AllowedMethods;
use crate::metrics::Metrics;

/// The request id header, accepted from the client or a proxy, and always answered.
pub const REQUEST_ID: &str = "x-request-id";

/// The request's id, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's address, in the request's extensions: the socket peer, or the address a trusted
/// proxy forwarded. Rate limits and sign-in delays key on it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<'a> FromRequest<'a> for ClientIp {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
        Ok(client_ip(req))
    }
}

/// The client address of a request (set by [`Edge`]; the socket peer without it).
pub fn client_ip(req: &Request) -> ClientIp {
    req.data::<ClientIp>().cloned().unwrap_or_else(|| {
        ClientIp(
            req.remote_addr()
                .as_socket_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unknown".into()),
        )
    })
}

/// Where the handlers note the organisations the caller acts for, for the log line.
#[derive(Debug, Clone, Default)]
pub struct CallerOrganisations(pub Arc<OnceLock<String>>);

/// The middleware.
pub struct Edge {
    pub trusted_proxies: Arc<Vec<AllowEntry>>,
    pub routes: Arc<AllowedMethods>,
    pub metrics: Arc<Metrics>,
    pub connections: Arc<crate::connections::Registry>,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        EdgeEndpoint {
            inner: ep,
            trusted_proxies: self.trusted_proxies.clone(),
            routes: self.routes.clone(),
            metrics: self.metrics.clone(),
            connections: self.connections.clone(),
        }
    }
}

/// Its endpoint.
pub struct EdgeEndpoint<E> {
    inner: E,
    trusted_proxies: Arc<Vec<AllowEntry>>,
    routes: Arc<AllowedMethods>,
    metrics: Arc<Metrics>,
    connections: Arc<crate::connections::Registry>,
}

/// A request id a client may choose: 1 to 128 characters among letters, digits and `-_.:`.
fn acceptable_id(raw: &str) -> bool {
    (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| acceptable_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// The addresses a header chain names, nearest hop last: `X-Forwarded-For: client, proxy1`
/// or `Forwarded: for=client, for="[::1]:443"`. `Forwarded` wins when both are present. An
/// entry that is not an address ends the chain there.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    if !name.trim().eq_ignore_ascii_case("for") {
                        return None;
                    }
                    parse_node(value.trim().trim_matches('"'))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|entry| parse_node(entry.trim()))
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:443` or `::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.rsplit_once(':')?.0.parse().ok()
}

/// The client of a request that reached us from `peer`: when `peer` is a trusted proxy, the
/// nearest address of the forwarded chain that is not itself a trusted proxy (a client cannot
/// choose its address by writing the header itself: the proxies append to it). Otherwise, and
/// whenever the chain is missing or unreadable, `peer`.
pub fn resolve_client(peer: IpAddr, headers: &HeaderMap, trusted: &[AllowEntry]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers).into_iter().rev() {
        let Some(ip) = hop else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// The path as logged: tokens redacted, query values dropped (`?q=…&limit=…`).
fn logged_uri(req: &Request) -> String {
    let uri = req.original_uri();
    let mut out = crate::security::redact_tokens(uri.path()).into_owned();
    if let Some(query) = uri.query() {
        let names: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').map_or(p, |(name, _)| name))
            .collect();
        out.push('?');
        out.push_str(
            &names
                .iter()
                .map(|n| format!("{}=…", crate::security::redact_tokens(n)))
                .collect::<Vec<_>>()
                .join("&"),
        );
    }
    out
}

/// The metrics and log label of a path: its spec template, or a fixed word for what is not an
/// operation (pages, docs), so that labels stay few whatever paths clients send.
fn route_label(routes: &AllowedMethods, path: &str) -> String {
    if let Some(template) = routes.template(path) {
        return template.to_owned();
    }
    let first = path.split('/').nth(1).unwrap_or_default();
    match first {
        "" => "/".into(),
        "docs" | "compte" | "v" | "p" => format!("/{first}/…"),
        "openapi.json" | "openapi.yaml" | "metrics" => format!("/{first}"),
        _ => "unmatched".into(),
    }
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let _in_flight = self
            .connections
            .request(req.remote_addr().as_socket_addr().copied());
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let client = peer.map(|p| resolve_client(p, req.headers(), &self.trusted_proxies));
        let client = client.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
        let id = request_id(req.headers());
        let organisations = CallerOrganisations::default();
        req.set_data(ClientIp(client.clone()));
        req.set_data(RequestId(id.clone()));
        req.set_data(organisations.clone());
        let method = req.method().as_str().to_owned();
        let route = route_label(&self.routes, req.uri().path());
        let uri = logged_uri(&req);
        let span = tracing::span!(
            target: "poem::middleware::tracing_mw",
            Level::INFO,
            "request",
            request_id = %id,
            client = %client,
            method = %method,
            route = %route,
        );
        async move {
            let now = Instant::now();
            let res = self.inner.call(req).await;
            let latency = now.elapsed();
            let latency_ms = latency.as_secs_f64() * 1000.0;
            let org = organisations.0.get().map_or("", String::as_str);
            let mut resp = match res {
                Ok(resp) => resp.into_response(),
                Err(err) => err.into_response(),
            };
            let status = resp.status().as_u16();
            tracing::info!(status, latency_ms, org, uri = %uri, "response");
            self.metrics.observe(&route, &method, status, latency);
            if let Ok(v) = HeaderValue::from_str(&id) {
                resp.headers_mut().insert(REQUEST_ID, v);
            }
            Ok(resp)
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn trusted(list: &[&str]) -> Vec<AllowEntry> {
        list.iter()
            .map(|e| AllowEntry::parse(e).expect("entry"))
            .collect()
    }

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let stranger: IpAddr = "203.0.113.9".parse().expect("ip");
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(resolve_client(proxy, &h, &t).to_string(), "198.51.100.7");
        // The same header from an untrusted peer is ignored.
        assert_eq!(resolve_client(stranger, &h, &t), stranger);
        // Nobody trusted: the header is ignored.
        assert_eq!(resolve_client(proxy, &h, &[]), proxy);
    }

    #[test]
    fn a_client_cannot_choose_its_address_by_writing_the_header_itself() {
        let proxy: IpAddr = "127.0.0.1".parse().expect("ip");
        let t = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        // The client wrote `1.1.1.1`; the first proxy appended the real client, the second one
        // appended the first proxy.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(resolve_client(proxy, &h, &t).to_string(), "198.51.100.7");
        // Split over two header lines, the same.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.7, 10.1.2.3"),
        ]);
        assert_eq!(resolve_client(proxy, &h, &t).to_string(), "198.51.100.7");
        // A garbage hop ends the chain at the last address read.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, nonsense, 10.1.2.3")]);
        assert_eq!(resolve_client(proxy, &h, &t).to_string(), "10.1.2.3");
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_ipv6() {
        let proxy: IpAddr = "::1".parse().expect("ip");
        let t = trusted(&["::1"]);
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            resolve_client(proxy, &h, &t).to_string(),
            "2001:db8:cafe::17"
        );
        let h = headers(&[("forwarded", "for=192.0.2.60:8080")]);
        assert_eq!(resolve_client(proxy, &h, &t).to_string(), "192.0.2.60");
    }

    #[test]
    fn request_ids_are_kept_when_sane_and_made_otherwise() {
        let h = headers(&[(REQUEST_ID, "abc-123.4:5_6")]);
        assert_eq!(request_id(&h), "abc-123.4:5_6");
        for bad in ["", "a b", "<script>", &"x".repeat(129)] {
            let h = headers(&[(REQUEST_ID, bad)]);
            let made = request_id(&h);
            assert_eq!(made.len(), 32, "{bad}");
            assert_ne!(made, bad);
        }
    }
}
