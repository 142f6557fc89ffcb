//! `caforge issue-dual`, `caforge envelope open` and `caforge kmc recover`: SM2 signing +
//! encryption pairs with caforge as the key-management centre.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use ca_core::algorithm::KeyType;
use ca_core::authority::{IssuedSm2Pair, RsaSm2PairRequest, Sm2PairRequest, SubjectKey};
use ca_core::keys::{
    encrypt_key_pem, plain_key_pem, read_key_pem, write_private_file, Passphrase, SoftwareKey,
};

use crate::context::Globals;
use crate::output::{check_writable, done, print_json, timestamp, write_file, Format};

/// Which kind of dual certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// One subject under an RSA (or ECDSA) CA and under an SM2 CA.
    RsaSm2,
    /// GM/T 0015 SM2 signing + encryption certificates, the encryption key made by the KMC.
    Sm2SignEnc,
}

/// Arguments of `caforge issue-dual`.
#[derive(Debug, clap::Args)]
pub(crate) struct IssueDualArgs {
    /// Kind of pair.
    #[arg(long, value_enum)]
    mode: Mode,
    /// The SM2 CA issuing both certificates (sm2-sign-enc).
    #[arg(long)]
    ca: Option<String>,
    /// The subscriber's CSR for its SM2 signing key (sm2-sign-enc).
    #[arg(long)]
    csr: Option<PathBuf>,
    /// The RSA (or ECDSA) CA (rsa-sm2).
    #[arg(long)]
    rsa_ca: Option<String>,
    /// The SM2 CA (rsa-sm2).
    #[arg(long)]
    sm2_ca: Option<String>,
    /// CSR for the RSA/ECDSA certificate (rsa-sm2; with --csr-sm2).
    #[arg(long, requires = "csr_sm2")]
    csr_rsa: Option<PathBuf>,
    /// CSR for the SM2 certificate (rsa-sm2; with --csr-rsa).
    #[arg(long, requires = "csr_rsa")]
    csr_sm2: Option<PathBuf>,
    /// Key type caforge generates for the RSA side when no CSRs are given (rsa-sm2).
    #[arg(long, default_value = "rsa2048")]
    rsa_key_type: KeyType,
    /// Where generated keys go (rsa.key, sm2.key; encrypted PKCS#8, mode 0600); default
    /// --out-dir (rsa-sm2 without CSRs).
    #[arg(long)]
    key_out_dir: Option<PathBuf>,
    #[command(flatten)]
    key_protection: super::issue::KeyProtection,
    #[command(flatten)]
    subject: super::issue::SubjectArgs,
    /// Directory for the certificates, created if missing: sm2-sign-enc writes sign.pem,
    /// enc.pem, enc-key.env (SM2EnvelopedKey) and response.der (CSRResponse); rsa-sm2
    /// writes rsa.pem and sm2.pem.
    #[arg(long)]
    out_dir: PathBuf,
    /// Overwrite existing output files.
    #[arg(long)]
    force: bool,
    /// Format of the summary.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

const OUTPUTS: [&str; 4] = ["sign.pem", "enc.pem", "enc-key.env", "response.der"];

pub(crate) async fn issue_dual(g: &Globals, args: IssueDualArgs) -> Result<()> {
    if args.mode == Mode::RsaSm2 {
        return rsa_sm2(g, &args).await;
    }
    let (Some(ca), Some(csr)) = (&args.ca, &args.csr) else {
        bail!("--mode sm2-sign-enc needs --ca CA and --csr FILE (the SM2 signing key's CSR)");
    };
    // Everything that can fail without side effects is checked before issuing.
    let csr = super::issue::read_csr(csr)?;
    if args.out_dir.exists() && !args.out_dir.is_dir() {
        bail!("{} is not a directory", args.out_dir.display());
    }
    for name in OUTPUTS {
        check_writable(&args.out_dir.join(name), args.force)?;
    }
    let services = g.services().await?;
    let pair = services
        .dual
        .issue_sm2_pair(&Sm2PairRequest {
            ca: ca.clone(),
            csr,
            subject: args.subject.subject.clone(),
            sans: args.subject.san.clone(),
            profile: args.subject.profile,
            days: args.subject.days,
        })
        .await?;
    write_pair(&args, &pair)?;
    report(&args, &pair)
}

async fn rsa_sm2(g: &Globals, args: &IssueDualArgs) -> Result<()> {
    let (Some(rsa_ca), Some(sm2_ca)) = (&args.rsa_ca, &args.sm2_ca) else {
        bail!("--mode rsa-sm2 needs --rsa-ca CA and --sm2-ca CA");
    };
    let (rsa_key, sm2_key) = match (&args.csr_rsa, &args.csr_sm2) {
        (Some(r), Some(s)) => (
            SubjectKey::Csr(super::issue::read_csr(r)?),
            SubjectKey::Csr(super::issue::read_csr(s)?),
        ),
        _ => {
            if args.subject.subject.is_none() {
                bail!("without --csr-rsa/--csr-sm2, caforge generates both keys: give --subject");
            }
            (
                SubjectKey::Generate(args.rsa_key_type),
                SubjectKey::Generate(KeyType::Sm2),
            )
        }
    };
    let generating = matches!(rsa_key, SubjectKey::Generate(_));
    let key_dir = args.key_out_dir.as_ref().unwrap_or(&args.out_dir);
    if args.out_dir.exists() && !args.out_dir.is_dir() {
        bail!("{} is not a directory", args.out_dir.display());
    }
    for name in ["rsa.pem", "sm2.pem"] {
        check_writable(&args.out_dir.join(name), args.force)?;
    }
    let passphrase = if generating {
        for name in ["rsa.key", "sm2.key"] {
            check_writable(&key_dir.join(name), args.force)?;
        }
        args.key_protection.passphrase()?
    } else {
        None
    };
    let services = g.services().await?;
    let pair = services
        .dual
        .issue_rsa_sm2_pair(&RsaSm2PairRequest {
            rsa_ca: rsa_ca.clone(),
            sm2_ca: sm2_ca.clone(),
            rsa_key,
            sm2_key,
            subject: args.subject.subject.clone(),
            sans: args.subject.san.clone(),
            profile: args.subject.profile,
            days: args.subject.days,
        })
        .await?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    for (name, issued) in [("rsa", &pair.first), ("sm2", &pair.second)] {
        write_file(
            &args.out_dir.join(format!("{name}.pem")),
            ca_core::pem::certificate(&issued.der)?.as_bytes(),
            args.force,
        )?;
        if let Some(key) = &issued.generated_key {
            std::fs::create_dir_all(key_dir)
                .with_context(|| format!("creating {}", key_dir.display()))?;
            let pem = match &passphrase {
                Some(p) => encrypt_key_pem(key, p)?,
                None => plain_key_pem(key)?,
            };
            write_private_file(
                &key_dir.join(format!("{name}.key")),
                pem.as_bytes(),
                args.force,
            )?;
        }
    }
    for w in &pair.first.warnings {
        eprintln!("warning: {w}");
    }
    let (a, b) = (&pair.first.record, &pair.second.record);
    match args.format {
        Format::Json => print_json(&serde_json::json!({
            "mode": "rsa-sm2",
            "subject": a.subject,
            "rsa": {"serial": a.serial, "issuer": a.issuer_name, "key_type": a.key_type},
            "sm2": {"serial": b.serial, "issuer": b.issuer_name, "key_type": b.key_type},
            "not_after": timestamp(a.not_after),
            "out_dir": args.out_dir,
        })),
        Format::Text => {
            println!(
                "issued {} certificate {} by '{}' and SM2 certificate {} by '{}' for {} (valid until {})",
                a.key_type,
                a.serial,
                a.issuer_name,
                b.serial,
                b.issuer_name,
                a.subject,
                timestamp(a.not_after)
            );
            Ok(())
        }
    }
}

fn write_pair(args: &IssueDualArgs, pair: &IssuedSm2Pair) -> Result<()> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let dir = &args.out_dir;
    write_file(
        &dir.join("sign.pem"),
        ca_core::pem::certificate(&pair.sign.der)?.as_bytes(),
        args.force,
    )?;
    write_file(
        &dir.join("enc.pem"),
        ca_core::pem::certificate(&pair.enc.der)?.as_bytes(),
        args.force,
    )?;
    // Only the signing key's holder can open it, but it is key material: 0600 all the same.
    write_private_file(&dir.join("enc-key.env"), &pair.envelope, args.force)?;
    write_private_file(&dir.join("response.der"), &pair.response, args.force)?;
    Ok(())
}

fn report(args: &IssueDualArgs, pair: &IssuedSm2Pair) -> Result<()> {
    for w in &pair.sign.warnings {
        eprintln!("warning: {w}");
    }
    let (s, e) = (&pair.sign.record, &pair.enc.record);
    match args.format {
        Format::Json => print_json(&serde_json::json!({
            "mode": "sm2-sign-enc",
            "issuer": s.issuer_name,
            "subject": s.subject,
            "sign": {"serial": s.serial, "fingerprint_sha256": s.fingerprint},
            "enc": {"serial": e.serial, "fingerprint_sha256": e.fingerprint},
            "not_after": timestamp(s.not_after),
            "out_dir": args.out_dir,
            "warnings": pair.sign.warnings,
        })),
        Format::Text => {
            println!(
                "issued SM2 signing certificate {} and encryption certificate {} by '{}' for {} (valid until {})",
                s.serial,
                e.serial,
                s.issuer_name,
                s.subject,
                timestamp(s.not_after)
            );
            println!(
                "wrote {} (open enc-key.env with: caforge envelope open --envelope enc-key.env --sign-key SIGNING-KEY --out enc-key.pem)",
                OUTPUTS
                    .iter()
                    .map(|n| args.out_dir.join(n).display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
    }
}

/// `caforge envelope …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum EnvelopeCommand {
    /// Recover the encryption private key from a GM/T 0009 SM2EnvelopedKey with the
    /// signing key it was enveloped to.
    Open(OpenArgs),
}

/// Arguments of `caforge envelope open`.
#[derive(Debug, clap::Args)]
pub(crate) struct OpenArgs {
    /// The envelope (DER SM2EnvelopedKey, e.g. enc-key.env).
    #[arg(long)]
    envelope: PathBuf,
    /// The SM2 signing private key (PKCS#8 PEM, plain or encrypted).
    #[arg(long)]
    sign_key: PathBuf,
    /// File holding the passphrase of an encrypted --sign-key (the key's own).
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// Where to write the recovered key (PKCS#8 PEM, mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite an existing --out.
    #[arg(long)]
    force: bool,
    /// Output format of the result.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Reads a subscriber's private key file (plain PKCS#8 PEM, or encrypted under the
/// passphrase in `passphrase_file`).
fn read_key(path: &Path, passphrase_file: Option<&Path>) -> Result<SoftwareKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let passphrase = passphrase_file
        .map(|f| {
            Passphrase::from_file(f)
                .with_context(|| format!("reading the key passphrase from {}", f.display()))
        })
        .transpose()?;
    Ok(read_key_pem(
        &pem,
        passphrase.as_ref(),
        ca_core::algorithm::DEFAULT_SM2_ID,
        &path.display().to_string(),
    )?)
}

pub(crate) fn envelope(cmd: EnvelopeCommand) -> Result<()> {
    let EnvelopeCommand::Open(args) = cmd;
    check_writable(&args.out, args.force)?;
    let der = std::fs::read(&args.envelope)
        .with_context(|| format!("reading {}", args.envelope.display()))?;
    let holder = read_key(&args.sign_key, args.key_passphrase_file.as_deref())?
        .sm2_secret()
        .with_context(|| format!("{} is not an SM2 key", args.sign_key.display()))?;
    let secret = ca_core::dual::open(&der, &holder)
        .with_context(|| format!("opening {}", args.envelope.display()))?;
    let key = SoftwareKey::from_sm2_secret(&secret, ca_core::algorithm::DEFAULT_SM2_ID)?;
    write_private_file(&args.out, plain_key_pem(&key)?.as_bytes(), args.force)?;
    done(
        args.format,
        &format!("recovered the encryption key into {}", args.out.display()),
        &serde_json::json!({"file": args.out.display().to_string()}),
    )
}

/// `caforge kmc …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum KmcCommand {
    /// Recover the escrowed encryption key of a certificate (audited as kmc.recover).
    Recover(RecoverArgs),
    /// Re-seal escrow made before the KMC had its own passphrase (sealed under the CA
    /// passphrase) under --kmc-passphrase-file; each audited as kmc.resealed.
    Reseal {
        /// Output format of the result.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Arguments of `caforge kmc recover`.
#[derive(Debug, clap::Args)]
pub(crate) struct RecoverArgs {
    /// Serial of the encryption certificate (hex).
    serial: String,
    /// The issuing CA, when two CAs used the same serial.
    #[arg(long)]
    ca: Option<String>,
    /// Where to write the key (PKCS#8 PEM, mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite an existing --out.
    #[arg(long)]
    force: bool,
    /// Output format of the result.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) async fn kmc(g: &Globals, cmd: KmcCommand) -> Result<()> {
    let args = match cmd {
        KmcCommand::Recover(args) => args,
        KmcCommand::Reseal { format } => {
            let (resealed, current) = g.services().await?.dual.kmc_reseal().await?;
            return done(
                format,
                &format!(
                    "re-sealed {} under the KMC passphrase; {current} already were",
                    crate::output::count(resealed, "escrowed key", "escrowed keys")
                ),
                &serde_json::json!({"resealed": resealed, "already": current}),
            );
        }
    };
    check_writable(&args.out, args.force)?;
    let services = g.services().await?;
    let cert = services
        .directory
        .certificate(&args.serial, args.ca.as_deref())
        .await?;
    let key = services.dual.kmc_recover(&cert).await?;
    write_private_file(&args.out, plain_key_pem(&key)?.as_bytes(), args.force)?;
    done(
        args.format,
        &format!(
            "recovered the escrowed key of certificate {} ({}) into {}",
            cert.serial,
            cert.subject,
            args.out.display()
        ),
        &serde_json::json!({
            "serial": cert.serial,
            "subject": cert.subject,
            "file": args.out.display().to_string(),
        }),
    )
}
