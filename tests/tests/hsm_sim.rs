//! CA keys inside a real hsm-sim process: hierarchies in RSA, P-256 and SM2 whose
//! certificates, CRLs and OCSP responses OpenSSL verifies; device faults (killed, failing,
//! slow) that never leave a certificate behind; PIN lockout; and no key bytes anywhere
//! outside the device.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use base64::Engine as _;
use caforge_tests::hsm::{HsmSim, MASTER_SECRET, TOKEN};
use caforge_tests::server::{curl, ocsp_status, presigned_status, Server};
use caforge_tests::{
    assert_sm2_signed, ocsp_basic_response, openssl, openssl_ok, s, sm2_signature_verifies, Home,
    Run,
};

/// Creates `{kt}-root` and `{kt}-int` with keys generated in `store`.
fn device_hierarchy(h: &Home, kt: &str, store: &str, log: &mut Vec<Run>) {
    let root = format!("{kt}-root");
    let int = format!("{kt}-int");
    log.push(h.ok(&[
        "ca",
        "create-root",
        "--allow-leaves",
        "true",
        "--name",
        &root,
        "--key-type",
        kt,
        "--key-store",
        store,
    ]));
    log.push(h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        &root,
        "--name",
        &int,
        "--key-type",
        kt,
        "--key-store",
        store,
    ]));
}

fn verify_chain(h: &Home, kt: &str, leaf: &str) {
    let root = h.export_ca(&format!("{kt}-root"));
    let int = h.export_ca(&format!("{kt}-int"));
    if kt == "sm2" {
        // OpenSSL 3.0 applies -vfyopt to the named certificate only: one link at a time.
        let r = openssl_ok(
            h.path(),
            &[
                "verify",
                "-vfyopt",
                "distid:1234567812345678",
                "-partial_chain",
                "-CAfile",
                s(&root),
                s(&int),
            ],
        );
        assert!(r.stdout.contains(": OK"), "{}", r.stdout);
        assert!(sm2_signature_verifies(
            h.path(),
            leaf,
            s(&int),
            Some("1234567812345678")
        ));
    } else {
        let chain = h.file(&format!("{kt}-chain.pem"));
        let text =
            std::fs::read_to_string(&int).unwrap() + &std::fs::read_to_string(&root).unwrap();
        std::fs::write(&chain, text).unwrap();
        let r = openssl_ok(h.path(), &["verify", "-CAfile", s(&chain), leaf]);
        assert!(r.stdout.contains(": OK"), "{}", r.stdout);
    }
}

/// The private scalar (EC) or private exponent (RSA) of a PKCS#8 key, as `openssl pkey`
/// prints it: an independent reading of what the device holds.
fn secret_of(dir: &Path, pkcs8: &[u8], n: usize) -> Vec<u8> {
    let file = dir.join(format!("object-{n}.der"));
    std::fs::write(&file, pkcs8).unwrap();
    let text = openssl_ok(
        dir,
        &["pkey", "-inform", "DER", "-in", s(&file), "-noout", "-text"],
    )
    .stdout;
    std::fs::remove_file(&file).unwrap();
    let mut hex = String::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("priv:") || t.starts_with("privateExponent:") {
            inside = true;
            continue;
        }
        if inside {
            if t.chars().all(|c| c.is_ascii_hexdigit() || c == ':') && !t.is_empty() {
                hex.push_str(&t.replace(':', ""));
            } else {
                break;
            }
        }
    }
    assert!(!hex.is_empty(), "no secret in {text}");
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    // A leading zero byte that only pads the sign bit is not part of the secret; any other
    // zero byte is (an EC scalar's first octet is zero once in 256 keys).
    match bytes.as_slice() {
        [0, next, ..] if *next >= 0x80 => bytes[1..].to_vec(),
        _ => bytes,
    }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn device_keys_sign_certificates_crls_and_ocsp_and_never_leave_the_device() {
    let mut sim = HsmSim::start(&[]);
    let h = Home::new();
    let mut log = Vec::new();
    let kts = ["rsa2048", "p256", "sm2"];
    let mut leaves = Vec::new();
    for kt in kts {
        device_hierarchy(&h, kt, &sim.store(), &mut log);
        let show = h.ok(&["ca", "show", &format!("{kt}-int"), "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
        let key_ref = v["key_ref"].as_str().unwrap();
        assert!(
            key_ref.starts_with(&format!(
                "hsm-sim://{}?token={TOKEN}&object={kt}-int",
                sim.addr
            )),
            "{key_ref}"
        );
        let (leaf, _) = h.issue_leaf(&format!("{kt}-int"), &format!("{kt}-leaf"));
        verify_chain(&h, kt, &leaf);
        leaves.push(leaf);

        // A CRL signed inside the device.
        let crl = h.file(&format!("{kt}.crl"));
        log.push(h.ok(&["crl", "--ca", &format!("{kt}-int"), "--out", s(&crl)]));
        let int = h.export_ca(&format!("{kt}-int"));
        if kt == "sm2" {
            let der = format!("{}.der", s(&crl));
            openssl_ok(
                h.path(),
                &["crl", "-in", s(&crl), "-outform", "DER", "-out", &der],
            );
            assert_sm2_signed(h.path(), &der, s(&int));
        } else {
            let r = openssl_ok(
                h.path(),
                &["crl", "-in", s(&crl), "-CAfile", s(&int), "-noout"],
            );
            assert!(
                r.stderr.contains("verify OK") || r.stdout.contains("verify OK"),
                "{r:?}"
            );
        }
    }
    // No key file was made for any of them.
    let keys_dir = h.home().join("keys");
    assert!(
        !keys_dir.exists() || std::fs::read_dir(&keys_dir).unwrap().next().is_none(),
        "device keys left files in keys/"
    );

    // OCSP answers signed by the device keys, fresh (with a nonce) and pre-signed.
    let server = Server::start(&h);
    for (kt, leaf) in kts.iter().zip(&leaves) {
        let int = h.export_ca(&format!("{kt}-int"));
        let root = h.export_ca(&format!("{kt}-root"));
        if *kt == "sm2" {
            let resp = h.file("sm2.resp.der");
            let url = format!("{}/ocsp", server.url);
            let r = openssl_ok(
                h.path(),
                &[
                    "ocsp",
                    "-url",
                    &url,
                    "-issuer",
                    s(&int),
                    "-cert",
                    leaf,
                    "-noverify",
                    "-respout",
                    s(&resp),
                ],
            );
            assert!(r.stdout.contains(": good"), "{}", r.stdout);
            assert_sm2_signed(h.path(), &ocsp_basic_response(h.path(), s(&resp)), s(&int));
        } else {
            let chain = h.file(&format!("{kt}-chain.pem"));
            assert_eq!(
                ocsp_status(&h, &server, s(&int), s(&chain), leaf, true),
                "good"
            );
            assert_eq!(
                presigned_status(&h, &server, s(&int), s(&chain), leaf),
                "good"
            );
            let _ = root;
        }
    }
    drop(server);

    // What the device holds appears nowhere outside it: not in the home (database, WAL,
    // configuration), not in any output, not in the device's own state file.
    sim.kill();
    let vault = hsm_sim::state::Vault::open(
        &sim.state(),
        MASTER_SECRET.as_bytes(),
        hsm_sim::state::DEFAULT_KDF_LOG_N,
    )
    .expect("open the device state");
    let token = vault.state.token(TOKEN).expect("token");
    assert_eq!(
        token.objects.len(),
        6,
        "three roots and three intermediates"
    );
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for (n, o) in token.objects.iter().enumerate() {
        let secret = secret_of(h.path(), o.private_pkcs8(), n);
        // At least 24 octets: openssl prints a scalar without its leading zero octets, and
        // one shorter than 2^192 comes once in 2^64 keys.
        assert!(secret.len() >= 24, "{}", o.key_type);
        needles.push(hex::encode(&secret).into_bytes());
        needles.push(hex::encode_upper(&secret).into_bytes());
        needles.push(
            base64::engine::general_purpose::STANDARD
                .encode(o.private_pkcs8())
                .into_bytes()[..40]
                .to_vec(),
        );
        needles.push(secret);
        needles.push(o.private_pkcs8().to_vec());
    }
    drop(vault);
    let mut files = Vec::new();
    files_under(&h.home(), &mut files);
    files_under(&sim.state(), &mut files);
    let mut haystacks: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .collect();
    for (i, r) in log.iter().enumerate() {
        haystacks.push((
            format!("output {i}"),
            format!("{}{}", r.stdout, r.stderr).into_bytes(),
        ));
    }
    let audit = h.ok(&["audit", "verify"]);
    haystacks.push(("audit verify".into(), audit.stdout.into_bytes()));
    let scan = Scanner::new(&needles);
    // The scanner itself finds what it looks for.
    let mut planted = b"some bytes around ".to_vec();
    planted.extend_from_slice(&needles[3]);
    assert!(scan.finds(&planted));
    for (name, hay) in &haystacks {
        assert!(!scan.finds(hay), "private key material found in {name}");
    }
}

/// Finds any of a set of byte strings (each at least 16 bytes) in one pass: candidates by
/// their first 16 bytes, then the whole string.
struct Scanner<'a> {
    by_prefix: std::collections::HashMap<u128, Vec<&'a [u8]>>,
}

impl<'a> Scanner<'a> {
    fn prefix(b: &[u8]) -> u128 {
        u128::from_le_bytes(b[..16].try_into().unwrap())
    }

    fn new(needles: &'a [Vec<u8>]) -> Self {
        let mut by_prefix: std::collections::HashMap<u128, Vec<&[u8]>> = Default::default();
        for n in needles {
            by_prefix
                .entry(Self::prefix(n))
                .or_default()
                .push(n.as_slice());
        }
        Scanner { by_prefix }
    }

    fn finds(&self, hay: &[u8]) -> bool {
        hay.windows(16).enumerate().any(|(at, w)| {
            self.by_prefix
                .get(&Self::prefix(w))
                .is_some_and(|c| c.iter().any(|n| hay[at..].starts_with(n)))
        })
    }
}

/// How many certificates `h` has recorded.
fn recorded(h: &Home) -> usize {
    h.cert_count()
}

fn issue(h: &Home, n: usize) -> Run {
    let out = h.file(&format!("batch-{n}.pem"));
    h.run(&[
        "issue",
        "--ca",
        "p256-int",
        "--subject",
        &format!("CN=batch-{n}.example"),
        "--key-type",
        "p256",
        "--key-out",
        s(&h.file(&format!("batch-{n}.key"))),
        "--no-encrypt-key",
        "--san",
        &format!("dns:batch-{n}.example"),
        "--out",
        s(&out),
    ])
}

#[test]
fn device_faults_fail_cleanly_and_a_retry_succeeds() {
    let mut sim = HsmSim::start_unix(&[]);
    let h = Home::new();
    let store = format!("{}&timeout-ms=700", sim.store());
    assert!(store.starts_with("hsm-sim:///"), "{store}");
    {
        // The socket is its owner's alone (made so as it was bound, not after).
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&sim.addr).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    device_hierarchy(&h, "p256", &store, &mut Vec::new());
    assert!(issue(&h, 0).ok);
    let base = recorded(&h);

    // Device down: a clear error, nothing recorded.
    sim.kill();
    let r = issue(&h, 1);
    assert!(!r.ok);
    assert!(r.stderr.contains("key device unavailable"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(recorded(&h), base);

    // Killed in the middle of a batch: each issuance either completed (recorded, and
    // verifies) or failed without a record.
    sim.restart();
    let home = &h;
    let results = std::thread::scope(|scope| {
        let batch = scope.spawn(move || (10..22).map(|n| (n, issue(home, n))).collect::<Vec<_>>());
        std::thread::sleep(std::time::Duration::from_millis(1500));
        sim.kill();
        batch.join().unwrap()
    });
    let ok: Vec<usize> = results
        .iter()
        .filter(|(_, r)| r.ok)
        .map(|(n, _)| *n)
        .collect();
    for (n, r) in &results {
        if r.ok {
            verify_chain(&h, "p256", s(&h.file(&format!("batch-{n}.pem"))));
        } else {
            assert!(
                r.stderr.contains("key device unavailable"),
                "issuance {n}: {}",
                r.stderr
            );
        }
    }
    assert_eq!(
        recorded(&h),
        base + ok.len(),
        "only completed issuances are recorded"
    );

    // Back up: the retry succeeds.
    sim.restart();
    let r = issue(&h, 1);
    assert!(r.ok, "{}", r.stderr);
    let base = recorded(&h);

    // A failing device: a typed error naming the fault, nothing recorded.
    sim.control(&["--fail-rate", "1"]);
    let r = issue(&h, 2);
    assert!(
        r.stderr.contains("key device failed") && r.stderr.contains("injected fault"),
        "{}",
        r.stderr
    );
    assert_eq!(recorded(&h), base);
    // Failing after a few operations: past the key lookup, at the signature.
    sim.control(&["--clear", "--fail-after", "3"]);
    let r = issue(&h, 3);
    assert!(r.stderr.contains("key device failed"), "{}", r.stderr);
    assert_eq!(recorded(&h), base);

    // A slow device: the key URI's 700 ms timeout fires.
    sim.control(&["--clear", "--latency-ms", "1500"]);
    let r = issue(&h, 4);
    assert!(r.stderr.contains("key device timed out"), "{}", r.stderr);
    assert_eq!(recorded(&h), base);

    // A device that drops every connection.
    sim.control(&["--clear", "--drop-connection-rate", "1"]);
    let r = issue(&h, 5);
    assert!(r.stderr.contains("key device unavailable"), "{}", r.stderr);
    assert_eq!(recorded(&h), base);

    sim.control(&["--clear"]);
    let r = issue(&h, 6);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(recorded(&h), base + 1);
}

#[test]
fn wrong_pins_lock_the_token_until_the_security_officer_resets_it() {
    let sim = HsmSim::start(&[]);
    let h = Home::new();
    let pin = sim.file("pin");
    let wrong = h.file("wrong-pin");
    std::fs::write(&wrong, "not-the-pin").unwrap();
    let store = sim.store_without_pin();
    h.create_root(
        "root",
        "p256",
        &["--key-store", &store, "--pin-file", s(&pin)],
    );
    // No PIN at all.
    h.fails(&["crl", "--ca", "root"], "a PIN is required");
    h.fails(
        &["crl", "--ca", "root", "--pin-file", s(&wrong)],
        "PIN incorrect",
    );
    h.fails(
        &["crl", "--ca", "root", "--pin-file", s(&wrong)],
        "PIN incorrect",
    );
    h.fails(
        &["crl", "--ca", "root", "--pin-file", s(&wrong)],
        "PIN locked",
    );
    // Locked: even the right PIN is refused.
    h.fails(
        &["crl", "--ca", "root", "--pin-file", s(&pin)],
        "PIN locked",
    );
    let slots = sim.cli(&["slots", "--connect", &sim.addr, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&slots.stdout).unwrap();
    assert_eq!(v[0]["user_pin_locked"], true, "{}", slots.stdout);
    // The security officer sets the PIN again, which unlocks it.
    let r = sim.cli(&[
        "init-pin",
        "--connect",
        &sim.addr,
        "--token",
        TOKEN,
        "--so-pin-file",
        s(&sim.file("so-pin")),
        "--pin-file",
        s(&pin),
    ]);
    assert!(r.ok, "{}", r.stderr);
    h.ok(&["crl", "--ca", "root", "--pin-file", s(&pin)]);
}

#[test]
fn the_server_keeps_serving_while_the_device_is_down_and_says_so() {
    let mut sim = HsmSim::start(&[]);
    let h = Home::new();
    device_hierarchy(&h, "p256", &sim.store(), &mut Vec::new());
    let (leaf, _) = h.issue_leaf("p256-int", "leaf");
    verify_chain(&h, "p256", &leaf);
    h.ok(&["crl", "--ca", "p256-int"]);
    let int = h.export_ca("p256-int");
    let chain = h.file("p256-chain.pem");
    let server = Server::start(&h);
    let health = || caforge_tests::server::health(&h, &server);
    let v = health();
    assert_eq!(v["status"], "ok", "{v}");
    // Pre-signed while the device is up.
    assert_eq!(
        presigned_status(&h, &server, s(&int), s(&chain), &leaf),
        "good"
    );

    sim.kill();
    // Still answered: the pre-signed response, and the published CRL.
    assert_eq!(
        presigned_status(&h, &server, s(&int), s(&chain), &leaf),
        "good"
    );
    let (code, _) = curl(
        &h,
        &[&format!("{}/crl/p256-int.crl", server.url)],
        "served.crl",
    );
    assert_eq!(code, 200);
    let r = openssl_ok(
        h.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "served.crl",
            "-CAfile",
            s(&int),
            "-noout",
        ],
    );
    assert!(
        r.stderr.contains("verify OK") || r.stdout.contains("verify OK"),
        "{r:?}"
    );
    // A request that needs a new signature (a nonce) is answered tryLater.
    let url = format!("{}/ocsp", server.url);
    let r = openssl(
        h.path(),
        &[
            "ocsp",
            "-url",
            &url,
            "-issuer",
            s(&int),
            "-cert",
            &leaf,
            "-CAfile",
            s(&chain),
        ],
    );
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("trylater"),
        "{r:?}"
    );
    // Degraded at once (the signature found the device down); the next health pass names
    // the CA whose key it is.
    let v = health(); // 200: the server still serves
    assert_eq!(v["status"], "degraded", "{v}");
    let int_key = |v: &serde_json::Value| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["ca"] == "p256-int")
            .cloned()
            .unwrap()
    };
    let v =
        caforge_tests::server::health_until(&h, &server, |v| int_key(v)["status"] == "unavailable");
    assert_eq!(int_key(&v)["custodian"], "hsm-sim", "{v}");

    // Back up: healthy again (once a health pass reaches the device), and fresh
    // signatures work.
    sim.restart();
    caforge_tests::server::health_until(&h, &server, |v| v["status"] == "ok");
    assert_eq!(
        ocsp_status(&h, &server, s(&int), s(&chain), &leaf, true),
        "good"
    );
}

#[test]
fn the_device_serves_administration_only_to_its_owner_or_security_officer() {
    use caforge_tests::hsm::{SO_PIN, TOKEN};
    use hsm_sim::protocol::{Faults, Reply, Request, UserType};
    use hsm_sim::{Client, Endpoint};
    use std::time::Duration;

    let sim = HsmSim::start(&[]);
    let endpoint = Endpoint::parse(&sim.addr);
    let mut c = Client::connect(&endpoint, Duration::from_secs(5)).unwrap();
    // On TCP, neither a new token nor fault control without a security officer login.
    let init = c.call(&Request::InitToken {
        label: "intruder".into(),
        so_pin: "12345678".into(),
        user_pin: "12345678".into(),
    });
    assert!(
        format!("{:?}", init.unwrap_err()).contains("Unix socket only"),
        "InitToken refused on TCP"
    );
    let stop_all = Request::Control {
        set: Some(Faults {
            fail_after: Some(0),
            ..Faults::default()
        }),
    };
    assert!(c.call(&stop_all).is_err(), "Control refused without login");
    let cli = sim.cli(&["control", "--connect", &sim.addr, "--fail-rate", "1"]);
    assert!(
        !cli.ok && cli.stderr.contains("security officer"),
        "{}",
        cli.stderr
    );
    // A user login is not enough; the security officer's is.
    let Reply::Session(session) = c
        .call(&Request::OpenSession {
            token: TOKEN.into(),
        })
        .unwrap()
    else {
        panic!("no session")
    };
    c.call(&Request::Login {
        session,
        user: UserType::So,
        pin: SO_PIN.into(),
    })
    .unwrap();
    assert!(matches!(
        c.call(&Request::Control { set: None }),
        Ok(Reply::Faults(_))
    ));
    sim.control(&["--clear"]);

    // TCP only on loopback unless asked, and then it says the channel is cleartext.
    let remote = sim.cli(&[
        "serve",
        "--state",
        s(&sim.file("another-state")),
        "--master-key-file",
        s(&sim.file("master")),
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(
        !remote.ok && remote.stderr.contains("not a loopback address"),
        "{}",
        remote.stderr
    );
}

#[test]
fn the_device_caps_connections_and_closes_idle_and_slow_ones() {
    use hsm_sim::protocol::{Reply, Request};
    use hsm_sim::{Client, Endpoint};
    use std::io::{Read as _, Write as _};
    use std::time::Duration;

    let sim = HsmSim::start(&[
        "--max-connections",
        "1",
        "--idle-timeout-secs",
        "1",
        "--io-timeout-secs",
        "1",
    ]);
    // A client that starts a request and never finishes it is cut off.
    let mut slow = std::net::TcpStream::connect(&sim.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    slow.write_all(&[0, 0]).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(slow.read(&mut buf).unwrap(), 0, "a slow request is closed");
    // With one connection allowed, a second client is served only once the first, idle,
    // is closed: when it gets its answer, the first has already been hung up on.
    let mut idle = std::net::TcpStream::connect(&sim.addr).unwrap();
    let mut second = Client::connect(&Endpoint::parse(&sim.addr), Duration::from_secs(30)).unwrap();
    let hello = second.call(&Request::Hello {
        client: "test".into(),
    });
    assert!(matches!(hello, Ok(Reply::Hello { .. })), "{hello:?}");
    // Already closed (a read ends at once): without the cap the second client would have
    // been answered while the first still idled, and this read would time out.
    idle.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(
        idle.read(&mut buf).expect("closed, not still open"),
        0,
        "the idle connection was closed first"
    );
}
