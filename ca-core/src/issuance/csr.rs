//! PKCS#10 certification requests (RFC 2986): parsing with bounded size and proof of
//! possession (the request's self-signature must verify with its own key).

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName as X509San;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, ExtensionReq};

use crate::algorithm::{oid, DEFAULT_SM2_ID};
use crate::keys::{verify_signature, PublicKeyDescription};
use crate::policy::SubjectAltName;

/// Largest CSR accepted, PEM or DER. Real CSRs are a few KiB.
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// Why a CSR was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrError {
    /// Larger than [`MAX_CSR_BYTES`].
    #[error("CSR is {0} bytes; the limit is {MAX_CSR_BYTES}")]
    TooLarge(usize),
    /// Not PEM, not DER, or not a PKCS#10 structure.
    #[error("not a valid PKCS#10 CSR: {0}")]
    Malformed(String),
    /// The self-signature does not verify: no proof of possession.
    #[error("CSR signature does not verify (no proof of possession of the private key): {0}")]
    BadSignature(String),
    /// The key is refused by key policy (checked before the signature, whose verifier
    /// would otherwise reject a short RSA key with a less useful message).
    #[error("{0}")]
    KeyPolicy(String),
    /// The requested extensions could not be read.
    #[error("CSR extension request: {0}")]
    BadExtension(String),
}

/// A PKCS#10 request (RFC 2986, DER) for `signer`'s key with `subject` and no attributes,
/// signed by that key (for benchmarks and tests; clients bring their own CSRs).
///
/// # Errors
/// Encoding or signing failures.
pub fn build_csr(signer: &dyn crate::keys::Signer, subject: &Name) -> crate::Result<Vec<u8>> {
    let info = x509_cert::request::CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: subject.clone(),
        public_key: signer.public_key_info().clone(),
        attributes: Default::default(),
    };
    let signature = signer.sign(&info.to_der()?)?;
    Ok(CertReq {
        info,
        algorithm: signer
            .key_type()
            .signature_algorithm()
            .algorithm_identifier(),
        signature: der::asn1::BitString::from_bytes(&signature)?,
    }
    .to_der()?)
}

/// The outer CSR structure with the signed part kept as raw bytes, so that proof of
/// possession checks exactly what the requester signed.
#[derive(Sequence)]
struct RawCsr<'a> {
    info: AnyRef<'a>,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitStringRef<'a>,
}

/// A CSR whose signature has been verified.
#[derive(Clone, Debug)]
pub struct ParsedCsr {
    /// The requested subject name.
    pub subject: Name,
    /// The subject's public key.
    pub spki: SubjectPublicKeyInfoOwned,
    /// The kind of key.
    pub key: PublicKeyDescription,
    /// SANs from the extensionRequest attribute, validated by caforge's SAN rules.
    pub requested_sans: Vec<SubjectAltName>,
    /// For SM2 CSRs: the signer ID that made the signature verify.
    pub sm2_id: Option<String>,
}

impl ParsedCsr {
    /// Parses PEM (`CERTIFICATE REQUEST` / `NEW CERTIFICATE REQUEST`) or DER bytes and verifies
    /// proof of possession. SM2 CSRs are accepted with the GM/T 0009 default signer ID or the
    /// empty one that OpenSSL 3.0 uses unless given `-sigopt distid:…`.
    ///
    /// # Errors
    /// [`CsrError`] for anything that is not a well-formed, correctly self-signed CSR.
    pub fn parse(input: &[u8]) -> Result<ParsedCsr, CsrError> {
        if input.len() > MAX_CSR_BYTES {
            return Err(CsrError::TooLarge(input.len()));
        }
        let der = to_der(input)?;
        let raw = RawCsr::from_der(&der).map_err(|e| CsrError::Malformed(e.to_string()))?;
        let req = CertReq::from_der(&der).map_err(|e| CsrError::Malformed(e.to_string()))?;
        if req.info.version != x509_cert::request::Version::V1 {
            return Err(CsrError::Malformed("unsupported CSR version".into()));
        }
        let info_der = raw
            .info
            .to_der()
            .map_err(|e| CsrError::Malformed(e.to_string()))?;
        let signature = raw
            .signature
            .as_bytes()
            .ok_or_else(|| CsrError::Malformed("signature BIT STRING has unused bits".into()))?;
        let spki = req.info.public_key.clone();
        let key =
            PublicKeyDescription::of(&spki).map_err(|e| CsrError::Malformed(e.to_string()))?;
        crate::policy::check_subject_key(key).map_err(|e| CsrError::KeyPolicy(e.to_string()))?;

        let sm2_id = if key == PublicKeyDescription::Sm2 {
            if raw.algorithm.oid != oid::SM3_WITH_SM2 {
                return Err(CsrError::BadSignature(format!(
                    "an SM2 key must sign with SM3withSM2, not {}",
                    raw.algorithm.oid
                )));
            }
            let id = [DEFAULT_SM2_ID, ""]
                .into_iter()
                .find(|id| {
                    verify_signature(&spki, raw.algorithm.oid, &info_der, signature, id).is_ok()
                })
                .ok_or_else(|| {
                    CsrError::BadSignature(
                        "SM2 signature fails with signer ID 1234567812345678 and with the empty ID"
                            .into(),
                    )
                })?;
            Some(id.to_owned())
        } else {
            verify_signature(&spki, raw.algorithm.oid, &info_der, signature, "")
                .map_err(|e| CsrError::BadSignature(e.to_string()))?;
            None
        };

        let requested_sans = requested_sans(&req)?;
        Ok(ParsedCsr {
            subject: req.info.subject.clone(),
            spki,
            key,
            requested_sans,
            sm2_id,
        })
    }
}

fn to_der(input: &[u8]) -> Result<Vec<u8>, CsrError> {
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed)
            .map_err(|_| CsrError::Malformed("PEM is not valid UTF-8".into()))?;
        let (label, der) = der::pem::decode_vec(text.as_bytes())
            .map_err(|e| CsrError::Malformed(format!("bad PEM: {e}")))?;
        if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
            return Err(CsrError::Malformed(format!(
                "PEM label is '{label}', expected 'CERTIFICATE REQUEST'"
            )));
        }
        Ok(der)
    } else if trimmed.first() == Some(&0x30) {
        Ok(input.to_vec())
    } else {
        Err(CsrError::Malformed("neither PEM nor DER".into()))
    }
}

fn requested_sans(req: &CertReq) -> Result<Vec<SubjectAltName>, CsrError> {
    let mut out = Vec::new();
    for attr in req.info.attributes.iter() {
        if attr.oid != <ExtensionReq as const_oid::AssociatedOid>::OID {
            continue;
        }
        for value in attr.values.iter() {
            let exts = value
                .decode_as::<ExtensionReq>()
                .map_err(|e| CsrError::BadExtension(e.to_string()))?;
            for ext in exts.0 {
                if ext.extn_id != <X509San as const_oid::AssociatedOid>::OID {
                    continue;
                }
                let san = X509San::from_der(ext.extn_value.as_bytes())
                    .map_err(|e| CsrError::BadExtension(format!("subjectAltName: {e}")))?;
                for name in san.0 {
                    let text = match name {
                        GeneralName::DnsName(d) => format!("dns:{}", d.as_str()),
                        GeneralName::Rfc822Name(e) => format!("email:{}", e.as_str()),
                        GeneralName::UniformResourceIdentifier(u) => format!("uri:{}", u.as_str()),
                        GeneralName::IpAddress(ip) => {
                            let b = ip.as_bytes();
                            let addr: std::net::IpAddr = match b.len() {
                                4 => std::net::Ipv4Addr::from([b[0], b[1], b[2], b[3]]).into(),
                                16 => {
                                    let mut a = [0u8; 16];
                                    a.copy_from_slice(b);
                                    std::net::Ipv6Addr::from(a).into()
                                }
                                _ => {
                                    return Err(CsrError::BadExtension(
                                        "IP address SAN of wrong length".into(),
                                    ))
                                }
                            };
                            format!("ip:{addr}")
                        }
                        _ => {
                            return Err(CsrError::BadExtension(
                                "only dNSName, iPAddress, rfc822Name and URI SANs are supported"
                                    .into(),
                            ))
                        }
                    };
                    let parsed: SubjectAltName =
                        text.parse().map_err(|e: crate::policy::PolicyError| {
                            CsrError::BadExtension(e.to_string())
                        })?;
                    out.push(parsed);
                }
            }
        }
    }
    Ok(out)
}
