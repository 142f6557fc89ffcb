//! Group commit for the embedded store (see [`super::group`]): a batch is one `BEGIN
//! IMMEDIATE` transaction with set-based statements and one fsync.

use std::collections::{HashMap, HashSet};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Connection, SqliteConnection};

use super::group::{Batcher, Done, Op};
use super::rows::{cert_from_row, CERT_COLUMNS};
use super::{IssuerId, NewCertificate, SigningIntent, SigningRefusal, StoreError};
use crate::audit::{chain_hash, AuditEvent, GENESIS_HASH};

/// Where the writer's transactions run.
pub(super) enum Writer {
    /// A pooled connection per batch (an in-memory database has only the pool's one).
    Pool(SqlitePool),
    /// A connection kept for the writer alone, opened on first use and again after a
    /// failure: its page cache stays valid from batch to batch (a pooled connection finds
    /// its cache stale whenever another connection wrote since it last ran).
    Own(Box<SqliteConnectOptions>, Option<SqliteConnection>),
}

impl Batcher for Writer {
    async fn apply(&mut self, ops: &[Op]) -> Result<Vec<Done>, StoreError> {
        match self {
            Writer::Pool(pool) => apply_all(&mut *pool.acquire().await?, ops).await,
            Writer::Own(options, slot) => {
                let conn = match slot {
                    Some(conn) => conn,
                    None => slot.insert(SqliteConnection::connect_with(options).await?),
                };
                let out = apply_all(conn, ops).await;
                if matches!(out, Err(StoreError::Database(_))) {
                    // Whatever went wrong with the connection, the next batch gets a new one.
                    *slot = None;
                }
                out
            }
        }
    }
}

/// `INSERT INTO {head} VALUES (?, …), …` with `rows` tuples of `row` (the tuple text).
fn values_sql(head: &str, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 2));
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql
}

/// Applies `ops` in one transaction; answers in the same order.
async fn apply_all(conn: &mut SqliteConnection, ops: &[Op]) -> Result<Vec<Done>, StoreError> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    match apply_in(&mut tx, ops).await {
        Ok(done) => {
            tx.commit().await?;
            Ok(done)
        }
        Err(e) => {
            // Roll back now: a dropped transaction would only be rolled back at the
            // connection's next use, keeping the write lock until then.
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// [`apply_all`]'s work inside its transaction.
async fn apply_in(tx: &mut SqliteConnection, ops: &[Op]) -> Result<Vec<Done>, StoreError> {
    let mut done: Vec<Option<Done>> = ops.iter().map(|_| None).collect();
    let mut audits: Vec<(usize, &AuditEvent)> = Vec::new();

    // 1. Signing checks and serial reservations.
    let signs: Vec<(usize, &SigningIntent)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Sign(intent) => Some((i, intent)),
            Op::Commit { .. } => None,
        })
        .collect();
    if !signs.is_empty() {
        let mut ca_status: HashMap<(i64, &str), Option<Option<u8>>> = HashMap::new();
        for (_, intent) in &signs {
            let key = (intent.ca_certificate.0 .0, intent.ca_certificate.1.as_str());
            if ca_status.contains_key(&key) {
                continue;
            }
            let row: Option<(String, Option<i64>)> = sqlx::query_as(
                "SELECT status, revocation_reason FROM certificates WHERE issuer_ca_id = ? AND serial = ?",
            )
            .bind(key.0)
            .bind(key.1)
            .fetch_optional(&mut *tx)
            .await?;
            let (status, reason) = row.ok_or_else(|| {
                StoreError::NotFound(format!("the certificate {} of the issuing CA", key.1))
            })?;
            let revoked = (status == "revoked").then(|| reason.and_then(|r| u8::try_from(r).ok()));
            ca_status.insert(key, revoked);
        }
        let sql = values_sql(
            "SELECT spki_sha256 FROM blocked_keys WHERE spki_sha256 IN (SELECT column1 FROM (",
            "(?)",
            signs.len(),
        ) + "))";
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for (_, intent) in &signs {
            q = q.bind(&intent.spki_sha256);
        }
        let blocked: HashSet<String> = q.fetch_all(&mut *tx).await?.into_iter().collect();
        let mut allowed = Vec::with_capacity(signs.len());
        for (i, intent) in &signs {
            let key = (intent.ca_certificate.0 .0, intent.ca_certificate.1.as_str());
            let refusal = match ca_status.get(&key) {
                Some(Some(reason)) => Some(SigningRefusal::CaRevoked(*reason)),
                _ if blocked.contains(&intent.spki_sha256) => Some(SigningRefusal::KeyBlocked),
                _ => None,
            };
            match refusal {
                Some(r) => done[*i] = Some(Done::Signed(Err(r))),
                None => {
                    allowed.push(*intent);
                    audits.push((*i, &intent.audit));
                    done[*i] = Some(Done::Signed(Ok(())));
                }
            }
        }
        if !allowed.is_empty() {
            let sql = values_sql(
                "INSERT INTO serials (issuer_key_id, serial, state, reserved_at)",
                "(?, ?, 'reserved', ?)",
                allowed.len(),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for intent in &allowed {
                q = q
                    .bind(&intent.issuer_key_id)
                    .bind(intent.serial.to_hex())
                    .bind(intent.at);
            }
            q.execute(&mut *tx).await?;
        }
    }

    // 2. Certificate commits.
    let commits: Vec<(usize, &NewCertificate, &str)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Commit {
                cert,
                issuer_key_id,
                audit,
            } => {
                audits.push((i, audit));
                Some((i, cert, issuer_key_id.as_str()))
            }
            Op::Sign(_) => None,
        })
        .collect();
    if !commits.is_empty() {
        commit_certificates(tx, &commits, &mut done).await?;
    }

    // 3. The audit entries, chained in operation order.
    audits.sort_by_key(|(i, _)| *i);
    append_audits(tx, audits.iter().map(|(_, a)| *a)).await?;
    done.into_iter()
        .map(|d| d.ok_or_else(|| StoreError::Corrupt("an operation was not applied".into())))
        .collect()
}

async fn commit_certificates(
    tx: &mut SqliteConnection,
    commits: &[(usize, &NewCertificate, &str)],
    done: &mut [Option<Done>],
) -> Result<(), StoreError> {
    let sql = values_sql(
        "UPDATE serials SET state = 'used' WHERE state = 'reserved' AND (issuer_key_id, serial) IN (SELECT column1, column2 FROM (",
        "(?, ?)",
        commits.len(),
    ) + "))";
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (_, cert, kid) in commits {
        q = q.bind(*kid).bind(cert.serial.to_hex());
    }
    let marked = q.execute(&mut *tx).await?.rows_affected();
    if marked != commits.len() as u64 {
        return Err(StoreError::Conflict(
            "a serial was not reserved or is already used".into(),
        ));
    }
    let rows = commits
        .iter()
        .map(|(_, cert, _)| {
            let issuer = cert
                .issuer_ca_id
                .ok_or_else(|| StoreError::Corrupt("certificate without an issuer".into()))?;
            Ok((*cert, issuer))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let last = insert_certificates(tx, &rows).await?;

    let first = last - commits.len() as i64 + 1;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id WHERE c.id BETWEEN ? AND ? ORDER BY c.id"
    )))
    .bind(first)
    .bind(last)
    .fetch_all(&mut *tx)
    .await?;
    if rows.len() != commits.len() {
        return Err(StoreError::Corrupt(
            "inserted certificates not found".into(),
        ));
    }
    for (row, (i, cert, _)) in rows.iter().zip(commits) {
        let record = cert_from_row(row)?;
        if record.serial != cert.serial.to_hex() || Some(record.issuer_ca_id) != cert.issuer_ca_id {
            return Err(StoreError::Corrupt(
                "inserted certificates came back out of order".into(),
            ));
        }
        done[*i] = Some(Done::Committed(Box::new(record)));
    }
    Ok(())
}

/// Inserts `certs` (each with its issuer) with one statement and returns the last row id:
/// under the write lock the rows take consecutive ids, in order.
pub(super) async fn insert_certificates(
    conn: &mut SqliteConnection,
    certs: &[(&NewCertificate, IssuerId)],
) -> Result<i64, StoreError> {
    let sql = values_sql(
        "INSERT INTO certificates (issuer_ca_id, serial, subject, sans, profile, key_type, not_before, not_after, status, fingerprint, der, created_at, crl_partition, crl_url, spki_sha256)",
        "(?, ?, ?, ?, ?, ?, ?, ?, 'valid', ?, ?, ?, ?, ?, ?)",
        certs.len(),
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (cert, issuer) in certs {
        let sans = serde_json::to_string(&cert.sans)
            .map_err(|e| StoreError::Corrupt(format!("SAN encoding: {e}")))?;
        q = q
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
            .bind(&cert.spki_sha256);
    }
    Ok(q.execute(&mut *conn).await?.last_insert_rowid())
}

/// Appends `events` to the hash chain with one INSERT.
async fn append_audits<'a>(
    tx: &mut SqliteConnection,
    events: impl ExactSizeIterator<Item = &'a AuditEvent>,
) -> Result<(), StoreError> {
    let n = events.len();
    if n == 0 {
        return Ok(());
    }
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let (mut seq, mut prev) = last.unwrap_or((0, GENESIS_HASH.to_owned()));
    let sql = values_sql(
        "INSERT INTO audit (seq, at, action, ca, serial, details, prev_hash, hash)",
        "(?, ?, ?, ?, ?, ?, ?, ?)",
        n,
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for event in events {
        seq += 1;
        let hash = chain_hash(&prev, seq, event);
        q = q
            .bind(seq)
            .bind(event.at)
            .bind(event.action.clone())
            .bind(event.ca.clone())
            .bind(event.serial.clone())
            .bind(event.details.to_string())
            .bind(std::mem::replace(&mut prev, hash.clone()))
            .bind(hash);
    }
    q.execute(&mut *tx).await?;
    Ok(())
}
