//! Revocation: reasons (RFC 5280 §5.3.1), CA publication settings, CRLs ([`crl`]) and OCSP
//! ([`ocsp`]). CRLs are the primary channel; OCSP answers come from the same records.

pub mod check;
pub mod crl;
pub mod ocsp;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A CRLReason (RFC 5280 §5.3.1), minus `removeFromCRL`, which only appears in delta CRLs
/// and is not something a certificate can be revoked *for*.
///
/// ```text
/// CRLReason ::= ENUMERATED {
///      unspecified (0), keyCompromise (1), cACompromise (2), affiliationChanged (3),
///      superseded (4), cessationOfOperation (5), certificateHold (6),
///      -- value 7 is not used
///      removeFromCRL (8), privilegeWithdrawn (9), aACompromise (10) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum RevocationReason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1): the key is also blocked from future certificates.
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6): the only reason that can be lifted again.
    CertificateHold,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

/// removeFromCRL (8): used in delta CRL entries for a certificate whose hold was lifted.
pub const REMOVE_FROM_CRL: u8 = 8;

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 9] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// The reason with RFC 5280 code `code`.
    pub fn from_code(code: u8) -> Option<RevocationReason> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The RFC 5280 name (`keyCompromise`).
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<RevocationReason> for String {
    fn from(r: RevocationReason) -> String {
        r.as_str().to_owned()
    }
}

impl TryFrom<String> for RevocationReason {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for RevocationReason {
    type Err = String;

    /// Accepts the RFC 5280 name in any case, with or without dashes/underscores
    /// (`keyCompromise`, `key-compromise`), or the numeric code.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        if let Ok(code) = folded.parse::<u8>() {
            if let Some(r) = Self::from_code(code) {
                return Ok(r);
            }
        }
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().to_ascii_lowercase() == folded)
            .ok_or_else(|| {
                format!(
                    "unknown revocation reason '{s}' (expected one of: {})",
                    Self::ALL.map(|r| r.as_str()).join(", ")
                )
            })
    }
}

/// Who signs a CA's OCSP responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OcspSigner {
    /// The CA key itself.
    #[default]
    Ca,
    /// A delegated responder certificate (id-kp-OCSPSigning, ocsp-nocheck) that caforge
    /// issues under the CA and rotates before it expires.
    Delegated,
}

impl OcspSigner {
    /// `ca` or `delegated`.
    pub fn as_str(self) -> &'static str {
        match self {
            OcspSigner::Ca => "ca",
            OcspSigner::Delegated => "delegated",
        }
    }
}

impl FromStr for OcspSigner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ca" => Ok(OcspSigner::Ca),
            "delegated" => Ok(OcspSigner::Delegated),
            _ => Err(format!(
                "unknown OCSP signer '{s}' (expected ca or delegated)"
            )),
        }
    }
}

/// Longest CRL or OCSP lifetime accepted: a year.
pub const MAX_LIFETIME_SECS: i64 = 366 * 86_400;
/// Most CRL partitions a CA may have.
pub const MAX_PARTITIONS: u32 = 1024;

/// How a CA publishes revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaSettings {
    /// Base URL of the responder serving this CA (`http://ca.example:8080`); when set,
    /// certificates carry CRL DP and AIA, and CRLs an Issuing Distribution Point.
    pub base_url: Option<String>,
    /// Seconds between thisUpdate and nextUpdate of full CRLs.
    pub crl_lifetime: i64,
    /// Seconds between thisUpdate and nextUpdate of delta CRLs.
    pub delta_lifetime: i64,
    /// Number of CRL partitions (1: one CRL for the whole CA).
    pub crl_partitions: u32,
    /// Who signs OCSP responses.
    pub ocsp_signer: OcspSigner,
    /// Seconds between thisUpdate and nextUpdate of OCSP responses.
    pub ocsp_lifetime: i64,
    /// Whether a root may sign end-entity certificates (off by default: roots stay
    /// offline and sign CAs, CRLs and OCSP responders). Intermediates always may.
    #[serde(default)]
    pub allow_leaves: bool,
}

impl Default for CaSettings {
    fn default() -> Self {
        CaSettings {
            base_url: None,
            crl_lifetime: 7 * 86_400,
            delta_lifetime: 86_400,
            crl_partitions: 1,
            ocsp_signer: OcspSigner::Ca,
            ocsp_lifetime: 86_400,
            allow_leaves: false,
        }
    }
}

/// `s` percent-encoded for a URL path segment or query value: RFC 3986's unreserved
/// characters are kept as they are, every other byte encoded.
#[must_use]
pub fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl CaSettings {
    /// Checks ranges and the URL's shape.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.base_url {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .ok_or_else(|| format!("base URL '{url}' must start with http:// or https://"))?;
            if rest.is_empty()
                || !url.is_ascii()
                || url
                    .chars()
                    .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
                || url.contains(['?', '#'])
                || url.ends_with('/')
            {
                return Err(format!(
                    "base URL '{url}' must be an ASCII http(s) URL without query, fragment or trailing slash"
                ));
            }
        }
        for (name, v) in [
            ("CRL lifetime", self.crl_lifetime),
            ("delta CRL lifetime", self.delta_lifetime),
            ("OCSP lifetime", self.ocsp_lifetime),
        ] {
            if !(60..=MAX_LIFETIME_SECS).contains(&v) {
                return Err(format!("{name} must be between 1 minute and 366 days"));
            }
        }
        if !(1..=MAX_PARTITIONS).contains(&self.crl_partitions) {
            return Err(format!("CRL partitions must be 1 to {MAX_PARTITIONS}"));
        }
        if self.crl_partitions > 1 && self.base_url.is_none() {
            // A partition's scope is named by its Issuing Distribution Point URL; without
            // one, any partition's CRL would look complete for every certificate.
            return Err("partitioned CRLs need a base URL".into());
        }
        Ok(())
    }

    /// The URL of the CRL covering `partition` (`None`: the CA's only CRL), or of its delta.
    pub fn crl_url(&self, ca_name: &str, partition: Option<u32>, delta: bool) -> Option<String> {
        let base = self.base_url.as_ref()?;
        let mut file = url_segment(ca_name);
        if let Some(p) = partition {
            file.push_str(&format!("-p{p}"));
        }
        if delta {
            file.push_str("-delta");
        }
        Some(format!("{base}/crl/{file}.crl"))
    }

    /// The AIA caIssuers URL (the CA certificate, DER).
    pub fn ca_issuers_url(&self, ca_name: &str) -> Option<String> {
        let base = self.base_url.as_ref()?;
        Some(format!("{base}/ca/{}.crt", url_segment(ca_name)))
    }

    /// The AIA OCSP URL.
    pub fn ocsp_url(&self) -> Option<String> {
        Some(format!("{}/ocsp", self.base_url.as_ref()?))
    }

    /// The partition a new certificate with `serial` falls in (`None` when unpartitioned).
    /// Serials are random, so their low bytes spread certificates evenly.
    pub fn partition_for(&self, serial: &[u8]) -> Option<u32> {
        if self.crl_partitions <= 1 {
            return None;
        }
        let mut tail = [0u8; 4];
        let n = serial.len().min(4);
        tail[4 - n..].copy_from_slice(&serial[serial.len() - n..]);
        Some(u32::from_be_bytes(tail) % self.crl_partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_in_every_spelling_and_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(r.as_str().parse::<RevocationReason>(), Ok(r));
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
        }
        assert_eq!(
            "key-compromise".parse::<RevocationReason>(),
            Ok(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            "CACOMPROMISE".parse::<RevocationReason>(),
            Ok(RevocationReason::CaCompromise)
        );
        assert!("removeFromCRL".parse::<RevocationReason>().is_err());
        assert!("7".parse::<RevocationReason>().is_err());
    }

    #[test]
    fn urls_and_partitions() {
        let s = CaSettings {
            base_url: Some("http://127.0.0.1:8080".into()),
            crl_partitions: 4,
            ..CaSettings::default()
        };
        s.validate().expect("valid");
        assert_eq!(
            s.crl_url("Issuing CA", Some(3), false).as_deref(),
            Some("http://127.0.0.1:8080/crl/Issuing%20CA-p3.crl")
        );
        assert_eq!(
            s.crl_url("int", None, true).as_deref(),
            Some("http://127.0.0.1:8080/crl/int-delta.crl")
        );
        assert!(s.partition_for(&[1, 2, 3, 4, 5]).is_some_and(|p| p < 4));
        assert_eq!(CaSettings::default().partition_for(&[1, 2]), None);
        for bad in [
            "ftp://x",
            "http://",
            "http://a/ b",
            "http://a/?q",
            "http://a/",
        ] {
            let s = CaSettings {
                base_url: Some(bad.into()),
                ..CaSettings::default()
            };
            assert!(s.validate().is_err(), "{bad}");
        }
    }
}
