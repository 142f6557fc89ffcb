//! `caforge revoke` and `caforge unrevoke`.

use anyhow::{Context as _, Result};
use ca_core::authority::RevokeRequest;
use ca_core::revocation::RevocationReason;
use ca_core::store::CertificateRecord;

use crate::context::Globals;
use crate::output::{print_json, timestamp, Format};

/// Arguments of `caforge revoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// Serial number (hex).
    serial: String,
    /// The issuing CA (name or id); required when the serial exists under several CAs.
    #[arg(long)]
    ca: Option<String>,
    /// RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
    #[arg(long)]
    reason: RevocationReason,
    /// When the key was (suspected to be) compromised: RFC 3339 or YYYY-MM-DD.
    #[arg(long, value_parser = parse_instant)]
    invalidity_date: Option<i64>,
    /// Also revoke the certificate's dual-certificate partner, in the same transaction.
    #[arg(long)]
    pair: bool,
    /// Revoke it even if it has expired (with a warning).
    #[arg(long)]
    force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Arguments of `caforge unrevoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct UnrevokeArgs {
    /// Serial number (hex) of a certificate on hold.
    serial: String,
    /// The issuing CA (name or id).
    #[arg(long)]
    ca: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Parses RFC 3339 (`2026-11-01T10:00:00Z`) or a date (`2026-11-01`, midnight UTC).
pub(crate) fn parse_instant(s: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| format!("'{s}' is not a time (use RFC 3339 or YYYY-MM-DD)"))
}

fn revocation_json(c: &CertificateRecord) -> serde_json::Value {
    serde_json::json!({
        "serial": c.serial,
        "issuer": c.issuer_name,
        "status": c.status,
        "reason": c.revocation_reason.map(|r| r.as_str()),
        "revoked_at": c.revoked_at.map(timestamp),
        "invalidity_date": c.invalidity_date.map(timestamp),
    })
}

fn report(c: &CertificateRecord, verb: &str, format: Format) -> Result<()> {
    match format {
        Format::Json => print_json(&revocation_json(c)),
        Format::Text => {
            match c.revocation_reason {
                Some(r) => println!(
                    "{verb} {} (issuer '{}', reason {r})",
                    c.serial, c.issuer_name
                ),
                None => println!("{verb} {} (issuer '{}')", c.serial, c.issuer_name),
            }
            Ok(())
        }
    }
}

pub(crate) async fn revoke(g: &Globals, a: RevokeArgs) -> Result<()> {
    let services = g.services().await?;
    let cert =
        super::unexpired_or_forced(g, &services, &a.serial, a.ca.as_deref(), a.force).await?;
    // The certificate found (by its whole serial and issuer) is the one revoked.
    let req = RevokeRequest {
        serial: cert
            .as_ref()
            .map_or_else(|| a.serial.clone(), |c| c.serial.to_string()),
        ca: cert.as_ref().map(|c| c.issuer_name.clone()).or(a.ca),
        reason: a.reason,
        invalidity_date: a.invalidity_date,
        principal: ca_core::authz::Principal::local_operator(),
    };
    // On a terminal, a certificate with a valid partner asks whether to revoke both.
    let mut pair = a.pair;
    if let (false, true, Some(cert)) = (
        pair,
        std::io::IsTerminal::is_terminal(&std::io::stdin()),
        &cert,
    ) {
        if let Some(p) = services.dual.partner(cert).await? {
            if !p.certificate.is_revoked() {
                eprint!(
                    "{} has a dual-certificate partner, {} under '{}'. Revoke both? [y/N] ",
                    cert.serial, p.certificate.serial, p.certificate.issuer_name
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                pair = matches!(answer.trim(), "y" | "Y" | "yes");
            }
        }
    }
    let records = if pair {
        services
            .revocations
            .revoke_pair(&req)
            .await
            .with_context(|| format!("cannot revoke {} and its partner", a.serial))?
    } else {
        vec![services
            .revocations
            .revoke(&req)
            .await
            .with_context(|| format!("cannot revoke {}", a.serial))?]
    };
    if a.reason == RevocationReason::KeyCompromise {
        eprintln!("note: the key is blocked; CSRs for it will be refused");
    }
    if !pair {
        if let Some(p) = services.dual.partner(&records[0]).await? {
            if !p.certificate.is_revoked() {
                eprintln!(
                    "note: {} has a dual-certificate partner, {} under '{}', still valid; `caforge revoke {} --pair` revokes both",
                    records[0].serial, p.certificate.serial, p.certificate.issuer_name, records[0].serial
                );
            }
        }
    }
    match (a.format, records.as_slice()) {
        (Format::Json, [one]) => report(one, "revoked", a.format),
        (Format::Json, many) => print_json(&serde_json::Value::Array(
            many.iter().map(revocation_json).collect(),
        )),
        (Format::Text, many) => {
            for r in many {
                report(r, "revoked", a.format)?;
            }
            Ok(())
        }
    }
}

pub(crate) async fn unrevoke(g: &Globals, a: UnrevokeArgs) -> Result<()> {
    let services = g.services().await?;
    let record = services
        .revocations
        .unrevoke(&a.serial, a.ca.as_deref())
        .await
        .with_context(|| format!("cannot unrevoke {}", a.serial))?;
    report(&record, "hold released on", a.format)
}
