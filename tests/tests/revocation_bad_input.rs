#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Bad revocation and OCSP input: clear one-line errors or the right OCSP error status,
//! never a panic, and nothing changes (certificates, their status, the audit log).

use caforge_tests::{openssl, openssl_ok, s, serial_of, Home};

/// Refused by argument parsing (clap's message spans several lines).
fn refused_args(h: &Home, args: &[&str], needle: &str) {
    let r = h.run(args);
    assert!(!r.ok && r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

fn setup() -> Home {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    h
}

/// Runs `f` and asserts that the certificates (with their status) and the audit log are
/// exactly as before.
fn unchanged(h: &Home, f: impl FnOnce()) {
    let state = || {
        (
            h.ok(&["cert", "list", "--format", "json"]).stdout,
            h.ok(&["audit", "verify"]).stdout,
        )
    };
    let before = state();
    f();
    assert_eq!(state(), before, "a refused request changed something");
}

#[test]
fn bad_revocations_are_refused() {
    let h = setup();
    let (_, serial) = h.issue_leaf("int", "a");
    let (_, other) = h.issue_leaf("root", "b");
    unchanged(&h, || {
        h.fails(
            &["revoke", "7FFFFFFFFFFFFFFF", "--reason", "superseded"],
            "no certificate",
        );
        h.fails(&["revoke", "not-hex", "--reason", "superseded"], "serial");
        refused_args(
            &h,
            &["revoke", &serial, "--reason", "bored"],
            "unknown revocation reason",
        );
        refused_args(
            &h,
            &["revoke", &serial, "--reason", "removeFromCRL"],
            "unknown revocation reason",
        );
        h.fails(
            &["revoke", &serial, "--ca", "root", "--reason", "superseded"],
            "did not issue",
        );
        h.fails(
            &["revoke", &other, "--ca", "nosuch", "--reason", "superseded"],
            "no CA named",
        );
        // Invalidity dates outside the certificate's life: in the future, before its
        // notBefore, before 1970.
        for (date, why) in [
            ("2999-01-01", "future"),
            ("2000-01-01", "notBefore"),
            ("1969-12-31", "notBefore"),
        ] {
            h.fails(
                &[
                    "revoke",
                    &serial,
                    "--reason",
                    "keyCompromise",
                    "--invalidity-date",
                    date,
                ],
                why,
            );
        }
        refused_args(
            &h,
            &[
                "revoke",
                &serial,
                "--reason",
                "keyCompromise",
                "--invalidity-date",
                "yesterday",
            ],
            "not a time",
        );
        h.fails(&["unrevoke", &serial], "not on hold");
        let root_serial = serial_of(h.path(), s(&h.export_ca("root")));
        h.fails(
            &["revoke", &root_serial, "--reason", "cACompromise"],
            "self-signed root",
        );
        h.fails(&["crl", "--ca", "int", "--delta"], "no full CRL");
        h.fails(
            &["crl", "--ca", "int", "--partition", "3"],
            "no CRL partition 3",
        );
        h.fails(
            &["ca", "configure", "int", "--partitions", "4"],
            "need a base URL",
        );
        h.fails(&["ca", "configure", "int", "--base-url", "ftp://x"], "http");
        h.fails(
            &["ca", "configure", "int", "--crl-lifetime", "0d"],
            "lifetime",
        );
    });
    h.ok(&["revoke", &serial, "--reason", "superseded"]);
    unchanged(&h, || {
        h.fails(
            &["revoke", &serial, "--reason", "superseded"],
            "already revoked",
        );
        h.fails(
            &["revoke", &serial, "--reason", "certificateHold"],
            "already revoked",
        );
    });
    // A hold can be made final.
    let (_, held) = h.issue_leaf("int", "c");
    h.ok(&["revoke", &held, "--reason", "certificateHold"]);
    h.ok(&["revoke", &held, "--reason", "keyCompromise"]);
    h.fails(&["unrevoke", &held], "not on hold");
}

#[test]
fn base_url_cannot_be_changed_under_issued_certificates() {
    let h = setup();
    h.ok(&[
        "ca",
        "configure",
        "int",
        "--base-url",
        "http://127.0.0.1:8080",
    ]);
    h.issue_leaf("int", "a");
    unchanged(&h, || {
        h.fails(
            &[
                "ca",
                "configure",
                "int",
                "--base-url",
                "http://127.0.0.1:9090",
            ],
            "strand",
        );
        h.fails(&["ca", "configure", "int", "--base-url", ""], "strand");
    });
    // Other settings may change.
    h.ok(&[
        "ca",
        "configure",
        "int",
        "--crl-lifetime",
        "2d",
        "--partitions",
        "4",
    ]);
}

#[test]
fn key_compromise_blocks_the_key() {
    let h = setup();
    openssl_ok(
        h.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "k.pem",
        ],
    );
    let csr = |name: &str| {
        let out = format!("{name}.csr");
        openssl_ok(
            h.path(),
            &[
                "req",
                "-new",
                "-key",
                "k.pem",
                "-subj",
                &format!("/CN={name}.example"),
                "-out",
                &out,
            ],
        );
        out
    };
    let first = csr("first");
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--csr",
        &first,
        "--san",
        "dns:first.example",
        "--out",
        "first.pem",
    ]);
    // Superseded does not block the key.
    h.ok(&[
        "revoke",
        &serial_of(h.path(), "first.pem"),
        "--reason",
        "superseded",
    ]);
    let second = csr("second");
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--csr",
        &second,
        "--san",
        "dns:second.example",
        "--out",
        "second.pem",
    ]);
    let r = h.ok(&[
        "revoke",
        &serial_of(h.path(), "second.pem"),
        "--reason",
        "keyCompromise",
    ]);
    assert!(r.stderr.contains("blocked"), "{}", r.stderr);
    let third = csr("third");
    unchanged(&h, || {
        for ca in ["int", "root"] {
            h.fails(
                &[
                    "issue",
                    "--ca",
                    ca,
                    "--csr",
                    &third,
                    "--san",
                    "dns:third.example",
                    "--out",
                    "third.pem",
                ],
                "reported compromised",
            );
        }
    });
    // Another key is fine.
    h.issue_leaf("int", "fresh");
}

/// Answers `req` and returns (exit ok, stdout+stderr, `openssl ocsp -resp_text` of the response).
fn answer(h: &Home, req: &str, tag: &str) -> (bool, String, String) {
    let out = h.file(&format!("{tag}.resp.der"));
    let r = h.run(&["ocsp", "respond", "--request", req, "--out", s(&out)]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let text = if out.exists() {
        openssl(
            h.path(),
            &["ocsp", "-respin", s(&out), "-resp_text", "-noverify"],
        )
        .stdout
    } else {
        String::new()
    };
    (r.ok, format!("{}{}", r.stdout, r.stderr), text)
}

#[test]
fn bad_ocsp_requests_get_the_right_status() {
    let h = setup();
    let int = s(&h.export_ca("int")).to_owned();
    let (a, _) = h.issue_leaf("int", "a");
    openssl_ok(
        h.path(),
        &["ocsp", "-issuer", &int, "-cert", &a, "-reqout", "good.req"],
    );
    unchanged(&h, || {
        // Garbage and truncated DER: malformedRequest, written as a response, exit 1.
        std::fs::write(
            h.file("garbage.req"),
            b"\x30\x82\xff\xffnot an OCSP request",
        )
        .unwrap();
        let good = std::fs::read(h.file("good.req")).unwrap();
        std::fs::write(h.file("cut.req"), &good[..good.len() / 2]).unwrap();
        std::fs::write(h.file("empty.req"), b"").unwrap();
        for f in ["garbage.req", "cut.req", "empty.req"] {
            let (ok, msg, text) = answer(&h, f, f);
            assert!(!ok, "{f}: {msg}");
            assert!(msg.contains("malformedRequest"), "{f}: {msg}");
            assert!(
                text.contains("malformedrequest") || text.contains("malformedRequest"),
                "{f}: {text}"
            );
        }
        // An unsupported CertID hash algorithm.
        let r = openssl(
            h.path(),
            &[
                "ocsp",
                "-issuer",
                &int,
                "-sha3-256",
                "-cert",
                &a,
                "-reqout",
                "sha3.req",
            ],
        );
        assert!(r.ok, "{r:?}");
        let (ok, msg, _) = answer(&h, "sha3.req", "sha3");
        assert!(
            !ok && msg.contains("malformedRequest") && msg.contains("hash algorithm"),
            "{msg}"
        );
        // Too many CertIDs in one request.
        let mut args: Vec<String> = vec!["ocsp".into(), "-issuer".into(), int.clone()];
        for i in 1..=100 {
            args.extend(["-serial".into(), format!("0x{i:x}")]);
        }
        args.extend(["-reqout".into(), "many.req".into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl_ok(h.path(), &argv);
        let (ok, msg, _) = answer(&h, "many.req", "many");
        assert!(
            !ok && msg.contains("malformedRequest") && msg.contains("at most"),
            "{msg}"
        );
        // 1,000 CertIDs exceed the size limit: refused before parsing.
        let mut args: Vec<String> = vec!["ocsp".into(), "-issuer".into(), int.clone()];
        for i in 1..=1000 {
            args.extend(["-serial".into(), format!("0x{i:x}")]);
        }
        args.extend(["-reqout".into(), "thousand.req".into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl_ok(h.path(), &argv);
        let (ok, msg, _) = answer(&h, "thousand.req", "thousand");
        assert!(!ok && msg.contains("at most"), "{msg}");
    });
    // A CA that is not ours: unauthorized.
    caforge_tests::foreign_ocsp_request(&h, "foreign.req");
    let (ok, msg, text) = answer(&h, "foreign.req", "foreign");
    assert!(!ok && msg.contains("unauthorized"), "{msg}");
    assert!(text.to_lowercase().contains("unauthorized"), "{text}");
    // Our CA, a serial it never issued: a signed "unknown".
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            &int,
            "-serial",
            "0x1234",
            "-reqout",
            "unknown.req",
        ],
    );
    let (ok, msg, text) = answer(&h, "unknown.req", "unknown");
    assert!(ok, "{msg}");
    assert!(text.contains("Cert Status: unknown"), "{text}");
}
