#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Managed certificates: a short-lived certificate deployed into its directory, renewed with
//! a new key when its renewal window opens (clock moved with `CAFORGE_DANGER_CLOCK_SHIFT`),
//! redeployed atomically with the hook run; a failing hook is reported and retried.

use caforge_tests::{openssl_ok, s, serial_of, Home};

const SHIFT: &str = "CAFORGE_DANGER_CLOCK_SHIFT";

fn managed_list(h: &Home) -> Vec<serde_json::Value> {
    let r = h.ok(&["managed", "list", "--format", "json"]);
    serde_json::from_str::<serde_json::Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The public key of the certificate and of the key in `dir` (they must match).
fn keys_match(h: &Home, dir: &str) -> bool {
    let cert = openssl_ok(
        h.path(),
        &[
            "x509",
            "-in",
            &format!("{dir}/cert.pem"),
            "-noout",
            "-pubkey",
        ],
    )
    .stdout;
    let key = openssl_ok(
        h.path(),
        &["pkey", "-in", &format!("{dir}/key.pem"), "-pubout"],
    )
    .stdout;
    cert == key
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_managed_certificate_is_renewed_into_its_directory_and_the_hook_runs() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let dir = h.file("deploy");
    let dir_s = s(&dir).to_owned();
    let r = h.ok(&[
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
        &dir_s,
        "--deploy-hook",
        "echo \"$CAFORGE_SERIAL\" >> hook.log",
        "--out",
        "first.pem",
    ]);
    assert!(r.stderr.contains("deployed to"), "{}", r.stderr);
    let first = serial_of(h.path(), "first.pem");
    for f in ["cert.pem", "chain.pem", "fullchain.pem", "key.pem"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
    assert_eq!(serial_of(h.path(), &format!("{dir_s}/cert.pem")), first);
    assert!(keys_match(&h, &dir_s));
    let root = h.export_ca("root");
    let verify = openssl_ok(
        h.path(),
        &[
            "verify",
            "-CAfile",
            s(&root),
            "-untrusted",
            &format!("{dir_s}/chain.pem"),
            &format!("{dir_s}/fullchain.pem"),
        ],
    );
    assert!(verify.stdout.contains(": OK"));
    let hook_log = || std::fs::read_to_string(dir.join("hook.log")).unwrap_or_default();
    assert_eq!(hook_log().trim(), first);
    let list = managed_list(&h);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "deployed");
    assert_eq!(list[0]["serial"], first.as_str());
    // Nothing to do before the renewal window (the last day of three).
    h.ok(&["maintain"]);
    assert_eq!(serial_of(h.path(), &format!("{dir_s}/cert.pem")), first);

    // In the window: a new certificate with a new key, linked to the old one, deployed.
    let old_key = std::fs::read_to_string(dir.join("key.pem")).unwrap();
    let pass = h.run_with(&[(SHIFT, "60h")], &["maintain", "--format", "json"]);
    assert!(pass.ok, "{}", pass.stderr);
    let pass: serde_json::Value = serde_json::from_str(&pass.stdout).unwrap();
    assert_eq!(pass["managed"]["renewed"], 1);
    assert_eq!(pass["managed"]["deployed"], 1);
    let second = serial_of(h.path(), &format!("{dir_s}/cert.pem"));
    assert_ne!(second, first);
    assert_ne!(
        std::fs::read_to_string(dir.join("key.pem")).unwrap(),
        old_key
    );
    assert!(keys_match(&h, &dir_s));
    assert_eq!(
        hook_log().lines().collect::<Vec<_>>(),
        vec![first.as_str(), second.as_str()]
    );
    let shown: serde_json::Value =
        serde_json::from_str(&h.ok(&["cert", "show", &second, "--format", "json"]).stdout).unwrap();
    assert_eq!(shown["predecessor"]["serial"], first.as_str());
    assert_eq!(shown["predecessor"]["kind"], "rekey");
    let list = managed_list(&h);
    assert_eq!(
        (list[0]["state"].as_str(), list[0]["serial"].as_str()),
        (Some("deployed"), Some(second.as_str()))
    );
    // No temporary files are left behind.
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The new certificate is not due yet: another pass does nothing.
    let again = h.run_with(&[(SHIFT, "60h")], &["maintain", "--format", "json"]);
    let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again["managed"]["renewed"], 0);
}

#[test]
fn a_failing_hook_is_reported_and_retried() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let dir = h.file("svc");
    let dir_s = s(&dir).to_owned();
    let r = h.ok(&[
        "issue",
        "--ca",
        "int",
        "--key-type",
        "p256",
        "--subject",
        "CN=flaky.example",
        "--san",
        "dns:flaky.example",
        "--managed",
        "--deploy-dir",
        &dir_s,
        "--deploy-hook",
        "test -f ready || { echo 'reload refused' >&2; exit 3; }",
        "--out",
        "flaky.pem",
    ]);
    assert!(r.stderr.contains("deployment failed"), "{}", r.stderr);
    // The files were written; the hook's failure is on record.
    assert!(dir.join("cert.pem").exists());
    let list = managed_list(&h);
    assert_eq!(list[0]["state"], "failed");
    assert_eq!(list[0]["attempts"], 1);
    let error = list[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("status 3") && error.contains("reload refused"),
        "{error}"
    );

    // Not retried before its backoff; retried (and failing again) after it.
    h.ok(&["maintain"]);
    assert_eq!(managed_list(&h)[0]["attempts"], 1);
    let failing = h.run_with(&[(SHIFT, "600")], &["maintain"]);
    assert!(!failing.ok, "a failed deployment makes maintain fail");
    assert!(
        failing.stderr.contains("reload refused"),
        "{}",
        failing.stderr
    );
    assert_eq!(managed_list(&h)[0]["attempts"], 2);

    // Once the hook can succeed, the next retry deploys.
    std::fs::write(dir.join("ready"), "").unwrap();
    h.ok(&["maintain"]);
    assert_eq!(
        managed_list(&h)[0]["state"],
        "failed",
        "still waiting for its backoff"
    );
    let fixed = h.run_with(&[(SHIFT, "2h")], &["maintain"]);
    assert!(fixed.ok, "{}", fixed.stderr);
    let list = managed_list(&h);
    assert_eq!(list[0]["state"], "deployed");
    assert_eq!(list[0]["attempts"], 0);
    assert!(list[0]["last_error"].is_null());

    // A managed certificate needs a key caforge holds, and a directory.
    h.fails(
        &[
            "issue",
            "--ca",
            "int",
            "--csr",
            "flaky.pem",
            "--managed",
            "--deploy-dir",
            &dir_s,
        ],
        "key-type",
    );
}
