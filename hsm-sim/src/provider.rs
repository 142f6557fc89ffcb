//! caforge's custodian for keys inside an hsm-sim: `hsm-sim://SOCKET-OR-ADDR?token=L&object=NAME`.
//!
//! URI attributes: `token` (required), `object` (the key's label; at generation, defaults to
//! the CA's name), `pin-source` (a file holding the user PIN, RFC 7512's name for it) and
//! `timeout-ms` (per answer, default 10 000). A socket path is written with three slashes:
//! `hsm-sim:///run/hsm.sock?token=L`.
//!
//! Connections are pooled per device and token, each with an open, logged-in session. A
//! signature whose connection broke (the device restarted) is retried once on a new
//! connection; device errors and timeouts are not retried and surface as typed
//! [`KeyError`]s.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ca_core::algorithm::KeyType;
use ca_core::keys::uri::{attributes, percent_encode, percent_encode_path};
use ca_core::keys::{random_bytes, DeviceMap, KeyError, KeyProvider, KeyRef, Pin, Signer};
use der::Decode as _;
use spki::SubjectPublicKeyInfoOwned;

use crate::client::{Client, ClientError, Endpoint};
use crate::protocol::{Mechanism, ObjectInfo, Reply, Request, Status, UserType};

const SCHEME: &str = "hsm-sim://";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `hsm-sim://` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HsmSimUri {
    /// The device.
    pub endpoint: Endpoint,
    /// Token label.
    pub token: String,
    /// Object label, if named.
    pub object: Option<String>,
    /// File holding the user PIN.
    pub pin_source: Option<PathBuf>,
    /// Per-answer timeout.
    pub timeout: Option<Duration>,
}

impl HsmSimUri {
    /// Parses `hsm-sim://ADDR?token=L[&object=N][&pin-source=F][&timeout-ms=T]`.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedKeyRef`] for anything else.
    pub fn parse(uri: &str) -> Result<HsmSimUri, KeyError> {
        let bad = |why: &str| KeyError::UnsupportedKeyRef(format!("{uri}: {why}"));
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("not hsm-sim://"))?;
        let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
        if addr.is_empty() {
            return Err(bad("no device address or socket path"));
        }
        let mut out = HsmSimUri {
            endpoint: Endpoint::parse(addr),
            token: String::new(),
            object: None,
            pin_source: None,
            timeout: None,
        };
        for (name, value) in attributes(query, '&')? {
            match name.as_str() {
                "token" => out.token = value,
                "object" => out.object = Some(value),
                "pin-source" => out.pin_source = Some(PathBuf::from(value)),
                "timeout-ms" => {
                    let ms: u64 = value
                        .parse()
                        .map_err(|_| bad("timeout-ms is not a number"))?;
                    out.timeout = Some(Duration::from_millis(ms.max(1)));
                }
                other => return Err(bad(&format!("unknown attribute '{other}'"))),
            }
        }
        if out.token.is_empty() {
            return Err(bad("token= is required"));
        }
        Ok(out)
    }

    /// The URI text (attributes percent-encoded).
    pub fn to_uri(&self) -> String {
        let mut s = format!(
            "{SCHEME}{}?token={}",
            self.endpoint,
            percent_encode(&self.token)
        );
        if let Some(o) = &self.object {
            s.push_str(&format!("&object={}", percent_encode(o)));
        }
        if let Some(p) = &self.pin_source {
            s.push_str(&format!(
                "&pin-source={}",
                percent_encode_path(&p.display().to_string())
            ));
        }
        if let Some(t) = self.timeout {
            s.push_str(&format!("&timeout-ms={}", t.as_millis()));
        }
        s
    }
}

/// Maps a client error to caforge's key errors.
fn key_error(token: &str, e: ClientError) -> KeyError {
    match e {
        ClientError::Unavailable { .. } => KeyError::Unavailable(e.to_string()),
        ClientError::Timeout { .. } => KeyError::Timeout(e.to_string()),
        ClientError::Protocol(m) => KeyError::Device(m),
        ClientError::Refused { status, message } => match status {
            Status::PinIncorrect => KeyError::PinIncorrect(token.to_owned()),
            Status::PinLocked => KeyError::PinLocked(token.to_owned()),
            Status::TokenNotFound => KeyError::NotFound(format!("token '{token}'")),
            Status::ObjectNotFound => KeyError::NotFound(message),
            Status::ObjectExists | Status::MechanismInvalid | Status::ArgumentsBad => {
                KeyError::Rejected(format!("hsm-sim: {message}"))
            }
            _ => KeyError::Device(format!("hsm-sim: {status}: {message}")),
        },
    }
}

struct Session {
    client: Client,
    session: u64,
}

/// Pooled, logged-in sessions on one token of one device.
struct TokenPool {
    endpoint: Endpoint,
    token: String,
    pin: Pin,
    timeout: Duration,
    idle: Mutex<Vec<Session>>,
}

impl TokenPool {
    fn open(&self) -> Result<Session, ClientError> {
        let mut client = Client::connect(&self.endpoint, self.timeout)?;
        client.call(&Request::Hello {
            client: format!("caforge {}", env!("CARGO_PKG_VERSION")),
        })?;
        let session = match client.call(&Request::OpenSession {
            token: self.token.clone(),
        })? {
            Reply::Session(s) => s,
            other => return Err(ClientError::Protocol(format!("unexpected {other:?}"))),
        };
        client.call(&Request::Login {
            session,
            user: UserType::User,
            pin: self.pin.expose().to_owned(),
        })?;
        Ok(Session { client, session })
    }

    /// Runs `make(session)` on a pooled session (or a new one). A broken pooled connection
    /// is replaced and, when `idempotent`, the request is sent once more.
    fn call(&self, idempotent: bool, make: impl Fn(u64) -> Request) -> Result<Reply, KeyError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let was_pooled = pooled.is_some();
        let mut s = match pooled {
            Some(s) => s,
            None => self.open().map_err(|e| key_error(&self.token, e))?,
        };
        let mut result = s.client.call(&make(s.session));
        if was_pooled && idempotent {
            if let Err(ClientError::Unavailable { .. }) = result {
                s = self.open().map_err(|e| key_error(&self.token, e))?;
                result = s.client.call(&make(s.session));
            }
        }
        let session_lost = matches!(
            result,
            Err(ClientError::Refused {
                status: Status::SessionInvalid | Status::NotLoggedIn,
                ..
            })
        );
        if !s.client.is_broken() && !session_lost {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(s);
        }
        result.map_err(|e| key_error(&self.token, e))
    }

    fn find(&self, label: &str) -> Result<ObjectInfo, KeyError> {
        let reply = self.call(true, |session| Request::FindObjects {
            session,
            label: Some(label.to_owned()),
            id: None,
        })?;
        let Reply::Objects(mut found) = reply else {
            return Err(KeyError::Device("hsm-sim: unexpected answer".into()));
        };
        match found.len() {
            0 => Err(KeyError::NotFound(format!(
                "no key labelled '{label}' in token '{}'",
                self.token
            ))),
            1 => Ok(found.remove(0)),
            n => Err(KeyError::Rejected(format!(
                "{n} keys are labelled '{label}' in token '{}'",
                self.token
            ))),
        }
    }

    fn public_key(&self, handle: u64) -> Result<(KeyType, SubjectPublicKeyInfoOwned), KeyError> {
        let Reply::PublicKey { key_type, spki } =
            self.call(true, |session| Request::GetPublicKey { session, handle })?
        else {
            return Err(KeyError::Device("hsm-sim: unexpected answer".into()));
        };
        let kt: KeyType = key_type.parse()?;
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki)
            .map_err(|e| KeyError::Device(format!("hsm-sim public key: {e}")))?;
        Ok((kt, spki))
    }
}

/// A key inside an hsm-sim, used through the pool.
struct HsmSimSigner {
    pool: Arc<TokenPool>,
    handle: u64,
    key_type: KeyType,
    spki: SubjectPublicKeyInfoOwned,
    sm2_id: String,
}

impl Signer for HsmSimSigner {
    fn key_type(&self) -> KeyType {
        self.key_type
    }

    fn device(&self) -> Option<String> {
        Some(format!("hsm-sim://{}", self.pool.endpoint))
    }

    fn public_key_info(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mechanism = match self.key_type {
            KeyType::Rsa2048 | KeyType::Rsa3072 => Mechanism::RsaPkcsSha256,
            KeyType::Rsa4096 => Mechanism::RsaPkcsSha384,
            KeyType::P256 => Mechanism::EcdsaSha256,
            KeyType::P384 => Mechanism::EcdsaSha384,
            KeyType::Ed25519 => Mechanism::Ed25519,
            KeyType::Sm2 => Mechanism::Sm2Sm3 {
                id: self.sm2_id.clone(),
            },
        };
        let reply = self.pool.call(true, |session| Request::Sign {
            session,
            handle: self.handle,
            mechanism: mechanism.clone(),
            data: message.to_vec(),
        })?;
        match reply {
            Reply::Signature(s) => Ok(s),
            _ => Err(KeyError::Device("hsm-sim: unexpected answer".into())),
        }
    }

    fn sm2_id(&self) -> Option<&str> {
        (self.key_type == KeyType::Sm2).then_some(self.sm2_id.as_str())
    }

    fn probe(&self) -> Result<(), KeyError> {
        let (_, spki) = self.pool.public_key(self.handle)?;
        if spki != self.spki {
            return Err(KeyError::NotFound(format!(
                "object {} no longer holds this key",
                self.handle
            )));
        }
        Ok(())
    }
}

/// caforge's key custodian for `hsm-sim://` URIs.
pub struct HsmSimKeyProvider {
    pin: Option<Pin>,
    pools: DeviceMap<(Endpoint, String), TokenPool>,
}

impl fmt::Debug for HsmSimKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmSimKeyProvider").finish_non_exhaustive()
    }
}

impl HsmSimKeyProvider {
    /// A provider whose tokens take `pin` unless a URI names its own `pin-source`.
    pub fn new(pin: Option<Pin>) -> Self {
        HsmSimKeyProvider {
            pin,
            pools: DeviceMap::default(),
        }
    }

    fn pool(&self, uri: &HsmSimUri) -> Result<Arc<TokenPool>, KeyError> {
        let key = (uri.endpoint.clone(), uri.token.clone());
        self.pools.get_or_try_init(key, || {
            Ok(TokenPool {
                endpoint: uri.endpoint.clone(),
                token: uri.token.clone(),
                pin: Pin::resolve(uri.pin_source.as_deref(), self.pin.as_ref(), &uri.token)?,
                timeout: uri.timeout.unwrap_or(DEFAULT_TIMEOUT),
                idle: Mutex::new(Vec::new()),
            })
        })
    }
}

impl KeyProvider for HsmSimKeyProvider {
    fn generate(
        &self,
        store: &str,
        key_type: KeyType,
        label: &str,
        sm2_id: &str,
    ) -> Result<(KeyRef, Box<dyn Signer>), KeyError> {
        let mut uri = HsmSimUri::parse(store)?;
        let object = uri.object.clone().unwrap_or_else(|| label.to_owned());
        let pool = self.pool(&uri)?;
        let mut id = vec![0u8; 16];
        random_bytes(&mut id)?;
        // Not retried: a lost answer may still have made the key, and a second try would
        // then be refused as a duplicate label rather than make two.
        let reply = pool.call(false, |session| Request::GenerateKeyPair {
            session,
            key_type: key_type.as_str().to_owned(),
            label: object.clone(),
            id: id.clone(),
        })?;
        let Reply::Object(info) = reply else {
            return Err(KeyError::Device("hsm-sim: unexpected answer".into()));
        };
        let (kt, spki) = pool.public_key(info.handle)?;
        uri.object = Some(object);
        let signer = HsmSimSigner {
            pool,
            handle: info.handle,
            key_type: kt,
            spki,
            sm2_id: sm2_id.to_owned(),
        };
        Ok((KeyRef::new(uri.to_uri()), Box::new(signer)))
    }

    fn load(&self, key_ref: &KeyRef, sm2_id: &str) -> Result<Box<dyn Signer>, KeyError> {
        let uri = HsmSimUri::parse(key_ref.as_str())?;
        let object = uri.object.clone().ok_or_else(|| {
            KeyError::UnsupportedKeyRef(format!("{key_ref}: object= names no key"))
        })?;
        let pool = self.pool(&uri)?;
        let info = pool.find(&object)?;
        let (kt, spki) = pool.public_key(info.handle)?;
        Ok(Box::new(HsmSimSigner {
            pool,
            handle: info.handle,
            key_type: kt,
            spki,
            sm2_id: sm2_id.to_owned(),
        }))
    }

    fn remove(&self, key_ref: &KeyRef) -> Result<(), KeyError> {
        let uri = HsmSimUri::parse(key_ref.as_str())?;
        let Some(object) = uri.object.clone() else {
            return Ok(());
        };
        let pool = self.pool(&uri)?;
        let info = pool.find(&object)?;
        pool.call(false, |session| Request::DestroyObject {
            session,
            handle: info.handle,
        })
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_print() {
        let u = HsmSimUri::parse("hsm-sim://127.0.0.1:7000?token=lab%201&object=Root%20CA")
            .expect("parse");
        assert_eq!(u.endpoint, Endpoint::Tcp("127.0.0.1:7000".into()));
        assert_eq!(u.token, "lab 1");
        assert_eq!(u.object.as_deref(), Some("Root CA"));
        assert_eq!(HsmSimUri::parse(&u.to_uri()).expect("again"), u);
        let s = HsmSimUri::parse("hsm-sim:///tmp/h.sock?token=t&pin-source=/tmp/pin&timeout-ms=50")
            .expect("socket");
        assert_eq!(s.endpoint, Endpoint::Unix("/tmp/h.sock".into()));
        assert_eq!(s.timeout, Some(Duration::from_millis(50)));
        assert_eq!(HsmSimUri::parse(&s.to_uri()).expect("again"), s);
        for bad in [
            "hsm-sim://127.0.0.1:1",
            "hsm-sim://?token=x",
            "file:x",
            "hsm-sim://a:1?token=x&colour=red",
            "hsm-sim://a:1?token=x&timeout-ms=soon",
        ] {
            assert!(HsmSimUri::parse(bad).is_err(), "{bad}");
        }
    }
}
