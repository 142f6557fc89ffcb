//! GM/T 0009-2012 §7.2 `SM2Cipher` and §7.4 `SM2EnvelopedKey`.

use der::asn1::{BitString, OctetString, Uint};
use der::{Decode, Encode, Sequence};
use sm4::cipher::{Block, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::{malformed, GmError, SM4_ECB};

/// GM/T 0009-2012 §7.2:
///
/// ```text
/// SM2Cipher ::= SEQUENCE {
///     XCoordinate  INTEGER,                 -- x of C1 = [k]G
///     YCoordinate  INTEGER,                 -- y of C1
///     HASH         OCTET STRING SIZE(32),   -- C3 = SM3(x2 || M || y2)
///     CipherText   OCTET STRING             -- C2 = M xor KDF(x2 || y2, len)
/// }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Sm2Cipher {
    /// C1's x coordinate.
    pub x: Uint,
    /// C1's y coordinate.
    pub y: Uint,
    /// C3, the SM3 check value.
    pub hash: OctetString,
    /// C2, the masked message.
    pub ciphertext: OctetString,
}

impl Sm2Cipher {
    /// Encrypts `message` to `recipient` (SM2 public-key encryption, SM3 as hash and KDF).
    ///
    /// # Errors
    /// Random generator or encoding failures.
    pub fn encrypt(recipient: &sm2::PublicKey, message: &[u8]) -> Result<Sm2Cipher, GmError> {
        let key = sm2::pke::EncryptingKey::new(*recipient);
        let der = key
            .encrypt_der(&mut sm2::elliptic_curve::common::getrandom::SysRng, message)
            .map_err(|e| GmError::Crypto(format!("SM2 encryption failed: {e}")))?;
        Sm2Cipher::from_der(&der).map_err(malformed("SM2Cipher"))
    }

    /// Decrypts with `secret`; fails when the check value does not match (wrong key, or
    /// altered ciphertext).
    ///
    /// # Errors
    /// [`GmError::Open`] for a wrong key or altered ciphertext.
    pub fn decrypt(&self, secret: &sm2::SecretKey) -> Result<Zeroizing<Vec<u8>>, GmError> {
        let der = self.to_der().map_err(malformed("SM2Cipher"))?;
        sm2::pke::DecryptingKey::new(secret.clone())
            .decrypt_der(&der)
            .map(Zeroizing::new)
            .map_err(|_| {
                GmError::Open("SM2 decryption failed (not encrypted to this key, or altered)")
            })
    }
}

/// GM/T 0009-2012 §7.4:
///
/// ```text
/// SM2EnvelopedKey ::= SEQUENCE {
///     symAlgID                AlgorithmIdentifier,  -- here SM4-ECB, no parameters
///     symEncryptedKey         SM2Cipher,            -- the SM4 key, encrypted to the holder
///     Sm2PublicKey            SM2PublicKey,         -- BIT STRING 04 || X || Y
///     Sm2EncryptedPrivateKey  BIT STRING            -- the private key, SM4-encrypted
/// }
/// ```
///
/// The private key is its 32-byte big-endian scalar, two SM4 blocks, so ECB needs no padding.
/// Nothing in the structure authenticates those blocks; [`open`] checks that the decrypted
/// scalar's public key is `Sm2PublicKey`, which catches any alteration.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Sm2EnvelopedKey {
    /// The symmetric algorithm.
    pub sym_alg_id: AlgorithmIdentifierOwned,
    /// The symmetric key, SM2-encrypted to the holder's public key.
    pub sym_encrypted_key: Sm2Cipher,
    /// The enveloped key pair's public key (uncompressed point).
    pub sm2_public_key: BitString,
    /// The enveloped private key, encrypted with the symmetric key.
    pub sm2_encrypted_private_key: BitString,
}

fn block(chunk: &mut [u8]) -> Result<&mut Block<sm4::Sm4>, GmError> {
    chunk
        .try_into()
        .map_err(|_| GmError::Crypto("SM4 works on 16-byte blocks".into()))
}

fn sm4(key: &[u8]) -> Result<sm4::Sm4, GmError> {
    sm4::Sm4::new_from_slice(key).map_err(|_| GmError::Open("the SM4 key is not 16 bytes"))
}

/// Envelopes `secret` (the key pair to deliver) for the holder of `recipient` (GM/T 0009
/// §7.4): a fresh SM4 key encrypts the private key and is itself SM2-encrypted to
/// `recipient`. Returns the DER `SM2EnvelopedKey`.
///
/// # Errors
/// Random generator or encoding failures.
pub fn seal(recipient: &sm2::PublicKey, secret: &sm2::SecretKey) -> Result<Vec<u8>, GmError> {
    let mut sym = Zeroizing::new([0u8; 16]);
    crate::keys::random_bytes(sym.as_mut_slice()).map_err(|e| GmError::Crypto(e.to_string()))?;
    let cipher = sm4(sym.as_slice())?;
    let mut blocks = Zeroizing::new(secret.to_bytes().to_vec());
    for chunk in blocks.chunks_exact_mut(16) {
        cipher.encrypt_block(block(chunk)?);
    }
    let public = secret.public_key().to_sec1_bytes();
    let envelope = Sm2EnvelopedKey {
        sym_alg_id: AlgorithmIdentifierOwned {
            oid: SM4_ECB,
            parameters: None,
        },
        sym_encrypted_key: Sm2Cipher::encrypt(recipient, sym.as_slice())?,
        sm2_public_key: BitString::from_bytes(&public).map_err(malformed("SM2PublicKey"))?,
        sm2_encrypted_private_key: BitString::from_bytes(&blocks)
            .map_err(malformed("SM2EnvelopedKey"))?,
    };
    envelope.to_der().map_err(malformed("SM2EnvelopedKey"))
}

/// Opens a DER `SM2EnvelopedKey` with the holder's private key and returns the enveloped
/// private key, after checking it belongs to the public key the envelope names.
///
/// # Errors
/// [`GmError::Malformed`] for bad DER or an unsupported symmetric algorithm;
/// [`GmError::Open`] for the wrong key or an altered envelope.
pub fn open(envelope_der: &[u8], holder: &sm2::SecretKey) -> Result<sm2::SecretKey, GmError> {
    let envelope = Sm2EnvelopedKey::from_der(envelope_der).map_err(malformed("SM2EnvelopedKey"))?;
    if envelope.sym_alg_id.oid != SM4_ECB {
        return Err(GmError::Malformed {
            what: "SM2EnvelopedKey",
            detail: format!(
                "symmetric algorithm {} is not SM4-ECB ({SM4_ECB})",
                envelope.sym_alg_id.oid
            ),
        });
    }
    let sym = envelope.sym_encrypted_key.decrypt(holder)?;
    let cipher = sm4(&sym)?;
    let encrypted = envelope
        .sm2_encrypted_private_key
        .as_bytes()
        .ok_or(GmError::Open("the encrypted private key has unused bits"))?;
    // 32 bytes is the scalar; some producers left-pad it to 64 (a 512-bit field).
    if encrypted.len() != 32 && encrypted.len() != 64 {
        return Err(GmError::Open(
            "the encrypted private key is not 32 or 64 bytes",
        ));
    }
    let mut plain = Zeroizing::new(encrypted.to_vec());
    for chunk in plain.chunks_exact_mut(16) {
        cipher.decrypt_block(block(chunk)?);
    }
    let scalar = &plain[plain.len() - 32..];
    if plain[..plain.len() - 32].iter().any(|b| *b != 0) {
        return Err(GmError::Open("the decrypted private key is malformed"));
    }
    let secret = sm2::SecretKey::from_slice(scalar)
        .map_err(|_| GmError::Open("the decrypted private key is not an SM2 key"))?;
    let public = secret.public_key().to_sec1_bytes();
    if envelope.sm2_public_key.as_bytes() != Some(&public[..]) {
        return Err(GmError::Open(
            "the decrypted private key does not match the envelope's public key (altered?)",
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::Any;

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
    fn envelopes_open_only_with_the_holders_key() {
        let holder = key();
        let enc = key();
        let der = seal(&holder.public_key(), &enc).expect("seal");
        let opened = open(&der, &holder).expect("open");
        assert_eq!(opened.to_bytes(), enc.to_bytes());
        let stranger = key();
        assert!(matches!(open(&der, &stranger), Err(GmError::Open(_))));
    }

    #[test]
    fn the_envelope_is_the_gmt_0009_sequence() {
        let holder = key();
        let enc = key();
        let der = seal(&holder.public_key(), &enc).expect("seal");
        let env = Sm2EnvelopedKey::from_der(&der).expect("decode");
        assert_eq!(env.sym_alg_id.oid, SM4_ECB);
        assert_eq!(env.sym_encrypted_key.hash.as_bytes().len(), 32);
        assert_eq!(env.sym_encrypted_key.ciphertext.as_bytes().len(), 16);
        assert_eq!(
            env.sm2_public_key.as_bytes(),
            Some(&enc.public_key().to_sec1_bytes()[..])
        );
        assert_eq!(env.sm2_encrypted_private_key.raw_bytes().len(), 32);
        // Top-level: SEQUENCE { SEQUENCE (alg), SEQUENCE (SM2Cipher), BIT STRING, BIT STRING }
        let any = Any::from_der(&der).expect("any");
        assert_eq!(der::Tagged::tag(&any), der::Tag::Sequence);
    }

    #[test]
    fn every_altered_byte_is_refused_or_changes_nothing() {
        let holder = key();
        let enc = key();
        let der = seal(&holder.public_key(), &enc).expect("seal");
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0x01;
            match open(&bad, &holder) {
                Err(_) => {}
                // A flipped bit that DER ignores cannot exist in canonical DER, and every
                // value byte is covered by a check: nothing may open to a different key.
                Ok(k) => assert_eq!(k.to_bytes(), enc.to_bytes(), "byte {i}"),
            }
        }
    }
}
