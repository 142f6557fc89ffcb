//! The README runs as written: its `sh` blocks, in order, in a scratch directory, with
//! `caforge` and `hsm-sim` the binaries this test build made, on free loopback ports.
//!
//! A block's fence says how it runs (the words after `sh`):
//! - nothing: run; any failing command fails the test (`set -euo pipefail`);
//! - `fails`: the block must fail, other than as a usage error (it shows a refusal);
//! - `server`: a long-running command, started in the background; the harness waits until
//!   the ports it names (8080 when none) accept connections and stops it before the next `server` block and
//!   at the end;
//! - `needs=CMD`: run only when the command `CMD` exists (e.g. `wrk`, `softhsm2-util`);
//!   otherwise reported as skipped;
//! - `skip: REASON`: not run (the set-up commands, which CI runs anyway).
//!
//! Ports 8080 and 8443 in the text become free loopback ports; `cargo run --release -p
//! ca-cli --` becomes `caforge`; `~` is the scratch directory's own home.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use caforge_tests::workspace_bin;

/// How a README block runs.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Run,
    Fails,
    Server,
    Needs(String),
    Skip(String),
}

/// One `sh` block of the README.
#[derive(Debug, Clone)]
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    mode: Mode,
    text: String,
}

/// The `sh` blocks of `markdown`, with their markers.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let info = info.trim();
        let mut body = String::new();
        for (_, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        let Some(marker) = info.strip_prefix("sh") else {
            continue;
        };
        let marker = marker.trim();
        let mode = if marker.is_empty() {
            Mode::Run
        } else if marker == "fails" {
            Mode::Fails
        } else if marker == "server" {
            Mode::Server
        } else if let Some(cmd) = marker.strip_prefix("needs=") {
            Mode::Needs(cmd.trim().to_owned())
        } else if let Some(reason) = marker.strip_prefix("skip:") {
            assert!(
                !reason.trim().is_empty(),
                "README line {}: a skipped block says why",
                n + 1
            );
            Mode::Skip(reason.trim().to_owned())
        } else {
            panic!("README line {}: unknown block marker '{marker}'", n + 1);
        };
        out.push(Block {
            line: n + 1,
            mode,
            text: body,
        });
    }
    out
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Whether `cmd` is on PATH.
fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The block's text as the harness runs it.
fn localise(text: &str, ports: &[(&str, u16)]) -> String {
    let mut text = text.replace("cargo run --release -p ca-cli --", "caforge");
    for (from, to) in ports {
        text = text.replace(from, &to.to_string());
    }
    text
}

/// The ports (after localisation) a server block listens on.
fn ports_in(text: &str, ports: &[(&str, u16)]) -> Vec<u16> {
    ports
        .iter()
        .filter(|(_, p)| text.contains(&p.to_string()))
        .map(|(_, p)| *p)
        .collect()
}

/// The whole script: each block in order, as its marker says.
fn script(blocks: &[Block], dir: &Path, ports: &[(&str, u16)]) -> (String, Vec<String>) {
    let mut s = String::from(
        "set -euo pipefail\nset -a\nSERVERS=()\n\
         stop_servers() { for p in \"${SERVERS[@]}\"; do pkill -TERM -P \"$p\" 2>/dev/null || true; kill -TERM \"$p\" 2>/dev/null || true; wait \"$p\" 2>/dev/null || true; done; SERVERS=(); }\n\
         trap 'stop_servers; kill $(jobs -p) 2>/dev/null || true' EXIT\n\
         wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo \"nothing listens on port $1\" >&2; return 1; }\n",
    );
    let mut skipped = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let file = dir.join(format!("block-{i:02}.sh"));
        let text = localise(&b.text, ports);
        std::fs::write(&file, &text).expect("write block");
        let file = file.display();
        let kind = match &b.mode {
            Mode::Run | Mode::Needs(_) => "run",
            Mode::Fails => "expected to fail",
            Mode::Server => "server",
            Mode::Skip(_) => "skipped",
        };
        let _ = writeln!(s, "echo '=== README line {} ({kind})' >&2", b.line);
        match &b.mode {
            Mode::Run => {
                let _ = writeln!(s, "source {file}");
            }
            Mode::Needs(cmd) => {
                if have(cmd) {
                    let _ = writeln!(s, "source {file}");
                } else {
                    skipped.push(format!("line {}: needs {cmd}", b.line));
                }
            }
            Mode::Fails => {
                // It must fail as the README says, not on a command line caforge cannot
                // parse (exit 2, like bash's own usage errors).
                let _ = writeln!(
                    s,
                    "set +e; bash -euo pipefail {file}; rc=$?; set -e\nif [ $rc -eq 0 ] || [ $rc -eq 2 ]; then echo \"README line {}: this block should have failed (exit $rc)\" >&2; exit 1; fi",
                    b.line
                );
            }
            Mode::Server => {
                let _ = writeln!(
                    s,
                    "stop_servers\nbash -euo pipefail {file} > server-{i:02}.log 2>&1 &\nSERVERS+=($!)"
                );
                // A server that names no port serves the one its home's caforge.toml names:
                // 8080 in this README.
                let mut waits = ports_in(&text, ports);
                if waits.is_empty() {
                    waits.push(ports[0].1);
                }
                for p in waits {
                    let _ = writeln!(
                        s,
                        "wait_port {p} || {{ cat server-{i:02}.log >&2; exit 1; }}"
                    );
                }
            }
            Mode::Skip(reason) => skipped.push(format!("line {}: {reason}", b.line)),
        }
    }
    s.push_str("stop_servers\necho '=== README done' >&2\n");
    (s, skipped)
}

/// A directory on PATH holding `caforge` and `hsm-sim` from this build.
fn bin_dir(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    for name in ["caforge", "hsm-sim"] {
        std::os::unix::fs::symlink(workspace_bin(name), bin.join(name)).expect("symlink");
    }
    bin
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).expect("README.md")
}

#[test]
fn the_readme_parses_into_marked_blocks() {
    let all = blocks(readme().as_str());
    assert!(all.len() >= 8, "README has {} sh blocks", all.len());
    // The two set-up commands open the README and are left to CI.
    let setup: Vec<&Block> = all.iter().take(2).collect();
    assert!(setup.iter().all(|b| matches!(b.mode, Mode::Skip(_))));
    assert!(setup[0].text.contains("quickstart"));
    assert!(setup[1].text.contains("cargo test --workspace"));
    // The tour itself runs quickstart (without serving) and serves its home afterwards.
    let run: String = all
        .iter()
        .filter(|b| !matches!(b.mode, Mode::Skip(_)))
        .map(|b| b.text.as_str())
        .collect();
    assert!(run.contains("quickstart --no-serve"));
    assert!(all.iter().any(|b| b.mode == Mode::Server));
    assert!(all.iter().any(|b| b.mode == Mode::Fails));
}

#[test]
fn the_readme_runs_as_written() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let bin = bin_dir(dir);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work");
    let ports = [("8080", free_port()), ("8443", free_port())];
    let (text, skipped) = script(&blocks(&readme()), dir, &ports);
    std::fs::write(dir.join("readme.sh"), &text).expect("script");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(dir.join("readme.sh"))
        .current_dir(&work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut logs = String::new();
    for entry in std::fs::read_dir(&work).expect("work").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("server-") && name.ends_with(".log") {
            let _ = writeln!(
                logs,
                "--- {name}\n{}",
                std::fs::read_to_string(entry.path()).unwrap_or_default()
            );
        }
    }
    assert!(
        out.status.success(),
        "the README failed as written\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n{logs}"
    );
    assert!(stderr.contains("=== README done"), "{stderr}");
    for s in &skipped {
        eprintln!("README block skipped: {s}");
    }
}
