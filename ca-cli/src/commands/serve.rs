//! `caforge serve`: the HTTP OCSP/CRL/AIA responder over this home, and the issuance API
//! on its own HTTPS listener.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use ca_core::authority::Services;
use ca_core::config::ApiTls;
use ca_core::store::AnyStore;
use ca_server::AppState;

use crate::context::Globals;

/// Arguments of `caforge serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on (default from caforge.toml [server], else 127.0.0.1:8080;
    /// port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// A root whose key the server may load (repeatable; adds to caforge.toml's
    /// [server] online_roots). Other roots stay offline: their CRLs and OCSP answers are
    /// made ahead of time (`caforge crl`, `caforge ocsp presign`) or by a delegated
    /// responder.
    #[arg(long = "online-root", value_name = "CA")]
    online_roots: Vec<String>,
    /// Address of the issuance API's own HTTPS listener (default from caforge.toml
    /// [server] api_listen; without one the API is not served).
    #[arg(long)]
    api_listen: Option<String>,
    /// Also serve the API on the public listener in plain HTTP (a lab on loopback only).
    #[arg(long)]
    api_on_public: bool,
    /// The API listener's certificate chain (PEM); reloaded when it changes.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<String>,
    /// The API listener's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<String>,
    /// Instead: the RSA or ECDSA CA that issues (and renews) the API listener's certificate.
    #[arg(long, value_name = "CA", conflicts_with = "tls_cert")]
    tls_issue_from: Option<String>,
    /// A name of that certificate (repeatable; DNS name or IP address).
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,
    /// CA certificates (PEM) API clients must present certificates from (mTLS); each
    /// token must then be bound to its client's key (`token create --client-cert`).
    #[arg(long, value_name = "PEM")]
    client_ca: Option<String>,
}

/// Where the managed certificate of the API listener is deployed, under the home.
const API_TLS_DIR: &str = "tls/api";

/// The API listener's certificate and key files: the operator's, or those of the managed
/// certificate caforge keeps for it, issued from `tls.issue_from`
/// ([`ca_ops::managed::listener_certificate`]).
async fn api_certificate(
    services: &Services<AnyStore>,
    tls: &ApiTls,
    home: &std::path::Path,
) -> Result<(PathBuf, PathBuf)> {
    match (&tls.cert_file, &tls.key_file, &tls.issue_from) {
        (Some(cert), Some(key), None) => Ok((cert.into(), key.into())),
        (None, None, Some(ca)) => {
            let dir = std::path::absolute(home.join(API_TLS_DIR))?;
            Ok(ca_ops::managed::listener_certificate(services, ca, &tls.names, &dir)
                .await
                .context("the API listener's certificate")?)
        }
        (None, None, None) => bail!(
            "the API listener needs a certificate: [server.tls] cert_file and key_file, or issue_from (--tls-cert/--tls-key or --tls-issue-from)"
        ),
        _ => bail!("[server.tls]: give cert_file with key_file, or issue_from, not both"),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

pub(crate) async fn run(g: &Globals, a: Args) -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAFORGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let config = g.config()?;
    let mut settings = config.server.clone();
    if let Some(listen) = a.listen {
        settings.listen = listen;
    }
    if a.api_listen.is_some() {
        settings.api_listen = a.api_listen;
    }
    settings.api_on_public |= a.api_on_public;
    if a.tls_cert.is_some() {
        settings.tls.cert_file = a.tls_cert;
        settings.tls.key_file = a.tls_key;
        settings.tls.issue_from = None;
    }
    if a.tls_issue_from.is_some() {
        settings.tls.issue_from = a.tls_issue_from;
        settings.tls.cert_file = None;
        settings.tls.key_file = None;
    }
    if !a.tls_names.is_empty() {
        settings.tls.names = a.tls_names;
    }
    if a.client_ca.is_some() {
        settings.tls.client_ca_file = a.client_ca;
    }
    settings.online_roots.extend(a.online_roots);
    settings.validate()?;
    // Every signature waits for its key device at most the device time-out, on a budget
    // of its own per device: a hung device gives its CAs tryLater / 503, and no one else
    // waits for it.
    ca_server::health::limit_devices(&settings)?;
    let services = g.services_acting(ca_core::authz::Principal::Server).await?;
    // A responder that cannot write would answer, but record no OCSP answer, CRL or audit
    // entry: refuse to start instead of reporting ok.
    let health = services.lifecycle.store_health().await;
    if let (true, Some(e)) = (health.read_only, health.write_error) {
        let check = crate::output::write_check(g.opened.get().and_then(|s| s.sqlite_file()));
        return Err(ca_core::Error::Unavailable(format!(
            "cannot serve: {e}; serve records OCSP answers, CRLs and the audit log ({check})"
        ))
        .into());
    }
    let cas = services.directory.cas().await?;
    // Online roots by name or id, as every CA is named; kept by their stored names.
    let mut online = Vec::with_capacity(settings.online_roots.len());
    for name in &settings.online_roots {
        let ca = services
            .directory
            .ca(name)
            .await
            .with_context(|| format!("online root '{name}'"))?;
        if ca.parent_id.is_some() {
            bail!("online root '{name}' is not a root CA");
        }
        online.push(ca.name);
    }
    services.directory.keep_roots_offline(online)?;
    // The API's own listener, over HTTPS.
    let api = match &settings.api_listen {
        None => None,
        Some(listen) => {
            let (cert, key) = api_certificate(&services, &settings.tls, &g.home).await?;
            let files = ca_server::tls::CertFiles::load(&cert, &key)
                .map_err(|e| anyhow::anyhow!("the API listener's certificate: {e}"))?;
            ca_server::tls::watch(Arc::clone(&files), std::time::Duration::from_secs(1));
            let tls = ca_server::tls::server_config(
                files,
                settings
                    .tls
                    .client_ca_file
                    .as_deref()
                    .map(std::path::Path::new),
            )
            .map_err(|e| anyhow::anyhow!("the API listener's TLS: {e}"))?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            Some(ca_server::ApiListener {
                listener,
                tls: Some(tls),
            })
        }
    };
    // Unlock every CA key the server uses now (offline roots' keys stay unloaded): a wrong
    // passphrase stops here, not at the first request.
    for ca in cas {
        if services.directory.is_offline(&ca) {
            tracing::info!(ca = %ca.name, "root kept offline: its key is not loaded");
            continue;
        }
        services
            .directory
            .check_key(&ca)
            .await
            .with_context(|| format!("loading the key of CA '{}'", ca.name))?;
    }
    if settings.api_listen.is_none() && !settings.api_on_public {
        tracing::info!("the issuance API is not served (set [server] api_listen)");
    }
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(services, settings)
        .with_notify(config.notify.clone())
        .with_audit_checkpoints(g.checkpoints()?);
    // The first health pass before the first request: /healthz answers from it.
    ca_server::health::check(&state).await;
    // Lines scripts (and tests) can wait for: the public listener first.
    println!("caforge serving on http://{addr}");
    if let Some(api) = &api {
        println!("caforge API on https://{}", api.listener.local_addr()?);
    }
    tracing::info!(%addr, "serving OCSP, CRLs and CA certificates");
    ca_server::serve_doors(listener, api, state.clone(), shutdown_signal()).await?;
    ca_server::checkpoint_audit(&state).await;
    Ok(())
}
