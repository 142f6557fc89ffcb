//! The services that carry out CA operations over the store, the key custodians, policy,
//! lints and the clock, and [`Services`], which composes them over one store.
//!
//! Each service takes only the store roles (traits of [`crate::store`]) it uses:
//! [`Directory`] (CAs, chains, certificates, CA keys through `Signers`), [`Issuance`]
//! (leaf and CA certificates through the issuance pipeline), [`Dual`] (dual pairs and the
//! KMC), [`Revocations`] (revocation and CRLs), [`Responder`] (OCSP), [`Lifecycle`] (CA
//! creation and settings, rollover, cross-signing, renewal, managed certificates,
//! maintenance), [`Tokens`] and [`Inventory`].

#[cfg(test)]
mod authz_tests;
mod directory;
mod dual;
mod inventory;
mod leftovers;
mod lifecycle;
mod managed;
mod responder;
mod revocation;
#[cfg(test)]
pub(crate) mod test_support;
mod tokens;

use self::directory::Signers;
pub use self::directory::{Directory, MIN_SERIAL_DIGITS};
pub use self::dual::{Dual, IssuedPair, IssuedSm2Pair, RsaSm2PairRequest, Sm2PairRequest};
pub use self::inventory::{Imported, ImportedCertificate, Inventory};
pub use self::leftovers::{Leftovers, LEFTOVER_KEY_MIN_AGE_SECS};
pub use self::lifecycle::{
    CaState, CrossSigned, DueRevocations, Lifecycle, LifecycleRoles, PathElement, RenewRequest,
    RolloverRequest, StoreHealth,
};
pub use self::managed::{renewal_starts, Deployment, Managed, MAX_RENEWAL_WINDOW_SECS};
pub use self::responder::{
    OcspOutcome, Responder, ResponderRefresh, RESPONDER_DAYS, RESPONDER_ROTATE_BEFORE_SECS,
    STRANGER_SIGNATURES_BURST, STRANGER_SIGNATURES_PER_SECOND,
};
pub use self::revocation::{
    CrlRequest, PublishedCrl, Revocations, RevokeRequest, SignedCrl, StoredCrl,
};
pub use self::tokens::{TokenRequest, Tokens};

use std::str::FromStr;
use std::sync::Arc;

use x509_cert::name::Name;

use crate::algorithm::{KeyType, DEFAULT_SM2_ID};
use crate::audit::AuditAction;
use crate::authz::{authorize, Action, Principal, Target};
use crate::certpolicy::CaPolicies;
use crate::hierarchy::Issuer;
use crate::issuance::pipeline::{self, Draft, Issuing};
use crate::issuance::{self, CertificateTemplate, ParsedCsr, SerialNumber};
use crate::keys::{KeyProvider, PublicKeyDescription, Signer, SoftwareKey, DEFAULT_KEY_STORE};
use crate::lint::CertificateKind;
use crate::policy::{self, NameConstraintSet, SubjectAltName};
use crate::profile::{CertificateProfile, ProfileName, Profiles};
use crate::revocation::CaSettings;
use crate::store::{
    CaRecord, CaStore, CertificateRecord, CertificateStore, IssuerId, LifecycleStore, NewCa, Store,
};
use crate::time::Clock;
use crate::{Error, Result};

/// Default validity of a root CA: 20 years.
pub const DEFAULT_ROOT_DAYS: u32 = 20 * 365 + 5;
/// Default validity of an intermediate CA: 10 years.
pub const DEFAULT_INTERMEDIATE_DAYS: u32 = 10 * 365 + 2;

/// Parameters of a new CA.
#[derive(Clone, Debug)]
pub struct NewCaRequest {
    /// Unique CA name.
    pub name: String,
    /// Subject DN (RFC 4514); `CN=<name>` when absent.
    pub subject: Option<String>,
    /// Key type.
    pub key_type: KeyType,
    /// Validity in days.
    pub days: Option<u32>,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// SM2 signer ID this CA signs with (default GM/T 0009's `1234567812345678`).
    pub sm2_id: Option<String>,
    /// Name constraints (intermediates only), made by [`NameConstraintSet::new`] from
    /// `dns:…`, `ip:…`, `email:…` and `uri:…` subtrees, or carried over as they are.
    pub name_constraints: NameConstraintSet,
    /// The policies the CA certificate asserts, and (intermediates only) the policy
    /// constraints it places below it.
    pub policies: CaPolicies,
    /// How the new CA publishes revocation (base URL, CRL lifetimes, partitions, OCSP).
    pub settings: CaSettings,
    /// The key store the CA's key is generated in (a URI: `file:keys`, `hsm-sim://…`,
    /// `pkcs11:…`); [`DEFAULT_KEY_STORE`] when absent.
    pub key_store: Option<String>,
}

/// Whether a CA's key can be used now ([`Directory::key_health`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHealth {
    /// The CA's name.
    pub ca: String,
    /// The key's custodian (its URI scheme: `file`, `hsm-sim`, `pkcs11`).
    pub custodian: String,
    /// What is wrong, when something is.
    pub problem: Option<String>,
}

/// Where the subject's key comes from.
#[derive(Clone, Debug)]
pub enum SubjectKey {
    /// A PKCS#10 CSR (PEM or DER bytes).
    Csr(Vec<u8>),
    /// caforge generates a key of this type and returns it.
    Generate(KeyType),
}

/// A request for an end-entity certificate.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// Issuing CA, by name or id.
    pub ca: String,
    /// The subject's key.
    pub key: SubjectKey,
    /// Subject DN; for CSRs, overrides the CSR's subject.
    pub subject: Option<String>,
    /// SANs as `dns:…`, `ip:…`, `email:…`, `uri:…`; when empty, the CSR's requested SANs.
    pub sans: Vec<String>,
    /// Profile.
    pub profile: ProfileName,
    /// Validity in days (profile default when absent).
    pub days: Option<u32>,
    /// Who asks: authorized ([`crate::authz::authorize`]) once the certificate's names
    /// are known, and named in its audit entries.
    pub principal: Principal,
}

/// The result of a successful issuance.
pub struct Issued {
    /// The stored certificate.
    pub record: CertificateRecord,
    /// Its DER.
    pub der: Vec<u8>,
    /// The issuer chain, issuer first, up to and including the root.
    pub chain: Vec<Vec<u8>>,
    /// The generated key, when caforge made one.
    pub generated_key: Option<SoftwareKey>,
    /// Things the caller should tell the user (e.g. validity clipped to the issuer).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("record", &self.record)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// A CA that was created, with warnings for the user.
#[derive(Debug)]
pub struct CreatedCa {
    /// The stored CA.
    pub record: CaRecord,
    /// Warnings (validity clipped to the parent, …).
    pub warnings: Vec<String>,
}

/// Every service over one store, composed: what the CLI and the server build once and
/// hand each front-end handler the parts it needs.
#[derive(Clone)]
pub struct Services<S> {
    /// CAs, chains, certificates and CA keys.
    pub directory: Arc<Directory<S>>,
    /// Leaf issuance.
    pub issuance: Arc<Issuance<S>>,
    /// Dual certificates and the KMC.
    pub dual: Arc<Dual<S>>,
    /// Revocation and CRLs.
    pub revocations: Arc<Revocations<S>>,
    /// The OCSP responder.
    pub responder: Arc<Responder<S>>,
    /// CA creation and settings, rollover, cross-signing, renewal, managed certificates
    /// and maintenance.
    pub lifecycle: Arc<Lifecycle<S>>,
    /// API tokens and quotas.
    pub tokens: Arc<Tokens<S>>,
    /// Imported certificates and expiry notifications.
    pub inventory: Arc<Inventory<S>>,
    clock: Arc<dyn Clock>,
    /// The store itself, for tests to look at what the services wrote.
    #[cfg(test)]
    store: S,
}

impl<S> std::fmt::Debug for Services<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

impl<S: Store + Clone> Services<S> {
    /// Every service over `store`, with CA keys from `keys`, time from `clock`,
    /// certificate profiles `profiles` and the deployment `hooks` managed certificates may
    /// name; the services' own actions (everything a request does not carry a principal
    /// for) are recorded as `acting`'s.
    pub fn new(
        store: S,
        keys: Arc<dyn KeyProvider>,
        clock: Arc<dyn Clock>,
        profiles: Profiles,
        hooks: crate::config::Hooks,
        acting: Principal,
    ) -> Self {
        let directory = Arc::new(Directory::new(
            store.clone(),
            Arc::new(Signers::new(keys)),
            acting.clone(),
        ));
        let issuance = Arc::new(Issuance::new(
            store.clone(),
            Arc::clone(&directory),
            Arc::clone(&clock),
            profiles,
        ));
        let revocations = Arc::new(Revocations::new(
            store.clone(),
            Arc::clone(&directory),
            Arc::clone(&clock),
        ));
        let responder = Arc::new(Responder::new(
            store.clone(),
            Arc::clone(&directory),
            Arc::clone(&clock),
        ));
        Services {
            dual: Arc::new(Dual::new(
                store.clone(),
                Arc::clone(&directory),
                Arc::clone(&issuance),
                Arc::clone(&clock),
            )),
            lifecycle: Arc::new(Lifecycle::new(
                store.clone(),
                Arc::clone(&directory),
                Arc::clone(&issuance),
                Arc::clone(&revocations),
                Arc::clone(&responder),
                Arc::clone(&clock),
                hooks,
            )),
            tokens: Arc::new(Tokens::new(
                store.clone(),
                Arc::clone(&clock),
                acting.clone(),
            )),
            inventory: Arc::new(Inventory::new(store.clone(), Arc::clone(&clock), acting)),
            #[cfg(test)]
            store,
            directory,
            issuance,
            revocations,
            responder,
            clock,
        }
    }
}

impl<S> Services<S> {
    /// "Now" by the services' clock (Unix seconds).
    #[must_use]
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// The clock the services run on.
    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// The store (tests only: front ends go through the services).
    #[cfg(test)]
    pub(crate) fn store(&self) -> &S {
        &self.store
    }
}

/// The issuance service: drafts leaf and CA certificates under profiles and policy and
/// signs them through the issuance `issuance::pipeline`. It takes the store's CA, lifecycle and
/// certificate roles and the [`Directory`] (issuing CAs and their keys).
pub struct Issuance<S> {
    store: S,
    directory: Arc<Directory<S>>,
    clock: Arc<dyn Clock>,
    profiles: Profiles,
}

/// A CA ready to issue: its issuer (record, certificate, key) and its chain, itself first.
/// A leaf signed and verified by the pipeline, not yet committed.
pub(crate) struct SignedLeaf {
    pub(crate) signed: pipeline::Signed,
    /// The issuing CA's name.
    pub(crate) issuer: String,
    pub(crate) der: Vec<u8>,
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) generated_key: Option<SoftwareKey>,
    pub(crate) warnings: Vec<String>,
}

pub(crate) struct IssuingCa {
    pub(crate) issuer: Issuer,
    pub(crate) chain: Vec<CaRecord>,
    /// What the intermediates of the chain say about policy, top-down (the root is a trust
    /// anchor: its extensions take no part in path validation).
    pub(crate) chain_policies: Vec<(String, CaPolicies)>,
    /// The CA that was asked for, when a rollover moved issuance to its successor.
    pub(crate) rolled_from: Option<String>,
}

impl<S> std::fmt::Debug for Issuance<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuance").finish_non_exhaustive()
    }
}

fn parse_name(dn: &str) -> Result<Name> {
    let name = Name::from_str(dn).map_err(|e| {
        Error::Invalid(format!(
            "invalid subject '{dn}': {e} (expected e.g. CN=example,O=Example Ltd,C=GB)"
        ))
    })?;
    Ok(name)
}

/// What replaces parts of an [`IssueRequest`] inside [`Issuance`]: dual certificates set
/// their own key usage; renewals keep the exact subject name and key of the predecessor.
#[derive(Default)]
struct LeafOverrides {
    key_usage: Option<crate::profile::KeyUsageBits>,
    /// The key of a certificate caforge already issued: its possession was proven then.
    existing_key: Option<spki::SubjectPublicKeyInfoOwned>,
    subject: Option<Name>,
}

impl LeafOverrides {
    fn key_usage(bits: crate::profile::KeyUsageBits) -> Self {
        LeafOverrides {
            key_usage: Some(bits),
            ..Default::default()
        }
    }
}

enum LeafKeySource<'a> {
    Existing(spki::SubjectPublicKeyInfoOwned),
    Request(&'a SubjectKey),
}

/// A leaf certificate checked against policy and drafted ([`Issuance::issue`] steps 2–5),
/// not yet signed.
struct PreparedLeaf {
    draft: Draft,
    subject: Name,
    sans: Vec<SubjectAltName>,
    generated_key: Option<SoftwareKey>,
    warnings: Vec<String>,
}

struct Publication {
    extensions: Vec<x509_cert::ext::Extension>,
    partition: Option<u32>,
    crl_url: Option<String>,
}

/// Where a certificate signed by `issuer` learns about revocation: CRL DP (naming the
/// partition's CRL) and AIA, plus the partition and CDP URL to record with it. The CRL for
/// that partition carries the same URL in its IDP, so the two can never disagree.
fn publication(issuer: &CaRecord, serial: &SerialNumber) -> Result<Publication> {
    let s = &issuer.settings;
    let partition = s.partition_for(serial.as_bytes());
    let crl_url = s.crl_url(&issuer.name, partition, false);
    let mut extensions = Vec::new();
    if let Some(url) = &crl_url {
        extensions.push(issuance::crl_distribution_points(url)?);
    }
    if let (Some(ocsp), Some(ca_issuers)) = (s.ocsp_url(), s.ca_issuers_url(&issuer.name)) {
        extensions.push(issuance::authority_info_access(&ocsp, &ca_issuers)?);
    }
    Ok(Publication {
        extensions,
        partition,
        crl_url,
    })
}

impl<S: CaStore + LifecycleStore + CertificateStore> Issuance<S> {
    /// The service over `store`, issuing under CAs found in `directory`, with time from
    /// `clock` and certificate profiles `profiles`.
    pub(crate) fn new(
        store: S,
        directory: Arc<Directory<S>>,
        clock: Arc<dyn Clock>,
        profiles: Profiles,
    ) -> Self {
        Issuance {
            store,
            directory,
            clock,
            profiles,
        }
    }

    /// `lineage` is the generation and predecessor of a rollover successor.
    pub(in crate::authority) async fn create_ca(
        &self,
        req: &NewCaRequest,
        parent: Option<Issuer>,
        lineage: Option<(u32, IssuerId)>,
    ) -> Result<CreatedCa> {
        // 1. Validate everything that can be checked without side effects.
        if req.name.trim().is_empty() || req.name.len() > 64 {
            return Err(Error::Invalid("CA name must be 1 to 64 characters".into()));
        }
        if req.name.parse::<i64>().is_ok() {
            return Err(Error::Invalid(
                "a CA name cannot be a number (numbers select CAs by id)".into(),
            ));
        }
        if self.store.find_ca(&req.name).await.is_ok() {
            return Err(Error::Store(crate::store::StoreError::Conflict(format!(
                "a CA named '{}' already exists",
                req.name
            ))));
        }
        let subject = parse_name(
            req.subject
                .as_deref()
                .unwrap_or(&format!("CN={}", req.name)),
        )?;
        let sm2_id = req
            .sm2_id
            .clone()
            .unwrap_or_else(|| DEFAULT_SM2_ID.to_owned());
        if sm2_id.len() > 8191 {
            return Err(Error::Invalid("SM2 signer ID is too long".into()));
        }
        req.settings.validate().map_err(Error::Invalid)?;
        let constraints = req.name_constraints.clone();
        if parent.is_none() && !constraints.is_empty() {
            return Err(Error::Invalid(
                "name constraints belong on intermediates, not roots".into(),
            ));
        }
        if parent.is_none() && req.policies.has_constraints() {
            return Err(Error::Invalid(
                "policy constraints belong on intermediates: a root is a trust anchor, and verifiers do not read its extensions".into(),
            ));
        }
        let now = self.clock.now();
        let mut warnings = Vec::new();
        let (days, path_len) = match &parent {
            None => (req.days.unwrap_or(DEFAULT_ROOT_DAYS), req.path_len),
            Some(p) => {
                let path_len = match (p.record.path_len, req.path_len) {
                    (Some(0), _) => {
                        return Err(Error::Invalid(format!(
                            "CA '{}' has pathLenConstraint 0 and cannot certify another CA",
                            p.record.name
                        )))
                    }
                    (Some(pl), Some(want)) if want >= pl => {
                        return Err(Error::Invalid(format!(
                            "a pathLenConstraint of {want} is not below the parent's {pl}"
                        )))
                    }
                    (Some(pl), None) => Some(pl - 1),
                    (None, want) => Some(want.unwrap_or(0)),
                    (_, want) => want,
                };
                (req.days.unwrap_or(DEFAULT_INTERMEDIATE_DAYS), path_len)
            }
        };
        let plan = policy::ca_validity(
            days,
            now,
            parent.as_ref().map(|p| (p.not_before(), p.not_after())),
        )?;
        if plan.clipped_to_issuer {
            warnings.push(format!(
                "validity clipped to the parent CA's notAfter ({})",
                plan.not_after
            ));
        }

        // 2. Generate the key inside its custodian.
        let store = req.key_store.as_deref().unwrap_or(DEFAULT_KEY_STORE);
        let (key_ref, signer) =
            self.directory
                .signers()
                .keys()
                .generate(store, req.key_type, &req.name, &sm2_id)?;
        let signer: Arc<dyn Signer> = Arc::from(signer);
        let result = self
            .finish_ca(
                req,
                parent,
                subject,
                sm2_id,
                constraints,
                path_len,
                plan,
                key_ref.clone(),
                signer,
                lineage,
            )
            .await;
        if result.is_err() {
            // Nothing was recorded: do not leave an orphaned key behind.
            let _ = self.directory.signers().keys().remove(&key_ref);
        }
        Ok(CreatedCa {
            record: result?,
            warnings,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_ca(
        &self,
        req: &NewCaRequest,
        parent: Option<Issuer>,
        subject: Name,
        sm2_id: String,
        constraints: NameConstraintSet,
        path_len: Option<u8>,
        plan: policy::ValidityPlan,
        key_ref: crate::keys::KeyRef,
        signer: Arc<dyn Signer>,
        lineage: Option<(u32, IssuerId)>,
    ) -> Result<CaRecord> {
        let now = self.clock.now();
        let key_id = issuance::key_identifier(signer.public_key_info());
        let (issuer_name, issuing, kind) = match &parent {
            None => (
                subject.clone(),
                Issuing::itself(Arc::clone(&signer), &key_id),
                CertificateKind::Root,
            ),
            Some(p) => (
                p.subject.clone(),
                Issuing::by(p)?,
                CertificateKind::Intermediate,
            ),
        };
        let serial = SerialNumber::random()
            .map_err(|_| Error::Internal("random generator failed".into()))?;

        // 3. Draft: extensions, publication points, both audit entries.
        let mut extensions = vec![
            issuance::basic_constraints(true, path_len)?,
            issuance::ca_key_usage()?,
            issuance::subject_key_identifier(&key_id)?,
        ];
        if let Some(p) = &parent {
            extensions.push(issuance::authority_key_identifier(&p.key_id()?)?);
        }
        if !constraints.is_empty() {
            extensions.push(issuance::name_constraints(&constraints)?);
        }
        extensions.extend(req.policies.extensions()?);
        let published = match &parent {
            Some(p) => publication(&p.record, &serial)?,
            None => Publication {
                extensions: vec![],
                partition: None,
                crl_url: None,
            },
        };
        extensions.extend(published.extensions);
        let issuer_key_type = parent.as_ref().map_or(req.key_type, |p| p.key_type);
        let parent_name = parent.as_ref().map(|p| p.record.name.clone());
        let subject_text = crate::x509::name_text(&subject);
        let at = now.unix_timestamp();
        let details = serde_json::json!({"parent": parent_name, "key_type": req.key_type.as_str()});
        let draft = Draft {
            kind,
            template: CertificateTemplate {
                serial: serial.clone(),
                issuer: issuer_name,
                subject,
                not_before: plan.not_before,
                not_after: plan.not_after,
                spki: signer.public_key_info().clone(),
                extensions,
                signature_algorithm: issuer_key_type.signature_algorithm(),
            },
            subject_text: subject_text.clone(),
            issuer_ca_id: parent.as_ref().map(|p| p.record.id),
            sans: vec![],
            profile: CertificateProfile::Ca,
            key_type: req.key_type.into(),
            crl_partition: published.partition,
            crl_url: published.crl_url,
            at,
            audit_ca: req.name.clone(),
            principal: self.directory.acting().audit_name(),
            signing: (AuditAction::CaSigning, details.clone()),
            signed: (AuditAction::CaCreated, details),
        };

        // 4.–5. Lint, reserve, sign, verify.
        let signed = pipeline::prepare_and_sign(&self.store, issuing, draft).await?;

        // 6. Commit the CA with its certificate.
        let ca = NewCa {
            name: req.name.clone(),
            parent_id: parent.as_ref().map(|p| p.record.id),
            key_type: req.key_type,
            key_ref,
            sm2_id,
            key_id: hex::encode_upper(&key_id),
            subject: subject_text,
            serial,
            not_before: signed.cert.not_before,
            not_after: signed.cert.not_after,
            path_len,
            name_constraints: constraints,
            cert_der: signed.cert.der.clone(),
            created_at: at,
            settings: req.settings.clone(),
            generation: lineage.map_or(1, |(g, _)| g),
            predecessor: lineage.map(|(_, p)| p),
        };
        Ok(self
            .store
            .create_ca(&ca, &signed.cert, &signed.issuer_key_id, &signed.audit)
            .await
            .map(pipeline::committed)?)
    }

    /// Issues an end-entity certificate.
    ///
    /// Steps: 1. resolve the issuer and load its key (a wrong passphrase stops here);
    /// 2. parse the CSR and verify proof of possession, or generate the key; 3. apply policy
    /// (key, SANs, name constraints of every CA in the chain, validity with clipping);
    /// 4. pick the serial; 5. draft the certificate; 6. the issuance pipeline
    /// (`issuance::pipeline`): lint its DER, reserve the serial and audit "signing" in one durable
    /// write (CA not revoked, key not blocked), sign, verify; 7. commit certificate and
    /// "signed" audit entry in one transaction; 8. return certificate, chain and warnings.
    ///
    /// # Errors
    /// Any refusal leaves the store unchanged except, once step 6 has reserved it, an unused
    /// reserved serial.
    pub async fn issue(&self, req: &IssueRequest) -> Result<Issued> {
        self.issue_with(req, LeafOverrides::default()).await
    }

    /// [`Issuance::issue`] with `overrides` (a key generated and sealed beforehand).
    pub(in crate::authority) async fn issue_with(
        &self,
        req: &IssueRequest,
        overrides: LeafOverrides,
    ) -> Result<Issued> {
        let leaf = self.sign_leaf(req, overrides).await?;
        // 7.
        let record = leaf.signed.commit(&self.store).await?;
        // 8.
        Ok(Issued {
            record,
            der: leaf.der,
            chain: leaf.chain,
            generated_key: leaf.generated_key,
            warnings: leaf.warnings,
        })
    }

    /// Steps 1–6 of [`Issuance::issue`]: a signed and verified leaf, not yet committed (a
    /// managed certificate commits it with its own row).
    pub(in crate::authority) async fn sign_leaf(
        &self,
        req: &IssueRequest,
        overrides: LeafOverrides,
    ) -> Result<SignedLeaf> {
        // Before any work for the request: may the principal issue under this CA and
        // profile at all? (Its subject and names are checked once they are known, in step
        // 3.)
        authorize(
            &req.principal,
            Action::Issue,
            &Target::before_subject(&req.ca, CertificateProfile::Leaf(req.profile)),
        )?;
        // 1.
        let ca = self.directory.issuing_ca(&req.ca).await?;
        let (issuer, chain_records) = (&ca.issuer, &ca.chain);
        // 2.–5.
        let mut leaf = self.prepare_leaf(&ca, req, overrides).await?;
        if let Some(from) = &ca.rolled_from {
            leaf.warnings.push(format!(
                "CA '{from}' was rolled over: issued by its successor '{}'",
                issuer.record.name
            ));
        }
        // 6.
        let signed =
            pipeline::prepare_and_sign(&self.store, Issuing::by(issuer)?, leaf.draft).await?;
        Ok(SignedLeaf {
            issuer: issuer.record.name.clone(),
            der: signed.cert.der.clone(),
            signed,
            chain: chain_records.iter().map(|c| c.cert_der.clone()).collect(),
            generated_key: leaf.generated_key,
            warnings: leaf.warnings,
        })
    }

    /// Steps 2–5 of [`Issuance::issue`] under the loaded issuing CA `ca` (its chain issuer
    /// first): the key, policy, the serial and the drafted certificate (nothing written),
    /// with `overrides` taking precedence over the request.
    pub(in crate::authority) async fn prepare_leaf(
        &self,
        ca: &IssuingCa,
        req: &IssueRequest,
        overrides: LeafOverrides,
    ) -> Result<PreparedLeaf> {
        let (issuer, chain_records) = (&ca.issuer, &ca.chain);
        let profile = self.profiles.get(req.profile);
        let now = self.clock.now();
        let LeafOverrides {
            key_usage,
            existing_key,
            subject: subject_override,
        } = overrides;
        // 2.
        let source = match existing_key {
            Some(spki) => LeafKeySource::Existing(spki),
            None => LeafKeySource::Request(&req.key),
        };
        let (spki, key_desc, csr_subject, csr_sans, generated_key) = match source {
            LeafKeySource::Existing(spki) => {
                let desc = PublicKeyDescription::of(&spki)?;
                (spki, desc, None, vec![], None)
            }
            LeafKeySource::Request(key) => match key {
                SubjectKey::Csr(bytes) => {
                    let csr = ParsedCsr::parse(bytes)?;
                    (
                        csr.spki,
                        csr.key,
                        Some(csr.subject),
                        csr.requested_sans,
                        None,
                    )
                }
                SubjectKey::Generate(kt) => {
                    let key = tokio::task::spawn_blocking({
                        let kt = *kt;
                        move || SoftwareKey::generate(kt, DEFAULT_SM2_ID)
                    })
                    .await
                    .map_err(|e| Error::Internal(format!("key generation task failed: {e}")))??;
                    let spki = key.public_key_info().clone();
                    let desc = PublicKeyDescription::of(&spki)?;
                    (spki, desc, None, vec![], Some(key))
                }
            },
        };

        // 3.
        policy::check_subject_key(key_desc)?;
        let subject = match (subject_override, &req.subject, csr_subject) {
            (Some(name), _, _) => name,
            (None, Some(dn), _) => parse_name(dn)?,
            (None, None, Some(name)) => name,
            (None, None, None) => {
                return Err(Error::Invalid(
                    "a subject DN is required (e.g. CN=…)".into(),
                ))
            }
        };
        let sans: Vec<SubjectAltName> = if req.sans.is_empty() {
            csr_sans
        } else {
            req.sans
                .iter()
                .map(|s| s.parse())
                .collect::<std::result::Result<_, _>>()?
        };
        policy::check_san_count(&sans)?;
        let mut sans_dedup = Vec::with_capacity(sans.len());
        for s in sans {
            if !sans_dedup.contains(&s) {
                sans_dedup.push(s);
            }
        }
        let sans = sans_dedup;
        if profile.requires_san && sans.is_empty() {
            return Err(policy::PolicyError::MissingSan(profile.name.to_string()).into());
        }
        if subject.is_empty() && sans.is_empty() {
            return Err(Error::Invalid(
                "a certificate needs a subject or at least one SAN".into(),
            ));
        }
        let subject_names = policy::subject_names(&subject);
        for ca in chain_records {
            policy::check_name_constraints(&sans, &subject_names, &ca.name_constraints, &ca.name)?;
        }
        let path: Vec<(&str, &CaPolicies)> = ca
            .chain_policies
            .iter()
            .map(|(name, p)| (name.as_str(), p))
            .collect();
        let policy_warning = crate::certpolicy::check_path(&path, &profile.policies)
            .map_err(policy::PolicyError::CertificatePolicy)?;
        policy::check_subject(&subject, &profile.subject_attributes, profile.name.as_str())?;
        if profile.name == ProfileName::TlsServer {
            policy::check_common_names_in_sans(&subject, &sans)?;
        }
        // Now that its names are known, the whole certificate (for principals whose rights
        // have bounds: the operator's and the server's have none to check).
        if req.principal.is_scoped() {
            let mut target = Target::certificate(
                &issuer.record.name,
                CertificateProfile::Leaf(profile.name),
                &subject,
                &sans,
            );
            target.cas.push(&req.ca);
            authorize(&req.principal, Action::Issue, &target)?;
        }
        let plan = policy::leaf_validity(
            &profile,
            req.days,
            now,
            issuer.not_before(),
            issuer.not_after(),
        )?;
        let mut warnings: Vec<String> = policy_warning.into_iter().collect();
        if plan.clipped_to_issuer {
            warnings.push(format!(
                "validity clipped: CA '{}' expires at {}, before the requested end; re-issue under a newer CA before then",
                issuer.record.name, plan.not_after
            ));
        }

        // 4. (reserved by the pipeline with the signing check, in step 6)
        let serial = SerialNumber::random()
            .map_err(|_| Error::Internal("random generator failed".into()))?;
        let issuer_key_id = issuer.key_id()?;

        // 5.
        let is_rsa = matches!(key_desc, PublicKeyDescription::Rsa { .. });
        let mut extensions = vec![
            issuance::basic_constraints(false, None)?,
            issuance::leaf_key_usage(key_usage.unwrap_or_else(|| profile.key_usage(is_rsa)))?,
            issuance::extended_key_usage(&profile.eku)?,
            issuance::subject_key_identifier(&issuance::key_identifier(&spki))?,
            issuance::authority_key_identifier(&issuer_key_id)?,
        ];
        if !sans.is_empty() {
            extensions.push(issuance::subject_alt_name(&sans, subject.is_empty())?);
        }
        if !profile.policies.is_empty() {
            extensions.push(crate::certpolicy::certificate_policies(&profile.policies)?);
        }
        let published = publication(&issuer.record, &serial)?;
        extensions.extend(published.extensions);
        let subject_text = crate::x509::name_text(&subject);
        let at = now.unix_timestamp();
        let draft = Draft {
            kind: CertificateKind::Leaf(profile.name),
            audit_ca: issuer.record.name.clone(),
            principal: req.principal.audit_name(),
            signing: (
                AuditAction::CertSigning,
                serde_json::json!({"profile": profile.name.as_str(), "subject": subject_text}),
            ),
            signed: (
                AuditAction::CertSigned,
                serde_json::json!({
                    "profile": profile.name.as_str(),
                    "subject": subject_text,
                    "sans": sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "clipped": plan.clipped_to_issuer,
                }),
            ),
            template: CertificateTemplate {
                serial,
                issuer: issuer.subject.clone(),
                subject: subject.clone(),
                not_before: plan.not_before,
                not_after: plan.not_after,
                spki,
                extensions,
                signature_algorithm: issuer.key_type.signature_algorithm(),
            },
            subject_text,
            issuer_ca_id: Some(issuer.record.id),
            sans: sans.clone(),
            profile: CertificateProfile::Leaf(profile.name),
            key_type: key_desc,
            crl_partition: published.partition,
            crl_url: published.crl_url,
            at,
        };
        Ok(PreparedLeaf {
            draft,
            subject,
            sans,
            generated_key,
            warnings,
        })
    }
}
