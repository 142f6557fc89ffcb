//! The hsm-sim server: one task per connection, sessions and logins per connection (as a
//! PKCS#11 application's), key operations on the blocking pool, faults injected on demand.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ca_core::algorithm::KeyType;
use ca_core::keys::{Signer as _, SoftwareKey};
use der::Encode as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::protocol::{
    check_frame_len, frame_len, Faults, Mechanism, Reply, Request, Response, Status, UserType,
    MAX_RANDOM, PROTOCOL_VERSION,
};
use crate::state::{random, KeyObject, Refusal, Vault};

/// How the server is run.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Consecutive wrong PINs before a PIN locks.
    pub max_pin_tries: u32,
    /// Faults in force at start.
    pub faults: Faults,
    /// Most connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to finish sending a request it started, and to take the answer.
    pub io_timeout: Duration,
    /// Longest a connection may sit idle between requests before it is closed (caforge's
    /// pool reconnects).
    pub idle_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_pin_tries: 3,
            faults: Faults::default(),
            max_connections: 64,
            io_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Where the server listens.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A TCP address: loopback unless `allow_remote` (the protocol is cleartext: PINs
    /// cross the network as they are).
    Tcp {
        /// `HOST:PORT`.
        addr: String,
        /// Accept a non-loopback address.
        allow_remote: bool,
    },
    /// A Unix domain socket path (created 0600: only its owner connects).
    Unix(PathBuf),
}

/// Whether a connection came over the owner-only Unix socket, where the filesystem has
/// already said who the peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The Unix socket.
    Local,
    /// TCP.
    Network,
}

struct FaultState {
    faults: Faults,
    ops: u64,
}

/// What a fault decision says about one operation.
enum Fault {
    None,
    Drop,
    Fail(String),
}

/// State shared by all connections.
pub struct Shared {
    vault: Mutex<Vault>,
    faults: Mutex<FaultState>,
    keys: Mutex<HashMap<(u32, u64, String), Arc<SoftwareKey>>>,
    next_session: AtomicU64,
    options: ServerOptions,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn chance(ppm: u32) -> bool {
    if ppm == 0 {
        return false;
    }
    let mut b = [0u8; 4];
    if random(&mut b).is_err() {
        return false;
    }
    u32::from_be_bytes(b) % 1_000_000 < ppm
}

impl Shared {
    /// Shared state over an opened vault.
    pub fn new(vault: Vault, options: ServerOptions) -> Arc<Shared> {
        Arc::new(Shared {
            vault: Mutex::new(vault),
            faults: Mutex::new(FaultState {
                faults: options.faults.clone(),
                ops: 0,
            }),
            keys: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            options,
        })
    }

    fn fault(&self) -> (Fault, u32) {
        let mut f = locked(&self.faults);
        f.ops += 1;
        let latency = f.faults.latency_ms;
        if chance(f.faults.drop_rate_ppm) {
            return (Fault::Drop, latency);
        }
        if let Some(n) = f.faults.fail_after {
            if f.ops > n {
                return (
                    Fault::Fail(format!("injected fault: failing every operation after {n}")),
                    latency,
                );
            }
        }
        if chance(f.faults.fail_rate_ppm) {
            return (
                Fault::Fail("injected fault: random failure".into()),
                latency,
            );
        }
        (Fault::None, latency)
    }
}

/// One connection's sessions and logins.
#[derive(Default)]
struct Conn {
    sessions: HashMap<u64, u32>,
    logins: HashMap<u32, UserType>,
    /// How the peer reached the device (`None` never serves device-wide operations).
    transport: Option<Transport>,
}

impl Conn {
    fn slot(&self, session: u64) -> Result<u32, Refusal> {
        self.sessions.get(&session).copied().ok_or((
            Status::SessionInvalid,
            format!("session {session} is not open on this connection"),
        ))
    }

    /// Device-wide operations (fault control): the owner-only Unix socket, or a security
    /// officer logged in on this connection.
    fn administrator(&self) -> Result<(), Refusal> {
        if self.transport == Some(Transport::Local)
            || self.logins.values().any(|u| *u == UserType::So)
        {
            return Ok(());
        }
        Err((
            Status::NotLoggedIn,
            "this operation needs a security officer login (or the Unix socket)".into(),
        ))
    }

    fn require(&self, session: u64, user: UserType) -> Result<u32, Refusal> {
        let slot = self.slot(session)?;
        match self.logins.get(&slot) {
            Some(u) if *u == user => Ok(slot),
            _ => Err((
                Status::NotLoggedIn,
                format!("this operation needs a {user:?} login"),
            )),
        }
    }
}

fn key_type_of(name: &str) -> Result<KeyType, Refusal> {
    name.parse::<KeyType>()
        .map_err(|_| (Status::ArgumentsBad, format!("unknown key type '{name}'")))
}

fn mechanism_fits(key_type: KeyType, m: &Mechanism) -> bool {
    matches!(
        (key_type, m),
        (
            KeyType::Rsa2048 | KeyType::Rsa3072,
            Mechanism::RsaPkcsSha256
        ) | (KeyType::Rsa4096, Mechanism::RsaPkcsSha384)
            | (KeyType::P256, Mechanism::EcdsaSha256)
            | (KeyType::P384, Mechanism::EcdsaSha384)
            | (KeyType::Ed25519, Mechanism::Ed25519)
            | (KeyType::Sm2, Mechanism::Sm2Sm3 { .. })
    )
}

/// Reads one request frame: as long as the connection may idle for its first byte, then
/// the I/O time-out for the rest. `None` ends the connection (closed, idle, slow,
/// oversized).
async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    options: &ServerOptions,
) -> Option<Vec<u8>> {
    let first = tokio::time::timeout(options.idle_timeout, stream.read_u8())
        .await
        .ok()?
        .ok()?;
    let rest = async {
        let mut more = [0u8; 3];
        stream.read_exact(&mut more).await.ok()?;
        let len = u32::from_be_bytes([first, more[0], more[1], more[2]]);
        let Ok(len) = check_frame_len(len) else {
            tracing::info!("closing a connection that sent an oversized frame");
            return None;
        };
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.ok()?;
        Some(body)
    };
    match tokio::time::timeout(options.io_timeout, rest).await {
        Ok(body) => body,
        Err(_) => {
            tracing::info!("closing a connection that sent a request too slowly");
            None
        }
    }
}

/// Serves one connection until the peer closes it (or a fault drops it).
pub async fn serve_connection<S>(shared: Arc<Shared>, mut stream: S, transport: Transport)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Conn {
        transport: Some(transport),
        ..Conn::default()
    };
    while let Some(body) = read_frame(&mut stream, &shared.options).await {
        let response = match Request::decode(&body) {
            Ok((id, request)) => {
                // What an administrator needs to reach fault control (a session and a
                // security officer login) is never faulted: a device failing every
                // operation must still be recoverable over TCP.
                let faultable = !matches!(
                    request,
                    Request::Hello { .. }
                        | Request::Control { .. }
                        | Request::ListSlots
                        | Request::OpenSession { .. }
                        | Request::Login {
                            user: UserType::So,
                            ..
                        }
                );
                let (fault, latency) = if faultable {
                    shared.fault()
                } else {
                    (Fault::None, 0)
                };
                if matches!(fault, Fault::Drop) {
                    tracing::info!(
                        op = request.name(),
                        "injected fault: dropping the connection"
                    );
                    break;
                }
                if latency > 0 {
                    tokio::time::sleep(Duration::from_millis(u64::from(latency))).await;
                }
                let outcome = match fault {
                    Fault::Fail(msg) => Err((Status::DeviceError, msg)),
                    _ => handle(&shared, &mut conn, request).await,
                };
                Response { id, outcome }
            }
            Err((Some(id), e)) => {
                let status = if e.0.contains("protocol version") {
                    Status::UnsupportedVersion
                } else {
                    Status::BadRequest
                };
                Response {
                    id,
                    outcome: Err((status, e.0)),
                }
            }
            Err((None, _)) => break,
        };
        let body = response.encode();
        let Ok(len) = frame_len(&body) else { break };
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&body);
        let sent = tokio::time::timeout(shared.options.io_timeout, async {
            stream.write_all(&frame).await?;
            stream.flush().await
        })
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
}

async fn handle(shared: &Arc<Shared>, conn: &mut Conn, request: Request) -> Result<Reply, Refusal> {
    let max = shared.options.max_pin_tries;
    match request {
        Request::Hello { client } => {
            tracing::debug!(%client, "hello");
            Ok(Reply::Hello {
                version: PROTOCOL_VERSION,
                server: format!("hsm-sim {}", env!("CARGO_PKG_VERSION")),
            })
        }
        Request::ListSlots => {
            let v = locked(&shared.vault);
            Ok(Reply::Slots(
                v.state.tokens.iter().map(|t| t.slot_info(max)).collect(),
            ))
        }
        Request::InitToken {
            label,
            so_pin,
            user_pin,
        } => {
            if conn.transport != Some(Transport::Local) {
                return Err((
                    Status::NotLoggedIn,
                    "InitToken is served on the Unix socket only (or offline: init-token --state)"
                        .into(),
                ));
            }
            let shared = Arc::clone(shared);
            blocking(move || {
                locked(&shared.vault)
                    .init_token(&label, &so_pin, &user_pin)
                    .map(Reply::Slot)
            })
            .await
        }
        Request::OpenSession { token } => {
            let slot = locked(&shared.vault)
                .state
                .token(&token)
                .map(|t| t.slot)
                .ok_or((
                    Status::TokenNotFound,
                    format!("no token labelled '{token}'"),
                ))?;
            let session = shared.next_session.fetch_add(1, Ordering::Relaxed);
            conn.sessions.insert(session, slot);
            Ok(Reply::Session(session))
        }
        Request::CloseSession { session } => {
            conn.slot(session)?;
            conn.sessions.remove(&session);
            Ok(Reply::Empty)
        }
        Request::Login { session, user, pin } => {
            let slot = conn.slot(session)?;
            if conn.logins.contains_key(&slot) {
                return Err((Status::AlreadyLoggedIn, "already logged in".into()));
            }
            let pin = Zeroizing::new(pin);
            let shared = Arc::clone(shared);
            blocking(move || locked(&shared.vault).check_pin(slot, user, &pin, max)).await?;
            conn.logins.insert(slot, user);
            Ok(Reply::Empty)
        }
        Request::Logout { session } => {
            let slot = conn.slot(session)?;
            conn.logins
                .remove(&slot)
                .map(|_| Reply::Empty)
                .ok_or((Status::NotLoggedIn, "not logged in".into()))
        }
        Request::InitPin { session, pin } => {
            let slot = conn.require(session, UserType::So)?;
            let pin = Zeroizing::new(pin);
            let shared = Arc::clone(shared);
            blocking(move || {
                locked(&shared.vault)
                    .init_user_pin(slot, &pin)
                    .map(|()| Reply::Empty)
            })
            .await
        }
        Request::GenerateKeyPair {
            session,
            key_type,
            label,
            id,
        } => {
            let slot = conn.require(session, UserType::User)?;
            let kt = key_type_of(&key_type)?;
            if label.is_empty() || label.len() > 256 {
                return Err((
                    Status::ArgumentsBad,
                    "a label must be 1 to 256 bytes".into(),
                ));
            }
            if id.len() > 64 {
                return Err((Status::ArgumentsBad, "an id is at most 64 bytes".into()));
            }
            let shared = Arc::clone(shared);
            blocking(move || generate(&shared, slot, kt, label, id)).await
        }
        Request::FindObjects { session, label, id } => {
            let slot = conn.slot(session)?;
            let v = locked(&shared.vault);
            let token = v
                .state
                .slot(slot)
                .ok_or((Status::TokenNotFound, "token removed".to_owned()))?;
            Ok(Reply::Objects(
                token
                    .objects
                    .iter()
                    .filter(|o| label.as_ref().is_none_or(|l| *l == o.label))
                    .filter(|o| id.as_ref().is_none_or(|i| *i == o.id))
                    .map(KeyObject::info)
                    .collect(),
            ))
        }
        Request::GetPublicKey { session, handle } => {
            let slot = conn.slot(session)?;
            let v = locked(&shared.vault);
            let o = v.state.object(slot, handle)?;
            Ok(Reply::PublicKey {
                key_type: o.key_type.clone(),
                spki: o.spki.clone(),
            })
        }
        Request::Sign {
            session,
            handle,
            mechanism,
            data,
        } => {
            let slot = conn.require(session, UserType::User)?;
            let key = signing_key(shared, slot, handle, &mechanism)?;
            blocking(move || {
                key.sign(&data)
                    .map(Reply::Signature)
                    .map_err(|e| (Status::DeviceError, e.to_string()))
            })
            .await
        }
        Request::GenerateRandom { session, len } => {
            conn.slot(session)?;
            if len > MAX_RANDOM {
                return Err((
                    Status::ArgumentsBad,
                    format!("at most {MAX_RANDOM} random bytes per call"),
                ));
            }
            let mut buf = vec![0u8; len as usize];
            random(&mut buf).map_err(|e| (Status::DeviceError, e.to_string()))?;
            Ok(Reply::Random(buf))
        }
        Request::DestroyObject { session, handle } => {
            let slot = conn.require(session, UserType::User)?;
            let shared = Arc::clone(shared);
            blocking(move || {
                let mut v = locked(&shared.vault);
                let token = v
                    .state
                    .slot_mut(slot)
                    .ok_or((Status::TokenNotFound, "token removed".to_owned()))?;
                let at = token
                    .objects
                    .iter()
                    .position(|o| o.handle == handle)
                    .ok_or((Status::ObjectNotFound, format!("no object {handle}")))?;
                let removed = token.objects.remove(at);
                if let Err(e) = v.save() {
                    if let Some(t) = v.state.slot_mut(slot) {
                        t.objects.insert(at, removed);
                    }
                    return Err((Status::DeviceError, e.to_string()));
                }
                locked(&shared.keys).retain(|(s, h, _), _| !(*s == slot && *h == handle));
                Ok(Reply::Empty)
            })
            .await
        }
        Request::Control { set } => {
            conn.administrator()?;
            let mut f = locked(&shared.faults);
            if let Some(new) = set {
                tracing::info!(?new, "fault settings changed");
                f.faults = new;
                f.ops = 0;
            }
            Ok(Reply::Faults(f.faults.clone()))
        }
    }
}

/// The parsed private key for a signature, cached per object and SM2 signer ID.
fn signing_key(
    shared: &Shared,
    slot: u32,
    handle: u64,
    mechanism: &Mechanism,
) -> Result<Arc<SoftwareKey>, Refusal> {
    let sm2_id = match mechanism {
        Mechanism::Sm2Sm3 { id } => id.clone(),
        _ => String::new(),
    };
    let cache_key = (slot, handle, sm2_id);
    if let Some(k) = locked(&shared.keys).get(&cache_key) {
        if mechanism_fits(k.key_type(), mechanism) {
            return Ok(Arc::clone(k));
        }
        return Err((
            Status::MechanismInvalid,
            format!("{mechanism:?} does not fit a {} key", k.key_type()),
        ));
    }
    let v = locked(&shared.vault);
    let o = v.state.object(slot, handle)?;
    let kt = key_type_of(&o.key_type)?;
    if !mechanism_fits(kt, mechanism) {
        return Err((
            Status::MechanismInvalid,
            format!("{mechanism:?} does not fit a {kt} key"),
        ));
    }
    let key = SoftwareKey::from_pkcs8_der(o.private_pkcs8(), &cache_key.2)
        .map_err(|e| (Status::DeviceError, format!("stored key: {e}")))?;
    drop(v);
    let key = Arc::new(key);
    locked(&shared.keys).insert(cache_key, Arc::clone(&key));
    Ok(key)
}

fn generate(
    shared: &Shared,
    slot: u32,
    kt: KeyType,
    label: String,
    id: Vec<u8>,
) -> Result<Reply, Refusal> {
    let exists = |v: &Vault| {
        v.state
            .slot(slot)
            .is_some_and(|t| t.objects.iter().any(|o| o.label == label))
    };
    if exists(&locked(&shared.vault)) {
        return Err((
            Status::ObjectExists,
            format!("an object labelled '{label}' exists"),
        ));
    }
    let key = SoftwareKey::generate(kt, ca_core::algorithm::DEFAULT_SM2_ID)
        .map_err(|e| (Status::DeviceError, e.to_string()))?;
    let spki = key
        .public_key_info()
        .to_der()
        .map_err(|e| (Status::DeviceError, e.to_string()))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| (Status::DeviceError, e.to_string()))?;
    let mut v = locked(&shared.vault);
    if exists(&v) {
        return Err((
            Status::ObjectExists,
            format!("an object labelled '{label}' exists"),
        ));
    }
    let token = v
        .state
        .slot_mut(slot)
        .ok_or((Status::TokenNotFound, "token removed".to_owned()))?;
    let handle = token.take_handle();
    let object = KeyObject::new(
        handle,
        label,
        id,
        kt.as_str().to_owned(),
        spki,
        pkcs8.to_vec(),
    );
    let info = object.info();
    token.objects.push(object);
    if let Err(e) = v.save() {
        if let Some(t) = v.state.slot_mut(slot) {
            t.objects.retain(|o| o.handle != handle);
        }
        return Err((Status::DeviceError, e.to_string()));
    }
    Ok(Reply::Object(info))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err((Status::DeviceError, format!("device task failed: {e}"))))
}

/// Accepts connections on `listener` until the process ends, printing the bound address
/// once (`hsm-sim listening on …`) so scripts and tests know it is up.
///
/// # Errors
/// Binding failures.
pub async fn run(shared: Arc<Shared>, listen: Listen) -> std::io::Result<()> {
    // Each connection holds a permit; without one the next is not accepted.
    let slots = Arc::new(tokio::sync::Semaphore::new(
        shared.options.max_connections.max(1),
    ));
    let permit = || async {
        Arc::clone(&slots)
            .acquire_owned()
            .await
            .map_err(|_| std::io::Error::other("connection limit closed"))
    };
    match listen {
        Listen::Tcp { addr, allow_remote } => {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(&addr).await?.collect();
            if !allow_remote && addrs.iter().any(|a| !a.ip().is_loopback()) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{addr} is not a loopback address: hsm-sim speaks cleartext (PINs included); pass --allow-remote to listen there anyway"
                    ),
                ));
            }
            let listener = tokio::net::TcpListener::bind(addrs.as_slice()).await?;
            let local = listener.local_addr()?;
            if !local.ip().is_loopback() {
                eprintln!(
                    "hsm-sim: warning: listening on {local} in cleartext: PINs and requests cross the network unencrypted"
                );
            }
            println!("hsm-sim listening on {local}");
            loop {
                let held = permit().await?;
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    serve_connection(shared, stream, Transport::Network).await;
                    drop(held);
                });
            }
        }
        Listen::Unix(path) => {
            // A socket file left by a killed server is stale when nothing answers on it.
            if path.exists() && std::os::unix::net::UnixStream::connect(&path).is_err() {
                std::fs::remove_file(&path)?;
            }
            // Created 0600 (the umask while it is bound), so no other user can connect
            // between bind and a chmod.
            let old = rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o177));
            let bound = tokio::net::UnixListener::bind(&path);
            rustix::process::umask(old);
            let listener = bound?;
            println!("hsm-sim listening on {}", path.display());
            loop {
                let held = permit().await?;
                let (stream, _) = listener.accept().await?;
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    serve_connection(shared, stream, Transport::Local).await;
                    drop(held);
                });
            }
        }
    }
}
