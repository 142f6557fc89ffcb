#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! SM2 signing + encryption pairs with caforge as KMC (GM/T 0015, 0009, 0092), checked by
//! OpenSSL: certificates verify, key usages are right, the envelope opens with OpenSSL's own
//! SM2 decryption and SM4, data encrypted to the encryption certificate decrypts with the
//! recovered key, and bad input issues nothing.

use caforge_tests::{openssl_ok, p256_csr, s, sm2_csr, Home};

const DISTID: &str = "distid:1234567812345678";

/// An SM2 root and intermediate, and an OpenSSL-made SM2 signing key + CSR (test-only key).
fn setup(h: &Home) {
    h.root_and_intermediate("sm2", &[], &[]);
    sm2_csr(h.path(), "sign", "/CN=tlcp.example");
}

/// `issue-dual --mode sm2-sign-enc` under `ca` for `csr` into `out/`.
fn dual_args<'a>(ca: &'a str, csr: &'a str) -> [&'a str; 11] {
    [
        "issue-dual",
        "--mode",
        "sm2-sign-enc",
        "--ca",
        ca,
        "--csr",
        csr,
        "--san",
        "dns:tlcp.example",
        "--out-dir",
        "out",
    ]
}

/// OpenSSL verifies `cert` against its SM2 issuer `ca` (with the GM/T 0009 signer ID; OpenSSL
/// 3.0 checks SM2 chains one link at a time).
fn assert_sm2_link_verifies(h: &Home, ca: &std::path::Path, cert: &str) {
    let v = openssl_ok(
        h.path(),
        &[
            "verify",
            "-vfyopt",
            DISTID,
            "-partial_chain",
            "-CAfile",
            s(ca),
            cert,
        ],
    );
    assert!(v.stdout.contains(": OK"), "{v:?}");
}

fn audit_entries(h: &Home) -> u64 {
    let r = h.ok(&["audit", "verify", "--format", "json"]);
    serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["entries"]
        .as_u64()
        .unwrap()
}

fn pubkey_of_cert(h: &Home, cert: &str) -> String {
    openssl_ok(h.path(), &["x509", "-in", cert, "-noout", "-pubkey"]).stdout
}

#[test]
fn sm2_sign_enc_pair_end_to_end() {
    let h = Home::new();
    setup(&h);
    let before = h.cert_count();
    let r = h.ok(&dual_args("int", "sign.csr"));
    assert!(r.stdout.contains("encryption certificate"), "{}", r.stdout);
    assert_eq!(h.cert_count(), before + 2);
    // Both verify against the chain (SM2 with the GM/T 0009 signer ID, one link at a time).
    let int = h.export_ca("int");
    for cert in ["out/sign.pem", "out/enc.pem"] {
        assert_sm2_link_verifies(&h, &int, cert);
    }
    // GM/T 0015 key usages.
    let text = |c: &str| openssl_ok(h.path(), &["x509", "-in", c, "-noout", "-text"]).stdout;
    let sign = text("out/sign.pem");
    assert!(
        sign.contains("Digital Signature, Non Repudiation\n"),
        "{sign}"
    );
    let enc = text("out/enc.pem");
    assert!(
        enc.contains("Key Encipherment, Data Encipherment, Key Agreement\n"),
        "{enc}"
    );
    // The signing certificate carries the subscriber's key; the encryption one another.
    let sign_pub = openssl_ok(h.path(), &["pkey", "-in", "sign.key", "-pubout"]).stdout;
    assert_eq!(pubkey_of_cert(&h, "out/sign.pem"), sign_pub);
    assert_ne!(pubkey_of_cert(&h, "out/enc.pem"), sign_pub);

    // caforge opens the envelope with the signing key; the key is the enc certificate's.
    h.ok(&[
        "envelope",
        "open",
        "--envelope",
        "out/enc-key.env",
        "--sign-key",
        "sign.key",
        "--out",
        "enc.key",
    ]);
    let recovered_pub = openssl_ok(h.path(), &["pkey", "-in", "enc.key", "-pubout"]).stdout;
    assert_eq!(recovered_pub, pubkey_of_cert(&h, "out/enc.pem"));
    // Data SM2-encrypted to enc.pem (by OpenSSL) decrypts with the recovered key.
    std::fs::write(h.file("enc.pub"), pubkey_of_cert(&h, "out/enc.pem")).unwrap();
    std::fs::write(h.file("msg.txt"), b"dual certificates, end to end").unwrap();
    openssl_ok(
        h.path(),
        &[
            "pkeyutl", "-encrypt", "-pubin", "-inkey", "enc.pub", "-in", "msg.txt", "-out",
            "msg.enc",
        ],
    );
    let plain = openssl_ok(
        h.path(),
        &["pkeyutl", "-decrypt", "-inkey", "enc.key", "-in", "msg.enc"],
    );
    assert_eq!(plain.stdout, "dual certificates, end to end");

    // OpenSSL opens the envelope on its own: SM2Cipher → SM4 key → SM4-ECB → the scalar.
    let parsed = openssl_ok(
        h.path(),
        &["asn1parse", "-inform", "DER", "-in", "out/enc-key.env"],
    )
    .stdout;
    let offsets: Vec<(usize, String)> = parsed
        .lines()
        .filter(|l| l.contains("d=1"))
        .map(|l| {
            let off = l.trim_start().split(':').next().unwrap().parse().unwrap();
            (off, l.to_owned())
        })
        .collect();
    assert_eq!(
        offsets.len(),
        4,
        "SM2EnvelopedKey has four fields: {parsed}"
    );
    assert!(offsets[0].1.contains("SEQUENCE"), "{parsed}");
    assert!(parsed.contains(":sm4-ecb"), "symAlgID is SM4-ECB: {parsed}");
    assert!(offsets[1].1.contains("SEQUENCE"), "SM2Cipher: {parsed}");
    assert!(offsets[2].1.contains("BIT STRING"), "{parsed}");
    assert!(offsets[3].1.contains("BIT STRING"), "{parsed}");
    // SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING }
    let cipher_fields: Vec<&str> = parsed.lines().filter(|l| l.contains("d=2")).collect();
    assert!(cipher_fields[1].contains("INTEGER") && cipher_fields[2].contains("INTEGER"));
    assert!(cipher_fields[3].contains("OCTET STRING") && cipher_fields[4].contains("OCTET STRING"));
    openssl_ok(
        h.path(),
        &[
            "asn1parse",
            "-inform",
            "DER",
            "-in",
            "out/enc-key.env",
            "-strparse",
            &offsets[1].0.to_string(),
            "-noout",
            "-out",
            "sym.cipher",
        ],
    );
    openssl_ok(
        h.path(),
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            "sign.key",
            "-in",
            "sym.cipher",
            "-out",
            "sym.key",
        ],
    );
    let sym = std::fs::read(h.file("sym.key")).unwrap();
    assert_eq!(sym.len(), 16, "an SM4 key");
    openssl_ok(
        h.path(),
        &[
            "asn1parse",
            "-inform",
            "DER",
            "-in",
            "out/enc-key.env",
            "-offset",
            &offsets[3].0.to_string(),
            "-noout",
            "-out",
            "priv.bits",
        ],
    );
    let bits = std::fs::read(h.file("priv.bits")).unwrap();
    std::fs::write(h.file("priv.enc"), &bits[bits.len() - 32..]).unwrap();
    let hexkey: String = sym.iter().map(|b| format!("{b:02x}")).collect();
    openssl_ok(
        h.path(),
        &[
            "enc", "-d", "-sm4-ecb", "-K", &hexkey, "-nopad", "-in", "priv.enc", "-out", "priv.raw",
        ],
    );
    let scalar: String = std::fs::read(h.file("priv.raw"))
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key_text = openssl_ok(h.path(), &["pkey", "-in", "enc.key", "-noout", "-text"]).stdout;
    let priv_hex: String = key_text
        .split("priv:")
        .nth(1)
        .unwrap()
        .split("pub:")
        .next()
        .unwrap()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(
        scalar,
        format!("{priv_hex:0>64}"),
        "OpenSSL's opening matches caforge's"
    );

    // CSRResponse (GM/T 0092): SET of the signing chain, [0] envelope, [1] encryption chain.
    let resp = openssl_ok(
        h.path(),
        &["asn1parse", "-inform", "DER", "-in", "out/response.der"],
    )
    .stdout;
    let top: Vec<&str> = resp.lines().filter(|l| l.contains("d=1")).collect();
    assert_eq!(top.len(), 3, "{resp}");
    assert!(top[0].contains("SET"), "{resp}");
    assert!(top[1].contains("cont [ 0 ]"), "{resp}");
    assert!(top[2].contains("cont [ 1 ]"), "{resp}");

    // The KMC recovers the escrowed key (audited); signing keys are never escrowed.
    let enc_serial = caforge_tests::serial_of(h.path(), "out/enc.pem");
    let sign_serial = caforge_tests::serial_of(h.path(), "out/sign.pem");
    let entries = audit_entries(&h);
    h.ok(&["kmc", "recover", &enc_serial, "--out", "escrow.key"]);
    assert_eq!(audit_entries(&h), entries + 1);
    assert_eq!(
        openssl_ok(h.path(), &["pkey", "-in", "escrow.key", "-pubout"]).stdout,
        recovered_pub
    );
    h.fails(
        &["kmc", "recover", &sign_serial, "--out", "nope.key"],
        "keeps no key",
    );
    assert!(!h.file("nope.key").exists());
    // The escrow is sealed: no plaintext key in the database files.
    let raw_scalar = std::fs::read(h.file("priv.raw")).unwrap();
    for f in ["caforge.db", "caforge.db-wal"] {
        if let Ok(db) = std::fs::read(h.home().join(f)) {
            assert!(
                !db.windows(32).any(|w| w == raw_scalar.as_slice()),
                "{f} holds the encryption key in the clear"
            );
        }
    }

    // Revoking the pair's certificates shows on the CA's CRL.
    h.ok(&["revoke", &sign_serial, "--reason", "keyCompromise"]);
    h.ok(&["revoke", &enc_serial, "--reason", "keyCompromise"]);
    h.ok(&["crl", "--ca", "int", "--out", "int.crl"]);
    let crl = openssl_ok(h.path(), &["crl", "-in", "int.crl", "-noout", "-text"]).stdout;
    assert!(
        crl.contains(&sign_serial) && crl.contains(&enc_serial),
        "{crl}"
    );
}

#[test]
fn bad_dual_input_issues_nothing() {
    let h = Home::new();
    setup(&h);
    h.create_root("ecroot", "p256", &[]);
    p256_csr(h.path(), "p256", "/CN=ec.example");
    // A CSR whose signature no longer matches (one byte of the subject changed).
    let pem = std::fs::read_to_string(h.file("sign.csr")).unwrap();
    openssl_ok(
        h.path(),
        &[
            "req",
            "-in",
            "sign.csr",
            "-outform",
            "DER",
            "-out",
            "sign.csr.der",
        ],
    );
    let mut der = std::fs::read(h.file("sign.csr.der")).unwrap();
    let at = der.windows(12).position(|w| w == b"tlcp.example").unwrap();
    der[at] = b'x';
    std::fs::write(h.file("forged.csr"), &der).unwrap();
    assert!(pem.contains("CERTIFICATE REQUEST"));
    let before = h.cert_count();
    let entries = audit_entries(&h);
    h.fails(&dual_args("int", "p256.csr"), "needs an SM2 CSR");
    h.fails(&dual_args("int", "forged.csr"), "signature");
    h.fails(&dual_args("ecroot", "sign.csr"), "issued by an SM2 CA");
    h.fails(&dual_args("nope", "sign.csr"), "nope");
    h.fails(
        &[
            "issue-dual",
            "--mode",
            "rsa-sm2",
            "--ca",
            "int",
            "--csr",
            "sign.csr",
            "--out-dir",
            "out",
        ],
        "needs --rsa-ca",
    );
    assert_eq!(h.cert_count(), before);
    assert_eq!(audit_entries(&h), entries);
    assert!(!h.file("out").exists());

    // A real envelope, then a tampered one and the wrong key.
    h.ok(&dual_args("int", "sign.csr"));
    let issued = h.cert_count();
    let sign_pem = std::fs::read(h.file("out/sign.pem")).unwrap();
    let env = std::fs::read(h.file("out/enc-key.env")).unwrap();
    let mut tampered = env.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x40; // the encrypted private key
    std::fs::write(h.file("tampered.env"), &tampered).unwrap();
    h.fails(
        &[
            "envelope",
            "open",
            "--envelope",
            "tampered.env",
            "--sign-key",
            "sign.key",
            "--out",
            "t.key",
        ],
        "cannot be opened",
    );
    openssl_ok(
        h.path(),
        &["genpkey", "-algorithm", "SM2", "-out", "other.key"],
    );
    h.fails(
        &[
            "envelope",
            "open",
            "--envelope",
            "out/enc-key.env",
            "--sign-key",
            "other.key",
            "--out",
            "o.key",
        ],
        "cannot be opened",
    );
    std::fs::write(h.file("junk.env"), b"\x30\x03\x02\x01\x01").unwrap();
    h.fails(
        &[
            "envelope",
            "open",
            "--envelope",
            "junk.env",
            "--sign-key",
            "sign.key",
            "--out",
            "j.key",
        ],
        "SM2EnvelopedKey",
    );
    for f in ["t.key", "o.key", "j.key"] {
        assert!(!h.file(f).exists(), "{f} was written");
    }
    // Existing outputs are not overwritten without --force.
    h.fails(&dual_args("int", "sign.csr"), "exists");
    assert_eq!(std::fs::read(h.file("out/sign.pem")).unwrap(), sign_pem);
    assert_eq!(h.cert_count(), issued);
}

/// `openssl ocsp` status of `cert` from caforge's offline responder (signature not checked:
/// OpenSSL 3.0 cannot verify SM2 responses with a signer ID; the interop suite does that).
fn ocsp_status(h: &Home, issuer: &str, cert: &str) -> String {
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            issuer,
            "-sha256",
            "-cert",
            cert,
            "-no_nonce",
            "-reqout",
            "q.der",
        ],
    );
    h.ok(&[
        "ocsp",
        "respond",
        "--request",
        "q.der",
        "--out",
        "r.der",
        "--force",
    ]);
    let r = openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-respin",
            "r.der",
            "-issuer",
            issuer,
            "-sha256",
            "-cert",
            cert,
            "-no_nonce",
            "-noverify",
        ],
    );
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{cert}: ")))
        .unwrap_or_else(|| panic!("no status in {}", r.stdout))
        .to_owned()
}

#[test]
fn rsa_sm2_pairs_from_generated_keys_and_csrs() {
    let h = Home::new();
    setup(&h);
    h.create_root("rsaroot", "rsa2048", &[]);
    let rsaroot = h.export_ca("rsaroot");
    let int = h.export_ca("int");
    // Generated keys.
    let r = h.rsa_sm2_pair("rsaroot", "int");
    assert!(r.stdout.contains("SM2 certificate"), "{}", r.stdout);
    let v = openssl_ok(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            s(&rsaroot),
            "pair/rsa.pem",
        ],
    );
    assert!(v.stdout.contains(": OK"), "{v:?}");
    assert_sm2_link_verifies(&h, &int, "pair/sm2.pem");
    // Same subject and SANs; an RSA key and an SM2 key that match the certificates.
    let names = |c: &str| {
        openssl_ok(
            h.path(),
            &[
                "x509",
                "-in",
                c,
                "-noout",
                "-subject",
                "-ext",
                "subjectAltName",
                "-nameopt",
                "compat",
            ],
        )
        .stdout
    };
    assert_eq!(names("pair/rsa.pem"), names("pair/sm2.pem"));
    assert!(names("pair/rsa.pem").contains("DNS:dual.example"));
    for (key, cert) in [
        ("pair/rsa.key", "pair/rsa.pem"),
        ("pair/sm2.key", "pair/sm2.pem"),
    ] {
        assert_eq!(
            openssl_ok(h.path(), &["pkey", "-in", key, "-pubout"]).stdout,
            pubkey_of_cert(&h, cert)
        );
    }
    assert!(openssl_ok(
        h.path(),
        &["x509", "-in", "pair/rsa.pem", "-noout", "-text"]
    )
    .stdout
    .contains("rsaEncryption"));
    // The pair is recorded as a pair.
    let rsa_serial = caforge_tests::serial_of(h.path(), "pair/rsa.pem");
    let sm2_serial = caforge_tests::serial_of(h.path(), "pair/sm2.pem");
    let show = h
        .ok(&["cert", "show", &rsa_serial, "--format", "json"])
        .stdout;
    let show: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show["pair_mode"], "rsa-sm2");
    assert_eq!(show["pair_role"], "rsa");
    assert!(
        show["partner"].as_str().unwrap().starts_with(&sm2_serial),
        "{show}"
    );
    let pairs = h
        .ok(&["cert", "list", "--pairs", "--format", "json"])
        .stdout;
    let pairs: serde_json::Value = serde_json::from_str(&pairs).unwrap();
    let serials: Vec<&str> = pairs
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), 2, "{pairs}");
    assert!(serials.contains(&rsa_serial.as_str()) && serials.contains(&sm2_serial.as_str()));

    // From two OpenSSL CSRs; an SM2 CSR on the RSA side is refused, nothing issued.
    openssl_ok(
        h.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "web.key",
            "-subj",
            "/CN=web.example",
            "-addext",
            "subjectAltName=DNS:web.example",
            "-out",
            "rsa.csr",
        ],
    );
    let before = h.cert_count();
    h.fails(
        &[
            "issue-dual",
            "--mode",
            "rsa-sm2",
            "--rsa-ca",
            "rsaroot",
            "--sm2-ca",
            "int",
            "--csr-rsa",
            "sign.csr",
            "--csr-sm2",
            "sign.csr",
            "--out-dir",
            "bad",
        ],
        "needs an RSA or ECDSA key",
    );
    h.fails(
        &[
            "issue-dual",
            "--mode",
            "rsa-sm2",
            "--rsa-ca",
            "int",
            "--sm2-ca",
            "int",
            "--csr-rsa",
            "rsa.csr",
            "--csr-sm2",
            "sign.csr",
            "--out-dir",
            "bad",
        ],
        "needs an RSA or ECDSA CA",
    );
    assert_eq!(h.cert_count(), before);
    assert!(!h.file("bad").exists());
    h.ok(&[
        "issue-dual",
        "--mode",
        "rsa-sm2",
        "--rsa-ca",
        "rsaroot",
        "--sm2-ca",
        "int",
        "--csr-rsa",
        "rsa.csr",
        "--csr-sm2",
        "sign.csr",
        "--out-dir",
        "csrpair",
    ]);
    assert_eq!(h.cert_count(), before + 2);
    // The SM2 side takes the RSA side's names, whatever its CSR said.
    assert_eq!(names("csrpair/rsa.pem"), names("csrpair/sm2.pem"));
    assert!(
        !h.file("csrpair/rsa.key").exists(),
        "no key is generated for CSRs"
    );

    // Revoking one side says the other is still valid; --pair revokes both at once.
    let r = h.ok(&["revoke", &sm2_serial, "--reason", "superseded"]);
    assert!(r.stderr.contains(&rsa_serial), "{}", r.stderr);
    h.fails(
        &["revoke", &rsa_serial, "--reason", "superseded", "--pair"],
        "already revoked",
    );
    assert_eq!(ocsp_status(&h, s(&rsaroot), "pair/rsa.pem"), "good");
    let c_rsa = caforge_tests::serial_of(h.path(), "csrpair/rsa.pem");
    let c_sm2 = caforge_tests::serial_of(h.path(), "csrpair/sm2.pem");
    let r = h.ok(&[
        "revoke",
        &c_sm2,
        "--reason",
        "cessationOfOperation",
        "--pair",
        "--format",
        "json",
    ]);
    let revoked: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(revoked.as_array().map(Vec::len), Some(2), "{revoked}");
    // Both CAs' CRLs and OCSP answers show it.
    h.ok(&["crl", "--ca", "rsaroot", "--out", "rsaroot.crl"]);
    h.ok(&["crl", "--ca", "int", "--out", "int.crl"]);
    let crl = |f: &str| openssl_ok(h.path(), &["crl", "-in", f, "-noout", "-text"]).stdout;
    assert!(crl("rsaroot.crl").contains(&c_rsa));
    assert!(crl("int.crl").contains(&c_sm2) && crl("int.crl").contains(&sm2_serial));
    assert_eq!(ocsp_status(&h, s(&rsaroot), "csrpair/rsa.pem"), "revoked");
    assert_eq!(ocsp_status(&h, s(&int), "csrpair/sm2.pem"), "revoked");
    h.fails(
        &["revoke", &c_rsa, "--reason", "superseded", "--pair"],
        "already revoked",
    );
}

/// The sealed escrow row of the only escrowed key.
fn escrow_row(h: &Home) -> String {
    let db = rusqlite::Connection::open(h.home().join("caforge.db")).unwrap();
    let sealed: Vec<u8> = db
        .query_row("SELECT sealed FROM kmc_escrow", [], |r| r.get(0))
        .unwrap();
    String::from_utf8(sealed).unwrap()
}

/// Whether OpenSSL opens the escrow's encrypted PKCS#8 with `passphrase`.
fn opens_with(h: &Home, sealed: &str, passphrase: &str) -> bool {
    let inner = sealed
        .replace("CAFORGE KMC ESCROWED KEY", "ENCRYPTED PRIVATE KEY")
        .into_bytes();
    std::fs::write(h.file("escrow.pem"), inner).unwrap();
    std::process::Command::new("openssl")
        .current_dir(h.path())
        .args([
            "pkey",
            "-in",
            "escrow.pem",
            "-passin",
            &format!("pass:{passphrase}"),
            "-noout",
        ])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn escrow_is_sealed_under_the_kmc_passphrase_and_old_escrow_is_resealed() {
    use caforge_tests::{TEST_KMC_PASSPHRASE, TEST_PASSPHRASE};
    let h = Home::new();
    setup(&h);
    h.ok(&dual_args("int", "sign.csr"));
    let sealed = escrow_row(&h);
    assert!(
        sealed.starts_with("-----BEGIN CAFORGE KMC ESCROWED KEY-----"),
        "{sealed}"
    );
    assert!(opens_with(&h, &sealed, TEST_KMC_PASSPHRASE));
    assert!(
        !opens_with(&h, &sealed, TEST_PASSPHRASE),
        "not the CA passphrase"
    );
    let enc_serial = caforge_tests::serial_of(h.path(), "out/enc.pem");
    h.ok(&["kmc", "recover", &enc_serial, "--out", "recovered.key"]);

    // Escrow made before the KMC had its own passphrase (under the CA passphrase) is still
    // recovered, and `kmc reseal` moves it under the KMC passphrase, audited.
    let legacy = openssl_ok(
        h.path(),
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "recovered.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            &format!("pass:{TEST_PASSPHRASE}"),
        ],
    )
    .stdout;
    let db = rusqlite::Connection::open(h.home().join("caforge.db")).unwrap();
    db.execute("UPDATE kmc_escrow SET sealed = ?1", [legacy.as_bytes()])
        .unwrap();
    drop(db);
    h.ok(&[
        "kmc",
        "recover",
        &enc_serial,
        "--out",
        "legacy.key",
        "--force",
    ]);
    let r = h.ok(&["kmc", "reseal"]);
    assert!(r.stdout.contains("re-sealed 1"), "{}", r.stdout);
    let sealed = escrow_row(&h);
    assert!(opens_with(&h, &sealed, TEST_KMC_PASSPHRASE));
    let again = h.ok(&["kmc", "reseal"]);
    assert!(again.stdout.contains("re-sealed 0") && again.stdout.contains("1 already"));
    let audit: Vec<serde_json::Value> =
        serde_json::from_str(&h.ok(&["audit", "list", "--format", "json"]).stdout).unwrap();
    let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "kmc.resealed").count(), 1);
    let recovers: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|e| e["action"] == "kmc.recover")
        .collect();
    assert_eq!(recovers.len(), 2);
    assert!(recovers.iter().all(|e| e["principal"]
        .as_str()
        .is_some_and(|p| p.starts_with("operator:"))));
    h.ok(&["kmc", "recover", &enc_serial, "--out", "again.key"]);
    assert_eq!(
        openssl_ok(h.path(), &["pkey", "-in", "again.key", "-pubout"]).stdout,
        openssl_ok(h.path(), &["pkey", "-in", "recovered.key", "-pubout"]).stdout
    );
    // The KMC passphrase may not be the CA passphrase, and without one nothing is sealed.
    for (kmc, refusal) in [
        (Some("pass.txt"), "must not be the CA passphrase"),
        (None, "--kmc-passphrase-file"),
    ] {
        let mut cmd = std::process::Command::new(caforge_tests::caforge_bin());
        cmd.current_dir(h.path())
            .env_remove("CAFORGE_KMC_PASSPHRASE_FILE")
            .args(["--home", s(&h.home()), "--passphrase-file", "pass.txt"]);
        if let Some(file) = kmc {
            cmd.args(["--kmc-passphrase-file", file]);
        }
        let out = cmd
            .args(dual_args("int", "sign.csr"))
            .arg("--force")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(refusal), "{err}");
    }
    assert_eq!(
        caforge_tests::serial_of(h.path(), "out/enc.pem"),
        enc_serial,
        "nothing issued"
    );
}
