//! Group commit for the embedded store: the two writes of every issuance (the signing
//! check with serial reservation before the signature, the commit after it) are queued to
//! one writer task, which applies everything queued in one `BEGIN IMMEDIATE` transaction
//! with set-based statements and one fsync, and only then answers each caller. Under
//! concurrency the cost of durability is shared by the whole batch, so throughput follows
//! the signatures rather than the disk; a lone caller waits for no one.
//!
//! If a batch fails (a serial conflict, say), its operations are applied again one at a
//! time, so only the operation at fault fails.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Connection, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::rows::{cert_from_row, CERT_COLUMNS};
use super::{
    CertificateRecord, IssuerId, NewCertificate, SigningIntent, SigningRefusal, StoreError,
};
use crate::audit::{chain_hash, AuditEvent, GENESIS_HASH};

/// Most operations applied in one transaction (bounded by SQLite's 32 766 parameters per
/// statement: a certificate row binds 14).
const MAX_BATCH: usize = 256;

/// A write waiting for the next group commit.
pub(super) enum Op {
    /// [`super::CertificateStore::begin_signing`].
    Sign(SigningIntent),
    /// [`super::CertificateStore::commit_certificate`].
    Commit {
        cert: NewCertificate,
        issuer_key_id: String,
        audit: AuditEvent,
    },
}

/// What an applied operation gives back.
pub(super) enum Done {
    /// The signing check's outcome.
    Signed(Result<(), SigningRefusal>),
    /// The stored certificate.
    Committed(Box<CertificateRecord>),
}

type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// The queue to a store's writer task (started on first use).
#[derive(Debug, Default)]
pub(super) struct GroupCommit {
    queue: OnceLock<mpsc::UnboundedSender<(Op, Reply)>>,
    /// How the writer opens a connection of its own (`None`: it borrows one from the pool
    /// per batch, as an in-memory database has only the pool's one connection).
    own: Option<SqliteConnectOptions>,
}

/// Where the writer's transactions run.
enum Writer {
    /// A pooled connection per batch.
    Pool(SqlitePool),
    /// A connection kept for the writer alone, opened on first use and again after a
    /// failure: its page cache stays valid from batch to batch (a pooled connection finds
    /// its cache stale whenever another connection wrote since it last ran).
    Own(Box<SqliteConnectOptions>, Option<SqliteConnection>),
}

impl Writer {
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

fn writer_gone() -> StoreError {
    StoreError::Database("the store's writer task has stopped".into())
}

impl GroupCommit {
    /// A group commit whose writer keeps a connection of its own, opened with `options`.
    pub(super) fn with_own_connection(options: SqliteConnectOptions) -> Self {
        GroupCommit {
            queue: OnceLock::new(),
            own: Some(options),
        }
    }

    /// Queues `op` and waits until the transaction holding it has committed.
    pub(super) async fn apply(&self, pool: &SqlitePool, op: Op) -> Result<Done, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            // The writer gets a thread of its own: on the shared runtime it would queue
            // behind the CPU-bound issuance tasks (CSR checks, signatures) at every
            // statement, and every caller waits for it.
            // If the thread cannot start, the receiver is dropped with the closure and every
            // caller is told the writer has stopped.
            let target = match &self.own {
                Some(options) => Writer::Own(Box::new(options.clone()), None),
                None => Writer::Pool(pool.clone()),
            };
            let _ = std::thread::Builder::new()
                .name("caforge-sqlite-writer".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(writer(target, receiver)),
                        // Dropping the queue answers every caller with "writer stopped".
                        Err(_) => drop(receiver),
                    }
                });
            sender
        });
        let (reply, answer) = oneshot::channel();
        queue.send((op, reply)).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

/// Applies everything queued, batch after batch, until every handle on the store is gone.
async fn writer(mut target: Writer, mut queue: mpsc::UnboundedReceiver<(Op, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (ops, replies): (Vec<Op>, Vec<Reply>) = batch.drain(..).unzip();
        let results: Vec<Result<Done, StoreError>> = match target.apply(&ops).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(e) if ops.len() == 1 => vec![Err(e)],
            Err(_) => {
                let mut each = Vec::with_capacity(ops.len());
                for op in &ops {
                    each.push(
                        target
                            .apply(std::slice::from_ref(op))
                            .await
                            .and_then(|mut d| d.pop().ok_or_else(writer_gone)),
                    );
                }
                each
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that stopped waiting has nothing to be told.
            let _ = reply.send(result);
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
        commit_certificates(&mut tx, &commits, &mut done).await?;
    }

    // 3. The audit entries, chained in operation order.
    audits.sort_by_key(|(i, _)| *i);
    append_audits(&mut tx, audits.iter().map(|(_, a)| *a)).await?;
    tx.commit().await?;
    done.into_iter()
        .map(|d| d.ok_or_else(|| StoreError::Corrupt("an operation was not applied".into())))
        .collect()
}

async fn commit_certificates(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
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
    let marked = q.execute(&mut **tx).await?.rows_affected();
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
    .fetch_all(&mut **tx)
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
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    events: impl ExactSizeIterator<Item = &'a AuditEvent>,
) -> Result<(), StoreError> {
    let n = events.len();
    if n == 0 {
        return Ok(());
    }
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
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
    q.execute(&mut **tx).await?;
    Ok(())
}
