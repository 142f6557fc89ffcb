//! What the issuance API sends, separate from the store's rows: a stored column can change
//! without changing the API, and the API shows only what a client should see (never the
//! DER twice, never key material).

use ca_core::policy::SubjectAltName;
use ca_core::revocation::RevocationReason;
use ca_core::store::CertificateRecord;
use serde::Serialize;

/// A certificate in API responses (`/api/v1/certificates…`).
#[derive(Debug, Serialize)]
pub(crate) struct Certificate<'a> {
    /// The certificate's id in this CA's store.
    id: i64,
    /// The issuing CA's id and name.
    issuer_ca_id: i64,
    issuer_name: &'a str,
    /// Upper-case hex.
    serial: String,
    /// RFC 4514.
    subject: &'a str,
    sans: &'a [SubjectAltName],
    /// `tls-server`, …, `ca`, `ocsp-signing`.
    profile: &'static str,
    /// `p256`, `rsa2048`, …
    key_type: String,
    /// Unix seconds.
    not_before: i64,
    not_after: i64,
    /// `valid` or `revoked` (as stored; expiry follows from `not_after`).
    status: &'static str,
    /// Hex SHA-256 of the DER.
    fingerprint: &'a str,
    created_at: i64,
    crl_partition: Option<u32>,
    crl_url: Option<&'a str>,
    revoked_at: Option<i64>,
    revocation_reason: Option<RevocationReason>,
    invalidity_date: Option<i64>,
    revocation_seq: Option<i64>,
}

impl<'a> From<&'a CertificateRecord> for Certificate<'a> {
    fn from(r: &'a CertificateRecord) -> Self {
        Certificate {
            id: r.id,
            issuer_ca_id: r.issuer_ca_id.0,
            issuer_name: &r.issuer_name,
            serial: r.serial.to_hex(),
            subject: &r.subject,
            sans: &r.sans,
            profile: r.profile.as_str(),
            key_type: r.key_type.to_string(),
            not_before: r.not_before,
            not_after: r.not_after,
            status: r.status.as_str(),
            fingerprint: &r.fingerprint,
            created_at: r.created_at,
            crl_partition: r.crl_partition,
            crl_url: r.crl_url.as_deref(),
            revoked_at: r.revoked_at,
            revocation_reason: r.revocation_reason,
            invalidity_date: r.invalidity_date,
            revocation_seq: r.revocation_seq,
        }
    }
}
