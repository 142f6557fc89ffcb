//! The hsm-sim wire protocol: length-prefixed, versioned frames carrying requests shaped like
//! a PKCS#11 subset (sessions, login, key-pair generation, object search, signing, random).
//!
//! ```text
//! frame    = length:u32be body                   (length ≤ MAX_FRAME)
//! request  = version:u8 id:u32be op:u8 fields…
//! response = version:u8 id:u32be status:u8 (reply-tag:u8 fields… | message:str)
//! str      = bytes holding UTF-8;  bytes = length:u32be octets
//! opt<T>   = 0 | 1 T
//! ```
//!
//! Every field is read with bounds checks: a decoder never panics and never allocates more
//! than the frame it was given.

use std::fmt;
use std::io::{self, Read, Write};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// The largest frame either side accepts (1 MiB): bigger frames are refused before reading.
pub const MAX_FRAME: usize = 1 << 20;
/// The most bytes one `GenerateRandom` may ask for.
pub const MAX_RANDOM: u32 = 65_536;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed hsm-sim message: {0}")]
pub struct DecodeError(pub String);

fn bad(msg: impl Into<String>) -> DecodeError {
    DecodeError(msg.into())
}

/// Who logs in: the security officer or the normal user (PKCS#11 `CKU_SO` / `CKU_USER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserType {
    /// The security officer: initialises the user PIN.
    So,
    /// The normal user: uses the keys.
    User,
}

/// A signing mechanism, named by the caller as in PKCS#11 (`CKM_SHA256_RSA_PKCS`, …): the
/// device hashes and signs. The signature comes back as X.509 carries it: DER
/// `SEQUENCE { r, s }` for ECDSA and SM2, raw for RSA and Ed25519.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcsSha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcsSha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcsSha512,
    /// ECDSA with SHA-256 (P-256).
    EcdsaSha256,
    /// ECDSA with SHA-384 (P-384).
    EcdsaSha384,
    /// Ed25519 (pure).
    Ed25519,
    /// SM2 signature with SM3, with the signer ID the digest binds.
    Sm2Sm3 {
        /// The signer ID (GM/T 0009 default `1234567812345678`).
        id: String,
    },
}

/// Fault-injection settings, as `hsm-sim serve` flags and `hsm-sim control` set them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Delay added before answering each device operation.
    pub latency_ms: u32,
    /// Probability (parts per million) that an operation fails with a device error.
    pub fail_rate_ppm: u32,
    /// After this many operations (counted from start or the last change), every operation
    /// fails with a device error.
    pub fail_after: Option<u64>,
    /// Probability (parts per million) that the server closes the connection instead of
    /// answering.
    pub drop_rate_ppm: u32,
}

/// A request from client to device.
#[derive(Clone, PartialEq, Eq)]
pub enum Request {
    /// Greets the device; the answer names its version.
    Hello {
        /// The client's name, for the device's log.
        client: String,
    },
    /// Lists slots and their tokens.
    ListSlots,
    /// Creates a token in a free slot.
    InitToken {
        /// The new token's label (unique).
        label: String,
        /// The security officer's PIN.
        so_pin: String,
        /// The user's PIN.
        user_pin: String,
    },
    /// Opens a session on the token labelled `token`.
    OpenSession {
        /// Token label.
        token: String,
    },
    /// Closes a session.
    CloseSession {
        /// Session handle.
        session: u64,
    },
    /// Logs in to the session's token.
    Login {
        /// Session handle.
        session: u64,
        /// Who.
        user: UserType,
        /// The PIN.
        pin: String,
    },
    /// Logs out of the session's token.
    Logout {
        /// Session handle.
        session: u64,
    },
    /// Sets the user PIN and unlocks it (security officer only, as `C_InitPIN`).
    InitPin {
        /// Session handle.
        session: u64,
        /// The new user PIN.
        pin: String,
    },
    /// Generates a key pair inside the token (user only).
    GenerateKeyPair {
        /// Session handle.
        session: u64,
        /// Key type: `rsa2048 rsa3072 rsa4096 p256 p384 ed25519 sm2`.
        key_type: String,
        /// Label (unique within the token).
        label: String,
        /// Identifier bytes (`CKA_ID`).
        id: Vec<u8>,
    },
    /// Finds key objects by label and/or identifier (all when both are absent).
    FindObjects {
        /// Session handle.
        session: u64,
        /// Label to match.
        label: Option<String>,
        /// Identifier to match.
        id: Option<Vec<u8>>,
    },
    /// The public key of an object, as a DER SubjectPublicKeyInfo.
    GetPublicKey {
        /// Session handle.
        session: u64,
        /// Object handle.
        handle: u64,
    },
    /// Signs `data` with the object's private key (user only).
    Sign {
        /// Session handle.
        session: u64,
        /// Object handle.
        handle: u64,
        /// Mechanism; must fit the key.
        mechanism: Mechanism,
        /// The message (the device hashes it).
        data: Vec<u8>,
    },
    /// Random bytes from the device.
    GenerateRandom {
        /// Session handle.
        session: u64,
        /// How many bytes (at most [`MAX_RANDOM`]).
        len: u32,
    },
    /// Destroys a key object (user only).
    DestroyObject {
        /// Session handle.
        session: u64,
        /// Object handle.
        handle: u64,
    },
    /// Reads (and with `set`, replaces) the fault-injection settings.
    Control {
        /// New settings; `None` only reads.
        set: Option<Faults>,
    },
}

impl fmt::Debug for Request {
    // PINs never reach a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::InitToken { label, .. } => f
                .debug_struct("InitToken")
                .field("label", label)
                .finish_non_exhaustive(),
            Request::Login { session, user, .. } => f
                .debug_struct("Login")
                .field("session", session)
                .field("user", user)
                .finish_non_exhaustive(),
            Request::InitPin { session, .. } => f
                .debug_struct("InitPin")
                .field("session", session)
                .finish_non_exhaustive(),
            Request::Sign {
                session,
                handle,
                mechanism,
                data,
            } => f
                .debug_struct("Sign")
                .field("session", session)
                .field("handle", handle)
                .field("mechanism", mechanism)
                .field("data_len", &data.len())
                .finish(),
            other => f.write_str(other.name()),
        }
    }
}

impl Request {
    /// The operation's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "Hello",
            Request::ListSlots => "ListSlots",
            Request::InitToken { .. } => "InitToken",
            Request::OpenSession { .. } => "OpenSession",
            Request::CloseSession { .. } => "CloseSession",
            Request::Login { .. } => "Login",
            Request::Logout { .. } => "Logout",
            Request::InitPin { .. } => "InitPin",
            Request::GenerateKeyPair { .. } => "GenerateKeyPair",
            Request::FindObjects { .. } => "FindObjects",
            Request::GetPublicKey { .. } => "GetPublicKey",
            Request::Sign { .. } => "Sign",
            Request::GenerateRandom { .. } => "GenerateRandom",
            Request::DestroyObject { .. } => "DestroyObject",
            Request::Control { .. } => "Control",
        }
    }
}

/// One slot as `ListSlots` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// Slot number.
    pub slot: u32,
    /// The token's label.
    pub label: String,
    /// Whether the user PIN is locked.
    pub user_pin_locked: bool,
    /// Whether the SO PIN is locked.
    pub so_pin_locked: bool,
    /// How many key objects the token holds.
    pub objects: u32,
}

/// A key object as the device describes it (never its private part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Handle, stable across restarts.
    pub handle: u64,
    /// Label.
    pub label: String,
    /// Identifier (`CKA_ID`).
    pub id: Vec<u8>,
    /// Key type name.
    pub key_type: String,
}

/// A successful answer.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to return.
    Empty,
    /// Answer to `Hello`.
    Hello {
        /// The device's protocol version.
        version: u8,
        /// The device's name and build.
        server: String,
    },
    /// Answer to `ListSlots`.
    Slots(Vec<SlotInfo>),
    /// Answer to `InitToken`: the slot the token went into.
    Slot(u32),
    /// Answer to `OpenSession`.
    Session(u64),
    /// Answer to `GenerateKeyPair`.
    Object(ObjectInfo),
    /// Answer to `FindObjects`.
    Objects(Vec<ObjectInfo>),
    /// Answer to `GetPublicKey`.
    PublicKey {
        /// Key type name.
        key_type: String,
        /// DER SubjectPublicKeyInfo.
        spki: Vec<u8>,
    },
    /// Answer to `Sign`.
    Signature(Vec<u8>),
    /// Answer to `GenerateRandom`.
    Random(Vec<u8>),
    /// Answer to `Control`: the settings now in force.
    Faults(Faults),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Random(b) => write!(f, "Random({} bytes)", b.len()),
            Reply::Signature(b) => write!(f, "Signature({} bytes)", b.len()),
            Reply::Empty => f.write_str("Empty"),
            Reply::Hello { version, server } => f
                .debug_struct("Hello")
                .field("version", version)
                .field("server", server)
                .finish(),
            Reply::Slots(s) => f.debug_tuple("Slots").field(s).finish(),
            Reply::Slot(s) => f.debug_tuple("Slot").field(s).finish(),
            Reply::Session(s) => f.debug_tuple("Session").field(s).finish(),
            Reply::Object(o) => f.debug_tuple("Object").field(o).finish(),
            Reply::Objects(o) => f.debug_tuple("Objects").field(o).finish(),
            Reply::PublicKey { key_type, .. } => f
                .debug_struct("PublicKey")
                .field("key_type", key_type)
                .finish_non_exhaustive(),
            Reply::Faults(x) => f.debug_tuple("Faults").field(x).finish(),
        }
    }
}

/// Why the device refused or failed a request (PKCS#11's `CKR_*` in spirit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// The request did not decode.
    BadRequest = 1,
    /// The frame's protocol version is not spoken here.
    UnsupportedVersion = 2,
    /// No token has that label.
    TokenNotFound = 3,
    /// A token with that label exists.
    TokenExists = 4,
    /// The session handle is not open on this connection.
    SessionInvalid = 5,
    /// The operation needs a login (or the other user type).
    NotLoggedIn = 6,
    /// Wrong PIN.
    PinIncorrect = 7,
    /// The PIN is locked after too many wrong tries.
    PinLocked = 8,
    /// No object has that handle.
    ObjectNotFound = 9,
    /// An object with that label exists.
    ObjectExists = 10,
    /// The mechanism does not fit the key.
    MechanismInvalid = 11,
    /// The device failed (injected faults surface as this).
    DeviceError = 12,
    /// An argument is out of range (unknown key type, PIN length, random length, …).
    ArgumentsBad = 13,
    /// Already logged in on this connection.
    AlreadyLoggedIn = 14,
}

impl Status {
    fn from_u8(v: u8) -> Option<Status> {
        use Status::*;
        Some(match v {
            1 => BadRequest,
            2 => UnsupportedVersion,
            3 => TokenNotFound,
            4 => TokenExists,
            5 => SessionInvalid,
            6 => NotLoggedIn,
            7 => PinIncorrect,
            8 => PinLocked,
            9 => ObjectNotFound,
            10 => ObjectExists,
            11 => MechanismInvalid,
            12 => DeviceError,
            13 => ArgumentsBad,
            14 => AlreadyLoggedIn,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Status::BadRequest => "bad request",
            Status::UnsupportedVersion => "unsupported protocol version",
            Status::TokenNotFound => "token not found",
            Status::TokenExists => "token exists",
            Status::SessionInvalid => "session handle invalid",
            Status::NotLoggedIn => "not logged in",
            Status::PinIncorrect => "PIN incorrect",
            Status::PinLocked => "PIN locked",
            Status::ObjectNotFound => "object not found",
            Status::ObjectExists => "object exists",
            Status::MechanismInvalid => "mechanism invalid for key",
            Status::DeviceError => "device error",
            Status::ArgumentsBad => "arguments bad",
            Status::AlreadyLoggedIn => "already logged in",
        };
        f.write_str(s)
    }
}

/// A response: the request id it answers and the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The id of the request answered.
    pub id: u32,
    /// The answer or the refusal with its message.
    pub outcome: Result<Reply, (Status, String)>,
}

// ---- primitive encoding -------------------------------------------------------------------

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        // Frames are bounded far below 4 GiB; saturate rather than wrap.
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(bad("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?).map_err(|_| bad("string is not UTF-8"))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(bad(format!("boolean {v}"))),
        }
    }
    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            v => Err(bad(format!("option tag {v}"))),
        }
    }
    /// A count of items each at least `min_size` bytes: bounded by what is left, so a
    /// hostile count cannot make the decoder allocate.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.0.len() {
            return Err(bad("count exceeds the message"));
        }
        Ok(n)
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(bad("trailing bytes"))
        }
    }
}

fn write_user(w: &mut Writer, u: UserType) {
    w.u8(match u {
        UserType::So => 0,
        UserType::User => 1,
    });
}

fn read_user(r: &mut Reader<'_>) -> Result<UserType, DecodeError> {
    match r.u8()? {
        0 => Ok(UserType::So),
        1 => Ok(UserType::User),
        v => Err(bad(format!("user type {v}"))),
    }
}

fn write_mechanism(w: &mut Writer, m: &Mechanism) {
    match m {
        Mechanism::RsaPkcsSha256 => w.u8(1),
        Mechanism::RsaPkcsSha384 => w.u8(2),
        Mechanism::RsaPkcsSha512 => w.u8(3),
        Mechanism::EcdsaSha256 => w.u8(4),
        Mechanism::EcdsaSha384 => w.u8(5),
        Mechanism::Ed25519 => w.u8(6),
        Mechanism::Sm2Sm3 { id } => {
            w.u8(7);
            w.str(id);
        }
    }
}

fn read_mechanism(r: &mut Reader<'_>) -> Result<Mechanism, DecodeError> {
    Ok(match r.u8()? {
        1 => Mechanism::RsaPkcsSha256,
        2 => Mechanism::RsaPkcsSha384,
        3 => Mechanism::RsaPkcsSha512,
        4 => Mechanism::EcdsaSha256,
        5 => Mechanism::EcdsaSha384,
        6 => Mechanism::Ed25519,
        7 => Mechanism::Sm2Sm3 { id: r.str()? },
        v => return Err(bad(format!("mechanism {v}"))),
    })
}

fn write_faults(w: &mut Writer, f: &Faults) {
    w.u32(f.latency_ms);
    w.u32(f.fail_rate_ppm);
    w.opt(f.fail_after, Writer::u64);
    w.u32(f.drop_rate_ppm);
}

fn read_faults(r: &mut Reader<'_>) -> Result<Faults, DecodeError> {
    let f = Faults {
        latency_ms: r.u32()?,
        fail_rate_ppm: r.u32()?,
        fail_after: r.opt(Reader::u64)?,
        drop_rate_ppm: r.u32()?,
    };
    if f.fail_rate_ppm > 1_000_000 || f.drop_rate_ppm > 1_000_000 {
        return Err(bad("rate above one million parts per million"));
    }
    Ok(f)
}

fn write_object(w: &mut Writer, o: &ObjectInfo) {
    w.u64(o.handle);
    w.str(&o.label);
    w.bytes(&o.id);
    w.str(&o.key_type);
}

fn read_object(r: &mut Reader<'_>) -> Result<ObjectInfo, DecodeError> {
    Ok(ObjectInfo {
        handle: r.u64()?,
        label: r.str()?,
        id: r.bytes()?,
        key_type: r.str()?,
    })
}

// ---- messages -----------------------------------------------------------------------------

impl Request {
    /// Encodes the request body (without the frame length) under request id `id`.
    pub fn encode(&self, id: u32) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        w.u8(PROTOCOL_VERSION);
        w.u32(id);
        match self {
            Request::Hello { client } => {
                w.u8(1);
                w.str(client);
            }
            Request::ListSlots => w.u8(2),
            Request::InitToken {
                label,
                so_pin,
                user_pin,
            } => {
                w.u8(3);
                w.str(label);
                w.str(so_pin);
                w.str(user_pin);
            }
            Request::OpenSession { token } => {
                w.u8(4);
                w.str(token);
            }
            Request::CloseSession { session } => {
                w.u8(5);
                w.u64(*session);
            }
            Request::Login { session, user, pin } => {
                w.u8(6);
                w.u64(*session);
                write_user(&mut w, *user);
                w.str(pin);
            }
            Request::Logout { session } => {
                w.u8(7);
                w.u64(*session);
            }
            Request::InitPin { session, pin } => {
                w.u8(8);
                w.u64(*session);
                w.str(pin);
            }
            Request::GenerateKeyPair {
                session,
                key_type,
                label,
                id,
            } => {
                w.u8(9);
                w.u64(*session);
                w.str(key_type);
                w.str(label);
                w.bytes(id);
            }
            Request::FindObjects { session, label, id } => {
                w.u8(10);
                w.u64(*session);
                w.opt(label.as_deref(), Writer::str);
                w.opt(id.as_deref(), Writer::bytes);
            }
            Request::GetPublicKey { session, handle } => {
                w.u8(11);
                w.u64(*session);
                w.u64(*handle);
            }
            Request::Sign {
                session,
                handle,
                mechanism,
                data,
            } => {
                w.u8(12);
                w.u64(*session);
                w.u64(*handle);
                write_mechanism(&mut w, mechanism);
                w.bytes(data);
            }
            Request::GenerateRandom { session, len } => {
                w.u8(13);
                w.u64(*session);
                w.u32(*len);
            }
            Request::DestroyObject { session, handle } => {
                w.u8(14);
                w.u64(*session);
                w.u64(*handle);
            }
            Request::Control { set } => {
                w.u8(15);
                w.opt(set.as_ref(), write_faults);
            }
        }
        w.0
    }

    /// Decodes a request body. The version is checked first: a frame of another version
    /// gives `Err((Some(id), …))` so the server can answer `UnsupportedVersion` to that id.
    ///
    /// # Errors
    /// Truncated, oversized, unknown or trailing content.
    pub fn decode(body: &[u8]) -> Result<(u32, Request), (Option<u32>, DecodeError)> {
        let mut r = Reader(body);
        let version = r.u8().map_err(|e| (None, e))?;
        let id = r.u32().map_err(|e| (None, e))?;
        if version != PROTOCOL_VERSION {
            return Err((
                Some(id),
                bad(format!(
                    "protocol version {version} (this device speaks {PROTOCOL_VERSION})"
                )),
            ));
        }
        let req = Self::decode_fields(&mut r).map_err(|e| (Some(id), e))?;
        Ok((id, req))
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Request, DecodeError> {
        let req = match r.u8()? {
            1 => Request::Hello { client: r.str()? },
            2 => Request::ListSlots,
            3 => Request::InitToken {
                label: r.str()?,
                so_pin: r.str()?,
                user_pin: r.str()?,
            },
            4 => Request::OpenSession { token: r.str()? },
            5 => Request::CloseSession { session: r.u64()? },
            6 => Request::Login {
                session: r.u64()?,
                user: read_user(r)?,
                pin: r.str()?,
            },
            7 => Request::Logout { session: r.u64()? },
            8 => Request::InitPin {
                session: r.u64()?,
                pin: r.str()?,
            },
            9 => Request::GenerateKeyPair {
                session: r.u64()?,
                key_type: r.str()?,
                label: r.str()?,
                id: r.bytes()?,
            },
            10 => Request::FindObjects {
                session: r.u64()?,
                label: r.opt(Reader::str)?,
                id: r.opt(Reader::bytes)?,
            },
            11 => Request::GetPublicKey {
                session: r.u64()?,
                handle: r.u64()?,
            },
            12 => Request::Sign {
                session: r.u64()?,
                handle: r.u64()?,
                mechanism: read_mechanism(r)?,
                data: r.bytes()?,
            },
            13 => Request::GenerateRandom {
                session: r.u64()?,
                len: r.u32()?,
            },
            14 => Request::DestroyObject {
                session: r.u64()?,
                handle: r.u64()?,
            },
            15 => Request::Control {
                set: r.opt(read_faults)?,
            },
            op => return Err(bad(format!("unknown operation {op}"))),
        };
        r.end()?;
        Ok(req)
    }
}

impl Response {
    /// Encodes the response body (without the frame length).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        w.u8(PROTOCOL_VERSION);
        w.u32(self.id);
        match &self.outcome {
            Err((status, message)) => {
                w.u8(*status as u8);
                w.str(message);
            }
            Ok(reply) => {
                w.u8(0);
                match reply {
                    Reply::Empty => w.u8(0),
                    Reply::Hello { version, server } => {
                        w.u8(1);
                        w.u8(*version);
                        w.str(server);
                    }
                    Reply::Slots(slots) => {
                        w.u8(2);
                        w.u32(u32::try_from(slots.len()).unwrap_or(u32::MAX));
                        for s in slots {
                            w.u32(s.slot);
                            w.str(&s.label);
                            w.bool(s.user_pin_locked);
                            w.bool(s.so_pin_locked);
                            w.u32(s.objects);
                        }
                    }
                    Reply::Slot(s) => {
                        w.u8(3);
                        w.u32(*s);
                    }
                    Reply::Session(s) => {
                        w.u8(4);
                        w.u64(*s);
                    }
                    Reply::Object(o) => {
                        w.u8(5);
                        write_object(&mut w, o);
                    }
                    Reply::Objects(objects) => {
                        w.u8(6);
                        w.u32(u32::try_from(objects.len()).unwrap_or(u32::MAX));
                        for o in objects {
                            write_object(&mut w, o);
                        }
                    }
                    Reply::PublicKey { key_type, spki } => {
                        w.u8(7);
                        w.str(key_type);
                        w.bytes(spki);
                    }
                    Reply::Signature(s) => {
                        w.u8(8);
                        w.bytes(s);
                    }
                    Reply::Random(b) => {
                        w.u8(9);
                        w.bytes(b);
                    }
                    Reply::Faults(f) => {
                        w.u8(10);
                        write_faults(&mut w, f);
                    }
                }
            }
        }
        w.0
    }

    /// Decodes a response body.
    ///
    /// # Errors
    /// Another version, truncated, unknown or trailing content.
    pub fn decode(body: &[u8]) -> Result<Response, DecodeError> {
        let mut r = Reader(body);
        let version = r.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(bad(format!(
                "device answered with protocol version {version}, this client speaks {PROTOCOL_VERSION}"
            )));
        }
        let id = r.u32()?;
        let status = r.u8()?;
        let outcome = if status == 0 {
            Ok(match r.u8()? {
                0 => Reply::Empty,
                1 => Reply::Hello {
                    version: r.u8()?,
                    server: r.str()?,
                },
                2 => {
                    let n = r.count(14)?;
                    let mut slots = Vec::with_capacity(n);
                    for _ in 0..n {
                        slots.push(SlotInfo {
                            slot: r.u32()?,
                            label: r.str()?,
                            user_pin_locked: r.bool()?,
                            so_pin_locked: r.bool()?,
                            objects: r.u32()?,
                        });
                    }
                    Reply::Slots(slots)
                }
                3 => Reply::Slot(r.u32()?),
                4 => Reply::Session(r.u64()?),
                5 => Reply::Object(read_object(&mut r)?),
                6 => {
                    let n = r.count(20)?;
                    let mut objects = Vec::with_capacity(n);
                    for _ in 0..n {
                        objects.push(read_object(&mut r)?);
                    }
                    Reply::Objects(objects)
                }
                7 => Reply::PublicKey {
                    key_type: r.str()?,
                    spki: r.bytes()?,
                },
                8 => Reply::Signature(r.bytes()?),
                9 => Reply::Random(r.bytes()?),
                10 => Reply::Faults(read_faults(&mut r)?),
                t => return Err(bad(format!("unknown reply {t}"))),
            })
        } else {
            let status = Status::from_u8(status).ok_or_else(|| bad(format!("status {status}")))?;
            Err((status, r.str()?))
        };
        r.end()?;
        Ok(Response { id, outcome })
    }
}

// ---- framing ------------------------------------------------------------------------------

/// Writes one frame.
///
/// # Errors
/// I/O errors; a body over [`MAX_FRAME`] is refused as `InvalidInput`.
pub fn write_frame(out: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let len = frame_len(body)?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(body);
    out.write_all(&buf)?;
    out.flush()
}

/// The length prefix for `body`.
///
/// # Errors
/// `InvalidInput` when the body is over [`MAX_FRAME`].
pub fn frame_len(body: &[u8]) -> io::Result<u32> {
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes is over the limit", body.len()),
        ));
    }
    u32::try_from(body.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Checks a received length prefix.
///
/// # Errors
/// `InvalidData` when it is over [`MAX_FRAME`].
pub fn check_frame_len(len: u32) -> io::Result<usize> {
    let len = len as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit"),
        ));
    }
    Ok(len)
}

/// Reads one frame's body.
///
/// # Errors
/// I/O errors (`UnexpectedEof` when the peer closed), `InvalidData` for an oversized frame.
pub fn read_frame(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = check_frame_len(u32::from_be_bytes(len))?;
    let mut body = vec![0u8; len];
    input.read_exact(&mut body)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mechanism() -> impl Strategy<Value = Mechanism> {
        prop_oneof![
            Just(Mechanism::RsaPkcsSha256),
            Just(Mechanism::RsaPkcsSha384),
            Just(Mechanism::RsaPkcsSha512),
            Just(Mechanism::EcdsaSha256),
            Just(Mechanism::EcdsaSha384),
            Just(Mechanism::Ed25519),
            ".{0,20}".prop_map(|id| Mechanism::Sm2Sm3 { id }),
        ]
    }

    fn faults() -> impl Strategy<Value = Faults> {
        (
            any::<u32>(),
            0u32..=1_000_000,
            proptest::option::of(any::<u64>()),
            0u32..=1_000_000,
        )
            .prop_map(
                |(latency_ms, fail_rate_ppm, fail_after, drop_rate_ppm)| Faults {
                    latency_ms,
                    fail_rate_ppm,
                    fail_after,
                    drop_rate_ppm,
                },
            )
    }

    fn request() -> impl Strategy<Value = Request> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            ".{0,20}".prop_map(|client| Request::Hello { client }),
            Just(Request::ListSlots),
            (".{0,10}", ".{0,10}", ".{0,10}").prop_map(|(label, so_pin, user_pin)| {
                Request::InitToken {
                    label,
                    so_pin,
                    user_pin,
                }
            }),
            ".{0,20}".prop_map(|token| Request::OpenSession { token }),
            any::<u64>().prop_map(|session| Request::CloseSession { session }),
            (any::<u64>(), any::<bool>(), ".{0,10}").prop_map(|(session, so, pin)| {
                Request::Login {
                    session,
                    user: if so { UserType::So } else { UserType::User },
                    pin,
                }
            }),
            any::<u64>().prop_map(|session| Request::Logout { session }),
            (any::<u64>(), ".{0,10}").prop_map(|(session, pin)| Request::InitPin { session, pin }),
            (any::<u64>(), ".{0,8}", ".{0,20}", bytes.clone()).prop_map(
                |(session, key_type, label, id)| Request::GenerateKeyPair {
                    session,
                    key_type,
                    label,
                    id
                }
            ),
            (
                any::<u64>(),
                proptest::option::of(".{0,20}"),
                proptest::option::of(bytes.clone())
            )
                .prop_map(|(session, label, id)| Request::FindObjects {
                    session,
                    label,
                    id
                }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(session, handle)| Request::GetPublicKey { session, handle }),
            (any::<u64>(), any::<u64>(), mechanism(), bytes).prop_map(
                |(session, handle, mechanism, data)| Request::Sign {
                    session,
                    handle,
                    mechanism,
                    data
                }
            ),
            (any::<u64>(), any::<u32>())
                .prop_map(|(session, len)| Request::GenerateRandom { session, len }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(session, handle)| Request::DestroyObject { session, handle }),
            proptest::option::of(faults()).prop_map(|set| Request::Control { set }),
        ]
    }

    fn object() -> impl Strategy<Value = ObjectInfo> {
        (
            any::<u64>(),
            ".{0,20}",
            proptest::collection::vec(any::<u8>(), 0..16),
            ".{0,8}",
        )
            .prop_map(|(handle, label, id, key_type)| ObjectInfo {
                handle,
                label,
                id,
                key_type,
            })
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            Just(Reply::Empty),
            (any::<u8>(), ".{0,20}").prop_map(|(version, server)| Reply::Hello { version, server }),
            proptest::collection::vec(
                (
                    any::<u32>(),
                    ".{0,10}",
                    any::<bool>(),
                    any::<bool>(),
                    any::<u32>()
                ),
                0..4
            )
            .prop_map(|v| Reply::Slots(
                v.into_iter()
                    .map(|(slot, label, u, s, objects)| SlotInfo {
                        slot,
                        label,
                        user_pin_locked: u,
                        so_pin_locked: s,
                        objects
                    })
                    .collect()
            )),
            any::<u32>().prop_map(Reply::Slot),
            any::<u64>().prop_map(Reply::Session),
            object().prop_map(Reply::Object),
            proptest::collection::vec(object(), 0..4).prop_map(Reply::Objects),
            (".{0,8}", bytes.clone())
                .prop_map(|(key_type, spki)| Reply::PublicKey { key_type, spki }),
            bytes.clone().prop_map(Reply::Signature),
            bytes.prop_map(Reply::Random),
            faults().prop_map(Reply::Faults),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(req in request(), id in any::<u32>()) {
            let body = req.encode(id);
            let (got_id, got) = Request::decode(&body).expect("decode");
            prop_assert_eq!(got_id, id);
            prop_assert_eq!(got, req.clone());
            // Every strict prefix is refused, never a panic.
            for cut in 0..body.len() {
                prop_assert!(Request::decode(&body[..cut]).is_err());
            }
            let mut longer = body.clone();
            longer.push(0);
            prop_assert!(Request::decode(&longer).is_err());
        }

        #[test]
        fn responses_round_trip(reply in reply(), id in any::<u32>(), fail in any::<bool>(), msg in ".{0,30}") {
            let resp = Response {
                id,
                outcome: if fail { Err((Status::PinLocked, msg)) } else { Ok(reply) },
            };
            let body = resp.encode();
            prop_assert_eq!(Response::decode(&body).expect("decode"), resp);
            for cut in 0..body.len() {
                prop_assert!(Response::decode(&body[..cut]).is_err());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Request::decode(&body);
            let _ = Response::decode(&body);
        }
    }

    #[test]
    fn other_versions_are_refused_with_the_request_id() {
        let mut body = Request::ListSlots.encode(77);
        body[0] = 9;
        let (id, err) = Request::decode(&body).expect_err("version");
        assert_eq!(id, Some(77));
        assert!(err.0.contains("version 9"), "{err}");
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        // An Objects reply claiming four billion entries in a few bytes.
        let mut body = vec![PROTOCOL_VERSION, 0, 0, 0, 1, 0, 6];
        body.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(Response::decode(&body).is_err());
    }

    #[test]
    fn frames_round_trip_and_oversized_frames_are_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").expect("write");
        assert_eq!(read_frame(&mut buf.as_slice()).expect("read"), b"hello");
        let mut huge = Vec::new();
        huge.extend_from_slice(&(MAX_FRAME as u32 + 1).to_be_bytes());
        let err = read_frame(&mut huge.as_slice()).expect_err("oversized");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(write_frame(&mut Vec::new(), &vec![0; MAX_FRAME + 1]).is_err());
    }

    #[test]
    fn debug_never_shows_pins() {
        let req = Request::Login {
            session: 1,
            user: UserType::User,
            pin: "secret-pin".into(),
        };
        assert!(!format!("{req:?}").contains("secret-pin"));
        let req = Request::InitToken {
            label: "lab".into(),
            so_pin: "so-secret".into(),
            user_pin: "user-secret".into(),
        };
        let text = format!("{req:?}");
        assert!(!text.contains("secret"), "{text}");
    }
}
