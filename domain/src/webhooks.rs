//! Rules of the event feed and of webhooks, without IO: the public type of an event
//! (`lot.published`), type patterns with wildcards (`lot.*`), the subject an event is about
//! (`lot/<id>`), which target addresses are refused (SSRF), and the retry back-off.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Invalid;

/// Version of the payload that webhooks deliver and the feed describes (`docs/webhooks.md`).
pub const PAYLOAD_VERSION: u32 = 1;

/// Resources whose name starts an event kind (`lot_published` is about a lot). Longest first,
/// so that `api_key_created` is about an API key and not an `api`.
const RESOURCES: &[&str] = &[
    "factor_set",
    "api_key",
    "organisation",
    "reservation",
    "partnership",
    "sanitisation",
    "invitation",
    "webhook",
    "inventory",
    "handover",
    "document",
    "proposal",
    "request",
    "receipt",
    "session",
    "member",
    "claim",
    "photo",
    "item",
    "site",
    "lot",
];

/// The resource an event kind names first, if any (`lot_item_removed` → `lot`).
fn resource_of(kind: &str) -> Option<&'static str> {
    RESOURCES.iter().copied().find(|r| {
        kind.len() > r.len() + 1 && kind.starts_with(r) && kind.as_bytes()[r.len()] == b'_'
    })
}

/// The first segment of a stream name (`item/<id>` → `item`).
pub fn stream_prefix(stream: &str) -> &str {
    stream.split_once('/').map_or(stream, |(p, _)| p)
}

/// The public type of an event: `<resource>.<what happened>`. A kind that starts with a resource
/// name splits there (`lot_published` → `lot.published`, `api_key_created` →
/// `api_key.created`); any other kind is prefixed with its stream (`publish` on a device's
/// stream → `item.publish`, `grade_updated` → `item.grade_updated`).
pub fn event_type(stream: &str, kind: &str) -> String {
    match resource_of(kind) {
        Some(r) => format!("{r}.{}", &kind[r.len() + 1..]),
        None => format!("{}.{kind}", stream_prefix(stream)),
    }
}

/// Whether `kind` is one that [`event_type`] splits at a resource name; otherwise its type is
/// its stream prefix followed by the kind.
pub fn kind_names_resource(kind: &str) -> bool {
    resource_of(kind).is_some()
}

/// The resource words, for stores that translate a [`TypePattern`] into a query.
pub fn resource_words() -> &'static [&'static str] {
    RESOURCES
}

/// A filter on event types: `*`, `lot.*` or `lot.published`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypePattern {
    /// Every type.
    All,
    /// Every type of one resource (`lot.*`).
    Resource(String),
    /// One type.
    Exact { resource: String, action: String },
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && !s.starts_with('_')
        && !s.ends_with('_')
}

impl TypePattern {
    /// Parses `*`, `<resource>.*` or `<resource>.<action>` (lowercase letters and `_`).
    pub fn parse(raw: &str) -> Result<TypePattern, Invalid> {
        let raw = raw.trim();
        if raw == "*" {
            return Ok(TypePattern::All);
        }
        let (resource, action) = raw.split_once('.').ok_or(Invalid::InvalidFormat)?;
        if !is_word(resource) {
            return Err(Invalid::InvalidFormat);
        }
        if action == "*" {
            return Ok(TypePattern::Resource(resource.to_owned()));
        }
        if !is_word(action) {
            return Err(Invalid::InvalidFormat);
        }
        Ok(TypePattern::Exact {
            resource: resource.to_owned(),
            action: action.to_owned(),
        })
    }

    /// Whether an event type matches.
    pub fn matches(&self, event_type: &str) -> bool {
        let (resource, action) = event_type.split_once('.').unwrap_or((event_type, ""));
        match self {
            TypePattern::All => true,
            TypePattern::Resource(r) => r == resource,
            TypePattern::Exact {
                resource: r,
                action: a,
            } => r == resource && a == action,
        }
    }

    /// The pattern as written.
    pub fn as_string(&self) -> String {
        match self {
            TypePattern::All => "*".to_owned(),
            TypePattern::Resource(r) => format!("{r}.*"),
            TypePattern::Exact { resource, action } => format!("{resource}.{action}"),
        }
    }
}

/// Kinds of subjects an event can be about, with the payload fields that name them.
const SUBJECT_FIELDS: &[(&str, &[&str])] = &[
    ("lot", &["lot_id"]),
    ("reservation", &["reservation_id"]),
    ("request", &["request_id"]),
    ("item", &["item_id"]),
    ("document", &["document_id"]),
    ("site", &["site_id", "pickup_site_id", "delivery_site_id"]),
];

/// What an event is about: `lot/<id>`, `item/<id>`, `site/<id>`…
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub id: String,
}

impl Subject {
    /// Parses `<kind>/<uuid>` for a kind that events can be about.
    pub fn parse(raw: &str) -> Result<Subject, Invalid> {
        let (kind, id) = raw.trim().split_once('/').ok_or(Invalid::InvalidFormat)?;
        let known = SUBJECT_FIELDS.iter().any(|(k, _)| *k == kind) || kind == "organisation";
        let id_ok = id.len() == 36
            && id.bytes().enumerate().all(|(i, b)| {
                matches!(i, 8 | 13 | 18 | 23) == (b == b'-') && (b == b'-' || b.is_ascii_hexdigit())
            });
        if !known || !id_ok {
            return Err(Invalid::InvalidFormat);
        }
        Ok(Subject {
            kind: kind.to_owned(),
            id: id.to_ascii_lowercase(),
        })
    }

    /// `<kind>/<id>`.
    pub fn as_string(&self) -> String {
        format!("{}/{}", self.kind, self.id)
    }

    /// The payload fields that name a subject of this kind.
    pub fn fields(&self) -> &'static [&'static str] {
        SUBJECT_FIELDS
            .iter()
            .find(|(k, _)| *k == self.kind)
            .map_or(&[], |(_, f)| f)
    }

    /// Whether an event (its stream and payload) is about this subject: it is on the subject's
    /// own stream, or its payload names the subject.
    pub fn concerns(&self, stream: &str, payload: &serde_json::Value) -> bool {
        if stream == self.as_string() {
            return true;
        }
        self.fields()
            .iter()
            .any(|f| payload.get(*f).and_then(|v| v.as_str()) == Some(self.id.as_str()))
    }
}

/// The subject an event is about, for ordering deliveries and linking to the resource: the
/// stream itself for a resource's own stream (`item/<id>`, `lot/<id>`, `reservation/<id>`…);
/// for an organisation's stream, the first resource its payload names (a lot, a site…), else
/// the organisation.
pub fn subject_of(stream: &str, payload: &serde_json::Value) -> String {
    if stream_prefix(stream) != "organisation" {
        return stream.to_owned();
    }
    for (kind, fields) in SUBJECT_FIELDS {
        if let Some(id) = fields
            .iter()
            .find_map(|f| payload.get(*f).and_then(|v| v.as_str()))
        {
            return format!("{kind}/{id}");
        }
    }
    stream.to_owned()
}

/// Why a target address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenAddress {
    Loopback,
    Private,
    LinkLocal,
    Unspecified,
    Other,
}

/// Whether an address may receive webhooks without being allow-listed: loopback, private,
/// link-local, shared (CGNAT), multicast, broadcast, reserved and unspecified addresses may not
/// (SSRF). IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
pub fn forbidden_address(ip: IpAddr) -> Option<ForbiddenAddress> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<ForbiddenAddress> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some(ForbiddenAddress::Loopback)
    } else if ip.is_private() || (o[0] == 100 && (o[1] & 0xC0) == 64) {
        Some(ForbiddenAddress::Private)
    } else if ip.is_link_local() {
        Some(ForbiddenAddress::LinkLocal)
    } else if ip.is_unspecified() || o[0] == 0 {
        Some(ForbiddenAddress::Unspecified)
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some(ForbiddenAddress::Other)
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<ForbiddenAddress> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(ForbiddenAddress::Loopback)
    } else if ip.is_unspecified() {
        Some(ForbiddenAddress::Unspecified)
    } else if (first & 0xfe00) == 0xfc00 {
        Some(ForbiddenAddress::Private)
    } else if (first & 0xffc0) == 0xfe80 {
        Some(ForbiddenAddress::LinkLocal)
    } else if ip.is_multicast() {
        Some(ForbiddenAddress::Other)
    } else {
        None
    }
}

/// One entry of the allow-list setting: a host name, an address, or a network in CIDR form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Host(String),
    Network { base: IpAddr, prefix: u8 },
}

impl AllowEntry {
    /// Parses `host`, `1.2.3.4`, `::1`, `10.0.0.0/8` or `fd00::/8`.
    pub fn parse(raw: &str) -> Result<AllowEntry, Invalid> {
        let raw = raw.trim().to_ascii_lowercase();
        if raw.is_empty() {
            return Err(Invalid::Required);
        }
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (
                a.to_owned(),
                Some(p.parse::<u8>().map_err(|_| Invalid::InvalidFormat)?),
            ),
            None => (raw.clone(), None),
        };
        match addr
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
        {
            Ok(ip) => {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let prefix = prefix.unwrap_or(max);
                if prefix > max {
                    return Err(Invalid::OutOfRange);
                }
                Ok(AllowEntry::Network { base: ip, prefix })
            }
            Err(_)
                if prefix.is_none()
                    && raw
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') =>
            {
                Ok(AllowEntry::Host(raw))
            }
            Err(_) => Err(Invalid::InvalidFormat),
        }
    }

    /// Whether an address is in this entry (a host entry contains no address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let AllowEntry::Network { base, prefix } = self else {
            return false;
        };
        match (base, ip) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                let mask = if *prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(*prefix))
                };
                (u32::from(*b) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                let mask = if *prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(*prefix))
                };
                (u128::from(*b) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        }
    }

    /// Whether a host name is this entry.
    pub fn names(&self, host: &str) -> bool {
        matches!(self, AllowEntry::Host(h) if h.eq_ignore_ascii_case(host.trim_end_matches('.')))
    }
}

/// The wait before attempt `attempt + 1` after `attempt` failed ones (from 1): `base` doubled
/// after each failure, at most `max`.
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64) -> u64 {
    let doublings = attempt.saturating_sub(1).min(40);
    base_ms.saturating_mul(1u64 << doublings).min(max_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_split_at_the_resource_or_take_the_stream() {
        assert_eq!(
            event_type("organisation/x", "lot_published"),
            "lot.published"
        );
        assert_eq!(
            event_type("organisation/x", "api_key_created"),
            "api_key.created"
        );
        assert_eq!(
            event_type("organisation/x", "lot_item_removed"),
            "lot.item_removed"
        );
        assert_eq!(event_type("item/x", "publish"), "item.publish");
        assert_eq!(
            event_type("item/x", "report_missing"),
            "item.report_missing"
        );
        assert_eq!(event_type("item/x", "grade_updated"), "item.grade_updated");
        assert_eq!(
            event_type("document/x", "signed_scan_uploaded"),
            "document.signed_scan_uploaded"
        );
        assert_eq!(
            event_type("reservation/x", "reservation_created"),
            "reservation.created"
        );
        assert_eq!(
            event_type("factor_sets", "factor_set_published"),
            "factor_set.published"
        );
        // A bare resource word is not split.
        assert_eq!(event_type("lot/x", "lot"), "lot.lot");
    }

    #[test]
    fn patterns_parse_and_match() {
        let p = TypePattern::parse("lot.*").expect("valid");
        assert!(p.matches("lot.published"));
        assert!(!p.matches("lotx.published"));
        assert!(!p.matches("item.publish"));
        let e = TypePattern::parse("claim.accepted").expect("valid");
        assert!(e.matches("claim.accepted"));
        assert!(!e.matches("claim.declined"));
        assert!(
            TypePattern::parse("*")
                .expect("valid")
                .matches("anything.at_all")
        );
        for bad in [
            "",
            "lot",
            "lot.",
            ".x",
            "Lot.*",
            "lot.*.*",
            "l%t.*",
            "lot._",
            "*.published",
        ] {
            assert!(TypePattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects_come_from_the_stream_or_the_payload() {
        let lot = "0192f0c4-0000-7000-8000-000000000001";
        let payload = serde_json::json!({ "lot_id": lot, "site_id": "x" });
        assert_eq!(subject_of("organisation/o", &payload), format!("lot/{lot}"));
        assert_eq!(subject_of("item/i", &payload), "item/i");
        assert_eq!(
            subject_of("organisation/o", &serde_json::json!({})),
            "organisation/o"
        );
        let s = Subject::parse(&format!("lot/{lot}")).expect("valid");
        assert!(s.concerns("organisation/o", &payload));
        assert!(s.concerns(&format!("lot/{lot}"), &serde_json::json!({})));
        assert!(!s.concerns("organisation/o", &serde_json::json!({ "lot_id": "other" })));
        let site = Subject::parse(&format!("site/{lot}")).expect("valid");
        assert!(site.concerns(
            "organisation/o",
            &serde_json::json!({ "pickup_site_id": lot })
        ));
        for bad in [
            "lot",
            "lot/x",
            "user/0192f0c4-0000-7000-8000-000000000001",
            "lot/0192f0c4-0000-7000-8000-00000000000g",
        ] {
            assert!(Subject::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            let ip: IpAddr = bad.parse().expect("address");
            assert!(forbidden_address(ip).is_some(), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "2a00:1450:4007:80e::200e",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            let ip: IpAddr = good.parse().expect("address");
            assert_eq!(forbidden_address(ip), None, "{good}");
        }
    }

    #[test]
    fn allow_entries_cover_hosts_addresses_and_networks() {
        let lo = AllowEntry::parse("127.0.0.1").expect("valid");
        assert!(lo.contains("127.0.0.1".parse().expect("ip")));
        assert!(!lo.contains("127.0.0.2".parse().expect("ip")));
        let net = AllowEntry::parse("10.0.0.0/8").expect("valid");
        assert!(net.contains("10.200.1.1".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        let host = AllowEntry::parse("Receiver.Local").expect("valid");
        assert!(host.names("receiver.local"));
        assert!(!host.contains("10.0.0.1".parse().expect("ip")));
        assert!(AllowEntry::parse("10.0.0.0/33").is_err());
        assert!(AllowEntry::parse("a b").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        assert_eq!(backoff_ms(1, 100, 10_000), 100);
        assert_eq!(backoff_ms(2, 100, 10_000), 200);
        assert_eq!(backoff_ms(4, 100, 10_000), 800);
        assert_eq!(backoff_ms(60, 100, 10_000), 10_000);
    }
}
