//! `caforge inventory …`: track certificates caforge did not issue.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ca_core::authority::{Imported, Inventory};
use ca_core::inventory::MAX_IMPORT_BYTES;
use ca_core::store::{AnyStore, InventoryRecord};

use crate::context::Globals;
use crate::duration::parse_seconds;
use crate::output::{done, print_json, timestamp, Format, Table};

/// Inventory subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum InventoryCommand {
    /// Import PEM bundles, DER files and directories of them (deduplicated by SHA-256
    /// fingerprint). Files that hold no certificate are reported and skipped; the exit status
    /// is non-zero if any was.
    Import {
        /// Files or directories (directories are read recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List imported certificates.
    List {
        /// Only those expiring within this period (e.g. 30d).
        #[arg(long)]
        expiring: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Stop tracking an imported certificate.
    Remove {
        /// Its inventory id, or a fingerprint prefix (8+ hex digits).
        certificate: String,
        /// Output format of the result.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Regular files under `path` (itself when a file), sorted, symlinks not followed.
fn files_under(path: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<(String, String)>) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut children: Vec<PathBuf> =
                    entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                children.sort();
                for child in children {
                    files_under(&child, out, problems);
                }
            }
            Err(e) => problems.push((path.display().to_string(), e.to_string())),
        },
        Ok(m) if m.is_file() => out.push(path.to_path_buf()),
        Ok(_) => problems.push((
            path.display().to_string(),
            "not a regular file or directory".into(),
        )),
        Err(e) => problems.push((path.display().to_string(), e.to_string())),
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

pub(crate) fn record_json(
    r: &InventoryRecord,
    issuer_ca: Option<&str>,
    now: i64,
) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "external": true,
        "fingerprint_sha256": r.fingerprint,
        "serial": r.serial,
        "subject": r.subject,
        "issuer": r.issuer,
        "issuer_ca": issuer_ca,
        "issuer_inventory_id": r.issuer_inventory_id,
        "sans": r.sans.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "key_type": r.key_type,
        "not_before": timestamp(r.not_before),
        "not_after": timestamp(r.not_after),
        "status": if r.not_after < now { "expired" } else { "valid" },
        "source": r.source,
        "imported_at": timestamp(r.imported_at),
    })
}

/// The name of the caforge CA that signed `r`, if any.
pub(crate) async fn issuer_ca_name(
    inventory: &Inventory<AnyStore>,
    r: &InventoryRecord,
) -> Result<Option<String>> {
    Ok(match r.issuer_ca_id {
        Some(id) => inventory.ca_name(id).await?,
        None => None,
    })
}

pub(crate) async fn run(g: &Globals, cmd: InventoryCommand) -> Result<()> {
    let inventory = g.inventory().await?;
    let now = g.now()?;
    match cmd {
        InventoryCommand::Import { paths, format } => {
            let mut files = Vec::new();
            let mut problems = Vec::new();
            for p in &paths {
                files_under(p, &mut files, &mut problems);
            }
            let mut results = Vec::new();
            for file in &files {
                let source = file.display().to_string();
                let outcome = match read_bounded(file) {
                    Ok(bytes) => inventory
                        .import_inventory(&source, &bytes)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(certs) => results.push((source, certs)),
                    Err(e) => problems.push((source, e)),
                }
            }
            let count = |want: fn(&Imported) -> bool| {
                results
                    .iter()
                    .flat_map(|(_, c)| c)
                    .filter(|c| want(&c.outcome))
                    .count()
            };
            let added = count(|o| matches!(o, Imported::Added { .. }));
            let duplicates = count(|o| matches!(o, Imported::Duplicate { .. }));
            let issued = count(|o| matches!(o, Imported::IssuedHere { .. }));
            match format {
                Format::Json => print_json(&serde_json::json!({
                    "added": added,
                    "duplicates": duplicates,
                    "issued_by_caforge": issued,
                    "certificates": results.iter().flat_map(|(source, certs)| certs.iter().map(move |c| {
                        let (outcome, detail) = match &c.outcome {
                            Imported::Added { id, issuer_ca } => ("added", serde_json::json!({"id": id, "issuer_ca": issuer_ca})),
                            Imported::Duplicate { id } => ("duplicate", serde_json::json!({"id": id})),
                            Imported::IssuedHere { serial } => ("issued-by-caforge", serde_json::json!({"serial": serial})),
                        };
                        serde_json::json!({
                            "source": source,
                            "fingerprint_sha256": c.fingerprint,
                            "subject": c.subject,
                            "not_after": timestamp(c.not_after),
                            "outcome": outcome,
                            "detail": detail,
                        })
                    })).collect::<Vec<_>>(),
                    "skipped": problems.iter().map(|(f, e)| serde_json::json!({"file": f, "error": e})).collect::<Vec<_>>(),
                }))?,
                Format::Text => {
                    for (source, certs) in &results {
                        for c in certs {
                            let what = match &c.outcome {
                                Imported::Added {
                                    id,
                                    issuer_ca: Some(ca),
                                } => {
                                    format!("added as {id} (issued by caforge CA '{ca}')")
                                }
                                Imported::Added {
                                    id,
                                    issuer_ca: None,
                                } => format!("added as {id}"),
                                Imported::Duplicate { .. } => "already in the inventory".into(),
                                Imported::IssuedHere { serial } => {
                                    format!("issued by caforge (serial {serial}); not imported")
                                }
                            };
                            println!(
                                "{source}: {} (until {}): {what}",
                                c.subject,
                                timestamp(c.not_after)
                            );
                        }
                    }
                    println!(
                        "{added} added, {duplicates} already present, {issued} issued by caforge, {} file(s) skipped",
                        problems.len()
                    );
                }
            }
            for (file, e) in &problems {
                eprintln!("skipped {file}: {e}");
            }
            if !problems.is_empty() {
                bail!(
                    "{} file(s) held no importable certificate (the others were imported)",
                    problems.len()
                );
            }
            Ok(())
        }
        InventoryCommand::List { expiring, format } => {
            let before = match expiring {
                Some(w) => Some(now.saturating_add(parse_seconds(&w).map_err(anyhow::Error::msg)?)),
                None => None,
            };
            let rows = inventory.inventory(before.map(|_| now), before).await?;
            let mut json = Vec::with_capacity(rows.len());
            for r in &rows {
                json.push(record_json(
                    r,
                    issuer_ca_name(&inventory, r).await?.as_deref(),
                    now,
                ));
            }
            match format {
                Format::Json => print_json(&serde_json::Value::Array(json)),
                Format::Text => {
                    let mut table = Table::new(&[
                        "ID",
                        "FINGERPRINT",
                        "STATUS",
                        "NOT AFTER",
                        "SUBJECT (SOURCE)",
                    ]);
                    for (r, j) in rows.iter().zip(&json) {
                        table.row(vec![
                            r.id.to_string(),
                            r.fingerprint[..16.min(r.fingerprint.len())].to_owned(),
                            j["status"].as_str().unwrap_or("").to_owned(),
                            timestamp(r.not_after),
                            format!("{} ({})", r.subject, r.source),
                        ]);
                    }
                    table.print();
                    Ok(())
                }
            }
        }
        InventoryCommand::Remove {
            certificate,
            format,
        } => {
            let removed = inventory.remove_inventory(&certificate).await?;
            done(
                format,
                &format!(
                    "removed {} ({}) from the inventory",
                    removed.subject, removed.fingerprint
                ),
                &serde_json::json!({
                    "id": removed.id,
                    "subject": removed.subject,
                    "fingerprint": removed.fingerprint,
                    "removed": true,
                }),
            )
        }
    }
}
