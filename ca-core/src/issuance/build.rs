//! The one certificate-building path: a [`CertificateTemplate`] becomes TBSCertificate DER
//! (the bytes to sign); any [`Signer`] signs them; [`assemble_certificate`] attaches the
//! signature. Remote signers (HSMs) need nothing but `sign`.

use der::asn1::BitString;
use der::{AnyRef, Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::time::Validity;

use super::SerialNumber;
use crate::algorithm::SignatureAlgorithm;
use crate::x509::Time5280;

/// `TBSCertificate` for a v3 certificate (RFC 5280 §4.1), as caforge writes it.
///
/// ```text
/// TBSCertificate  ::=  SEQUENCE  {
///      version         [0]  EXPLICIT Version DEFAULT v1,
///      serialNumber         CertificateSerialNumber,
///      signature            AlgorithmIdentifier,
///      issuer               Name,
///      validity             Validity,
///      subject              Name,
///      subjectPublicKeyInfo SubjectPublicKeyInfo,
///      extensions      [3]  EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Sequence)]
struct TbsCertificateV3<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: der::asn1::UintRef<'a>,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`
/// (RFC 5280 §4.1), with the TBS carried as the exact bytes that were signed.
#[derive(Sequence)]
struct SignedCertificate<'a> {
    tbs: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// Everything that goes into a certificate except the signature.
#[derive(Clone, Debug)]
pub struct CertificateTemplate {
    /// serialNumber.
    pub serial: SerialNumber,
    /// The issuer's subject name.
    pub issuer: Name,
    /// The subject name (may be empty when a critical SAN carries the identity).
    pub subject: Name,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// The subject's public key.
    pub spki: SubjectPublicKeyInfoOwned,
    /// Extensions, in the order they will be encoded.
    pub extensions: Vec<Extension>,
    /// The issuer's signature algorithm.
    pub signature_algorithm: SignatureAlgorithm,
}

impl CertificateTemplate {
    /// The DER TBSCertificate: the bytes the issuer signs.
    ///
    /// # Errors
    /// DER encoding errors (e.g. a date outside RFC 5280's range).
    pub fn to_tbs_der(&self) -> der::Result<Vec<u8>> {
        let tbs = TbsCertificateV3 {
            version: 2,
            serial_number: der::asn1::UintRef::new(self.serial.as_bytes())?,
            signature: self.signature_algorithm.algorithm_identifier(),
            issuer: self.issuer.clone(),
            validity: Validity::new(
                Time5280::encode(self.not_before)?,
                Time5280::encode(self.not_after)?,
            ),
            subject: self.subject.clone(),
            subject_public_key_info: self.spki.clone(),
            extensions: if self.extensions.is_empty() {
                None
            } else {
                Some(self.extensions.clone())
            },
        };
        tbs.to_der()
    }
}

/// Attaches `signature` (BIT STRING contents) to `tbs_der` and returns the certificate DER.
/// `tbs_der` is embedded as given: the issuance pipeline has already decoded it as an RFC
/// 5280 TBSCertificate when it linted it ([`crate::lint::lint_tbs_der`]).
///
/// # Errors
/// When `tbs_der` is not one DER element, or the result does not encode.
pub fn assemble_certificate(
    tbs_der: &[u8],
    algorithm: SignatureAlgorithm,
    signature: &[u8],
) -> der::Result<Vec<u8>> {
    let cert = SignedCertificate {
        tbs: AnyRef::from_der(tbs_der)?,
        signature_algorithm: algorithm.algorithm_identifier(),
        signature: BitString::from_bytes(signature)?,
    };
    cert.to_der()
}
