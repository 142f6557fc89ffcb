#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! `caforge probe` against `openssl s_server` on 127.0.0.1 serving caforge-issued chains
//! whose OCSP and CRL URLs point at a `caforge serve` started by the test: healthy,
//! wrong host, untrusted (then trusted through --ca-file), expired and revoked endpoints
//! are each reported, with a non-zero exit for every problem; `--watch` adds an endpoint's
//! certificate to the inventory.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caforge_tests::server::Server;
use caforge_tests::{outside_pki, s, Home};

/// `openssl s_server` on a free 127.0.0.1 port, killed when dropped.
struct TlsServer {
    child: Child,
    address: String,
}

impl TlsServer {
    fn start(h: &Home, cert: &str, key: &str, chain: Option<&str>) -> TlsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut args = vec![
            "s_server".to_owned(),
            "-accept".into(),
            address.clone(),
            "-cert".into(),
            cert.into(),
            "-key".into(),
            key.into(),
            "-www".into(),
            "-quiet".into(),
        ];
        if let Some(c) = chain {
            args.extend(["-cert_chain".into(), c.into()]);
        }
        let child = Command::new("openssl")
            .current_dir(h.path())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let started = Instant::now();
        while TcpStream::connect(&address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "s_server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer { child, address }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe(h: &Home, args: &[&str]) -> (bool, serde_json::Value, String) {
    let mut all = vec!["probe"];
    all.extend_from_slice(args);
    all.extend(["--no-system-roots", "--format", "json"]);
    let r = h.run(&all);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let json = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("probe {args:?}: {e}: {} {}", r.stdout, r.stderr));
    (r.ok, json, r.stderr)
}

#[test]
fn healthy_wrong_host_untrusted_expired_and_revoked_endpoints() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let responder = Server::start(&h);
    h.ok(&["ca", "configure", "int", "--base-url", &responder.url]);
    let (leaf, serial) = h.issue_leaf("int", "www");
    let int = h.export_ca("int");
    let tls = TlsServer::start(&h, &leaf, "www.key", Some(s(&int)));

    // Healthy: chain, host name, trust in caforge's root, OCSP and CRL both good.
    let (ok, report, stderr) = probe(&h, &[&tls.address, "--sni", "www.example"]);
    assert!(ok, "{report} {stderr}");
    assert_eq!(report["chain"].as_array().unwrap().len(), 2);
    assert_eq!(report["chain"][0]["subject"], "CN=www.example");
    assert!(report["chain"][0]["days_left"].as_i64().unwrap() > 80);
    assert_eq!(report["hostname_ok"], true);
    assert_eq!(report["trusted"], "caforge: CN=root");
    let methods: Vec<(&str, &str)> = report["revocation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["method"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(methods, vec![("ocsp", "good"), ("crl", "good")], "{report}");
    assert_eq!(report["problems"], serde_json::json!([]));

    // Wrong host.
    let (ok, report, stderr) = probe(&h, &[&tls.address, "--sni", "other.example"]);
    assert!(!ok);
    assert_eq!(report["hostname_ok"], false);
    assert!(stderr.contains("not valid for 'other.example'"), "{stderr}");

    // A client that does not know caforge's root: untrusted, until given it.
    let stranger = Home::new();
    let (ok, report, stderr) = probe(&stranger, &[&tls.address, "--sni", "www.example"]);
    assert!(!ok && report["trusted"].is_null(), "{report}");
    assert!(
        stderr.contains("does not build to a trusted root"),
        "{stderr}"
    );
    let root = h.export_ca("root");
    let (ok, report, _) = probe(
        &stranger,
        &[&tls.address, "--sni", "www.example", "--ca-file", s(&root)],
    );
    assert!(ok, "{report}");
    assert_eq!(report["trusted"], "ca-file: CN=root");

    // Revoked: both the OCSP responder and the CRL say so — OCSP at once, the CRL once
    // the server's background signer has signed the one the first fetch found due.
    h.ok(&["revoke", &serial, "--reason", "keyCompromise"]);
    let revoked = |r: &serde_json::Value| {
        r["status"].as_str().unwrap().starts_with("revoked at")
            && r["status"].as_str().unwrap().contains("keyCompromise")
    };
    let mut seen = None;
    for _ in 0..300 {
        let (ok, report, stderr) = probe(&h, &[&tls.address, "--sni", "www.example"]);
        let answers = report["revocation"].as_array().unwrap().clone();
        assert!(
            answers.iter().any(|r| r["method"] == "ocsp" && revoked(r)),
            "{report}"
        );
        if answers.iter().all(revoked) {
            seen = Some((ok, report, stderr));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (ok, report, stderr) = seen.expect("the served CRL never listed the revocation");
    assert!(!ok);
    for r in report["revocation"].as_array().unwrap() {
        assert!(
            r["status"].as_str().unwrap().starts_with("revoked at")
                && r["status"].as_str().unwrap().contains("keyCompromise"),
            "{r}"
        );
    }
    assert!(stderr.contains("the leaf is revoked"), "{stderr}");

    // Expired: a hierarchy made 100 days ago (clock shifted back) whose 30-day leaf has
    // since expired.
    let past = [("CAFORGE_DANGER_CLOCK_SHIFT", "-100d")];
    for args in [
        &[
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            "old-root",
            "--key-type",
            "p256",
        ][..],
        &[
            "ca",
            "create-intermediate",
            "--parent",
            "old-root",
            "--name",
            "old-int",
            "--key-type",
            "p256",
        ][..],
        &[
            "issue",
            "--ca",
            "old-int",
            "--subject",
            "CN=old.example",
            "--san",
            "dns:old.example",
            "--key-type",
            "p256",
            "--key-out",
            "old.key",
            "--no-encrypt-key",
            "--days",
            "30",
            "--out",
            "old.pem",
        ][..],
    ] {
        let r = h.run_with(&past, args);
        assert!(r.ok, "{args:?}: {}", r.stderr);
    }
    let old_int = h.export_ca("old-int");
    let old = TlsServer::start(&h, "old.pem", "old.key", Some(s(&old_int)));
    let (ok, report, stderr) = probe(&h, &[&old.address, "--sni", "old.example"]);
    assert!(!ok);
    assert!(report["chain"][0]["days_left"].as_i64().unwrap() < 0);
    assert!(stderr.contains("the leaf expired"), "{stderr}");
    // Trust is judged apart from expiry: the chain still builds to its root.
    assert_eq!(report["trusted"], "caforge: CN=old-root", "{report}");

    // Nothing listens: a clear error, no report.
    // (The listener is dropped at once, leaving its port closed.)
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = h.run(&["probe", &closed.to_string(), "--no-system-roots"]);
    assert!(!r.ok && r.stderr.contains("connecting to"), "{}", r.stderr);
    h.fails(&["probe", "no-port", "--no-system-roots"], "HOST:PORT");
}

#[test]
fn watch_adds_an_external_endpoint_to_the_inventory() {
    let h = Home::new();
    // An outside CA and a 20-day leaf, made by OpenSSL (test-only keys).
    let (ca, leaf) = outside_pki(h.path(), "ext.example", "20");
    let tls = TlsServer::start(&h, &leaf, "ext-leaf.key", Some(&ca));
    let (ok, report, stderr) = probe(
        &h,
        &[
            &tls.address,
            "--sni",
            "ext.example",
            "--ca-file",
            "ext-ca.pem",
            "--watch",
        ],
    );
    assert!(ok, "{report} {stderr}");
    assert_eq!(report["revocation"], serde_json::json!([]));
    let inv = h.ok(&["inventory", "list", "--format", "json"]);
    let inv: serde_json::Value = serde_json::from_str(&inv.stdout).unwrap();
    assert_eq!(inv.as_array().unwrap().len(), 1);
    assert_eq!(inv[0]["subject"], "CN=ext.example");
    assert_eq!(inv[0]["source"], format!("probe:{}", tls.address));
    // Expiry monitoring now covers it; --min-days makes the probe itself complain.
    let soon = h.run(&["cert", "list", "--expiring", "30d", "--fail-if-any"]);
    assert!(!soon.ok);
    let (ok, _, stderr) = probe(
        &h,
        &[
            &tls.address,
            "--sni",
            "ext.example",
            "--ca-file",
            "ext-ca.pem",
            "--min-days",
            "30",
        ],
    );
    assert!(!ok && stderr.contains("expires in"), "{stderr}");
}

#[test]
fn an_ecdsa_leaf_under_an_sm2_ca_is_trusted() {
    // rustls has no SM2 in its handshake (the leaf is P-256), but the chain's signatures
    // are SM3withSM2: caforge checks them with its own verifier and the CA's signer ID.
    let h = Home::new();
    h.create_root("sm2root", "sm2", &[]);
    let (leaf, _) = h.issue_leaf("sm2root", "guomi");
    let tls = TlsServer::start(&h, &leaf, "guomi.key", None);
    let (ok, report, stderr) = probe(&h, &[&tls.address, "--sni", "guomi.example"]);
    assert_eq!(
        report["trusted"], "caforge: CN=sm2root",
        "{report} {stderr}"
    );
    assert_eq!(report["hostname_ok"], true);
    assert!(ok, "{report} {stderr}");
    // A stranger's probe, without caforge's roots, still says untrusted.
    let stranger = Home::new();
    let (ok, report, _) = probe(&stranger, &[&tls.address, "--sni", "guomi.example"]);
    assert!(!ok && report["trusted"].is_null(), "{report}");
}
