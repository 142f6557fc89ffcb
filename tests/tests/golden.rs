//! Golden files for every listing and show command, as text and as JSON: what a script or
//! a reader sees stays as it is unless a change means it to (`CAFORGE_BLESS=1` rewrites
//! them). Serials, fingerprints, times and paths are replaced by placeholders first.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use caforge_tests::Home;

/// Whether `b` is an upper-case hex digit.
fn upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

/// Whether `b` is a lower-case hex digit.
fn lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Whether `s` starts with an RFC 3339 UTC time as caforge prints it.
fn time_at(s: &[u8]) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    s.len() >= SHAPE.len()
        && SHAPE.iter().zip(s).all(|(shape, c)| match shape {
            b'd' => c.is_ascii_digit(),
            other => other == c,
        })
}

/// The output with what changes from run to run replaced by placeholders.
fn normalise(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "<DIR>");
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"operator:") {
            // The operator is the login running the tests.
            out.push_str("operator:<USER>");
            i += "operator:".len();
            i += b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || b"_-".contains(c))
                .count();
            continue;
        }
        if time_at(&b[i..]) {
            out.push_str("<TIME>");
            i += 20;
            continue;
        }
        let run = |pred: fn(u8) -> bool| b[i..].iter().take_while(|c| pred(**c)).count();
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary {
            let upper = run(upper_hex);
            if upper >= 32 && b.get(i + upper).is_none_or(|c| !c.is_ascii_alphanumeric()) {
                out.push_str("<SERIAL>");
                i += upper;
                continue;
            }
            let lower = run(lower_hex);
            // 16 digits: a fingerprint's first ones, unless it is the SM2 signer ID.
            let sm2_id = &b[i..i + lower] == b"1234567812345678";
            if (lower == 64 || (lower == 16 && !sm2_id))
                && b.get(i + lower).is_none_or(|c| !c.is_ascii_alphanumeric())
            {
                out.push_str(if lower == 64 {
                    "<SHA256>"
                } else {
                    "<SHA256-16>"
                });
                i += lower;
                continue;
            }
            let digits = run(|c| c.is_ascii_digit());
            if digits == 10 && b.get(i + digits).is_none_or(|c| !c.is_ascii_alphanumeric()) {
                out.push_str("<UNIX>");
                i += digits;
                continue;
            }
        }
        let ch = text[i..].chars().next().expect("char");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Compares `actual` with `tests/golden/NAME`, or writes it there under CAFORGE_BLESS.
fn golden(name: &str, actual: &str) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name);
    if std::env::var_os("CAFORGE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("golden dir");
        std::fs::write(&path, actual).expect("bless");
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    (expected != actual).then(|| {
        format!("--- golden/{name} differs (CAFORGE_BLESS=1 to update)\n--- expected\n{expected}\n--- actual\n{actual}")
    })
}

#[test]
fn listings_and_shows_match_their_golden_files() {
    // Audit entries name the operator's login, and tables are as wide as it: one login for
    // every run (the children inherit it).
    std::env::set_var("USER", "golden");
    std::env::set_var("LOGNAME", "golden");
    let h = Home::new();
    h.create_root("root", "p256", &["--subject", "CN=Golden Root,O=caforge"]);
    h.create_intermediate(
        "root",
        "issuing",
        "sm2",
        &[
            "--permit",
            "dns:example",
            "--base-url",
            "http://127.0.0.1:9",
        ],
    );
    let (_, leaf) = h.issue_leaf("issuing", "www");
    h.ok(&["revoke", &leaf, "--reason", "superseded"]);
    h.issue_leaf("root", "api");
    h.ok(&[
        "token",
        "create",
        "--ca",
        "issuing",
        "--profile",
        "tls-server",
        "--names",
        "*.example",
    ]);
    // A certificate from elsewhere, 10 days from expiry, and a webhook nothing answers: the
    // import owes its nearest passed reminder (15 days) at once, and its delivery fails.
    h.configure("[notify]\nwebhooks = [\"http://127.0.0.1:9/hook\"]\n");
    let (_, vendor) = caforge_tests::outside_pki(h.path(), "vendor.example", "10");
    h.ok(&["inventory", "import", &vendor]);
    let _ = h.run(&["notify", "run"]);
    // A managed certificate, deployed to a directory of this user's alone.
    std::fs::create_dir(h.file("web")).expect("web dir");
    std::fs::set_permissions(
        h.file("web"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let web = h.file("web");
    h.ok(&[
        "issue",
        "--ca",
        "root",
        "--key-type",
        "p256",
        "--subject",
        "CN=web.example",
        "--san",
        "dns:web.example",
        "--managed",
        "--deploy-dir",
        caforge_tests::s(&web),
    ]);
    let commands: Vec<(&str, Vec<&str>)> = vec![
        ("ca-list", vec!["ca", "list"]),
        ("ca-show", vec!["ca", "show", "issuing"]),
        ("cert-list", vec!["cert", "list"]),
        (
            "cert-list-revoked",
            vec!["cert", "list", "--status", "revoked"],
        ),
        ("cert-show", vec!["cert", "show", &leaf]),
        ("token-list", vec!["token", "list"]),
        ("audit-list", vec!["audit", "list"]),
        ("inventory-list", vec!["inventory", "list"]),
        ("managed-list", vec!["managed", "list"]),
        ("notify-status", vec!["notify", "status"]),
    ];
    let mut differences = Vec::new();
    for (name, args) in &commands {
        for format in ["text", "json"] {
            let mut all = args.clone();
            all.extend(["--format", format]);
            let r = h.ok(&all);
            let ext = if format == "json" { "json" } else { "txt" };
            if let Some(d) = golden(&format!("{name}.{ext}"), &normalise(&r.stdout, h.path())) {
                differences.push(d);
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn the_normaliser_replaces_what_changes_between_runs() {
    let dir = Path::new("/tmp/x");
    assert_eq!(
        normalise(
            "4001A2476128196EF3533C490F603C60ECC6CDBC until 2026-12-05T18:09:09Z at 1796494169 in /tmp/x/h by operator:ci-user.",
            dir
        ),
        "<SERIAL> until <TIME> at <UNIX> in <DIR>/h by operator:<USER>."
    );
    assert_eq!(
        normalise("CN=Lab Root id 12 p256", dir),
        "CN=Lab Root id 12 p256"
    );
}
