//! The issuance roles of [`AnyStore`]: serials, CAs, certificates, pairs, lifecycle links,
//! API tokens and the audit log. One SQL text each, run on either database.

use super::batch::{append_audit, commit_one, insert_certificates, mark_serials_used};
use super::db::AnyStore;
use super::rows::{ca_from_row, cert_from_row, scheduled_from_tuple, token_from_row};
use super::sql::{sql, On};
use super::{
    AuditStore, CaRecord, CaStore, CertificateFilter, CertificateRecord, CertificateStore,
    IssuerId, LifecycleStore, Lineage, NewCa, NewCertificate, PairMember, PairMode, PairStore,
    Partner, ScheduledRevocation, SerialStore, SigningIntent, SigningRefusal, StoreError,
    Succession, SuccessionKind, TokenStore,
};
use crate::audit::{AuditEvent, AuditRecord};
use crate::issuance::SerialNumber;
use crate::keys::KeyRef;
use crate::revocation::RevocationReason;
use crate::tokens::{NewToken, TokenRecord};

/// `SELECT` of a certificate record (with its issuer's name) — add the `WHERE`.
macro_rules! select_certs {
    ($tail:literal) => {
        concat!(
            "SELECT c.id, c.issuer_ca_id, a.name AS issuer_name, c.serial, c.subject, c.sans, c.profile, c.key_type, c.not_before, c.not_after, c.status, c.fingerprint, c.der, c.created_at, c.crl_partition, c.crl_url, c.revoked_at, c.revocation_reason, c.invalidity_date, c.revocation_seq",
            " FROM certificates c JOIN cas a ON a.id = c.issuer_ca_id ",
            $tail
        )
    };
}
pub(super) use select_certs;

/// The certificate with row id `id`.
pub(super) async fn cert_by_id(on: On<'_>, id: i64) -> Result<CertificateRecord, StoreError> {
    let row = sql(select_certs!("WHERE c.id = $1"))
        .bind(id)
        .optional(on)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no certificate with id {id}")))?;
    cert_from_row(&row)
}

/// The CA with row id `id`.
async fn ca_by_id_on(on: On<'_>, id: IssuerId) -> Result<CaRecord, StoreError> {
    sql("SELECT * FROM cas WHERE id = $1")
        .bind(id.0)
        .optional(on)
        .await?
        .as_ref()
        .map(ca_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no CA with id {id}")))
}

impl SerialStore for AnyStore {
    async fn reserve_serial(
        &self,
        issuer_key_id: &str,
        serial: &SerialNumber,
        at: i64,
    ) -> Result<(), StoreError> {
        super::batch::reserve_serials(self.pool.on(), &[(issuer_key_id, serial.to_hex(), at)]).await
    }

    async fn unused_serials(&self) -> Result<Vec<(String, String)>, StoreError> {
        sql("SELECT issuer_key_id, serial FROM serials WHERE state = 'reserved' ORDER BY reserved_at")
            .all_as(self.pool.on())
            .await
    }
}

impl CaStore for AnyStore {
    async fn create_ca(
        &self,
        ca: &NewCa,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CaRecord, StoreError> {
        let nc = serde_json::to_string(&ca.name_constraints)
            .map_err(|e| StoreError::Corrupt(format!("name constraints: {e}")))?;
        let mut tx = self.pool.write_tx().await?;
        let id: i64 = sql(
            "INSERT INTO cas (name, parent_id, key_type, key_ref, sm2_id, key_id, subject, serial, not_before, not_after, path_len, name_constraints, cert_der, created_at,
                              base_url, crl_lifetime, delta_lifetime, crl_partitions, ocsp_signer, ocsp_lifetime, generation, predecessor_ca_id, allow_leaves)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING id",
        )
        .bind(ca.name.as_str())
        .bind(ca.parent_id.map(|p| p.0))
        .bind(ca.key_type.as_str())
        .bind(ca.key_ref.as_str())
        .bind(ca.sm2_id.as_str())
        .bind(ca.key_id.as_str())
        .bind(ca.subject.as_str())
        .bind(ca.serial.to_hex())
        .bind(ca.not_before)
        .bind(ca.not_after)
        .bind(ca.path_len.map(i64::from))
        .bind(nc)
        .bind(ca.cert_der.as_slice())
        .bind(ca.created_at)
        .bind(&ca.settings.base_url)
        .bind(ca.settings.crl_lifetime)
        .bind(ca.settings.delta_lifetime)
        .bind(i64::from(ca.settings.crl_partitions))
        .bind(ca.settings.ocsp_signer.as_str())
        .bind(ca.settings.ocsp_lifetime)
        .bind(i64::from(ca.generation))
        .bind(ca.predecessor.map(|p| p.0))
        .bind(i64::from(ca.settings.allow_leaves))
        .scalar(tx.on())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a CA named '{}' already exists", ca.name))
            }
            other => other,
        })?;
        mark_serials_used(tx.on(), &[(issuer_key_id, cert.serial.to_hex())]).await?;
        insert_certificates(tx.on(), &[cert], Some(IssuerId(id))).await?;
        append_audit(tx.on(), self.audit_key(), audit).await?;
        let record = ca_by_id_on(tx.on(), IssuerId(id)).await?;
        self.commit(tx).await?;
        Ok(record)
    }

    async fn list_cas(&self) -> Result<Vec<CaRecord>, StoreError> {
        sql("SELECT * FROM cas ORDER BY id")
            .all(self.pool.on())
            .await?
            .iter()
            .map(ca_from_row)
            .collect()
    }

    async fn find_ca(&self, name_or_id: &str) -> Result<CaRecord, StoreError> {
        // A name wins over an id: a CA may be named "2".
        let row = match name_or_id.parse::<i64>() {
            Ok(id) => {
                sql("SELECT * FROM cas WHERE id = $1 OR name = $2 ORDER BY name = $2 DESC LIMIT 1")
                    .bind(id)
                    .bind(name_or_id)
                    .optional(self.pool.on())
                    .await?
            }
            Err(_) => {
                sql("SELECT * FROM cas WHERE name = $1")
                    .bind(name_or_id)
                    .optional(self.pool.on())
                    .await?
            }
        };
        row.as_ref()
            .map(ca_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no CA named '{name_or_id}'")))
    }

    async fn ca_by_id(&self, id: IssuerId) -> Result<CaRecord, StoreError> {
        ca_by_id_on(self.pool.on(), id).await
    }

    async fn key_refs(&self) -> Result<Vec<KeyRef>, StoreError> {
        let refs: Vec<(String,)> =
            sql("SELECT key_ref FROM cas UNION SELECT key_ref FROM ocsp_responders")
                .all_as(self.pool.on())
                .await?;
        Ok(refs.into_iter().map(|(r,)| KeyRef::new(r)).collect())
    }
}

impl CertificateStore for AnyStore {
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
        sql(select_certs!(
            "WHERE ($1 IS NULL OR c.issuer_ca_id = $1)
               AND ($2 IS NULL OR c.status = $2)
               AND ($3 IS NULL OR c.not_after < $3)
               AND ($4 IS NULL OR c.not_after >= $4)
               AND ($5 IS NULL OR c.id > $5)
             ORDER BY c.id LIMIT $6"
        ))
        .bind(filter.issuer.map(|i| i.0))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.not_after_before)
        .bind(filter.not_after_from)
        .bind(filter.after_id)
        .bind(filter.limit.map_or(i64::MAX, i64::from))
        .all(self.pool.on())
        .await?
        .iter()
        .map(cert_from_row)
        .collect()
    }

    async fn certificates_by_serial(
        &self,
        serial: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        sql(select_certs!("WHERE c.serial = $1 ORDER BY c.id"))
            .bind(serial)
            .all(self.pool.on())
            .await?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    async fn certificates_by_serial_part(
        &self,
        digits: &str,
        issuer: Option<IssuerId>,
        limit: u32,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        // Serials are stored as upper-case hex, so LIKE matches them exactly whatever the
        // database's collation. A suffix needs a scan of the table: this is an operator's
        // lookup (the CLI), never on a request path, which takes whole serials only.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let digits = digits.to_ascii_uppercase();
        sql(select_certs!(
            "WHERE (c.serial LIKE $1 OR c.serial LIKE $2) AND ($3 IS NULL OR c.issuer_ca_id = $3) ORDER BY c.id LIMIT $4"
        ))
        .bind(format!("{digits}%"))
        .bind(format!("%{digits}"))
        .bind(issuer.map(|i| i.0))
        .bind(i64::from(limit))
        .all(self.pool.on())
        .await?
        .iter()
        .map(cert_from_row)
        .collect()
    }

    async fn certificate_by_id(&self, id: i64) -> Result<CertificateRecord, StoreError> {
        cert_by_id(self.pool.on(), id).await
    }
}

impl PairStore for AnyStore {
    async fn commit_pair(
        &self,
        mode: PairMode,
        first: PairMember<'_>,
        second: PairMember<'_>,
        escrow: Option<&[u8]>,
    ) -> Result<(CertificateRecord, CertificateRecord), StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let a = commit_one(
            tx.on(),
            self.audit_key(),
            first.cert,
            first.issuer_key_id,
            first.audit,
        )
        .await?;
        let b = commit_one(
            tx.on(),
            self.audit_key(),
            second.cert,
            second.issuer_key_id,
            second.audit,
        )
        .await?;
        let created_at = second.cert.created_at;
        sql("INSERT INTO certificate_pairs (mode, first_id, second_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(mode.as_str())
            .bind(a.id)
            .bind(b.id)
            .bind(created_at)
            .execute(tx.on())
            .await?;
        if let Some(sealed) = escrow {
            sql("INSERT INTO kmc_escrow (certificate_id, sealed, created_at) VALUES ($1, $2, $3)")
                .bind(b.id)
                .bind(sealed)
                .bind(created_at)
                .execute(tx.on())
                .await?;
        }
        self.commit(tx).await?;
        Ok((a, b))
    }

    async fn partner(&self, id: i64) -> Result<Option<Partner>, StoreError> {
        let row: Option<(String, i64, i64)> = sql(
            "SELECT mode, first_id, second_id FROM certificate_pairs WHERE first_id = $1 OR second_id = $1",
        )
        .bind(id)
        .optional_as(self.pool.on())
        .await?;
        let Some((mode, first, second)) = row else {
            return Ok(None);
        };
        let is_first = first == id;
        let other = if is_first { second } else { first };
        Ok(Some(Partner {
            mode: PairMode::parse(&mode)?,
            is_first,
            certificate: cert_by_id(self.pool.on(), other).await?,
        }))
    }

    async fn escrowed_key(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        sql("SELECT sealed FROM kmc_escrow WHERE certificate_id = $1")
            .bind(id)
            .scalar_opt(self.pool.on())
            .await
    }

    async fn escrowed_ids(&self) -> Result<Vec<i64>, StoreError> {
        sql("SELECT certificate_id FROM kmc_escrow ORDER BY certificate_id")
            .all(self.pool.on())
            .await?
            .iter()
            .map(|r| r.get("certificate_id"))
            .collect()
    }

    async fn reseal_escrow(
        &self,
        id: i64,
        was: &[u8],
        sealed: &[u8],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let changed =
            sql("UPDATE kmc_escrow SET sealed = $1 WHERE certificate_id = $2 AND sealed = $3")
                .bind(sealed)
                .bind(id)
                .bind(was)
                .execute(tx.on())
                .await?;
        if changed.0 == 0 {
            return Ok(false);
        }
        append_audit(tx.on(), self.audit_key(), audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }
}

impl LifecycleStore for AnyStore {
    async fn commit_successor(
        &self,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
        succession: &Succession,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let record = commit_one(tx.on(), self.audit_key(), cert, issuer_key_id, audit).await?;
        sql("INSERT INTO certificate_successions (successor_id, predecessor_id, kind, created_at) VALUES ($1, $2, $3, $4)")
            .bind(record.id)
            .bind(succession.predecessor_id)
            .bind(succession.kind.as_str())
            .bind(cert.created_at)
            .execute(tx.on())
            .await?;
        if let Some(due) = succession.revoke_predecessor_at {
            sql(
                "INSERT INTO scheduled_revocations (certificate_id, reason, due_at, requested_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (certificate_id) DO UPDATE SET due_at = CASE WHEN excluded.due_at < scheduled_revocations.due_at THEN excluded.due_at ELSE scheduled_revocations.due_at END",
            )
            .bind(succession.predecessor_id)
            .bind(i64::from(RevocationReason::Superseded.code()))
            .bind(due)
            .bind(cert.created_at)
            .execute(tx.on())
            .await?;
        }
        if let Some((managed_id, sealed_key)) = &succession.managed {
            let changed = sql(
                "UPDATE managed_certificates SET certificate_id = $1, sealed_key = $2, state = 'pending',
                        attempts = 0, next_attempt_at = $3, last_error = NULL, updated_at = $3
                 WHERE id = $4",
            )
            .bind(record.id)
            .bind(sealed_key.as_slice())
            .bind(cert.created_at)
            .bind(*managed_id)
            .execute(tx.on())
            .await?;
            if changed.0 == 0 {
                return Err(StoreError::NotFound(format!(
                    "managed certificate {managed_id}"
                )));
            }
        }
        self.commit(tx).await?;
        Ok(record)
    }

    async fn lineage(&self, id: i64) -> Result<Lineage, StoreError> {
        let on = || self.pool.on();
        let links: Vec<(i64, i64, String)> = sql(
            "SELECT successor_id, predecessor_id, kind FROM certificate_successions
             WHERE successor_id = $1 OR predecessor_id = $1 ORDER BY successor_id",
        )
        .bind(id)
        .all_as(on())
        .await?;
        let mut lineage = Lineage::default();
        for (successor, predecessor, kind) in links {
            let kind = SuccessionKind::parse(&kind)?;
            if successor == id {
                lineage.predecessor = Some((kind, cert_by_id(on(), predecessor).await?));
            } else {
                lineage
                    .successors
                    .push((kind, cert_by_id(on(), successor).await?));
            }
        }
        let scheduled: Option<(i64, i64, i64, i64)> = sql(
            "SELECT certificate_id, reason, due_at, requested_at FROM scheduled_revocations WHERE certificate_id = $1",
        )
        .bind(id)
        .optional_as(on())
        .await?;
        lineage.scheduled_revocation = scheduled.map(scheduled_from_tuple).transpose()?;
        Ok(lineage)
    }

    async fn due_revocations(&self, now: i64) -> Result<Vec<ScheduledRevocation>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64)> = sql(
            "SELECT certificate_id, reason, due_at, requested_at FROM scheduled_revocations
             WHERE due_at <= $1 ORDER BY due_at, certificate_id",
        )
        .bind(now)
        .all_as(self.pool.on())
        .await?;
        rows.into_iter().map(scheduled_from_tuple).collect()
    }

    async fn drop_scheduled_revocation(&self, id: i64) -> Result<(), StoreError> {
        self.write_one(sql("DELETE FROM scheduled_revocations WHERE certificate_id = $1").bind(id))
            .await?;
        Ok(())
    }

    async fn ca_successor(&self, ca: IssuerId) -> Result<Option<CaRecord>, StoreError> {
        sql("SELECT * FROM cas WHERE predecessor_ca_id = $1")
            .bind(ca.0)
            .optional(self.pool.on())
            .await?
            .as_ref()
            .map(ca_from_row)
            .transpose()
    }

    async fn last_expiry(&self, ca: IssuerId) -> Result<Option<i64>, StoreError> {
        sql("SELECT MAX(not_after) FROM certificates WHERE issuer_ca_id = $1")
            .bind(ca.0)
            .scalar(self.pool.on())
            .await
    }

    async fn commit_cross_certificate(
        &self,
        subject_ca: IssuerId,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let record = commit_one(tx.on(), self.audit_key(), cert, issuer_key_id, audit).await?;
        sql("INSERT INTO cross_certificates (certificate_id, subject_ca_id, created_at) VALUES ($1, $2, $3)")
            .bind(record.id)
            .bind(subject_ca.0)
            .bind(cert.created_at)
            .execute(tx.on())
            .await?;
        self.commit(tx).await?;
        Ok(record)
    }

    async fn cross_certificates(
        &self,
        subject_ca: IssuerId,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        sql(select_certs!(
            "JOIN cross_certificates x ON x.certificate_id = c.id WHERE x.subject_ca_id = $1 ORDER BY c.id"
        ))
        .bind(subject_ca.0)
        .all(self.pool.on())
        .await?
        .iter()
        .map(cert_from_row)
        .collect()
    }
}

/// The API token with row id `id`, if any.
async fn token_by_id(on: On<'_>, id: i64) -> Result<Option<TokenRecord>, StoreError> {
    sql("SELECT * FROM api_tokens WHERE id = $1")
        .bind(id)
        .optional(on)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
}

impl TokenStore for AnyStore {
    async fn create_token(
        &self,
        t: &NewToken,
        audit: &AuditEvent,
    ) -> Result<TokenRecord, StoreError> {
        let scopes = serde_json::to_string(&t.scopes)
            .map_err(|e| StoreError::Corrupt(format!("token scopes: {e}")))?;
        let mut tx = self.pool.write_tx().await?;
        let id: i64 = sql(
            "INSERT INTO api_tokens (name, token_hash, scopes, created_at, expires_at, quota_count, quota_window, client_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(t.name.as_str())
        .bind(t.token_hash.as_str())
        .bind(scopes)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.quota.map(|q| i64::from(q.count)))
        .bind(t.quota.map(|q| q.window_secs))
        .bind(t.client_key.as_deref())
        .scalar(tx.on())
        .await?;
        append_audit(tx.on(), self.audit_key(), audit).await?;
        let record = token_by_id(tx.on(), id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("inserted token not found".into()))?;
        self.commit(tx).await?;
        Ok(record)
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        sql("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .optional(self.pool.on())
            .await?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        sql("SELECT * FROM api_tokens ORDER BY id")
            .all(self.pool.on())
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
        let mut tx = self.pool.write_tx().await?;
        let current = token_by_id(tx.on(), id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no API token with id {id}")))?;
        if current.revoked_at.is_some() {
            return Err(StoreError::Conflict(format!(
                "API token {id} is already revoked"
            )));
        }
        sql("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(tx.on())
            .await?;
        append_audit(tx.on(), self.audit_key(), audit).await?;
        let record = token_by_id(tx.on(), id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no API token with id {id}")))?;
        self.commit(tx).await?;
        Ok(record)
    }
}

impl AuditStore for AnyStore {
    async fn audit_head(&self) -> Result<Option<(i64, String, bool)>, StoreError> {
        super::batch::audit_head(self.pool.on()).await
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.write_tx().await?;
        let record = append_audit(tx.on(), self.audit_key(), event).await?;
        self.commit(tx).await?;
        Ok(record)
    }

    async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        sql("SELECT seq, at, action, ca, serial, details, principal, prev_hash, hash, keyed FROM audit ORDER BY seq")
            .all(self.pool.on())
            .await?
            .iter()
            .map(|r| {
                let details: String = r.get("details")?;
                Ok(AuditRecord {
                    seq: r.get("seq")?,
                    event: AuditEvent {
                        at: r.get("at")?,
                        action: r
                            .get::<String>("action")?
                            .parse()
                            .map_err(StoreError::Corrupt)?,
                        ca: r.get("ca")?,
                        serial: r.get("serial")?,
                        details: serde_json::from_str(&details)
                            .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
                        principal: r.get("principal")?,
                    },
                    prev_hash: r.get("prev_hash")?,
                    hash: r.get("hash")?,
                    keyed: r.get::<i64>("keyed")? != 0,
                })
            })
            .collect()
    }
}
