//! The issuance API on its own HTTPS listener, against the real binary on loopback: curl
//! and `openssl s_client -verify_return_error` accept its certificate (the operator's files,
//! or one caforge issues for itself and renews); a replaced certificate is served to new
//! connections while a connection made before keeps working; the public listener does not
//! serve the API; with mTLS, a token is refused without its client certificate.
#![allow(clippy::expect_used)] // test helpers outside #[test] functions

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use caforge_tests::server::{curl, Server};
use caforge_tests::{openssl, s, Home};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};

/// A root (`root`) and an intermediate (`int`), P-256, and `root.pem` to trust.
fn pki(h: &Home) {
    h.root_and_intermediate("p256", &[], &[]);
    std::fs::copy(h.export_ca("root"), h.file("root.pem")).expect("root.pem");
}

/// A server certificate for localhost and 127.0.0.1 from `int` (test-only key, no
/// passphrase): `{stem}.key` and `{stem}-full.pem` (leaf and intermediate).
fn server_files(h: &Home, stem: &str) {
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--subject",
        "CN=localhost",
        "--san",
        "dns:localhost",
        "--san",
        "ip:127.0.0.1",
        "--key-type",
        "p256",
        "--no-encrypt-key",
        "--key-out",
        &format!("{stem}.key"),
        "--out",
        &format!("{stem}.pem"),
        "--force",
    ]);
    let full = [
        std::fs::read(h.file(&format!("{stem}.pem"))).expect("leaf"),
        std::fs::read(h.export_ca("int")).expect("int"),
    ]
    .concat();
    std::fs::write(h.file(&format!("{stem}-full.pem")), full).expect("fullchain");
}

/// A token for every certificate under `int`; with `client`, bound to that certificate.
fn token(h: &Home, client: Option<&str>) -> String {
    let mut args = vec![
        "token",
        "create",
        "--ca",
        "int",
        "--profile",
        "*",
        "--format",
        "json",
    ];
    if let Some(c) = client {
        args.extend(["--client-cert", c]);
    }
    let v: serde_json::Value = serde_json::from_str(&h.ok(&args).stdout).expect("json");
    v["token"].as_str().expect("token").to_owned()
}

/// `curl --cacert root.pem` GET of `url` with `token` (and `extra` arguments): the HTTP
/// status, or 0 when no HTTP exchange happened (a refused handshake).
fn get(h: &Home, url: &str, token: &str, extra: &[&str]) -> u16 {
    let auth = format!("Authorization: Bearer {token}");
    let mut args = vec!["--cacert", "root.pem", "-H", auth.as_str()];
    args.extend_from_slice(extra);
    args.push(url);
    curl(h, &args, s(&h.file("get.out"))).0
}

/// A TLS connection to `addr` (`127.0.0.1:PORT`) trusting `root.pem`, kept open by the test.
struct Held {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Held {
    fn connect(h: &Home, addr: &str) -> Held {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(h.file("root.pem")).expect("root.pem") {
            roots.add(c.expect("certificate")).expect("root");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let tcp = TcpStream::connect(addr).expect("connect");
        let mut held = Held {
            stream: rustls::StreamOwned::new(conn, tcp),
        };
        while held.stream.conn.is_handshaking() {
            held.stream
                .conn
                .complete_io(&mut held.stream.sock)
                .expect("handshake");
        }
        held
    }

    /// GET `path` on this connection (keep-alive): the status.
    fn get(&mut self, path: &str, token: &str) -> u16 {
        write!(
            self.stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .expect("write");
        self.stream.flush().expect("flush");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.stream
                .read_exact(&mut byte)
                .expect("read the response head");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().expect("length"));
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).expect("read the body");
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status")
    }

    /// SHA-256 (hex) of the certificate the server presented.
    fn served(&self) -> String {
        let certs = self.stream.conn.peer_certificates().expect("certificates");
        hex::encode(Sha256::digest(certs[0].as_ref()))
    }
}

/// SHA-256 (hex) of the certificate `openssl s_client` is served at `addr`, unverified
/// (a certificate issued on a shifted clock is not yet valid today), and whether it
/// verifies against `root.pem` at Unix time `at`.
fn served_at(h: &Home, addr: &str, at: i64) -> (String, bool) {
    let at = at.to_string();
    let r = openssl(
        h.path(),
        &[
            "s_client",
            "-connect",
            addr,
            "-CAfile",
            "root.pem",
            "-attime",
            &at,
            "-verify_hostname",
            "localhost",
        ],
    );
    let der = CertificateDer::from_pem_slice(r.stdout.as_bytes()).expect("a served certificate");
    (
        hex::encode(Sha256::digest(der.as_ref())),
        r.stdout.contains("Verify return code: 0 (ok)"),
    )
}

fn fingerprint_of_pem(path: &Path) -> String {
    let der = CertificateDer::from_pem_file(path).expect("pem");
    hex::encode(Sha256::digest(der.as_ref()))
}

#[test]
fn the_api_speaks_https_on_its_own_listener_and_takes_a_new_certificate_without_dropping_connections(
) {
    let h = Home::new();
    pki(&h);
    server_files(&h, "api");
    // The held connection waits idle while the certificate is replaced: longer than the
    // default 5 s an idle connection is kept.
    h.configure("[server]\nheader_timeout_secs = 120");
    let server = Server::start_args(
        &h,
        &[],
        &[
            "--api-listen",
            "127.0.0.1:0",
            "--tls-cert",
            "api-full.pem",
            "--tls-key",
            "api.key",
        ],
    );
    let api = server.api_url.clone().expect("an API listener");
    let addr = api.trim_start_matches("https://").to_owned();
    let bearer = token(&h, None);
    let list = format!("{api}/api/v1/certificates");
    assert_eq!(get(&h, &list, &bearer, &[]), 200);
    // The public listener serves OCSP and CRLs, not the API.
    assert_eq!(
        get(
            &h,
            &format!("{}/api/v1/certificates", server.url),
            &bearer,
            &[]
        ),
        404
    );
    // OpenSSL checks the chain to the root and the name.
    let port = addr.rsplit(':').next().expect("port");
    let r = openssl(
        h.path(),
        &[
            "s_client",
            "-connect",
            &format!("localhost:{port}"),
            "-CAfile",
            "root.pem",
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ],
    );
    assert!(
        r.stdout.contains("Verify return code: 0 (ok)"),
        "{}",
        r.stdout
    );

    // A client holds a connection; the operator replaces the certificate.
    let mut held = Held::connect(&h, &addr);
    assert_eq!(held.get("/api/v1/certificates", &bearer), 200);
    let old = held.served();
    assert_eq!(old, fingerprint_of_pem(&h.file("api.pem")));
    server_files(&h, "next");
    for (from, to) in [("next.key", "api.key"), ("next-full.pem", "api-full.pem")] {
        std::fs::rename(h.file(from), h.file(to)).expect("replace");
    }
    let new = fingerprint_of_pem(&h.file("next.pem"));
    let started = std::time::Instant::now();
    while Held::connect(&h, &addr).served() != new {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the new certificate was never served"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The connection made under the old certificate is still served.
    assert_eq!(held.get("/api/v1/certificates", &bearer), 200);
    assert_eq!(held.served(), old);
    assert_eq!(get(&h, &list, &bearer, &[]), 200);
}

#[test]
fn serve_issues_its_own_api_certificate_and_renews_it() {
    let h = Home::new();
    pki(&h);
    h.configure("[server]\nrefresh_interval_secs = 1");
    let args = [
        "--api-listen",
        "127.0.0.1:0",
        "--tls-issue-from",
        "int",
        "--tls-name",
        "localhost",
        "--tls-name",
        "127.0.0.1",
    ];
    let server = Server::start_args(&h, &[], &args);
    let api = server.api_url.clone().expect("an API listener");
    let addr = api.trim_start_matches("https://").to_owned();
    let bearer = token(&h, None);
    assert_eq!(
        get(&h, &format!("{api}/api/v1/certificates"), &bearer, &[]),
        200
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (first, ok) = served_at(&h, &addr, now);
    assert!(ok, "the issued certificate verifies");
    assert_eq!(first, Held::connect(&h, &addr).served());
    drop(server);

    // 70 days on, the 90-day certificate is in its renewal window: the server's refresh
    // renews it and the listener serves the successor.
    let server = Server::start_args(&h, &[("CAFORGE_DANGER_CLOCK_SHIFT", "70d")], &args);
    let addr = server
        .api_url
        .clone()
        .expect("an API listener")
        .trim_start_matches("https://")
        .to_owned();
    let later = now + 70 * 86_400 + 3_600;
    let started = std::time::Instant::now();
    while served_at(&h, &addr, later).0 == first {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the certificate was never renewed"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The successor verifies at the shifted time (its validity starts there).
    assert!(
        served_at(&h, &addr, later).1,
        "the renewed certificate verifies"
    );
    let managed: serde_json::Value =
        serde_json::from_str(&h.ok(&["managed", "list", "--format", "json"]).stdout).expect("json");
    assert_eq!(managed.as_array().expect("list").len(), 1, "{managed}");
    // An SM2 CA cannot issue it: rustls has no SM2.
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        "gm",
        "--key-type",
        "sm2",
    ]);
    h.fails(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--tls-issue-from",
            "gm",
            "--tls-name",
            "localhost",
        ],
        "needs an RSA or ECDSA CA",
    );
}

#[test]
fn with_mtls_a_token_needs_the_client_certificate_it_is_bound_to() {
    let h = Home::new();
    pki(&h);
    server_files(&h, "api");
    for client in ["alice", "mallory"] {
        h.ok(&[
            "issue",
            "--ca",
            "int",
            "--profile",
            "tls-client",
            "--subject",
            &format!("CN={client}"),
            "--key-type",
            "p256",
            "--no-encrypt-key",
            "--key-out",
            &format!("{client}.key"),
            "--out",
            &format!("{client}.pem"),
        ]);
    }
    std::fs::copy(h.export_ca("int"), h.file("clients.pem")).expect("client CAs");
    let bound = token(&h, Some("alice.pem"));
    let unbound = token(&h, None);
    let server = Server::start_args(
        &h,
        &[],
        &[
            "--api-listen",
            "127.0.0.1:0",
            "--tls-cert",
            "api-full.pem",
            "--tls-key",
            "api.key",
            "--client-ca",
            "clients.pem",
        ],
    );
    let list = format!(
        "{}/api/v1/certificates",
        server.api_url.clone().expect("API")
    );
    let alice = ["--cert", "alice.pem", "--key", "alice.key"];
    let mallory = ["--cert", "mallory.pem", "--key", "mallory.key"];
    // Without a client certificate there is no TLS connection, token or not.
    assert_eq!(get(&h, &list, &bound, &[]), 0);
    assert_eq!(get(&h, &list, &bound, &alice), 200);
    assert_eq!(
        get(&h, &list, &bound, &mallory),
        401,
        "another client's key"
    );
    assert_eq!(
        get(&h, &list, &unbound, &alice),
        401,
        "a token bound to no key"
    );
    drop(server);
    // Where no client certificate can be presented (plain HTTP), a bound token is refused
    // and an unbound one still works.
    let server = Server::start(&h);
    let plain = format!("{}/api/v1/certificates", server.url);
    assert_eq!(get(&h, &plain, &bound, &[]), 401);
    assert_eq!(get(&h, &plain, &unbound, &[]), 200);
}
