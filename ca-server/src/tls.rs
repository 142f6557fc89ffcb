//! HTTPS for the API listener (rustls): a certificate read from PEM files and read again
//! whenever they change (a renewal, or the operator replacing them), so a new certificate
//! is served without a restart while connections made under the old one carry on; and,
//! when configured, client certificates that must chain to the operator's CAs (mTLS).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// What identifies a version of the two files: modification time, length and inode (a
/// file replaced by a rename is a new inode, whatever its time and size).
type Stamp = [(Option<SystemTime>, u64, u64); 2];

/// A certificate and key read from files, served to every handshake, and replaced when
/// the files change ([`CertFiles::reload_if_changed`]).
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Stamp, Arc<CertifiedKey>)>,
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn stamp(paths: [&Path; 2]) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    paths.map(|p| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len(), m.ino()),
        Err(_) => (None, 0, 0),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads the chain in `cert` and the key in `key`, and checks that they belong together.
fn read(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    // The key file's name only: never its contents.
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, key_der, &provider())
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))
}

impl CertFiles {
    /// Reads `cert` (PEM chain, leaf first) and `key` (PEM private key).
    ///
    /// # Errors
    /// Unreadable or unparsable files, or a key that is not the certificate's.
    pub fn load(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Result<Arc<CertFiles>, String> {
        let (cert, key) = (cert.into(), key.into());
        let stamp = stamp([&cert, &key]);
        let loaded = read(&cert, &key)?;
        Ok(Arc::new(CertFiles {
            current: RwLock::new((stamp, Arc::new(loaded))),
            cert,
            key,
        }))
    }

    /// Reads the files again when they changed since the last read. A pair that does not
    /// load (half written, a key that does not match) leaves the current one in service.
    ///
    /// # Errors
    /// Why the changed files were not taken (they are tried again on the next call).
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = stamp([&self.cert, &self.key]);
        let same = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            == now;
        if same {
            return Ok(false);
        }
        let loaded = read(&self.cert, &self.key)?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (now, Arc::new(loaded));
        Ok(true)
    }

    /// The SHA-256 (hex) of the leaf certificate now served.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current
            .1
            .cert
            .first()
            .map(|c| hex::encode(Sha256::digest(c.as_ref())))
            .unwrap_or_default()
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(Arc::clone(&current.1))
    }
}

/// Checks `files` for a new certificate every `every`, for as long as the runtime runs:
/// a renewed or replaced certificate is served to the next handshake.
pub fn watch(files: Arc<CertFiles>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match files.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(sha256 = %files.fingerprint(), "the API listener's certificate was reloaded");
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the API listener's new certificate was not taken");
                }
            }
        }
    })
}

/// The rustls configuration of the API listener: `files`' certificate, HTTP/1.1, and when
/// `client_cas` (a PEM file) is given, a client certificate chaining to one of them.
///
/// # Errors
/// An unreadable or empty client CA file.
pub fn server_config(
    files: Arc<CertFiles>,
    client_cas: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_cas {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
            {
                roots
                    .add(cert.map_err(|e| format!("{}: {e}", path.display()))?)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{}: no CA certificate in it", path.display()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("client CAs in {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(files);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate an API client presented on its TLS connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    /// SHA-256 (hex) of its SubjectPublicKeyInfo: what a token is bound to (it survives
    /// the client certificate's renewal with the same key).
    pub key_sha256: String,
}

impl ClientCert {
    /// The client certificate `der`, if it parses.
    #[must_use]
    pub fn of(der: &[u8]) -> Option<ClientCert> {
        ca_core::tokens::client_key_of(der)
            .ok()
            .map(|key_sha256| ClientCert { key_sha256 })
    }
}
