#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Certificate lifecycle end to end, checked with the system `openssl`: renew (same key),
//! rekey and reissue with predecessor links, superseded revocation after a grace period,
//! intermediate rollover (old leaves keep verifying and getting OCSP answers, new issuance
//! moves to the successor) and cross-signed roots (a leaf verifies against either root
//! alone).

use caforge_tests::server::{ocsp_status, Server};
use caforge_tests::{openssl, openssl_ok, p256_csr, s, serial_of, sm2_signature_verifies, Home};

const SHIFT: &str = "CAFORGE_DANGER_CLOCK_SHIFT";

fn json(h: &Home, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&h.ok(&all).stdout).expect("json output")
}

fn pubkey(h: &Home, pem: &str) -> String {
    openssl_ok(h.path(), &["x509", "-in", pem, "-noout", "-pubkey"]).stdout
}

fn sans(h: &Home, pem: &str) -> String {
    openssl_ok(
        h.path(),
        &["x509", "-in", pem, "-noout", "-ext", "subjectAltName"],
    )
    .stdout
}

fn subject(h: &Home, pem: &str) -> String {
    openssl_ok(h.path(), &["x509", "-in", pem, "-noout", "-subject"]).stdout
}

/// `openssl verify` of `cert` trusting only `root`, with `untrusted` intermediates.
fn verifies(h: &Home, root: &str, untrusted: &[&str], cert: &str) -> bool {
    let mut args = vec!["verify", "-CAfile", root];
    for u in untrusted {
        args.extend(["-untrusted", u]);
    }
    args.push(cert);
    let r = openssl(h.path(), &args);
    r.ok && r.stdout.contains(": OK")
}

#[test]
fn renew_keeps_the_key_and_names_and_links_both_ways() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let (old, old_serial) = h.issue_leaf("int", "www");
    let new = s(&h.file("renewed.pem")).to_owned();
    let chain = s(&h.file("renewed-chain.pem")).to_owned();
    h.ok(&["renew", &old_serial, "--out", &new, "--chain-out", &chain]);
    let new_serial = serial_of(h.path(), &new);
    assert_ne!(new_serial, old_serial);
    assert_eq!(pubkey(&h, &new), pubkey(&h, &old));
    assert_eq!(sans(&h, &new), sans(&h, &old));
    assert_eq!(subject(&h, &new), subject(&h, &old));
    let root = h.export_ca("root");
    assert!(verifies(&h, s(&root), &[&chain], &new));

    let old_json = json(&h, &["cert", "show", &old_serial]);
    assert_eq!(old_json["successors"][0]["serial"], new_serial.as_str());
    assert_eq!(old_json["successors"][0]["kind"], "renew");
    assert_eq!(old_json["status"], "valid");
    let new_json = json(&h, &["cert", "show", &new_serial]);
    assert_eq!(new_json["predecessor"]["serial"], old_serial.as_str());
    assert_eq!(new_json["predecessor"]["kind"], "renew");

    // The audit log records the link and still verifies.
    let audit = h.ok(&["audit", "verify"]);
    assert!(audit.ok);
}

#[test]
fn rekey_takes_the_csr_key_and_reissue_changes_the_names() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let (old, old_serial) = h.issue_leaf("int", "web");
    p256_csr(h.path(), "fresh", "/CN=ignored.example");
    let rekeyed = s(&h.file("rekeyed.pem")).to_owned();
    h.ok(&[
        "renew",
        &old_serial,
        "--csr",
        "fresh.csr",
        "--out",
        &rekeyed,
    ]);
    let csr_key = openssl_ok(h.path(), &["req", "-in", "fresh.csr", "-noout", "-pubkey"]).stdout;
    assert_eq!(pubkey(&h, &rekeyed), csr_key);
    assert_ne!(pubkey(&h, &rekeyed), pubkey(&h, &old));
    // Subject and names come from the predecessor, not from the CSR.
    assert_eq!(subject(&h, &rekeyed), subject(&h, &old));
    assert_eq!(sans(&h, &rekeyed), sans(&h, &old));
    let rekeyed_serial = serial_of(h.path(), &rekeyed);
    assert_eq!(
        json(&h, &["cert", "show", &rekeyed_serial])["predecessor"]["kind"],
        "rekey"
    );

    // The subject stays, so a TLS server's names must still include its CN (CA/B BRs
    // §7.1.4.3): a reissue that drops it is refused and issues nothing.
    let before = h.cert_count();
    h.fails(
        &["reissue", &rekeyed_serial, "--san", "dns:new.example"],
        "the common name 'web.example' of a TLS server certificate must be one of its SANs",
    );
    assert_eq!(h.cert_count(), before);
    let reissued = s(&h.file("reissued.pem")).to_owned();
    h.ok(&[
        "reissue",
        &rekeyed_serial,
        "--san",
        "dns:web.example",
        "--san",
        "dns:new.example",
        "--san",
        "dns:www.new.example",
        "--out",
        &reissued,
    ]);
    let names = sans(&h, &reissued);
    assert!(names.contains("DNS:new.example") && names.contains("DNS:www.new.example"));
    assert_ne!(names, sans(&h, &rekeyed), "the names changed");
    assert_eq!(pubkey(&h, &reissued), csr_key);
    let shown = json(&h, &["cert", "show", &rekeyed_serial]);
    assert_eq!(shown["predecessor"]["serial"], old_serial.as_str());
    assert_eq!(shown["successors"][0]["kind"], "reissue");
    let root = h.export_ca("root");
    let int = h.export_ca("int");
    assert!(verifies(&h, s(&root), &[s(&int)], &reissued));
}

#[test]
fn superseded_predecessors_are_revoked_after_the_grace_period() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    // No grace: revoked at once.
    let (_, first) = h.issue_leaf("int", "a");
    h.ok(&["renew", &first, "--revoke-old", "--out", "a2.pem"]);
    let shown = json(&h, &["cert", "show", &first]);
    assert_eq!(shown["status"], "revoked");
    assert_eq!(shown["revocation_reason"], "superseded");

    // A grace period: valid until it ends, then revoked by one maintenance pass.
    let (_, second) = h.issue_leaf("int", "b");
    h.ok(&[
        "reissue",
        &second,
        "--san",
        "dns:b.example",
        "--san",
        "dns:c.example",
        "--revoke-old",
        "--grace",
        "1h",
        "--out",
        "c.pem",
    ]);
    let shown = json(&h, &["cert", "show", &second]);
    assert_eq!(shown["status"], "valid");
    assert!(shown["revocation_scheduled"]
        .as_str()
        .unwrap()
        .starts_with("superseded at"));
    let pass = json(&h, &["maintain"]);
    assert_eq!(pass["revoked"], serde_json::json!([]));
    assert_eq!(json(&h, &["cert", "show", &second])["status"], "valid");

    let later = h.run_with(&[(SHIFT, "2h")], &["maintain", "--format", "json"]);
    assert!(later.ok, "{}", later.stderr);
    let pass: serde_json::Value = serde_json::from_str(&later.stdout).unwrap();
    assert_eq!(pass["revoked"], serde_json::json!([second.clone()]));
    let shown = json(&h, &["cert", "show", &second]);
    assert_eq!(shown["status"], "revoked");
    assert_eq!(shown["revocation_reason"], "superseded");
    assert!(shown["revocation_scheduled"].is_null());
    // Carried out once: a second pass has nothing to do.
    let again = h.run_with(&[(SHIFT, "2h")], &["maintain", "--format", "json"]);
    let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again["revoked"], serde_json::json!([]));

    // Both superseded certificates are on the CRL, as OpenSSL reads it.
    h.ok(&["crl", "--ca", "int", "--out", "int.crl"]);
    let crl = openssl_ok(h.path(), &["crl", "-in", "int.crl", "-noout", "-text"]).stdout;
    for serial in [&first, &second] {
        assert!(crl.contains(serial.as_str()), "{serial} missing:\n{crl}");
    }
    assert_eq!(crl.matches("Superseded").count(), 2, "{crl}");
}

#[test]
fn refused_renewals_change_nothing() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let (_, serial) = h.issue_leaf("int", "leak");
    h.ok(&["revoke", &serial, "--reason", "keyCompromise"]);
    let before = h.cert_count();
    h.fails(&["renew", &serial], "compromised");
    h.fails(
        &["reissue", &serial, "--san", "dns:other.example"],
        "compromised",
    );
    // The CA's own certificate is rolled over, not renewed.
    let int_serial = json(&h, &["ca", "show", "int"])["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    h.fails(&["renew", &int_serial], "ca rollover");
    h.fails(&["renew", "0BADC0DE"], "no certificate with serial");
    h.fails(&["renew", "not-hex"], "serial");
    h.fails(&["renew", &serial, "--csr", "missing.csr"], "missing.csr");
    assert_eq!(h.cert_count(), before);

    // A new key is the way out.
    p256_csr(h.path(), "fresh", "/CN=leak.example");
    h.ok(&["renew", &serial, "--csr", "fresh.csr", "--out", "fresh.pem"]);
    assert_eq!(h.cert_count(), before + 1);
}

#[test]
fn rollover_moves_issuance_and_keeps_serving_the_old_generation() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &["--base-url", "http://127.0.0.1:9"]);
    let (old_leaf, old_serial) = h.issue_leaf("int", "old");
    h.fails(&["ca", "rollover", "root"], "cross-sign");
    let r = h.ok(&["ca", "rollover", "int", "--key-type", "rsa2048"]);
    assert!(r.stdout.contains("int-g2"), "{}", r.stdout);
    h.fails(
        &["ca", "rollover", "int"],
        "already rolled over to 'int-g2'",
    );

    let cas = json(&h, &["ca", "list"]);
    let by_name = |n: &str| {
        cas.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("int")["state"], "retiring");
    assert_eq!(by_name("int")["generation"], 1);
    assert_eq!(by_name("int")["successor"], "int-g2");
    assert_eq!(by_name("int-g2")["state"], "active");
    assert_eq!(by_name("int-g2")["generation"], 2);
    assert_eq!(by_name("int-g2")["predecessor"], "int");
    assert_eq!(by_name("int-g2")["subject"], by_name("int")["subject"]);
    assert_eq!(by_name("int-g2")["key_type"], "rsa2048");
    assert_eq!(by_name("int-g2")["base_url"], "http://127.0.0.1:9");
    // Once everything it issued has expired (a year on), the old generation is retired.
    let later = h.run_with(
        &[("CAFORGE_DANGER_CLOCK_SHIFT", "365d")],
        &["ca", "list", "--format", "json"],
    );
    let later: serde_json::Value = serde_json::from_str(&later.stdout).unwrap();
    let state = |n: &str| {
        later
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(
        (state("int"), state("int-g2")),
        ("retired".into(), "active".into())
    );

    // Issuance asked of the old CA is done by the successor, and says so.
    let run = h.ok(&[
        "issue",
        "--ca",
        "int",
        "--key-type",
        "p256",
        "--subject",
        "CN=new.example",
        "--san",
        "dns:new.example",
        "--key-out",
        "new.key",
        "--no-encrypt-key",
        "--out",
        "new.pem",
    ]);
    assert!(
        run.stderr.contains("issued by its successor 'int-g2'"),
        "{}",
        run.stderr
    );
    let new_serial = serial_of(h.path(), "new.pem");
    assert_eq!(json(&h, &["cert", "show", &new_serial])["issuer"], "int-g2");
    // Renewing an old-generation certificate also moves it to the successor.
    h.ok(&["renew", &old_serial, "--out", "old-renewed.pem"]);
    let renewed = serial_of(h.path(), "old-renewed.pem");
    assert_eq!(json(&h, &["cert", "show", &renewed])["issuer"], "int-g2");

    // Each certificate's exported chain uses its actual issuer, and verifies.
    let root = h.export_ca("root");
    for (serial, issuer) in [(&old_serial, "int"), (&new_serial, "int-g2")] {
        let out = h.file(&format!("{serial}.chain.pem"));
        h.ok(&["cert", "export", serial, "--chain", "--out", s(&out)]);
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 3);
        let issuer_pem = h.export_ca(issuer);
        let issuer_text = std::fs::read_to_string(&issuer_pem).unwrap();
        assert!(
            text.contains(issuer_text.trim()),
            "{serial}: chain lacks '{issuer}'"
        );
        assert!(verifies(&h, s(&root), &[s(&out)], s(&out)));
    }
    // The two generations share a subject but not a key: the old leaf does not verify
    // through the new intermediate.
    let g2 = h.export_ca("int-g2");
    assert!(!verifies(&h, s(&root), &[s(&g2)], &old_leaf));

    // The old generation still answers OCSP for what it issued; the new one for its own.
    let old_int = h.export_ca("int");
    let mut chain = std::fs::read(&root).unwrap();
    chain.extend(std::fs::read(&old_int).unwrap());
    chain.extend(std::fs::read(&g2).unwrap());
    std::fs::write(h.file("all.pem"), chain).unwrap();
    let server = Server::start(&h);
    let all = s(&h.file("all.pem")).to_owned();
    assert_eq!(
        ocsp_status(&h, &server, s(&old_int), &all, &old_leaf, true),
        "good"
    );
    assert_eq!(
        ocsp_status(&h, &server, s(&g2), &all, "new.pem", true),
        "good"
    );
    h.ok(&["revoke", &old_serial, "--reason", "cessationOfOperation"]);
    assert_eq!(
        ocsp_status(&h, &server, s(&old_int), &all, &old_leaf, true),
        "revoked"
    );
    // And the retiring CA still signs its CRL.
    h.ok(&["crl", "--ca", "int", "--out", "int.crl"]);
    let crl = openssl_ok(
        h.path(),
        &[
            "crl",
            "-in",
            "int.crl",
            "-CAfile",
            s(&old_int),
            "-noout",
            "-verify",
        ],
    );
    assert!(format!("{}{}", crl.stdout, crl.stderr).contains("verify OK"));
    drop(server);

    // A new intermediate under a retiring parent is asked of its successor (which, with
    // pathLenConstraint 0, refuses).
    h.fails(
        &[
            "ca",
            "create-intermediate",
            "--parent",
            "int",
            "--name",
            "team",
            "--key-type",
            "p256",
        ],
        "CA 'int-g2' has pathLenConstraint 0",
    );
}

#[test]
fn cross_signed_root_paths_verify_against_either_root_alone() {
    let h = Home::new();
    h.create_root("old-root", "rsa2048", &[]);
    h.create_root("new-root", "p256", &[]);
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "new-root",
        "--name",
        "issuing",
        "--key-type",
        "p256",
    ]);
    let (leaf, serial) = h.issue_leaf("issuing", "site");
    h.ok(&[
        "ca",
        "cross-sign",
        "new-root",
        "--by",
        "old-root",
        "--out",
        "cross.pem",
    ]);
    let cross_text = openssl_ok(h.path(), &["x509", "-in", "cross.pem", "-noout", "-text"]).stdout;
    assert!(cross_text.contains("Issuer: CN = old-root"), "{cross_text}");
    assert!(
        cross_text.contains("Subject: CN = new-root"),
        "{cross_text}"
    );
    let new_root = h.export_ca("new-root");
    assert_eq!(pubkey(&h, "cross.pem"), pubkey(&h, s(&new_root)));

    // Refusals: a loop, and a CA that does not exist.
    h.fails(
        &["ca", "cross-sign", "new-root", "--by", "issuing"],
        "path loop",
    );
    h.fails(&["ca", "cross-sign", "new-root", "--by", "nope"], "nope");

    h.ok(&[
        "cert",
        "export",
        &serial,
        "--all-paths",
        "--out-dir",
        "paths",
        "--out",
        "all.pem",
    ]);
    let all = std::fs::read_to_string(h.file("all.pem")).unwrap();
    assert_eq!(all.matches("# path ").count(), 2, "{all}");
    assert!(all.contains("cross-signed by old-root"), "{all}");
    assert!(h.file("paths/path-1.pem").exists() && h.file("paths/path-2.pem").exists());

    // Against the old root alone (through the cross certificate) and the new root alone.
    let old_root = h.export_ca("old-root");
    let issuing = h.export_ca("issuing");
    assert!(verifies(
        &h,
        s(&old_root),
        &[s(&issuing), "cross.pem"],
        &leaf
    ));
    assert!(verifies(&h, s(&old_root), &["paths/path-2.pem"], &leaf));
    assert!(verifies(&h, s(&new_root), &["paths/path-1.pem"], &leaf));
    assert!(verifies(&h, s(&new_root), &[s(&issuing)], &leaf));
    // Without the cross certificate the old root reaches nothing.
    assert!(!verifies(&h, s(&old_root), &[s(&issuing)], &leaf));

    // The cross certificate is listed with the CA and is revocable like any certificate;
    // a revoked cross certificate is no longer offered as a path.
    let shown = json(&h, &["ca", "show", "new-root"]);
    let cross_serial = serial_of(h.path(), "cross.pem");
    assert!(shown["cross_certificates"][0]
        .as_str()
        .unwrap()
        .starts_with(&cross_serial));
    h.ok(&[
        "revoke",
        &cross_serial,
        "--ca",
        "old-root",
        "--reason",
        "superseded",
    ]);
    let all = h.ok(&["cert", "export", &serial, "--all-paths"]).stdout;
    assert_eq!(all.matches("# path ").count(), 1, "{all}");
}

#[test]
fn sm2_root_cross_signed_by_an_rsa_root() {
    let h = Home::new();
    h.create_root("rsa-root", "rsa2048", &[]);
    h.create_root("sm2-root", "sm2", &[]);
    h.ok(&[
        "ca",
        "cross-sign",
        "sm2-root",
        "--by",
        "rsa-root",
        "--out",
        "x.pem",
    ]);
    let rsa_root = h.export_ca("rsa-root");
    let sm2_root = h.export_ca("sm2-root");
    // The cross certificate carries the SM2 key and an RSA signature: plain OpenSSL checks it.
    let r = openssl_ok(
        h.path(),
        &["verify", "-CAfile", s(&rsa_root), "-partial_chain", "x.pem"],
    );
    assert!(r.stdout.contains("x.pem: OK"), "{}", r.stdout);
    assert_eq!(pubkey(&h, "x.pem"), pubkey(&h, s(&sm2_root)));
    // The SM2 root's self-signature (the other path's anchor) verifies with the GM/T 0009
    // signer ID, and not without it.
    assert!(sm2_signature_verifies(
        h.path(),
        s(&sm2_root),
        s(&sm2_root),
        Some("1234567812345678")
    ));
    assert!(!sm2_signature_verifies(
        h.path(),
        s(&sm2_root),
        s(&sm2_root),
        None
    ));
}
