//! The tracking roles of [`AnyStore`]: the inventory of certificates caforge did not
//! issue, expiry notifications, API token quotas and managed certificates.

use super::batch::{append_audit, commit_one};
use super::db::AnyStore;
use super::issued::select_certs;
use super::rows::cert_from_row;
use super::sql::{sql, sql_built};
use super::{
    CertificateRecord, InventoryRecord, InventoryStore, ManagedRecord, ManagedStore,
    NewCertificate, NewInventoryCert, NewManaged, NewNotification, NotificationRecord,
    NotificationStore, QuotaStore, StoreError,
};
use crate::audit::AuditEvent;

impl InventoryStore for AnyStore {
    async fn add_inventory(
        &self,
        cert: &NewInventoryCert,
        audit: &AuditEvent,
    ) -> Result<Option<InventoryRecord>, StoreError> {
        let sans = serde_json::to_string(&cert.sans)
            .map_err(|e| StoreError::Corrupt(format!("SAN encoding: {e}")))?;
        let mut tx = self.pool.write_tx().await?;
        let row = sql_built(format!(
            "INSERT INTO inventory (fingerprint, subject, issuer, serial, sans, key_type, not_before, not_after,
                                    issuer_ca_id, issuer_inventory_id, source, der, imported_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (fingerprint) DO NOTHING
             RETURNING {}",
            super::rows::INVENTORY_COLUMNS
        ))
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
        .optional(tx.on())
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let record = super::rows::inventory_from_row(&row)?;
        append_audit(tx.on(), self.audit_key(), audit).await?;
        self.commit(tx).await?;
        Ok(Some(record))
    }

    async fn list_inventory(
        &self,
        from: Option<i64>,
        before: Option<i64>,
    ) -> Result<Vec<InventoryRecord>, StoreError> {
        sql_built(format!(
            "SELECT {} FROM inventory
             WHERE ($1 IS NULL OR not_after >= $1) AND ($2 IS NULL OR not_after < $2)
             ORDER BY not_after, id",
            super::rows::INVENTORY_COLUMNS
        ))
        .bind(from)
        .bind(before)
        .all(self.pool.on())
        .await?
        .iter()
        .map(super::rows::inventory_from_row)
        .collect()
    }

    async fn inventory_by_serial(&self, serial: &str) -> Result<Vec<InventoryRecord>, StoreError> {
        sql_built(format!(
            "SELECT {} FROM inventory WHERE serial = $1 ORDER BY id",
            super::rows::INVENTORY_COLUMNS
        ))
        .bind(serial)
        .all(self.pool.on())
        .await?
        .iter()
        .map(super::rows::inventory_from_row)
        .collect()
    }

    async fn link_inventory_issuer(&self, id: i64, issuer: i64) -> Result<(), StoreError> {
        self.write_one(
            sql("UPDATE inventory SET issuer_inventory_id = $1 WHERE id = $2")
                .bind(issuer)
                .bind(id),
        )
        .await?;
        Ok(())
    }

    async fn remove_inventory(
        &self,
        id: i64,
        audit: &AuditEvent,
    ) -> Result<InventoryRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let row = sql_built(format!(
            "DELETE FROM inventory WHERE id = $1 RETURNING {}",
            super::rows::INVENTORY_COLUMNS
        ))
        .bind(id)
        .optional(tx.on())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no inventory certificate with id {id}")))?;
        let record = super::rows::inventory_from_row(&row)?;
        sql("UPDATE inventory SET issuer_inventory_id = NULL WHERE issuer_inventory_id = $1")
            .bind(id)
            .execute(tx.on())
            .await?;
        sql("DELETE FROM notifications WHERE target = $1 AND state = 'pending'")
            .bind(format!("inventory:{id}"))
            .execute(tx.on())
            .await?;
        append_audit(tx.on(), self.audit_key(), audit).await?;
        self.commit(tx).await?;
        Ok(record)
    }

    async fn certificate_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        sql(select_certs!("WHERE c.fingerprint = $1"))
            .bind(fingerprint)
            .optional(self.pool.on())
            .await?
            .as_ref()
            .map(cert_from_row)
            .transpose()
    }
}

impl NotificationStore for AnyStore {
    async fn record_notifications(&self, due: &[NewNotification]) -> Result<usize, StoreError> {
        if due.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.write_tx().await?;
        let mut added = 0;
        for n in due {
            let done = sql(
                "INSERT INTO notifications (target, threshold_days, webhook, state, attempts, next_attempt_at, payload, created_at)
                 VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4)
                 ON CONFLICT (target, threshold_days, webhook) DO NOTHING",
            )
            .bind(&n.target)
            .bind(i64::from(n.threshold_days))
            .bind(&n.webhook)
            .bind(n.created_at)
            .bind(&n.payload)
            .execute(tx.on())
            .await?;
            added += usize::try_from(done.0).unwrap_or(0);
        }
        self.commit(tx).await?;
        Ok(added)
    }

    async fn pending_notifications(&self, now: i64) -> Result<Vec<NotificationRecord>, StoreError> {
        sql(
            "SELECT * FROM notifications WHERE state = 'pending' AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id",
        )
        .bind(now)
        .all(self.pool.on())
        .await?
        .iter()
        .map(super::rows::notification_from_row)
        .collect()
    }

    async fn notification_delivered(&self, id: i64, at: i64) -> Result<(), StoreError> {
        self.write_one(
            sql(
                "UPDATE notifications SET state = 'delivered', attempts = attempts + 1,
                        delivered_at = $1, last_error = NULL WHERE id = $2",
            )
            .bind(at)
            .bind(id),
        )
        .await?;
        Ok(())
    }

    async fn notification_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.write_one(
            sql(
                "UPDATE notifications SET attempts = attempts + 1, last_error = $1,
                    state = CASE WHEN $2 IS NULL THEN 'failed' ELSE 'pending' END,
                    next_attempt_at = COALESCE($2, next_attempt_at)
             WHERE id = $3",
            )
            .bind(error)
            .bind(retry_at)
            .bind(id),
        )
        .await?;
        Ok(())
    }

    async fn list_notifications(&self) -> Result<Vec<NotificationRecord>, StoreError> {
        sql("SELECT * FROM notifications ORDER BY id DESC")
            .all(self.pool.on())
            .await?
            .iter()
            .map(super::rows::notification_from_row)
            .collect()
    }
}

impl QuotaStore for AnyStore {
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
        let mut tx = self.pool.write_tx().await?;
        let (used, oldest): (i64, Option<i64>) =
            sql("SELECT COUNT(*), MIN(reserved_at) FROM token_issuances
             WHERE token_id = $1 AND reserved_at > $2")
            .bind(token_id)
            .bind(since)
            .one_as(tx.on())
            .await?;
        if used >= i64::from(limit) {
            // Slots free up oldest first; with `used - limit + 1` to go, the one
            // that frees this request is the (used - limit + 1)-th oldest.
            let skip = used - i64::from(limit);
            let nth: Option<i64> = sql("SELECT reserved_at FROM token_issuances
                 WHERE token_id = $1 AND reserved_at > $2
                 ORDER BY reserved_at LIMIT 1 OFFSET $3")
            .bind(token_id)
            .bind(since)
            .bind(skip)
            .scalar_opt(tx.on())
            .await?;
            let at = nth.or(oldest).unwrap_or(now);
            return Ok(Err(at.saturating_add(window)));
        }
        let id: i64 =
            sql("INSERT INTO token_issuances (token_id, reserved_at) VALUES ($1, $2) RETURNING id")
                .bind(token_id)
                .bind(now)
                .scalar(tx.on())
                .await?;
        self.commit(tx).await?;
        Ok(Ok(id))
    }

    async fn settle_quota(&self, id: i64, certificate_id: Option<i64>) -> Result<(), StoreError> {
        self.write_one(match certificate_id {
            Some(cert) => sql("UPDATE token_issuances SET certificate_id = $1 WHERE id = $2")
                .bind(cert)
                .bind(id),
            None => sql("DELETE FROM token_issuances WHERE id = $1").bind(id),
        })
        .await?;
        Ok(())
    }

    async fn quota_used(&self, token_id: i64, since: i64) -> Result<u32, StoreError> {
        let n: i64 =
            sql("SELECT COUNT(*) FROM token_issuances WHERE token_id = $1 AND reserved_at > $2")
                .bind(token_id)
                .bind(since)
                .scalar(self.pool.on())
                .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

impl ManagedStore for AnyStore {
    async fn commit_managed(
        &self,
        cert: &NewCertificate,
        issuer_key_id: &str,
        cert_audit: &AuditEvent,
        m: &NewManaged,
        audit: &AuditEvent,
    ) -> Result<(CertificateRecord, ManagedRecord), StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let certificate =
            commit_one(tx.on(), self.audit_key(), cert, issuer_key_id, cert_audit).await?;
        let row = sql(
            "INSERT INTO managed_certificates (certificate_id, key_type, sealed_key, deploy_dir, deploy_hook,
                                               state, attempts, next_attempt_at, updated_at, created_at)
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) RETURNING *",
        )
        .bind(certificate.id)
        .bind(&m.key_type)
        .bind(&m.sealed_key)
        .bind(&m.deploy_dir)
        .bind(&m.deploy_hook)
        .bind(m.created_at)
        .one(tx.on())
        .await?;
        let record = super::rows::managed_from_row(&row)?;
        append_audit(tx.on(), self.audit_key(), audit).await?;
        self.commit(tx).await?;
        Ok((certificate, record))
    }

    async fn set_managed_hook(
        &self,
        id: i64,
        hook: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let changed = sql("UPDATE managed_certificates SET deploy_hook = $1 WHERE id = $2")
            .bind(hook)
            .bind(id)
            .execute(tx.on())
            .await?;
        if changed.0 == 0 {
            return Err(StoreError::NotFound(format!("managed certificate {id}")));
        }
        append_audit(tx.on(), self.audit_key(), audit).await?;
        self.commit(tx).await
    }

    async fn list_managed(&self) -> Result<Vec<ManagedRecord>, StoreError> {
        sql("SELECT * FROM managed_certificates ORDER BY id")
            .all(self.pool.on())
            .await?
            .iter()
            .map(super::rows::managed_from_row)
            .collect()
    }

    async fn managed_attempted(
        &self,
        id: i64,
        error: Option<&str>,
        retry_at: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        self.write_one(
            sql("UPDATE managed_certificates SET
                    state = CASE WHEN $1 IS NULL THEN 'deployed' ELSE 'failed' END,
                    attempts = CASE WHEN $1 IS NULL THEN 0 ELSE attempts + 1 END,
                    last_error = $1, next_attempt_at = $2, updated_at = $3
             WHERE id = $4")
            .bind(error)
            .bind(retry_at)
            .bind(at)
            .bind(id),
        )
        .await?;
        Ok(())
    }
}
