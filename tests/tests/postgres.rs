#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! The CLI on a PostgreSQL store (`database = "postgres://…"`): a hierarchy, issuance, a dual
//! pair, revocation and a CRL, checked with OpenSSL. Skipped, visibly, without
//! `CAFORGE_TEST_POSTGRES_URL` (`.ci/run` sets it).

use std::process::Command;

use caforge_tests::{openssl_ok, s, Home};

/// Runs SQL on the admin database with `psql`.
fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_cli_runs_a_ca_on_postgresql() {
    let Ok(admin) = std::env::var("CAFORGE_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED the_cli_runs_a_ca_on_postgresql: set CAFORGE_TEST_POSTGRES_URL");
        return;
    };
    let name = format!("caforge_cli_{}", std::process::id());
    psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(&admin, &format!("CREATE DATABASE {name}"));
    let base = admin.split('?').next().unwrap();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);

    let h = Home::new();
    let config = h.home().join("caforge.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "database = \"sqlite:caforge.db\"",
        &format!("database = \"{url}\""),
    );
    std::fs::write(&config, text).unwrap();
    // `init` made the default SQLite file; from here on nothing may use it.
    for f in ["caforge.db", "caforge.db-wal", "caforge.db-shm"] {
        let _ = std::fs::remove_file(h.home().join(f));
    }

    h.root_and_intermediate("p256", &[], &[]);
    let (leaf, serial) = h.issue_leaf("int", "www");
    let chain = h.file("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read(h.export_ca("root")).unwrap(),
            std::fs::read(h.export_ca("int")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let v = openssl_ok(h.path(), &["verify", "-CAfile", s(&chain), &leaf]);
    assert!(v.stdout.contains(": OK"), "{v:?}");
    // A pair, committed in one PostgreSQL transaction.
    h.ok(&["ca", "create-root", "--name", "gm", "--key-type", "sm2"]);
    h.ok(&[
        "issue-dual",
        "--mode",
        "rsa-sm2",
        "--rsa-ca",
        "int",
        "--sm2-ca",
        "gm",
        "--subject",
        "CN=dual.example",
        "--san",
        "dns:dual.example",
        "--out-dir",
        "pair",
        "--no-encrypt-key",
    ]);
    assert_eq!(h.cert_count(), 6);
    h.ok(&["revoke", &serial, "--reason", "keyCompromise"]);
    h.ok(&["crl", "--ca", "int", "--out", "int.crl"]);
    let crl = openssl_ok(
        h.path(),
        &[
            "crl",
            "-in",
            "int.crl",
            "-CAfile",
            s(&chain),
            "-noout",
            "-text",
        ],
    );
    assert!(crl.stdout.contains(&serial), "{}", crl.stdout);
    assert!(h.ok(&["audit", "verify"]).stdout.contains("intact"));
    // Everything went to PostgreSQL: no SQLite file appeared in the home.
    assert!(!h.home().join("caforge.db").exists());
    psql(&admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
}

#[test]
fn unreachable_or_unsupported_databases_are_clear_errors_without_passwords() {
    let h = Home::new();
    let r = h.fails(
        &[
            "--db",
            "postgres://caforge:s3cret@127.0.0.1:1/caforge",
            "ca",
            "list",
        ],
        "cannot connect to PostgreSQL at postgres://caforge:***@127.0.0.1:1/caforge",
    );
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
    let r = h.fails(
        &["--db", "mysql://caforge:s3cret@db/ca", "ca", "list"],
        "unsupported database URL",
    );
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
}
