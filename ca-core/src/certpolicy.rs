//! Certificate policies (RFC 5280 §4.2.1.4), policy constraints (§4.2.1.11) and
//! inhibitAnyPolicy (§4.2.1.14): the policy a certificate was issued under, and what a CA
//! requires of the paths below it.
//!
//! Policies are named once, in the `[policies]` table of `caforge.toml`
//! ([`PolicyCatalog`]); profiles and CA flags refer to them by name or give a dotted OID.

use std::collections::BTreeMap;

use const_oid::db::rfc5280::{
    ID_CE_CERTIFICATE_POLICIES, ID_CE_INHIBIT_ANY_POLICY, ID_CE_POLICY_CONSTRAINTS, ID_QT_CPS,
    ID_QT_UNOTICE,
};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, Ia5String};
use der::{Decode, Sequence};
use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::certpolicy::{
    CertificatePolicies, DisplayText, PolicyInformation, PolicyQualifierInfo,
};
use x509_cert::ext::pkix::{InhibitAnyPolicy, PolicyConstraints};
use x509_cert::ext::Extension;

/// anyPolicy (RFC 5280 §4.2.1.4).
pub use const_oid::db::rfc5280::ANY_POLICY;

/// Longest CPS URI.
const MAX_CPS_LEN: usize = 2048;
/// Longest explicitText (RFC 5280: DisplayText SIZE (1..200)).
const MAX_NOTICE_CHARS: usize = 200;

/// One policy a certificate asserts, with its optional qualifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificatePolicy {
    /// The policy's OID.
    pub oid: ObjectIdentifier,
    /// A CPS pointer qualifier (an http or https URL).
    pub cps: Option<String>,
    /// A user notice qualifier's explicitText (UTF-8, at most 200 characters).
    pub notice: Option<String>,
}

/// A `[policies.NAME]` entry of `caforge.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy's OID, dotted (`2.23.140.1.2.1`).
    pub oid: String,
    /// CPS URI (`https://pki.example.com/cps`).
    pub cps: Option<String>,
    /// User notice text.
    pub notice: Option<String>,
}

impl CertificatePolicy {
    /// A policy from its parts, checked.
    ///
    /// # Errors
    /// A message naming what is wrong: an OID that is not dotted decimal, a CPS that is
    /// not an http(s) URL, a notice that is empty or longer than 200 characters.
    pub fn new(oid: &str, cps: Option<&str>, notice: Option<&str>) -> Result<Self, String> {
        let oid: ObjectIdentifier = oid.trim().parse().map_err(|_| {
            format!("'{oid}' is not a policy OID (dotted decimal, e.g. 2.23.140.1.2.1)")
        })?;
        if let Some(cps) = cps {
            let rest = cps
                .strip_prefix("https://")
                .or_else(|| cps.strip_prefix("http://"))
                .ok_or_else(|| format!("CPS '{cps}' must be an http:// or https:// URL"))?;
            if rest.is_empty()
                || cps.len() > MAX_CPS_LEN
                || !cps.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(format!(
                    "CPS '{cps}' must be an URL of printable ASCII, at most {MAX_CPS_LEN} bytes"
                ));
            }
        }
        if let Some(n) = notice {
            let chars = n.chars().count();
            if chars == 0 || chars > MAX_NOTICE_CHARS || n.chars().any(char::is_control) {
                return Err(format!(
                    "a user notice is 1 to {MAX_NOTICE_CHARS} characters without control characters"
                ));
            }
        }
        Ok(CertificatePolicy {
            oid,
            cps: cps.map(str::to_owned),
            notice: notice.map(str::to_owned),
        })
    }

    fn information(&self) -> der::Result<PolicyInformation> {
        let mut qualifiers = Vec::new();
        if let Some(cps) = &self.cps {
            qualifiers.push(PolicyQualifierInfo {
                policy_qualifier_id: ID_QT_CPS,
                qualifier: Some(Any::encode_from(&Ia5String::new(cps)?)?),
            });
        }
        if let Some(text) = &self.notice {
            qualifiers.push(PolicyQualifierInfo {
                policy_qualifier_id: ID_QT_UNOTICE,
                qualifier: Some(Any::encode_from(&UserNoticeAsn {
                    explicit_text: Some(DisplayText::Utf8String(text.clone())),
                })?),
            });
        }
        Ok(PolicyInformation {
            policy_identifier: self.oid,
            policy_qualifiers: (!qualifiers.is_empty()).then_some(qualifiers),
        })
    }

    fn from_information(info: &PolicyInformation) -> der::Result<Self> {
        let mut out = CertificatePolicy {
            oid: info.policy_identifier,
            cps: None,
            notice: None,
        };
        // Qualifiers in forms caforge does not write (a noticeRef, a BMPString notice) are
        // left out: the policy itself, and the path checks, only need its OID.
        for q in info.policy_qualifiers.iter().flatten() {
            let Some(value) = &q.qualifier else { continue };
            if q.policy_qualifier_id == ID_QT_CPS {
                out.cps = value.decode_as::<Ia5String>().ok().map(|s| s.to_string());
            } else if q.policy_qualifier_id == ID_QT_UNOTICE {
                out.notice = match value.decode_as::<UserNoticeAsn>() {
                    Ok(UserNoticeAsn {
                        explicit_text: Some(DisplayText::Utf8String(s)),
                    }) => Some(s),
                    Ok(UserNoticeAsn {
                        explicit_text: Some(DisplayText::Ia5String(s)),
                    }) => Some(s.to_string()),
                    _ => None,
                };
            }
        }
        Ok(out)
    }
}

/// `UserNotice ::= SEQUENCE { noticeRef NoticeReference OPTIONAL, explicitText DisplayText
/// OPTIONAL }`, written with explicitText only (RFC 5280 §4.2.1.4: noticeRef SHOULD NOT be
/// used).
#[derive(Clone, Debug, Sequence)]
struct UserNoticeAsn {
    explicit_text: Option<DisplayText>,
}

/// Policies as `caforge.toml` names them.
#[derive(Clone, Debug, Default)]
pub struct PolicyCatalog(BTreeMap<String, CertificatePolicy>);

impl PolicyCatalog {
    /// The `[policies]` table, checked.
    ///
    /// # Errors
    /// The first entry that is not valid, by name.
    pub fn from_config(table: &BTreeMap<String, PolicyConfig>) -> Result<Self, String> {
        table
            .iter()
            .map(|(name, c)| {
                CertificatePolicy::new(&c.oid, c.cps.as_deref(), c.notice.as_deref())
                    .map(|p| (name.clone(), p))
                    .map_err(|e| format!("[policies.{name}]: {e}"))
            })
            .collect::<Result<_, _>>()
            .map(PolicyCatalog)
    }

    /// The policies `refs` name: each a name from the table or a dotted OID (then
    /// without qualifiers). An OID listed twice is refused (RFC 5280 §4.2.1.4).
    ///
    /// # Errors
    /// An unknown name, a malformed OID or a repeated one.
    pub fn resolve(&self, refs: &[String]) -> Result<Vec<CertificatePolicy>, String> {
        self.resolve_qualified(refs, None, None)
    }

    /// [`PolicyCatalog::resolve`], with `cps` and `notice` as the qualifiers of each policy
    /// given as an OID (one named in the table has its qualifiers there).
    ///
    /// # Errors
    /// As [`PolicyCatalog::resolve`]; qualifiers with no policy given as an OID.
    pub fn resolve_qualified(
        &self,
        refs: &[String],
        cps: Option<&str>,
        notice: Option<&str>,
    ) -> Result<Vec<CertificatePolicy>, String> {
        let mut out: Vec<CertificatePolicy> = Vec::with_capacity(refs.len());
        let mut qualified = false;
        for r in refs {
            let policy = match self.0.get(r) {
                Some(p) => p.clone(),
                None if r.starts_with(|c: char| c.is_ascii_digit()) => {
                    qualified = true;
                    CertificatePolicy::new(r, cps, notice)?
                }
                None => {
                    return Err(format!(
                        "unknown policy '{r}': name one from [policies] in caforge.toml, or give a dotted OID"
                    ))
                }
            };
            if out.iter().any(|p| p.oid == policy.oid) {
                return Err(format!("policy {} is listed twice", policy.oid));
            }
            out.push(policy);
        }
        if (cps.is_some() || notice.is_some()) && !qualified {
            return Err("a CPS or user notice qualifies a policy given as an OID (one named in caforge.toml has its qualifiers there)".into());
        }
        Ok(out)
    }
}

/// What a CA certificate says about policy: the policies it asserts and the constraints
/// it places on the paths below it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaPolicies {
    /// certificatePolicies.
    pub policies: Vec<CertificatePolicy>,
    /// policyConstraints requireExplicitPolicy (SkipCerts).
    pub require_explicit: Option<u32>,
    /// policyConstraints inhibitPolicyMapping (SkipCerts).
    pub inhibit_mapping: Option<u32>,
    /// inhibitAnyPolicy (SkipCerts).
    pub inhibit_any: Option<u32>,
}

impl CaPolicies {
    /// Whether there is no policy extension to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && !self.has_constraints()
    }

    /// Whether any constraint (policyConstraints or inhibitAnyPolicy) is set.
    #[must_use]
    pub fn has_constraints(&self) -> bool {
        self.require_explicit.is_some()
            || self.inhibit_mapping.is_some()
            || self.inhibit_any.is_some()
    }

    /// The extensions: certificatePolicies (non-critical), policyConstraints and
    /// inhibitAnyPolicy (critical, as RFC 5280 §4.2.1.11 and §4.2.1.14 require).
    ///
    /// # Errors
    /// DER encoding errors.
    pub fn extensions(&self) -> der::Result<Vec<Extension>> {
        let mut out = Vec::new();
        if !self.policies.is_empty() {
            out.push(certificate_policies(&self.policies)?);
        }
        if self.require_explicit.is_some() || self.inhibit_mapping.is_some() {
            out.push(crate::x509::extension(
                ID_CE_POLICY_CONSTRAINTS,
                true,
                &PolicyConstraints {
                    require_explicit_policy: self.require_explicit,
                    inhibit_policy_mapping: self.inhibit_mapping,
                },
            )?);
        }
        if let Some(n) = self.inhibit_any {
            out.push(crate::x509::extension(
                ID_CE_INHIBIT_ANY_POLICY,
                true,
                &InhibitAnyPolicy(n),
            )?);
        }
        Ok(out)
    }

    /// What a DER certificate says about policy (a rollover successor carries its
    /// predecessor's policies).
    ///
    /// # Errors
    /// A certificate or policy extension that does not decode.
    pub fn of_certificate(der: &[u8]) -> der::Result<Self> {
        let cert = x509_cert::Certificate::from_der(der)?;
        Self::from_extensions(
            cert.tbs_certificate()
                .extensions()
                .map_or(&[][..], Vec::as_slice),
        )
    }

    /// The policy OIDs, dotted.
    #[must_use]
    pub fn oids(&self) -> Vec<String> {
        oids(&self.policies)
    }

    /// What `extensions` of a CA certificate say.
    ///
    /// # Errors
    /// A policy extension that does not decode.
    pub fn from_extensions(extensions: &[Extension]) -> der::Result<Self> {
        let mut out = CaPolicies::default();
        for e in extensions {
            let value = e.extn_value.as_bytes();
            if e.extn_id == ID_CE_CERTIFICATE_POLICIES {
                out.policies = CertificatePolicies::from_der(value)?
                    .0
                    .iter()
                    .map(CertificatePolicy::from_information)
                    .collect::<der::Result<_>>()?;
            } else if e.extn_id == ID_CE_POLICY_CONSTRAINTS {
                let pc = PolicyConstraints::from_der(value)?;
                out.require_explicit = pc.require_explicit_policy;
                out.inhibit_mapping = pc.inhibit_policy_mapping;
            } else if e.extn_id == ID_CE_INHIBIT_ANY_POLICY {
                out.inhibit_any = Some(InhibitAnyPolicy::from_der(value)?.0);
            }
        }
        Ok(out)
    }
}

/// certificatePolicies, non-critical (RFC 5280 §4.2.1.4: the CA/B BRs and most relying
/// parties expect it so).
///
/// # Errors
/// DER encoding errors.
pub fn certificate_policies(policies: &[CertificatePolicy]) -> der::Result<Extension> {
    let infos = policies
        .iter()
        .map(CertificatePolicy::information)
        .collect::<der::Result<Vec<_>>>()?;
    crate::x509::extension(
        ID_CE_CERTIFICATE_POLICIES,
        false,
        &CertificatePolicies(infos),
    )
}

/// The policy extensions of a certificate (certificatePolicies, policyConstraints,
/// inhibitAnyPolicy), as they are: a cross certificate states its subject's policies.
#[must_use]
pub fn policy_extensions_of(extensions: &[Extension]) -> Vec<Extension> {
    extensions
        .iter()
        .filter(|e| {
            [
                ID_CE_CERTIFICATE_POLICIES,
                ID_CE_POLICY_CONSTRAINTS,
                ID_CE_INHIBIT_ANY_POLICY,
            ]
            .contains(&e.extn_id)
        })
        .cloned()
        .collect()
}

/// The OIDs of the policies in `policies`, dotted.
#[must_use]
pub fn oids(policies: &[CertificatePolicy]) -> Vec<String> {
    policies.iter().map(|p| p.oid.to_string()).collect()
}

/// The policies a relying party that accepts any policy finds valid for an end-entity
/// certificate asserting `leaf` under the intermediates `path` (top-down, the trust anchor
/// left out, as RFC 5280 §6.1 leaves it out), with no policy mappings: §6.1.3 (d)–(e),
/// §6.1.4 (h)–(j) and §6.1.5 (a), (g).
///
/// # Errors
/// When the path requires an explicit policy (a requireExplicitPolicy that reaches the
/// leaf) and none of the leaf's policies is valid: such a certificate fails validation.
/// `Ok` carries a warning when the leaf asserts policies none of which is valid (relying
/// parties that check policies would not accept them) but nothing requires one.
pub fn check_path(
    path: &[(&str, &CaPolicies)],
    leaf: &[CertificatePolicy],
) -> Result<Option<String>, String> {
    /// The valid policy set: every policy (anyPolicy at the root of the tree), some, or
    /// none (a NULL tree).
    #[derive(Clone, PartialEq)]
    enum Valid {
        Any,
        Some(Vec<ObjectIdentifier>),
        Null,
    }
    let n = u32::try_from(path.len() + 1).unwrap_or(u32::MAX);
    let mut explicit = n.saturating_add(1);
    let mut inhibit_any = n.saturating_add(1);
    let mut valid = Valid::Any;
    let mut requiring: Option<&str> = None;
    let step = |valid: &Valid, asserted: &[ObjectIdentifier], any_counts: bool| -> Valid {
        if asserted.is_empty() {
            return Valid::Null;
        }
        let any = any_counts && asserted.contains(&ANY_POLICY);
        match valid {
            Valid::Null => Valid::Null,
            Valid::Any if any => Valid::Any,
            Valid::Any => {
                let named: Vec<_> = asserted
                    .iter()
                    .copied()
                    .filter(|o| *o != ANY_POLICY)
                    .collect();
                if named.is_empty() {
                    Valid::Null
                } else {
                    Valid::Some(named)
                }
            }
            Valid::Some(set) if any => Valid::Some(set.clone()),
            Valid::Some(set) => {
                let kept: Vec<_> = set
                    .iter()
                    .copied()
                    .filter(|o| asserted.contains(o))
                    .collect();
                if kept.is_empty() {
                    Valid::Null
                } else {
                    Valid::Some(kept)
                }
            }
        }
    };
    for (name, ca) in path {
        let asserted: Vec<ObjectIdentifier> = ca.policies.iter().map(|p| p.oid).collect();
        valid = step(&valid, &asserted, inhibit_any > 0);
        explicit = explicit.saturating_sub(1);
        inhibit_any = inhibit_any.saturating_sub(1);
        if let Some(r) = ca.require_explicit.filter(|r| *r < explicit) {
            explicit = r;
            requiring = Some(name);
        }
        if let Some(i) = ca.inhibit_any.filter(|i| *i < inhibit_any) {
            inhibit_any = i;
        }
    }
    let asserted: Vec<ObjectIdentifier> = leaf.iter().map(|p| p.oid).collect();
    let valid = step(&valid, &asserted, inhibit_any > 0);
    explicit = explicit.saturating_sub(1);
    let listed = if asserted.is_empty() {
        "none".to_owned()
    } else {
        oids(leaf).join(", ")
    };
    if valid == Valid::Null {
        if explicit == 0 {
            return Err(format!(
                "CA '{}' requires an explicit policy (requireExplicitPolicy), and none of the certificate's policies ({listed}) is valid in its chain: give the profile a policy every CA in the chain asserts",
                requiring.unwrap_or("?")
            ));
        }
        if !asserted.is_empty() {
            return Ok(Some(format!(
                "the certificate's policies ({listed}) are not among those its chain of CAs asserts: relying parties that check policies will not accept them"
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_through_their_extensions() {
        let p = CaPolicies {
            policies: vec![
                CertificatePolicy::new(
                    "1.3.6.1.4.1.55555.1.1",
                    Some("https://pki.example/cps"),
                    Some("Test certificates — not for production"),
                )
                .expect("valid"),
                CertificatePolicy::new("2.23.140.1.2.1", None, None).expect("valid"),
            ],
            require_explicit: Some(0),
            inhibit_mapping: Some(1),
            inhibit_any: Some(0),
        };
        let ext = p.extensions().expect("encode");
        assert_eq!(ext.len(), 3);
        assert!(!ext[0].critical && ext[1].critical && ext[2].critical);
        assert_eq!(CaPolicies::from_extensions(&ext).expect("decode"), p);
        assert_eq!(policy_extensions_of(&ext).len(), 3);
    }

    #[test]
    fn leaf_policies_are_checked_along_the_path() {
        let p = |oid: &str| CertificatePolicy::new(oid, None, None).expect("valid");
        let ca = |oids: &[&str], require: Option<u32>, inhibit_any: Option<u32>| CaPolicies {
            policies: oids.iter().map(|o| p(o)).collect(),
            require_explicit: require,
            inhibit_mapping: None,
            inhibit_any,
        };
        let dv = [p("2.23.140.1.2.1")];
        let lab = [p("1.3.6.1.4.1.55555.1")];
        let strict = ca(&["2.23.140.1.2.1"], Some(0), None);
        assert_eq!(check_path(&[("int", &strict)], &dv), Ok(None));
        assert!(check_path(&[("int", &strict)], &lab).is_err());
        assert!(check_path(&[("int", &strict)], &[]).is_err());
        // Required two certificates further down: the leaf right below is not bound.
        let later = ca(&["2.23.140.1.2.1"], Some(2), None);
        assert_eq!(check_path(&[("int", &later)], &[]), Ok(None));
        // anyPolicy passes every policy on, unless inhibited.
        let any = ca(&["2.5.29.32.0"], Some(0), None);
        assert_eq!(check_path(&[("int", &any)], &lab), Ok(None));
        // anyPolicy alone, inhibited, leaves nothing valid.
        let any_inhibited = ca(&["2.5.29.32.0"], Some(0), Some(0));
        assert!(check_path(&[("int", &any_inhibited)], &[p("2.5.29.32.0")]).is_err());
        let top = ca(&["2.5.29.32.0"], None, Some(0));
        assert!(check_path(&[("top", &top), ("int", &any)], &lab).is_err());
        // A CA without policies empties the tree: only a warning unless something requires
        // an explicit policy.
        let none = CaPolicies::default();
        assert!(matches!(check_path(&[("int", &none)], &dv), Ok(Some(_))));
        assert_eq!(check_path(&[("int", &none)], &[]), Ok(None));
        assert!(check_path(&[("top", &strict), ("int", &none)], &dv).is_err());
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(CertificatePolicy::new("not.an.oid", None, None).is_err());
        assert!(CertificatePolicy::new("1.2.3", Some("ftp://x"), None).is_err());
        assert!(CertificatePolicy::new("1.2.3", Some("https://a b"), None).is_err());
        assert!(CertificatePolicy::new("1.2.3", None, Some("")).is_err());
        assert!(CertificatePolicy::new("1.2.3", None, Some(&"x".repeat(201))).is_err());
        let mut table = BTreeMap::new();
        table.insert(
            "lab".to_owned(),
            PolicyConfig {
                oid: "1.3.6.1.4.1.55555.1".into(),
                cps: Some("https://pki.lab.example/cps".into()),
                notice: None,
            },
        );
        let catalog = PolicyCatalog::from_config(&table).expect("valid");
        let got = catalog
            .resolve(&["lab".into(), "2.23.140.1.2.1".into()])
            .expect("resolves");
        assert_eq!(oids(&got), ["1.3.6.1.4.1.55555.1", "2.23.140.1.2.1"]);
        assert!(catalog.resolve(&["nope".into()]).is_err());
        assert!(catalog
            .resolve(&["lab".into(), "1.3.6.1.4.1.55555.1".into()])
            .is_err());
    }
}
