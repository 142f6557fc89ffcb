//! Who may do what: [`authorize`] decides, for every front end (the CLI, the HTTP API, and
//! whatever comes next), whether a [`Principal`] may take an [`Action`] on a [`Target`].
//!
//! The local operator (the CLI, with the database and key files in hand) may do anything,
//! and so may the server's own scheduled work (CRLs, responder rotation, renewals of managed
//! certificates), which runs what the operator configured and is recorded under its own
//! name. No request ever carries either: front ends build a token's principal from what
//! the client presented. An API token may do what one of its
//! [`Scope`]s allows: a certificate is in a scope when its issuing CA, its profile, every
//! name in it (subject common names and SANs) and every other subject attribute are, and
//! the action is listed. No token revokes a CA or an OCSP responder certificate, whatever
//! its scopes say.
//!
//! A certificate on record is under the CA that signed it: a token scoped to a CA that was
//! rolled over issues under the successor but reads and revokes those certificates only
//! when its scope names the successor too.

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
    /// The local operator, named after the login running this process (`$USER`, else the
    /// account of the process's user id, else `uid:N`).
    #[must_use]
    pub fn local_operator() -> Principal {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .or_else(account_of_this_process)
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

    /// Whether its rights have bounds that [`authorize`] checks (a token's scopes); the
    /// operator and the server may do anything.
    #[must_use]
    pub fn is_scoped(&self) -> bool {
        matches!(self, Principal::Token { .. })
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

/// The account name of this process's real user id (Linux: `/proc/self/status` and
/// `/etc/passwd`), or `uid:N` when the id has no name.
fn account_of_this_process() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    });
    Some(name.unwrap_or_else(|| format!("uid:{uid}")))
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
/// whose names (common names and SANs) all match `names` and whose other subject
/// attributes all match `attributes`. `*` in a list stands for everything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// CA names.
    pub cas: Vec<String>,
    /// Profile names (`tls-server`, …; `ca` and `ocsp-signing` name CA and responder
    /// certificates, which only reading can reach).
    pub profiles: Vec<String>,
    /// Actions.
    pub actions: Vec<Action>,
    /// Name patterns ([`name_matches`]). A certificate without any name is in scope
    /// only under `*`.
    pub names: Vec<String>,
    /// Subject attributes other than the common name, as `TYPE=value` (`O=Example Ltd`),
    /// `TYPE=*`, or `*`; none listed: the subject holds common names only. Scopes written
    /// before this field existed allow every attribute.
    #[serde(default = "every_attribute")]
    pub attributes: Vec<String>,
}

fn every_attribute() -> Vec<String> {
    vec!["*".into()]
}

impl Scope {
    /// The scope checked and in the form it is matched in: nothing empty but
    /// `attributes`, every pattern valid; DNS patterns in lower-case A-labels without a
    /// trailing dot (as SANs are stored), attribute types in upper case.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying what is wrong.
    pub fn normalized(&self) -> Result<Scope> {
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
        for p in &self.profiles {
            if p != "*" {
                p.parse::<CertificateProfile>().map_err(Error::Invalid)?;
            }
        }
        let names = self
            .names
            .iter()
            .map(|p| normalized_pattern(p))
            .collect::<Result<Vec<_>>>()?;
        let attributes = self
            .attributes
            .iter()
            .map(|a| normalized_attribute(a))
            .collect::<Result<Vec<_>>>()?;
        Ok(Scope {
            names,
            attributes,
            ..self.clone()
        })
    }

    fn allows(&self, action: Action, target: &Target<'_>) -> bool {
        let any = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
        self.actions.contains(&action)
            && target.cas.iter().any(|ca| any(&self.cas, ca))
            && any(&self.profiles, target.profile.as_str())
            && target.subject.as_ref().is_none_or(|subject| {
                self.covers_names(&subject.names)
                    && subject
                        .attributes
                        .iter()
                        .all(|a| self.attributes.iter().any(|p| attribute_matches(p, a)))
            })
    }

    fn covers_names(&self, names: &[TargetName]) -> bool {
        if names.is_empty() {
            return self.names.iter().any(|p| p == "*");
        }
        names
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

/// What a certificate says its subject is: its names and its other subject attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSubject {
    /// Common names and SANs.
    pub names: Vec<TargetName>,
    /// Every other subject attribute, as RFC 4514 `TYPE=value`.
    pub attributes: Vec<String>,
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
    /// Its subject; `None` before a request's subject is known (then only the CAs, the
    /// profile and the action are decided: a first check before any work).
    pub subject: Option<TargetSubject>,
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
        let mut names = Vec::new();
        let mut attributes = Vec::new();
        for (oid, text) in crate::x509::attribute_strings(subject) {
            if oid == const_oid::db::rfc4519::CN {
                names.push(TargetName::CommonName(text));
            } else {
                attributes.push(crate::x509::attribute_string(oid, &text));
            }
        }
        names.extend(sans.iter().cloned().map(TargetName::San));
        Target {
            cas: vec![ca],
            profile,
            subject: Some(TargetSubject { names, attributes }),
        }
    }

    /// A certificate yet to be drafted, under `ca` with `profile`: its subject unknown.
    #[must_use]
    pub fn before_subject(ca: &'a str, profile: CertificateProfile) -> Target<'a> {
        Target {
            cas: vec![ca],
            profile,
            subject: None,
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
    let mut outside = Vec::new();
    if let Some(subject) = &target.subject {
        if subject.names.is_empty() && !token.scopes.iter().any(|s| s.covers_names(&[])) {
            outside.push("a certificate without names needs the name pattern '*'".to_owned());
        }
        for n in &subject.names {
            if !token
                .scopes
                .iter()
                .any(|s| s.names.iter().any(|p| name_matches(p, n)))
            {
                outside.push(match n {
                    TargetName::CommonName(cn) => format!("CN={cn}"),
                    TargetName::San(san) => san.to_string(),
                });
            }
        }
        for a in &subject.attributes {
            if !token
                .scopes
                .iter()
                .any(|s| s.attributes.iter().any(|p| attribute_matches(p, a)))
            {
                outside.push(a.clone());
            }
        }
    }
    let outside = if outside.is_empty() {
        String::new()
    } else {
        format!(" (outside its scopes: {})", outside.join(", "))
    };
    Err(Error::Forbidden(format!(
        "token {} may not {} a {} certificate under CA '{ca}'{outside}",
        token.id,
        action.as_str(),
        target.profile
    )))
}

/// `TYPE=value` with the type's short name in upper case, or `*`, or `TYPE=*`.
fn normalized_attribute(a: &str) -> Result<String> {
    if a == "*" {
        return Ok(a.to_owned());
    }
    let (kind, value) = a.split_once('=').ok_or_else(|| {
        Error::Invalid(format!(
            "subject attribute pattern '{a}': expected TYPE=value (O=Example Ltd), TYPE=* or *"
        ))
    })?;
    let oid = crate::policy::attribute_type(kind.trim()).map_err(Error::Invalid)?;
    if oid == const_oid::db::rfc4519::CN {
        return Err(Error::Invalid(
            "common names are covered by the name patterns (--names), not attributes".into(),
        ));
    }
    Ok(crate::x509::attribute_string(oid, value))
}

/// Whether attribute pattern `pattern` (normalized) covers `attribute` (`TYPE=value`).
fn attribute_matches(pattern: &str, attribute: &str) -> bool {
    if pattern == "*" || pattern == attribute {
        return true;
    }
    match (pattern.strip_suffix("=*"), attribute.split_once('=')) {
        (Some(kind), Some((a_kind, _))) => kind == a_kind,
        _ => false,
    }
}

/// A name pattern in the form it is matched in (see [`name_matches`]).
fn normalized_pattern(p: &str) -> Result<String> {
    check_pattern(p)?;
    if p == "*" || p.contains('/') || p.parse::<IpAddr>().is_ok() {
        return Ok(p.to_owned());
    }
    // DNS names as SANs hold them: lower-case A-labels, no trailing dot. A CN pattern
    // that is no DNS name ("Build Robot") is kept as written, compared ignoring case.
    let dns = |d: &str| match SubjectAltName::dns(d) {
        Ok(SubjectAltName::Dns(n)) => n,
        _ => d.to_owned(),
    };
    Ok(match p.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", dns(domain)),
        None => dns(p),
    })
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
        Some(base) => crate::policy::below(host, base),
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

/// The host of an absolute URI (`scheme://host[:port]/…`), if it has a plain one: none
/// for a URI with user information, percent-encoding or a backslash in its authority,
/// which readers disagree about.
fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains(['@', '%', '\\']) {
        return None;
    }
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return (after.is_empty() || after.starts_with(':')).then_some(host);
    }
    match authority.split_once(':') {
        Some((host, port)) => port.bytes().all(|b| b.is_ascii_digit()).then_some(host),
        None => Some(authority),
    }
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
            attributes: vec![],
        }
        .normalized()
        .expect("a valid scope")
    }

    /// A target whose names are `CN=…` or SANs, and whose other attributes are `O=…` etc.
    fn target<'a>(ca: &'a str, profile: CertificateProfile, names: &[&str]) -> Target<'a> {
        let mut subject = TargetSubject {
            names: vec![],
            attributes: vec![],
        };
        for n in names {
            if let Some(cn) = n.strip_prefix("CN=") {
                subject.names.push(TargetName::CommonName(cn.into()));
            } else if let Ok(san) = n.parse() {
                subject.names.push(TargetName::San(san));
            } else {
                subject.attributes.push((*n).to_owned());
            }
        }
        Target {
            cas: vec![ca],
            profile,
            subject: Some(subject),
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
        // Before its subject is known, a request is decided on CA, profile and action.
        assert!(authorize(&t, Action::Issue, &Target::before_subject("int", SERVER)).is_ok());
        assert!(authorize(&t, Action::Issue, &Target::before_subject("root", SERVER)).is_err());
    }

    #[test]
    fn names_scopes_bind_the_whole_subject() {
        let t = token(vec![scope(
            &["int"],
            &["*"],
            &Action::ALL,
            &["*.lab.example"],
        )]);
        // No name at all is outside every pattern but '*'.
        let e = authorize(&t, Action::Issue, &target("int", CLIENT, &[])).expect_err("no names");
        assert!(e.to_string().contains("without names"), "{e}");
        // Other subject attributes need the scope's leave.
        let e = authorize(
            &t,
            Action::Issue,
            &target("int", CLIENT, &["O=system:masters", "CN=app.lab.example"]),
        )
        .expect_err("O=");
        assert!(e.to_string().contains("O=system:masters"), "{e}");
        let mut with_o = scope(&["int"], &["*"], &Action::ALL, &["*.lab.example"]);
        with_o.attributes = vec!["o=Lab".into(), "OU=*".into()];
        let with_o = with_o.normalized().expect("valid");
        assert_eq!(with_o.attributes, ["O=Lab", "OU=*"]);
        let t = token(vec![with_o]);
        let lab = target("int", CLIENT, &["O=Lab", "OU=any", "CN=app.lab.example"]);
        assert!(authorize(&t, Action::Issue, &lab).is_ok());
        let other = target("int", CLIENT, &["O=Other", "CN=app.lab.example"]);
        assert!(authorize(&t, Action::Issue, &other).is_err());
        // Scopes stored before attributes existed allow every attribute.
        let old: Scope = serde_json::from_str(
            r#"{"cas":["int"],"profiles":["*"],"actions":["issue"],"names":["*"]}"#,
        )
        .expect("json");
        assert_eq!(old.attributes, ["*"]);
        // Patterns are matched as SANs are stored.
        let idn = scope(
            &["*"],
            &["*"],
            &Action::ALL,
            &["*.Bücher.example.", "A@Example.COM"],
        );
        assert_eq!(idn.names, ["*.xn--bcher-kva.example", "A@example.com"]);
        assert!(scope_attribute_refused("CN=x"));
    }

    fn scope_attribute_refused(a: &str) -> bool {
        let mut s = scope(&["*"], &["*"], &Action::ALL, &["*"]);
        s.attributes = vec![a.into()];
        s.normalized().is_err()
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
        // Non-ASCII names are compared byte-wise, never split inside a character.
        assert!(!m("*.example.com", "CN=aéxample.com"));
        assert!(!m("*.example.com", "CN=é"));
        assert!(m("*.example.com", "CN=é.example.com"));
        // URIs whose host readers disagree about are covered by no pattern but '*'.
        for uri in [
            "uri:https://evil.net@api.example.com/",
            "uri:https://api%2eexample.com/",
            "uri:https://api.example.com:x/",
        ] {
            assert!(!m("*.example.com", uri), "{uri}");
            assert!(m("*", uri), "{uri}");
        }
        assert!(m("2001:db8::/32", "uri:https://[2001:db8::1]:8443/"));
        assert!("uri:https://evil.net\\@api.example.com/"
            .parse::<SubjectAltName>()
            .is_err());
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
