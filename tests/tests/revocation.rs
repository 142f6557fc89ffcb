#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Revocation interop: CRLs (full, delta, partitioned) and OCSP responses (CA-signed and
//! delegated) for every key type, checked with the system `openssl`. SM2 signatures are
//! checked with `pkeyutl` and the GM/T 0009 signer ID (and shown to fail without it).

use std::collections::BTreeMap;

use caforge_tests::{assert_sm2_signed, ocsp_basic_response, openssl, openssl_ok, s, Home};

const BASE: &str = "http://127.0.0.1:8080";

/// root → int (both `kt`, int with a base URL and `int_args`); returns (root, int, chain).
fn setup(h: &Home, kt: &str, int_args: &[&str]) -> (String, String, String) {
    let mut args = vec!["--base-url", BASE];
    args.extend_from_slice(int_args);
    h.root_and_intermediate(kt, &[], &args);
    let root = s(&h.export_ca("root")).to_owned();
    let int = s(&h.export_ca("int")).to_owned();
    let chain = h.file("chain.pem");
    let mut both = std::fs::read(&root).unwrap();
    both.extend(std::fs::read(&int).unwrap());
    std::fs::write(&chain, both).unwrap();
    (root, int, s(&chain).to_owned())
}

/// `openssl verify` of `cert` against `root` + `int` with `crls` and extra `flags`.
fn verify_with_crls(
    h: &Home,
    flags: &[&str],
    root: &str,
    int: &str,
    crls: &[&str],
    cert: &str,
) -> caforge_tests::Run {
    let mut args = vec!["verify"];
    args.extend_from_slice(flags);
    args.extend(["-CAfile", root, "-untrusted", int]);
    for c in crls {
        args.extend(["-CRLfile", c]);
    }
    args.push(cert);
    openssl(h.path(), &args)
}

/// `openssl crl -verify` accepts `crl` with the CA certificates in `cafile`.
fn assert_crl_verifies(h: &Home, crl: &str, cafile: &str) {
    let r = openssl_ok(
        h.path(),
        &["crl", "-in", crl, "-CAfile", cafile, "-noout", "-verify"],
    );
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("verify OK"),
        "{r:?}"
    );
}

/// The value printed on the line after `label` in `openssl crl -text` output.
fn crl_field(text: &str, label: &str) -> String {
    text.lines()
        .skip_while(|l| !l.contains(label))
        .nth(1)
        .unwrap_or_else(|| panic!("no {label} in {text}"))
        .trim()
        .to_owned()
}

/// Signs a CRL of `ca` into `file` (PEM) and returns its path.
fn crl(h: &Home, ca: &str, file: &str, extra: &[&str]) -> String {
    let out = h.file(file);
    let mut args = vec!["crl", "--ca", ca, "--out", s(&out)];
    args.extend_from_slice(extra);
    h.ok(&args);
    s(&out).to_owned()
}

fn pem_to_der(h: &Home, crl_pem: &str) -> String {
    let der = format!("{crl_pem}.der");
    openssl_ok(
        h.path(),
        &["crl", "-in", crl_pem, "-outform", "DER", "-out", &der],
    );
    der
}

/// `openssl crl -text` entries: serial → reason text ("" when none).
fn crl_entries(h: &Home, crl_pem: &str) -> BTreeMap<String, String> {
    let text = openssl_ok(h.path(), &["crl", "-in", crl_pem, "-noout", "-text"]).stdout;
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if let Some(serial) = t.strip_prefix("Serial Number: ") {
            current = Some(serial.to_owned());
            out.insert(serial.to_owned(), String::new());
        } else if t.starts_with("X509v3 CRL Reason Code") {
            let reason = lines.next().unwrap_or_default().trim().to_owned();
            if let Some(c) = &current {
                out.insert(c.clone(), reason);
            }
        }
    }
    out
}

/// Builds an OCSP request for `certs` with openssl, answers it with caforge, and returns
/// the response path.
fn ocsp_round(h: &Home, issuer: &str, certs: &[&str], tag: &str) -> String {
    let req = h.file(&format!("{tag}.req.der"));
    let resp = h.file(&format!("{tag}.resp.der"));
    let mut args = vec!["ocsp", "-issuer", issuer, "-sha256"];
    for c in certs {
        args.extend(["-cert", c]);
    }
    args.extend(["-reqout", s(&req)]);
    openssl_ok(h.path(), &args);
    h.ok(&["ocsp", "respond", "--request", s(&req), "--out", s(&resp)]);
    s(&resp).to_owned()
}

/// `openssl ocsp -respin` statuses per certificate path ("good", "revoked", "unknown").
fn ocsp_statuses(
    h: &Home,
    resp: &str,
    issuer: &str,
    cafile: &str,
    certs: &[&str],
    verify: bool,
) -> (BTreeMap<String, String>, String) {
    // -no_nonce: with -cert, openssl builds a new request whose nonce cannot match; nonce
    // echoing is checked against the original request with -reqin elsewhere.
    let mut args = vec![
        "ocsp",
        "-respin",
        resp,
        "-issuer",
        issuer,
        "-CAfile",
        cafile,
        "-sha256",
        "-no_nonce",
    ];
    if !verify {
        args.push("-noverify");
    }
    for c in certs {
        args.extend(["-cert", c]);
    }
    let r = openssl_ok(h.path(), &args);
    let all = format!("{}{}", r.stdout, r.stderr);
    if verify {
        assert!(all.contains("Response verify OK"), "{all}");
    }
    let mut out = BTreeMap::new();
    for c in certs {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{c}: ")))
            .unwrap_or_else(|| panic!("no status for {c} in {}", r.stdout));
        out.insert(
            (*c).to_owned(),
            line.rsplit(": ").next().unwrap().trim().to_owned(),
        );
    }
    (out, r.stdout)
}

/// Now, to the second, in RFC 3339: an invalidity date inside the life of a certificate
/// issued moments ago (one before its notBefore is refused).
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn check_key_type(kt: &str) {
    let h = Home::new();
    let (root, int, chain) = setup(&h, kt, &[]);
    let (good, _) = h.issue_leaf("int", "good");
    let (bad, bad_serial) = h.issue_leaf("int", "bad");
    h.ok(&[
        "revoke",
        &bad_serial,
        "--ca",
        "int",
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        &now_rfc3339(),
    ]);
    let crl_pem = crl(&h, "int", "int.crl", &[]);
    let entries = crl_entries(&h, &crl_pem);
    assert_eq!(
        entries.get(&bad_serial).map(String::as_str),
        Some("Key Compromise"),
        "{entries:?}"
    );
    assert_eq!(entries.len(), 1);
    let text = openssl_ok(h.path(), &["crl", "-in", &crl_pem, "-noout", "-text"]).stdout;
    assert!(text.contains("Invalidity Date"), "{text}");
    assert!(
        text.contains(&format!("URI:{BASE}/crl/int.crl")),
        "IDP missing: {text}"
    );
    // The certificates name the same URL in their CRL DP, and carry AIA.
    let cert_text = openssl_ok(h.path(), &["x509", "-in", &good, "-noout", "-text"]).stdout;
    assert!(
        cert_text.contains(&format!("URI:{BASE}/crl/int.crl")),
        "{cert_text}"
    );
    assert!(
        cert_text.contains(&format!("OCSP - URI:{BASE}/ocsp")),
        "{cert_text}"
    );
    assert!(
        cert_text.contains(&format!("CA Issuers - URI:{BASE}/ca/int.crt")),
        "{cert_text}"
    );

    let resp = ocsp_round(&h, &int, &[&good, &bad], &format!("{kt}-ca"));
    if kt == "sm2" {
        // OpenSSL 3.0 cannot pass a signer ID to CRL or OCSP verification: check the
        // signatures with pkeyutl, and the contents without verification.
        assert_sm2_signed(h.path(), &pem_to_der(&h, &crl_pem), &int);
        assert_sm2_signed(h.path(), &ocsp_basic_response(h.path(), &resp), &int);
        let (st, _) = ocsp_statuses(&h, &resp, &int, &chain, &[&good, &bad], false);
        assert_eq!(st[&good], "good");
        assert_eq!(st[&bad], "revoked");
        return;
    }
    assert_crl_verifies(&h, &crl_pem, &chain);
    let verify = |cert: &str| verify_with_crls(&h, &["-crl_check"], &root, &int, &[&crl_pem], cert);
    assert!(verify(&good).ok, "good leaf rejected: {:?}", verify(&good));
    let rejected = verify(&bad);
    assert!(
        !rejected.ok && rejected.stdout.contains("certificate revoked")
            || rejected.stderr.contains("certificate revoked"),
        "{rejected:?}"
    );

    let (st, text) = ocsp_statuses(&h, &resp, &int, &chain, &[&good, &bad], true);
    // The request's nonce is echoed: openssl checks it against the original request.
    let req = resp.replace(".resp.der", ".req.der");
    let r = openssl_ok(
        h.path(),
        &[
            "ocsp", "-respin", &resp, "-reqin", &req, "-issuer", &int, "-CAfile", &chain,
        ],
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("Response verify OK") && !all.contains("nonce"),
        "{all}"
    );
    assert_eq!(st[&good], "good", "{text}");
    assert_eq!(st[&bad], "revoked", "{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");

    // The same with a delegated responder that caforge issues itself.
    h.ok(&["ca", "configure", "int", "--ocsp-signer", "delegated"]);
    let resp = ocsp_round(&h, &int, &[&good, &bad], &format!("{kt}-delegated"));
    let (st, _) = ocsp_statuses(&h, &resp, &int, &root, &[&good, &bad], true);
    assert_eq!(st[&good], "good");
    assert_eq!(st[&bad], "revoked");
    let text = openssl_ok(
        h.path(),
        &["ocsp", "-respin", &resp, "-resp_text", "-noverify"],
    )
    .stdout;
    assert!(
        text.contains("OCSP Signing"),
        "responder EKU missing: {text}"
    );
    assert!(
        text.contains("OCSP No Check"),
        "ocsp-nocheck missing: {text}"
    );
}

#[test]
fn rsa2048_crl_and_ocsp() {
    check_key_type("rsa2048");
}

#[test]
fn p256_crl_and_ocsp() {
    check_key_type("p256");
}

#[test]
fn p384_crl_and_ocsp() {
    check_key_type("p384");
}

#[test]
fn ed25519_crl_and_ocsp() {
    check_key_type("ed25519");
}

#[test]
fn sm2_crl_and_ocsp() {
    check_key_type("sm2");
}

#[test]
fn sm2_delegated_responder_signs_with_sm2() {
    let h = Home::new();
    let (_, int, _) = setup(&h, "sm2", &["--ocsp-signer", "delegated"]);
    let (good, _) = h.issue_leaf("int", "good");
    let resp = ocsp_round(&h, &int, &[&good], "sm2-delegated");
    let basic = ocsp_basic_response(h.path(), &resp);
    // The responder certificate is in the response; its SM2 key signed the response.
    let text = openssl_ok(
        h.path(),
        &["ocsp", "-respin", &resp, "-resp_text", "-noverify"],
    )
    .stdout;
    assert!(text.contains("CN=int OCSP Responder"), "{text}");
    let responder = h.file("responder.pem");
    let pem_start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("responder certificate");
    std::fs::write(&responder, &text[pem_start..]).unwrap();
    assert_sm2_signed(h.path(), &basic, s(&responder));
    // And the CA's SM2 key signed the responder certificate.
    let r = openssl_ok(
        h.path(),
        &[
            "verify",
            "-vfyopt",
            "distid:1234567812345678",
            "-partial_chain",
            "-CAfile",
            &int,
            s(&responder),
        ],
    );
    assert!(r.stdout.contains("OK"));
}

#[test]
fn sm2_ca_with_empty_signer_id_verifies_in_plain_openssl() {
    // Relying parties on OpenSSL 3.0's defaults: a CA configured with --sm2-id "" has CRLs
    // and OCSP responses that `openssl crl -verify` and `openssl ocsp` accept as they are.
    let h = Home::new();
    h.root_and_intermediate("sm2", &["--sm2-id", ""], &["--sm2-id", ""]);
    let root = s(&h.export_ca("root")).to_owned();
    let int = s(&h.export_ca("int")).to_owned();
    let (good, _) = h.issue_leaf("int", "good");
    let (bad, serial) = h.issue_leaf("int", "bad");
    h.ok(&["revoke", &serial, "--reason", "superseded"]);
    let crl_pem = crl(&h, "int", "int.crl", &[]);
    assert_crl_verifies(&h, &crl_pem, &int);
    let resp = ocsp_round(&h, &int, &[&good, &bad], "sm2-empty");
    let chain = h.file("chain.pem");
    std::fs::write(
        &chain,
        [std::fs::read(&root).unwrap(), std::fs::read(&int).unwrap()].concat(),
    )
    .unwrap();
    let (st, _) = ocsp_statuses(&h, &resp, &int, s(&chain), &[&good, &bad], true);
    assert_eq!(st[&good], "good");
    assert_eq!(st[&bad], "revoked");
}

#[test]
fn crl_and_ocsp_agree_for_every_reason() {
    let h = Home::new();
    let (_, int, chain) = setup(&h, "p256", &[]);
    let reasons = [
        ("unspecified", ""),
        ("keyCompromise", "Key Compromise"),
        ("cACompromise", "CA Compromise"),
        ("affiliationChanged", "Affiliation Changed"),
        ("superseded", "Superseded"),
        ("cessationOfOperation", "Cessation Of Operation"),
        ("certificateHold", "Certificate Hold"),
        ("privilegeWithdrawn", "Privilege Withdrawn"),
        ("aACompromise", "AA Compromise"),
    ];
    let mut certs = Vec::new();
    for (i, (reason, _)) in reasons.iter().enumerate() {
        let (pem, serial) = h.issue_leaf("int", &format!("r{i}"));
        h.ok(&["revoke", &serial, "--ca", "int", "--reason", reason]);
        certs.push((pem, serial, Some(*reason)));
    }
    let (good, good_serial) = h.issue_leaf("int", "fine");
    certs.push((good, good_serial, None));
    let crl_pem = crl(&h, "int", "int.crl", &[]);
    let entries = crl_entries(&h, &crl_pem);
    let paths: Vec<&str> = certs.iter().map(|c| c.0.as_str()).collect();
    let resp = ocsp_round(&h, &int, &paths, "agree");
    let (st, text) = ocsp_statuses(&h, &resp, &int, &chain, &paths, true);
    for (pem, serial, reason) in &certs {
        match reason {
            None => {
                assert!(!entries.contains_key(serial));
                assert_eq!(st[pem], "good");
            }
            Some(r) => {
                let want = reasons.iter().find(|(n, _)| n == r).unwrap().1;
                assert_eq!(
                    entries.get(serial).map(String::as_str),
                    Some(want),
                    "CRL reason for {r}"
                );
                assert_eq!(st[pem], "revoked", "OCSP status for {r}");
            }
        }
    }
    // Every reason code is in the OCSP response (OpenSSL 3.0 names codes up to 8 and
    // prints the rest as "(UNKNOWN) (0x9)"); unspecified is left out of both the CRL and
    // OCSP, as RFC 5280 §5.3.1 advises.
    let resp_text = openssl_ok(
        h.path(),
        &["ocsp", "-respin", &resp, "-resp_text", "-noverify"],
    )
    .stdout;
    for code in [1, 2, 3, 4, 5, 6, 9, 10] {
        assert!(
            resp_text.contains(&format!("(0x{code:x})")),
            "OCSP lacks reason {code}: {resp_text}"
        );
    }
    assert!(text.contains("Reason: privilegeWithdrawn") || text.contains("(UNKNOWN)"));
}

#[test]
fn delta_crls_and_certificate_hold() {
    let h = Home::new();
    let (root, int, chain) = setup(&h, "p256", &[]);
    let (held, held_serial) = h.issue_leaf("int", "held");
    let (later, later_serial) = h.issue_leaf("int", "later");
    h.ok(&["revoke", &held_serial, "--reason", "certificateHold"]);
    let full = crl(&h, "int", "full.crl", &[]);
    assert!(crl_entries(&h, &full).contains_key(&held_serial));
    h.ok(&["revoke", &later_serial, "--reason", "superseded"]);
    h.ok(&["unrevoke", &held_serial]);
    // Lifting a hold twice, or lifting a final revocation, is refused.
    h.fails(&["unrevoke", &held_serial], "not on hold");
    h.fails(&["unrevoke", &later_serial], "not on hold");
    let delta = crl(&h, "int", "delta.crl", &["--delta"]);
    let text = openssl_ok(h.path(), &["crl", "-in", &delta, "-noout", "-text"]).stdout;
    assert!(text.contains("Delta CRL Indicator: critical"), "{text}");
    assert_eq!(crl_field(&text, "Delta CRL Indicator"), "1", "{text}");
    assert_eq!(crl_field(&text, "X509v3 CRL Number"), "2", "{text}");
    let entries = crl_entries(&h, &delta);
    assert_eq!(
        entries.get(&later_serial).map(String::as_str),
        Some("Superseded")
    );
    assert_eq!(
        entries.get(&held_serial).map(String::as_str),
        Some("Remove From CRL")
    );
    assert_crl_verifies(&h, &delta, &chain);
    // OpenSSL combines base and delta: the superseded certificate is revoked, the released
    // one valid again.
    let verify = |cert: &str| {
        verify_with_crls(
            &h,
            &["-crl_check", "-use_deltas"],
            &root,
            &int,
            &[&full, &delta],
            cert,
        )
    };
    assert!(verify(&held).ok, "{:?}", verify(&held));
    assert!(!verify(&later).ok);
    // OCSP agrees.
    let resp = ocsp_round(&h, &int, &[&held, &later], "delta");
    let (st, _) = ocsp_statuses(&h, &resp, &int, &chain, &[&held, &later], true);
    assert_eq!(st[&held], "good");
    assert_eq!(st[&later], "revoked");
    // The next full CRL continues the numbering and no longer lists the released hold.
    let full2 = crl(&h, "int", "full2.crl", &[]);
    let text = openssl_ok(h.path(), &["crl", "-in", &full2, "-noout", "-text"]).stdout;
    assert_eq!(crl_field(&text, "X509v3 CRL Number"), "3");
    let entries = crl_entries(&h, &full2);
    assert!(!entries.contains_key(&held_serial));
    assert!(entries.contains_key(&later_serial));
}

#[test]
fn partitioned_crls_cover_exactly_their_certificates() {
    let h = Home::new();
    let (root, int, _) = setup(&h, "p256", &["--partitions", "3"]);
    let mut certs = Vec::new();
    for i in 0..9 {
        let (pem, serial) = h.issue_leaf("int", &format!("p{i}"));
        if i % 2 == 0 {
            h.ok(&["revoke", &serial, "--reason", "cessationOfOperation"]);
        }
        certs.push((pem, i % 2 == 0));
    }
    h.fails(
        &["crl", "--ca", "int", "--out", s(&h.file("one.crl"))],
        "--partition",
    );
    let dir = h.file("crls");
    std::fs::create_dir(&dir).unwrap();
    h.ok(&["crl", "--ca", "int", "--out-dir", s(&dir)]);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["int-p0.crl", "int-p1.crl", "int-p2.crl"]);
    for (pem, revoked) in &certs {
        let text = openssl_ok(h.path(), &["x509", "-in", pem, "-noout", "-text"]).stdout;
        let url = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("URI:{BASE}/crl/int-p")))
            .expect("partition CDP")
            .trim_start_matches("URI:")
            .to_owned();
        let own = url.rsplit('/').next().unwrap().to_owned();
        for f in &files {
            let path = dir.join(f);
            let r = verify_with_crls(&h, &["-crl_check"], &root, &int, &[s(&path)], pem);
            let out = format!("{}{}", r.stdout, r.stderr);
            if *f == own {
                // Its own partition's CRL decides.
                assert_eq!(r.ok, !revoked, "{pem} with {f}: {out}");
                if *revoked {
                    assert!(out.contains("certificate revoked"), "{out}");
                }
            } else {
                // Another partition's IDP does not cover it: OpenSSL refuses to use it.
                assert!(
                    !r.ok
                        && (out.contains("different CRL scope")
                            || out.contains("unable to get certificate CRL")),
                    "{pem} with {f}: {out}"
                );
            }
        }
    }
}

#[test]
fn revoking_an_intermediate_lists_it_in_the_parents_crl() {
    let h = Home::new();
    let (root, int, _) = setup(&h, "p256", &[]);
    let int_serial = openssl_ok(h.path(), &["x509", "-in", &int, "-noout", "-serial"])
        .stdout
        .trim()
        .trim_start_matches("serial=")
        .to_owned();
    let (leaf_pem, _) = h.issue_leaf("int", "under");
    h.ok(&[
        "revoke",
        &int_serial,
        "--ca",
        "root",
        "--reason",
        "cACompromise",
    ]);
    let root_crl = crl(&h, "root", "root.crl", &[]);
    assert_eq!(
        crl_entries(&h, &root_crl)
            .get(&int_serial)
            .map(String::as_str),
        Some("CA Compromise")
    );
    let int_crl = crl(&h, "int", "int.crl", &[]);
    let r = verify_with_crls(
        &h,
        &["-crl_check_all"],
        &root,
        &int,
        &[&root_crl, &int_crl],
        &leaf_pem,
    );
    assert!(
        !r.ok && format!("{}{}", r.stdout, r.stderr).contains("certificate revoked"),
        "{r:?}"
    );
    // A revoked CA signs nothing more.
    h.fails(
        &[
            "issue",
            "--ca",
            "int",
            "--subject",
            "CN=x.example",
            "--key-type",
            "p256",
            "--no-encrypt-key",
            "--key-out",
            s(&h.file("x.key")),
            "--san",
            "dns:x.example",
        ],
        "is revoked",
    );
}

#[test]
fn crl_numbers_only_grow() {
    let h = Home::new();
    setup(&h, "p256", &[]);
    let mut last = 0;
    for i in 0..3 {
        let out = h.file(&format!("n{i}.crl"));
        let r = h.ok(&["crl", "--ca", "int", "--out", s(&out), "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let n = v[0]["number"].as_u64().unwrap();
        assert!(n > last, "CRL number {n} after {last}");
        last = n;
        if i == 1 {
            // A delta shares the sequence.
            let r = h.ok(&[
                "crl",
                "--ca",
                "int",
                "--delta",
                "--out",
                s(&h.file("d.crl")),
                "--format",
                "json",
            ]);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            let n = v[0]["number"].as_u64().unwrap();
            assert!(n > last);
            assert_eq!(v[0]["base_number"].as_u64(), Some(last));
            last = n;
        }
    }
    // A run that fails before signing (existing output) changes nothing.
    h.fails(
        &["crl", "--ca", "int", "--out", s(&h.file("n0.crl"))],
        "already exists",
    );
}

#[test]
fn ocsp_responses_are_pre_signed_reused_and_invalidated() {
    let h = Home::new();
    let (_, int, chain) = setup(&h, "p256", &[]);
    let (a, serial) = h.issue_leaf("int", "a");
    let req = h.file("single.req");
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            &int,
            "-cert",
            &a,
            "-no_nonce",
            "-reqout",
            s(&req),
        ],
    );
    let respond = |tag: &str| {
        let out = h.file(&format!("{tag}.der"));
        let r = h.ok(&["ocsp", "respond", "--request", s(&req), "--out", s(&out)]);
        (r.stdout, std::fs::read(&out).unwrap())
    };
    let (first, first_der) = respond("r1");
    assert!(!first.contains("pre-signed"), "{first}");
    // The same nonce-less request is answered from the pre-signed response, byte for byte.
    let (second, second_der) = respond("r2");
    assert!(second.contains("pre-signed"), "{second}");
    assert_eq!(first_der, second_der);
    // Revocation drops it at once: the next answer is fresh and says revoked.
    h.ok(&["revoke", &serial, "--reason", "keyCompromise"]);
    let (third, _) = respond("r3");
    assert!(
        !third.contains("pre-signed") && third.contains("revoked"),
        "{third}"
    );
    let r = openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-respin",
            s(&h.file("r3.der")),
            "-issuer",
            &int,
            "-CAfile",
            &chain,
            "-no_nonce",
            "-cert",
            &a,
        ],
    );
    assert!(r.stdout.contains(&format!("{a}: revoked")), "{}", r.stdout);
    // A nonce forces a fresh signature every time.
    let nonce_req = h.file("nonce.req");
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            &int,
            "-cert",
            &a,
            "-reqout",
            s(&nonce_req),
        ],
    );
    for i in 0..2 {
        let out = h.file(&format!("n{i}.der"));
        let r = h.ok(&[
            "ocsp",
            "respond",
            "--request",
            s(&nonce_req),
            "--out",
            s(&out),
        ]);
        assert!(!r.stdout.contains("pre-signed"), "{}", r.stdout);
    }
    // `ocsp presign` signs responses ahead for every certificate; requests then hit them.
    let (b, _) = h.issue_leaf("int", "b");
    let r = h.ok(&["ocsp", "presign", "--ca", "int"]);
    assert!(r.stdout.contains("pre-signed"), "{}", r.stdout);
    let breq = h.file("b.req");
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            &int,
            "-cert",
            &b,
            "-no_nonce",
            "-reqout",
            s(&breq),
        ],
    );
    let r = h.ok(&[
        "ocsp",
        "respond",
        "--request",
        s(&breq),
        "--out",
        s(&h.file("b.der")),
    ]);
    assert!(
        r.stdout.contains("pre-signed") && r.stdout.contains("good"),
        "{}",
        r.stdout
    );
}

#[test]
fn delegated_responders_rotate() {
    let h = Home::new();
    let (root, int, _) = setup(&h, "p256", &["--ocsp-signer", "delegated"]);
    let (a, _) = h.issue_leaf("int", "a");
    let resp1 = ocsp_round(&h, &int, &[&a], "d1");
    h.ok(&["ocsp", "rotate-responder", "--ca", "int"]);
    let resp2 = ocsp_round(&h, &int, &[&a], "d2");
    let responder_of = |resp: &str| {
        let text = openssl_ok(
            h.path(),
            &["ocsp", "-respin", resp, "-resp_text", "-noverify"],
        )
        .stdout;
        text.lines()
            .find(|l| l.trim_start().starts_with("Responder Id:"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        responder_of(&resp1),
        responder_of(&resp2),
        "rotation kept the old key"
    );
    for resp in [&resp1, &resp2] {
        let (st, _) = ocsp_statuses(&h, resp, &int, &root, &[&a], true);
        assert_eq!(st[&a], "good");
    }
    // Responder certificates are recorded like every other certificate.
    let list = h.ok(&["cert", "list", "--format", "json"]).stdout;
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let responders = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["profile"] == "ocsp-signing")
        .count();
    assert_eq!(responders, 2);
}

/// A CRL too large for one stored value (over 1 MiB: kept in parts by the store) comes back
/// from the store whole: OpenSSL verifies its signature under the issuing CA and lists every
/// entry with its reason and invalidity date.
#[test]
fn a_crl_stored_in_parts_reads_back_whole_and_verifies_with_openssl() {
    let h = Home::empty();
    let out = h.file("out");
    let out = out.to_str().expect("utf-8");
    let r = h.run(&[
        "bench",
        "crl",
        "--revoked",
        "30000",
        "--key-type",
        "p256",
        "--out-dir",
        out,
    ]);
    assert!(r.ok, "bench crl failed: {}", r.stderr);
    let size = std::fs::metadata(h.file("out/crl.der"))
        .expect("crl.der")
        .len();
    assert!(
        size > 1 << 20,
        "the CRL ({size} bytes) must exceed one stored part"
    );
    // One openssl run checks the signature and lists the entries.
    let read = openssl_ok(
        h.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "out/crl.der",
            "-CAfile",
            "out/cas.pem",
            "-noout",
            "-verify",
            "-text",
        ],
    );
    assert!(read.stderr.contains("verify OK"), "{}", read.stderr);
    let text = read.stdout;
    assert_eq!(text.matches("Serial Number:").count(), 30_000);
    for reason in [
        "Key Compromise",
        "CA Compromise",
        "Superseded",
        "Invalidity Date",
    ] {
        assert!(text.contains(reason), "no {reason} in the CRL");
    }
}
