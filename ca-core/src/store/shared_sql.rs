//! Store roles whose SQL is the same on SQLite and PostgreSQL (`$n` parameters, which
//! SQLite numbers in order of first appearance; `ON CONFLICT`; `RETURNING`). Each backend
//! expands [`shared_roles!`] over its own pool, write transaction (`write_tx`) and audit
//! append (`append_audit_in`), so one text serves both.

/// Implements [`super::LifecycleStore`], [`super::InventoryStore`],
/// [`super::NotificationStore`], [`super::QuotaStore`] and [`super::ManagedStore`] for
/// `$store`.
macro_rules! shared_roles {
    ($store:ty) => {
        impl super::LifecycleStore for $store {
            async fn commit_successor(
                &self,
                cert: &NewCertificate,
                issuer_key_id: &str,
                audit: &AuditEvent,
                succession: &super::Succession,
            ) -> Result<CertificateRecord, StoreError> {
                let mut tx = self.write_tx().await?;
                let id = commit_in(&mut tx, cert, issuer_key_id, audit).await?;
                sqlx::query(
                    "INSERT INTO certificate_successions (successor_id, predecessor_id, kind, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(succession.predecessor_id)
                .bind(succession.kind.as_str())
                .bind(cert.created_at)
                .execute(&mut *tx)
                .await?;
                if let Some(due) = succession.revoke_predecessor_at {
                    sqlx::query(
                        "INSERT INTO scheduled_revocations (certificate_id, reason, due_at, requested_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (certificate_id) DO UPDATE SET due_at = CASE WHEN excluded.due_at < scheduled_revocations.due_at THEN excluded.due_at ELSE scheduled_revocations.due_at END",
                    )
                    .bind(succession.predecessor_id)
                    .bind(i64::from(RevocationReason::Superseded.code()))
                    .bind(due)
                    .bind(cert.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                let record = cert_by_id_in(&mut tx, id).await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn lineage(&self, id: i64) -> Result<super::Lineage, StoreError> {
                let mut conn = self.pool.acquire().await?;
                let links: Vec<(i64, i64, String)> = sqlx::query_as(
                    "SELECT successor_id, predecessor_id, kind FROM certificate_successions
                     WHERE successor_id = $1 OR predecessor_id = $1 ORDER BY successor_id",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                let mut lineage = super::Lineage::default();
                for (successor, predecessor, kind) in links {
                    let kind = super::SuccessionKind::parse(&kind)?;
                    if successor == id {
                        lineage.predecessor = Some((kind, cert_by_id_in(&mut conn, predecessor).await?));
                    } else {
                        lineage
                            .successors
                            .push((kind, cert_by_id_in(&mut conn, successor).await?));
                    }
                }
                let scheduled: Option<(i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT certificate_id, reason, due_at, requested_at FROM scheduled_revocations WHERE certificate_id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                lineage.scheduled_revocation = scheduled.map(scheduled_from_tuple).transpose()?;
                Ok(lineage)
            }

            async fn due_revocations(&self, now: i64) -> Result<Vec<super::ScheduledRevocation>, StoreError> {
                let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT certificate_id, reason, due_at, requested_at FROM scheduled_revocations
                     WHERE due_at <= $1 ORDER BY due_at, certificate_id",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(scheduled_from_tuple).collect()
            }

            async fn drop_scheduled_revocation(&self, id: i64) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM scheduled_revocations WHERE certificate_id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn ca_successor(&self, ca: super::IssuerId) -> Result<Option<super::CaRecord>, StoreError> {
                sqlx::query("SELECT * FROM cas WHERE predecessor_ca_id = $1")
                    .bind(ca.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(ca_from_row)
                    .transpose()
            }

            async fn last_expiry(&self, ca: super::IssuerId) -> Result<Option<i64>, StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT MAX(not_after) FROM certificates WHERE issuer_ca_id = $1")
                        .bind(ca.0)
                        .fetch_one(&self.pool)
                        .await?,
                )
            }

            async fn commit_cross_certificate(
                &self,
                subject_ca: super::IssuerId,
                cert: &NewCertificate,
                issuer_key_id: &str,
                audit: &AuditEvent,
            ) -> Result<CertificateRecord, StoreError> {
                let mut tx = self.write_tx().await?;
                let id = commit_in(&mut tx, cert, issuer_key_id, audit).await?;
                sqlx::query(
                    "INSERT INTO cross_certificates (certificate_id, subject_ca_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(subject_ca.0)
                .bind(cert.created_at)
                .execute(&mut *tx)
                .await?;
                let record = cert_by_id_in(&mut tx, id).await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn cross_certificates(
                &self,
                subject_ca: super::IssuerId,
            ) -> Result<Vec<CertificateRecord>, StoreError> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CERT_COLUMNS} FROM cross_certificates x JOIN certificates c ON c.id = x.certificate_id
                     JOIN cas a ON a.id = c.issuer_ca_id WHERE x.subject_ca_id = $1 ORDER BY c.id"
                )))
                .bind(subject_ca.0)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(cert_from_row)
                .collect()
            }
        }

        impl super::InventoryStore for $store {
            async fn add_inventory(
                &self,
                cert: &super::NewInventoryCert,
                audit: &AuditEvent,
            ) -> Result<Option<super::InventoryRecord>, StoreError> {
                let sans = serde_json::to_string(&cert.sans)
                    .map_err(|e| StoreError::Corrupt(format!("SAN encoding: {e}")))?;
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO inventory (fingerprint, subject, issuer, serial, sans, key_type, not_before, not_after,
                                            issuer_ca_id, issuer_inventory_id, source, der, imported_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT (fingerprint) DO NOTHING
                     RETURNING {}",
                    super::rows::INVENTORY_COLUMNS
                )))
                .bind(&cert.fingerprint)
                .bind(&cert.subject)
                .bind(&cert.issuer)
                .bind(&cert.serial)
                .bind(sans)
                .bind(&cert.key_type)
                .bind(cert.not_before)
                .bind(cert.not_after)
                .bind(cert.issuer_ca_id.map(|i| i.0))
                .bind(cert.issuer_inventory_id)
                .bind(&cert.source)
                .bind(&cert.der)
                .bind(cert.imported_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let record = super::rows::inventory_from_row(&row)?;
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Some(record))
            }

            async fn list_inventory(
                &self,
                from: Option<i64>,
                before: Option<i64>,
            ) -> Result<Vec<super::InventoryRecord>, StoreError> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM inventory
                     WHERE ($1 IS NULL OR not_after >= $1) AND ($2 IS NULL OR not_after < $2)
                     ORDER BY not_after, id",
                    super::rows::INVENTORY_COLUMNS
                )))
                .bind(from)
                .bind(before)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(super::rows::inventory_from_row)
                .collect()
            }

            async fn inventory_by_serial(
                &self,
                serial: &str,
            ) -> Result<Vec<super::InventoryRecord>, StoreError> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM inventory WHERE serial = $1 ORDER BY id",
                    super::rows::INVENTORY_COLUMNS
                )))
                .bind(serial)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(super::rows::inventory_from_row)
                .collect()
            }

            async fn link_inventory_issuer(&self, id: i64, issuer: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("UPDATE inventory SET issuer_inventory_id = $1 WHERE id = $2")
                    .bind(issuer)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_inventory(
                &self,
                id: i64,
                audit: &AuditEvent,
            ) -> Result<super::InventoryRecord, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM inventory WHERE id = $1 RETURNING {}",
                    super::rows::INVENTORY_COLUMNS
                )))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no inventory certificate with id {id}")))?;
                let record = super::rows::inventory_from_row(&row)?;
                sqlx::query("UPDATE inventory SET issuer_inventory_id = NULL WHERE issuer_inventory_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM notifications WHERE target = $1 AND state = 'pending'")
                    .bind(format!("inventory:{id}"))
                    .execute(&mut *tx)
                    .await?;
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn certificate_by_fingerprint(
                &self,
                fingerprint: &str,
            ) -> Result<Option<CertificateRecord>, StoreError> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CERT_COLUMNS} FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id WHERE c.fingerprint = $1"
                )))
                .bind(fingerprint)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(cert_from_row)
                .transpose()
            }
        }

        impl super::NotificationStore for $store {
            async fn record_notifications(
                &self,
                due: &[super::NewNotification],
            ) -> Result<usize, StoreError> {
                if due.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.write_tx().await?;
                let mut added = 0;
                for n in due {
                    let done = sqlx::query(
                        "INSERT INTO notifications (target, threshold_days, webhook, state, attempts, next_attempt_at, payload, created_at)
                         VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4)
                         ON CONFLICT (target, threshold_days, webhook) DO NOTHING",
                    )
                    .bind(&n.target)
                    .bind(i64::from(n.threshold_days))
                    .bind(&n.webhook)
                    .bind(n.created_at)
                    .bind(&n.payload)
                    .execute(&mut *tx)
                    .await?;
                    added += usize::try_from(done.rows_affected()).unwrap_or(0);
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn pending_notifications(
                &self,
                now: i64,
            ) -> Result<Vec<super::NotificationRecord>, StoreError> {
                sqlx::query(
                    "SELECT * FROM notifications WHERE state = 'pending' AND next_attempt_at <= $1
                     ORDER BY next_attempt_at, id",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(super::rows::notification_from_row)
                .collect()
            }

            async fn notification_delivered(&self, id: i64, at: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "UPDATE notifications SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, last_error = NULL
                     WHERE id = $2",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn notification_failed(
                &self,
                id: i64,
                error: &str,
                retry_at: Option<i64>,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "UPDATE notifications SET attempts = attempts + 1, last_error = $1,
                            state = CASE WHEN $2 IS NULL THEN 'failed' ELSE 'pending' END,
                            next_attempt_at = COALESCE($2, next_attempt_at)
                     WHERE id = $3",
                )
                .bind(error)
                .bind(retry_at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_notifications(&self) -> Result<Vec<super::NotificationRecord>, StoreError> {
                sqlx::query("SELECT * FROM notifications ORDER BY id DESC")
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(super::rows::notification_from_row)
                    .collect()
            }
        }

        impl super::QuotaStore for $store {
            async fn reserve_quota(
                &self,
                token_id: i64,
                limit: u32,
                window: i64,
                now: i64,
            ) -> Result<Result<i64, i64>, StoreError> {
                let since = now.saturating_sub(window);
                // The write transaction serialises reservations: two requests cannot both
                // see the last free slot.
                let mut tx = self.write_tx().await?;
                let (used, oldest): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(reserved_at) FROM token_issuances
                     WHERE token_id = $1 AND reserved_at > $2",
                )
                .bind(token_id)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
                if used >= i64::from(limit) {
                    // Slots free up oldest first; with `used - limit + 1` to go, the one
                    // that frees this request is the (used - limit + 1)-th oldest.
                    let skip = used - i64::from(limit);
                    let nth: Option<i64> = sqlx::query_scalar(
                        "SELECT reserved_at FROM token_issuances
                         WHERE token_id = $1 AND reserved_at > $2
                         ORDER BY reserved_at LIMIT 1 OFFSET $3",
                    )
                    .bind(token_id)
                    .bind(since)
                    .bind(skip)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let at = nth.or(oldest).unwrap_or(now);
                    return Ok(Err(at.saturating_add(window)));
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO token_issuances (token_id, reserved_at) VALUES ($1, $2) RETURNING id",
                )
                .bind(token_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Ok(id))
            }

            async fn settle_quota(
                &self,
                id: i64,
                certificate_id: Option<i64>,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                match certificate_id {
                    Some(cert) => {
                        sqlx::query("UPDATE token_issuances SET certificate_id = $1 WHERE id = $2")
                            .bind(cert)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?
                    }
                    None => {
                        sqlx::query("DELETE FROM token_issuances WHERE id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?
                    }
                };
                tx.commit().await?;
                Ok(())
            }

            async fn quota_used(&self, token_id: i64, since: i64) -> Result<u32, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM token_issuances WHERE token_id = $1 AND reserved_at > $2",
                )
                .bind(token_id)
                .bind(since)
                .fetch_one(&self.pool)
                .await?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }
        }

        impl super::ManagedStore for $store {
            async fn create_managed(
                &self,
                m: &super::NewManaged,
            ) -> Result<super::ManagedRecord, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO managed_certificates (certificate_id, key_type, sealed_key, deploy_dir, deploy_hook,
                                                       state, attempts, next_attempt_at, updated_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) RETURNING *",
                )
                .bind(m.certificate_id)
                .bind(&m.key_type)
                .bind(&m.sealed_key)
                .bind(&m.deploy_dir)
                .bind(&m.deploy_hook)
                .bind(m.created_at)
                .fetch_one(&mut *tx)
                .await?;
                let record = super::rows::managed_from_row(&row)?;
                tx.commit().await?;
                Ok(record)
            }

            async fn list_managed(&self) -> Result<Vec<super::ManagedRecord>, StoreError> {
                sqlx::query("SELECT * FROM managed_certificates ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(super::rows::managed_from_row)
                    .collect()
            }

            async fn managed_renewed(
                &self,
                id: i64,
                certificate_id: i64,
                sealed_key: &[u8],
                at: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "UPDATE managed_certificates SET certificate_id = $1, sealed_key = $2, state = 'pending',
                            attempts = 0, next_attempt_at = $3, last_error = NULL, updated_at = $3
                     WHERE id = $4",
                )
                .bind(certificate_id)
                .bind(sealed_key)
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn managed_attempted(
                &self,
                id: i64,
                error: Option<&str>,
                retry_at: i64,
                at: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "UPDATE managed_certificates SET
                            state = CASE WHEN $1 IS NULL THEN 'deployed' ELSE 'failed' END,
                            attempts = CASE WHEN $1 IS NULL THEN 0 ELSE attempts + 1 END,
                            last_error = $1, next_attempt_at = $2, updated_at = $3
                     WHERE id = $4",
                )
                .bind(error)
                .bind(retry_at)
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use shared_roles;

/// CRLs longer than this are stored in `crl_parts`, this many bytes a part.
pub(super) const CRL_PART: usize = 1 << 20;

/// Writes and reads CRL bytes, inline or in parts (`$conn`: the backend's connection type),
/// and implements `record_crl` and `latest_crl`'s SQL for `$store`.
macro_rules! crl_bytes {
    ($store:ty, $conn:ty) => {
        /// Stores CRL `id`'s bytes in parts (the row holds none).
        async fn write_crl_parts(conn: &mut $conn, id: i64, der: &[u8]) -> Result<(), StoreError> {
            for (i, part) in der.chunks(super::shared_sql::CRL_PART).enumerate() {
                sqlx::query("INSERT INTO crl_parts (crl_id, part, bytes) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(i as i64)
                    .bind(part)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        }

        impl $store {
            async fn record_crl_sql(&self, crl: NewCrl, audit: &AuditEvent) -> Result<CrlRecord, StoreError> {
                let mut tx = self.write_tx().await?;
                let base = crl.base_number.map(|b| to_i64(b, "base number")).transpose()?;
                // Older CRLs of this scope and kind keep their metadata (deltas need the
                // base's sequence number) but not their bytes: only the newest is served.
                let scope = "ca_id = $1 AND partition IS NOT DISTINCT FROM $2 AND (base_number IS NULL) = ($3 IS NULL)";
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM crl_parts WHERE crl_id IN (SELECT id FROM crls WHERE {scope})"
                )))
                .bind(crl.ca.0)
                .bind(crl.partition.map(i64::from))
                .bind(base)
                .execute(&mut *tx)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    // substr(der, 1, 0): the empty value of the column's own type on both
                    // databases (SQLite makes it NULL for a value already empty).
                    "UPDATE crls SET der = CASE WHEN length(der) > 0 THEN substr(der, 1, 0) ELSE der END, parts = 0
                     WHERE {scope} AND (length(der) > 0 OR parts > 0)"
                )))
                .bind(crl.ca.0)
                .bind(crl.partition.map(i64::from))
                .bind(base)
                .execute(&mut *tx)
                .await?;
                // Large CRLs go into parts; the row then holds none of the bytes.
                let large = crl.der.len() > super::shared_sql::CRL_PART;
                let parts = if large {
                    crl.der.len().div_ceil(super::shared_sql::CRL_PART)
                } else {
                    0
                };
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO crls (ca_id, number, partition, base_number, revocation_seq, this_update, next_update, entries, der, parts)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                )
                .bind(crl.ca.0)
                .bind(to_i64(crl.number, "CRL number")?)
                .bind(crl.partition.map(i64::from))
                .bind(base)
                .bind(crl.revocation_seq)
                .bind(crl.this_update)
                .bind(crl.next_update)
                .bind(to_i64(crl.entries, "entries")?)
                .bind(if large { &[] } else { &crl.der[..] })
                .bind(i64::try_from(parts).map_err(|_| StoreError::Corrupt("CRL parts".into()))?)
                .fetch_one(&mut *tx)
                .await?;
                if large {
                    write_crl_parts(&mut tx, id, &crl.der).await?;
                }
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(CrlRecord { id, crl })
            }

            async fn latest_crl_sql(
                &self,
                ca: IssuerId,
                partition: Option<u32>,
                delta: bool,
            ) -> Result<Option<CrlRecord>, StoreError> {
                // One snapshot for the row and its parts (a newer CRL may replace them).
                let mut tx = self.pool.begin().await?;
                let row = sqlx::query(
                    "SELECT * FROM crls WHERE ca_id = $1 AND partition IS NOT DISTINCT FROM $2 AND (base_number IS NOT NULL) = $3
                     ORDER BY number DESC LIMIT 1",
                )
                .bind(ca.0)
                .bind(partition.map(i64::from))
                .bind(delta)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let mut record = crl_from_row(&row)?;
                let parts: i64 = sqlx::Row::try_get(&row, "parts")?;
                drop(row);
                if parts > 0 {
                    let mut der = Vec::with_capacity(
                        usize::try_from(parts).unwrap_or(0).saturating_mul(super::shared_sql::CRL_PART),
                    );
                    for part in 0..parts {
                        let bytes: Vec<u8> = sqlx::query_scalar(
                            "SELECT bytes FROM crl_parts WHERE crl_id = $1 AND part = $2",
                        )
                        .bind(record.id)
                        .bind(part)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| StoreError::Corrupt(format!("CRL {} lacks part {part}", record.id)))?;
                        der.extend_from_slice(&bytes);
                    }
                    record.crl.der = der;
                }
                tx.commit().await?;
                Ok(Some(record))
            }
        }
    };
}
pub(super) use crl_bytes;
