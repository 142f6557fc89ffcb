//! Public keys and signature verification (proof of possession, self-checks, tests).

use std::fmt;

use aws_lc_rs::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA384_ASN1,
    ECDSA_P384_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
};
use const_oid::ObjectIdentifier;
use der::asn1::UintRef;
use der::{Decode, Sequence};
use sm2::dsa::signature::Verifier as _;
use spki::SubjectPublicKeyInfoOwned;

use super::KeyError;
use crate::algorithm::{oid, KeyType};

/// `RSAPublicKey` (RFC 8017 appendix A.1.1).
///
/// ```text
/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
/// ```
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// What kind of public key a SubjectPublicKeyInfo holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicKeyDescription {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
    },
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
    /// ECDSA P-521 (recognised so that it can be refused by name).
    P521,
    /// Ed25519.
    Ed25519,
    /// SM2.
    Sm2,
}

impl PublicKeyDescription {
    /// Describe a SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] for algorithms caforge does not know or malformed keys.
    pub fn of(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, KeyError> {
        let alg = &spki.algorithm;
        if alg.oid == oid::RSA_ENCRYPTION {
            let bytes = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| KeyError::Rejected("malformed RSA public key".into()))?;
            let key = RsaPublicKey::from_der(bytes)
                .map_err(|e| KeyError::Rejected(format!("malformed RSA public key: {e}")))?;
            let modulus = key.modulus.as_bytes();
            let bits = match modulus.first() {
                Some(first) => modulus.len() * 8 - first.leading_zeros() as usize,
                None => 0,
            };
            let _ = key.public_exponent;
            return Ok(PublicKeyDescription::Rsa { bits });
        }
        if alg.oid == oid::ED25519 {
            return Ok(PublicKeyDescription::Ed25519);
        }
        if alg.oid == oid::EC_PUBLIC_KEY {
            let curve = alg
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::Rejected("EC public key without a named curve".into()))?;
            return match curve {
                c if c == oid::SECP256R1 => Ok(PublicKeyDescription::P256),
                c if c == oid::SECP384R1 => Ok(PublicKeyDescription::P384),
                c if c == oid::SECP521R1 => Ok(PublicKeyDescription::P521),
                c if c == oid::SM2_CURVE => Ok(PublicKeyDescription::Sm2),
                other => Err(KeyError::Rejected(format!("unsupported EC curve {other}"))),
            };
        }
        Err(KeyError::Rejected(format!(
            "unsupported public key algorithm {}",
            alg.oid
        )))
    }

    /// The matching caforge key type, when there is one.
    pub fn key_type(self) -> Option<KeyType> {
        match self {
            PublicKeyDescription::Rsa { bits: 2048 } => Some(KeyType::Rsa2048),
            PublicKeyDescription::Rsa { bits: 3072 } => Some(KeyType::Rsa3072),
            PublicKeyDescription::Rsa { bits: 4096 } => Some(KeyType::Rsa4096),
            PublicKeyDescription::Rsa { .. } | PublicKeyDescription::P521 => None,
            PublicKeyDescription::P256 => Some(KeyType::P256),
            PublicKeyDescription::P384 => Some(KeyType::P384),
            PublicKeyDescription::Ed25519 => Some(KeyType::Ed25519),
            PublicKeyDescription::Sm2 => Some(KeyType::Sm2),
        }
    }
}

impl fmt::Display for PublicKeyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyDescription::Rsa { bits } => write!(f, "rsa{bits}"),
            PublicKeyDescription::P256 => f.write_str("p256"),
            PublicKeyDescription::P384 => f.write_str("p384"),
            PublicKeyDescription::P521 => f.write_str("p521"),
            PublicKeyDescription::Ed25519 => f.write_str("ed25519"),
            PublicKeyDescription::Sm2 => f.write_str("sm2"),
        }
    }
}

impl From<KeyType> for PublicKeyDescription {
    fn from(kt: KeyType) -> Self {
        match kt {
            KeyType::Rsa2048 => PublicKeyDescription::Rsa { bits: 2048 },
            KeyType::Rsa3072 => PublicKeyDescription::Rsa { bits: 3072 },
            KeyType::Rsa4096 => PublicKeyDescription::Rsa { bits: 4096 },
            KeyType::P256 => PublicKeyDescription::P256,
            KeyType::P384 => PublicKeyDescription::P384,
            KeyType::Ed25519 => PublicKeyDescription::Ed25519,
            KeyType::Sm2 => PublicKeyDescription::Sm2,
        }
    }
}

impl std::str::FromStr for PublicKeyDescription {
    type Err = String;

    /// Reads the names [`fmt::Display`] writes (`rsa2048`, `p256`, …).
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "p256" => PublicKeyDescription::P256,
            "p384" => PublicKeyDescription::P384,
            "p521" => PublicKeyDescription::P521,
            "ed25519" => PublicKeyDescription::Ed25519,
            "sm2" => PublicKeyDescription::Sm2,
            other => match other.strip_prefix("rsa").and_then(|b| b.parse().ok()) {
                Some(bits) => PublicKeyDescription::Rsa { bits },
                None => return Err(format!("unknown public key type '{other}'")),
            },
        })
    }
}

impl serde::Serialize for PublicKeyDescription {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The caforge key type of a SubjectPublicKeyInfo.
///
/// # Errors
/// [`KeyError::Rejected`] when the key is not one of caforge's key types.
pub fn key_type_of_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<KeyType, KeyError> {
    let desc = PublicKeyDescription::of(spki)?;
    desc.key_type()
        .ok_or_else(|| KeyError::Rejected(format!("unsupported key type {desc}")))
}

/// Verify an SM3withSM2 `signature` (DER `SM2Signature`) over `message` by the SM2 public
/// key `point` (SEC1 encoding, as in a SubjectPublicKeyInfo), with signer ID `sm2_id`.
///
/// # Errors
/// [`KeyError::Rejected`] for a malformed key or a signature that does not verify.
pub fn verify_sm2(
    point: &[u8],
    message: &[u8],
    signature: &[u8],
    sm2_id: &str,
) -> Result<(), KeyError> {
    let invalid = || KeyError::Rejected("signature does not verify".into());
    let key = sm2::dsa::VerifyingKey::from_sec1_bytes(sm2_id, point)
        .map_err(|_| KeyError::Rejected("malformed SM2 public key".into()))?;
    let sig = sm2::dsa::Signature::from_der(signature).map_err(|_| invalid())?;
    key.verify(message, &sig).map_err(|_| invalid())
}

/// Verify `signature` (BIT STRING contents) over `message` with the key in `spki`, under the
/// signature algorithm `alg`. SM2 signatures are checked with signer ID `sm2_id`.
///
/// # Errors
/// [`KeyError::Rejected`] if the algorithm does not fit the key or the signature is invalid.
pub fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    alg: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
    sm2_id: &str,
) -> Result<(), KeyError> {
    let desc = PublicKeyDescription::of(spki)?;
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| KeyError::Rejected("public key BIT STRING has unused bits".into()))?;
    let mismatch = || {
        KeyError::Rejected(format!(
            "signature algorithm {alg} does not match a {desc} key"
        ))
    };
    let invalid = || KeyError::Rejected("signature does not verify".into());

    if desc == PublicKeyDescription::Sm2 {
        if alg != oid::SM3_WITH_SM2 {
            return Err(mismatch());
        }
        return verify_sm2(key_bytes, message, signature, sm2_id);
    }

    let algorithm: &'static dyn VerificationAlgorithm = match (desc, alg) {
        (PublicKeyDescription::Rsa { .. }, a) if a == oid::SHA256_WITH_RSA => {
            &RSA_PKCS1_2048_8192_SHA256
        }
        (PublicKeyDescription::Rsa { .. }, a) if a == oid::SHA384_WITH_RSA => {
            &RSA_PKCS1_2048_8192_SHA384
        }
        (PublicKeyDescription::Rsa { .. }, a) if a == oid::SHA512_WITH_RSA => {
            &RSA_PKCS1_2048_8192_SHA512
        }
        (PublicKeyDescription::P256, a) if a == oid::ECDSA_WITH_SHA256 => &ECDSA_P256_SHA256_ASN1,
        (PublicKeyDescription::P256, a) if a == oid::ECDSA_WITH_SHA384 => &ECDSA_P256_SHA384_ASN1,
        (PublicKeyDescription::P384, a) if a == oid::ECDSA_WITH_SHA256 => &ECDSA_P384_SHA256_ASN1,
        (PublicKeyDescription::P384, a) if a == oid::ECDSA_WITH_SHA384 => &ECDSA_P384_SHA384_ASN1,
        (PublicKeyDescription::Ed25519, a) if a == oid::ED25519 => &ED25519,
        _ => return Err(mismatch()),
    };
    UnparsedPublicKey::new(algorithm, key_bytes)
        .verify(message, signature)
        .map_err(|_| invalid())
}
