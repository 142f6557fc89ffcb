//! Who may do what: [`authorize`] decides, for every front end (the CLI, the HTTP API, and
//! whatever comes next), whether a [`Principal`] may take an [`Action`] on a [`Target`].
//!
//! The local operator (the CLI, with the database and key files in hand) may do anything,
//! and so may the server's own scheduled work (CRLs, responder rotation, renewals of managed
//! certificates), which runs what the operator configured and is recorded under its own
//! name. No request ever carries either: front ends build a token's principal from what
//! the client presented. An API token may do what one of its
//! [`Scope`]s allows: a certificate is in a scope when its issuing CA, its profile and every
//! name in it (subject common names and SANs) are, and the action is listed. No token
//! revokes a CA or an OCSP responder certificate, whatever its scopes say.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::policy::SubjectAltName;
use crate::profile::CertificateProfile;
use crate::tokens::TokenRecord;
use crate::{Error, Result};

/// Who is acting: named in every audit entry.
#[derive(Clone, Debug)]
pub enum Principal {
    /// The local operator at the CLI, by login name.
    Operator(String),
    /// The server's own scheduled work (CRL signing, responder rotation, deployments).
    Server,
    /// An API client holding a token.
    Token {
        /// The token (with its scopes).
        token: Arc<TokenRecord>,
        /// The key (hex SHA-256 of the SubjectPublicKeyInfo) of the TLS client
        /// certificate it came with.
        client: Option<String>,
    },
}

impl Principal {
    /// The local operator, named after the login running this process.
    #[must_use]
    pub fn local_operator() -> Principal {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        Principal::Operator(user)
    }

    /// A token's principal (no client certificate).
    #[must_use]
    pub fn token(token: TokenRecord) -> Principal {
        Principal::Token {
            token: Arc::new(token),
            client: None,
        }
    }

    /// How the audit log names it: `operator:alice`, `server`, `token:3` or
    /// `token:3 client-key:ab…` (the client certificate's key).
    #[must_use]
    pub fn audit_name(&self) -> String {
        match self {
            Principal::Operator(user) => format!("operator:{user}"),
            Principal::Server => "server".into(),
            Principal::Token {
                token,
                client: None,
            } => format!("token:{}", token.id),
            Principal::Token {
                token,
                client: Some(fp),
            } => format!("token:{} client-key:{fp}", token.id),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.audit_name())
    }
}

/// What a principal asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Obtain a certificate.
    Issue,
    /// Revoke a certificate.
    Revoke,
    /// Read certificates.
    Read,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 3] = [Action::Issue, Action::Revoke, Action::Read];

    /// Its name (`issue`, `revoke`, `read`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Issue => "issue",
            Action::Revoke => "revoke",
            Action::Read => "read",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = Error;

    fn from_str(s: &str) -> Result<Action> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::Invalid(format!("unknown action '{s}' (issue, revoke or read)")))
    }
}

/// What one scope of a token allows: `actions` on certificates of `cas` under `profiles`
/// whose names all match `names`. `*` in a list stands for everything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// CA names.
    pub cas: Vec<String>,
    /// Profile names (`tls-server`, …; `ca` and `ocsp-signing` name CA and responder
    /// certificates, which only reading can reach).
    pub profiles: Vec<String>,
    /// Actions.
    pub actions: Vec<Action>,
    /// Name patterns ([`name_matches`]).
    pub names: Vec<String>,
}

impl Scope {
    /// Checks that the scope is well formed: nothing empty, every pattern valid.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.cas.is_empty()
            || self.profiles.is_empty()
            || self.actions.is_empty()
            || self.names.is_empty()
        {
            return Err(Error::Invalid(
                "a token scope needs at least one CA, profile, action and name pattern ('*' for all)"
                    .into(),
            ));
        }
        for p in &self.names {
            check_pattern(p)?;
        }
        for p in &self.profiles {
            if p != "*" {
                p.parse::<CertificateProfile>().map_err(Error::Invalid)?;
            }
        }
        Ok(())
    }

    fn allows(&self, action: Action, target: &Target<'_>) -> bool {
        let any = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
        self.actions.contains(&action)
            && target.cas.iter().any(|ca| any(&self.cas, ca))
            && any(&self.profiles, target.profile.as_str())
            && target
                .names
                .iter()
                .all(|n| self.names.iter().any(|p| name_matches(p, n)))
    }
}

/// A name in a certificate, as scopes see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetName {
    /// A subject common name.
    CommonName(String),
    /// A subject alternative name.
    San(SubjectAltName),
}

/// A certificate an action is about: one to issue, or one on record.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// The CAs it is under: the issuing CA, and for a new certificate also the CA that was
    /// asked for when a rollover moved issuance to its successor (either one in scope is
    /// enough).
    pub cas: Vec<&'a str>,
    /// Its profile.
    pub profile: CertificateProfile,
    /// Its names.
    pub names: Vec<TargetName>,
}

impl<'a> Target<'a> {
    /// A certificate under `ca` with `profile`, subject `subject` and `sans`.
    #[must_use]
    pub fn certificate(
        ca: &'a str,
        profile: CertificateProfile,
        subject: &x509_cert::name::Name,
        sans: &[SubjectAltName],
    ) -> Target<'a> {
        let mut names: Vec<TargetName> = crate::x509::common_names(subject)
            .into_iter()
            .map(TargetName::CommonName)
            .collect();
        names.extend(sans.iter().cloned().map(TargetName::San));
        Target {
            cas: vec![ca],
            profile,
            names,
        }
    }

    /// A certificate on record.
    ///
    /// # Errors
    /// A stored certificate whose DER does not parse.
    pub fn stored(record: &'a crate::store::CertificateRecord) -> Result<Target<'a>> {
        use der::Decode;
        let cert = x509_cert::Certificate::from_der(&record.der)
            .map_err(|e| Error::Internal(format!("stored certificate does not parse: {e}")))?;
        Ok(Target::certificate(
            &record.issuer_name,
            record.profile,
            cert.tbs_certificate().subject(),
            &record.sans,
        ))
    }
}

/// Whether `principal` may take `action` on `target`.
///
/// # Errors
/// [`Error::Forbidden`] saying what is out of scope.
pub fn authorize(principal: &Principal, action: Action, target: &Target<'_>) -> Result<()> {
    let token = match principal {
        Principal::Operator(_) | Principal::Server => return Ok(()),
        Principal::Token { token, .. } => token,
    };
    if action == Action::Revoke
        && matches!(
            target.profile,
            CertificateProfile::Ca | CertificateProfile::OcspSigning
        )
    {
        return Err(Error::Forbidden(format!(
            "no API token may revoke a {} certificate; the operator does that with `caforge revoke`",
            target.profile
        )));
    }
    if token.scopes.iter().any(|s| s.allows(action, target)) {
        return Ok(());
    }
    let ca = target.cas.first().copied().unwrap_or("?");
    let outside: Vec<String> = target
        .names
        .iter()
        .filter(|n| {
            !token
                .scopes
                .iter()
                .any(|s| s.names.iter().any(|p| name_matches(p, n)))
        })
        .map(|n| match n {
            TargetName::CommonName(cn) => format!("CN={cn}"),
            TargetName::San(san) => san.to_string(),
        })
        .collect();
    let names = if outside.is_empty() {
        String::new()
    } else {
        format!(" (names outside its scopes: {})", outside.join(", "))
    };
    Err(Error::Forbidden(format!(
        "token {} may not {} a {} certificate under CA '{ca}'{names}",
        token.id,
        action.as_str(),
        target.profile
    )))
}

fn check_pattern(p: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Invalid(format!("name pattern '{p}': {why}")));
    if p == "*" {
        return Ok(());
    }
    if p.is_empty() || p.len() > 253 {
        return bad("must be 1 to 253 characters");
    }
    if let Some((net, bits)) = p.split_once('/') {
        let Ok(net) = net.parse::<IpAddr>() else {
            return bad("a CIDR block must start with an IP address");
        };
        let max = if net.is_ipv4() { 32 } else { 128 };
        return match bits.parse::<u8>() {
            Ok(b) if b <= max => Ok(()),
            _ => bad("the prefix length is out of range"),
        };
    }
    let rest = p
        .strip_prefix("*.")
        .or_else(|| p.strip_prefix("*@"))
        .unwrap_or(p);
    if rest.is_empty() || rest.contains('*') || rest.contains(char::is_whitespace) {
        return bad("'*' may only open a pattern, as in *.example.com or *@example.com");
    }
    Ok(())
}

/// Whether name pattern `pattern` covers `name`. Patterns: `*` (anything); `example.com`
/// (that DNS name, or that common name); `*.example.com` (every name below example.com);
/// `a@example.com` and `*@example.com` (that mailbox, every mailbox at example.com);
/// `192.0.2.7` and `192.0.2.0/24` (addresses). A URI is covered when its host is.
/// Comparison ignores ASCII case.
#[must_use]
pub fn name_matches(pattern: &str, name: &TargetName) -> bool {
    if pattern == "*" {
        return true;
    }
    match name {
        TargetName::CommonName(cn) => {
            host_matches(pattern, cn)
                || cn.contains('@') && mailbox_matches(pattern, cn)
                || cn
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| address_matches(pattern, ip))
        }
        TargetName::San(SubjectAltName::Dns(d)) => host_matches(pattern, d),
        TargetName::San(SubjectAltName::Email(e)) => mailbox_matches(pattern, e),
        TargetName::San(SubjectAltName::Ip(ip)) => address_matches(pattern, *ip),
        TargetName::San(SubjectAltName::Uri(u)) => uri_host(u).is_some_and(|h| {
            host_matches(pattern, h)
                || h.parse::<IpAddr>()
                    .is_ok_and(|ip| address_matches(pattern, ip))
        }),
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern.contains('@') || pattern.contains('/') {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(base) => {
            host.len() > base.len() + 1
                && host[host.len() - base.len()..].eq_ignore_ascii_case(base)
                && host.as_bytes()[host.len() - base.len() - 1] == b'.'
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn mailbox_matches(pattern: &str, mailbox: &str) -> bool {
    match pattern.strip_prefix("*@") {
        Some(domain) => mailbox
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain)),
        None => pattern.contains('@') && pattern.eq_ignore_ascii_case(mailbox),
    }
}

fn address_matches(pattern: &str, ip: IpAddr) -> bool {
    let (net, bits) = match pattern.split_once('/') {
        Some((net, bits)) => match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
            (Ok(n), Ok(b)) => (n, b),
            _ => return false,
        },
        None => match pattern.parse::<IpAddr>() {
            Ok(n) => (n, if n.is_ipv4() { 32 } else { 128 }),
            Err(_) => return false,
        },
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The host of an absolute URI (`scheme://host[:port]/…`), if it has one.
fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port.split_once(']').map(|(h, _)| &h[1..]);
    }
    Some(host_port.split(':').next().unwrap_or(host_port))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::profile::ProfileName;

    /// A token principal (test-only: no secret) with `scopes`.
    pub(crate) fn token_with_id(id: i64, scopes: Vec<Scope>) -> Principal {
        Principal::token(TokenRecord {
            id,
            name: "t".into(),
            scopes,
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            token_hash: String::new(),
            quota: None,
            client_key: None,
        })
    }

    fn token(scopes: Vec<Scope>) -> Principal {
        token_with_id(7, scopes)
    }

    pub(crate) fn scope(
        cas: &[&str],
        profiles: &[&str],
        actions: &[Action],
        names: &[&str],
    ) -> Scope {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        Scope {
            cas: v(cas),
            profiles: v(profiles),
            actions: actions.to_vec(),
            names: v(names),
        }
    }

    fn target<'a>(ca: &'a str, profile: CertificateProfile, names: &[&str]) -> Target<'a> {
        Target {
            cas: vec![ca],
            profile,
            names: names
                .iter()
                .map(|n| match n.strip_prefix("CN=") {
                    Some(cn) => TargetName::CommonName(cn.into()),
                    None => TargetName::San(n.parse().expect("san")),
                })
                .collect(),
        }
    }

    const CLIENT: CertificateProfile = CertificateProfile::Leaf(ProfileName::TlsClient);
    const SERVER: CertificateProfile = CertificateProfile::Leaf(ProfileName::TlsServer);

    #[test]
    fn a_certificate_is_in_scope_when_its_ca_profile_action_and_every_name_are() {
        let t = token(vec![scope(
            &["int"],
            &["tls-server"],
            &[Action::Issue, Action::Read],
            &["*.example.com", "192.0.2.0/24"],
        )]);
        let ok = target(
            "int",
            SERVER,
            &["CN=www.example.com", "dns:a.b.example.com", "ip:192.0.2.9"],
        );
        assert!(authorize(&t, Action::Issue, &ok).is_ok());
        assert!(authorize(&t, Action::Read, &ok).is_ok());
        assert!(
            authorize(&t, Action::Revoke, &ok).is_err(),
            "action not listed"
        );
        for bad in [
            target("root", SERVER, &["dns:www.example.com"]),
            target("int", CLIENT, &["dns:www.example.com"]),
            target("int", SERVER, &["CN=admin", "dns:www.example.com"]),
            target("int", SERVER, &["dns:example.com"]),
            target("int", SERVER, &["dns:www.example.com.evil.net"]),
            target("int", SERVER, &["dns:wwwexample.com"]),
            target("int", SERVER, &["ip:192.0.3.1"]),
        ] {
            let e = authorize(&t, Action::Issue, &bad).expect_err("out of scope");
            assert_eq!(e.kind(), crate::ErrorKind::Forbidden, "{bad:?}");
        }
        let e = authorize(
            &t,
            Action::Issue,
            &target("int", SERVER, &["CN=admin", "dns:www.example.com"]),
        )
        .expect_err("CN");
        assert!(e.to_string().contains("CN=admin"), "{e}");
    }

    #[test]
    fn no_token_revokes_a_ca_or_responder_certificate() {
        let t = token(vec![scope(&["*"], &["*"], &Action::ALL, &["*"])]);
        for p in [CertificateProfile::Ca, CertificateProfile::OcspSigning] {
            assert!(authorize(&t, Action::Revoke, &target("root", p, &["CN=int"])).is_err());
            assert!(authorize(&t, Action::Read, &target("root", p, &["CN=int"])).is_ok());
        }
        let operator = Principal::Operator("root".into());
        assert!(authorize(
            &operator,
            Action::Revoke,
            &target("root", CertificateProfile::Ca, &[])
        )
        .is_ok());
        assert!(authorize(&Principal::Server, Action::Issue, &target("r", SERVER, &[])).is_ok());
    }

    #[test]
    fn patterns() {
        let m = |p: &str, n: &str| {
            let name = match n.strip_prefix("CN=") {
                Some(cn) => TargetName::CommonName(cn.into()),
                None => TargetName::San(n.parse().expect("san")),
            };
            name_matches(p, &name)
        };
        assert!(m("*@example.com", "email:a@EXAMPLE.com"));
        assert!(!m("*@example.com", "email:a@sub.example.com"));
        assert!(m("a@example.com", "email:a@example.com"));
        assert!(!m("example.com", "email:a@example.com"));
        assert!(m("*.example.com", "uri:https://api.example.com:8443/x"));
        assert!(!m("*.example.com", "uri:https://evil.net/api.example.com"));
        assert!(m("2001:db8::/32", "ip:2001:db8::1"));
        assert!(!m("2001:db8::/32", "ip:192.0.2.1"));
        assert!(m("0.0.0.0/0", "ip:203.0.113.5"));
        assert!(m("host.example.com", "CN=HOST.example.com"));
        assert!(!m("*.example.com", "CN=example.com"));
        for bad in [
            "",
            "a*.example.com",
            "www.*.com",
            "10.0.0.0/33",
            "x/8",
            "*foo",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
        for good in [
            "*",
            "*.example.com",
            "example.com",
            "*@example.com",
            "10.0.0.0/8",
        ] {
            assert!(check_pattern(good).is_ok(), "{good}");
        }
    }
}
