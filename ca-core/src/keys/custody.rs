//! [`KeyCustody`]: one [`KeyProvider`] that routes each key URI to the custodian of its
//! scheme (`file:`, `hsm-sim:`, `pkcs11:`, …), so the services share a single provider.

use std::fmt;
use std::sync::Arc;

use super::{
    encrypt_key_pem, read_key_pem, KeyError, KeyProvider, KeyRef, Passphrase, Signer, SoftwareKey,
};
use crate::algorithm::KeyType;

/// Where new keys go when a command names no key store: encrypted files in the home's `keys/`.
pub const DEFAULT_KEY_STORE: &str = "file:keys";

/// Routes key URIs to custodians by scheme. The `file:` provider it is built with seals
/// managed certificates' keys; the KMC's escrow (encryption keys of SM2 pairs) is sealed
/// under the KMC's own passphrase ([`KeyCustody::with_escrow`]), never the CA passphrase.
pub struct KeyCustody {
    files: Arc<dyn KeyProvider>,
    others: Vec<(String, Arc<dyn KeyProvider>)>,
    escrow: Option<Passphrase>,
}

/// The PEM label of escrow sealed under the KMC's passphrase (encrypted PKCS#8 inside);
/// escrow from before the KMC had its own passphrase is labelled `ENCRYPTED PRIVATE KEY`
/// and sealed under the CA passphrase.
const ESCROW_LABEL: &str = "CAFORGE KMC ESCROWED KEY";
const PKCS8_ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

impl fmt::Debug for KeyCustody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schemes: Vec<&str> = self.others.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("KeyCustody")
            .field("schemes", &schemes)
            .finish_non_exhaustive()
    }
}

/// The scheme of a key URI: the text before the first `:`.
fn scheme(uri: &str) -> Result<&str, KeyError> {
    match uri.split_once(':') {
        Some((scheme, _)) if !scheme.is_empty() => Ok(scheme),
        _ => Err(KeyError::UnsupportedKeyRef(uri.to_owned())),
    }
}

impl KeyCustody {
    /// Custody with `files` for `file:` URIs and escrow.
    pub fn new(files: Arc<dyn KeyProvider>) -> Self {
        KeyCustody {
            files,
            others: Vec::new(),
            escrow: None,
        }
    }

    /// Custody whose KMC escrow is sealed under `passphrase` (the KMC's own, from
    /// `--kmc-passphrase-file`).
    #[must_use]
    pub fn with_escrow(mut self, passphrase: Option<Passphrase>) -> Self {
        self.escrow = passphrase;
        self
    }

    fn escrow_passphrase(&self) -> Result<&Passphrase, KeyError> {
        self.escrow.as_ref().ok_or_else(|| {
            KeyError::Material(
                "the KMC seals escrowed keys under its own passphrase: pass --kmc-passphrase-file FILE (never the CA passphrase)".into(),
            )
        })
    }

    /// Adds the custodian for `scheme` (without the colon).
    #[must_use]
    pub fn with(mut self, scheme: &str, provider: Arc<dyn KeyProvider>) -> Self {
        self.others.push((scheme.to_owned(), provider));
        self
    }

    fn route(&self, uri: &str) -> Result<&dyn KeyProvider, KeyError> {
        let scheme = scheme(uri)?;
        if scheme == "file" {
            return Ok(&*self.files);
        }
        self.others
            .iter()
            .find(|(s, _)| s == scheme)
            .map(|(_, p)| &**p)
            .ok_or_else(|| KeyError::UnsupportedKeyRef(uri.to_owned()))
    }
}

impl KeyProvider for KeyCustody {
    fn generate(
        &self,
        store: &str,
        key_type: KeyType,
        label: &str,
        sm2_id: &str,
    ) -> Result<(KeyRef, Box<dyn Signer>), KeyError> {
        self.route(store)?.generate(store, key_type, label, sm2_id)
    }

    fn load(&self, key_ref: &KeyRef, sm2_id: &str) -> Result<Box<dyn Signer>, KeyError> {
        self.route(key_ref.as_str())?.load(key_ref, sm2_id)
    }

    fn seal(&self, key: &SoftwareKey) -> Result<Vec<u8>, KeyError> {
        self.files.seal(key)
    }

    fn unseal(&self, sealed: &[u8], sm2_id: &str) -> Result<SoftwareKey, KeyError> {
        self.files.unseal(sealed, sm2_id)
    }

    fn seal_escrow(&self, key: &SoftwareKey) -> Result<Vec<u8>, KeyError> {
        let pem = encrypt_key_pem(key, self.escrow_passphrase()?)?;
        Ok(pem
            .replace(PKCS8_ENCRYPTED_LABEL, ESCROW_LABEL)
            .into_bytes())
    }

    fn unseal_escrow(&self, sealed: &[u8], sm2_id: &str) -> Result<SoftwareKey, KeyError> {
        if !self.escrow_is_current(sealed) {
            return self.files.unseal(sealed, sm2_id);
        }
        let pem = std::str::from_utf8(sealed)
            .map_err(|_| KeyError::Material("escrowed key: not PEM".into()))?
            .replace(ESCROW_LABEL, PKCS8_ENCRYPTED_LABEL);
        read_key_pem(
            &pem,
            Some(self.escrow_passphrase()?),
            sm2_id,
            "escrowed key",
        )
    }

    fn escrow_is_current(&self, sealed: &[u8]) -> bool {
        sealed.starts_with(format!("-----BEGIN {ESCROW_LABEL}-----").as_bytes())
    }

    fn list(&self, store: &str) -> Result<Vec<(KeyRef, Option<i64>)>, KeyError> {
        self.route(store)?.list(store)
    }

    fn identity(&self, key_ref: &KeyRef) -> Result<String, KeyError> {
        self.route(key_ref.as_str())?.identity(key_ref)
    }

    fn remove(&self, key_ref: &KeyRef) -> Result<(), KeyError> {
        self.route(key_ref.as_str())?.remove(key_ref)
    }
}

/// The key store a key lives in: its URI without the key's own name (a file's directory,
/// or a device URI without `object=`). New keys that belong with it (an OCSP responder's
/// key beside its CA's) are generated there.
pub fn store_of(key_ref: &KeyRef) -> String {
    let uri = key_ref.as_str();
    if let Some(path) = uri.strip_prefix("file:") {
        return match path.rsplit_once('/') {
            Some((dir, _)) if !dir.is_empty() => format!("file:{dir}"),
            _ => DEFAULT_KEY_STORE.to_owned(),
        };
    }
    let drop_object = |part: &str, sep: char| -> String {
        part.split(sep)
            .filter(|item| !item.starts_with("object="))
            .collect::<Vec<_>>()
            .join(&sep.to_string())
    };
    match uri.split_once('?') {
        Some((path, query)) => {
            let query = drop_object(query, '&');
            let path = drop_object(path, ';');
            if query.is_empty() {
                path
            } else {
                format!("{path}?{query}")
            }
        }
        None => drop_object(uri, ';'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_of_strips_the_key_name() {
        let s = |u: &str| store_of(&KeyRef::new(u));
        assert_eq!(s("file:keys/root.key.pem"), "file:keys");
        assert_eq!(s("file:root.key.pem"), "file:keys");
        assert_eq!(s("file:/abs/dir/k.pem"), "file:/abs/dir");
        assert_eq!(
            s("hsm-sim://127.0.0.1:5000?token=lab&object=Root"),
            "hsm-sim://127.0.0.1:5000?token=lab"
        );
        assert_eq!(
            s("hsm-sim:///run/h.sock?object=Root&token=lab"),
            "hsm-sim:///run/h.sock?token=lab"
        );
        assert_eq!(
            s("pkcs11:token=lab;object=Root?module-path=/x.so"),
            "pkcs11:token=lab?module-path=/x.so"
        );
        assert_eq!(s("pkcs11:token=lab;object=Root"), "pkcs11:token=lab");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let custody = KeyCustody::new(Arc::new(super::super::FileKeyProvider::new(
            "/nonexistent",
            None,
        )));
        assert!(matches!(
            custody.load(&KeyRef::new("vault:x"), ""),
            Err(KeyError::UnsupportedKeyRef(_))
        ));
        assert!(matches!(
            custody.load(&KeyRef::new("no-scheme"), ""),
            Err(KeyError::UnsupportedKeyRef(_))
        ));
    }
}
