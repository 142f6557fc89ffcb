//! Keys in any PKCS#11 module (SoftHSM2 in tests), addressed by RFC 7512 URIs:
//! `pkcs11:token=L;object=NAME?module-path=/usr/lib/softhsm/libsofthsm2.so[&pin-source=F]`.
//!
//! Keys are generated on the token as `CKA_TOKEN`, `CKA_SENSITIVE`, non-`CKA_EXTRACTABLE`
//! private keys with their public halves, both labelled `object`. Tokens are found by label
//! (slot numbers change when tokens are initialised). RSA signs with `CKM_SHA256_RSA_PKCS` /
//! `CKM_SHA384_RSA_PKCS`; ECDSA hashes here and signs with `CKM_ECDSA`, whose raw `r‖s`
//! becomes the DER `SEQUENCE { r, s }` X.509 carries. Key types: RSA 2048–4096, P-256, P-384.
//!
//! Each module is loaded and initialised once per process; each token keeps a pool of
//! sessions (the login is shared by all sessions of the application).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::{BitString, ObjectIdentifier, OctetString, UintRef};
use der::{Decode, Encode};
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::uri::{attributes, percent_encode, percent_encode_path};
use super::{random_bytes, DeviceMap, KeyError, KeyProvider, KeyRef, Pin, Signer};
use crate::algorithm::{oid, KeyType};

/// A parsed `pkcs11:` URI (the attributes caforge uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// Token label.
    pub token: String,
    /// Key label.
    pub object: Option<String>,
    /// The module to load.
    pub module_path: PathBuf,
    /// File holding the user PIN.
    pub pin_source: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// Parses `pkcs11:token=L[;object=N][;type=private]?module-path=P[&pin-source=F]`.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedKeyRef`] for anything else, including `pin-value` (a PIN never
    /// goes into a stored reference).
    pub fn parse(uri: &str) -> Result<Pkcs11Uri, KeyError> {
        let bad = |why: &str| KeyError::UnsupportedKeyRef(format!("{uri}: {why}"));
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("not pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut token = None;
        let mut object = None;
        let mut module_path = None;
        let mut pin_source = None;
        for (name, value) in attributes(path, ';')? {
            match name.as_str() {
                "token" => token = Some(value),
                "object" => object = Some(value),
                "type" if value == "private" || value == "public" => {}
                other => return Err(bad(&format!("unsupported path attribute '{other}'"))),
            }
        }
        for (name, value) in attributes(query, '&')? {
            match name.as_str() {
                "module-path" => module_path = Some(PathBuf::from(value)),
                "pin-source" => pin_source = Some(PathBuf::from(value)),
                "pin-value" => {
                    return Err(bad(
                        "pin-value is refused: a PIN never sits in a key URI (use pin-source=FILE)",
                    ))
                }
                other => return Err(bad(&format!("unsupported query attribute '{other}'"))),
            }
        }
        Ok(Pkcs11Uri {
            token: token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("token= is required"))?,
            object,
            module_path: module_path.ok_or_else(|| bad("module-path= is required"))?,
            pin_source,
        })
    }

    /// The URI text.
    pub fn to_uri(&self) -> String {
        let mut s = format!("pkcs11:token={}", percent_encode(&self.token));
        if let Some(o) = &self.object {
            s.push_str(&format!(";object={}", percent_encode(o)));
        }
        s.push_str(&format!(
            "?module-path={}",
            percent_encode_path(&self.module_path.display().to_string())
        ));
        if let Some(p) = &self.pin_source {
            s.push_str(&format!(
                "&pin-source={}",
                percent_encode_path(&p.display().to_string())
            ));
        }
        s
    }
}

fn ck(what: &str) -> impl Fn(CkError) -> KeyError + '_ {
    move |e| match &e {
        CkError::Pkcs11(RvError::PinIncorrect, _) => KeyError::PinIncorrect(what.to_owned()),
        CkError::Pkcs11(RvError::PinLocked, _) => KeyError::PinLocked(what.to_owned()),
        CkError::Pkcs11(
            RvError::DeviceError
            | RvError::DeviceRemoved
            | RvError::DeviceMemory
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::SessionClosed
            | RvError::SessionHandleInvalid,
            _,
        ) => KeyError::Unavailable(format!("PKCS#11 token '{what}': {e}")),
        CkError::LibraryLoading(_) => KeyError::Unavailable(format!("PKCS#11 module: {e}")),
        _ => KeyError::Device(format!("PKCS#11 token '{what}': {e}")),
    }
}

/// Loads and initialises `path` once per process.
fn module(path: &Path) -> Result<Pkcs11, KeyError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let m = Pkcs11::new(path).map_err(|e| {
        KeyError::Unavailable(format!(
            "cannot load PKCS#11 module {}: {e}",
            path.display()
        ))
    })?;
    match m.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck(&path.display().to_string())(e)),
    }
    modules.insert(path.to_path_buf(), m.clone());
    Ok(m)
}

/// One token of one module, with pooled logged-in sessions.
struct Token {
    ctx: Pkcs11,
    slot: Slot,
    label: String,
    pin: Pin,
    idle: Mutex<Vec<Session>>,
}

impl Token {
    fn session(&self) -> Result<Session, KeyError> {
        if let Some(s) = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
        {
            return Ok(s);
        }
        let s = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(ck(&self.label))?;
        match s.login(UserType::User, Some(&AuthPin::from(self.pin.expose()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(s),
            Err(e) => Err(ck(&self.label)(e)),
        }
    }

    /// Runs `f` on a pooled session; the session goes back unless the token failed it.
    fn with<T>(&self, f: impl FnOnce(&Session) -> Result<T, CkError>) -> Result<T, KeyError> {
        let s = self.session()?;
        let result = f(&s);
        let keep = !matches!(
            result,
            Err(CkError::Pkcs11(
                RvError::SessionClosed
                    | RvError::SessionHandleInvalid
                    | RvError::DeviceRemoved
                    | RvError::TokenNotPresent
                    | RvError::UserNotLoggedIn,
                _
            ))
        );
        if keep {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(s);
        }
        result.map_err(ck(&self.label))
    }

    fn find(&self, class: ObjectClass, label: &str) -> Result<Vec<ObjectHandle>, KeyError> {
        self.with(|s| {
            s.find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
        })
    }

    fn private_key(&self, label: &str) -> Result<ObjectHandle, KeyError> {
        let found = self.find(ObjectClass::PRIVATE_KEY, label)?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(KeyError::NotFound(format!(
                "no private key labelled '{label}' in PKCS#11 token '{}'",
                self.label
            ))),
            _ => Err(KeyError::Rejected(format!(
                "{} private keys are labelled '{label}' in PKCS#11 token '{}'",
                found.len(),
                self.label
            ))),
        }
    }

    /// The key type and SubjectPublicKeyInfo of the key labelled `label`.
    fn public_key(&self, label: &str) -> Result<(KeyType, SubjectPublicKeyInfoOwned), KeyError> {
        let public = self.find(ObjectClass::PUBLIC_KEY, label)?;
        let handle = *public.first().ok_or_else(|| {
            KeyError::NotFound(format!(
                "no public key labelled '{label}' in PKCS#11 token '{}'",
                self.label
            ))
        })?;
        let attrs = self.with(|s| {
            s.get_attributes(
                handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                ],
            )
        })?;
        let mut kt = None;
        let (mut n, mut e, mut params, mut point) = (None, None, None, None);
        for a in attrs {
            match a {
                Attribute::KeyType(t) => kt = Some(t),
                Attribute::Modulus(v) => n = Some(v),
                Attribute::PublicExponent(v) => e = Some(v),
                Attribute::EcParams(v) => params = Some(v),
                Attribute::EcPoint(v) => point = Some(v),
                _ => {}
            }
        }
        let material = |m: &str| KeyError::Device(format!("PKCS#11 public key: {m}"));
        match (kt, n, e, params, point) {
            (Some(t), Some(n), Some(e), _, _) if t == CkKeyType::RSA => {
                let key_type = match n.iter().skip_while(|b| **b == 0).count() * 8 {
                    2048 => KeyType::Rsa2048,
                    3072 => KeyType::Rsa3072,
                    4096 => KeyType::Rsa4096,
                    bits => return Err(material(&format!("RSA-{bits} is not a caforge key type"))),
                };
                Ok((key_type, rsa_spki(&n, &e)?))
            }
            (Some(t), _, _, Some(params), Some(point)) if t == CkKeyType::EC => {
                let curve = ObjectIdentifier::from_der(&params)
                    .map_err(|_| material("EC parameters are not a named curve"))?;
                let key_type = match curve {
                    c if c == oid::SECP256R1 => KeyType::P256,
                    c if c == oid::SECP384R1 => KeyType::P384,
                    c => return Err(material(&format!("curve {c} is not a caforge key type"))),
                };
                // CKA_EC_POINT is an OCTET STRING around the uncompressed SEC1 point; some
                // modules give the bare point, recognised by its exact length.
                let bare_len = if key_type == KeyType::P256 { 65 } else { 97 };
                let point: Vec<u8> = if point.len() == bare_len && point[0] == 4 {
                    point
                } else {
                    OctetString::from_der(&point)
                        .map_err(|_| material("CKA_EC_POINT is not an OCTET STRING"))?
                        .into_bytes()
                        .into()
                };
                Ok((key_type, super::ec_spki(curve, &point)?))
            }
            _ => Err(material("not an RSA or EC key")),
        }
    }
}

fn rsa_spki(n: &[u8], e: &[u8]) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: UintRef<'a>,
        public_exponent: UintRef<'a>,
    }
    let enc = |e: der::Error| KeyError::Device(format!("RSA public key encoding: {e}"));
    let der = RsaPublicKey {
        modulus: UintRef::new(n).map_err(enc)?,
        public_exponent: UintRef::new(e).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)?;
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(der::Any::from(der::asn1::Null)),
        },
        subject_public_key: BitString::from_bytes(&der).map_err(enc)?,
    })
}

/// The DER `SEQUENCE { r, s }` of a raw `r‖s` ECDSA signature.
///
/// # Errors
/// An odd-length or empty signature.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    #[derive(der::Sequence)]
    struct EcdsaSig<'a> {
        r: UintRef<'a>,
        s: UintRef<'a>,
    }
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(KeyError::Device(format!(
            "ECDSA signature of {} bytes is not r‖s",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let enc = |e: der::Error| KeyError::Device(format!("ECDSA signature encoding: {e}"));
    EcdsaSig {
        r: UintRef::new(r).map_err(enc)?,
        s: UintRef::new(s).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

struct Pkcs11Signer {
    token: Arc<Token>,
    label: String,
    key_type: KeyType,
    spki: SubjectPublicKeyInfoOwned,
}

impl Signer for Pkcs11Signer {
    fn key_type(&self) -> KeyType {
        self.key_type
    }

    fn device(&self) -> Option<String> {
        Some(format!("pkcs11:token={}", self.token.label))
    }

    fn public_key_info(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = self.token.private_key(&self.label)?;
        match self.key_type {
            KeyType::Rsa2048 | KeyType::Rsa3072 => self
                .token
                .with(|s| s.sign(&Mechanism::Sha256RsaPkcs, key, message)),
            KeyType::Rsa4096 => self
                .token
                .with(|s| s.sign(&Mechanism::Sha384RsaPkcs, key, message)),
            KeyType::P256 => {
                let digest = sha2::Sha256::digest(message);
                let raw = self
                    .token
                    .with(|s| s.sign(&Mechanism::Ecdsa, key, &digest))?;
                ecdsa_raw_to_der(&raw)
            }
            KeyType::P384 => {
                let digest = sha2::Sha384::digest(message);
                let raw = self
                    .token
                    .with(|s| s.sign(&Mechanism::Ecdsa, key, &digest))?;
                ecdsa_raw_to_der(&raw)
            }
            other => Err(KeyError::Rejected(format!(
                "{other} keys are not supported in PKCS#11 tokens"
            ))),
        }
    }

    fn probe(&self) -> Result<(), KeyError> {
        let (_, spki) = self.token.public_key(&self.label)?;
        if spki != self.spki {
            return Err(KeyError::NotFound(format!(
                "the key labelled '{}' has changed",
                self.label
            )));
        }
        Ok(())
    }
}

/// caforge's key custodian for `pkcs11:` URIs.
pub struct Pkcs11KeyProvider {
    pin: Option<Pin>,
    allowed_modules: Vec<PathBuf>,
    tokens: DeviceMap<(PathBuf, String), Token>,
}

impl fmt::Debug for Pkcs11KeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11KeyProvider").finish_non_exhaustive()
    }
}

impl Pkcs11KeyProvider {
    /// A provider whose tokens take `pin` unless a URI names its own `pin-source`, and
    /// that loads only the modules in `allowed_modules` (`[keys] pkcs11_modules`): a key
    /// reference comes from the database, and the database must not decide what code runs.
    pub fn new(pin: Option<Pin>, allowed_modules: Vec<PathBuf>) -> Self {
        Pkcs11KeyProvider {
            pin,
            allowed_modules,
            tokens: DeviceMap::default(),
        }
    }

    /// The one check before any module is opened.
    fn allowed(&self, module: &Path) -> Result<(), KeyError> {
        if self.allowed_modules.iter().any(|m| m == module) {
            return Ok(());
        }
        Err(KeyError::NotAllowed(format!(
            "PKCS#11 module {} is not listed in caforge.toml [keys] pkcs11_modules",
            module.display()
        )))
    }

    fn token(&self, uri: &Pkcs11Uri) -> Result<Arc<Token>, KeyError> {
        self.allowed(&uri.module_path)?;
        let key = (uri.module_path.clone(), uri.token.clone());
        self.tokens.get_or_try_init(key, || {
            let pin = Pin::resolve(uri.pin_source.as_deref(), self.pin.as_ref(), &uri.token)?;
            let ctx = module(&uri.module_path)?;
            let slots = ctx.get_slots_with_token().map_err(ck(&uri.token))?;
            let slot = slots
                .into_iter()
                .find(|s| {
                    ctx.get_token_info(*s)
                        .is_ok_and(|i| i.label().trim_end() == uri.token)
                })
                .ok_or_else(|| {
                    KeyError::NotFound(format!(
                        "no PKCS#11 token labelled '{}' in {}",
                        uri.token,
                        uri.module_path.display()
                    ))
                })?;
            Ok(Token {
                ctx,
                slot,
                label: uri.token.clone(),
                pin,
                idle: Mutex::new(Vec::new()),
            })
        })
    }
}

impl KeyProvider for Pkcs11KeyProvider {
    fn generate(
        &self,
        store: &str,
        key_type: KeyType,
        label: &str,
        _sm2_id: &str,
    ) -> Result<(KeyRef, Box<dyn Signer>), KeyError> {
        let mut uri = Pkcs11Uri::parse(store)?;
        let object = uri.object.clone().unwrap_or_else(|| label.to_owned());
        let token = self.token(&uri)?;
        if !token.find(ObjectClass::PRIVATE_KEY, &object)?.is_empty() {
            return Err(KeyError::Rejected(format!(
                "a key labelled '{object}' exists in PKCS#11 token '{}'",
                uri.token
            )));
        }
        let mut id = vec![0u8; 16];
        random_bytes(&mut id)?;
        let common = |public: bool| {
            vec![
                Attribute::Token(true),
                Attribute::Label(object.as_bytes().to_vec()),
                Attribute::Id(id.clone()),
                if public {
                    Attribute::Verify(true)
                } else {
                    Attribute::Sign(true)
                },
            ]
        };
        let mut public = common(true);
        let mut private = common(false);
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ]);
        let mechanism = match key_type {
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let bits: u64 = match key_type {
                    KeyType::Rsa2048 => 2048,
                    KeyType::Rsa3072 => 3072,
                    _ => 4096,
                };
                public.push(Attribute::ModulusBits(bits.into()));
                public.push(Attribute::PublicExponent(vec![1, 0, 1]));
                Mechanism::RsaPkcsKeyPairGen
            }
            KeyType::P256 | KeyType::P384 => {
                let curve = if key_type == KeyType::P256 {
                    oid::SECP256R1
                } else {
                    oid::SECP384R1
                };
                let params = curve
                    .to_der()
                    .map_err(|e| KeyError::Material(format!("curve encoding: {e}")))?;
                public.push(Attribute::EcParams(params));
                Mechanism::EccKeyPairGen
            }
            other => {
                return Err(KeyError::Rejected(format!(
                    "{other} keys are not supported in PKCS#11 tokens (rsa2048 rsa3072 rsa4096 p256 p384)"
                )))
            }
        };
        token.with(|s| s.generate_key_pair(&mechanism, &public, &private))?;
        let (kt, spki) = token.public_key(&object)?;
        uri.object = Some(object.clone());
        Ok((
            KeyRef::new(uri.to_uri()),
            Box::new(Pkcs11Signer {
                token,
                label: object,
                key_type: kt,
                spki,
            }),
        ))
    }

    fn load(&self, key_ref: &KeyRef, _sm2_id: &str) -> Result<Box<dyn Signer>, KeyError> {
        let uri = Pkcs11Uri::parse(key_ref.as_str())?;
        let object = uri.object.clone().ok_or_else(|| {
            KeyError::UnsupportedKeyRef(format!("{key_ref}: object= names no key"))
        })?;
        let token = self.token(&uri)?;
        token.private_key(&object)?;
        let (kt, spki) = token.public_key(&object)?;
        Ok(Box::new(Pkcs11Signer {
            token,
            label: object,
            key_type: kt,
            spki,
        }))
    }

    fn remove(&self, key_ref: &KeyRef) -> Result<(), KeyError> {
        let uri = Pkcs11Uri::parse(key_ref.as_str())?;
        let Some(object) = uri.object.clone() else {
            return Ok(());
        };
        let token = self.token(&uri)?;
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            for handle in token.find(class, &object)? {
                token.with(|s| s.destroy_object(handle))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_print() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=lab;object=Root%20CA;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/pin",
        )
        .expect("parse");
        assert_eq!(u.token, "lab");
        assert_eq!(u.object.as_deref(), Some("Root CA"));
        assert_eq!(Pkcs11Uri::parse(&u.to_uri()).expect("again"), u);
        for bad in [
            "pkcs11:object=x?module-path=/m.so",
            "pkcs11:token=lab",
            "pkcs11:token=lab?module-path=/m.so&pin-value=1234",
            "pkcs11:token=lab;serial=9?module-path=/m.so",
            "file:x",
        ] {
            assert!(Pkcs11Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn raw_ecdsa_signatures_become_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero in DER
        raw[63] = 1;
        let der = ecdsa_raw_to_der(&raw).expect("der");
        assert_eq!(&der[..4], &[0x30, 0x26, 0x02, 0x21]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
        assert!(ecdsa_raw_to_der(&[]).is_err());
    }

    #[test]
    fn a_missing_module_is_unavailable_and_an_unlisted_one_not_allowed() {
        let uri = KeyRef::new("pkcs11:token=t;object=o?module-path=/nonexistent/module.so");
        let p = Pkcs11KeyProvider::new(
            Some(Pin::new("1234")),
            vec![PathBuf::from("/nonexistent/module.so")],
        );
        let r = p.load(&uri, "");
        assert!(matches!(r, Err(KeyError::Unavailable(_))), "{:?}", r.err());
        let p = Pkcs11KeyProvider::new(Some(Pin::new("1234")), vec![PathBuf::from("/other.so")]);
        let r = p.load(&uri, "");
        assert!(matches!(r, Err(KeyError::NotAllowed(_))), "{:?}", r.err());
        let r = p.generate(
            "pkcs11:token=t?module-path=/nonexistent/module.so",
            KeyType::P256,
            "x",
            "",
        );
        assert!(matches!(r, Err(KeyError::NotAllowed(_))), "{:?}", r.err());
    }
}
