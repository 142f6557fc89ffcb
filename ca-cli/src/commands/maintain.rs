//! `caforge maintain`: one pass of the scheduled work `caforge serve` does on its own.

use anyhow::Result;

use crate::context::Globals;
use crate::output::{print_json, Format};

/// Arguments of `caforge maintain`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Carries out due scheduled revocations (superseded certificates after their grace period).
pub(crate) async fn run(g: &Globals, a: Args) -> Result<()> {
    let authority = g.authority().await?;
    let due = authority.run_due_revocations().await?;
    match a.format {
        Format::Json => print_json(&serde_json::json!({
            "revoked": due.revoked,
            "already_revoked": due.moot,
        })),
        Format::Text => {
            for serial in &due.revoked {
                println!("revoked {serial} (superseded; grace period over)");
            }
            println!(
                "{} scheduled revocation(s) carried out, {} already revoked",
                due.revoked.len(),
                due.moot
            );
            Ok(())
        }
    }
}
