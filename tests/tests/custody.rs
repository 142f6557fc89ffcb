#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Custody of what a home keeps: database files only its user reads, a home that keeps
//! the database it was made on, and key devices only the configuration may name.

use std::os::unix::fs::PermissionsExt as _;

use caforge_tests::{s, Home};

/// `ca create-root --name NAME --key-type p256 EXTRA…`.
fn create_root<'a>(name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["ca", "create-root", "--name", name, "--key-type", "p256"];
    args.extend_from_slice(extra);
    args
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_database_and_its_wal_are_private() {
    let h = Home::new();
    h.ok(&create_root("root", &[]));
    let db = h.home().join("caforge.db");
    assert_eq!(mode(&db), 0o600);
    // The WAL and shared-memory files live while a connection is open: a server's.
    let server = caforge_tests::server::Server::start(&h);
    for f in ["caforge.db-wal", "caforge.db-shm"] {
        let f = h.home().join(f);
        assert!(f.exists(), "{} while serving", f.display());
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    drop(server);
    assert_eq!(mode(&h.home().join("caforge.toml")), 0o600);
    // A database made before this (0644) is narrowed the next time it is opened.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    h.ok(&["ca", "list"]);
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn init_records_the_database_it_was_given() {
    let h = Home::empty();
    let other = h.file("elsewhere.db");
    let url = format!("sqlite:{}", s(&other));
    h.ok(&["--db", &url, "init"]);
    let config = std::fs::read_to_string(h.home().join("caforge.toml")).unwrap();
    assert!(
        config.contains(&format!("database = \"{url}\"")),
        "{config}"
    );
    assert!(!h.home().join("caforge.db").exists(), "no second database");
    // Later commands, without --db, use that database.
    h.ok(&create_root("kept", &[]));
    assert!(h.ok(&["ca", "list"]).stdout.contains("kept"));
    let listed = h.ok(&["--db", &url, "ca", "list"]);
    assert!(listed.stdout.contains("kept"), "{}", listed.stdout);
    assert!(!h.home().join("caforge.db").exists(), "no second database");
    assert_eq!(mode(&other), 0o600);
}

#[test]
fn a_pkcs11_module_the_configuration_does_not_list_is_never_loaded() {
    let h = Home::new();
    // A module that exists nowhere: were it loaded, the error would say it cannot be.
    let store = "pkcs11:token=t?module-path=/opt/untrusted/libevil.so";
    let r = h.fails(
        &create_root("r", &["--key-store", store]),
        "not listed in caforge.toml [keys] pkcs11_modules",
    );
    assert!(!r.stderr.contains("cannot load"), "{}", r.stderr);
    assert_eq!(
        h.ok(&["ca", "list", "--format", "json"]).stdout.trim(),
        "[]"
    );
    // Listed, it is tried (and, not existing, is unavailable).
    h.configure("[keys]\npkcs11_modules = [\"/opt/untrusted/libevil.so\"]");
    h.fails(
        &create_root("r", &["--pin-file", "pass.txt", "--key-store", store]),
        "cannot load PKCS#11 module",
    );
}
