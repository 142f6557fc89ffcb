//! Helpers for tests that run `caforge serve`: the server process and its HTTP clients
//! (`curl`, `openssl ocsp`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::{caforge_bin, openssl_ok, s, Home};

/// A running `caforge serve`, stopped (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `https://127.0.0.1:PORT` of the API's own listener, when it has one.
    pub api_url: Option<String>,
}

impl Server {
    /// Starts `caforge serve` on an ephemeral 127.0.0.1 port for `h`'s home.
    pub fn start(h: &Home) -> Server {
        Server::start_with(h, &[])
    }

    /// As [`Server::start`], with extra environment variables (e.g. a shifted clock). The
    /// API is served on the public listener in plain HTTP (`--api-on-public`), as the
    /// tests of what it does need; `tests/tests/hostile.rs` tests it over HTTPS on its own
    /// listener.
    pub fn start_with(h: &Home, env: &[(&str, &str)]) -> Server {
        Server::start_args(h, env, &["--api-on-public"])
    }

    /// As [`Server::start_with`], with extra arguments to `serve`.
    pub fn start_args(h: &Home, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut child = Command::new(caforge_bin())
            .envs(env.iter().copied())
            .current_dir(h.path())
            .env_remove("CAFORGE_PASSPHRASE")
            .env("CAFORGE_LOG", "warn")
            .arg("--home")
            .arg(h.home())
            .arg("--passphrase-file")
            .arg(h.file("pass.txt"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn caforge serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("caforge serving on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let api_url = args.contains(&"--api-listen").then(|| {
            let mut line = String::new();
            out.read_line(&mut line).expect("read the API line");
            line.trim()
                .strip_prefix("caforge API on ")
                .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                .to_owned()
        });
        Server {
            child,
            url,
            api_url,
        }
    }

    /// The server's resident memory now (KiB, from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Sends SIGTERM and returns whether the server exited cleanly.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        self.child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fetches the CRL at `url` into `out` (DER) until its `openssl crl -text` satisfies
/// `done`, and returns the response headers and that text. A fetch serves the CRL last
/// signed and queues a due one for the server's background signer, so the new CRL arrives
/// within moments; this gives up after 30 s.
pub fn fetch_crl_until(
    h: &Home,
    url: &str,
    out: &str,
    done: impl Fn(&str) -> bool,
) -> (String, String) {
    let mut last = String::new();
    for _ in 0..300 {
        let (code, headers) = curl(h, &[url], out);
        if code == 200 {
            let text = openssl_ok(
                h.path(),
                &["crl", "-inform", "DER", "-in", out, "-noout", "-text"],
            )
            .stdout;
            if done(&text) {
                return (headers, text);
            }
            last = text;
        } else {
            assert_eq!(code, 503, "GET {url}: {headers}");
            assert!(headers.contains("retry-after"), "{headers}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("GET {url} never served the expected CRL; last:\n{last}");
}

/// `curl` → (HTTP status, headers, body file).
pub fn curl(h: &Home, args: &[&str], out: &str) -> (u16, String) {
    let headers = h.file(&format!("{out}.headers"));
    let mut all = vec!["-s", "-o", out, "-D", s(&headers), "-w", "%{http_code}"];
    all.extend_from_slice(args);
    let r = Command::new("curl")
        .current_dir(h.path())
        .args(&all)
        .output()
        .expect("curl");
    let code = String::from_utf8_lossy(&r.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (
        code,
        std::fs::read_to_string(headers)
            .unwrap_or_default()
            .to_lowercase(),
    )
}

/// The status `openssl ocsp -url` reports for `cert` (the response verified unless `verify` is false).
pub fn ocsp_status(
    h: &Home,
    server: &Server,
    int: &str,
    chain: &str,
    cert: &str,
    verify: bool,
) -> String {
    ocsp_status_with(
        h,
        server,
        int,
        chain,
        cert,
        if verify { &[] } else { &["-noverify"] },
    )
}

/// The status `openssl ocsp -url -no_nonce` reports for `cert`, the response verified: a
/// nonce-less (RFC 5019) request, which the responder answers pre-signed, from memory when
/// it can.
pub fn presigned_status(h: &Home, server: &Server, int: &str, chain: &str, cert: &str) -> String {
    ocsp_status_with(h, server, int, chain, cert, &["-no_nonce"])
}

fn ocsp_status_with(
    h: &Home,
    server: &Server,
    int: &str,
    chain: &str,
    cert: &str,
    extra: &[&str],
) -> String {
    let url = format!("{}/ocsp", server.url);
    let mut args = vec![
        "ocsp", "-url", &url, "-issuer", int, "-cert", cert, "-CAfile", chain,
    ];
    args.extend_from_slice(extra);
    let r = openssl_ok(h.path(), &args);
    if !extra.contains(&"-noverify") {
        assert!(r.stderr.contains("Response verify OK"), "{}", r.stderr);
    }
    r.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{cert}: ")))
        .unwrap_or_else(|| panic!("no status in {}", r.stdout))
        .rsplit(": ")
        .next()
        .unwrap()
        .to_owned()
}

/// A counter from the server's `/metrics`.
pub fn metric(h: &Home, server: &Server, name: &str) -> u64 {
    let (code, _) = curl(h, &[&format!("{}/metrics", server.url)], "metrics.txt");
    assert_eq!(code, 200);
    let text = std::fs::read_to_string(h.file("metrics.txt")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// A token from `caforge token create --format json` with the given scope.
pub fn token(h: &Home, ca: &str, profile: &str) -> String {
    let r = h.ok(&[
        "token",
        "create",
        "--ca",
        ca,
        "--profile",
        profile,
        "--expires",
        "1d",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// POSTs `body` (JSON) to `path` with `token`; returns (status, headers, body).
pub fn api(
    h: &Home,
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let url = format!("{}{path}", server.url);
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["-X", method];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    if let Some(b) = body {
        std::fs::write(h.file("body.json"), b).unwrap();
        args.extend([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@body.json",
        ]);
    }
    args.push(&url);
    let out = h.file("api.out");
    let (code, headers) = curl(h, &args, s(&out));
    (
        code,
        headers,
        std::fs::read_to_string(out).unwrap_or_default(),
    )
}

/// `/healthz`, within 5 s (it answers from its last pass, whatever hangs).
pub fn health(h: &Home, server: &Server) -> serde_json::Value {
    let (code, _) = curl(
        h,
        &["-m", "5", &format!("{}/healthz", server.url)],
        "health.json",
    );
    assert_eq!(code, 200, "/healthz answered");
    serde_json::from_str(&std::fs::read_to_string(h.file("health.json")).unwrap()).unwrap()
}

/// `/healthz` polled until `done` holds (health passes run every 2 s), at most 30 s.
pub fn health_until(
    h: &Home,
    server: &Server,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..60 {
        let v = health(h, server);
        if done(&v) {
            return v;
        }
        last = v;
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("/healthz never got there: {last}");
}
