//! The lifecycle service: CA creation (with its delegated OCSP responder) and publication
//! settings, and what happens after issuance: renewal, rekeying and re-issuance with links
//! between predecessor and successor, revocations scheduled after a grace period,
//! intermediate rollover (CA generations), cross-signing and the certification paths it
//! creates. Managed certificates and leftovers are in `managed.rs` and `leftovers.rs`.

use std::sync::Arc;

use der::Decode;
use x509_cert::Certificate;

use super::{
    publication, CreatedCa, Directory, Issuance, IssueRequest, Issued, LeafOverrides, NewCaRequest,
    Responder, Revocations, RevokeRequest, SubjectKey,
};
use crate::algorithm::KeyType;
use crate::audit::AuditEvent;
use crate::certpolicy::CaPolicies;
use crate::issuance::pipeline::{self, Draft, Issuing};
use crate::issuance::{self, CertificateTemplate, SerialNumber};
use crate::keys::{store_of, Signer as _, SoftwareKey};
use crate::lint::CertificateKind;
use crate::policy;
use crate::profile::CertificateProfile;
use crate::revocation::RevocationReason;
use crate::revocation::{CaSettings, OcspSigner};
use crate::store::{
    AuditStore, CaRecord, CaStore, CertificateRecord, CertificateStore, HealthStore,
    InventoryStore, IssuerId, LifecycleStore, Lineage, ManagedStore, OcspStore, PairStore,
    RevocationStore, SerialStore, StoreError, Succession, SuccessionKind,
};
use crate::time::Clock;
use crate::x509::spki_sha256;
use crate::{Error, Result};

/// A renewal, rekey or re-issuance of a certificate caforge issued.
#[derive(Clone, Debug, Default)]
pub struct RenewRequest {
    /// The predecessor's serial (hex).
    pub serial: String,
    /// The predecessor's issuer, when the serial is ambiguous.
    pub ca: Option<String>,
    /// A CSR with a new key (rekey); the predecessor's key is kept when absent.
    pub csr: Option<Vec<u8>>,
    /// Rekey with a key caforge generates (returned in [`Issued::generated_key`]).
    pub generate_key: Option<KeyType>,
    /// New SANs (re-issuance); the predecessor's are kept when empty.
    pub sans: Vec<String>,
    /// A new subject DN (re-issuance).
    pub subject: Option<String>,
    /// Validity in days (the profile's default when absent).
    pub days: Option<u32>,
    /// Revoke the predecessor as superseded this many seconds after the successor is
    /// issued (0: at once); the predecessor stays valid when absent.
    pub revoke_old_after: Option<i64>,
}

/// The lifecycle state of a CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaState {
    /// Issues certificates.
    Active,
    /// Replaced by a successor; still publishes CRLs and answers OCSP for what it issued.
    Retiring,
    /// Replaced, and everything it issued has expired.
    Retired,
    /// Its own certificate expired without a successor.
    Expired,
    /// Its own certificate was revoked.
    Revoked,
}

impl CaState {
    /// The state's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CaState::Active => "active",
            CaState::Retiring => "retiring",
            CaState::Retired => "retired",
            CaState::Expired => "expired",
            CaState::Revoked => "revoked",
        }
    }
}

/// A rollover: a successor for an intermediate CA, with a new key under the same parent.
#[derive(Clone, Debug, Default)]
pub struct RolloverRequest {
    /// The CA to replace, by name or id.
    pub ca: String,
    /// The successor's key type (the predecessor's when absent).
    pub key_type: Option<KeyType>,
    /// The successor's name (`<name>-g<generation>` when absent).
    pub name: Option<String>,
    /// Validity in days (the intermediate default, clipped to the parent).
    pub days: Option<u32>,
    /// Where the new key is generated (the predecessor's key store when absent).
    pub key_store: Option<String>,
}

/// A cross certificate that was issued.
#[derive(Debug)]
pub struct CrossSigned {
    /// The stored certificate (under its issuer).
    pub record: CertificateRecord,
    /// Its DER.
    pub der: Vec<u8>,
    /// Warnings (validity clipped).
    pub warnings: Vec<String>,
}

/// One certificate of a certification path.
#[derive(Clone, Debug)]
pub struct PathElement {
    /// The certificate.
    pub der: Vec<u8>,
    /// Its subject (RFC 4514).
    pub subject: String,
    /// The CA that issued it (itself for a self-signed root).
    pub issuer_name: String,
    /// Whether this is a cross certificate.
    pub cross: bool,
}

/// The store as a health check sees it ([`Lifecycle::store_health`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreHealth {
    /// Why a write failed, when it did.
    pub write_error: Option<String>,
    /// Whether the failure was the database refusing writes as such (a read-only file or
    /// server), not a passing fault.
    pub read_only: bool,
    /// Free bytes beside a SQLite database file (`None` for PostgreSQL).
    pub disk_free: Option<u64>,
}

/// What one pass of scheduled work did ([`Lifecycle::run_due_revocations`]).
#[derive(Clone, Debug, Default)]
pub struct DueRevocations {
    /// Certificates revoked, by serial.
    pub revoked: Vec<String>,
    /// Scheduled revocations dropped because the certificate was already revoked.
    pub moot: usize,
}

fn unix(t: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The CA and certificate lifecycle service: creates CAs (with their delegated OCSP
/// responder), configures their publication, rolls intermediates over, cross-signs,
/// renews certificates and carries out scheduled revocations, keeps managed certificates
/// current, and does the maintenance that checks the audit log and finds leftovers. It
/// composes the issuance, revocation and responder services and takes the store's
/// lifecycle, CA, certificate, serial, audit and managed roles itself.
pub struct Lifecycle<S> {
    pub(super) store: S,
    pub(super) directory: Arc<Directory<S>>,
    pub(super) issuance: Arc<Issuance<S>>,
    revocations: Arc<Revocations<S>>,
    responder: Arc<Responder<S>>,
    pub(super) clock: Arc<dyn Clock>,
    /// The deployment hooks the configuration allows.
    pub(super) hooks: crate::config::Hooks,
}

impl<S> std::fmt::Debug for Lifecycle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle").finish_non_exhaustive()
    }
}

/// The store roles [`Lifecycle`] takes: those of the services it composes, plus serials
/// (leftovers), the audit log and managed certificates; not tokens, quotas or
/// notifications.
pub trait LifecycleRoles:
    SerialStore
    + CaStore
    + CertificateStore
    + PairStore
    + RevocationStore
    + OcspStore
    + AuditStore
    + LifecycleStore
    + InventoryStore
    + ManagedStore
    + HealthStore
{
}

impl<
        T: SerialStore
            + CaStore
            + CertificateStore
            + PairStore
            + RevocationStore
            + OcspStore
            + AuditStore
            + LifecycleStore
            + InventoryStore
            + ManagedStore
            + HealthStore,
    > LifecycleRoles for T
{
}

impl<S: LifecycleRoles> Lifecycle<S> {
    /// The service over `store`, composing `issuance`, `revocations` and `responder`
    /// (all over CAs in `directory`), with time from `clock` and the deployment `hooks`
    /// the configuration allows.
    pub(crate) fn new(
        store: S,
        directory: Arc<Directory<S>>,
        issuance: Arc<Issuance<S>>,
        revocations: Arc<Revocations<S>>,
        responder: Arc<Responder<S>>,
        clock: Arc<dyn Clock>,
        hooks: crate::config::Hooks,
    ) -> Self {
        Lifecycle {
            store,
            directory,
            issuance,
            revocations,
            responder,
            clock,
            hooks,
        }
    }

    /// "Now" by the service's clock (Unix seconds).
    #[must_use]
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Checks the audit log: its chain (keyed entries under `key`, the legacy segment
    /// first) and, given `checkpoints`, that every checkpointed head is still there.
    /// Returns what it found, or the first bad entry.
    ///
    /// # Errors
    /// Store failures, an unreadable or altered checkpoint file (a broken log is the inner
    /// error).
    pub async fn verify_audit(
        &self,
        key: Option<&crate::audit::AuditKey>,
        checkpoints: Option<&crate::audit::Checkpoints>,
    ) -> Result<std::result::Result<crate::audit::AuditReport, crate::audit::AuditBroken>> {
        let log = self.store.audit_log().await?;
        let chain = match crate::audit::verify_chain(&log, key) {
            Ok(chain) => chain,
            Err(broken) => return Ok(Err(broken)),
        };
        let checkpoints = match checkpoints {
            Some(c) => match c.verify(&log)? {
                Ok(report) => Some(report),
                Err(broken) => return Ok(Err(broken)),
            },
            None => None,
        };
        Ok(Ok(crate::audit::AuditReport { chain, checkpoints }))
    }

    /// Whether the store takes writes now (a write that changes nothing) and the free
    /// space beside a SQLite database file.
    pub async fn store_health(&self) -> StoreHealth {
        let write = self.store.probe_write().await;
        StoreHealth {
            read_only: matches!(write, Err(crate::store::StoreError::ReadOnly(_))),
            write_error: write.err().map(|e| e.to_string()),
            disk_free: self.store.disk_free(),
        }
    }

    /// Records the audit log's head in `checkpoints` (unless the newest checkpoint has it
    /// already); returns whether it wrote one.
    ///
    /// # Errors
    /// Store failures; the checkpoint file cannot be written.
    pub async fn checkpoint_audit(&self, checkpoints: &crate::audit::Checkpoints) -> Result<bool> {
        crate::audit::checkpoint_head(&self.store, checkpoints, self.now()).await
    }

    /// The audit log's entries, in order (for reading; [`Lifecycle::verify_audit`] checks
    /// them).
    ///
    /// # Errors
    /// Store failures.
    pub async fn audit_entries(&self) -> Result<Vec<crate::audit::AuditRecord>> {
        Ok(self.store.audit_log().await?)
    }

    /// Creates a self-signed root CA.
    ///
    /// Steps: 1. validate the request; 2. generate the key in its custodian; 3. draft the
    /// certificate; 4.–5. the issuance pipeline (`issuance::pipeline`): lint its DER, reserve the
    /// serial, check the parent and audit "signing" in one durable write, sign and verify;
    /// 6. commit CA, certificate and audit entry in one transaction.
    ///
    /// # Errors
    /// Invalid names, key or store failures. The key is removed again if a later step fails.
    pub async fn create_root(&self, req: &NewCaRequest) -> Result<CreatedCa> {
        let created = self.issuance.create_ca(req, None, None).await?;
        Ok(self.with_responder(created).await)
    }

    /// Creates an intermediate CA signed by `parent`.
    ///
    /// # Errors
    /// As [`Lifecycle::create_root`], plus path length violations and parent key problems.
    pub async fn create_intermediate(&self, parent: &str, req: &NewCaRequest) -> Result<CreatedCa> {
        let parent = self
            .directory
            .active_generation(self.store.find_ca(parent).await?)
            .await?;
        let issuer = self.directory.load_issuer(parent).await?;
        let created = self.issuance.create_ca(req, Some(issuer), None).await?;
        Ok(self.with_responder(created).await)
    }

    /// `created` after issuing its delegated OCSP responder when it signs OCSP that way;
    /// when that fails the CA stands and maintenance issues the responder later.
    async fn with_responder(&self, mut created: CreatedCa) -> CreatedCa {
        if let Err(e) = self.responder.ensure_responder(&created.record).await {
            created.warnings.push(format!(
                "CA '{}' has no delegated OCSP responder yet ({e}); maintenance issues one",
                created.record.name
            ));
        }
        created
    }
    /// Changes how CA `ca` publishes revocation. Certificates already issued keep the CRL
    /// DP they carry and the partition they were assigned; their CRLs keep being produced.
    ///
    /// # Errors
    /// Invalid settings; changing or removing a base URL that issued certificates already
    /// point at (their CRL DP would then name a CRL that no longer exists).
    pub async fn configure_ca(&self, ca: &str, settings: CaSettings) -> Result<CaRecord> {
        settings.validate().map_err(Error::Invalid)?;
        let record = self.store.find_ca(ca).await?;
        if record.settings.base_url.is_some() && record.settings.base_url != settings.base_url {
            let pointing = self
                .store
                .list_certificates(&crate::store::CertificateFilter {
                    issuer: Some(record.id),
                    ..Default::default()
                })
                .await?
                .iter()
                .filter(|c| c.crl_url.is_some() && c.issuer_ca_id == record.id)
                .count();
            if pointing > 0 {
                return Err(StoreError::Conflict(format!(
                    "{pointing} certificates of CA '{}' carry CRL distribution points under {}; changing the base URL would strand them (issue under a new CA instead)",
                    record.name,
                    record.settings.base_url.as_deref().unwrap_or_default()
                ))
                .into());
            }
        }
        let audit = AuditEvent {
            at: self.clock.now().unix_timestamp(),
            action: crate::audit::AuditAction::CaConfigured,
            ca: Some(record.name.clone()),
            serial: None,
            details: serde_json::to_value(&settings).map_err(|e| Error::Encoding(e.to_string()))?,
            principal: Some(self.directory.acting().audit_name()),
        };
        // An operator switching to delegated signing gets the responder now, not on the
        // first request; if it cannot be issued, the settings stay as they were. (A CA
        // already delegating keeps its responder, which maintenance replaces.)
        if record.settings.ocsp_signer != OcspSigner::Delegated
            && settings.ocsp_signer == OcspSigner::Delegated
        {
            let pending = CaRecord {
                settings: settings.clone(),
                ..record.clone()
            };
            self.responder.ensure_responder(&pending).await?;
        }
        let updated = self
            .store
            .update_ca_settings(record.id, &settings, &audit)
            .await?;
        // This process issues under the new settings at once (others within
        // ISSUING_CA_REUSE).
        self.directory.forget_issuing_cas()?;
        Ok(updated)
    }

    /// Renews, rekeys or re-issues a certificate.
    ///
    /// Steps: 1. find the predecessor and refuse what cannot be renewed (CA certificates,
    /// a key reported compromised when the key is kept); 2. pick the active generation of
    /// its issuer; 3. issue the successor through the issuance pipeline with the
    /// predecessor's exact subject name, SANs, profile and (unless a CSR brings a new one)
    /// key; 4. commit it linked to the predecessor, scheduling the predecessor's revocation
    /// as superseded when asked; 5. carry out that revocation now when there is no grace
    /// period.
    ///
    /// # Errors
    /// As [`Issuance::issue`]; Rejected for CA certificates and compromised keys.
    pub async fn renew(&self, req: &RenewRequest) -> Result<Issued> {
        self.renew_with(req, None, None).await
    }

    /// [`Lifecycle::renew`], rekeying to `new_key` when given (managed certificates seal
    /// their next key before anything is issued).
    pub(super) async fn renew_with(
        &self,
        req: &RenewRequest,
        new_key: Option<SoftwareKey>,
        managed: Option<(i64, Vec<u8>)>,
    ) -> Result<Issued> {
        // 1.
        let old = self
            .directory
            .certificate(&req.serial, req.ca.as_deref())
            .await?;
        let CertificateProfile::Leaf(profile) = old.profile else {
            return Err(Error::NotRenewable {
                serial: old.serial.to_hex(),
                profile: old.profile.as_str(),
            });
        };
        let old_cert = Certificate::from_der(&old.der)?;
        let old_spki = old_cert.tbs_certificate().subject_public_key_info().clone();
        let rekey = req.csr.is_some() || req.generate_key.is_some() || new_key.is_some();
        if !rekey {
            let compromised = old.revocation_reason == Some(RevocationReason::KeyCompromise)
                || self.store.is_key_blocked(&spki_sha256(&old_spki)?).await?;
            if compromised {
                return Err(Error::Invalid(format!(
                    "the key of {} was reported compromised: renewing it with the same key is refused; rekey with a new key",
                    old.serial
                )));
            }
        }
        if let Some(grace) = req.revoke_old_after {
            if grace < 0 {
                return Err(Error::Invalid("the grace period cannot be negative".into()));
            }
        }
        let kind = if !req.sans.is_empty() || req.subject.is_some() {
            SuccessionKind::Reissue
        } else if rekey {
            SuccessionKind::Rekey
        } else {
            SuccessionKind::Renew
        };

        // 2.
        let issuer_record = self.store.ca_by_id(old.issuer_ca_id).await?;
        let ca = self
            .directory
            .issuing_ca(&issuer_record.id.to_string())
            .await?;
        let (issuer, chain_records) = (&ca.issuer, &ca.chain);

        // 3.
        let sans = if req.sans.is_empty() {
            old.sans.iter().map(ToString::to_string).collect()
        } else {
            req.sans.clone()
        };
        let issue = IssueRequest {
            principal: self.directory.acting().clone(),
            ca: issuer.record.name.clone(),
            key: match (&req.csr, req.generate_key) {
                (Some(csr), _) => SubjectKey::Csr(csr.clone()),
                (None, Some(kt)) => SubjectKey::Generate(kt),
                // Placeholder: the overrides below supply the predecessor's key.
                (None, None) => SubjectKey::Csr(Vec::new()),
            },
            subject: req.subject.clone(),
            sans,
            profile,
            days: req.days,
        };
        let overrides = LeafOverrides {
            key_usage: None,
            existing_key: match &new_key {
                Some(key) => Some(key.public_key_info().clone()),
                None => (!rekey).then_some(old_spki),
            },
            subject: req
                .subject
                .is_none()
                .then(|| old_cert.tbs_certificate().subject().clone()),
        };
        let mut leaf = self.issuance.prepare_leaf(&ca, &issue, overrides).await?;
        if let Some(from) = &ca.rolled_from {
            leaf.warnings.push(format!(
                "CA '{from}' was rolled over: the successor is issued by '{}'",
                issuer.record.name
            ));
        }
        let now = leaf.draft.at;
        leaf.draft.signed.1["predecessor"] = old.serial.to_hex().into();
        leaf.draft.signed.1["succession"] = kind.as_str().into();
        let signed =
            pipeline::prepare_and_sign(&self.store, Issuing::by(issuer)?, leaf.draft).await?;
        let der = signed.cert.der.clone();

        // 4.
        let succession = Succession {
            predecessor_id: old.id,
            kind,
            revoke_predecessor_at: req.revoke_old_after.map(|grace| now.saturating_add(grace)),
            managed,
        };
        let record = self
            .store
            .commit_successor(
                &signed.cert,
                &signed.issuer_key_id,
                &signed.audit,
                &succession,
            )
            .await
            .map(pipeline::committed)?;

        // 5.
        if req.revoke_old_after == Some(0) {
            self.run_due_revocations().await?;
        }
        Ok(Issued {
            record,
            der,
            chain: chain_records.iter().map(|c| c.cert_der.clone()).collect(),
            generated_key: new_key.or(leaf.generated_key),
            warnings: leaf.warnings,
        })
    }

    /// Carries out scheduled revocations that are due (superseded predecessors whose grace
    /// period ended). Run by `caforge maintain`, by `caforge serve` on a schedule and
    /// before CRLs are signed.
    ///
    /// # Errors
    /// Store failures; a failed revocation stays scheduled for the next pass.
    pub async fn run_due_revocations(&self) -> Result<DueRevocations> {
        let now = self.clock.now().unix_timestamp();
        let mut done = DueRevocations::default();
        for due in self.store.due_revocations(now).await? {
            let cert = self.store.certificate_by_id(due.certificate_id).await?;
            if cert.is_revoked() {
                done.moot += 1;
            } else {
                self.revocations
                    .revoke(&RevokeRequest {
                        principal: self.directory.acting().clone(),
                        serial: cert.serial.to_hex(),
                        ca: Some(cert.issuer_ca_id.to_string()),
                        reason: due.reason,
                        invalidity_date: None,
                    })
                    .await?;
                done.revoked.push(cert.serial.to_hex());
            }
            self.store
                .drop_scheduled_revocation(due.certificate_id)
                .await?;
        }
        Ok(done)
    }

    /// The lifecycle state of `ca` now.
    ///
    /// # Errors
    /// Store failures.
    pub async fn ca_state(&self, ca: &CaRecord) -> Result<CaState> {
        let now = self.clock.now().unix_timestamp();
        if self.directory.ca_certificate(ca).await?.is_revoked() {
            return Ok(CaState::Revoked);
        }
        if self.store.ca_successor(ca.id).await?.is_some() {
            let last = self.store.last_expiry(ca.id).await?.unwrap_or(i64::MIN);
            return Ok(if last >= now && ca.not_after >= now {
                CaState::Retiring
            } else {
                CaState::Retired
            });
        }
        Ok(if ca.not_after < now {
            CaState::Expired
        } else {
            CaState::Active
        })
    }

    /// Replaces intermediate `req.ca` with a successor: a new key under the same parent,
    /// the same subject name, constraints and publication settings, and the next
    /// generation number. From then on issuance asked of the old CA (or of its name) is done
    /// by the successor, while the old CA keeps publishing CRLs and answering OCSP for the
    /// certificates it issued.
    ///
    /// # Errors
    /// Roots (roll a root over by creating a new root and cross-signing), a CA that was
    /// already rolled over, and everything [`Lifecycle::create_intermediate`] refuses.
    pub async fn rollover(&self, req: &RolloverRequest) -> Result<CreatedCa> {
        let old = self.store.find_ca(&req.ca).await?;
        let Some(parent_id) = old.parent_id else {
            return Err(Error::Invalid(format!(
                "'{}' is a root: create a new root and have '{}' cross-sign it (old clients keep trusting the old root)",
                old.name, old.name
            )));
        };
        if let Some(next) = self.store.ca_successor(old.id).await? {
            return Err(Error::Store(crate::store::StoreError::Conflict(format!(
                "CA '{}' was already rolled over to '{}'",
                old.name, next.name
            ))));
        }
        let generation = old.generation.saturating_add(1);
        let base = old
            .name
            .strip_suffix(&format!("-g{}", old.generation))
            .unwrap_or(&old.name);
        let key_type = match req.key_type {
            Some(kt) => kt,
            None => old.key_type,
        };
        let new = NewCaRequest {
            name: req
                .name
                .clone()
                .unwrap_or_else(|| format!("{base}-g{generation}")),
            subject: Some(old.subject.clone()),
            key_type,
            days: req.days,
            path_len: old.path_len,
            sm2_id: Some(old.sm2_id.clone()),
            // As they are: rules for new constraints (the BR exclusions) do not change
            // what an existing CA's successor may certify.
            name_constraints: old.name_constraints.clone(),
            policies: CaPolicies::of_certificate(&old.cert_der)?,
            settings: old.settings.clone(),
            key_store: Some(
                req.key_store
                    .clone()
                    .unwrap_or_else(|| store_of(&old.key_ref)),
            ),
        };
        let parent = self.store.ca_by_id(parent_id).await?;
        let parent = self.directory.active_generation(parent).await?;
        let issuer = self.directory.load_issuer(parent).await?;
        let created = self
            .issuance
            .create_ca(&new, Some(issuer), Some((generation, old.id)))
            .await?;
        let mut created = self.with_responder(created).await;
        // Issuance asked of the old name must move to the successor at once.
        self.directory.forget_issuing_cas()?;
        created.warnings.push(format!(
            "CA '{}' is now retiring: it issues no more, and keeps publishing CRLs and OCSP until its last certificate expires",
            old.name
        ));
        Ok(created)
    }

    /// Issues a cross certificate: CA `ca`'s subject name and key, certified by CA `by`.
    /// Relying parties that trust `by` (an old root) then reach `ca` (a new root, or an
    /// intermediate) through it. Validity ends with the earlier of the two CAs.
    ///
    /// Steps: 1. refuse loops, expired issuers and path-length violations; 2. pick the
    /// serial; 3. draft the certificate; 4. the issuance pipeline: lint, reserve under `by`
    /// (refused if `by` is revoked), audit, sign, verify; 5. commit the certificate under
    /// `by`, recorded as a cross certificate of `ca`.
    ///
    /// # Errors
    /// Rejected for the cases above; key and store failures.
    pub async fn cross_sign(&self, ca: &str, by: &str, days: Option<u32>) -> Result<CrossSigned> {
        // 1.
        let subject_ca = self.store.find_ca(ca).await?;
        let by_ca = self.store.find_ca(by).await?;
        let by_chain = self.directory.chain_records(&by_ca).await?;
        if by_chain.iter().any(|c| c.id == subject_ca.id) {
            return Err(Error::Invalid(format!(
                "CA '{}' cannot be cross-signed by '{}', which it certifies (a path loop)",
                subject_ca.name, by_ca.name
            )));
        }
        let issuer = self.directory.load_issuer(by_ca.clone()).await?;
        let path_len = match (by_ca.path_len, subject_ca.path_len) {
            (Some(0), _) => {
                return Err(Error::Invalid(format!(
                    "CA '{}' has pathLenConstraint 0 and cannot certify another CA",
                    by_ca.name
                )))
            }
            (Some(limit), Some(own)) => Some(own.min(limit - 1)),
            (Some(limit), None) => Some(limit - 1),
            (None, own) => own,
        };
        let now = self.clock.now();
        let remaining_days = (subject_ca.not_after - now.unix_timestamp()).max(0) / 86_400 + 1;
        let want = days.unwrap_or_else(|| {
            u32::try_from(remaining_days)
                .unwrap_or(u32::MAX)
                .min(policy::MAX_CA_DAYS)
        });
        let mut plan =
            policy::ca_validity(want, now, Some((issuer.not_before(), issuer.not_after())))?;
        let mut warnings = Vec::new();
        if plan.not_after > unix(subject_ca.not_after) {
            plan.not_after = unix(subject_ca.not_after);
        }
        if plan.clipped_to_issuer {
            warnings.push(format!(
                "validity clipped to '{}' (expires {})",
                by_ca.name, plan.not_after
            ));
        }
        let subject_cert = Certificate::from_der(&subject_ca.cert_der)?;
        let tbs = subject_cert.tbs_certificate();

        // 2.
        let serial = SerialNumber::random()
            .map_err(|_| Error::Internal("random generator failed".into()))?;

        // 3.
        let key_id = hex::decode(&subject_ca.key_id)
            .map_err(|e| Error::Encoding(format!("stored key id: {e}")))?;
        let mut extensions = vec![
            issuance::basic_constraints(true, path_len)?,
            issuance::ca_key_usage()?,
            issuance::subject_key_identifier(&key_id)?,
            issuance::authority_key_identifier(&issuer.key_id()?)?,
        ];
        if !subject_ca.name_constraints.is_empty() {
            extensions.push(issuance::name_constraints(&subject_ca.name_constraints)?);
        }
        // The cross certificate states the policies its subject's own certificate states.
        extensions.extend(crate::certpolicy::policy_extensions_of(
            tbs.extensions().map_or(&[][..], Vec::as_slice),
        ));
        let published = publication(&by_ca, &serial)?;
        extensions.extend(published.extensions);
        let at = now.unix_timestamp();
        let details = serde_json::json!({"subject_ca": subject_ca.name});
        let draft = Draft {
            kind: CertificateKind::Intermediate,
            audit_ca: by_ca.name.clone(),
            principal: self.directory.acting().audit_name(),
            signing: (crate::audit::AuditAction::CaCrossSigning, details.clone()),
            signed: (crate::audit::AuditAction::CaCrossSigned, details),
            template: CertificateTemplate {
                serial,
                issuer: issuer.subject.clone(),
                subject: tbs.subject().clone(),
                not_before: plan.not_before,
                not_after: plan.not_after,
                spki: tbs.subject_public_key_info().clone(),
                extensions,
                signature_algorithm: issuer.key_type.signature_algorithm(),
            },
            subject_text: subject_ca.subject.clone(),
            issuer_ca_id: Some(by_ca.id),
            sans: vec![],
            profile: CertificateProfile::Ca,
            key_type: subject_ca.key_type.into(),
            crl_partition: published.partition,
            crl_url: published.crl_url,
            at,
        };

        // 4.
        let signed = pipeline::prepare_and_sign(&self.store, Issuing::by(&issuer)?, draft).await?;
        let der = signed.cert.der.clone();

        // 5.
        let record = self
            .store
            .commit_cross_certificate(
                subject_ca.id,
                &signed.cert,
                &signed.issuer_key_id,
                &signed.audit,
            )
            .await
            .map(pipeline::committed)?;
        Ok(CrossSigned {
            record,
            der,
            warnings,
        })
    }

    /// The renewal history of `cert`: predecessor, successors, scheduled revocation.
    ///
    /// # Errors
    /// Store failures.
    pub async fn lineage(&self, cert: &CertificateRecord) -> Result<Lineage> {
        Ok(self.store.lineage(cert.id).await?)
    }

    /// The cross certificates issued for `ca`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn cross_certificates(&self, ca: &CaRecord) -> Result<Vec<CertificateRecord>> {
        Ok(self.store.cross_certificates(ca.id).await?)
    }

    /// Every certification path from `cert` to a self-signed root, through CA certificates
    /// and cross certificates that are neither revoked nor expired. Each path lists the
    /// issuers, the certificate's own issuer first and a root last; the first path is the
    /// one through each CA's own certificate.
    ///
    /// # Errors
    /// Store failures.
    pub async fn certification_paths(
        &self,
        cert: &CertificateRecord,
    ) -> Result<Vec<Vec<PathElement>>> {
        let now = self.clock.now().unix_timestamp();
        let start = self.store.ca_by_id(cert.issuer_ca_id).await?;
        let mut paths = Vec::new();
        // Depth-first over (CA to continue from, path so far, CAs on the path).
        let mut stack: Vec<(CaRecord, Vec<PathElement>, Vec<IssuerId>)> =
            vec![(start, Vec::new(), Vec::new())];
        while let Some((ca, path, seen)) = stack.pop() {
            if seen.contains(&ca.id) || seen.len() >= super::directory::MAX_PATH_CAS {
                continue;
            }
            let mut seen = seen;
            seen.push(ca.id);
            // Alternatives for "a certificate for `ca`", pushed in reverse so that the CA's own
            // certificate is explored first.
            let mut options: Vec<(Vec<u8>, Option<IssuerId>, String, bool)> = Vec::new();
            let own_issuer = match ca.parent_id {
                Some(p) => Some(self.store.ca_by_id(p).await?),
                None => None,
            };
            options.push((
                ca.cert_der.clone(),
                own_issuer.as_ref().map(|p| p.id),
                own_issuer
                    .as_ref()
                    .map_or(ca.name.clone(), |p| p.name.clone()),
                false,
            ));
            for x in self.store.cross_certificates(ca.id).await? {
                if x.is_revoked() || x.not_after < now {
                    continue;
                }
                options.push((
                    x.der.clone(),
                    Some(x.issuer_ca_id),
                    x.issuer_name.clone(),
                    true,
                ));
            }
            for (der, next, issuer_name, cross) in options.into_iter().rev() {
                let mut path = path.clone();
                path.push(PathElement {
                    der,
                    subject: ca.subject.clone(),
                    issuer_name,
                    cross,
                });
                match next {
                    None => paths.push(path),
                    Some(id) => {
                        let next = self.store.ca_by_id(id).await?;
                        if next.not_after >= now {
                            stack.push((next, path, seen.clone()));
                        }
                    }
                }
            }
        }
        Ok(paths)
    }
}
