//! The inventory of certificates caforge did not issue, and expiry notifications over
//! everything caforge knows (issued and imported).

use crate::authz::Principal;
use der::{Decode, Encode};
use x509_cert::Certificate;

use std::sync::Arc;

use crate::algorithm::DEFAULT_SM2_ID;
use crate::audit::AuditEvent;
use crate::inventory::{certificates_in, ExternalCertificate, ImportError};
use crate::keys::verify_signature;
use crate::notify::{reached_thresholds, NotifySettings};
use crate::store::{
    CaRecord, CaStore, CertificateFilter, CertificateStore, InventoryRecord, InventoryStore,
    IssuerId, NewInventoryCert, NewNotification, NotificationRecord, NotificationStore,
};
use crate::time::Clock;
use crate::{Error, Result};

/// What became of one certificate of an imported file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    /// Added to the inventory.
    Added {
        /// Its inventory id.
        id: i64,
        /// The caforge CA that signed it, when one did.
        issuer_ca: Option<String>,
    },
    /// Already in the inventory.
    Duplicate {
        /// Its inventory id.
        id: Option<i64>,
    },
    /// caforge issued it: it is tracked as an issued certificate already.
    IssuedHere {
        /// Its serial.
        serial: String,
    },
}

/// One certificate of an imported file and what became of it.
#[derive(Clone, Debug)]
pub struct ImportedCertificate {
    /// Hex SHA-256 of the DER.
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// notAfter.
    pub not_after: i64,
    /// The outcome.
    pub outcome: Imported,
}

/// Whether `issuer`'s key signed `cert` (checked, not assumed from names).
fn signed_by(
    cert: &Certificate,
    issuer_spki: &spki::SubjectPublicKeyInfoOwned,
    sm2_id: &str,
) -> bool {
    let Ok(tbs) = cert.tbs_certificate().to_der() else {
        return false;
    };
    let Some(signature) = cert.signature().as_bytes() else {
        return false;
    };
    verify_signature(
        issuer_spki,
        cert.signature_algorithm().oid,
        &tbs,
        signature,
        sm2_id,
    )
    .is_ok()
}

fn spki_of(der: &[u8]) -> Option<spki::SubjectPublicKeyInfoOwned> {
    Certificate::from_der(der)
        .ok()
        .map(|c| c.tbs_certificate().subject_public_key_info().clone())
}

/// The inventory (certificates caforge did not issue, imported to be watched) and expiry
/// notifications for them and for issued certificates: a service of its own over the
/// inventory, notification, CA and certificate roles of the store, with no keys.
pub struct Inventory<S> {
    store: S,
    clock: Arc<dyn Clock>,
    acting: Principal,
}

impl<S> std::fmt::Debug for Inventory<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory").finish_non_exhaustive()
    }
}

impl<S: InventoryStore + NotificationStore + CaStore + CertificateStore> Inventory<S> {
    /// The service over `store`, with time from `clock`, recording its actions as
    /// `acting`'s.
    pub fn new(store: S, clock: Arc<dyn Clock>, acting: Principal) -> Self {
        Inventory {
            store,
            clock,
            acting,
        }
    }

    /// Adds the certificates in `bytes` (PEM bundle or DER), read from `source`, to the
    /// inventory: duplicates (by SHA-256 fingerprint) and certificates caforge issued are
    /// reported and skipped; a caforge CA that signed one is linked (its signature checked),
    /// and so is an imported CA certificate.
    ///
    /// # Errors
    /// [`ImportError`] (as [`Error::Invalid`]) when the bytes hold no usable certificate;
    /// nothing is added then. Store failures.
    pub async fn import_inventory(
        &self,
        source: &str,
        bytes: &[u8],
    ) -> Result<Vec<ImportedCertificate>> {
        let certs =
            certificates_in(bytes).map_err(|e: ImportError| Error::Invalid(e.to_string()))?;
        let cas = self.store.list_cas().await?;
        let now = self.clock.now().unix_timestamp();
        let mut out = Vec::with_capacity(certs.len());
        for cert in certs {
            let outcome = self.import_one(&cert, source, &cas, now).await?;
            out.push(ImportedCertificate {
                fingerprint: cert.fingerprint,
                subject: cert.subject,
                not_after: cert.not_after,
                outcome,
            });
        }
        self.link_inventory_issuers().await?;
        Ok(out)
    }

    async fn import_one(
        &self,
        cert: &ExternalCertificate,
        source: &str,
        cas: &[CaRecord],
        now: i64,
    ) -> Result<Imported> {
        if let Some(issued) = self
            .store
            .certificate_by_fingerprint(&cert.fingerprint)
            .await?
        {
            return Ok(Imported::IssuedHere {
                serial: issued.serial.to_hex(),
            });
        }
        let parsed = Certificate::from_der(&cert.der)?;
        let issuer_ca = cas.iter().find(|ca| {
            let key_matches = cert
                .authority_key_id
                .as_deref()
                .map_or(ca.subject == cert.issuer, |kid| kid == ca.key_id);
            key_matches
                && spki_of(&ca.cert_der).is_some_and(|spki| signed_by(&parsed, &spki, &ca.sm2_id))
        });
        let new = NewInventoryCert {
            fingerprint: cert.fingerprint.clone(),
            subject: cert.subject.clone(),
            issuer: cert.issuer.clone(),
            serial: cert.serial.clone(),
            sans: cert.sans.clone(),
            key_type: cert.key_type.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            issuer_ca_id: issuer_ca.map(|c| c.id),
            issuer_inventory_id: None,
            source: source.to_owned(),
            der: cert.der.clone(),
            imported_at: now,
        };
        let audit = AuditEvent {
            at: now,
            action: crate::audit::AuditAction::InventoryImported,
            ca: issuer_ca.map(|c| c.name.clone()),
            serial: Some(cert.serial.clone()),
            details: serde_json::json!({
                "fingerprint": cert.fingerprint,
                "subject": cert.subject,
                "source": source,
            }),
            principal: Some(self.acting.audit_name()),
        };
        Ok(match self.store.add_inventory(&new, &audit).await? {
            Some(record) => Imported::Added {
                id: record.id,
                issuer_ca: issuer_ca.map(|c| c.name.clone()),
            },
            None => Imported::Duplicate {
                id: self
                    .store
                    .list_inventory(None, None)
                    .await?
                    .into_iter()
                    .find(|r| r.fingerprint == cert.fingerprint)
                    .map(|r| r.id),
            },
        })
    }

    /// Links inventory certificates to the imported CA certificates that signed them
    /// (subject matches issuer, signature verifies), whichever was imported first.
    async fn link_inventory_issuers(&self) -> Result<()> {
        let all = self.store.list_inventory(None, None).await?;
        for row in all.iter().filter(|r| {
            r.issuer_ca_id.is_none() && r.issuer_inventory_id.is_none() && r.issuer != r.subject
        }) {
            let Ok(cert) = Certificate::from_der(&row.der) else {
                continue;
            };
            let found = all.iter().find(|candidate| {
                candidate.id != row.id
                    && candidate.subject == row.issuer
                    && spki_of(&candidate.der)
                        .is_some_and(|spki| signed_by(&cert, &spki, DEFAULT_SM2_ID))
            });
            if let Some(issuer) = found {
                self.store.link_inventory_issuer(row.id, issuer.id).await?;
            }
        }
        Ok(())
    }

    /// Inventory certificates, optionally only those with notAfter in `[from, before)`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn inventory(
        &self,
        from: Option<i64>,
        before: Option<i64>,
    ) -> Result<Vec<InventoryRecord>> {
        Ok(self.store.list_inventory(from, before).await?)
    }

    /// Removes inventory certificate `id_or_fingerprint` (its id, or a unique prefix of its
    /// SHA-256 fingerprint of at least 8 hex digits).
    ///
    /// # Errors
    /// NotFound, or an ambiguous fingerprint prefix.
    pub async fn remove_inventory(&self, id_or_fingerprint: &str) -> Result<InventoryRecord> {
        let id = match id_or_fingerprint.parse::<i64>() {
            Ok(id) if id_or_fingerprint.len() < 8 => id,
            _ => {
                let needle = id_or_fingerprint.to_ascii_lowercase();
                if needle.len() < 8 || !needle.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(Error::Invalid(format!(
                        "'{id_or_fingerprint}' is neither an inventory id nor a fingerprint prefix of 8 or more hex digits"
                    )));
                }
                let matches: Vec<InventoryRecord> = self
                    .store
                    .list_inventory(None, None)
                    .await?
                    .into_iter()
                    .filter(|r| r.fingerprint.starts_with(&needle))
                    .collect();
                match matches.as_slice() {
                    [one] => one.id,
                    [] => {
                        return Err(crate::store::StoreError::NotFound(format!(
                            "no inventory certificate with fingerprint {needle}…"
                        ))
                        .into())
                    }
                    _ => {
                        return Err(Error::Invalid(format!(
                            "fingerprint prefix {needle} matches {} certificates; give more digits",
                            matches.len()
                        )))
                    }
                }
            }
        };
        let audit = AuditEvent {
            at: self.clock.now().unix_timestamp(),
            action: crate::audit::AuditAction::InventoryRemoved,
            ca: None,
            serial: None,
            details: serde_json::json!({ "id": id }),
            principal: Some(self.acting.audit_name()),
        };
        Ok(self.store.remove_inventory(id, &audit).await?)
    }

    /// Records the expiry notifications that became due (per certificate, threshold and
    /// webhook, once) and returns how many are new. Issued certificates that are revoked or
    /// expired owe nothing.
    ///
    /// # Errors
    /// Store failures.
    pub async fn plan_notifications(&self, settings: &NotifySettings) -> Result<usize> {
        if settings.webhooks.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now().unix_timestamp();
        let until = now
            .saturating_add(settings.horizon_secs())
            .saturating_add(1);
        let mut due = Vec::new();
        let mut add = |target: String,
                       not_after: i64,
                       known_since: i64,
                       imported: bool,
                       body: serde_json::Value| {
            for days in reached_thresholds(
                &settings.thresholds_days,
                not_after,
                known_since,
                now,
                imported,
            ) {
                let mut payload = body.clone();
                payload["event"] = "certificate.expiring".into();
                payload["threshold_days"] = days.into();
                payload["days_left"] = ((not_after - now) / 86_400).into();
                payload["not_after"] = crate::notify::rfc3339(not_after).into();
                payload["id"] = format!("{target}/{days}d").into();
                for webhook in &settings.webhooks {
                    due.push(NewNotification {
                        target: target.clone(),
                        threshold_days: days,
                        webhook: webhook.clone(),
                        payload: payload.to_string(),
                        created_at: now,
                    });
                }
            }
        };
        let issued = self
            .store
            .list_certificates(&CertificateFilter {
                status: Some(crate::store::CertificateStatus::Valid),
                not_after_from: Some(now),
                not_after_before: Some(until),
                ..CertificateFilter::default()
            })
            .await?;
        for c in issued {
            add(
                format!("cert:{}", c.id),
                c.not_after,
                c.created_at,
                false,
                serde_json::json!({
                    "source": "issued",
                    "serial": c.serial,
                    "issuer": c.issuer_name,
                    "subject": c.subject,
                    "sans": c.sans.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "profile": c.profile,
                    "fingerprint_sha256": c.fingerprint,
                }),
            );
        }
        for r in self.store.list_inventory(Some(now), Some(until)).await? {
            add(
                format!("inventory:{}", r.id),
                r.not_after,
                r.imported_at,
                true,
                serde_json::json!({
                    "source": "inventory",
                    "imported_from": r.source,
                    "serial": r.serial,
                    "issuer": r.issuer,
                    "subject": r.subject,
                    "sans": r.sans.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "fingerprint_sha256": r.fingerprint,
                }),
            );
        }
        Ok(self.store.record_notifications(&due).await?)
    }

    /// Notifications whose next delivery attempt is due.
    ///
    /// # Errors
    /// Store failures.
    pub async fn due_notifications(&self) -> Result<Vec<NotificationRecord>> {
        let now = self.clock.now().unix_timestamp();
        Ok(self.store.pending_notifications(now).await?)
    }

    /// Records the outcome of one delivery attempt of `n`: delivered, or failed with
    /// `error` (retried with backoff per `settings`, or given up). Returns whether it was
    /// given up.
    ///
    /// # Errors
    /// Store failures.
    pub async fn notification_attempted(
        &self,
        settings: &NotifySettings,
        n: &NotificationRecord,
        error: Option<&str>,
    ) -> Result<bool> {
        let now = self.clock.now().unix_timestamp();
        match error {
            None => {
                self.store.notification_delivered(n.id, now).await?;
                Ok(false)
            }
            Some(e) => {
                let retry = settings.retry_at(now, n.attempts.saturating_add(1));
                self.store.notification_failed(n.id, e, retry).await?;
                Ok(retry.is_none())
            }
        }
    }

    /// Every notification, newest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn notifications(&self) -> Result<Vec<NotificationRecord>> {
        Ok(self.store.list_notifications().await?)
    }

    /// The CA with id `id`, if it exists (for listings of linked issuers).
    ///
    /// # Errors
    /// Store failures other than NotFound.
    pub async fn ca_name(&self, id: IssuerId) -> Result<Option<String>> {
        match self.store.ca_by_id(id).await {
            Ok(ca) => Ok(Some(ca.name)),
            Err(crate::store::StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
