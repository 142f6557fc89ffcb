//! hsm-sim's persistent state: tokens (label, PINs, failure counters) and their key objects,
//! kept in one file encrypted at rest.
//!
//! ```text
//! state.bin = "HSMSIM\0\x01" log_n:u8 salt:16 nonce:12 AES-256-GCM(json state)
//! ```
//!
//! The file key is derived from the operator's master secret with scrypt (`log_n`, r = 8,
//! p = 1) over the file's salt; the header is the cipher's associated data. Each save writes
//! a temporary file, syncs it and renames it over the old one, so a kill at any moment leaves
//! either the old state or the new one. PINs are kept as scrypt hashes inside the encrypted
//! state. A lock file keeps two processes from using one directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::protocol::{ObjectInfo, SlotInfo, Status, UserType};

const MAGIC: &[u8; 8] = b"HSMSIM\0\x01";
const HEADER_LEN: usize = 8 + 1 + 16;
const STATE_FILE: &str = "state.bin";
const LOCK_FILE: &str = "lock";
/// scrypt cost of the file key: 2^15 (32 MiB, ~0.1 s), once per process start.
pub const DEFAULT_KDF_LOG_N: u8 = 15;
/// scrypt cost of a PIN hash: 2^12, once per login.
const PIN_LOG_N: u8 = 12;

/// An error refusing or failing an operation, as it goes on the wire.
pub type Refusal = (Status, String);

/// Errors opening or saving the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the directory.
    #[error("state directory {0} is in use by another hsm-sim process")]
    Locked(String),
    /// The state file did not decrypt or parse.
    #[error("cannot open {0}: wrong master key or damaged state file")]
    Decrypt(String),
    /// Bad parameters or a cryptographic failure.
    #[error("{0}")]
    Crypto(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A PIN kept as a salted scrypt hash.
#[derive(Serialize, Deserialize, Clone)]
pub struct PinHash {
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PinHash {
    fn new(pin: &str) -> Result<PinHash, Refusal> {
        let mut salt = vec![0u8; 16];
        random(&mut salt).map_err(|e| (Status::DeviceError, e.to_string()))?;
        let hash = pin_hash(pin, &salt)?;
        Ok(PinHash { salt, hash })
    }

    fn matches(&self, pin: &str) -> Result<bool, Refusal> {
        let got = pin_hash(pin, &self.salt)?;
        // Constant time in the hash contents.
        let diff = got
            .iter()
            .zip(&self.hash)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        Ok(diff == 0 && got.len() == self.hash.len())
    }
}

fn pin_hash(pin: &str, salt: &[u8]) -> Result<Vec<u8>, Refusal> {
    let params = scrypt::Params::new(PIN_LOG_N, 8, 1)
        .map_err(|_| (Status::DeviceError, "scrypt parameters".to_owned()))?;
    let mut out = vec![0u8; 32];
    scrypt::scrypt(pin.as_bytes(), salt, &params, &mut out)
        .map_err(|_| (Status::DeviceError, "scrypt".to_owned()))?;
    Ok(out)
}

/// Fills `buf` from the system CSPRNG.
///
/// # Errors
/// When the generator fails.
pub fn random(buf: &mut [u8]) -> Result<(), StateError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| StateError::Crypto("random generator failed".into()))
}

/// A key pair inside a token. The private part never leaves the device.
#[derive(Serialize, Deserialize)]
pub struct KeyObject {
    /// Handle, unique within the token and stable across restarts.
    pub handle: u64,
    /// Label (`CKA_LABEL`), unique within the token.
    pub label: String,
    /// Identifier (`CKA_ID`).
    pub id: Vec<u8>,
    /// Key type name (`p256`, `rsa2048`, …).
    pub key_type: String,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// PKCS#8 DER of the private key.
    private_pkcs8: Vec<u8>,
}

impl Drop for KeyObject {
    fn drop(&mut self) {
        self.private_pkcs8.zeroize();
    }
}

impl KeyObject {
    /// A new object.
    pub fn new(
        handle: u64,
        label: String,
        id: Vec<u8>,
        key_type: String,
        spki: Vec<u8>,
        private_pkcs8: Vec<u8>,
    ) -> Self {
        KeyObject {
            handle,
            label,
            id,
            key_type,
            spki,
            private_pkcs8,
        }
    }

    /// The private key's PKCS#8 DER, for signing inside the device only.
    pub fn private_pkcs8(&self) -> &[u8] {
        &self.private_pkcs8
    }

    /// The object as the wire describes it.
    pub fn info(&self) -> ObjectInfo {
        ObjectInfo {
            handle: self.handle,
            label: self.label.clone(),
            id: self.id.clone(),
            key_type: self.key_type.clone(),
        }
    }
}

/// A token in a slot.
#[derive(Serialize, Deserialize)]
pub struct Token {
    /// Slot number.
    pub slot: u32,
    /// Label, unique on the device.
    pub label: String,
    so_pin: PinHash,
    user_pin: PinHash,
    so_failures: u32,
    user_failures: u32,
    next_handle: u64,
    /// The token's key objects.
    pub objects: Vec<KeyObject>,
}

impl Token {
    fn failures(&mut self, user: UserType) -> &mut u32 {
        match user {
            UserType::So => &mut self.so_failures,
            UserType::User => &mut self.user_failures,
        }
    }

    /// The slot as `ListSlots` reports it.
    pub fn slot_info(&self, max_tries: u32) -> SlotInfo {
        SlotInfo {
            slot: self.slot,
            label: self.label.clone(),
            user_pin_locked: self.user_failures >= max_tries,
            so_pin_locked: self.so_failures >= max_tries,
            objects: u32::try_from(self.objects.len()).unwrap_or(u32::MAX),
        }
    }

    /// The object with `handle`.
    pub fn object(&self, handle: u64) -> Option<&KeyObject> {
        self.objects.iter().find(|o| o.handle == handle)
    }

    /// The next free object handle.
    pub fn take_handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }
}

/// Everything the device remembers.
#[derive(Serialize, Deserialize, Default)]
pub struct State {
    /// Tokens, one per slot.
    pub tokens: Vec<Token>,
}

impl State {
    /// The token labelled `label`.
    pub fn token(&self, label: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.label == label)
    }

    /// The token in `slot`.
    pub fn slot(&self, slot: u32) -> Option<&Token> {
        self.tokens.iter().find(|t| t.slot == slot)
    }

    /// The object `handle` of the token in `slot`.
    ///
    /// # Errors
    /// `ObjectNotFound`.
    pub fn object(&self, slot: u32, handle: u64) -> Result<&KeyObject, Refusal> {
        self.slot(slot)
            .and_then(|t| t.object(handle))
            .ok_or((Status::ObjectNotFound, format!("no object {handle}")))
    }

    /// The token in `slot`, mutable.
    pub fn slot_mut(&mut self, slot: u32) -> Option<&mut Token> {
        self.tokens.iter_mut().find(|t| t.slot == slot)
    }
}

/// Checks a PIN's shape (PKCS#11 devices bound PIN lengths).
///
/// # Errors
/// `ArgumentsBad` when shorter than 4 or longer than 64 bytes.
pub fn check_pin_shape(pin: &str) -> Result<(), Refusal> {
    if !(4..=64).contains(&pin.len()) {
        return Err((
            Status::ArgumentsBad,
            "a PIN must be 4 to 64 bytes long".into(),
        ));
    }
    Ok(())
}

/// The state directory: the decrypted state, the file key and the directory lock.
pub struct Vault {
    dir: PathBuf,
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    /// The state; call [`Vault::save`] after changing it.
    pub state: State,
    _lock: File,
}

impl Vault {
    /// Opens (or creates) the state in `dir` with `master` as the secret. New state files
    /// use scrypt cost `log_n`; existing ones keep theirs.
    ///
    /// # Errors
    /// I/O, another process holding the directory, a wrong master secret.
    pub fn open(dir: &Path, master: &[u8], log_n: u8) -> Result<Vault, StateError> {
        if master.is_empty() {
            return Err(StateError::Crypto("the master secret is empty".into()));
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked(dir.display().to_string()))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let path = dir.join(STATE_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                let fail = || StateError::Decrypt(path.display().to_string());
                if bytes.len() < HEADER_LEN + 12 + 16 || &bytes[..8] != MAGIC {
                    return Err(fail());
                }
                let mut header = [0u8; HEADER_LEN];
                header.copy_from_slice(&bytes[..HEADER_LEN]);
                let key = file_key(master, header[8], &header[9..])?;
                let mut nonce = [0u8; 12];
                nonce.copy_from_slice(&bytes[HEADER_LEN..HEADER_LEN + 12]);
                let mut sealed = Zeroizing::new(bytes[HEADER_LEN + 12..].to_vec());
                let plain = key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&header[..]),
                        &mut sealed,
                    )
                    .map_err(|_| fail())?;
                let state: State = serde_json::from_slice(plain).map_err(|_| fail())?;
                Ok(Vault {
                    dir: dir.to_path_buf(),
                    key,
                    header,
                    state,
                    _lock: lock,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut header = [0u8; HEADER_LEN];
                header[..8].copy_from_slice(MAGIC);
                header[8] = log_n;
                random(&mut header[9..])?;
                let key = file_key(master, log_n, &header[9..])?;
                let vault = Vault {
                    dir: dir.to_path_buf(),
                    key,
                    header,
                    state: State::default(),
                    _lock: lock,
                };
                vault.save()?;
                Ok(vault)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Writes the state durably (temporary file, sync, rename, sync the directory).
    ///
    /// # Errors
    /// I/O or encryption failures; the previous state file is then still intact.
    pub fn save(&self) -> Result<(), StateError> {
        let mut data = Zeroizing::new(
            serde_json::to_vec(&self.state).map_err(|e| StateError::Crypto(e.to_string()))?,
        );
        let mut nonce = [0u8; 12];
        random(&mut nonce)?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&self.header[..]),
                &mut *data,
            )
            .map_err(|_| StateError::Crypto("state encryption failed".into()))?;
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let path = self.dir.join(STATE_FILE);
        {
            let mut opts = OpenOptions::new();
            opts.create(true).write(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&self.header).map_err(io_err(&tmp))?;
            f.write_all(&nonce).map_err(io_err(&tmp))?;
            f.write_all(&data).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))
    }

    /// Creates a token in the first free slot and saves.
    ///
    /// # Errors
    /// A duplicate label, a bad PIN shape, or a failed save.
    pub fn init_token(
        &mut self,
        label: &str,
        so_pin: &str,
        user_pin: &str,
    ) -> Result<u32, Refusal> {
        if label.is_empty() || label.len() > 32 {
            // PKCS#11 token labels are 32 bytes.
            return Err((
                Status::ArgumentsBad,
                "a token label must be 1 to 32 bytes long".into(),
            ));
        }
        check_pin_shape(so_pin)?;
        check_pin_shape(user_pin)?;
        if self.state.token(label).is_some() {
            return Err((Status::TokenExists, format!("token '{label}' exists")));
        }
        let slot = (0u32..)
            .find(|s| self.state.slot(*s).is_none())
            .unwrap_or(u32::MAX);
        self.state.tokens.push(Token {
            slot,
            label: label.to_owned(),
            so_pin: PinHash::new(so_pin)?,
            user_pin: PinHash::new(user_pin)?,
            so_failures: 0,
            user_failures: 0,
            next_handle: 0,
            objects: Vec::new(),
        });
        if let Err(e) = self.save() {
            self.state.tokens.pop();
            return Err((Status::DeviceError, e.to_string()));
        }
        Ok(slot)
    }

    /// Checks `pin` for `user` on the token in `slot`, counting failures durably: after
    /// `max_tries` consecutive wrong PINs the PIN is locked (even the right one is refused).
    ///
    /// # Errors
    /// `PinLocked`, `PinIncorrect`, `TokenNotFound`, or a failed save.
    pub fn check_pin(
        &mut self,
        slot: u32,
        user: UserType,
        pin: &str,
        max_tries: u32,
    ) -> Result<(), Refusal> {
        let token = self
            .state
            .slot_mut(slot)
            .ok_or((Status::TokenNotFound, format!("no token in slot {slot}")))?;
        if *token.failures(user) >= max_tries {
            return Err((
                Status::PinLocked,
                format!("{user:?} PIN of '{}' is locked", token.label),
            ));
        }
        let hash = match user {
            UserType::So => &token.so_pin,
            UserType::User => &token.user_pin,
        };
        let ok = hash.matches(pin)?;
        let before = *token.failures(user);
        let result = if ok {
            *token.failures(user) = 0;
            Ok(())
        } else {
            *token.failures(user) += 1;
            if *token.failures(user) >= max_tries {
                Err((
                    Status::PinLocked,
                    format!("{user:?} PIN locked after {max_tries} wrong tries"),
                ))
            } else {
                Err((Status::PinIncorrect, "PIN incorrect".to_owned()))
            }
        };
        if before != *token.failures(user) {
            self.save()
                .map_err(|e| (Status::DeviceError, e.to_string()))?;
        }
        result
    }

    /// Sets the user PIN of the token in `slot` and unlocks it.
    ///
    /// # Errors
    /// Bad PIN shape, unknown slot, failed save.
    pub fn init_user_pin(&mut self, slot: u32, pin: &str) -> Result<(), Refusal> {
        check_pin_shape(pin)?;
        let hash = PinHash::new(pin)?;
        let token = self
            .state
            .slot_mut(slot)
            .ok_or((Status::TokenNotFound, format!("no token in slot {slot}")))?;
        token.user_pin = hash;
        token.user_failures = 0;
        self.save()
            .map_err(|e| (Status::DeviceError, e.to_string()))
    }
}

fn file_key(master: &[u8], log_n: u8, salt: &[u8]) -> Result<LessSafeKey, StateError> {
    let params = scrypt::Params::new(log_n, 8, 1)
        .map_err(|_| StateError::Crypto(format!("bad scrypt cost {log_n}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(master, salt, &params, &mut *key)
        .map_err(|_| StateError::Crypto("scrypt failed".into()))?;
    let unbound = UnboundKey::new(&AES_256_GCM, &*key)
        .map_err(|_| StateError::Crypto("AES-256-GCM key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: u8 = 4;

    #[test]
    fn state_persists_encrypted_and_needs_the_master_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut v = Vault::open(dir.path(), b"master secret", FAST).expect("open");
            v.init_token("lab", "so-pin-1", "user-pin-1")
                .expect("token");
            let slot = v.state.token("lab").expect("token").slot;
            let t = v.state.slot_mut(slot).expect("slot");
            let h = t.take_handle();
            t.objects.push(KeyObject::new(
                h,
                "root".into(),
                vec![1],
                "p256".into(),
                vec![0x30],
                b"PRIVATE-BYTES-MARKER".to_vec(),
            ));
            v.save().expect("save");
            // A second process cannot open the same directory.
            assert!(matches!(
                Vault::open(dir.path(), b"master secret", FAST),
                Err(StateError::Locked(_))
            ));
        }
        let raw = fs::read(dir.path().join(STATE_FILE)).expect("read");
        assert!(!raw.windows(20).any(|w| w == b"PRIVATE-BYTES-MARKER"));
        assert!(!raw.windows(3).any(|w| w == b"lab"));
        assert!(matches!(
            Vault::open(dir.path(), b"wrong secret", FAST),
            Err(StateError::Decrypt(_))
        ));
        let v = Vault::open(dir.path(), b"master secret", FAST).expect("reopen");
        let t = v.state.token("lab").expect("token");
        assert_eq!(t.objects[0].private_pkcs8(), b"PRIVATE-BYTES-MARKER");
    }

    #[test]
    fn wrong_pins_lock_and_the_so_unlocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut v = Vault::open(dir.path(), b"m", FAST).expect("open");
        let slot = v
            .init_token("lab", "so-pin-1", "user-pin-1")
            .expect("token");
        assert_eq!(
            v.check_pin(slot, UserType::User, "nope", 3)
                .map_err(|e| e.0),
            Err(Status::PinIncorrect)
        );
        // A right PIN resets the count.
        v.check_pin(slot, UserType::User, "user-pin-1", 3)
            .expect("ok");
        for _ in 0..2 {
            let _ = v.check_pin(slot, UserType::User, "nope", 3);
        }
        assert_eq!(
            v.check_pin(slot, UserType::User, "nope", 3)
                .map_err(|e| e.0),
            Err(Status::PinLocked)
        );
        assert_eq!(
            v.check_pin(slot, UserType::User, "user-pin-1", 3)
                .map_err(|e| e.0),
            Err(Status::PinLocked)
        );
        assert!(v.state.slot(slot).expect("t").slot_info(3).user_pin_locked);
        v.check_pin(slot, UserType::So, "so-pin-1", 3).expect("so");
        v.init_user_pin(slot, "user-pin-2").expect("reset");
        v.check_pin(slot, UserType::User, "user-pin-2", 3)
            .expect("unlocked");
        assert_eq!(
            v.init_token("lab", "so-pin-1", "user-pin-1")
                .map_err(|e| e.0),
            Err(Status::TokenExists)
        );
        assert_eq!(
            v.init_token("lab2", "so", "user-pin-1").map_err(|e| e.0),
            Err(Status::ArgumentsBad)
        );
    }
}
