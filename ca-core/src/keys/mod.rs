//! Keys: the [`Signer`] trait and key custody behind [`KeyProvider`], found by [`KeyRef`].
//!
//! A CA never knows where its key lives. It holds a `Box<dyn Signer>` that a provider
//! produced from the CA's `KeyRef`: `file:keys/root.key.pem` (an encrypted file under the
//! home), `hsm-sim://ADDR?token=L&object=NAME` (the hsm-sim simulator, whose client lives in
//! the `hsm-sim` crate) or `pkcs11:token=L;object=NAME?module-path=…` (RFC 7512). A
//! [`KeyCustody`] routes each URI to the provider for its scheme.

mod custody;
pub mod devices;
mod file;
mod pin;
mod pkcs11;
mod software;
pub mod uri;
mod verify;

use std::fmt;

use spki::SubjectPublicKeyInfoOwned;

use crate::algorithm::{KeyType, SignatureAlgorithm, UnknownKeyType};

pub use custody::{store_of, KeyCustody, DEFAULT_KEY_STORE};
pub use file::{
    encrypt_key_pem, plain_key_pem, read_key_pem, write_private_file, FileKeyProvider, Passphrase,
};
pub use pin::Pin;
pub use pkcs11::{ecdsa_raw_to_der, Pkcs11KeyProvider, Pkcs11Uri};
pub use software::SoftwareKey;
pub use verify::{key_type_of_spki, verify_signature, verify_sm2, PublicKeyDescription};

/// Errors from key generation, loading and signing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key's bytes could not be generated or parsed.
    #[error("key material: {0}")]
    Material(String),
    /// The key file's passphrase was wrong (or the file was damaged).
    #[error("cannot decrypt key file {path}: wrong passphrase or corrupt file")]
    WrongPassphrase {
        /// The file that would not decrypt.
        path: String,
    },
    /// A passphrase was needed and none was given.
    #[error("a passphrase is required to open the key")]
    MissingPassphrase,
    /// The key reference names a custodian caforge does not (yet) support, or is malformed.
    #[error("unsupported key reference '{0}' (supported: file:PATH, hsm-sim://ADDR?token=L, pkcs11:token=L?module-path=LIB)")]
    UnsupportedKeyRef(String),
    /// The key device cannot be reached (down, refused the connection, or dropped it).
    #[error("key device unavailable: {0}")]
    Unavailable(String),
    /// The key device did not answer in time.
    #[error("key device timed out: {0}")]
    Timeout(String),
    /// The key device answered with an error (a device fault, not a caller mistake).
    #[error("key device failed: {0}")]
    Device(String),
    /// The device refused the PIN.
    #[error("PIN incorrect for token '{0}'")]
    PinIncorrect(String),
    /// The device's PIN is locked after too many wrong tries (the SO PIN unlocks it).
    #[error(
        "PIN locked for token '{0}': too many wrong tries; the security officer must reset it"
    )]
    PinLocked(String),
    /// A PIN was needed and none was given.
    #[error("a PIN is required for token '{0}' (or pin-source=FILE in the key URI)")]
    MissingPin(String),
    /// The device has no such key (or token).
    #[error("not found in key device: {0}")]
    NotFound(String),
    /// The signing operation failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The key type is not one caforge knows.
    #[error(transparent)]
    UnknownKeyType(#[from] UnknownKeyType),
    /// The public key or signature is not acceptable.
    #[error("{0}")]
    Rejected(String),
    /// The key reference names something the configuration does not allow (a PKCS#11
    /// module not listed in `[keys] pkcs11_modules`).
    #[error("not allowed: {0}")]
    NotAllowed(String),
}

/// Something that can sign with a private key it keeps to itself.
///
/// Object-safe and synchronous: async callers run `sign` in `spawn_blocking`.
pub trait Signer: Send + Sync {
    /// The key's type.
    fn key_type(&self) -> KeyType;

    /// The signature algorithm this key signs with.
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.key_type().signature_algorithm()
    }

    /// The key's SubjectPublicKeyInfo.
    fn public_key_info(&self) -> &SubjectPublicKeyInfoOwned;

    /// Sign `message` and return the contents of the signature BIT STRING: DER
    /// `SEQUENCE { r, s }` for ECDSA and SM2, the raw signature for RSA and Ed25519.
    ///
    /// # Errors
    /// [`KeyError::Signing`] when the custodian fails.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// For SM2 keys, the signer ID the signatures are made with.
    fn sm2_id(&self) -> Option<&str> {
        None
    }

    /// The key device this key signs on (an hsm-sim address, a PKCS#11 token), so that
    /// signatures on one device share its budget and its outages ([`devices`]); `None` for
    /// keys in this process's memory.
    fn device(&self) -> Option<String> {
        None
    }

    /// Whether a signature is brief work in this process's memory: no device, no I/O and
    /// tens of microseconds of CPU (elliptic curves; not RSA). Async callers may then sign
    /// where they are instead of handing the work to the blocking pool and back, two
    /// thread hops that cost more than the signature.
    fn signs_briefly_in_memory(&self) -> bool {
        false
    }

    /// Checks that the custodian can use the key now (a device answers and still holds
    /// it). Keys in memory always can.
    ///
    /// # Errors
    /// The custodian's error, as [`Signer::sign`] would return it.
    fn probe(&self) -> Result<(), KeyError> {
        Ok(())
    }
}

/// Where a key lives, as a URI: `file:PATH` (relative paths are relative to the caforge home).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyRef(String);

impl KeyRef {
    /// Wraps a key URI.
    pub fn new(uri: impl Into<String>) -> Self {
        KeyRef(uri.into())
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRef({})", self.0)
    }
}

/// Key custody: generates keys inside the custodian and loads signers for existing ones.
pub trait KeyProvider: Send + Sync {
    /// Generate a key of `key_type` in the key store `store` (a URI of this custodian's
    /// scheme without the key's name, e.g. `file:keys` or `hsm-sim://ADDR?token=L`), named
    /// after `label` unless the URI names the object, and return where it lives.
    ///
    /// # Errors
    /// When generation or storing fails; nothing is left behind on failure.
    fn generate(
        &self,
        store: &str,
        key_type: KeyType,
        label: &str,
        sm2_id: &str,
    ) -> Result<(KeyRef, Box<dyn Signer>), KeyError>;

    /// Load the signer for an existing key.
    ///
    /// # Errors
    /// When the key cannot be found, decrypted or parsed.
    fn load(&self, key_ref: &KeyRef, sm2_id: &str) -> Result<Box<dyn Signer>, KeyError>;

    /// Seals `key` for keeping outside the custodian (the KMC's escrow of encryption keys in
    /// the store): a blob that only this custodian opens again, with
    /// [`KeyProvider::unseal`]. Custodians that cannot export keys refuse.
    ///
    /// # Errors
    /// When the custodian cannot seal keys, or sealing fails.
    fn seal(&self, key: &SoftwareKey) -> Result<Vec<u8>, KeyError> {
        let _ = key;
        Err(KeyError::Material(
            "this key custodian cannot escrow keys".into(),
        ))
    }

    /// Seals a key for the KMC's escrow (encryption keys of SM2 pairs). Custodians that
    /// keep no escrow key of their own seal it as [`KeyProvider::seal`] does.
    ///
    /// # Errors
    /// When the custodian cannot seal for escrow.
    fn seal_escrow(&self, key: &SoftwareKey) -> Result<Vec<u8>, KeyError> {
        self.seal(key)
    }

    /// Opens a blob made by [`KeyProvider::seal_escrow`] (or, for escrow made before the
    /// KMC had a key of its own, by [`KeyProvider::seal`]).
    ///
    /// # Errors
    /// When the custodian cannot unseal it.
    fn unseal_escrow(&self, sealed: &[u8], sm2_id: &str) -> Result<SoftwareKey, KeyError> {
        self.unseal(sealed, sm2_id)
    }

    /// Whether `sealed` is already sealed under the KMC's own escrow key.
    fn escrow_is_current(&self, sealed: &[u8]) -> bool {
        let _ = sealed;
        true
    }

    /// Opens a blob made by [`KeyProvider::seal`].
    ///
    /// # Errors
    /// When the custodian cannot unseal keys, or the blob is not its own.
    fn unseal(&self, sealed: &[u8], sm2_id: &str) -> Result<SoftwareKey, KeyError> {
        let _ = (sealed, sm2_id);
        Err(KeyError::Material(
            "this key custodian cannot recover escrowed keys".into(),
        ))
    }

    /// The keys held in the key store `store` (a URI as [`KeyProvider::generate`] takes),
    /// each with the Unix time it was made when the custodian knows it.
    ///
    /// # Errors
    /// When the custodian cannot list its keys, or listing fails.
    fn list(&self, store: &str) -> Result<Vec<(KeyRef, Option<i64>)>, KeyError> {
        Err(KeyError::UnsupportedKeyRef(format!(
            "{store} (its custodian cannot list its keys)"
        )))
    }

    /// What identifies the key `key_ref` names, whatever the spelling of the reference
    /// (a file's canonical path, say): two references name the same key exactly when their
    /// identities are equal.
    ///
    /// # Errors
    /// A reference this custodian does not take.
    fn identity(&self, key_ref: &KeyRef) -> Result<String, KeyError> {
        Ok(key_ref.as_str().to_owned())
    }

    /// Destroys a key that was generated but never used (its CA was not recorded).
    ///
    /// # Errors
    /// When the custodian cannot remove it.
    fn remove(&self, key_ref: &KeyRef) -> Result<(), KeyError>;
}

/// The SubjectPublicKeyInfo of an EC public key: `id-ecPublicKey` with the named `curve`
/// and the SEC1 `point`.
///
/// # Errors
/// Encoding failures.
pub fn ec_spki(
    curve: const_oid::ObjectIdentifier,
    point: &[u8],
) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
    let enc = |e: der::Error| KeyError::Material(format!("EC public key encoding: {e}"));
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: crate::algorithm::oid::EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&curve).map_err(enc)?),
        },
        subject_public_key: der::asn1::BitString::from_bytes(point).map_err(enc)?,
    })
}

/// State a device custodian makes once per device or token and then shares (connection
/// pools, sessions): a map to `Arc<V>`, filled on first use.
pub struct DeviceMap<K, V>(std::sync::Mutex<std::collections::HashMap<K, std::sync::Arc<V>>>);

impl<K, V> Default for DeviceMap<K, V> {
    fn default() -> Self {
        DeviceMap(std::sync::Mutex::new(std::collections::HashMap::new()))
    }
}

impl<K: Eq + std::hash::Hash, V> DeviceMap<K, V> {
    /// The entry for `key`, made with `make` if there is none yet (a failure is not kept).
    ///
    /// # Errors
    /// `make`'s error.
    pub fn get_or_try_init(
        &self,
        key: K,
        make: impl FnOnce() -> Result<V, KeyError>,
    ) -> Result<std::sync::Arc<V>, KeyError> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = map.get(&key) {
            return Ok(std::sync::Arc::clone(v));
        }
        let v = std::sync::Arc::new(make()?);
        map.insert(key, std::sync::Arc::clone(&v));
        Ok(v)
    }
}

/// Fills `bytes` from the system CSPRNG (aws-lc's DRBG).
///
/// # Errors
/// When the generator fails.
pub fn random_bytes(bytes: &mut [u8]) -> Result<(), KeyError> {
    aws_lc_rs::rand::fill(bytes).map_err(|_| KeyError::Material("random generator failed".into()))
}

/// Signs `tbs` off the async threads and checks the signature before returning it: a faulty
/// custodian must never produce a certificate, CRL or OCSP response. Every signature goes
/// through here, within the process's device limits ([`devices::Devices`]).
///
/// # Errors
/// [`crate::Error::BadSignature`] when the signature does not verify; key errors (a device
/// down, busy or too slow is [`KeyError::Unavailable`] or [`KeyError::Timeout`]).
pub async fn sign_verified(
    signer: std::sync::Arc<dyn Signer>,
    tbs: Vec<u8>,
) -> crate::Result<(Vec<u8>, Vec<u8>)> {
    devices::Devices::global().sign(signer, tbs).await
}

/// [`sign_verified`] without device limits.
pub(crate) async fn sign_verified_now(
    signer: std::sync::Arc<dyn Signer>,
    tbs: Vec<u8>,
) -> crate::Result<(Vec<u8>, Vec<u8>)> {
    let sm2_id = signer_sm2_id(&*signer);
    let algorithm = signer.signature_algorithm();
    let brief = signer.signs_briefly_in_memory();
    let work = move || {
        let signature = signer.sign(&tbs)?;
        verify_signature(
            signer.public_key_info(),
            algorithm.oid(),
            &tbs,
            &signature,
            &sm2_id,
        )
        .map_err(|_| crate::Error::BadSignature)?;
        Ok((tbs, signature))
    };
    if brief {
        // Tens of microseconds: cheaper here than two thread hops.
        return work();
    }
    // One trip to the blocking pool for both the signature and its check.
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::Error::Internal(format!("signing task failed: {e}")))?
}

/// The signer ID an SM2 signer uses. Software keys carry it; this default covers others.
fn signer_sm2_id(signer: &dyn Signer) -> String {
    signer
        .sm2_id()
        .unwrap_or(crate::algorithm::DEFAULT_SM2_ID)
        .to_owned()
}
