//! The store contract: what every database under [`AnyStore`] must do. Each section is
//! its own test on a new SQLite store and on a new PostgreSQL database (the latter
//! `#[ignore]`d unless PostgreSQL runs), and [`run_all`] runs every section on one store
//! that may already hold data (the migration fixtures of earlier releases): each section
//! makes its own CA and asserts only about what it made.
//!
//! Compiled only under #[cfg(test)] (see `store/mod.rs`), so its `expect`s are test code.

use super::*;
use crate::audit::{verify_chain, AuditAction};
use crate::revocation::{CaSettings, RevocationReason};

pub(crate) fn event(action: AuditAction) -> AuditEvent {
    AuditEvent {
        at: 1_700_000_000,
        action,
        ca: Some("root".into()),
        serial: None,
        details: serde_json::json!({"k": "v"}),
        principal: Some("operator:test".into()),
    }
}

/// A token scope: everything under CA `ca`.
fn scope(ca: &str) -> crate::authz::Scope {
    crate::authz::Scope {
        cas: vec![ca.into()],
        profiles: vec!["*".into()],
        actions: crate::authz::Action::ALL.to_vec(),
        names: vec!["*".into()],
        attributes: vec!["*".into()],
    }
}

pub(crate) fn new_ca(name: &str, serial: &SerialNumber) -> NewCa {
    NewCa {
        name: name.into(),
        parent_id: None,
        key_type: crate::algorithm::KeyType::P256,
        key_ref: KeyRef::new(format!("file:keys/{name}.key.pem")),
        sm2_id: String::new(),
        key_id: format!("{name}-kid"),
        subject: format!("CN={name}"),
        serial: serial.clone(),
        not_before: 1,
        not_after: 2_000_000_000,
        path_len: Some(1),
        name_constraints: NameConstraintSet::default(),
        cert_der: vec![0x30, 0x00],
        created_at: 1,
        settings: CaSettings::default(),
        generation: 1,
        predecessor: None,
    }
}

pub(crate) fn new_cert(
    issuer: Option<IssuerId>,
    serial: &SerialNumber,
    not_after: i64,
) -> NewCertificate {
    NewCertificate {
        issuer_ca_id: issuer,
        serial: serial.clone(),
        subject: "CN=leaf".into(),
        sans: vec![SubjectAltName::Dns("leaf.example".into())],
        profile: crate::profile::CertificateProfile::Leaf(crate::profile::ProfileName::TlsServer),
        key_type: crate::keys::PublicKeyDescription::P256,
        not_before: 1,
        not_after,
        fingerprint: "ff".into(),
        der: vec![0x30, 0x01, 0x00],
        created_at: 1,
        crl_partition: None,
        crl_url: None,
        spki_sha256: format!("spki-{}", serial.to_hex()),
    }
}

/// A name no other section (and no fixture) uses.
fn unique(what: &str) -> String {
    format!("{what}-{}", SerialNumber::random().expect("rng").to_hex())
}

/// The contract's sections: each a test on both databases, and all of them in
/// [`run_all`].
macro_rules! contract_sections {
    ($($name:ident),* $(,)?) => {
        /// Runs every section on `store` (which may already hold data).
        pub(crate) async fn run_all(store: &AnyStore) {
            $( $name(store).await; )*
        }

        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::AnyStore::open("sqlite::memory:").await.expect("open");
                    super::$name(&store).await;
                }
            )*
        }

        mod on_postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
                async fn $name() {
                    let db = super::super::tests::pg::ScratchDb::create().await;
                    let store = super::AnyStore::open(&db.url).await.expect("open");
                    super::$name(&store).await;
                    store.close().await;
                    db.drop_now().await;
                }
            )*
        }
    };
}

contract_sections!(
    cas_serials_and_audit,
    revocation,
    api_tokens,
    pairs,
    signing,
    lifecycle,
    inventory_and_notifications,
    quotas,
    managed,
);

/// CAs, serial reservations, certificate commits, listings and the audit chain.
async fn cas_serials_and_audit<S: Store>(store: &S) {
    let audit_before = store.audit_log().await.expect("log").len();
    let cas_before = store.list_cas().await.expect("list").len();
    // A CA is created with its own certificate, atomically.
    let name = unique("root");
    let root_serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &root_serial, 1)
        .await
        .expect("reserve");
    let root = store
        .create_ca(
            &new_ca(&name, &root_serial),
            &new_cert(None, &root_serial, 2_000_000_000),
            "root-kid",
            &event(AuditAction::CaCreated),
        )
        .await
        .expect("create root");
    assert_eq!(store.find_ca(&name).await.expect("find").id, root.id);
    assert_eq!(
        store
            .find_ca(&root.id.to_string())
            .await
            .expect("by id")
            .name,
        name
    );
    assert!(matches!(
        store.find_ca("nope").await,
        Err(StoreError::NotFound(_))
    ));

    // Names are unique, and a failed create leaves nothing behind.
    let s2 = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &s2, 1)
        .await
        .expect("reserve");
    let dup = store
        .create_ca(
            &new_ca(&name, &s2),
            &new_cert(None, &s2, 5),
            "root-kid",
            &event(AuditAction::CaCreated),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(store.list_cas().await.expect("list").len(), cas_before + 1);

    // Serials are unique per issuer key, reserved before use, and used at most once.
    let leaf_serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &leaf_serial, 1)
        .await
        .expect("reserve");
    assert!(matches!(
        store.reserve_serial("root-kid", &leaf_serial, 1).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .reserve_serial("other-kid", &leaf_serial, 1)
        .await
        .expect("same serial, other issuer");
    let rec = store
        .commit_certificate(
            &new_cert(Some(root.id), &leaf_serial, 100),
            "root-kid",
            &event(AuditAction::CertSigned),
        )
        .await
        .expect("commit");
    assert_eq!(rec.issuer_name, name);
    assert_eq!(rec.sans, vec![SubjectAltName::Dns("leaf.example".into())]);
    assert!(matches!(
        store
            .commit_certificate(
                &new_cert(Some(root.id), &leaf_serial, 100),
                "root-kid",
                &event(AuditAction::CertSigned)
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    let unreserved = SerialNumber::random().expect("rng");
    assert!(store
        .commit_certificate(
            &new_cert(Some(root.id), &unreserved, 100),
            "root-kid",
            &event(AuditAction::CertSigned)
        )
        .await
        .is_err());

    // Unused reservations are visible (s2 from the failed create, the other issuer's one).
    let unused = store.unused_serials().await.expect("unused");
    assert!(unused.contains(&("root-kid".to_owned(), s2.to_hex())));
    assert!(!unused.contains(&("root-kid".to_owned(), leaf_serial.to_hex())));

    // Listing and filters.
    let all = store
        .list_certificates(&CertificateFilter {
            issuer: Some(root.id),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
    let expiring = store
        .list_certificates(&CertificateFilter {
            issuer: Some(root.id),
            not_after_before: Some(1000),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(expiring.len(), 1);
    assert_eq!(
        store
            .certificates_by_serial(&leaf_serial.to_hex())
            .await
            .expect("by serial")
            .len(),
        1
    );
    let hex = leaf_serial.to_hex();
    let tail = &hex[hex.len() - 8..];
    for part in [&hex[..8], tail, &tail.to_ascii_lowercase()] {
        let found = store
            .certificates_by_serial_part(part, None, 10)
            .await
            .expect("by part");
        assert!(found.iter().any(|c| c.serial == leaf_serial), "{part}");
        let part = part.to_ascii_uppercase();
        assert!(found.iter().all(|c| {
            let h = c.serial.to_hex();
            h.starts_with(&part) || h.ends_with(&part)
        }));
    }
    // Under the issuer that made it, and not under another.
    let leaf = store
        .certificates_by_serial(&hex)
        .await
        .expect("by serial")
        .remove(0);
    assert_eq!(
        store
            .certificates_by_serial_part(tail, Some(leaf.issuer_ca_id), 10)
            .await
            .expect("by part and issuer")
            .len(),
        1
    );
    assert!(store
        .certificates_by_serial_part(tail, Some(IssuerId(leaf.issuer_ca_id.0 + 1000)), 10)
        .await
        .expect("by part, other issuer")
        .is_empty());
    assert!(store
        .certificates_by_serial_part("%", None, 10)
        .await
        .expect("not hex")
        .is_empty());

    // The audit log chains, and every successful operation appended exactly one entry.
    store
        .append_audit(&event(AuditAction::CaConfigured))
        .await
        .expect("append");
    let log = store.audit_log().await.expect("log");
    assert_eq!(log.len(), audit_before + 3);
    assert_eq!(
        verify_chain(&log, None).map(|r| r.entries),
        Ok(audit_before + 3)
    );
}

fn intent(ca: IssuerId, ca_serial: &SerialNumber, serial: &SerialNumber) -> SigningIntent {
    SigningIntent {
        ca_certificate: Some((ca, ca_serial.to_hex())),
        issuer_key_id: "root-kid".into(),
        serial: serial.clone(),
        spki_sha256: format!("spki-{}", serial.to_hex()),
        at: 1,
        audit: event(AuditAction::CertSigning),
    }
}

/// The signing check and reservation, alone and many at once (the embedded store commits
/// concurrent calls together); refusals write nothing. Ends with its CA revoked.
async fn signing<S: Store>(store: &S) {
    let root = root(store, &unique("signing")).await;
    let ca = root.id;
    let ca_serial = &root.serial;
    let audit_len = || async { store.audit_log().await.expect("log").len() };
    let before = audit_len().await;
    let serial = SerialNumber::random().expect("rng");
    assert_eq!(
        store
            .begin_signing(&intent(ca, ca_serial, &serial))
            .await
            .expect("begin"),
        Ok(())
    );
    assert_eq!(audit_len().await, before + 1, "the signing entry");
    assert!(matches!(
        store.begin_signing(&intent(ca, ca_serial, &serial)).await,
        Err(StoreError::Conflict(_))
    ));
    // An issuing CA whose certificate is not in the store: not found, nothing reserved or
    // audited.
    let stray = SerialNumber::random().expect("rng");
    let unknown_ca = SerialNumber::random().expect("rng");
    assert!(matches!(
        store.begin_signing(&intent(ca, &unknown_ca, &stray)).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(audit_len().await, before + 1, "no entry for the refusal");
    assert!(!store
        .unused_serials()
        .await
        .expect("unused")
        .iter()
        .any(|(_, s)| *s == stray.to_hex()));
    let leaf = store
        .commit_certificate(
            &new_cert(Some(ca), &serial, 100),
            "root-kid",
            &event(AuditAction::CertSigned),
        )
        .await
        .expect("commit");

    // Many issuances at once, one of them committing a serial never reserved: only it fails.
    let serials: Vec<SerialNumber> = (0..24)
        .map(|_| SerialNumber::random().expect("rng"))
        .collect();
    let issue = |s: &SerialNumber, reserve: bool| {
        let s = s.clone();
        async move {
            if reserve {
                store
                    .begin_signing(&intent(ca, ca_serial, &s))
                    .await?
                    .expect("allowed");
            }
            store
                .commit_certificate(
                    &new_cert(Some(ca), &s, 100),
                    "root-kid",
                    &event(AuditAction::CertSigned),
                )
                .await
        }
    };
    let rogue = SerialNumber::random().expect("rng");
    let mut jobs: Vec<_> = serials.iter().map(|s| issue(s, true)).collect();
    jobs.insert(7, issue(&rogue, false));
    let results = futures_util::future::join_all(jobs).await;
    assert!(results[7].is_err(), "a serial never reserved");
    let ids: std::collections::BTreeSet<i64> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 7)
        .map(|(_, r)| r.as_ref().expect("committed").id)
        .collect();
    assert_eq!(ids.len(), serials.len());
    let log = store.audit_log().await.expect("log");
    assert_eq!(log.len(), before + 2 + 2 * serials.len());
    assert!(verify_chain(&log, None).is_ok());

    // A blocked key, then a revoked CA: refused, nothing written.
    let revocation = Revocation {
        reason: RevocationReason::KeyCompromise,
        revoked_at: 2,
        invalidity_date: None,
    };
    let block = BlockedKey {
        spki_sha256: format!("spki-{}", serial.to_hex()),
        serial: leaf.serial.to_hex(),
        ca,
    };
    store
        .revoke(
            leaf.id,
            &revocation,
            Some(&block),
            &event(AuditAction::CertRevoked),
        )
        .await
        .expect("revoke");
    let mut reuse = intent(ca, ca_serial, &SerialNumber::random().expect("rng"));
    reuse.spki_sha256 = block.spki_sha256.clone();
    let before = audit_len().await;
    assert_eq!(
        store.begin_signing(&reuse).await.expect("check"),
        Err(SigningRefusal::KeyBlocked)
    );
    let root_cert = store
        .certificates_by_serial(&ca_serial.to_hex())
        .await
        .expect("root row")
        .remove(0);
    store
        .revoke(
            root_cert.id,
            &revocation,
            None,
            &event(AuditAction::CertRevoked),
        )
        .await
        .expect("revoke the CA");
    let fresh = intent(ca, ca_serial, &SerialNumber::random().expect("rng"));
    assert_eq!(
        store.begin_signing(&fresh).await.expect("check"),
        Err(SigningRefusal::CaRevoked(Some(
            RevocationReason::KeyCompromise
        )))
    );
    assert_eq!(audit_len().await, before + 1, "only the CA's revocation");
    assert!(!store
        .unused_serials()
        .await
        .expect("unused")
        .contains(&("root-kid".to_owned(), fresh.serial.to_hex())));
}

async fn pairs<S: Store>(store: &S) {
    let ca = root(store, &unique("pairs")).await.id;
    let serials: Vec<SerialNumber> = (0..3)
        .map(|_| SerialNumber::random().expect("rng"))
        .collect();
    for s in &serials {
        store
            .reserve_serial("root-kid", s, 1)
            .await
            .expect("reserve");
    }
    let certs: Vec<NewCertificate> = serials
        .iter()
        .map(|s| new_cert(Some(ca), s, 4_000_000_000))
        .collect();
    let signed = event(AuditAction::CertSigned);
    let member = |c| PairMember {
        cert: c,
        issuer_key_id: "root-kid",
        audit: &signed,
    };
    let audit_before = store.audit_log().await.expect("log").len();
    let (first, second) = store
        .commit_pair(
            PairMode::Sm2SignEnc,
            member(&certs[0]),
            member(&certs[1]),
            Some(b"sealed"),
        )
        .await
        .expect("commit pair");
    assert_eq!(
        store.audit_log().await.expect("log").len(),
        audit_before + 2
    );
    let p = store
        .partner(first.id)
        .await
        .expect("partner")
        .expect("paired");
    assert_eq!(
        (p.mode, p.is_first, p.certificate.id),
        (PairMode::Sm2SignEnc, true, second.id)
    );
    let p = store
        .partner(second.id)
        .await
        .expect("partner")
        .expect("paired");
    assert_eq!((p.is_first, p.certificate.id), (false, first.id));
    assert_eq!(
        store.escrowed_key(second.id).await.expect("escrow"),
        Some(b"sealed".to_vec())
    );
    assert_eq!(store.escrowed_key(first.id).await.expect("escrow"), None);
    // Both or neither: a second member whose serial is already used leaves nothing behind.
    let before = store
        .list_certificates(&CertificateFilter::default())
        .await
        .expect("list")
        .len();
    assert!(matches!(
        store
            .commit_pair(PairMode::RsaSm2, member(&certs[2]), member(&certs[1]), None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .list_certificates(&CertificateFilter::default())
            .await
            .expect("list")
            .len(),
        before
    );
    assert!(store
        .certificates_by_serial(&serials[2].to_hex())
        .await
        .expect("by serial")
        .is_empty());

    // Revoked together: all or none.
    let r = revocation_at(RevocationReason::Superseded, 10);
    let revoked = event(AuditAction::CertRevoked);
    let item = |id| RevocationItem {
        cert_id: id,
        revocation: &r,
        block: None,
        audit: &revoked,
    };
    store
        .revoke(second.id, &r, None, &revoked)
        .await
        .expect("revoke one");
    assert!(matches!(
        store
            .revoke_together(&[item(first.id), item(second.id)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .certificate_by_id(first.id)
            .await
            .expect("first")
            .status,
        CertificateStatus::Valid
    );
    let extra = another(store, ca, None).await;
    let both = store
        .revoke_together(&[item(first.id), item(extra.id)])
        .await
        .expect("revoke both");
    assert!(both.iter().all(|c| c.is_revoked()));
}

async fn api_tokens<S: Store>(store: &S) {
    let tokens_before = store.list_tokens().await.expect("list").len();
    let new = crate::tokens::NewToken {
        name: "ci".into(),
        scopes: vec![scope("root")],
        created_at: 5,
        expires_at: Some(50),
        token_hash: "ab".repeat(32),
        quota: None,
        client_key: None,
    };
    let t = store
        .create_token(&new, &event(AuditAction::TokenCreated))
        .await
        .expect("create");
    assert_eq!(t.scopes, vec![scope("root")]);
    assert_eq!(
        store
            .token_by_hash(&new.token_hash)
            .await
            .expect("find")
            .map(|t| t.id),
        Some(t.id)
    );
    assert!(store.token_by_hash("cd").await.expect("find").is_none());
    // Hashes are unique.
    assert!(matches!(
        store
            .create_token(&new, &event(AuditAction::TokenCreated))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let revoked = store
        .revoke_token(t.id, 7, &event(AuditAction::TokenRevoked))
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(7));
    assert!(matches!(
        store
            .revoke_token(t.id, 8, &event(AuditAction::TokenRevoked))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .revoke_token(999, 8, &event(AuditAction::TokenRevoked))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.list_tokens().await.expect("list").len(),
        tokens_before + 1
    );
}

/// Issues one more certificate under `ca` (not_after far ahead) and returns it.
/// A root CA named `name`, created with its certificate.
pub(crate) async fn root<S: Store>(store: &S, name: &str) -> CaRecord {
    let serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &serial, 1)
        .await
        .expect("reserve");
    store
        .create_ca(
            &new_ca(name, &serial),
            &new_cert(None, &serial, 2_000_000_000),
            "root-kid",
            &event(AuditAction::CaCreated),
        )
        .await
        .expect("create root")
}

/// One more certificate under `ca`, committed.
pub(crate) async fn another<S: Store>(
    store: &S,
    ca: IssuerId,
    partition: Option<u32>,
) -> CertificateRecord {
    let serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &serial, 1)
        .await
        .expect("reserve");
    let mut cert = new_cert(Some(ca), &serial, 4_000_000_000);
    cert.crl_partition = partition;
    store
        .commit_certificate(&cert, "root-kid", &event(AuditAction::CertSigned))
        .await
        .expect("commit")
}

fn revocation_at(reason: RevocationReason, at: i64) -> Revocation {
    Revocation {
        reason,
        revoked_at: at,
        invalidity_date: None,
    }
}

/// Revocation, holds, CRL snapshots, numbers and storage, blocked keys, pre-signed OCSP
/// responses and publication settings.
async fn revocation<S: Store>(store: &S) {
    let ca = root(store, &unique("revocation")).await.id;
    let blocked_key = unique("spki");
    let a = another(store, ca, None).await;
    let b = another(store, ca, None).await;
    let p1 = another(store, ca, Some(1)).await;

    // Revocation is recorded once; a hold can be made final or lifted.
    let revoked = store
        .revoke(
            a.id,
            &revocation_at(RevocationReason::Superseded, 10),
            None,
            &event(AuditAction::CertRevoked),
        )
        .await
        .expect("revoke");
    assert_eq!(revoked.status, CertificateStatus::Revoked);
    assert_eq!(
        revoked.revocation_reason,
        Some(RevocationReason::Superseded)
    );
    assert!(matches!(
        store
            .revoke(
                a.id,
                &revocation_at(RevocationReason::KeyCompromise, 11),
                None,
                &event(AuditAction::CertRevoked)
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .release_hold(a.id, 12, &event(AuditAction::CertRevoked))
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .revoke(
            b.id,
            &revocation_at(RevocationReason::CertificateHold, 13),
            None,
            &event(AuditAction::CertRevoked),
        )
        .await
        .expect("hold");
    store
        .revoke(
            p1.id,
            &revocation_at(RevocationReason::Unspecified, 13),
            None,
            &event(AuditAction::CertRevoked),
        )
        .await
        .expect("revoke in partition 1");

    // A full CRL's snapshot sees both unpartitioned revocations, not partition 1's.
    let full = revocation_snapshot(store, ca, None, None, 0)
        .await
        .expect("snapshot");
    let serials: Vec<&str> = full.rows.iter().map(|r| r.serial.as_str()).collect();
    assert_eq!(serials.len(), 2);
    assert!(serials.contains(&a.serial.to_hex().as_str()));
    assert!(serials.contains(&b.serial.to_hex().as_str()));
    let part = revocation_snapshot(store, ca, Some(1), None, 0)
        .await
        .expect("p1");
    assert_eq!(part.rows.len(), 1);
    let mut used = store.partitions_in_use(ca).await.expect("partitions");
    used.sort();
    assert_eq!(used, vec![None, Some(1)]);
    // Expired certificates drop off.
    assert!(revocation_snapshot(store, ca, None, None, 4_100_000_000)
        .await
        .expect("later")
        .rows
        .is_empty());

    // Lifting the hold shows up as removeFromCRL in the changes since the snapshot.
    store
        .release_hold(b.id, 20, &event(AuditAction::CertHoldReleased))
        .await
        .expect("release");
    let delta = revocation_snapshot(store, ca, None, Some(full.seq), 0)
        .await
        .expect("delta");
    assert_eq!(delta.rows.len(), 1);
    assert_eq!(delta.rows[0].serial, b.serial.to_hex());
    assert_eq!(
        delta.rows[0].reason_code,
        crate::revocation::REMOVE_FROM_CRL
    );
    assert!(delta.seq > full.seq);

    // CRL numbers only grow, per CA.
    let mut last = 0;
    for _ in 0..5 {
        let n = store.allocate_crl_number(ca).await.expect("number");
        assert!(n > last);
        last = n;
    }
    let crl = NewCrl {
        ca,
        number: last,
        partition: None,
        base_number: None,
        revocation_seq: full.seq,
        this_update: 1,
        next_update: 2,
        entries: 2,
        der: vec![0x30, 0x00],
    };
    store
        .record_crl(crl.clone(), &event(AuditAction::CrlIssued))
        .await
        .expect("record");
    let latest = store
        .latest_crl(ca, None, false)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(latest.crl.number, last);
    assert_eq!(latest.crl.der, crl.der);
    assert!(store
        .latest_crl(ca, None, true)
        .await
        .expect("delta")
        .is_none());

    // A CRL larger than one stored part comes back whole, byte for byte; the next CRL of
    // its scope replaces its bytes (the row stays, for its number and sequence).
    let large: Vec<u8> = (0..(super::revoked::CRL_PART * 2 + 12_345))
        .map(|i| (i % 251) as u8)
        .collect();
    let number = store.allocate_crl_number(ca).await.expect("number");
    let big = NewCrl {
        number,
        der: large.clone(),
        ..crl.clone()
    };
    store
        .record_crl(big, &event(AuditAction::CrlIssued))
        .await
        .expect("record large");
    let latest = store
        .latest_crl(ca, None, false)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(latest.crl.number, number);
    assert!(latest.crl.der == large, "large CRL read back whole");
    let number = store.allocate_crl_number(ca).await.expect("number");
    store
        .record_crl(
            NewCrl {
                number,
                ..crl.clone()
            },
            &event(AuditAction::CrlIssued),
        )
        .await
        .expect("record after large");
    let latest = store
        .latest_crl(ca, None, false)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(
        (latest.crl.number, latest.crl.der),
        (number, crl.der.clone())
    );

    // Blocked keys.
    assert!(!store.is_key_blocked(&blocked_key).await.expect("blocked?"));
    let c = another(store, ca, None).await;
    store
        .revoke(
            c.id,
            &revocation_at(RevocationReason::KeyCompromise, 30),
            Some(&BlockedKey {
                spki_sha256: blocked_key.clone(),
                serial: c.serial.to_hex(),
                ca,
            }),
            &event(AuditAction::CertRevoked),
        )
        .await
        .expect("kc");
    assert!(store.is_key_blocked(&blocked_key).await.expect("blocked?"));

    // Pre-signed OCSP responses: stored, dropped when the status changes, and never stored
    // when the status changed while they were being signed.
    let d = another(store, ca, None).await;
    let cached = CachedOcspResponse {
        ca,
        serial: d.serial.to_hex(),
        hash_alg: "sha1".into(),
        produced_at: 1,
        next_update: 2,
        seen_seq: d.revocation_seq,
        der: vec![1, 2, 3],
    };
    store.store_ocsp(&cached).await.expect("store");
    assert!(store
        .cached_ocsp(ca, &d.serial.to_hex(), "sha1")
        .await
        .expect("get")
        .is_some());
    store
        .revoke(
            d.id,
            &revocation_at(RevocationReason::Superseded, 40),
            None,
            &event(AuditAction::CertRevoked),
        )
        .await
        .expect("revoke d");
    assert!(store
        .cached_ocsp(ca, &d.serial.to_hex(), "sha1")
        .await
        .expect("get")
        .is_none());
    store
        .store_ocsp(&cached)
        .await
        .expect("stale store is a no-op");
    assert!(store
        .cached_ocsp(ca, &d.serial.to_hex(), "sha1")
        .await
        .expect("get")
        .is_none());

    // Settings round-trip.
    let settings = CaSettings {
        base_url: Some("http://127.0.0.1:1".into()),
        crl_partitions: 3,
        ..CaSettings::default()
    };
    let updated = store
        .update_ca_settings(ca, &settings, &event(AuditAction::CaConfigured))
        .await
        .expect("settings");
    assert_eq!(updated.settings, settings);
    assert_eq!(
        verify_chain(&store.audit_log().await.expect("log"), None).map(|_| ()),
        Ok(())
    );
}

/// Commits a certificate under `ca` with a fresh serial reserved under `kid`.
async fn committed<S: Store>(
    store: &S,
    ca: IssuerId,
    kid: &str,
    not_after: i64,
) -> CertificateRecord {
    let serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial(kid, &serial, 1)
        .await
        .expect("reserve");
    store
        .commit_certificate(
            &new_cert(Some(ca), &serial, not_after),
            kid,
            &event(AuditAction::CertSigned),
        )
        .await
        .expect("commit")
}

/// Renewal links, scheduled revocations, CA generations and cross certificates.
async fn lifecycle<S: Store>(store: &S) {
    let root = root(store, &unique("lifecycle")).await.id;
    let (sub, sub_g2, sub_other) = (unique("sub"), unique("sub-g2"), unique("sub-other"));
    // A successor is committed with its link and its predecessor's scheduled revocation.
    let old = committed(store, root, "root-kid", 1_900_000_000).await;
    let serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &serial, 10)
        .await
        .expect("reserve");
    let link = Succession {
        predecessor_id: old.id,
        kind: SuccessionKind::Rekey,
        revoke_predecessor_at: Some(5_000),
        managed: None,
    };
    let new = store
        .commit_successor(
            &new_cert(Some(root), &serial, 1_950_000_000),
            "root-kid",
            &event(AuditAction::CertSigned),
            &link,
        )
        .await
        .expect("commit successor");
    // The serial was used: committing it again is refused, and nothing else changes.
    assert!(matches!(
        store
            .commit_successor(
                &new_cert(Some(root), &serial, 1_950_000_000),
                "root-kid",
                &event(AuditAction::CertSigned),
                &link,
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    let of_new = store.lineage(new.id).await.expect("lineage");
    let (kind, pred) = of_new.predecessor.expect("predecessor");
    assert_eq!((kind, pred.id), (SuccessionKind::Rekey, old.id));
    assert!(of_new.successors.is_empty() && of_new.scheduled_revocation.is_none());
    let of_old = store.lineage(old.id).await.expect("lineage");
    assert!(of_old.predecessor.is_none());
    assert_eq!(of_old.successors.len(), 1);
    assert_eq!(of_old.successors[0].1.id, new.id);
    let scheduled = of_old.scheduled_revocation.expect("scheduled");
    assert_eq!(
        (scheduled.reason, scheduled.due_at),
        (RevocationReason::Superseded, 5_000)
    );

    // Due revocations are those whose time has come; a dropped one is gone.
    assert!(store.due_revocations(4_999).await.expect("due").is_empty());
    let due = store.due_revocations(5_000).await.expect("due");
    assert_eq!(due, vec![scheduled.clone()]);
    // A second successor with an earlier grace end moves the revocation earlier.
    let serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &serial, 10)
        .await
        .expect("reserve");
    store
        .commit_successor(
            &new_cert(Some(root), &serial, 1_950_000_000),
            "root-kid",
            &event(AuditAction::CertSigned),
            &Succession {
                predecessor_id: old.id,
                kind: SuccessionKind::Reissue,
                revoke_predecessor_at: Some(4_000),
                managed: None,
            },
        )
        .await
        .expect("second successor");
    assert_eq!(store.due_revocations(4_000).await.expect("due").len(), 1);
    assert_eq!(
        store
            .lineage(old.id)
            .await
            .expect("lineage")
            .successors
            .len(),
        2
    );
    store.drop_scheduled_revocation(old.id).await.expect("drop");
    assert!(!store
        .due_revocations(i64::MAX)
        .await
        .expect("due")
        .iter()
        .any(|d| d.certificate_id == old.id));

    // Generations: a successor CA names its predecessor; the latest expiry is tracked.
    assert!(store.ca_successor(root).await.expect("successor").is_none());
    let s1 = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &s1, 1)
        .await
        .expect("reserve");
    let gen1 = store
        .create_ca(
            &NewCa {
                parent_id: Some(root),
                ..new_ca(&sub, &s1)
            },
            &new_cert(Some(root), &s1, 2_000_000_000),
            "root-kid",
            &event(AuditAction::CaCreated),
        )
        .await
        .expect("sub");
    assert_eq!((gen1.generation, gen1.predecessor), (1, None));
    assert_eq!(store.last_expiry(gen1.id).await.expect("expiry"), None);
    committed(store, gen1.id, "sub-kid", 1_800_000_000).await;
    committed(store, gen1.id, "sub-kid", 1_700_000_000).await;
    assert_eq!(
        store.last_expiry(gen1.id).await.expect("expiry"),
        Some(1_800_000_000)
    );
    let s2 = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &s2, 1)
        .await
        .expect("reserve");
    let gen2 = store
        .create_ca(
            &NewCa {
                parent_id: Some(root),
                generation: 2,
                predecessor: Some(gen1.id),
                ..new_ca(&sub_g2, &s2)
            },
            &new_cert(Some(root), &s2, 2_000_000_000),
            "root-kid",
            &event(AuditAction::CaCreated),
        )
        .await
        .expect("sub-g2");
    assert_eq!((gen2.generation, gen2.predecessor), (2, Some(gen1.id)));
    assert_eq!(
        store
            .ca_successor(gen1.id)
            .await
            .expect("successor")
            .map(|c| c.id),
        Some(gen2.id)
    );
    // Each CA has at most one successor.
    let s3 = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &s3, 1)
        .await
        .expect("reserve");
    assert!(store
        .create_ca(
            &NewCa {
                parent_id: Some(root),
                generation: 2,
                predecessor: Some(gen1.id),
                ..new_ca(&sub_other, &s3)
            },
            &new_cert(Some(root), &s3, 2_000_000_000),
            "root-kid",
            &event(AuditAction::CaCreated),
        )
        .await
        .is_err());
    assert!(store.find_ca(&sub_other).await.is_err());

    // Cross certificates sit under their issuer and are found by the CA they certify.
    assert!(store
        .cross_certificates(gen2.id)
        .await
        .expect("cross")
        .is_empty());
    let xs = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &xs, 1)
        .await
        .expect("reserve");
    let cross = store
        .commit_cross_certificate(
            gen2.id,
            &new_cert(Some(root), &xs, 1_999_000_000),
            "root-kid",
            &event(AuditAction::CaCrossSigned),
        )
        .await
        .expect("cross");
    assert_eq!(cross.issuer_ca_id, root);
    let found = store.cross_certificates(gen2.id).await.expect("cross");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, cross.id);
    assert!(store
        .cross_certificates(gen1.id)
        .await
        .expect("cross")
        .is_empty());
    verify_chain(&store.audit_log().await.expect("audit"), None).expect("audit chain intact");
}

/// The inventory (dedup by fingerprint, links, removal) and notifications (recorded once,
/// retried, given up, delivered).
async fn inventory_and_notifications<S: Store>(store: &S) {
    let root = root(store, &unique("inventory")).await.id;
    let inventory_before = store.list_inventory(None, None).await.expect("list").len();
    let (fp_a, fp_b) = (unique("aa"), unique("bb"));
    let item = |fp: &str, not_after: i64| NewInventoryCert {
        fingerprint: fp.into(),
        subject: format!("CN={fp}"),
        issuer: "CN=Outside".into(),
        serial: "0A".into(),
        sans: vec![SubjectAltName::Dns("vendor.example".into())],
        key_type: "p256".into(),
        not_before: 1,
        not_after,
        issuer_ca_id: Some(root),
        issuer_inventory_id: None,
        source: "bundle.pem".into(),
        der: vec![0x30, 0x00],
        imported_at: 10,
    };
    let a = store
        .add_inventory(&item(&fp_a, 500), &event(AuditAction::InventoryImported))
        .await
        .expect("add")
        .expect("new");
    assert_eq!((a.issuer_ca_id, a.sans.len()), (Some(root), 1));
    let audit_len = store.audit_log().await.expect("audit").len();
    assert!(store
        .add_inventory(&item(&fp_a, 500), &event(AuditAction::InventoryImported))
        .await
        .expect("add")
        .is_none());
    assert_eq!(store.audit_log().await.expect("audit").len(), audit_len);
    let b = store
        .add_inventory(&item(&fp_b, 900), &event(AuditAction::InventoryImported))
        .await
        .expect("add")
        .expect("new");
    store.link_inventory_issuer(b.id, a.id).await.expect("link");
    assert_eq!(
        store.list_inventory(None, None).await.expect("list").len(),
        inventory_before + 2
    );
    let soon = store
        .list_inventory(Some(100), Some(600))
        .await
        .expect("list");
    assert_eq!(soon.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a.id]);
    assert_eq!(
        store.inventory_by_serial("0A").await.expect("serial").len(),
        2
    );
    assert!(store
        .certificate_by_fingerprint(&fp_a)
        .await
        .expect("fp")
        .is_none());
    assert_eq!(
        store
            .certificate_by_fingerprint("ff")
            .await
            .expect("fp")
            .map(|c| c.fingerprint),
        Some("ff".to_owned())
    );

    // Notifications: recorded once per (target, threshold, webhook).
    let n = |target: &str, days: u32| NewNotification {
        target: target.into(),
        threshold_days: days,
        webhook: "http://127.0.0.1:9/hook".into(),
        payload: "{}".into(),
        created_at: 100,
    };
    let due = [
        n(&format!("inventory:{}", a.id), 30),
        n("cert:1", 30),
        n("cert:1", 7),
    ];
    assert_eq!(store.record_notifications(&due).await.expect("record"), 3);
    assert_eq!(store.record_notifications(&due).await.expect("record"), 0);
    assert!(store
        .pending_notifications(99)
        .await
        .expect("pending")
        .is_empty());
    let pending = store.pending_notifications(100).await.expect("pending");
    assert_eq!(pending.len(), 3);
    store
        .notification_delivered(pending[0].id, 101)
        .await
        .expect("delivered");
    store
        .notification_failed(pending[1].id, "HTTP 500", Some(200))
        .await
        .expect("failed");
    store
        .notification_failed(pending[2].id, "refused", None)
        .await
        .expect("given up");
    assert!(store
        .pending_notifications(199)
        .await
        .expect("pending")
        .is_empty());
    let retry = store.pending_notifications(200).await.expect("pending");
    assert_eq!(retry.len(), 1);
    assert_eq!(
        (retry[0].attempts, retry[0].last_error.as_deref()),
        (1, Some("HTTP 500"))
    );
    let all = store.list_notifications().await.expect("list");
    let state_of = |id| all.iter().find(|x| x.id == id).map(|x| x.state);
    assert_eq!(state_of(pending[0].id), Some(NotificationState::Delivered));
    assert_eq!(state_of(pending[2].id), Some(NotificationState::Failed));

    // Removing an inventory certificate drops its link from others.
    let removed = store
        .remove_inventory(a.id, &event(AuditAction::InventoryRemoved))
        .await
        .expect("remove");
    assert_eq!(removed.fingerprint, fp_a);
    assert!(matches!(
        store
            .remove_inventory(a.id, &event(AuditAction::InventoryRemoved))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let left = store.list_inventory(None, None).await.expect("list");
    assert_eq!(left.len(), inventory_before + 1);
    let b_now = left.iter().find(|r| r.id == b.id).expect("b is left");
    assert_eq!(b_now.issuer_inventory_id, None);
    verify_chain(&store.audit_log().await.expect("audit"), None).expect("audit chain intact");
}

/// Token quotas: reservations up to the limit, the time a slot frees, give-backs.
async fn quotas<S: Store>(store: &S) {
    let ca = root(store, &unique("quotas")).await.id;
    let issued = another(store, ca, None).await;
    let quota = crate::tokens::Quota {
        count: 2,
        window_secs: 100,
    };
    let t = store
        .create_token(
            &crate::tokens::NewToken {
                name: "metered".into(),
                scopes: vec![scope("*")],
                created_at: 1,
                expires_at: None,
                token_hash: "cd".repeat(32),
                quota: Some(quota),
                client_key: None,
            },
            &event(AuditAction::TokenCreated),
        )
        .await
        .expect("create");
    assert_eq!(t.quota, Some(quota));
    let first = store
        .reserve_quota(t.id, 2, 100, 1_000)
        .await
        .expect("reserve");
    let second = store
        .reserve_quota(t.id, 2, 100, 1_010)
        .await
        .expect("reserve");
    assert!(first.is_ok() && second.is_ok());
    // Full: the first slot frees when the first reservation leaves the window.
    assert_eq!(
        store
            .reserve_quota(t.id, 2, 100, 1_050)
            .await
            .expect("reserve"),
        Err(1_100)
    );
    assert_eq!(store.quota_used(t.id, 950).await.expect("used"), 2);
    // A failed issuance gives its slot back; a bound one keeps it.
    store
        .settle_quota(second.expect("slot"), None)
        .await
        .expect("give back");
    store
        .settle_quota(first.expect("slot"), Some(issued.id))
        .await
        .expect("bind");
    assert_eq!(store.quota_used(t.id, 950).await.expect("used"), 1);
    assert!(store
        .reserve_quota(t.id, 2, 100, 1_060)
        .await
        .expect("reserve")
        .is_ok());
    assert_eq!(
        store
            .reserve_quota(t.id, 2, 100, 1_070)
            .await
            .expect("reserve"),
        Err(1_100)
    );
    // After the window the oldest no longer counts.
    assert!(store
        .reserve_quota(t.id, 2, 100, 1_100)
        .await
        .expect("reserve")
        .is_ok());
}

async fn listed_managed<S: Store>(store: &S, id: i64) -> ManagedRecord {
    store
        .list_managed()
        .await
        .expect("list")
        .into_iter()
        .find(|x| x.id == id)
        .expect("listed")
}

/// Managed certificates: created pending, renewed, attempts recorded and reset.
async fn managed<S: Store>(store: &S) {
    let root = root(store, &unique("managed")).await.id;
    let serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &serial, 1)
        .await
        .expect("reserve");
    let (first, m) = store
        .commit_managed(
            &new_cert(Some(root), &serial, 1_900_000_000),
            "root-kid",
            &event(AuditAction::CertSigned),
            &NewManaged {
                key_type: "p256".into(),
                sealed_key: vec![1, 2, 3],
                deploy_dir: "/srv/tls".into(),
                deploy_hook: Some("reload-web".into()),
                created_at: 10,
            },
            &event(AuditAction::ManagedCreated),
        )
        .await
        .expect("create");
    assert_eq!(
        m.certificate_id, first.id,
        "one commit: the row names its certificate"
    );
    store
        .set_managed_hook(m.id, None, &event(AuditAction::ManagedHookChanged))
        .await
        .expect("hook cleared");
    assert_eq!(listed_managed(store, m.id).await.deploy_hook, None);
    assert!(matches!(
        store
            .set_managed_hook(
                m.id + 1000,
                Some("x"),
                &event(AuditAction::ManagedHookChanged)
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        (m.state, m.attempts, m.next_attempt_at),
        (ManagedState::Pending, 0, 10)
    );
    assert!(
        !format!("{m:?}").contains("sealed"),
        "no key material in Debug"
    );
    let listed = |id| listed_managed(store, id);
    store
        .managed_attempted(m.id, Some("hook failed"), 400, 20)
        .await
        .expect("failed");
    store
        .managed_attempted(m.id, Some("hook failed again"), 900, 30)
        .await
        .expect("failed");
    let now = &listed(m.id).await;
    assert_eq!(
        (now.state, now.attempts, now.next_attempt_at),
        (ManagedState::Failed, 2, 900)
    );
    assert_eq!(now.last_error.as_deref(), Some("hook failed again"));
    // A renewal switches the row over in the successor's own commit; one naming a managed
    // certificate that does not exist commits nothing.
    let serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &serial, 1)
        .await
        .expect("reserve");
    let renewal = |managed: i64| Succession {
        predecessor_id: first.id,
        kind: SuccessionKind::Rekey,
        revoke_predecessor_at: None,
        managed: Some((managed, vec![4, 5])),
    };
    let cert = new_cert(Some(root), &serial, 1_950_000_000);
    let missing = store
        .commit_successor(
            &cert,
            "root-kid",
            &event(AuditAction::CertSigned),
            &renewal(m.id + 1000),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert!(store
        .lineage(first.id)
        .await
        .expect("lineage")
        .successors
        .is_empty());
    let second = store
        .commit_successor(
            &cert,
            "root-kid",
            &event(AuditAction::CertSigned),
            &renewal(m.id),
        )
        .await
        .expect("renewed");
    let now = &listed(m.id).await;
    assert_eq!(
        (now.certificate_id, now.sealed_key.as_slice()),
        (second.id, &[4u8, 5][..])
    );
    assert_eq!(
        (now.state, now.attempts, now.last_error.as_deref()),
        (ManagedState::Pending, 0, None)
    );
    store
        .managed_attempted(m.id, None, 50, 50)
        .await
        .expect("deployed");
    let now = &listed(m.id).await;
    assert_eq!((now.state, now.attempts), (ManagedState::Deployed, 0));
}
