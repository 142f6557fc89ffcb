//! The embedded SQLite backend (WAL, synchronous=FULL so a commit survives power loss).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use super::group::GroupCommit;
use super::rows::{
    ca_from_row, cert_from_row, crl_from_row, opt_u32, revoked_row, scheduled_from_tuple, to_i64,
    token_from_row, RevokedSqlRow, CERT_COLUMNS,
};
use super::sqlite_batch::Writer;
use super::{
    AuditStore, BlockedKey, CaRecord, CaStore, CachedOcspResponse, CertificateFilter,
    CertificateRecord, CertificateStore, CrlRecord, IssuerId, NewCa, NewCertificate, NewCrl,
    OcspStore, PairMember, PairMode, PairStore, Partner, ResponderRecord, Revocation,
    RevocationItem, RevocationStore, RevokedRow, SerialStore, StoreError, TokenStore, WriteMark,
};
use super::{SigningIntent, SigningRefusal};
use crate::audit::{chain_hash, AuditEvent, AuditRecord, GENESIS_HASH};
use crate::issuance::SerialNumber;
use crate::keys::KeyRef;
use crate::revocation::{CaSettings, RevocationReason};
use crate::tokens::{NewToken, TokenRecord};

/// Migrations, applied in order and recorded in `caforge_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_revocation.sql"),
    ),
    (3, include_str!("../../migrations/sqlite/0003_tokens.sql")),
    (4, include_str!("../../migrations/sqlite/0004_pairs.sql")),
    (
        5,
        include_str!("../../migrations/sqlite/0005_crl_order.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_lifecycle.sql"),
    ),
    (
        7,
        include_str!("../../migrations/sqlite/0007_inventory_notify.sql"),
    ),
    (8, include_str!("../../migrations/sqlite/0008_quotas.sql")),
    (9, include_str!("../../migrations/sqlite/0009_managed.sql")),
    (
        10,
        include_str!("../../migrations/sqlite/0010_revoked_cover.sql"),
    ),
    (
        11,
        include_str!("../../migrations/sqlite/0011_crl_parts.sql"),
    ),
    (
        12,
        include_str!("../../migrations/sqlite/0012_revocation_seq_partial.sql"),
    ),
];

/// A SQLite-backed store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file (`None` in memory), watched by [`OcspStore::write_mark`].
    path: Option<PathBuf>,
    /// How old a file time must be before it is trusted by [`OcspStore::write_mark`].
    settle: Duration,
    /// Migrations applied by [`SqliteStore::open`].
    applied: Vec<i64>,
    /// The issuance writes' group commit.
    group: std::sync::Arc<GroupCommit>,
    /// How the group commit's writer opens a connection of its own (`None`: it borrows
    /// one from the pool per batch, as an in-memory database has only the pool's one).
    writer_options: Option<Box<SqliteConnectOptions>>,
    /// The last mark read from the files, reused for [`WRITE_MARK_REUSE`].
    marks: std::sync::Arc<MarkMemo>,
}

/// How long a write mark read from the files is reused before they are looked at again.
/// Reading the mark is two `stat` calls, which at tens of thousands of OCSP answers a
/// second were a seventh of the responder's time; reusing it for a millisecond makes that
/// nothing. The price: a commit by *another process* is seen by answers that start at most
/// this long after it (rather than at once). This process's own revocation-state changes
/// end the reuse when they commit, so they are seen at once.
pub const WRITE_MARK_REUSE: Duration = Duration::from_millis(1);

/// [`SqliteStore::write_mark`]'s memo, shared by the store's clones.
#[derive(Debug)]
struct MarkMemo {
    /// Bumped after each of this process's commits that change what OCSP answers.
    epoch: std::sync::atomic::AtomicU64,
    /// The last mark read: when, under which epoch, and the mark.
    last: std::sync::Mutex<Option<(std::time::Instant, u64, Option<WriteMark>)>>,
    /// How long a read mark is reused ([`WRITE_MARK_REUSE`]).
    reuse: Duration,
}

impl MarkMemo {
    fn new(reuse: Duration) -> MarkMemo {
        MarkMemo {
            epoch: std::sync::atomic::AtomicU64::new(0),
            last: std::sync::Mutex::new(None),
            reuse,
        }
    }
}

/// Pages in the write-ahead log before a commit copies them into the database file (a
/// checkpoint). Issuance dirties index pages at random places (serials are random), and a
/// page changed by many commits between two checkpoints is copied once: at 16 384 pages
/// (64 MiB of log) rather than SQLite's default 1 000, P-256 issuance over 40 000
/// certificates ran at 6 150/s rather than 4 200–4 500/s (`caforge bench issue`, same
/// day). `journal_size_limit` trims the log file back to that size after a checkpoint.
const WAL_CHECKPOINT_PAGES: u32 = 16_384;

/// File times are coarse (a kernel tick; a second on some file systems): a write in the same
/// tick as an earlier look can leave the time unchanged, so times newer than this are not
/// trusted and the store is read instead.
pub const WRITE_MARK_SETTLE: Duration = Duration::from_secs(2);

impl SqliteStore {
    /// Opens the database file at `path` (`:memory:` for tests), creating and migrating it.
    ///
    /// # Errors
    /// Connection and migration errors.
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let memory = path == ":memory:";
        let options = if memory {
            SqliteConnectOptions::from_str("sqlite::memory:")?
        } else {
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Checkpoint every WAL_CHECKPOINT_PAGES rather than SQLite's 1 000 pages.
                .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string())
                .pragma(
                    "journal_size_limit",
                    (WAL_CHECKPOINT_PAGES * 4096).to_string(),
                )
        }
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
        // The writer's page cache outlives its batches: give it room for the indexes.
        let writer_options =
            (!memory).then(|| Box::new(options.clone().pragma("cache_size", "-16384")));
        let pool = SqlitePoolOptions::new()
            // One in-memory database exists per connection: keep exactly one.
            .max_connections(if memory { 1 } else { 4 })
            .connect_with(options)
            .await?;
        let mut store = SqliteStore {
            pool,
            path: (!memory).then(|| PathBuf::from(path)),
            settle: WRITE_MARK_SETTLE,
            applied: Vec::new(),
            group: Default::default(),
            writer_options,
            marks: std::sync::Arc::new(MarkMemo::new(WRITE_MARK_REUSE)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The connection pool (for whole-store operations such as [`super::copy`]).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The group commit's batcher.
    fn writer(&self) -> Writer {
        match &self.writer_options {
            Some(options) => Writer::Own(options.clone(), None),
            None => Writer::Pool(self.pool.clone()),
        }
    }

    /// Changes how old file times must be before [`OcspStore::write_mark`] trusts them
    /// (tests shorten it; production keeps the default of two seconds).
    pub fn set_write_mark_settle(&mut self, settle: Duration) {
        self.settle = settle;
        self.marks = std::sync::Arc::new(MarkMemo::new(self.marks.reuse));
    }

    /// Changes how long a mark read from the files is reused (default
    /// [`WRITE_MARK_REUSE`]); for tests. Clones made earlier keep the old setting.
    pub fn set_write_mark_reuse(&mut self, reuse: Duration) {
        self.marks = std::sync::Arc::new(MarkMemo::new(reuse));
    }

    /// Ends the reuse of the current write mark: called after each commit that changes
    /// what an OCSP answer says, so that this process's next answer looks again.
    fn wrote(&self) {
        self.marks
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The mark from the files themselves (see [`OcspStore::write_mark`]).
    fn read_mark(&self) -> Option<WriteMark> {
        let path = self.path.as_ref()?;
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let now = std::time::SystemTime::now();
        let mut parts = [0u128; 4];
        for (pair, file) in parts
            .chunks_exact_mut(2)
            .zip([path.as_os_str(), wal.as_os_str()])
        {
            let meta = std::fs::metadata(file).ok()?;
            let modified = meta.modified().ok()?;
            if now.duration_since(modified).ok()? < self.settle {
                return None;
            }
            let nanos = modified
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            pair[0] = nanos;
            pair[1] = (u128::from(meta.len()) << 64) | u128::from(file_id(&meta));
        }
        Some(WriteMark::new(parts))
    }

    /// A write transaction (`BEGIN IMMEDIATE`: the write lock is taken at once).
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn migrate(&mut self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS caforge_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM caforge_migrations")
                .fetch_one(&mut *tx)
                .await?;
        for (version, sql) in MIGRATIONS {
            if *version <= current {
                continue;
            }
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO caforge_migrations (version, applied_at) VALUES (?, unixepoch())",
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
    conn: &mut SqliteConnection,
    event: &AuditEvent,
) -> Result<AuditRecord, StoreError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let hash = chain_hash(&prev_hash, seq, event);
    sqlx::query(
        "INSERT INTO audit (seq, at, action, ca, serial, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(event.at)
    .bind(&event.action)
    .bind(&event.ca)
    .bind(&event.serial)
    .bind(event.details.to_string())
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(AuditRecord {
        seq,
        event: event.clone(),
        prev_hash,
        hash,
    })
}

async fn mark_serial_used(
    conn: &mut SqliteConnection,
    issuer_key_id: &str,
    serial: &SerialNumber,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE serials SET state = 'used' WHERE issuer_key_id = ? AND serial = ? AND state = 'reserved'",
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
    conn: &mut SqliteConnection,
    cert: &NewCertificate,
    issuer: IssuerId,
) -> Result<i64, StoreError> {
    super::sqlite_batch::insert_certificates(conn, &[(cert, issuer)]).await
}

/// Inside a write transaction: marks the reserved serial used, inserts `cert` under its
/// issuer and appends `audit`; returns the new row id.
async fn commit_in(
    conn: &mut SqliteConnection,
    cert: &NewCertificate,
    issuer_key_id: &str,
    audit: &AuditEvent,
) -> Result<i64, StoreError> {
    let issuer = cert
        .issuer_ca_id
        .ok_or_else(|| StoreError::Corrupt("certificate without an issuer".into()))?;
    mark_serial_used(conn, issuer_key_id, &cert.serial).await?;
    let id = insert_certificate(conn, cert, issuer).await?;
    append_audit_in(conn, audit).await?;
    Ok(id)
}

async fn cert_by_id_in(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<CertificateRecord, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id WHERE c.id = ?"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("no certificate with id {id}")))?;
    cert_from_row(&row)
}

/// The next revocation sequence number, across every CA (the partial index of revoked
/// rows answers it from its end).
const NEXT_REVOCATION_SEQ: &str =
    "SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates WHERE revocation_seq IS NOT NULL";

async fn next_revocation_seq(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(NEXT_REVOCATION_SEQ)
        .fetch_one(&mut *conn)
        .await?)
}

/// Revoked rows per chunk read by [`RevocationStore::revoked_certificates`].
const REVOKED_CHUNK: i64 = 8_192;

/// A chunk of a full CRL's entries: `?1` issuer, `?2` partition, `?3` now, `?5` serial
/// length, `?6` the last serial read, `?7` the chunk size (`?4`, the delta base, is NULL).
/// Every column comes from the `certificates_revoked_cover` index.
const REVOKED_FULL_CHUNK: &str = "SELECT group_concat(line, ';') FROM (
   SELECT serial || ',revoked,' || revoked_at || ',' || COALESCE(revocation_reason, '')
          || ',' || COALESCE(invalidity_date, '') || ',' AS line
     FROM certificates
    WHERE status = 'revoked' AND issuer_ca_id = ?1 AND length(serial) = ?5 AND serial > ?6
      AND crl_partition IS ?2 AND not_after >= ?3 AND ?4 IS NULL
    ORDER BY serial
    LIMIT ?7)";

/// A chunk of a delta CRL's changes since revocation sequence `?4` (otherwise as
/// [`REVOKED_FULL_CHUNK`]): revocations, and released holds (removeFromCRL). The rows
/// come from the (partial) revocation-sequence index: left to itself, the planner walks
/// the CRL-order index to avoid sorting, which visits every certificate of the CA.
const REVOKED_DELTA_CHUNK: &str = "SELECT group_concat(line, ';') FROM (
   SELECT serial || ',' || status || ',' || COALESCE(revoked_at, '') || ','
          || COALESCE(revocation_reason, '') || ',' || COALESCE(invalidity_date, '')
          || ',' || COALESCE(hold_released_at, '') AS line
     FROM certificates INDEXED BY certificates_revocation_seq
    WHERE issuer_ca_id = ?1 AND length(serial) = ?5 AND serial > ?6
      AND crl_partition IS ?2 AND not_after >= ?3
      AND revocation_seq > ?4 AND (status = 'revoked' OR hold_released_at IS NOT NULL)
    ORDER BY serial
    LIMIT ?7)";

/// One chunk of [`REVOKED_FULL_CHUNK`] or [`REVOKED_DELTA_CHUNK`]: `args` are the issuer,
/// partition, now and delta base; then the serial length and the serial to start after.
async fn revoked_chunk(
    conn: &mut SqliteConnection,
    sql: &'static str,
    args: (i64, Option<i64>, i64, Option<i64>),
    len: i64,
    after: String,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(sql)
        .bind(args.0)
        .bind(args.1)
        .bind(args.2)
        .bind(args.3)
        .bind(len)
        .bind(after)
        .bind(REVOKED_CHUNK)
        .fetch_one(conn)
        .await
}

/// One `serial,status,revoked_at,reason,invalidity,released` line of a chunk.
fn parse_revoked_line(line: &str) -> Result<RevokedSqlRow, StoreError> {
    let bad = || StoreError::Corrupt(format!("revoked row '{line}'"));
    let mut f = line.split(',');
    let mut next = || f.next().ok_or_else(bad);
    let int = |v: &str| -> Result<Option<i64>, StoreError> {
        if v.is_empty() {
            Ok(None)
        } else {
            v.parse().map(Some).map_err(|_| bad())
        }
    };
    Ok((
        next()?.to_owned(),
        next()?.to_owned(),
        int(next()?)?,
        int(next()?)?,
        int(next()?)?,
        int(next()?)?,
    ))
}

impl SerialStore for SqliteStore {
    async fn reserve_serial(
        &self,
        issuer_key_id: &str,
        serial: &SerialNumber,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO serials (issuer_key_id, serial, state, reserved_at) VALUES (?, ?, 'reserved', ?)",
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

impl CaStore for SqliteStore {
    async fn create_ca(
        &self,
        ca: &NewCa,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let nc = serde_json::to_string(&ca.name_constraints)
            .map_err(|e| StoreError::Corrupt(format!("name constraints: {e}")))?;
        let id = sqlx::query(
            "INSERT INTO cas (name, parent_id, key_type, key_ref, sm2_id, key_id, subject, serial, not_before, not_after, path_len, name_constraints, cert_der, created_at,
                              base_url, crl_lifetime, delta_lifetime, crl_partitions, ocsp_signer, ocsp_lifetime, generation, predecessor_ca_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("a CA named '{}' already exists", ca.name)),
            other => other,
        })?
        .last_insert_rowid();
        let issuer = cert.issuer_ca_id.unwrap_or(IssuerId(id));
        mark_serial_used(&mut tx, issuer_key_id, &cert.serial).await?;
        insert_certificate(&mut tx, cert, issuer).await?;
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM cas WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let record = ca_from_row(&row)?;
        tx.commit().await?;
        self.wrote();
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
        let row = match name_or_id.parse::<i64>() {
            Ok(id) => {
                sqlx::query(
                    "SELECT * FROM cas WHERE id = ? OR name = ? ORDER BY name = ? DESC LIMIT 1",
                )
                .bind(id)
                .bind(name_or_id)
                .bind(name_or_id)
                .fetch_optional(&self.pool)
                .await?
            }
            Err(_) => {
                sqlx::query("SELECT * FROM cas WHERE name = ?")
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
        sqlx::query("SELECT * FROM cas WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(ca_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no CA with id {id}")))
    }
}

impl CertificateStore for SqliteStore {
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
             WHERE (?1 IS NULL OR c.issuer_ca_id = ?1)
               AND (?2 IS NULL OR c.status = ?2)
               AND (?3 IS NULL OR c.not_after < ?3)
               AND (?4 IS NULL OR c.not_after >= ?4)
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
            "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id WHERE c.serial = ? ORDER BY c.id"
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
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    current: &CertificateRecord,
    audit: &AuditEvent,
) -> Result<CertificateRecord, StoreError> {
    sqlx::query("DELETE FROM ocsp_responses WHERE ca_id = ? AND serial = ?")
        .bind(current.issuer_ca_id.0)
        .bind(&current.serial)
        .execute(&mut **tx)
        .await?;
    append_audit_in(&mut *tx, audit).await?;
    cert_by_id_in(&mut *tx, current.id).await
}

/// One revocation inside `tx` (see [`RevocationStore::revoke`]); the caller commits.
async fn revoke_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
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
        "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?, invalidity_date = ?,
                hold_released_at = NULL, revocation_seq = ? WHERE id = ?",
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
            "INSERT INTO blocked_keys (spki_sha256, serial, ca_id, blocked_at) VALUES (?, ?, ?, ?)
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

impl SqliteStore {
    async fn certificate_by_id_impl(&self, id: i64) -> Result<CertificateRecord, StoreError> {
        let mut conn = self.pool.acquire().await?;
        cert_by_id_in(&mut conn, id).await
    }
}

impl PairStore for SqliteStore {
    async fn commit_pair(
        &self,
        mode: PairMode,
        first: PairMember<'_>,
        second: PairMember<'_>,
        escrow: Option<&[u8]>,
    ) -> Result<(CertificateRecord, CertificateRecord), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut ids = [0i64; 2];
        for (slot, member) in ids.iter_mut().zip([first, second]) {
            *slot = commit_in(&mut tx, member.cert, member.issuer_key_id, member.audit).await?;
        }
        let created_at = second.cert.created_at;
        sqlx::query(
            "INSERT INTO certificate_pairs (mode, first_id, second_id, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(mode.as_str())
        .bind(ids[0])
        .bind(ids[1])
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        if let Some(sealed) = escrow {
            sqlx::query(
                "INSERT INTO kmc_escrow (certificate_id, sealed, created_at) VALUES (?, ?, ?)",
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
            "SELECT mode, first_id, second_id FROM certificate_pairs WHERE first_id = ?1 OR second_id = ?1",
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
            sqlx::query_scalar("SELECT sealed FROM kmc_escrow WHERE certificate_id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

impl RevocationStore for SqliteStore {
    async fn revoke(
        &self,
        cert_id: i64,
        revocation: &Revocation,
        block: Option<&BlockedKey>,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let record = revoke_in(&mut tx, cert_id, revocation, block, audit).await?;
        tx.commit().await?;
        self.wrote();
        Ok(record)
    }

    async fn revoke_together(
        &self,
        items: &[RevocationItem<'_>],
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut records = Vec::with_capacity(items.len());
        for i in items {
            records.push(revoke_in(&mut tx, i.cert_id, i.revocation, i.block, i.audit).await?);
        }
        tx.commit().await?;
        self.wrote();
        Ok(records)
    }

    async fn release_hold(
        &self,
        cert_id: i64,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
                    hold_released_at = ?, revocation_seq = ? WHERE id = ?",
        )
        .bind(at)
        .bind(seq)
        .bind(cert_id)
        .execute(&mut *tx)
        .await?;
        let record = status_changed_in(&mut tx, &current, audit).await?;
        tx.commit().await?;
        self.wrote();
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
        // One read transaction: the entries and the sequence number come from one snapshot.
        let mut tx = self.pool.begin().await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates WHERE issuer_ca_id = ? AND revocation_seq IS NOT NULL",
        )
        .bind(ca.0)
        .fetch_one(&mut *tx)
        .await?;
        // Rows come in chunks of concatenated text, in CRL order (the crl_order index: by
        // serial length, then serial), each chunk resuming after the last serial: sqlx hands
        // SQLite rows over one at a time across threads, which for a million entries costs
        // seconds; a hundred chunks do not.
        let next_length = "SELECT MIN(length(serial)) FROM certificates WHERE issuer_ca_id = ? AND length(serial) > ?";
        let mut length: Option<i64> = sqlx::query_scalar(next_length)
            .bind(ca.0)
            .bind(0)
            .fetch_one(&mut *tx)
            .await?;
        // A full CRL reads only the revoked_cover index; a delta (rare, small) also looks at
        // released holds, which only the table has.
        let sql = if changed_after.is_none() {
            REVOKED_FULL_CHUNK
        } else {
            REVOKED_DELTA_CHUNK
        };
        let args = (ca.0, partition.map(i64::from), now, changed_after);
        let Some(mut len) = length else {
            tx.commit().await?;
            return Ok(seq);
        };
        let mut chunk = revoked_chunk(&mut tx, sql, args, len, String::new())
            .await?
            .unwrap_or_default();
        loop {
            // Where the next chunk starts: after this one's last serial (lines come in
            // serial order), or at the next serial length when this one was not full.
            let rows = if chunk.is_empty() {
                0
            } else {
                chunk.bytes().filter(|b| *b == b';').count() + 1
            };
            let next = if rows < REVOKED_CHUNK as usize {
                length = sqlx::query_scalar(next_length)
                    .bind(ca.0)
                    .bind(len)
                    .fetch_one(&mut *tx)
                    .await?;
                length.map(|l| (l, String::new()))
            } else {
                let last = chunk.rsplit(';').next().unwrap_or_default();
                let serial = last.split(',').next().unwrap_or_default();
                Some((len, serial.to_owned()))
            };
            // The next chunk is read by SQLite's thread while this one is parsed and
            // handed over here.
            let fetching = async {
                match next {
                    Some((l, after)) => {
                        len = l;
                        revoked_chunk(&mut tx, sql, args, l, after).await.map(Some)
                    }
                    None => Ok(None),
                }
            };
            let handing = async {
                for line in chunk.split(';').filter(|l| !l.is_empty()) {
                    each(revoked_row(parse_revoked_line(line)?)?)?;
                }
                Ok::<(), StoreError>(())
            };
            let (fetched, handed) = futures_util::future::join(fetching, handing).await;
            handed?;
            match fetched? {
                Some(c) => chunk = c.unwrap_or_default(),
                None => break,
            }
        }
        tx.commit().await?;
        Ok(seq)
    }

    async fn revocation_seq(&self, ca: IssuerId) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates WHERE issuer_ca_id = ? AND revocation_seq IS NOT NULL",
        )
        .bind(ca.0)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn partitions_in_use(&self, ca: IssuerId) -> Result<Vec<Option<u32>>, StoreError> {
        let rows: Vec<(Option<i64>,)> = sqlx::query_as(
            "SELECT DISTINCT crl_partition FROM certificates WHERE issuer_ca_id = ? ORDER BY crl_partition",
        )
        .bind(ca.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(p,)| opt_u32(p, "crl_partition"))
            .collect()
    }

    async fn is_key_blocked(&self, spki_sha256: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blocked_keys WHERE spki_sha256 = ?")
            .bind(spki_sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn allocate_crl_number(&self, ca: IssuerId) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO crl_numbers (ca_id, last) VALUES (?, 1)
             ON CONFLICT (ca_id) DO UPDATE SET last = last + 1 RETURNING last",
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE cas SET base_url = ?, crl_lifetime = ?, delta_lifetime = ?, crl_partitions = ?, ocsp_signer = ?, ocsp_lifetime = ?
             WHERE id = ?",
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
        let row = sqlx::query("SELECT * FROM cas WHERE id = ?")
            .bind(ca.0)
            .fetch_one(&mut *tx)
            .await?;
        let record = ca_from_row(&row)?;
        tx.commit().await?;
        self.wrote();
        Ok(record)
    }
}

impl OcspStore for SqliteStore {
    /// In WAL mode every commit, by any process, writes the `-wal` file, and checkpoints
    /// write the database file: their inode, size and modification time, read with two
    /// `stat` calls, make the mark. Times younger than the settle period give `None`. A mark
    /// read is reused for [`WRITE_MARK_REUSE`] unless this process changed revocation state
    /// since (the epoch is read before the files, so a mark read across such a commit is
    /// never kept under the newer epoch).
    fn write_mark(&self) -> Option<WriteMark> {
        self.path.as_ref()?;
        let epoch = self.marks.epoch.load(std::sync::atomic::Ordering::Acquire);
        let now = std::time::Instant::now();
        {
            let last = self.marks.last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, seen, mark)) = *last {
                if seen == epoch && now.saturating_duration_since(at) < self.marks.reuse {
                    return mark;
                }
            }
        }
        let mark = self.read_mark();
        if !self.marks.reuse.is_zero() {
            *self.marks.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, epoch, mark));
        }
        mark
    }

    async fn cached_ocsp(
        &self,
        ca: IssuerId,
        serial: &str,
        hash_alg: &str,
    ) -> Result<Option<CachedOcspResponse>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT produced_at, next_update, der FROM ocsp_responses WHERE ca_id = ? AND serial = ? AND hash_alg = ?",
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT revocation_seq FROM certificates WHERE issuer_ca_id = ? AND serial = ?",
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
            "INSERT INTO ocsp_responses (ca_id, serial, hash_alg, produced_at, next_update, der) VALUES (?, ?, ?, ?, ?, ?)
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
        self.wrote();
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
            "INSERT INTO ocsp_responders (ca_id, certificate_id, key_ref, not_after, created_at) VALUES (?, ?, ?, ?, ?)",
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
              WHERE r.ca_id = ? AND c.status = 'valid' AND c.not_before <= ?2 AND r.not_after > ?2
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

impl TokenStore for SqliteStore {
    async fn create_token(
        &self,
        t: &NewToken,
        audit: &AuditEvent,
    ) -> Result<TokenRecord, StoreError> {
        let json = |v: &Vec<String>| {
            serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("token scope: {e}")))
        };
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id = sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, cas, profiles, created_at, expires_at, quota_count, quota_window) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(json(&t.cas)?)
        .bind(json(&t.profiles)?)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.quota.map(|q| i64::from(q.count)))
        .bind(t.quota.map(|q| q.window_secs))
        .execute(&mut *tx)
        .await?
        .last_insert_rowid();
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let record = token_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        sqlx::query("SELECT * FROM api_tokens WHERE token_hash = ?")
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no API token with id {id}")))?;
        if token_from_row(&row)?.revoked_at.is_some() {
            return Err(StoreError::Conflict(format!(
                "API token {id} is already revoked"
            )));
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let record = token_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }
}

impl AuditStore for SqliteStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino() ^ meta.dev().rotate_left(32)
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> u64 {
    0
}

super::shared_sql::shared_roles!(SqliteStore);
super::shared_sql::crl_bytes!(SqliteStore, SqliteConnection);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn store_contract_on_sqlite_memory() {
        let store =
            super::super::AnyStore::Sqlite(SqliteStore::open(":memory:").await.expect("open"));
        super::super::contract::run_all(&store).await;
    }

    #[test]
    fn passwords_in_database_urls_are_never_shown() {
        use super::super::redact_url;
        assert_eq!(
            redact_url("postgres://ca:s3cret@db.example:5432/ca?sslmode=require"),
            "postgres://ca:***@db.example:5432/ca?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://ca@db.example/ca"),
            "postgres://ca@db.example/ca"
        );
        assert_eq!(redact_url("sqlite:caforge.db"), "sqlite:caforge.db");
    }

    /// A store in a new file under `dir`, and the file's path.
    async fn file_store(dir: &tempfile::TempDir) -> (SqliteStore, PathBuf) {
        let path = dir.path().join("caforge.db");
        let store = SqliteStore::open(path.to_str().expect("utf-8"))
            .await
            .expect("open");
        (store, path)
    }

    /// A commit to the file at `path` through a connection of its own, as another process
    /// would make it.
    async fn commit_elsewhere(path: &std::path::Path) {
        let other = SqliteStore::open(path.to_str().expect("utf-8"))
            .await
            .expect("open again");
        other
            .reserve_serial("k", &SerialNumber::random().expect("rng"), 2)
            .await
            .expect("reserve");
    }

    #[tokio::test]
    async fn write_marks_change_with_every_commit_and_wait_to_settle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, path) = file_store(&dir).await;
        // Files just written are too young to trust with the default settle period.
        assert_eq!(store.write_mark(), None);
        store.set_write_mark_settle(Duration::ZERO);
        store.set_write_mark_reuse(Duration::ZERO);
        let first = store.write_mark().expect("a mark");
        assert_eq!(store.write_mark(), Some(first), "reads change nothing");
        store
            .reserve_serial("k", &SerialNumber::random().expect("rng"), 1)
            .await
            .expect("reserve");
        let second = store.write_mark().expect("a mark");
        assert_ne!(first, second, "a commit changes the mark");
        // Another connection (as another process would have) committing changes it too.
        commit_elsewhere(&path).await;
        assert_ne!(store.write_mark(), Some(second));
        // In memory there are no files to watch.
        let memory = SqliteStore::open(":memory:").await.expect("memory");
        assert_eq!(memory.write_mark(), None);
    }

    /// The plan SQLite picks for `sql` with `args`, as one line per step.
    async fn plan(store: &SqliteStore, sql: &str, args: &[Option<i64>]) -> String {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(explain));
        for a in args {
            q = q.bind(*a);
        }
        let rows = q.fetch_all(&store.pool).await.expect("explain");
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }

    #[tokio::test]
    async fn revocation_sequence_reads_use_the_revoked_rows_index_only() {
        let store = SqliteStore::open(":memory:").await.expect("open");
        // The next sequence number: the end of the partial index, not a pass over every
        // certificate.
        let next = plan(&store, NEXT_REVOCATION_SEQ, &[]).await;
        assert!(next.contains("certificates_revocation_seq_all"), "{next}");
        // A delta CRL's chunk: the changed rows, not the CA's every certificate.
        let args = [Some(1), None, Some(0), Some(5), Some(40), None, Some(10)];
        let delta = plan(&store, REVOKED_DELTA_CHUNK, &args).await;
        assert!(
            delta.contains(
                "USING INDEX certificates_revocation_seq (issuer_ca_id=? AND revocation_seq>?)"
            ),
            "{delta}"
        );
    }

    #[tokio::test]
    async fn a_reused_mark_ends_with_this_processs_revocations_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, path) = file_store(&dir).await;
        store.set_write_mark_settle(Duration::ZERO);
        // A window far longer than the test, so that nothing here depends on timing.
        store.set_write_mark_reuse(Duration::from_secs(3600));
        let ca = super::super::contract::root(&store, "reuse-ca").await;
        let cert = super::super::contract::another(&store, ca.id, None).await;
        let first = store.write_mark().expect("a mark");
        // Another process's commit is not looked for while the mark is reused ...
        commit_elsewhere(&path).await;
        assert_eq!(store.write_mark(), Some(first), "reused within the window");
        // ... but this process's revocation ends the reuse at once.
        store
            .revoke(
                cert.id,
                &Revocation {
                    revoked_at: 1_700_000_000,
                    reason: crate::revocation::RevocationReason::KeyCompromise,
                    invalidity_date: None,
                },
                None,
                &super::super::contract::event("cert.revoke"),
            )
            .await
            .expect("revoke");
        let after = store.write_mark().expect("a mark");
        assert_ne!(after, first, "a local revocation is seen at once");
    }

    #[tokio::test]
    async fn store_contract_on_sqlite_file_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("caforge.db");
        let url = format!("sqlite:{}", path.display());
        let store = super::super::AnyStore::open(&url).await.expect("open");
        super::super::contract::run_all(&store).await;
        drop(store);
        // Reopening runs no migration twice and keeps the data.
        let again = super::super::AnyStore::open(&url).await.expect("reopen");
        assert!(!super::super::CaStore::list_cas(&again)
            .await
            .expect("list")
            .is_empty());
    }
}
