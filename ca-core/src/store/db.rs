//! [`AnyStore`]: the one store implementation, on SQLite or PostgreSQL.
//!
//! This file opens the database and keeps what is per database by nature: how to connect,
//! which migration tree applies, how the group commit's writer holds its connection and
//! how other processes' writes are noticed ([`super::marks`]). Every role's SQL is in the
//! role files and runs unchanged on both.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, PgConnection};

use super::batch::apply_in;
use super::group::{Batcher, Done, GroupCommit, Op};
use super::marks::Marks;
use super::sql::{lock_for_writing, sql, Changed, Dialect, On, Pool, Sql, Tx};
use super::{redact_url, StoreError};
use crate::audit::AuditKey;

/// SQLite's migrations, applied in order and recorded in `caforge_migrations`.
const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
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
    (
        13,
        include_str!("../../migrations/sqlite/0013_fewer_issuance_btrees.sql"),
    ),
    (
        14,
        include_str!("../../migrations/sqlite/0014_scopes_principals.sql"),
    ),
    (
        15,
        include_str!("../../migrations/sqlite/0015_token_client_keys.sql"),
    ),
    (
        16,
        include_str!("../../migrations/sqlite/0016_keyed_audit.sql"),
    ),
];

/// PostgreSQL's migrations: the same tables in PostgreSQL types, plus the `NOTIFY`
/// triggers that feed other replicas' write marks.
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
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
    (
        10,
        include_str!("../../migrations/postgres/0010_scopes_principals.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres/0011_token_client_keys.sql"),
    ),
    (
        12,
        include_str!("../../migrations/postgres/0012_keyed_audit.sql"),
    ),
];

/// Pages in SQLite's write-ahead log before a commit copies them into the database file
/// (a checkpoint). A page changed by many commits between two checkpoints is copied once
/// (the right edges of the indexes, the table pages being filled): at 16 384 pages
/// (64 MiB of log) rather than SQLite's default 1 000, P-256 issuance over 40 000
/// certificates ran at 6 150/s rather than 4 200–4 500/s (`caforge bench issue`, same
/// day). `journal_size_limit` trims the log file back to that size after a checkpoint.
const WAL_CHECKPOINT_PAGES: u32 = 16_384;

/// A store on SQLite (embedded, the default) or PostgreSQL (several servers on one CA),
/// chosen by its URL. Every role trait of [`super::Store`] is implemented once for it.
#[derive(Clone, Debug)]
pub struct AnyStore {
    pub(super) pool: Pool,
    /// Write marks (see [`super::OcspStore::write_mark`]).
    pub(super) marks: Arc<Marks>,
    /// The issuance writes' group commit.
    pub(super) group: Arc<GroupCommit>,
    /// How the group commit's writer connects.
    writer: WriterConnect,
    /// Migrations applied by [`AnyStore::open`].
    applied: Vec<i64>,
    /// The key audit entries are keyed with ([`AnyStore::with_audit_key`]); without one
    /// they are plain SHA-256 (tests, and stores opened only to read).
    audit_key: Option<Arc<AuditKey>>,
}

/// How the group commit's writer gets its connection.
#[derive(Clone, Debug)]
enum WriterConnect {
    /// From the pool, per batch (an in-memory SQLite database is the pool's one
    /// connection).
    SqlitePool,
    /// A SQLite connection of its own on this database file, whose page cache stays valid
    /// between batches, driven directly on the writer's thread ([`open_lite`]).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection of its own.
    Postgres(Box<PgConnectOptions>),
}

impl AnyStore {
    /// Opens (creating and migrating if needed) the store at `url`: `sqlite:PATH`
    /// (`sqlite::memory:` for a scratch store) or `postgres://…`.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`]; connection errors; [`StoreError::SchemaTooNew`]
    /// when the database was migrated by a newer caforge.
    pub async fn open(url: &str) -> Result<AnyStore, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            return Self::open_sqlite(path.trim_start_matches("//")).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::open_postgres(url).await;
        }
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }

    /// Opens the SQLite database file at `path` (`:memory:` for tests), creating and
    /// migrating it. WAL with `synchronous=FULL`: a commit is durable when it returns.
    async fn open_sqlite(path: &str) -> Result<AnyStore, StoreError> {
        let memory = path == ":memory:";
        if !memory {
            private_database_files(std::path::Path::new(path))?;
        }
        let options = if memory {
            SqliteConnectOptions::from_str("sqlite::memory:")?
        } else {
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string())
                .pragma(
                    "journal_size_limit",
                    (WAL_CHECKPOINT_PAGES * 4096).to_string(),
                )
        }
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
        let writer = if memory {
            WriterConnect::SqlitePool
        } else {
            WriterConnect::Sqlite(path.into())
        };
        let pool = SqlitePoolOptions::new()
            // One in-memory database exists per connection: keep exactly one.
            .max_connections(if memory { 1 } else { 4 })
            .connect_with(options)
            .await?;
        let mut store = AnyStore {
            pool: Pool::Sqlite(pool),
            marks: Arc::new(Marks::sqlite((!memory).then(|| path.into()))),
            group: Arc::default(),
            writer,
            applied: Vec::new(),
            audit_key: None,
        };
        store.migrate(SQLITE_MIGRATIONS).await?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url` and brings the schema up to date (migrations run
    /// under the write lock, so replicas starting together migrate once).
    async fn open_postgres(url: &str) -> Result<AnyStore, StoreError> {
        let unreachable = |e: sqlx::Error| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {e}",
                redact_url(url)
            ))
        };
        let options: PgConnectOptions = url.parse().map_err(unreachable)?;
        // One connection first, on its own: a pool that cannot connect reports only that it
        // timed out, and the operator needs the real cause (refused, no such host, a
        // rejected password, a database that does not exist).
        let first = tokio::time::timeout(
            Duration::from_secs(10),
            <sqlx::PgConnection as sqlx::Connection>::connect_with(&options),
        )
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: no answer within 10 s",
                redact_url(url)
            ))
        })?
        .map_err(unreachable)?;
        // Only the answer mattered; a failure to say goodbye changes nothing.
        let _ = sqlx::Connection::close(first).await;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(unreachable)?;
        let mut store = AnyStore {
            pool: Pool::Postgres(pool),
            marks: Arc::new(Marks::postgres()),
            group: Arc::default(),
            writer: WriterConnect::Postgres(Box::new(options)),
            applied: Vec::new(),
            audit_key: None,
        };
        store.migrate(POSTGRES_MIGRATIONS).await?;
        Ok(store)
    }

    /// Applies the migrations the database lacks, in one write transaction; refuses a
    /// database migrated by a newer caforge.
    async fn migrate(&mut self, migrations: &[(i64, &str)]) -> Result<(), StoreError> {
        let mut tx = self.pool.write_tx().await?;
        sql("CREATE TABLE IF NOT EXISTS caforge_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .execute(tx.on())
            .await?;
        let current: i64 = sql("SELECT COALESCE(MAX(version), 0) FROM caforge_migrations")
            .scalar(tx.on())
            .await?;
        let known = migrations.last().map_or(0, |(v, _)| *v);
        if current > known {
            tx.rollback().await?;
            return Err(StoreError::SchemaTooNew { current, known });
        }
        let now = crate::time::Clock::now(&crate::time::SystemClock).unix_timestamp();
        for (version, text) in migrations {
            if *version <= current {
                continue;
            }
            match &mut tx {
                Tx::Sqlite(t) => sqlx::raw_sql(sqlx::AssertSqlSafe(*text))
                    .execute(&mut **t)
                    .await
                    .map(drop)?,
                Tx::Postgres(t) => sqlx::raw_sql(sqlx::AssertSqlSafe(*text))
                    .execute(&mut **t)
                    .await
                    .map(drop)?,
            }
            sql("INSERT INTO caforge_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(now)
                .execute(tx.on())
                .await?;
            self.applied.push(*version);
        }
        tx.commit().await?;
        Ok(())
    }

    /// The migrations this process applied when it opened the store (empty: the schema
    /// was current).
    #[must_use]
    pub fn migrations_applied(&self) -> &[i64] {
        &self.applied
    }

    /// The schema version: the newest migration recorded in the database.
    ///
    /// # Errors
    /// Database errors.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        sql("SELECT COALESCE(MAX(version), 0) FROM caforge_migrations")
            .scalar(self.pool.on())
            .await
    }

    /// The newest schema version this build knows for the store's database.
    #[must_use]
    pub fn known_schema_version(&self) -> i64 {
        let migrations = match self.pool.dialect() {
            Dialect::Sqlite => SQLITE_MIGRATIONS,
            Dialect::Postgres => POSTGRES_MIGRATIONS,
        };
        migrations.last().map_or(0, |(v, _)| *v)
    }

    /// A short name of the backend ("SQLite", "PostgreSQL").
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self.pool.dialect() {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
        }
    }

    /// Whether the store is on PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.pool.dialect() == Dialect::Postgres
    }

    /// Changes how old SQLite file times must be before write marks trust them (tests
    /// shorten it; production keeps two seconds). No effect on PostgreSQL.
    pub fn set_write_mark_settle(&mut self, settle: Duration) {
        self.marks = Arc::new(self.marks.with_settle(settle));
    }

    /// Changes how long a SQLite write mark read from the files is reused (default
    /// [`super::WRITE_MARK_REUSE`]); for tests. Clones made earlier keep the old setting.
    pub fn set_write_mark_reuse(&mut self, reuse: Duration) {
        self.marks = Arc::new(self.marks.with_reuse(reuse));
    }

    /// Closes the store's connections (the group commit's writer closes when the last
    /// handle on the store is gone).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// Commits a write transaction and ends the reuse of this process's write mark, so
    /// that its next OCSP answer looks at the store again.
    pub(super) async fn commit(&self, tx: Tx<'_>) -> Result<(), StoreError> {
        tx.commit().await?;
        self.marks.local_write();
        Ok(())
    }

    /// Runs one statement in a write transaction of its own and commits it.
    pub(super) async fn write_one(&self, statement: Sql<'_>) -> Result<Changed, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let changed = statement.execute(tx.on()).await?;
        self.commit(tx).await?;
        Ok(changed)
    }

    /// The SQLite database file, if this store is one.
    #[must_use]
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        match &self.writer {
            WriterConnect::Sqlite(path) => Some(path),
            _ => None,
        }
    }

    /// The group commit's batcher.
    pub(super) fn writer(&self) -> BatchWriter {
        BatchWriter {
            pool: self.pool.clone(),
            connect: self.writer.clone(),
            conn: None,
            marks: Arc::clone(&self.marks),
            audit_key: self.audit_key.clone(),
        }
    }

    /// This store with audit entries keyed under `key` (HMAC-SHA256; see
    /// [`crate::audit`]). Set it before the first write: the group commit's writer takes
    /// the key it has when it starts.
    #[must_use]
    pub fn with_audit_key(mut self, key: AuditKey) -> Self {
        self.audit_key = Some(Arc::new(key));
        self
    }

    /// The key audit entries are keyed with, if any.
    pub(super) fn audit_key(&self) -> Option<&AuditKey> {
        self.audit_key.as_deref()
    }
}

/// The group commit's writer: each batch is one write transaction on a connection of its
/// own (opened on first use, and again after a database fault or a transaction it could
/// not end), committed once.
pub(super) struct BatchWriter {
    pool: Pool,
    connect: WriterConnect,
    conn: Option<WriterConn>,
    marks: Arc<Marks>,
    audit_key: Option<Arc<AuditKey>>,
}

enum WriterConn {
    Sqlite(rusqlite::Connection),
    Postgres(PgConnection),
}

/// The group commit's SQLite connection: the pool's settings (WAL, `synchronous=FULL`,
/// foreign keys, busy timeout, checkpoint size), and a page cache that outlives its
/// batches, with room for the indexes. Its statement journals stay in memory: a batch's
/// multi-row insert (at most `MAX_BATCH` certificates) would otherwise spill one to a
/// temporary file every batch. Other connections keep SQLite's default, so a large CRL's
/// statement journal goes to a file instead of the heap.
fn open_lite(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // A batch's statements differ in text with its size: keep the recent ones prepared
    // (as many as sqlx keeps per connection, plus room: a statement for `MAX_BATCH` rows
    // holds a few hundred KiB of program, so not one per size).
    conn.set_prepared_statement_cache_capacity(128);
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};
         PRAGMA journal_size_limit = {};
         PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
        WAL_CHECKPOINT_PAGES * 4096
    ))?;
    Ok(conn)
}

impl Batcher for BatchWriter {
    async fn apply(&mut self, ops: &[Op]) -> Result<Vec<Done>, StoreError> {
        let out = match (&self.connect, &mut self.conn) {
            (WriterConnect::SqlitePool, _) => {
                let mut tx = self.pool.write_tx().await?;
                finish(apply_in(tx.on(), self.audit_key.as_deref(), ops).await, tx).await
            }
            (WriterConnect::Sqlite(path), slot) => {
                if slot.is_none() {
                    *slot = Some(WriterConn::Sqlite(open_lite(path)?));
                }
                let Some(WriterConn::Sqlite(conn)) = slot else {
                    return Err(StoreError::Internal("writer connection".into()));
                };
                let out = apply_lite(conn, self.audit_key.as_deref(), ops).await;
                // A transaction still open here could not be rolled back: closing the
                // connection ends it, rather than holding the write lock.
                if !conn.is_autocommit() {
                    *slot = None;
                }
                out
            }
            (WriterConnect::Postgres(options), slot) => {
                if slot.is_none() {
                    *slot = Some(WriterConn::Postgres(
                        PgConnection::connect_with(options).await?,
                    ));
                }
                let Some(WriterConn::Postgres(conn)) = slot else {
                    return Err(StoreError::Internal("writer connection".into()));
                };
                let mut t = conn.begin().await?;
                lock_for_writing(&mut t).await?;
                let mut tx = Tx::Postgres(t);
                finish(apply_in(tx.on(), self.audit_key.as_deref(), ops).await, tx).await
            }
        };
        match &out {
            Ok(_) => self.marks.local_write(),
            // Whatever went wrong with the connection, the next batch gets a new one.
            Err(StoreError::Database(..) | StoreError::Unavailable(_)) => self.conn = None,
            Err(_) => {}
        }
        out
    }
}

/// Applies a batch in one write transaction on the writer's own SQLite connection. After a
/// failure the transaction is rolled back if it is still open (SQLite ends some itself,
/// e.g. on a full disk), and the failure itself is reported.
async fn apply_lite(
    conn: &mut rusqlite::Connection,
    key: Option<&AuditKey>,
    ops: &[Op],
) -> Result<Vec<Done>, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let out = match apply_in(On::Lite(conn), key, ops).await {
        Ok(done) => conn
            .execute_batch("COMMIT")
            .map(|()| done)
            .map_err(Into::into),
        Err(e) => Err(e),
    };
    if out.is_err() && !conn.is_autocommit() {
        // If this fails too, the caller closes the connection.
        let _ = conn.execute_batch("ROLLBACK");
    }
    out
}

/// Commits `tx` after a batch applied, or rolls it back at once after a failure.
async fn finish(
    applied: Result<Vec<Done>, StoreError>,
    tx: Tx<'_>,
) -> Result<Vec<Done>, StoreError> {
    match applied {
        Ok(done) => {
            tx.commit().await?;
            Ok(done)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// Makes the SQLite database at `path` private before SQLite opens it: created 0600 when
/// missing (SQLite gives its WAL and shared-memory files the database file's mode), and
/// an existing database, WAL or shared-memory file this process's user owns narrowed to
/// 0600 (homes
/// made before caforge did this had them 0644). The database holds tokens' hashes, sealed
/// keys of managed certificates and the audit log: no other user reads it.
fn private_database_files(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let io = |e: std::io::Error| {
        StoreError::Unavailable(format!("database file {}: {e}", path.display()))
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    let me = rustix::process::geteuid().as_raw();
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        // Opened without following a link, then narrowed through the descriptor: no
        // window to swap in another file.
        let Ok(handle) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(&file)
        else {
            continue;
        };
        let meta = handle.metadata().map_err(io)?;
        if meta.is_file() && meta.uid() == me && meta.mode() & 0o077 != 0 {
            handle
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
    }
    Ok(())
}

impl super::HealthStore for AnyStore {
    async fn probe_write(&self) -> Result<(), StoreError> {
        // An update to the newest migration's row that leaves it as it is: SQLite still
        // writes the page (to the WAL), PostgreSQL a new row version.
        self.write_one(sql(
            "UPDATE caforge_migrations SET applied_at = applied_at WHERE version = (SELECT MAX(version) FROM caforge_migrations)",
        ))
        .await
        .map(|_| ())
    }

    fn disk_free(&self) -> Option<u64> {
        let dir = self.sqlite_file()?.parent()?;
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
}
