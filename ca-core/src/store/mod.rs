//! Storage, split by role (STYLE.md): [`SerialStore`], [`CaStore`], [`CertificateStore`] and
//! [`AuditStore`] under one [`Store`]. Callers ask for the smallest trait they need.
//!
//! [`AnyStore`] picks the backend at run time (`sqlite:PATH` today; PostgreSQL joins the
//! enum without touching callers). One contract test suite ([`contract`]) runs against every
//! backend.

#[cfg(test)]
pub(crate) mod contract;
mod sqlite;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditRecord};
use crate::issuance::SerialNumber;
use crate::keys::KeyRef;
use crate::policy::{NameConstraintSet, SubjectAltName};

pub use sqlite::SqliteStore;

/// Errors from storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was violated (duplicate CA name, serial, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database could not be reached or answered with an error.
    #[error("database: {0}")]
    Database(String),
    /// A stored row could not be understood.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database URL is not one caforge supports.
    #[error("unsupported database URL '{0}' (expected sqlite:PATH)")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
        }
        StoreError::Database(e.to_string())
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
    /// Key type name.
    pub key_type: String,
    /// Where the key lives.
    pub key_ref: KeyRef,
    /// SM2 signer ID used when this CA signs (only meaningful for SM2 CAs).
    pub sm2_id: String,
    /// Hex SubjectKeyIdentifier of the CA's key.
    pub key_id: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Serial of the CA's own certificate.
    pub serial: String,
    /// notBefore (Unix seconds).
    pub not_before: i64,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// DNS name constraints.
    pub name_constraints: NameConstraintSet,
    /// The CA certificate (DER).
    pub cert_der: Vec<u8>,
    /// When it was created.
    pub created_at: i64,
}

/// A CA about to be created (the store assigns the id).
#[derive(Clone, Debug)]
pub struct NewCa {
    /// As [`CaRecord`], without the id.
    pub name: String,
    /// Parent CA.
    pub parent_id: Option<IssuerId>,
    /// Key type name.
    pub key_type: String,
    /// Key reference.
    pub key_ref: KeyRef,
    /// SM2 signer ID.
    pub sm2_id: String,
    /// Hex SKI.
    pub key_id: String,
    /// Subject DN.
    pub subject: String,
    /// Certificate serial.
    pub serial: String,
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
    /// Profile name or `ca`.
    pub profile: String,
    /// Subject key type.
    pub key_type: String,
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
}

/// A certificate as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateRecord {
    /// Row id.
    pub id: i64,
    /// Issuing CA.
    pub issuer_ca_id: IssuerId,
    /// Issuing CA's name.
    pub issuer_name: String,
    /// Serial (hex).
    pub serial: String,
    /// Subject DN.
    pub subject: String,
    /// SANs.
    pub sans: Vec<SubjectAltName>,
    /// Profile name or `ca`.
    pub profile: String,
    /// Subject key type.
    pub key_type: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// `valid` (revocation arrives with the revocation issue).
    pub status: String,
    /// Hex SHA-256 of the DER.
    pub fingerprint: String,
    /// The certificate.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
}

/// Filters for listing certificates.
#[derive(Clone, Debug, Default)]
pub struct CertificateFilter {
    /// Only this issuer.
    pub issuer: Option<IssuerId>,
    /// Only with this stored status.
    pub status: Option<String>,
    /// Only with notAfter strictly before this time.
    pub not_after_before: Option<i64>,
    /// Only with notAfter at or after this time.
    pub not_after_from: Option<i64>,
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
}

/// Issued certificates.
#[allow(async_fn_in_trait)]
pub trait CertificateStore {
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
}

/// Everything a CA stores.
pub trait Store: SerialStore + CaStore + CertificateStore + AuditStore + Send + Sync {}

impl<T: SerialStore + CaStore + CertificateStore + AuditStore + Send + Sync> Store for T {}

/// A store chosen at run time from a URL.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
}

impl AnyStore {
    /// Opens (creating and migrating if needed) the store at `url`.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`] or connection errors.
    pub async fn open(url: &str) -> Result<AnyStore, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            return Ok(AnyStore::Sqlite(
                SqliteStore::open(path.trim_start_matches("//")).await?,
            ));
        }
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e,
        }
    };
}

impl SerialStore for AnyStore {
    async fn reserve_serial(&self, k: &str, s: &SerialNumber, at: i64) -> Result<(), StoreError> {
        dispatch!(self, st => st.reserve_serial(k, s, at).await)
    }
    async fn unused_serials(&self) -> Result<Vec<(String, String)>, StoreError> {
        dispatch!(self, st => st.unused_serials().await)
    }
}

impl CaStore for AnyStore {
    async fn create_ca(
        &self,
        ca: &NewCa,
        cert: &NewCertificate,
        k: &str,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError> {
        dispatch!(self, st => st.create_ca(ca, cert, k, audit).await)
    }
    async fn list_cas(&self) -> Result<Vec<CaRecord>, StoreError> {
        dispatch!(self, st => st.list_cas().await)
    }
    async fn find_ca(&self, n: &str) -> Result<CaRecord, StoreError> {
        dispatch!(self, st => st.find_ca(n).await)
    }
    async fn ca_by_id(&self, id: IssuerId) -> Result<CaRecord, StoreError> {
        dispatch!(self, st => st.ca_by_id(id).await)
    }
}

impl CertificateStore for AnyStore {
    async fn commit_certificate(
        &self,
        c: &NewCertificate,
        k: &str,
        a: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        dispatch!(self, st => st.commit_certificate(c, k, a).await)
    }
    async fn list_certificates(
        &self,
        f: &CertificateFilter,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        dispatch!(self, st => st.list_certificates(f).await)
    }
    async fn certificates_by_serial(&self, s: &str) -> Result<Vec<CertificateRecord>, StoreError> {
        dispatch!(self, st => st.certificates_by_serial(s).await)
    }
}

impl AuditStore for AnyStore {
    async fn append_audit(&self, e: &AuditEvent) -> Result<AuditRecord, StoreError> {
        dispatch!(self, st => st.append_audit(e).await)
    }
    async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        dispatch!(self, st => st.audit_log().await)
    }
}
