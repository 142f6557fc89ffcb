//! Subject alternative names (RFC 5280 §4.2.1.6) as caforge accepts them.
//!
//! DNS names are stored as A-labels (RFC 5890): Unicode input is converted with UTS #46
//! and existing `xn--` labels must decode. A wildcard is only allowed as the whole
//! left-most label (CA/B BRs §7.1.4.2.2 / RFC 6125 §6.4.3): `*.example.com` yes,
//! `*.*.example.com`, `a*.example.com` and `*.com`-style single-label bases no.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::PolicyError;

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum SubjectAltName {
    /// dNSName, as an A-label string.
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
}

impl SubjectAltName {
    /// The name as written in a certificate, without policy checks (for certificates
    /// caforge only tracks); None for name forms caforge does not model.
    #[must_use]
    pub fn from_general_name(name: &x509_cert::ext::pkix::name::GeneralName) -> Option<Self> {
        use x509_cert::ext::pkix::name::GeneralName;
        Some(match name {
            GeneralName::DnsName(d) => SubjectAltName::Dns(d.as_str().to_owned()),
            GeneralName::Rfc822Name(e) => SubjectAltName::Email(e.as_str().to_owned()),
            GeneralName::UniformResourceIdentifier(u) => SubjectAltName::Uri(u.as_str().to_owned()),
            GeneralName::IpAddress(ip) => {
                let b = ip.as_bytes();
                SubjectAltName::Ip(match b.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(b).ok()?),
                    16 => IpAddr::from(<[u8; 16]>::try_from(b).ok()?),
                    _ => return None,
                })
            }
            _ => return None,
        })
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(d) => write!(f, "dns:{d}"),
            SubjectAltName::Ip(ip) => write!(f, "ip:{ip}"),
            SubjectAltName::Email(e) => write!(f, "email:{e}"),
            SubjectAltName::Uri(u) => write!(f, "uri:{u}"),
        }
    }
}

impl FromStr for SubjectAltName {
    type Err = PolicyError;

    /// Parses `dns:NAME`, `ip:ADDR`, `email:ADDR` or `uri:URI`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| PolicyError::InvalidSan {
            san: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected dns:NAME, ip:ADDR, email:ADDR or uri:URI"))?;
        match kind.to_ascii_lowercase().as_str() {
            "dns" => dns_name(value)
                .map(SubjectAltName::Dns)
                .map_err(|r| invalid(&r)),
            "ip" => value
                .parse::<IpAddr>()
                .map(SubjectAltName::Ip)
                .map_err(|_| invalid("not an IPv4 or IPv6 address")),
            "email" => email(value)
                .map(SubjectAltName::Email)
                .map_err(|r| invalid(&r)),
            "uri" => uri(value).map(SubjectAltName::Uri).map_err(|r| invalid(&r)),
            _ => Err(invalid("unknown SAN type (expected dns, ip, email or uri)")),
        }
    }
}

impl SubjectAltName {
    /// Builds a SAN from a DNS name (checked like `dns:NAME`).
    ///
    /// # Errors
    /// [`PolicyError::InvalidSan`] when the name is not acceptable.
    pub fn dns(name: &str) -> Result<Self, PolicyError> {
        format!("dns:{name}").parse()
    }
}

fn dns_name(input: &str) -> Result<String, String> {
    if input.is_empty() {
        return Err("empty DNS name".into());
    }
    let (wildcard, base) = match input.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    if base.contains('*') {
        return Err(
            "wildcards are only allowed as the whole left-most label (*.example.com)".into(),
        );
    }
    let base = base.strip_suffix('.').unwrap_or(base);
    let ascii = if base.is_ascii() {
        base.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii_strict(base)
            .map_err(|_| "not a valid internationalised domain name".to_string())?
    };
    check_ldh(&ascii)?;
    let labels = ascii.split('.').count();
    if wildcard && labels < 2 {
        return Err("a wildcard needs at least two labels under it (*.example.com)".into());
    }
    if ascii.parse::<IpAddr>().is_ok() {
        return Err("an IP address belongs in ip:, not dns:".into());
    }
    Ok(if wildcard {
        format!("*.{ascii}")
    } else {
        ascii
    })
}

/// Checks a lower-case ASCII DNS name: LDH labels of 1–63 octets, 253 octets in all, and
/// `xn--` labels that decode as Punycode (RFC 5890 A-labels).
fn check_ldh(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("DNS name longer than 253 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label in DNS name".into());
        }
        if label.len() > 63 {
            return Err(format!("label '{label}' is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "label '{label}' has characters other than letters, digits and '-'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label '{label}' starts or ends with '-'"));
        }
        if label.len() >= 4 && &label[2..4] == "--" {
            if !label.starts_with("xn--") {
                return Err(format!("label '{label}' uses a reserved '??--' prefix"));
            }
            let (decoded, result) = idna::domain_to_unicode(label);
            if result.is_err() || decoded == label {
                return Err(format!("label '{label}' is not a valid A-label"));
            }
        }
    }
    Ok(())
}

fn email(input: &str) -> Result<String, String> {
    let (local, domain) = input
        .rsplit_once('@')
        .ok_or_else(|| "an email address needs local@domain".to_string())?;
    if local.is_empty() || local.len() > 64 {
        return Err("the local part must be 1 to 64 characters".into());
    }
    if !local.is_ascii()
        || local
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'@')
    {
        return Err(
            "the local part must be printable ASCII (SmtpUTF8Mailbox is not supported)".into(),
        );
    }
    let domain = dns_name(domain)?;
    if domain.starts_with('*') {
        return Err("wildcards are not allowed in email addresses".into());
    }
    Ok(format!("{local}@{domain}"))
}

/// Most SANs one certificate may carry (as public CAs allow).
pub const MAX_SANS: usize = 100;
/// Longest URI SAN, in bytes.
pub const MAX_URI_LEN: usize = 2048;

/// Refuses more than [`MAX_SANS`] SANs.
///
/// # Errors
/// [`PolicyError::TooManySans`].
pub fn check_san_count(sans: &[SubjectAltName]) -> Result<(), PolicyError> {
    if sans.len() > MAX_SANS {
        return Err(PolicyError::TooManySans(sans.len()));
    }
    Ok(())
}

fn uri(input: &str) -> Result<String, String> {
    if input.len() > MAX_URI_LEN {
        return Err(format!("a URI is at most {MAX_URI_LEN} bytes"));
    }
    let (scheme, rest) = input
        .split_once(':')
        .ok_or_else(|| "a URI needs a scheme (https://…)".to_string())?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("invalid URI scheme".into());
    }
    if rest.is_empty()
        || !input.is_ascii()
        || input
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err("a URI must be non-empty ASCII without spaces (RFC 3986)".into());
    }
    // Characters RFC 3986 never allows unencoded; a backslash in particular is read as a
    // slash by WHATWG parsers, so `https://evil\@good/` would name different hosts to
    // different readers.
    if let Some(c) = input
        .chars()
        .find(|c| matches!(c, '\\' | '^' | '`' | '{' | '|' | '}' | '"' | '<' | '>'))
    {
        return Err(format!(
            "'{c}' is not allowed in a URI (RFC 3986): percent-encode it"
        ));
    }
    Ok(input.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> SubjectAltName {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn san_counts_and_uri_lengths_are_capped() {
        let many: Vec<SubjectAltName> = (0..=MAX_SANS)
            .map(|i| ok(&format!("dns:h{i}.example")))
            .collect();
        assert!(check_san_count(&many[..MAX_SANS]).is_ok());
        assert_eq!(
            check_san_count(&many),
            Err(PolicyError::TooManySans(MAX_SANS + 1))
        );
        let long = format!("uri:https://example.com/{}", "a".repeat(MAX_URI_LEN));
        assert!(long.parse::<SubjectAltName>().is_err());
    }

    #[test]
    fn accepts_plain_and_wildcard_names() {
        assert_eq!(
            ok("dns:Example.COM"),
            SubjectAltName::Dns("example.com".into())
        );
        assert_eq!(
            ok("dns:*.example.com"),
            SubjectAltName::Dns("*.example.com".into())
        );
        assert_eq!(ok("dns:localhost"), SubjectAltName::Dns("localhost".into()));
    }

    #[test]
    fn rejects_bad_wildcards() {
        for bad in [
            "dns:*.*.example.com",
            "dns:a*.example.com",
            "dns:*example.com",
            "dns:*.com",
            "dns:foo.*.example.com",
            "dns:*",
        ] {
            assert!(bad.parse::<SubjectAltName>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn idns_become_a_labels() {
        assert_eq!(
            ok("dns:bücher.example"),
            SubjectAltName::Dns("xn--bcher-kva.example".into())
        );
        assert_eq!(
            ok("dns:xn--bcher-kva.example"),
            SubjectAltName::Dns("xn--bcher-kva.example".into())
        );
        assert!("dns:xn--zz.example".parse::<SubjectAltName>().is_err());
        assert!("dns:ab--cd.example".parse::<SubjectAltName>().is_err());
    }

    #[test]
    fn rejects_malformed_dns() {
        for bad in [
            "dns:",
            "dns:a..b",
            "dns:-a.example",
            "dns:a_b.example",
            "dns:127.0.0.1",
            &format!("dns:{}.com", "a".repeat(64)),
        ] {
            assert!(bad.parse::<SubjectAltName>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ip_email_uri() {
        assert_eq!(
            ok("ip:127.0.0.1"),
            SubjectAltName::Ip("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(ok("ip:::1"), SubjectAltName::Ip("::1".parse().expect("ip")));
        assert!("ip:1.2.3".parse::<SubjectAltName>().is_err());
        assert_eq!(
            ok("email:a@Example.com"),
            SubjectAltName::Email("a@example.com".into())
        );
        assert!("email:nobody".parse::<SubjectAltName>().is_err());
        assert_eq!(
            ok("uri:spiffe://lab/ns/a"),
            SubjectAltName::Uri("spiffe://lab/ns/a".into())
        );
        assert!("uri:no scheme".parse::<SubjectAltName>().is_err());
        assert!("foo:bar".parse::<SubjectAltName>().is_err());
    }
}
