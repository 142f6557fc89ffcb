//! The PostgreSQL backend, for several `caforge serve` replicas on one CA.
//!
//! The same tables and semantics as the SQLite backend ([`super::SqliteStore`]), in
//! PostgreSQL types. Every write transaction first takes one transaction-scoped advisory
//! lock, so writers are serialised exactly as SQLite's `BEGIN IMMEDIATE` serialises them —
//! across every process and replica on the database: serials stay unique, CRL numbers only
//! grow and the audit chain stays linear. Reads never take it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};

use super::group::{Batcher, Done, GroupCommit, Op};
use tokio::sync::Notify;

use futures_util::TryStreamExt as _;

use super::rows::{
    ca_from_row, cert_from_row, crl_from_row, opt_u32, revoked_row, scheduled_from_tuple, to_i64,
    token_from_row, RevokedSqlRow, CERT_COLUMNS,
};
use super::{
    AuditStore, BlockedKey, CaRecord, CaStore, CachedOcspResponse, CertificateFilter,
    CertificateRecord, CertificateStore, CrlLock, CrlRecord, IssuerId, NewCa, NewCertificate,
    NewCrl, OcspStore, PairMember, PairMode, PairStore, Partner, ResponderRecord, Revocation,
    RevocationItem, RevocationStore, RevokedRow, SerialStore, SigningIntent, SigningRefusal,
    StoreError, TokenStore, WriteMark,
};
use crate::audit::{chain_hash, AuditEvent, AuditRecord, GENESIS_HASH};
use crate::issuance::SerialNumber;
use crate::keys::KeyRef;
use crate::revocation::{CaSettings, RevocationReason};
use crate::tokens::{NewToken, TokenRecord};

/// Migrations, applied in order and recorded in `caforge_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_notify.sql")),
    (
        3,
        include_str!("../../migrations/postgres/0003_crl_order.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_lifecycle.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_inventory_notify.sql"),
    ),
    (6, include_str!("../../migrations/postgres/0006_quotas.sql")),
    (
        7,
        include_str!("../../migrations/postgres/0007_managed.sql"),
    ),
    (
        8,
        include_str!("../../migrations/postgres/0008_crl_parts.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_revocation_seq_partial.sql"),
    ),
];

/// The advisory lock key every write transaction holds ("caforge" in ASCII).
const WRITE_LOCK: i64 = 0x0063_6166_6f72_6765;

/// The advisory lock class (first of two 32-bit keys) for CRL generation; the second key
/// is the CA's id. Two-key locks never collide with the one-key [`WRITE_LOCK`].
const CRL_LOCK_CLASS: i32 = 0x6372_6c00;

/// The channel migration 0002's triggers announce committed writes on.
const WRITES_CHANNEL: &str = "caforge_writes";

/// A PostgreSQL-backed store.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    marks: Arc<Marks>,
    /// The issuance writes' group commit.
    group: Arc<GroupCommit>,
    /// How the group commit's writer connects.
    options: Box<PgConnectOptions>,
    /// Migrations applied by [`PgStore::open`].
    applied: Vec<i64>,
}

/// Write marks on PostgreSQL: a generation counter that a `LISTEN` connection advances on
/// every write any replica commits (the tables' `NOTIFY` triggers) and that this process
/// advances on its own commits. Even while listening; odd while not (no mark is given
/// then, because notifications may be missed), so a mark taken before a lost connection
/// never equals one taken after it.
#[derive(Debug)]
struct Marks {
    generation: Arc<AtomicU64>,
    started: AtomicBool,
    shutdown: Arc<Notify>,
}

impl Marks {
    fn new() -> Marks {
        Marks {
            generation: Arc::new(AtomicU64::new(1)),
            started: AtomicBool::new(false),
            shutdown: Arc::new(Notify::new()),
        }
    }

    /// The current mark, starting the listener on first use (inside a Tokio runtime).
    fn current(&self, pool: &PgPool) -> Option<WriteMark> {
        if !self.started.swap(true, Ordering::AcqRel) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.started.store(false, Ordering::Release);
                return None;
            };
            runtime.spawn(listen_for_writes(
                pool.clone(),
                Arc::clone(&self.generation),
                Arc::clone(&self.shutdown),
            ));
        }
        let generation = self.generation.load(Ordering::Acquire);
        generation
            .is_multiple_of(2)
            .then(|| WriteMark::new([u128::from(generation), 0, 0, 0]))
    }

    /// This process committed a write: marks taken before are stale at once, without
    /// waiting for the notification to come back.
    fn local_write(&self) {
        self.generation.fetch_add(2, Ordering::AcqRel);
    }
}

impl Drop for Marks {
    fn drop(&mut self) {
        // The last handle on the store is gone: stop listening.
        self.shutdown.notify_one();
    }
}

/// Keeps a `LISTEN caforge_writes` connection, advancing `generation` by two for every
/// notification; by one (to odd) when the connection is lost and by one (to even) once it
/// listens again.
async fn listen_for_writes(pool: PgPool, generation: Arc<AtomicU64>, shutdown: Arc<Notify>) {
    loop {
        let connect = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.listen(WRITES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            () = shutdown.notified() => return,
            c = connect => c,
        };
        let Ok(mut listener) = connected else {
            tokio::select! {
                () = shutdown.notified() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        };
        generation.fetch_add(1, Ordering::AcqRel);
        loop {
            let received = tokio::select! {
                () = shutdown.notified() => return,
                r = listener.try_recv() => r,
            };
            match received {
                Ok(Some(_)) => {
                    generation.fetch_add(2, Ordering::AcqRel);
                }
                Ok(None) | Err(_) => {
                    generation.fetch_add(1, Ordering::AcqRel);
                    break;
                }
            }
        }
    }
}

/// A write transaction holding the store-wide advisory lock; committing it advances this
/// process's write mark.
pub(super) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    marks: Arc<Marks>,
}

impl std::ops::Deref for WriteTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl WriteTx {
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        self.marks.local_write();
        Ok(())
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and brings the schema up to date (migrations run
    /// under the write lock, so replicas starting together migrate once).
    ///
    /// # Errors
    /// Connection and migration errors.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let unreachable = |e: sqlx::Error| {
            StoreError::Database(format!(
                "cannot connect to PostgreSQL at {}: {e}",
                super::redact_url(url)
            ))
        };
        let options: PgConnectOptions = url.parse().map_err(unreachable)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(unreachable)?;
        let mut store = PgStore {
            pool,
            marks: Arc::new(Marks::new()),
            group: Default::default(),
            options: Box::new(options),
            applied: Vec::new(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The connection pool (for whole-store operations such as [`super::copy`]).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The group commit's batcher.
    fn writer(&self) -> PgWriter {
        PgWriter {
            options: self.options.clone(),
            conn: None,
            marks: Arc::clone(&self.marks),
        }
    }

    /// Begins a write transaction holding the store-wide advisory lock.
    pub(super) async fn write_tx(&self) -> Result<WriteTx, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(WriteTx {
            tx,
            marks: Arc::clone(&self.marks),
        })
    }

    async fn migrate(&mut self) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS caforge_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM caforge_migrations")
                .fetch_one(&mut *tx)
                .await?;
        for (version, sql) in MIGRATIONS {
            if *version <= current {
                continue;
            }
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO caforge_migrations (version, applied_at) VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
            )
            .bind(version)
            .execute(&mut *tx)
            .await?;
            self.applied.push(*version);
        }
        tx.commit().await?;
        Ok(())
    }

    /// The migrations this process applied when it opened the store (empty when the
    /// schema was already current).
    #[must_use]
    pub fn migrations_applied(&self) -> &[i64] {
        &self.applied
    }
}

pub(super) async fn append_audit_in(
    conn: &mut PgConnection,
    event: &AuditEvent,
) -> Result<AuditRecord, StoreError> {
    let (last, prev_hash) = audit_head(conn).await?;
    let seq = last + 1;
    let hash = insert_audit(conn, seq, &prev_hash, event).await?;
    Ok(AuditRecord {
        seq,
        event: event.clone(),
        prev_hash,
        hash,
    })
}

/// The audit chain's last sequence number and hash (0 and the genesis hash when empty).
async fn audit_head(conn: &mut PgConnection) -> Result<(i64, String), StoreError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(last.unwrap_or((0, GENESIS_HASH.to_owned())))
}

/// Appends `event` as entry `seq` after `prev_hash`; returns its hash.
async fn insert_audit(
    conn: &mut PgConnection,
    seq: i64,
    prev_hash: &str,
    event: &AuditEvent,
) -> Result<String, StoreError> {
    let hash = chain_hash(prev_hash, seq, event);
    sqlx::query(
        "INSERT INTO audit (seq, at, action, ca, serial, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(event.at)
    .bind(&event.action)
    .bind(&event.ca)
    .bind(&event.serial)
    .bind(event.details.to_string())
    .bind(prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(hash)
}

async fn mark_serial_used(
    conn: &mut PgConnection,
    issuer_key_id: &str,
    serial: &SerialNumber,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE serials SET state = 'used' WHERE issuer_key_id = $1 AND serial = $2 AND state = 'reserved'",
    )
    .bind(issuer_key_id)
    .bind(serial.to_hex())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "serial {serial} was not reserved or is already used"
        )));
    }
    Ok(())
}

async fn insert_certificate(
    conn: &mut PgConnection,
    cert: &NewCertificate,
    issuer: IssuerId,
) -> Result<i64, StoreError> {
    let sans = serde_json::to_string(&cert.sans)
        .map_err(|e| StoreError::Corrupt(format!("SAN encoding: {e}")))?;
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO certificates (issuer_ca_id, serial, subject, sans, profile, key_type, not_before, not_after, status, fingerprint, der, created_at, crl_partition, crl_url, spki_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'valid', $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(issuer.0)
    .bind(cert.serial.to_hex())
    .bind(&cert.subject)
    .bind(sans)
    .bind(&cert.profile)
    .bind(&cert.key_type)
    .bind(cert.not_before)
    .bind(cert.not_after)
    .bind(&cert.fingerprint)
    .bind(&cert.der)
    .bind(cert.created_at)
    .bind(cert.crl_partition.map(i64::from))
    .bind(&cert.crl_url)
    .bind(&cert.spki_sha256)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Inside a write transaction: marks the reserved serial used, inserts `cert` under its
/// issuer and appends `audit`; returns the new row id.
async fn commit_in(
    conn: &mut PgConnection,
    cert: &NewCertificate,
    issuer_key_id: &str,
    audit: &AuditEvent,
) -> Result<i64, StoreError> {
    commit_chained(conn, cert, issuer_key_id, audit, &mut BatchState::default()).await
}

/// [`commit_in`] appending `audit` after the head `batch` keeps.
async fn commit_chained(
    conn: &mut PgConnection,
    cert: &NewCertificate,
    issuer_key_id: &str,
    audit: &AuditEvent,
    batch: &mut BatchState,
) -> Result<i64, StoreError> {
    let issuer = cert
        .issuer_ca_id
        .ok_or_else(|| StoreError::Corrupt("certificate without an issuer".into()))?;
    mark_serial_used(conn, issuer_key_id, &cert.serial).await?;
    let id = insert_certificate(conn, cert, issuer).await?;
    batch.append_audit(conn, audit).await?;
    Ok(id)
}

async fn cert_by_id_in(conn: &mut PgConnection, id: i64) -> Result<CertificateRecord, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id WHERE c.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("no certificate with id {id}")))?;
    cert_from_row(&row)
}

async fn next_revocation_seq(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates WHERE revocation_seq IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// What a batch remembers between its operations, saving a round trip each: the audit
/// chain's head (read once, then advanced here) and the issuing CAs' revocation status.
#[derive(Default)]
struct BatchState {
    head: Option<(i64, String)>,
    ca_status: HashMap<(i64, String), Option<Option<u8>>>,
}

impl BatchState {
    /// Appends `event` to the audit chain after the batch's head.
    async fn append_audit(
        &mut self,
        conn: &mut PgConnection,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (last, prev) = match self.head.take() {
            Some(head) => head,
            None => audit_head(conn).await?,
        };
        let hash = insert_audit(conn, last + 1, &prev, event).await?;
        self.head = Some((last + 1, hash));
        Ok(())
    }
}

/// The signing check and serial reservation of [`CertificateStore::begin_signing`], inside
/// a batch's write transaction.
async fn sign_in(
    conn: &mut PgConnection,
    intent: &SigningIntent,
    batch: &mut BatchState,
) -> Result<Result<(), SigningRefusal>, StoreError> {
    let (ca_issuer, ca_serial) = &intent.ca_certificate;
    let key = (ca_issuer.0, ca_serial.clone());
    let revoked = match batch.ca_status.get(&key) {
        Some(known) => *known,
        None => {
            let row: Option<(String, Option<i64>)> = sqlx::query_as(
                "SELECT status, revocation_reason FROM certificates WHERE issuer_ca_id = $1 AND serial = $2",
            )
            .bind(ca_issuer.0)
            .bind(ca_serial)
            .fetch_optional(&mut *conn)
            .await?;
            let (status, reason) = row.ok_or_else(|| {
                StoreError::NotFound(format!("the certificate {ca_serial} of the issuing CA"))
            })?;
            let revoked = (status == "revoked").then(|| reason.and_then(|r| u8::try_from(r).ok()));
            batch.ca_status.insert(key, revoked);
            revoked
        }
    };
    if let Some(reason) = revoked {
        return Ok(Err(SigningRefusal::CaRevoked(reason)));
    }
    let blocked: Option<String> =
        sqlx::query_scalar("SELECT spki_sha256 FROM blocked_keys WHERE spki_sha256 = $1")
            .bind(&intent.spki_sha256)
            .fetch_optional(&mut *conn)
            .await?;
    if blocked.is_some() {
        return Ok(Err(SigningRefusal::KeyBlocked));
    }
    sqlx::query(
        "INSERT INTO serials (issuer_key_id, serial, state, reserved_at) VALUES ($1, $2, 'reserved', $3)",
    )
    .bind(&intent.issuer_key_id)
    .bind(intent.serial.to_hex())
    .bind(intent.at)
    .execute(&mut *conn)
    .await?;
    batch.append_audit(conn, &intent.audit).await?;
    Ok(Ok(()))
}

/// The group commit's batcher: a connection of its own (opened on first use, and again
/// after a failure) on which a batch is one transaction under the store-wide write lock,
/// committed once.
struct PgWriter {
    options: Box<PgConnectOptions>,
    conn: Option<PgConnection>,
    marks: Arc<Marks>,
}

impl Batcher for PgWriter {
    async fn apply(&mut self, ops: &[Op]) -> Result<Vec<Done>, StoreError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self
                .conn
                .insert(PgConnection::connect_with(&self.options).await?),
        };
        let out = apply_batch(conn, ops).await;
        match &out {
            Ok(_) => self.marks.local_write(),
            // Whatever went wrong with the connection, the next batch gets a new one.
            Err(StoreError::Database(_)) => self.conn = None,
            Err(_) => {}
        }
        out
    }
}

async fn apply_batch(conn: &mut PgConnection, ops: &[Op]) -> Result<Vec<Done>, StoreError> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut done = Vec::with_capacity(ops.len());
    let mut batch = BatchState::default();
    for op in ops {
        let applied = match op {
            Op::Sign(intent) => sign_in(&mut tx, intent, &mut batch).await.map(Done::Signed),
            Op::Commit {
                cert,
                issuer_key_id,
                audit,
            } => match commit_chained(&mut tx, cert, issuer_key_id, audit, &mut batch).await {
                Ok(id) => cert_by_id_in(&mut tx, id)
                    .await
                    .map(|record| Done::Committed(Box::new(record))),
                Err(e) => Err(e),
            },
        };
        match applied {
            Ok(d) => done.push(d),
            Err(e) => {
                // Roll back now: a dropped transaction would only be rolled back at the
                // connection's next use, holding the write lock every replica waits for.
                tx.rollback().await?;
                return Err(e);
            }
        }
    }
    tx.commit().await?;
    Ok(done)
}

impl SerialStore for PgStore {
    async fn reserve_serial(
        &self,
        issuer_key_id: &str,
        serial: &SerialNumber,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO serials (issuer_key_id, serial, state, reserved_at) VALUES ($1, $2, 'reserved', $3)",
        )
        .bind(issuer_key_id)
        .bind(serial.to_hex())
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn unused_serials(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT issuer_key_id, serial FROM serials WHERE state = 'reserved' ORDER BY reserved_at",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

impl CaStore for PgStore {
    async fn create_ca(
        &self,
        ca: &NewCa,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let nc = serde_json::to_string(&ca.name_constraints)
            .map_err(|e| StoreError::Corrupt(format!("name constraints: {e}")))?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO cas (name, parent_id, key_type, key_ref, sm2_id, key_id, subject, serial, not_before, not_after, path_len, name_constraints, cert_der, created_at,
                              base_url, crl_lifetime, delta_lifetime, crl_partitions, ocsp_signer, ocsp_lifetime, generation, predecessor_ca_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) RETURNING id",
        )
        .bind(&ca.name)
        .bind(ca.parent_id.map(|p| p.0))
        .bind(&ca.key_type)
        .bind(ca.key_ref.as_str())
        .bind(&ca.sm2_id)
        .bind(&ca.key_id)
        .bind(&ca.subject)
        .bind(&ca.serial)
        .bind(ca.not_before)
        .bind(ca.not_after)
        .bind(ca.path_len.map(i64::from))
        .bind(nc)
        .bind(&ca.cert_der)
        .bind(ca.created_at)
        .bind(&ca.settings.base_url)
        .bind(ca.settings.crl_lifetime)
        .bind(ca.settings.delta_lifetime)
        .bind(i64::from(ca.settings.crl_partitions))
        .bind(ca.settings.ocsp_signer.as_str())
        .bind(ca.settings.ocsp_lifetime)
        .bind(i64::from(ca.generation))
        .bind(ca.predecessor.map(|p| p.0))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("a CA named '{}' already exists", ca.name)),
            other => other,
        })?;
        let issuer = cert.issuer_ca_id.unwrap_or(IssuerId(id));
        mark_serial_used(&mut tx, issuer_key_id, &cert.serial).await?;
        insert_certificate(&mut tx, cert, issuer).await?;
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM cas WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let record = ca_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn list_cas(&self) -> Result<Vec<CaRecord>, StoreError> {
        sqlx::query("SELECT * FROM cas ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(ca_from_row)
            .collect()
    }

    async fn find_ca(&self, name_or_id: &str) -> Result<CaRecord, StoreError> {
        let row =
            match name_or_id.parse::<i64>() {
                Ok(id) => sqlx::query(
                    "SELECT * FROM cas WHERE id = $1 OR name = $2 ORDER BY name = $3 DESC LIMIT 1",
                )
                .bind(id)
                .bind(name_or_id)
                .bind(name_or_id)
                .fetch_optional(&self.pool)
                .await?,
                Err(_) => {
                    sqlx::query("SELECT * FROM cas WHERE name = $1")
                        .bind(name_or_id)
                        .fetch_optional(&self.pool)
                        .await?
                }
            };
        row.as_ref()
            .map(ca_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no CA named '{name_or_id}'")))
    }

    async fn ca_by_id(&self, id: IssuerId) -> Result<CaRecord, StoreError> {
        sqlx::query("SELECT * FROM cas WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(ca_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no CA with id {id}")))
    }
}

impl CertificateStore for PgStore {
    async fn begin_signing(
        &self,
        intent: &SigningIntent,
    ) -> Result<Result<(), SigningRefusal>, StoreError> {
        self.group.begin_signing(|| self.writer(), intent).await
    }

    async fn commit_certificate(
        &self,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        self.group
            .commit_certificate(|| self.writer(), cert, issuer_key_id, audit)
            .await
    }

    async fn list_certificates(
        &self,
        filter: &CertificateFilter,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id
             WHERE ($1 IS NULL OR c.issuer_ca_id = $1)
               AND ($2 IS NULL OR c.status = $2)
               AND ($3 IS NULL OR c.not_after < $3)
               AND ($4 IS NULL OR c.not_after >= $4)
             ORDER BY c.id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.issuer.map(|i| i.0))
            .bind(&filter.status)
            .bind(filter.not_after_before)
            .bind(filter.not_after_from)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    async fn certificates_by_serial(
        &self,
        serial: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id WHERE c.serial = $1 ORDER BY c.id"
        )))
        .bind(serial)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(cert_from_row)
        .collect()
    }

    async fn certificate_by_id(&self, id: i64) -> Result<CertificateRecord, StoreError> {
        self.certificate_by_id_impl(id).await
    }
}

/// The end of every revocation-state change: pre-signed OCSP responses for the certificate
/// are dropped, the audit entry appended and the transaction committed.
/// After a status change of `current` inside `tx`: its pre-signed OCSP responses are
/// dropped and `audit` appended; returns the updated record. The caller commits.
async fn status_changed_in(
    tx: &mut WriteTx,
    current: &CertificateRecord,
    audit: &AuditEvent,
) -> Result<CertificateRecord, StoreError> {
    sqlx::query("DELETE FROM ocsp_responses WHERE ca_id = $1 AND serial = $2")
        .bind(current.issuer_ca_id.0)
        .bind(&current.serial)
        .execute(&mut **tx)
        .await?;
    append_audit_in(&mut *tx, audit).await?;
    cert_by_id_in(&mut *tx, current.id).await
}

/// One revocation inside `tx` (see [`RevocationStore::revoke`]); the caller commits.
async fn revoke_in(
    tx: &mut WriteTx,
    cert_id: i64,
    revocation: &Revocation,
    block: Option<&BlockedKey>,
    audit: &AuditEvent,
) -> Result<CertificateRecord, StoreError> {
    let current = cert_by_id_in(&mut *tx, cert_id).await?;
    if current.status == "revoked"
        && current.revocation_reason != Some(RevocationReason::CertificateHold)
    {
        return Err(StoreError::Conflict(format!(
            "certificate {} is already revoked ({})",
            current.serial,
            current
                .revocation_reason
                .map_or("unspecified", RevocationReason::as_str)
        )));
    }
    let seq = next_revocation_seq(&mut *tx).await?;
    sqlx::query(
        "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2, invalidity_date = $3,
                hold_released_at = NULL, revocation_seq = $4 WHERE id = $5",
    )
    .bind(revocation.revoked_at)
    .bind(i64::from(revocation.reason.code()))
    .bind(revocation.invalidity_date)
    .bind(seq)
    .bind(cert_id)
    .execute(&mut **tx)
    .await?;
    if let Some(b) = block {
        sqlx::query(
            "INSERT INTO blocked_keys (spki_sha256, serial, ca_id, blocked_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (spki_sha256) DO NOTHING",
        )
        .bind(&b.spki_sha256)
        .bind(&b.serial)
        .bind(b.ca.0)
        .bind(revocation.revoked_at)
        .execute(&mut **tx)
        .await?;
    }
    status_changed_in(tx, &current, audit).await
}

impl PgStore {
    async fn certificate_by_id_impl(&self, id: i64) -> Result<CertificateRecord, StoreError> {
        let mut conn = self.pool.acquire().await?;
        cert_by_id_in(&mut conn, id).await
    }
}

impl PairStore for PgStore {
    async fn commit_pair(
        &self,
        mode: PairMode,
        first: PairMember<'_>,
        second: PairMember<'_>,
        escrow: Option<&[u8]>,
    ) -> Result<(CertificateRecord, CertificateRecord), StoreError> {
        let mut tx = self.write_tx().await?;
        let mut ids = [0i64; 2];
        for (slot, member) in ids.iter_mut().zip([first, second]) {
            *slot = commit_in(&mut tx, member.cert, member.issuer_key_id, member.audit).await?;
        }
        let created_at = second.cert.created_at;
        sqlx::query(
            "INSERT INTO certificate_pairs (mode, first_id, second_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(mode.as_str())
        .bind(ids[0])
        .bind(ids[1])
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        if let Some(sealed) = escrow {
            sqlx::query(
                "INSERT INTO kmc_escrow (certificate_id, sealed, created_at) VALUES ($1, $2, $3)",
            )
            .bind(ids[1])
            .bind(sealed)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        }
        let records = (
            cert_by_id_in(&mut tx, ids[0]).await?,
            cert_by_id_in(&mut tx, ids[1]).await?,
        );
        tx.commit().await?;
        Ok(records)
    }

    async fn partner(&self, id: i64) -> Result<Option<Partner>, StoreError> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT mode, first_id, second_id FROM certificate_pairs WHERE first_id = $1 OR second_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((mode, first, second)) = row else {
            return Ok(None);
        };
        let is_first = first == id;
        let other = if is_first { second } else { first };
        Ok(Some(Partner {
            mode: PairMode::parse(&mode)?,
            is_first,
            certificate: self.certificate_by_id_impl(other).await?,
        }))
    }

    async fn escrowed_key(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM kmc_escrow WHERE certificate_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

impl RevocationStore for PgStore {
    async fn revoke(
        &self,
        cert_id: i64,
        revocation: &Revocation,
        block: Option<&BlockedKey>,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let record = revoke_in(&mut tx, cert_id, revocation, block, audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn revoke_together(
        &self,
        items: &[RevocationItem<'_>],
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut records = Vec::with_capacity(items.len());
        for i in items {
            records.push(revoke_in(&mut tx, i.cert_id, i.revocation, i.block, i.audit).await?);
        }
        tx.commit().await?;
        Ok(records)
    }

    async fn release_hold(
        &self,
        cert_id: i64,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let current = cert_by_id_in(&mut tx, cert_id).await?;
        if current.status != "revoked"
            || current.revocation_reason != Some(RevocationReason::CertificateHold)
        {
            return Err(StoreError::Conflict(format!(
                "certificate {} is not on hold (only certificateHold can be lifted)",
                current.serial
            )));
        }
        let seq = next_revocation_seq(&mut tx).await?;
        sqlx::query(
            "UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL, invalidity_date = NULL,
                    hold_released_at = $1, revocation_seq = $2 WHERE id = $3",
        )
        .bind(at)
        .bind(seq)
        .bind(cert_id)
        .execute(&mut *tx)
        .await?;
        let record = status_changed_in(&mut tx, &current, audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn revoked_certificates(
        &self,
        ca: IssuerId,
        partition: Option<u32>,
        changed_after: Option<i64>,
        now: i64,
        each: &mut (dyn FnMut(RevokedRow) -> Result<(), StoreError> + Send),
    ) -> Result<i64, StoreError> {
        // One read transaction: the entries and the sequence number come from one snapshot
        // (REPEATABLE READ: under the default READ COMMITTED each statement has its own).
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates WHERE issuer_ca_id = $1 AND revocation_seq IS NOT NULL",
        )
        .bind(ca.0)
        .fetch_one(&mut *tx)
        .await?;
        let mut rows = sqlx::query_as::<_, RevokedSqlRow>(
                "SELECT serial, status, revoked_at, revocation_reason, invalidity_date, hold_released_at
                   FROM certificates
                  WHERE issuer_ca_id = $1 AND crl_partition IS NOT DISTINCT FROM $2 AND not_after >= $3
                    AND (($4 IS NULL AND status = 'revoked')
                      OR ($4 IS NOT NULL AND revocation_seq > $4
                          AND (status = 'revoked' OR hold_released_at IS NOT NULL)))
                  ORDER BY length(serial), serial COLLATE \"C\"",
            )
            .bind(ca.0)
            .bind(partition.map(i64::from))
            .bind(now)
            .bind(changed_after)
            .fetch(&mut *tx);
        // Row by row: a million-entry CRL is never held as owned rows.
        while let Some(row) = rows.try_next().await? {
            each(revoked_row(row)?)?;
        }
        drop(rows);
        tx.commit().await?;
        Ok(seq)
    }

    async fn revocation_seq(&self, ca: IssuerId) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(revocation_seq), 0)::BIGINT FROM certificates WHERE issuer_ca_id = $1 AND revocation_seq IS NOT NULL",
        )
        .bind(ca.0)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn partitions_in_use(&self, ca: IssuerId) -> Result<Vec<Option<u32>>, StoreError> {
        let rows: Vec<(Option<i64>,)> = sqlx::query_as(
            "SELECT DISTINCT crl_partition FROM certificates WHERE issuer_ca_id = $1 ORDER BY crl_partition",
        )
        .bind(ca.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(p,)| opt_u32(p, "crl_partition"))
            .collect()
    }

    async fn is_key_blocked(&self, spki_sha256: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blocked_keys WHERE spki_sha256 = $1")
            .bind(spki_sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// A transaction-scoped advisory lock on (CRL class, CA id), held by an open
    /// transaction on its own connection until the lock is dropped (rollback).
    async fn lock_crl_generation(&self, ca: IssuerId) -> Result<CrlLock, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(CRL_LOCK_CLASS)
            .bind(i32::try_from(ca.0.rem_euclid(1 << 31)).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        Ok(CrlLock::holding(Box::new(tx)))
    }

    async fn allocate_crl_number(&self, ca: IssuerId) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO crl_numbers (ca_id, last) VALUES ($1, 1)
             ON CONFLICT (ca_id) DO UPDATE SET last = crl_numbers.last + 1 RETURNING last",
        )
        .bind(ca.0)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("crl number".into()))
    }

    async fn record_crl(&self, crl: NewCrl, audit: &AuditEvent) -> Result<CrlRecord, StoreError> {
        self.record_crl_sql(crl, audit).await
    }

    async fn latest_crl(
        &self,
        ca: IssuerId,
        partition: Option<u32>,
        delta: bool,
    ) -> Result<Option<CrlRecord>, StoreError> {
        self.latest_crl_sql(ca, partition, delta).await
    }

    async fn update_ca_settings(
        &self,
        ca: IssuerId,
        settings: &CaSettings,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE cas SET base_url = $1, crl_lifetime = $2, delta_lifetime = $3, crl_partitions = $4, ocsp_signer = $5, ocsp_lifetime = $6
             WHERE id = $7",
        )
        .bind(&settings.base_url)
        .bind(settings.crl_lifetime)
        .bind(settings.delta_lifetime)
        .bind(i64::from(settings.crl_partitions))
        .bind(settings.ocsp_signer.as_str())
        .bind(settings.ocsp_lifetime)
        .bind(ca.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound(format!("no CA with id {ca}")));
        }
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM cas WHERE id = $1")
            .bind(ca.0)
            .fetch_one(&mut *tx)
            .await?;
        let record = ca_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }
}

impl OcspStore for PgStore {
    /// The LISTEN/NOTIFY generation (see [`Marks`]); `None` until the listener is up and
    /// whenever its connection is lost.
    fn write_mark(&self) -> Option<WriteMark> {
        self.marks.current(&self.pool)
    }

    async fn cached_ocsp(
        &self,
        ca: IssuerId,
        serial: &str,
        hash_alg: &str,
    ) -> Result<Option<CachedOcspResponse>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT produced_at, next_update, der FROM ocsp_responses WHERE ca_id = $1 AND serial = $2 AND hash_alg = $3",
        )
        .bind(ca.0)
        .bind(serial)
        .bind(hash_alg)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(produced_at, next_update, der)| CachedOcspResponse {
                ca,
                serial: serial.to_owned(),
                hash_alg: hash_alg.to_owned(),
                produced_at,
                next_update,
                seen_seq: None,
                der,
            }),
        )
    }

    async fn store_ocsp(&self, r: &CachedOcspResponse) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let current: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT revocation_seq FROM certificates WHERE issuer_ca_id = $1 AND serial = $2",
        )
        .bind(r.ca.0)
        .bind(&r.serial)
        .fetch_optional(&mut *tx)
        .await?;
        if current.flatten() != r.seen_seq {
            // The status changed while the response was being signed: it is stale.
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO ocsp_responses (ca_id, serial, hash_alg, produced_at, next_update, der) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (ca_id, serial, hash_alg) DO UPDATE SET produced_at = excluded.produced_at,
                 next_update = excluded.next_update, der = excluded.der",
        )
        .bind(r.ca.0)
        .bind(&r.serial)
        .bind(&r.hash_alg)
        .bind(r.produced_at)
        .bind(r.next_update)
        .bind(&r.der)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_responder(
        &self,
        ca: IssuerId,
        certificate_id: i64,
        key_ref: &KeyRef,
        not_after: i64,
        created_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ocsp_responders (ca_id, certificate_id, key_ref, not_after, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ca.0)
        .bind(certificate_id)
        .bind(key_ref.as_str())
        .bind(not_after)
        .bind(created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn current_responder(
        &self,
        ca: IssuerId,
        now: i64,
    ) -> Result<Option<ResponderRecord>, StoreError> {
        let row: Option<(i64, i64, String, i64)> = sqlx::query_as(
            "SELECT r.id, r.certificate_id, r.key_ref, r.not_after FROM ocsp_responders r
               JOIN certificates c ON c.id = r.certificate_id
              WHERE r.ca_id = $1 AND c.status = 'valid' AND c.not_before <= $2 AND r.not_after > $2
              ORDER BY r.not_after DESC, r.id DESC LIMIT 1",
        )
        .bind(ca.0)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, cert_id, key_ref, not_after)) = row else {
            return Ok(None);
        };
        Ok(Some(ResponderRecord {
            id,
            ca,
            certificate: self.certificate_by_id_impl(cert_id).await?,
            key_ref: KeyRef::new(key_ref),
            not_after,
        }))
    }
}

impl TokenStore for PgStore {
    async fn create_token(
        &self,
        t: &NewToken,
        audit: &AuditEvent,
    ) -> Result<TokenRecord, StoreError> {
        let json = |v: &Vec<String>| {
            serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("token scope: {e}")))
        };
        let mut tx = self.write_tx().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO api_tokens (name, token_hash, cas, profiles, created_at, expires_at, quota_count, quota_window) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(json(&t.cas)?)
        .bind(json(&t.profiles)?)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.quota.map(|q| i64::from(q.count)))
        .bind(t.quota.map(|q| q.window_secs))
        .fetch_one(&mut *tx)
        .await?;
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let record = token_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        sqlx::query("SELECT * FROM api_tokens ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn revoke_token(
        &self,
        id: i64,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<TokenRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no API token with id {id}")))?;
        if token_from_row(&row)?.revoked_at.is_some() {
            return Err(StoreError::Conflict(format!(
                "API token {id} is already revoked"
            )));
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let record = token_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }
}

impl AuditStore for PgStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let rec = append_audit_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(AuditRecord {
                    seq: r.try_get("seq")?,
                    event: AuditEvent {
                        at: r.try_get("at")?,
                        action: r.try_get("action")?,
                        ca: r.try_get("ca")?,
                        serial: r.try_get("serial")?,
                        details: serde_json::from_str(&details)
                            .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
                    },
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }
}

/// Test support: a scratch database on the server named by `CAFORGE_TEST_POSTGRES_URL`.
#[cfg(test)]
pub(crate) mod testing {
    use sqlx::Connection as _;

    /// The variable PostgreSQL tests read their server URL from.
    pub(crate) const URL_VAR: &str = "CAFORGE_TEST_POSTGRES_URL";

    /// A new, empty database on the test server, dropped by [`ScratchDb::drop_now`]; `None`
    /// (with a visible message) when `CAFORGE_TEST_POSTGRES_URL` is unset.
    pub(crate) struct ScratchDb {
        admin_url: String,
        name: String,
        /// Its URL.
        pub(crate) url: String,
    }

    impl ScratchDb {
        pub(crate) async fn create(test: &str) -> Option<ScratchDb> {
            let Ok(admin_url) = std::env::var(URL_VAR) else {
                eprintln!("SKIPPED {test}: set {URL_VAR}=postgres://… to run it (.ci/run does)");
                return None;
            };
            let mut suffix = [0u8; 6];
            crate::keys::random_bytes(&mut suffix).expect("rng");
            let name = format!("caforge_test_{}", hex::encode(suffix));
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connect to CAFORGE_TEST_POSTGRES_URL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create scratch database");
            let (base, query) = match admin_url.split_once('?') {
                Some((b, q)) => (b, format!("?{q}")),
                None => (admin_url.as_str(), String::new()),
            };
            let prefix = match base.rfind('/') {
                Some(i) if i > "postgres://".len() => &base[..i],
                _ => base,
            };
            let url = format!("{prefix}/{name}{query}");
            Some(ScratchDb {
                admin_url,
                name,
                url,
            })
        }

        pub(crate) async fn drop_now(self) {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url)
                .await
                .expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await
            .expect("drop scratch database");
        }
    }
}

super::shared_sql::shared_roles!(PgStore);
super::shared_sql::crl_bytes!(PgStore, PgConnection);

#[cfg(test)]
mod tests {
    use super::testing::ScratchDb;
    use super::*;

    #[tokio::test]
    async fn store_contract_on_postgres_and_reopen() {
        let Some(db) = ScratchDb::create("store_contract_on_postgres_and_reopen").await else {
            return;
        };
        let store = super::super::AnyStore::open(&db.url).await.expect("open");
        super::super::contract::run_all(&store).await;
        drop(store);
        // Reopening runs no migration twice and keeps the data.
        let again = super::super::AnyStore::open(&db.url).await.expect("reopen");
        assert!(!super::super::CaStore::list_cas(&again)
            .await
            .expect("list")
            .is_empty());
        if let super::super::AnyStore::Postgres(pg) = &again {
            pg.pool.close().await;
        }
        db.drop_now().await;
    }

    #[tokio::test]
    async fn the_audit_log_is_append_only_in_the_database() {
        let Some(db) = ScratchDb::create("the_audit_log_is_append_only_in_the_database").await
        else {
            return;
        };
        let store = PgStore::open(&db.url).await.expect("open");
        let event = AuditEvent {
            at: 1,
            action: "note".into(),
            ca: None,
            serial: None,
            details: serde_json::json!({}),
        };
        store.append_audit(&event).await.expect("append");
        for sql in ["UPDATE audit SET action = 'x'", "DELETE FROM audit"] {
            let err = sqlx::query(sql)
                .execute(&store.pool)
                .await
                .expect_err("the audit log must refuse changes");
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        store.pool.close().await;
        db.drop_now().await;
    }
}
