//! Dual certificates (双证书): the GM/T structures of SM2 signing + encryption pairs, where
//! caforge is also the key-management centre (KMC) that generates the encryption key, and
//! the key usages that tell the two certificates apart. The dual service orchestrates pair
//! issuance (`authority::dual`); this module is the data and the cryptography.
//!
//! - [`envelope`]: GM/T 0009-2012 §7.2 `SM2Cipher` and §7.4 `SM2EnvelopedKey` — an SM2 key
//!   pair protected for its holder: an SM4 key encrypted with SM2 to the holder's signing
//!   public key, and the private key encrypted with that SM4 key;
//! - [`response`]: GM/T 0092-2020 §8 `CSRResponse`, what a CA returns for such a request.
//!
//! OIDs are GM/T 0006's. Note its pitfall: it assigns `1.2.156.10197.1.301.3` to the SM2
//! public-key *encryption* scheme (`.301.1` is signatures, `.301.2` key exchange), while some
//! toolkits label SM2 encryption `.301.2`. caforge follows the standard
//! ([`SM2_ENCRYPTION`]); the certificates themselves carry neither, their keys are
//! `id-ecPublicKey` on the SM2 curve (`1.2.156.10197.1.301`), and the key usage bits say
//! which certificate signs and which encrypts.

use const_oid::ObjectIdentifier;

use crate::profile::KeyUsageBits;

pub mod envelope;
pub mod response;

pub use envelope::{open, seal, Sm2Cipher, Sm2EnvelopedKey};
pub use response::CsrResponse;

/// SM4 block cipher, ECB mode (GM/T 0006: `1.2.156.10197.1.104.1`), the symmetric algorithm
/// of caforge's envelopes.
pub const SM4_ECB: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.104.1");

/// The SM2 public-key encryption scheme as GM/T 0006 numbers it (`sm2encrypt`,
/// `1.2.156.10197.1.301.3`; not `.301.2`, which is key exchange).
pub const SM2_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301.3");

/// GM/T 0015: a signing certificate signs (and commits), it never encrypts.
pub const SIGN_USAGE: KeyUsageBits = KeyUsageBits {
    digital_signature: true,
    non_repudiation: true,
    key_encipherment: false,
    data_encipherment: false,
    key_agreement: false,
};

/// GM/T 0015: an encryption certificate encrypts and agrees keys, it never signs.
pub const ENC_USAGE: KeyUsageBits = KeyUsageBits {
    digital_signature: false,
    non_repudiation: false,
    key_encipherment: true,
    data_encipherment: true,
    key_agreement: true,
};

/// What goes wrong with envelopes and responses.
#[derive(Debug, thiserror::Error)]
pub enum GmError {
    /// Not the DER structure the standard defines.
    #[error("not a valid {what}: {detail}")]
    Malformed {
        /// Which structure.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// The envelope cannot be opened with this key, or was altered.
    #[error("the envelope cannot be opened: {0}")]
    Open(&'static str),
    /// A cryptographic primitive failed.
    #[error("{0}")]
    Crypto(String),
}

pub(crate) fn malformed(what: &'static str) -> impl Fn(der::Error) -> GmError {
    move |e| GmError::Malformed {
        what,
        detail: e.to_string(),
    }
}
