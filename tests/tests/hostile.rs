//! The front doors as a stranger tries them, against the real binary and server on
//! loopback: questions about serials caforge never issued cost a bounded number of
//! signatures and write nothing, while answers about its own certificates keep flowing;
//! revocation dates outside the certificate's life are refused by the API as by the CLI.
#![allow(clippy::expect_used)] // test helpers outside #[test] functions

use caforge_tests::server::{api, presigned_status, token, Server};
use caforge_tests::{openssl, s, Home};

use ca_core::revocation::ocsp::CertIdHash;
use ca_core::store::{AnyStore, CaStore as _, OcspStore as _};

/// How many questions about strangers the flood sends (more than a CA's burst budget).
const FLOOD: u32 = 150;

/// Whether the store keeps a pre-signed answer for `serial_hex` under CA `ca` (SHA-1
/// CertIDs, as `openssl ocsp` makes them).
fn stored(h: &Home, ca: &str, serial_hex: &str) -> bool {
    let url = format!("sqlite:{}", h.home().join("caforge.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = AnyStore::open(&url).await.expect("open the home's store");
        let ca = store.find_ca(ca).await.expect("CA");
        store
            .cached_ocsp(ca.id, serial_hex, CertIdHash::Sha1.as_str())
            .await
            .expect("read")
            .is_some()
    })
}

#[test]
fn a_flood_of_questions_about_strangers_writes_nothing_and_own_answers_keep_flowing() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let (leaf, leaf_serial) = h.issue_leaf("int", "app");
    let int = h.export_ca("int");
    let chain = h.file("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read(&int).expect("int"),
            std::fs::read(h.export_ca("root")).expect("root"),
        ]
        .concat(),
    )
    .expect("chain");
    let server = Server::start(&h);
    let url = format!("{}/ocsp", server.url);

    // Warm up (the first answer loads the CA and its key), then measure.
    assert_eq!(
        presigned_status(&h, &server, s(&int), s(&chain), &leaf),
        "good"
    );
    let rss_before = server.rss_kib();
    let (mut unknown, mut try_later) = (0, 0);
    for i in 0..FLOOD {
        let serial = format!("0x7{i:015x}");
        let r = openssl(
            h.path(),
            &[
                "ocsp",
                "-issuer",
                s(&int),
                "-serial",
                &serial,
                "-url",
                &url,
                "-no_nonce",
                "-noverify",
            ],
        );
        let out = format!("{}{}", r.stdout, r.stderr);
        if out.contains(": unknown") {
            unknown += 1;
        } else if out.contains("trylater") {
            try_later += 1;
        } else {
            panic!("unexpected answer for {serial}: {out}");
        }
    }
    assert_eq!(unknown + try_later, FLOOD);
    // Memory stays flat: nothing about a stranger is kept (a generous bound, far below
    // what keeping answers or a growing pool per request would take).
    let rss_after = server.rss_kib();
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over {FLOOD} questions"
    );
    // A serial no certificate can have (21 octets), asked by OpenSSL: malformedRequest.
    let r = openssl(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            s(&int),
            "-serial",
            &format!("0x{}", "7f".repeat(21)),
            "-url",
            &url,
            "-no_nonce",
            "-noverify",
        ],
    );
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("malformedrequest"), "{out}");
    // Nothing about any stranger was written down.
    for i in [0, FLOOD / 2, FLOOD - 1] {
        let hex = format!("7{i:015X}");
        assert!(!stored(&h, "int", &hex), "{hex} was stored");
    }
    // Answers about our own certificate keep flowing, and are kept for reuse as before.
    assert_eq!(
        presigned_status(&h, &server, s(&int), s(&chain), &leaf),
        "good"
    );
    assert!(stored(&h, "int", &leaf_serial.to_uppercase()));
}

/// The API takes the date as a raw integer; the CLI's refusals are in
/// `revocation_bad_input.rs`.
#[test]
fn invalidity_dates_outside_the_certificates_life_are_refused_on_the_api() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let (_, serial) = h.issue_leaf("int", "app");
    let server = Server::start(&h);
    let token = token(&h, "int", "*");
    for date in ["-86400", "946684800"] {
        let (code, _, body) = api(
            &h,
            &server,
            "POST",
            &format!("/api/v1/certificates/{serial}/revoke"),
            Some(&token),
            Some(&format!(
                r#"{{"reason":"keyCompromise","invalidity_date":{date}}}"#
            )),
        );
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("invalidity date"), "{body}");
    }
    // Nothing was revoked, so the CA's CRL lists nothing and signs as before.
    let r = h.ok(&["cert", "show", &serial, "--format", "json"]);
    assert!(r.stdout.contains("\"valid\""), "{}", r.stdout);
    h.ok(&["crl", "--ca", "int", "--out", s(&h.file("int.crl"))]);
}

/// Creates a token with `args` (after `token create`) and returns (id, secret).
fn token_with(h: &Home, args: &[&str]) -> (i64, String) {
    let mut all = vec!["token", "create", "--expires", "1d", "--format", "json"];
    all.extend_from_slice(args);
    let v: serde_json::Value = serde_json::from_str(&h.ok(&all).stdout).expect("json");
    (
        v["id"].as_i64().expect("id"),
        v["token"].as_str().expect("token").to_owned(),
    )
}

/// A PEM CSR (P-256, test-only key) for `subject`, as JSON string content.
fn csr_json(h: &Home, stem: &str, subject: &str) -> String {
    caforge_tests::p256_csr(h.path(), stem, subject);
    let pem = std::fs::read_to_string(h.file(&format!("{stem}.csr"))).expect("csr");
    serde_json::to_string(&pem).expect("json string")
}

/// `POST /api/v1/certificates` of `body` (JSON) with `token`: (status, body).
fn issue_via_api(h: &Home, server: &Server, token: &str, body: &str) -> (u16, String) {
    let (code, _, body) = api(
        h,
        server,
        "POST",
        "/api/v1/certificates",
        Some(token),
        Some(body),
    );
    (code, body)
}

/// The attacks of the issue, over the API against the real server: a token scoped to a
/// root cannot revoke the intermediate under it nor get an arbitrary subject from the
/// root (roots sign no leaves by default, on the CLI too); a token scoped to names gets
/// only those; and every API action's audit entry names its token.
#[test]
fn tokens_stay_in_scope_roots_sign_no_leaves_and_api_actions_name_their_token() {
    let h = Home::new();
    h.ok(&["ca", "create-root", "--name", "r", "--key-type", "p256"]);
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "r",
        "--name",
        "int",
        "--key-type",
        "p256",
    ]);
    h.fails(
        &[
            "issue",
            "--ca",
            "r",
            "--subject",
            "CN=a.example",
            "--key-type",
            "p256",
            "--no-encrypt-key",
            "--key-out",
            "k.pem",
            "--san",
            "dns:a.example",
        ],
        "CA 'r' is a root: roots sign CAs, CRLs and OCSP responders, not end entities",
    );
    let before = h.cert_count();
    let server = Server::start(&h);
    let (_, root_token) = token_with(&h, &["--ca", "r", "--profile", "tls-client"]);
    let ca: serde_json::Value =
        serde_json::from_str(&h.ok(&["ca", "show", "int", "--format", "json"]).stdout)
            .expect("json");
    let int_serial = ca["serial"].as_str().expect("serial").to_owned();
    let (code, _, body) = api(
        &h,
        &server,
        "POST",
        &format!("/api/v1/certificates/{int_serial}/revoke"),
        Some(&root_token),
        Some(r#"{"reason":"keyCompromise","ca":"r"}"#),
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("no API token may revoke a ca certificate"),
        "{body}"
    );
    let admin = csr_json(&h, "admin", "/O=system:masters/CN=admin");
    let (code, body) = issue_via_api(
        &h,
        &server,
        &root_token,
        &format!(
            r#"{{"ca":"r","profile":"tls-client","csr":{admin},"subject":"O=system:masters,CN=admin"}}"#
        ),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("is a root"), "{body}");

    // A token for names under lab.example: CN=admin is outside it, a lab name is not.
    let (id, lab) = token_with(
        &h,
        &[
            "--ca",
            "int",
            "--profile",
            "tls-client",
            "--names",
            "*.lab.example",
        ],
    );
    let (code, body) = issue_via_api(
        &h,
        &server,
        &lab,
        &format!(r#"{{"ca":"int","profile":"tls-client","csr":{admin}}}"#),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("CN=admin"), "{body}");
    // An in-scope name does not carry an organisation the token was not given.
    let masters = csr_json(&h, "masters", "/O=system:masters/CN=app.lab.example");
    let (code, body) = issue_via_api(
        &h,
        &server,
        &lab,
        &format!(
            r#"{{"ca":"int","profile":"tls-client","csr":{masters},"sans":["dns:app.lab.example"]}}"#
        ),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("O=system:masters"), "{body}");
    assert_eq!(h.cert_count(), before, "no refusal issued anything");
    let app = csr_json(&h, "app", "/CN=app.lab.example");
    let (code, body) = issue_via_api(
        &h,
        &server,
        &lab,
        &format!(
            r#"{{"ca":"int","profile":"tls-client","csr":{app},"sans":["dns:app.lab.example"]}}"#
        ),
    );
    assert_eq!(code, 201, "{body}");
    let issued: serde_json::Value = serde_json::from_str(&body).expect("json");
    let serial = issued["serial"].as_str().expect("serial").to_owned();
    let (code, _, body) = api(
        &h,
        &server,
        "POST",
        &format!("/api/v1/certificates/{serial}/revoke"),
        Some(&lab),
        Some(r#"{"reason":"keyCompromise"}"#),
    );
    assert_eq!(code, 200, "{body}");

    // The audit log: the certificate's signing, signed and revoked entries name the token;
    // the CAs and tokens were the local operator's.
    let log: Vec<serde_json::Value> =
        serde_json::from_str(&h.ok(&["audit", "list", "--format", "json"]).stdout).expect("json");
    let mine: Vec<&serde_json::Value> = log
        .iter()
        .filter(|e| e["serial"].as_str() == Some(serial.as_str()))
        .collect();
    let actions: Vec<&str> = mine.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["cert.signing", "cert.signed", "cert.revoked"]);
    let by_token = format!("token:{id}");
    assert!(
        mine.iter().all(|e| e["principal"] == by_token.as_str()),
        "{mine:?}"
    );
    for e in log
        .iter()
        .filter(|e| ["ca.created", "token.created"].contains(&e["action"].as_str().unwrap_or("")))
    {
        assert!(
            e["principal"]
                .as_str()
                .is_some_and(|p| p.starts_with("operator:")),
            "{e}"
        );
    }
    let listed = h.ok(&[
        "audit",
        "list",
        "--principal",
        &by_token,
        "--format",
        "json",
    ]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).expect("json");
    assert_eq!(listed.len(), 3);
    h.ok(&["audit", "verify"]);
}

/// `serve` keeps roots offline unless told otherwise: with the root's key gone it starts,
/// serves the CRL and the OCSP answers the operator made ahead of time for the root, and
/// answers for the intermediate's certificates as before; told to bring the root online,
/// it refuses to start without the key.
#[test]
fn serve_keeps_roots_offline_and_serves_what_their_operator_signed() {
    let h = Home::new();
    h.ok(&[
        "ca",
        "create-root",
        "--name",
        "r",
        "--key-type",
        "p256",
        "--crl-lifetime",
        "30d",
        "--ocsp-lifetime",
        "30d",
    ]);
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "r",
        "--name",
        "int",
        "--key-type",
        "p256",
    ]);
    let (leaf, _) = h.issue_leaf("int", "app");
    let (root, int) = (h.export_ca("r"), h.export_ca("int"));
    let chain = h.file("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read(&int).expect("int"),
            std::fs::read(&root).expect("r"),
        ]
        .concat(),
    )
    .expect("chain");
    // The operator's offline ceremony: the root's CRL and its OCSP answers, ahead of time.
    h.ok(&["crl", "--ca", "r", "--out", s(&h.file("r-ceremony.crl"))]);
    h.ok(&["ocsp", "presign", "--ca", "r"]);
    let key = h.home().join("keys").join("r.key.pem");
    std::fs::rename(&key, h.file("r.key.away")).expect("take the root key away");

    h.fails(
        &["serve", "--listen", "127.0.0.1:0", "--online-root", "r"],
        "loading the key of CA 'r'",
    );
    h.fails(
        &["serve", "--listen", "127.0.0.1:0", "--online-root", "int"],
        "online root 'int' is not a root CA",
    );
    let server = Server::start(&h);
    let crl = h.file("r.crl");
    let (code, _) =
        caforge_tests::server::curl(&h, &[&format!("{}/crl/r.crl", server.url)], s(&crl));
    assert_eq!(code, 200);
    caforge_tests::openssl_ok(
        h.path(),
        &[
            "crl",
            "-in",
            "r-ceremony.crl",
            "-outform",
            "DER",
            "-out",
            "r-ceremony.der",
        ],
    );
    assert_eq!(
        std::fs::read(&crl).expect("served"),
        std::fs::read(h.file("r-ceremony.der")).expect("signed"),
        "the CRL the operator signed, as it was"
    );
    let checked = openssl(
        h.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            s(&crl),
            "-CAfile",
            s(&root),
            "-noout",
        ],
    );
    assert!(checked.stderr.contains("verify OK"), "{}", checked.stderr);
    // The intermediate's status, from the root's pre-signed answer; the leaf's, from the
    // online intermediate.
    assert_eq!(
        presigned_status(&h, &server, s(&root), s(&root), s(&int)),
        "good"
    );
    assert_eq!(
        caforge_tests::server::ocsp_status(&h, &server, s(&int), s(&chain), &leaf, true),
        "good"
    );
}
