//! Lints run on every certificate before it is signed; a failing lint stops issuance. They
//! read the TBSCertificate decoded from the very DER that is then signed
//! ([`lint_tbs_der`]), not the template it was built from.
//!
//! Sources: RFC 5280 (§4.1.2.2 serials, §4.1.2.5 validity, §4.2 extensions), the CA/B
//! Forum BRs §7.1 (TLS server certificates) and GM/T 0015-2012 (SM2 certificates sign
//! with SM3withSM2 and carry SM2-curve keys).

use std::collections::HashSet;

use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_SERVER_AUTH,
};
use der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::TbsCertificate;

use crate::algorithm::{KeyType, SignatureAlgorithm};
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
    /// The TBSCertificate, decoded from the DER to be signed.
    pub tbs: &'a TbsCertificate,
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
    extensions(t).iter().find(|e| e.extn_id == oid)
}

fn extensions<'a>(t: &'a LintTarget<'_>) -> &'a [x509_cert::ext::Extension] {
    t.tbs.extensions().map_or(&[], Vec::as_slice)
}

fn serial_rules(t: &LintTarget<'_>) -> Result<(), String> {
    // The INTEGER's content octets exactly as encoded.
    let encoded = t.tbs.serial_number().to_der().map_err(|e| e.to_string())?;
    let b = encoded.get(2..).unwrap_or_default();
    if b.is_empty() || b.len() > 20 || b[0] & 0x80 != 0 || b.iter().all(|x| *x == 0) {
        return Err("serial must be positive and at most 20 octets (RFC 5280 §4.1.2.2)".into());
    }
    if b.len() < 9 {
        return Err("serial carries fewer than 64 random bits (CA/B BRs §7.1)".into());
    }
    Ok(())
}

fn validity_order(t: &LintTarget<'_>) -> Result<(), String> {
    let v = t.tbs.validity();
    if v.not_before.to_unix_duration() >= v.not_after.to_unix_duration() {
        return Err("notBefore is not before notAfter".into());
    }
    Ok(())
}

fn unique_extensions(t: &LintTarget<'_>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for e in extensions(t) {
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
    if is_ca && t.tbs.subject().is_empty() {
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
    if t.tbs.subject().is_empty() {
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
    if *t.tbs.signature() != expected.algorithm_identifier() {
        return Err(format!(
            "signature algorithm {} does not match the issuer's {} key (which signs with {})",
            t.tbs.signature().oid,
            t.issuer_key_type,
            expected.name()
        ));
    }
    Ok(())
}

fn gmt_0015_sm2(t: &LintTarget<'_>) -> Result<(), String> {
    let spki = t.tbs.subject_public_key_info();
    let subject = PublicKeyDescription::of(spki).map_err(|e| e.to_string())?;
    if t.issuer_key_type == KeyType::Sm2
        && t.tbs.signature().oid != SignatureAlgorithm::Sm2Sm3.oid()
    {
        return Err("an SM2 issuer must sign with SM3withSM2 (GM/T 0015 §7.1)".into());
    }
    if subject == PublicKeyDescription::Sm2 {
        let point = spki.subject_public_key.raw_bytes();
        if point.len() != 65 || point[0] != 0x04 {
            return Err(
                "an SM2 public key is an uncompressed point, 04 || X || Y (GM/T 0009)".into(),
            );
        }
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

/// Decodes `tbs_der` (the bytes about to be signed) and runs every lint on it.
///
/// # Errors
/// [`LintFailure`] naming the first lint that failed (`e_tbs_decodes` when the DER is not
/// an RFC 5280 TBSCertificate).
pub fn lint_tbs_der(
    tbs_der: &[u8],
    kind: CertificateKind,
    issuer_key_type: KeyType,
) -> Result<(), LintFailure> {
    let tbs = TbsCertificate::from_der(tbs_der).map_err(|e| LintFailure {
        lint: "e_tbs_decodes",
        message: e.to_string(),
    })?;
    lint_certificate(&LintTarget {
        tbs: &tbs,
        kind,
        issuer_key_type,
    })
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

#[cfg(test)]
mod tests {
    //! Each lint fires on DER that breaks its rule, and the certificate that breaks nothing
    //! passes every lint.

    use std::str::FromStr;

    use time::{Duration, OffsetDateTime};
    use x509_cert::name::Name;

    use super::*;
    use crate::algorithm::DEFAULT_SM2_ID;
    use crate::issuance::{self, CertificateTemplate, SerialNumber};
    use crate::keys::{Signer, SoftwareKey};
    use crate::profile::{ExtendedKeyUsage as Eku, KeyUsageBits};

    const TLS: CertificateKind = CertificateKind::Leaf(ProfileName::TlsServer);

    fn key(key_type: KeyType) -> spki::SubjectPublicKeyInfoOwned {
        SoftwareKey::generate(key_type, DEFAULT_SM2_ID)
            .expect("key")
            .public_key_info()
            .clone()
    }

    /// A TLS server certificate under a P-256 issuer that every lint accepts.
    fn tls_leaf() -> CertificateTemplate {
        let spki = key(KeyType::P256);
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        CertificateTemplate {
            serial: SerialNumber::random().expect("serial"),
            issuer: Name::from_str("CN=Lint Issuer").expect("name"),
            subject: Name::from_str("CN=www.example.com").expect("name"),
            not_before: now,
            not_after: now + Duration::days(90),
            extensions: vec![
                issuance::basic_constraints(false, None).expect("bc"),
                issuance::leaf_key_usage(KeyUsageBits {
                    digital_signature: true,
                    ..Default::default()
                })
                .expect("ku"),
                issuance::extended_key_usage(&[Eku::ServerAuth]).expect("eku"),
                issuance::subject_key_identifier(&issuance::key_identifier(&spki)).expect("ski"),
                issuance::authority_key_identifier(&[7; 20]).expect("aki"),
                issuance::subject_alt_name(&["dns:www.example.com".parse().expect("san")], false)
                    .expect("san"),
            ],
            spki,
            signature_algorithm: SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    /// A root CA certificate that every lint accepts.
    fn root() -> CertificateTemplate {
        let mut t = tls_leaf();
        t.subject = t.issuer.clone();
        t.extensions = vec![
            issuance::basic_constraints(true, None).expect("bc"),
            issuance::ca_key_usage().expect("ku"),
            issuance::subject_key_identifier(&[7; 20]).expect("ski"),
        ];
        t
    }

    fn lint(t: &CertificateTemplate, kind: CertificateKind, issuer: KeyType) -> Result<(), &str> {
        lint_tbs_der(&t.to_tbs_der().expect("tbs"), kind, issuer).map_err(|f| f.lint)
    }

    /// Every lint that fails on `t`'s DER, not only the first.
    fn fired(t: &CertificateTemplate, kind: CertificateKind, issuer: KeyType) -> Vec<&'static str> {
        let tbs = TbsCertificate::from_der(&t.to_tbs_der().expect("tbs")).expect("decodes");
        let target = LintTarget {
            tbs: &tbs,
            kind,
            issuer_key_type: issuer,
        };
        certificate_lints()
            .iter()
            .filter(|l| l.check(&target).is_err())
            .map(|l| l.name())
            .collect()
    }

    fn without(t: &mut CertificateTemplate, oid: const_oid::ObjectIdentifier) {
        t.extensions.retain(|e| e.extn_id != oid);
    }

    #[test]
    fn well_formed_certificates_pass_every_lint() {
        assert_eq!(lint(&tls_leaf(), TLS, KeyType::P256), Ok(()));
        assert_eq!(lint(&root(), CertificateKind::Root, KeyType::P256), Ok(()));
    }

    #[test]
    fn bytes_that_are_not_a_tbs_certificate_are_refused() {
        let der = tls_leaf().to_tbs_der().expect("tbs");
        let cut = lint_tbs_der(&der[..der.len() - 1], TLS, KeyType::P256);
        assert_eq!(cut.map_err(|f| f.lint), Err("e_tbs_decodes"));
    }

    #[test]
    fn e_serial_rules_fires_on_a_short_serial() {
        let mut t = tls_leaf();
        t.serial = SerialNumber::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).expect("serial");
        assert_eq!(fired(&t, TLS, KeyType::P256), ["e_serial_rules"]);
    }

    #[test]
    fn e_validity_order_fires_when_not_after_is_not_later() {
        let mut t = tls_leaf();
        t.not_after = t.not_before;
        assert_eq!(fired(&t, TLS, KeyType::P256), ["e_validity_order"]);
    }

    #[test]
    fn e_unique_extensions_fires_on_a_repeated_extension() {
        let mut t = tls_leaf();
        t.extensions.push(t.extensions[0].clone());
        assert_eq!(fired(&t, TLS, KeyType::P256), ["e_unique_extensions"]);
    }

    #[test]
    fn e_ca_basics_fires_on_a_leaf_that_claims_to_be_a_ca() {
        let mut t = tls_leaf();
        t.extensions[0] = issuance::basic_constraints(true, None).expect("bc");
        assert_eq!(fired(&t, TLS, KeyType::P256), ["e_ca_basics"]);
        let mut r = root();
        r.extensions[1] = issuance::leaf_key_usage(KeyUsageBits {
            digital_signature: true,
            ..Default::default()
        })
        .expect("ku");
        assert_eq!(
            fired(&r, CertificateKind::Root, KeyType::P256),
            ["e_ca_basics"]
        );
    }

    #[test]
    fn e_key_identifiers_fires_without_an_authority_key_identifier() {
        let mut t = tls_leaf();
        without(&mut t, ID_CE_AUTHORITY_KEY_IDENTIFIER);
        assert_eq!(fired(&t, TLS, KeyType::P256), ["e_key_identifiers"]);
        let mut r = root();
        without(&mut r, ID_CE_SUBJECT_KEY_IDENTIFIER);
        assert_eq!(
            fired(&r, CertificateKind::Root, KeyType::P256),
            ["e_key_identifiers"]
        );
    }

    #[test]
    fn e_subject_or_critical_san_fires_on_an_empty_subject_with_a_non_critical_san() {
        let mut t = tls_leaf();
        t.subject = Name::default();
        assert_eq!(
            fired(
                &t,
                CertificateKind::Leaf(ProfileName::TlsClient),
                KeyType::P256
            ),
            ["e_subject_or_critical_san"]
        );
    }

    #[test]
    fn e_tls_server_san_and_eku_fires_without_server_auth() {
        let mut t = tls_leaf();
        without(&mut t, ID_CE_EXT_KEY_USAGE);
        t.extensions
            .push(issuance::extended_key_usage(&[Eku::ClientAuth]).expect("eku"));
        assert_eq!(fired(&t, TLS, KeyType::P256), ["e_tls_server_san_and_eku"]);
        let mut t = tls_leaf();
        without(&mut t, ID_CE_SUBJECT_ALT_NAME);
        assert_eq!(fired(&t, TLS, KeyType::P256), ["e_tls_server_san_and_eku"]);
    }

    #[test]
    fn e_signature_algorithm_matches_issuer_fires_on_another_algorithm() {
        assert_eq!(
            fired(&tls_leaf(), TLS, KeyType::Rsa2048),
            ["e_signature_algorithm_matches_issuer"]
        );
    }

    #[test]
    fn e_gmt0015_sm2_fires_on_a_compressed_sm2_key_and_an_sm2_issuer_without_sm3() {
        let mut t = tls_leaf();
        t.spki = key(KeyType::Sm2);
        t.signature_algorithm = SignatureAlgorithm::Sm2Sm3;
        assert_eq!(lint(&t, TLS, KeyType::Sm2), Ok(()));
        let point = t.spki.subject_public_key.raw_bytes().to_vec();
        let mut compressed = vec![0x02 | (point[64] & 1)];
        compressed.extend_from_slice(&point[1..33]);
        t.spki.subject_public_key = der::asn1::BitString::from_bytes(&compressed).expect("bits");
        assert_eq!(fired(&t, TLS, KeyType::Sm2), ["e_gmt0015_sm2"]);
        let mut t = tls_leaf();
        t.signature_algorithm = SignatureAlgorithm::EcdsaP256Sha256;
        assert!(fired(&t, TLS, KeyType::Sm2).contains(&"e_gmt0015_sm2"));
    }
}
