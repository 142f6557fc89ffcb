//! `caforge crl`: sign the CRL(s) of a CA, full or delta.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use ca_core::authority::{CrlRequest, SignedCrl};

use crate::args::CaObject;
use crate::context::Globals;
use crate::output::{check_writable, print_json, timestamp, write_file, Format};

/// Arguments of `caforge crl`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    ca: CaObject,
    /// A delta CRL (changes since the newest full CRL).
    #[arg(long)]
    delta: bool,
    /// Only this partition of a partitioned CA.
    #[arg(long)]
    partition: Option<u32>,
    /// Write the CRL here (one CRL; PEM unless --der). Without it, PEM goes to stdout.
    #[arg(long, conflicts_with = "out_dir")]
    out: Option<PathBuf>,
    /// Write every CRL into this directory, named as in their URLs (DER, as served).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// DER instead of PEM (for --out and stdout).
    #[arg(long)]
    der: bool,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
    /// Format of the summary printed on stderr (json: on stdout, with --out/--out-dir).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

fn summary(c: &SignedCrl) -> serde_json::Value {
    serde_json::json!({
        "number": c.number,
        "partition": c.partition,
        "base_number": c.base_number,
        "entries": c.entries,
        "this_update": timestamp(c.this_update),
        "next_update": timestamp(c.next_update),
        "url": c.url,
        "file": c.file_name,
        "warnings": c.warnings,
    })
}

pub(crate) async fn run(g: &Globals, a: Args) -> Result<()> {
    if let Some(out) = &a.out {
        check_writable(out, a.force)?;
    }
    if let Some(dir) = &a.out_dir {
        if dir.exists() && !dir.is_dir() {
            bail!("{} exists and is not a directory", dir.display());
        }
    }
    let services = g.services().await?;
    let record = services.directory.ca(a.ca.name()).await?;
    // Superseded certificates whose grace period ended belong on this CRL.
    let due = services.lifecycle.run_due_revocations().await?;
    for serial in &due.revoked {
        eprintln!("revoked {serial} (superseded; its grace period ended)");
    }
    if a.out_dir.is_none() && a.partition.is_none() && record.settings.crl_partitions > 1 {
        bail!(
            "CA '{}' has {} CRL partitions: pass --partition P or --out-dir DIR",
            record.name,
            record.settings.crl_partitions
        );
    }
    // Made before signing: a CRL number is never spent on CRLs that cannot be written.
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let crls = services
        .revocations
        .crl(&CrlRequest {
            ca: a.ca.name().to_owned(),
            delta: a.delta,
            partition: a.partition,
        })
        .await?;
    if a.out_dir.is_none() && crls.len() > 1 {
        bail!(
            "CA '{}' has certificates in {} CRL scopes: pass --out-dir DIR (the CRLs were signed and recorded)",
            record.name,
            crls.len()
        );
    }
    for c in &crls {
        for w in &c.warnings {
            eprintln!("warning: {w}");
        }
        if let Some(dir) = &a.out_dir {
            write_file(&dir.join(&c.file_name), &c.der, true)?;
        } else if let Some(out) = &a.out {
            if a.der {
                write_file(out, &c.der, a.force)?;
            } else {
                write_file(out, ca_core::pem::crl(&c.der)?.as_bytes(), a.force)?;
            }
        } else if a.der {
            use std::io::Write;
            std::io::stdout().write_all(&c.der)?;
        } else {
            print!("{}", ca_core::pem::crl(&c.der)?);
        }
        if a.format == Format::Text {
            eprintln!(
                "{} CRL {} for CA '{}'{}: {}, next update {}",
                if c.base_number.is_some() {
                    "delta"
                } else {
                    "full"
                },
                c.number,
                record.name,
                c.partition
                    .map(|p| format!(" partition {p}"))
                    .unwrap_or_default(),
                crate::output::count(c.entries, "entry", "entries"),
                timestamp(c.next_update)
            );
        }
    }
    if a.format == Format::Json && (a.out.is_some() || a.out_dir.is_some()) {
        print_json(&serde_json::Value::Array(
            crls.iter().map(summary).collect(),
        ))?;
    }
    Ok(())
}
