//! `caforge issue`: an end-entity certificate from a CSR or from a key caforge generates.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use ca_core::algorithm::KeyType;
use ca_core::authority::{IssueRequest, Issued, SubjectKey};
use ca_core::issuance::MAX_CSR_BYTES;
use ca_core::keys::{encrypt_key_pem, plain_key_pem, write_private_file, Passphrase};
use ca_core::profile::ProfileName;

use crate::context::Globals;
use crate::output::{check_writable, print_json, timestamp, write_file, Format};

/// Arguments of `caforge issue`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["csr", "key_type"])))]
pub(crate) struct Args {
    /// Issuing CA (name or id).
    #[arg(long)]
    ca: String,
    /// PKCS#10 CSR file (PEM or DER).
    #[arg(long)]
    csr: Option<PathBuf>,
    /// Generate a key of this type instead of using a CSR (needs --subject, and --key-out
    /// unless --managed).
    #[arg(long)]
    key_type: Option<KeyType>,
    /// Where to write the generated private key (encrypted PKCS#8 PEM, mode 0600).
    #[arg(long)]
    key_out: Option<PathBuf>,
    #[command(flatten)]
    key_protection: KeyProtection,
    #[command(flatten)]
    subject: SubjectArgs,
    /// caforge keeps the key (sealed like CA keys), renews the certificate with a new key
    /// when its renewal window opens (the last third of its lifetime, at most 30 days) and
    /// deploys it (`caforge maintain` or `caforge serve`); needs --key-type and --deploy-dir.
    #[arg(long, requires_all = ["key_type", "deploy_dir"])]
    managed: bool,
    /// Where a managed certificate is deployed: cert.pem, chain.pem, fullchain.pem and
    /// key.pem (0600), each replaced atomically.
    #[arg(long, requires = "managed")]
    deploy_dir: Option<PathBuf>,
    /// Hook run after each deployment: a name caforge.toml's [hooks] table allows (its
    /// command runs with `sh -c` in the deployment directory); a failure is reported and
    /// retried.
    #[arg(long, requires = "managed", value_name = "NAME")]
    deploy_hook: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// How a private key caforge generates for a subscriber is written: under a passphrase
/// given for it (never the CA passphrase, which must not travel with a subscriber's key),
/// or unencrypted on request. Shared by `issue` and `issue-dual`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyProtection {
    /// File holding the passphrase the generated private key is encrypted under (the
    /// key's own; never the CA passphrase).
    #[arg(long, value_name = "FILE", conflicts_with = "no_encrypt_key")]
    pub(crate) key_passphrase_file: Option<PathBuf>,
    /// Write the generated key unencrypted (mode 0600).
    #[arg(long)]
    pub(crate) no_encrypt_key: bool,
}

impl KeyProtection {
    /// The generated key's passphrase, or `None` for `--no-encrypt-key`.
    ///
    /// # Errors
    /// Neither option given, or an unreadable or empty passphrase file.
    pub(crate) fn passphrase(&self) -> Result<Option<Passphrase>> {
        match (&self.key_passphrase_file, self.no_encrypt_key) {
            (_, true) => Ok(None),
            (Some(file), false) => Ok(Some(Passphrase::from_file(file).with_context(|| {
                format!("reading the key passphrase from {}", file.display())
            })?)),
            (None, false) => bail!(
                "a generated key is encrypted under its own passphrase: pass --key-passphrase-file FILE (or --no-encrypt-key)"
            ),
        }
    }
}

/// Where an issued certificate goes, shared by `issue`, `renew` and `reissue`.
#[derive(Debug, clap::Args)]
pub(crate) struct OutputArgs {
    /// Where to write the certificate (default: stdout).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Where to write the issuer chain (intermediates, without the root).
    #[arg(long)]
    pub(crate) chain_out: Option<PathBuf>,
    /// Write DER instead of PEM.
    #[arg(long)]
    pub(crate) der: bool,
    /// Overwrite existing output files (renew and reissue: also act on an expired
    /// certificate, with a warning).
    #[arg(long)]
    pub(crate) force: bool,
    /// Format of the summary.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}

impl OutputArgs {
    /// Refuses outputs that cannot be written, before anything is issued.
    pub(crate) fn check(&self, extra: Option<&PathBuf>) -> Result<()> {
        for path in [&self.out, &self.chain_out]
            .into_iter()
            .flatten()
            .chain(extra)
        {
            check_writable(path, self.force)?;
        }
        if self.der && self.chain_out.is_some() {
            bail!("--chain-out writes PEM; drop --der or --chain-out");
        }
        Ok(())
    }
}

/// What a certificate says about its subject, shared by `issue` and `issue-dual`.
#[derive(Debug, clap::Args)]
pub(crate) struct SubjectArgs {
    /// Subject DN, e.g. "CN=www.example.com,O=Example". Overrides a CSR's subject.
    #[arg(long)]
    pub(crate) subject: Option<String>,
    /// Subject alternative name: dns:NAME, ip:ADDR, email:ADDR or uri:URI (repeatable).
    /// Without --san, the CSR's requested SANs are used.
    #[arg(long)]
    pub(crate) san: Vec<String>,
    /// Profile: tls-server, tls-client, code-signing or email.
    #[arg(long, default_value = "tls-server")]
    pub(crate) profile: ProfileName,
    /// Validity in days (default: the profile's).
    #[arg(long)]
    pub(crate) days: Option<u32>,
}

pub(crate) fn read_csr(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CSR_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > MAX_CSR_BYTES {
        bail!("{}: CSR larger than {MAX_CSR_BYTES} bytes", path.display());
    }
    Ok(bytes)
}

pub(crate) async fn run(g: &Globals, args: Args) -> Result<()> {
    // Everything that can fail without side effects is checked before issuing.
    args.output.check(args.key_out.as_ref())?;
    let key = match (&args.csr, args.key_type) {
        (Some(_), None) if args.managed => {
            bail!("--managed needs a key caforge generates: give --key-type instead of --csr")
        }
        (Some(path), None) => SubjectKey::Csr(read_csr(path)?),
        (None, Some(kt)) => {
            if args.subject.subject.is_none() {
                bail!("--key-type needs --subject");
            }
            if args.key_out.is_none() && !args.managed {
                bail!("--key-type needs --key-out (or --managed, where caforge keeps the key)");
            }
            SubjectKey::Generate(kt)
        }
        _ => bail!("give either --csr FILE or --key-type TYPE"),
    };
    let key_passphrase = match (&key, &args.key_out) {
        (SubjectKey::Generate(_), Some(_)) => args.key_protection.passphrase()?,
        _ => None,
    };
    let deploy_dir = match &args.deploy_dir {
        Some(dir) => Some(std::path::absolute(dir)?.display().to_string()),
        None => None,
    };
    let services = g.services().await?;
    let request = IssueRequest {
        ca: args.ca.clone(),
        key,
        subject: args.subject.subject.clone(),
        sans: args.subject.san.clone(),
        profile: args.subject.profile,
        days: args.subject.days,
        principal: ca_core::authz::Principal::local_operator(),
    };
    let issued = match &deploy_dir {
        Some(dir) => {
            let (issued, managed) = services
                .lifecycle
                .issue_managed(&request, dir, args.deploy_hook.as_deref())
                .await?;
            // First deployment now; a failure is recorded and retried like any other.
            match ca_ops::managed::deploy(&services.lifecycle, &managed).await {
                Ok(()) => {
                    services.lifecycle.managed_attempted(&managed, None).await?;
                    eprintln!(
                        "managed certificate {} deployed to {dir} (renewal from {})",
                        managed.record.id,
                        timestamp(managed.renew_at)
                    );
                }
                Err(e) => {
                    services
                        .lifecycle
                        .managed_attempted(&managed, Some(&e))
                        .await?;
                    eprintln!(
                        "warning: managed certificate {} was issued but its deployment failed (it will be retried): {e}",
                        managed.record.id
                    );
                }
            }
            issued
        }
        None => services.issuance.issue(&request).await?,
    };
    if let (Some(key), Some(path)) = (&issued.generated_key, &args.key_out) {
        let pem = match &key_passphrase {
            Some(p) => encrypt_key_pem(key, p)?,
            None => plain_key_pem(key)?,
        };
        write_private_file(path, pem.as_bytes(), args.output.force)?;
    }
    write_outputs(&args.output, &issued)?;
    report(&args.output, &issued, "issued")
}

/// Writes the certificate (to `--out` or stdout) and the chain (`--chain-out`).
pub(crate) fn write_outputs(args: &OutputArgs, issued: &Issued) -> Result<()> {
    let cert_bytes = if args.der {
        issued.der.clone()
    } else {
        ca_core::pem::certificate(&issued.der)?.into_bytes()
    };
    match &args.out {
        Some(path) => write_file(path, &cert_bytes, args.force)?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&cert_bytes)?;
        }
    }
    if let Some(path) = &args.chain_out {
        // Servers send the intermediates; the root is what clients already trust.
        let n = issued.chain.len().saturating_sub(1).max(1);
        let pem = ca_core::pem::certificates(issued.chain.iter().take(n).map(Vec::as_slice))?;
        write_file(path, pem.as_bytes(), args.force)?;
    }
    Ok(())
}

/// Prints warnings and the summary (`verb`: issued, renewed, …).
pub(crate) fn report(args: &OutputArgs, issued: &Issued, verb: &str) -> Result<()> {
    for w in &issued.warnings {
        eprintln!("warning: {w}");
    }
    let r = &issued.record;
    let summary = serde_json::json!({
        "serial": r.serial,
        "issuer": r.issuer_name,
        "subject": r.subject,
        "sans": r.sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "profile": r.profile,
        "key_type": r.key_type,
        "not_before": timestamp(r.not_before),
        "not_after": timestamp(r.not_after),
        "fingerprint_sha256": r.fingerprint,
        "warnings": issued.warnings,
    });
    // With the certificate on stdout, the summary goes to stderr.
    match (args.format, args.out.is_some()) {
        (Format::Json, true) => print_json(&summary),
        (Format::Json, false) => {
            eprintln!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        (Format::Text, to_file) => {
            let line = format!(
                "{verb} {} certificate serial {} by '{}' for {} (valid until {})",
                r.profile,
                r.serial,
                r.issuer_name,
                if r.sans.is_empty() {
                    r.subject.clone()
                } else {
                    r.sans
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                timestamp(r.not_after)
            );
            if to_file {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
            Ok(())
        }
    }
}
