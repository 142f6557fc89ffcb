#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Keys at rest and the records behind every certificate.

use std::os::unix::fs::PermissionsExt;

use caforge_tests::{openssl_ok, s, Home, TEST_KEY_PASSPHRASE, TEST_PASSPHRASE};

#[test]
fn ca_keys_are_encrypted_0600_openssl_readable_and_never_in_the_database() {
    let h = Home::new();
    for (name, kt) in [
        ("r-rsa", "rsa2048"),
        ("r-ec", "p384"),
        ("r-ed", "ed25519"),
        ("r-sm2", "sm2"),
    ] {
        h.create_root(name, kt, &[]);
        let path = h.home().join(format!("keys/{name}.key.pem"));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{name}"
        );
        // OpenSSL decrypts it with the passphrase and finds the CA certificate's key.
        let pass = format!("pass:{TEST_PASSPHRASE}");
        let text = openssl_ok(
            h.path(),
            &["pkey", "-in", s(&path), "-passin", &pass, "-noout", "-text"],
        )
        .stdout;
        let secret = private_octets(&text);
        assert!(secret.len() >= 32, "{name}: {text}");
        let key_pub = openssl_ok(
            h.path(),
            &["pkey", "-in", s(&path), "-passin", &pass, "-pubout"],
        )
        .stdout;
        let cert_pub = openssl_ok(
            h.path(),
            &["x509", "-in", s(&h.export_ca(name)), "-noout", "-pubkey"],
        )
        .stdout;
        assert_eq!(key_pub, cert_pub, "{name}");
        // The private key bytes appear nowhere in the database files.
        let tail = &secret[secret.len() / 2 - 8..secret.len() / 2 + 8];
        for entry in std::fs::read_dir(h.home()).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !bytes.windows(tail.len()).any(|w| w == tail),
                    "key bytes in {}",
                    p.display()
                );
                assert!(
                    !bytes.windows(11).any(|w| w == b"PRIVATE KEY"),
                    "key in {}",
                    p.display()
                );
            }
        }
    }
}

/// The private scalar (EC, SM2, Ed25519: `priv:`) or private exponent (RSA) from
/// `openssl pkey -text`.
fn private_octets(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("priv:") || line.starts_with("privateExponent:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') {
                break;
            }
            out.extend(
                line.trim()
                    .split(':')
                    .filter(|x| !x.is_empty())
                    .map(|x| u8::from_str_radix(x, 16).unwrap()),
            );
        }
    }
    out
}

#[test]
fn generated_leaf_keys_are_encrypted_unless_asked_otherwise() {
    let h = Home::new();
    h.create_root("root", "sm2", &[]);
    h.ok(&[
        "issue",
        "--ca",
        "root",
        "--subject",
        "CN=a.example",
        "--key-type",
        "sm2",
        "--key-passphrase-file",
        "key-pass.txt",
        "--key-out",
        "enc.pem",
        "--san",
        "dns:a.example",
        "--out",
        "a.pem",
    ]);
    h.ok(&[
        "issue",
        "--ca",
        "root",
        "--subject",
        "CN=b.example",
        "--key-type",
        "rsa2048",
        "--no-encrypt-key",
        "--key-out",
        "plain.pem",
        "--san",
        "dns:b.example",
        "--out",
        "b.pem",
    ]);
    assert!(std::fs::read_to_string(h.file("enc.pem"))
        .unwrap()
        .contains("ENCRYPTED PRIVATE KEY"));
    assert!(std::fs::read_to_string(h.file("plain.pem"))
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    for f in ["enc.pem", "plain.pem"] {
        assert_eq!(
            std::fs::metadata(h.file(f)).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The key opens with its own passphrase, and not with the CA passphrase.
    let pass = format!("pass:{TEST_KEY_PASSPHRASE}");
    let kp = openssl_ok(
        h.path(),
        &["pkey", "-in", "enc.pem", "-passin", &pass, "-pubout"],
    )
    .stdout;
    let ca_pass = format!("pass:{TEST_PASSPHRASE}");
    let with_ca_passphrase = std::process::Command::new("openssl")
        .current_dir(h.path())
        .args(["pkey", "-in", "enc.pem", "-passin", &ca_pass, "-pubout"])
        .output()
        .unwrap();
    assert!(
        !with_ca_passphrase.status.success(),
        "the CA passphrase must not open a subscriber's key"
    );
    // Without a passphrase for the key (and without --no-encrypt-key), nothing is issued.
    let before = h.ok(&["cert", "list", "--format", "json"]).stdout;
    h.fails(
        &[
            "issue",
            "--ca",
            "root",
            "--subject",
            "CN=c.example",
            "--key-type",
            "p256",
            "--key-out",
            "c.pem",
            "--san",
            "dns:c.example",
        ],
        "--key-passphrase-file",
    );
    assert_eq!(h.ok(&["cert", "list", "--format", "json"]).stdout, before);
    assert!(!h.file("c.pem").exists());
    let cp = openssl_ok(h.path(), &["x509", "-in", "a.pem", "-noout", "-pubkey"]).stdout;
    assert_eq!(kp, cp);
    let kp = openssl_ok(h.path(), &["pkey", "-in", "plain.pem", "-pubout"]).stdout;
    let cp = openssl_ok(h.path(), &["x509", "-in", "b.pem", "-noout", "-pubkey"]).stdout;
    assert_eq!(kp, cp);
}

#[test]
fn every_certificate_is_recorded_listed_and_audited() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        "int",
        "--key-type",
        "ed25519",
    ]);
    let r = h.ok(&[
        "issue",
        "--ca",
        "int",
        "--subject",
        "CN=a.example",
        "--key-type",
        "p256",
        "--no-encrypt-key",
        "--key-out",
        "k.pem",
        "--san",
        "dns:a.example",
        "--san",
        "email:ops@a.example",
        "--out",
        "a.pem",
        "--format",
        "json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let serial = summary["serial"].as_str().unwrap().to_owned();
    // The serial printed by OpenSSL is the one recorded.
    let printed = openssl_ok(h.path(), &["x509", "-in", "a.pem", "-noout", "-serial"]).stdout;
    assert_eq!(printed.trim(), format!("serial={serial}"));
    assert!(serial.len() >= 16, "at least 64 bits");

    let list: serde_json::Value =
        serde_json::from_str(&h.ok(&["cert", "list", "--format", "json"]).stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(
        list.len(),
        3,
        "root, intermediate and leaf are all recorded"
    );
    let leaf = list
        .iter()
        .find(|c| c["serial"] == serial.as_str())
        .unwrap();
    assert_eq!(leaf["issuer"], "int");
    assert_eq!(leaf["status"], "valid");
    assert_eq!(
        leaf["sans"],
        serde_json::json!(["dns:a.example", "email:ops@a.example"])
    );
    let by_ca: serde_json::Value = serde_json::from_str(
        &h.ok(&["cert", "list", "--ca", "int", "--format", "json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(by_ca.as_array().unwrap().len(), 1);
    let expiring: serde_json::Value = serde_json::from_str(
        &h.ok(&["cert", "list", "--expiring", "100d", "--format", "json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(
        expiring.as_array().unwrap().len(),
        1,
        "only the 90-day leaf expires within 100 days"
    );

    let show: serde_json::Value =
        serde_json::from_str(&h.ok(&["cert", "show", &serial, "--format", "json"]).stdout).unwrap();
    assert_eq!(show["fingerprint_sha256"], leaf["fingerprint_sha256"]);
    let pem = h.ok(&["cert", "show", &serial, "--pem"]).stdout;
    assert_eq!(pem, std::fs::read_to_string(h.file("a.pem")).unwrap());

    let cas: serde_json::Value =
        serde_json::from_str(&h.ok(&["ca", "list", "--format", "json"]).stdout).unwrap();
    assert_eq!(cas[1]["parent"], "root");
    let chain = h.ok(&["ca", "export", "int", "--chain"]).stdout;
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);

    let audit = h.ok(&["audit", "verify", "--format", "json"]).stdout;
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(
        audit["entries"], 6,
        "signing + signed for each of three certificates"
    );
}

#[test]
fn quickstart_builds_both_hierarchies_and_refuses_to_run_twice() {
    let h = Home::empty();
    let run = |args: &[&str]| {
        std::process::Command::new(caforge_tests::caforge_bin())
            .current_dir(h.path())
            .env_remove("CAFORGE_PASSPHRASE")
            .env_remove("CAFORGE_PASSPHRASE_FILE")
            .env_remove("CAFORGE_HOME")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["quickstart", "--no-serve"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RSA hierarchy") && stdout.contains("SM2 hierarchy"),
        "{stdout}"
    );
    let q = h.path().join("caforge/quickstart");
    openssl_ok(
        &q,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-crl_check",
            "-CRLfile",
            "rsa/issuing.crl.pem",
            "-CAfile",
            "rsa/root.pem",
            "-untrusted",
            "rsa/chain.pem",
            "rsa/localhost.pem",
        ],
    );
    let crl = openssl_ok(
        &q,
        &["crl", "-in", "sm2/issuing.crl.pem", "-noout", "-text"],
    )
    .stdout;
    assert!(crl.contains("No Revoked Certificates"), "{crl}");
    openssl_ok(
        &q,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-vfyopt",
            "distid:1234567812345678",
            "-partial_chain",
            "-CAfile",
            "sm2/chain.pem",
            "sm2/localhost.pem",
        ],
    );
    openssl_ok(
        &q,
        &[
            "verify",
            "-x509_strict",
            "-vfyopt",
            "distid:1234567812345678",
            "-partial_chain",
            "-CAfile",
            "sm2/root.pem",
            "sm2/chain.pem",
        ],
    );
    let rsa_key = openssl_ok(&q, &["x509", "-in", "rsa/root.pem", "-noout", "-text"]).stdout;
    assert!(rsa_key.contains("(3072 bit)"));
    let again = run(&["quickstart", "--no-serve"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let list = run(&[
        "--passphrase-file",
        "caforge/passphrase.txt",
        "cert",
        "list",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 6);
}

/// `caforge bench issue` issues through the whole path with many issuances in flight (the
/// store's group commit) and refuses to report unless every certificate was stored.
#[test]
fn bench_issue_stores_every_certificate_it_counts() {
    let h = Home::empty();
    let r = h.ok(&[
        "bench",
        "issue",
        "--key-type",
        "sm2",
        "--count",
        "100",
        "--concurrency",
        "16",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["bench"], "issue");
    assert_eq!(v["count"], 100, "more than the 64 CSRs it cycles through");
    assert_eq!(v["store"], "SQLite");
    assert!(v["per_second"].as_f64().unwrap() > 0.0, "{v}");
    // The OCSP benchmark issues its own certificates first, under the same policy.
    let r = h.ok(&["bench", "ocsp", "--key-type", "p256", "--seconds", "1"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["fresh_per_second"].as_f64().unwrap() > 0.0, "{v}");
}
