//! CA keys in a PKCS#11 token (SoftHSM2): RSA and P-256 hierarchies whose certificates,
//! CRLs and OCSP responses OpenSSL verifies, keys that are sensitive and never extractable,
//! and clean refusals. `#[ignore]`d: run with `-- --ignored` where SoftHSM2 is installed (as `.ci/run`
//! does); there a missing SoftHSM2 is a failure.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use caforge_tests::pkcs11::softhsm;
use caforge_tests::server::{ocsp_status, presigned_status, Server};
use caforge_tests::{openssl_ok, s, Home};

fn create(h: &Home, pin: &str, args: &[&str]) {
    let mut all = vec!["--pin-file", pin];
    all.extend_from_slice(args);
    h.ok(&all);
}

#[test]
#[ignore = "needs SoftHSM2 (apt-get install softhsm2 opensc)"]
fn softhsm_keys_sign_certificates_crls_and_ocsp() {
    let _alone = caforge_tests::pkcs11::exclusive();
    let hsm = softhsm();
    hsm.token("hier");
    let store = hsm.store("hier");
    let pin = hsm.pin_file();
    let h = Home::new();
    hsm.allow(&h);
    // Mixed freely: an RSA root over a P-256 intermediate, and the other way round.
    for (root, root_kt, int, int_kt) in [
        ("rsa-root", "rsa2048", "p256-int", "p256"),
        ("p256-root", "p256", "rsa-int", "rsa2048"),
    ] {
        create(
            &h,
            s(&pin),
            &[
                "ca",
                "create-root",
                "--allow-leaves",
                "true",
                "--name",
                root,
                "--key-type",
                root_kt,
                "--key-store",
                &store,
            ],
        );
        create(
            &h,
            s(&pin),
            &[
                "ca",
                "create-intermediate",
                "--parent",
                root,
                "--name",
                int,
                "--key-type",
                int_kt,
                "--key-store",
                &store,
            ],
        );
        let show = h.ok(&["--pin-file", s(&pin), "ca", "show", int, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
        assert_eq!(
            v["key_ref"].as_str().unwrap(),
            format!(
                "pkcs11:token=hier;object={int}?module-path={}",
                s(&hsm.module)
            )
        );
    }
    let keys_dir = h.home().join("keys");
    assert!(!keys_dir.exists() || std::fs::read_dir(&keys_dir).unwrap().next().is_none());

    let mut leaves = Vec::new();
    for (root, int) in [("rsa-root", "p256-int"), ("p256-root", "rsa-int")] {
        // No --pin-file here: the PIN comes from CAFORGE_PIN_FILE, as for the server.
        let (leaf, _) = h.issue_leaf(int, &format!("{int}-leaf"));
        let chain = h.file(&format!("{int}-chain.pem"));
        let text = std::fs::read_to_string(h.export_ca(int)).unwrap()
            + &std::fs::read_to_string(h.export_ca(root)).unwrap();
        std::fs::write(&chain, text).unwrap();
        let r = openssl_ok(h.path(), &["verify", "-CAfile", s(&chain), &leaf]);
        assert!(r.stdout.contains(": OK"), "{}", r.stdout);
        let crl = h.file(&format!("{int}.crl"));
        h.ok(&["crl", "--ca", int, "--out", s(&crl)]);
        let r = openssl_ok(
            h.path(),
            &[
                "crl",
                "-in",
                s(&crl),
                "-CAfile",
                s(&h.export_ca(int)),
                "-noout",
            ],
        );
        assert!(
            format!("{}{}", r.stdout, r.stderr).contains("verify OK"),
            "{r:?}"
        );
        leaves.push((int, leaf, chain));
    }
    let server = Server::start(&h);
    for (int, leaf, chain) in &leaves {
        let int_pem = h.export_ca(int);
        assert_eq!(
            ocsp_status(&h, &server, s(&int_pem), s(chain), leaf, true),
            "good"
        );
        assert_eq!(
            presigned_status(&h, &server, s(&int_pem), s(chain), leaf),
            "good"
        );
    }
    drop(server);

    // The token holds them as sensitive keys that never leave it.
    if let Some(listing) = hsm.list_objects("hier") {
        let private_keys = listing.matches("Private Key Object").count();
        assert_eq!(private_keys, 4, "{listing}");
        assert_eq!(listing.matches("never extractable").count(), 4, "{listing}");
    }
}

#[test]
#[ignore = "needs SoftHSM2 (apt-get install softhsm2 opensc)"]
fn softhsm_refusals_are_clean() {
    let _alone = caforge_tests::pkcs11::exclusive();
    let hsm = softhsm();
    hsm.token("refusals");
    let store = hsm.store("refusals");
    let h = Home::new();
    // The configuration decides what code runs: an unlisted module is never loaded.
    h.fails(
        &[
            "--pin-file",
            s(&hsm.pin_file()),
            "ca",
            "create-root",
            "--name",
            "r",
            "--key-type",
            "p256",
            "--key-store",
            &store,
        ],
        "not listed in caforge.toml [keys] pkcs11_modules",
    );
    hsm.allow(&h);
    let wrong = h.file("wrong-pin");
    std::fs::write(&wrong, "00000000").unwrap();
    h.fails(
        &[
            "--pin-file",
            s(&wrong),
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            "r",
            "--key-type",
            "p256",
            "--key-store",
            &store,
        ],
        "PIN incorrect",
    );
    h.fails(
        &[
            "--pin-file",
            s(&hsm.pin_file()),
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            "r",
            "--key-type",
            "sm2",
            "--key-store",
            &store,
        ],
        "not supported in PKCS#11",
    );
    h.fails(
        &[
            "--pin-file",
            s(&hsm.pin_file()),
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            "r",
            "--key-type",
            "p256",
            "--key-store",
            "pkcs11:token=no-such-token?module-path=/usr/lib/softhsm/libsofthsm2.so",
        ],
        "no PKCS#11 token labelled",
    );
    h.fails(
        &[
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            "r",
            "--key-type",
            "p256",
            "--key-store",
            &format!("{store}&pin-value=1234"),
        ],
        "pin-value is refused",
    );
    let list = h.ok(&["ca", "list", "--format", "json"]);
    assert_eq!(list.stdout.trim(), "[]", "nothing was recorded");
}
