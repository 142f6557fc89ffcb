//! `caforge serve`: the HTTP OCSP/CRL/AIA responder over this home.

use anyhow::{Context as _, Result};
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
    settings.online_roots.extend(a.online_roots);
    let services = g.services_acting(ca_core::authz::Principal::Server).await?;
    let cas = services.directory.cas().await?;
    for name in &settings.online_roots {
        match cas.iter().find(|c| &c.name == name) {
            Some(c) if c.parent_id.is_none() => {}
            Some(_) => anyhow::bail!("online root '{name}' is not a root CA"),
            None => anyhow::bail!("online root '{name}': no such CA"),
        }
    }
    services
        .directory
        .keep_roots_offline(settings.online_roots.clone())?;
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
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // One line scripts (and tests) can wait for.
    println!("caforge serving on http://{addr}");
    tracing::info!(%addr, "serving OCSP, CRLs and CA certificates");
    ca_server::serve(
        listener,
        AppState::new(services, settings).with_notify(config.notify.clone()),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}
