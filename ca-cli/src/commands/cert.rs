//! `caforge cert …`: list and show issued certificates.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use ca_core::authority::Services;
use ca_core::profile::CertificateProfile;
use ca_core::store::{
    AnyStore, CertificateFilter, CertificateRecord, CertificateStatus, Lineage, PairMode, Partner,
    SuccessionKind,
};

use crate::context::Globals;
use crate::duration::parse_seconds;
use crate::output::{
    check_writable, deliver, print_fields, print_json, timestamp, write_file, Format, Table,
};

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
        /// Leave out imported (external) certificates.
        #[arg(long)]
        no_external: bool,
        /// Exit non-zero when any certificate matches (for monitoring with --expiring).
        #[arg(long)]
        fail_if_any: bool,
        /// With --expiring or --fail-if-any, also count caforge's own short-lived
        /// certificates (delegated OCSP responders, which maintenance replaces).
        #[arg(long)]
        include_internal: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Export a certificate, with its chain or every certification path.
    Export {
        /// Serial number (hex).
        serial: String,
        /// Issuing CA, when the serial is ambiguous.
        #[arg(long)]
        ca: Option<String>,
        /// Append the issuers up to the root (each CA's own certificate, the actual issuer).
        #[arg(long)]
        chain: bool,
        /// Every valid path to a root, through cross certificates too (implies --chain):
        /// each path is a PEM bundle introduced by a "# path N" line.
        #[arg(long)]
        all_paths: bool,
        /// DER instead of PEM (the certificate alone).
        #[arg(long, conflicts_with_all = ["chain", "all_paths"])]
        der: bool,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --all-paths: also write each path to DIR/path-N.pem.
        #[arg(long, requires = "all_paths")]
        out_dir: Option<PathBuf>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
        /// json: the serial, issuer and the certificate(s) as one JSON object.
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

fn effective_status(c: &CertificateRecord, now: i64) -> &'static str {
    c.status_at(now).as_str()
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

/// The "successor of / replaced by" fields of `cert show`.
fn lineage_json(json: &mut serde_json::Value, lineage: &Lineage) {
    let link = |kind: SuccessionKind, c: &CertificateRecord| serde_json::json!({"serial": c.serial, "issuer": c.issuer_name, "kind": kind.as_str()});
    json["predecessor"] = lineage
        .predecessor
        .as_ref()
        .map_or(serde_json::Value::Null, |(k, c)| link(*k, c));
    json["successors"] = lineage
        .successors
        .iter()
        .map(|(k, c)| link(*k, c))
        .collect::<Vec<_>>()
        .into();
    json["revocation_scheduled"] = lineage
        .scheduled_revocation
        .as_ref()
        .map_or(serde_json::Value::Null, |s| {
            format!("{} at {}", s.reason.as_str(), timestamp(s.due_at)).into()
        });
}

/// `cert export`: the certificate, its chain, or every path.
#[allow(clippy::too_many_arguments)]
async fn export(
    services: &Services<AnyStore>,
    c: &CertificateRecord,
    chain: bool,
    all_paths: bool,
    der: bool,
    out: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    force: bool,
    format: Format,
) -> Result<()> {
    if let Some(path) = &out {
        check_writable(path, force)?;
    }
    let bytes = if der {
        c.der.clone()
    } else if all_paths {
        let paths = services.lifecycle.certification_paths(c).await?;
        if paths.is_empty() {
            bail!("no valid path from {} to a root", c.serial);
        }
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut text = String::new();
        for (i, path) in paths.iter().enumerate() {
            let route: Vec<String> = path
                .iter()
                .map(|e| {
                    if e.cross {
                        format!("{} (cross-signed by {})", e.subject, e.issuer_name)
                    } else {
                        e.subject.clone()
                    }
                })
                .collect();
            let pem = ca_core::pem::certificates(
                std::iter::once(c.der.as_slice()).chain(path.iter().map(|e| e.der.as_slice())),
            )?;
            if let Some(dir) = &out_dir {
                write_file(
                    &dir.join(format!("path-{}.pem", i + 1)),
                    pem.as_bytes(),
                    force,
                )?;
            }
            text.push_str(&format!(
                "# path {}: {} <- {}\n",
                i + 1,
                c.subject,
                route.join(" <- ")
            ));
            text.push_str(&pem);
        }
        text.into_bytes()
    } else if chain {
        let issuer = services.directory.ca_by_id(c.issuer_ca_id).await?;
        let chain = services.directory.chain_records(&issuer).await?;
        ca_core::pem::certificates(
            std::iter::once(c.der.as_slice()).chain(chain.iter().map(|r| r.cert_der.as_slice())),
        )?
        .into_bytes()
    } else {
        ca_core::pem::certificate(&c.der)?.into_bytes()
    };
    let about = serde_json::json!({"serial": c.serial, "issuer": c.issuer_name, "chain": chain || all_paths});
    deliver(&bytes, der, out.as_deref(), force, format, about)
}

pub(crate) async fn run(g: &Globals, cmd: CertCommand) -> Result<()> {
    let services = g.services().await?;
    let now = g.now()?;
    match cmd {
        CertCommand::List {
            ca,
            status,
            expiring,
            pairs,
            no_external,
            fail_if_any,
            include_internal,
            format,
        } => {
            // Monitoring asks about certificates someone must act on; responders renew
            // themselves, so they are left out unless asked for.
            let leave_out_internal = (expiring.is_some() || fail_if_any) && !include_internal;
            let mut filter = CertificateFilter::default();
            // Imported certificates have no caforge issuer, no revocation and no partner.
            let with_external =
                !no_external && ca.is_none() && !pairs && status.as_deref() != Some("revoked");
            if let Some(ca) = ca {
                filter.issuer = Some(services.directory.ca(&ca).await?.id);
            }
            match status.as_deref() {
                None => {}
                Some("valid") => {
                    filter.status = Some(CertificateStatus::Valid);
                    filter.not_after_from = Some(now);
                }
                Some("expired") => {
                    filter.status = Some(CertificateStatus::Valid);
                    filter.not_after_before = Some(now);
                }
                Some("revoked") => filter.status = Some(CertificateStatus::Revoked),
                Some(other) => {
                    return Err(ca_core::Error::Invalid(format!(
                        "unknown status '{other}' (expected valid, revoked or expired)"
                    ))
                    .into())
                }
            }
            if let Some(window) = expiring {
                let secs = parse_seconds(&window).map_err(anyhow::Error::msg)?;
                filter.status = Some(CertificateStatus::Valid);
                filter.not_after_from = Some(now);
                filter.not_after_before = Some(now.saturating_add(secs));
            }
            let mut rows = Vec::new();
            for c in services.directory.certificates(&filter).await? {
                if leave_out_internal && c.profile == CertificateProfile::OcspSigning {
                    continue;
                }
                let partner = services.dual.partner(&c).await?;
                if !pairs || partner.is_some() {
                    rows.push((c, partner));
                }
            }
            let mut external = Vec::new();
            if with_external {
                let inventory = &services.inventory;
                for r in inventory
                    .inventory(filter.not_after_from, filter.not_after_before)
                    .await?
                {
                    let ca = super::inventory::issuer_ca_name(inventory, &r).await?;
                    external.push(super::inventory::record_json(&r, ca.as_deref(), now));
                }
            }
            let matched = rows.len() + external.len();
            let listed = match format {
                Format::Json => print_json(&serde_json::Value::Array(
                    rows.iter()
                        .map(|(c, p)| {
                            let mut v = cert_json(c, now);
                            v["external"] = false.into();
                            v["pair"] = p.as_ref().map_or(serde_json::Value::Null, pair_json);
                            v
                        })
                        .chain(external)
                        .collect(),
                )),
                Format::Text => {
                    let mut table = Table::new(&[
                        "SERIAL",
                        "ISSUER",
                        "PROFILE",
                        "STATUS",
                        "NOT AFTER",
                        "SUBJECT / SANS",
                    ]);
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
                        table.row(vec![
                            c.serial.to_string(),
                            c.issuer_name.clone(),
                            c.profile.to_string(),
                            effective_status(c, now).to_owned(),
                            timestamp(c.not_after),
                            names,
                        ]);
                    }
                    for e in &external {
                        let text = |k: &str| e[k].as_str().unwrap_or("").to_owned();
                        let sans: Vec<&str> = e["sans"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                            .unwrap_or_default();
                        table.row(vec![
                            text("serial"),
                            "(external)".into(),
                            "-".into(),
                            text("status"),
                            text("not_after"),
                            format!(
                                "{}  [external: {}]",
                                if sans.is_empty() {
                                    text("subject")
                                } else {
                                    sans.join(",")
                                },
                                text("source")
                            ),
                        ]);
                    }
                    table.print();
                    Ok(())
                }
            };
            listed?;
            if fail_if_any && matched > 0 {
                bail!(
                    "{} {}",
                    crate::output::count(matched, "certificate", "certificates"),
                    if matched == 1 { "matches" } else { "match" }
                );
            }
            Ok(())
        }
        CertCommand::Export {
            serial,
            ca,
            chain,
            all_paths,
            der,
            out,
            out_dir,
            force,
            format,
        } => {
            let c = services
                .directory
                .certificate(&serial, ca.as_deref())
                .await?;
            export(
                &services, &c, chain, all_paths, der, out, out_dir, force, format,
            )
            .await
        }
        CertCommand::Show {
            serial,
            ca,
            pem,
            format,
        } => {
            let c = services
                .directory
                .certificate(&serial, ca.as_deref())
                .await?;
            if pem {
                print!("{}", ca_core::pem::certificate(&c.der)?);
                return Ok(());
            }
            let mut json = cert_json(&c, now);
            lineage_json(&mut json, &services.lifecycle.lineage(&c).await?);
            if let Some(p) = services.dual.partner(&c).await? {
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
