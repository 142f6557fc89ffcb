//! The one issuance pipeline. Every certificate caforge signs (root, intermediate, leaf,
//! both halves of a dual pair, OCSP responder, cross certificate, renewal) takes the same
//! steps; the services only draft it and choose how it is recorded:
//!
//! 1. [`prepare`]: the service's [`Draft`] is encoded as TBSCertificate DER and that DER is
//!    linted ([`lint_tbs_der`]); then one durable write records the intent: the serial is
//!    reserved under the issuing key, the issuing CA (unless the certificate signs itself)
//!    is checked not revoked and the subject key not blocked, and the "signing" audit entry
//!    is appended ([`CertificateStore::begin_signing`]). A lint failure writes nothing.
//! 2. [`Prepared::sign`] signs exactly the bytes that were linted and verifies the
//!    signature before anything else sees it ([`sign_verified`]). The prepared value is
//!    consumed: its serial can be signed once.
//! 3. The [`Signed`] certificate is committed by the service's store call, which marks the
//!    serial used, stores the certificate and appends the "signed" audit entry in one
//!    transaction, with whatever its kind adds (the CA row, the pair link, the successor
//!    link, the responder key): [`Signed::commit`] for a plain certificate.
//!
//! A failure before step 3 leaves at most the reserved, unused serial, and the "signing"
//! audit entry saying it was reserved.

use std::sync::Arc;

use super::{assemble_certificate, CertificateTemplate};
use crate::audit::{AuditAction, AuditEvent};
use crate::hierarchy::Issuer;
use crate::keys::{sign_verified, PublicKeyDescription, Signer};
use crate::lint::{lint_tbs_der, CertificateKind};
use crate::policy::SubjectAltName;
use crate::profile::CertificateProfile;
use crate::store::{
    CertificateRecord, CertificateStore, IssuerId, NewCertificate, SigningIntent, SigningRefusal,
};
use crate::{Error, Result};

/// Who signs a certificate.
pub(crate) struct Issuing {
    /// The issuing key.
    signer: Arc<dyn Signer>,
    /// Its key identifier in upper-case hex: the namespace of its serials.
    key_id_hex: String,
    /// The issuing CA's name and its own certificate row (its issuer's id and its serial),
    /// checked for revocation; `None` for a certificate that signs itself (a new root).
    ca: Option<(String, IssuerId, String)>,
}

impl Issuing {
    /// Signing by the existing CA `issuer`.
    ///
    /// # Errors
    /// A stored key identifier that is not hex.
    pub(crate) fn by(issuer: &Issuer) -> Result<Issuing> {
        let ca = &issuer.record;
        Ok(Issuing {
            signer: Arc::clone(&issuer.signer),
            key_id_hex: hex::encode_upper(issuer.key_id()?),
            ca: Some((
                ca.name.clone(),
                ca.parent_id.unwrap_or(ca.id),
                ca.serial.to_hex(),
            )),
        })
    }

    /// A certificate signed by its own new key, whose identifier is `key_id` (a root).
    pub(crate) fn itself(signer: Arc<dyn Signer>, key_id: &[u8]) -> Issuing {
        Issuing {
            signer,
            key_id_hex: hex::encode_upper(key_id),
            ca: None,
        }
    }
}

/// A certificate as a service drafts it: the template to sign, what to record with it and
/// its two audit entries.
pub(crate) struct Draft {
    /// What kind of certificate it is (chooses the lints).
    pub(crate) kind: CertificateKind,
    /// Everything that is signed.
    pub(crate) template: CertificateTemplate,
    /// The template's subject as RFC 4514 text.
    pub(crate) subject_text: String,
    /// The issuing CA's row id (`None` for a root: the store links it to itself).
    pub(crate) issuer_ca_id: Option<IssuerId>,
    /// The subject alternative names, as recorded.
    pub(crate) sans: Vec<SubjectAltName>,
    /// The profile recorded.
    pub(crate) profile: CertificateProfile,
    /// The subject key, as recorded.
    pub(crate) key_type: PublicKeyDescription,
    /// The CRL partition that covers it, and that CRL's URL.
    pub(crate) crl_partition: Option<u32>,
    /// The URL in its CRL distribution point.
    pub(crate) crl_url: Option<String>,
    /// When it is issued (Unix seconds).
    pub(crate) at: i64,
    /// The CA its audit entries name.
    pub(crate) audit_ca: String,
    /// Who its audit entries name ([`crate::authz::Principal::audit_name`]).
    pub(crate) principal: String,
    /// The "signing" entry's action and details, appended with the serial's reservation.
    pub(crate) signing: (AuditAction, serde_json::Value),
    /// The "signed" entry's action and details, appended with the certificate; the
    /// pipeline adds the certificate's fingerprint.
    pub(crate) signed: (AuditAction, serde_json::Value),
}

impl Draft {
    /// One of its audit entries.
    fn entry(&self, (action, details): (AuditAction, serde_json::Value)) -> AuditEvent {
        AuditEvent {
            at: self.at,
            action,
            ca: Some(self.audit_ca.clone()),
            serial: Some(self.template.serial.to_hex()),
            details,
            principal: Some(self.principal.clone()),
        }
    }
}

/// A certificate whose TBS is encoded and linted and whose serial is reserved: ready to be
/// signed, once.
#[must_use = "a prepared certificate is consumed by signing and committing it"]
pub(crate) struct Prepared {
    tbs: Vec<u8>,
    draft: Draft,
    issuing: Issuing,
    spki_sha256: String,
}

/// A signed and verified certificate, not yet stored.
#[must_use = "a signed certificate must be committed, or its serial stays reserved and unused"]
pub(crate) struct Signed {
    /// The row to store.
    pub(crate) cert: NewCertificate,
    /// The issuing key's identifier, under which the serial was reserved.
    pub(crate) issuer_key_id: String,
    /// The "signed" audit entry (with the fingerprint).
    pub(crate) audit: AuditEvent,
}

/// Test-only crash points (feature `failpoints`): a process whose `CAFORGE_TEST_FAILPOINT`
/// names `step` (`prepared`, `signed`, `committed`) aborts there, with no cleanup, as a
/// kill -9 would stop it. Without the feature it does nothing.
#[cfg(feature = "failpoints")]
fn failpoint(step: &str) {
    if std::env::var("CAFORGE_TEST_FAILPOINT").is_ok_and(|s| s == step) {
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
fn failpoint(_step: &str) {}

/// Marks the end of step 3: every service passes its commit's result through here.
pub(crate) fn committed<T>(value: T) -> T {
    failpoint("committed");
    value
}

/// A certificate whose TBS is encoded and linted, nothing written yet: what a service that
/// signs several certificates together (a dual pair) holds for each before any is
/// reserved, so a lint failure on one writes nothing for either.
#[must_use = "a prepared certificate is consumed by signing and committing it"]
pub(crate) struct Linted(Prepared);

/// Step 1a: encodes `draft` and lints the DER; writes nothing.
///
/// # Errors
/// A lint failure; encoding errors.
pub(crate) fn lint(issuing: Issuing, draft: Draft) -> Result<Linted> {
    let tbs = draft.template.to_tbs_der()?;
    lint_tbs_der(&tbs, draft.kind, issuing.signer.key_type())?;
    let spki_sha256 = crate::x509::spki_sha256(&draft.template.spki)?;
    Ok(Linted(Prepared {
        tbs,
        draft,
        issuing,
        spki_sha256,
    }))
}

/// Step 1: encodes and lints `draft`, then records the intent to sign it in one durable
/// write (serial reserved, CA and key checked, "signing" audited).
///
/// # Errors
/// A lint failure (nothing written); a revoked issuing CA or a blocked subject key (nothing
/// written); store failures.
pub(crate) async fn prepare(
    store: &impl CertificateStore,
    issuing: Issuing,
    draft: Draft,
) -> Result<Prepared> {
    lint(issuing, draft)?.reserve(store).await
}

impl Linted {
    /// Step 1b: records the intent to sign in one durable write (serial reserved, CA and
    /// key checked, "signing" audited).
    ///
    /// # Errors
    /// A revoked issuing CA or a blocked subject key (nothing written); store failures.
    pub(crate) async fn reserve(self, store: &impl CertificateStore) -> Result<Prepared> {
        let Linted(prepared) = self;
        let Prepared { draft, issuing, .. } = &prepared;
        let intent = SigningIntent {
            ca_certificate: issuing
                .ca
                .as_ref()
                .map(|(_, id, serial)| (*id, serial.clone())),
            issuer_key_id: issuing.key_id_hex.clone(),
            serial: draft.template.serial.clone(),
            spki_sha256: prepared.spki_sha256.clone(),
            at: draft.at,
            audit: draft.entry(draft.signing.clone()),
        };
        match store.begin_signing(&intent).await? {
            Ok(()) => {}
            Err(SigningRefusal::CaRevoked(reason)) => {
                let name = issuing.ca.as_ref().map_or("", |(name, _, _)| name.as_str());
                return Err(Error::Invalid(format!(
                    "CA '{name}' is revoked ({}) and cannot sign",
                    reason.map_or("unspecified", |r| r.as_str())
                )));
            }
            Err(SigningRefusal::KeyBlocked) => {
                return Err(Error::Invalid(
                    "this public key was reported compromised (a certificate for it was revoked for keyCompromise); generate a new key".into(),
                ))
            }
        }
        failpoint("prepared");
        Ok(prepared)
    }
}

impl Prepared {
    /// Step 2: signs the linted TBS and verifies the signature.
    ///
    /// # Errors
    /// [`Error::BadSignature`] from a faulty custodian; key errors.
    pub(crate) async fn sign(self) -> Result<Signed> {
        let Prepared {
            tbs,
            draft,
            issuing,
            spki_sha256,
        } = self;
        let algorithm = draft.template.signature_algorithm;
        let (tbs, signature) = sign_verified(issuing.signer, tbs).await?;
        let der = assemble_certificate(&tbs, algorithm, &signature)?;
        let fingerprint = crate::x509::fingerprint(&der);
        let mut audit = draft.entry(draft.signed.clone());
        if let Some(details) = audit.details.as_object_mut() {
            details.insert("fingerprint".into(), fingerprint.clone().into());
        }
        let t = draft.template;
        failpoint("signed");
        Ok(Signed {
            cert: NewCertificate {
                issuer_ca_id: draft.issuer_ca_id,
                serial: t.serial,
                subject: draft.subject_text,
                sans: draft.sans,
                profile: draft.profile,
                key_type: draft.key_type,
                not_before: t.not_before.unix_timestamp(),
                not_after: t.not_after.unix_timestamp(),
                fingerprint,
                der,
                created_at: draft.at,
                crl_partition: draft.crl_partition,
                crl_url: draft.crl_url,
                spki_sha256,
            },
            issuer_key_id: issuing.key_id_hex,
            audit,
        })
    }
}

impl Signed {
    /// Step 3 for a plain certificate: stores it, marks its serial used and appends the
    /// "signed" entry, in one transaction.
    ///
    /// # Errors
    /// Store failures (the certificate is then not issued).
    pub(crate) async fn commit(self, store: &impl CertificateStore) -> Result<CertificateRecord> {
        Ok(committed(
            store
                .commit_certificate(&self.cert, &self.issuer_key_id, &self.audit)
                .await?,
        ))
    }
}

/// Steps 1 and 2: [`prepare`], then [`Prepared::sign`].
///
/// # Errors
/// As both.
pub(crate) async fn prepare_and_sign(
    store: &impl CertificateStore,
    issuing: Issuing,
    draft: Draft,
) -> Result<Signed> {
    prepare(store, issuing, draft).await?.sign().await
}

#[cfg(test)]
mod tests {
    //! Every kind of certificate goes through the pipeline: a faulty signer commits none of
    //! them, and a lint failure stops one before anything is written.

    use std::str::FromStr;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;
    use crate::algorithm::KeyType;
    use crate::audit::AuditAction;
    use crate::authority::test_support::{
        assert_lint_refused, ca, memory_services, rsa_sm2_pair, MemoryKeys,
    };
    use crate::authority::{IssueRequest, RenewRequest, RolloverRequest, Services, SubjectKey};
    use crate::profile::ProfileName;
    use crate::store::{AnyStore, AuditStore, CaStore, CertificateFilter, SerialStore};

    /// What a failed attempt may change, and what it may not.
    #[derive(Debug, PartialEq, Eq)]
    struct Footprint {
        certificates: usize,
        cas: usize,
        keys: usize,
        signed_entries: usize,
    }

    async fn footprint(a: &Services<AnyStore>, keys: &MemoryKeys) -> (Footprint, usize) {
        let store = a.store();
        let signed = [
            AuditAction::CertSigned,
            AuditAction::CaCreated,
            AuditAction::CaCrossSigned,
            AuditAction::OcspResponderIssued,
        ];
        let log = store.audit_log().await.expect("log");
        (
            Footprint {
                certificates: store
                    .list_certificates(&CertificateFilter::default())
                    .await
                    .expect("list")
                    .len(),
                cas: store.list_cas().await.expect("cas").len(),
                keys: keys.held(),
                signed_entries: log
                    .iter()
                    .filter(|r| signed.contains(&r.event.action))
                    .count(),
            },
            store.unused_serials().await.expect("serials").len(),
        )
    }

    fn tls(ca: &str, key: SubjectKey) -> IssueRequest {
        IssueRequest {
            ca: ca.into(),
            key,
            subject: Some("CN=pipeline.example".into()),
            sans: vec!["dns:pipeline.example".into()],
            profile: ProfileName::TlsServer,
            days: Some(30),
            principal: crate::authz::Principal::Operator("test".into()),
        }
    }

    #[tokio::test]
    async fn a_faulty_signer_commits_no_certificate_of_any_kind() {
        let keys = Arc::new(MemoryKeys::default());
        let a = memory_services(keys.clone()).await;
        a.lifecycle.create_root(&ca("root")).await.expect("root");
        a.lifecycle
            .create_intermediate("root", &ca("sub"))
            .await
            .expect("sub");
        a.lifecycle
            .create_root(&ca("other"))
            .await
            .expect("other root");
        let mut gm = ca("gm");
        gm.key_type = KeyType::Sm2;
        a.lifecycle.create_root(&gm).await.expect("sm2 root");
        let leaf = a
            .issuance
            .issue(&tls("sub", SubjectKey::Generate(KeyType::P256)))
            .await
            .expect("leaf");

        let mut attempts = 0;
        let mut expect_refused = |what: &str, err: Error| {
            assert!(matches!(err, Error::BadSignature), "{what}: {err}");
            attempts += 1;
        };
        let (before, unused_before) = footprint(&a, &keys).await;
        keys.broken.store(true, Ordering::SeqCst);

        let err = a
            .lifecycle
            .create_root(&ca("root2"))
            .await
            .expect_err("root");
        expect_refused("root", err);
        let err = a
            .lifecycle
            .create_intermediate("root", &ca("sub2"))
            .await
            .expect_err("intermediate");
        expect_refused("intermediate", err);
        let err = a
            .issuance
            .issue(&tls("sub", SubjectKey::Generate(KeyType::P256)))
            .await
            .expect_err("leaf");
        expect_refused("leaf", err);
        let err = a
            .lifecycle
            .renew(&RenewRequest {
                serial: leaf.record.serial.to_hex(),
                ..Default::default()
            })
            .await
            .expect_err("renewal");
        expect_refused("renewal", err);
        let err = a
            .responder
            .rotate_responder("sub")
            .await
            .expect_err("responder");
        expect_refused("responder", err);
        let err = a
            .lifecycle
            .cross_sign("sub", "other", None)
            .await
            .expect_err("cross");
        expect_refused("cross certificate", err);
        let err = a
            .lifecycle
            .rollover(&RolloverRequest {
                ca: "sub".into(),
                ..Default::default()
            })
            .await
            .expect_err("rollover");
        expect_refused("rollover", err);
        let err = a
            .dual
            .issue_rsa_sm2_pair(&rsa_sm2_pair("sub", "gm"))
            .await
            .err()
            .expect("pair");
        expect_refused("dual pair", err);

        // Nothing was stored, no key was left behind, no "signed" entry was written: each
        // attempt left only its reserved, unused serial.
        let (after, unused_after) = footprint(&a, &keys).await;
        assert_eq!(after, before);
        assert_eq!(unused_after, unused_before + attempts);
        let log = a.store().audit_log().await.expect("log");
        assert!(crate::audit::verify_chain(&log, None).is_ok());

        // Mended, the same operations sign and commit.
        keys.broken.store(false, Ordering::SeqCst);
        a.lifecycle.create_root(&ca("root2")).await.expect("root");
        a.responder
            .rotate_responder("sub")
            .await
            .expect("responder");
        a.lifecycle
            .cross_sign("sub", "other", None)
            .await
            .expect("cross");
    }

    #[tokio::test]
    async fn every_lint_refuses_through_the_pipeline_and_writes_nothing() {
        let keys = Arc::new(MemoryKeys::default());
        let a = memory_services(keys.clone()).await;
        a.lifecycle.create_root(&ca("root")).await.expect("root");
        let issuer = a.directory.issuing_ca("root").await.expect("issuer");
        let issuer = &issuer.issuer;
        let (before, unused_before) = footprint(&a, &keys).await;
        let log_before = a.store().audit_log().await.expect("log").len();

        let now = time::OffsetDateTime::now_utc();
        let key = |kt: KeyType| {
            crate::keys::SoftwareKey::generate(kt, crate::algorithm::DEFAULT_SM2_ID)
                .expect("key")
                .public_key_info()
                .clone()
        };
        // A well-formed tls-client leaf under the root: each case breaks one rule.
        let base = || Draft {
            kind: CertificateKind::Leaf(ProfileName::TlsClient),
            template: CertificateTemplate {
                serial: crate::issuance::SerialNumber::random().expect("serial"),
                issuer: issuer.subject.clone(),
                subject: x509_cert::name::Name::from_str("CN=client").expect("name"),
                not_before: now,
                not_after: now + time::Duration::days(1),
                extensions: vec![
                    crate::issuance::basic_constraints(false, None).expect("bc"),
                    crate::issuance::leaf_key_usage(crate::profile::KeyUsageBits {
                        digital_signature: true,
                        ..Default::default()
                    })
                    .expect("ku"),
                    crate::issuance::authority_key_identifier(&issuer.key_id().expect("kid"))
                        .expect("aki"),
                ],
                spki: key(KeyType::P256),
                signature_algorithm: issuer.key_type.signature_algorithm(),
            },
            subject_text: "CN=client".into(),
            issuer_ca_id: Some(issuer.record.id),
            sans: vec![],
            profile: CertificateProfile::Leaf(ProfileName::TlsClient),
            key_type: PublicKeyDescription::P256,
            crl_partition: None,
            crl_url: None,
            at: now.unix_timestamp(),
            audit_ca: "root".into(),
            principal: "operator:test".into(),
            signing: (AuditAction::CertSigning, serde_json::json!({})),
            signed: (AuditAction::CertSigned, serde_json::json!({})),
        };
        type Breaks = Box<dyn Fn(&mut Draft)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "e_serial_rules",
                Box::new(|d| {
                    d.template.serial =
                        crate::issuance::SerialNumber::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8])
                            .expect("serial");
                }),
            ),
            (
                "e_validity_order",
                Box::new(move |d| d.template.not_after = now - time::Duration::days(1)),
            ),
            (
                "e_unique_extensions",
                Box::new(|d| {
                    let first = d.template.extensions[0].clone();
                    d.template.extensions.push(first);
                }),
            ),
            (
                "e_ca_basics",
                Box::new(|d| {
                    d.template.extensions[0] =
                        crate::issuance::basic_constraints(true, None).expect("bc");
                }),
            ),
            (
                "e_key_identifiers",
                Box::new(|d| {
                    d.template.extensions.pop();
                }),
            ),
            (
                "e_subject_or_critical_san",
                Box::new(|d| d.template.subject = x509_cert::name::Name::default()),
            ),
            (
                "e_tls_server_san_and_eku",
                Box::new(|d| d.kind = CertificateKind::Leaf(ProfileName::TlsServer)),
            ),
            (
                "e_signature_algorithm_matches_issuer",
                Box::new(|d| {
                    d.template.signature_algorithm = KeyType::Rsa2048.signature_algorithm();
                }),
            ),
            (
                "e_gmt0015_sm2",
                Box::new(move |d| {
                    // An SM2 subject key in compressed form.
                    let mut spki = key(KeyType::Sm2);
                    let point = spki.subject_public_key.raw_bytes().to_vec();
                    let mut compressed = vec![0x02 | (point[64] & 1)];
                    compressed.extend_from_slice(&point[1..33]);
                    spki.subject_public_key =
                        der::asn1::BitString::from_bytes(&compressed).expect("bits");
                    d.template.spki = spki;
                }),
            ),
        ];
        assert_eq!(
            cases.len(),
            crate::lint::certificate_lints().len(),
            "a case for every lint"
        );
        for (lint, breaks) in &cases {
            let mut draft = base();
            breaks(&mut draft);
            let err = prepare(a.store(), Issuing::by(issuer).expect("issuing"), draft)
                .await
                .err()
                .unwrap_or_else(|| panic!("{lint}: signed"));
            assert_lint_refused(&err, lint);
        }
        // No serial reserved, no audit entry, nothing stored; the unbroken draft passes.
        assert_eq!(footprint(&a, &keys).await, (before, unused_before));
        assert_eq!(a.store().audit_log().await.expect("log").len(), log_before);
        let prepared = prepare(a.store(), Issuing::by(issuer).expect("issuing"), base()).await;
        assert!(prepared.is_ok(), "the base draft is well formed");
    }
}
