//! Tests of the store that are not part of the contract: write marks, query plans and
//! URL redaction on SQLite; the database-enforced append-only audit log on PostgreSQL.
//! The contract suite itself is in `contract.rs`, run on both databases.
//!
//! Compiled only under #[cfg(test)] (see `store/mod.rs`), so its `expect`s are test code.

use std::path::PathBuf;
use std::time::Duration;

use super::revoked::{NEXT_REVOCATION_SEQ, SQLITE_REVOKED_DELTA_CHUNK};
use super::*;
use crate::audit::AuditAction;
use crate::issuance::SerialNumber;

/// Test support: a scratch database on the server named by `CAFORGE_TEST_POSTGRES_URL`.
pub(crate) mod pg {
    use sqlx::Connection as _;

    /// The variable PostgreSQL tests read their server URL from.
    pub(crate) const URL_VAR: &str = "CAFORGE_TEST_POSTGRES_URL";

    /// A new, empty database on the test server, dropped by [`ScratchDb::drop_now`].
    pub(crate) struct ScratchDb {
        admin_url: String,
        name: String,
        /// Its URL.
        pub(crate) url: String,
    }

    impl ScratchDb {
        /// Creates one. Tests that call this are `#[ignore]`d unless PostgreSQL runs, so a
        /// missing server here is a failure, never a silent pass.
        pub(crate) async fn create() -> ScratchDb {
            let admin_url = std::env::var(URL_VAR).unwrap_or_else(|_| {
                panic!("set {URL_VAR}=postgres://… to run the PostgreSQL tests (.ci/run does)")
            });
            let mut suffix = [0u8; 6];
            crate::keys::random_bytes(&mut suffix).expect("rng");
            let name = format!("caforge_test_{}", hex::encode(suffix));
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connect to CAFORGE_TEST_POSTGRES_URL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create scratch database");
            let (base, query) = match admin_url.split_once('?') {
                Some((b, q)) => (b, format!("?{q}")),
                None => (admin_url.as_str(), String::new()),
            };
            let prefix = match base.rfind('/') {
                Some(i) if i > "postgres://".len() => &base[..i],
                _ => base,
            };
            let url = format!("{prefix}/{name}{query}");
            ScratchDb {
                admin_url,
                name,
                url,
            }
        }

        /// Drops it (closing other connections to it).
        pub(crate) async fn drop_now(self) {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url)
                .await
                .expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await
            .expect("drop scratch database");
        }
    }
}

impl AnyStore {
    /// Test support: overwrites the stored invalidity date of the certificate with
    /// `serial_hex`, as a caforge from before the range check could have stored it.
    pub(crate) async fn overwrite_invalidity_date(&self, serial_hex: &str, at: i64) {
        super::sql::sql("UPDATE certificates SET invalidity_date = $1 WHERE serial = $2")
            .bind(at)
            .bind(serial_hex)
            .execute(self.pool.on())
            .await
            .expect("update");
    }
}

#[test]
fn passwords_in_database_urls_are_never_shown() {
    assert_eq!(
        redact_url("postgres://ca:s3cret@db.example:5432/ca?sslmode=require"),
        "postgres://ca:***@db.example:5432/ca?sslmode=require"
    );
    assert_eq!(
        redact_url("postgres://ca@db.example/ca"),
        "postgres://ca@db.example/ca"
    );
    assert_eq!(redact_url("sqlite:caforge.db"), "sqlite:caforge.db");
}

/// A store in a new file under `dir`, and the file's path.
async fn file_store(dir: &tempfile::TempDir) -> (AnyStore, PathBuf) {
    let path = dir.path().join("caforge.db");
    let store = AnyStore::open(&format!("sqlite:{}", path.display()))
        .await
        .expect("open");
    (store, path)
}

/// A commit to the file at `path` through a connection of its own, as another process
/// would make it.
async fn commit_elsewhere(path: &std::path::Path) {
    let other = AnyStore::open(&format!("sqlite:{}", path.display()))
        .await
        .expect("open again");
    other
        .reserve_serial("k", &SerialNumber::random().expect("rng"), 2)
        .await
        .expect("reserve");
}

#[tokio::test]
async fn write_marks_change_with_every_commit_and_wait_to_settle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, path) = file_store(&dir).await;
    // Files just written are too young to trust with the default settle period.
    assert_eq!(store.write_mark(), None);
    store.set_write_mark_settle(Duration::ZERO);
    store.set_write_mark_reuse(Duration::ZERO);
    let first = store.write_mark().expect("a mark");
    assert_eq!(store.write_mark(), Some(first), "reads change nothing");
    store
        .reserve_serial("k", &SerialNumber::random().expect("rng"), 1)
        .await
        .expect("reserve");
    let second = store.write_mark().expect("a mark");
    assert_ne!(first, second, "a commit changes the mark");
    // Another connection (as another process would have) committing changes it too.
    commit_elsewhere(&path).await;
    assert_ne!(store.write_mark(), Some(second));
    // In memory there are no files to watch.
    let memory = AnyStore::open("sqlite::memory:").await.expect("memory");
    assert_eq!(memory.write_mark(), None);
}

/// The plan SQLite picks for `text` with `args`, as one line per step.
async fn plan(store: &AnyStore, text: &str, args: &[Option<i64>]) -> String {
    let mut q = sql::sql_built(format!("EXPLAIN QUERY PLAN {text}"));
    for a in args {
        q = q.bind(*a);
    }
    let rows: Vec<(i64, i64, i64, String)> = q.all_as(store.pool.on()).await.expect("explain");
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn revocation_sequence_reads_use_the_revoked_rows_index_only() {
    let store = AnyStore::open("sqlite::memory:").await.expect("open");
    // The next sequence number: the end of the partial index, not a pass over every
    // certificate.
    let next = plan(&store, NEXT_REVOCATION_SEQ, &[]).await;
    assert!(next.contains("certificates_revocation_seq_all"), "{next}");
    // A delta CRL's chunk: the changed rows, not the CA's every certificate.
    let args = [Some(1), None, Some(0), Some(5), Some(40), None, Some(10)];
    let delta = plan(&store, SQLITE_REVOKED_DELTA_CHUNK, &args).await;
    assert!(
        delta.contains(
            "USING INDEX certificates_revocation_seq (issuer_ca_id=? AND revocation_seq>?)"
        ),
        "{delta}"
    );
}

#[tokio::test]
async fn a_reused_mark_ends_with_this_processs_revocations_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, path) = file_store(&dir).await;
    store.set_write_mark_settle(Duration::ZERO);
    // A window far longer than the test, so that nothing here depends on timing.
    store.set_write_mark_reuse(Duration::from_secs(3600));
    let ca = contract::root(&store, "reuse-ca").await;
    let cert = contract::another(&store, ca.id, None).await;
    let first = store.write_mark().expect("a mark");
    // Another process's commit is not looked for while the mark is reused ...
    commit_elsewhere(&path).await;
    assert_eq!(store.write_mark(), Some(first), "reused within the window");
    // ... but this process's revocation ends the reuse at once.
    store
        .revoke(
            cert.id,
            &Revocation {
                revoked_at: 1_700_000_000,
                reason: crate::revocation::RevocationReason::KeyCompromise,
                invalidity_date: None,
            },
            None,
            &contract::event(AuditAction::CertRevoked),
        )
        .await
        .expect("revoke");
    let after = store.write_mark().expect("a mark");
    assert_ne!(after, first, "a local revocation is seen at once");
}

#[tokio::test]
async fn store_contract_on_sqlite_file_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("caforge.db");
    let url = format!("sqlite:{}", path.display());
    let store = AnyStore::open(&url).await.expect("open");
    contract::run_all(&store).await;
    drop(store);
    // Reopening runs no migration twice and keeps the data.
    let again = AnyStore::open(&url).await.expect("reopen");
    assert!(again.migrations_applied().is_empty());
    assert!(!again.list_cas().await.expect("list").is_empty());
}

#[tokio::test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
async fn store_contract_on_postgres_and_reopen() {
    let db = pg::ScratchDb::create().await;
    let store = AnyStore::open(&db.url).await.expect("open");
    contract::run_all(&store).await;
    drop(store);
    let again = AnyStore::open(&db.url).await.expect("reopen");
    assert!(again.migrations_applied().is_empty());
    assert!(!again.list_cas().await.expect("list").is_empty());
    again.close().await;
    db.drop_now().await;
}

/// `sslmode` in a PostgreSQL URL is honoured (sqlx over rustls): `require` encrypts the
/// session, `disable` does not, and `verify-full` refuses a server whose certificate does
/// not chain to `sslrootcert`. The local server's certificate is Debian's self-signed
/// snakeoil one, which a test cannot replace, so verify-full is shown refusing a root that
/// did not sign it, and `require` is what this server is reached with.
#[tokio::test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL) with TLS on, as Debian configures it"]
async fn postgres_sslmode_is_honoured() {
    let db = pg::ScratchDb::create().await;
    let with = |query: &str| {
        let joint = if db.url.contains('?') { '&' } else { '?' };
        format!("{}{joint}{query}", db.url)
    };
    async fn encrypted(store: &AnyStore) -> bool {
        sql::sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .scalar::<bool>(store.pool.on())
            .await
            .expect("pg_stat_ssl")
    }
    let tls = AnyStore::open(&with("sslmode=require"))
        .await
        .expect("sslmode=require (is ssl on in postgresql.conf?)");
    assert!(encrypted(&tls).await);
    tls.close().await;
    let plain = AnyStore::open(&with("sslmode=disable"))
        .await
        .expect("disable");
    assert!(!encrypted(&plain).await);
    plain.close().await;

    let services = crate::authority::test_support::memory_services(std::sync::Arc::default()).await;
    let other_root = services
        .lifecycle
        .create_root(&crate::authority::test_support::ca("unrelated"))
        .await
        .expect("root");
    let dir = tempfile::tempdir().expect("dir");
    let root_pem = dir.path().join("root.pem");
    std::fs::write(
        &root_pem,
        crate::pem::certificate(&other_root.record.cert_der).expect("pem"),
    )
    .expect("write");
    let err = AnyStore::open(&with(&format!(
        "sslmode=verify-full&sslrootcert={}",
        root_pem.display()
    )))
    .await
    .expect_err("verify-full must refuse a server its root did not certify");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    db.drop_now().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
async fn the_audit_log_is_append_only_in_the_database() {
    let db = pg::ScratchDb::create().await;
    let store = AnyStore::open(&db.url).await.expect("open");
    store
        .append_audit(&contract::event(AuditAction::CaConfigured))
        .await
        .expect("append");
    for text in ["UPDATE audit SET action = 'x'", "DELETE FROM audit"] {
        let err = sql::sql(text)
            .execute(store.pool.on())
            .await
            .expect_err("the audit log must refuse changes");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    store.close().await;
    db.drop_now().await;
}

/// What the fixture homes made by caforge at 6d26787 hold (`testdata/store/make.sh`):
/// three CAs, eight certificates (one revoked for keyCompromise, one whose hold was
/// lifted), a full and a delta CRL, a token, an inventory certificate, 26 audit entries.
async fn check_6d26787_fixture(store: &AnyStore) {
    assert_eq!(
        store.schema_version().await.expect("version"),
        store.known_schema_version()
    );
    let mut names: Vec<String> = store
        .list_cas()
        .await
        .expect("cas")
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    assert_eq!(names, ["issuing", "root", "rsa-issuing"]);
    let certs = store
        .list_certificates(&CertificateFilter::default())
        .await
        .expect("certificates");
    assert_eq!(certs.len(), 8);
    // Every certificate's serial is still recorded as used (SQLite rebuilt the table in
    // migration 13).
    let used: i64 = sql::sql("SELECT COUNT(*) FROM serials WHERE state = 'used'")
        .scalar(store.pool.on())
        .await
        .expect("serials");
    assert_eq!(used, 8);
    let revoked: Vec<&CertificateRecord> = certs.iter().filter(|c| c.is_revoked()).collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        revoked[0].revocation_reason,
        Some(crate::revocation::RevocationReason::KeyCompromise)
    );
    let issuing = store.find_ca("issuing").await.expect("issuing");
    let full = store
        .latest_crl(issuing.id, None, false)
        .await
        .expect("crl")
        .expect("a full CRL");
    assert_eq!((full.crl.number, full.crl.entries), (1, 2));
    let parsed = <x509_cert::crl::CertificateList as der::Decode>::from_der(&full.crl.der);
    assert!(parsed.is_ok(), "the stored CRL is DER");
    assert!(store
        .latest_crl(issuing.id, None, true)
        .await
        .expect("delta")
        .is_some());
    // The fixture's token (`--ca issuing --profile tls-server`) keeps exactly its rights,
    // written as scopes by migration 14 (SQLite) / 10 (PostgreSQL).
    let tokens = store.list_tokens().await.expect("tokens");
    assert_eq!(tokens.len(), 1);
    let scope = |profiles: &[&str], actions: &[crate::authz::Action]| crate::authz::Scope {
        cas: vec!["issuing".into()],
        profiles: profiles.iter().map(|p| (*p).to_owned()).collect(),
        actions: actions.to_vec(),
        names: vec!["*".into()],
        attributes: vec!["*".into()],
    };
    assert_eq!(
        tokens[0].scopes,
        [
            scope(&["tls-server"], &[crate::authz::Action::Issue]),
            scope(
                &["*"],
                &[crate::authz::Action::Revoke, crate::authz::Action::Read]
            ),
        ]
    );
    // Entries from before principals were recorded have none, and still verify.
    assert!(store
        .audit_log()
        .await
        .expect("audit")
        .iter()
        .all(|r| r.event.principal.is_none()));
    assert_eq!(
        store
            .list_inventory(None, None)
            .await
            .expect("inventory")
            .len(),
        1
    );
    assert_eq!(
        crate::audit::verify_chain(&store.audit_log().await.expect("audit"), None)
            .map(|r| (r.entries, r.legacy)),
        Ok((26, 26))
    );
}

#[tokio::test]
async fn a_sqlite_home_made_by_6d26787_opens_and_passes_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("caforge.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/store/sqlite-6d26787.db"
        ),
        &path,
    )
    .expect("copy fixture");
    let store = AnyStore::open(&format!("sqlite:{}", path.display()))
        .await
        .expect("open");
    check_6d26787_fixture(&store).await;
    contract::run_all(&store).await;
    assert!(crate::audit::verify_chain(&store.audit_log().await.expect("audit"), None).is_ok());
}

#[tokio::test]
#[ignore = "needs PostgreSQL (CAFORGE_TEST_POSTGRES_URL)"]
async fn a_postgres_schema_made_by_6d26787_opens_and_passes_the_contract() {
    use sqlx::Connection as _;
    let db = pg::ScratchDb::create().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql(include_str!("../../testdata/store/pg-6d26787.sql"))
        .execute(&mut conn)
        .await
        .expect("load the pg_dump of the 6d26787 fixture");
    conn.close().await.expect("close");
    let store = AnyStore::open(&db.url).await.expect("open");
    check_6d26787_fixture(&store).await;
    contract::run_all(&store).await;
    assert!(crate::audit::verify_chain(&store.audit_log().await.expect("audit"), None).is_ok());
    store.close().await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("caforge.db").display());
    let store = AnyStore::open(&url).await.expect("open");
    let known = store.known_schema_version();
    let mut tx = store.pool.write_tx().await.expect("tx");
    sql::sql("INSERT INTO caforge_migrations (version, applied_at) VALUES ($1, 0)")
        .bind(known + 1)
        .execute(tx.on())
        .await
        .expect("a future migration");
    tx.commit().await.expect("commit");
    store.close().await;
    let err = AnyStore::open(&url).await.expect_err("refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { current, known: k } if current == known + 1 && k == known),
        "{err}"
    );
    assert!(
        err.to_string().contains("newer than this caforge knows"),
        "{err}"
    );
}
