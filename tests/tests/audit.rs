#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! The audit log holds against whoever can write the database: entries are keyed with the
//! home's `audit.key` (outside the database), and checkpoints of its head in
//! `audit.checkpoints` show when the newest entries were cut off. `caforge audit verify`
//! names the first bad entry. The attacks below write the SQLite file directly (dropping
//! the append-only triggers first, as such a writer could).

use caforge_tests::Home;

fn home_with_entries() -> Home {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    h.issue_leaf("int", "one");
    h.issue_leaf("int", "two");
    h
}

fn verify(h: &Home) -> caforge_tests::Run {
    h.run(&["audit", "verify", "--format", "json"])
}

fn db(h: &Home) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(h.home().join("caforge.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    db
}

/// Re-chains every entry from `from` on with plain SHA-256, marked unkeyed, as a database
/// writer without the key can.
fn rechain_unkeyed(db: &rusqlite::Connection, from: i64) {
    let rows: Vec<(i64, ca_core::audit::AuditEvent)> = {
        let mut q = db
            .prepare("SELECT seq, at, action, ca, serial, details, principal FROM audit WHERE seq >= ?1 ORDER BY seq")
            .unwrap();
        q.query_map([from], |r| {
            let details: String = r.get(5)?;
            let action: String = r.get(2)?;
            Ok((
                r.get(0)?,
                ca_core::audit::AuditEvent {
                    at: r.get(1)?,
                    action: action.parse().unwrap(),
                    ca: r.get(3)?,
                    serial: r.get(4)?,
                    details: serde_json::from_str(&details).unwrap(),
                    principal: r.get(6)?,
                },
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let mut prev: String = if from == 1 {
        ca_core::audit::GENESIS_HASH.to_owned()
    } else {
        db.query_row("SELECT hash FROM audit WHERE seq = ?1", [from - 1], |r| {
            r.get(0)
        })
        .unwrap()
    };
    for (seq, event) in rows {
        let hash = ca_core::audit::chain_hash(&prev, seq, &event);
        db.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2, keyed = 0 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
    }
}

fn entries(h: &Home) -> i64 {
    let v: serde_json::Value = serde_json::from_str(&verify(h).stdout).unwrap();
    v["entries"].as_i64().unwrap()
}

#[test]
fn entries_are_keyed_and_checkpointed() {
    let h = home_with_entries();
    let r = verify(&h);
    assert!(r.ok, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["legacy_entries"], 0, "every entry is keyed");
    assert!(v["checkpoints"].as_i64().unwrap() >= 1);
    assert_eq!(v["newest_checkpoint"], v["entries"]);
    // The key lives outside the database, readable by its owner only.
    use std::os::unix::fs::PermissionsExt as _;
    let key = h.home().join("audit.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let db = rusqlite::Connection::open(h.home().join("caforge.db")).unwrap();
    let keyed: i64 = db
        .query_row("SELECT COUNT(*) FROM audit WHERE keyed = 0", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(keyed, 0);
}

#[test]
fn a_rewritten_entry_rechained_without_the_key_is_named() {
    let h = home_with_entries();
    let n = entries(&h);
    // Rewrite entry 3 and re-chain everything after it, as a writer without the key can:
    // with plain SHA-256.
    let db = db(&h);
    db.execute(
        "UPDATE audit SET details = '{\"forged\":true}' WHERE seq = 3",
        [],
    )
    .unwrap();
    rechain_unkeyed(&db, 3);
    drop(db);
    let r = verify(&h);
    assert!(!r.ok, "a rewritten log must not verify");
    assert!(r.stderr.contains("entry 3"), "{}", r.stderr);
    // Marking the forged entries unkeyed (legacy) does not help either.
    let db = db_again(&h);
    db.execute("UPDATE audit SET keyed = 0 WHERE seq >= 3", [])
        .unwrap();
    drop(db);
    let r = verify(&h);
    assert!(!r.ok && r.stderr.contains("entry 3"), "{}", r.stderr);
    assert!(n > 3);
}

fn db_again(h: &Home) -> rusqlite::Connection {
    rusqlite::Connection::open(h.home().join("caforge.db")).unwrap()
}

#[test]
fn a_log_cut_short_is_detected_by_its_checkpoints() {
    let h = home_with_entries();
    let n = entries(&h);
    let db = db(&h);
    db.execute("DELETE FROM audit WHERE seq > ?1", [n - 2])
        .unwrap();
    drop(db);
    let r = verify(&h);
    assert!(!r.ok, "a truncated log must not verify");
    assert!(
        r.stderr.contains(&format!("entry {n}")) && r.stderr.contains("cut off"),
        "{}",
        r.stderr
    );
    // The checkpoints the operator keeps elsewhere say the same; an altered copy is refused.
    let kept = h.file("kept-checkpoints");
    std::fs::copy(h.home().join("audit.checkpoints"), &kept).unwrap();
    let r = h.run(&["audit", "verify", "--checkpoints", caforge_tests::s(&kept)]);
    assert!(!r.ok && r.stderr.contains("cut off"), "{}", r.stderr);
    let text = std::fs::read_to_string(&kept).unwrap();
    let forged = text.replace(&format!("\"seq\":{n},"), &format!("\"seq\":{},", n - 2));
    std::fs::write(&kept, forged).unwrap();
    let r = h.run(&["audit", "verify", "--checkpoints", caforge_tests::s(&kept)]);
    assert!(!r.ok && r.stderr.contains("MAC"), "{}", r.stderr);
}

#[test]
fn a_home_without_the_key_of_a_keyed_log_refuses_to_write_to_it() {
    let h = home_with_entries();
    std::fs::rename(h.home().join("audit.key"), h.file("moved.key")).unwrap();
    let r = h.fails(&["ca", "list"], "copy audit.key");
    assert!(!h.home().join("audit.key").exists(), "{}", r.stderr);
}

#[test]
fn a_log_rewritten_whole_as_unkeyed_entries_or_without_its_checkpoints_does_not_verify() {
    let h = home_with_entries();
    let db = db(&h);
    db.execute(
        "UPDATE audit SET details = '{\"forged\":true}' WHERE seq = 2",
        [],
    )
    .unwrap();
    rechain_unkeyed(&db, 1);
    drop(db);
    // The chain alone would pass as a legacy log; its checkpoints do not.
    let r = verify(&h);
    assert!(!r.ok, "{}", r.stdout);
    assert!(
        r.stderr.contains("rewritten") || r.stderr.contains("differs"),
        "{}",
        r.stderr
    );
    // Without the checkpoint file a keyed log is not declared intact.
    let h = home_with_entries();
    std::fs::remove_file(h.home().join("audit.checkpoints")).unwrap();
    let r = verify(&h);
    assert!(!r.ok && r.stderr.contains("is missing"), "{}", r.stderr);
    let r = h.run(&["audit", "verify", "--checkpoints", "no-such-file"]);
    assert!(
        !r.ok && r.stderr.contains("no checkpoint file"),
        "{}",
        r.stderr
    );
}
