//! Name constraints (RFC 5280 §4.2.1.10) for every name form caforge issues: dNSName,
//! iPAddress, rfc822Name and uniformResourceIdentifier, permitted and excluded.
//!
//! - dNSName: `example.com` is satisfied by `example.com` and by any name that adds labels
//!   on the left (`www.example.com`); `.example.com` only by names below it. The empty
//!   name (`dns:` with nothing after it) stands for every DNS name.
//! - iPAddress: a subnet in CIDR form (`10.0.0.0/8`, `2001:db8::/32`); an address of the
//!   other family is outside it.
//! - rfc822Name: a mailbox (`ops@example.com`, exactly that one), a host (`example.com`,
//!   every mailbox there) or a domain (`.example.com`, every mailbox on a host below it).
//! - URI: the URI's host, as for hosts of rfc822Name: `example.com` exactly, `.example.com`
//!   any host below. A URI without a host cannot be checked, so it is refused under any
//!   URI constraint (as OpenSSL does).
//!
//! A wildcard DNS name stands for every name it covers: it is within a permitted subtree
//! only if all of them are, and refused if any of them is excluded (`*.example.com` when
//! `secret.example.com` is excluded). The subject's emailAddress attributes are checked as
//! rfc822Names, and common names that are DNS names or IP addresses as those (relying
//! parties such as OpenSSL apply constraints to both); an emailAddress that is not a
//! mailbox cannot be checked and is refused under any rfc822Name constraint.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{PolicyError, SubjectAltName};

/// An IP subnet: an address whose bits past `prefix` are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpSubnet {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length (0–32 for IPv4, 0–128 for IPv6).
    pub prefix: u8,
}

impl IpSubnet {
    /// Every IPv4 address (`0.0.0.0/0`).
    pub const ALL_V4: IpSubnet = IpSubnet {
        addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        prefix: 0,
    };
    /// Every IPv6 address (`::/0`).
    pub const ALL_V6: IpSubnet = IpSubnet {
        addr: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        prefix: 0,
    };

    fn mask(len: usize, prefix: u8) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let bits = usize::from(prefix).saturating_sub(i * 8).min(8);
                if bits == 0 {
                    0
                } else {
                    0xffu8 << (8 - bits)
                }
            })
            .collect()
    }

    /// The iPAddress constraint encoding: the address octets followed by the mask octets
    /// (8 octets for IPv4, 32 for IPv6).
    #[must_use]
    pub fn constraint_octets(&self) -> Vec<u8> {
        let mut out = octets(self.addr);
        out.extend(Self::mask(out.len(), self.prefix));
        out
    }

    /// Whether `ip` is in this subnet.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, addr) = (octets(self.addr), octets(ip));
        net.len() == addr.len()
            && Self::mask(net.len(), self.prefix)
                .iter()
                .zip(net.iter().zip(&addr))
                .all(|(m, (n, a))| n & m == a & m)
    }
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

impl fmt::Display for IpSubnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpSubnet {
    type Err = String;

    /// `ADDR/PREFIX`, with no bits set past the prefix; a bare address is a /32 or /128.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{s}' is not an IP subnet (e.g. 10.0.0.0/8, 2001:db8::/32)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0 to {max}"))?,
        };
        let subnet = IpSubnet { addr, prefix };
        let masked: Vec<u8> = octets(addr)
            .iter()
            .zip(Self::mask(octets(addr).len(), prefix))
            .map(|(a, m)| a & m)
            .collect();
        if masked != octets(addr) {
            return Err(format!(
                "'{s}' has address bits set past its /{prefix} prefix"
            ));
        }
        Ok(subnet)
    }
}

impl Serialize for IpSubnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpSubnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The subtrees of one side (permitted or excluded) of a CA's name constraints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subtrees {
    /// dNSName subtrees (A-labels; a leading `.` means strictly below; empty means all).
    pub dns: Vec<String>,
    /// iPAddress subnets.
    pub ip: Vec<IpSubnet>,
    /// rfc822Name subtrees: a mailbox, a host or a `.domain`.
    pub email: Vec<String>,
    /// URI host subtrees: a host or a `.domain`.
    pub uri: Vec<String>,
}

impl Subtrees {
    /// Whether there is no subtree of any form.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ip.is_empty() && self.email.is_empty() && self.uri.is_empty()
    }

    /// The subtrees as `TYPE:VALUE` strings, the form they are given in.
    #[must_use]
    pub fn to_strings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.dns.iter().map(|d| format!("dns:{d}")).collect();
        out.extend(self.ip.iter().map(|i| format!("ip:{i}")));
        out.extend(self.email.iter().map(|e| format!("email:{e}")));
        out.extend(self.uri.iter().map(|u| format!("uri:{u}")));
        out
    }

    fn parse(list: &[String]) -> Result<Subtrees, PolicyError> {
        let mut out = Subtrees::default();
        for item in list {
            let invalid = |reason: String| PolicyError::InvalidNameConstraint {
                constraint: item.clone(),
                reason,
            };
            let (kind, value) = item.split_once(':').ok_or_else(|| {
                invalid("a name constraint is dns:DOMAIN, ip:SUBNET, email:MAILBOX|HOST|.DOMAIN or uri:HOST|.DOMAIN".into())
            })?;
            match kind.to_ascii_lowercase().as_str() {
                "dns" => out.dns.push(domain(value, true).map_err(invalid)?),
                "ip" => out.ip.push(value.parse().map_err(invalid)?),
                "email" => out.email.push(mailbox_subtree(value).map_err(invalid)?),
                "uri" => out.uri.push(domain(value, false).map_err(invalid)?),
                _ => {
                    return Err(invalid(
                        "unknown name form (expected dns, ip, email or uri)".into(),
                    ))
                }
            }
        }
        for list in [&mut out.dns, &mut out.email, &mut out.uri] {
            dedup(list);
        }
        dedup(&mut out.ip);
        Ok(out)
    }
}

fn dedup<T: PartialEq + Clone>(list: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(list.len());
    list.retain(|x| {
        let new = !seen.contains(x);
        if new {
            seen.push(x.clone());
        }
        new
    });
}

/// A domain subtree: `example.com` or `.example.com`, normalised like a DNS SAN; the empty
/// name only where `empty_ok`.
fn domain(value: &str, empty_ok: bool) -> Result<String, String> {
    if value.is_empty() {
        return if empty_ok {
            Ok(String::new())
        } else {
            Err("an empty subtree".into())
        };
    }
    if value.contains("://") || value.contains('/') {
        return Err("give the host or .domain, not a URL".into());
    }
    let (dot, rest) = match value.strip_prefix('.') {
        Some(r) => (".", r),
        None => ("", value),
    };
    match SubjectAltName::dns(rest) {
        Ok(SubjectAltName::Dns(n)) if !n.starts_with('*') => Ok(format!("{dot}{n}")),
        Ok(_) => Err("a name constraint is a domain, not a wildcard".into()),
        Err(PolicyError::InvalidSan { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

fn mailbox_subtree(value: &str) -> Result<String, String> {
    if value.contains('@') {
        // One mailbox: checked and normalised as an email SAN is.
        match format!("email:{value}").parse::<SubjectAltName>() {
            Ok(SubjectAltName::Email(m)) => Ok(m),
            Ok(_) => Err("not a mailbox".into()),
            Err(PolicyError::InvalidSan { reason, .. }) => Err(reason),
            Err(e) => Err(e.to_string()),
        }
    } else {
        domain(value, false)
    }
}

/// A CA's name constraints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredConstraints", into = "StoredConstraints")]
pub struct NameConstraintSet {
    /// permittedSubtrees; empty means no permitted-subtree restriction.
    pub permitted: Subtrees,
    /// excludedSubtrees.
    pub excluded: Subtrees,
}

/// How a [`NameConstraintSet`] is kept (JSON in the CA's row): the DNS lists under the
/// names rows made before other forms existed still use.
#[derive(Clone, Default, Serialize, Deserialize)]
struct StoredConstraints {
    #[serde(default)]
    permitted_dns: Vec<String>,
    #[serde(default)]
    excluded_dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    permitted_ip: Vec<IpSubnet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    excluded_ip: Vec<IpSubnet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    permitted_email: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    excluded_email: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    permitted_uri: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    excluded_uri: Vec<String>,
}

impl From<StoredConstraints> for NameConstraintSet {
    fn from(s: StoredConstraints) -> Self {
        NameConstraintSet {
            permitted: Subtrees {
                dns: s.permitted_dns,
                ip: s.permitted_ip,
                email: s.permitted_email,
                uri: s.permitted_uri,
            },
            excluded: Subtrees {
                dns: s.excluded_dns,
                ip: s.excluded_ip,
                email: s.excluded_email,
                uri: s.excluded_uri,
            },
        }
    }
}

impl From<NameConstraintSet> for StoredConstraints {
    fn from(n: NameConstraintSet) -> Self {
        StoredConstraints {
            permitted_dns: n.permitted.dns,
            excluded_dns: n.excluded.dns,
            permitted_ip: n.permitted.ip,
            excluded_ip: n.excluded.ip,
            permitted_email: n.permitted.email,
            excluded_email: n.excluded.email,
            permitted_uri: n.permitted.uri,
            excluded_uri: n.excluded.uri,
        }
    }
}

impl NameConstraintSet {
    /// Whether there is nothing to constrain.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.permitted.is_empty() && self.excluded.is_empty()
    }

    /// Validates and normalises constraints given as `dns:…`, `ip:…`, `email:…` and
    /// `uri:…`. As the CA/B Forum's BRs (§7.1.2.10.8) ask of a CA constrained to DNS names,
    /// permitting DNS names but no IP address excludes every IP address, and permitting IP
    /// addresses but no DNS name excludes every DNS name.
    ///
    /// # Errors
    /// [`PolicyError::InvalidNameConstraint`] naming the constraint that is not valid.
    pub fn new(permitted: &[String], excluded: &[String]) -> Result<Self, PolicyError> {
        let mut set = NameConstraintSet {
            permitted: Subtrees::parse(permitted)?,
            excluded: Subtrees::parse(excluded)?,
        };
        if !set.permitted.dns.is_empty() && set.permitted.ip.is_empty() {
            for all in [IpSubnet::ALL_V4, IpSubnet::ALL_V6] {
                if !set.excluded.ip.contains(&all) {
                    set.excluded.ip.push(all);
                }
            }
        }
        if !set.permitted.ip.is_empty()
            && set.permitted.dns.is_empty()
            && !set.excluded.dns.iter().any(String::is_empty)
        {
            set.excluded.dns.push(String::new());
        }
        Ok(set)
    }
}

/// Whether DNS name `name` is strictly below `domain` (ASCII case ignored; compared as
/// bytes, so any input is safe): `a.example.com` is below `example.com`,
/// `aexample.com` is not.
#[must_use]
pub fn below(name: &str, domain: &str) -> bool {
    let (n, d) = (name.as_bytes(), domain.as_bytes());
    n.len() > d.len() + 1
        && n[n.len() - d.len() - 1] == b'.'
        && n[n.len() - d.len()..].eq_ignore_ascii_case(d)
}

/// Whether host `name` (not a wildcard) is within the domain subtree `constraint`.
fn host_within(name: &str, constraint: &str) -> bool {
    if constraint.is_empty() {
        return true;
    }
    match constraint.strip_prefix('.') {
        Some(domain) => below(name, domain),
        None => name.eq_ignore_ascii_case(constraint) || below(name, constraint),
    }
}

/// Whether every name a DNS name covers is within `constraint` (for a wildcard
/// `*.base`: every `label.base`).
fn dns_all_within(name: &str, constraint: &str) -> bool {
    match name.strip_prefix("*.") {
        None => host_within(name, constraint),
        Some(base) => {
            constraint.is_empty()
                || match constraint.strip_prefix('.') {
                    Some(domain) => base.eq_ignore_ascii_case(domain) || below(base, domain),
                    None => host_within(base, constraint),
                }
        }
    }
}

/// Whether any name a DNS name covers is within `constraint` (for `*.base`: some
/// `label.base`).
fn dns_any_within(name: &str, constraint: &str) -> bool {
    match name.strip_prefix("*.") {
        None => host_within(name, constraint),
        Some(base) => {
            dns_all_within(name, constraint)
                || constraint
                    .strip_prefix('.')
                    .map_or(constraint, |_| "")
                    .split_once('.')
                    .is_some_and(|(_, parent)| parent.eq_ignore_ascii_case(base))
        }
    }
}

/// Whether mailbox `email` is within the rfc822Name subtree `constraint`.
fn email_within(email: &str, constraint: &str) -> bool {
    let Some((local, host)) = email.rsplit_once('@') else {
        return false;
    };
    match constraint.rsplit_once('@') {
        Some((c_local, c_host)) => local == c_local && host.eq_ignore_ascii_case(c_host),
        None => match constraint.strip_prefix('.') {
            Some(domain) => below(host, domain),
            None => host.eq_ignore_ascii_case(constraint),
        },
    }
}

/// The host of a URI (`scheme://[userinfo@]host[:port]/…`) as URI constraints compare it:
/// a DNS name, lowercased and without a trailing dot. None when there is none to compare:
/// no authority, an empty host, an IP literal (`[::1]`, `10.0.0.1`; URI constraints name
/// domains) or a percent-encoded host (readers decode it differently).
fn uri_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') || host_port.contains('%') {
        return None;
    }
    let host = host_port.split(':').next().unwrap_or(host_port);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.parse::<IpAddr>().is_ok() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

fn uri_within(uri: &str, constraint: &str) -> bool {
    uri_host(uri).is_some_and(|host| match constraint.strip_prefix('.') {
        Some(domain) => below(&host, domain),
        None => host == constraint,
    })
}

/// Where a name stands against one form's subtrees: the first excluded subtree that meets
/// it (by `meets`), else whether some permitted subtree holds it whole (by `holds`; no
/// permitted subtree of the form means no restriction). `Err` is the reason for refusing.
fn judge<T: std::fmt::Display>(
    excluded: &[T],
    permitted: &[T],
    meets: impl Fn(&T) -> bool,
    holds: impl Fn(&T) -> bool,
    form: &str,
) -> Result<(), String> {
    if let Some(x) = excluded.iter().find(|x| meets(x)) {
        return Err(format!("excluded subtree {form}:{x}"));
    }
    if permitted.is_empty() || permitted.iter().any(holds) {
        return Ok(());
    }
    let within: Vec<String> = permitted.iter().map(|p| format!("{form}:{p}")).collect();
    Err(format!("not within {}", within.join(", ")))
}

/// Checks one name against one CA's constraints.
fn check_one(
    san: &SubjectAltName,
    c: &NameConstraintSet,
    ca: &str,
    from: &str,
) -> Result<(), PolicyError> {
    let (p, x) = (&c.permitted, &c.excluded);
    let verdict = match san {
        SubjectAltName::Dns(d) => judge(
            &x.dns,
            &p.dns,
            |e| dns_any_within(d, e),
            |e| dns_all_within(d, e),
            "dns",
        )
        .map_err(|why| {
            if d.starts_with("*.") && why.starts_with("excluded") {
                format!("it covers names in the {why}")
            } else {
                why
            }
        }),
        SubjectAltName::Ip(ip) => {
            judge(&x.ip, &p.ip, |e| e.contains(*ip), |e| e.contains(*ip), "ip")
        }
        SubjectAltName::Email(e)
            if format!("email:{e}").parse::<SubjectAltName>().is_err()
                && !(p.email.is_empty() && x.email.is_empty()) =>
        {
            Err("a value that is not a mailbox cannot be checked against rfc822Name constraints".into())
        }
        SubjectAltName::Email(e) => judge(
            &x.email,
            &p.email,
            |s| email_within(e, s),
            |s| email_within(e, s),
            "email",
        ),
        SubjectAltName::Uri(u)
            if uri_host(u).is_none() && !(p.uri.is_empty() && x.uri.is_empty()) =>
        {
            Err("a URI without a DNS host (none, an IP literal or a percent-encoded one) cannot be checked against URI constraints".into())
        }
        SubjectAltName::Uri(u) => judge(
            &x.uri,
            &p.uri,
            |s| uri_within(u, s),
            |s| uri_within(u, s),
            "uri",
        ),
    };
    verdict.map_err(|reason| {
        let name = match san {
            SubjectAltName::Ip(ip) => ip.to_string(),
            SubjectAltName::Dns(n) | SubjectAltName::Email(n) | SubjectAltName::Uri(n) => n.clone(),
        };
        PolicyError::NameConstraint {
            name: format!("{name}{from}"),
            ca: ca.to_owned(),
            reason,
        }
    })
}

/// The names in a subject DN that name constraints apply to: each emailAddress value
/// (RFC 5280 §4.2.1.10) as an rfc822Name, and each common name that is a DNS name with at
/// least two labels, or an IP address, as that name (as OpenSSL reads it when it checks
/// constraints). Values that are neither are not names and are left out.
#[must_use]
pub fn subject_names(subject: &x509_cert::name::Name) -> Vec<SubjectAltName> {
    const EMAIL_ADDRESS: const_oid::ObjectIdentifier = const_oid::db::rfc3280::EMAIL_ADDRESS;
    let mut out = Vec::new();
    for (oid, value) in crate::x509::attribute_strings(subject) {
        if oid == EMAIL_ADDRESS {
            // Normalised as an email SAN is; one that is not a mailbox stays as given and
            // is refused under any rfc822Name constraint (it cannot be checked).
            out.push(
                format!("email:{value}")
                    .parse()
                    .unwrap_or(SubjectAltName::Email(value)),
            );
        } else if oid == const_oid::db::rfc4519::CN {
            if let Ok(ip) = value.parse::<IpAddr>() {
                out.push(SubjectAltName::Ip(ip));
            } else if value.contains('.') {
                if let Ok(dns) = SubjectAltName::dns(&value) {
                    out.push(dns);
                }
            }
        }
    }
    out
}

/// Checks the names of a certificate against the constraints of one CA in the chain,
/// named `ca`: every SAN, and the names in `subject_names` (from the subject DN: its
/// emailAddress values and the common names that are DNS names).
///
/// # Errors
/// [`PolicyError::NameConstraint`] for the first name that falls outside.
pub fn check_name_constraints(
    sans: &[SubjectAltName],
    subject_names: &[SubjectAltName],
    constraints: &NameConstraintSet,
    ca: &str,
) -> Result<(), PolicyError> {
    if constraints.is_empty() {
        return Ok(());
    }
    for san in sans {
        check_one(san, constraints, ca, "")?;
    }
    for name in subject_names {
        check_one(name, constraints, ca, " (in the subject DN)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(permitted: &[&str], excluded: &[&str]) -> NameConstraintSet {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        NameConstraintSet::new(&v(permitted), &v(excluded)).expect("valid")
    }

    fn ok(nc: &NameConstraintSet, san: &str) -> bool {
        check_name_constraints(&[san.parse().expect("san")], &[], nc, "ica").is_ok()
    }

    #[test]
    fn dns_subtrees() {
        let nc = set(&["dns:example.com"], &["dns:secret.example.com"]);
        assert!(ok(&nc, "dns:example.com"));
        assert!(ok(&nc, "dns:www.example.com"));
        assert!(!ok(&nc, "dns:*.example.com"), "covers secret.example.com");
        assert!(ok(&nc, "dns:*.www.example.com"));
        assert!(!ok(&nc, "dns:badexample.com"));
        assert!(!ok(&nc, "dns:example.org"));
        assert!(!ok(&nc, "dns:a.secret.example.com"));
        assert!(!ok(&nc, "dns:*.secret.example.com"));
        let dot = set(&["dns:.example.com"], &[]);
        assert!(!ok(&dot, "dns:example.com"));
        assert!(ok(&dot, "dns:*.example.com"));
        assert!(ok(&dot, "dns:a.example.com"));
        let ex_dot = set(&[], &["dns:.example.com"]);
        assert!(!ok(&ex_dot, "dns:*.example.com"));
        assert!(ok(&ex_dot, "dns:example.com"));
        // A deeper exclusion does not meet the wildcard's names.
        let deep = set(&[], &["dns:a.b.example.com"]);
        assert!(ok(&deep, "dns:*.example.com"));
    }

    #[test]
    fn dns_only_constraints_exclude_every_ip_and_the_reverse() {
        let nc = set(&["dns:example.com"], &[]);
        assert_eq!(nc.excluded.ip, vec![IpSubnet::ALL_V4, IpSubnet::ALL_V6]);
        assert!(!ok(&nc, "ip:10.1.2.3"));
        assert!(!ok(&nc, "ip:2001:db8::1"));
        let ip = set(&["ip:10.0.0.0/8"], &[]);
        assert_eq!(ip.excluded.dns, vec![String::new()]);
        assert!(!ok(&ip, "dns:example.com"));
        assert!(ok(&ip, "ip:10.9.9.9"));
        assert!(!ok(&ip, "ip:11.0.0.1"));
        assert!(!ok(&ip, "ip:::1"));
    }

    #[test]
    fn ip_subnets() {
        let s: IpSubnet = "192.168.0.0/16".parse().expect("subnet");
        assert_eq!(s.constraint_octets(), vec![192, 168, 0, 0, 255, 255, 0, 0]);
        let s6: IpSubnet = "2001:db8::/33".parse().expect("subnet");
        let o = s6.constraint_octets();
        assert_eq!(o.len(), 32);
        assert_eq!(&o[16..21], &[255, 255, 255, 255, 0x80]);
        assert!(s6.contains("2001:db8:7fff::1".parse().expect("ip")));
        assert!(!s6.contains("2001:db8:8000::1".parse().expect("ip")));
        assert!("10.0.0.1/8".parse::<IpSubnet>().is_err());
        assert!("10.0.0.0/33".parse::<IpSubnet>().is_err());
        assert!("example.com/8".parse::<IpSubnet>().is_err());
        let nc = set(&["ip:10.0.0.0/8", "dns:example.com"], &["ip:10.1.0.0/16"]);
        assert!(ok(&nc, "ip:10.2.0.1"));
        assert!(!ok(&nc, "ip:10.1.0.1"));
        assert!(!ok(&nc, "ip:192.168.1.1"));
    }

    #[test]
    fn email_and_uri_subtrees() {
        let nc = set(
            &[
                "email:example.com",
                "email:.corp.example",
                "email:ops@other.org",
            ],
            &["email:ceo@example.com"],
        );
        assert!(ok(&nc, "email:alice@example.com"));
        assert!(ok(&nc, "email:bob@mail.corp.example"));
        assert!(!ok(&nc, "email:bob@corp.example"));
        assert!(ok(&nc, "email:ops@other.org"));
        assert!(!ok(&nc, "email:dev@other.org"));
        assert!(!ok(&nc, "email:alice@sub.example.com"));
        assert!(!ok(&nc, "email:ceo@example.com"));
        let uri = set(
            &["uri:.svc.example", "uri:spiffe.example"],
            &["uri:bad.svc.example"],
        );
        assert!(ok(&uri, "uri:https://api.svc.example/x"));
        assert!(ok(&uri, "uri:spiffe://spiffe.example/ns/a/sa/b"));
        assert!(!ok(&uri, "uri:spiffe://other.example/ns/a"));
        assert!(!ok(&uri, "uri:https://bad.svc.example:8443/"));
        assert!(!ok(&uri, "uri:https://user@svc.example/"));
        assert!(!ok(
            &uri,
            "uri:urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"
        ));
        // The subject's names are checked too, normalised as SANs are; a value that is not
        // a mailbox cannot be checked and is refused.
        let dn = |dn: &str| subject_names(&std::str::FromStr::from_str(dn).expect("dn"));
        for subject in [
            "CN=x,emailAddress=eve@evil.org",
            "CN=x,emailAddress=ceo@EXAMPLE.com.",
            "CN=x,emailAddress=not-a-mailbox",
        ] {
            let names = dn(subject);
            assert!(!names.is_empty(), "{subject}");
            assert!(
                check_name_constraints(&[], &names, &nc, "ica").is_err(),
                "{subject}"
            );
        }
        assert!(check_name_constraints(
            &[],
            &dn("CN=x,emailAddress=alice@example.com"),
            &nc,
            "ica"
        )
        .is_ok());
        assert!(dn("CN=My Device").is_empty());
        let dns = set(&["dns:example.com"], &[]);
        assert!(check_name_constraints(&[], &dn("CN=www.other.org"), &dns, "ica").is_err());
        assert!(check_name_constraints(&[], &dn("CN=10.1.1.1"), &dns, "ica").is_err());
        assert!(check_name_constraints(&[], &dn("CN=www.example.com"), &dns, "ica").is_ok());
    }

    #[test]
    fn bad_constraints_are_refused() {
        for bad in [
            "example.com",
            "dns:*.example.com",
            "ip:10.0.0.1/8",
            "email:@example.com",
            "uri:",
            "uri:https://svc.example",
            "email:ops@.example.com",
            "email:o\u{7}ps@example.com",
            "x400:foo",
        ] {
            assert!(
                NameConstraintSet::new(&[bad.to_owned()], &[]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn rows_from_before_other_forms_still_read() {
        let old = r#"{"permitted_dns":["example.com"],"excluded_dns":["a.example.com"]}"#;
        let nc: NameConstraintSet = serde_json::from_str(old).expect("old row");
        assert_eq!(nc.permitted.dns, vec!["example.com".to_owned()]);
        assert_eq!(nc.excluded.dns, vec!["a.example.com".to_owned()]);
        assert!(nc.excluded.ip.is_empty());
        let round: NameConstraintSet = serde_json::from_str(
            &serde_json::to_string(&set(&["ip:10.0.0.0/8"], &[])).expect("json"),
        )
        .expect("round trip");
        assert_eq!(round.permitted.ip.len(), 1);
    }
}
