//! `caforge probe HOST:PORT`: check a TLS endpoint's served chain (expiry, host name,
//! trust, revocation); non-zero exit on any problem.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use ca_core::inventory::certificates_in;
use ca_core::revocation::check::RevocationStatus;
use ca_ops::probe::{probe, ProbeOptions};

use crate::context::Globals;
use crate::output::{print_json, timestamp, Format};

/// Arguments of `caforge probe`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The endpoint, HOST:PORT.
    address: String,
    /// Server name to send (SNI) and check the certificate for (default: HOST).
    #[arg(long)]
    sni: Option<String>,
    /// Also trust the roots in this PEM file (besides caforge's roots and the system's).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Do not trust the system's root store.
    #[arg(long)]
    no_system_roots: bool,
    /// A leaf expiring within this many days counts as a problem.
    #[arg(long, default_value_t = 0)]
    min_days: i64,
    /// Add the served leaf to the inventory, so expiry reminders cover it.
    #[arg(long)]
    watch: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) async fn run(g: &Globals, a: Args) -> Result<()> {
    let services = g.services().await?;
    let cas = services.directory.cas().await?;
    // SM2 signatures in a chain are checked with the signer IDs caforge's CAs use.
    let mut sm2_ids = vec![ca_core::algorithm::DEFAULT_SM2_ID.to_owned()];
    for c in &cas {
        if !sm2_ids.contains(&c.sm2_id) {
            sm2_ids.push(c.sm2_id.clone());
        }
    }
    let mut roots: Vec<(String, Vec<u8>)> = cas
        .into_iter()
        .filter(|c| c.parent_id.is_none())
        .map(|c| ("caforge".to_owned(), c.cert_der))
        .collect();
    if let Some(path) = &a.ca_file {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let certs =
            certificates_in(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        roots.extend(certs.into_iter().map(|c| ("ca-file".to_owned(), c.der)));
    }
    let report = probe(&ProbeOptions {
        address: a.address.clone(),
        sni: a.sni.clone(),
        roots,
        system_roots: !a.no_system_roots,
        min_days: a.min_days,
        now: g.now()?,
        sm2_ids,
    })
    .await
    .map_err(anyhow::Error::msg)?;

    let mut watched = None;
    if a.watch {
        let pem = ca_core::pem::certificate(&report.chain[0].der)?;
        let imported = services
            .inventory
            .import_inventory(&format!("probe:{}", a.address), pem.as_bytes())
            .await?;
        watched = imported.first().map(|i| format!("{:?}", i.outcome));
    }

    let status_text = |s: &Result<RevocationStatus, String>| match s {
        Ok(RevocationStatus::Good) => "good".to_owned(),
        Ok(RevocationStatus::Unknown) => "unknown".to_owned(),
        Ok(RevocationStatus::Revoked { at, reason }) => format!(
            "revoked at {} ({})",
            timestamp(*at),
            reason.map_or("unspecified", |r| r.as_str())
        ),
        Err(e) => format!("error: {e}"),
    };
    match a.format {
        Format::Json => print_json(&serde_json::json!({
            "address": a.address,
            "name": report.name,
            "chain": report.chain.iter().map(|c| serde_json::json!({
                "subject": c.subject,
                "issuer": c.issuer,
                "serial": c.serial,
                "not_before": timestamp(c.not_before),
                "not_after": timestamp(c.not_after),
                "days_left": c.days_left,
                "fingerprint_sha256": c.fingerprint,
            })).collect::<Vec<_>>(),
            "hostname_ok": report.hostname.is_ok(),
            "trusted": report.trust.as_ref().ok(),
            "revocation": report.revocation.iter().map(|r| serde_json::json!({
                "index": r.index,
                "method": r.method,
                "url": r.url,
                "status": status_text(&r.status),
            })).collect::<Vec<_>>(),
            "problems": report.problems,
            "watched": watched,
        }))?,
        Format::Text => {
            println!("{} (name {})", a.address, report.name);
            for (i, c) in report.chain.iter().enumerate() {
                println!(
                    "  [{i}] {}  issued by {}  until {} ({} days)",
                    c.subject,
                    c.issuer,
                    timestamp(c.not_after),
                    c.days_left
                );
            }
            println!(
                "  host name: {}",
                report
                    .hostname
                    .as_ref()
                    .map_or_else(|e| e.clone(), |()| "matches".into())
            );
            println!(
                "  trust: {}",
                report
                    .trust
                    .as_ref()
                    .map_or_else(|e| e.clone(), |t| format!("builds to {t}"))
            );
            if report.revocation.is_empty() {
                println!("  revocation: no OCSP or CRL URLs to check");
            }
            for r in &report.revocation {
                println!(
                    "  revocation [{}] {} {}: {}",
                    r.index,
                    r.method,
                    r.url,
                    status_text(&r.status)
                );
            }
            if let Some(w) = &watched {
                println!("  watched: {w}");
            }
        }
    }
    if !report.problems.is_empty() {
        bail!(
            "{} problem(s): {}",
            report.problems.len(),
            report.problems.join("; ")
        );
    }
    Ok(())
}
