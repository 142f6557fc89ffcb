//! Storage, split by role (STYLE.md): [`SerialStore`], [`CaStore`], [`CertificateStore`],
//! [`RevocationStore`], [`OcspStore`], [`AuditStore`] and the rest, under one [`Store`].
//! Callers ask for the smallest trait they need.
//!
//! There is one implementation, [`AnyStore`], on SQLite or PostgreSQL as its URL says. Its
//! SQL is written once (`sql` is the dialect seam: one statement text, either driver);
//! the two databases differ only in how they connect, lock for writing, notice other
//! processes' writes (`marks`) and in their migration trees. One contract test suite
//! (`contract`) runs against both.

mod batch;
pub mod bulk;
#[cfg(test)]
pub(crate) mod contract;
pub mod copy;
mod db;
mod group;
mod issued;
mod marks;
mod revoked;
mod rows;
mod sql;
mod tracked;

use serde::{Deserialize, Serialize};

use crate::algorithm::KeyType;
use crate::audit::{AuditEvent, AuditRecord};
use crate::issuance::SerialNumber;
use crate::keys::{KeyRef, PublicKeyDescription};
use crate::policy::{NameConstraintSet, SubjectAltName};
use crate::profile::CertificateProfile;
use crate::revocation::{CaSettings, RevocationReason};
use crate::tokens::{NewToken, TokenRecord};

pub use db::AnyStore;
pub use marks::{WRITE_MARK_REUSE, WRITE_MARK_SETTLE};

/// Errors from storage. Messages name no front end's vocabulary (no CLI flag, no HTTP
/// status); the kind of each variant decides how front ends report it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was violated (duplicate CA name, serial, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database answered with an error.
    #[error("database: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached (connection refused or lost, pool exhausted).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be understood.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database URL is not one caforge supports.
    #[error("unsupported database URL '{0}' (expected sqlite:PATH or postgres://USER@HOST/DB)")]
    UnsupportedUrl(String),
    /// The database was migrated by a newer caforge than this one.
    #[error("the database schema is at version {current}, newer than this caforge knows (version {known}); use the caforge release that migrated it, or a newer one")]
    SchemaTooNew {
        /// The database's schema version.
        current: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A fault inside the store (a stopped writer task, a broken invariant).
    #[error("internal store error: {0}")]
    Internal(String),
    /// The database takes reads but refuses writes (a read-only file, directory or
    /// server).
    #[error("the database refuses writes: {0}")]
    ReadOnly(String),
}

impl StoreError {
    /// Its class, as front ends report it.
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Database(_) | StoreError::Unavailable(_) | StoreError::ReadOnly(_) => {
                ErrorKind::Unavailable
            }
            StoreError::UnsupportedUrl(_) => ErrorKind::Rejected,
            StoreError::Corrupt(_) | StoreError::SchemaTooNew { .. } | StoreError::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            // SQLite's SQLITE_READONLY (8, and its extended codes: numbers, never five
            // characters long); PostgreSQL's read_only_sql_transaction (a standby, or
            // default_transaction_read_only), an SQLSTATE: always five characters.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c == "25006" || (c.len() < 5 && c.parse::<i32>().is_ok_and(|n| n & 0xff == 8))
                }) =>
            {
                StoreError::ReadOnly(db.message().to_owned())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::RowNotFound => StoreError::Corrupt(e.to_string()),
            other => StoreError::Database(Box::new(other)),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation)
                if matches!(
                    e.sqlite_error().map(|f| f.extended_code),
                    Some(
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    )
                ) =>
            {
                StoreError::Conflict(e.to_string())
            }
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(match &e {
                rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
                _ => "attempt to write a readonly database".to_owned(),
            }),
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull,
            ) => StoreError::Unavailable(e.to_string()),
            _ => match e {
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::InvalidColumnIndex(_)
                | rusqlite::Error::InvalidColumnName(_)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
                other => StoreError::Database(Box::new(other)),
            },
        }
    }
}

/// A certificate's revocation status as stored. Expiry is not stored: it follows from
/// `not_after` (see [`CertificateRecord::status_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateStatus {
    /// Not revoked (never, or its hold was lifted).
    Valid,
    /// Revoked (possibly on hold).
    Revoked,
}

impl CertificateStatus {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Valid => "valid",
            CertificateStatus::Revoked => "revoked",
        }
    }

    /// Reads a stored name.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for anything else.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "valid" => Ok(CertificateStatus::Valid),
            "revoked" => Ok(CertificateStatus::Revoked),
            other => Err(StoreError::Corrupt(format!("certificate status '{other}'"))),
        }
    }
}

impl std::fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a certificate is at a given time: its stored status, with expiry derived from
/// its notAfter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// Not revoked and not expired.
    Valid,
    /// Revoked.
    Revoked,
    /// Not revoked, past its notAfter.
    Expired,
}

impl Validity {
    /// The name shown (`valid`, `revoked`, `expired`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Revoked => "revoked",
            Validity::Expired => "expired",
        }
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Row id of a CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct IssuerId(pub i64);

impl std::fmt::Display for IssuerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A CA as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaRecord {
    /// Row id.
    pub id: IssuerId,
    /// Unique name.
    pub name: String,
    /// The parent CA (None for roots).
    pub parent_id: Option<IssuerId>,
    /// The CA key's type.
    pub key_type: KeyType,
    /// Where the key lives.
    pub key_ref: KeyRef,
    /// SM2 signer ID used when this CA signs (only meaningful for SM2 CAs).
    pub sm2_id: String,
    /// Hex SubjectKeyIdentifier of the CA's key.
    pub key_id: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Serial of the CA's own certificate.
    pub serial: SerialNumber,
    /// notBefore (Unix seconds).
    pub not_before: i64,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// Name constraints (every form).
    pub name_constraints: NameConstraintSet,
    /// The CA certificate (DER).
    pub cert_der: Vec<u8>,
    /// When it was created.
    pub created_at: i64,
    /// How the CA publishes revocation.
    pub settings: CaSettings,
    /// Its generation: 1 for a new CA, one more for each rollover.
    pub generation: u32,
    /// The generation it replaced (rollover), if any.
    pub predecessor: Option<IssuerId>,
}

/// A CA about to be created (the store assigns the id).
#[derive(Clone, Debug)]
pub struct NewCa {
    /// As [`CaRecord`], without the id.
    pub name: String,
    /// Parent CA.
    pub parent_id: Option<IssuerId>,
    /// The CA key's type.
    pub key_type: KeyType,
    /// Key reference.
    pub key_ref: KeyRef,
    /// SM2 signer ID.
    pub sm2_id: String,
    /// Hex SKI.
    pub key_id: String,
    /// Subject DN.
    pub subject: String,
    /// Certificate serial.
    pub serial: SerialNumber,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// Name constraints.
    pub name_constraints: NameConstraintSet,
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// Publication settings.
    pub settings: CaSettings,
    /// Generation (1 unless this CA is a rollover successor).
    pub generation: u32,
    /// The CA this one replaces (rollover).
    pub predecessor: Option<IssuerId>,
}

/// A certificate about to be committed.
#[derive(Clone, Debug)]
pub struct NewCertificate {
    /// The issuing CA (for a root: filled in by the store with the new CA's id).
    pub issuer_ca_id: Option<IssuerId>,
    /// Serial (hex).
    pub serial: SerialNumber,
    /// Subject DN.
    pub subject: String,
    /// SANs.
    pub sans: Vec<SubjectAltName>,
    /// What it was issued as.
    pub profile: CertificateProfile,
    /// Subject key type.
    pub key_type: PublicKeyDescription,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// Hex SHA-256 of the DER.
    pub fingerprint: String,
    /// The certificate.
    pub der: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// The CRL partition the certificate was assigned (None: unpartitioned).
    pub crl_partition: Option<u32>,
    /// The CRL Distribution Point URL it carries, if any.
    pub crl_url: Option<String>,
    /// Hex SHA-256 of the SubjectPublicKeyInfo DER (for blocked-key checks).
    pub spki_sha256: String,
}

/// A certificate as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Row id.
    pub id: i64,
    /// Issuing CA.
    pub issuer_ca_id: IssuerId,
    /// Issuing CA's name.
    pub issuer_name: String,
    /// Serial.
    pub serial: SerialNumber,
    /// Subject DN.
    pub subject: String,
    /// SANs.
    pub sans: Vec<SubjectAltName>,
    /// What it was issued as.
    pub profile: CertificateProfile,
    /// Subject key type.
    pub key_type: PublicKeyDescription,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// Stored status (expiry is derived from `not_after`: [`CertificateRecord::status_at`]).
    pub status: CertificateStatus,
    /// Hex SHA-256 of the DER.
    pub fingerprint: String,
    /// The certificate.
    pub der: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// CRL partition.
    pub crl_partition: Option<u32>,
    /// The CRL DP URL in the certificate.
    pub crl_url: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why.
    pub revocation_reason: Option<RevocationReason>,
    /// invalidityDate given at revocation.
    pub invalidity_date: Option<i64>,
    /// Sequence number of the last change of its revocation state.
    pub revocation_seq: Option<i64>,
}

impl CertificateRecord {
    /// What the certificate is at `now` (Unix seconds): revoked, expired or valid.
    #[must_use]
    pub fn status_at(&self, now: i64) -> Validity {
        match self.status {
            CertificateStatus::Revoked => Validity::Revoked,
            CertificateStatus::Valid if self.not_after < now => Validity::Expired,
            CertificateStatus::Valid => Validity::Valid,
        }
    }

    /// Whether it is revoked (on hold included).
    #[must_use]
    pub fn is_revoked(&self) -> bool {
        self.status == CertificateStatus::Revoked
    }
}

/// A revocation to record.
#[derive(Clone, Debug)]
pub struct Revocation {
    /// Reason.
    pub reason: RevocationReason,
    /// Revocation time (Unix seconds).
    pub revoked_at: i64,
    /// When the key is known or suspected to have been compromised.
    pub invalidity_date: Option<i64>,
}

/// A key to block (keyCompromise).
#[derive(Clone, Debug)]
pub struct BlockedKey {
    /// Hex SHA-256 of the SubjectPublicKeyInfo DER.
    pub spki_sha256: String,
    /// The serial whose revocation blocked it.
    pub serial: String,
    /// Its issuer.
    pub ca: IssuerId,
}

/// A CRL entry as stored: everything a CRL lists about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedRow {
    /// Serial (hex).
    pub serial: String,
    /// Revocation time, or hold-release time for removeFromCRL rows.
    pub at: i64,
    /// Reason code; 8 (removeFromCRL) for a released hold.
    pub reason_code: u8,
    /// invalidityDate.
    pub invalidity_date: Option<i64>,
}

/// The revoked certificates in one CRL scope, read in one snapshot.
#[derive(Clone, Debug, Default)]
pub struct RevocationSnapshot {
    /// Entries (or changes, for deltas), ordered by serial.
    pub rows: Vec<RevokedRow>,
    /// The highest revocation sequence number the snapshot reflects.
    pub seq: i64,
}

/// [`RevocationStore::revoked_certificates`] collected into memory (small scopes, tests).
///
/// # Errors
/// As that method.
pub async fn revocation_snapshot<S: RevocationStore>(
    store: &S,
    ca: IssuerId,
    partition: Option<u32>,
    changed_after: Option<i64>,
    now: i64,
) -> Result<RevocationSnapshot, StoreError> {
    let mut rows = Vec::new();
    let seq = store
        .revoked_certificates(ca, partition, changed_after, now, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .await?;
    Ok(RevocationSnapshot { rows, seq })
}

/// A CRL about to be recorded.
#[derive(Clone, Debug)]
pub struct NewCrl {
    /// Issuing CA.
    pub ca: IssuerId,
    /// cRLNumber (already allocated).
    pub number: u64,
    /// Partition, if the CA is partitioned.
    pub partition: Option<u32>,
    /// For deltas: the base CRL's number.
    pub base_number: Option<u64>,
    /// The revocation sequence number it reflects.
    pub revocation_seq: i64,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// Entry count.
    pub entries: u64,
    /// DER.
    pub der: Vec<u8>,
}

/// A CRL as stored (its DER is kept only for the newest CRL of each scope).
#[derive(Clone, Debug)]
pub struct CrlRecord {
    /// Row id.
    pub id: i64,
    /// The CRL's fields.
    pub crl: NewCrl,
}

/// Held while one CA's CRLs are generated (see [`RevocationStore::lock_crl_generation`]);
/// dropping it releases the lock.
#[derive(Default)]
pub struct CrlLock {
    _held: Option<Box<dyn Send>>,
}

impl std::fmt::Debug for CrlLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self._held.is_some() {
            "CrlLock(held)"
        } else {
            "CrlLock(none)"
        })
    }
}

impl CrlLock {
    /// A lock whose release is dropping `held`.
    #[must_use]
    pub fn holding(held: Box<dyn Send>) -> CrlLock {
        CrlLock { _held: Some(held) }
    }
}

/// A point in a store's write history that is cheap to read (no query). Two equal marks
/// mean nobody — this process or another — wrote to the store in between, so what was read
/// after the first mark is still current. See [`OcspStore::write_mark`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteMark([u128; 4]);

impl WriteMark {
    /// A mark from backend-specific parts (for example file times and sizes).
    #[must_use]
    pub fn new(parts: [u128; 4]) -> WriteMark {
        WriteMark(parts)
    }
}

/// A pre-signed OCSP response (RFC 5019) for one certificate.
#[derive(Clone, Debug)]
pub struct CachedOcspResponse {
    /// Issuing CA.
    pub ca: IssuerId,
    /// Serial (hex).
    pub serial: String,
    /// CertID hash algorithm name.
    pub hash_alg: String,
    /// producedAt.
    pub produced_at: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// The certificate's `revocation_seq` when its status was read: the response is not
    /// stored if the status changed since.
    pub seen_seq: Option<i64>,
    /// The OCSPResponse DER.
    pub der: Vec<u8>,
}

/// A delegated OCSP responder.
#[derive(Clone, Debug)]
pub struct ResponderRecord {
    /// Row id.
    pub id: i64,
    /// The CA it answers for.
    pub ca: IssuerId,
    /// Its certificate.
    pub certificate: CertificateRecord,
    /// Where its key lives.
    pub key_ref: KeyRef,
    /// notAfter.
    pub not_after: i64,
}

/// Filters for listing certificates.
#[derive(Clone, Debug, Default)]
pub struct CertificateFilter {
    /// Only this issuer.
    pub issuer: Option<IssuerId>,
    /// Only with this stored status.
    pub status: Option<CertificateStatus>,
    /// Only with notAfter strictly before this time.
    pub not_after_before: Option<i64>,
    /// Only with notAfter at or after this time.
    pub not_after_from: Option<i64>,
    /// Only with a row id above this one (the cursor of the page before).
    pub after_id: Option<i64>,
    /// At most this many, in row id order.
    pub limit: Option<u32>,
}

/// Durable serial reservations: a serial is recorded before anything is signed with it.
#[allow(async_fn_in_trait)]
pub trait SerialStore {
    /// Reserves `serial` under the issuer key `issuer_key_id`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if it was ever reserved before.
    async fn reserve_serial(
        &self,
        issuer_key_id: &str,
        serial: &SerialNumber,
        at: i64,
    ) -> Result<(), StoreError>;

    /// Reservations never used (left by crashes or failed signatures).
    ///
    /// # Errors
    /// Database errors.
    async fn unused_serials(&self) -> Result<Vec<(String, String)>, StoreError>;
}

/// Certificate authorities.
#[allow(async_fn_in_trait)]
pub trait CaStore {
    /// Creates a CA together with its certificate record and audit entry, atomically.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a duplicate name or serial.
    async fn create_ca(
        &self,
        ca: &NewCa,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError>;

    /// All CAs, oldest first.
    ///
    /// # Errors
    /// Database errors.
    async fn list_cas(&self) -> Result<Vec<CaRecord>, StoreError>;

    /// A CA by name, or by id when `name_or_id` is a number.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn find_ca(&self, name_or_id: &str) -> Result<CaRecord, StoreError>;

    /// A CA by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn ca_by_id(&self, id: IssuerId) -> Result<CaRecord, StoreError>;

    /// Every key the store refers to (CA keys and delegated responders' keys): a key in a
    /// custodian that is not among them was generated for a certificate never recorded.
    ///
    /// # Errors
    /// Database errors.
    async fn key_refs(&self) -> Result<Vec<KeyRef>, StoreError>;
}

/// What is checked and recorded, durably and in one write, before any certificate is
/// signed (see [`CertificateStore::begin_signing`]).
#[derive(Clone, Debug)]
pub struct SigningIntent {
    /// The issuing CA's own certificate row: (its issuer's id, its serial hex), checked not
    /// revoked; `None` for a certificate that signs itself (a new root).
    pub ca_certificate: Option<(IssuerId, String)>,
    /// The issuing key's identifier (hex), under which the serial is reserved.
    pub issuer_key_id: String,
    /// The serial to reserve.
    pub serial: SerialNumber,
    /// Hex SHA-256 of the subject's SubjectPublicKeyInfo.
    pub spki_sha256: String,
    /// Reservation time.
    pub at: i64,
    /// The "signing" audit entry.
    pub audit: AuditEvent,
}

/// Why signing may not begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningRefusal {
    /// The issuing CA's certificate is revoked (with this reason code, if any).
    CaRevoked(Option<RevocationReason>),
    /// The subject key was reported compromised.
    KeyBlocked,
}

/// Issued certificates.
#[allow(async_fn_in_trait)]
pub trait CertificateStore {
    /// Before any certificate is signed, in one transaction: refuses if the issuing CA's
    /// certificate (when there is one) is revoked or the subject key is blocked; otherwise
    /// reserves the serial and appends the "signing" audit entry. Durable when it returns
    /// `Ok(Ok(()))`. Both backends commit concurrent calls together (group commit).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the serial is already reserved; database errors.
    async fn begin_signing(
        &self,
        intent: &SigningIntent,
    ) -> Result<Result<(), SigningRefusal>, StoreError>;

    /// Commits an issued certificate: marks its serial used, stores it and appends the
    /// audit entry, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the serial is already used.
    async fn commit_certificate(
        &self,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError>;

    /// Certificates matching `filter`, oldest first.
    ///
    /// # Errors
    /// Database errors.
    async fn list_certificates(
        &self,
        filter: &CertificateFilter,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Certificates with this serial (one per issuer at most).
    ///
    /// # Errors
    /// Database errors.
    async fn certificates_by_serial(
        &self,
        serial: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Certificates (issued by `issuer`, when given) whose upper-case hex serial starts or
    /// ends with `digits` (hex), at most `limit` of them, in row id order.
    ///
    /// # Errors
    /// Database errors.
    async fn certificates_by_serial_part(
        &self,
        digits: &str,
        issuer: Option<IssuerId>,
        limit: u32,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// A certificate by row id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn certificate_by_id(&self, id: i64) -> Result<CertificateRecord, StoreError>;
}

/// How the two certificates of a pair relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairMode {
    /// One subject under an RSA (or ECDSA) CA and under an SM2 CA.
    RsaSm2,
    /// GM/T 0015 SM2 signing certificate (first) and encryption certificate (second).
    Sm2SignEnc,
}

impl PairMode {
    /// The name stored and shown (`rsa-sm2`, `sm2-sign-enc`).
    pub fn as_str(self) -> &'static str {
        match self {
            PairMode::RsaSm2 => "rsa-sm2",
            PairMode::Sm2SignEnc => "sm2-sign-enc",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<PairMode, StoreError> {
        match s {
            "rsa-sm2" => Ok(PairMode::RsaSm2),
            "sm2-sign-enc" => Ok(PairMode::Sm2SignEnc),
            other => Err(StoreError::Corrupt(format!("unknown pair mode '{other}'"))),
        }
    }
}

/// One certificate of a pair about to be committed.
#[derive(Clone, Copy, Debug)]
pub struct PairMember<'a> {
    /// The certificate.
    pub cert: &'a NewCertificate,
    /// Its issuer's key id (hex), under which the serial was reserved.
    pub issuer_key_id: &'a str,
    /// Its `cert.signed` audit entry.
    pub audit: &'a AuditEvent,
}

/// A certificate's partner in a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partner {
    /// The pair's mode.
    pub mode: PairMode,
    /// Whether the certificate asked about is the pair's first (RSA side, or signing).
    pub is_first: bool,
    /// The other certificate.
    pub certificate: CertificateRecord,
}

/// Dual certificates and the KMC's escrow.
#[allow(async_fn_in_trait)]
pub trait PairStore {
    /// Commits both certificates of a pair, the link between them and, for the second, its
    /// escrowed (sealed) private key, in one transaction: both or neither.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a serial is already used.
    async fn commit_pair(
        &self,
        mode: PairMode,
        first: PairMember<'_>,
        second: PairMember<'_>,
        escrow: Option<&[u8]>,
    ) -> Result<(CertificateRecord, CertificateRecord), StoreError>;

    /// The partner of certificate `id`, if it belongs to a pair.
    ///
    /// # Errors
    /// Database errors.
    async fn partner(&self, id: i64) -> Result<Option<Partner>, StoreError>;

    /// The sealed escrowed private key of certificate `id`, if the KMC keeps one.
    ///
    /// # Errors
    /// Database errors.
    async fn escrowed_key(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The certificate ids of every escrowed key, in order.
    ///
    /// # Errors
    /// Database errors.
    async fn escrowed_ids(&self) -> Result<Vec<i64>, StoreError>;

    /// Replaces the sealed form of certificate `id`'s escrowed key (re-sealed under another
    /// key), only if it is still `was`; appends `audit`. Returns whether it replaced it.
    ///
    /// # Errors
    /// Database errors.
    async fn reseal_escrow(
        &self,
        id: i64,
        was: &[u8],
        sealed: &[u8],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

/// One certificate of a revocation made together with others
/// ([`RevocationStore::revoke_together`]).
#[derive(Clone, Copy, Debug)]
pub struct RevocationItem<'a> {
    /// The certificate's row id.
    pub cert_id: i64,
    /// Reason and times.
    pub revocation: &'a Revocation,
    /// The key to block (keyCompromise).
    pub block: Option<&'a BlockedKey>,
    /// Its audit entry.
    pub audit: &'a AuditEvent,
}

/// Revocation records, CRL numbers and blocked keys.
#[allow(async_fn_in_trait)]
pub trait RevocationStore {
    /// Revokes certificate `cert_id`, blocks `block` if given, drops its pre-signed OCSP
    /// responses and appends `audit`, in one transaction. A certificate on hold may be
    /// revoked again with a final reason.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it is already revoked (other than on hold).
    async fn revoke(
        &self,
        cert_id: i64,
        revocation: &Revocation,
        block: Option<&BlockedKey>,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError>;

    /// Revokes several certificates (a pair) in one transaction: all or none.
    ///
    /// # Errors
    /// As [`RevocationStore::revoke`] for any of them; then nothing changes.
    async fn revoke_together(
        &self,
        items: &[RevocationItem<'_>],
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Lifts a certificateHold: the certificate is valid again and the next delta CRL
    /// lists it as removeFromCRL.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it is not on hold.
    async fn release_hold(
        &self,
        cert_id: i64,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError>;

    /// Calls `each` with the revoked, unexpired-at-`now` certificates of `ca` in
    /// `partition`, or (with `changed_after`) those whose revocation state changed after that
    /// sequence number, including released holds — in CRL order (by serial), streamed from
    /// one snapshot; returns the highest revocation sequence number that snapshot reflects.
    ///
    /// # Errors
    /// Database errors, or the first error `each` returns (which stops the reading).
    async fn revoked_certificates(
        &self,
        ca: IssuerId,
        partition: Option<u32>,
        changed_after: Option<i64>,
        now: i64,
        each: &mut (dyn FnMut(RevokedRow) -> Result<(), StoreError> + Send),
    ) -> Result<i64, StoreError>;

    /// The highest revocation sequence number of `ca`'s certificates (0: none changed):
    /// what [`RevocationStore::revoked_certificates`] would reflect now.
    ///
    /// # Errors
    /// Database errors.
    async fn revocation_seq(&self, ca: IssuerId) -> Result<i64, StoreError> {
        self.revoked_certificates(ca, None, Some(i64::MAX), 0, &mut |_| Ok(()))
            .await
    }

    /// Partitions that hold at least one certificate of `ca`.
    ///
    /// # Errors
    /// Database errors.
    async fn partitions_in_use(&self, ca: IssuerId) -> Result<Vec<Option<u32>>, StoreError>;

    /// Whether a key (hex SHA-256 of its SPKI DER) was reported compromised.
    ///
    /// # Errors
    /// Database errors.
    async fn is_key_blocked(&self, spki_sha256: &str) -> Result<bool, StoreError>;

    /// Waits for, and holds until the returned lock is dropped, the right to generate
    /// `ca`'s CRLs, across every process on the store: with replicas, one signs a CRL and
    /// the others find it stored. Embedded stores have one writer process at a time and
    /// need no lock (the default).
    ///
    /// # Errors
    /// Database errors.
    async fn lock_crl_generation(&self, ca: IssuerId) -> Result<CrlLock, StoreError> {
        let _ = ca;
        Ok(CrlLock::default())
    }

    /// Allocates and commits the next CRL number of `ca` (1, 2, …; never reused).
    ///
    /// # Errors
    /// Database errors.
    async fn allocate_crl_number(&self, ca: IssuerId) -> Result<u64, StoreError>;

    /// Records a signed CRL (and forgets the DER of older CRLs of the same kind and scope);
    /// the CRL moves into the returned record (a large CRL is not copied).
    ///
    /// # Errors
    /// Database errors.
    async fn record_crl(&self, crl: NewCrl, audit: &AuditEvent) -> Result<CrlRecord, StoreError>;

    /// The newest full (`delta == false`) or delta CRL of `ca` for `partition`.
    ///
    /// # Errors
    /// Database errors.
    async fn latest_crl(
        &self,
        ca: IssuerId,
        partition: Option<u32>,
        delta: bool,
    ) -> Result<Option<CrlRecord>, StoreError>;

    /// Changes how a CA publishes revocation.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn update_ca_settings(
        &self,
        ca: IssuerId,
        settings: &CaSettings,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError>;
}

/// Pre-signed OCSP responses and delegated responders.
#[allow(async_fn_in_trait)]
pub trait OcspStore {
    /// The current [`WriteMark`], or `None` when the backend cannot give one that is safe to
    /// trust right now (then callers read the store). A responder keeps what it read in
    /// memory under the mark taken before reading, and reuses it while the mark is unchanged;
    /// this is how a revocation made by another process is seen without a query per
    /// request. A backend may reuse a mark for a short while ([`WRITE_MARK_REUSE`] for
    /// SQLite), so another process's commit is seen by answers begun at most that long
    /// after it; its own revocation-state changes are seen at once.
    fn write_mark(&self) -> Option<WriteMark>;

    /// The pre-signed response for (`ca`, `serial`, `hash_alg`), if any.
    ///
    /// # Errors
    /// Database errors.
    async fn cached_ocsp(
        &self,
        ca: IssuerId,
        serial: &str,
        hash_alg: &str,
    ) -> Result<Option<CachedOcspResponse>, StoreError>;

    /// Stores (replacing) a pre-signed response, unless the certificate's revocation state
    /// changed after its `seen_seq` (the response would be stale).
    ///
    /// # Errors
    /// Database errors.
    async fn store_ocsp(&self, response: &CachedOcspResponse) -> Result<(), StoreError>;

    /// Commits a delegated responder's certificate issued under `ca` together with the
    /// responder record naming its key, in one transaction (as
    /// [`CertificateStore::commit_certificate`], plus the record).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the serial is already used; database errors.
    async fn commit_responder(
        &self,
        ca: IssuerId,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
        key_ref: &KeyRef,
    ) -> Result<CertificateRecord, StoreError>;

    /// The newest responder of `ca` whose certificate is valid at `now` and not revoked.
    ///
    /// # Errors
    /// Database errors.
    async fn current_responder(
        &self,
        ca: IssuerId,
        now: i64,
    ) -> Result<Option<ResponderRecord>, StoreError>;
}

/// API tokens (hashes only).
#[allow(async_fn_in_trait)]
pub trait TokenStore {
    /// Records a token and its audit entry.
    ///
    /// # Errors
    /// Database errors.
    async fn create_token(
        &self,
        token: &NewToken,
        audit: &AuditEvent,
    ) -> Result<TokenRecord, StoreError>;

    /// The token with this hash, if any.
    ///
    /// # Errors
    /// Database errors.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// All tokens, oldest first.
    ///
    /// # Errors
    /// Database errors.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes token `id` at `at`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] when already revoked.
    async fn revoke_token(
        &self,
        id: i64,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<TokenRecord, StoreError>;
}

/// The audit log.
#[allow(async_fn_in_trait)]
pub trait AuditStore {
    /// Appends an event to the chain.
    ///
    /// # Errors
    /// Database errors.
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError>;

    /// The whole log in order.
    ///
    /// # Errors
    /// Database errors.
    async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError>;

    /// The newest entry's sequence number, hash and whether it is keyed (none in an empty
    /// log).
    ///
    /// # Errors
    /// Database errors.
    async fn audit_head(&self) -> Result<Option<(i64, String, bool)>, StoreError>;
}

/// How a certificate replaced its predecessor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SuccessionKind {
    /// Same subject, names and key; new validity.
    Renew,
    /// Same subject and names; a new key.
    Rekey,
    /// New names (and possibly a new key).
    Reissue,
}

impl SuccessionKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SuccessionKind::Renew => "renew",
            SuccessionKind::Rekey => "rekey",
            SuccessionKind::Reissue => "reissue",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "renew" => Ok(SuccessionKind::Renew),
            "rekey" => Ok(SuccessionKind::Rekey),
            "reissue" => Ok(SuccessionKind::Reissue),
            other => Err(StoreError::Corrupt(format!("succession kind '{other}'"))),
        }
    }
}

/// The link a successor certificate is committed with.
#[derive(Clone, Debug)]
pub struct Succession {
    /// The certificate it replaces (row id).
    pub predecessor_id: i64,
    /// How.
    pub kind: SuccessionKind,
    /// When the predecessor is to be revoked as superseded, if it is.
    pub revoke_predecessor_at: Option<i64>,
    /// The managed certificate (row id) the successor now stands for, with its new sealed
    /// key: switched over, pending deployment, in the same transaction.
    pub managed: Option<(i64, Vec<u8>)>,
}

/// A revocation that takes effect later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledRevocation {
    /// The certificate (row id).
    pub certificate_id: i64,
    /// The reason it will be revoked with.
    pub reason: RevocationReason,
    /// When (Unix seconds).
    pub due_at: i64,
    /// When it was asked for.
    pub requested_at: i64,
}

/// A certificate's place in its renewal history.
#[derive(Clone, Debug, Default)]
pub struct Lineage {
    /// The certificate it replaced, and how.
    pub predecessor: Option<(SuccessionKind, CertificateRecord)>,
    /// The certificates that replaced it, oldest first.
    pub successors: Vec<(SuccessionKind, CertificateRecord)>,
    /// Its revocation, when one is scheduled.
    pub scheduled_revocation: Option<ScheduledRevocation>,
}

/// Lifecycle records: renewal links, scheduled revocations, CA generations, cross
/// certificates.
#[allow(async_fn_in_trait)]
pub trait LifecycleStore {
    /// Commits `cert` (as [`CertificateStore::commit_certificate`]) linked to its
    /// predecessor, scheduling the predecessor's revocation when asked, in one transaction.
    ///
    /// # Errors
    /// As `commit_certificate`; Conflict if the predecessor does not exist.
    async fn commit_successor(
        &self,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
        succession: &Succession,
    ) -> Result<CertificateRecord, StoreError>;

    /// The renewal history around certificate `id`.
    ///
    /// # Errors
    /// Store failures.
    async fn lineage(&self, id: i64) -> Result<Lineage, StoreError>;

    /// Scheduled revocations due at `now`, oldest first.
    ///
    /// # Errors
    /// Store failures.
    async fn due_revocations(&self, now: i64) -> Result<Vec<ScheduledRevocation>, StoreError>;

    /// Forgets the scheduled revocation of certificate `id` (carried out or moot).
    ///
    /// # Errors
    /// Store failures.
    async fn drop_scheduled_revocation(&self, id: i64) -> Result<(), StoreError>;

    /// The CA that replaced `ca` in a rollover, if any.
    ///
    /// # Errors
    /// Store failures.
    async fn ca_successor(&self, ca: IssuerId) -> Result<Option<CaRecord>, StoreError>;

    /// The latest notAfter of any certificate `ca` issued (None: it issued none).
    ///
    /// # Errors
    /// Store failures.
    async fn last_expiry(&self, ca: IssuerId) -> Result<Option<i64>, StoreError>;

    /// Commits a cross certificate for CA `subject_ca` (the row sits under its issuer).
    ///
    /// # Errors
    /// As `commit_certificate`.
    async fn commit_cross_certificate(
        &self,
        subject_ca: IssuerId,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError>;

    /// The cross certificates issued for `subject_ca`, oldest first.
    ///
    /// # Errors
    /// Store failures.
    async fn cross_certificates(
        &self,
        subject_ca: IssuerId,
    ) -> Result<Vec<CertificateRecord>, StoreError>;
}

/// A certificate caforge did not issue, about to be added to the inventory.
#[derive(Clone, Debug)]
pub struct NewInventoryCert {
    /// Hex SHA-256 of the DER.
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial (hex).
    pub serial: String,
    /// SANs.
    pub sans: Vec<SubjectAltName>,
    /// Key type.
    pub key_type: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// The caforge CA that signed it, when one did.
    pub issuer_ca_id: Option<IssuerId>,
    /// The inventory certificate that signed it, when known.
    pub issuer_inventory_id: Option<i64>,
    /// Where it came from (a file, or `probe:HOST:PORT`).
    pub source: String,
    /// DER.
    pub der: Vec<u8>,
    /// When it was imported.
    pub imported_at: i64,
}

/// An inventory certificate as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryRecord {
    /// Row id.
    pub id: i64,
    /// Hex SHA-256 of the DER.
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial (hex).
    pub serial: String,
    /// SANs.
    pub sans: Vec<SubjectAltName>,
    /// Key type.
    pub key_type: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// The caforge CA that signed it.
    pub issuer_ca_id: Option<IssuerId>,
    /// The inventory certificate that signed it.
    pub issuer_inventory_id: Option<i64>,
    /// Where it came from.
    pub source: String,
    /// DER.
    pub der: Vec<u8>,
    /// When it was imported.
    pub imported_at: i64,
}

/// The inventory of certificates caforge did not issue.
#[allow(async_fn_in_trait)]
pub trait InventoryStore {
    /// Adds `cert` with its audit entry; None when a certificate with its fingerprint is
    /// already in the inventory (nothing changes then).
    ///
    /// # Errors
    /// Store failures.
    async fn add_inventory(
        &self,
        cert: &NewInventoryCert,
        audit: &AuditEvent,
    ) -> Result<Option<InventoryRecord>, StoreError>;

    /// Inventory certificates with notAfter in `[from, before)` (either bound optional),
    /// by notAfter.
    ///
    /// # Errors
    /// Store failures.
    async fn list_inventory(
        &self,
        from: Option<i64>,
        before: Option<i64>,
    ) -> Result<Vec<InventoryRecord>, StoreError>;

    /// Inventory certificates with this serial (hex).
    ///
    /// # Errors
    /// Store failures.
    async fn inventory_by_serial(&self, serial: &str) -> Result<Vec<InventoryRecord>, StoreError>;

    /// Links inventory certificate `id` to the inventory certificate that signed it.
    ///
    /// # Errors
    /// Store failures.
    async fn link_inventory_issuer(&self, id: i64, issuer: i64) -> Result<(), StoreError>;

    /// Removes inventory certificate `id` (and its pending notifications).
    ///
    /// # Errors
    /// NotFound, or store failures.
    async fn remove_inventory(
        &self,
        id: i64,
        audit: &AuditEvent,
    ) -> Result<InventoryRecord, StoreError>;

    /// The caforge-issued certificate with this fingerprint, if any.
    ///
    /// # Errors
    /// Store failures.
    async fn certificate_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<CertificateRecord>, StoreError>;
}

/// Delivery state of a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    /// Not delivered yet (maybe after failed attempts).
    Pending,
    /// Delivered (the receiver answered 2xx).
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl NotificationState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "pending",
            NotificationState::Delivered => "delivered",
            NotificationState::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(NotificationState::Pending),
            "delivered" => Ok(NotificationState::Delivered),
            "failed" => Ok(NotificationState::Failed),
            other => Err(StoreError::Corrupt(format!("notification state '{other}'"))),
        }
    }
}

/// A notification owed to a webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    /// `cert:<id>` or `inventory:<id>`.
    pub target: String,
    /// The threshold reached (days before expiry).
    pub threshold_days: u32,
    /// The webhook URL.
    pub webhook: String,
    /// The JSON body to POST.
    pub payload: String,
    /// When it became due.
    pub created_at: i64,
}

/// A notification as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Row id.
    pub id: i64,
    /// `cert:<id>` or `inventory:<id>`.
    pub target: String,
    /// Threshold (days).
    pub threshold_days: u32,
    /// Webhook URL.
    pub webhook: String,
    /// Delivery state.
    pub state: NotificationState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// The JSON body.
    pub payload: String,
    /// When it became due.
    pub created_at: i64,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
}

/// Expiry notifications: recorded once per (certificate, threshold, webhook), delivered at
/// least once.
#[allow(async_fn_in_trait)]
pub trait NotificationStore {
    /// Records notifications that became due; those already recorded are left alone.
    /// Returns how many are new.
    ///
    /// # Errors
    /// Store failures.
    async fn record_notifications(&self, due: &[NewNotification]) -> Result<usize, StoreError>;

    /// Pending notifications whose next attempt is due at `now`, oldest first.
    ///
    /// # Errors
    /// Store failures.
    async fn pending_notifications(&self, now: i64) -> Result<Vec<NotificationRecord>, StoreError>;

    /// Marks notification `id` delivered at `at`.
    ///
    /// # Errors
    /// Store failures.
    async fn notification_delivered(&self, id: i64, at: i64) -> Result<(), StoreError>;

    /// Records a failed attempt: retried at `retry_at`, or given up when None.
    ///
    /// # Errors
    /// Store failures.
    async fn notification_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Every notification, newest first.
    ///
    /// # Errors
    /// Store failures.
    async fn list_notifications(&self) -> Result<Vec<NotificationRecord>, StoreError>;
}

/// Issuance quotas of API tokens.
#[allow(async_fn_in_trait)]
pub trait QuotaStore {
    /// Takes one of token `token_id`'s `limit` issuances in the window `(now - window, now]`,
    /// atomically. `Ok(Ok(reservation))`, or `Ok(Err(frees_at))`: when the oldest issuance
    /// in the window leaves it.
    ///
    /// # Errors
    /// Store failures.
    async fn reserve_quota(
        &self,
        token_id: i64,
        limit: u32,
        window: i64,
        now: i64,
    ) -> Result<Result<i64, i64>, StoreError>;

    /// Binds reservation `id` to the certificate issued with it, or gives it back (None).
    ///
    /// # Errors
    /// Store failures.
    async fn settle_quota(&self, id: i64, certificate_id: Option<i64>) -> Result<(), StoreError>;

    /// Issuances token `token_id` made since `since`.
    ///
    /// # Errors
    /// Store failures.
    async fn quota_used(&self, token_id: i64, since: i64) -> Result<u32, StoreError>;
}

/// Deployment state of a managed certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedState {
    /// The current certificate still has to be deployed.
    Pending,
    /// The current certificate is deployed (the hook succeeded).
    Deployed,
    /// The last renewal or deployment failed; retried at `next_attempt_at`.
    Failed,
}

impl ManagedState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedState::Pending => "pending",
            ManagedState::Deployed => "deployed",
            ManagedState::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(ManagedState::Pending),
            "deployed" => Ok(ManagedState::Deployed),
            "failed" => Ok(ManagedState::Failed),
            other => Err(StoreError::Corrupt(format!("managed state '{other}'"))),
        }
    }
}

/// A managed certificate about to be recorded with its first certificate.
#[derive(Clone, Debug)]
pub struct NewManaged {
    /// Key type of every key it gets.
    pub key_type: String,
    /// The key, sealed by the key custodian.
    pub sealed_key: Vec<u8>,
    /// Where it is deployed.
    pub deploy_dir: String,
    /// Run after each deployment: the name of a hook `caforge.toml` allows.
    pub deploy_hook: Option<String>,
    /// Creation time.
    pub created_at: i64,
}

/// A managed certificate as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagedRecord {
    /// Row id.
    pub id: i64,
    /// The current certificate.
    pub certificate_id: i64,
    /// Key type.
    pub key_type: String,
    /// The current key, sealed.
    pub sealed_key: Vec<u8>,
    /// Deployment directory.
    pub deploy_dir: String,
    /// Deployment hook: a name in `caforge.toml` `[hooks]` (rows made before hooks were
    /// named hold the command itself, which must be listed there too).
    pub deploy_hook: Option<String>,
    /// State.
    pub state: ManagedState,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// When a pending or failed one is tried next.
    pub next_attempt_at: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: i64,
    /// Creation time.
    pub created_at: i64,
}

impl std::fmt::Debug for ManagedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealed key is encrypted, but it is still key material: keep it out of logs.
        f.debug_struct("ManagedRecord")
            .field("id", &self.id)
            .field("certificate_id", &self.certificate_id)
            .field("deploy_dir", &self.deploy_dir)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Managed certificates: renewed and deployed by caforge.
#[allow(async_fn_in_trait)]
pub trait ManagedStore {
    /// Commits a managed certificate's first certificate (as
    /// [`CertificateStore::commit_certificate`] does, with `cert_audit`) together with the
    /// managed certificate (pending its first deployment, its sealed key) and `audit`, in
    /// one transaction: a crash leaves both or neither, never a certificate whose key is
    /// lost.
    ///
    /// # Errors
    /// Store failures.
    async fn commit_managed(
        &self,
        cert: &NewCertificate,
        issuer_key_id: &str,
        cert_audit: &AuditEvent,
        m: &NewManaged,
        audit: &AuditEvent,
    ) -> Result<(CertificateRecord, ManagedRecord), StoreError>;

    /// Sets (or clears) managed certificate `id`'s deployment hook, with `audit`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; store failures.
    async fn set_managed_hook(
        &self,
        id: i64,
        hook: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Every managed certificate, by id.
    ///
    /// # Errors
    /// Store failures.
    async fn list_managed(&self) -> Result<Vec<ManagedRecord>, StoreError>;

    /// The outcome of a renewal or deployment attempt: deployed (error None), or failed
    /// with `error` and retried at `retry_at`.
    ///
    /// # Errors
    /// Store failures.
    async fn managed_attempted(
        &self,
        id: i64,
        error: Option<&str>,
        retry_at: i64,
        at: i64,
    ) -> Result<(), StoreError>;
}

/// What a health check asks of the store.
#[allow(async_fn_in_trait)]
pub trait HealthStore {
    /// Writes and commits without changing anything: whether the database takes writes
    /// now.
    ///
    /// # Errors
    /// The database refuses the write (a full disk, a read-only file, a lost server).
    async fn probe_write(&self) -> Result<(), StoreError>;

    /// Free bytes (for this user) on the filesystem of a SQLite database file; `None` for
    /// PostgreSQL (its disk is the server's) and in-memory databases.
    fn disk_free(&self) -> Option<u64>;
}

/// Everything a CA stores.
pub trait Store:
    SerialStore
    + CaStore
    + CertificateStore
    + PairStore
    + RevocationStore
    + OcspStore
    + TokenStore
    + AuditStore
    + LifecycleStore
    + InventoryStore
    + NotificationStore
    + QuotaStore
    + ManagedStore
    + HealthStore
    + Send
    + Sync
{
}

impl<
        T: SerialStore
            + CaStore
            + CertificateStore
            + PairStore
            + RevocationStore
            + OcspStore
            + TokenStore
            + AuditStore
            + LifecycleStore
            + InventoryStore
            + NotificationStore
            + QuotaStore
            + ManagedStore
            + HealthStore
            + Send
            + Sync,
    > Store for T
{
}

/// `url` with any password replaced by `***`, for showing and logging.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
