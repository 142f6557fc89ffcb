//! Keys in encrypted files: PKCS#8 `EncryptedPrivateKeyInfo` (RFC 5958) with PBES2
//! (scrypt + AES-256-CBC, RFC 8018 / RFC 7914), PEM-armoured, mode 0600.
//! OpenSSL reads these files with `openssl pkey -passin …` and writes files we read.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use der::pem::LineEnding;
use der::SecretDocument;
use pkcs8::EncryptedPrivateKeyInfoRef;
use zeroize::Zeroizing;

use super::{KeyError, KeyProvider, KeyRef, Signer, SoftwareKey};
use crate::algorithm::KeyType;

/// A passphrase, wiped from memory on drop and never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase; trailing newlines (as left by `echo … > file`) are removed.
    pub fn new(text: impl Into<String>) -> Self {
        Passphrase(super::pin::trimmed(text.into()))
    }

    /// Reads a passphrase file.
    ///
    /// # Errors
    /// [`KeyError::Io`] when the file cannot be read; [`KeyError::MissingPassphrase`] if empty.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let p = Passphrase(super::pin::read_secret_file(path)?);
        if p.0.is_empty() {
            return Err(KeyError::MissingPassphrase);
        }
        Ok(p)
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The passphrase's text (for comparing two passphrases; never printed).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";
const PLAIN_LABEL: &str = "PRIVATE KEY";

/// Keys kept as encrypted PKCS#8 files under a directory (the home's `keys/`).
pub struct FileKeyProvider {
    home: PathBuf,
    passphrase: Option<Passphrase>,
}

impl fmt::Debug for FileKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeyProvider")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl FileKeyProvider {
    /// A provider whose relative `file:` references resolve against `home`.
    pub fn new(home: impl Into<PathBuf>, passphrase: Option<Passphrase>) -> Self {
        FileKeyProvider {
            home: home.into(),
            passphrase,
        }
    }

    fn resolve(&self, key_ref: &KeyRef) -> Result<PathBuf, KeyError> {
        let path = key_ref
            .as_str()
            .strip_prefix("file:")
            .ok_or_else(|| KeyError::UnsupportedKeyRef(key_ref.to_string()))?;
        let path = Path::new(path);
        Ok(if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.home.join(path)
        })
    }

    fn passphrase(&self) -> Result<&Passphrase, KeyError> {
        self.passphrase.as_ref().ok_or(KeyError::MissingPassphrase)
    }
}

/// Encrypts `key` under `passphrase` and returns the PEM text.
///
/// # Errors
/// [`KeyError::Material`] if encoding or encryption fails.
pub fn encrypt_key_pem(
    key: &SoftwareKey,
    passphrase: &Passphrase,
) -> Result<Zeroizing<String>, KeyError> {
    let der = key.to_pkcs8_der()?;
    let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
        .map_err(|e| KeyError::Material(format!("PKCS#8 encoding: {e}")))?;
    let doc: SecretDocument = info
        .encrypt(passphrase.as_bytes())
        .map_err(|e| KeyError::Material(format!("key encryption: {e}")))?;
    doc.to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map_err(|e| KeyError::Material(format!("PEM encoding: {e}")))
}

/// The key as unencrypted PKCS#8 PEM (`--no-encrypt-key`, test labs only).
///
/// # Errors
/// [`KeyError::Material`] if encoding fails.
pub fn plain_key_pem(key: &SoftwareKey) -> Result<Zeroizing<String>, KeyError> {
    let der = key.to_pkcs8_der()?;
    let doc = SecretDocument::try_from(der.as_slice())
        .map_err(|e| KeyError::Material(format!("PKCS#8 encoding: {e}")))?;
    doc.to_pem(PLAIN_LABEL, LineEnding::LF)
        .map_err(|e| KeyError::Material(format!("PEM encoding: {e}")))
}

/// Parses a PEM private key file, decrypting it when it is encrypted.
///
/// # Errors
/// [`KeyError::WrongPassphrase`], [`KeyError::MissingPassphrase`] or [`KeyError::Material`].
pub fn read_key_pem(
    pem: &str,
    passphrase: Option<&Passphrase>,
    sm2_id: &str,
    path_for_errors: &str,
) -> Result<SoftwareKey, KeyError> {
    let (label, doc) = SecretDocument::from_pem(pem).map_err(|e| {
        KeyError::Material(format!("{path_for_errors}: not a PEM private key: {e}"))
    })?;
    match label {
        ENCRYPTED_LABEL => {
            let passphrase = passphrase.ok_or(KeyError::MissingPassphrase)?;
            let info = EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(|e| {
                KeyError::Material(format!("{path_for_errors}: bad encrypted key: {e}"))
            })?;
            let plain =
                info.decrypt(passphrase.as_bytes())
                    .map_err(|_| KeyError::WrongPassphrase {
                        path: path_for_errors.to_owned(),
                    })?;
            // A wrong passphrase can decrypt to padding-valid garbage; treat any parse
            // failure of the plaintext the same way.
            SoftwareKey::from_pkcs8_der(plain.as_bytes(), sm2_id).map_err(|_| {
                KeyError::WrongPassphrase {
                    path: path_for_errors.to_owned(),
                }
            })
        }
        PLAIN_LABEL => SoftwareKey::from_pkcs8_der(doc.as_bytes(), sm2_id),
        other => Err(KeyError::Material(format!(
            "{path_for_errors}: unsupported PEM label '{other}' (expected PKCS#8)"
        ))),
    }
}

/// Writes `contents` to a new file with mode 0600; refuses to overwrite unless `force`.
///
/// # Errors
/// [`KeyError::Io`] on any I/O failure, including an existing file.
pub fn write_private_file(path: &Path, contents: &[u8], force: bool) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// The directory of a `file:DIR` key store, relative to the home.
fn store_dir(store: &str) -> Result<&str, KeyError> {
    store
        .strip_prefix("file:")
        .map(|d| d.trim_end_matches('/'))
        .filter(|d| !d.is_empty())
        .ok_or_else(|| KeyError::UnsupportedKeyRef(store.to_owned()))
}

impl KeyProvider for FileKeyProvider {
    /// Encrypted PKCS#8 (PEM) under the home's passphrase, as key files are.
    fn seal(&self, key: &SoftwareKey) -> Result<Vec<u8>, KeyError> {
        Ok(encrypt_key_pem(key, self.passphrase()?)?
            .as_bytes()
            .to_vec())
    }

    fn unseal(&self, sealed: &[u8], sm2_id: &str) -> Result<SoftwareKey, KeyError> {
        let pem = std::str::from_utf8(sealed)
            .map_err(|_| KeyError::Material("escrowed key: not PEM".into()))?;
        read_key_pem(pem, Some(self.passphrase()?), sm2_id, "escrowed key")
    }

    fn generate(
        &self,
        store: &str,
        key_type: KeyType,
        label: &str,
        sm2_id: &str,
    ) -> Result<(KeyRef, Box<dyn Signer>), KeyError> {
        let rel = store_dir(store)?;
        let passphrase = self.passphrase()?;
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self.home.join(rel);
        fs::create_dir_all(&dir).map_err(|source| KeyError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let key = SoftwareKey::generate(key_type, sm2_id)?;
        let pem = encrypt_key_pem(&key, passphrase)?;
        // Never overwrite: pick the first free name.
        let mut n = 0u32;
        loop {
            let name = if n == 0 {
                format!("{safe}.key.pem")
            } else {
                format!("{safe}-{n}.key.pem")
            };
            let path = dir.join(&name);
            match write_private_file(&path, pem.as_bytes(), false) {
                Ok(()) => return Ok((KeyRef::new(format!("file:{rel}/{name}")), Box::new(key))),
                Err(KeyError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 =>
                {
                    n += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn list(&self, store: &str) -> Result<Vec<(KeyRef, Option<i64>)>, KeyError> {
        let rel = store_dir(store)?;
        let dir = self.home.join(rel);
        // Only directories inside the home are caforge's own: elsewhere (a system key
        // directory, say) other programs' keys may sit beside a CA's.
        let inside = match (dir.canonicalize(), self.home.canonicalize()) {
            (Ok(d), Ok(h)) => d.starts_with(h),
            _ => !Path::new(rel).is_absolute() && !rel.split('/').any(|c| c == ".."),
        };
        if !inside {
            return Err(KeyError::UnsupportedKeyRef(format!(
                "{store} (outside the home: not scanned)"
            )));
        }
        let io = |source| KeyError::Io {
            path: dir.display().to_string(),
            source,
        };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".key.pem") {
                continue;
            }
            let made = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok());
            keys.push((KeyRef::new(format!("file:{rel}/{name}")), made));
        }
        keys.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Ok(keys)
    }

    fn identity(&self, key_ref: &KeyRef) -> Result<String, KeyError> {
        let path = self.resolve(key_ref)?;
        Ok(path.canonicalize().unwrap_or(path).display().to_string())
    }

    fn remove(&self, key_ref: &KeyRef) -> Result<(), KeyError> {
        let path = self.resolve(key_ref)?;
        fs::remove_file(&path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    fn load(&self, key_ref: &KeyRef, sm2_id: &str) -> Result<Box<dyn Signer>, KeyError> {
        let path = self.resolve(key_ref)?;
        let pem = Zeroizing::new(fs::read_to_string(&path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?);
        let key = read_key_pem(
            &pem,
            self.passphrase.as_ref(),
            sm2_id,
            &path.display().to_string(),
        )?;
        Ok(Box::new(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::DEFAULT_SM2_ID;

    #[test]
    fn encrypted_file_round_trips_and_rejects_wrong_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let provider = FileKeyProvider::new(dir.path(), Some(Passphrase::new("correct horse")));
        let (key_ref, signer) = provider
            .generate("file:keys", KeyType::Sm2, "root ca", DEFAULT_SM2_ID)
            .expect("generate");
        assert_eq!(key_ref.as_str(), "file:keys/root_ca.key.pem");
        let path = dir.path().join("keys/root_ca.key.pem");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let loaded = provider.load(&key_ref, DEFAULT_SM2_ID).expect("load");
        assert_eq!(loaded.public_key_info(), signer.public_key_info());

        let wrong = FileKeyProvider::new(dir.path(), Some(Passphrase::new("wrong")));
        assert!(matches!(
            wrong.load(&key_ref, DEFAULT_SM2_ID),
            Err(KeyError::WrongPassphrase { .. })
        ));
        // A second key with the same label never overwrites the first.
        let (second, _) = provider
            .generate("file:keys/", KeyType::P256, "root ca", DEFAULT_SM2_ID)
            .expect("generate");
        assert_eq!(second.as_str(), "file:keys/root_ca-1.key.pem");
    }
}
