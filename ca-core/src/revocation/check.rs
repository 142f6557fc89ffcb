//! The relying party's side of revocation: what a certificate's OCSP responder or CRL says
//! about it, with every signature checked. Pure functions over DER; fetching is the
//! caller's (`caforge probe`).

use der::{Decode, Encode};
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints, ExtendedKeyUsage};
use x509_cert::Certificate;

use super::ocsp::{
    build_request, parse_response, strip_zeros, CertId, CertIdHash, CertStatus, ResponseStatus,
};
use super::RevocationReason;
use crate::algorithm::DEFAULT_SM2_ID;
use crate::keys::verify_signature;

/// How far clocks may disagree when checking thisUpdate/nextUpdate.
const SKEW_SECS: i64 = 300;

/// What a revocation source says about a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Not revoked.
    Good,
    /// Revoked at `at` (Unix seconds).
    Revoked {
        /// Revocation time.
        at: i64,
        /// Reason, when given.
        reason: Option<RevocationReason>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// The OCSP responder URLs (AIA id-ad-ocsp) and CRL distribution point URLs of `cert`.
#[must_use]
pub fn revocation_urls(cert: &Certificate) -> (Vec<String>, Vec<String>) {
    let (mut ocsp, mut crls) = (Vec::new(), Vec::new());
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            const_oid::db::rfc5280::ID_PE_AUTHORITY_INFO_ACCESS => {
                if let Ok(aia) = AuthorityInfoAccessSyntax::from_der(value) {
                    for ad in aia.0 {
                        if ad.access_method == const_oid::db::rfc5280::ID_AD_OCSP {
                            if let GeneralName::UniformResourceIdentifier(u) = ad.access_location {
                                ocsp.push(u.as_str().to_owned());
                            }
                        }
                    }
                }
            }
            const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS => {
                if let Ok(dps) = CrlDistributionPoints::from_der(value) {
                    for dp in dps.0 {
                        if let Some(DistributionPointName::FullName(names)) = dp.distribution_point
                        {
                            for n in names {
                                if let GeneralName::UniformResourceIdentifier(u) = n {
                                    crls.push(u.as_str().to_owned());
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (ocsp, crls)
}

/// A DER OCSP request (RFC 5019: SHA-1 CertID, no nonce) for `cert` issued by `issuer`.
///
/// # Errors
/// Encoding errors.
pub fn ocsp_request(cert: &Certificate, issuer: &Certificate) -> der::Result<Vec<u8>> {
    build_request(&[cert_id(cert, issuer)?], None)
}

fn cert_id(cert: &Certificate, issuer: &Certificate) -> der::Result<CertId> {
    let itbs = issuer.tbs_certificate();
    CertId::new(
        CertIdHash::Sha1,
        &itbs.subject().to_der()?,
        itbs.subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
        cert.tbs_certificate().serial_number().as_bytes(),
    )
}

/// Whether `signed` (TBS DER, algorithm, signature) verifies with `signer`'s key.
fn verifies_with(
    signer: &Certificate,
    tbs: &[u8],
    alg: &der::asn1::ObjectIdentifier,
    sig: &[u8],
) -> bool {
    verify_signature(
        signer.tbs_certificate().subject_public_key_info(),
        *alg,
        tbs,
        sig,
        DEFAULT_SM2_ID,
    )
    .is_ok()
}

/// Whether `cert` was signed by `issuer`.
#[must_use]
pub fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    let Ok(tbs) = cert.tbs_certificate().to_der() else {
        return false;
    };
    let Some(sig) = cert.signature().as_bytes() else {
        return false;
    };
    cert.tbs_certificate().issuer() == issuer.tbs_certificate().subject()
        && verifies_with(issuer, &tbs, &cert.signature_algorithm().oid, sig)
}

fn has_ocsp_signing(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .filter(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
        .filter_map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .any(|eku| eku.0.contains(&const_oid::db::rfc5280::ID_KP_OCSP_SIGNING))
}

/// What the DER OCSP response `der` says about `cert` (issued by `issuer`) at `now`: the
/// response must be successful, signed by the issuer or by a responder certificate the
/// issuer signed for OCSP signing (RFC 6960 §4.2.2.2), answer for this certificate, and be
/// current.
///
/// # Errors
/// Why the response cannot be relied on.
pub fn check_ocsp_response(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    now: i64,
) -> Result<RevocationStatus, String> {
    let resp = parse_response(der).map_err(|e| format!("unreadable OCSP response: {e}"))?;
    if resp.status != ResponseStatus::Successful {
        return Err(format!("OCSP responder answered {}", resp.status.as_str()));
    }
    let signed_by_issuer = verifies_with(
        issuer,
        &resp.tbs,
        &resp.signature_algorithm,
        &resp.signature,
    );
    let signed_by_delegate = || {
        resp.certs.iter().any(|der| {
            Certificate::from_der(der).is_ok_and(|responder| {
                issued_by(&responder, issuer)
                    && has_ocsp_signing(&responder)
                    && verifies_with(
                        &responder,
                        &resp.tbs,
                        &resp.signature_algorithm,
                        &resp.signature,
                    )
            })
        })
    };
    if !signed_by_issuer && !signed_by_delegate() {
        return Err(
            "the OCSP response is not signed by the issuer or its delegated responder".into(),
        );
    }
    let serial = hex::encode_upper(strip_zeros(
        cert.tbs_certificate().serial_number().as_bytes(),
    ));
    let (_, status, this_update, next_update) = resp
        .answers
        .iter()
        .find(|(s, ..)| *s == serial)
        .ok_or_else(|| "the OCSP response does not answer for this certificate".to_owned())?;
    if *this_update > now + SKEW_SECS {
        return Err("the OCSP response's thisUpdate is in the future".into());
    }
    if next_update.is_some_and(|n| n + SKEW_SECS < now) {
        return Err("the OCSP response is out of date (nextUpdate has passed)".into());
    }
    Ok(match status {
        CertStatus::Good => RevocationStatus::Good,
        CertStatus::Unknown => RevocationStatus::Unknown,
        CertStatus::Revoked { at, reason } => RevocationStatus::Revoked {
            at: *at,
            reason: *reason,
        },
    })
}

/// What the DER CRL `der` says about `cert` (issued by `issuer`) at `now`: the CRL must be
/// `issuer`'s, signed by it and current.
///
/// # Errors
/// Why the CRL cannot be relied on.
pub fn check_crl(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    now: i64,
) -> Result<RevocationStatus, String> {
    let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der)
        .map_err(|e| format!("unreadable CRL: {e}"))?;
    let tbs = &crl.tbs_cert_list;
    if tbs.issuer != *issuer.tbs_certificate().subject() {
        return Err("the CRL was issued by another CA".into());
    }
    let tbs_der = tbs.to_der().map_err(|e| e.to_string())?;
    let sig = crl
        .signature
        .as_bytes()
        .ok_or_else(|| "the CRL signature is not a whole number of bytes".to_owned())?;
    if !verifies_with(issuer, &tbs_der, &crl.signature_algorithm.oid, sig) {
        return Err("the CRL signature does not verify with the issuer's key".into());
    }
    let secs = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    if secs(&tbs.this_update) > now + SKEW_SECS {
        return Err("the CRL's thisUpdate is in the future".into());
    }
    if tbs
        .next_update
        .as_ref()
        .is_some_and(|n| secs(n) + SKEW_SECS < now)
    {
        return Err("the CRL is out of date (nextUpdate has passed)".into());
    }
    let serial = strip_zeros(cert.tbs_certificate().serial_number().as_bytes());
    for entry in tbs.revoked_certificates.iter().flatten() {
        if strip_zeros(entry.serial_number.as_bytes()) == serial {
            let reason = entry
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_REASONS)
                .and_then(|e| e.extn_value.as_bytes().get(2).copied())
                .and_then(RevocationReason::from_code);
            return Ok(RevocationStatus::Revoked {
                at: secs(&entry.revocation_date),
                reason,
            });
        }
    }
    Ok(RevocationStatus::Good)
}
