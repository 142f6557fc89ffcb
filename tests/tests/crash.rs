#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
//! Crash tests of the issuance pipeline. The test-only failpoint (`CAFORGE_TEST_FAILPOINT`,
//! compiled into the binaries of this workspace's test build) aborts the process after a
//! step, with no cleanup, as kill -9 would: after the durable intent (`prepared`), after the
//! verified signature (`signed`) and after the commit (`committed`), for a leaf, an
//! intermediate CA and a delegated OCSP responder. After each crash the next process finds
//! no certificate outside the store (nothing was written out; a committed one is listed),
//! every certificate returned before still there, the audit chain intact, and what the
//! crash left listed by `caforge db leftovers`: the reserved serial and, for a CA or a
//! responder, its key, which `--remove` destroys.

use std::collections::BTreeSet;
use std::path::Path;

use caforge_tests::{s, Home};

const STEPS: [&str; 3] = ["prepared", "signed", "committed"];

/// The serials in the store.
fn serials(h: &Home) -> BTreeSet<String> {
    h.cert_list()
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_owned())
        .collect()
}

/// `caforge ca create-intermediate` of P-256 CA `name` under `root`.
fn create_intermediate(name: &str) -> Vec<String> {
    [
        "ca",
        "create-intermediate",
        "--parent",
        "root",
        "--name",
        name,
        "--key-type",
        "p256",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// (unused serials, unreferenced keys) as `caforge db leftovers` lists them.
fn leftovers(h: &Home, extra: &[&str]) -> (usize, Vec<String>) {
    let mut args = vec!["db", "leftovers", "--format", "json"];
    args.extend_from_slice(extra);
    let v: serde_json::Value = serde_json::from_str(&h.ok(&args).stdout).expect("json");
    let keys = v["unreferenced_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["key"].as_str().expect("key").to_owned())
        .collect();
    (v["unused_serials"].as_array().expect("serials").len(), keys)
}

/// Runs `args` with the failpoint at `step` and checks what the next process finds.
/// `makes_key`: the operation generates a key in the home's key store.
/// `out`: the file the command writes when it completes, if any.
fn crash_at(h: &Home, step: &str, args: &[&str], out: Option<&Path>, makes_key: bool) {
    let before = serials(h);
    let (unused_before, keys_before) = leftovers(h, &[]);
    let r = h.run_with(&[("CAFORGE_TEST_FAILPOINT", step)], args);
    assert_eq!(
        r.signal,
        Some(6),
        "{args:?} was not aborted at the failpoint '{step}' (is the failpoints feature on?):\n{}\n{}",
        r.stdout,
        r.stderr
    );
    // Nothing left the process: no file written, nothing printed.
    if let Some(out) = out {
        assert!(
            !out.exists(),
            "{} was written before the crash",
            out.display()
        );
    }
    assert!(!r.stdout.contains("BEGIN CERTIFICATE"), "{}", r.stdout);

    let after = serials(h);
    assert!(
        after.is_superset(&before),
        "a certificate returned before the crash at '{step}' is missing"
    );
    let committed = step == "committed";
    assert_eq!(
        after.len(),
        before.len() + usize::from(committed),
        "after a crash at '{step}'"
    );
    h.ok(&["audit", "verify"]);

    let (unused, keys) = leftovers(h, &[]);
    if committed {
        // The serial is used and the key referenced: nothing is left over.
        assert_eq!(unused, unused_before, "after '{step}'");
        assert_eq!(keys, keys_before, "after '{step}'");
    } else {
        assert_eq!(unused, unused_before + 1, "after '{step}'");
        assert_eq!(
            keys.len(),
            keys_before.len() + usize::from(makes_key),
            "after '{step}': {keys:?}"
        );
    }
}

#[test]
fn a_leaf_crashed_after_any_step_leaves_only_a_listed_serial() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    // Returned before the crashes; must survive them.
    h.issue_leaf("int", "before");
    for step in STEPS {
        let (args, out) = h.issue_leaf_args("int", step);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crash_at(&h, step, &args, Some(&out), false);
    }
    // The CA still issues.
    h.issue_leaf("int", "after");
}

#[test]
fn an_intermediate_crashed_after_any_step_leaves_a_listed_serial_and_key() {
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    for step in STEPS {
        let args = create_intermediate(&format!("sub-{step}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crash_at(&h, step, &args, None, true);
    }
    // A CA whose key reference is spelled differently (file:./keys/…) is the same key
    // directory: its key is in use, not a leftover.
    let mut spelled = create_intermediate("spelled");
    spelled.extend(["--key-store".to_owned(), "file:./keys".to_owned()]);
    h.ok(&spelled.iter().map(String::as_str).collect::<Vec<_>>());
    // The crash after the commit left a CA that works; the others left two keys, which
    // --remove destroys (and audits).
    h.issue_leaf("sub-committed", "after");
    let (_, keys) = leftovers(&h, &[]);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let (_, kept) = leftovers(&h, &["--remove"]);
    assert_eq!(
        kept.len(),
        2,
        "keys younger than an hour are kept: {kept:?}"
    );
    let (_, left) = leftovers(&h, &["--remove", "--older-than", "0h"]);
    assert!(left.is_empty(), "{left:?}");
    for key in &keys {
        let path = h.home().join(key.trim_start_matches("file:"));
        assert!(!path.exists(), "{} was not removed", path.display());
    }
    h.ok(&["audit", "verify"]);
    h.issue_leaf("spelled", "spelled-after");
    // Keys in the home belong to the home's database: removal against another is refused.
    let other = h.file("other.db");
    h.fails(
        &[
            "--db",
            &format!("sqlite:{}", s(&other)),
            "db",
            "leftovers",
            "--remove",
        ],
        "home's own database",
    );
    // A name whose creation crashed before the commit is free again.
    let args = create_intermediate("sub-signed");
    h.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn a_responder_crashed_after_any_step_leaves_a_listed_serial_and_key() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &["--ocsp-signer", "delegated"]);
    for step in STEPS {
        crash_at(
            &h,
            step,
            &["ocsp", "rotate-responder", "--ca", "int"],
            None,
            true,
        );
    }
    // The responder committed before the last crash answers OCSP.
    let (leaf, _) = h.issue_leaf("int", "after");
    let int = h.export_ca("int");
    let req = h.file("req.der");
    caforge_tests::openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            s(&int),
            "-sha256",
            "-cert",
            &leaf,
            "-reqout",
            s(&req),
        ],
    );
    let resp = h.file("resp.der");
    h.ok(&["ocsp", "respond", "--request", s(&req), "--out", s(&resp)]);
    let text = caforge_tests::openssl_ok(
        h.path(),
        &["ocsp", "-respin", s(&resp), "-resp_text", "-noverify"],
    )
    .stdout;
    assert!(text.contains("Response Status: successful"), "{text}");
    assert!(
        text.contains("OCSP Signing"),
        "not a delegated responder: {text}"
    );
}

#[test]
fn a_managed_certificate_crashed_after_any_step_is_committed_with_its_key_or_not_at_all() {
    let h = Home::new();
    h.root_and_intermediate("p256", &[], &[]);
    for step in STEPS {
        let dir = h.file(&format!("deploy-{step}"));
        std::fs::create_dir(&dir).unwrap();
        let args = caforge_tests::managed_issue_args(&format!("{step}.example"), s(&dir), &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crash_at(&h, step, &args, Some(&dir.join("cert.pem")), false);
    }
    // The certificate committed before the last crash came with its managed row and sealed
    // key (one commit): maintenance deploys it, with a key that matches.
    let list: serde_json::Value =
        serde_json::from_str(&h.ok(&["managed", "list", "--format", "json"]).stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(
        serials(&h).contains(list[0]["serial"].as_str().unwrap()),
        "{list:?}"
    );
    h.ok(&["maintain"]);
    let dir = h.file("deploy-committed");
    let pubkey = |args: &[&str]| caforge_tests::openssl_ok(h.path(), args).stdout;
    assert_eq!(
        pubkey(&["x509", "-in", s(&dir.join("cert.pem")), "-noout", "-pubkey"]),
        pubkey(&["pkey", "-in", s(&dir.join("key.pem")), "-pubout"])
    );
}
