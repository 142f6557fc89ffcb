//! Lints run on every certificate before it is signed; a failing lint stops issuance.
//!
//! Sources: RFC 5280 (§4.1.2.2 serials, §4.1.2.5 validity, §4.2 extensions), the CA/B
//! Forum BRs §7.1 (TLS server certificates) and GM/T 0015-2012 (SM2 certificates sign
//! with SM3withSM2 and carry SM2-curve keys).

use std::collections::HashSet;

use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_SERVER_AUTH,
};
use der::Decode;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

use crate::algorithm::{KeyType, SignatureAlgorithm};
use crate::issuance::CertificateTemplate;
use crate::keys::PublicKeyDescription;
use crate::profile::ProfileName;

/// What kind of certificate is being linted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateKind {
    /// A self-signed root.
    Root,
    /// A subordinate CA.
    Intermediate,
    /// An end-entity certificate under a profile.
    Leaf(ProfileName),
    /// A delegated OCSP responder (RFC 6960 §4.2.2.2).
    OcspResponder,
}

impl CertificateKind {
    fn is_ca(self) -> bool {
        matches!(self, CertificateKind::Root | CertificateKind::Intermediate)
    }
}

/// A certificate about to be signed, with the facts lints need.
#[derive(Debug)]
pub struct LintTarget<'a> {
    /// The certificate.
    pub template: &'a CertificateTemplate,
    /// Its kind.
    pub kind: CertificateKind,
    /// The issuer key's type.
    pub issuer_key_type: KeyType,
}

/// One lint failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lint {lint} failed: {message}")]
pub struct LintFailure {
    /// The lint's name.
    pub lint: &'static str,
    /// What is wrong.
    pub message: String,
}

/// A single check.
pub trait Lint: Send + Sync {
    /// A stable name, e.g. `e_serial_positive`.
    fn name(&self) -> &'static str;
    /// Checks the target.
    ///
    /// # Errors
    /// A message saying what is wrong.
    fn check(&self, target: &LintTarget<'_>) -> Result<(), String>;
}

type LintFn = fn(&LintTarget<'_>) -> Result<(), String>;

struct FnLint(&'static str, LintFn);

impl Lint for FnLint {
    fn name(&self) -> &'static str {
        self.0
    }
    fn check(&self, target: &LintTarget<'_>) -> Result<(), String> {
        (self.1)(target)
    }
}

fn extension<'a>(
    t: &'a LintTarget<'_>,
    oid: const_oid::ObjectIdentifier,
) -> Option<&'a x509_cert::ext::Extension> {
    t.template.extensions.iter().find(|e| e.extn_id == oid)
}

fn serial_rules(t: &LintTarget<'_>) -> Result<(), String> {
    let b = t.template.serial.as_bytes();
    if b.is_empty() || b.len() > 20 || b[0] & 0x80 != 0 || b.iter().all(|x| *x == 0) {
        return Err("serial must be positive and at most 20 octets (RFC 5280 §4.1.2.2)".into());
    }
    if b.len() < 9 {
        return Err("serial carries fewer than 64 random bits (CA/B BRs §7.1)".into());
    }
    Ok(())
}

fn validity_order(t: &LintTarget<'_>) -> Result<(), String> {
    if t.template.not_before >= t.template.not_after {
        return Err("notBefore is not before notAfter".into());
    }
    Ok(())
}

fn unique_extensions(t: &LintTarget<'_>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for e in &t.template.extensions {
        if !seen.insert(e.extn_id) {
            return Err(format!(
                "extension {} appears twice (RFC 5280 §4.2)",
                e.extn_id
            ));
        }
    }
    Ok(())
}

fn ca_basics(t: &LintTarget<'_>) -> Result<(), String> {
    let is_ca = t.kind.is_ca();
    let bc = extension(t, ID_CE_BASIC_CONSTRAINTS).ok_or("basicConstraints missing")?;
    let parsed = BasicConstraints::from_der(bc.extn_value.as_bytes()).map_err(|e| e.to_string())?;
    if parsed.ca != is_ca {
        return Err(format!(
            "basicConstraints cA={} on a {:?} certificate",
            parsed.ca, t.kind
        ));
    }
    if is_ca && !bc.critical {
        return Err(
            "basicConstraints must be critical in a CA certificate (RFC 5280 §4.2.1.9)".into(),
        );
    }
    let ku = extension(t, ID_CE_KEY_USAGE).ok_or("keyUsage missing")?;
    let usage = KeyUsage::from_der(ku.extn_value.as_bytes()).map_err(|e| e.to_string())?;
    if is_ca && !usage.0.contains(KeyUsages::KeyCertSign) {
        return Err("CA certificate without keyCertSign (RFC 5280 §4.2.1.3)".into());
    }
    if !is_ca && (usage.0.contains(KeyUsages::KeyCertSign) || usage.0.contains(KeyUsages::CRLSign))
    {
        return Err("end-entity certificate asserts keyCertSign or cRLSign".into());
    }
    if is_ca && t.template.subject.is_empty() {
        return Err("CA certificate with an empty subject (RFC 5280 §4.1.2.6)".into());
    }
    Ok(())
}

fn key_identifiers(t: &LintTarget<'_>) -> Result<(), String> {
    let is_ca = t.kind.is_ca();
    if is_ca && extension(t, ID_CE_SUBJECT_KEY_IDENTIFIER).is_none() {
        return Err("CA certificate without subjectKeyIdentifier (RFC 5280 §4.2.1.2)".into());
    }
    if t.kind != CertificateKind::Root && extension(t, ID_CE_AUTHORITY_KEY_IDENTIFIER).is_none() {
        return Err("authorityKeyIdentifier missing (RFC 5280 §4.2.1.1)".into());
    }
    Ok(())
}

fn subject_or_san(t: &LintTarget<'_>) -> Result<(), String> {
    if t.template.subject.is_empty() {
        match extension(t, ID_CE_SUBJECT_ALT_NAME) {
            Some(san) if san.critical => Ok(()),
            Some(_) => Err(
                "subjectAltName must be critical when the subject is empty (RFC 5280 §4.2.1.6)"
                    .into(),
            ),
            None => Err("empty subject and no subjectAltName".into()),
        }
    } else {
        Ok(())
    }
}

fn tls_server(t: &LintTarget<'_>) -> Result<(), String> {
    if t.kind != CertificateKind::Leaf(ProfileName::TlsServer) {
        return Ok(());
    }
    if extension(t, ID_CE_SUBJECT_ALT_NAME).is_none() {
        return Err("TLS server certificate without subjectAltName (CA/B BRs §7.1.2.7.12)".into());
    }
    let eku =
        extension(t, ID_CE_EXT_KEY_USAGE).ok_or("TLS server certificate without extKeyUsage")?;
    let parsed =
        ExtendedKeyUsage::from_der(eku.extn_value.as_bytes()).map_err(|e| e.to_string())?;
    if !parsed.0.contains(&ID_KP_SERVER_AUTH) {
        return Err("TLS server certificate without id-kp-serverAuth".into());
    }
    Ok(())
}

fn signature_algorithm_matches_issuer(t: &LintTarget<'_>) -> Result<(), String> {
    let expected = t.issuer_key_type.signature_algorithm();
    if t.template.signature_algorithm != expected {
        return Err(format!(
            "signature algorithm {} does not match the issuer's {} key",
            t.template.signature_algorithm.name(),
            t.issuer_key_type
        ));
    }
    Ok(())
}

fn gmt_0015_sm2(t: &LintTarget<'_>) -> Result<(), String> {
    let subject = PublicKeyDescription::of(&t.template.spki).map_err(|e| e.to_string())?;
    if t.issuer_key_type == KeyType::Sm2
        && t.template.signature_algorithm != SignatureAlgorithm::Sm2Sm3
    {
        return Err("an SM2 issuer must sign with SM3withSM2 (GM/T 0015 §7.1)".into());
    }
    if subject == PublicKeyDescription::Sm2
        && t.template.spki.algorithm.oid != crate::algorithm::oid::EC_PUBLIC_KEY
    {
        return Err("SM2 keys are id-ecPublicKey with the SM2 curve (GM/T 0015 §7.2)".into());
    }
    Ok(())
}

/// The lints every certificate passes before signing.
pub fn certificate_lints() -> Vec<Box<dyn Lint>> {
    let all: [(&'static str, LintFn); 9] = [
        ("e_serial_rules", serial_rules),
        ("e_validity_order", validity_order),
        ("e_unique_extensions", unique_extensions),
        ("e_ca_basics", ca_basics),
        ("e_key_identifiers", key_identifiers),
        ("e_subject_or_critical_san", subject_or_san),
        ("e_tls_server_san_and_eku", tls_server),
        (
            "e_signature_algorithm_matches_issuer",
            signature_algorithm_matches_issuer,
        ),
        ("e_gmt0015_sm2", gmt_0015_sm2),
    ];
    all.into_iter()
        .map(|(n, f)| Box::new(FnLint(n, f)) as Box<dyn Lint>)
        .collect()
}

/// Runs every lint and returns the first failure.
///
/// # Errors
/// [`LintFailure`] naming the lint.
pub fn lint_certificate(target: &LintTarget<'_>) -> Result<(), LintFailure> {
    for lint in certificate_lints() {
        lint.check(target).map_err(|message| LintFailure {
            lint: lint.name(),
            message,
        })?;
    }
    Ok(())
}
