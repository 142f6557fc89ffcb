#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Managed certificates: a short-lived certificate deployed into its directory, renewed with
//! a new key when its renewal window opens (clock moved with `CAFORGE_DANGER_CLOCK_SHIFT`),
//! redeployed atomically with the hook run; a failing hook is reported and retried. Hooks
//! are the configuration's: a row names one, creating, changing and running it is audited,
//! and it runs with none of caforge's secrets in its environment.

use caforge_tests::{managed_issue_args, openssl_ok, s, serial_of, Home, TEST_PASSPHRASE};

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

/// Runs `args` (owned) and asserts success.
fn ok_owned(h: &Home, args: &[String]) -> caforge_tests::Run {
    h.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Audit entries with `action`, as JSON.
fn audited(h: &Home, action: &str) -> Vec<serde_json::Value> {
    let r = h.ok(&["audit", "list", "--format", "json"]);
    serde_json::from_str::<Vec<serde_json::Value>>(&r.stdout)
        .unwrap()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[test]
fn a_managed_certificate_is_renewed_into_its_directory_and_the_hook_runs() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    h.configure("[hooks]\nlog-serial = 'echo \"$CAFORGE_SERIAL\" >> hook.log'");
    let dir = h.file("deploy");
    let dir_s = s(&dir).to_owned();
    let r = ok_owned(
        &h,
        &managed_issue_args(
            "svc.example",
            &dir_s,
            &[
                "--days",
                "3",
                "--deploy-hook",
                "log-serial",
                "--out",
                "first.pem",
            ],
        ),
    );
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
    h.configure("[hooks]\nreload = \"test -f ready || { echo 'reload refused' >&2; exit 3; }\"");
    let dir = h.file("svc");
    let dir_s = s(&dir).to_owned();
    let r = ok_owned(
        &h,
        &managed_issue_args(
            "flaky.example",
            &dir_s,
            &["--deploy-hook", "reload", "--out", "flaky.pem"],
        ),
    );
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

#[test]
fn hooks_come_from_the_configuration_are_audited_and_see_no_secrets() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    h.configure("[hooks]\nprint-env = \"env > env.txt\"\nquiet = \"true\"");
    let dir = h.file("env-svc");
    let dir_s = s(&dir).to_owned();
    // A command that is not a name the configuration allows is refused, and nothing is
    // issued.
    let before = h.ok(&["cert", "list", "--format", "json"]).stdout;
    let issue = |hook: &str| {
        managed_issue_args(
            "env.example",
            &dir_s,
            &["--days", "3", "--deploy-hook", hook],
        )
    };
    let refused = issue("env > env.txt");
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    h.fails(&refused, "not allowed by caforge.toml [hooks]");
    assert_eq!(h.ok(&["cert", "list", "--format", "json"]).stdout, before);

    // Every secret caforge knows of is in its environment; none reaches the hook.
    // (CAFORGE_DB names the home's own database: as a URL with a password would.)
    let db = format!("sqlite:{}", s(&h.home().join("caforge.db")));
    let secrets = [
        ("CAFORGE_PASSPHRASE", TEST_PASSPHRASE),
        ("CAFORGE_PIN", "env-pin-secret"),
        ("CAFORGE_DB", db.as_str()),
    ];
    let args = issue("print-env");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = h.run_with(&secrets, &args);
    assert!(r.ok, "{}", r.stderr);
    let seen = std::fs::read_to_string(dir.join("env.txt")).unwrap();
    for (name, value) in secrets {
        assert!(!seen.contains(name), "{name} reached the hook:\n{seen}");
        assert!(!seen.contains(value), "a secret reached the hook:\n{seen}");
    }
    assert!(!seen.contains("CAFORGE_PASSPHRASE_FILE"), "{seen}");
    assert!(seen.contains("CAFORGE_SERIAL="), "{seen}");
    assert!(seen.contains("PATH="), "{seen}");

    // Creating, changing and running the hook are each audited.
    let created = audited(&h, "managed.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["details"]["hook"], "print-env");
    assert_eq!(created[0]["details"]["deploy_dir"], dir_s.as_str());
    let ran = audited(&h, "hook.ran");
    assert_eq!(ran.len(), 1);
    assert_eq!(
        (&ran[0]["details"]["hook"], &ran[0]["details"]["ok"]),
        (&serde_json::json!("print-env"), &serde_json::json!(true))
    );
    let id = managed_list(&h)[0]["id"].as_i64().unwrap().to_string();
    h.fails(&["managed", "set-hook", &id, "rm -rf /"], "not allowed");
    h.ok(&["managed", "set-hook", &id, "quiet"]);
    h.ok(&["managed", "set-hook", &id, "--clear"]);
    let changed = audited(&h, "managed.hook_changed");
    assert_eq!(changed.len(), 2);
    assert_eq!(
        (&changed[0]["details"]["from"], &changed[0]["details"]["to"]),
        (&serde_json::json!("print-env"), &serde_json::json!("quiet"))
    );
    assert!(changed[1]["details"]["to"].is_null());
    h.ok(&["audit", "verify"]);

    // A hook the configuration stops allowing no longer runs: the row only names it.
    h.ok(&["managed", "set-hook", &id, "print-env"]);
    let config = h.home().join("caforge.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("print-env = \"env > env.txt\"", "");
    std::fs::write(&config, text).unwrap();
    let due = h.run_with(&[(SHIFT, "60h")], &["maintain"]);
    assert!(!due.ok);
    assert!(due.stderr.contains("not allowed"), "{}", due.stderr);
}

#[test]
fn deployment_directories_others_can_write_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let dir = h.file("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = ok_owned(&h, &managed_issue_args("shared.example", s(&dir), &[]));
    assert!(
        r.stderr.contains("writable by its group or by others"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("key.pem").exists(), "no key written there");
    // A link planted where caforge writes a temporary file is not followed.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim = h.file("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("key.pem")).unwrap();
    let fixed = h.run_with(&[(SHIFT, "1h")], &["maintain"]);
    assert!(fixed.ok, "{}", fixed.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert!(!std::fs::symlink_metadata(dir.join("key.pem"))
        .unwrap()
        .is_symlink());
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
}
