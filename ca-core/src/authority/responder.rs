//! The OCSP responder (RFC 6960, RFC 5019) as a service of its own: it answers requests
//! from what the store holds (pre-signed responses, revocation status) and signs with the
//! CA key or the CA's delegated responder. Strangers' requests never issue anything:
//! delegated responder certificates are issued when the lifecycle service creates, rolls
//! over or delegates a CA, and rotated by maintenance ([`Responder::refresh_responders`]).
//!
//! What it keeps in memory (issuers, pre-signed responses) is used only while the store's
//! write mark is unchanged, so a commit by any process is seen by the next request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use der::{Decode, Encode};
use x509_cert::Certificate;

use super::Directory;
use crate::algorithm::KeyType;
use crate::hierarchy::Issuer;
use crate::issuance::pipeline::{self, Draft, Issuing};
use crate::issuance::{self, CertificateTemplate, SerialNumber};
use crate::keys::{random_bytes, sign_verified, store_of, Signer};
use crate::lint::CertificateKind;
use crate::revocation::ocsp::{
    self, assemble_response, error_response, parse_request, CertId, CertIdHash, CertStatus,
    ResponderId, ResponseStatus, ResponseTemplate, SingleAnswer,
};
use crate::revocation::OcspSigner;
use crate::store::{
    CaRecord, CaStore, CachedOcspResponse, CertificateRecord, CertificateStore, LifecycleStore,
    OcspStore, RevocationStore, StoreError, WriteMark,
};
use crate::time::Clock;
use crate::{Error, ErrorKind, Result};

/// Validity of a delegated OCSP responder certificate: short, because clients do not check
/// its revocation (id-pkix-ocsp-nocheck).
pub const RESPONDER_DAYS: i64 = 7;
/// Maintenance replaces a responder when less than this remains of its validity (the old
/// one keeps answering until then).
pub const RESPONDER_ROTATE_BEFORE_SECS: i64 = 2 * 86_400;

/// What one maintenance pass did to delegated OCSP responders
/// ([`Responder::refresh_responders`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponderRefresh {
    /// Responders issued: (CA name, serial hex).
    pub issued: Vec<(String, String)>,
    /// CAs whose responder could not be issued: (CA name, why).
    pub failed: Vec<(String, String)>,
}

/// The result of answering an OCSP request: always a response to send.
#[derive(Clone, Debug)]
pub struct OcspOutcome {
    /// The OCSPResponse DER.
    pub der: Vec<u8>,
    /// Its responseStatus.
    pub status: ResponseStatus,
    /// Whether it was a pre-signed response served from the cache.
    pub cached: bool,
    /// Whether that cached response came from memory, without reading the store.
    pub memory: bool,
    /// producedAt (successful responses).
    pub produced_at: Option<i64>,
    /// nextUpdate of the answers (successful responses; the earliest).
    pub next_update: Option<i64>,
    /// Why an error status was returned (for logs; not sent to the client).
    pub detail: Option<String>,
}

impl OcspOutcome {
    fn error(status: ResponseStatus, detail: impl Into<String>) -> OcspOutcome {
        OcspOutcome {
            der: error_response(status),
            status,
            cached: false,
            memory: false,
            produced_at: None,
            next_update: None,
            detail: Some(detail.into()),
        }
    }
}

/// What the OCSP responder keeps in memory between requests, each part under the store's
/// write mark taken before it was read (see [`crate::store::OcspStore::write_mark`]): it is
/// used only while the mark is unchanged, so a revocation committed by any process is seen
/// by the next request.
#[derive(Default)]
struct OcspMemo {
    issuers: Option<(WriteMark, Arc<Vec<OcspIssuer>>)>,
    /// Per (CA, CertID hash), by serial: looked up without building a key.
    responses: HashMap<(i64, CertIdHash), BySerial>,
    /// The DER bytes held in `responses`.
    bytes: usize,
}

/// One CA's pre-signed responses for one CertID hash, by serial, with the mark each was
/// read under.
type BySerial = HashMap<String, (WriteMark, Arc<CachedOcspResponse>)>;

/// Most bytes of pre-signed responses kept in memory; when full the memory starts over.
const OCSP_MEMO_MAX_BYTES: usize = 64 << 20;

/// Signatures per second each CA spends answering questions about serials it never issued
/// (a signed "unknown"); beyond that, such questions get the unsigned tryLater. Answers
/// about its own certificates never wait on this budget.
pub const STRANGER_SIGNATURES_PER_SECOND: f64 = 50.0;
/// How many such signatures a CA may make at once after a quiet spell.
pub const STRANGER_SIGNATURES_BURST: f64 = 100.0;

/// The per-CA budgets of [`STRANGER_SIGNATURES_PER_SECOND`] (token buckets on the
/// service's clock), bounded by the number of CAs.
#[derive(Default)]
struct StrangerBudget {
    /// Per CA id: tokens left and when they were counted (Unix nanoseconds).
    buckets: HashMap<i64, (f64, i128)>,
}

impl StrangerBudget {
    /// Takes one signature from `ca`'s budget at `now_ns`; false when it is spent.
    fn take(&mut self, ca: i64, now_ns: i128) -> bool {
        let (tokens, at) = self
            .buckets
            .entry(ca)
            .or_insert((STRANGER_SIGNATURES_BURST, now_ns));
        // Precision: a budget is a few hundred tokens; f64 is exact far beyond that.
        #[allow(clippy::cast_precision_loss)]
        let elapsed = (now_ns - *at).max(0) as f64 / 1e9;
        *tokens =
            (*tokens + elapsed * STRANGER_SIGNATURES_PER_SECOND).min(STRANGER_SIGNATURES_BURST);
        *at = (*at).max(now_ns);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A CA as an OCSP issuer: what CertIDs are matched against.
struct OcspIssuer {
    record: CaRecord,
    name_der: Vec<u8>,
    key_bits: Vec<u8>,
    /// Whether another CA has the same subject (a rollover successor keeps its
    /// predecessor's): then the CA's responses cannot name it by subject alone.
    subject_shared: bool,
    /// The name and key hashed as SHA-1 and SHA-256 CertIDs carry them (nearly every
    /// client uses one of the two), made once rather than per request.
    hashed: [(CertIdHash, Vec<u8>, Vec<u8>); 2],
}

impl OcspIssuer {
    fn new(record: CaRecord, name_der: Vec<u8>, key_bits: Vec<u8>) -> OcspIssuer {
        let hashed = [CertIdHash::Sha1, CertIdHash::Sha256]
            .map(|h| (h, h.digest(&name_der), h.digest(&key_bits)));
        OcspIssuer {
            record,
            name_der,
            key_bits,
            subject_shared: false,
            hashed,
        }
    }

    /// Whether `id` names this issuer.
    fn named_by(&self, id: &CertId) -> bool {
        match self.hashed.iter().find(|(h, _, _)| *h == id.hash) {
            Some((_, name, key)) => id.has_issuer_hashes(name, key),
            None => id.names_issuer(&self.name_der, &self.key_bits),
        }
    }
}

/// The OCSP responder service (see the module documentation).
pub struct Responder<S> {
    store: S,
    directory: Arc<Directory<S>>,
    clock: Arc<dyn Clock>,
    /// Issuers and pre-signed responses, each under the write mark it was read under.
    memo: Mutex<OcspMemo>,
    /// What each CA may still sign for serials it never issued.
    strangers: Mutex<StrangerBudget>,
}

impl<S> std::fmt::Debug for Responder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder").finish_non_exhaustive()
    }
}

impl<S: OcspStore + RevocationStore + CaStore + CertificateStore + LifecycleStore> Responder<S> {
    /// The responder over `store`, signing with keys of CAs in `directory`, with time from
    /// `clock`.
    pub(crate) fn new(store: S, directory: Arc<Directory<S>>, clock: Arc<dyn Clock>) -> Self {
        Responder {
            store,
            directory,
            clock,
            memo: Mutex::default(),
            strangers: Mutex::default(),
        }
    }

    /// Every CA with the encodings CertIDs are matched against: from memory while the
    /// store's write `mark` is unchanged, else read (and remembered under `mark`).
    async fn ocsp_issuers(&self, mark: Option<WriteMark>) -> Result<Arc<Vec<OcspIssuer>>> {
        if let Some(mark) = mark {
            let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((seen, issuers)) = &memo.issuers {
                if *seen == mark {
                    return Ok(Arc::clone(issuers));
                }
            }
        }
        let issuers = Arc::new(self.read_ocsp_issuers().await?);
        if let Some(mark) = mark {
            let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            memo.issuers = Some((mark, Arc::clone(&issuers)));
        }
        Ok(issuers)
    }

    /// The pre-signed response for `id` under `ca`: from memory while the store's write
    /// `mark` is unchanged, else read (and remembered under `mark`). The flag says memory.
    async fn presigned(
        &self,
        ca: &CaRecord,
        id: &CertId,
        mark: Option<WriteMark>,
    ) -> Result<Option<(Arc<CachedOcspResponse>, bool)>> {
        let group = (ca.id.0, id.hash);
        if let Some(mark) = mark {
            let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            let found = memo
                .responses
                .get(&group)
                .and_then(|by_serial| by_serial.get(id.serial_hex.as_str()));
            if let Some((seen, response)) = found {
                if *seen == mark {
                    return Ok(Some((Arc::clone(response), true)));
                }
            }
        }
        let Some(response) = self
            .store
            .cached_ocsp(ca.id, &id.serial_hex, id.hash.as_str())
            .await?
        else {
            return Ok(None);
        };
        let response = Arc::new(response);
        if let Some(mark) = mark {
            let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            if memo.bytes + response.der.len() > OCSP_MEMO_MAX_BYTES {
                memo.responses.clear();
                memo.bytes = 0;
            }
            memo.bytes += response.der.len();
            let replaced = memo
                .responses
                .entry(group)
                .or_default()
                .insert(id.serial_hex.clone(), (mark, Arc::clone(&response)));
            if let Some((_, old)) = replaced {
                memo.bytes = memo.bytes.saturating_sub(old.der.len());
            }
        }
        Ok(Some((response, false)))
    }

    async fn read_ocsp_issuers(&self) -> Result<Vec<OcspIssuer>> {
        let mut out = Vec::new();
        for record in self.store.list_cas().await? {
            let cert = Certificate::from_der(&record.cert_der)?;
            let tbs = cert.tbs_certificate();
            let name_der = tbs.subject().to_der()?;
            let key_bits = tbs
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes()
                .to_vec();
            out.push(OcspIssuer::new(record, name_der, key_bits));
        }
        for i in 0..out.len() {
            out[i].subject_shared = out
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.name_der == out[i].name_der);
        }
        Ok(out)
    }

    /// Answers a DER OCSP request (RFC 6960). Never fails: problems become the OCSP error
    /// status RFC 6960 §2.3 prescribes.
    ///
    /// Steps: 1. parse (malformedRequest); 2. match each CertID to one of our CAs by its
    /// issuer name and key hashes (unauthorized when none matches; CertIDs of other issuers
    /// are answered "unknown"); 3. for one CertID without a nonce, serve the pre-signed
    /// response while it is fresh (RFC 5019); 4. read each status from the revocation
    /// records — an answer that includes a serial the CA never issued ("unknown") spends
    /// one of the CA's [`STRANGER_SIGNATURES_PER_SECOND`] and is tryLater when they are
    /// spent, before any signing slot is taken; 5. sign with the CA key or its current delegated responder (which
    /// maintenance issues: a request never makes a key or a certificate; without one the
    /// answer is tryLater); 6. keep single, nonce-less responses about our certificates for
    /// reuse (a stranger's question writes nothing).
    pub async fn ocsp_respond(&self, request_der: &[u8]) -> OcspOutcome {
        match self.ocsp_respond_inner(request_der).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // The README's table: the same kinds as every front end.
                let status = match e.kind() {
                    ErrorKind::Rejected => ResponseStatus::MalformedRequest,
                    ErrorKind::Unauthorized | ErrorKind::Forbidden => ResponseStatus::Unauthorized,
                    ErrorKind::Unavailable => ResponseStatus::TryLater,
                    ErrorKind::NotFound
                    | ErrorKind::Conflict
                    | ErrorKind::Exhausted
                    | ErrorKind::Internal => ResponseStatus::InternalError,
                };
                OcspOutcome::error(status, e.to_string())
            }
        }
    }

    async fn ocsp_respond_inner(&self, request_der: &[u8]) -> Result<OcspOutcome> {
        // 1.
        let request = match parse_request(request_der) {
            Ok(r) => r,
            Err(e) => return Ok(OcspOutcome::error(e.status, e.message)),
        };
        // 2. (The mark comes first: what is read after it is remembered under it.)
        let mark = self.store.write_mark();
        let issuers = self.ocsp_issuers(mark).await?;
        let matched: Vec<Option<usize>> = request
            .cert_ids
            .iter()
            .map(|id| issuers.iter().position(|i| i.named_by(id)))
            .collect();
        let Some(signing) = matched.iter().flatten().next().copied() else {
            return Ok(OcspOutcome::error(
                ResponseStatus::Unauthorized,
                "no CertID names a CA of this responder",
            ));
        };
        let issuer = &issuers[signing];
        let now = self.clock.now().unix_timestamp();
        let single = request.cert_ids.len() == 1 && request.nonce.is_none();
        // 3.
        let mut still_valid = None;
        if single {
            let id = &request.cert_ids[0];
            if let Some((c, memory)) = self.presigned(&issuer.record, id, mark).await? {
                let refresh_at = c.next_update - issuer.record.settings.ocsp_lifetime / 2;
                let cached = |c: Arc<CachedOcspResponse>| OcspOutcome {
                    der: c.der.clone(),
                    status: ResponseStatus::Successful,
                    cached: true,
                    memory,
                    produced_at: Some(c.produced_at),
                    next_update: Some(c.next_update),
                    detail: None,
                };
                if now >= c.produced_at && now < refresh_at {
                    return Ok(cached(c));
                }
                if now >= c.produced_at && now < c.next_update {
                    still_valid = Some(cached(c));
                }
            }
        }
        // 4. Statuses, and the stranger budget, before waiting for a signing slot: a
        // request that ends in tryLater never holds one.
        let mut statuses = Vec::with_capacity(request.cert_ids.len());
        for (id, m) in request.cert_ids.iter().zip(&matched) {
            if *m != Some(signing) {
                statuses.push((CertStatus::Unknown, None));
                continue;
            }
            statuses.push(self.status_of(&issuer.record, id).await?);
        }
        // An answer that includes a serial the CA never issued costs one signature from its
        // small budget for strangers (however many certificates of ours the request also
        // names), and is never stored.
        let strangers = statuses
            .iter()
            .any(|(status, _)| matches!(status, CertStatus::Unknown));
        if strangers {
            let now_ns = self.clock.now().unix_timestamp_nanos();
            let allowed = self
                .strangers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(issuer.record.id.0, now_ns);
            if !allowed {
                return Ok(OcspOutcome::error(
                    ResponseStatus::TryLater,
                    format!(
                        "CA '{}' spent its budget for serials it never issued",
                        issuer.record.name
                    ),
                ));
            }
        }
        // The signature waits for its key device within the process's device limits
        // (`keys::devices`): a device that is down, busy or hung gives tryLater.
        let signed = self
            .sign_ocsp(request, &statuses, issuer, now, single && !strangers)
            .await;
        match signed {
            // The key device is unavailable: a pre-signed answer that is due for refresh
            // but not yet expired is still a correct answer (RFC 5019 §2.2.2).
            Err(e) if e.kind() == ErrorKind::Unavailable && still_valid.is_some() => {
                Ok(still_valid.unwrap_or_else(|| OcspOutcome::error(ResponseStatus::TryLater, "")))
            }
            other => other,
        }
    }

    /// Steps 5–6 of [`Responder::ocsp_respond`]: the signature over `statuses` (one per
    /// CertID, with the revocation sequence each was read at), and, when `keep`, the answer
    /// kept for reuse.
    async fn sign_ocsp(
        &self,
        request: crate::revocation::ocsp::OcspRequest,
        statuses: &[(CertStatus, Option<i64>)],
        issuer: &OcspIssuer,
        now: i64,
        keep: bool,
    ) -> Result<OcspOutcome> {
        // 5.
        let (signer, mut certs, signer_not_after) = self.ocsp_signer(&issuer.record).await?;
        // The CA itself names itself by subject (no certificate travels, RFC 5019 §2.2.1);
        // when another CA has the same subject (rollover generations), by key with its
        // certificate, so no verifier can take the other generation's key for it.
        let by_name = certs.is_empty() && !issuer.subject_shared;
        if certs.is_empty() && issuer.subject_shared {
            certs.push(issuer.record.cert_der.clone());
        }
        let next_update = now
            .saturating_add(issuer.record.settings.ocsp_lifetime)
            .min(signer_not_after);
        let template = ResponseTemplate {
            responder: if by_name {
                ResponderId::ByName(issuer.name_der.clone())
            } else {
                ResponderId::ByKey(issuance::key_identifier(signer.public_key_info()))
            },
            produced_at: now,
            answers: request
                .cert_ids
                .iter()
                .zip(statuses)
                .map(|(id, (status, _))| SingleAnswer {
                    cert_id: id.clone(),
                    status: *status,
                    this_update: now,
                    next_update,
                })
                .collect(),
            nonce: request.nonce.clone(),
        };
        let algorithm = signer.signature_algorithm();
        let (tbs, signature) = sign_verified(signer, template.to_tbs_der()?).await?;
        let der = assemble_response(&tbs, algorithm, &signature, &certs)?;
        // 6. Kept for the next request; an answer that cannot be stored (a full disk) is
        // still a correct answer, and is returned.
        if keep {
            let id = &request.cert_ids[0];
            let stored = self
                .store
                .store_ocsp(&CachedOcspResponse {
                    ca: issuer.record.id,
                    serial: id.serial_hex.clone(),
                    hash_alg: id.hash.as_str().into(),
                    produced_at: now,
                    next_update,
                    seen_seq: statuses[0].1,
                    der: der.clone(),
                })
                .await;
            if let Err(e) = stored {
                tracing::warn!(ca = %issuer.record.name, serial = %id.serial_hex, error = %e, "a signed OCSP answer could not be stored; returned all the same");
            }
        }
        Ok(OcspOutcome {
            der,
            status: ResponseStatus::Successful,
            cached: false,
            memory: false,
            produced_at: Some(now),
            next_update: Some(next_update),
            detail: None,
        })
    }

    /// The status of `id` under `ca`, with the revocation sequence it was read at.
    async fn status_of(&self, ca: &CaRecord, id: &CertId) -> Result<(CertStatus, Option<i64>)> {
        let found = self
            .store
            .certificates_by_serial(&id.serial_hex)
            .await?
            .into_iter()
            .find(|c| c.issuer_ca_id == ca.id);
        Ok(match found {
            None => (CertStatus::Unknown, None),
            Some(c) if c.is_revoked() => (
                CertStatus::Revoked {
                    at: c.revoked_at.unwrap_or(c.created_at),
                    reason: c.revocation_reason,
                },
                c.revocation_seq,
            ),
            Some(c) => (CertStatus::Good, c.revocation_seq),
        })
    }

    /// Who signs OCSP for `ca`: its key, or its current delegated responder. Returns the
    /// signer, the certificates to include and the signer certificate's notAfter (answers
    /// never outlive it).
    async fn ocsp_signer(&self, ca: &CaRecord) -> Result<(Arc<dyn Signer>, Vec<Vec<u8>>, i64)> {
        match ca.settings.ocsp_signer {
            OcspSigner::Ca => {
                let issuer = self.directory.load_issuer(ca.clone()).await?;
                Ok((issuer.signer, vec![], ca.not_after))
            }
            OcspSigner::Delegated => {
                let now = self.clock.now().unix_timestamp();
                let responder = self
                    .store
                    .current_responder(ca.id, now)
                    .await?
                    .ok_or_else(|| {
                        Error::Unavailable(format!(
                            "CA '{}' signs OCSP through a delegated responder and has none valid now; maintenance issues one",
                            ca.name
                        ))
                    })?;
                let signer = self
                    .directory
                    .signers()
                    .signer(&responder.key_ref, &ca.sm2_id)?;
                Ok((signer, vec![responder.certificate.der], responder.not_after))
            }
        }
    }

    /// Issues a delegated OCSP responder for every CA that signs OCSP through one and has
    /// none valid for more than [`RESPONDER_ROTATE_BEFORE_SECS`]: maintenance's work
    /// (`caforge maintain`, the server's refresh), never a request's. CAs that are revoked
    /// or expired are left alone; one CA's failure does not stop the others.
    ///
    /// # Errors
    /// Store failures listing the CAs.
    pub async fn refresh_responders(&self) -> Result<ResponderRefresh> {
        let mut done = ResponderRefresh::default();
        let now = self.clock.now().unix_timestamp();
        for ca in self.store.list_cas().await? {
            // An offline root's responder is issued by its operator (`caforge maintain`).
            if ca.settings.ocsp_signer != OcspSigner::Delegated
                || ca.not_after <= now
                || self.directory.is_offline(&ca)
            {
                continue;
            }
            // Not a signing decision (the pipeline makes that): a revoked CA needs no new
            // responder, and trying would fail on every pass.
            match self.directory.ca_certificate(&ca).await {
                Ok(cert) if cert.is_revoked() => continue,
                Ok(_) => {}
                Err(e) => {
                    done.failed.push((ca.name, e.to_string()));
                    continue;
                }
            }
            match self.ensure_responder(&ca).await {
                Ok(Some(cert)) => done.issued.push((ca.name, cert.serial.to_hex())),
                Ok(None) => {}
                Err(e) => done.failed.push((ca.name, e.to_string())),
            }
        }
        Ok(done)
    }

    /// Issues a delegated responder for `ca` when it signs OCSP through one and has none
    /// valid for more than [`RESPONDER_ROTATE_BEFORE_SECS`]; the new one, if issued.
    pub(super) async fn ensure_responder(
        &self,
        ca: &CaRecord,
    ) -> Result<Option<CertificateRecord>> {
        if ca.settings.ocsp_signer != OcspSigner::Delegated {
            return Ok(None);
        }
        let now = self.clock.now().unix_timestamp();
        match self.store.current_responder(ca.id, now).await? {
            // Not due yet; or it already lasts as long as the CA itself, and a new one
            // could last no longer.
            Some(r) if r.not_after - now > RESPONDER_ROTATE_BEFORE_SECS => Ok(None),
            Some(r) if r.not_after >= ca.not_after => Ok(None),
            _ => self.rotate_responder(&ca.name).await.map(Some),
        }
    }

    /// Issues a new delegated OCSP responder certificate for CA `ca` (EKU OCSPSigning,
    /// ocsp-nocheck, [`RESPONDER_DAYS`] days, a fresh key of the CA's key type). The old
    /// one keeps working until it expires.
    ///
    /// # Errors
    /// Unknown or revoked CA, key or store failures.
    pub async fn rotate_responder(&self, ca: &str) -> Result<CertificateRecord> {
        let record = self.store.find_ca(ca).await?;
        let issuer = self.directory.load_issuer(record).await?;
        let key_type = issuer.key_type;
        let mut tag = [0u8; 4];
        random_bytes(&mut tag)?;
        let label = format!("{}-ocsp-{}", issuer.record.name, hex::encode(tag));
        let (key_ref, signer) = self.directory.signers().keys().generate(
            &store_of(&issuer.record.key_ref),
            key_type,
            &label,
            &issuer.record.sm2_id,
        )?;
        let result = self
            .issue_responder(
                &issuer,
                key_type,
                &key_ref,
                signer.public_key_info().clone(),
            )
            .await;
        if result.is_err() {
            let _ = self.directory.signers().keys().remove(&key_ref);
        }
        result
    }

    async fn issue_responder(
        &self,
        issuer: &Issuer,
        key_type: KeyType,
        key_ref: &crate::keys::KeyRef,
        spki: spki::SubjectPublicKeyInfoOwned,
    ) -> Result<CertificateRecord> {
        let now = self.clock.now();
        let not_before = now - time::Duration::minutes(5);
        let not_after = (now + time::Duration::days(RESPONDER_DAYS)).min(issuer.not_after());
        if not_after <= now {
            return Err(Error::Invalid(format!(
                "CA '{}' expires too soon to delegate OCSP signing",
                issuer.record.name
            )));
        }
        let serial = SerialNumber::random()
            .map_err(|_| Error::Internal("random generator failed".into()))?;
        let subject = super::parse_name(&format!(
            "CN={} OCSP Responder",
            issuer
                .record
                .name
                .replace([',', '+', '"', '\\', '<', '>', ';', '='], " ")
        ))?;
        let mut extensions = vec![
            issuance::basic_constraints(false, None)?,
            issuance::leaf_key_usage(crate::profile::KeyUsageBits {
                digital_signature: true,
                ..Default::default()
            })?,
            issuance::subject_key_identifier(&issuance::key_identifier(&spki))?,
            issuance::authority_key_identifier(&issuer.key_id()?)?,
        ];
        extensions.extend(issuance::ocsp_responder_extensions()?);
        let at = now.unix_timestamp();
        let draft = Draft {
            kind: CertificateKind::OcspResponder,
            audit_ca: issuer.record.name.clone(),
            principal: self.directory.acting().audit_name(),
            signing: (
                crate::audit::AuditAction::OcspResponderSigning,
                serde_json::json!({"key_type": key_type.as_str()}),
            ),
            signed: (
                crate::audit::AuditAction::OcspResponderIssued,
                serde_json::json!({"not_after": not_after.unix_timestamp()}),
            ),
            subject_text: crate::x509::name_text(&subject),
            template: CertificateTemplate {
                serial,
                issuer: issuer.subject.clone(),
                subject,
                not_before,
                not_after,
                spki,
                extensions,
                signature_algorithm: issuer.key_type.signature_algorithm(),
            },
            issuer_ca_id: Some(issuer.record.id),
            sans: vec![],
            profile: crate::profile::CertificateProfile::OcspSigning,
            key_type: key_type.into(),
            crl_partition: None,
            crl_url: None,
            at,
        };
        let signed = pipeline::prepare_and_sign(&self.store, Issuing::by(issuer)?, draft).await?;
        Ok(self
            .store
            .commit_responder(
                issuer.record.id,
                &signed.cert,
                &signed.issuer_key_id,
                &signed.audit,
                key_ref,
            )
            .await
            .map(pipeline::committed)?)
    }

    /// Pre-signs OCSP responses (RFC 5019) for every unexpired certificate of `ca`, with
    /// SHA-1 and SHA-256 CertIDs, so responders can serve them without touching the key.
    /// Returns how many responses were signed.
    ///
    /// # Errors
    /// Unknown CA, key or store failures.
    pub async fn presign_ocsp(&self, ca: &str) -> Result<usize> {
        let record = self.store.find_ca(ca).await?;
        let issuers = self.ocsp_issuers(None).await?;
        let issuer = issuers
            .iter()
            .find(|i| i.record.id == record.id)
            .ok_or_else(|| StoreError::NotFound(format!("no CA named '{ca}'")))?;
        let now = self.clock.now().unix_timestamp();
        let certs = self
            .store
            .list_certificates(&crate::store::CertificateFilter {
                issuer: Some(record.id),
                not_after_from: Some(now),
                ..Default::default()
            })
            .await?;
        let mut signed = 0;
        for c in &certs {
            for hash in [ocsp::CertIdHash::Sha1, ocsp::CertIdHash::Sha256] {
                let id = CertId::new(
                    hash,
                    &issuer.name_der,
                    &issuer.key_bits,
                    c.serial.as_bytes(),
                )?;
                let request = ocsp::build_request(&[id], None)?;
                let outcome = self.ocsp_respond_inner(&request).await?;
                if outcome.status != ResponseStatus::Successful {
                    return Err(Error::Invalid(format!(
                        "pre-signing failed: {}",
                        outcome.detail.unwrap_or_default()
                    )));
                }
                if !outcome.cached {
                    signed += 1;
                }
            }
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::authority::test_support::{
        ca, client_leaf, memory_services, memory_services_at, MemoryKeys, StepClock,
    };
    use crate::authority::{CrlRequest, IssueRequest, RevokeRequest, Services, SubjectKey};
    use crate::profile::ProfileName;
    use crate::revocation::RevocationReason;
    use crate::store::{AnyStore, AuditStore, Store};

    /// How many delegated responder certificates exist.
    async fn responders<S: Store>(a: &Services<S>) -> usize {
        a.store()
            .list_certificates(&crate::store::CertificateFilter::default())
            .await
            .expect("list")
            .iter()
            .filter(|c| c.profile == crate::profile::CertificateProfile::OcspSigning)
            .count()
    }

    #[tokio::test]
    async fn a_revoked_ca_gets_no_responder_and_delegation_to_one_changes_nothing() {
        let clock = StepClock::now();
        let a = memory_services_at(Arc::new(MemoryKeys::default()), clock.clone()).await;
        a.lifecycle.create_root(&ca("root")).await.expect("root");
        let mut delegated = ca("int");
        delegated.settings.ocsp_signer = OcspSigner::Delegated;
        let int = a
            .lifecycle
            .create_intermediate("root", &delegated)
            .await
            .expect("int");
        let plain = a
            .lifecycle
            .create_intermediate("root", &ca("plain"))
            .await
            .expect("plain");
        assert_eq!(responders(&a).await, 1);
        for revoked in [&int, &plain] {
            a.revocations
                .revoke(&RevokeRequest {
                    serial: revoked.record.serial.to_hex(),
                    ca: Some("root".into()),
                    reason: RevocationReason::KeyCompromise,
                    invalidity_date: None,
                    principal: crate::authz::Principal::Operator("test".into()),
                })
                .await
                .expect("revoke");
        }
        // Switching a revoked CA to delegated signing fails and leaves its settings as
        // they were.
        let mut settings = plain.record.settings.clone();
        settings.ocsp_signer = OcspSigner::Delegated;
        let err = a
            .lifecycle
            .configure_ca("plain", settings)
            .await
            .expect_err("revoked CA");
        assert!(err.to_string().contains("revoked"), "{err}");
        let after = a.directory.ca("plain").await.expect("plain");
        assert_eq!(after.settings.ocsp_signer, OcspSigner::Ca);
        // Once the revoked CA's responder expires, maintenance leaves it alone rather than
        // failing on it every pass.
        clock.advance(RESPONDER_DAYS * 86_400 + 60);
        assert_eq!(
            a.responder.refresh_responders().await.expect("refresh"),
            ResponderRefresh::default()
        );
        assert_eq!(responders(&a).await, 1);
    }

    #[tokio::test]
    async fn every_new_delegated_ca_gets_its_responder_including_a_rollover_successor() {
        let a = memory_services(Arc::new(MemoryKeys::default())).await;
        a.lifecycle.create_root(&ca("root")).await.expect("root");
        let mut delegated = ca("int");
        delegated.settings.ocsp_signer = OcspSigner::Delegated;
        a.lifecycle
            .create_intermediate("root", &delegated)
            .await
            .expect("int");
        assert_eq!(responders(&a).await, 1);
        let successor = a
            .lifecycle
            .rollover(&crate::authority::RolloverRequest {
                ca: "int".into(),
                ..Default::default()
            })
            .await
            .expect("rollover");
        assert_eq!(successor.record.settings.ocsp_signer, OcspSigner::Delegated);
        assert_eq!(responders(&a).await, 2);
        let now = a.now();
        assert!(a
            .store()
            .current_responder(successor.record.id, now)
            .await
            .expect("responder")
            .is_some());
    }

    /// The issuer name and key bits CertIDs of CA `id` are hashed from.
    async fn issuer_encodings(
        a: &Services<AnyStore>,
        id: crate::store::IssuerId,
    ) -> (Vec<u8>, Vec<u8>) {
        let issuers = a.responder.ocsp_issuers(None).await.expect("issuers");
        let issuer = issuers.iter().find(|i| i.record.id == id).expect("issuer");
        (issuer.name_der.clone(), issuer.key_bits.clone())
    }

    #[tokio::test]
    async fn strangers_questions_write_nothing_and_spend_a_bounded_budget() {
        let clock = StepClock::now();
        let a = memory_services_at(Arc::new(MemoryKeys::default()), clock.clone()).await;
        let created = a.lifecycle.create_root(&ca("root")).await.expect("root");
        let leaf = client_leaf(&a, "root", 60).await;
        let (name_der, key_bits) = issuer_encodings(&a, created.record.id).await;
        let id_for = |serial: &[u8]| {
            CertId::new(CertIdHash::Sha256, &name_der, &key_bits, serial).expect("cert id")
        };
        let request_for =
            |serial: &[u8]| ocsp::build_request(&[id_for(serial)], None).expect("request");
        let stored = |serial: &[u8]| {
            let hex = hex::encode_upper(serial);
            let store = a.store();
            let ca = created.record.id;
            async move {
                store
                    .cached_ocsp(ca, &hex, CertIdHash::Sha256.as_str())
                    .await
            }
        };
        let stranger = |i: u32| (0x7000_0000 + i).to_be_bytes();
        // The burst is answered "unknown", signed; then the budget is spent.
        let burst = STRANGER_SIGNATURES_BURST as u32;
        for i in 0..burst {
            let out = a.responder.ocsp_respond(&request_for(&stranger(i))).await;
            assert_eq!(out.status, ResponseStatus::Successful, "{:?}", out.detail);
        }
        let spent = a
            .responder
            .ocsp_respond(&request_for(&stranger(burst)))
            .await;
        assert_eq!(spent.status, ResponseStatus::TryLater);
        // Naming one of our certificates beside a stranger does not get past the budget.
        let mixed = ocsp::build_request(
            &[
                id_for(leaf.record.serial.as_bytes()),
                id_for(&stranger(burst)),
            ],
            None,
        )
        .expect("request");
        assert_eq!(
            a.responder.ocsp_respond(&mixed).await.status,
            ResponseStatus::TryLater
        );
        // Questions about our own certificate do not wait on that budget.
        let own = a
            .responder
            .ocsp_respond(&request_for(leaf.record.serial.as_bytes()))
            .await;
        assert_eq!(own.status, ResponseStatus::Successful, "{:?}", own.detail);
        assert!(stored(leaf.record.serial.as_bytes())
            .await
            .expect("read")
            .is_some());
        // No stranger's question was written down.
        for i in [0, burst / 2, burst - 1] {
            assert!(stored(&stranger(i)).await.expect("read").is_none());
        }
        // A second later the budget has grown by its rate, and no more.
        clock.advance(1);
        let per_second = STRANGER_SIGNATURES_PER_SECOND as u32;
        for i in 0..per_second {
            let out = a
                .responder
                .ocsp_respond(&request_for(&stranger(burst + 1 + i)))
                .await;
            assert_eq!(out.status, ResponseStatus::Successful, "{:?}", out.detail);
        }
        let spent = a
            .responder
            .ocsp_respond(&request_for(&stranger(burst + 1 + per_second)))
            .await;
        assert_eq!(spent.status, ResponseStatus::TryLater);
    }

    #[tokio::test]
    async fn a_request_never_issues_a_responder_maintenance_does() {
        let clock = StepClock::now();
        let a = memory_services_at(Arc::new(MemoryKeys::default()), clock.clone()).await;
        let mut req = ca("root");
        req.settings.ocsp_signer = OcspSigner::Delegated;
        let created = a.lifecycle.create_root(&req).await.expect("root");
        assert!(created.warnings.is_empty(), "{:?}", created.warnings);
        // Creating the CA issued its responder.
        assert_eq!(responders(&a).await, 1);
        let leaf = client_leaf(&a, "root", 60).await;
        let (name_der, key_bits) = issuer_encodings(&a, created.record.id).await;
        let id = CertId::new(
            CertIdHash::Sha256,
            &name_der,
            &key_bits,
            leaf.record.serial.as_bytes(),
        )
        .expect("cert id");
        // With a nonce, so every request is signed afresh rather than served from memory.
        let request = ocsp::build_request(&[id], Some(b"fresh-nonce-0001")).expect("request");
        async fn status(a: &Services<AnyStore>, request: &[u8]) -> ResponseStatus {
            a.responder.ocsp_respond(request).await.status
        }
        assert_eq!(status(&a, &request).await, ResponseStatus::Successful);

        // Inside the rotation window the old responder keeps answering; nothing is issued.
        clock.advance(RESPONDER_DAYS * 86_400 - RESPONDER_ROTATE_BEFORE_SECS + 60);
        assert_eq!(status(&a, &request).await, ResponseStatus::Successful);
        assert_eq!(responders(&a).await, 1);
        // Past its expiry a request is told to try later, and still issues nothing.
        clock.advance(RESPONDER_ROTATE_BEFORE_SECS);
        assert_eq!(status(&a, &request).await, ResponseStatus::TryLater);
        assert_eq!(responders(&a).await, 1);
        // Maintenance issues the next one; then requests are answered again.
        let done = a.responder.refresh_responders().await.expect("refresh");
        assert_eq!(done.issued.len(), 1, "{done:?}");
        assert!(done.failed.is_empty(), "{done:?}");
        assert_eq!(status(&a, &request).await, ResponseStatus::Successful);
        assert_eq!(responders(&a).await, 2);
        // A second pass has nothing to do.
        assert_eq!(
            a.responder.refresh_responders().await.expect("refresh"),
            ResponderRefresh::default()
        );
    }

    #[tokio::test]
    async fn a_faulty_signer_burns_a_crl_number_and_gets_internal_error() {
        let keys = Arc::new(MemoryKeys::default());
        let broken = keys.broken.clone();
        let authority = memory_services(keys).await;
        authority
            .lifecycle
            .create_root(&ca("root"))
            .await
            .expect("root");
        let int = authority
            .lifecycle
            .create_intermediate("root", &ca("int"))
            .await
            .expect("int")
            .record;
        let issued = authority
            .issuance
            .issue(&IssueRequest {
                ca: "int".into(),
                key: SubjectKey::Generate(KeyType::P256),
                subject: Some("CN=a.example".into()),
                sans: vec!["dns:a.example".into()],
                profile: ProfileName::TlsServer,
                days: None,
                principal: crate::authz::Principal::Operator("test".into()),
            })
            .await
            .expect("issue");
        authority
            .revocations
            .revoke(&RevokeRequest {
                serial: issued.record.serial.to_hex(),
                ca: None,
                reason: RevocationReason::Superseded,
                invalidity_date: None,
                principal: crate::authz::Principal::Operator("test".into()),
            })
            .await
            .expect("revoke");
        let request = CrlRequest {
            ca: "int".into(),
            delta: false,
            partition: None,
        };
        assert_eq!(
            authority.revocations.crl(&request).await.expect("crl")[0].number,
            1
        );

        broken.store(true, Ordering::SeqCst);
        let err = authority
            .revocations
            .crl(&request)
            .await
            .expect_err("faulty signer");
        assert!(matches!(err, Error::BadSignature), "{err}");
        let cert = Certificate::from_der(&int.cert_der).expect("int cert");
        let id = CertId::new(
            ocsp::CertIdHash::Sha1,
            &cert.tbs_certificate().subject().to_der().expect("name"),
            cert.tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes(),
            issued.record.serial.as_bytes(),
        )
        .expect("certid");
        let request_der = ocsp::build_request(&[id], Some(&[5; 16])).expect("request");
        let outcome = authority.responder.ocsp_respond(&request_der).await;
        assert_eq!(outcome.status, ResponseStatus::InternalError);
        assert_eq!(outcome.der, error_response(ResponseStatus::InternalError));

        // Number 2 went to the failed run and is never reused; nothing was recorded for it.
        broken.store(false, Ordering::SeqCst);
        assert_eq!(
            authority.revocations.crl(&request).await.expect("crl")[0].number,
            3
        );
        let ok = authority.responder.ocsp_respond(&request_der).await;
        assert_eq!(ok.status, ResponseStatus::Successful);
        let parsed = ocsp::parse_response(&ok.der).expect("parse");
        assert!(matches!(parsed.answers[0].1, CertStatus::Revoked { .. }));
        assert_eq!(parsed.nonce.as_deref().map(|n| n.len()), Some(18));
        let log = authority.store().audit_log().await.expect("log");
        let count = |action| log.iter().filter(|r| r.event.action == action).count();
        // Three attempts were audited before signing; two CRLs were issued.
        assert_eq!(
            (
                count(crate::audit::AuditAction::CrlSigning),
                count(crate::audit::AuditAction::CrlIssued)
            ),
            (3, 2)
        );
    }
}
