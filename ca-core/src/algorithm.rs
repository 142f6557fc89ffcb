//! Key types and signature algorithms, with their object identifiers.
//!
//! `const-oid` has no ShangMi (SM2/SM3) identifiers, so they are defined here once:
//! GM/T 0006-2012 §4 assigns `1.2.156.10197.1.301` to the SM2 curve and
//! `1.2.156.10197.1.501` to SM3withSM2 signatures.

use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use der::asn1::Null;
use der::Any;
use serde::{Deserialize, Serialize};
use spki::AlgorithmIdentifierOwned;

/// OIDs used by caforge that are not in `const-oid`, or are named here for clarity.
pub mod oid {
    use const_oid::ObjectIdentifier;

    /// `sm2p256v1`, the SM2 elliptic curve (GM/T 0006-2012).
    pub const SM2_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");
    /// `SM3withSM2` signature algorithm (GM/T 0006-2012).
    pub const SM3_WITH_SM2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");
    /// `id-ecPublicKey` (RFC 5480 §2.1.1).
    pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    /// `secp256r1` / P-256 (RFC 5480 §2.1.1.1).
    pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    /// `secp384r1` / P-384 (RFC 5480 §2.1.1.1).
    pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    /// `secp521r1` / P-521 (RFC 5480 §2.1.1.1).
    pub const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
    /// `rsaEncryption` (RFC 8017 appendix C).
    pub const RSA_ENCRYPTION: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    /// `sha256WithRSAEncryption` (RFC 8017 appendix C).
    pub const SHA256_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    /// `sha384WithRSAEncryption` (RFC 8017 appendix C).
    pub const SHA384_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
    /// `sha512WithRSAEncryption` (RFC 8017 appendix C).
    pub const SHA512_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
    /// `ecdsa-with-SHA256` (RFC 5758 §3.2).
    pub const ECDSA_WITH_SHA256: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    /// `ecdsa-with-SHA384` (RFC 5758 §3.2).
    pub const ECDSA_WITH_SHA384: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    /// `ecdsa-with-SHA512` (RFC 5758 §3.2).
    pub const ECDSA_WITH_SHA512: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
    /// `id-Ed25519` (RFC 8410 §3).
    pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
    /// id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
    pub const ID_PKIX_OCSP_NONCE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
    /// id-pkix-ocsp-basic (RFC 6960 §4.2.1).
    pub const ID_PKIX_OCSP_BASIC: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
    /// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
    pub const ID_PKIX_OCSP_NOCHECK: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");
    /// SM3 (GM/T 0004), accepted as a CertID hash.
    pub const ID_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.401");
}

/// The key types caforge can generate and certify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// SM2 (GM/T 0003) with SM3.
    Sm2,
}

impl KeyType {
    /// Every key type, in the order the CLI lists them.
    pub const ALL: [KeyType; 7] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::P256,
        KeyType::P384,
        KeyType::Ed25519,
        KeyType::Sm2,
    ];

    /// The canonical name (`rsa2048`, `p256`, `sm2`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Sm2 => "sm2",
        }
    }

    /// The signature algorithm a key of this type signs with.
    ///
    /// RSA keys sign PKCS#1 v1.5 with a hash matched to the modulus strength; ECDSA with the
    /// curve's matching SHA-2; SM2 always with SM3.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyType::Rsa2048 | KeyType::Rsa3072 => SignatureAlgorithm::RsaPkcs1Sha256,
            KeyType::Rsa4096 => SignatureAlgorithm::RsaPkcs1Sha384,
            KeyType::P256 => SignatureAlgorithm::EcdsaP256Sha256,
            KeyType::P384 => SignatureAlgorithm::EcdsaP384Sha384,
            KeyType::Ed25519 => SignatureAlgorithm::Ed25519,
            KeyType::Sm2 => SignatureAlgorithm::Sm2Sm3,
        }
    }

    /// Whether this is an RSA key type.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key-type name that caforge does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown key type '{0}' (expected one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519, sm2)"
)]
pub struct UnknownKeyType(pub String);

impl FromStr for KeyType {
    type Err = UnknownKeyType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKeyType(s.to_owned()))
    }
}

/// A signature algorithm as it appears in `signatureAlgorithm` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// `sha256WithRSAEncryption`.
    RsaPkcs1Sha256,
    /// `sha384WithRSAEncryption`.
    RsaPkcs1Sha384,
    /// `sha512WithRSAEncryption`.
    RsaPkcs1Sha512,
    /// `ecdsa-with-SHA256` on P-256.
    EcdsaP256Sha256,
    /// `ecdsa-with-SHA384` on P-384.
    EcdsaP384Sha384,
    /// `id-Ed25519`.
    Ed25519,
    /// `SM3withSM2` (GM/T 0006).
    Sm2Sm3,
}

impl SignatureAlgorithm {
    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => oid::SHA256_WITH_RSA,
            SignatureAlgorithm::RsaPkcs1Sha384 => oid::SHA384_WITH_RSA,
            SignatureAlgorithm::RsaPkcs1Sha512 => oid::SHA512_WITH_RSA,
            SignatureAlgorithm::EcdsaP256Sha256 => oid::ECDSA_WITH_SHA256,
            SignatureAlgorithm::EcdsaP384Sha384 => oid::ECDSA_WITH_SHA384,
            SignatureAlgorithm::Ed25519 => oid::ED25519,
            SignatureAlgorithm::Sm2Sm3 => oid::SM3_WITH_SM2,
        }
    }

    /// The `AlgorithmIdentifier` to place in certificates, CRLs and OCSP responses.
    ///
    /// RFC 4055 §5 requires an explicit NULL parameter for PKCS#1 v1.5; RFC 5758 §3.2 and
    /// RFC 8410 §3 require absent parameters for ECDSA and Ed25519; GM/T 0015 follows ECDSA.
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let parameters = match self {
            SignatureAlgorithm::RsaPkcs1Sha256
            | SignatureAlgorithm::RsaPkcs1Sha384
            | SignatureAlgorithm::RsaPkcs1Sha512 => Some(Any::from(Null)),
            _ => None,
        };
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters,
        }
    }

    /// A short human name (`sha256WithRSAEncryption`, `SM3withSM2`, …).
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            SignatureAlgorithm::RsaPkcs1Sha384 => "sha384WithRSAEncryption",
            SignatureAlgorithm::RsaPkcs1Sha512 => "sha512WithRSAEncryption",
            SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-with-SHA256",
            SignatureAlgorithm::EcdsaP384Sha384 => "ecdsa-with-SHA384",
            SignatureAlgorithm::Ed25519 => "Ed25519",
            SignatureAlgorithm::Sm2Sm3 => "SM3withSM2",
        }
    }
}

/// The SM2 signer ID used when a CA does not configure one: GM/T 0009-2012 §10.
pub const DEFAULT_SM2_ID: &str = "1234567812345678";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().ok(), Some(k));
        }
        assert!("rsa1024".parse::<KeyType>().is_err());
    }

    #[test]
    fn sm_oids_are_the_gmt_0006_ones() {
        assert_eq!(oid::SM3_WITH_SM2.to_string(), "1.2.156.10197.1.501");
        assert_eq!(oid::SM2_CURVE.to_string(), "1.2.156.10197.1.301");
    }
}
