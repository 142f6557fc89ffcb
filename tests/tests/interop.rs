#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! OpenSSL interop: every hierarchy caforge builds, in every algorithm, verifies with the
//! system `openssl` (3.x). SM2 links are checked one at a time with the GM/T 0009 signer
//! ID, and each SM2 test also shows that verification *without* it fails, so a pass is not
//! OpenSSL 3.0 quietly using the empty ID.

use caforge_tests::{openssl, openssl_ok, s, sm2_signature_verifies, Home};

/// Builds root → intermediate → tls-server leaf with one key type and returns the PEM paths.
fn hierarchy(h: &Home, root_kt: &str, int_kt: &str, leaf_kt: &str) -> (String, String, String) {
    h.create_root(
        "root",
        root_kt,
        &["--subject", "CN=Test Root,O=caforge tests,C=GB"],
    );
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        "int",
        "--key-type",
        int_kt,
        "--path-len",
        "0",
    ]);
    let leaf = h.file("leaf.pem");
    let key = h.file("leaf.key");
    let chain = h.file("chain.pem");
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--subject",
        "CN=www.example.com",
        "--key-type",
        leaf_kt,
        "--key-passphrase-file",
        "key-pass.txt",
        "--key-out",
        s(&key),
        "--san",
        "dns:www.example.com",
        "--san",
        "ip:127.0.0.1",
        "--out",
        s(&leaf),
        "--chain-out",
        s(&chain),
    ]);
    let root = h.export_ca("root");
    let int = h.export_ca("int");
    assert_eq!(std::fs::read(&chain).unwrap(), std::fs::read(&int).unwrap());
    for cert in [&root, &int, &leaf] {
        openssl_ok(h.path(), &["x509", "-in", s(cert), "-noout", "-text"]);
    }
    (s(&root).to_owned(), s(&int).to_owned(), s(&leaf).to_owned())
}

fn verify_whole_chain(h: &Home, root: &str, int: &str, leaf: &str) {
    let r = openssl_ok(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            root,
            "-untrusted",
            int,
            leaf,
        ],
    );
    assert!(r.stdout.contains(": OK"), "{}", r.stdout);
}

/// Checks one SM2-signed link with the standard ID, and that the empty ID fails.
fn verify_sm2_link(h: &Home, issuer: &str, cert: &str, purpose: Option<&str>) {
    // OpenSSL 3.0 cannot apply -vfyopt to a trust anchor's self-signature: check a root's
    // signature directly over its TBS bytes.
    if issuer == cert {
        assert!(sm2_signature_verifies(
            h.path(),
            cert,
            issuer,
            Some("1234567812345678")
        ));
        assert!(
            !sm2_signature_verifies(h.path(), cert, issuer, None),
            "verified with the empty ID"
        );
        return;
    }
    let mut args = vec![
        "verify",
        "-x509_strict",
        "-vfyopt",
        "distid:1234567812345678",
        "-partial_chain",
        "-CAfile",
        issuer,
    ];
    if let Some(p) = purpose {
        args.extend(["-purpose", p]);
    }
    args.push(cert);
    openssl_ok(h.path(), &args);
    let without = openssl(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-partial_chain",
            "-CAfile",
            issuer,
            cert,
        ],
    );
    assert!(
        !without.ok,
        "SM2 verified without the distid: the test would be testing the wrong thing"
    );
}

macro_rules! same_algorithm_hierarchy {
    ($($name:ident: $kt:literal,)*) => {$(
        #[test]
        fn $name() {
            let h = Home::new();
            let (root, int, leaf) = hierarchy(&h, $kt, $kt, $kt);
            if $kt == "sm2" {
                verify_sm2_link(&h, &root, &root, None);
                verify_sm2_link(&h, &root, &int, None);
                verify_sm2_link(&h, &int, &leaf, Some("sslserver"));
            } else {
                verify_whole_chain(&h, &root, &int, &leaf);
            }
        }
    )*};
}

same_algorithm_hierarchy! {
    rsa2048_hierarchy_verifies: "rsa2048",
    rsa3072_hierarchy_verifies: "rsa3072",
    rsa4096_hierarchy_verifies: "rsa4096",
    p256_hierarchy_verifies: "p256",
    p384_hierarchy_verifies: "p384",
    ed25519_hierarchy_verifies: "ed25519",
    sm2_hierarchy_verifies: "sm2",
}

#[test]
fn rsa_root_certifies_sm2_intermediate() {
    let h = Home::new();
    let (root, int, leaf) = hierarchy(&h, "rsa3072", "sm2", "p256");
    // root → int is an RSA signature: an ordinary check.
    openssl_ok(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-partial_chain",
            "-CAfile",
            &root,
            &int,
        ],
    );
    // int → leaf is SM2.
    verify_sm2_link(&h, &int, &leaf, Some("sslserver"));
    let text = openssl_ok(h.path(), &["x509", "-in", &int, "-noout", "-text"]).stdout;
    assert!(
        text.contains("sha256WithRSAEncryption"),
        "the intermediate is signed by the RSA root"
    );
}

#[test]
fn sm2_root_certifies_rsa_intermediate() {
    let h = Home::new();
    let (root, int, leaf) = hierarchy(&h, "sm2", "rsa2048", "ed25519");
    verify_sm2_link(&h, &root, &int, None);
    openssl_ok(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-partial_chain",
            "-CAfile",
            &int,
            &leaf,
        ],
    );
    let text = openssl_ok(h.path(), &["x509", "-in", &int, "-noout", "-text"]).stdout;
    assert!(
        text.contains("SM2-with-SM3"),
        "the intermediate is signed by the SM2 root:\n{text}"
    );
}

#[test]
fn sm2_ca_with_empty_signer_id_serves_openssl_30_defaults() {
    let h = Home::new();
    h.create_root("legacy", "sm2", &["--sm2-id", ""]);
    let root = h.export_ca("legacy");
    let leaf = h.file("leaf.pem");
    h.ok(&[
        "issue",
        "--ca",
        "legacy",
        "--subject",
        "CN=a.example",
        "--key-type",
        "sm2",
        "--no-encrypt-key",
        "--key-out",
        s(&h.file("k.pem")),
        "--san",
        "dns:a.example",
        "--out",
        s(&leaf),
    ]);
    openssl_ok(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-partial_chain",
            "-CAfile",
            s(&root),
            s(&leaf),
        ],
    );
    let with_std_id = openssl(
        h.path(),
        &[
            "verify",
            "-vfyopt",
            "distid:1234567812345678",
            "-partial_chain",
            "-CAfile",
            s(&root),
            s(&leaf),
        ],
    );
    assert!(
        !with_std_id.ok,
        "an empty-ID signature must not verify with the standard ID"
    );
    let show = h.ok(&["ca", "show", "legacy", "--format", "json"]).stdout;
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["sm2_id"], "");
}

/// OpenSSL-made CSRs of every type are accepted and the certificate carries the CSR's key.
#[test]
fn openssl_csrs_of_every_type_are_accepted() {
    let h = Home::new();
    h.create_root("root", "p384", &[]);
    let root = h.export_ca("root");
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            &[],
        ),
        (
            "p256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &[],
        ),
        (
            "p384",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            &[],
        ),
        ("ed25519", &["-algorithm", "ED25519"], &[]),
        (
            "sm2-std-id",
            &["-algorithm", "SM2"],
            &["-sigopt", "distid:1234567812345678"],
        ),
        ("sm2-empty-id", &["-algorithm", "SM2"], &[]),
    ];
    for (name, genopts, reqopts) in cases {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genopts);
        args.extend(["-out", &key]);
        openssl_ok(h.path(), &args);
        let mut args = vec![
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            "/CN=csr.example",
            "-addext",
            "subjectAltName=DNS:csr.example",
            "-out",
            &csr,
        ];
        if name.starts_with("sm2") {
            args.extend(["-sm3"]);
        }
        args.extend_from_slice(reqopts);
        openssl_ok(h.path(), &args);
        let cert = format!("{name}.pem");
        // No --san: the CSR's requested SAN is used.
        h.ok(&["issue", "--ca", "root", "--csr", &csr, "--out", &cert]);
        openssl_ok(
            h.path(),
            &[
                "verify",
                "-x509_strict",
                "-purpose",
                "sslserver",
                "-CAfile",
                s(&root),
                &cert,
            ],
        );
        let cert_key = openssl_ok(h.path(), &["x509", "-in", &cert, "-noout", "-pubkey"]).stdout;
        let csr_key = openssl_ok(h.path(), &["req", "-in", &csr, "-noout", "-pubkey"]).stdout;
        assert_eq!(
            cert_key, csr_key,
            "{name}: certificate key differs from the CSR's"
        );
        let text = openssl_ok(
            h.path(),
            &["x509", "-in", &cert, "-noout", "-ext", "subjectAltName"],
        )
        .stdout;
        assert!(text.contains("DNS:csr.example"), "{name}: {text}");
        // DER CSRs work too.
        let der = format!("{name}.csr.der");
        openssl_ok(
            h.path(),
            &["req", "-in", &csr, "-outform", "DER", "-out", &der],
        );
        h.ok(&[
            "issue",
            "--ca",
            "root",
            "--csr",
            &der,
            "--der",
            "--out",
            &format!("{name}.der"),
        ]);
        openssl_ok(
            h.path(),
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                &format!("{name}.der"),
                "-noout",
            ],
        );
    }
}

#[test]
fn profiles_carry_the_right_key_usage() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    let root = h.export_ca("root");
    let cases = [
        (
            "tls-client",
            "TLS Web Client Authentication",
            "sslclient",
            "dns:client.example",
        ),
        (
            "code-signing",
            "Code Signing",
            "any",
            "uri:https://code.example/app",
        ),
        (
            "email",
            "E-mail Protection",
            "smimesign",
            "email:alice@example.com",
        ),
    ];
    for (profile, eku, purpose, san) in cases {
        let out = format!("{profile}.pem");
        h.ok(&[
            "issue",
            "--ca",
            "root",
            "--profile",
            profile,
            "--subject",
            "CN=subject",
            "--key-type",
            "rsa2048",
            "--no-encrypt-key",
            "--key-out",
            &format!("{profile}.key"),
            "--san",
            san,
            "--out",
            &out,
        ]);
        let text = openssl_ok(h.path(), &["x509", "-in", &out, "-noout", "-text"]).stdout;
        assert!(text.contains(eku), "{profile}: {text}");
        assert!(text.contains("Digital Signature"), "{profile}");
        openssl_ok(
            h.path(),
            &[
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                s(&root),
                &out,
            ],
        );
    }
}

#[test]
fn name_constraints_are_encoded_and_enforced() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        "corp",
        "--key-type",
        "p256",
        "--permitted-dns",
        "example.com",
        "--excluded-dns",
        "secret.example.com",
    ]);
    let root = h.export_ca("root");
    let int = h.export_ca("corp");
    let text = openssl_ok(h.path(), &["x509", "-in", s(&int), "-noout", "-text"]).stdout;
    assert!(text.contains("X509v3 Name Constraints: critical"), "{text}");
    h.ok(&[
        "issue",
        "--ca",
        "corp",
        "--subject",
        "CN=www.example.com",
        "--key-type",
        "p256",
        "--no-encrypt-key",
        "--key-out",
        "k.pem",
        "--san",
        "dns:www.example.com",
        "--out",
        "ok.pem",
    ]);
    openssl_ok(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            s(&root),
            "-untrusted",
            s(&int),
            "ok.pem",
        ],
    );
    let before = h.cert_count();
    h.fails(
        &[
            "issue",
            "--ca",
            "corp",
            "--subject",
            "CN=x.example",
            "--key-type",
            "p256",
            "--no-encrypt-key",
            "--key-out",
            "k2.pem",
            "--san",
            "dns:www.example.org",
        ],
        "violates the name constraints of CA 'corp'",
    );
    h.fails(
        &[
            "issue",
            "--ca",
            "corp",
            "--subject",
            "CN=x.example",
            "--key-type",
            "p256",
            "--no-encrypt-key",
            "--key-out",
            "k3.pem",
            "--san",
            "dns:a.secret.example.com",
        ],
        "excluded subtree",
    );
    assert_eq!(h.cert_count(), before);
}

#[test]
fn leaf_validity_is_clipped_to_the_issuer_with_a_warning() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        "short",
        "--key-type",
        "p256",
        "--validity",
        "10d",
    ]);
    let r = h.ok(&[
        "issue",
        "--ca",
        "short",
        "--subject",
        "CN=a.example",
        "--key-type",
        "p256",
        "--no-encrypt-key",
        "--key-out",
        "k.pem",
        "--san",
        "dns:a.example",
        "--days",
        "90",
        "--out",
        "a.pem",
        "--format",
        "json",
    ]);
    assert!(
        r.stderr.contains("warning: validity clipped"),
        "{}",
        r.stderr
    );
    let leaf_end = openssl_ok(h.path(), &["x509", "-in", "a.pem", "-noout", "-enddate"]).stdout;
    let int_end = openssl_ok(
        h.path(),
        &[
            "x509",
            "-in",
            s(&h.export_ca("short")),
            "-noout",
            "-enddate",
        ],
    )
    .stdout;
    assert_eq!(leaf_end, int_end);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn tls_server_validity_is_counted_inclusively() {
    let h = Home::new();
    h.create_root("root", "ed25519", &[]);
    h.ok(&[
        "issue",
        "--ca",
        "root",
        "--subject",
        "CN=a.example",
        "--key-type",
        "p256",
        "--no-encrypt-key",
        "--key-out",
        "k.pem",
        "--san",
        "dns:a.example",
        "--days",
        "200",
        "--out",
        "a.pem",
    ]);
    let r = openssl_ok(
        h.path(),
        &[
            "x509",
            "-in",
            "a.pem",
            "-noout",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
        ],
    )
    .stdout;
    let parse = |prefix: &str| {
        let line = r.lines().find(|l| l.starts_with(prefix)).unwrap();
        let v = line.split_once('=').unwrap().1.trim();
        time::PrimitiveDateTime::parse(
            v.trim_end_matches('Z'),
            &time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        )
        .unwrap()
    };
    let span = parse("notAfter") - parse("notBefore");
    assert_eq!(span.whole_seconds() + 1, 200 * 86_400);
}
