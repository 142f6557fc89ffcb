//! The audit log: an append-only, hash-chained record of every CA operation.
//!
//! Each entry's hash covers the previous entry's hash and the entry's own fields, so
//! deleting, reordering or editing any entry breaks every hash after it. Entries are keyed:
//! the hash is HMAC-SHA256 under an [`AuditKey`] kept outside the database (`audit.key`,
//! 0600, in the home), so whoever can write the database cannot write entries that verify,
//! nor re-chain the log after an edit. Entries written before caforge kept a key are plain
//! SHA-256: a legacy segment at the start of the log, verified as before, which no keyed
//! entry may be followed by. Cutting the newest entries off leaves a chain that still
//! verifies; [`Checkpoints`] — the chain's head, keyed, appended to a file outside the
//! database — show that.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The hash that precedes the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry records. The stored (and hashed) name of each is fixed forever: a
/// renamed action would break every chain that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
#[non_exhaustive]
pub enum AuditAction {
    /// A CA certificate is about to be signed (its serial reserved).
    CaSigning,
    /// A CA was created with its certificate.
    CaCreated,
    /// A CA's publication settings changed.
    CaConfigured,
    /// A cross certificate is about to be signed.
    CaCrossSigning,
    /// A cross certificate was committed.
    CaCrossSigned,
    /// A certificate is about to be signed (its serial reserved).
    CertSigning,
    /// A certificate was committed.
    CertSigned,
    /// A certificate was revoked.
    CertRevoked,
    /// A certificateHold was lifted.
    CertHoldReleased,
    /// A CRL is about to be signed (its number allocated).
    CrlSigning,
    /// A full CRL was recorded.
    CrlIssued,
    /// A delta CRL was recorded.
    CrlDeltaIssued,
    /// A delegated OCSP responder certificate is about to be signed.
    OcspResponderSigning,
    /// A delegated OCSP responder was recorded.
    OcspResponderIssued,
    /// An API token was created.
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// A certificate caforge did not issue was imported into the inventory.
    InventoryImported,
    /// An inventory certificate was removed.
    InventoryRemoved,
    /// The KMC recovered an escrowed encryption key.
    KmcRecover,
    /// The store was filled by `caforge db copy`.
    DbCopied,
    /// A key no CA or responder refers to (left by an issuance that was never recorded)
    /// was destroyed.
    KeyRemoved,
    /// A managed certificate was created (its deployment directory and hook).
    ManagedCreated,
    /// A managed certificate's deployment hook was set, changed or cleared.
    ManagedHookChanged,
    /// A deployment hook ran (its name, command and outcome).
    HookRan,
    /// The KMC re-sealed an escrowed key under its own key.
    KmcResealed,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 25] = [
        AuditAction::CaSigning,
        AuditAction::CaCreated,
        AuditAction::CaConfigured,
        AuditAction::CaCrossSigning,
        AuditAction::CaCrossSigned,
        AuditAction::CertSigning,
        AuditAction::CertSigned,
        AuditAction::CertRevoked,
        AuditAction::CertHoldReleased,
        AuditAction::CrlSigning,
        AuditAction::CrlIssued,
        AuditAction::CrlDeltaIssued,
        AuditAction::OcspResponderSigning,
        AuditAction::OcspResponderIssued,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::InventoryImported,
        AuditAction::InventoryRemoved,
        AuditAction::KmcRecover,
        AuditAction::DbCopied,
        AuditAction::KeyRemoved,
        AuditAction::ManagedCreated,
        AuditAction::ManagedHookChanged,
        AuditAction::HookRan,
        AuditAction::KmcResealed,
    ];

    /// The stored name (`cert.signed`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::CaSigning => "ca.signing",
            AuditAction::CaCreated => "ca.created",
            AuditAction::CaConfigured => "ca.configured",
            AuditAction::CaCrossSigning => "ca.cross-signing",
            AuditAction::CaCrossSigned => "ca.cross-signed",
            AuditAction::CertSigning => "cert.signing",
            AuditAction::CertSigned => "cert.signed",
            AuditAction::CertRevoked => "cert.revoked",
            AuditAction::CertHoldReleased => "cert.hold_released",
            AuditAction::CrlSigning => "crl.signing",
            AuditAction::CrlIssued => "crl.issued",
            AuditAction::CrlDeltaIssued => "crl.delta_issued",
            AuditAction::OcspResponderSigning => "ocsp.responder_signing",
            AuditAction::OcspResponderIssued => "ocsp.responder_issued",
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::InventoryImported => "inventory.imported",
            AuditAction::InventoryRemoved => "inventory.removed",
            AuditAction::KmcRecover => "kmc.recover",
            AuditAction::DbCopied => "db.copied",
            AuditAction::KeyRemoved => "key.removed",
            AuditAction::ManagedCreated => "managed.created",
            AuditAction::ManagedHookChanged => "managed.hook_changed",
            AuditAction::HookRan => "hook.ran",
            AuditAction::KmcResealed => "kmc.resealed",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown audit action '{s}'"))
    }
}

impl TryFrom<String> for AuditAction {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<AuditAction> for &'static str {
    fn from(a: AuditAction) -> &'static str {
        a.as_str()
    }
}

/// An event to be appended (the store assigns sequence number and hashes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened (Unix seconds).
    pub at: i64,
    /// What happened.
    pub action: AuditAction,
    /// The CA involved, by name.
    pub ca: Option<String>,
    /// The certificate serial involved.
    pub serial: Option<String>,
    /// Further facts as JSON (never key material).
    pub details: serde_json::Value,
    /// Who acted ([`crate::authz::Principal::audit_name`]): every new entry names one;
    /// `None` only in entries written before caforge recorded principals.
    #[serde(default)]
    pub principal: Option<String>,
}

impl AuditEvent {
    /// An entry about the certificate `serial` (hex) issued by CA `ca`, by `principal` at
    /// `at`.
    #[must_use]
    pub fn about_certificate(
        at: i64,
        action: AuditAction,
        ca: &str,
        serial: &str,
        principal: String,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            at,
            action,
            ca: Some(ca.to_owned()),
            serial: Some(serial.to_owned()),
            details,
            principal: Some(principal),
        }
    }
}

/// An event as stored, with its place in the chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
    /// Whether `hash` is keyed (HMAC-SHA256 under the [`AuditKey`]); entries from before
    /// caforge kept a key are plain SHA-256.
    #[serde(default)]
    pub keyed: bool,
}

/// The key audit entries and checkpoints are keyed with: 32 random bytes in a 0600 file
/// outside the database (every server sharing one PostgreSQL database uses the same
/// file). Never printed.
#[derive(Clone)]
pub struct AuditKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<redacted>)")
    }
}

/// Length of a new audit key.
const AUDIT_KEY_BYTES: usize = 32;

impl AuditKey {
    /// A key from its bytes (at least 32).
    ///
    /// # Errors
    /// Shorter keys.
    pub fn from_bytes(bytes: &[u8]) -> crate::Result<AuditKey> {
        if bytes.len() < AUDIT_KEY_BYTES {
            return Err(crate::Error::Config(format!(
                "an audit key has at least {AUDIT_KEY_BYTES} bytes"
            )));
        }
        Ok(AuditKey(Zeroizing::new(bytes.to_vec())))
    }

    /// Reads the key file at `path`.
    ///
    /// # Errors
    /// [`crate::Error::Config`] when it cannot be read or is too short.
    pub fn read(path: &Path) -> crate::Result<AuditKey> {
        let bytes = Zeroizing::new(
            std::fs::read(path)
                .map_err(|e| crate::Error::Config(format!("audit key {}: {e}", path.display())))?,
        );
        Self::from_bytes(&bytes)
    }

    /// Creates a new key file at `path` (0600; never over an existing file) and returns it.
    ///
    /// # Errors
    /// The file exists or cannot be written; the random generator failed.
    pub fn create(path: &Path) -> crate::Result<AuditKey> {
        let mut bytes = Zeroizing::new(vec![0u8; AUDIT_KEY_BYTES]);
        crate::keys::random_bytes(&mut bytes)?;
        crate::keys::write_private_file(path, &bytes, false)?;
        Ok(AuditKey(bytes))
    }

    fn mac(&self, feed: impl FnOnce(&mut dyn FnMut(&[u8]))) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
        feed(&mut |bytes| ctx.update(bytes));
        hex::encode(ctx.sign().as_ref())
    }
}

/// Computes the chained hash of `event` at `seq` after `prev_hash`: HMAC-SHA256 under
/// `key`, or plain SHA-256 without one (entries from before caforge kept a key).
#[must_use]
pub fn entry_hash(key: Option<&AuditKey>, prev_hash: &str, seq: i64, event: &AuditEvent) -> String {
    match key {
        Some(key) => key.mac(|update| feed_entry(update, prev_hash, seq, event)),
        None => chain_hash(prev_hash, seq, event),
    }
}

/// Computes the plain (unkeyed, legacy) chained hash of `event` at `seq` after `prev_hash`.
#[must_use]
pub fn chain_hash(prev_hash: &str, seq: i64, event: &AuditEvent) -> String {
    let mut h = Sha256::new();
    feed_entry(&mut |bytes| h.update(bytes), prev_hash, seq, event);
    hex::encode(h.finalize())
}

/// What an entry's hash covers, fed to `h` in order.
fn feed_entry(h: &mut dyn FnMut(&[u8]), prev_hash: &str, seq: i64, event: &AuditEvent) {
    h(prev_hash.as_bytes());
    h(&seq.to_be_bytes());
    h(&event.at.to_be_bytes());
    for field in [
        Some(event.action.as_str()),
        event.ca.as_deref(),
        event.serial.as_deref(),
    ] {
        match field {
            Some(s) => {
                h(&[1u8]);
                h(&(s.len() as u64).to_be_bytes());
                h(s.as_bytes());
            }
            None => h(&[0u8]),
        }
    }
    let details = event.details.to_string();
    h(&(details.len() as u64).to_be_bytes());
    h(details.as_bytes());
    // Entries from before principals were recorded hash as they always did; a principal,
    // once there, is covered, so removing or changing it breaks the chain.
    if let Some(p) = &event.principal {
        h(&[1u8]);
        h(&(p.len() as u64).to_be_bytes());
        h(p.as_bytes());
    }
}

/// A break in the chain.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("audit log broken at entry {seq}: {reason}")]
pub struct AuditBroken {
    /// The first bad entry.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// What a verified log holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Entries in the log.
    pub entries: usize,
    /// Of those, the unkeyed entries at its start (written before caforge kept a key).
    pub legacy: usize,
}

/// Checks a whole log, in sequence order: links, hashes (keyed entries under `key`), and
/// that unkeyed entries only come first.
///
/// # Errors
/// [`AuditBroken`] at the first entry whose link or hash does not match, or that is
/// unkeyed after a keyed one, or keyed when no key is given.
pub fn verify_chain(
    records: &[AuditRecord],
    key: Option<&AuditKey>,
) -> Result<ChainReport, AuditBroken> {
    let mut prev = GENESIS_HASH.to_owned();
    let mut report = ChainReport::default();
    for (i, r) in records.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        let broken = |reason: &str| AuditBroken {
            seq: r.seq,
            reason: reason.to_owned(),
        };
        if r.seq != expected_seq {
            return Err(broken(&format!("expected entry {expected_seq}")));
        }
        if r.prev_hash != prev {
            return Err(broken("previous-hash link does not match"));
        }
        let expected = match (r.keyed, key) {
            (false, _) if report.legacy < i => {
                return Err(broken(
                    "an unkeyed entry after keyed ones (written without the audit key)",
                ))
            }
            (false, _) => {
                report.legacy += 1;
                chain_hash(&prev, r.seq, &r.event)
            }
            (true, Some(key)) => entry_hash(Some(key), &prev, r.seq, &r.event),
            (true, None) => return Err(broken("a keyed entry, and no audit key to check it")),
        };
        if expected != r.hash {
            return Err(broken("entry hash does not match its contents"));
        }
        prev = r.hash.clone();
        report.entries += 1;
    }
    Ok(report)
}

/// What `caforge audit verify` found: the chain and, when a checkpoint file was given,
/// the checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The chain.
    pub chain: ChainReport,
    /// The checkpoints.
    pub checkpoints: Option<CheckpointReport>,
}

/// One checkpoint: the chain's head at a moment, keyed so that only the key's holder
/// writes one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// The head's sequence number.
    pub seq: i64,
    /// The head's hash.
    pub hash: String,
    /// When it was taken (Unix seconds).
    pub at: i64,
    /// HMAC-SHA256 of the three under the audit key.
    pub mac: String,
}

impl Checkpoint {
    fn mac(key: &AuditKey, seq: i64, hash: &str, at: i64) -> String {
        key.mac(|update| {
            update(b"caforge audit checkpoint\0");
            update(&seq.to_be_bytes());
            update(hash.as_bytes());
            update(&at.to_be_bytes());
        })
    }
}

/// The checkpoint file: one JSON [`Checkpoint`] per line, appended (`audit.checkpoints` in
/// the home, or wherever the operator keeps it). A log whose checkpointed head is missing
/// or different was cut short or rewritten.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    path: PathBuf,
    key: AuditKey,
}

/// What the checkpoints say about a log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    /// Checkpoints in the file.
    pub checkpoints: usize,
    /// The newest checkpointed head (sequence number), if any.
    pub latest: Option<i64>,
}

/// Records the audit head of `store` in `checkpoints` at `at` (unless the newest
/// checkpoint has it already); returns whether it wrote one. The one place a head is
/// checkpointed: the CLI after each command, the server after each pass.
///
/// # Errors
/// Store failures; the checkpoint file cannot be written.
pub async fn checkpoint_head(
    store: &impl crate::store::AuditStore,
    checkpoints: &Checkpoints,
    at: i64,
) -> crate::Result<bool> {
    match store.audit_head().await? {
        Some((seq, hash, _)) => checkpoints.record(seq, &hash, at),
        None => Ok(false),
    }
}

/// `store` with a home's audit key from `key_path`. A home without one gets a new key,
/// unless the log is keyed already (by another home sharing the database, whose key this
/// home must be given); the first checkpoint (in `checkpoints_path`, at `at`) then pins
/// the unkeyed entries from before the key.
///
/// # Errors
/// A keyed log and no key file; the key or checkpoint file cannot be read or written;
/// store failures.
pub async fn with_home_key(
    store: crate::store::AnyStore,
    key_path: &Path,
    checkpoints_path: PathBuf,
    at: i64,
) -> crate::Result<crate::store::AnyStore> {
    use crate::store::AuditStore as _;
    if key_path.exists() {
        return Ok(store.with_audit_key(AuditKey::read(key_path)?));
    }
    let head = store.audit_head().await?;
    if let Some((seq, _, true)) = head {
        return Err(crate::Error::Config(format!(
            "the audit log ({seq} entries) is keyed and this home has no {}: copy audit.key from the home that keeps the log",
            key_path.display()
        )));
    }
    let key = match AuditKey::create(key_path) {
        Ok(key) => key,
        // Another process made it meanwhile.
        Err(_) if key_path.exists() => AuditKey::read(key_path)?,
        Err(e) => return Err(e),
    };
    if let Some((seq, hash, false)) = head {
        Checkpoints::new(checkpoints_path, key.clone()).record(seq, &hash, at)?;
    }
    Ok(store.with_audit_key(key))
}

impl Checkpoints {
    /// The checkpoint file at `path`, keyed with `key`.
    #[must_use]
    pub fn new(path: PathBuf, key: AuditKey) -> Checkpoints {
        Checkpoints { path, key }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn text(&self) -> crate::Result<String> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(crate::Error::Config(format!(
                "audit checkpoints {}: {e}",
                self.path.display()
            ))),
        }
    }

    /// The newest checkpoint, if any (its MAC checked).
    fn newest(&self) -> crate::Result<Option<Checkpoint>> {
        let text = self.text()?;
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        Ok(match last {
            Some(line) => self.parse(line)?.pop(),
            None => None,
        })
    }

    /// Every checkpoint in the file, in order; none when there is no file.
    ///
    /// # Errors
    /// Unreadable file; [`crate::Error::Invalid`] for a line that is not a checkpoint or
    /// whose MAC is wrong.
    pub fn read(&self) -> crate::Result<Vec<Checkpoint>> {
        self.parse(&self.text()?)
    }

    fn parse(&self, text: &str) -> crate::Result<Vec<Checkpoint>> {
        let mut out = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = |why: &str| {
                crate::Error::Invalid(format!(
                    "audit checkpoints {} line {}: {why}",
                    self.path.display(),
                    n + 1
                ))
            };
            let c: Checkpoint =
                serde_json::from_str(line).map_err(|e| bad(&format!("not a checkpoint: {e}")))?;
            if Checkpoint::mac(&self.key, c.seq, &c.hash, c.at) != c.mac {
                return Err(bad(
                    "its MAC does not match (altered, or another audit key)",
                ));
            }
            out.push(c);
        }
        Ok(out)
    }

    /// Appends a checkpoint of the head (`seq`, `hash`) at `at`, unless the newest one
    /// already records it. Returns whether one was written.
    ///
    /// # Errors
    /// The file cannot be read or appended to.
    pub fn record(&self, seq: i64, hash: &str, at: i64) -> crate::Result<bool> {
        if seq == 0 {
            return Ok(false);
        }
        if self
            .newest()?
            .is_some_and(|c| c.seq == seq && c.hash == hash)
        {
            return Ok(false);
        }
        use std::os::unix::fs::OpenOptionsExt as _;
        let c = Checkpoint {
            seq,
            hash: hash.to_owned(),
            at,
            mac: Checkpoint::mac(&self.key, seq, hash, at),
        };
        let line = serde_json::to_string(&c)
            .map_err(|e| crate::Error::Internal(format!("checkpoint: {e}")))?;
        let io = |e: std::io::Error| {
            crate::Error::Config(format!("audit checkpoints {}: {e}", self.path.display()))
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        Ok(true)
    }

    /// Checks `records` (already chain-verified) against every checkpoint: each must name
    /// an entry the log still holds, with the same hash.
    ///
    /// # Errors
    /// [`AuditBroken`] naming the first checkpointed entry that is missing (the log was cut
    /// short) or different (rewritten); a missing file when the log holds keyed entries;
    /// file errors as [`Checkpoints::read`].
    pub fn verify(
        &self,
        records: &[AuditRecord],
    ) -> crate::Result<Result<CheckpointReport, AuditBroken>> {
        if !self.path.exists() && records.iter().any(|r| r.keyed) {
            // Without checkpoints a log cut short, or rewritten whole as unkeyed
            // entries, cannot be told from an intact one.
            return Err(crate::Error::Invalid(format!(
                "the audit checkpoint file {} is missing: restore it (or the copy kept elsewhere) to verify the log",
                self.path.display()
            )));
        }
        let checkpoints = self.read()?;
        for c in &checkpoints {
            let found = usize::try_from(c.seq - 1).ok().and_then(|i| records.get(i));
            match found {
                None => {
                    return Ok(Err(AuditBroken {
                        seq: c.seq,
                        reason: format!(
                            "the log ends at entry {} but was checkpointed at entry {} on {}: entries were cut off",
                            records.len(),
                            c.seq,
                            crate::notify::rfc3339(c.at)
                        ),
                    }))
                }
                Some(r) if r.hash != c.hash => {
                    return Ok(Err(AuditBroken {
                        seq: c.seq,
                        reason: "differs from the checkpointed entry: the log was rewritten"
                            .into(),
                    }))
                }
                Some(_) => {}
            }
        }
        Ok(Ok(CheckpointReport {
            checkpoints: checkpoints.len(),
            latest: checkpoints.last().map(|c| c.seq),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: i64, prev: &str, action: AuditAction) -> AuditRecord {
        let event = AuditEvent {
            at: 1,
            action,
            ca: None,
            serial: None,
            details: serde_json::json!({}),
            principal: Some("operator:test".into()),
        };
        let hash = chain_hash(prev, seq, &event);
        AuditRecord {
            seq,
            event,
            prev_hash: prev.into(),
            hash,
            keyed: false,
        }
    }

    fn keyed(key: &AuditKey, seq: i64, prev: &str) -> AuditRecord {
        let mut r = rec(seq, prev, AuditAction::CertSigned);
        r.hash = entry_hash(Some(key), prev, seq, &r.event);
        r.keyed = true;
        r
    }

    #[test]
    fn keyed_entries_need_the_key_and_follow_the_legacy_segment() {
        let key = AuditKey::from_bytes(&[7u8; 32]).expect("key");
        let other = AuditKey::from_bytes(&[8u8; 32]).expect("key");
        let a = rec(1, GENESIS_HASH, AuditAction::CertSigning);
        let b = keyed(&key, 2, &a.hash);
        let c = keyed(&key, 3, &b.hash);
        let log = [a.clone(), b.clone(), c.clone()];
        assert_eq!(
            verify_chain(&log, Some(&key)),
            Ok(ChainReport {
                entries: 3,
                legacy: 1
            })
        );
        assert_eq!(verify_chain(&log, Some(&other)).map_err(|e| e.seq), Err(2));
        assert_eq!(verify_chain(&log, None).map_err(|e| e.seq), Err(2));
        // A database writer re-chains an edited entry with plain SHA-256: refused.
        let mut forged = c.clone();
        forged.event.details = serde_json::json!({"forged": true});
        forged.keyed = false;
        forged.hash = chain_hash(&b.hash, 3, &forged.event);
        assert_eq!(
            verify_chain(&[a.clone(), b.clone(), forged], Some(&key)).map_err(|e| e.seq),
            Err(3)
        );
        assert!(!format!("{key:?}").contains('7'));
        assert!(AuditKey::from_bytes(&[1u8; 16]).is_err());
    }

    #[test]
    fn checkpoints_catch_truncation_and_rewrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = AuditKey::from_bytes(&[7u8; 32]).expect("key");
        let a = keyed(&key, 1, GENESIS_HASH);
        let b = keyed(&key, 2, &a.hash);
        let points = Checkpoints::new(dir.path().join("cp"), key.clone());
        assert!(points.record(2, &b.hash, 100).expect("record"));
        assert!(
            !points.record(2, &b.hash, 200).expect("same head"),
            "no repeat"
        );
        let full = [a.clone(), b.clone()];
        assert_eq!(
            points.verify(&full).expect("read"),
            Ok(CheckpointReport {
                checkpoints: 1,
                latest: Some(2)
            })
        );
        let cut = points.verify(&full[..1]).expect("read").expect_err("cut");
        assert_eq!(cut.seq, 2);
        assert!(cut.reason.contains("cut off"), "{}", cut.reason);
        let mut other = b.clone();
        other.hash = "00".repeat(32);
        assert!(points.verify(&[a.clone(), other]).expect("read").is_err());
        // A checkpoint line written without the key is refused.
        let text = std::fs::read_to_string(points.path()).expect("read");
        std::fs::write(points.path(), text.replace("\"seq\":2", "\"seq\":1")).expect("write");
        assert!(points.read().is_err());
    }

    #[test]
    fn detects_edits_and_gaps() {
        let a = rec(1, GENESIS_HASH, AuditAction::CertSigning);
        let b = rec(2, &a.hash, AuditAction::CertSigned);
        assert_eq!(
            verify_chain(&[a.clone(), b.clone()], None).map(|r| r.entries),
            Ok(2)
        );
        let mut edited = b.clone();
        edited.event.action = AuditAction::CertRevoked;
        assert!(verify_chain(&[a.clone(), edited], None).is_err());
        for principal in [None, Some("token:2".to_owned())] {
            let mut other = b.clone();
            other.event.principal = principal;
            assert!(
                verify_chain(&[a.clone(), other], None).is_err(),
                "principal covered"
            );
        }
        assert!(verify_chain(std::slice::from_ref(&b), None).is_err());
    }

    #[test]
    fn action_names_round_trip_and_unknown_ones_are_refused() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(a));
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).expect("back"), a);
        }
        assert!("cert.frobnicated".parse::<AuditAction>().is_err());
    }
}
