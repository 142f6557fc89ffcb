#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Golden output of the important commands (regenerate with CAFORGE_BLESS=1).

use std::path::Path;
use std::process::Command;

fn caforge(home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caforge"))
        .env_remove("CAFORGE_HOME")
        .env_remove("CAFORGE_DB")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .env("CAFORGE_PASSPHRASE", "golden-test-only")
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("CAFORGE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        actual, expected,
        "golden file {name} differs (CAFORGE_BLESS=1 to update)"
    );
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = caforge(dir.path(), &["--help"]);
    assert!(ok);
    golden("help.txt", &out);
}

#[test]
fn empty_listings() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    assert!(caforge(&home, &["init"]).0);
    let (ok, out, _) = caforge(&home, &["ca", "list"]);
    assert!(ok);
    golden("ca-list-empty.txt", &out);
    let (ok, out, _) = caforge(&home, &["cert", "list", "--format", "json"]);
    assert!(ok);
    assert_eq!(out.trim(), "[]");
    let (ok, _, err) = caforge(&home, &["init"]);
    assert!(!ok);
    assert!(err.contains("is already a caforge home"), "{err}");
}

/// The exit status of `caforge --home HOME ARGS` with `passphrase`.
fn exit_status(home: &Path, passphrase: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caforge"))
        .env_remove("CAFORGE_HOME")
        .env_remove("CAFORGE_DB")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .env("CAFORGE_PASSPHRASE", passphrase)
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Each kind of failure exits with its own status (the README's table).
#[test]
fn exit_codes_follow_the_kind_of_error() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let pass = "golden-test-only";
    assert_eq!(exit_status(&home, pass, &["init"]).0, 0);
    let root = [
        "ca",
        "create-root",
        "--allow-leaves",
        "true",
        "--name",
        "root",
        "--key-type",
        "p256",
    ];
    assert_eq!(exit_status(&home, pass, &root).0, 0);
    let garbage = dir.path().join("garbage.csr");
    std::fs::write(&garbage, "not a CSR").unwrap();
    let garbage = garbage.to_str().unwrap();
    let cases: &[(&str, &[&str], i32)] = &[
        (pass, &["ca", "frobnicate"], 2),
        // An unknown status is rejected input; an existing output file is the CLI's own
        // failure (1).
        (pass, &["cert", "list", "--status", "bogus"], 3),
        (pass, &["ca", "export", "root", "--out", garbage], 1),
        (pass, &["issue", "--ca", "root", "--csr", garbage], 3),
        (pass, &["--db", "mysql://u@db/ca", "ca", "list"], 3),
        (pass, &["ca", "show", "nope"], 4),
        (pass, &root, 5),
        (
            "wrong passphrase",
            &[
                "issue",
                "--ca",
                "root",
                "--subject",
                "CN=x",
                "--key-type",
                "p256",
                "--no-encrypt-key",
                "--key-out",
                "k.pem",
                "--san",
                "dns:x.example",
            ],
            6,
        ),
        (
            pass,
            &["--db", "postgres://u@127.0.0.1:1/ca", "ca", "list"],
            9,
        ),
    ];
    for (passphrase, args, want) in cases {
        let (got, err) = exit_status(&home, passphrase, args);
        assert_eq!(got, *want, "caforge {}: {err}", args.join(" "));
    }
    // A core message names no flag; the CLI adds how to give it what is missing.
    let out = Command::new(env!("CARGO_BIN_EXE_caforge"))
        .env_remove("CAFORGE_HOME")
        .env_remove("CAFORGE_DB")
        .env_remove("CAFORGE_PASSPHRASE_FILE")
        .env_remove("CAFORGE_PASSPHRASE")
        .arg("--home")
        .arg(&home)
        .args(["crl", "--ca", "root"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("error: a passphrase is required"), "{err}");
    assert!(err.contains("(pass --passphrase-file FILE"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A reader that goes away (`caforge cert list --format json | head -1`, `caforge ca list
/// | head -1`) ends the listing quietly: no panic, success — as JSON and as text.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    assert!(caforge(&home, &["init"]).0);
    let root = [
        "ca",
        "create-root",
        "--allow-leaves",
        "true",
        "--name",
        "root",
        "--key-type",
        "p256",
    ];
    assert!(caforge(&home, &root).0);
    for args in [
        &["cert", "list", "--format", "json"][..],
        &["ca", "list", "--format", "json"][..],
        &["ca", "list"][..],
        &["cert", "list"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_caforge"))
            .env_remove("CAFORGE_HOME")
            .env_remove("CAFORGE_DB")
            .arg("--home")
            .arg(&home)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before caforge has opened its store, let alone written.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.status.success(), "{args:?}: {err}");
    }
}
