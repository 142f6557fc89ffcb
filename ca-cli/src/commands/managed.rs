//! `caforge managed …`: certificates caforge renews and deploys itself.

use anyhow::Result;

use crate::context::Globals;
use crate::output::{done, print_json, timestamp, Format, Table};

/// Managed-certificate subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ManagedCommand {
    /// Each managed certificate: current serial, expiry, renewal time, deployment state.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Set or clear a managed certificate's deployment hook (a name caforge.toml's [hooks]
    /// allows); audited.
    SetHook {
        /// The managed certificate's id (`managed list`).
        id: i64,
        /// The hook's name in [hooks].
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        hook: Option<String>,
        /// Run no hook after deployments.
        #[arg(long)]
        clear: bool,
        /// Output format of the result.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub(crate) async fn run(g: &Globals, cmd: ManagedCommand) -> Result<()> {
    let services = g.services().await?;
    match cmd {
        ManagedCommand::SetHook {
            id,
            hook,
            clear,
            format,
        } => {
            let managed = services
                .lifecycle
                .managed()
                .await?
                .into_iter()
                .find(|m| m.record.id == id)
                .ok_or_else(|| {
                    ca_core::store::StoreError::NotFound(format!("managed certificate {id}"))
                })?;
            let hook = if clear { None } else { hook };
            services
                .lifecycle
                .set_managed_hook(&managed, hook.as_deref())
                .await?;
            let text = match &hook {
                Some(h) => {
                    format!("managed certificate {id} runs hook '{h}' after each deployment")
                }
                None => format!("managed certificate {id} runs no hook"),
            };
            done(format, &text, &serde_json::json!({"id": id, "hook": hook}))
        }
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
                    let mut table = Table::new(&[
                        "ID",
                        "SERIAL",
                        "STATE",
                        "NOT AFTER",
                        "RENEW AT",
                        "DIRECTORY (LAST ERROR)",
                    ]);
                    for m in &all {
                        table.row(vec![
                            m.record.id.to_string(),
                            m.certificate.serial.to_string(),
                            m.record.state.as_str().to_owned(),
                            timestamp(m.certificate.not_after),
                            timestamp(m.renew_at),
                            format!(
                                "{}{}",
                                m.record.deploy_dir,
                                m.record
                                    .last_error
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
