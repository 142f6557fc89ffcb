//! The inventory: certificates caforge did not issue (third-party, another CA's, found on a
//! server by a probe), tracked so expiry reminders cover them. Parsing here is pure: bytes
//! in, certificates (or a clear reason) out.

use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::keys::PublicKeyDescription;
use crate::policy::SubjectAltName;

/// Largest file `inventory import` reads.
pub const MAX_IMPORT_BYTES: u64 = 8 * 1024 * 1024;

/// Most certificates taken from one file (a bundle of a whole trust store is ~150).
pub const MAX_CERTS_PER_FILE: usize = 10_000;

/// Why a file holds no certificate caforge can track.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Larger than [`MAX_IMPORT_BYTES`].
    #[error("larger than {MAX_IMPORT_BYTES} bytes")]
    TooLarge,
    /// Neither PEM certificates nor one DER certificate.
    #[error("not a certificate (expected PEM CERTIFICATE blocks or one DER certificate)")]
    NotACertificate,
    /// A PEM CERTIFICATE block or DER that does not parse.
    #[error("certificate {index} does not parse: {reason}")]
    Malformed {
        /// 1-based position in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// More than [`MAX_CERTS_PER_FILE`] certificates.
    #[error("more than {MAX_CERTS_PER_FILE} certificates")]
    TooMany,
}

/// One certificate read for the inventory, with what listings and reminders need.
#[derive(Clone, Debug)]
pub struct ExternalCertificate {
    /// DER.
    pub der: Vec<u8>,
    /// Hex SHA-256 of the DER (the inventory's identity).
    pub fingerprint: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial (upper-case hex).
    pub serial: String,
    /// DNS, IP, email and URI SANs.
    pub sans: Vec<SubjectAltName>,
    /// Key type (`p256`, `rsa2048`, …, or the algorithm OID when unknown).
    pub key_type: String,
    /// notBefore (Unix seconds).
    pub not_before: i64,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// AuthorityKeyIdentifier keyIdentifier (upper-case hex), when present.
    pub authority_key_id: Option<String>,
    /// Whether it is a CA certificate (basicConstraints cA).
    pub is_ca: bool,
}

impl ExternalCertificate {
    /// Reads one DER certificate.
    ///
    /// # Errors
    /// The DER error, as text.
    pub fn from_der(der: &[u8]) -> Result<ExternalCertificate, String> {
        let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
        // Canonical DER: a certificate that does not re-encode byte for byte is not DER.
        if cert.to_der().map_err(|e| e.to_string())? != der {
            return Err("not DER-encoded".into());
        }
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        let time = |t: &x509_cert::time::Time| -> i64 {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        let mut sans = Vec::new();
        let mut authority_key_id = None;
        let mut is_ca = false;
        for ext in tbs.extensions().into_iter().flatten() {
            let value = ext.extn_value.as_bytes();
            match ext.extn_id {
                const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME => {
                    if let Ok(names) = x509_cert::ext::pkix::SubjectAltName::from_der(value) {
                        sans.extend(names.0.iter().filter_map(SubjectAltName::from_general_name));
                    }
                }
                const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                    if let Ok(aki) = x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(value) {
                        authority_key_id =
                            aki.key_identifier.map(|k| hex::encode_upper(k.as_bytes()));
                    }
                }
                const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS => {
                    if let Ok(bc) = x509_cert::ext::pkix::BasicConstraints::from_der(value) {
                        is_ca = bc.ca;
                    }
                }
                _ => {}
            }
        }
        let spki = tbs.subject_public_key_info();
        let key_type = PublicKeyDescription::of(spki)
            .map_or_else(|_| spki.algorithm.oid.to_string(), |d| d.to_string());
        Ok(ExternalCertificate {
            fingerprint: hex::encode(Sha256::digest(der)),
            subject: crate::x509::name_text(tbs.subject()),
            issuer: crate::x509::name_text(tbs.issuer()),
            serial: hex::encode_upper(tbs.serial_number().as_bytes()),
            sans,
            key_type,
            not_before: time(&validity.not_before),
            not_after: time(&validity.not_after),
            authority_key_id,
            is_ca,
            der: der.to_vec(),
        })
    }
}

/// The certificates in a file's bytes: every PEM `CERTIFICATE` block (other blocks, such as
/// keys, are ignored), or the file as one DER certificate.
///
/// # Errors
/// [`ImportError`] when the file holds no certificate or a certificate does not parse.
pub fn certificates_in(bytes: &[u8]) -> Result<Vec<ExternalCertificate>, ImportError> {
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge);
    }
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    if find(bytes, b"-----BEGIN ").is_none() {
        return ExternalCertificate::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|reason| match bytes.first() {
                // Not even the start of a DER SEQUENCE: some other kind of file.
                Some(0x30) => ImportError::Malformed { index: 1, reason },
                _ => ImportError::NotACertificate,
            });
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(start) = find(rest, BEGIN) {
        let block = &rest[start..];
        let index = out.len() + 1;
        let end = find(block, END).ok_or_else(|| ImportError::Malformed {
            index,
            reason: "no END CERTIFICATE line".into(),
        })? + END.len();
        let (label, der) =
            der::pem::decode_vec(&block[..end]).map_err(|e| ImportError::Malformed {
                index,
                reason: e.to_string(),
            })?;
        if label != "CERTIFICATE" {
            return Err(ImportError::NotACertificate);
        }
        out.push(
            ExternalCertificate::from_der(&der)
                .map_err(|reason| ImportError::Malformed { index, reason })?,
        );
        if out.len() > MAX_CERTS_PER_FILE {
            return Err(ImportError::TooMany);
        }
        rest = &block[end..];
    }
    if out.is_empty() {
        return Err(ImportError::NotACertificate);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(
            certificates_in(b"hello world").unwrap_err(),
            ImportError::NotACertificate
        );
        assert_eq!(
            certificates_in(b"").unwrap_err(),
            ImportError::NotACertificate
        );
        assert!(matches!(
            certificates_in(&[0x30, 0x03, 0x02, 0x01]).unwrap_err(),
            ImportError::Malformed { index: 1, .. }
        ));
        assert_eq!(
            certificates_in(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .unwrap_err(),
            ImportError::NotACertificate
        );
        assert!(matches!(
            certificates_in(b"-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap_err(),
            ImportError::Malformed { index: 1, .. }
        ));
        assert!(matches!(
            certificates_in(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
                .unwrap_err(),
            ImportError::Malformed { index: 1, .. }
        ));
        let big = vec![b'a'; usize::try_from(MAX_IMPORT_BYTES).unwrap() + 1];
        assert_eq!(certificates_in(&big).unwrap_err(), ImportError::TooLarge);
    }
}
