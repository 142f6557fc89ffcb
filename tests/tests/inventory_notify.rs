#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! The inventory of certificates caforge did not issue (made here with `openssl`), expiry
//! listings for monitoring, and webhook reminders delivered to a local receiver while the
//! clock is moved forward (`CAFORGE_DANGER_CLOCK_SHIFT`): each threshold once, never again
//! after a restart, failed deliveries retried.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use caforge_tests::{openssl_ok, outside_pki, s, serial_of, Home};

const SHIFT: &str = "CAFORGE_DANGER_CLOCK_SHIFT";
const DAY: i64 = 86_400;

fn json(h: &Home, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let r = h.run_with(env, &all);
    assert!(r.ok, "caforge {all:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("json output")
}

/// The outside PKI (see [`outside_pki`]) with a `vendor.example` leaf.
fn openssl_pki(h: &Home, leaf_days: &str) -> (String, String) {
    outside_pki(h.path(), "vendor.example", leaf_days)
}

#[test]
fn import_deduplicates_links_issuers_and_skips_garbage() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let (ca, leaf) = openssl_pki(&h, "20");
    // A certificate OpenSSL signs with caforge's own intermediate key (its encrypted PKCS#8
    // file opens with the passphrase): the import links it to that CA.
    openssl_ok(
        h.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "side.key",
            "-subj",
            "/CN=side.example",
            "-out",
            "side.csr",
        ],
    );
    let int = h.export_ca("int");
    let int_key = h.home().join("keys/int.key.pem");
    openssl_ok(
        h.path(),
        &[
            "x509",
            "-req",
            "-in",
            "side.csr",
            "-CA",
            s(&int),
            "-CAkey",
            s(&int_key),
            "-passin",
            "file:pass.txt",
            "-days",
            "30",
            "-out",
            "side.pem",
        ],
    );
    // A bundle (leaf then CA, with a key block and prose between), a DER file, a
    // caforge-issued certificate, garbage, and a directory holding some of them again.
    let bundle = format!(
        "leaf and its CA\n{}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{}",
        std::fs::read_to_string(h.file(&leaf)).unwrap(),
        std::fs::read_to_string(h.file(&ca)).unwrap()
    );
    std::fs::write(h.file("bundle.pem"), bundle).unwrap();
    openssl_ok(
        h.path(),
        &[
            "x509", "-in", "side.pem", "-outform", "DER", "-out", "side.der",
        ],
    );
    let (ours, our_serial) = h.issue_leaf("int", "ours");
    std::fs::create_dir(h.file("certs")).unwrap();
    std::fs::copy(h.file("bundle.pem"), h.file("certs/again.pem")).unwrap();
    std::fs::write(h.file("certs/notes.txt"), "not a certificate").unwrap();
    std::fs::write(h.file("certs/broken.der"), [0x30, 0x82, 0x01]).unwrap();

    let before = h.cert_count();
    let r = h.run(&[
        "inventory",
        "import",
        "bundle.pem",
        "side.der",
        &ours,
        "certs",
        "--format",
        "json",
    ]);
    assert!(!r.ok, "garbage must give a non-zero exit");
    assert!(
        r.stderr.contains("notes.txt") && r.stderr.contains("broken.der"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"));
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["added"], 3, "{report}");
    assert_eq!(report["duplicates"], 2, "{report}");
    assert_eq!(report["issued_by_caforge"], 1, "{report}");
    assert_eq!(report["skipped"].as_array().unwrap().len(), 2);

    let inv = json(&h, &[], &["inventory", "list"]);
    let inv = inv.as_array().unwrap();
    assert_eq!(inv.len(), 3);
    let find = |cn: &str| {
        inv.iter()
            .find(|r| r["subject"] == format!("CN={cn}"))
            .unwrap()
    };
    assert_eq!(find("side.example")["issuer_ca"], "int");
    assert_eq!(
        find("vendor.example")["issuer_inventory_id"],
        find("Outside CA")["id"]
    );
    assert_eq!(
        find("vendor.example")["sans"],
        serde_json::json!(["dns:vendor.example"])
    );
    // Re-importing changes nothing.
    let again = json(&h, &[], &["inventory", "import", "bundle.pem"]);
    assert_eq!(
        (again["added"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );

    // Listings show them as external; caforge refuses to revoke them.
    let list = json(&h, &[], &["cert", "list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), before + 3);
    assert_eq!(list.iter().filter(|c| c["external"] == true).count(), 3);
    let vendor_serial = serial_of(h.path(), &leaf);
    h.fails(
        &["revoke", &vendor_serial, "--reason", "keyCompromise"],
        "cannot revoke",
    );
    assert!(json(&h, &[], &["cert", "show", &our_serial])["status"] == "valid");

    // Expiry monitoring covers both kinds: the 20-day vendor leaf and the 30-day side
    // certificate expire within 31 days; caforge's leaf (90 days) does not.
    let soon = json(&h, &[], &["cert", "list", "--expiring", "31d"]);
    assert_eq!(soon.as_array().unwrap().len(), 2, "{soon}");
    let fail = h.run(&["cert", "list", "--expiring", "31d", "--fail-if-any"]);
    assert!(
        !fail.ok && fail.stderr.contains("2 certificates match"),
        "{}",
        fail.stderr
    );
    let quiet = h.run(&["cert", "list", "--expiring", "10d", "--fail-if-any"]);
    assert!(quiet.ok, "{}", quiet.stderr);

    // Removal, by fingerprint prefix.
    let fp = find("vendor.example")["fingerprint_sha256"]
        .as_str()
        .unwrap()[..12]
        .to_owned();
    h.ok(&["inventory", "remove", &fp]);
    h.fails(&["inventory", "remove", &fp], "no inventory certificate");
    h.fails(&["inventory", "remove", "zz"], "fingerprint prefix");
    assert_eq!(
        json(&h, &[], &["inventory", "list"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    h.ok(&["audit", "verify"]);
}

/// A webhook receiver on 127.0.0.1: records each JSON body; answers with the next status
/// from `script` (200 once it is empty).
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<Vec<u16>>> = Arc::new(Mutex::new(Vec::new()));
        let (b, sc) = (Arc::clone(&bodies), Arc::clone(&script));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let status = {
                    let mut s = sc.lock().unwrap();
                    if s.is_empty() {
                        200
                    } else {
                        s.remove(0)
                    }
                };
                if status == 200 {
                    b.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver {
            url,
            bodies,
            script,
        }
    }

    fn delivered(&self) -> Vec<(String, u64)> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["subject"].as_str().unwrap().to_owned(),
                    b["threshold_days"].as_u64().unwrap(),
                )
            })
            .collect()
    }
}

/// A home with root → int (P-256) whose caforge.toml sends reminders to a new receiver;
/// `before` goes ahead of the `[notify]` table, `notify` inside it.
fn home_with_webhook(before: &str, notify: &str) -> (Home, Receiver) {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let receiver = Receiver::start();
    h.configure(&format!(
        "{before}\n[notify]\nwebhooks = [\"{}\"]\n{notify}",
        receiver.url
    ));
    (h, receiver)
}

#[test]
fn webhooks_hear_each_threshold_once_and_failures_are_retried() {
    let (h, receiver) = home_with_webhook("", "thresholds_days = [30, 15, 7, 1]");
    // A 40-day caforge certificate, and a 20-day imported one.
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--key-type",
        "p256",
        "--subject",
        "CN=short.example",
        "--san",
        "dns:short.example",
        "--days",
        "40",
        "--key-out",
        "short.key",
        "--no-encrypt-key",
        "--out",
        "short.pem",
    ]);
    let (_, leaf) = openssl_pki(&h, "20");
    h.ok(&["inventory", "import", &leaf]);

    let pass = |shift_secs: i64| {
        let shift = shift_secs.to_string();
        json(&h, &[(SHIFT, &shift)], &["notify", "run"])
    };
    // Day 0: the imported certificate came in already within 30 days: it owes the 30-day
    // reminder at once (an issued one would not; nothing else is due yet).
    let now = pass(0);
    assert_eq!(
        (now["recorded"].as_u64(), now["delivered"].as_u64()),
        (Some(1), Some(1)),
        "{now}"
    );
    assert_eq!(
        receiver.delivered(),
        vec![("CN=vendor.example".to_owned(), 30)]
    );

    // Day 11: the 40-day certificate is within 30 days; the imported one (20 days when it
    // was imported) within 15. One POST each.
    let day11 = pass(11 * DAY);
    assert_eq!(
        (day11["recorded"].as_u64(), day11["delivered"].as_u64()),
        (Some(2), Some(2)),
        "{day11} {:?} {}",
        receiver.delivered(),
        h.ok(&["inventory", "list"]).stdout
    );
    let mut got = receiver.delivered();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("CN=short.example".to_owned(), 30),
            ("CN=vendor.example".to_owned(), 15),
            ("CN=vendor.example".to_owned(), 30),
        ]
    );
    let body = receiver.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["event"], "certificate.expiring");
    assert!(body["fingerprint_sha256"].as_str().unwrap().len() == 64);
    // Each run is a fresh process (a restart): nothing is sent twice.
    let again = pass(11 * DAY);
    assert_eq!(
        (again["recorded"].as_u64(), again["delivered"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(receiver.delivered().len(), 3);

    // Day 19 (plus an hour): the imported certificate reached 7 and 1 days at once (the
    // 7-day reminder was due while nothing ran: late, but not skipped). The receiver fails
    // both deliveries, so both wait for a retry.
    let day19 = 19 * DAY + 3600;
    receiver.script.lock().unwrap().extend([500, 500]);
    let first = pass(day19);
    assert_eq!(
        (first["recorded"].as_u64(), first["retrying"].as_u64()),
        (Some(2), Some(2)),
        "{first}"
    );
    let status = json(&h, &[], &["notify", "status"]);
    let pending: Vec<&serde_json::Value> = status
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "pending")
        .collect();
    assert_eq!(pending.len(), 2);
    for n in &pending {
        assert_eq!(n["attempts"], 1);
        assert!(
            n["last_error"].as_str().unwrap().contains("HTTP 500"),
            "{n}"
        );
    }
    // Before the backoff has passed nothing is retried; after it, both are delivered.
    let early = pass(day19 + 10);
    assert_eq!(early["delivered"], 0);
    let later = pass(day19 + 120);
    assert_eq!(later["delivered"], 2, "{later}");
    // Day 26: the caforge certificate's 15-day reminder; the expired import owes nothing.
    let day26 = pass(26 * DAY);
    assert_eq!(
        (day26["recorded"].as_u64(), day26["delivered"].as_u64()),
        (Some(1), Some(1))
    );
    let mut got = receiver.delivered();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("CN=short.example".to_owned(), 15),
            ("CN=short.example".to_owned(), 30),
            ("CN=vendor.example".to_owned(), 1),
            ("CN=vendor.example".to_owned(), 7),
            ("CN=vendor.example".to_owned(), 15),
            ("CN=vendor.example".to_owned(), 30),
        ]
    );
    let status = json(&h, &[], &["notify", "status"]);
    assert_eq!(status.as_array().unwrap().len(), 6);
    assert!(status
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["state"] == "delivered"));

    // Without webhooks, `notify run` says what to configure.
    let bare = Home::new();
    bare.fails(&["notify", "run"], "no webhooks configured");
}

#[test]
fn serve_sends_reminders_and_renews_managed_certificates_on_its_own() {
    let (h, receiver) =
        home_with_webhook("[server]\nrefresh_interval_secs = 1\n", "interval_secs = 1");
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--key-type",
        "p256",
        "--subject",
        "CN=month.example",
        "--san",
        "dns:month.example",
        "--days",
        "31",
        "--key-out",
        "month.key",
        "--no-encrypt-key",
        "--out",
        "month.pem",
    ]);
    let deploy = h.file("deploy");
    h.ok(&[
        "issue",
        "--ca",
        "int",
        "--key-type",
        "p256",
        "--subject",
        "CN=svc.example",
        "--san",
        "dns:svc.example",
        "--days",
        "3",
        "--managed",
        "--deploy-dir",
        s(&deploy),
        "--out",
        "svc.pem",
    ]);
    let first = serial_of(h.path(), "svc.pem");

    // 60 hours on, the 31-day certificate is within 30 days and the 3-day managed one is in
    // its renewal window: the server's own schedule handles both.
    let _server = caforge_tests::server::Server::start_with(&h, &[(SHIFT, "60h")]);
    let deployed = || serial_of(h.path(), s(&deploy.join("cert.pem")));
    let started = std::time::Instant::now();
    while (receiver.delivered().len() < 2 || deployed() == first)
        && started.elapsed() < std::time::Duration::from_secs(30)
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The month certificate's 30-day reminder, once; the 3-day certificate (12 hours left)
    // owes its 1-day reminder too.
    let mut got = receiver.delivered();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("CN=month.example".to_owned(), 30),
            ("CN=svc.example".to_owned(), 1)
        ]
    );
    assert_ne!(
        deployed(),
        first,
        "the managed certificate was renewed and deployed"
    );
}
