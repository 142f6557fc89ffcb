//! Synthetic rows for benchmarks (`caforge bench crl --revoked N`): a CA with a million
//! revoked certificates is made in seconds by the database itself, not by issuing them.
//! Never used by the CA's own operations.

use super::{AnyStore, IssuerId, StoreError};

/// Inserts `n` revoked certificates of `ca` (placeholder subject and DER; 16-byte serials
/// `40…`; reasons keyCompromise, cACompromise, superseded, unspecified in turn; every
/// tenth with an invalidity date), in one transaction.
///
/// # Errors
/// Database errors.
pub async fn insert_revoked_for_bench(
    store: &AnyStore,
    ca: IssuerId,
    n: u64,
    revoked_at: i64,
) -> Result<(), StoreError> {
    let n = i64::try_from(n).map_err(|_| StoreError::Conflict("too many rows".into()))?;
    // The rows are made by the database itself; how to count and format differs.
    let text = match store.pool.dialect() {
        super::sql::Dialect::Sqlite => {
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $1)
             INSERT INTO certificates (issuer_ca_id, serial, subject, sans, profile, key_type,
                 not_before, not_after, status, fingerprint, der, created_at, spki_sha256,
                 revoked_at, revocation_reason, invalidity_date, revocation_seq)
             SELECT $2, printf('40%030X', i), 'CN=bench', '[]', 'tls-server', 'p256',
                 $3, $3 + 31536000, 'revoked', '', x'', $3, printf('%064X', i),
                 $3 + i, CASE i % 4 WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 4 ELSE 0 END,
                 CASE WHEN i % 10 = 0 THEN $3 ELSE NULL END, i
             FROM k"
        }
        super::sql::Dialect::Postgres => {
            "INSERT INTO certificates (issuer_ca_id, serial, subject, sans, profile, key_type,
                 not_before, not_after, status, fingerprint, der, created_at, spki_sha256,
                 revoked_at, revocation_reason, invalidity_date, revocation_seq)
             SELECT $2, '40' || lpad(upper(to_hex(i)), 30, '0'), 'CN=bench', '[]',
                 'tls-server', 'p256', $3, $3 + 31536000, 'revoked', '', ''::bytea, $3,
                 lpad(upper(to_hex(i)), 64, '0'), $3 + i,
                 CASE i % 4 WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 4 ELSE 0 END,
                 CASE WHEN i % 10 = 0 THEN $3 ELSE NULL END, i
             FROM generate_series(1::BIGINT, $1) AS i"
        }
    };
    let mut tx = store.pool.write_tx().await?;
    super::sql::sql(text)
        .bind(n)
        .bind(ca.0)
        .bind(revoked_at)
        .execute(tx.on())
        .await?;
    store.commit(tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::contract::{event, new_ca, new_cert};
    use super::super::{revocation_snapshot, CaStore, SerialStore};
    use super::*;
    use crate::audit::AuditAction;
    use crate::issuance::SerialNumber;

    /// More rows than one read chunk: every one comes back, once, in CRL order.
    #[tokio::test]
    async fn large_revocation_lists_stream_in_order() {
        let store = AnyStore::open("sqlite::memory:").await.expect("store");
        let serial = SerialNumber::random().expect("rng");
        store
            .reserve_serial("root-kid", &serial, 1)
            .await
            .expect("reserve");
        let ca = store
            .create_ca(
                &new_ca("root", &serial),
                &new_cert(None, &serial, 2_000_000_000),
                "root-kid",
                &event(AuditAction::CaCreated),
            )
            .await
            .expect("ca");
        insert_revoked_for_bench(&store, ca.id, 20_000, 1_000)
            .await
            .expect("rows");
        let snapshot = revocation_snapshot(&store, ca.id, None, None, 0)
            .await
            .expect("read");
        assert_eq!(snapshot.rows.len(), 20_000);
        assert_eq!(snapshot.seq, 20_000);
        assert!(snapshot
            .rows
            .windows(2)
            .all(|w| (w[0].serial.len(), &w[0].serial) < (w[1].serial.len(), &w[1].serial)));
        assert_eq!(snapshot.rows[9].invalidity_date, Some(1_000));
    }
}
