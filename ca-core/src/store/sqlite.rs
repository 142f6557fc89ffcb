//! The embedded SQLite backend (WAL, synchronous=FULL so a commit survives power loss).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use super::{
    AuditStore, CaRecord, CaStore, CertificateFilter, CertificateRecord, CertificateStore,
    IssuerId, NewCa, NewCertificate, SerialStore, StoreError,
};
use crate::audit::{chain_hash, AuditEvent, AuditRecord, GENESIS_HASH};
use crate::issuance::SerialNumber;
use crate::keys::KeyRef;

/// Migrations, applied in order and recorded in `caforge_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/sqlite/0001_init.sql"))];

/// A SQLite-backed store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

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
        }
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            // One in-memory database exists per connection: keep exactly one.
            .max_connections(if memory { 1 } else { 4 })
            .connect_with(options)
            .await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
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
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn append_audit_in(
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
    let sans = serde_json::to_string(&cert.sans)
        .map_err(|e| StoreError::Corrupt(format!("SAN encoding: {e}")))?;
    let id = sqlx::query(
        "INSERT INTO certificates (issuer_ca_id, serial, subject, sans, profile, key_type, not_before, not_after, status, fingerprint, der, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'valid', ?, ?, ?)",
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
    .execute(&mut *conn)
    .await?
    .last_insert_rowid();
    Ok(id)
}

fn ca_from_row(row: &SqliteRow) -> Result<CaRecord, StoreError> {
    let nc: String = row.try_get("name_constraints")?;
    let path_len: Option<i64> = row.try_get("path_len")?;
    Ok(CaRecord {
        id: IssuerId(row.try_get("id")?),
        name: row.try_get("name")?,
        parent_id: row.try_get::<Option<i64>, _>("parent_id")?.map(IssuerId),
        key_type: row.try_get("key_type")?,
        key_ref: KeyRef::new(row.try_get::<String, _>("key_ref")?),
        sm2_id: row.try_get("sm2_id")?,
        key_id: row.try_get("key_id")?,
        subject: row.try_get("subject")?,
        serial: row.try_get("serial")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        path_len: path_len
            .map(|p| u8::try_from(p).map_err(|_| StoreError::Corrupt("path_len".into())))
            .transpose()?,
        name_constraints: serde_json::from_str(&nc)
            .map_err(|e| StoreError::Corrupt(format!("name_constraints: {e}")))?,
        cert_der: row.try_get("cert_der")?,
        created_at: row.try_get("created_at")?,
    })
}

fn cert_from_row(row: &SqliteRow) -> Result<CertificateRecord, StoreError> {
    let sans: String = row.try_get("sans")?;
    Ok(CertificateRecord {
        id: row.try_get("id")?,
        issuer_ca_id: IssuerId(row.try_get("issuer_ca_id")?),
        issuer_name: row.try_get("issuer_name")?,
        serial: row.try_get("serial")?,
        subject: row.try_get("subject")?,
        sans: serde_json::from_str(&sans).map_err(|e| StoreError::Corrupt(format!("sans: {e}")))?,
        profile: row.try_get("profile")?,
        key_type: row.try_get("key_type")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        status: row.try_get("status")?,
        fingerprint: row.try_get("fingerprint")?,
        der: row.try_get("der")?,
        created_at: row.try_get("created_at")?,
    })
}

const CERT_COLUMNS: &str = "c.id, c.issuer_ca_id, a.name AS issuer_name, c.serial, c.subject, c.sans, c.profile, c.key_type, c.not_before, c.not_after, c.status, c.fingerprint, c.der, c.created_at";

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
            "INSERT INTO cas (name, parent_id, key_type, key_ref, sm2_id, key_id, subject, serial, not_before, not_after, path_len, name_constraints, cert_der, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    async fn commit_certificate(
        &self,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let issuer = cert
            .issuer_ca_id
            .ok_or_else(|| StoreError::Corrupt("certificate without an issuer".into()))?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        mark_serial_used(&mut tx, issuer_key_id, &cert.serial).await?;
        let id = insert_certificate(&mut tx, cert, issuer).await?;
        append_audit_in(&mut tx, audit).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id WHERE c.id = ?"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let record = cert_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn store_contract_on_sqlite_memory() {
        let store =
            super::super::AnyStore::Sqlite(SqliteStore::open(":memory:").await.expect("open"));
        super::super::contract::run_all(&store).await;
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
