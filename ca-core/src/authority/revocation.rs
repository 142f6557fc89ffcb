//! Revocation and CRLs: the service's side (orchestration over the store and the
//! signers). Encoding lives in [`crate::revocation`]; OCSP is the [`super::Responder`].

use std::str::FromStr;
use std::sync::Arc;

use der::Decode;
use time::OffsetDateTime;

use super::Directory;
use crate::audit::AuditEvent;
use crate::authz::{authorize, Action, Principal, Target};
use crate::hierarchy::Issuer;
use crate::issuance::SerialNumber;
use crate::keys::sign_verified;
use crate::revocation::crl::{assemble_crl_owned, CrlTemplate, EntryList};
use crate::revocation::RevocationReason;
use crate::store::{
    AuditStore, BlockedKey, CaRecord, CaStore, CertificateRecord, CertificateStore, InventoryStore,
    LifecycleStore, NewCrl, PairStore, Revocation, RevocationItem, RevocationStore, StoreError,
};
use crate::time::Clock;
use crate::x509::{fingerprint, spki_sha256};
use crate::{Error, ErrorKind, Result};

/// A revocation request.
#[derive(Clone, Debug)]
pub struct RevokeRequest {
    /// Serial (hex).
    pub serial: String,
    /// The issuing CA, by name or id; when given, it must be the certificate's issuer.
    pub ca: Option<String>,
    /// Why.
    pub reason: RevocationReason,
    /// invalidityDate (Unix seconds): between the certificate's notBefore and now.
    pub invalidity_date: Option<i64>,
    /// Who asks: authorized ([`crate::authz::authorize`]) for each certificate revoked,
    /// and named in the audit entry.
    pub principal: Principal,
}

/// What CRL(s) to sign.
#[derive(Clone, Debug)]
pub struct CrlRequest {
    /// The CA, by name or id.
    pub ca: String,
    /// A delta CRL against the newest full CRL of each scope.
    pub delta: bool,
    /// Only this partition (all partitions of the CA otherwise).
    pub partition: Option<u32>,
}

/// A signed CRL.
#[derive(Clone, Debug)]
pub struct SignedCrl {
    /// DER.
    pub der: Vec<u8>,
    /// cRLNumber.
    pub number: u64,
    /// Partition (None: the CA's unpartitioned CRL).
    pub partition: Option<u32>,
    /// For deltas, the base CRL number.
    pub base_number: Option<u64>,
    /// Number of entries.
    pub entries: usize,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// Where it is published (the IDP URL), when the CA has a base URL.
    pub url: Option<String>,
    /// The file name a publisher would use for it (the last segment of its URL).
    pub file_name: String,
    /// What was wrong with stored data and mended in the CRL (clamped invalidity dates).
    pub warnings: Vec<String>,
}

/// A CRL as published: its bytes and the times HTTP caching is derived from.
#[derive(Clone, Debug)]
pub struct PublishedCrl {
    /// DER.
    pub der: Vec<u8>,
    /// cRLNumber.
    pub number: u64,
    /// thisUpdate (Unix seconds).
    pub this_update: i64,
    /// nextUpdate (Unix seconds).
    pub next_update: i64,
}

impl PublishedCrl {
    fn from_signed(c: SignedCrl) -> Self {
        PublishedCrl {
            der: c.der,
            number: c.number,
            this_update: c.this_update,
            next_update: c.next_update,
        }
    }
    fn from_record(c: crate::store::CrlRecord) -> Self {
        PublishedCrl {
            der: c.crl.der,
            number: c.crl.number,
            this_update: c.crl.this_update,
            next_update: c.crl.next_update,
        }
    }
}

/// The CRL last signed for a scope, as [`Revocations::stored_crl`] reads it.
#[derive(Clone, Debug)]
pub struct StoredCrl {
    /// The CA's name (as stored, whatever name or id the caller used).
    pub ca: String,
    /// The CRL, while it is still valid (before its nextUpdate); None when there is none.
    pub crl: Option<PublishedCrl>,
    /// Whether a new one is due ([`Revocations::published_crl`] would sign it).
    pub due: bool,
    /// Whether the CA is a root kept offline here ([`Directory::keep_roots_offline`]):
    /// nothing here can sign its CRL; its operator publishes it.
    pub offline: bool,
}

/// Whether a stored CRL can be served at `now`: it has its bytes and has not reached its
/// nextUpdate.
fn servable(c: &crate::store::CrlRecord, now: i64) -> bool {
    !c.crl.der.is_empty() && now < c.crl.next_update
}

/// Whether delta CRL `d` is based on the full CRL `full` (the one published for its scope).
fn delta_on(d: &crate::store::CrlRecord, full: &Option<crate::store::CrlRecord>) -> bool {
    full.as_ref()
        .is_some_and(|f| d.crl.base_number == Some(f.crl.number))
}

/// Whether the stored CRL `c` of a scope must be re-signed at `now`: there is none, it is
/// within a quarter of its lifetime of nextUpdate (so none is ever served past it), or
/// revocations up to `current_seq` happened at least `revocation_delay` seconds ago that it
/// does not reflect.
fn needs_signing(
    c: &Option<crate::store::CrlRecord>,
    now: i64,
    current_seq: i64,
    revocation_delay: i64,
) -> bool {
    match c {
        None => true,
        Some(c) => {
            c.crl.der.is_empty()
                || now >= c.crl.next_update - (c.crl.next_update - c.crl.this_update) / 4
                || (current_seq > c.crl.revocation_seq
                    && now - c.crl.this_update >= revocation_delay)
        }
    }
}

/// What revoking one certificate writes.
struct RevocationPlan {
    revocation: Revocation,
    block: Option<BlockedKey>,
    audit: AuditEvent,
}

fn unix(secs: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| Error::Encoding(format!("time out of range: {e}")))
}

fn file_name(url: Option<&str>, ca: &str, partition: Option<u32>, delta: bool) -> String {
    if let Some(name) = url.and_then(|u| u.rsplit('/').next()) {
        return name.to_owned();
    }
    let mut n = ca.replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
        "_",
    );
    if let Some(p) = partition {
        n.push_str(&format!("-p{p}"));
    }
    if delta {
        n.push_str("-delta");
    }
    n.push_str(".crl");
    n
}

/// The revocation service: revokes (and releases holds), signs CRLs (full, delta,
/// partitioned) and serves the published ones. It takes the store's revocation,
/// certificate, pair, CA, lifecycle, inventory and audit roles, and signs CRLs with CA keys
/// from the [`Directory`].
pub struct Revocations<S> {
    store: S,
    directory: Arc<Directory<S>>,
    clock: Arc<dyn Clock>,
    /// Serialises on-demand CRL signing so concurrent requests sign once.
    crl_lock: tokio::sync::Mutex<()>,
}

impl<S> std::fmt::Debug for Revocations<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl<
        S: RevocationStore
            + CertificateStore
            + PairStore
            + CaStore
            + LifecycleStore
            + InventoryStore
            + AuditStore,
    > Revocations<S>
{
    /// The service over `store`, signing with keys of CAs in `directory`, with time from
    /// `clock`.
    pub(crate) fn new(store: S, directory: Arc<Directory<S>>, clock: Arc<dyn Clock>) -> Self {
        Revocations {
            store,
            directory,
            clock,
            crl_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Finds the certificate with the whole serial `serial`, checking that `ca` (when given)
    /// issued it ([`Directory::certificate_exact`]: front ends resolve parts of serials
    /// first); an imported certificate is named as such.
    async fn certificate_for(&self, serial: &str, ca: Option<&str>) -> Result<CertificateRecord> {
        match self.directory.certificate_exact(serial, ca).await {
            Err(Error::Store(StoreError::NotFound(m))) if ca.is_none() => {
                // An imported certificate is tracked, not owned: say so instead of "not found".
                if let Ok(parsed) = SerialNumber::from_str(serial) {
                    let hex = parsed.to_hex();
                    for candidate in [hex.clone(), format!("00{hex}")] {
                        if let Some(r) = self.store.inventory_by_serial(&candidate).await?.first() {
                            return Err(Error::Invalid(format!(
                                "{parsed} is an imported certificate ({}, issued by {}): caforge did not issue it and cannot revoke it; ask its issuer",
                                r.subject, r.issuer
                            )));
                        }
                    }
                }
                Err(StoreError::NotFound(m).into())
            }
            other => other,
        }
    }

    /// Revokes a certificate.
    ///
    /// Steps: 1. find the certificate, checking the named CA issued it; 2. check the
    /// invalidity date; 3. for keyCompromise, compute the key to block; 4. record the
    /// revocation, the blocked key, the dropped pre-signed OCSP responses and the audit
    /// entry in one transaction. The next CRL lists it; OCSP answers "revoked" at once.
    ///
    /// # Errors
    /// Unknown serial, a CA that did not issue it, an already revoked certificate (a hold
    /// may be made final), an invalidity date in the future or before the certificate's
    /// notBefore.
    pub async fn revoke(&self, req: &RevokeRequest) -> Result<CertificateRecord> {
        // 1.
        let cert = self.certificate_for(&req.serial, req.ca.as_deref()).await?;
        let plan = self.revocation_plan(&cert, req).await?;
        Ok(self
            .store
            .revoke(cert.id, &plan.revocation, plan.block.as_ref(), &plan.audit)
            .await?)
    }

    /// Revokes a certificate and its pair partner (dual certificates) in one transaction,
    /// with the same reason: both or neither. Returns both records, the named one first.
    ///
    /// # Errors
    /// As [`Revocations::revoke`] for either certificate; a certificate without a partner.
    pub async fn revoke_pair(&self, req: &RevokeRequest) -> Result<Vec<CertificateRecord>> {
        let cert = self.certificate_for(&req.serial, req.ca.as_deref()).await?;
        let partner = self
            .store
            .partner(cert.id)
            .await?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "certificate {} was not issued as part of a pair; revoke it alone",
                    cert.serial
                ))
            })?
            .certificate;
        let plans = [
            self.revocation_plan(&cert, req).await?,
            self.revocation_plan(&partner, req).await?,
        ];
        let items: Vec<RevocationItem<'_>> = [&cert, &partner]
            .iter()
            .zip(&plans)
            .map(|(c, p)| RevocationItem {
                cert_id: c.id,
                revocation: &p.revocation,
                block: p.block.as_ref(),
                audit: &p.audit,
            })
            .collect();
        Ok(self.store.revoke_together(&items).await?)
    }

    /// Steps 1–4 of [`Revocations::revoke`] for `cert`: refusals, the key to block and the
    /// audit entry.
    async fn revocation_plan(
        &self,
        cert: &CertificateRecord,
        req: &RevokeRequest,
    ) -> Result<RevocationPlan> {
        authorize(&req.principal, Action::Revoke, &Target::stored(cert)?)?;
        let issuer = self.store.ca_by_id(cert.issuer_ca_id).await?;
        if issuer.parent_id.is_none() && issuer.serial == cert.serial {
            return Err(Error::Invalid(format!(
                "'{}' is a self-signed root: no CRL can revoke it; remove it from relying parties' trust stores instead",
                issuer.name
            )));
        }
        let now = self.clock.now().unix_timestamp();
        // 2.
        if let Some(t) = req.invalidity_date {
            if t > now {
                return Err(Error::Invalid(
                    "the invalidity date cannot be in the future".into(),
                ));
            }
            if t < cert.not_before {
                return Err(Error::Invalid(format!(
                    "the invalidity date is before the certificate's notBefore ({}): a key cannot be compromised before it was certified",
                    crate::notify::rfc3339(cert.not_before)
                )));
            }
        }
        // 3.
        let block = if req.reason == RevocationReason::KeyCompromise {
            let parsed = x509_cert::Certificate::from_der(&cert.der)?;
            Some(BlockedKey {
                spki_sha256: spki_sha256(parsed.tbs_certificate().subject_public_key_info())?,
                serial: cert.serial.to_hex(),
                ca: cert.issuer_ca_id,
            })
        } else {
            None
        };
        // 4.
        let audit = AuditEvent {
            at: now,
            action: crate::audit::AuditAction::CertRevoked,
            ca: Some(cert.issuer_name.clone()),
            serial: Some(cert.serial.to_hex()),
            details: serde_json::json!({
                "reason": req.reason.as_str(),
                "invalidity_date": req.invalidity_date,
                "key_blocked": block.is_some(),
                "was": cert.revocation_reason.map(|r| r.as_str()),
            }),
            principal: Some(req.principal.audit_name()),
        };
        Ok(RevocationPlan {
            revocation: Revocation {
                reason: req.reason,
                revoked_at: now,
                invalidity_date: req.invalidity_date,
            },
            block,
            audit,
        })
    }

    /// Lifts a certificateHold: the certificate is valid again, the next delta CRL lists it
    /// as removeFromCRL and OCSP answers "good".
    ///
    /// # Errors
    /// Unknown serial, or a certificate that is not on hold.
    pub async fn unrevoke(&self, serial: &str, ca: Option<&str>) -> Result<CertificateRecord> {
        let cert = self.certificate_for(serial, ca).await?;
        let now = self.clock.now().unix_timestamp();
        let audit = AuditEvent {
            at: now,
            action: crate::audit::AuditAction::CertHoldReleased,
            ca: Some(cert.issuer_name.clone()),
            serial: Some(cert.serial.to_hex()),
            details: serde_json::json!({}),
            principal: Some(self.directory.acting().audit_name()),
        };
        Ok(self.store.release_hold(cert.id, now, &audit).await?)
    }

    /// Signs the CRL of every partition of a CA (or of one), full or delta.
    ///
    /// Steps, per scope: 1. allocate the CRL number (committed first, so it is never
    /// reused); 2. read the revoked entries (or, for a delta, the changes since the base)
    /// in one snapshot; 3. build and check the TBSCertList; 4. audit "signing", sign and
    /// verify; 5. record
    /// the CRL with its audit entry.
    ///
    /// # Errors
    /// Unknown CA or partition, a delta without a base CRL, key or store failures.
    pub async fn crl(&self, req: &CrlRequest) -> Result<Vec<SignedCrl>> {
        let record = self.store.find_ca(&req.ca).await?;
        let mut scopes = self.crl_scopes(&record).await?;
        if let Some(p) = req.partition {
            if !scopes.contains(&Some(p)) {
                return Err(Error::Invalid(format!(
                    "CA '{}' has no CRL partition {p} (it has {})",
                    record.name, record.settings.crl_partitions
                )));
            }
            scopes = vec![Some(p)];
        }
        let _generation = self.store.lock_crl_generation(record.id).await?;
        let issuer = self.directory.load_issuer(record).await?;
        let mut out = Vec::with_capacity(scopes.len());
        for scope in scopes {
            out.push(self.sign_crl(&issuer, scope, req.delta).await?);
        }
        Ok(out)
    }

    /// The newest full CRL of each of `record`'s scopes: (partition, thisUpdate,
    /// nextUpdate), or `None` where none was ever signed. For health checks: a CRL past its
    /// nextUpdate is one relying parties no longer accept.
    ///
    /// # Errors
    /// Store failures.
    pub async fn crl_ages(
        &self,
        record: &CaRecord,
    ) -> Result<Vec<(Option<u32>, Option<(i64, i64)>)>> {
        let mut out = Vec::new();
        for partition in self.crl_scopes(record).await? {
            let latest = self.store.latest_crl(record.id, partition, false).await?;
            out.push((
                partition,
                latest.map(|c| (c.crl.this_update, c.crl.next_update)),
            ));
        }
        Ok(out)
    }

    /// The CRL scopes of a CA: its configured partitions (or its one CRL) and any partition
    /// that certificates were assigned under earlier settings.
    ///
    /// # Errors
    /// Store errors.
    pub async fn crl_scopes(&self, record: &CaRecord) -> Result<Vec<Option<u32>>> {
        let mut scopes: Vec<Option<u32>> = if record.settings.crl_partitions > 1 {
            (0..record.settings.crl_partitions).map(Some).collect()
        } else {
            vec![None]
        };
        for p in self.store.partitions_in_use(record.id).await? {
            if !scopes.contains(&p) {
                scopes.push(p);
            }
        }
        Ok(scopes)
    }

    async fn sign_crl(
        &self,
        issuer: &Issuer,
        partition: Option<u32>,
        delta: bool,
    ) -> Result<SignedCrl> {
        let ca = &issuer.record;
        let now = self.clock.now().unix_timestamp();
        let base =
            if delta {
                Some(
                    self.store
                        .latest_crl(ca.id, partition, false)
                        .await?
                        .ok_or_else(|| {
                            Error::Invalid(format!(
                            "CA '{}' has no full CRL{} to base a delta on; sign a full CRL first",
                            ca.name,
                            partition.map(|p| format!(" for partition {p}")).unwrap_or_default(),
                        ))
                        })?,
                )
            } else {
                None
            };
        // 1.
        let number = self.store.allocate_crl_number(ca.id).await?;
        // 2. Streamed from the store straight into their encoding, in serial order.
        let mut entries = EntryList::default();
        let mut refused = None;
        // Invalidity dates stored before they were range-checked (pre-1970, or after the
        // revocation) would make the CRL unencodable: each is clamped into [1970, revocation].
        let mut clamped = 0usize;
        let snapshot_seq = self
            .store
            .revoked_certificates(
                ca.id,
                partition,
                base.as_ref().map(|b| b.crl.revocation_seq),
                now,
                &mut |r| {
                    let mut serial = [0u8; 32];
                    let pushed = serial
                        .get_mut(..r.serial.len() / 2)
                        .ok_or_else(|| format!("stored serial {} is too long", r.serial))
                        .and_then(|out| {
                            hex::decode_to_slice(&r.serial, out)
                                .map_err(|e| format!("stored serial {}: {e}", r.serial))
                                .map(|()| &*out)
                        })
                        .and_then(|serial| {
                            let invalidity = r.invalidity_date.map(|t| {
                                let fixed = t.clamp(0, r.at.max(0));
                                clamped += usize::from(fixed != t);
                                fixed
                            });
                            entries.push_parts(serial, r.at, Some(r.reason_code), invalidity)
                        });
                    pushed.map_err(|m| {
                        refused = Some(m);
                        StoreError::Corrupt("CRL entry refused".into())
                    })
                },
            )
            .await;
        if let Some(message) = refused {
            return Err(Error::Lint(crate::lint::LintFailure {
                lint: "crl",
                message,
            }));
        }
        let snapshot_seq = snapshot_seq?;
        let entry_count = entries.len();
        // 3.
        let lifetime = if delta {
            ca.settings.delta_lifetime
        } else {
            ca.settings.crl_lifetime
        };
        let next_update = now.saturating_add(lifetime);
        let url = ca.settings.crl_url(&ca.name, partition, false);
        let template = CrlTemplate {
            issuer: issuer.subject.clone(),
            signature_algorithm: issuer.key_type.signature_algorithm(),
            this_update: unix(now)?,
            next_update: unix(next_update)?,
            number,
            authority_key_id: issuer.key_id()?,
            delta_base: base.as_ref().map(|b| b.crl.number),
            idp_url: url.clone(),
            freshest_url: ca.settings.crl_url(&ca.name, partition, true),
            entries: &entries,
        };
        template.lint().map_err(|m| {
            Error::Lint(crate::lint::LintFailure {
                lint: "crl",
                message: m,
            })
        })?;
        let frame = template.tbs_frame()?;
        drop(template);
        let tbs = entries.into_tbs_der(frame)?;
        // 4.
        self.store
            .append_audit(&AuditEvent {
                at: now,
                action: crate::audit::AuditAction::CrlSigning,
                ca: Some(ca.name.clone()),
                serial: None,
                details: serde_json::json!({"number": number, "partition": partition, "delta": delta}),
                principal: Some(self.directory.acting().audit_name()),
            })
            .await?;
        let (tbs, signature) = sign_verified(issuer.signer.clone(), tbs).await?;
        let der = assemble_crl_owned(tbs, issuer.key_type.signature_algorithm(), &signature)?;
        // 5.
        let published_url = if delta {
            ca.settings.crl_url(&ca.name, partition, true)
        } else {
            url
        };
        let crl = NewCrl {
            ca: ca.id,
            number,
            partition,
            base_number: base.as_ref().map(|b| b.crl.number),
            revocation_seq: snapshot_seq,
            this_update: now,
            next_update,
            entries: entry_count as u64,
            der,
        };
        let audit = AuditEvent {
            at: now,
            action: if delta {
                crate::audit::AuditAction::CrlDeltaIssued
            } else {
                crate::audit::AuditAction::CrlIssued
            },
            ca: Some(ca.name.clone()),
            serial: None,
            details: serde_json::json!({
                "number": number,
                "partition": partition,
                "base": crl.base_number,
                "entries": crl.entries,
                "fingerprint": fingerprint(&crl.der),
                "clamped_invalidity_dates": clamped,
            }),
            principal: Some(self.directory.acting().audit_name()),
        };
        let base_number = crl.base_number;
        let recorded = self.store.record_crl(crl, &audit).await?;
        Ok(SignedCrl {
            file_name: file_name(published_url.as_deref(), &ca.name, partition, delta),
            der: recorded.crl.der,
            number,
            partition,
            base_number,
            entries: entry_count,
            this_update: now,
            next_update,
            url: published_url,
            warnings: if clamped > 0 {
                vec![format!(
                    "{clamped} stored invalidity dates lay outside [1970, their revocation] and were clamped into it"
                )]
            } else {
                vec![]
            },
        })
    }

    /// CA `ca`, checking it has the CRL scope `partition`: one of its configured partitions,
    /// one certificates were assigned under earlier settings, or its one CRL (None).
    async fn crl_scope(&self, ca: &str, partition: Option<u32>) -> Result<CaRecord> {
        let record = self.store.find_ca(ca).await?;
        let known = record.settings.crl_partitions > 1
            && partition.is_some_and(|p| p < record.settings.crl_partitions)
            || partition.is_none()
            || self
                .store
                .partitions_in_use(record.id)
                .await?
                .contains(&partition);
        if !known {
            return Err(StoreError::NotFound(format!(
                "CA '{}' has no CRL partition {}",
                record.name,
                partition.unwrap_or_default()
            ))
            .into());
        }
        Ok(record)
    }

    /// The CRL last signed for one scope of CA `ca`, read only (no lock, nothing signed),
    /// and whether [`Revocations::published_crl`] would sign a new one now: what a server
    /// answers a CRL fetch with, leaving the signing to a background task.
    ///
    /// # Errors
    /// Unknown CA or partition, store failures.
    pub async fn stored_crl(
        &self,
        ca: &str,
        partition: Option<u32>,
        delta: bool,
        revocation_delay: i64,
    ) -> Result<StoredCrl> {
        let record = self.crl_scope(ca, partition).await?;
        let now = self.clock.now().unix_timestamp();
        let current_seq = self.store.revocation_seq(record.id).await?;
        let full = self.store.latest_crl(record.id, partition, false).await?;
        let mut due = needs_signing(&full, now, current_seq, revocation_delay);
        let latest = if delta {
            let d = self.store.latest_crl(record.id, partition, true).await?;
            due = due || needs_signing(&d, now, current_seq, revocation_delay);
            // A delta is only served on top of the full CRL now published.
            d.filter(|d| delta_on(d, &full))
        } else {
            full
        };
        let crl = latest
            .filter(|c| servable(c, now))
            .map(PublishedCrl::from_record);
        Ok(StoredCrl {
            offline: self.directory.is_offline(&record),
            ca: record.name,
            due: due || crl.is_none(),
            crl,
        })
    }

    /// The CRL to publish for one scope of CA `ca` (partition, full or delta), signing a
    /// new one first when none exists, when the newest is within a quarter of its lifetime
    /// of nextUpdate (so none is ever served past it), when a delta's base was superseded,
    /// or when revocations happened at least `revocation_delay` seconds ago that it does
    /// not reflect. Concurrent callers in one process sign at most once.
    ///
    /// # Errors
    /// Unknown CA or partition, key or store failures.
    pub async fn published_crl(
        &self,
        ca: &str,
        partition: Option<u32>,
        delta: bool,
        revocation_delay: i64,
    ) -> Result<PublishedCrl> {
        let record = self.crl_scope(ca, partition).await?;
        let _guard = self.crl_lock.lock().await;
        // Across replicas too: whoever waited finds the CRL the holder just stored.
        let _generation = self.store.lock_crl_generation(record.id).await?;
        let now = self.clock.now().unix_timestamp();
        let current_seq = self.store.revocation_seq(record.id).await?;
        let mut issuer = None;
        let full = self.store.latest_crl(record.id, partition, false).await?;
        let full_needs = |c: &Option<crate::store::CrlRecord>| {
            needs_signing(c, now, current_seq, revocation_delay)
        };
        let full_number = if full_needs(&full) {
            let fresh = async {
                let i = self.directory.load_issuer(record.clone()).await?;
                let signed = self.sign_crl(&i, partition, false).await?;
                Ok::<_, Error>((i, signed))
            }
            .await;
            let (i, signed) = match fresh {
                Ok(x) => x,
                // The key device is unavailable: the CRL already published stays valid until
                // its nextUpdate, so relying parties keep getting it.
                Err(e) if e.kind() == ErrorKind::Unavailable => {
                    let fallback = if delta {
                        let d = self.store.latest_crl(record.id, partition, true).await?;
                        d.filter(|d| servable(d, now) && delta_on(d, &full))
                    } else {
                        full.filter(|f| servable(f, now))
                    };
                    return fallback.map(PublishedCrl::from_record).ok_or(e);
                }
                Err(e) => return Err(e),
            };
            issuer = Some(i);
            if !delta {
                return Ok(PublishedCrl::from_signed(signed));
            }
            signed.number
        } else {
            let c = full.ok_or_else(|| Error::Invalid("no full CRL".into()))?;
            if !delta {
                return Ok(PublishedCrl::from_record(c));
            }
            c.crl.number
        };
        let latest_delta = self.store.latest_crl(record.id, partition, true).await?;
        let delta_ok = latest_delta.as_ref().is_some_and(|d| {
            d.crl.base_number == Some(full_number) && !full_needs(&Some(d.clone()))
        });
        if let (true, Some(d)) = (delta_ok, latest_delta) {
            return Ok(PublishedCrl::from_record(d));
        }
        let i = match issuer {
            Some(i) => i,
            None => self.directory.load_issuer(record).await?,
        };
        Ok(PublishedCrl::from_signed(
            self.sign_crl(&i, partition, true).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use der::asn1::GeneralizedTime;

    use super::*;
    use crate::authority::test_support::{ca, client_leaf, memory_services, MemoryKeys};
    use crate::authority::CrlRequest;

    #[tokio::test]
    async fn invalidity_dates_are_checked_on_entry_and_clamped_when_stored_bad() {
        let a = memory_services(Arc::new(MemoryKeys::default())).await;
        a.lifecycle.create_root(&ca("root")).await.expect("root");
        a.lifecycle
            .create_intermediate("root", &ca("int"))
            .await
            .expect("int");
        let leaf = client_leaf(&a, "int", 30).await;
        let serial = leaf.record.serial.to_hex();
        let revoke = |invalidity_date| RevokeRequest {
            serial: serial.clone(),
            ca: None,
            reason: RevocationReason::KeyCompromise,
            invalidity_date,
            principal: crate::authz::Principal::Operator("test".into()),
        };
        // Before 1970, before the certificate existed, in the future: refused, nothing
        // changes.
        for bad in [-86_400, leaf.record.not_before - 1, a.now() + 3_600] {
            let err = a
                .revocations
                .revoke(&revoke(Some(bad)))
                .await
                .expect_err("bad date");
            assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
            assert!(err.to_string().contains("invalidity date"), "{err}");
            let cert = a.directory.certificate(&serial, None).await.expect("cert");
            assert!(!cert.is_revoked());
        }
        a.revocations
            .revoke(&revoke(Some(leaf.record.not_before)))
            .await
            .expect("revoke");
        // A date stored before the check existed does not stop the CA's CRLs: it is
        // clamped to 1970, with a warning.
        a.store().overwrite_invalidity_date(&serial, -86_400).await;
        let crls = a
            .revocations
            .crl(&CrlRequest {
                ca: "int".into(),
                delta: false,
                partition: None,
            })
            .await
            .expect("crl");
        assert_eq!(crls[0].entries, 1);
        assert_eq!(crls[0].warnings.len(), 1, "{:?}", crls[0].warnings);
        let list = x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(
            &crls[0].der,
        )
        .expect("parse");
        let entry = &list.tbs_cert_list.revoked_certificates.expect("entries")[0];
        let ext = entry
            .crl_entry_extensions
            .as_ref()
            .and_then(|e| {
                e.iter()
                    .find(|x| x.extn_id == const_oid::db::rfc5280::ID_CE_INVALIDITY_DATE)
            })
            .expect("invalidity date");
        let at = GeneralizedTime::from_der(ext.extn_value.as_bytes()).expect("time");
        assert_eq!(at.to_unix_duration().as_secs(), 0);
    }
}
