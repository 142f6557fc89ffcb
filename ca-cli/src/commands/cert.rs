//! `caforge cert …`: list and show issued certificates.

use anyhow::{bail, Result};
use ca_core::store::{CertificateFilter, CertificateRecord, PairMode, Partner};

use crate::context::Globals;
use crate::duration::parse_seconds;
use crate::output::{print_fields, print_json, timestamp, Format};

/// Certificate subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CertCommand {
    /// List certificates (CA certificates included, profile "ca").
    List {
        /// Only those issued by this CA.
        #[arg(long)]
        ca: Option<String>,
        /// valid, revoked or expired.
        #[arg(long)]
        status: Option<String>,
        /// Only valid certificates expiring within this period (e.g. 30d).
        #[arg(long)]
        expiring: Option<String>,
        /// Only certificates issued as dual-certificate pairs, with their partners.
        #[arg(long)]
        pairs: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one certificate.
    Show {
        /// Serial number (hex).
        serial: String,
        /// Issuing CA, when the serial is ambiguous.
        #[arg(long)]
        ca: Option<String>,
        /// Print the certificate as PEM instead of its details.
        #[arg(long)]
        pem: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

fn effective_status(c: &CertificateRecord, now: i64) -> &str {
    if c.status == "valid" && c.not_after < now {
        "expired"
    } else {
        &c.status
    }
}

/// This certificate's role in its pair and its partner, for listings.
fn pair_json(p: &Partner) -> serde_json::Value {
    let (mine, theirs) = match p.mode {
        PairMode::Sm2SignEnc => ("sign", "enc"),
        PairMode::RsaSm2 => ("rsa", "sm2"),
    };
    let (role, partner_role) = if p.is_first {
        (mine, theirs)
    } else {
        (theirs, mine)
    };
    serde_json::json!({
        "mode": p.mode.as_str(),
        "role": role,
        "partner": format!("{} ({} under '{}')", p.certificate.serial, partner_role, p.certificate.issuer_name),
    })
}

fn cert_json(c: &CertificateRecord, now: i64) -> serde_json::Value {
    serde_json::json!({
        "serial": c.serial,
        "issuer": c.issuer_name,
        "subject": c.subject,
        "sans": c.sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "profile": c.profile,
        "key_type": c.key_type,
        "not_before": timestamp(c.not_before),
        "not_after": timestamp(c.not_after),
        "status": effective_status(c, now),
        "fingerprint_sha256": c.fingerprint,
        "revoked_at": c.revoked_at.map(timestamp),
        "revocation_reason": c.revocation_reason.map(|r| r.as_str()),
        "invalidity_date": c.invalidity_date.map(timestamp),
        "crl_url": c.crl_url,
    })
}

pub(crate) async fn run(g: &Globals, cmd: CertCommand) -> Result<()> {
    let authority = g.authority().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match cmd {
        CertCommand::List {
            ca,
            status,
            expiring,
            pairs,
            format,
        } => {
            let mut filter = CertificateFilter::default();
            if let Some(ca) = ca {
                filter.issuer = Some(authority.ca(&ca).await?.id);
            }
            match status.as_deref() {
                None => {}
                Some("valid") => {
                    filter.status = Some("valid".into());
                    filter.not_after_from = Some(now);
                }
                Some("expired") => {
                    filter.status = Some("valid".into());
                    filter.not_after_before = Some(now);
                }
                Some("revoked") => filter.status = Some("revoked".into()),
                Some(other) => {
                    bail!("unknown status '{other}' (expected valid, revoked or expired)")
                }
            }
            if let Some(window) = expiring {
                let secs = parse_seconds(&window).map_err(anyhow::Error::msg)?;
                filter.status = Some("valid".into());
                filter.not_after_from = Some(now);
                filter.not_after_before = Some(now.saturating_add(secs));
            }
            let mut rows = Vec::new();
            for c in authority.certificates(&filter).await? {
                let partner = authority.partner(&c).await?;
                if !pairs || partner.is_some() {
                    rows.push((c, partner));
                }
            }
            match format {
                Format::Json => print_json(&serde_json::Value::Array(
                    rows.iter()
                        .map(|(c, p)| {
                            let mut v = cert_json(c, now);
                            v["pair"] = p.as_ref().map_or(serde_json::Value::Null, pair_json);
                            v
                        })
                        .collect(),
                )),
                Format::Text => {
                    println!(
                        "{:<34} {:<16} {:<12} {:<8} {:<20} SUBJECT / SANS",
                        "SERIAL", "ISSUER", "PROFILE", "STATUS", "NOT AFTER"
                    );
                    for (c, p) in &rows {
                        let mut names = if c.sans.is_empty() {
                            c.subject.clone()
                        } else {
                            c.sans
                                .iter()
                                .map(|s| s.to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        };
                        if let Some(p) = p {
                            let pair = pair_json(p);
                            names.push_str(&format!(
                                "  [{} {}; partner {}]",
                                pair["mode"].as_str().unwrap_or(""),
                                pair["role"].as_str().unwrap_or(""),
                                pair["partner"].as_str().unwrap_or("")
                            ));
                        }
                        println!(
                            "{:<34} {:<16} {:<12} {:<8} {:<20} {}",
                            c.serial,
                            c.issuer_name,
                            c.profile,
                            effective_status(c, now),
                            timestamp(c.not_after),
                            names
                        );
                    }
                    Ok(())
                }
            }
        }
        CertCommand::Show {
            serial,
            ca,
            pem,
            format,
        } => {
            let c = authority.certificate(&serial, ca.as_deref()).await?;
            if pem {
                print!("{}", ca_core::pem::certificate(&c.der)?);
                return Ok(());
            }
            let mut json = cert_json(&c, now);
            if let Some(p) = authority.partner(&c).await? {
                let pair = pair_json(&p);
                json["pair_mode"] = pair["mode"].clone();
                json["pair_role"] = pair["role"].clone();
                json["partner"] = pair["partner"].clone();
            }
            match format {
                Format::Json => print_json(&json),
                Format::Text => {
                    print_fields(json, 20);
                    Ok(())
                }
            }
        }
    }
}
