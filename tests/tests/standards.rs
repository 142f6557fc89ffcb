#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Standards in full, checked by implementations we did not write:
//! - name constraints of every form (dNSName, iPAddress, rfc822Name, URI): a leaf for an
//!   out-of-bounds name signed straight with the constrained CA's key by `openssl x509
//!   -req` is refused by `openssl verify` (so caforge's encoding binds), and caforge refuses
//!   to sign it;
//! - certificate policies and policy constraints, read back by OpenSSL and enforced by
//!   `openssl verify -policy_check`;
//! - OCSP responses (CA-signed and delegated, RSA and P-256) verified by GnuTLS `ocsptool`.

use caforge_tests::{cert_text, openssl, openssl_ok, p256_csr, s, sm2_csr, Home};

/// Signs `csr` with CA `ca`'s own key through OpenSSL, with `san` as the leaf's
/// subjectAltName; returns the certificate's file name.
fn openssl_signed(h: &Home, ca: &str, csr: &str, san: &str, tag: &str) -> String {
    let ext = format!("{tag}.ext");
    std::fs::write(
        h.file(&ext),
        format!(
            "[v3]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\nsubjectAltName = {san}\n"
        ),
    )
    .unwrap();
    let out = format!("{tag}.pem");
    let key = h.home().join(format!("keys/{ca}.key.pem"));
    openssl_ok(
        h.path(),
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            s(&h.export_ca(ca)),
            "-CAkey",
            s(&key),
            "-passin",
            "file:pass.txt",
            "-days",
            "30",
            "-extfile",
            &ext,
            "-extensions",
            "v3",
            "-out",
            &out,
        ],
    );
    out
}

/// Asserts that `text` mentions every one of `needles`.
fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
}

/// `openssl verify -x509_strict` of `leaf` under root → `ca`, with `flags`.
fn verify(h: &Home, ca: &str, leaf: &str, flags: &[&str]) -> (bool, String) {
    let root = h.export_ca("root");
    let int = h.export_ca(ca);
    let mut args = vec!["verify", "-x509_strict"];
    args.extend_from_slice(flags);
    args.extend(["-CAfile", s(&root), "-untrusted", s(&int), leaf]);
    let r = openssl(h.path(), &args);
    (r.ok, format!("{}{}", r.stdout, r.stderr))
}

/// caforge's answer to issuing `csr` under `ca` with `san` (tls-client, which takes any
/// name form).
fn caforge_issue(h: &Home, ca: &str, csr: &str, san: &str, out: &str) -> caforge_tests::Run {
    h.run(&[
        "issue",
        "--ca",
        ca,
        "--csr",
        csr,
        "--subject",
        "CN=leaf",
        "--profile",
        "tls-client",
        "--san",
        san,
        "--out",
        out,
    ])
}

#[test]
fn name_constraints_of_every_form_bind_openssl_and_caforge() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    h.create_intermediate(
        "root",
        "nc",
        "p256",
        &[
            "--permit",
            "dns:example.com",
            "--permit",
            "ip:10.0.0.0/8",
            "--permit",
            "email:example.com",
            "--permit",
            "uri:.svc.example",
            "--exclude",
            "dns:secret.example.com",
            "--exclude",
            "ip:10.9.0.0/16",
            "--exclude",
            "email:ceo@example.com",
            "--exclude",
            "uri:bad.svc.example",
        ],
    );
    let text = cert_text(h.path(), s(&h.export_ca("nc")));
    assert_mentions(
        &text,
        &[
            "X509v3 Name Constraints: critical",
            "DNS:example.com",
            "IP:10.0.0.0/255.0.0.0",
            "email:example.com",
            "URI:.svc.example",
            "DNS:secret.example.com",
            "IP:10.9.0.0/255.255.0.0",
            "email:ceo@example.com",
            "URI:bad.svc.example",
        ],
    );
    p256_csr(h.path(), "leaf", "/CN=leaf");
    let before = h.cert_count();
    // (form, in bounds, outside the permitted subtrees, in an excluded subtree)
    let cases = [
        (
            "dns",
            "DNS:www.example.com",
            "DNS:www.example.org",
            "DNS:a.secret.example.com",
        ),
        ("ip", "IP:10.1.2.3", "IP:192.168.1.1", "IP:10.9.1.1"),
        (
            "email",
            "email:alice@example.com",
            "email:eve@evil.example",
            "email:ceo@example.com",
        ),
        (
            "uri",
            "URI:https://api.svc.example/",
            "URI:spiffe://other.example/ns/a",
            "URI:https://bad.svc.example/",
        ),
    ];
    for (form, inside, outside, excluded) in cases {
        let lower = |san: &str| {
            let (kind, value) = san.split_once(':').unwrap();
            format!("{}:{value}", kind.to_ascii_lowercase())
        };
        // In bounds: OpenSSL accepts OpenSSL's leaf and caforge's.
        let good = openssl_signed(&h, "nc", "leaf.csr", inside, &format!("{form}-in"));
        let (ok, out) = verify(&h, "nc", &good, &[]);
        assert!(ok, "{form}: in-bounds leaf refused: {out}");
        let ours = format!("{form}-ours.pem");
        let r = caforge_issue(&h, "nc", "leaf.csr", &lower(inside), &ours);
        assert!(r.ok, "{form}: caforge refused {inside}: {}", r.stderr);
        assert!(verify(&h, "nc", &ours, &[]).0, "{form}: caforge's leaf");
        // Out of bounds: OpenSSL refuses the constrained CA's signature, caforge refuses
        // to make it.
        for (san, tag, says) in [
            (outside, "out", "violates the name constraints of CA 'nc'"),
            (excluded, "ex", "excluded subtree"),
        ] {
            let bad = openssl_signed(&h, "nc", "leaf.csr", san, &format!("{form}-{tag}"));
            let (ok, out) = verify(&h, "nc", &bad, &[]);
            assert!(!ok, "{form}: OpenSSL accepted {san}: {out}");
            assert!(
                out.contains("subtree violation") || out.contains("name constraint"),
                "{form}: {out}"
            );
            let r = caforge_issue(&h, "nc", "leaf.csr", &lower(san), "never.pem");
            assert!(!r.ok, "{form}: caforge signed {san}");
            assert!(r.stderr.contains(says), "{form} {san}: {}", r.stderr);
        }
    }
    assert_eq!(h.cert_count(), before + 4, "only the in-bounds leaves");

    // A wildcard is refused when any name it covers is excluded; one whose names are all
    // permitted is issued.
    let r = caforge_issue(&h, "nc", "leaf.csr", "dns:*.example.com", "never.pem");
    assert!(
        !r.ok
            && r.stderr
                .contains("it covers names in the excluded subtree dns:secret.example.com"),
        "{}",
        r.stderr
    );
    let r = caforge_issue(&h, "nc", "leaf.csr", "dns:*.www.example.com", "wild.pem");
    assert!(r.ok, "{}", r.stderr);

    // A CA permitted DNS names only excludes every IP address (CA/B BR 7.1.2.10.8).
    h.create_intermediate("root", "dnsonly", "p256", &["--permit", "dns:example.com"]);
    let text = cert_text(h.path(), s(&h.export_ca("dnsonly")));
    assert!(
        text.contains("IP:0.0.0.0/0.0.0.0") && text.contains("IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0"),
        "{text}"
    );
    let bad = openssl_signed(&h, "dnsonly", "leaf.csr", "IP:10.1.2.3", "dnsonly-ip");
    assert!(!verify(&h, "dnsonly", &bad, &[]).0);
    let r = caforge_issue(&h, "dnsonly", "leaf.csr", "ip:10.1.2.3", "never.pem");
    assert!(
        r.stderr.contains("excluded subtree ip:0.0.0.0/0"),
        "{}",
        r.stderr
    );

    // A rollover successor carries every form.
    h.ok(&["ca", "rollover", "nc", "--name", "nc2"]);
    let text = cert_text(h.path(), s(&h.export_ca("nc2")));
    assert_mentions(
        &text,
        &[
            "IP:10.0.0.0/255.0.0.0",
            "email:ceo@example.com",
            "URI:.svc.example",
        ],
    );
    let r = caforge_issue(
        &h,
        "nc2",
        "leaf.csr",
        "uri:spiffe://other.example/x",
        "never.pem",
    );
    assert!(
        !r.ok && r.stderr.contains("name constraints"),
        "{}",
        r.stderr
    );

    // Bad constraints are refused, and nothing is made.
    let cas = h.ok(&["ca", "list", "--format", "json"]).stdout;
    for bad in [
        "ip:10.0.0.1/8",
        "dns:*.example.com",
        "x400:o=a",
        "example.com",
    ] {
        h.fails(
            &h.create_intermediate_args("root", "bad", "p256", &["--permit", bad]),
            "invalid",
        );
    }
    assert_eq!(h.ok(&["ca", "list", "--format", "json"]).stdout, cas);
}

const POLICIES: &str = r#"
[policies.dv]
oid = "2.23.140.1.2.1"

[policies.lab]
oid = "1.3.6.1.4.1.55555.1.1"
cps = "https://pki.lab.example/cps"
notice = "Lab certificates: not for production"

[profiles.tls-server]
policies = ["dv"]

[profiles.tls-client]
policies = ["lab"]
"#;

#[test]
fn certificate_policies_and_policy_constraints() {
    let h = Home::new();
    h.configure(POLICIES);
    h.create_root("root", "p256", &["--policy", "2.5.29.32.0"]);
    h.create_intermediate(
        "root",
        "int",
        "p256",
        &[
            "--policy",
            "dv",
            "--policy",
            "lab",
            "--require-explicit-policy",
            "0",
            "--inhibit-policy-mapping",
            "0",
            "--inhibit-any-policy",
            "0",
        ],
    );
    let text = cert_text(h.path(), s(&h.export_ca("int")));
    assert_mentions(
        &text,
        &[
            "X509v3 Certificate Policies:",
            "Policy: 2.23.140.1.2.1",
            "Policy: 1.3.6.1.4.1.55555.1.1",
            "CPS: https://pki.lab.example/cps",
            "Explicit Text: Lab certificates: not for production",
            "X509v3 Policy Constraints: critical",
            "Require Explicit Policy:0",
            "Inhibit Policy Mapping:0",
            "X509v3 Inhibit Any Policy: critical",
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&h.ok(&["ca", "show", "int", "--format", "json"]).stdout).unwrap();
    assert_eq!(
        json["policies"],
        serde_json::json!(["2.23.140.1.2.1", "1.3.6.1.4.1.55555.1.1"])
    );

    // Leaves assert their profile's policies; OpenSSL's policy check accepts them under
    // the intermediate's requireExplicitPolicy, and refuses a leaf without one.
    let (server, _) = h.issue_leaf("int", "www");
    // (OpenSSL's policy check takes the acceptable policies from -policy.)
    let dv = ["-policy_check", "-policy", "2.23.140.1.2.1"];
    let lab = ["-policy_check", "-policy", "1.3.6.1.4.1.55555.1.1"];
    let (ok, out) = verify(&h, "int", &server, &dv);
    assert!(ok, "{out}");
    // A relying party that accepts only the lab policy does not accept the DV leaf.
    assert!(!verify(&h, "int", &server, &lab).0);
    let leaf_text = cert_text(h.path(), &server);
    assert!(leaf_text.contains("Policy: 2.23.140.1.2.1"), "{leaf_text}");
    assert!(!leaf_text.contains("Explicit Text"), "{leaf_text}");
    p256_csr(h.path(), "client", "/CN=client");
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--csr",
        "client.csr",
        "--subject",
        "CN=client",
        "--profile",
        "tls-client",
        "--out",
        "client.pem",
    ]);
    let client_text = cert_text(h.path(), "client.pem");
    assert!(
        client_text.contains("Explicit Text: Lab certificates"),
        "{client_text}"
    );
    assert!(verify(&h, "int", "client.pem", &lab).0);
    // The intermediate's requireExplicitPolicy 0 makes a leaf without a policy fail.
    let bare = openssl_signed(&h, "int", "client.csr", "DNS:bare.example", "bare");
    let (ok, out) = verify(&h, "int", &bare, &lab);
    assert!(!ok && out.contains("no explicit policy"), "{out}");

    // caforge refuses a leaf whose policies its chain would not validate where a CA
    // requires an explicit policy, and warns where nothing requires one.
    h.create_intermediate(
        "root",
        "strict",
        "p256",
        &["--policy", "dv", "--require-explicit-policy", "0"],
    );
    let before = h.cert_count();
    h.fails(
        &[
            "issue",
            "--ca",
            "strict",
            "--csr",
            "client.csr",
            "--subject",
            "CN=client",
            "--profile",
            "tls-client",
            "--out",
            "never.pem",
        ],
        "CA 'strict' requires an explicit policy",
    );
    assert_eq!(h.cert_count(), before);
    h.create_intermediate("root", "plain", "p256", &[]);
    let r = h.ok(&[
        "issue",
        "--ca",
        "plain",
        "--csr",
        "client.csr",
        "--subject",
        "CN=client",
        "--profile",
        "tls-client",
        "--out",
        "plain.pem",
    ]);
    assert!(
        r.stderr.contains("warning: the certificate's policies (1.3.6.1.4.1.55555.1.1) are not among those its chain"),
        "{}",
        r.stderr
    );

    // A rollover successor and a cross certificate carry the CA's policies.
    h.ok(&["ca", "rollover", "int", "--name", "int2"]);
    let text = cert_text(h.path(), s(&h.export_ca("int2")));
    assert!(
        text.contains("CPS: https://pki.lab.example/cps")
            && text.contains("Require Explicit Policy:0"),
        "{text}"
    );
    h.create_root("other", "p256", &[]);
    h.ok(&[
        "ca",
        "cross-sign",
        "int2",
        "--by",
        "other",
        "--out",
        "cross.pem",
    ]);
    let text = cert_text(h.path(), "cross.pem");
    assert!(
        text.contains("Policy: 1.3.6.1.4.1.55555.1.1") && text.contains("Inhibit Any Policy"),
        "{text}"
    );

    // Bad policies are refused, and nothing is made.
    let cas = h.ok(&["ca", "list", "--format", "json"]).stdout;
    for (args, says) in [
        (vec!["--policy", "nope"], "unknown policy 'nope'"),
        (vec!["--policy", "1.2.x"], "not a policy OID"),
        (
            vec!["--policy", "1.2.3", "--cps", "ftp://x.example/cps"],
            "http:// or https://",
        ),
        (
            vec!["--policy", "dv", "--cps", "https://x.example"],
            "qualifies a policy given as an OID",
        ),
        (
            vec!["--policy", "dv", "--policy", "2.23.140.1.2.1"],
            "listed twice",
        ),
    ] {
        h.fails(
            &h.create_intermediate_args("root", "bad", "p256", &args),
            says,
        );
    }
    h.fails(
        &[
            "ca",
            "create-root",
            "--name",
            "bad",
            "--key-type",
            "p256",
            "--policy",
            "nope",
        ],
        "unknown policy",
    );
    assert_eq!(h.ok(&["ca", "list", "--format", "json"]).stdout, cas);
    // A user notice on the tls-server profile is refused when the configuration loads.
    h.configure("[profiles.email]\npolicies = [\"lab\"]\n");
    h.ok(&["ca", "list"]);
    let text = std::fs::read_to_string(h.home().join("caforge.toml")).unwrap();
    std::fs::write(
        h.home().join("caforge.toml"),
        text.replace("policies = [\"dv\"]", "policies = [\"lab\"]"),
    )
    .unwrap();
    h.fails(&["ca", "list"], "must not (CA/B BR 7.1.2.7.9)");
}

/// `ocsptool --verify-response` of `resp` with `trust` as the only trust anchor.
fn gnutls_verifies(h: &Home, resp: &str, trust: &str) -> (bool, String) {
    let out = std::process::Command::new("ocsptool")
        .current_dir(h.path())
        .args(["--verify-response", "--load-trust", trust, "--infile", resp])
        .output()
        .expect("GnuTLS ocsptool (Debian gnutls-bin; .ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Verifying OCSP Response: Success"),
        text,
    )
}

fn ocsp_for(h: &Home, int: &str, leaf: &str, tag: &str) -> String {
    let req = format!("{tag}.req");
    let resp = format!("{tag}.resp");
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            int,
            "-cert",
            leaf,
            "-no_nonce",
            "-reqout",
            &req,
        ],
    );
    h.ok(&["ocsp", "respond", "--request", &req, "--out", &resp]);
    resp
}

fn gnutls_accepts_ocsp(kt: &str) {
    let h = Home::new();
    h.root_and_intermediate(kt, &[], &["--base-url", "http://127.0.0.1:8080"]);
    let int = s(&h.export_ca("int")).to_owned();
    let (leaf, _) = h.issue_leaf("int", "www");
    let (revoked, revoked_serial) = h.issue_leaf("int", "gone");
    h.ok(&[
        "revoke",
        &revoked_serial,
        "--ca",
        "int",
        "--reason",
        "superseded",
    ]);

    // CA-signed: named by the CA's subject, so a verifier that holds the CA finds it; no
    // certificate travels in the response.
    let resp = ocsp_for(&h, &int, &leaf, &format!("{kt}-ca"));
    let (ok, out) = gnutls_verifies(&h, &resp, &int);
    assert!(ok, "GnuTLS refused the CA-signed response: {out}");
    let text = openssl_ok(
        h.path(),
        &["ocsp", "-respin", &resp, "-resp_text", "-noverify"],
    )
    .stdout;
    assert!(text.contains("Responder Id: CN = int"), "{text}");
    assert!(
        !text.contains("Certificate:"),
        "a CA-signed response carries no certificate: {text}"
    );
    let resp = ocsp_for(&h, &int, &revoked, &format!("{kt}-ca-revoked"));
    let (ok, out) = gnutls_verifies(&h, &resp, &int);
    assert!(ok && out.contains("Certificate Status: revoked"), "{out}");
    // Another CA does not verify it.
    h.create_root("stranger", kt, &[]);
    let (ok, _) = gnutls_verifies(&h, &resp, s(&h.export_ca("stranger")));
    assert!(
        !ok,
        "GnuTLS accepted a response under the wrong trust anchor"
    );

    // After a rollover two generations share the subject: each names itself by key and
    // carries its certificate, so a verifier cannot take one generation for the other.
    h.ok(&["ca", "rollover", "int", "--name", "int2"]);
    let int2 = s(&h.export_ca("int2")).to_owned();
    let (next, _) = h.issue_leaf("int2", "next");
    let resp = ocsp_for(&h, &int2, &next, &format!("{kt}-g2"));
    let (ok, out) = gnutls_verifies(&h, &resp, &int2);
    assert!(ok, "GnuTLS refused the successor's response: {out}");
    assert!(
        !gnutls_verifies(&h, &resp, &int).0,
        "verified under the old generation"
    );
    let text = openssl_ok(
        h.path(),
        &["ocsp", "-respin", &resp, "-resp_text", "-noverify"],
    )
    .stdout;
    assert!(!text.contains("Responder Id: CN = int"), "{text}");
    let resp = ocsp_for(&h, &int, &leaf, &format!("{kt}-g1"));
    assert!(
        gnutls_verifies(&h, &resp, &int).0,
        "the old generation's own answers"
    );
    assert!(!gnutls_verifies(&h, &resp, &int2).0);

    // Delegated: the responder's certificate travels in the response.
    // (A new certificate: the CA-signed answer kept for `leaf` stays a valid answer
    // until it is due.)
    h.ok(&["ca", "configure", "int2", "--ocsp-signer", "delegated"]);
    let (later, _) = h.issue_leaf("int2", "later");
    let resp = ocsp_for(&h, &int2, &later, &format!("{kt}-delegated"));
    let (ok, out) = gnutls_verifies(&h, &resp, &int2);
    assert!(ok, "GnuTLS refused the delegated response: {out}");
    let text = openssl_ok(
        h.path(),
        &["ocsp", "-respin", &resp, "-resp_text", "-noverify"],
    )
    .stdout;
    assert!(
        !text.contains("Responder Id: CN = int") && text.contains("OCSP Signing"),
        "{text}"
    );
}

#[test]
fn gnutls_verifies_rsa_ocsp_responses() {
    gnutls_accepts_ocsp("rsa2048");
}

#[test]
fn gnutls_verifies_p256_ocsp_responses() {
    gnutls_accepts_ocsp("p256");
}

#[test]
fn gnutls_verifies_p384_ocsp_responses() {
    gnutls_accepts_ocsp("p384");
}

/// A pkilint tool from the venv `.ci/run` makes (`CAFORGE_TEST_PKILINT` names its `bin`).
fn pkilint(tool: &str) -> std::path::PathBuf {
    let dir = std::env::var("CAFORGE_TEST_PKILINT")
        .expect("CAFORGE_TEST_PKILINT must name the bin directory of a venv with pkilint (.ci/run makes one)");
    std::path::Path::new(&dir).join(tool)
}

/// pkilint's findings on `file` as (severity, code, where), all of them printed.
fn lint(h: &Home, tool: &str, args: &[&str], file: &str) -> Vec<(String, String, String)> {
    let out = std::process::Command::new(pkilint(tool))
        .current_dir(h.path())
        .arg("lint")
        .args(args)
        .args(["-f", "JSON", file])
        .output()
        .expect("run pkilint");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{tool} {file}: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut findings = Vec::new();
    for result in json["results"].as_array().unwrap() {
        for f in result["finding_descriptions"].as_array().unwrap() {
            findings.push((
                f["severity"].as_str().unwrap().to_owned(),
                f["code"].as_str().unwrap().to_owned(),
                result["node_path"].as_str().unwrap().to_owned(),
            ));
        }
    }
    println!("{tool} {file}:");
    for (sev, code, at) in &findings {
        println!("    {sev:8} {code} @ {at}");
    }
    findings
}

fn errors(findings: &[(String, String, String)]) -> Vec<&(String, String, String)> {
    findings
        .iter()
        .filter(|(sev, _, _)| sev == "ERROR" || sev == "FATAL")
        .collect()
}

#[test]
#[ignore = "needs pkilint: .ci/run makes its venv and names it in CAFORGE_TEST_PKILINT"]
fn pkilint_finds_no_error_in_tls_server_leaves() {
    for kt in ["rsa2048", "p256"] {
        let h = Home::new();
        h.configure(POLICIES);
        h.root_and_intermediate(
            kt,
            &[],
            &["--base-url", "http://pki.example.com", "--policy", "dv"],
        );
        let r = h.ok(&[
            "issue",
            "--ca",
            "int",
            "--subject",
            "CN=www.example.com",
            "--san",
            "dns:www.example.com",
            "--san",
            "dns:example.com",
            "--key-type",
            kt,
            "--no-encrypt-key",
            "--key-out",
            "www.key",
            "--out",
            "www.pem",
        ]);
        assert!(!r.stderr.contains("warning"), "{}", r.stderr);
        let text = cert_text(h.path(), "www.pem");
        assert!(text.contains("Policy: 2.23.140.1.2.1"), "{kt}: {text}");
        // Detected from the reserved policy OID, as pkilint does for a DV certificate.
        let findings = lint(&h, "lint_cabf_serverauth_cert", &["-d"], "www.pem");
        assert_eq!(
            errors(&findings),
            Vec::<&(String, String, String)>::new(),
            "{kt}"
        );
    }
}

#[test]
#[ignore = "needs pkilint: .ci/run makes its venv and names it in CAFORGE_TEST_PKILINT"]
fn pkilint_finds_no_rfc5280_error_in_sm2_certificates() {
    let h = Home::new();
    h.root_and_intermediate("sm2", &[], &["--base-url", "http://pki.example.com"]);
    let (leaf, _) = h.issue_leaf("int", "www");
    sm2_csr(h.path(), "sign", "/CN=tlcp.example");
    h.ok(&[
        "issue-dual",
        "--mode",
        "sm2-sign-enc",
        "--ca",
        "int",
        "--csr",
        "sign.csr",
        "--san",
        "dns:tlcp.example",
        "--out-dir",
        "pair",
    ]);
    let files = ["pair/sign.pem".to_owned(), "pair/enc.pem".to_owned()];
    let root = s(&h.export_ca("root")).to_owned();
    let int = s(&h.export_ca("int")).to_owned();
    for file in [root, int, leaf].iter().chain(&files) {
        let findings = lint(&h, "lint_pkix_cert", &[], file);
        let text = cert_text(h.path(), file);
        let encryption = text.contains("Key Encipherment") && !text.contains("Digital Signature");
        let left: Vec<_> = errors(&findings)
            .into_iter()
            // GM/T 0015: an SM2 encryption certificate asserts keyEncipherment and
            // dataEncipherment, which RFC 5280 does not define for EC keys.
            .filter(|(_, code, _)| {
                !(encryption && code == "pkix.key_usage_value_prohibited_for_ec")
            })
            .collect();
        assert!(left.is_empty(), "{file}: {left:?}");
    }
}

#[test]
#[ignore = "needs pkilint: .ci/run makes its venv and names it in CAFORGE_TEST_PKILINT"]
fn pkilint_finds_no_error_in_crls_and_ocsp_responses() {
    for kt in ["rsa2048", "p256", "sm2"] {
        let h = Home::new();
        h.root_and_intermediate(kt, &[], &["--base-url", "http://pki.example.com"]);
        let int = s(&h.export_ca("int")).to_owned();
        let (leaf, serial) = h.issue_leaf("int", "www");
        let resp = ocsp_for(&h, &int, &leaf, "good");
        assert!(
            errors(&lint(&h, "lint_ocsp_response", &[], &resp)).is_empty(),
            "{kt}"
        );
        h.ok(&[
            "revoke",
            &serial,
            "--ca",
            "int",
            "--reason",
            "keyCompromise",
        ]);
        for (args, file) in [
            (
                vec!["crl", "--ca", "int", "--der", "--out", "full.crl"],
                "full.crl",
            ),
            (
                vec![
                    "crl",
                    "--ca",
                    "int",
                    "--delta",
                    "--der",
                    "--out",
                    "delta.crl",
                ],
                "delta.crl",
            ),
        ] {
            h.ok(&args);
            for profile in ["PKIX", "BR"] {
                let findings = lint(&h, "lint_crl", &["-t", "CRL", "-p", profile], file);
                assert!(errors(&findings).is_empty(), "{kt} {file} {profile}");
            }
        }
        h.ok(&["crl", "--ca", "root", "--der", "--out", "root.crl"]);
        let findings = lint(&h, "lint_crl", &["-t", "ARL", "-p", "BR"], "root.crl");
        assert!(errors(&findings).is_empty(), "{kt} ARL");
        let resp = ocsp_for(&h, &int, &leaf, "revoked");
        assert!(
            errors(&lint(&h, "lint_ocsp_response", &[], &resp)).is_empty(),
            "{kt}"
        );
        h.ok(&["ca", "configure", "int", "--ocsp-signer", "delegated"]);
        let (later, _) = h.issue_leaf("int", "later");
        let resp = ocsp_for(&h, &int, &later, "delegated");
        assert!(
            errors(&lint(&h, "lint_ocsp_response", &[], &resp)).is_empty(),
            "{kt}"
        );
    }
}
