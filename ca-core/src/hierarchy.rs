//! Issuers and chains: a CA record together with the signer for its key.

use std::sync::Arc;

use der::Decode;
use time::OffsetDateTime;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::algorithm::KeyType;
use crate::keys::Signer;
use crate::store::CaRecord;
use crate::{Error, Result};

/// A CA that is ready to sign: its record, its certificate and its key.
pub struct Issuer {
    /// The stored CA.
    pub record: CaRecord,
    /// The CA's subject name, as encoded in its certificate (issuers copy it byte for byte).
    pub subject: Name,
    /// The key type.
    pub key_type: KeyType,
    /// The CA's key.
    pub signer: Arc<dyn Signer>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("name", &self.record.name)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Binds `signer` to `record`, checking that the key matches the CA certificate.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the key is not the certificate's key.
    pub fn new(record: CaRecord, signer: Arc<dyn Signer>) -> Result<Issuer> {
        let cert = Certificate::from_der(&record.cert_der)?;
        if cert.tbs_certificate().subject_public_key_info() != signer.public_key_info() {
            return Err(Error::Invalid(format!(
                "the key at {} is not the key of CA '{}'",
                record.key_ref, record.name
            )));
        }
        Ok(Issuer {
            subject: cert.tbs_certificate().subject().clone(),
            key_type: signer.key_type(),
            record,
            signer,
        })
    }

    /// notBefore of the CA certificate.
    pub fn not_before(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.record.not_before)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// notAfter of the CA certificate.
    pub fn not_after(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.record.not_after)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The issuer's key identifier bytes.
    pub fn key_id(&self) -> Result<Vec<u8>> {
        hex::decode(&self.record.key_id).map_err(|e| Error::Encoding(format!("stored key id: {e}")))
    }
}
