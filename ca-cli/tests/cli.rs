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
