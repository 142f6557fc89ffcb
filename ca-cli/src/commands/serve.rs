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
    let services = g.services().await?;
    // Unlock every CA key now: a wrong passphrase stops here, not at the first request.
    for ca in services.directory.cas().await? {
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
