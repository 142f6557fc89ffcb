//! Software keys: RSA, ECDSA and Ed25519 through aws-lc-rs; SM2 through RustCrypto `sm2`.
//!
//! RSA private-key operations never touch the `rsa` crate (RUSTSEC-2023-0071).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384,
};
use der::{Decode, Encode};
use pkcs8::{EncodePrivateKey, PrivateKeyInfoRef};
use sm2::dsa::signature::Signer as _;
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use super::{key_type_of_spki, KeyError, Signer};
use crate::algorithm::{oid, KeyType};

/// A private key held in this process's memory.
pub struct SoftwareKey {
    key_type: KeyType,
    inner: Inner,
    spki: SubjectPublicKeyInfoOwned,
}

enum Inner {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Sm2(Box<sm2::dsa::SigningKey>),
}

// Hand-written so that no key material can reach a log line.
impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

fn material(what: &str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> KeyError + '_ {
    move |_| KeyError::Material(what.to_owned())
}

impl SoftwareKey {
    /// Generate a fresh key. `sm2_id` is the signer ID an SM2 key signs with.
    ///
    /// # Errors
    /// [`KeyError::Material`] when the underlying library fails.
    pub fn generate(key_type: KeyType, sm2_id: &str) -> Result<Self, KeyError> {
        let inner = match key_type {
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let size = match key_type {
                    KeyType::Rsa2048 => KeySize::Rsa2048,
                    KeyType::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                Inner::Rsa(RsaKeyPair::generate(size).map_err(material("RSA key generation"))?)
            }
            KeyType::P256 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map_err(material("P-256 key generation"))?,
            ),
            KeyType::P384 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING)
                    .map_err(material("P-384 key generation"))?,
            ),
            KeyType::Ed25519 => Inner::Ed25519(
                Ed25519KeyPair::generate().map_err(material("Ed25519 key generation"))?,
            ),
            KeyType::Sm2 => Inner::Sm2(Box::new(generate_sm2(sm2_id)?)),
        };
        Self::from_inner(key_type, inner)
    }

    /// Load a key from unencrypted PKCS#8 DER (RFC 5958), as OpenSSL writes it.
    ///
    /// # Errors
    /// [`KeyError::Material`] when the bytes are not a supported private key.
    pub fn from_pkcs8_der(der: &[u8], sm2_id: &str) -> Result<Self, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Material(format!("not a PKCS#8 private key: {e}")))?;
        let alg = &info.algorithm;
        if alg.oid == oid::RSA_ENCRYPTION {
            let pair = RsaKeyPair::from_pkcs8(der)
                .map_err(|e| KeyError::Material(format!("RSA key rejected: {e}")))?;
            let key_type = match pair.public_modulus_len() * 8 {
                2048 => KeyType::Rsa2048,
                3072 => KeyType::Rsa3072,
                4096 => KeyType::Rsa4096,
                bits => {
                    return Err(KeyError::Material(format!(
                        "RSA-{bits} keys are not supported (use 2048, 3072 or 4096)"
                    )))
                }
            };
            return Self::from_inner(key_type, Inner::Rsa(pair));
        }
        if alg.oid == oid::ED25519 {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|e| KeyError::Material(format!("Ed25519 key rejected: {e}")))?;
            return Self::from_inner(KeyType::Ed25519, Inner::Ed25519(pair));
        }
        if alg.oid == oid::EC_PUBLIC_KEY {
            let curve = alg
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::Material("EC key without a named curve".into()))?;
            return match curve {
                c if c == oid::SECP256R1 => Self::from_inner(
                    KeyType::P256,
                    Inner::Ecdsa(
                        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
                            .map_err(|e| KeyError::Material(format!("P-256 key rejected: {e}")))?,
                    ),
                ),
                c if c == oid::SECP384R1 => Self::from_inner(
                    KeyType::P384,
                    Inner::Ecdsa(
                        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der)
                            .map_err(|e| KeyError::Material(format!("P-384 key rejected: {e}")))?,
                    ),
                ),
                c if c == oid::SM2_CURVE => {
                    let secret =
                        <sm2::SecretKey as pkcs8::DecodePrivateKey>::from_pkcs8_der(der)
                            .map_err(|e| KeyError::Material(format!("SM2 key rejected: {e}")))?;
                    let signing = sm2::dsa::SigningKey::new(sm2_id, &secret)
                        .map_err(|_| KeyError::Material("SM2 signer ID too long".into()))?;
                    Self::from_inner(KeyType::Sm2, Inner::Sm2(Box::new(signing)))
                }
                other => Err(KeyError::Material(format!("unsupported EC curve {other}"))),
            };
        }
        Err(KeyError::Material(format!(
            "unsupported private key algorithm {}",
            alg.oid
        )))
    }

    /// An SM2 key from its secret (an opened envelope, a recovered escrow).
    ///
    /// # Errors
    /// [`KeyError::Material`] for an unusable signer ID.
    pub fn from_sm2_secret(secret: &sm2::SecretKey, sm2_id: &str) -> Result<Self, KeyError> {
        let signing = sm2::dsa::SigningKey::new(sm2_id, secret)
            .map_err(|e| KeyError::Material(format!("SM2 key: {e}")))?;
        Self::from_inner(KeyType::Sm2, Inner::Sm2(Box::new(signing)))
    }

    /// The SM2 secret key (for SM2 encryption and envelopes); `None` for other key types.
    pub fn sm2_secret(&self) -> Option<sm2::SecretKey> {
        match &self.inner {
            Inner::Sm2(k) => Some(sm2::SecretKey::from(k.as_nonzero_scalar())),
            _ => None,
        }
    }

    /// The key as unencrypted PKCS#8 DER, in memory that is wiped on drop.
    ///
    /// # Errors
    /// [`KeyError::Material`] if serialisation fails.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let bytes = match &self.inner {
            Inner::Rsa(k) => {
                let der = k.as_der().map_err(material("RSA PKCS#8 encoding"))?;
                der.as_ref().to_vec()
            }
            Inner::Ecdsa(k) => {
                let doc = k.to_pkcs8v1().map_err(material("EC PKCS#8 encoding"))?;
                doc.as_ref().to_vec()
            }
            Inner::Ed25519(k) => {
                let doc = k
                    .to_pkcs8v1()
                    .map_err(material("Ed25519 PKCS#8 encoding"))?;
                doc.as_ref().to_vec()
            }
            Inner::Sm2(k) => {
                let secret = sm2::SecretKey::from(k.as_nonzero_scalar());
                let doc = secret
                    .to_pkcs8_der()
                    .map_err(|e| KeyError::Material(format!("SM2 PKCS#8 encoding: {e}")))?;
                doc.as_bytes().to_vec()
            }
        };
        Ok(Zeroizing::new(bytes))
    }

    fn from_inner(key_type: KeyType, inner: Inner) -> Result<Self, KeyError> {
        let spki_der: Vec<u8> = match &inner {
            Inner::Rsa(k) => k
                .public_key()
                .as_der()
                .map_err(material("RSA public key encoding"))?
                .as_ref()
                .to_vec(),
            Inner::Ecdsa(k) => k
                .public_key()
                .as_der()
                .map_err(material("EC public key encoding"))?
                .as_ref()
                .to_vec(),
            Inner::Ed25519(k) => k
                .public_key()
                .as_der()
                .map_err(material("Ed25519 public key encoding"))?
                .as_ref()
                .to_vec(),
            Inner::Sm2(k) => {
                let point = k.verifying_key().to_sec1_bytes();
                super::ec_spki(oid::SM2_CURVE, &point)?
                    .to_der()
                    .map_err(|e| KeyError::Material(format!("SM2 public key encoding: {e}")))?
            }
        };
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der)
            .map_err(|e| KeyError::Material(format!("public key encoding: {e}")))?;
        debug_assert_eq!(key_type_of_spki(&spki).ok(), Some(key_type));
        Ok(SoftwareKey {
            key_type,
            inner,
            spki,
        })
    }
}

fn generate_sm2(sm2_id: &str) -> Result<sm2::dsa::SigningKey, KeyError> {
    // A uniformly random 32-byte string is a valid scalar except with negligible
    // probability (0 or ≥ n); retry in that case rather than bias the key.
    for _ in 0..16 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(bytes.as_mut()).map_err(material("random number generation"))?;
        if let Ok(key) = sm2::dsa::SigningKey::from_slice(sm2_id, bytes.as_ref()) {
            return Ok(key);
        }
    }
    Err(KeyError::Material("SM2 key generation failed".into()))
}

impl Signer for SoftwareKey {
    fn key_type(&self) -> KeyType {
        self.key_type
    }

    fn signs_briefly_in_memory(&self) -> bool {
        !matches!(self.inner, Inner::Rsa(_))
    }

    fn public_key_info(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn sm2_id(&self) -> Option<&str> {
        match &self.inner {
            Inner::Sm2(k) => Some(k.distid()),
            _ => None,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |what: &str| KeyError::Signing(what.to_owned());
        match &self.inner {
            Inner::Rsa(k) => {
                let padding = if self.key_type == KeyType::Rsa4096 {
                    &RSA_PKCS1_SHA384
                } else {
                    &RSA_PKCS1_SHA256
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| failed("RSA signature"))?;
                Ok(sig)
            }
            Inner::Ecdsa(k) => Ok(k
                .sign(&SystemRandom::new(), message)
                .map_err(|_| failed("ECDSA signature"))?
                .as_ref()
                .to_vec()),
            Inner::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Inner::Sm2(k) => {
                let sig: sm2::dsa::Signature =
                    k.try_sign(message).map_err(|_| failed("SM2 signature"))?;
                // Certificates carry SM2 signatures as DER SEQUENCE { r, s } (GM/T 0009 §7.3);
                // OpenSSL rejects the raw r‖s form.
                Ok(sig.to_der().to_vec())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::DEFAULT_SM2_ID;
    use crate::keys::verify_signature;

    #[test]
    fn every_key_type_signs_and_verifies_and_round_trips_pkcs8() {
        for kt in [
            KeyType::Rsa2048,
            KeyType::P256,
            KeyType::P384,
            KeyType::Ed25519,
            KeyType::Sm2,
        ] {
            let key = SoftwareKey::generate(kt, DEFAULT_SM2_ID).expect("generate");
            let sig = key.sign(b"hello").expect("sign");
            verify_signature(
                key.public_key_info(),
                kt.signature_algorithm().oid(),
                b"hello",
                &sig,
                DEFAULT_SM2_ID,
            )
            .expect("verify");
            assert!(verify_signature(
                key.public_key_info(),
                kt.signature_algorithm().oid(),
                b"hellO",
                &sig,
                DEFAULT_SM2_ID
            )
            .is_err());
            let der = key.to_pkcs8_der().expect("pkcs8");
            let back = SoftwareKey::from_pkcs8_der(&der, DEFAULT_SM2_ID).expect("reload");
            assert_eq!(back.key_type(), kt);
            assert_eq!(back.public_key_info(), key.public_key_info());
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SoftwareKey::generate(KeyType::P256, DEFAULT_SM2_ID).expect("generate");
        let text = format!("{key:?}");
        assert_eq!(text, "SoftwareKey { key_type: P256, .. }");
    }
}
