#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Bad input of every kind gets a clear one-line error, a non-zero exit, and changes
//! nothing: the certificate count and the audit log stay as they were.

use caforge_tests::{openssl_ok, s, Home};

fn setup() -> Home {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    h
}

fn audit_len(h: &Home) -> String {
    h.ok(&["audit", "verify"]).stdout
}

fn unchanged(h: &Home, f: impl FnOnce()) {
    let certs = h.cert_count();
    let audit = audit_len(h);
    f();
    assert_eq!(
        h.cert_count(),
        certs,
        "a refused request changed the certificates"
    );
    assert_eq!(
        audit_len(h),
        audit,
        "a refused request wrote to the audit log"
    );
}

fn gen_csr(h: &Home, name: &str, genopts: &[&str]) -> String {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genopts);
    args.extend(["-out", &key]);
    openssl_ok(h.path(), &args);
    openssl_ok(
        h.path(),
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            "/CN=bad.example",
            "-out",
            &csr,
        ],
    );
    csr
}

#[test]
fn garbage_and_truncated_csrs_are_refused() {
    let h = setup();
    std::fs::write(h.file("garbage.csr"), b"this is not a CSR at all").unwrap();
    let good = gen_csr(
        &h,
        "good",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let der = h.file("good.der");
    openssl_ok(
        h.path(),
        &["req", "-in", &good, "-outform", "DER", "-out", s(&der)],
    );
    let bytes = std::fs::read(&der).unwrap();
    std::fs::write(h.file("truncated.csr"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(h.file("huge.csr"), vec![b'A'; 100 * 1024]).unwrap();
    let pem = std::fs::read_to_string(h.file(&good)).unwrap();
    std::fs::write(
        h.file("badpem.csr"),
        pem.replace("CERTIFICATE REQUEST", "PRIVATE KEY"),
    )
    .unwrap();
    unchanged(&h, || {
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                "garbage.csr",
                "--san",
                "dns:a.example",
            ],
            "not a valid PKCS#10 CSR",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                "truncated.csr",
                "--san",
                "dns:a.example",
            ],
            "not a valid PKCS#10 CSR",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                "huge.csr",
                "--san",
                "dns:a.example",
            ],
            "larger than 65536 bytes",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                "badpem.csr",
                "--san",
                "dns:a.example",
            ],
            "expected 'CERTIFICATE REQUEST'",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                "missing.csr",
                "--san",
                "dns:a.example",
            ],
            "reading",
        );
    });
}

#[test]
fn csr_with_a_bad_signature_is_refused() {
    let h = setup();
    for (name, opts) in [
        (
            "ec",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
        ),
        ("ed", &["-algorithm", "ED25519"][..]),
    ] {
        let csr = gen_csr(&h, name, opts);
        let der = h.file(&format!("{name}.der"));
        openssl_ok(
            h.path(),
            &["req", "-in", &csr, "-outform", "DER", "-out", s(&der)],
        );
        let mut bytes = std::fs::read(&der).unwrap();
        // Flip a bit inside the signed subject (CN=bad.example → CN=cad.example).
        let pos = bytes.windows(3).position(|w| w == b"bad").unwrap();
        bytes[pos] ^= 0x01;
        let tampered = h.file(&format!("{name}-tampered.der"));
        std::fs::write(&tampered, &bytes).unwrap();
        unchanged(&h, || {
            h.fails(
                &[
                    "issue",
                    "--ca",
                    "root",
                    "--csr",
                    s(&tampered),
                    "--san",
                    "dns:a.example",
                ],
                "CSR signature does not verify",
            );
        });
    }
}

#[test]
fn short_rsa_keys_are_refused() {
    let h = setup();
    let csr = h.file("rsa1024.csr");
    openssl_ok(
        h.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "rsa1024.key",
            "-subj",
            "/CN=weak",
            "-out",
            s(&csr),
        ],
    );
    unchanged(&h, || {
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                s(&csr),
                "--san",
                "dns:weak.example",
            ],
            "RSA key of 1024 bits is too short: at least 2048 bits are required",
        );
    });
}

#[test]
fn policy_violations_are_refused() {
    let h = setup();
    let csr = gen_csr(
        &h,
        "p",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    unchanged(&h, || {
        for bad in [
            "dns:*.*.example.com",
            "dns:a*.example.com",
            "dns:foo.*.example.com",
        ] {
            h.fails(
                &["issue", "--ca", "root", "--csr", &csr, "--san", bad],
                "wildcards are only allowed as the whole left-most label",
            );
        }
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                &csr,
                "--san",
                "dns:bad.example",
                "--days",
                "500",
            ],
            "validity of 500 days exceeds the tls-server maximum of 200 days",
        );
        h.fails(
            &["issue", "--ca", "root", "--csr", &csr],
            "requires at least one SAN",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                &csr,
                "--san",
                "ip:300.1.1.1",
            ],
            "not an IPv4 or IPv6 address",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                &csr,
                "--san",
                "dns:bad.example",
                "--days",
                "0",
            ],
            "at least 1 day",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "nope",
                "--csr",
                &csr,
                "--san",
                "dns:a.example",
            ],
            "no CA named 'nope'",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                &csr,
                "--san",
                "dns:a.example",
                "--subject",
                "garbage",
            ],
            "invalid subject",
        );
        // A TLS server's CN must be one of its SANs; subject attributes outside the
        // profile's allow-list (a raw OID here) are refused.
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                &csr,
                "--san",
                "dns:a.example",
            ],
            "the common name 'bad.example' of a TLS server certificate must be one of its SANs",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--csr",
                &csr,
                "--san",
                "dns:bad.example",
                "--subject",
                "CN=bad.example,2.5.4.65=pseudo",
            ],
            "subject attribute 2.5.4.65 is not allowed by profile tls-server",
        );
    });
}

#[test]
fn wrong_passphrase_is_refused_and_changes_nothing() {
    let h = setup();
    std::fs::write(h.file("wrong.txt"), "not the passphrase").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(caforge_tests::caforge_bin())
            .current_dir(h.path())
            .arg("--home")
            .arg(h.home())
            .arg("--passphrase-file")
            .arg(h.file("wrong.txt"))
            .args(args)
            .output()
            .unwrap()
    };
    unchanged(&h, || {
        let out = run(&[
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
            "--out",
            "a.pem",
        ]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("wrong passphrase"), "{err}");
        assert!(!h.file("k.pem").exists() && !h.file("a.pem").exists());
        let out = run(&[
            "ca",
            "create-intermediate",
            "--parent",
            "root",
            "--name",
            "int",
            "--key-type",
            "p256",
        ]);
        assert!(!out.status.success());
    });
    // No orphaned key file was left behind by the failed intermediate.
    let keys: Vec<_> = std::fs::read_dir(h.home().join("keys")).unwrap().collect();
    assert_eq!(keys.len(), 1);
    assert!(h
        .ok(&["ca", "list", "--format", "json"])
        .stdout
        .contains("\"root\""));
}

#[test]
fn existing_output_files_are_not_overwritten_without_force() {
    let h = setup();
    std::fs::write(h.file("taken.pem"), "keep me").unwrap();
    unchanged(&h, || {
        h.fails(
            &[
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
                "--out",
                "taken.pem",
            ],
            "already exists (use --force to overwrite)",
        );
        h.fails(
            &[
                "issue",
                "--ca",
                "root",
                "--subject",
                "CN=a.example",
                "--key-type",
                "p256",
                "--no-encrypt-key",
                "--key-out",
                "taken.pem",
                "--san",
                "dns:a.example",
                "--out",
                "new.pem",
            ],
            "already exists",
        );
    });
    assert_eq!(
        std::fs::read_to_string(h.file("taken.pem")).unwrap(),
        "keep me"
    );
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
        "--out",
        "taken.pem",
        "--force",
    ]);
    assert!(std::fs::read_to_string(h.file("taken.pem"))
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn ca_creation_errors() {
    let h = setup();
    h.fails(
        &[
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            "root",
            "--key-type",
            "p256",
        ],
        "a CA named 'root' already exists",
    );
    let r = h.run(&[
        "ca",
        "create-root",
        "--allow-leaves",
        "true",
        "--name",
        "x",
        "--key-type",
        "rsa1024",
    ]);
    assert!(
        !r.ok && r.stderr.contains("unknown key type 'rsa1024'"),
        "{}",
        r.stderr
    );
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        "leafca",
        "--key-type",
        "p256",
        "--path-len",
        "0",
    ]);
    h.fails(
        &[
            "ca",
            "create-intermediate",
            "--parent",
            "leafca",
            "--name",
            "deeper",
            "--key-type",
            "p256",
        ],
        "pathLenConstraint 0",
    );
    h.fails(&["ca", "show", "missing"], "no CA named 'missing'");
    h.fails(&["cert", "show", "zz"], "is not a hex serial number");
    h.fails(&["cert", "show", "0102"], "no certificate with serial 0102");
    h.fails(
        &["cert", "list", "--status", "bogus"],
        "unknown status 'bogus'",
    );
    let empty = Home::empty();
    empty.fails(&["ca", "list"], "no caforge home at");
}

#[test]
fn no_passphrase_means_a_clear_error() {
    let h = Home::empty();
    let out = std::process::Command::new(caforge_tests::caforge_bin())
        .current_dir(h.path())
        .env_remove("CAFORGE_PASSPHRASE")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .args(["--home", "home", "init"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = std::process::Command::new(caforge_tests::caforge_bin())
        .current_dir(h.path())
        .env_remove("CAFORGE_PASSPHRASE")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .args([
            "--home",
            "home",
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            "r",
            "--key-type",
            "p256",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("a passphrase is required"));
}
