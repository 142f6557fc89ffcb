//! Authorization through the services: what a token may issue, read and revoke is decided
//! in the core (`crate::authz::authorize`), whoever calls, and every audit entry names its
//! principal. Test code only (compiled under `#[cfg(test)]`, see `authority.rs`): its
//! `expect`s are on fixed inputs.

use super::test_support::{ca, client_leaf, memory_services};
use super::{IssueRequest, RevokeRequest, SubjectKey};
use crate::algorithm::KeyType;
use crate::authz::tests::{scope, token_with_id as token};
use crate::authz::{Action, Principal};
use crate::profile::ProfileName;
use crate::revocation::{CaSettings, RevocationReason};
use crate::store::AuditStore as _;
use crate::ErrorKind;

fn server_request(ca: &str, subject: &str, san: &str, principal: &Principal) -> IssueRequest {
    IssueRequest {
        ca: ca.into(),
        key: SubjectKey::Generate(KeyType::P256),
        subject: Some(subject.into()),
        sans: vec![san.into()],
        profile: ProfileName::TlsServer,
        days: Some(30),
        principal: principal.clone(),
    }
}

#[tokio::test]
async fn tokens_issue_and_revoke_only_within_their_scopes_and_are_named_in_the_audit_log() {
    let a = memory_services(std::sync::Arc::default()).await;
    a.lifecycle.create_root(&ca("root")).await.expect("root");
    a.lifecycle
        .create_intermediate("root", &ca("int"))
        .await
        .expect("int");
    let t = token(
        3,
        vec![scope(
            &["int"],
            &["tls-server", "tls-client"],
            &Action::ALL,
            &["*.example.com"],
        )],
    );
    let log_len = || async { a.store().audit_log().await.expect("log").len() };
    let before = log_len().await;
    // Out of scope: another CA, another profile, a name outside the patterns (CN or SAN).
    let mut refused = vec![
        server_request("root", "CN=www.example.com", "dns:www.example.com", &t),
        server_request("int", "CN=www.example.org", "dns:www.example.org", &t),
    ];
    // tls-client has no CN-in-SANs rule: the CN itself is out of scope.
    let mut admin = server_request(
        "int",
        "CN=admin,O=system:masters",
        "dns:www.example.com",
        &t,
    );
    admin.profile = ProfileName::TlsClient;
    refused.push(admin);
    let mut signing = server_request("int", "CN=www.example.com", "dns:www.example.com", &t);
    signing.profile = ProfileName::CodeSigning;
    refused.push(signing);
    for req in &refused {
        let e = a.issuance.issue(req).await.expect_err("out of scope");
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{req:?}: {e}");
    }
    assert_eq!(log_len().await, before, "a refusal writes nothing");

    let issued = a
        .issuance
        .issue(&server_request(
            "int",
            "CN=www.example.com",
            "dns:www.example.com",
            &t,
        ))
        .await
        .expect("in scope");
    let log = a.store().audit_log().await.expect("log");
    let mine: Vec<_> = log
        .iter()
        .filter(|r| r.event.serial.as_deref() == Some(&issued.record.serial.to_hex()))
        .collect();
    assert_eq!(mine.len(), 2, "signing and signed");
    assert!(mine
        .iter()
        .all(|r| r.event.principal.as_deref() == Some("token:3")));
    // Everything else was the operator's (the fixture's CAs).
    assert!(log.iter().all(|r| matches!(
        r.event.principal.as_deref(),
        Some("operator:test" | "token:3")
    )));

    // Revocation: its own certificate yes, the intermediate's certificate never (even
    // with every scope), a leaf of another CA no.
    let root_leaf = {
        let mut root = ca("leafy");
        root.settings.allow_leaves = true;
        a.lifecycle.create_root(&root).await.expect("root 2");
        client_leaf(&a, "leafy", 30).await
    };
    let int = a.directory.ca("int").await.expect("int");
    let everything = token(4, vec![scope(&["*"], &["*"], &Action::ALL, &["*"])]);
    let revoke = |serial: String, ca: &str, principal: &Principal| RevokeRequest {
        serial,
        ca: Some(ca.into()),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        principal: principal.clone(),
    };
    for (req, who) in [
        (
            revoke(int.serial.to_hex(), "root", &everything),
            "CA certificate",
        ),
        (revoke(int.serial.to_hex(), "root", &t), "CA certificate"),
        (
            revoke(root_leaf.record.serial.to_hex(), "leafy", &t),
            "other CA",
        ),
    ] {
        let e = a.revocations.revoke(&req).await.expect_err(who);
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{who}: {e}");
    }
    assert!(!a
        .directory
        .certificate(&int.serial.to_hex(), Some("root"))
        .await
        .expect("int's certificate")
        .is_revoked());
    let revoked = a
        .revocations
        .revoke(&revoke(issued.record.serial.to_hex(), "int", &t))
        .await
        .expect("its own");
    assert!(revoked.is_revoked());
    let last = a
        .store()
        .audit_log()
        .await
        .expect("log")
        .pop()
        .expect("entry");
    assert_eq!(last.event.principal.as_deref(), Some("token:3"));

    // Reading: in scope yes, the other CA's leaf no.
    assert!(a
        .directory
        .certificate_as(&t, &issued.record.serial.to_hex(), Some("int"))
        .await
        .is_ok());
    let e = a
        .directory
        .certificate_as(&t, &root_leaf.record.serial.to_hex(), Some("leafy"))
        .await
        .expect_err("out of scope");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn a_root_signs_no_leaf_unless_configured_to() {
    let a = memory_services(std::sync::Arc::default()).await;
    let mut root = ca("root");
    root.settings = CaSettings::default();
    a.lifecycle.create_root(&root).await.expect("root");
    let operator = Principal::Operator("test".into());
    let req = server_request(
        "root",
        "CN=www.example.com",
        "dns:www.example.com",
        &operator,
    );
    let e = a.issuance.issue(&req).await.expect_err("leaf from a root");
    assert_eq!(e.kind(), ErrorKind::Rejected);
    assert!(e.to_string().contains("--allow-leaves true"), "{e}");
    let mut settings = a.directory.ca("root").await.expect("root").settings;
    settings.allow_leaves = true;
    a.lifecycle
        .configure_ca("root", settings)
        .await
        .expect("configure");
    assert!(a.issuance.issue(&req).await.is_ok());
}
