//! `caforge managed …`: certificates caforge renews and deploys itself.

use anyhow::Result;

use crate::context::Globals;
use crate::output::{print_json, timestamp, Format};

/// Managed-certificate subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ManagedCommand {
    /// Each managed certificate: current serial, expiry, renewal time, deployment state.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub(crate) async fn run(g: &Globals, cmd: ManagedCommand) -> Result<()> {
    let services = g.services().await?;
    match cmd {
        ManagedCommand::List { format } => {
            let all = services.lifecycle.managed().await?;
            match format {
                Format::Json => print_json(&serde_json::Value::Array(
                    all.iter()
                        .map(|m| {
                            serde_json::json!({
                                "id": m.record.id,
                                "serial": m.certificate.serial,
                                "issuer": m.certificate.issuer_name,
                                "subject": m.certificate.subject,
                                "sans": m.certificate.sans.iter().map(ToString::to_string).collect::<Vec<_>>(),
                                "key_type": m.record.key_type,
                                "not_after": timestamp(m.certificate.not_after),
                                "renew_at": timestamp(m.renew_at),
                                "deploy_dir": m.record.deploy_dir,
                                "deploy_hook": m.record.deploy_hook,
                                "state": m.record.state.as_str(),
                                "attempts": m.record.attempts,
                                "next_attempt_at": (m.record.state != ca_core::store::ManagedState::Deployed)
                                    .then(|| timestamp(m.record.next_attempt_at)),
                                "last_error": m.record.last_error,
                            })
                        })
                        .collect(),
                )),
                Format::Text => {
                    println!(
                        "{:<4} {:<34} {:<9} {:<20} {:<20} DIRECTORY / LAST ERROR",
                        "ID", "SERIAL", "STATE", "NOT AFTER", "RENEW AT"
                    );
                    for m in &all {
                        println!(
                            "{:<4} {:<34} {:<9} {:<20} {:<20} {}{}",
                            m.record.id,
                            m.certificate.serial,
                            m.record.state.as_str(),
                            timestamp(m.certificate.not_after),
                            timestamp(m.renew_at),
                            m.record.deploy_dir,
                            m.record
                                .last_error
                                .as_deref()
                                .map(|e| format!("  ({e})"))
                                .unwrap_or_default()
                        );
                    }
                    Ok(())
                }
            }
        }
    }
}
