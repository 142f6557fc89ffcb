//! Certificate profiles: what a certificate of each kind says about its key's use.
//!
//! Profiles are data. The built-in defaults can be adjusted in `caforge.toml`
//! (`[profiles.NAME]`, validated once by [`ProfileConfig`] → [`Profile`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::certpolicy::{CertificatePolicy, PolicyCatalog};

/// The kind of end-entity certificate being issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileName {
    /// TLS server authentication (id-kp-serverAuth).
    TlsServer,
    /// TLS client authentication (id-kp-clientAuth).
    TlsClient,
    /// Code signing (id-kp-codeSigning).
    CodeSigning,
    /// S/MIME email protection (id-kp-emailProtection).
    Email,
}

impl ProfileName {
    /// All end-entity profiles.
    pub const ALL: [ProfileName; 4] = [
        ProfileName::TlsServer,
        ProfileName::TlsClient,
        ProfileName::CodeSigning,
        ProfileName::Email,
    ];

    /// The profile's name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::TlsServer => "tls-server",
            ProfileName::TlsClient => "tls-client",
            ProfileName::CodeSigning => "code-signing",
            ProfileName::Email => "email",
        }
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile name caforge does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown profile '{0}' (expected tls-server, tls-client, code-signing or email)")]
pub struct UnknownProfile(pub String);

impl FromStr for ProfileName {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProfileName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

/// What a stored certificate was issued as: an end-entity profile, a CA certificate (root,
/// intermediate or cross certificate) or a delegated OCSP responder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateProfile {
    /// An end-entity certificate under this profile.
    Leaf(ProfileName),
    /// A CA certificate.
    Ca,
    /// A delegated OCSP responder (id-kp-OCSPSigning).
    OcspSigning,
}

impl CertificateProfile {
    /// The stored name: the profile's, or `ca`, or `ocsp-signing`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateProfile::Leaf(p) => p.as_str(),
            CertificateProfile::Ca => "ca",
            CertificateProfile::OcspSigning => "ocsp-signing",
        }
    }
}

impl fmt::Display for CertificateProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertificateProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ca" => Ok(CertificateProfile::Ca),
            "ocsp-signing" => Ok(CertificateProfile::OcspSigning),
            other => other
                .parse::<ProfileName>()
                .map(CertificateProfile::Leaf)
                .map_err(|_| format!("unknown certificate profile '{other}'")),
        }
    }
}

impl Serialize for CertificateProfile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Extended key usages caforge places in end-entity certificates (RFC 5280 §4.2.1.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtendedKeyUsage {
    /// id-kp-serverAuth.
    ServerAuth,
    /// id-kp-clientAuth.
    ClientAuth,
    /// id-kp-codeSigning.
    CodeSigning,
    /// id-kp-emailProtection.
    EmailProtection,
}

/// Key usage bits an end-entity certificate asserts (RFC 5280 §4.2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KeyUsageBits {
    /// digitalSignature.
    pub digital_signature: bool,
    /// nonRepudiation (contentCommitment).
    pub non_repudiation: bool,
    /// keyEncipherment — RSA keys, and SM2 encryption keys (GM/T 0015).
    pub key_encipherment: bool,
    /// dataEncipherment — SM2 encryption certificates (GM/T 0015).
    pub data_encipherment: bool,
    /// keyAgreement — only meaningful for EC/SM2 keys.
    pub key_agreement: bool,
}

/// Configuration of one profile in `caforge.toml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Validity used when `--days` is not given.
    pub default_days: Option<u32>,
    /// Maximum validity. For `tls-server` this replaces the CA/B Forum schedule: set it only
    /// for a private deployment whose relying parties do not enforce the BRs.
    pub max_days: Option<u32>,
    /// Subject attribute types allowed (short names such as `CN` or dotted OIDs); the
    /// built-in list ([`crate::policy::DEFAULT_SUBJECT_ATTRIBUTES`]) when absent.
    pub subject_attributes: Option<Vec<String>>,
    /// certificatePolicies: names from the `[policies]` table or dotted OIDs, in order.
    pub policies: Option<Vec<String>>,
}

/// A validated profile, ready for issuance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Which profile this is.
    pub name: ProfileName,
    /// Validity when the request does not ask for one.
    pub default_days: u32,
    /// A fixed cap that overrides the built-in one (CA/B schedule for tls-server).
    pub max_days_override: Option<u32>,
    /// Extended key usages.
    pub eku: Vec<ExtendedKeyUsage>,
    /// Whether at least one SAN is required.
    pub requires_san: bool,
    /// Subject attribute types allowed.
    pub subject_attributes: Vec<const_oid::ObjectIdentifier>,
    /// The policies its certificates assert (none by default).
    pub policies: Vec<CertificatePolicy>,
}

/// A profile configuration that is not valid.
#[derive(Debug, Clone, thiserror::Error)]
#[error("profile {profile}: {reason}")]
pub struct InvalidProfile {
    /// The profile.
    pub profile: String,
    /// Why it is invalid.
    pub reason: String,
}

impl Profile {
    /// The built-in profile with caforge's defaults.
    pub fn builtin(name: ProfileName) -> Profile {
        let (default_days, eku, requires_san) = match name {
            ProfileName::TlsServer => (90, vec![ExtendedKeyUsage::ServerAuth], true),
            ProfileName::TlsClient => (365, vec![ExtendedKeyUsage::ClientAuth], false),
            ProfileName::CodeSigning => (365, vec![ExtendedKeyUsage::CodeSigning], false),
            ProfileName::Email => (365, vec![ExtendedKeyUsage::EmailProtection], true),
        };
        Profile {
            name,
            default_days,
            max_days_override: None,
            eku,
            requires_san,
            subject_attributes: crate::policy::DEFAULT_SUBJECT_ATTRIBUTES
                .iter()
                .filter_map(|n| crate::policy::attribute_type(n).ok())
                .collect(),
            policies: vec![],
        }
    }

    /// The built-in profile adjusted by `config`, its policies named in `catalog`.
    ///
    /// # Errors
    /// [`InvalidProfile`] when the numbers are zero or contradict each other, or a policy
    /// is unknown, repeated or (for tls-server) carries a user notice.
    pub fn with_config(
        name: ProfileName,
        config: &ProfileConfig,
        catalog: &PolicyCatalog,
    ) -> Result<Profile, InvalidProfile> {
        let mut p = Profile::builtin(name);
        let bad = |reason: &str| InvalidProfile {
            profile: name.to_string(),
            reason: reason.to_owned(),
        };
        if let Some(max) = config.max_days {
            if max == 0 {
                return Err(bad("max_days must be at least 1"));
            }
            p.max_days_override = Some(max);
        }
        if let Some(d) = config.default_days {
            if d == 0 {
                return Err(bad("default_days must be at least 1"));
            }
            p.default_days = d;
        }
        if let Some(max) = p.max_days_override {
            if p.default_days > max {
                return Err(bad("default_days exceeds max_days"));
            }
        }
        if let Some(list) = &config.subject_attributes {
            if list.is_empty() {
                return Err(bad("subject_attributes must list at least one type"));
            }
            p.subject_attributes = list
                .iter()
                .map(|n| crate::policy::attribute_type(n).map_err(|e| bad(&e)))
                .collect::<Result<_, _>>()?;
        }
        if let Some(refs) = &config.policies {
            p.policies = catalog.resolve(refs).map_err(|e| bad(&e))?;
            if name == ProfileName::TlsServer {
                if p.policies
                    .iter()
                    .any(|p| p.oid == crate::certpolicy::ANY_POLICY)
                {
                    return Err(bad(
                        "anyPolicy (2.5.29.32.0) is for CA certificates; a TLS server certificate names its policies (CA/B BR 7.1.2.7.9)",
                    ));
                }
                if let Some(n) = p.policies.iter().find(|p| p.notice.is_some()) {
                    return Err(bad(&format!(
                        "policy {} carries a user notice, which a TLS server certificate must not (CA/B BR 7.1.2.7.9); give it a CPS URI only",
                        n.oid
                    )));
                }
            }
        }
        Ok(p)
    }

    /// Key usage bits for a subject key of the given kind. RFC 5280 §4.2.1.3 and the CA/B
    /// BRs §7.1.2.7.11: keyEncipherment only for RSA, keyAgreement never by default.
    pub fn key_usage(&self, subject_is_rsa: bool) -> KeyUsageBits {
        match self.name {
            ProfileName::TlsServer | ProfileName::TlsClient => KeyUsageBits {
                digital_signature: true,
                key_encipherment: subject_is_rsa && self.name == ProfileName::TlsServer,
                ..KeyUsageBits::default()
            },
            ProfileName::CodeSigning => KeyUsageBits {
                digital_signature: true,
                ..KeyUsageBits::default()
            },
            ProfileName::Email => KeyUsageBits {
                digital_signature: true,
                non_repudiation: true,
                key_encipherment: subject_is_rsa,
                ..KeyUsageBits::default()
            },
        }
    }
}

/// All profiles, as configured.
#[derive(Clone, Debug)]
pub struct Profiles(BTreeMap<ProfileName, Profile>);

impl Profiles {
    /// The built-in set.
    pub fn builtin() -> Profiles {
        Profiles(
            ProfileName::ALL
                .into_iter()
                .map(|n| (n, Profile::builtin(n)))
                .collect(),
        )
    }

    /// The built-in set adjusted by the `[profiles]` table of `caforge.toml`, with policies
    /// named in `catalog`.
    ///
    /// # Errors
    /// [`InvalidProfile`] for unknown profile names, invalid numbers or policies.
    pub fn from_config(
        config: &BTreeMap<String, ProfileConfig>,
        catalog: &PolicyCatalog,
    ) -> Result<Profiles, InvalidProfile> {
        let mut profiles = Profiles::builtin();
        for (name, cfg) in config {
            let pname: ProfileName = name.parse().map_err(|e: UnknownProfile| InvalidProfile {
                profile: name.clone(),
                reason: e.to_string(),
            })?;
            profiles
                .0
                .insert(pname, Profile::with_config(pname, cfg, catalog)?);
        }
        Ok(profiles)
    }

    /// The profile called `name`.
    pub fn get(&self, name: ProfileName) -> Profile {
        self.0
            .get(&name)
            .cloned()
            .unwrap_or_else(|| Profile::builtin(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_overrides_are_validated() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "tls-server".to_owned(),
            ProfileConfig {
                default_days: Some(30),
                max_days: Some(397),
                subject_attributes: Some(vec!["cn".into(), "O".into(), "2.5.4.65".into()]),
                policies: Some(vec!["2.23.140.1.2.1".into()]),
            },
        );
        let p = Profiles::from_config(&cfg, &PolicyCatalog::default())
            .expect("valid")
            .get(ProfileName::TlsServer);
        assert_eq!(p.default_days, 30);
        assert_eq!(p.max_days_override, Some(397));
        assert_eq!(p.subject_attributes.len(), 3);
        assert_eq!(p.policies.len(), 1);

        cfg.insert("nope".to_owned(), ProfileConfig::default());
        assert!(Profiles::from_config(&cfg, &PolicyCatalog::default()).is_err());

        let bad = ProfileConfig {
            default_days: Some(400),
            max_days: Some(100),
            subject_attributes: None,
            policies: None,
        };
        assert!(
            Profile::with_config(ProfileName::TlsClient, &bad, &PolicyCatalog::default()).is_err()
        );
        for list in [vec![], vec!["commonName".to_owned()]] {
            let bad = ProfileConfig {
                subject_attributes: Some(list),
                ..ProfileConfig::default()
            };
            assert!(
                Profile::with_config(ProfileName::TlsClient, &bad, &PolicyCatalog::default())
                    .is_err()
            );
        }
        // Unknown policy names, and a user notice on a TLS server profile, are refused.
        let unknown = ProfileConfig {
            policies: Some(vec!["nope".into()]),
            ..ProfileConfig::default()
        };
        assert!(
            Profile::with_config(ProfileName::TlsClient, &unknown, &PolicyCatalog::default())
                .is_err()
        );
        let mut table = BTreeMap::new();
        table.insert(
            "noticed".to_owned(),
            crate::certpolicy::PolicyConfig {
                oid: "1.3.6.1.4.1.55555.2".into(),
                cps: None,
                notice: Some("Lab only".into()),
            },
        );
        let catalog = PolicyCatalog::from_config(&table).expect("valid");
        let noticed = ProfileConfig {
            policies: Some(vec!["noticed".into()]),
            ..ProfileConfig::default()
        };
        assert!(Profile::with_config(ProfileName::TlsServer, &noticed, &catalog).is_err());
        assert!(Profile::with_config(ProfileName::Email, &noticed, &catalog).is_ok());
    }

    #[test]
    fn toml_rejects_unknown_fields() {
        let r: Result<ProfileConfig, _> = toml::from_str("max_dayz = 3");
        assert!(r.is_err());
    }
}
