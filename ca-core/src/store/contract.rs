//! The store contract: one suite that every backend must pass (SQLite now, PostgreSQL
//! later, by calling [`run_all`] with that backend).
//!
//! Compiled only under #[cfg(test)] (see `store/mod.rs`), so its `expect`s are test code.

use super::*;
use crate::audit::verify_chain;

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        at: 1_700_000_000,
        action: action.into(),
        ca: Some("root".into()),
        serial: None,
        details: serde_json::json!({"k": "v"}),
    }
}

fn new_ca(name: &str, serial: &SerialNumber) -> NewCa {
    NewCa {
        name: name.into(),
        parent_id: None,
        key_type: "p256".into(),
        key_ref: KeyRef::new(format!("file:keys/{name}.key.pem")),
        sm2_id: String::new(),
        key_id: format!("{name}-kid"),
        subject: format!("CN={name}"),
        serial: serial.to_hex(),
        not_before: 1,
        not_after: 2_000_000_000,
        path_len: Some(1),
        name_constraints: NameConstraintSet::default(),
        cert_der: vec![0x30, 0x00],
        created_at: 1,
    }
}

fn new_cert(issuer: Option<IssuerId>, serial: &SerialNumber, not_after: i64) -> NewCertificate {
    NewCertificate {
        issuer_ca_id: issuer,
        serial: serial.clone(),
        subject: "CN=leaf".into(),
        sans: vec![SubjectAltName::Dns("leaf.example".into())],
        profile: "tls-server".into(),
        key_type: "p256".into(),
        not_before: 1,
        not_after,
        fingerprint: "ff".into(),
        der: vec![0x30, 0x01, 0x00],
        created_at: 1,
    }
}

/// Runs every contract check against `store`, which must be empty.
pub(crate) async fn run_all<S: Store>(store: &S) {
    // A CA is created with its own certificate, atomically.
    let root_serial = SerialNumber::random().expect("rng");
    store
        .reserve_serial("root-kid", &root_serial, 1)
        .await
        .expect("reserve");
    let root = store
        .create_ca(
            &new_ca("root", &root_serial),
            &new_cert(None, &root_serial, 2_000_000_000),
            "root-kid",
            &event("ca.create"),
        )
        .await
        .expect("create root");
    assert_eq!(store.find_ca("root").await.expect("find").id, root.id);
    assert_eq!(
        store
            .find_ca(&root.id.to_string())
            .await
            .expect("by id")
            .name,
        "root"
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
            &new_ca("root", &s2),
            &new_cert(None, &s2, 5),
            "root-kid",
            &event("ca.create"),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(store.list_cas().await.expect("list").len(), 1);

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
            &event("cert.signed"),
        )
        .await
        .expect("commit");
    assert_eq!(rec.issuer_name, "root");
    assert_eq!(rec.sans, vec![SubjectAltName::Dns("leaf.example".into())]);
    assert!(matches!(
        store
            .commit_certificate(
                &new_cert(Some(root.id), &leaf_serial, 100),
                "root-kid",
                &event("cert.signed")
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    let unreserved = SerialNumber::random().expect("rng");
    assert!(store
        .commit_certificate(
            &new_cert(Some(root.id), &unreserved, 100),
            "root-kid",
            &event("cert.signed")
        )
        .await
        .is_err());

    // Unused reservations are visible (s2 from the failed create, the other issuer's one).
    let unused = store.unused_serials().await.expect("unused");
    assert!(unused.contains(&("root-kid".to_owned(), s2.to_hex())));
    assert!(!unused.contains(&("root-kid".to_owned(), leaf_serial.to_hex())));

    // Listing and filters.
    let all = store
        .list_certificates(&CertificateFilter::default())
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
    let expiring = store
        .list_certificates(&CertificateFilter {
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

    // The audit log chains, and every successful operation appended exactly one entry.
    store.append_audit(&event("note")).await.expect("append");
    let log = store.audit_log().await.expect("log");
    assert_eq!(log.len(), 3);
    assert_eq!(verify_chain(&log), Ok(3));
}
