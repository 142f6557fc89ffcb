//! `caforge`: the command-line front end of the caforge private PKI toolkit.
//!
//! Each subcommand lives in `commands/` and does three things: parse, call ca-core, render.

#![forbid(unsafe_code)]

mod args;
mod commands;
mod context;
mod duration;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// caforge: run your own certificate authorities (RSA, ECDSA, Ed25519, SM2).
#[derive(Debug, Parser)]
#[command(name = "caforge", version, about, long_about = None)]
struct Cli {
    /// The caforge home (config, database, keys).
    #[arg(long, global = true, env = "CAFORGE_HOME", default_value = "caforge")]
    home: PathBuf,
    /// Database URL (`sqlite:PATH` or `postgres://USER@HOST/DB`); overrides the home's configuration.
    #[arg(long, global = true, env = "CAFORGE_DB")]
    db: Option<String>,
    /// File holding the key passphrase (or set CAFORGE_PASSPHRASE).
    #[arg(long, global = true, env = "CAFORGE_PASSPHRASE_FILE")]
    passphrase_file: Option<PathBuf>,
    /// File holding the user PIN of the key device CA keys live in (or set CAFORGE_PIN).
    #[arg(long, global = true, env = "CAFORGE_PIN_FILE")]
    pin_file: Option<PathBuf>,
    /// File holding the KMC's own passphrase, which seals escrowed encryption keys (never
    /// the CA passphrase).
    #[arg(long, global = true, env = "CAFORGE_KMC_PASSPHRASE_FILE")]
    kmc_passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the home: caforge.toml, the database and keys/.
    Init(commands::init::Args),
    /// Certificate authorities.
    #[command(subcommand)]
    Ca(commands::ca::CaCommand),
    /// Issue an end-entity certificate from a CSR or a generated key.
    Issue(commands::issue::Args),
    /// Issue a dual certificate (SM2 signing + encryption pair, key from the KMC)
    ///
    /// GM/T 0015 signing and encryption certificates for one subject: the encryption key is
    /// made by caforge's KMC, escrowed, and returned enveloped to the signing key (GM/T
    /// 0009 SM2EnvelopedKey) with a GM/T 0092 CSRResponse.
    IssueDual(commands::dual::IssueDualArgs),
    /// Open GM/T 0009 key envelopes.
    #[command(subcommand)]
    Envelope(commands::dual::EnvelopeCommand),
    /// The key-management centre: escrowed encryption keys.
    #[command(subcommand)]
    Kmc(commands::dual::KmcCommand),
    /// Renew a certificate: same subject, names and key (or a new key with --csr).
    Renew(commands::renew::RenewArgs),
    /// Re-issue a certificate with new names (same key unless --csr).
    Reissue(commands::renew::ReissueArgs),
    /// Issued certificates.
    #[command(subcommand)]
    Cert(commands::cert::CertCommand),
    /// Certificates caforge did not issue, tracked for expiry.
    #[command(subcommand)]
    Inventory(commands::inventory::InventoryCommand),
    /// Expiry notifications to webhooks.
    #[command(subcommand)]
    Notify(commands::notify::NotifyCommand),
    /// Revoke a certificate (every RFC 5280 reason; certificateHold can be lifted).
    Revoke(commands::revoke::RevokeArgs),
    /// Lift a certificateHold.
    Unrevoke(commands::revoke::UnrevokeArgs),
    /// Sign a CA's CRL(s): full, delta, or one partition.
    Crl(commands::crl::Args),
    /// OCSP: answer requests offline, pre-sign responses, rotate delegated responders.
    #[command(subcommand)]
    Ocsp(commands::ocsp::OcspCommand),
    /// Serve OCSP, CRLs and CA certificates over HTTP (the URLs certificates carry).
    Serve(commands::serve::Args),
    /// Bearer tokens for the issuance API.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// The database: schema migrations, copying a CA to another database, leftovers of
    /// interrupted issuances.
    #[command(subcommand)]
    Db(commands::db::DbCommand),
    /// One pass of scheduled work: revocations whose grace period ended, managed
    /// certificates to renew and deploy, delegated OCSP responders to issue.
    Maintain(commands::maintain::Args),
    /// Certificates caforge renews and deploys itself (`issue --managed`).
    #[command(subcommand)]
    Managed(commands::managed::ManagedCommand),
    /// Check a TLS endpoint: served chain, expiry, host name, trust, OCSP and CRL status.
    Probe(commands::probe::Args),
    /// Whole-system benchmarks (CRL size, OCSP throughput); see BENCHMARKS.md.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Build a demo PKI (RSA and SM2 hierarchies with a localhost certificate under each).
    Quickstart(commands::quickstart::Args),
}

/// Ends the process quietly, with success, when the reader of stdout went away
/// (`caforge cert list | head -1`): `println!` reports that by panicking, and it is no fault
/// of ours (JSON output handles it in `output::print_json`). Every other panic goes to the
/// default hook.
fn quiet_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_when_stdout_closes();
    let json_errors = output::wants_json(std::env::args_os());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A usage mistake, as JSON when JSON was asked for; help and version as usual.
        Err(e) if json_errors && e.use_stderr() => {
            eprintln!("{}", output::usage_error_json(&e));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    // Before any thread exists: read the secret variables and take them out of the
    // environment, so no child process sees them.
    let env = context::EnvSecrets::take();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let globals = context::Globals {
        home: cli.home,
        db: cli.db,
        passphrase_file: cli.passphrase_file,
        pin_file: cli.pin_file,
        kmc_passphrase_file: cli.kmc_passphrase_file,
        env,
        opened: std::sync::OnceLock::new(),
    };
    let result = runtime.block_on(async {
        let result = match cli.command {
            Command::Init(a) => commands::init::run(&globals, a).await,
            Command::Ca(c) => commands::ca::run(&globals, c).await,
            Command::Issue(a) => commands::issue::run(&globals, a).await,
            Command::IssueDual(a) => commands::dual::issue_dual(&globals, a).await,
            Command::Envelope(c) => commands::dual::envelope(c),
            Command::Kmc(c) => commands::dual::kmc(&globals, c).await,
            Command::Renew(a) => commands::renew::renew(&globals, a).await,
            Command::Reissue(a) => commands::renew::reissue(&globals, a).await,
            Command::Probe(a) => commands::probe::run(&globals, a).await,
            Command::Maintain(a) => commands::maintain::run(&globals, a).await,
            Command::Managed(c) => commands::managed::run(&globals, c).await,
            Command::Cert(c) => commands::cert::run(&globals, c).await,
            Command::Inventory(c) => commands::inventory::run(&globals, c).await,
            Command::Notify(c) => commands::notify::run(&globals, c).await,
            Command::Revoke(a) => commands::revoke::revoke(&globals, a).await,
            Command::Unrevoke(a) => commands::revoke::unrevoke(&globals, a).await,
            Command::Crl(a) => commands::crl::run(&globals, a).await,
            Command::Ocsp(c) => commands::ocsp::run(&globals, c).await,
            Command::Serve(a) => commands::serve::run(&globals, a).await,
            Command::Token(c) => commands::token::run(&globals, c).await,
            Command::Audit(c) => commands::audit::run(&globals, c).await,
            Command::Db(c) => commands::db::run(&globals, c).await,
            Command::Bench(c) => commands::bench::run(&globals, c).await,
            Command::Quickstart(a) => commands::quickstart::run(&globals, a).await,
        };
        // Whatever the command wrote to the audit log (a failed one too) is checkpointed.
        globals.checkpoint_audit().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let sqlite = globals.opened.get().and_then(|s| s.sqlite_file());
            let advice = output::advice(&e, sqlite);
            if json_errors {
                eprintln!("{}", output::error_json(&e, advice));
                return ExitCode::from(output::exit_code(&e));
            }
            // One line, with what to do about it, if anything.
            match advice {
                Some(hint) => eprintln!("error: {} ({hint})", output::one_line(&e)),
                None => eprintln!("error: {}", output::one_line(&e)),
            }
            ExitCode::from(output::exit_code(&e))
        }
    }
}
