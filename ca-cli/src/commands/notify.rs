//! `caforge notify …`: expiry notifications to the webhooks in caforge.toml.

use anyhow::{bail, Result};

use crate::context::Globals;
use crate::output::{print_json, timestamp, Format, Table};

/// Notification subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum NotifyCommand {
    /// One pass: record the reminders that became due, deliver every pending one.
    Run {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Every notification with its delivery state, attempts and last error.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub(crate) async fn run(g: &Globals, cmd: NotifyCommand) -> Result<()> {
    let config = g.config()?;
    let inventory = g.inventory().await?;
    match cmd {
        NotifyCommand::Run { format } => {
            if config.notify.webhooks.is_empty() {
                bail!("no webhooks configured: add [notify] webhooks = [\"http://…\"] to caforge.toml");
            }
            let report = ca_ops::notify::run_pass(&inventory, &config.notify).await?;
            match format {
                Format::Json => print_json(&serde_json::json!({
                    "recorded": report.recorded,
                    "delivered": report.delivered,
                    "retrying": report.retrying,
                    "given_up": report.given_up,
                })),
                Format::Text => {
                    println!(
                        "{} became due; {} delivered, {} to retry, {} given up",
                        report.recorded, report.delivered, report.retrying, report.given_up
                    );
                    Ok(())
                }
            }
        }
        NotifyCommand::Status { format } => {
            let all = inventory.notifications().await?;
            match format {
                Format::Json => print_json(&serde_json::Value::Array(
                    all.iter()
                        .map(|n| {
                            serde_json::json!({
                                "id": n.id,
                                "target": n.target,
                                "threshold_days": n.threshold_days,
                                "webhook": n.webhook,
                                "state": n.state.as_str(),
                                "attempts": n.attempts,
                                "next_attempt_at": (n.state == ca_core::store::NotificationState::Pending).then(|| timestamp(n.next_attempt_at)),
                                "last_error": n.last_error,
                                "due_since": timestamp(n.created_at),
                                "delivered_at": n.delivered_at.map(timestamp),
                                "payload": serde_json::from_str::<serde_json::Value>(&n.payload).unwrap_or_default(),
                            })
                        })
                        .collect(),
                )),
                Format::Text => {
                    let mut table = Table::new(&[
                        "ID",
                        "CERTIFICATE",
                        "DAYS",
                        "STATE",
                        "TRY",
                        "NEXT ATTEMPT",
                        "WEBHOOK (LAST ERROR)",
                    ]);
                    for n in &all {
                        // The certificate by its subject (the target, `cert:ID` or
                        // `inventory:ID`, is the store's key for it).
                        let payload: serde_json::Value =
                            serde_json::from_str(&n.payload).unwrap_or_default();
                        let (kind, id) = n.target.split_once(':').unwrap_or(("", &n.target));
                        let what = if kind == "inventory" {
                            format!("imported {id}")
                        } else {
                            format!("issued {id}")
                        };
                        table.row(vec![
                            n.id.to_string(),
                            format!(
                                "{} ({what})",
                                payload["subject"].as_str().unwrap_or("?")
                            ),
                            n.threshold_days.to_string(),
                            n.state.as_str().to_owned(),
                            n.attempts.to_string(),
                            if n.state == ca_core::store::NotificationState::Pending {
                                timestamp(n.next_attempt_at)
                            } else {
                                "-".into()
                            },
                            format!(
                                "{}{}",
                                n.webhook,
                                n.last_error
                                    .as_deref()
                                    .map(|e| format!("  ({e})"))
                                    .unwrap_or_default()
                            ),
                        ]);
                    }
                    table.print();
                    Ok(())
                }
            }
        }
    }
}
