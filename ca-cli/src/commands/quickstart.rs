//! `caforge quickstart`: a demo PKI in one command — an RSA-3072 root → RSA-2048
//! intermediate and an SM2 root → SM2 intermediate, with a TLS server certificate for
//! `localhost` under each — then served (OCSP, CRLs, CA certificates) on 127.0.0.1.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use ca_core::algorithm::KeyType;
use ca_core::authority::{IssueRequest, NewCaRequest, SubjectKey};
use ca_core::keys::{encrypt_key_pem, write_private_file, Passphrase};
use ca_core::profile::ProfileName;

use crate::context::Globals;
use crate::output::{timestamp, write_file};

/// Arguments of `caforge quickstart`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Port on 127.0.0.1 that the certificates name (CRL DP, AIA) and that is served; it
    /// is written to caforge.toml, so a later `caforge serve` serves the same URLs. 0 picks
    /// a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Build the PKI and exit without serving it (`caforge serve` serves it later).
    #[arg(long)]
    no_serve: bool,
    /// json: what was built (CAs, certificates, files) as one JSON object, instead of the
    /// text summary (before serving, when it serves).
    #[arg(long, value_enum, default_value_t)]
    format: crate::output::Format,
}

/// Binds 127.0.0.1:`port` (0: a free port). A port in use is an error: the port goes into
/// every certificate, so quickstart never quietly picks another one.
async fn bind(port: u16) -> Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "127.0.0.1:{port} is in use, and quickstart writes its port into every certificate (pass --port N for another port, or --port 0 for a free one)"
        ),
        Err(e) => Err(e).with_context(|| format!("listening on 127.0.0.1:{port}")),
    }
}

/// A line of the text summary (nothing with `--format json`).
macro_rules! say {
    ($text:expr) => {
        if $text {
            println!();
        }
    };
    ($text:expr, $($arg:tt)*) => {
        if $text {
            println!($($arg)*);
        }
    };
}

struct Hierarchy {
    label: &'static str,
    root: (&'static str, KeyType, &'static str),
    issuing: (&'static str, KeyType, &'static str),
    leaf_key: KeyType,
}

const HIERARCHIES: [Hierarchy; 2] = [
    Hierarchy {
        label: "rsa",
        root: (
            "rsa-root",
            KeyType::Rsa3072,
            "CN=caforge Quickstart RSA Root,O=caforge",
        ),
        issuing: (
            "rsa-issuing",
            KeyType::Rsa2048,
            "CN=caforge Quickstart RSA Issuing CA,O=caforge",
        ),
        leaf_key: KeyType::Rsa2048,
    },
    Hierarchy {
        label: "sm2",
        root: (
            "sm2-root",
            KeyType::Sm2,
            "CN=caforge Quickstart SM2 Root,O=caforge",
        ),
        issuing: (
            "sm2-issuing",
            KeyType::Sm2,
            "CN=caforge Quickstart SM2 Issuing CA,O=caforge",
        ),
        leaf_key: KeyType::Sm2,
    },
];

fn random_passphrase() -> Result<String> {
    let mut bytes = [0u8; 24];
    aws_lc_rs_fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn aws_lc_rs_fill(bytes: &mut [u8]) -> Result<()> {
    ca_core::keys::random_bytes(bytes).map_err(|_| anyhow::anyhow!("random generator failed"))
}

pub(crate) async fn run(g: &Globals, args: Args) -> Result<()> {
    let text = args.format == crate::output::Format::Text;
    let mut built = Vec::new();
    if g.config_path().exists() {
        bail!(
            "{} already exists; quickstart builds a fresh home (remove it or pass --home NEW_DIR)",
            g.home.display()
        );
    }
    // The port goes into the certificates (CRL DP, AIA), so it is chosen first. Without
    // serving, a port that is in use now is still the one asked for (serve may run later),
    // and port 0 takes one that is free now.
    let listener = if args.no_serve && args.port != 0 {
        None
    } else {
        Some(bind(args.port).await?)
    };
    let address = match &listener {
        Some(l) => l.local_addr()?.to_string(),
        None => format!("127.0.0.1:{}", args.port),
    };
    let listener = listener.filter(|_| !args.no_serve);
    let base_url = Some(format!("http://{address}"));
    // A passphrase is needed for the CA keys. Without one, make one and keep it in the home
    // (0600) so the tour in the README works; real deployments pass their own.
    let (globals, passphrase_note) = match g.passphrase()? {
        Some(_) => (
            Globals {
                home: g.home.clone(),
                db: g.db.clone(),
                passphrase_file: g.passphrase_file.clone(),
                pin_file: g.pin_file.clone(),
                kmc_passphrase_file: g.kmc_passphrase_file.clone(),
                env: g.env.clone(),
                opened: std::sync::OnceLock::new(),
            },
            None,
        ),
        None => {
            std::fs::create_dir_all(&g.home)
                .with_context(|| format!("creating {}", g.home.display()))?;
            let file = g.home.join("passphrase.txt");
            write_private_file(&file, random_passphrase()?.as_bytes(), false)?;
            (
                Globals {
                    home: g.home.clone(),
                    db: g.db.clone(),
                    passphrase_file: Some(file.clone()),
                    pin_file: g.pin_file.clone(),
                    kmc_passphrase_file: g.kmc_passphrase_file.clone(),
                    env: g.env.clone(),
                    opened: std::sync::OnceLock::new(),
                },
                Some(file),
            )
        }
    };
    let url = super::init::init_home(&globals, Some(&address)).await?;
    let services = globals.services().await?;

    say!(
        text,
        "caforge quickstart: home {} (database {url})",
        g.home.display()
    );
    for h in &HIERARCHIES {
        let out_dir = g.home.join("quickstart").join(h.label);
        std::fs::create_dir_all(&out_dir)?;
        let ca = |(name, key_type, subject): (&str, KeyType, &str)| NewCaRequest {
            name: name.into(),
            subject: Some(subject.into()),
            key_type,
            days: None,
            path_len: None,
            sm2_id: None,
            name_constraints: Default::default(),
            policies: Default::default(),
            settings: ca_core::revocation::CaSettings {
                base_url: base_url.clone(),
                ..Default::default()
            },
            key_store: None,
        };
        let root = services.lifecycle.create_root(&ca(h.root)).await?.record;
        let issuing = services
            .lifecycle
            .create_intermediate(root.name.as_str(), &ca(h.issuing))
            .await?
            .record;
        let issued = services
            .issuance
            .issue(&IssueRequest {
                ca: issuing.name.clone(),
                key: SubjectKey::Generate(h.leaf_key),
                subject: Some("CN=localhost".into()),
                sans: vec!["dns:localhost".into(), "ip:127.0.0.1".into()],
                profile: ProfileName::TlsServer,
                days: None,
                principal: ca_core::authz::Principal::local_operator(),
            })
            .await?;
        let key = issued
            .generated_key
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no generated key"))?;
        // The subscriber's key gets its own passphrase: the CA passphrase never travels
        // with a key that is handed out.
        let key_passphrase = random_passphrase()?;
        write_private_file(
            &out_dir.join("localhost.key.pass"),
            key_passphrase.as_bytes(),
            false,
        )?;
        write_private_file(
            &out_dir.join("localhost.key.pem"),
            encrypt_key_pem(key, &Passphrase::new(key_passphrase))?.as_bytes(),
            false,
        )?;
        write_file(
            &out_dir.join("localhost.pem"),
            ca_core::pem::certificate(&issued.der)?.as_bytes(),
            false,
        )?;
        write_file(
            &out_dir.join("chain.pem"),
            ca_core::pem::certificate(&issuing.cert_der)?.as_bytes(),
            false,
        )?;
        write_file(
            &out_dir.join("root.pem"),
            ca_core::pem::certificate(&root.cert_der)?.as_bytes(),
            false,
        )?;
        // The issuing CA's first (empty) CRL, so relying parties can check revocation.
        let crls = services
            .revocations
            .crl(&ca_core::authority::CrlRequest {
                ca: issuing.name.clone(),
                delta: false,
                partition: None,
            })
            .await?;
        for crl in &crls {
            write_file(
                &out_dir.join("issuing.crl.pem"),
                ca_core::pem::crl(&crl.der)?.as_bytes(),
                false,
            )?;
        }
        say!(text);
        say!(text, "{} hierarchy", h.label.to_uppercase());
        say!(
            text,
            "  root CA          {:<12} {:<8} serial {}",
            root.name,
            root.key_type,
            root.serial
        );
        say!(
            text,
            "  intermediate CA  {:<12} {:<8} serial {}",
            issuing.name,
            issuing.key_type,
            issuing.serial
        );
        say!(
            text,
            "  TLS server cert  localhost    {:<8} serial {} (valid until {})",
            issued.record.key_type,
            issued.record.serial,
            timestamp(issued.record.not_after)
        );
        built.push(serde_json::json!({
            "label": h.label,
            "root": {"name": root.name, "key_type": root.key_type.to_string(), "serial": root.serial},
            "issuing": {"name": issuing.name, "key_type": issuing.key_type.to_string(), "serial": issuing.serial},
            "leaf": {
                "subject": "CN=localhost",
                "serial": issued.record.serial,
                "not_after": timestamp(issued.record.not_after),
            },
            "dir": display(&out_dir),
        }));
        say!(text, "  files            {}", display(&out_dir));
        say!(text,
            "                   localhost.pem, localhost.key.pem (encrypted under localhost.key.pass), chain.pem, root.pem, issuing.crl.pem"
        );
    }
    say!(text);
    if let Some(file) = &passphrase_note {
        say!(
            text,
            "CA keys are encrypted with a generated passphrase stored in {} (mode 0600).",
            display(file)
        );
        say!(
            text,
            "Use it with: --passphrase-file {}   (move it somewhere safe for real use)",
            display(file)
        );
    }
    say!(text, "Check the RSA chain and its CRL with OpenSSL:");
    let rsa = g.home.join("quickstart/rsa");
    say!(text,
        "  openssl verify -x509_strict -purpose sslserver -crl_check -CRLfile {} -CAfile {} -untrusted {} {}",
        display(&rsa.join("issuing.crl.pem")),
        display(&rsa.join("root.pem")),
        display(&rsa.join("chain.pem")),
        display(&rsa.join("localhost.pem"))
    );
    say!(
        text,
        "Next: caforge --home {} ca list   |   caforge --home {} cert list",
        display(&g.home),
        display(&g.home)
    );
    if !text {
        crate::output::print_json(&serde_json::json!({
            "home": display(&g.home),
            "database": ca_core::store::redact_url(&url),
            "listen": address,
            "serving": !args.no_serve,
            "passphrase_file": passphrase_note.as_deref().map(display),
            "hierarchies": built,
        }))?;
    }
    // What quickstart wrote to the audit log is checkpointed like any command's.
    globals.checkpoint_audit().await;
    let (Some(listener), Some(url)) = (listener, base_url) else {
        say!(
            text,
            "Serve it on {address} (written to caforge.toml): caforge --home {} serve",
            display(&g.home)
        );
        return Ok(());
    };
    say!(text);
    say!(
        text,
        "Serving OCSP, CRLs and CA certificates on {url} (Ctrl-C to stop). In another shell:"
    );
    say!(
        text,
        "  openssl ocsp -url {url}/ocsp -issuer {} -cert {} -CAfile {}",
        display(&rsa.join("chain.pem")),
        display(&rsa.join("localhost.pem")),
        display(&rsa.join("root.pem"))
    );
    say!(
        text,
        "  curl -s {url}/crl/rsa-issuing.crl | openssl crl -inform DER -noout -text"
    );
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let settings = globals.config()?.server;
    let state =
        ca_server::AppState::new(services, settings).with_audit_checkpoints(globals.checkpoints()?);
    ca_server::serve(listener, state.clone(), super::serve::shutdown_signal()).await?;
    ca_server::checkpoint_audit(&state).await;
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
