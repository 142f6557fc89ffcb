#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! `caforge serve` on 127.0.0.1 with an ephemeral port, driven by real clients: `openssl
//! ocsp -url`, `curl`, and `caforge revoke` from another process on the same database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use caforge_tests::server::{
    api, curl, fetch_crl_until, metric, ocsp_status, presigned_status, token, Server,
};
use caforge_tests::{caforge_bin, openssl, openssl_ok, p256_csr, s, Home};

fn pki(h: &Home, kt: &str) -> (String, String, String) {
    // The base URL is only printed into certificates; tests fetch from the real port.
    h.root_and_intermediate(kt, &[], &["--base-url", "http://127.0.0.1:8080"]);
    let root = s(&h.export_ca("root")).to_owned();
    let int = s(&h.export_ca("int")).to_owned();
    let chain = h.file("chain.pem");
    std::fs::write(
        &chain,
        [std::fs::read(&root).unwrap(), std::fs::read(&int).unwrap()].concat(),
    )
    .unwrap();
    (root, int, s(&chain).to_owned())
}

fn good_then_revoked(kt: &str) {
    let h = Home::new();
    let (_, int, chain) = pki(&h, kt);
    let (cert, serial) = h.issue_leaf("int", "www");
    let server = Server::start(&h);
    let verify = kt != "sm2"; // OpenSSL 3.0 cannot verify SM2 OCSP signatures with an ID
    assert_eq!(
        ocsp_status(&h, &server, &int, &chain, &cert, verify),
        "good"
    );
    // Revoked by another process on the same database while the server runs.
    h.ok(&["revoke", &serial, "--reason", "keyCompromise"]);
    assert_eq!(
        ocsp_status(&h, &server, &int, &chain, &cert, verify),
        "revoked"
    );
    // The CRL the certificate points at, fetched over HTTP, lists it (once the background
    // signer has signed the CRL the fetch found due) and verifies.
    let listed = format!("Serial Number: {serial}");
    let (headers, _) = fetch_crl_until(
        &h,
        &format!("{}/crl/int.crl", server.url),
        "int.crl",
        |text| text.contains(&listed),
    );
    assert!(
        headers.contains("content-type: application/pkix-crl"),
        "{headers}"
    );
    assert!(headers.contains("cache-control: max-age="), "{headers}");
    if verify {
        let r = openssl_ok(
            h.path(),
            &[
                "crl", "-inform", "DER", "-in", "int.crl", "-CAfile", &chain, "-noout", "-verify",
            ],
        );
        assert!(format!("{}{}", r.stdout, r.stderr).contains("verify OK"));
    } else {
        caforge_tests::assert_sm2_signed(h.path(), s(&h.file("int.crl")), &int);
    }
    // AIA caIssuers: the CA certificate, DER.
    let (code, headers) = curl(&h, &[&format!("{}/ca/int.crt", server.url)], "int.crt");
    assert_eq!(code, 200);
    assert!(
        headers.contains("content-type: application/pkix-cert"),
        "{headers}"
    );
    let exported = openssl_ok(
        h.path(),
        &[
            "x509",
            "-in",
            &int,
            "-outform",
            "DER",
            "-out",
            "int.export.der",
        ],
    );
    assert!(exported.ok);
    assert_eq!(
        std::fs::read(h.file("int.crt")).unwrap(),
        std::fs::read(h.file("int.export.der")).unwrap()
    );
    assert!(
        server.terminate(),
        "SIGTERM did not shut the server down cleanly"
    );
}

/// The value of a counter in `/metrics`.

#[test]
fn a_revocation_by_another_process_is_answered_past_the_memory_cache() {
    let h = Home::new();
    let (_, int, chain) = pki(&h, "p256");
    let (cert, serial) = h.issue_leaf("int", "www");
    let server = Server::start(&h);
    // Nonce-less requests (RFC 5019) are answered from the pre-signed response; once the
    // database has been quiet for the settle period, from memory.
    let status = || presigned_status(&h, &server, &int, &chain, &cert);
    let mut from_memory = false;
    for _ in 0..80 {
        assert_eq!(status(), "good");
        if metric(&h, &server, "caforge_ocsp_memory_hits_total") > 0 {
            from_memory = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(from_memory, "the responder never answered from memory");
    h.ok(&["revoke", &serial, "--reason", "superseded"]);
    // At once (the database was just written, so it is read)…
    assert_eq!(status(), "revoked");
    // …and once the files are quiet again, when only the changed write mark tells the
    // memory is out of date (the settle period is two seconds).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(status(), "revoked");
    assert!(server.terminate());
}

#[test]
fn p256_ocsp_and_crl_over_http() {
    good_then_revoked("p256");
}

#[test]
fn rsa2048_ocsp_and_crl_over_http() {
    good_then_revoked("rsa2048");
}

#[test]
fn sm2_ocsp_and_crl_over_http() {
    good_then_revoked("sm2");
}

#[test]
fn get_requests_carry_rfc5019_cache_headers() {
    let h = Home::new();
    let (_, int, _) = pki(&h, "p256");
    let (cert, _) = h.issue_leaf("int", "www");
    let server = Server::start(&h);
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            &int,
            "-cert",
            &cert,
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    let b64 = openssl_ok(h.path(), &["base64", "-A", "-in", "req.der"]).stdout;
    // Standard base64 in the path, percent-encoded as RFC 6960 appendix A.1 asks.
    let encoded = b64
        .trim()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (code, headers) = curl(&h, &[&format!("{}/ocsp/{encoded}", server.url)], "get.der");
    assert_eq!(code, 200);
    for want in [
        "content-type: application/ocsp-response",
        "cache-control: max-age=",
        "public, no-transform, must-revalidate",
        "last-modified: ",
        "expires: ",
        "etag: ",
    ] {
        assert!(headers.contains(want), "missing {want}: {headers}");
    }
    let r = openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-respin",
            "get.der",
            "-issuer",
            &int,
            "-cert",
            &cert,
            "-noverify",
        ],
    );
    assert!(r.stdout.contains("good"), "{}", r.stdout);
    // The second GET is the pre-signed response, byte for byte.
    curl(&h, &[&format!("{}/ocsp/{encoded}", server.url)], "get2.der");
    assert_eq!(
        std::fs::read(h.file("get.der")).unwrap(),
        std::fs::read(h.file("get2.der")).unwrap()
    );
    curl(&h, &[&format!("{}/metrics", server.url)], "metrics.txt");
    let metrics = std::fs::read_to_string(h.file("metrics.txt")).unwrap();
    assert!(
        metrics.contains("caforge_ocsp_cache_hits_total 1"),
        "{metrics}"
    );
}

/// The bytes of an OCSP error response with `status`.
fn ocsp_error(status: u8) -> Vec<u8> {
    vec![0x30, 0x03, 0x0a, 0x01, status]
}

#[test]
fn hostile_requests_get_their_status() {
    let h = Home::new();
    let (_, int, _) = pki(&h, "p256");
    let server = Server::start(&h);
    let post = |body_file: &str, ctype: &str, out: &str| {
        curl(
            &h,
            &[
                "-X",
                "POST",
                "-H",
                &format!("Content-Type: {ctype}"),
                "--data-binary",
                &format!("@{body_file}"),
                &format!("{}/ocsp", server.url),
            ],
            out,
        )
    };
    std::fs::write(h.file("garbage.bin"), b"\x30\x82\x01\x00garbage").unwrap();
    let (code, _) = post("garbage.bin", "application/ocsp-request", "garbage.resp");
    assert_eq!(code, 200);
    assert_eq!(
        std::fs::read(h.file("garbage.resp")).unwrap(),
        ocsp_error(1)
    );
    // Wrong content type.
    let (code, headers) = post("garbage.bin", "text/plain", "ctype.resp");
    assert_eq!(code, 415);
    assert!(headers.contains("application/problem+json"), "{headers}");
    // Oversized body.
    std::fs::write(h.file("big.bin"), vec![0u8; 200 * 1024]).unwrap();
    let (code, _) = post("big.bin", "application/ocsp-request", "big.resp");
    assert_eq!(code, 413);
    // Invalid base64 in a GET.
    let (code, _) = curl(
        &h,
        &[&format!("{}/ocsp/%%%not-base64!!", server.url)],
        "b64.resp",
    );
    assert_eq!(code, 200);
    assert_eq!(std::fs::read(h.file("b64.resp")).unwrap(), ocsp_error(1));
    // An issuer that is not ours.
    caforge_tests::foreign_ocsp_request(&h, "foreign.req");
    let (code, _) = post("foreign.req", "application/ocsp-request", "foreign.resp");
    assert_eq!(code, 200);
    assert_eq!(
        std::fs::read(h.file("foreign.resp")).unwrap(),
        ocsp_error(6)
    );
    // Unknown CRLs and CAs, unknown paths.
    for (path, want) in [
        ("/crl/nope.crl", 404),
        ("/crl/int-p7.crl", 404),
        ("/ca/nope.crt", 404),
        ("/nothing", 404),
    ] {
        let (code, _) = curl(&h, &[&format!("{}{path}", server.url)], "x.out");
        assert_eq!(code, want, "{path}");
    }
    // The server is still healthy, and answered real requests after all that.
    let (code, _) = curl(&h, &[&format!("{}/healthz", server.url)], "health.json");
    assert_eq!(code, 200);
    let (cert, _) = h.issue_leaf("int", "after");
    let r = openssl(
        h.path(),
        &[
            "ocsp",
            "-url",
            &format!("{}/ocsp", server.url),
            "-issuer",
            &int,
            "-cert",
            &cert,
            "-noverify",
        ],
    );
    assert!(r.stdout.contains("good"), "{r:?}");
    assert!(server.terminate());
}

/// Reads from `stream` until the server closes it (or 30 s pass, which fails the test) and
/// returns what it sent.
fn read_until_closed(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept a slow client's connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn slow_and_idle_clients_are_cut_off_while_others_are_served() {
    use std::io::Write;
    let h = Home::new();
    pki(&h, "p256");
    h.configure(
        "[server]\nheader_timeout_secs = 1\nrequest_timeout_secs = 2\ndevice_timeout_secs = 1",
    );
    let server = Server::start(&h);
    let addr = server.url.strip_prefix("http://").unwrap().to_owned();
    // A connection that never sends a byte.
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    // Headers that never end.
    let mut trickle = std::net::TcpStream::connect(&addr).unwrap();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .unwrap();
    // A body that never arrives in full.
    let mut slow_body = std::net::TcpStream::connect(&addr).unwrap();
    slow_body
        .write_all(
            b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n\
              Content-Length: 100\r\n\r\n0123456789",
        )
        .unwrap();
    // Meanwhile everyone else is answered.
    let (code, _) = curl(&h, &[&format!("{}/healthz", server.url)], "health.json");
    assert_eq!(code, 200);
    assert_eq!(read_until_closed(&mut idle), "");
    let trickled = read_until_closed(&mut trickle);
    assert!(
        trickled.is_empty() || trickled.starts_with("HTTP/1.1 408"),
        "{trickled}"
    );
    let slow = read_until_closed(&mut slow_body);
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
    let (code, _) = curl(&h, &[&format!("{}/healthz", server.url)], "health.json");
    assert_eq!(code, 200);
    assert!(server.terminate());
}

#[test]
fn issuance_api_with_scoped_tokens() {
    let h = Home::new();
    let (root, int, chain) = pki(&h, "p256");
    h.ok(&[
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        "other",
        "--key-type",
        "p256",
    ]);
    let good = token(&h, "int", "tls-server");
    let wrong_ca = token(&h, "other", "*");
    let server = Server::start(&h);
    let csr = p256_csr(h.path(), "app", "/CN=app.example");
    let body =
        serde_json::json!({"ca": "int", "csr": csr, "sans": ["dns:app.example"], "days": 30})
            .to_string();

    // No token, a made-up token, a token for another CA, a profile outside the scope.
    let (code, headers, problem) = api(
        &h,
        &server,
        "POST",
        "/api/v1/certificates",
        None,
        Some(&body),
    );
    assert_eq!(code, 401, "{problem}");
    assert!(headers.contains("www-authenticate: bearer"), "{headers}");
    assert!(
        headers.contains("application/problem+json")
            && problem.contains("urn:caforge:problem:unauthorized"),
        "{problem}"
    );
    let fake = format!("cft_{}", "0".repeat(64));
    assert_eq!(
        api(
            &h,
            &server,
            "POST",
            "/api/v1/certificates",
            Some(&fake),
            Some(&body)
        )
        .0,
        401
    );
    assert_eq!(
        api(
            &h,
            &server,
            "POST",
            "/api/v1/certificates",
            Some(&wrong_ca),
            Some(&body)
        )
        .0,
        403
    );
    let client = serde_json::json!({"ca": "int", "csr": csr, "sans": ["dns:app.example"], "profile": "tls-client"}).to_string();
    assert_eq!(
        api(
            &h,
            &server,
            "POST",
            "/api/v1/certificates",
            Some(&good),
            Some(&client)
        )
        .0,
        403
    );
    // Bad JSON and policy refusals are problems, and nothing is issued.
    let count = h.cert_count();
    let (code, _, problem) = api(
        &h,
        &server,
        "POST",
        "/api/v1/certificates",
        Some(&good),
        Some("{not json"),
    );
    assert_eq!(code, 400, "{problem}");
    let wildcard =
        serde_json::json!({"ca": "int", "csr": csr, "sans": ["dns:a.*.example"]}).to_string();
    let (code, _, problem) = api(
        &h,
        &server,
        "POST",
        "/api/v1/certificates",
        Some(&good),
        Some(&wildcard),
    );
    assert_eq!(code, 400, "{problem}");
    assert!(
        problem.contains("urn:caforge:problem:rejected"),
        "{problem}"
    );
    assert_eq!(h.cert_count(), count);

    // Issuance under the same policy as the CLI; OpenSSL verifies the result.
    let (code, _, issued) = api(
        &h,
        &server,
        "POST",
        "/api/v1/certificates",
        Some(&good),
        Some(&body),
    );
    assert_eq!(code, 201, "{issued}");
    let v: serde_json::Value = serde_json::from_str(&issued).unwrap();
    std::fs::write(h.file("app.pem"), v["certificate"].as_str().unwrap()).unwrap();
    let r = openssl_ok(
        h.path(),
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &root,
            "-untrusted",
            &int,
            "app.pem",
        ],
    );
    assert!(r.stdout.contains("OK"));
    let serial = v["serial"].as_str().unwrap().to_owned();
    assert_eq!(h.cert_count(), count + 1);

    // Fetch and list; another CA's token sees nothing of it.
    let (code, _, fetched) = api(
        &h,
        &server,
        "GET",
        &format!("/api/v1/certificates/{serial}"),
        Some(&good),
        None,
    );
    assert_eq!(code, 200, "{fetched}");
    assert!(fetched.contains("BEGIN CERTIFICATE"));
    assert_eq!(
        api(
            &h,
            &server,
            "GET",
            &format!("/api/v1/certificates/{serial}"),
            Some(&wrong_ca),
            None
        )
        .0,
        403
    );
    let (_, _, listed) = api(
        &h,
        &server,
        "GET",
        "/api/v1/certificates?status=valid",
        Some(&wrong_ca),
        None,
    );
    assert!(!listed.contains(&serial), "{listed}");

    // Revoke through the API; OCSP over HTTP says so at once.
    let (code, _, revoked) = api(
        &h,
        &server,
        "POST",
        &format!("/api/v1/certificates/{serial}/revoke"),
        Some(&good),
        Some(r#"{"reason":"cACompromise"}"#),
    );
    assert_eq!(code, 200, "{revoked}");
    assert!(revoked.contains("\"cACompromise\""), "{revoked}");
    assert_eq!(
        ocsp_status(&h, &server, &int, &chain, s(&h.file("app.pem")), true),
        "revoked"
    );
    let (code, _, _) = api(
        &h,
        &server,
        "POST",
        &format!("/api/v1/certificates/{serial}/revoke"),
        Some(&good),
        Some(r#"{"reason":"superseded"}"#),
    );
    assert_eq!(code, 409);

    // A revoked token stops working; the store never saw the token itself.
    let list = h.ok(&["token", "list", "--format", "json"]).stdout;
    let id = serde_json::from_str::<serde_json::Value>(&list).unwrap()[0]["id"]
        .as_i64()
        .unwrap();
    h.ok(&["token", "revoke", &id.to_string()]);
    assert_eq!(
        api(
            &h,
            &server,
            "GET",
            &format!("/api/v1/certificates/{serial}"),
            Some(&good),
            None
        )
        .0,
        401
    );
    let db = std::fs::read(h.home().join("caforge.db")).unwrap();
    let wal = std::fs::read(h.home().join("caforge.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(good.len()).any(|w| w == good.as_bytes()),
            "token stored in clear"
        );
    }
    assert!(server.terminate());
}

#[test]
fn quickstart_serves_its_pki_and_the_printed_ocsp_command_says_good() {
    let h = Home::empty();
    let mut child = Command::new(caforge_bin())
        .current_dir(h.path())
        .env_remove("CAFORGE_PASSPHRASE")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .env_remove("CAFORGE_HOME")
        .args(["quickstart", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut command = None;
    let mut output = String::new();
    for _ in 0..200 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        output.push_str(&line);
        if line.trim_start().starts_with("openssl ocsp -url") {
            command = Some(line.trim().to_owned());
            break;
        }
    }
    let command = command.unwrap_or_else(|| panic!("no openssl command printed:\n{output}"));
    // Paste it, as a user would.
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let r = openssl(h.path(), &args);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exited = child.wait().unwrap();
    assert!(r.ok, "{r:?}");
    assert!(r.stdout.contains("localhost.pem: good"), "{}", r.stdout);
    assert!(r.stderr.contains("Response verify OK"), "{}", r.stderr);
    assert!(
        exited.success(),
        "quickstart did not stop cleanly on SIGTERM"
    );
    // The certificates point at the server that served them.
    let port = command
        .split("127.0.0.1:")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let text = openssl_ok(
        h.path(),
        &[
            "x509",
            "-in",
            "caforge/quickstart/rsa/localhost.pem",
            "-noout",
            "-text",
        ],
    )
    .stdout;
    assert!(
        text.contains(&format!("OCSP - URI:http://127.0.0.1:{port}/ocsp")),
        "{text}"
    );
}
