//! `caforge ocsp …`: answer OCSP requests offline, pre-sign responses, rotate responders.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use ca_core::revocation::ocsp::{parse_response, CertStatus, MAX_OCSP_REQUEST_BYTES};

use crate::args::CaObject;
use crate::context::Globals;
use crate::output::{check_writable, done, print_json, timestamp, write_file, Format};

/// OCSP subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum OcspCommand {
    /// Answer a DER OCSP request (e.g. from `openssl ocsp -reqout`) into a DER response.
    Respond {
        /// The request (DER).
        #[arg(long)]
        request: PathBuf,
        /// Where to write the response (DER).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Pre-sign responses (RFC 5019) for every unexpired certificate of a CA.
    Presign {
        #[command(flatten)]
        ca: CaObject,
        /// Output format of the result.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Issue a new delegated OCSP responder certificate for a CA now.
    RotateResponder {
        #[command(flatten)]
        ca: CaObject,
        /// Output format of the result.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

fn status_text(s: &CertStatus) -> String {
    match s {
        CertStatus::Good => "good".into(),
        CertStatus::Unknown => "unknown".into(),
        CertStatus::Revoked { at, reason } => format!(
            "revoked at {} ({})",
            timestamp(*at),
            reason.map_or("unspecified", |r| r.as_str())
        ),
    }
}

pub(crate) async fn run(g: &Globals, cmd: OcspCommand) -> Result<()> {
    match cmd {
        OcspCommand::Respond {
            request,
            out,
            force,
            format,
        } => {
            check_writable(&out, force)?;
            let meta = std::fs::metadata(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            if meta.len() > MAX_OCSP_REQUEST_BYTES as u64 {
                bail!(
                    "{} is {} bytes; OCSP requests are at most {MAX_OCSP_REQUEST_BYTES}",
                    request.display(),
                    meta.len()
                );
            }
            let bytes = std::fs::read(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            let services = g.services().await?;
            let outcome = services.responder.ocsp_respond(&bytes).await;
            write_file(&out, &outcome.der, force)?;
            let parsed = parse_response(&outcome.der).ok();
            let answers = parsed.map(|p| p.answers).unwrap_or_default();
            match format {
                Format::Json => print_json(&serde_json::json!({
                    "status": outcome.status.as_str(),
                    "cached": outcome.cached,
                    "detail": outcome.detail,
                    "answers": answers.iter().map(|(serial, s, _, _)| serde_json::json!({
                        "serial": serial, "status": status_text(s),
                    })).collect::<Vec<_>>(),
                }))?,
                Format::Text => {
                    println!(
                        "{}{}",
                        outcome.status.as_str(),
                        if outcome.cached { " (pre-signed)" } else { "" }
                    );
                    for (serial, s, _, _) in &answers {
                        println!("{serial}: {}", status_text(s));
                    }
                }
            }
            if let Some(detail) = outcome.detail {
                // The response was written (clients get the error status); say why here.
                bail!("answered {}: {detail}", outcome.status.as_str());
            }
            Ok(())
        }
        OcspCommand::Presign { ca, format } => {
            let ca = ca.name();
            let services = g.services().await?;
            let n = services.responder.presign_ocsp(ca).await?;
            done(
                format,
                &format!(
                    "pre-signed {} for CA '{ca}'",
                    crate::output::count(n, "OCSP response", "OCSP responses")
                ),
                &serde_json::json!({"ca": ca, "presigned": n}),
            )
        }
        OcspCommand::RotateResponder { ca, format } => {
            let ca = ca.name();
            let services = g.services().await?;
            let cert = services.responder.rotate_responder(ca).await?;
            done(
                format,
                &format!(
                    "issued OCSP responder {} for CA '{ca}' (valid until {})",
                    cert.serial,
                    timestamp(cert.not_after)
                ),
                &serde_json::json!({
                    "ca": ca,
                    "serial": cert.serial,
                    "not_after": timestamp(cert.not_after),
                }),
            )
        }
    }
}
