//! One command-line grammar: the object a command acts on is positional, a certificate is
//! named by its serial or a unique part of it, monitoring leaves caforge's own responders
//! out, and quickstart keeps the port it wrote into its certificates.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use caforge_tests::{caforge_bin, cert_text, Home};

/// CA `int` under `root`, publishing on a port nothing serves, with a delegated responder.
fn delegated_intermediate(h: &Home) {
    h.create_intermediate(
        "root",
        "int",
        "p256",
        &[
            "--base-url",
            "http://127.0.0.1:9",
            "--ocsp-signer",
            "delegated",
        ],
    );
}

#[test]
fn a_certificate_is_named_by_a_unique_part_of_its_serial() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    let (_, a) = h.issue_leaf("root", "a");
    let (_, b) = h.issue_leaf("root", "b");
    // The last 8 hex digits (random) name one certificate; so does its lower-case spelling.
    let tail = &a[a.len() - 8..];
    let shown = h.ok(&["cert", "show", tail, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&shown.stdout).expect("json");
    assert_eq!(v["serial"], a.as_str());
    let shown = h.ok(&["cert", "show", &tail.to_ascii_lowercase(), "--pem"]);
    assert!(shown.stdout.contains("BEGIN CERTIFICATE"));
    // The first 8 digits are a marker and a time stamp (its top bits change every 4.6
    // hours) that certificates made together share: ambiguous, and the error lists them.
    let shared = a[..8] == b[..8];
    if shared {
        let r = h.fails(&["cert", "show", &a[..8]], "certificates: ");
        assert!(
            r.stderr.contains(&a) && r.stderr.contains(&b),
            "{}",
            r.stderr
        );
    }
    // Fewer than 8 digits name nothing, and say how many are needed.
    h.fails(
        &["cert", "show", &a[a.len() - 7..]],
        "at least 8 hex digits",
    );
    h.fails(&["cert", "show", "not-hex!"], "is not a hex serial number");
    // Commands that change a certificate take the same names and say which one they changed.
    let revoked = h.ok(&["revoke", tail, "--reason", "superseded"]);
    assert!(
        revoked.stdout.contains(&a) || revoked.stderr.contains(&a),
        "{revoked:?}"
    );
    let listed = h.cert_list();
    let status = |serial: &str| {
        listed
            .iter()
            .find(|c| c["serial"] == serial)
            .map(|c| c["status"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(status(&a).as_deref(), Some("revoked"));
    assert_eq!(status(&b).as_deref(), Some("valid"));
    // An ambiguous part changes nothing.
    if shared {
        h.fails(
            &["revoke", &b[..8], "--reason", "superseded"],
            "certificates: ",
        );
    }
    assert_eq!(
        h.cert_list()
            .iter()
            .filter(|c| c["status"] == "revoked")
            .count(),
        1
    );
}

#[test]
fn the_ca_a_command_acts_on_is_positional_and_crl_out_dir_is_created() {
    let h = Home::new();
    h.create_root(
        "root",
        "p256",
        &["--base-url", "http://127.0.0.1:9", "--partitions", "2"],
    );
    delegated_intermediate(&h);
    // `crl CA`, and the older `crl --ca CA`; a directory that does not exist is made.
    h.ok(&["crl", "root", "--out-dir", "crls/new"]);
    assert!(h.file("crls/new").read_dir().expect("dir").count() >= 2);
    h.ok(&["crl", "--ca", "int", "--out", "int.crl"]);
    let r = h.run(&["crl", "root", "--ca", "root", "--out", "x.crl"]);
    assert!(!r.ok && r.stderr.contains("cannot be used with"), "{r:?}");
    // A file where the directory should be is refused before anything is signed.
    std::fs::write(h.file("taken"), b"x").expect("write");
    h.fails(
        &["crl", "int", "--out-dir", "taken"],
        "exists and is not a directory",
    );
    // `ocsp rotate-responder CA`, `ocsp presign CA`.
    let rotated = h.ok(&["ocsp", "rotate-responder", "int"]);
    assert!(
        rotated.stdout.contains("issued OCSP responder"),
        "{rotated:?}"
    );
    let presigned = h.ok(&["ocsp", "presign", "int"]);
    assert!(presigned.stdout.contains("pre-signed"), "{presigned:?}");
    let usage = h.run(&["ocsp", "rotate-responder"]);
    assert!(!usage.ok && usage.stderr.contains("<CA>"), "{usage:?}");
}

#[test]
fn monitoring_leaves_out_caforges_own_responders_unless_asked() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    delegated_intermediate(&h);
    // The delegated responder lasts 7 days: it expires within 30 days.
    let listed = h.ok(&["cert", "list", "--expiring", "30d", "--format", "json"]);
    assert_eq!(listed.stdout.trim(), "[]", "{}", listed.stdout);
    h.ok(&["cert", "list", "--expiring", "30d", "--fail-if-any"]);
    let all = h.ok(&[
        "cert",
        "list",
        "--expiring",
        "30d",
        "--include-internal",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&all.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["profile"], "ocsp-signing");
    h.fails(
        &[
            "cert",
            "list",
            "--expiring",
            "30d",
            "--include-internal",
            "--fail-if-any",
        ],
        "1 certificate matches",
    );
}

/// Runs `caforge --home demo quickstart ARGS` in `dir` with nothing inherited.
fn quickstart(dir: &std::path::Path, args: &[&str]) -> caforge_tests::Run {
    std::process::Command::new(caforge_bin())
        .current_dir(dir)
        .env_remove("CAFORGE_HOME")
        .env_remove("CAFORGE_PASSPHRASE")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .env_remove("CAFORGE_DB")
        .args(["--home", "demo", "quickstart"])
        .args(args)
        .output()
        .expect("quickstart")
        .into()
}

#[test]
fn quickstart_writes_the_port_of_its_certificates_and_refuses_a_busy_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A busy port is an error with a hint, and leaves no home behind.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    let r = quickstart(dir.path(), &["--port", &port]);
    assert!(!r.ok, "{r:?}");
    assert!(
        r.stderr.contains("is in use") && r.stderr.contains("--port 0"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("demo").exists());
    drop(busy);
    // Without serving: the port asked for is in the certificates and in caforge.toml.
    let r = quickstart(
        dir.path(),
        &["--no-serve", "--port", "18099", "--format", "json"],
    );
    assert!(r.ok, "{r:?}");
    let built: serde_json::Value = serde_json::from_str(&r.stdout).expect("quickstart JSON");
    assert_eq!(built["listen"], "127.0.0.1:18099");
    assert_eq!(built["serving"], false);
    assert_eq!(built["hierarchies"][1]["issuing"]["key_type"], "sm2");
    let toml = std::fs::read_to_string(dir.path().join("demo/caforge.toml")).expect("toml");
    assert!(toml.contains("listen = \"127.0.0.1:18099\""), "{toml}");
    let text = cert_text(dir.path(), "demo/quickstart/rsa/localhost.pem");
    assert!(
        text.contains("http://127.0.0.1:18099/ocsp")
            && text.contains("http://127.0.0.1:18099/crl/"),
        "{text}"
    );
}

/// `caforge --home H ARGS --name r --key-type p256` with no passphrase from the
/// environment: (exit code, stderr).
fn without_secrets(h: &Home, args: &[&str]) -> (Option<i32>, String) {
    let r = std::process::Command::new(caforge_bin())
        .current_dir(h.path())
        .env_remove("CAFORGE_PASSPHRASE")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .arg("--home")
        .arg(h.home())
        .args(args)
        .args(["--name", "r", "--key-type", "p256"])
        .output()
        .expect("run");
    (
        r.status.code(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    )
}

#[test]
fn errors_say_what_is_wrong_and_how_to_give_what_is_missing() {
    let h = Home::new();
    // A passphrase file that cannot be read is named, with its cause, as rejected input.
    let (code, stderr) = without_secrets(
        &h,
        &[
            "--passphrase-file",
            "/nonexistent/pass",
            "ca",
            "create-root",
        ],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot read the passphrase file /nonexistent/pass: No such file"),
        "{stderr}"
    );
    // No passphrase at all: one message listing every way to give one.
    let (_, stderr) = without_secrets(&h, &["ca", "create-root"]);
    assert!(
        stderr.contains("--passphrase-file FILE")
            && stderr.contains("CAFORGE_PASSPHRASE_FILE")
            && stderr.contains("CAFORGE_PASSPHRASE)"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // PostgreSQL that refuses the connection: the network's own answer, not a pool time-out.
    let r = h.run(&["--db", "postgres://nobody@127.0.0.1:1/none", "ca", "list"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("127.0.0.1:1") && r.stderr.to_lowercase().contains("refused"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("timed out"), "{}", r.stderr);
}

#[test]
fn acting_on_an_expired_certificate_needs_force() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    let (_, serial) = h.issue_leaf("root", "old");
    // 100 days on, the 90-day certificate has expired.
    let later = [("CAFORGE_DANGER_CLOCK_SHIFT", "100d")];
    for args in [
        vec!["revoke", serial.as_str(), "--reason", "superseded"],
        vec!["renew", serial.as_str(), "--out", "renewed.pem"],
    ] {
        let r = h.run_with(&later, &args);
        assert!(!r.ok, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("expired on") && r.stderr.contains("--force"),
            "{}",
            r.stderr
        );
    }
    // Nothing changed.
    assert_eq!(h.cert_count(), 2);
    assert!(h.cert_list().iter().all(|c| c["status"] != "revoked"));
    let r = h.run_with(
        &later,
        &["revoke", &serial, "--reason", "superseded", "--force"],
    );
    assert!(r.ok, "{r:?}");
    assert!(r.stderr.contains("warning:") && r.stderr.contains("expired on"));
}

#[test]
fn with_format_json_errors_are_json_on_stderr_with_their_kind() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    for (args, kind, code) in [
        (
            vec!["cert", "show", "0123456789ABCDEF", "--format", "json"],
            "not-found",
            4,
        ),
        (vec!["ca", "show", "nope", "--format=json"], "not-found", 4),
        (
            vec!["cert", "list", "--status", "weird", "--format", "json"],
            "rejected",
            3,
        ),
        (
            vec!["cert", "list", "--no-such-flag", "--format", "json"],
            "usage",
            2,
        ),
    ] {
        let r = h.run(&args);
        assert!(!r.ok && r.stdout.is_empty(), "{args:?}: {r:?}");
        let v: serde_json::Value = serde_json::from_str(r.stderr.trim())
            .unwrap_or_else(|e| panic!("{args:?}: stderr is not JSON ({e}): {}", r.stderr));
        assert_eq!(v["error"]["kind"], kind, "{v}");
        assert_eq!(v["error"]["exit_code"], code, "{v}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

/// Makes a file read-only until dropped: immutable (`chattr +i`, which even root cannot
/// write through, as CI runs), or else mode 0444 (enough for a user who is not root).
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(path: std::path::PathBuf) -> Immutable {
        let immutable = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !immutable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))
                .expect("chmod 0444");
        }
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o600));
    }
}

#[test]
fn a_read_only_database_is_named_and_serve_refuses_it() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    let db = h.home().join("caforge.db");
    let _guard = Immutable::new(db.clone());
    // Reading still works.
    h.ok(&["ca", "list"]);
    // A write says which file to check, and changes nothing.
    let (args, _) = h.issue_leaf_args("root", "ro");
    let r = h.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!r.ok);
    assert!(
        r.stderr.contains("the database refuses writes")
            && r.stderr.contains(&format!("may write {}", db.display())),
        "{}",
        r.stderr
    );
    // serve does not start on it (it used to report ok).
    let r = h.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!r.ok, "{r:?}");
    assert!(
        r.stderr
            .contains("cannot serve: the database refuses writes"),
        "{}",
        r.stderr
    );
}
