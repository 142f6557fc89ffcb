//! `caforge audit`: read and check the keyed, hash-chained audit log and its checkpoints.

use anyhow::Result;

use crate::context::Globals;
use crate::output::{print_json, timestamp, Format, Table};

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify that the audit log is complete and unmodified: every entry's link and keyed
    /// hash (entries from before caforge kept a key form a legacy segment at the start),
    /// and every checkpoint of its head still in it; names the first bad entry.
    Verify {
        /// The checkpoint file to check against (default: the home's audit.checkpoints;
        /// give the copy you keep elsewhere).
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<std::path::PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List audit entries, oldest first: when, what, which CA and serial, and who
    /// (operator:USER, server, token:ID).
    List {
        /// Only entries of this principal (e.g. token:3, operator:alice, server).
        #[arg(long)]
        principal: Option<String>,
        /// Only the last N matching entries.
        #[arg(long, value_name = "N")]
        last: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub(crate) async fn run(g: &Globals, cmd: AuditCommand) -> Result<()> {
    let services = g.services().await?;
    match cmd {
        AuditCommand::Verify {
            checkpoints,
            format,
        } => {
            if let Some(path) = checkpoints.as_ref().filter(|p| !p.exists()) {
                anyhow::bail!("no checkpoint file at {}", path.display());
            }
            let key = ca_core::audit::AuditKey::read(&g.audit_key_path())?;
            let points = ca_core::audit::Checkpoints::new(
                checkpoints.unwrap_or_else(|| g.checkpoints_path()),
                key.clone(),
            );
            let report = services
                .lifecycle
                .verify_audit(Some(&key), Some(&points))
                .await??;
            let checked = report.checkpoints.clone().unwrap_or_default();
            match format {
                Format::Text => println!(
                    "audit log intact: {} ({} legacy, unkeyed), {}{}",
                    crate::output::count(report.chain.entries, "entry", "entries"),
                    report.chain.legacy,
                    crate::output::count(checked.checkpoints, "checkpoint", "checkpoints"),
                    checked
                        .latest
                        .map(|s| format!(" (newest at entry {s})"))
                        .unwrap_or_default()
                ),
                Format::Json => {
                    print_json(&serde_json::json!({
                        "intact": true,
                        "entries": report.chain.entries,
                        "legacy_entries": report.chain.legacy,
                        "checkpoints": checked.checkpoints,
                        "newest_checkpoint": checked.latest,
                    }))?;
                }
            }
        }
        AuditCommand::List {
            principal,
            last,
            format,
        } => {
            let mut entries: Vec<_> = services
                .lifecycle
                .audit_entries()
                .await?
                .into_iter()
                .filter(|r| {
                    // `token:3` also finds `token:3 client-key:…` (the same token over mTLS).
                    principal.as_deref().is_none_or(|p| {
                        r.event.principal.as_deref().is_some_and(|q| {
                            q == p || q.strip_prefix(p).is_some_and(|rest| rest.starts_with(' '))
                        })
                    })
                })
                .collect();
            if let Some(n) = last {
                entries.drain(..entries.len().saturating_sub(n));
            }
            match format {
                Format::Json => {
                    let rows: Vec<serde_json::Value> = entries
                        .iter()
                        .map(|r| {
                            serde_json::json!({
                                "seq": r.seq,
                                "at": timestamp(r.event.at),
                                "action": r.event.action.as_str(),
                                "ca": r.event.ca,
                                "serial": r.event.serial,
                                "principal": r.event.principal,
                                "details": r.event.details,
                            })
                        })
                        .collect();
                    print_json(&serde_json::Value::Array(rows))?;
                }
                Format::Text => {
                    let mut table =
                        Table::new(&["SEQ", "AT", "ACTION", "CA", "PRINCIPAL", "SERIAL"]);
                    for r in &entries {
                        table.row(vec![
                            r.seq.to_string(),
                            timestamp(r.event.at),
                            r.event.action.as_str().to_owned(),
                            r.event.ca.as_deref().unwrap_or("-").to_owned(),
                            r.event
                                .principal
                                .as_deref()
                                .unwrap_or("(unrecorded)")
                                .to_owned(),
                            r.event.serial.as_deref().unwrap_or("-").to_owned(),
                        ]);
                    }
                    table.print();
                }
            }
        }
    }
    Ok(())
}
