//! The revocation roles of [`AnyStore`]: revocation state, CRL numbers and CRLs, blocked
//! keys, pre-signed OCSP responses and delegated responders. One SQL text each, except the
//! CRL entry reader, whose SQLite form reads in chunks (see [`sqlite_revoked_rows`]).

use super::batch::{append_audit, commit_one};
use super::db::AnyStore;
use super::issued::cert_by_id;
use super::rows::{ca_from_row, crl_from_row, opt_u32, revoked_row, to_i64, RevokedSqlRow};
use super::sql::{sql, Dialect, On, Pool, Tx};
use super::{
    BlockedKey, CaRecord, CachedOcspResponse, CertificateRecord, CertificateStatus, CrlLock,
    CrlRecord, IssuerId, NewCertificate, NewCrl, OcspStore, ResponderRecord, Revocation,
    RevocationItem, RevocationStore, RevokedRow, StoreError, WriteMark,
};
use crate::audit::AuditEvent;
use crate::audit::AuditKey;
use crate::keys::KeyRef;
use crate::revocation::{CaSettings, RevocationReason};

/// The advisory lock class (first of two 32-bit keys) for CRL generation on PostgreSQL;
/// the second key is the CA's id. Two-key locks never collide with the one-key write lock.
const CRL_LOCK_CLASS: i32 = 0x6372_6c00;

/// CRLs longer than this are stored in `crl_parts`, this many bytes a part.
pub(super) const CRL_PART: usize = 1 << 20;

/// The next revocation sequence number, across every CA (the partial index of revoked
/// rows answers it from its end).
pub(super) const NEXT_REVOCATION_SEQ: &str =
    "SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates WHERE revocation_seq IS NOT NULL";

/// The highest revocation sequence number of one CA's certificates.
const CA_REVOCATION_SEQ: &str = "SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates WHERE issuer_ca_id = $1 AND revocation_seq IS NOT NULL";

/// After a status change of `current` inside a write transaction: its pre-signed OCSP
/// responses are dropped and `audit` appended; returns the updated record.
async fn status_changed(
    mut on: On<'_>,
    key: Option<&AuditKey>,
    current: &CertificateRecord,
    audit: &AuditEvent,
) -> Result<CertificateRecord, StoreError> {
    sql("DELETE FROM ocsp_responses WHERE ca_id = $1 AND serial = $2")
        .bind(current.issuer_ca_id.0)
        .bind(current.serial.to_hex())
        .execute(on.again())
        .await?;
    append_audit(on.again(), key, audit).await?;
    cert_by_id(on, current.id).await
}

/// One revocation inside a write transaction (see [`RevocationStore::revoke`]).
async fn revoke_in(
    mut on: On<'_>,
    key: Option<&AuditKey>,
    cert_id: i64,
    revocation: &Revocation,
    block: Option<&BlockedKey>,
    audit: &AuditEvent,
) -> Result<CertificateRecord, StoreError> {
    let current = cert_by_id(on.again(), cert_id).await?;
    if current.status == CertificateStatus::Revoked
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
    let seq: i64 = sql(NEXT_REVOCATION_SEQ).scalar(on.again()).await?;
    sql("UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2, invalidity_date = $3,
                hold_released_at = NULL, revocation_seq = $4 WHERE id = $5")
        .bind(revocation.revoked_at)
        .bind(i64::from(revocation.reason.code()))
        .bind(revocation.invalidity_date)
        .bind(seq)
        .bind(cert_id)
        .execute(on.again())
        .await?;
    if let Some(b) = block {
        sql("INSERT INTO blocked_keys (spki_sha256, serial, ca_id, blocked_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (spki_sha256) DO NOTHING")
            .bind(b.spki_sha256.as_str())
            .bind(b.serial.as_str())
            .bind(b.ca.0)
            .bind(revocation.revoked_at)
            .execute(on.again())
            .await?;
    }
    status_changed(on, key, &current, audit).await
}

impl RevocationStore for AnyStore {
    async fn revoke(
        &self,
        cert_id: i64,
        revocation: &Revocation,
        block: Option<&BlockedKey>,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let record =
            revoke_in(tx.on(), self.audit_key(), cert_id, revocation, block, audit).await?;
        self.commit(tx).await?;
        Ok(record)
    }

    async fn revoke_together(
        &self,
        items: &[RevocationItem<'_>],
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let mut records = Vec::with_capacity(items.len());
        for i in items {
            records.push(
                revoke_in(
                    tx.on(),
                    self.audit_key(),
                    i.cert_id,
                    i.revocation,
                    i.block,
                    i.audit,
                )
                .await?,
            );
        }
        self.commit(tx).await?;
        Ok(records)
    }

    async fn release_hold(
        &self,
        cert_id: i64,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let current = cert_by_id(tx.on(), cert_id).await?;
        if current.status != CertificateStatus::Revoked
            || current.revocation_reason != Some(RevocationReason::CertificateHold)
        {
            return Err(StoreError::Conflict(format!(
                "certificate {} is not on hold (only certificateHold can be lifted)",
                current.serial
            )));
        }
        let seq: i64 = sql(NEXT_REVOCATION_SEQ).scalar(tx.on()).await?;
        sql("UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL, invalidity_date = NULL,
                    hold_released_at = $1, revocation_seq = $2 WHERE id = $3")
            .bind(at)
            .bind(seq)
            .bind(cert_id)
            .execute(tx.on())
            .await?;
        let record = status_changed(tx.on(), self.audit_key(), &current, audit).await?;
        self.commit(tx).await?;
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
        // One snapshot: the entries and the sequence number agree.
        let mut tx = self.pool.snapshot().await?;
        let seq: i64 = sql(CA_REVOCATION_SEQ).bind(ca.0).scalar(tx.on()).await?;
        let scope = Scope {
            ca: ca.0,
            partition: partition.map(i64::from),
            now,
            changed_after,
        };
        match self.pool.dialect() {
            Dialect::Sqlite => sqlite_revoked_rows(&mut tx, scope, each).await?,
            Dialect::Postgres => {
                sql("SELECT serial, status, revoked_at, revocation_reason, invalidity_date, hold_released_at
                       FROM certificates
                      WHERE issuer_ca_id = $1 AND crl_partition IS NOT DISTINCT FROM $2 AND not_after >= $3
                        AND (($4::BIGINT IS NULL AND status = 'revoked')
                          OR ($4::BIGINT IS NOT NULL AND revocation_seq > $4
                              AND (status = 'revoked' OR hold_released_at IS NOT NULL)))
                      ORDER BY length(serial), serial COLLATE \"C\"")
                    .bind(scope.ca)
                    .bind(scope.partition)
                    .bind(scope.now)
                    .bind(scope.changed_after)
                    // Row by row: a million-entry CRL is never held as owned rows.
                    .each(tx.on(), &mut |row| each(revoked_row(row.to::<RevokedSqlRow>()?)?))
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(seq)
    }

    async fn revocation_seq(&self, ca: IssuerId) -> Result<i64, StoreError> {
        sql(CA_REVOCATION_SEQ)
            .bind(ca.0)
            .scalar(self.pool.on())
            .await
    }

    async fn partitions_in_use(&self, ca: IssuerId) -> Result<Vec<Option<u32>>, StoreError> {
        let rows: Vec<(Option<i64>,)> = sql(
            "SELECT DISTINCT crl_partition FROM certificates WHERE issuer_ca_id = $1 ORDER BY crl_partition",
        )
        .bind(ca.0)
        .all_as(self.pool.on())
        .await?;
        rows.into_iter()
            .map(|(p,)| opt_u32(p, "crl_partition"))
            .collect()
    }

    async fn is_key_blocked(&self, spki_sha256: &str) -> Result<bool, StoreError> {
        let n: i64 = sql("SELECT COUNT(*) FROM blocked_keys WHERE spki_sha256 = $1")
            .bind(spki_sha256)
            .scalar(self.pool.on())
            .await?;
        Ok(n > 0)
    }

    /// On PostgreSQL, a transaction-scoped advisory lock on (CRL class, CA id), held by
    /// an open transaction on its own connection until the lock is dropped (rollback).
    /// SQLite has one writer process at a time and needs none.
    async fn lock_crl_generation(&self, ca: IssuerId) -> Result<CrlLock, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(CrlLock::default());
        };
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(CRL_LOCK_CLASS)
            .bind(i32::try_from(ca.0.rem_euclid(1 << 31)).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        Ok(CrlLock::holding(Box::new(tx)))
    }

    async fn allocate_crl_number(&self, ca: IssuerId) -> Result<u64, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let n: i64 = sql("INSERT INTO crl_numbers (ca_id, last) VALUES ($1, 1)
             ON CONFLICT (ca_id) DO UPDATE SET last = crl_numbers.last + 1 RETURNING last")
        .bind(ca.0)
        .scalar(tx.on())
        .await?;
        self.commit(tx).await?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("crl number".into()))
    }

    async fn record_crl(&self, crl: NewCrl, audit: &AuditEvent) -> Result<CrlRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let base = crl
            .base_number
            .map(|b| to_i64(b, "base number"))
            .transpose()?;
        let partition = crl.partition.map(i64::from);
        // Older CRLs of this scope and kind keep their metadata (deltas need the base's
        // sequence number) but not their bytes: only the newest is served.
        sql("DELETE FROM crl_parts WHERE crl_id IN (SELECT id FROM crls WHERE ca_id = $1 AND partition IS NOT DISTINCT FROM $2 AND (base_number IS NULL) = ($3 IS NULL))")
            .bind(crl.ca.0)
            .bind(partition)
            .bind(base)
            .execute(tx.on())
            .await?;
        // substr(der, 1, 0): the empty value of the column's own type on both databases
        // (SQLite makes it NULL for a value already empty).
        sql("UPDATE crls SET der = CASE WHEN length(der) > 0 THEN substr(der, 1, 0) ELSE der END, parts = 0
             WHERE ca_id = $1 AND partition IS NOT DISTINCT FROM $2 AND (base_number IS NULL) = ($3 IS NULL)
               AND (length(der) > 0 OR parts > 0)")
            .bind(crl.ca.0)
            .bind(partition)
            .bind(base)
            .execute(tx.on())
            .await?;
        // Large CRLs go into parts; the row then holds none of the bytes.
        let large = crl.der.len() > CRL_PART;
        let parts = if large {
            crl.der.len().div_ceil(CRL_PART)
        } else {
            0
        };
        let id: i64 = sql(
            "INSERT INTO crls (ca_id, number, partition, base_number, revocation_seq, this_update, next_update, entries, der, parts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(crl.ca.0)
        .bind(to_i64(crl.number, "CRL number")?)
        .bind(partition)
        .bind(base)
        .bind(crl.revocation_seq)
        .bind(crl.this_update)
        .bind(crl.next_update)
        .bind(to_i64(crl.entries, "entries")?)
        .bind(if large { &[][..] } else { &crl.der[..] })
        .bind(i64::try_from(parts).map_err(|_| StoreError::Corrupt("CRL parts".into()))?)
        .scalar(tx.on())
        .await?;
        if large {
            for (i, part) in crl.der.chunks(CRL_PART).enumerate() {
                sql("INSERT INTO crl_parts (crl_id, part, bytes) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(i64::try_from(i).map_err(|_| StoreError::Corrupt("CRL part".into()))?)
                    .bind(part)
                    .execute(tx.on())
                    .await?;
            }
        }
        append_audit(tx.on(), self.audit_key(), audit).await?;
        self.commit(tx).await?;
        Ok(CrlRecord { id, crl })
    }

    async fn latest_crl(
        &self,
        ca: IssuerId,
        partition: Option<u32>,
        delta: bool,
    ) -> Result<Option<CrlRecord>, StoreError> {
        // One snapshot for the row and its parts (a newer CRL may replace them).
        let mut tx = self.pool.snapshot().await?;
        let row = sql(
            "SELECT * FROM crls WHERE ca_id = $1 AND partition IS NOT DISTINCT FROM $2 AND (base_number IS NOT NULL) = $3
             ORDER BY number DESC LIMIT 1",
        )
        .bind(ca.0)
        .bind(partition.map(i64::from))
        .bind(delta)
        .optional(tx.on())
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let mut record = crl_from_row(&row)?;
        let parts: i64 = row.get("parts")?;
        drop(row);
        if parts > 0 {
            let mut der =
                Vec::with_capacity(usize::try_from(parts).unwrap_or(0).saturating_mul(CRL_PART));
            for part in 0..parts {
                let bytes: Vec<u8> =
                    sql("SELECT bytes FROM crl_parts WHERE crl_id = $1 AND part = $2")
                        .bind(record.id)
                        .bind(part)
                        .scalar_opt(tx.on())
                        .await?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("CRL {} lacks part {part}", record.id))
                        })?;
                der.extend_from_slice(&bytes);
            }
            record.crl.der = der;
        }
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn update_ca_settings(
        &self,
        ca: IssuerId,
        settings: &CaSettings,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let done = sql(
            "UPDATE cas SET base_url = $1, crl_lifetime = $2, delta_lifetime = $3, crl_partitions = $4, ocsp_signer = $5, ocsp_lifetime = $6,
                            allow_leaves = $7
             WHERE id = $8",
        )
        .bind(&settings.base_url)
        .bind(settings.crl_lifetime)
        .bind(settings.delta_lifetime)
        .bind(i64::from(settings.crl_partitions))
        .bind(settings.ocsp_signer.as_str())
        .bind(settings.ocsp_lifetime)
        .bind(i64::from(settings.allow_leaves))
        .bind(ca.0)
        .execute(tx.on())
        .await?;
        if done.0 != 1 {
            return Err(StoreError::NotFound(format!("no CA with id {ca}")));
        }
        append_audit(tx.on(), self.audit_key(), audit).await?;
        let row = sql("SELECT * FROM cas WHERE id = $1")
            .bind(ca.0)
            .one(tx.on())
            .await?;
        let record = ca_from_row(&row)?;
        self.commit(tx).await?;
        Ok(record)
    }
}

/// Which revoked rows a CRL reads: a CA, one partition (or none), unexpired at `now`;
/// for a delta, the changes after revocation sequence `changed_after`.
#[derive(Clone, Copy)]
struct Scope {
    ca: i64,
    partition: Option<i64>,
    now: i64,
    changed_after: Option<i64>,
}

/// Revoked rows per chunk read on SQLite.
const REVOKED_CHUNK: i64 = 8_192;

/// A chunk of a full CRL's entries on SQLite: `$1` issuer, `$2` partition, `$3` now,
/// `$5` serial length, `$6` the last serial read, `$7` the chunk size (`$4`, the delta
/// base, is NULL). Every column comes from the `certificates_revoked_cover` index.
const SQLITE_REVOKED_FULL_CHUNK: &str = "SELECT group_concat(line, ';') FROM (
   SELECT serial || ',revoked,' || revoked_at || ',' || COALESCE(revocation_reason, '')
          || ',' || COALESCE(invalidity_date, '') || ',' AS line
     FROM certificates
    WHERE status = 'revoked' AND issuer_ca_id = $1 AND length(serial) = $5 AND serial > $6
      AND crl_partition IS $2 AND not_after >= $3 AND $4 IS NULL
    ORDER BY serial
    LIMIT $7)";

/// A chunk of a delta CRL's changes since revocation sequence `$4` on SQLite (otherwise
/// as [`SQLITE_REVOKED_FULL_CHUNK`]): revocations, and released holds (removeFromCRL). The
/// rows come from the (partial) revocation-sequence index: left to itself, the planner
/// walks the CRL-order index to avoid sorting, which visits every certificate of the CA.
pub(super) const SQLITE_REVOKED_DELTA_CHUNK: &str = "SELECT group_concat(line, ';') FROM (
   SELECT serial || ',' || status || ',' || COALESCE(revoked_at, '') || ','
          || COALESCE(revocation_reason, '') || ',' || COALESCE(invalidity_date, '')
          || ',' || COALESCE(hold_released_at, '') AS line
     FROM certificates INDEXED BY certificates_revocation_seq
    WHERE issuer_ca_id = $1 AND length(serial) = $5 AND serial > $6
      AND crl_partition IS $2 AND not_after >= $3
      AND revocation_seq > $4 AND (status = 'revoked' OR hold_released_at IS NOT NULL)
    ORDER BY serial
    LIMIT $7)";

/// One chunk of rows of `scope`: those of serial length `len` after serial `after`.
async fn sqlite_chunk(
    on: On<'_>,
    text: &'static str,
    scope: Scope,
    len: i64,
    after: String,
) -> Result<Option<String>, StoreError> {
    sql(text)
        .bind(scope.ca)
        .bind(scope.partition)
        .bind(scope.now)
        .bind(scope.changed_after)
        .bind(len)
        .bind(after)
        .bind(REVOKED_CHUNK)
        .scalar(on)
        .await
}

/// The shortest serial length of the CA's certificates longer than `than`.
async fn sqlite_next_length(on: On<'_>, ca: i64, than: i64) -> Result<Option<i64>, StoreError> {
    sql("SELECT MIN(length(serial)) FROM certificates WHERE issuer_ca_id = $1 AND length(serial) > $2")
        .bind(ca)
        .bind(than)
        .scalar(on)
        .await
}

/// The CRL entries of `scope` on SQLite, in CRL order (by serial length, then serial), in
/// chunks of concatenated text, each resuming after the last serial: the SQLite driver
/// hands rows over one at a time across threads, which for a million entries costs
/// seconds; a hundred chunks do not. The next chunk is read by SQLite's thread while this
/// one is parsed and handed over.
async fn sqlite_revoked_rows(
    tx: &mut Tx<'_>,
    scope: Scope,
    each: &mut (dyn FnMut(RevokedRow) -> Result<(), StoreError> + Send),
) -> Result<(), StoreError> {
    // A full CRL reads only the revoked_cover index; a delta (rare, small) also looks at
    // released holds, which only the table has.
    let text = if scope.changed_after.is_none() {
        SQLITE_REVOKED_FULL_CHUNK
    } else {
        SQLITE_REVOKED_DELTA_CHUNK
    };
    let Some(mut len) = sqlite_next_length(tx.on(), scope.ca, 0).await? else {
        return Ok(());
    };
    let mut chunk = sqlite_chunk(tx.on(), text, scope, len, String::new())
        .await?
        .unwrap_or_default();
    loop {
        let rows = if chunk.is_empty() {
            0
        } else {
            chunk.bytes().filter(|b| *b == b';').count() + 1
        };
        // Where the next chunk starts: after this one's last serial, or at the next
        // serial length when this one was not full.
        let next = if rows < REVOKED_CHUNK as usize {
            sqlite_next_length(tx.on(), scope.ca, len)
                .await?
                .map(|l| (l, String::new()))
        } else {
            let last = chunk.rsplit(';').next().unwrap_or_default();
            let serial = last.split(',').next().unwrap_or_default();
            Some((len, serial.to_owned()))
        };
        let fetching = async {
            match next {
                Some((l, after)) => {
                    len = l;
                    sqlite_chunk(tx.on(), text, scope, l, after).await.map(Some)
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
            None => return Ok(()),
        }
    }
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

impl OcspStore for AnyStore {
    fn write_mark(&self) -> Option<WriteMark> {
        self.marks.current(&self.pool)
    }

    async fn cached_ocsp(
        &self,
        ca: IssuerId,
        serial: &str,
        hash_alg: &str,
    ) -> Result<Option<CachedOcspResponse>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>)> = sql(
            "SELECT produced_at, next_update, der FROM ocsp_responses WHERE ca_id = $1 AND serial = $2 AND hash_alg = $3",
        )
        .bind(ca.0)
        .bind(serial)
        .bind(hash_alg)
        .optional_as(self.pool.on())
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
        let mut tx = self.pool.write_tx().await?;
        let current: Option<Option<i64>> =
            sql("SELECT revocation_seq FROM certificates WHERE issuer_ca_id = $1 AND serial = $2")
                .bind(r.ca.0)
                .bind(r.serial.as_str())
                .scalar_opt(tx.on())
                .await?;
        if current.flatten() != r.seen_seq {
            // The status changed while the response was being signed: it is stale.
            return tx.rollback().await;
        }
        sql(
            "INSERT INTO ocsp_responses (ca_id, serial, hash_alg, produced_at, next_update, der) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (ca_id, serial, hash_alg) DO UPDATE SET produced_at = excluded.produced_at,
                 next_update = excluded.next_update, der = excluded.der",
        )
        .bind(r.ca.0)
        .bind(r.serial.as_str())
        .bind(r.hash_alg.as_str())
        .bind(r.produced_at)
        .bind(r.next_update)
        .bind(r.der.as_slice())
        .execute(tx.on())
        .await?;
        self.commit(tx).await
    }

    async fn commit_responder(
        &self,
        ca: IssuerId,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
        key_ref: &KeyRef,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let record = commit_one(tx.on(), self.audit_key(), cert, issuer_key_id, audit).await?;
        sql("INSERT INTO ocsp_responders (ca_id, certificate_id, key_ref, not_after, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(ca.0)
            .bind(record.id)
            .bind(key_ref.as_str())
            .bind(cert.not_after)
            .bind(cert.created_at)
            .execute(tx.on())
            .await?;
        self.commit(tx).await?;
        Ok(record)
    }

    async fn current_responder(
        &self,
        ca: IssuerId,
        now: i64,
    ) -> Result<Option<ResponderRecord>, StoreError> {
        let row: Option<(i64, i64, String, i64)> = sql(
            "SELECT r.id, r.certificate_id, r.key_ref, r.not_after FROM ocsp_responders r
               JOIN certificates c ON c.id = r.certificate_id
              WHERE r.ca_id = $1 AND c.status = 'valid' AND c.not_before <= $2 AND r.not_after > $2
              ORDER BY r.not_after DESC, r.id DESC LIMIT 1",
        )
        .bind(ca.0)
        .bind(now)
        .optional_as(self.pool.on())
        .await?;
        let Some((id, cert_id, key_ref, not_after)) = row else {
            return Ok(None);
        };
        Ok(Some(ResponderRecord {
            id,
            ca,
            certificate: cert_by_id(self.pool.on(), cert_id).await?,
            key_ref: KeyRef::new(key_ref),
            not_after,
        }))
    }
}
