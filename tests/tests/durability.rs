#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Durability: a certificate the issuance API returned is in the store, even when the
//! server is killed (SIGKILL) while issuing; nothing outside the store, the audit chain
//! intact afterwards.

use std::process::Command;
use std::sync::{Arc, Mutex};

use caforge_tests::server::{token, Server};
use caforge_tests::{p256_csr, Home};

/// POSTs an issuance with curl; returns the serial when the server answered 201 with one.
fn issue(url: &str, bearer: &str, body: &str) -> Option<String> {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "-H",
            &format!("Authorization: Bearer {bearer}"),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
            "-w",
            "\n%{http_code}",
            &format!("{url}/api/v1/certificates"),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let (json, code) = text.rsplit_once('\n')?;
    if code.trim() != "201" {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["serial"].as_str().map(str::to_owned)
}

#[test]
fn certificates_returned_before_a_kill_9_are_all_in_the_store() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let bearer = token(&h, "int", "tls-server");
    let csr = p256_csr(h.path(), "app", "/CN=app.example");
    let body =
        serde_json::json!({"ca": "int", "csr": csr, "sans": ["dns:app.example"], "days": 30})
            .to_string();
    let server = Server::start(&h);
    let url = server.url.clone();
    let returned = Arc::new(Mutex::new(Vec::new()));
    // Eight clients issue until the server dies under them.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (url, bearer, body, returned) = (
                url.clone(),
                bearer.clone(),
                body.clone(),
                Arc::clone(&returned),
            );
            std::thread::spawn(move || {
                for _ in 0..200 {
                    match issue(&url, &bearer, &body) {
                        Some(serial) => returned.lock().unwrap().push(serial),
                        None => return,
                    }
                }
            })
        })
        .collect();
    // Kill -9 while requests are in flight (after some have been answered).
    while returned.lock().unwrap().len() < 40 {
        assert!(
            !clients.iter().all(std::thread::JoinHandle::is_finished),
            "the clients stopped before 40 certificates were issued"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(server); // SIGKILL
    for c in clients {
        c.join().unwrap();
    }
    let returned = returned.lock().unwrap().clone();
    assert!(returned.len() >= 40, "only {} issued", returned.len());

    // Every certificate a client got back is stored, listed and audited.
    let listed = h.ok(&["cert", "list", "--ca", "int", "--format", "json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
    let stored: std::collections::HashSet<&str> =
        listed.iter().filter_map(|c| c["serial"].as_str()).collect();
    for serial in &returned {
        assert!(
            stored.contains(serial.as_str()),
            "returned {serial} is not stored"
        );
    }
    assert!(h.ok(&["audit", "verify"]).stdout.contains("intact"));
    // The store opens and issues again after the kill.
    let (pem, serial) = h.issue_leaf("int", "after");
    assert!(std::path::Path::new(&pem).exists() && !serial.is_empty());
}
