//! GM/T 0092-2020 §8 `CSRResponse`.

use der::asn1::{Any, SetOfVec};
use der::{Decode, Encode, Sequence};

use super::{malformed, GmError, Sm2EnvelopedKey};

/// GM/T 0092-2020 §8 and annex A:
///
/// ```text
/// CSRResponse ::= SEQUENCE {
///     signCertificate          CertificateSet,             -- SET OF Certificate
///     encryptedPrivateKey  [0] SM2EnvelopedKey OPTIONAL,
///     encryptCertificate   [1] CertificateSet OPTIONAL
/// }
/// ```
///
/// The tags are encoded IMPLICIT (as deployed implementations read them). Certificates are
/// kept as DER (`ANY`), each the chain of the certificate first.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CsrResponse {
    /// The signing certificate (and its chain).
    pub sign_certificate: SetOfVec<Any>,
    /// The encryption key, enveloped to the signing key.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub encrypted_private_key: Option<Sm2EnvelopedKey>,
    /// The encryption certificate (and its chain).
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub encrypt_certificate: Option<SetOfVec<Any>>,
}

fn certificate_set(certs: &[&[u8]]) -> Result<SetOfVec<Any>, GmError> {
    let mut set = SetOfVec::new();
    for der in certs {
        set.insert(Any::from_der(der).map_err(malformed("Certificate"))?)
            .map_err(malformed("CertificateSet"))?;
    }
    Ok(set)
}

impl CsrResponse {
    /// The response for a signing + encryption pair.
    ///
    /// # Errors
    /// Encoding failures.
    pub fn new(sign: &[&[u8]], envelope_der: &[u8], enc: &[&[u8]]) -> Result<Self, GmError> {
        Ok(CsrResponse {
            sign_certificate: certificate_set(sign)?,
            encrypted_private_key: Some(
                Sm2EnvelopedKey::from_der(envelope_der).map_err(malformed("SM2EnvelopedKey"))?,
            ),
            encrypt_certificate: Some(certificate_set(enc)?),
        })
    }

    /// DER encoding.
    ///
    /// # Errors
    /// Encoding failures.
    pub fn to_der_bytes(&self) -> Result<Vec<u8>, GmError> {
        self.to_der().map_err(malformed("CSRResponse"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::seal;
    use super::*;

    fn key() -> sm2::SecretKey {
        let mut bytes = [0u8; 32];
        loop {
            crate::keys::random_bytes(&mut bytes).expect("rng");
            if let Ok(k) = sm2::SecretKey::from_slice(&bytes) {
                return k;
            }
        }
    }

    #[test]
    fn csr_responses_round_trip() {
        let holder = key();
        let enc = key();
        let env = seal(&holder.public_key(), &enc).expect("seal");
        // Any DER stands in for certificates here.
        let fake_cert = [0x30, 0x03, 0x02, 0x01, 0x05];
        let r = CsrResponse::new(&[&fake_cert], &env, &[&fake_cert]).expect("build");
        let der = r.to_der_bytes().expect("der");
        assert_eq!(CsrResponse::from_der(&der).expect("decode"), r);
        // [0] IMPLICIT SM2EnvelopedKey: constructed, context-specific 0 (0xA0).
        let set_len = 2 + fake_cert.len();
        let header = if der[1] & 0x80 == 0 {
            2
        } else {
            2 + (der[1] & 0x7f) as usize
        };
        assert_eq!(der[header + set_len], 0xA0);
    }
}
