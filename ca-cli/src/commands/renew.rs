//! `caforge renew` and `caforge reissue`: successors of issued certificates.

use std::path::PathBuf;

use anyhow::{bail, Result};
use ca_core::authority::RenewRequest;

use super::issue::{read_csr, report, write_outputs, OutputArgs};
use crate::context::Globals;
use crate::duration::parse_seconds;

/// What the predecessor becomes, shared by `renew` and `reissue`.
#[derive(Debug, clap::Args)]
pub(crate) struct PredecessorArgs {
    /// Serial number (hex) of the certificate to replace.
    serial: String,
    /// Its issuing CA, when the serial is ambiguous.
    #[arg(long)]
    ca: Option<String>,
    /// A CSR with a new key (rekey); without it the certificate's key is kept.
    #[arg(long)]
    csr: Option<PathBuf>,
    /// Validity in days (default: the profile's).
    #[arg(long)]
    days: Option<u32>,
    /// Revoke the old certificate as superseded (after --grace).
    #[arg(long)]
    revoke_old: bool,
    /// How long the old certificate stays valid beside its successor (e.g. 7d, 12h).
    #[arg(long, requires = "revoke_old")]
    grace: Option<String>,
}

/// Arguments of `caforge renew`.
#[derive(Debug, clap::Args)]
pub(crate) struct RenewArgs {
    #[command(flatten)]
    predecessor: PredecessorArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Arguments of `caforge reissue`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReissueArgs {
    #[command(flatten)]
    predecessor: PredecessorArgs,
    /// The new subject alternative names: dns:NAME, ip:ADDR, email:ADDR or uri:URI
    /// (repeatable; they replace the old ones).
    #[arg(long, required = true)]
    san: Vec<String>,
    /// A new subject DN (the old one is kept when absent).
    #[arg(long)]
    subject: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn request(p: &PredecessorArgs) -> Result<RenewRequest> {
    let revoke_old_after = match (p.revoke_old, &p.grace) {
        (false, _) => None,
        (true, None) => Some(0),
        (true, Some(g)) => Some(parse_seconds(g).map_err(anyhow::Error::msg)?),
    };
    Ok(RenewRequest {
        serial: p.serial.clone(),
        ca: p.ca.clone(),
        csr: p.csr.as_deref().map(read_csr).transpose()?,
        days: p.days,
        revoke_old_after,
        ..RenewRequest::default()
    })
}

async fn run(g: &Globals, mut req: RenewRequest, output: &OutputArgs, verb: &str) -> Result<()> {
    output.check(None)?;
    let services = g.services().await?;
    let old =
        super::unexpired_or_forced(g, &services, &req.serial, req.ca.as_deref(), output.force)
            .await?;
    if let Some(old) = old {
        req.serial = old.serial.to_string();
        req.ca = Some(old.issuer_name.clone());
    }
    let issued = services.lifecycle.renew(&req).await?;
    write_outputs(output, &issued)?;
    report(output, &issued, verb)?;
    match req.revoke_old_after {
        Some(0) => eprintln!("revoked {} (superseded)", req.serial),
        Some(grace) => eprintln!(
            "{} will be revoked as superseded in {} (by `caforge maintain`, `caforge crl` or `caforge serve`)",
            req.serial,
            crate::output::human_duration(grace)
        ),
        None => {}
    }
    Ok(())
}

/// `caforge renew SERIAL`: same subject, names and key (or a new key with --csr).
pub(crate) async fn renew(g: &Globals, a: RenewArgs) -> Result<()> {
    let req = request(&a.predecessor)?;
    let verb = if req.csr.is_some() {
        "rekeyed"
    } else {
        "renewed"
    };
    run(g, req, &a.output, verb).await
}

/// `caforge reissue SERIAL --san …`: new names, same key unless --csr.
pub(crate) async fn reissue(g: &Globals, a: ReissueArgs) -> Result<()> {
    if a.san.is_empty() {
        bail!("reissue needs at least one --san");
    }
    let mut req = request(&a.predecessor)?;
    req.sans = a.san;
    req.subject = a.subject;
    run(g, req, &a.output, "reissued").await
}
