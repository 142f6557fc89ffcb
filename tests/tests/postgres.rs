#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! The CLI on a PostgreSQL store (`database = "postgres://…"`): a hierarchy, issuance, a dual
//! pair, revocation and a CRL, checked with OpenSSL. The tests that need a server are
//! `#[ignore]`d; `cargo test --workspace -- --ignored` runs them against
//! `CAFORGE_TEST_POSTGRES_URL` (`.ci/run` starts PostgreSQL and sets it).

use std::collections::BTreeSet;
use std::process::Command;

use caforge_tests::server::{api, curl, fetch_crl_until, metric, presigned_status, token, Server};
use caforge_tests::{openssl_ok, p256_csr, s, Home};

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

/// A scratch database on the test server, dropped with this value.
struct ScratchDb {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDb {
    /// A new database. Tests that call this are `#[ignore]`d unless PostgreSQL runs, so a
    /// missing `CAFORGE_TEST_POSTGRES_URL` here is a failure, never a silent pass.
    fn create(test: &str) -> ScratchDb {
        let admin = std::env::var("CAFORGE_TEST_POSTGRES_URL")
            .expect("set CAFORGE_TEST_POSTGRES_URL=postgres://… to run the PostgreSQL tests");
        let name = format!("caforge_{test}_{}", std::process::id());
        psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.split('?').next().unwrap();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        ScratchDb { admin, name, url }
    }

    /// One number from a query.
    fn scalar(&self, sql: &str) -> i64 {
        let out = Command::new("psql")
            .args([&self.url, "-qAtc", sql])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "{sql}");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    /// A home whose `caforge.toml` names this database (and no SQLite file).
    fn home(&self) -> Home {
        let h = Home::new();
        let config = h.home().join("caforge.toml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "database = \"sqlite:caforge.db\"",
            &format!("database = \"{}\"", self.url),
        );
        std::fs::write(&config, text).unwrap();
        // `init` made the default SQLite file; from here on nothing may use it.
        for f in ["caforge.db", "caforge.db-wal", "caforge.db-shm"] {
            let _ = std::fs::remove_file(h.home().join(f));
        }
        h
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &self.admin,
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

#[test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
fn the_cli_runs_a_ca_on_postgresql() {
    let db = ScratchDb::create("cli");
    let h = db.home();

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
    h.create_root("gm", "sm2", &[]);
    h.rsa_sm2_pair("int", "gm");
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

/// POSTs the JSON in `body_file` to `url` with `bearer`, from a worker thread with its own
/// output file: (HTTP status, body).
fn post(h: &Home, url: &str, bearer: &str, body_file: &str, out: &str) -> (u16, String) {
    let auth = format!("Authorization: Bearer {bearer}");
    let data = format!("@{body_file}");
    let args = [
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &data,
        url,
    ];
    let (code, _) = curl(h, &args, out);
    (
        code,
        std::fs::read_to_string(h.file(out)).unwrap_or_default(),
    )
}

/// The cRLNumber of a DER CRL fetched from `url`.
/// The cRLNumber of the DER CRL in `file`.
fn crl_number(h: &Home, file: &str) -> u64 {
    let out = openssl_ok(
        h.path(),
        &["crl", "-inform", "DER", "-in", file, "-noout", "-crlnumber"],
    );
    let hex = out
        .stdout
        .trim()
        .strip_prefix("crlNumber=")
        .unwrap()
        .trim_start_matches("0x");
    u64::from_str_radix(hex, 16).unwrap()
}

/// Two `caforge serve` replicas on one PostgreSQL database: concurrent issuance through
/// both never repeats a serial, CRL numbers only grow and one replica signs a CRL that the
/// other serves, and a revocation made through one replica is in the other's OCSP answers
/// (from its memory cache until then) a second later.
#[test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
fn two_replicas_share_one_ca() {
    let db = ScratchDb::create("replicas");
    let h = db.home();
    h.root_and_intermediate("p256", &[], &[]);
    let int = s(&h.export_ca("int")).to_owned();
    let chain = h.file("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read(h.export_ca("root")).unwrap(),
            std::fs::read(&int).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let bearer = token(&h, "int", "tls-server");
    let a = Server::start(&h);
    let b = Server::start(&h);

    // Concurrent issuance: two clients on each replica.
    let csr = p256_csr(h.path(), "app", "/CN=app.example");
    let body =
        serde_json::json!({"ca": "int", "csr": csr, "sans": ["dns:app.example"], "days": 30});
    std::fs::write(h.file("issue.json"), body.to_string()).unwrap();
    const PER_CLIENT: usize = 8;
    let serials: Vec<(String, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = [&a, &a, &b, &b]
            .into_iter()
            .enumerate()
            .map(|(worker, server)| {
                let (h, bearer) = (&h, &bearer);
                scope.spawn(move || {
                    let url = format!("{}/api/v1/certificates", server.url);
                    (0..PER_CLIENT)
                        .map(|i| {
                            let out = format!("issued-{worker}-{i}.json");
                            let (code, text) = post(h, &url, bearer, "issue.json", &out);
                            assert_eq!(code, 201, "{text}");
                            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                            let pem = format!("issued-{worker}-{i}.pem");
                            std::fs::write(h.file(&pem), v["certificate"].as_str().unwrap())
                                .unwrap();
                            (v["serial"].as_str().unwrap().to_owned(), pem)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let unique: BTreeSet<&str> = serials.iter().map(|(serial, _)| serial.as_str()).collect();
    assert_eq!(unique.len(), 4 * PER_CLIENT, "a serial was issued twice");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM certificates WHERE profile = 'tls-server'"),
        i64::try_from(4 * PER_CLIENT).unwrap()
    );

    // CRLs: both replicas asked at once after a revocation queue the due CRL for their
    // background signers, which sign one new CRL between them (the second waits on the
    // generation lock and finds it); both then serve it, and numbers only grow.
    let mut last = 0;
    for (round, (serial, _)) in serials.iter().take(3).enumerate() {
        let via = if round % 2 == 0 { &a } else { &b };
        let (code, _, text) = api(
            &h,
            via,
            "POST",
            &format!("/api/v1/certificates/{serial}/revoke"),
            Some(&bearer),
            Some(r#"{"reason":"superseded"}"#),
        );
        assert_eq!(code, 200, "{text}");
        let crls_before = db.scalar("SELECT COUNT(*) FROM crls");
        let upper = serial.to_uppercase();
        let fetch = |server: &Server, file: &str| {
            let url = format!("{}/crl/int.crl", server.url);
            fetch_crl_until(&h, &url, file, |text| text.contains(&upper));
            crl_number(&h, file)
        };
        let (na, nb) = std::thread::scope(|scope| {
            let fa = scope.spawn(|| fetch(&a, "a.crl"));
            let fb = scope.spawn(|| fetch(&b, "b.crl"));
            (fa.join().unwrap(), fb.join().unwrap())
        });
        assert_eq!(na, nb, "both replicas serve the one new CRL");
        assert!(na > last, "CRL numbers only grow: {last} then {na}");
        last = na;
        assert_eq!(db.scalar("SELECT COUNT(*) FROM crls"), crls_before + 1);
        let listed = openssl_ok(
            h.path(),
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                "b.crl",
                "-CAfile",
                s(&chain),
                "-noout",
                "-text",
            ],
        );
        assert!(listed.stderr.contains("verify OK"), "{listed:?}");
        assert!(
            listed.stdout.contains(&serial.to_uppercase()),
            "{}",
            listed.stdout
        );
    }
    // A CRL signed by the CLI in between continues the same sequence.
    h.ok(&["crl", "--ca", "int", "--out", "cli.crl"]);
    let cli = openssl_ok(h.path(), &["crl", "-in", "cli.crl", "-noout", "-crlnumber"]);
    let cli_number = u64::from_str_radix(
        cli.stdout
            .trim()
            .strip_prefix("crlNumber=")
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert!(cli_number > last);

    // OCSP: replica B answers a valid certificate from memory…
    let (serial, pem) = &serials[serials.len() - 1];
    let status = || presigned_status(&h, &b, &int, s(&chain), pem);
    let hits = metric(&h, &b, "caforge_ocsp_memory_hits_total");
    for _ in 0..3 {
        assert_eq!(status(), "good");
    }
    assert!(
        metric(&h, &b, "caforge_ocsp_memory_hits_total") > hits,
        "replica B never answered from memory"
    );
    // …then A revokes it, and a second later B says so.
    let (code, _, text) = api(
        &h,
        &a,
        "POST",
        &format!("/api/v1/certificates/{serial}/revoke"),
        Some(&bearer),
        Some(r#"{"reason":"keyCompromise"}"#),
    );
    assert_eq!(code, 200, "{text}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(status(), "revoked");
    assert!(a.terminate());
    assert!(b.terminate());
}

/// `caforge cert list --format json` on `db` (None: the home's database).
fn listing(h: &Home, db: Option<&str>) -> serde_json::Value {
    let mut args = vec![];
    if let Some(url) = db {
        args.extend(["--db", url]);
    }
    args.extend(["cert", "list", "--format", "json"]);
    serde_json::from_str(&h.ok(&args).stdout).unwrap()
}

/// A lab CA on SQLite moves to PostgreSQL with `caforge db copy` (and back to a new SQLite
/// file): every row arrives, the audit chain verifies, and the CA carries on where it was.
#[test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
fn db_copy_moves_a_lab_ca_into_postgresql_and_back() {
    let db = ScratchDb::create("copy");
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let (_, serial) = h.issue_leaf("int", "www");
    h.issue_leaf("int", "api");
    h.ok(&["revoke", &serial, "--reason", "keyCompromise"]);
    h.ok(&["crl", "--ca", "int", "--out", "lab.crl"]);
    h.ok(&["ocsp", "presign", "--ca", "int"]);
    h.create_root("gm", "sm2", &[]);
    h.rsa_sm2_pair("int", "gm");
    token(&h, "int", "tls-server");
    let before = listing(&h, None);

    let out = h.ok(&["db", "copy", "--to", &db.url, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = |table: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap()["rows"]
            .as_i64()
            .unwrap()
    };
    for table in [
        "cas",
        "certificates",
        "serials",
        "audit",
        "crls",
        "blocked_keys",
        "ocsp_responses",
        "api_tokens",
        "certificate_pairs",
    ] {
        assert!(rows(table) > 0, "nothing copied from {table}: {report}");
        let extra = i64::from(table == "audit"); // the copy's own entry
        assert_eq!(
            db.scalar(&format!("SELECT COUNT(*) FROM {table}")),
            rows(table) + extra,
            "{table}"
        );
    }
    assert_eq!(listing(&h, Some(&db.url)), before);
    let audit = h.ok(&["--db", &db.url, "audit", "verify"]);
    assert!(audit.stdout.contains("intact"), "{}", audit.stdout);

    // Into a database that holds a CA: refused, nothing written.
    let audit_rows = db.scalar("SELECT COUNT(*) FROM audit");
    h.fails(&["db", "copy", "--to", &db.url], "not empty");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM audit"), audit_rows);

    // The CA carries on in PostgreSQL: new rows take new ids, CRL numbers continue.
    let lab_crl = openssl_ok(h.path(), &["crl", "-in", "lab.crl", "-noout", "-crlnumber"]);
    h.ok(&[
        "--db",
        &db.url,
        "issue",
        "--ca",
        "int",
        "--subject",
        "CN=new.example",
        "--key-type",
        "p256",
        "--key-out",
        "new.key",
        "--no-encrypt-key",
        "--san",
        "dns:new.example",
        "--out",
        "new.pem",
    ]);
    h.ok(&["--db", &db.url, "crl", "--ca", "int", "--out", "pg.crl"]);
    let pg_crl = openssl_ok(h.path(), &["crl", "-in", "pg.crl", "-noout", "-crlnumber"]);
    assert_eq!(lab_crl.stdout.trim(), "crlNumber=0x01");
    assert_eq!(pg_crl.stdout.trim(), "crlNumber=0x02");
    let text = openssl_ok(h.path(), &["crl", "-in", "pg.crl", "-noout", "-text"]);
    assert!(text.stdout.contains(&serial), "{}", text.stdout);

    // And back into a new SQLite file, identical.
    let back = format!("sqlite:{}", h.file("back.db").display());
    h.ok(&["db", "copy", "--from", &db.url, "--to", &back]);
    assert_eq!(listing(&h, Some(&back)), listing(&h, Some(&db.url)));
    assert!(h
        .ok(&["--db", &back, "audit", "verify"])
        .stdout
        .contains("intact"));
}

/// `db copy` refuses a copy onto itself, unsupported or unreachable targets, with a clear
/// error and no password shown; the source is unchanged.
#[test]
fn db_copy_refuses_bad_targets() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    let before = listing(&h, None);
    let db = format!("sqlite:{}", h.home().join("caforge.db").display());
    h.fails(
        &["db", "copy", "--from", &db, "--to", &db],
        "name the same database",
    );
    let r = h.fails(
        &["db", "copy", "--to", "mysql://u:s3cret@db/ca"],
        "unsupported database URL",
    );
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
    let r = h.fails(
        &["db", "copy", "--to", "postgres://u:s3cret@127.0.0.1:1/ca"],
        "cannot connect to PostgreSQL",
    );
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
    assert_eq!(listing(&h, None), before);
}

#[test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
fn init_on_postgres_records_the_url_and_makes_no_sqlite_file() {
    let db = ScratchDb::create("init");
    let h = Home::empty();
    h.ok(&["--db", &db.url, "init"]);
    let config = std::fs::read_to_string(h.home().join("caforge.toml")).unwrap();
    assert!(
        config.contains(&format!("database = \"{}\"", db.url)),
        "{config}"
    );
    // Later commands, without --db, work on PostgreSQL.
    h.ok(&[
        "ca",
        "create-root",
        "--name",
        "pg-root",
        "--key-type",
        "p256",
    ]);
    assert_eq!(
        db.scalar("SELECT count(*) FROM cas WHERE name = 'pg-root'"),
        1
    );
    assert!(!h.home().join("caforge.db").exists());
}
