#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Faults degrade gracefully and visibly under `caforge serve`: a hung key device (a
//! SIGSTOP'd hsm-sim) gives its CA's clients `tryLater` within the device time-out, never a
//! 408, while a CA whose key is a file goes on; `/healthz` answers at once and says
//! `degraded`; all recovers after SIGCONT. A full disk (a small tmpfs home) still gets
//! pre-signed and fresh OCSP answers, `/healthz` says so, and nothing is lost once space
//! returns.

use caforge_tests::hsm::HsmSim;
use caforge_tests::server::{health, health_until, ocsp_status, presigned_status, Server};
use caforge_tests::{s, Home};

/// `openssl ocsp` with a nonce (a fresh signature) for `cert` under `int`: its output.
fn fresh_ocsp(h: &Home, server: &Server, int: &str, chain: &str, cert: &str) -> String {
    let url = format!("{}/ocsp", server.url);
    let r = caforge_tests::openssl(
        h.path(),
        &[
            "ocsp", "-url", &url, "-issuer", int, "-cert", cert, "-CAfile", chain,
        ],
    );
    format!("{}{}", r.stdout, r.stderr)
}

#[test]
fn a_hung_key_device_costs_its_own_cas_try_later_and_no_one_else_anything() {
    let sim = HsmSim::start(&[]);
    let h = Home::new();
    h.configure("[server]\ndevice_timeout_secs = 2");
    // A hierarchy on the device and one in files.
    let store = sim.store();
    h.ok(&[
        "ca",
        "create-root",
        "--name",
        "dev-root",
        "--key-type",
        "p256",
        "--key-store",
        &store,
    ]);
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "dev-root",
        "--name",
        "dev-int",
        "--key-type",
        "p256",
        "--key-store",
        &store,
    ]);
    h.root_and_intermediate("p256", &[], &[]);
    let mut files = Vec::new();
    for (int, leaf) in [("dev-int", "dev-leaf"), ("int", "file-leaf")] {
        let (pem, _) = h.issue_leaf(int, leaf);
        let chain = h.file(&format!("{int}-chain.pem"));
        h.ok(&["ca", "export", int, "--chain", "--out", s(&chain)]);
        let issuer = h.export_ca(int);
        files.push((s(&issuer).to_owned(), s(&chain).to_owned(), pem));
    }
    let server = Server::start(&h);
    let (dev, file) = (&files[0], &files[1]);
    assert_eq!(
        ocsp_status(&h, &server, &dev.0, &dev.1, &dev.2, true),
        "good"
    );
    assert_eq!(health(&h, &server)["status"], "ok");

    sim.signal("STOP");
    // The device's CA: tryLater (an OCSP answer, not an HTTP 408), within its time-out.
    let answer = fresh_ocsp(&h, &server, &dev.0, &dev.1, &dev.2);
    assert!(answer.contains("trylater"), "{answer}");
    // At once after that: the device is known to be down.
    let answer = fresh_ocsp(&h, &server, &dev.0, &dev.1, &dev.2);
    assert!(answer.contains("trylater"), "{answer}");
    // The file CA is not held up.
    assert_eq!(
        ocsp_status(&h, &server, &file.0, &file.1, &file.2, true),
        "good"
    );
    // /healthz answers (within curl's 5 s) and says degraded, naming the device's CA.
    let v = health(&h, &server);
    assert_eq!(v["status"], "degraded", "{v}");
    let v = health_until(&h, &server, |v| {
        v["keys"].as_array().is_some_and(|keys| {
            keys.iter()
                .any(|k| k["ca"] == "dev-int" && k["status"] == "unavailable")
        })
    });
    assert!(
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["ca"] == "int" && k["status"] == "ok"),
        "{v}"
    );
    // The issuance API over the hung device: 503 with Retry-After, not 408.
    let token = caforge_tests::server::token(&h, "dev-int", "tls-server");
    let csr = caforge_tests::p256_csr(h.path(), "api", "/CN=api.example");
    let body = format!(
        r#"{{"ca":"dev-int","csr":{},"sans":["dns:api.example"]}}"#,
        serde_json::to_string(&csr).unwrap()
    );
    let (code, headers, problem) = caforge_tests::server::api(
        &h,
        &server,
        "POST",
        "/api/v1/certificates",
        Some(&token),
        Some(&body),
    );
    assert_eq!(code, 503, "{problem}");
    assert!(headers.contains("retry-after:"), "{headers}");

    sim.signal("CONT");
    health_until(&h, &server, |v| v["status"] == "ok");
    assert_eq!(
        ocsp_status(&h, &server, &dev.0, &dev.1, &dev.2, true),
        "good"
    );
}

/// A tmpfs mounted over a directory, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                s(dir),
            ])
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs (as root, as .ci/run runs): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", s(&self.0)])
            .status();
    }
}

/// Fills the filesystem of `dir` until it refuses; returns the filler's path.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    path
}

#[test]
fn a_full_disk_still_gets_answers_says_so_and_loses_nothing() {
    let h = Home::empty();
    let _tmpfs = Tmpfs::mount(&h.home(), "16m");
    h.ok(&["init"]);
    h.configure("[server]\nmin_free_disk_mib = 1\nrefresh_interval_secs = 0");
    h.root_and_intermediate("p256", &[], &[]);
    let (a, _) = h.issue_leaf("int", "a");
    let (b, _) = h.issue_leaf("int", "b");
    h.ok(&["ocsp", "presign", "--ca", "int"]);
    let int = h.export_ca("int");
    let chain = h.file("int-chain.pem");
    h.ok(&["ca", "export", "int", "--chain", "--out", s(&chain)]);
    let certs_before = h.cert_count();
    let server = Server::start(&h);
    assert_eq!(health(&h, &server)["status"], "ok");

    let filler = fill(&h.home());
    // Pre-signed and fresh answers are still returned.
    assert_eq!(
        presigned_status(&h, &server, s(&int), s(&chain), &a),
        "good"
    );
    assert_eq!(
        ocsp_status(&h, &server, s(&int), s(&chain), &b, true),
        "good"
    );
    let v = health_until(&h, &server, |v| v["status"] == "degraded");
    assert_eq!(v["store"]["disk_low"], true, "{v}");
    // Space returns: healthy again, and everything is there.
    std::fs::remove_file(&filler).unwrap();
    health_until(&h, &server, |v| v["status"] == "ok");
    assert_eq!(
        presigned_status(&h, &server, s(&int), s(&chain), &b),
        "good"
    );
    drop(server);
    assert_eq!(h.cert_count(), certs_before);
    h.issue_leaf("int", "c");
    assert_eq!(h.cert_count(), certs_before + 1);
    h.ok(&["audit", "verify"]);
}
