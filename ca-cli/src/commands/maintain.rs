//! `caforge maintain`: one pass of the scheduled work `caforge serve` does on its own.

use anyhow::{bail, Result};

use crate::context::Globals;
use crate::output::{print_json, Format};

/// Arguments of `caforge maintain`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Carries out due scheduled revocations (superseded certificates after their grace
/// period), renews and deploys managed certificates that are due, and issues delegated OCSP
/// responders that are missing or due.
pub(crate) async fn run(g: &Globals, a: Args) -> Result<()> {
    let services = g.services().await?;
    let due = services.lifecycle.run_due_revocations().await?;
    let managed = ca_ops::managed::run_pass(&services.lifecycle).await?;
    for (id, error) in &managed.failed {
        eprintln!("managed certificate {id}: {error}");
    }
    let responders = services.responder.refresh_responders().await?;
    for (ca, error) in &responders.failed {
        eprintln!("OCSP responder of CA '{ca}': {error}");
    }
    let printed = match a.format {
        Format::Json => print_json(&serde_json::json!({
            "revoked": due.revoked,
            "already_revoked": due.moot,
            "managed": {
                "renewed": managed.renewed,
                "deployed": managed.deployed,
                "failed": managed.failed.iter().map(|(id, e)| serde_json::json!({"id": id, "error": e})).collect::<Vec<_>>(),
            },
            "ocsp_responders": {
                "issued": responders.issued.iter().map(|(ca, serial)| serde_json::json!({"ca": ca, "serial": serial})).collect::<Vec<_>>(),
                "failed": responders.failed.iter().map(|(ca, e)| serde_json::json!({"ca": ca, "error": e})).collect::<Vec<_>>(),
            },
        })),
        Format::Text => {
            for serial in &due.revoked {
                println!("revoked {serial} (superseded; grace period over)");
            }
            for (ca, serial) in &responders.issued {
                println!("issued OCSP responder {serial} for CA '{ca}'");
            }
            println!(
                "{} scheduled revocation(s) carried out, {} already revoked; managed: {} renewed, {} deployed, {} failed",
                due.revoked.len(),
                due.moot,
                managed.renewed,
                managed.deployed,
                managed.failed.len()
            );
            Ok(())
        }
    };
    printed?;
    if !responders.failed.is_empty() {
        bail!(
            "{} OCSP responder(s) could not be issued; OCSP for those CAs answers tryLater until one is",
            responders.failed.len()
        );
    }
    if !managed.failed.is_empty() {
        bail!(
            "{} managed certificate(s) failed to renew or deploy; retried with backoff (caforge managed list)",
            managed.failed.len()
        );
    }
    Ok(())
}
