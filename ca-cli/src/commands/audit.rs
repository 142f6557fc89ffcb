//! `caforge audit`: check the hash-chained audit log.

use anyhow::Result;

use crate::context::Globals;
use crate::output::{print_json, Format};

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify that the audit log is complete and unmodified.
    Verify {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub(crate) async fn run(g: &Globals, cmd: AuditCommand) -> Result<()> {
    let AuditCommand::Verify { format } = cmd;
    let services = g.services().await?;
    let n = services.lifecycle.verify_audit().await??;
    match format {
        Format::Text => println!("audit log intact: {n} entries"),
        Format::Json => print_json(&serde_json::json!({"intact": true, "entries": n}))?,
    }
    Ok(())
}
