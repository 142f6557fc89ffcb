//! Dual certificates (双证书): SM2 signing + encryption pairs (GM/T 0015, GB/T 38636 TLCP)
//! with caforge as the key-management centre, and the KMC's escrow and recovery.

use std::sync::Arc;

use super::{Directory, Issuance, Issued, LeafOverrides, PreparedLeaf};
use crate::algorithm::KeyType;
use crate::audit::AuditEvent;
use crate::dual::{self, CsrResponse, ENC_USAGE, SIGN_USAGE};
use crate::hierarchy::Issuer;
use crate::issuance::pipeline::{self, Issuing, Signed};
use crate::issuance::ParsedCsr;
use crate::keys::{PublicKeyDescription, SoftwareKey};
use crate::profile::ProfileName;
use crate::store::{
    AuditStore, CaStore, CertificateRecord, CertificateStore, LifecycleStore, PairMember, PairMode,
    PairStore, Partner, StoreError,
};
use crate::time::Clock;
use crate::{Error, Result};

use super::{IssueRequest, SubjectKey};

/// A request for an SM2 signing + encryption pair.
#[derive(Clone, Debug)]
pub struct Sm2PairRequest {
    /// The SM2 CA issuing both certificates, by name or id.
    pub ca: String,
    /// The subscriber's PKCS#10 CSR for its SM2 *signing* key (PEM or DER).
    pub csr: Vec<u8>,
    /// Subject DN; the CSR's when absent.
    pub subject: Option<String>,
    /// SANs; the CSR's requested SANs when empty.
    pub sans: Vec<String>,
    /// Profile (extended key usage, validity) of both certificates.
    pub profile: ProfileName,
    /// Validity in days (profile default when absent).
    pub days: Option<u32>,
}

/// A request for a dual-algorithm pair (RSA or ECDSA + SM2) for one subject.
#[derive(Clone, Debug)]
pub struct RsaSm2PairRequest {
    /// The RSA (or ECDSA) CA.
    pub rsa_ca: String,
    /// The SM2 CA.
    pub sm2_ca: String,
    /// The RSA/ECDSA side's key: a CSR, or a key caforge generates.
    pub rsa_key: SubjectKey,
    /// The SM2 side's key: a CSR, or a key caforge generates.
    pub sm2_key: SubjectKey,
    /// Subject DN; the RSA CSR's when absent.
    pub subject: Option<String>,
    /// SANs; the RSA CSR's requested SANs when empty.
    pub sans: Vec<String>,
    /// Profile of both certificates.
    pub profile: ProfileName,
    /// Validity in days (profile default when absent).
    pub days: Option<u32>,
}

/// The two certificates of a dual-algorithm pair.
pub struct IssuedPair {
    /// The RSA/ECDSA certificate.
    pub first: Issued,
    /// The SM2 certificate.
    pub second: Issued,
}

/// What an SM2 pair issuance returns: nothing here holds the encryption private key in the
/// clear — the subscriber gets it only inside `envelope`.
pub struct IssuedSm2Pair {
    /// The signing certificate (the subscriber's key).
    pub sign: Issued,
    /// The encryption certificate (the KMC's key).
    pub enc: Issued,
    /// The encryption private key enveloped to the signing key: DER `SM2EnvelopedKey`
    /// (GM/T 0009 §7.4).
    pub envelope: Vec<u8>,
    /// DER `CSRResponse` (GM/T 0092 §8): both certificates with their chains, and the
    /// envelope.
    pub response: Vec<u8>,
}

/// One certificate of a pair, signed but not yet stored.
struct SignedLeaf {
    /// Its issuer chain, issuer first.
    chain: Vec<Vec<u8>>,
    signed: Signed,
    generated_key: Option<SoftwareKey>,
    warnings: Vec<String>,
}

impl SignedLeaf {
    fn into_issued(self, record: CertificateRecord) -> Issued {
        Issued {
            record,
            der: self.signed.cert.der,
            chain: self.chain,
            generated_key: self.generated_key,
            warnings: self.warnings,
        }
    }
}

/// The dual-certificate service: SM2 signing + encryption pairs with caforge as the KMC
/// (escrow and recovery of encryption keys), and RSA + SM2 pairs. It drafts each half
/// through the [`Issuance`] service and takes the store's pair and audit roles itself.
pub struct Dual<S> {
    store: S,
    directory: Arc<Directory<S>>,
    issuance: Arc<Issuance<S>>,
    clock: Arc<dyn Clock>,
}

impl<S> std::fmt::Debug for Dual<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dual").finish_non_exhaustive()
    }
}

impl<S: PairStore + AuditStore + CaStore + CertificateStore + LifecycleStore> Dual<S> {
    /// The service over `store`, drafting through `issuance` under CAs in `directory`,
    /// with time from `clock`.
    pub(crate) fn new(
        store: S,
        directory: Arc<Directory<S>>,
        issuance: Arc<Issuance<S>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Dual {
            store,
            directory,
            issuance,
            clock,
        }
    }

    /// Issues an SM2 signing + encryption pair, caforge acting as CA and KMC.
    ///
    /// Steps: 1. the CA (SM2, not revoked) and its key; 2. the CSR must be an SM2 key with a
    /// valid signature; the signing certificate is checked and drafted exactly as single
    /// issuance would (policy, serial) with key usage digitalSignature|nonRepudiation;
    /// 3. the KMC generates the encryption key and drafts its certificate for the same
    /// subject and SANs with keyEncipherment|dataEncipherment|keyAgreement; 4. both are
    /// linted, then each reserved, signed and verified; 5. the encryption key is enveloped
    /// to the signing key (GM/T 0009) and sealed for escrow by the key custodian; 6. both
    /// certificates, their link and the escrow are committed in one transaction — if
    /// anything before fails, neither is issued.
    ///
    /// # Errors
    /// Everything [`Issuance::issue`] refuses, plus a non-SM2 CSR or CA.
    pub async fn issue_sm2_pair(&self, req: &Sm2PairRequest) -> Result<IssuedSm2Pair> {
        // 1.
        let ca = self.directory.issuing_ca(&req.ca).await?;
        let (issuer, chain_records) = (&ca.issuer, &ca.chain);
        if issuer.key_type != KeyType::Sm2 {
            return Err(Error::Invalid(format!(
                "CA '{}' has a {} key; SM2 signing + encryption pairs are issued by an SM2 CA",
                issuer.record.name,
                issuer.key_type.as_str()
            )));
        }
        // 2. Refuse a non-SM2 CSR before anything is reserved.
        let csr = ParsedCsr::parse(&req.csr)?;
        if csr.key != PublicKeyDescription::Sm2 {
            return Err(Error::Invalid(format!(
                "the CSR holds a {} key; an SM2 signing + encryption pair needs an SM2 CSR",
                csr.key
            )));
        }
        let holder = sm2::PublicKey::from_sec1_bytes(csr.spki.subject_public_key.raw_bytes())
            .map_err(|_| Error::Invalid("the CSR's SM2 public key is not a valid point".into()))?;
        let sign_req = IssueRequest {
            principal: self.directory.acting().clone(),
            ca: req.ca.clone(),
            key: SubjectKey::Csr(req.csr.clone()),
            subject: req.subject.clone(),
            sans: req.sans.clone(),
            profile: req.profile,
            days: req.days,
        };
        let sign = self
            .issuance
            .prepare_leaf(&ca, &sign_req, LeafOverrides::key_usage(SIGN_USAGE))
            .await?;
        // 3.
        let enc_req = IssueRequest {
            principal: self.directory.acting().clone(),
            ca: req.ca.clone(),
            key: SubjectKey::Generate(KeyType::Sm2),
            subject: Some(crate::x509::name_text(&sign.subject)),
            sans: sign.sans.iter().map(ToString::to_string).collect(),
            profile: req.profile,
            days: req.days,
        };
        let mut enc = self
            .issuance
            .prepare_leaf(&ca, &enc_req, LeafOverrides::key_usage(ENC_USAGE))
            .await?;
        let enc_key: SoftwareKey = enc
            .generated_key
            .take()
            .ok_or_else(|| Error::Invalid("the KMC did not generate a key".into()))?;
        let enc_secret = enc_key
            .sm2_secret()
            .ok_or_else(|| Error::Invalid("the KMC generated a non-SM2 key".into()))?;
        // 4.
        let chain: Vec<Vec<u8>> = chain_records.iter().map(|c| c.cert_der.clone()).collect();
        let (sign, enc) = self
            .sign_pair((issuer, chain.clone(), sign), (issuer, chain, enc))
            .await?;
        // 5.
        let envelope =
            dual::seal(&holder, &enc_secret).map_err(|e| Error::Invalid(e.to_string()))?;
        let sealed = self.directory.signers().keys().seal_escrow(&enc_key)?;
        drop(enc_secret);
        drop(enc_key);
        // 6.
        let pair = self
            .commit_signed_pair(PairMode::Sm2SignEnc, sign, enc, Some(&sealed))
            .await?;
        let with_chain = |issued: &Issued| -> Vec<Vec<u8>> {
            std::iter::once(issued.der.clone())
                .chain(issued.chain.iter().cloned())
                .collect()
        };
        let sign_set = with_chain(&pair.first);
        let enc_set = with_chain(&pair.second);
        let response = CsrResponse::new(
            &sign_set.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            &envelope,
            &enc_set.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        )
        .and_then(|r| r.to_der_bytes())
        .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(IssuedSm2Pair {
            sign: pair.first,
            enc: pair.second,
            envelope,
            response,
        })
    }

    /// Issues a dual-algorithm pair: one subject and SANs under an RSA (or ECDSA) CA and
    /// under an SM2 CA, so a server can offer SM2 to guomi clients and RSA to everyone else.
    ///
    /// Each certificate is checked, serialled and linted exactly as single issuance does;
    /// the second takes the first's resolved subject and SANs so the two always name the
    /// same thing. Both are signed before either is stored, then committed together: if the
    /// second signature fails, neither is issued.
    ///
    /// # Errors
    /// Everything [`Issuance::issue`] refuses; an SM2 key or CA on the RSA side, a non-SM2
    /// key or CA on the SM2 side.
    pub async fn issue_rsa_sm2_pair(&self, req: &RsaSm2PairRequest) -> Result<IssuedPair> {
        let mut sides = Vec::with_capacity(2);
        for (ca, key, want_sm2) in [
            (&req.rsa_ca, &req.rsa_key, false),
            (&req.sm2_ca, &req.sm2_key, true),
        ] {
            let issuing = self.directory.issuing_ca(ca).await?;
            let issuer = &issuing.issuer;
            let (side, a_side) = if want_sm2 {
                ("SM2", "an SM2")
            } else {
                ("RSA/ECDSA", "an RSA or ECDSA")
            };
            if (issuer.key_type == KeyType::Sm2) != want_sm2 {
                return Err(Error::Invalid(format!(
                    "CA '{}' has a {} key; the {side} side of an rsa-sm2 pair needs {a_side} CA",
                    issuer.record.name,
                    issuer.key_type.as_str()
                )));
            }
            let is_sm2 = match key {
                SubjectKey::Csr(bytes) => ParsedCsr::parse(bytes)?.key == PublicKeyDescription::Sm2,
                SubjectKey::Generate(kt) => *kt == KeyType::Sm2,
            };
            if is_sm2 != want_sm2 {
                return Err(Error::Invalid(format!(
                    "the {side} side of an rsa-sm2 pair needs {a_side} key"
                )));
            }
            sides.push(issuing);
        }
        let first_req = IssueRequest {
            principal: self.directory.acting().clone(),
            ca: req.rsa_ca.clone(),
            key: req.rsa_key.clone(),
            subject: req.subject.clone(),
            sans: req.sans.clone(),
            profile: req.profile,
            days: req.days,
        };
        let first = self
            .issuance
            .prepare_leaf(&sides[0], &first_req, LeafOverrides::default())
            .await?;
        let second_req = IssueRequest {
            principal: self.directory.acting().clone(),
            ca: req.sm2_ca.clone(),
            key: req.sm2_key.clone(),
            subject: Some(crate::x509::name_text(&first.subject)),
            sans: first.sans.iter().map(ToString::to_string).collect(),
            profile: req.profile,
            days: req.days,
        };
        let second = self
            .issuance
            .prepare_leaf(&sides[1], &second_req, LeafOverrides::default())
            .await?;
        let chain = |i: usize| -> Vec<Vec<u8>> {
            sides[i].chain.iter().map(|c| c.cert_der.clone()).collect()
        };
        let (first, second) = self
            .sign_pair(
                (&sides[0].issuer, chain(0), first),
                (&sides[1].issuer, chain(1), second),
            )
            .await?;
        self.commit_signed_pair(PairMode::RsaSm2, first, second, None)
            .await
    }

    /// Both certificates of a pair through the issuance pipeline, not committed: both are
    /// linted before either is reserved (a lint failure on either writes nothing), then
    /// each is reserved, signed and verified.
    async fn sign_pair(
        &self,
        first: (&Issuer, Vec<Vec<u8>>, PreparedLeaf),
        second: (&Issuer, Vec<Vec<u8>>, PreparedLeaf),
    ) -> Result<(SignedLeaf, SignedLeaf)> {
        let mut linted = Vec::with_capacity(2);
        for (issuer, chain, leaf) in [first, second] {
            let draft = pipeline::lint(Issuing::by(issuer)?, leaf.draft)?;
            linted.push((draft, chain, leaf.generated_key, leaf.warnings));
        }
        let mut signed = Vec::with_capacity(2);
        for (draft, chain, generated_key, warnings) in linted {
            signed.push(SignedLeaf {
                chain,
                signed: draft.reserve(&self.store).await?.sign().await?,
                generated_key,
                warnings,
            });
        }
        let second = signed.pop();
        match (signed.pop(), second) {
            (Some(first), Some(second)) => Ok((first, second)),
            _ => Err(Error::Internal("a pair lost a certificate".into())),
        }
    }

    /// Commits two signed certificates as a pair (with the second's sealed key, if any)
    /// in one transaction and returns them as issued.
    async fn commit_signed_pair(
        &self,
        mode: PairMode,
        first: SignedLeaf,
        second: SignedLeaf,
        escrow: Option<&[u8]>,
    ) -> Result<IssuedPair> {
        fn member(s: &SignedLeaf) -> PairMember<'_> {
            PairMember {
                cert: &s.signed.cert,
                issuer_key_id: &s.signed.issuer_key_id,
                audit: &s.signed.audit,
            }
        }
        let (first_record, second_record) = self
            .store
            .commit_pair(mode, member(&first), member(&second), escrow)
            .await
            .map(pipeline::committed)?;
        Ok(IssuedPair {
            first: first.into_issued(first_record),
            second: second.into_issued(second_record),
        })
    }

    /// The partner of a certificate that was issued as part of a pair.
    ///
    /// # Errors
    /// Store errors.
    pub async fn partner(&self, certificate: &CertificateRecord) -> Result<Option<Partner>> {
        Ok(self.store.partner(certificate.id).await?)
    }

    /// Recovers the escrowed encryption private key of `certificate` (KMC key recovery),
    /// audited as `kmc.recover` before the key is returned.
    ///
    /// # Errors
    /// NotFound when the KMC keeps no key for it (signing keys are never escrowed); key
    /// custodian errors.
    pub async fn kmc_recover(&self, certificate: &CertificateRecord) -> Result<SoftwareKey> {
        let sealed = self
            .store
            .escrowed_key(certificate.id)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "the KMC keeps no key for certificate {} (only encryption keys of SM2 pairs are escrowed)",
                    certificate.serial
                ))
            })?;
        let key = self
            .directory
            .signers()
            .keys()
            .unseal_escrow(&sealed, crate::algorithm::DEFAULT_SM2_ID)?;
        self.store
            .append_audit(&self.kmc_audit(crate::audit::AuditAction::KmcRecover, certificate))
            .await?;
        Ok(key)
    }

    /// The audit entry of a KMC operation on `certificate`'s escrowed key, by the acting
    /// principal.
    fn kmc_audit(
        &self,
        action: crate::audit::AuditAction,
        certificate: &CertificateRecord,
    ) -> AuditEvent {
        AuditEvent::about_certificate(
            self.clock.now().unix_timestamp(),
            action,
            &certificate.issuer_name,
            &certificate.serial.to_hex(),
            self.directory.acting().audit_name(),
            serde_json::json!({"subject": certificate.subject}),
        )
    }

    /// Re-seals every escrowed key that is not yet under the KMC's own key (escrow made
    /// when it was sealed under the CA passphrase), each audited as `kmc.resealed`.
    /// Returns how many were re-sealed and how many already were current.
    ///
    /// # Errors
    /// Key custody errors (the CA passphrase to open old escrow, the KMC passphrase to seal
    /// anew); store errors.
    pub async fn kmc_reseal(&self) -> Result<(usize, usize)> {
        let keys = self.directory.signers().keys();
        let (mut resealed, mut current) = (0, 0);
        for id in self.store.escrowed_ids().await? {
            let Some(sealed) = self.store.escrowed_key(id).await? else {
                continue;
            };
            if keys.escrow_is_current(&sealed) {
                current += 1;
                continue;
            }
            let key = keys.unseal_escrow(&sealed, crate::algorithm::DEFAULT_SM2_ID)?;
            let anew = keys.seal_escrow(&key)?;
            let certificate = self.store.certificate_by_id(id).await?;
            let audit = self.kmc_audit(crate::audit::AuditAction::KmcResealed, &certificate);
            if self.store.reseal_escrow(id, &sealed, &anew, &audit).await? {
                resealed += 1;
            }
        }
        Ok((resealed, current))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::authority::test_support::{
        assert_lint_refused, ca, memory_services, rsa_sm2_pair, MemoryKeys,
    };
    use crate::authority::Services;
    use crate::store::{AnyStore, AuditStore, CertificateFilter, CertificateStore};

    async fn authority(keys: Arc<MemoryKeys>) -> Services<AnyStore> {
        let authority = memory_services(keys).await;
        authority
            .lifecycle
            .create_root(&ca("ec"))
            .await
            .expect("ec root");
        let mut gm = ca("gm");
        gm.key_type = KeyType::Sm2;
        authority
            .lifecycle
            .create_root(&gm)
            .await
            .expect("sm2 root");
        authority
    }

    async fn certificates(a: &Services<AnyStore>) -> usize {
        a.store()
            .list_certificates(&CertificateFilter::default())
            .await
            .expect("list")
            .len()
    }

    /// A PKCS#10 request signed by `key` (RFC 2986), encoded here so the test needs no tool.
    fn csr_for(key: &SoftwareKey, subject: &str) -> Vec<u8> {
        use std::str::FromStr as _;
        let name = x509_cert::name::Name::from_str(subject).expect("name");
        crate::issuance::build_csr(key, &name).expect("csr")
    }

    #[tokio::test]
    async fn when_the_second_signature_fails_neither_is_issued() {
        let keys = Arc::new(MemoryKeys::default());
        let a = authority(keys.clone()).await;
        let before = certificates(&a).await;
        *keys.broken_type.lock().expect("lock") = Some(KeyType::Sm2);
        let req = rsa_sm2_pair("ec", "gm");
        let err = a
            .dual
            .issue_rsa_sm2_pair(&req)
            .await
            .err()
            .expect("must fail");
        assert!(matches!(err, Error::BadSignature), "{err}");
        assert_eq!(certificates(&a).await, before);
        let log = a.store().audit_log().await.expect("log");
        assert!(!log
            .iter()
            .any(|r| r.event.action == crate::audit::AuditAction::CertSigned));
        // Mended, the same request issues both.
        *keys.broken_type.lock().expect("lock") = None;
        let pair = a.dual.issue_rsa_sm2_pair(&req).await.expect("pair");
        assert_eq!(certificates(&a).await, before + 2);
        let partner = a.dual.partner(&pair.first.record).await.expect("partner");
        assert_eq!(
            partner.map(|p| p.certificate.id),
            Some(pair.second.record.id)
        );
    }

    #[tokio::test]
    async fn a_lint_failure_on_either_side_writes_nothing_for_the_pair() {
        let a = authority(Arc::new(MemoryKeys::default())).await;
        let serials = || async {
            use crate::store::SerialStore as _;
            a.store().unused_serials().await.expect("serials").len()
        };
        let (serials_before, log_before) = (
            serials().await,
            a.store().audit_log().await.expect("log").len(),
        );
        let ca = a.directory.issuing_ca("ec").await.expect("issuer");
        let req = IssueRequest {
            ca: "ec".into(),
            key: SubjectKey::Generate(KeyType::P256),
            subject: Some("CN=pair.example".into()),
            sans: vec!["dns:pair.example".into()],
            profile: ProfileName::TlsServer,
            days: None,
            principal: crate::authz::Principal::Operator("test".into()),
        };
        let leaf = || a.issuance.prepare_leaf(&ca, &req, LeafOverrides::default());
        let first = leaf().await.expect("first");
        let mut second = leaf().await.expect("second");
        // The second breaks e_validity_order; the first is fine.
        second.draft.template.not_after = second.draft.template.not_before;
        let err = a
            .dual
            .sign_pair((&ca.issuer, vec![], first), (&ca.issuer, vec![], second))
            .await
            .err()
            .expect("refused");
        assert_lint_refused(&err, "e_validity_order");
        assert_eq!(serials().await, serials_before, "a serial was reserved");
        assert_eq!(a.store().audit_log().await.expect("log").len(), log_before);
    }

    #[tokio::test]
    async fn a_custodian_that_cannot_escrow_issues_no_sm2_pair() {
        let keys = Arc::new(MemoryKeys::default());
        let a = authority(keys).await;
        let before = certificates(&a).await;
        let holder =
            SoftwareKey::generate(KeyType::Sm2, crate::algorithm::DEFAULT_SM2_ID).expect("key");
        let csr = csr_for(&holder, "CN=tlcp.example");
        let err = a
            .dual
            .issue_sm2_pair(&Sm2PairRequest {
                ca: "gm".into(),
                csr,
                subject: None,
                sans: vec!["dns:tlcp.example".into()],
                profile: ProfileName::TlsServer,
                days: None,
            })
            .await
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("cannot escrow"), "{err}");
        assert_eq!(certificates(&a).await, before);
    }
}
