//! Certificate extensions (RFC 5280 §4.2), each built from caforge values into an
//! `Extension` with the criticality the standard asks for.

use const_oid::AssociatedOid;
use der::asn1::{Ia5String, OctetString};
use der::Encode;
use sha1::{Digest, Sha1};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::constraints::name::{GeneralSubtree, GeneralSubtrees};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    NameConstraints, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;

use crate::policy::{NameConstraintSet, SubjectAltName as San, Subtrees};
use crate::profile::{ExtendedKeyUsage as Eku, KeyUsageBits};

fn ext<T: AssociatedOid + Encode>(value: &T, critical: bool) -> der::Result<Extension> {
    crate::x509::extension(T::OID, critical, value)
}

/// The key identifier of a public key: SHA-1 of the subjectPublicKey BIT STRING contents
/// (RFC 5280 §4.2.1.2 method 1), as OpenSSL computes it.
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// SubjectKeyIdentifier, non-critical (RFC 5280 §4.2.1.2).
///
/// # Errors
/// DER encoding errors.
pub fn subject_key_identifier(key_id: &[u8]) -> der::Result<Extension> {
    ext(&SubjectKeyIdentifier(OctetString::new(key_id)?), false)
}

/// AuthorityKeyIdentifier with keyIdentifier only, non-critical (RFC 5280 §4.2.1.1).
///
/// # Errors
/// DER encoding errors.
pub fn authority_key_identifier(issuer_key_id: &[u8]) -> der::Result<Extension> {
    ext(
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_key_id)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
        false,
    )
}

/// BasicConstraints, critical (RFC 5280 §4.2.1.9: MUST be critical in CA certificates;
/// caforge marks it critical in leaves too, as the CA/B profiles allow).
///
/// # Errors
/// DER encoding errors.
pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> der::Result<Extension> {
    ext(
        &BasicConstraints {
            ca,
            path_len_constraint: if ca { path_len } else { None },
        },
        true,
    )
}

/// KeyUsage keyCertSign | cRLSign (| digitalSignature, for OCSP signing by the CA), critical.
///
/// # Errors
/// DER encoding errors.
pub fn ca_key_usage() -> der::Result<Extension> {
    ext(
        &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature),
        true,
    )
}

/// KeyUsage for an end-entity certificate, critical (RFC 5280 §4.2.1.3 SHOULD).
///
/// # Errors
/// DER encoding errors.
pub fn leaf_key_usage(bits: KeyUsageBits) -> der::Result<Extension> {
    let mut usages = flagset::FlagSet::<KeyUsages>::default();
    if bits.digital_signature {
        usages |= KeyUsages::DigitalSignature;
    }
    if bits.non_repudiation {
        usages |= KeyUsages::NonRepudiation;
    }
    if bits.key_encipherment {
        usages |= KeyUsages::KeyEncipherment;
    }
    if bits.data_encipherment {
        usages |= KeyUsages::DataEncipherment;
    }
    if bits.key_agreement {
        usages |= KeyUsages::KeyAgreement;
    }
    ext(&KeyUsage(usages), true)
}

/// ExtendedKeyUsage, non-critical (RFC 5280 §4.2.1.12).
///
/// # Errors
/// DER encoding errors.
pub fn extended_key_usage(ekus: &[Eku]) -> der::Result<Extension> {
    use const_oid::db::rfc5280::{
        ID_KP_CLIENT_AUTH, ID_KP_CODE_SIGNING, ID_KP_EMAIL_PROTECTION, ID_KP_SERVER_AUTH,
    };
    let oids = ekus
        .iter()
        .map(|e| match e {
            Eku::ServerAuth => ID_KP_SERVER_AUTH,
            Eku::ClientAuth => ID_KP_CLIENT_AUTH,
            Eku::CodeSigning => ID_KP_CODE_SIGNING,
            Eku::EmailProtection => ID_KP_EMAIL_PROTECTION,
        })
        .collect();
    ext(&ExtendedKeyUsage(oids), false)
}

fn general_name(san: &San) -> der::Result<GeneralName> {
    Ok(match san {
        San::Dns(d) => GeneralName::DnsName(Ia5String::new(d)?),
        San::Email(e) => GeneralName::Rfc822Name(Ia5String::new(e)?),
        San::Uri(u) => GeneralName::UniformResourceIdentifier(Ia5String::new(u)?),
        San::Ip(std::net::IpAddr::V4(v4)) => GeneralName::IpAddress(OctetString::new(v4.octets())?),
        San::Ip(std::net::IpAddr::V6(v6)) => GeneralName::IpAddress(OctetString::new(v6.octets())?),
    })
}

/// AuthorityInfoAccess (RFC 5280 §4.2.2.1) with an OCSP and a caIssuers URL, non-critical.
///
/// # Errors
/// URLs that are not IA5.
pub fn authority_info_access(ocsp: &str, ca_issuers: &str) -> der::Result<Extension> {
    use const_oid::db::rfc5280::{ID_AD_CA_ISSUERS, ID_AD_OCSP};
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
    let uri = |u: &str| -> der::Result<GeneralName> {
        Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(u)?))
    };
    ext(
        &AuthorityInfoAccessSyntax(vec![
            AccessDescription {
                access_method: ID_AD_OCSP,
                access_location: uri(ocsp)?,
            },
            AccessDescription {
                access_method: ID_AD_CA_ISSUERS,
                access_location: uri(ca_issuers)?,
            },
        ]),
        false,
    )
}

/// CRLDistributionPoints for a certificate (RFC 5280 §4.2.1.13): one point, one URI (the
/// URL its CRL's issuing distribution point carries too).
///
/// # Errors
/// A URL that is not IA5.
pub fn crl_distribution_points(url: &str) -> der::Result<Extension> {
    crate::x509::extension(
        const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
        false,
        &crate::x509::uri_distribution_points(url)?,
    )
}

/// The extensions of a delegated OCSP responder (RFC 6960 §4.2.2.2): extKeyUsage
/// id-kp-OCSPSigning and id-pkix-ocsp-nocheck (§4.2.2.2.1; clients do not check the
/// responder's own revocation, which is why its validity is short).
///
/// # Errors
/// DER encoding errors.
pub fn ocsp_responder_extensions() -> der::Result<Vec<Extension>> {
    use crate::algorithm::oid::ID_PKIX_OCSP_NOCHECK;
    use const_oid::db::rfc5280::ID_KP_OCSP_SIGNING;
    Ok(vec![
        ext(&ExtendedKeyUsage(vec![ID_KP_OCSP_SIGNING]), false)?,
        crate::x509::extension(ID_PKIX_OCSP_NOCHECK, false, &der::asn1::Null)?,
    ])
}

/// SubjectAltName; critical exactly when the subject DN is empty (RFC 5280 §4.2.1.6).
///
/// # Errors
/// DER encoding errors.
pub fn subject_alt_name(sans: &[San], subject_is_empty: bool) -> der::Result<Extension> {
    let names = sans
        .iter()
        .map(general_name)
        .collect::<der::Result<Vec<_>>>()?;
    ext(&SubjectAltName(names), subject_is_empty)
}

/// NameConstraints, critical (RFC 5280 §4.2.1.10 MUST): every subtree of every form, each
/// with minimum 0 and no maximum.
///
/// # Errors
/// DER encoding errors.
pub fn name_constraints(set: &NameConstraintSet) -> der::Result<Extension> {
    let subtrees = |t: &Subtrees| -> der::Result<Option<GeneralSubtrees>> {
        let ia5 = |f: fn(Ia5String) -> GeneralName, v: &String| -> der::Result<GeneralName> {
            Ok(f(Ia5String::new(v)?))
        };
        let mut bases = Vec::new();
        for d in &t.dns {
            bases.push(ia5(GeneralName::DnsName, d)?);
        }
        for ip in &t.ip {
            bases.push(GeneralName::IpAddress(OctetString::new(
                ip.constraint_octets(),
            )?));
        }
        for e in &t.email {
            bases.push(ia5(GeneralName::Rfc822Name, e)?);
        }
        for u in &t.uri {
            bases.push(ia5(GeneralName::UniformResourceIdentifier, u)?);
        }
        Ok((!bases.is_empty()).then(|| {
            bases
                .into_iter()
                .map(|base| GeneralSubtree {
                    base,
                    minimum: 0,
                    maximum: None,
                })
                .collect()
        }))
    };
    ext(
        &NameConstraints {
            permitted_subtrees: subtrees(&set.permitted)?,
            excluded_subtrees: subtrees(&set.excluded)?,
        },
        true,
    )
}
