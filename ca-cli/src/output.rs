//! Rendering: one-line errors, text/JSON formats, and files that are never silently replaced.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use clap::ValueEnum;

/// Output format of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON, for scripts.
    Json,
}

/// An error chain on one line: `outer: inner: root cause`.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// Whether the command line asks for JSON (`--format json` or `--format=json`): its
/// errors are then JSON too.
pub(crate) fn wants_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_format = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if arg == "--format=json" || (previous_was_format && arg == "json") {
            return true;
        }
        previous_was_format = arg == "--format";
    }
    false
}

/// What the user can do about a failure: the command line's way to give what is missing
/// ([`hint`]), or for a database that refuses writes, what to check (`sqlite`: the home's
/// database file, when it is SQLite).
pub(crate) fn advice(e: &anyhow::Error, sqlite: Option<&Path>) -> Option<String> {
    if let Some(h) = hint(e) {
        return Some(h.to_owned());
    }
    let read_only = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ca_core::store::StoreError>(),
            Some(ca_core::store::StoreError::ReadOnly(_))
        ) || matches!(
            c.downcast_ref::<ca_core::Error>(),
            Some(ca_core::Error::Store(ca_core::store::StoreError::ReadOnly(
                _
            )))
        )
    });
    read_only.then(|| write_check(sqlite))
}

/// What to check when the database refuses writes (`sqlite`: the file, when SQLite).
pub(crate) fn write_check(sqlite: Option<&Path>) -> String {
    match sqlite {
        Some(file) => format!(
            "check that this user may write {}, its -wal and -shm files and its directory",
            file.display()
        ),
        None => {
            "check that the database server takes writes (not a standby, not read-only)".to_owned()
        }
    }
}

/// A failure as one JSON object (stderr, for `--format json`): its kind (`failed` when
/// caforge does not classify it), the exit code, the one-line message and what to do.
pub(crate) fn error_json(e: &anyhow::Error, advice: Option<String>) -> serde_json::Value {
    let kind = kind_of(e).map_or("failed", ca_core::ErrorKind::as_str);
    serde_json::json!({
        "error": {
            "kind": kind,
            "exit_code": exit_code(e),
            "message": one_line(e),
            "hint": advice,
        }
    })
}

/// The kind of the first classified error in `e`'s chain, if any.
fn kind_of(e: &anyhow::Error) -> Option<ca_core::ErrorKind> {
    e.chain().find_map(ca_core::ErrorKind::of)
}

/// A command line that does not parse, as one JSON object (stderr, for `--format json`).
pub(crate) fn usage_error_json(e: &clap::Error) -> serde_json::Value {
    serde_json::json!({
        "error": {
            "kind": "usage",
            "exit_code": 2,
            "message": e.to_string().lines().next().unwrap_or("").trim_start_matches("error: "),
            "hint": "see --help",
        }
    })
}

/// The exit status for a failure: by the kind of the first classified error in its chain
/// (the table in the README), 1 when none is classified.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    use ca_core::ErrorKind;
    match kind_of(e) {
        None => 1,
        Some(ErrorKind::Rejected) => 3,
        Some(ErrorKind::NotFound) => 4,
        Some(ErrorKind::Conflict) => 5,
        Some(ErrorKind::Unauthorized) => 6,
        Some(ErrorKind::Forbidden) => 7,
        Some(ErrorKind::Exhausted) => 8,
        Some(ErrorKind::Unavailable) => 9,
        Some(ErrorKind::Internal) => 10,
    }
}

/// How to give the command line what a failure says is missing, in its own terms (core
/// messages name no flag).
pub(crate) fn hint(e: &anyhow::Error) -> Option<&'static str> {
    use ca_core::keys::KeyError;
    e.chain().find_map(|c| {
        let key = match c.downcast_ref::<ca_core::Error>() {
            Some(ca_core::Error::NotRenewable { profile: "ca", .. }) => {
                return Some("use `caforge ca rollover` for CAs")
            }
            Some(ca_core::Error::Key(k)) => Some(k),
            _ => c.downcast_ref::<KeyError>(),
        };
        hint_for(key?)
    })
}

fn hint_for(e: &ca_core::keys::KeyError) -> Option<&'static str> {
    use ca_core::keys::KeyError;
    match e {
        KeyError::MissingPassphrase => {
            Some("pass --passphrase-file FILE, or set CAFORGE_PASSPHRASE_FILE or CAFORGE_PASSPHRASE")
        }
        KeyError::MissingPin(_) => Some(
            "pass --pin-file FILE, set CAFORGE_PIN_FILE or CAFORGE_PIN, or add pin-source=FILE to the key URI",
        ),
        _ => None,
    }
}

/// Hands out exported bytes (certificates, chains): to `out` or stdout as they are; with
/// `--format json`, `about` plus `file` (the file written, or null) and the bytes — `pem`
/// for text, `der_hex` for DER — as one JSON object on stdout.
pub(crate) fn deliver(
    bytes: &[u8],
    der: bool,
    out: Option<&Path>,
    force: bool,
    format: Format,
    mut about: serde_json::Value,
) -> Result<()> {
    if let Some(path) = out {
        write_file(path, bytes, force)?;
    }
    match format {
        Format::Json => {
            about["file"] = out.map_or(serde_json::Value::Null, |p| p.display().to_string().into());
            if der {
                about["der_hex"] = hex::encode(bytes).into();
            } else {
                about["pem"] = String::from_utf8_lossy(bytes).into_owned().into();
            }
            print_json(&about)
        }
        Format::Text if out.is_none() => {
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
        Format::Text => Ok(()),
    }
}

/// Reports what a command did: `text` as a line on stdout, or `json` (`--format json`).
pub(crate) fn done(format: Format, text: &str, json: &serde_json::Value) -> Result<()> {
    match format {
        Format::Json => print_json(json),
        Format::Text => {
            println!("{text}");
            Ok(())
        }
    }
}

/// Fails if `path` exists and `force` is not set; run before doing any work.
pub(crate) fn check_writable(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists (use --force to overwrite)",
            path.display()
        );
    }
    Ok(())
}

/// Writes a public file (certificate, chain).
pub(crate) fn write_file(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    check_writable(path, force)?;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Formats Unix seconds as RFC 3339.
pub(crate) fn timestamp(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Prints JSON to stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> Result<()> {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(value)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        // A reader that stopped reading (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints a JSON object as aligned `key value` lines (the text form of `show` commands).
pub(crate) fn print_fields(value: serde_json::Value, width: usize) {
    if let serde_json::Value::Object(map) = value {
        // At least `width`, and wide enough for the longest field name.
        let width = map
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0)
            .max(width);
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            println!("{k:<width$} {v}");
        }
    }
}

/// A spinner on stderr for a long operation of unknown length; draws nothing unless stderr
/// is a terminal.
pub(crate) fn progress_spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A progress bar on stderr for `len` steps; draws nothing unless stderr is a terminal.
pub(crate) fn progress_bar(len: u64, message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// `secs` as the largest whole unit that fits: `7d`, `12h`, `90s`.
pub(crate) fn human_duration(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s => format!("{s}s"),
    }
}

/// `n` with the noun in the right number: "1 entry", "3 entries".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A text listing whose columns are as wide as their widest cell (the last one unpadded),
/// so long names and serials never push the columns out of line.
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub(crate) fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row (one cell per heading).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines of text.
    pub(crate) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table on stdout.
    pub(crate) fn print(&self) {
        print!("{}", self.render());
    }
}

#[cfg(test)]
mod table_tests {
    use super::Table;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&["ID", "NAME", "KEY"]);
        t.row(vec!["1".into(), "a-very-long-name".into(), "p256".into()]);
        t.row(vec!["10".into(), "b".into(), "sm2".into()]);
        assert_eq!(
            t.render(),
            "ID  NAME              KEY\n1   a-very-long-name  p256\n10  b                 sm2\n"
        );
    }

    #[test]
    fn json_is_wanted_in_either_spelling_only() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(super::wants_json(args(&[
            "caforge", "ca", "list", "--format", "json"
        ])));
        assert!(super::wants_json(args(&[
            "caforge",
            "cert",
            "show",
            "--format=json"
        ])));
        assert!(!super::wants_json(args(&[
            "caforge", "ca", "list", "--format", "text"
        ])));
        assert!(!super::wants_json(args(&[
            "caforge",
            "issue",
            "--subject",
            "json"
        ])));
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::new(&["CN", "X"]);
        t.row(vec!["证书".into(), "y".into()]);
        assert_eq!(t.render(), "CN  X\n证书  y\n");
    }
}
