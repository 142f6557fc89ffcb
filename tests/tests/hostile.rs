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
