//! The CA directory: what every service and front end looks up (CAs, their chains and
//! generations, certificates) and the CA keys behind them, loaded once through [`Signers`].
//! It reads the store's CA, lifecycle (successions) and certificate roles and writes
//! nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use der::Decode;

use super::{IssuingCa, KeyHealth};
use crate::authz::{authorize, Action, Principal, Target};
use crate::certpolicy::CaPolicies;
use crate::hierarchy::Issuer;
use crate::issuance::SerialNumber;
use crate::keys::{KeyProvider, KeyRef, Signer};
use crate::store::{
    CaRecord, CaStore, CertificateFilter, CertificateRecord, CertificateStore, IssuerId,
    LifecycleStore,
};
use crate::{Error, Result};

/// Longest chain of CAs a certification path may have (loops in corrupt data stop here).
pub(super) const MAX_PATH_CAS: usize = 16;

/// The fewest hex digits of a serial — its first or its last — that name a certificate in
/// its place (`cert show ECC6CDBC`). Generated serials begin with a marker and a time
/// stamp, so it is their last digits that tell certificates made together apart.
pub const MIN_SERIAL_DIGITS: usize = 8;

/// The most candidates an ambiguous part of a serial lists.
const SERIAL_CANDIDATES: u32 = 10;

/// How long a loaded issuing CA is reused. Only a CA's settings (publication URLs,
/// partitions, OCSP lifetimes) can change under it, and such changes reach issuance within
/// this time; whether the CA is revoked is checked in the store on every issuance.
const ISSUING_CA_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The key custodians and the signers already loaded from them, shared by every service
/// that signs: unlocking an encrypted key costs a deliberate scrypt run, which a responder
/// must not pay per request.
pub(crate) struct Signers {
    keys: Arc<dyn KeyProvider>,
    cache: Mutex<HashMap<String, Arc<dyn Signer>>>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signers").finish_non_exhaustive()
    }
}

impl Signers {
    /// Signers from the custodians behind `keys`.
    pub(crate) fn new(keys: Arc<dyn KeyProvider>) -> Self {
        Signers {
            keys,
            cache: Mutex::default(),
        }
    }

    /// The custodians themselves (to generate, seal, list and remove keys).
    pub(super) fn keys(&self) -> &dyn KeyProvider {
        self.keys.as_ref()
    }

    /// The device of the signer already loaded for `key_ref`, if any.
    pub(super) fn cached_device(&self, key_ref: &KeyRef, sm2_id: &str) -> Option<String> {
        let cache_key = format!("{}\0{sm2_id}", key_ref.as_str());
        self.cache
            .lock()
            .ok()?
            .get(&cache_key)
            .map(|s| crate::keys::devices::device_name(&**s))
    }

    /// The signer for `key_ref`, loaded once and then kept.
    pub(super) fn signer(&self, key_ref: &KeyRef, sm2_id: &str) -> Result<Arc<dyn Signer>> {
        let cache_key = format!("{}\0{sm2_id}", key_ref.as_str());
        if let Some(s) = self
            .cache
            .lock()
            .map_err(|_| Error::Internal("signer cache poisoned".into()))?
            .get(&cache_key)
        {
            return Ok(s.clone());
        }
        let signer: Arc<dyn Signer> = Arc::from(self.keys.load(key_ref, sm2_id)?);
        self.cache
            .lock()
            .map_err(|_| Error::Internal("signer cache poisoned".into()))?
            .insert(cache_key, signer.clone());
        Ok(signer)
    }
}

/// The CA directory (see the module documentation).
pub struct Directory<S> {
    store: S,
    signers: Arc<Signers>,
    /// Issuing CAs recently loaded, by name (see [`Directory::issuing_ca`]).
    issuing: Mutex<HashMap<String, (std::time::Instant, Arc<IssuingCa>)>>,
    /// Who the services' own actions are recorded for (the operator at the CLI, the
    /// server's scheduled work in `serve`).
    acting: Principal,
    /// When set, the roots whose keys may be loaded: every other root is offline here.
    online_roots: std::sync::OnceLock<Vec<String>>,
    /// CAs whose key probe ([`Directory::key_health`]) has not returned yet.
    probing: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl<S> std::fmt::Debug for Directory<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

impl<S: CaStore + LifecycleStore + CertificateStore> Directory<S> {
    /// The directory over `store`, loading keys through `signers`.
    pub(crate) fn new(store: S, signers: Arc<Signers>, acting: Principal) -> Self {
        Directory {
            store,
            signers,
            issuing: Mutex::default(),
            acting,
            online_roots: std::sync::OnceLock::new(),
            probing: Arc::default(),
        }
    }

    /// Keeps root keys offline in this process: only the roots named in `online` may
    /// have their keys loaded (to sign anything); every other root's signatures (its CRL,
    /// its OCSP answers, CAs under it) must be made ahead of time by the operator, or by a
    /// delegated responder. Set once; `caforge serve` sets it.
    ///
    /// # Errors
    /// [`Error::Internal`] when it was set before.
    pub fn keep_roots_offline(&self, online: Vec<String>) -> Result<()> {
        self.online_roots
            .set(online)
            .map_err(|_| Error::Internal("offline roots were set twice".into()))
    }

    /// Whether `ca` is a root whose key this process must not load.
    #[must_use]
    pub fn is_offline(&self, ca: &CaRecord) -> bool {
        ca.parent_id.is_none()
            && self
                .online_roots
                .get()
                .is_some_and(|online| !online.contains(&ca.name))
    }

    /// The signer of CA `record`, unless it is an offline root.
    fn ca_signer(&self, record: &CaRecord) -> Result<Arc<dyn Signer>> {
        if self.is_offline(record) {
            return Err(Error::Unavailable(format!(
                "root CA '{}' is offline here: its CRLs and OCSP answers are made ahead of time (`caforge crl`, `caforge ocsp presign`) or by a delegated responder",
                record.name
            )));
        }
        self.signers.signer(&record.key_ref, &record.sm2_id)
    }

    /// Who the services' own actions (those no request carries a principal for) are
    /// recorded for.
    #[must_use]
    pub fn acting(&self) -> &Principal {
        &self.acting
    }

    /// The signers it loads CA keys through.
    pub(super) fn signers(&self) -> &Signers {
        &self.signers
    }

    /// Whether each CA's key can be used now: its custodian is asked (a device must answer
    /// and still hold the key), every CA at once, each within the device deadline when the
    /// process has device limits ([`crate::keys::devices::Devices`]). A device that answers
    /// is marked up, one that does not is marked down. For `/healthz`: a CA whose key
    /// device is down still serves its pre-signed OCSP responses and published CRLs. Roots
    /// kept offline ([`Directory::keep_roots_offline`]) are left out: their keys are meant
    /// to be away.
    ///
    /// # Errors
    /// Store failures only; key problems are reported per CA.
    pub async fn key_health(&self) -> Result<Vec<KeyHealth>> {
        use crate::keys::devices::{device_name, is_outage, Devices};
        let devices = Devices::global();
        // One deadline for the whole pass: every CA is probed at once.
        let until = devices
            .limits()
            .map(|l| (l.deadline, tokio::time::Instant::now() + l.deadline));
        let mut probes = Vec::new();
        for record in self.store.list_cas().await? {
            if self.is_offline(&record) {
                continue;
            }
            // At most one probe per CA in flight: a hung device keeps one thread, not one
            // per pass.
            let fresh = self
                .probing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(record.name.clone());
            if !fresh {
                probes.push((record, None));
                continue;
            }
            let signers = Arc::clone(&self.signers);
            let probing = Arc::clone(&self.probing);
            let (key_ref, sm2_id, name) = (
                record.key_ref.clone(),
                record.sm2_id.clone(),
                record.name.clone(),
            );
            // Loading a device key talks to the device too: both off the async threads.
            let probe = tokio::task::spawn_blocking(move || {
                let outcome = signers.signer(&key_ref, &sm2_id).map(|signer| {
                    let device = device_name(&*signer);
                    (device, signer.probe().map_err(Error::from))
                });
                probing
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&name);
                outcome
            });
            probes.push((record, Some(probe)));
        }
        let mut out = Vec::new();
        for (record, probe) in probes {
            let custodian = record
                .key_ref
                .as_str()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            let problem = match probe {
                None => Some("its key's previous probe has not returned".to_owned()),
                Some(probe) => {
                    let answered = match until {
                        Some((d, at)) => tokio::time::timeout_at(at, probe).await.map_err(|_| {
                            Error::from(crate::keys::KeyError::Timeout(format!(
                                "the key of CA '{}' did not answer within {} ms",
                                record.name,
                                d.as_millis()
                            )))
                        }),
                        None => Ok(probe.await),
                    };
                    match answered {
                        Err(e) => {
                            if let Some(device) =
                                self.signers.cached_device(&record.key_ref, &record.sm2_id)
                            {
                                devices.mark_down(&device, e.to_string());
                            }
                            Some(e.to_string())
                        }
                        Ok(Err(e)) => Some(format!("key probe task failed: {e}")),
                        Ok(Ok(Err(e))) => Some(e.to_string()),
                        Ok(Ok(Ok((device, Ok(()))))) => {
                            devices.mark_up(&device);
                            None
                        }
                        Ok(Ok(Ok((device, Err(e))))) => {
                            if is_outage(&e) {
                                devices.mark_down(&device, e.to_string());
                            }
                            Some(e.to_string())
                        }
                    }
                }
            };
            out.push(KeyHealth {
                ca: record.name,
                custodian,
                problem,
            });
        }
        Ok(out)
    }

    /// The CA named `name` ready to issue end-entity certificates, with its chain: loaded
    /// from the store (and the key from its custodian) at most once per
    /// [`ISSUING_CA_REUSE`]. A root not configured to sign leaves
    /// ([`crate::revocation::CaSettings::allow_leaves`]) is refused before its key is
    /// touched.
    pub(crate) async fn issuing_ca(&self, name: &str) -> Result<Arc<IssuingCa>> {
        let lock = || {
            self.issuing
                .lock()
                .map_err(|_| Error::Internal("issuer cache poisoned".into()))
        };
        if let Some((at, ca)) = lock()?.get(name) {
            if at.elapsed() < ISSUING_CA_REUSE {
                return Ok(Arc::clone(ca));
            }
        }
        let asked = self.store.find_ca(name).await?;
        let asked_name = asked.name.clone();
        let record = self.active_generation(asked).await?;
        if record.parent_id.is_none() && !record.settings.allow_leaves {
            return Err(crate::policy::PolicyError::LeafFromRoot(record.name).into());
        }
        let chain = self.chain_records(&record).await?;
        let chain_policies = chain
            .iter()
            .rev()
            .filter(|c| c.parent_id.is_some())
            .map(|c| Ok((c.name.clone(), CaPolicies::of_certificate(&c.cert_der)?)))
            .collect::<Result<Vec<_>>>()?;
        let ca = Arc::new(IssuingCa {
            rolled_from: (record.name != asked_name).then_some(asked_name),
            issuer: self.load_issuer(record).await?,
            chain,
            chain_policies,
        });
        let mut cache = lock()?;
        if cache.len() > 1_000 {
            cache.clear();
        }
        cache.insert(
            name.to_owned(),
            (std::time::Instant::now(), Arc::clone(&ca)),
        );
        Ok(ca)
    }

    /// Drops the issuing CAs kept by [`Directory::issuing_ca`] (after a rollover).
    pub(super) fn forget_issuing_cas(&self) -> Result<()> {
        self.issuing
            .lock()
            .map_err(|_| Error::Internal("issuer cache poisoned".into()))?
            .clear();
        Ok(())
    }

    pub(super) async fn load_issuer(&self, record: CaRecord) -> Result<Issuer> {
        let signer = self.ca_signer(&record)?;
        Issuer::new(record, signer)
    }

    /// The certificate record of CA `ca` itself (its row under its parent, or its own row
    /// for a root).
    ///
    /// # Errors
    /// Store errors; NotFound for inconsistent data.
    pub async fn ca_certificate(&self, ca: &CaRecord) -> Result<CertificateRecord> {
        let issuer = ca.parent_id.unwrap_or(ca.id);
        self.store
            .certificates_by_serial(&ca.serial.to_hex())
            .await?
            .into_iter()
            .find(|c| c.issuer_ca_id == issuer)
            .ok_or_else(|| {
                crate::store::StoreError::NotFound(format!(
                    "the certificate of CA '{}' is missing",
                    ca.name
                ))
                .into()
            })
    }

    /// Loads (and keeps) the key of `ca`, checking it matches the CA certificate: servers
    /// call this at start so a wrong passphrase fails fast.
    ///
    /// # Errors
    /// Key custody errors, or a key that is not the CA's.
    pub async fn check_key(&self, ca: &CaRecord) -> Result<()> {
        self.load_issuer(ca.clone()).await.map(|_| ())
    }

    /// The CA and its ancestors, the CA first and the root last.
    ///
    /// # Errors
    /// Store errors, or a parent loop in corrupt data.
    pub async fn chain_records(&self, ca: &CaRecord) -> Result<Vec<CaRecord>> {
        let mut chain = vec![ca.clone()];
        let mut next = ca.parent_id;
        while let Some(id) = next {
            if chain.len() > 16 || chain.iter().any(|c| c.id == id) {
                return Err(Error::Invalid(
                    "CA hierarchy is deeper than 16 or has a loop".into(),
                ));
            }
            let parent = self.store.ca_by_id(id).await?;
            next = parent.parent_id;
            chain.push(parent);
        }
        Ok(chain)
    }

    /// A CA by name or id.
    ///
    /// # Errors
    /// [`crate::store::StoreError::NotFound`].
    pub async fn ca(&self, name_or_id: &str) -> Result<CaRecord> {
        Ok(self.store.find_ca(name_or_id).await?)
    }

    /// All CAs.
    ///
    /// # Errors
    /// Store errors.
    pub async fn cas(&self) -> Result<Vec<CaRecord>> {
        Ok(self.store.list_cas().await?)
    }

    /// Certificates matching `filter`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn certificates(&self, filter: &CertificateFilter) -> Result<Vec<CertificateRecord>> {
        Ok(self.store.list_certificates(filter).await?)
    }

    /// One page of the certificates matching `filter` (its `limit` is the page size),
    /// less those `principal` may not read ([`authorize`]), and the cursor of the next
    /// page (`None` on the last). A page can hold fewer than `limit`, or none, and still
    /// have a next one.
    ///
    /// # Errors
    /// Store errors; a stored certificate that does not parse.
    pub async fn certificates_as(
        &self,
        principal: &Principal,
        filter: &CertificateFilter,
    ) -> Result<(Vec<CertificateRecord>, Option<i64>)> {
        let page = self.store.list_certificates(filter).await?;
        let next = match (filter.limit, page.last()) {
            (Some(limit), Some(last)) if page.len() == limit as usize => Some(last.id),
            _ => None,
        };
        let mut visible = Vec::with_capacity(page.len());
        for c in page {
            if authorize(principal, Action::Read, &Target::stored(&c)?).is_ok() {
                visible.push(c);
            }
        }
        Ok((visible, next))
    }

    /// [`Directory::certificate_exact`], when `principal` may read it ([`authorize`]).
    ///
    /// # Errors
    /// As [`Directory::certificate`]; [`Error::Forbidden`] out of scope.
    pub async fn certificate_as(
        &self,
        principal: &Principal,
        serial: &str,
        ca: Option<&str>,
    ) -> Result<CertificateRecord> {
        let record = self.certificate_exact(serial, ca).await?;
        authorize(principal, Action::Read, &Target::stored(&record)?)?;
        Ok(record)
    }

    /// The certificate named by `serial` (hex, colons allowed) or by a unique prefix or
    /// suffix of at least [`MIN_SERIAL_DIGITS`] hex digits; `ca` (name or id) picks among issuers that
    /// used the same serial and must be the issuer when given.
    ///
    /// # Errors
    /// Not found; an ambiguous serial or part of one (the message lists the candidates); a
    /// certificate `ca` did not issue; text that is not hex.
    pub async fn certificate(&self, serial: &str, ca: Option<&str>) -> Result<CertificateRecord> {
        self.lookup(serial, ca, true).await
    }

    /// [`Directory::certificate`] for the whole serial only (no parts of one): for callers that
    /// may not see which other certificates a part names (API tokens).
    ///
    /// # Errors
    /// As [`Directory::certificate`].
    pub async fn certificate_exact(
        &self,
        serial: &str,
        ca: Option<&str>,
    ) -> Result<CertificateRecord> {
        self.lookup(serial, ca, false).await
    }

    /// The one lookup rule behind [`Directory::certificate`] and
    /// [`Directory::certificate_exact`].
    async fn lookup(
        &self,
        serial: &str,
        ca: Option<&str>,
        parts: bool,
    ) -> Result<CertificateRecord> {
        let issuer = match ca {
            Some(ca) => Some(self.store.find_ca(ca).await?),
            None => None,
        };
        let (shown, mut found, more) = self
            .certificates_named(serial, issuer.as_ref().map(|c| c.id), parts)
            .await?;
        match found.len() {
            0 => {
                // An operator who named the wrong CA is told which one issued it; an exact
                // lookup (an API token's) learns nothing about certificates elsewhere.
                if let (Some(ca), true) = (&issuer, parts) {
                    let (_, elsewhere, _) = self.certificates_named(serial, None, true).await?;
                    if let Some(other) = elsewhere.first() {
                        return Err(Error::Invalid(format!(
                            "CA '{}' did not issue certificate {} (its issuer is '{}')",
                            ca.name, other.serial, other.issuer_name
                        )));
                    }
                }
                let under = issuer
                    .as_ref()
                    .map(|c| format!(" under CA '{}'", c.name))
                    .unwrap_or_default();
                Err(crate::store::StoreError::NotFound(
                    if parts && shown.len() < MIN_SERIAL_DIGITS {
                        format!(
                            "no certificate with serial {shown}{under} (part of a serial needs at least {MIN_SERIAL_DIGITS} hex digits)"
                        )
                    } else {
                        format!("no certificate with serial {shown}{under}")
                    },
                )
                .into())
            }
            1 if !more => Ok(found.remove(0)),
            _ if !parts => Err(Error::Invalid(format!(
                "serial {shown} exists under several CAs; name the CA"
            ))),
            n => Err(Error::Invalid(format!(
                "{shown} names {}{n} certificates: {}; give more digits or the issuing CA",
                if more { "more than " } else { "" },
                found
                    .iter()
                    .map(|c| format!(
                        "{} ({}, issued by '{}')",
                        c.serial, c.subject, c.issuer_name
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    }

    /// Every certificate `serial` names (under `issuer`, when given): those with exactly
    /// that serial, or else (with `parts` and at least [`MIN_SERIAL_DIGITS`] digits) those
    /// whose serial starts or ends with it, at most [`SERIAL_CANDIDATES`] and whether there
    /// are more; with the upper-case hex the user meant.
    async fn certificates_named(
        &self,
        serial: &str,
        issuer: Option<IssuerId>,
        parts: bool,
    ) -> Result<(String, Vec<CertificateRecord>, bool)> {
        let digits = SerialNumber::digits(serial).map_err(Error::Invalid)?;
        if let Ok(whole) = SerialNumber::from_str(&digits) {
            let mut found = self.store.certificates_by_serial(&whole.to_hex()).await?;
            found.retain(|c| issuer.is_none_or(|i| c.issuer_ca_id == i));
            if !found.is_empty() || !parts {
                return Ok((digits, found, false));
            }
        }
        if !parts || digits.len() < MIN_SERIAL_DIGITS {
            return Ok((digits, Vec::new(), false));
        }
        let mut found = self
            .store
            .certificates_by_serial_part(&digits, issuer, SERIAL_CANDIDATES + 1)
            .await?;
        let more = found.len() > SERIAL_CANDIDATES as usize;
        found.truncate(SERIAL_CANDIDATES as usize);
        Ok((digits, found, more))
    }

    /// The CA with id `id`.
    ///
    /// # Errors
    /// Not found.
    pub async fn ca_by_id(&self, id: IssuerId) -> Result<CaRecord> {
        Ok(self.store.ca_by_id(id).await?)
    }

    /// Parses a stored certificate (a convenience for front ends that show details).
    ///
    /// # Errors
    /// When the DER does not parse.
    pub fn parse_certificate(der: &[u8]) -> Result<x509_cert::Certificate> {
        Ok(x509_cert::Certificate::from_der(der)?)
    }
    /// The generation of `ca`'s lineage that issues now: `ca` itself, or the newest CA that
    /// replaced it through rollovers.
    ///
    /// # Errors
    /// Store failures, or a successor loop in corrupt data.
    pub async fn active_generation(&self, ca: CaRecord) -> Result<CaRecord> {
        let mut current = ca;
        for _ in 0..MAX_PATH_CAS {
            match self.store.ca_successor(current.id).await? {
                Some(next) => current = next,
                None => return Ok(current),
            }
        }
        Err(Error::Invalid(format!(
            "CA '{}' has more than {MAX_PATH_CAS} generations or a successor loop",
            current.name
        )))
    }
}
